/*  op_plugin.c - loads an operator plugin: a shared object exporting
    `const sl_operator_t *sluice_operator (void)` (include/sluice/plugin.h).

    RTLD_NOW so that a plugin with an unresolved symbol fails here, with the
    loader's message, and not in the middle of a batch; RTLD_LOCAL so that
    two plugins (or a plugin and the worker) cannot capture each other's
    symbols.
*/
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "operator.h"
#include "sl_error.h"

#define S_MAX_OPTIONS 256 //  entries of an option table we look at before giving up

//  Checks what the operator struct promises: the ABI, a name, a process
//  callback and an option table with known types. NULL or the problem.
static const char *
s_check (const sl_operator_t *op, char *text, size_t size)
{
    if (op->abi != SL_OPERATOR_ABI) {
        snprintf (text, size,
                  "speaks operator ABI %u, this worker speaks %d (rebuild it against this "
                  "sluice/plugin.h)",
                  op->abi, SL_OPERATOR_ABI);
        return text;
    }
    if (!op->name || !op->name[0]) {
        return "operator has no name";
    }
    if (!op->process) {
        return "operator has no process callback";
    }
    for (int i = 0; op->options && op->options[i].key; i++) {
        if (i == S_MAX_OPTIONS) {
            return "option table has no {NULL} end (or more than 256 options)";
        }
        sl_op_opt_type_t type = op->options[i].type;
        if (type != SL_OPT_STRING && type != SL_OPT_INT && type != SL_OPT_BOOL) {
            snprintf (text, size, "option '%s' has an unknown type %d", op->options[i].key,
                      (int)type);
            return text;
        }
    }
    return NULL;
}

int
sl_op_plugin_load (const char *path, const sl_operator_t **op, void **handle, char *why,
                   size_t why_size)
{
    *op = NULL;
    *handle = NULL;
    if (!path || !path[0]) {
        snprintf (why, why_size, "plugin: no file given");
        return SL_EINVAL;
    }
    //  dlopen searches the library path for a bare name; a plugin named on
    //  the command line is a file, so "op.so" means ./op.so.
    char file[4096];
    int n = snprintf (file, sizeof file, "%s%s", strchr (path, '/') ? "" : "./", path);
    if (n < 0 || (size_t)n >= sizeof file) {
        snprintf (why, why_size, "plugin: path too long");
        return SL_EINVAL;
    }
    dlerror ();
    void *h = dlopen (file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *error = dlerror ();
        snprintf (why, why_size, "plugin %s: cannot load: %s", path, error ? error : "unknown");
        return SL_ENOTFOUND;
    }
    dlerror ();
    void *sym = dlsym (h, SLUICE_OPERATOR_SYMBOL);
    if (!sym) {
        snprintf (why, why_size, "plugin %s: exports no function %s (see sluice/plugin.h)", path,
                  SLUICE_OPERATOR_SYMBOL);
        dlclose (h);
        return SL_ENOTFOUND;
    }
    //  POSIX guarantees that a dlsym result converts to a function pointer.
    sluice_operator_fn *fn;
    memcpy (&fn, &sym, sizeof fn);
    const sl_operator_t *o = fn ();
    char text[200];
    const char *problem = o ? s_check (o, text, sizeof text) : "sluice_operator() returned NULL";
    if (problem) {
        //  Everything o points to goes away with the handle: decide first.
        int rc = o && o->abi != SL_OPERATOR_ABI ? SL_EVERSION : SL_EINVAL;
        snprintf (why, why_size, "plugin %s: %s", path, problem);
        dlclose (h);
        return rc;
    }
    *op = o;
    *handle = h;
    return 0;
}
