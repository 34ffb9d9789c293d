/*  pipeline_int.h - internals shared by the pipeline module's files.
 */
#ifndef SL_PIPELINE_INT_H_INCLUDED
#define SL_PIPELINE_INT_H_INCLUDED

#include <stdarg.h>

#include "pipeline.h"

//  A YAML document as a small tree: what the event stream held, bounded.
typedef enum { SL_PL_SCALAR, SL_PL_SEQ, SL_PL_MAP } sl_pl_node_kind_t;

typedef struct _sl_pl_node_t sl_pl_node_t;
struct _sl_pl_node_t {
    sl_pl_node_kind_t kind;
    int line, column; //  1-based position of the node's start
    char *text;       //  scalar: its value, NUL-terminated
    size_t len;
    bool plain;           //  scalar: unquoted (only plain scalars are null or boolean)
    sl_pl_node_t **items; //  seq: items; map: key, value, key, value...
    size_t n_items;
};

//  Parses text into a tree. NULL for an empty stream (no document, *err
//  left empty) or on failure ("FILE:LINE:COLUMN: reason" in err).
sl_pl_node_t *sl_pl_yaml_parse (const char *text, size_t len, const char *file, char *err,
                                size_t err_size);
void sl_pl_node_free (sl_pl_node_t **node_p);

//  True for a plain scalar that YAML reads as null ("", "~", "null").
bool sl_pl_is_null (const sl_pl_node_t *node);
//  1 / 0 for a plain boolean scalar (true/false, yes/no, on/off), else -1.
int sl_pl_bool (const sl_pl_node_t *node);

//  One flag a stage kind accepts: its key and how it is written.
typedef enum {
    SL_PL_VALUE = 0, //  --flag VALUE
    SL_PL_SWITCH,    //  --flag, from true
    SL_PL_REPEAT,    //  --flag VALUE, once per list item
} sl_pl_flag_kind_t;

typedef struct {
    const char *key;  //  key in the file
    const char *flag; //  the program's flag (usually the key)
    sl_pl_flag_kind_t kind;
    bool path; //  a relative path resolves against the file's directory
} sl_pl_flag_t;

//  The flag table of kind; terminated by an entry with key NULL.
const sl_pl_flag_t *sl_pl_flags (sl_stage_kind_t kind);
const sl_pl_flag_t *sl_pl_flag_find (sl_stage_kind_t kind, const char *key);

//  snprintf into err, prefixed with "FILE:LINE:COLUMN: " when line > 0 (or
//  "FILE: " when file is set and line is 0).
void sl_pl_error (char *err, size_t err_size, const char *file, int line, int column,
                  const char *fmt, ...) __attribute__ ((format (printf, 6, 7)));

#endif
