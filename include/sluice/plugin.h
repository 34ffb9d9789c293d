/*  sluice/plugin.h - the operator ABI: how a worker's processing step is
    written, in C, as a plugin (`sluice-worker --plugin FILE.so`) or built in.

    Installed with libsluice (pkg-config sluice-operator; the older name
    sluice_operator.h includes this file). A plugin is a shared object
    exporting

        const sl_operator_t *sluice_operator (void);

    and needs nothing else from Sluice, no library to link: records arrive
    as raw msgpack bytes, which sluice/mp.h (included here, header-only:
    sluice_mp_next, sluice_mp_skip, sluice_mp_map_find) reads with every
    length bounded, the same reader Sluice itself uses; results go out
    through the host's callbacks. Built-in operators (pass-through, Lua,
    exec, filter/map) implement the same struct.

    Return codes carry the retry contract, so no operator invents its own:
      SL_OP_OK     the record is processed; what it emitted is its output
      SL_OP_DROP   the record is processed and deliberately gives no output
      SL_OP_RETRY  a transient failure: the record is delivered again later
                   (counted; after --max-deliver attempts it is dead-lettered)
      SL_OP_FAIL   a permanent failure: dead-lettered at once, no retry
    On DROP, RETRY and FAIL, anything the record emitted is discarded; on
    RETRY and FAIL the text given to host->error becomes the error carried
    to the broker (and the dead letter's error).

    Lifetimes: an sl_op_record_t passed to process lives for that call only;
    emit copies what it is given. Thread model: one operator instance per
    worker process, called from one thread.
*/
#ifndef SLUICE_PLUGIN_H_INCLUDED
#define SLUICE_PLUGIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/mp.h"

#define SL_OPERATOR_ABI 1

typedef enum {
    SL_OP_OK = 0,
    SL_OP_DROP = 1,
    SL_OP_RETRY = 2,
    SL_OP_FAIL = 3,
} sl_op_rc_t;

typedef struct {
    uint64_t offset;    //  input offset (ignored on emit)
    int64_t timestamp;  //  ms since the epoch; 0 on emit = keep the input's
    const uint8_t *key; //  NULL = no key
    uint32_t key_len;
    bool key_is_bin;
    const uint8_t *headers; //  raw msgpack map, NULL = none
    size_t headers_len;
    const uint8_t *value; //  raw msgpack object (exactly one)
    size_t value_len;
} sl_op_record_t;

typedef enum { SL_OP_LOG_ERROR = 0, SL_OP_LOG_WARN, SL_OP_LOG_INFO, SL_OP_LOG_DEBUG } sl_op_log_t;

//  What the worker offers an operator. Every callback takes host->ctx.
typedef struct {
    void *ctx;
    //  Adds one output record for the record being processed. The value
    //  must be one well-formed msgpack object. 0, or negative on a bad
    //  record / out of memory (then return SL_OP_FAIL or SL_OP_RETRY).
    int (*emit) (void *ctx, const sl_op_record_t *out);
    //  Sets the error text for a RETRY or FAIL (copied, truncated to 255).
    void (*error) (void *ctx, const char *text);
    void (*log) (void *ctx, sl_op_log_t level, const char *text);
} sl_op_host_t;

typedef enum { SL_OPT_STRING = 0, SL_OPT_INT, SL_OPT_BOOL } sl_op_opt_type_t;

//  A declarative option table entry; the worker checks `--option KEY=VALUE`
//  against it (unknown keys and bad ints/bools are usage errors) and fills
//  in defaults before init.
typedef struct {
    const char *key;
    sl_op_opt_type_t type;
    const char *default_value; //  NULL = required
    const char *help;
} sl_op_option_t;

typedef struct {
    uint32_t abi; //  SL_OPERATOR_ABI
    const char *name;
    const char *description;
    const sl_op_option_t *options; //  terminated by {NULL}; may be NULL
    //  Called once. keys/values: every declared option, defaults filled in.
    //  Returns 0, or negative with host->error set (the worker exits 1).
    int (*init) (void **state, const sl_op_host_t *host, int n, const char *const *keys,
                 const char *const *values);
    //  Called for every input record. Returns an sl_op_rc_t.
    int (*process) (void *state, const sl_op_record_t *in, const sl_op_host_t *host);
    //  Called after each input batch, before its result is sent; may emit
    //  (attributed to the batch's last record). NULL = nothing to flush.
    int (*flush) (void *state, const sl_op_host_t *host);
    void (*destroy) (void *state);
} sl_operator_t;

//  The one symbol a plugin exports.
typedef const sl_operator_t *(sluice_operator_fn)(void);
#define SLUICE_OPERATOR_SYMBOL "sluice_operator"

#endif
