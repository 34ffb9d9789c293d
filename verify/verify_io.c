/*  verify_io.c - reads sluice-verify's inputs: files of JSON lines (bounded
    line by line, never the whole file) and streams, which are read straight
    from the broker's log with FETCH from the first kept offset until a
    reply comes back empty: the same records any sink would get, without a
    process and a JSON round trip in between.
*/
#include "verify_io.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_MAX_REPORTS 100
#define S_CHUNK (64 * 1024)

static void
s_report (sl_verify_io_t *io, const char *where, uint64_t n, const char *why)
{
    if (io->reported++ < S_MAX_REPORTS) {
        fprintf (stderr, "%s:%" PRIu64 ": %s\n", where, n, why[0] ? why : "bad input");
    }
    else if (io->reported == S_MAX_REPORTS + 1) {
        fprintf (stderr, "sluice-verify: more bad input; from now on only counted\n");
    }
}

//  One complete line. Blank lines (spaces, tabs, CR) are skipped, as a
//  source skips them.
static void
s_line (sl_verify_io_t *io, const char *path, uint64_t lineno, const sl_buf_t *line, bool overlong,
        bool got)
{
    char why[256] = "";
    if (overlong) {
        snprintf (why, sizeof why, "line longer than %u bytes", SL_VERIFY_MAX_LINE);
        sl_verify_count_bad (io->verify, got);
        s_report (io, path, lineno, why);
        return;
    }
    size_t i = 0;
    while (i < line->len &&
           (line->data[i] == ' ' || line->data[i] == '\t' || line->data[i] == '\r')) {
        i++;
    }
    if (i == line->len) {
        return;
    }
    const char *text = (const char *)line->data;
    int rc = got ? sl_verify_got_line (io->verify, text, line->len, io->got_format, why, sizeof why)
                 : sl_verify_sent_json (io->verify, text, line->len, why, sizeof why);
    if (rc) {
        s_report (io, path, lineno, why);
    }
}

int
sl_verify_read_file (sl_verify_io_t *io, const char *path, bool got)
{
    bool is_stdin = strcmp (path, "-") == 0;
    FILE *file = is_stdin ? stdin : fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "sluice-verify: %s: %s\n", path, strerror (errno));
        return 2;
    }
    const char *name = is_stdin ? "<stdin>" : path;
    char *chunk = (char *)malloc (S_CHUNK);
    sl_buf_t line;
    sl_buf_init (&line, 0);
    uint64_t lineno = 0;
    bool overlong = false;
    int rc = chunk ? 0 : 2;
    size_t n;
    while (rc == 0 && (n = fread (chunk, 1, S_CHUNK, file)) > 0) {
        size_t i = 0;
        while (i < n) {
            char *nl = (char *)memchr (chunk + i, '\n', n - i);
            size_t take = nl ? (size_t)(nl - (chunk + i)) : n - i;
            if (!overlong && line.len + take > SL_VERIFY_MAX_LINE) {
                overlong = true;
                sl_buf_reset (&line);
            }
            if (!overlong && sl_buf_append (&line, chunk + i, take)) {
                rc = 2;
                break;
            }
            i += take;
            if (nl) {
                i++;
                s_line (io, name, ++lineno, &line, overlong, got);
                sl_buf_reset (&line);
                overlong = false;
            }
        }
    }
    if (rc == 0 && ferror (file)) {
        fprintf (stderr, "sluice-verify: %s: read error: %s\n", name, strerror (errno));
        rc = 2;
    }
    else if (rc == 0 && (line.len || overlong)) {
        s_line (io, name, ++lineno, &line, overlong, got); //  a last line without '\n'
    }
    else if (rc) {
        fprintf (stderr, "sluice-verify: %s: out of memory\n", name);
    }
    sl_buf_free (&line);
    free (chunk);
    if (!is_stdin) {
        fclose (file);
    }
    return rc;
}

