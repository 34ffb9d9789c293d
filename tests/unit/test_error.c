/*  test_error.c - error codes, their texts and the retry contract.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sl_error.h"

Test (error, codes_are_stable)
{
    //  These values travel on the wire (docs/PROTOCOL.md §9): they never change.
    cr_assert_eq (SL_OK, 0);
    cr_assert_eq (SL_ENOMEM, -1);
    cr_assert_eq (SL_EINVAL, -2);
    cr_assert_eq (SL_EPROTO, -3);
    cr_assert_eq (SL_EVERSION, -4);
    cr_assert_eq (SL_ECOMMAND, -5);
    cr_assert_eq (SL_ETOOBIG, -6);
    cr_assert_eq (SL_EDEPTH, -7);
    cr_assert_eq (SL_ETRUNC, -8);
    cr_assert_eq (SL_EIO, -9);
    cr_assert_eq (SL_ENOSPC, -10);
    cr_assert_eq (SL_ESTORE, -11);
    cr_assert_eq (SL_ENOTFOUND, -12);
    cr_assert_eq (SL_ESEQ, -13);
    cr_assert_eq (SL_ETIMEOUT, -14);
    cr_assert_eq (SL_EJSON, -15);
    cr_assert_eq (SL_ERANGE, -16);
    cr_assert_eq (SL_ENAME, -17);
    cr_assert_eq (SL_EAGAIN, -18);
    cr_assert_eq (SL_ECLOSED, -19);
    cr_assert_eq (SL_EMAPFULL, -20);
    cr_assert_eq (SL_ETYPE, -21);
    cr_assert_eq (SL_ESTATE, -22);
    cr_assert_eq (SL_ECORRUPT, -28);
    cr_assert_eq (SL_ELOCKED, -29);
}

Test (error, texts)
{
    cr_assert_str_eq (sl_strerror (SL_OK), "success");
    cr_assert_str_eq (sl_strerror (SL_EPROTO), "malformed message");
    cr_assert_str_eq (sl_strerror (SL_EVERSION), "unsupported protocol version");
    cr_assert_str_eq (sl_strerror (SL_ENOSPC), "disk full: intake stopped until space is freed");
    cr_assert_str_eq (sl_strerror (SL_ENAME), "invalid stream or client name");
}

//  Every code of the table (which may have holes between feature ranges).
static const int s_codes[] = {
#define S_CODE(name, value, retry, text) value,
    SL_ERRORS (S_CODE)
#undef S_CODE
};

Test (error, every_code_has_its_own_text)
{
    size_t n = sizeof s_codes / sizeof s_codes[0];
    cr_assert_eq (n, SL_ERROR_COUNT);
    for (size_t i = 0; i < n; i++) {
        const char *ta = sl_strerror (s_codes[i]);
        cr_assert_not_null (ta);
        cr_assert_str_neq (ta, "unknown error", "code %d", s_codes[i]);
        cr_assert_gt (strlen (ta), 3);
        for (size_t j = i + 1; j < n; j++) {
            cr_assert_neq (s_codes[i], s_codes[j], "code %d is in the table twice", s_codes[i]);
            cr_assert_str_neq (ta, sl_strerror (s_codes[j]), "codes %d and %d share a text",
                               s_codes[i], s_codes[j]);
        }
    }
}

Test (error, unknown_codes_never_null)
{
    int codes[] = {1, 3, -100, -1000, 1000, -2147483647 - 1, 2147483647};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        cr_assert_str_eq (sl_strerror (codes[i]), "unknown error", "code %d", codes[i]);
        cr_assert_eq (sl_error_retryable (codes[i]), 0, "code %d", codes[i]);
    }
}

Test (error, retryable)
{
    int yes[] = {SL_ENOMEM, SL_EIO,     SL_ENOSPC,   SL_ESTORE, SL_ESEQ,      SL_ETIMEOUT,
                 SL_EAGAIN, SL_ECLOSED, SL_EMAPFULL, SL_EBUSY,  SL_EREADONLY, SL_ENOREPLICA};
    int no[] = {SL_OK,      SL_EINVAL,   SL_EPROTO,  SL_EVERSION,  SL_ECOMMAND,
                SL_ETOOBIG, SL_EDEPTH,   SL_ETRUNC,  SL_ENOTFOUND, SL_EJSON,
                SL_ERANGE,  SL_ENAME,    SL_ETYPE,   SL_ESTATE,    SL_EDENIED,
                SL_ELIMIT,  SL_ECORRUPT, SL_ELOCKED, SL_EEPOCH};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        cr_assert (sl_error_retryable (yes[i]), "%s", sl_strerror (yes[i]));
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        cr_assert_not (sl_error_retryable (no[i]), "%s", sl_strerror (no[i]));
    }
    cr_assert_eq (sizeof yes / sizeof yes[0] + sizeof no / sizeof no[0], SL_ERROR_COUNT,
                  "every code is classified");
}
