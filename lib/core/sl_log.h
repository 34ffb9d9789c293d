/*  sl_log.h - one-line logging to stderr with a component prefix.

    Format: "2026-11-26T12:00:00.123Z sluice-broker[1234] W store: text".
    Log where the decision is made, once; a warning says what the operator
    should do.
*/
#ifndef SL_LOG_H_INCLUDED
#define SL_LOG_H_INCLUDED

typedef enum {
    SL_LOG_ERROR = 0,
    SL_LOG_WARN = 1,
    SL_LOG_INFO = 2,
    SL_LOG_DEBUG = 3
} sl_log_level_t;

//  Program name shown in every line (default "sluice").
void sl_log_set_program (const char *name);
//  Lines above this level are dropped (default SL_LOG_INFO; --quiet sets
//  SL_LOG_WARN, --verbose SL_LOG_DEBUG).
void sl_log_set_level (sl_log_level_t level);
sl_log_level_t sl_log_level (void);

void sl_log (sl_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define sl_error(comp, ...) sl_log (SL_LOG_ERROR, comp, __VA_ARGS__)
#define sl_warn(comp, ...) sl_log (SL_LOG_WARN, comp, __VA_ARGS__)
#define sl_info(comp, ...) sl_log (SL_LOG_INFO, comp, __VA_ARGS__)
#define sl_debug(comp, ...) sl_log (SL_LOG_DEBUG, comp, __VA_ARGS__)

#endif