//  Feeds the records of one stored blob from offset *want on; advances *want.
//  A blob that does not decode is reported and its records counted as bad.
static void
s_blob (sl_verify_io_t *io, const char *stream, zframe_t *frame, uint64_t *want, bool got)
{
    sl_record_iter_t it;
    sl_batch_header_t header;
    char why[256] = "";
    int rc = sl_record_iter_init_blob (&it, zframe_data (frame), zframe_size (frame), &header);
    if (rc) {
        snprintf (why, sizeof why, "a stored batch that does not decode: %s", sl_strerror (rc));
        sl_verify_count_bad (io->verify, got);
        s_report (io, stream, *want, why);
        return;
    }
    sl_record_t rec;
    while ((rc = sl_record_iter_next (&it, &rec)) == 1) {
        if (rec.offset < *want) {
            continue;
        }
        *want = rec.offset + 1;
        rc = got ? sl_verify_got_msgpack (io->verify, rec.value, rec.value_len, why, sizeof why)
                 : sl_verify_sent_msgpack (io->verify, rec.value, rec.value_len, why, sizeof why);
        if (rc) {
            s_report (io, stream, rec.offset, why);
        }
    }
    if (rc < 0) {
        //  The rest of the batch cannot be read: count it, and go on after it.
        uint64_t end = header.base_offset + header.count;
        snprintf (why, sizeof why,
                  "malformed record: %s; %" PRIu64 " records of the batch "
                  "skipped",
                  sl_strerror (rc), end > *want ? end - *want : 0);
        s_report (io, stream, *want, why);
        for (; *want < end; (*want)++) {
            sl_verify_count_bad (io->verify, got);
        }
    }
}

int
sl_verify_read_stream (sl_verify_io_t *io, const char *stream, bool got)
{
    sl_client_opts_t copts = {.broker = io->broker, .software = "sluice-verify/" SLUICE_VERSION};
    sl_client_t *client = sl_client_new (&copts);
    if (!client) {
        fprintf (stderr, "sluice-verify: cannot connect to %s\n", io->broker);
        return 2;
    }
    int result = 0;
    int rc = sl_client_hello (client, sl_mono_ms () + io->connect_timeout_ms);
    if (rc) {
        fprintf (stderr, "sluice-verify: broker %s: %s\n", io->broker, sl_strerror (rc));
        result = 2;
    }
    uint64_t want = 0;
    //  Each turn either moves want forward or ends: a reply with data that does not
    //  (a broker repeating itself) ends the read as well, so the loop is bounded.
    while (result == 0) {
        sl_msg_t req;
        sl_msg_init (&req, SL_CMD_FETCH);
        snprintf (req.stream, sizeof req.stream, "%s", stream);
        req.offset = want;
        sl_msg_t reply;
        sl_msg_init (&reply, SL_CMD_NONE);
        zmsg_t *data = NULL;
        rc =
            sl_client_request (client, &req, &reply, &data, sl_mono_ms () + io->connect_timeout_ms);
        if (rc || reply.cmd != SL_CMD_RECORDS) {
            fprintf (stderr, "sluice-verify: reading stream %s at offset %" PRIu64 ": %s\n", stream,
                     want,
                     rc ? (reply.text[0] ? reply.text : sl_strerror (rc)) : "unexpected reply");
            result = 2;
        }
        else {
            if (reply.offset > want) {
                fprintf (stderr,
                         "sluice-verify: stream %s: records %" PRIu64 "..%" PRIu64
                         " were removed by retention and are not counted\n",
                         stream, want, reply.offset - 1);
                want = reply.offset;
            }
            uint64_t before = want;
            size_t frames = data ? zmsg_size (data) : 0;
            for (zframe_t *f = data ? zmsg_first (data) : NULL; f; f = zmsg_next (data)) {
                s_blob (io, stream, f, &want, got);
            }
            if (frames == 0 || want == before) {
                sl_msg_reset (&reply);
                zmsg_destroy (&data);
                break;
            }
        }
        sl_msg_reset (&reply);
        zmsg_destroy (&data);
    }
    sl_client_destroy (&client);
    return result;
}
