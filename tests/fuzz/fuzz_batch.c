/*  fuzz_batch.c - the record codec (lib/codec/sl_batch.c) on hostile bytes.

    Input: byte 0 is the record count claimed for a plain batch (0..255),
    the rest is the batch. The whole input is also tried as a stored blob
    (24-byte header + batch), as the log and the RECORDS frames carry it.
    Beyond "no crash, no sanitizer report", it checks that the codec's
    entry points agree: a batch that validates iterates to exactly `count`
    records that tile the input, each skip lands on a record boundary, and
    each validated record renders as JSON
    (or meets the one documented refusal, keys nested in keys too deep).
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"

static sl_json_t *s_json;
static sl_buf_t s_out;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    s_json = sl_json_new ();
    FUZZ_CHECK (s_json);
    sl_buf_init (&s_out, 64u << 20);
    return 0;
}

//  Walks the batch with the iterator and checks it against validate's verdict.
static void
s_check_batch (const uint8_t *batch, size_t len, uint32_t count, uint64_t base)
{
    int valid = sl_batch_validate (batch, len, count, SL_MP_MAX_DEPTH);
    FUZZ_CHECK (valid <= 0);

    sl_record_iter_t it;
    sl_record_iter_init (&it, batch, len, count, base);
    const uint8_t *expect = batch;
    uint32_t n = 0;
    int rc;
    sl_record_t rec;
    while ((rc = sl_record_iter_next (&it, &rec)) == 1) {
        FUZZ_CHECK (n < count);
        FUZZ_CHECK (rec.raw == expect);
        FUZZ_CHECK (rec.raw_len > 0 && rec.raw_len <= (size_t)(batch + len - rec.raw));
        FUZZ_CHECK (rec.offset == base + n);
        FUZZ_CHECK (rec.value >= rec.raw && rec.value + rec.value_len <= rec.raw + rec.raw_len);
        if (rec.key) {
            FUZZ_CHECK (rec.key >= rec.raw && rec.key + rec.key_len <= rec.raw + rec.raw_len);
        }
        if (rec.headers) {
            FUZZ_CHECK (rec.headers >= rec.raw &&
                        rec.headers + rec.headers_len <= rec.raw + rec.raw_len);
        }
        if (valid == 0) {
            size_t consumed = 0;
            FUZZ_CHECK (sl_batch_skip (batch, len, n, &consumed) == 0);
            FUZZ_CHECK (consumed == (size_t)(rec.raw - batch));
            //  The one refusal a valid record may meet: non-str map keys
            //  nested in one another past sl_json_write.c's bound.
            sl_buf_reset (&s_out);
            int jrc = sl_record_to_json (s_json, &rec, &s_out);
            FUZZ_CHECK (jrc == 0 || jrc == SL_EDEPTH);
        }
        else {
            sl_buf_reset (&s_out);
            (void)sl_record_to_json (s_json, &rec, &s_out);
        }
        expect = rec.raw + rec.raw_len;
        n++;
    }
    //  After the end or an error the iterator stays where it is.
    FUZZ_CHECK (sl_record_iter_next (&it, &rec) == rc);
    if (valid == 0) {
        FUZZ_CHECK (rc == 0);
        FUZZ_CHECK (n == count);
        FUZZ_CHECK (expect == batch + len);
        size_t consumed = 0;
        FUZZ_CHECK (sl_batch_skip (batch, len, count, &consumed) == 0);
        FUZZ_CHECK (consumed == len);
    }
    else {
        size_t consumed = 0;
        (void)sl_batch_skip (batch, len, count, &consumed);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    //  A plain batch (PUBLISH's records frame).
    s_check_batch (data + 1, size - 1, data[0], 0);

    //  A stored blob (log value, RECORDS / LIVE data frame).
    sl_batch_header_t header;
    int rc = sl_batch_header_decode (data, size, &header);
    FUZZ_CHECK (rc <= 0);
    if (rc == 0) {
        FUZZ_CHECK (header.version == SL_BATCH_VERSION && header.count >= 1);
        uint8_t again[SL_BATCH_HEADER_SIZE];
        sl_batch_header_encode (&header, again);
        FUZZ_CHECK (memcmp (again, data, SL_BATCH_HEADER_SIZE) == 0);
        //  A huge claimed count must cost nothing: the iterator stops at the bytes.
        s_check_batch (data + SL_BATCH_HEADER_SIZE, size - SL_BATCH_HEADER_SIZE, header.count,
                       header.base_offset);
        sl_record_iter_t it;
        sl_batch_header_t h2;
        FUZZ_CHECK (sl_record_iter_init_blob (&it, data, size, &h2) == 0);
        FUZZ_CHECK (h2.count == header.count && h2.base_offset == header.base_offset);
    }
    return 0;
}
