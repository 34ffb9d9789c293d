/*  sl_error.c - texts for the SL_E* codes.
 */
#include "sl_error.h"

const char *
sl_strerror (int code)
{
    switch (code) {
#define SL_ERROR_TEXT(name, value, retry, text)                                                    \
    case value:                                                                                    \
        return text;
        SL_ERRORS (SL_ERROR_TEXT)
#undef SL_ERROR_TEXT
    }
    return "unknown error";
}

int
sl_error_retryable (int code)
{
    switch (code) {
#define SL_ERROR_RETRY(name, value, retry, text)                                                   \
    case value:                                                                                    \
        return retry;
        SL_ERRORS (SL_ERROR_RETRY)
#undef SL_ERROR_RETRY
    }
    return 0;
}
