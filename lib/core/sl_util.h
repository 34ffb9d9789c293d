/*  sl_util.h - clocks, parsing of sizes / durations / times, name rules.
 */
#ifndef SL_UTIL_H_INCLUDED
#define SL_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_NAME_MAX 200 //  bytes in a stream, producer, reader or group name

//  Wall clock in milliseconds since the Unix epoch.
int64_t sl_now_ms (void);
//  Monotonic clock in milliseconds (for timeouts and rates).
int64_t sl_mono_ms (void);

//  Tunes glibc's malloc for the batch-sized buffers every stage allocates
//  and frees per batch (100 KiB .. a few MiB): served from the heap and
//  kept there, instead of fresh mmap()s and trims that fault every page in
//  again (measured: a quarter of the broker's time; BENCHMARKS.md). Call
//  first thing in main.
void sl_tune_malloc (void);

//  "123" -> 123. Whole string must be a decimal number. 0 or SL_EINVAL/SL_ERANGE.
int sl_parse_u64 (const char *text, uint64_t *out);
int sl_parse_i64 (const char *text, int64_t *out);
//  "512", "64k", "16M", "2G", "1T" (binary multiples; "KiB"/"MiB"/... and "B" accepted).
int sl_parse_size (const char *text, uint64_t *bytes);
//  "500ms", "30s", "15m", "2h", "7d", "1w"; a bare number means seconds.
int sl_parse_duration_ms (const char *text, int64_t *ms);
//  ISO 8601 ("2026-11-26T12:00:00Z", "2026-11-26T12:00:00.250+01:00",
//  "2026-11-26") or epoch milliseconds ("1795000000000") -> epoch ms.
int sl_parse_time_ms (const char *text, int64_t *ms);
//  Formats epoch ms as ISO 8601 UTC with milliseconds into out (>= 32 bytes).
void sl_format_time_ms (int64_t ms, char *out, size_t size);

//  Copies text into out (size > 0), cut to fit, always terminated: for
//  messages that go out whole even when a part is longer than its field.
void sl_copy_text (char *out, size_t size, const char *text);

//  Stream, producer, reader and group names: 1..SL_NAME_MAX bytes of
//  [A-Za-z0-9._-], not starting with '.'.
bool sl_name_valid (const char *name, size_t len);

//  A member name of its own for this process: HOSTNAME-PID (fallback-PID
//  without a host name), with what a name may not hold replaced by '-', so
//  that it is a valid name (sl_name_valid).
void sl_default_member (const char *fallback, char *out, size_t size);

#endif
