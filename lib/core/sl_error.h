/*  sl_error.h - error codes shared by every Sluice module and by the wire.

    Functions return 0 on success and a negative SL_E* code on failure.
    The absolute value of a code is what travels in an ERROR message
    (docs/PROTOCOL.md, "Error codes"), so codes never change meaning.
*/
#ifndef SL_ERROR_H_INCLUDED
#define SL_ERROR_H_INCLUDED

//  X(name, value, retryable, text)
#define SL_ERRORS(X)                                                                               \
    X (SL_OK, 0, 0, "success")                                                                     \
    X (SL_ENOMEM, -1, 1, "out of memory")                                                          \
    X (SL_EINVAL, -2, 0, "invalid argument")                                                       \
    X (SL_EPROTO, -3, 0, "malformed message")                                                      \
    X (SL_EVERSION, -4, 0, "unsupported protocol version")                                         \
    X (SL_ECOMMAND, -5, 0, "unknown command")                                                      \
    X (SL_ETOOBIG, -6, 0, "message exceeds a limit")                                               \
    X (SL_EDEPTH, -7, 0, "nesting too deep")                                                       \
    X (SL_ETRUNC, -8, 0, "truncated input")                                                        \
    X (SL_EIO, -9, 1, "I/O error")                                                                 \
    X (SL_ENOSPC, -10, 1, "disk full: intake stopped until space is freed")                        \
    X (SL_ESTORE, -11, 1, "storage error")                                                         \
    X (SL_ENOTFOUND, -12, 0, "not found")                                                          \
    X (SL_ESEQ, -13, 1, "sequence gap: resend from the expected sequence")                         \
    X (SL_ETIMEOUT, -14, 1, "timed out")                                                           \
    X (SL_EJSON, -15, 0, "invalid JSON")                                                           \
    X (SL_ERANGE, -16, 0, "number out of range")                                                   \
    X (SL_ENAME, -17, 0, "invalid stream or client name")                                          \
    X (SL_EAGAIN, -18, 1, "try again")                                                             \
    X (SL_ECLOSED, -19, 1, "connection closed")                                                    \
    X (SL_EMAPFULL, -20, 1, "storage map full: grown, retry the transaction")                      \
    X (SL_ETYPE, -21, 0, "wrong type")                                                             \
    X (SL_ESTATE, -22, 0, "command not valid in this state")                                       \
    X (SL_EDENIED, -23, 0, "permission denied")                                                    \
    X (SL_EBUSY, -24, 1, "peer over its budget: read your replies")                                \
    X (SL_ELIMIT, -25, 0, "a broker limit was reached")                                            \
    X (SL_EREADONLY, -26, 1, "not the primary: a replica takes no writes")                         \
    X (SL_EEPOCH, -27, 0, "stale epoch: another broker was promoted since")                        \
    X (SL_ECORRUPT, -28, 0, "stored data failed its checksum")                                     \
    X (SL_ELOCKED, -29, 0, "data directory is in use by another broker")                           \
    X (SL_ENOREPLICA, -30, 1, "not enough replicas confirmed the write in time")

enum {
#define SL_ERROR_ENUM(name, value, retry, text) name = value,
    SL_ERRORS (SL_ERROR_ENUM)
#undef SL_ERROR_ENUM
};

//  The number of codes in the table. Codes are assigned in ranges per
//  feature, so the table may have holes until every range is filled.
enum {
#define SL_ERROR_ONE(name, value, retry, text) +1
    SL_ERROR_COUNT = 0 SL_ERRORS (SL_ERROR_ONE)
#undef SL_ERROR_ONE
};

//  Text for a code; never NULL ("unknown error" for codes not in the table).
const char *sl_strerror (int code);

//  True when a client should retry the operation that failed with code.
int sl_error_retryable (int code);

#endif
