/*  pl_yaml.c - a pipeline file's YAML, read with libyaml's event API into
    a small bounded tree.

    The event API is used rather than libyaml's document loader because the
    loader expands nothing but also bounds nothing: here every node, every
    level of nesting and every scalar is counted as it arrives, and parsing
    stops at the first bound passed, before more memory is taken. Aliases
    are refused outright (a pipeline file has no use for them, and refusing
    them is the whole defence against "billion laughs" expansion). Tags are
    ignored; only plain scalars may be null or booleans, as in YAML 1.1.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "pipeline_int.h"
#include "sl_error.h"

void
sl_pl_error (char *err, size_t err_size, const char *file, int line, int column, const char *fmt,
             ...)
{
    if (!err || err_size == 0) {
        return;
    }
    int used = 0;
    if (file && line > 0) {
        used = snprintf (err, err_size, "%s:%d:%d: ", file, line, column);
    }
    else if (file) {
        used = snprintf (err, err_size, "%s: ", file);
    }
    if (used < 0 || (size_t)used >= err_size) {
        return;
    }
    va_list args;
    va_start (args, fmt);
    vsnprintf (err + used, err_size - (size_t)used, fmt, args);
    va_end (args);
}

void
sl_pl_node_free (sl_pl_node_t **node_p)
{
    if (!node_p || !*node_p) {
        return;
    }
    sl_pl_node_t *node = *node_p;
    for (size_t i = 0; i < node->n_items; i++) {
        sl_pl_node_free (&node->items[i]);
    }
    free (node->items);
    free (node->text);
    free (node);
    *node_p = NULL;
}

bool
sl_pl_is_null (const sl_pl_node_t *node)
{
    return node->kind == SL_PL_SCALAR && node->plain &&
           (node->len == 0 || strcmp (node->text, "~") == 0 ||
            strcasecmp (node->text, "null") == 0);
}

int
sl_pl_bool (const sl_pl_node_t *node)
{
    static const char *on[] = {"true", "yes", "on"};
    static const char *off[] = {"false", "no", "off"};
    if (node->kind != SL_PL_SCALAR || !node->plain) {
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp (node->text, on[i]) == 0) {
            return 1;
        }
        if (strcasecmp (node->text, off[i]) == 0) {
            return 0;
        }
    }
    return -1;
}

//  Parser state: the open containers and the counts bounded so far.
typedef struct {
    const char *file;
    char *err;
    size_t err_size;
    sl_pl_node_t *stack[SL_PL_MAX_DEPTH + 1];
    size_t depth;
    size_t nodes;
    sl_pl_node_t *root;
} s_state_t;

static sl_pl_node_t *
s_node_new (s_state_t *st, sl_pl_node_kind_t kind, const yaml_mark_t *mark)
{
    if (st->nodes >= SL_PL_MAX_NODES) {
        sl_pl_error (st->err, st->err_size, st->file, (int)mark->line + 1, (int)mark->column + 1,
                     "more than %d YAML nodes", SL_PL_MAX_NODES);
        return NULL;
    }
    sl_pl_node_t *node = calloc (1, sizeof *node);
    if (!node) {
        sl_pl_error (st->err, st->err_size, st->file, 0, 0, "out of memory");
        return NULL;
    }
    st->nodes++;
    node->kind = kind;
    node->line = (int)mark->line + 1;
    node->column = (int)mark->column + 1;
    return node;
}

//  Adds node to the open container (or makes it the root). Takes node.
static int
s_attach (s_state_t *st, sl_pl_node_t *node)
{
    if (st->depth == 0) {
        if (st->root) {
            sl_pl_error (st->err, st->err_size, st->file, node->line, node->column,
                         "more than one document: a pipeline file holds one");
            sl_pl_node_free (&node);
            return SL_EINVAL;
        }
        st->root = node;
        return 0;
    }
    sl_pl_node_t *parent = st->stack[st->depth - 1];
    //  Each item costs a pointer; the node bound already limits their number.
    sl_pl_node_t **items = realloc (parent->items, (parent->n_items + 1) * sizeof *items);
    if (!items) {
        sl_pl_error (st->err, st->err_size, st->file, 0, 0, "out of memory");
        sl_pl_node_free (&node);
        return SL_ENOMEM;
    }
    parent->items = items;
    parent->items[parent->n_items++] = node;
    return 0;
}

//  Handles one event. 1 at the end of the stream, 0 to go on, <0 on error.
static int
s_event (s_state_t *st, const yaml_event_t *ev)
{
    const yaml_mark_t *mark = &ev->start_mark;
    int line = (int)mark->line + 1;
    int column = (int)mark->column + 1;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_ALIAS_EVENT:
        sl_pl_error (st->err, st->err_size, st->file, line, column,
                     "aliases (*%s) are not supported in a pipeline file",
                     (const char *)ev->data.alias.anchor);
        return SL_EINVAL;
    case YAML_SCALAR_EVENT: {
        if (ev->data.scalar.length > SL_PL_MAX_SCALAR) {
            sl_pl_error (st->err, st->err_size, st->file, line, column,
                         "a value longer than %d bytes", SL_PL_MAX_SCALAR);
            return SL_ETOOBIG;
        }
        if (memchr (ev->data.scalar.value, '\0', ev->data.scalar.length)) {
            sl_pl_error (st->err, st->err_size, st->file, line, column,
                         "a value holds a NUL character");
            return SL_EINVAL;
        }
        sl_pl_node_t *node = s_node_new (st, SL_PL_SCALAR, mark);
        if (!node) {
            return SL_ETOOBIG;
        }
        node->text = malloc (ev->data.scalar.length + 1);
        if (!node->text) {
            sl_pl_node_free (&node);
            sl_pl_error (st->err, st->err_size, st->file, 0, 0, "out of memory");
            return SL_ENOMEM;
        }
        memcpy (node->text, ev->data.scalar.value, ev->data.scalar.length);
        node->text[ev->data.scalar.length] = '\0';
        node->len = ev->data.scalar.length;
        node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return s_attach (st, node);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (st->depth >= SL_PL_MAX_DEPTH) {
            sl_pl_error (st->err, st->err_size, st->file, line, column,
                         "nested deeper than %d levels", SL_PL_MAX_DEPTH);
            return SL_EDEPTH;
        }
        sl_pl_node_kind_t kind = ev->type == YAML_SEQUENCE_START_EVENT ? SL_PL_SEQ : SL_PL_MAP;
        sl_pl_node_t *node = s_node_new (st, kind, mark);
        if (!node) {
            return SL_ETOOBIG;
        }
        //  Attach first so that the tree owns it whatever happens next.
        int rc = s_attach (st, node);
        if (rc) {
            return rc;
        }
        st->stack[st->depth++] = node;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (st->depth > 0) {
            st->depth--;
        }
        return 0;
    default:
        return 0;
    }
}

sl_pl_node_t *
sl_pl_yaml_parse (const char *text, size_t len, const char *file, char *err, size_t err_size)
{
    if (err && err_size) {
        err[0] = '\0';
    }
    if (len > SL_PL_MAX_FILE) {
        sl_pl_error (err, err_size, file, 0, 0, "larger than %d bytes", SL_PL_MAX_FILE);
        return NULL;
    }
    s_state_t st = {.file = file, .err = err, .err_size = err_size};
    yaml_parser_t parser;
    if (!yaml_parser_initialize (&parser)) {
        sl_pl_error (err, err_size, file, 0, 0, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string (&parser, (const unsigned char *)text, len);
    int rc = 0;
    //  Every event consumes input, so the loop ends; the bound is a backstop.
    for (size_t events = 0; rc == 0 && events < 4 * (size_t)SL_PL_MAX_NODES + 16; events++) {
        yaml_event_t ev;
        if (!yaml_parser_parse (&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            if (parser.context) {
                sl_pl_error (err, err_size, file, (int)m->line + 1, (int)m->column + 1, "%s %s",
                             parser.problem ? parser.problem : "invalid YAML", parser.context);
            }
            else {
                sl_pl_error (err, err_size, file, (int)m->line + 1, (int)m->column + 1, "%s",
                             parser.problem ? parser.problem : "invalid YAML");
            }
            rc = SL_EINVAL;
            break;
        }
        rc = s_event (&st, &ev);
        yaml_event_delete (&ev);
    }
    yaml_parser_delete (&parser);
    if (rc < 0) {
        sl_pl_node_free (&st.root);
        return NULL;
    }
    if (rc == 0) {
        sl_pl_error (err, err_size, file, 0, 0, "too many YAML events");
        sl_pl_node_free (&st.root);
        return NULL;
    }
    return st.root;
}
