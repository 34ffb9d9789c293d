/*  verify_int.h - state shared by verify.c (counting) and verify_report.c
    (the reports). Not part of the module's contract: see verify.h.
*/
#ifndef SL_VERIFY_INT_H_INCLUDED
#define SL_VERIFY_INT_H_INCLUDED

#include "sl_json.h"
#include "verify.h"

//  One distinct key. In the order table got_pos holds 1 + the highest sent
//  position delivered so far for that order key.
typedef struct {
    uint64_t hash;
    uint64_t sent;     //  times sent
    uint64_t got;      //  times received
    uint64_t sent_pos; //  position of its first send among all sent values
    uint64_t got_pos;  //  position of its first delivery among all received values
    size_t len;
    uint8_t key[]; //  canonical msgpack
} s_entry_t;

typedef struct {
    s_entry_t **entry; //  slots, NULL when free
    size_t slots;      //  a power of two (0 before the first insert)
    size_t count;
    uint64_t key_bytes;
} s_table_t;

typedef struct {
    char *text;             //  JSON text of the key, owned
    uint64_t pos;           //  sort position (sent or got order)
    uint64_t copies;        //  lost: copies missing; duplicated: copies received
    const s_entry_t *entry; //  while the list is built
} s_example_t;

struct _sl_verify_t {
    sl_verify_opts_t opts;
    uint64_t seed;
    sl_json_t *json;
    sl_buf_t mp;   //  the value being counted, msgpack
    sl_buf_t text; //  JSON text scratch
    sl_buf_t key;  //  canonical match key
    sl_buf_t okey; //  canonical order key
    sl_buf_t tmp;  //  canonicalisation scratch
    s_table_t ids;
    s_table_t order;
    uint64_t max_global; //  1 + highest sent position delivered (global order)
    bool got_started;
    bool dirty; //  counts below need a pass over the table
    uint64_t sent, got, out_of_order, bad_sent, bad_got;
    uint64_t delivered, lost, duplicated, unexpected;
    s_example_t *examples[SL_VERIFY_KINDS];
    size_t n_examples[SL_VERIFY_KINDS];
    const char **text_list[SL_VERIFY_KINDS];
};

//  JSON text of a canonical key, as a new string ("?" when it cannot be shown).
char *sl_verify_key_text (sl_verify_t *self, const uint8_t *key, size_t len);

#endif
