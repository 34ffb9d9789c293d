/*  proto_util.c - helpers shared by the protocol codec's tests
    (test_proto*.c): raw frames, every field of every command, the required
    keys of PROTOCOL.md §5.2, hostile body builders, and the hex and
    PROTOCOL.md readers of the test vectors.
*/
#include "proto_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_mp.h"

//  ---------------------------------------------------------------------
//  Helpers

zmsg_t *
pt_raw (const void *header, size_t header_size, const void *body, size_t body_size, int n_data)
{
    zmsg_t *zmsg = zmsg_new ();
    cr_assert_not_null (zmsg);
    if (header) {
        zmsg_addmem (zmsg, header, header_size);
    }
    if (body) {
        zmsg_addmem (zmsg, body, body_size);
    }
    for (int i = 0; i < n_data; i++) {
        zmsg_addmem (zmsg, "data", 4);
    }
    return zmsg;
}

//  Decodes header + body bytes with n_data data frames; returns the code.
int
pt_decode_raw (uint8_t cmd, const void *body, size_t body_size, int n_data, sl_msg_t *msg)
{
    uint8_t header[4] = {0x53, 0x4C, 1, cmd};
    zmsg_t *zmsg = pt_raw (header, 4, body, body_size, n_data);
    sl_msg_init (msg, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, msg);
    zmsg_destroy (&zmsg);
    return rc;
}

int
pt_data_frames (sl_cmd_t cmd)
{
    return cmd == SL_CMD_PUBLISH || cmd == SL_CMD_WORK || cmd == SL_CMD_RESULT ? 1
           : cmd == SL_CMD_RECORDS || cmd == SL_CMD_LIVE                       ? 2
                                                                               : 0;
}

//  Encodes msg, adds its data frames, decodes into out; asserts success.
void
pt_round_trip (const sl_msg_t *msg, sl_msg_t *out)
{
    zmsg_t *zmsg = sl_msg_encode (msg);
    cr_assert_not_null (zmsg, "encode %s", sl_cmd_name (msg->cmd));
    cr_assert_eq (zmsg_size (zmsg), 2);
    zframe_t *header = zmsg_first (zmsg);
    cr_assert_eq (zframe_size (header), 4);
    const uint8_t *h = zframe_data (header);
    cr_assert (h[0] == 0x53 && h[1] == 0x4C && h[2] == 1 && h[3] == msg->cmd);
    int n_data = pt_data_frames (msg->cmd);
    for (int i = 0; i < n_data; i++) {
        zmsg_addmem (zmsg, "blob", 4);
    }
    sl_msg_init (out, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, out);
    cr_assert_eq (rc, 0, "decode %s: %s", sl_cmd_name (msg->cmd), sl_strerror (rc));
    cr_assert_eq ((int)zmsg_size (zmsg), n_data, "data frames left for the caller");
    zmsg_destroy (&zmsg);
}

//  Compares two messages field by field (streams and failed by content).
void
pt_assert_msg_eq (const sl_msg_t *a, const sl_msg_t *b)
{
    sl_msg_t x = *a;
    sl_msg_t y = *b;
    cr_assert_eq (x.n_streams, y.n_streams);
    for (uint32_t i = 0; i < x.n_streams; i++) {
        cr_assert_eq (memcmp (&x.streams[i], &y.streams[i], sizeof x.streams[i]), 0, "stream %u",
                      i);
    }
    cr_assert_eq (x.n_failed, y.n_failed);
    for (uint32_t i = 0; i < x.n_failed; i++) {
        cr_assert_eq (x.failed[i].offset, y.failed[i].offset, "failed %u", i);
        cr_assert_str_eq (x.failed[i].error, y.failed[i].error, "failed %u", i);
        cr_assert_eq (x.failed[i].final, y.failed[i].final, "failed %u", i);
    }
    x.streams = y.streams = NULL;
    x.failed = y.failed = NULL;
    //  The text arena is compared through the entries above.
    x.failed_text = y.failed_text = NULL;
    x.failed_text_len = y.failed_text_len = 0;
    x.failed_text_cap = y.failed_text_cap = 0;
    x.version = y.version = 0;
    cr_assert_eq (memcmp (&x, &y, sizeof x), 0, "%s differs after round trip",
                  sl_cmd_name (a->cmd));
}

void
pt_fill (char *out, size_t size, char c)
{
    memset (out, c, size - 1);
    out[size - 1] = 0;
}

//  Every field of cmd (per PROTOCOL.md §5.2), with values that use the
//  widest encodings when big is set.
void
pt_full (sl_msg_t *msg, sl_cmd_t cmd, bool big)
{
    sl_msg_init (msg, cmd);
    uint64_t u64 = big ? UINT64_MAX : 1234567;
    uint32_t u32 = big ? UINT32_MAX : 1000;
    if (big) {
        pt_fill (msg->stream, sizeof msg->stream, 's');
    }
    else {
        strcpy (msg->stream, "orders.v2");
    }
    switch (cmd) {
    case SL_CMD_HELLO:
        msg->req = u64;
        if (big) {
            pt_fill (msg->client, sizeof msg->client, 'c');
            pt_fill (msg->name, sizeof msg->name, 'p');
        }
        else {
            strcpy (msg->client, "sluice-source/0.1.0");
            strcpy (msg->name, "src-1");
        }
        break;
    case SL_CMD_WELCOME:
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        if (big) {
            pt_fill (msg->broker, sizeof msg->broker, 'b');
            pt_fill (msg->endpoint, sizeof msg->endpoint, 'e');
        }
        else {
            strcpy (msg->broker, "sluice-broker/0.1.0");
            strcpy (msg->endpoint, "tcp://*:7001");
        }
        msg->heartbeat_ms = u32;
        msg->max_batch_bytes = u64;
        msg->max_batch_records = u32;
        msg->max_depth = u32;
        msg->seq = u64;
        break;
    case SL_CMD_PUBLISH:
    case SL_CMD_CONFIRM:
        strcpy (msg->name, big ? "P-" : "src-1");
        msg->seq = u64;
        msg->count = u32;
        if (cmd == SL_CMD_CONFIRM) {
            msg->offset = u64;
        }
        break;
    case SL_CMD_SEEK:
        msg->req = u64;
        msg->from = SL_FROM_COMMITTED;
        msg->value = big ? INT64_MIN : -5;
        strcpy (msg->name, "reader_1");
        break;
    case SL_CMD_POSITION:
        msg->req = u64;
        msg->offset = u64;
        msg->first = u64 - 1;
        msg->next = u64;
        msg->found = true;
        break;
    case SL_CMD_FETCH:
        msg->req = u64;
        msg->offset = u64;
        msg->max_records = u32;
        msg->max_bytes = u64;
        break;
    case SL_CMD_RECORDS:
        msg->req = u64;
        msg->offset = u64;
        msg->first = 3;
        msg->next = u64;
        break;
    case SL_CMD_COMMIT:
    case SL_CMD_COMMITTED:
        msg->req = u64;
        strcpy (msg->name, "reader_1");
        msg->offset = u64;
        break;
    case SL_CMD_LIST:
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        break;
    case SL_CMD_PING:
        //  The heartbeat's optional counters (PROTOCOL.md §15.5): stream and
        //  client stay set, as a source reports them.
        msg->req = u64;
        strcpy (msg->client, big ? "c" : "src-1");
        strcpy (msg->role, "source");
        msg->ping_records = u64;
        msg->ping_errors = u32;
        break;
    case SL_CMD_PONG:
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        break;
    case SL_CMD_STREAMS: {
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        for (int i = 0; i < 3; i++) {
            sl_stream_info_t info;
            memset (&info, 0, sizeof info);
            snprintf (info.name, sizeof info.name, "stream-%d", i);
            if (big && i == 2) {
                pt_fill (info.name, sizeof info.name, 'n');
            }
            info.first = big ? UINT64_MAX - 10 : (uint64_t)i;
            info.next = big ? UINT64_MAX : (uint64_t)i * 10;
            info.records = big ? UINT64_MAX : 9;
            info.bytes = big ? UINT64_MAX : 4096;
            info.last_ms = big ? INT64_MIN : 1795694400000;
            cr_assert_eq (sl_msg_add_stream (msg, &info), 0);
        }
        break;
    }
    case SL_CMD_ERROR:
        //  As the answer to a PUBLISH: its stream and producer (§5.2).
        if (big) {
            pt_fill (msg->name, sizeof msg->name, 'p');
        }
        else {
            strcpy (msg->name, "src-1");
        }
        msg->req = u64;
        msg->code = big ? INT32_MAX : 13;
        msg->seq = u64;
        if (big) {
            pt_fill (msg->text, sizeof msg->text, 't');
        }
        else {
            strcpy (msg->text, "sequence gap: resend from the expected sequence");
        }
        break;
    case SL_CMD_LIVE:
        msg->offset = u64;
        msg->count = u32;
        msg->next = u64;
        break;
    case SL_CMD_JOIN:
    case SL_CMD_JOINED:
    case SL_CMD_WORK:
    case SL_CMD_RESULT:
    case SL_CMD_LEAVE:
        memset (msg->stream, 0, sizeof msg->stream);
        if (big) {
            pt_fill (msg->group, sizeof msg->group, 'g');
        }
        else {
            strcpy (msg->group, "enrich");
        }
        if (cmd == SL_CMD_JOIN || cmd == SL_CMD_JOINED) {
            msg->req = u64;
            strcpy (msg->in, "orders");
            if (big) {
                pt_fill (msg->out, sizeof msg->out, 'o');
            }
            else {
                strcpy (msg->out, "orders.enriched");
            }
        }
        if (cmd == SL_CMD_JOIN || cmd == SL_CMD_LEAVE) {
            strcpy (msg->member, big ? "M" : "host-1234");
        }
        if (cmd == SL_CMD_JOIN) {
            msg->window = u32;
            msg->batch = u32;
            msg->from = SL_FROM_END;
            msg->max_deliver = u32;
            msg->lease_ms = u32;
        }
        if (cmd == SL_CMD_JOINED || cmd == SL_CMD_WORK || cmd == SL_CMD_RESULT) {
            msg->offset = u64;
        }
        if (cmd == SL_CMD_WORK || cmd == SL_CMD_RESULT) {
            msg->lease = u64;
            msg->count = u32;
        }
        if (cmd == SL_CMD_WORK) {
            msg->attempt = u32;
        }
        if (cmd == SL_CMD_RESULT) {
            msg->out_count = u32;
            char longest[256];
            pt_fill (longest, sizeof longest, 'f');
            for (int i = 0; i < 3; i++) {
                const char *text = i == 1 ? "" : big && i == 0 ? longest : "bad input";
                cr_assert_eq (
                    sl_msg_add_failed (msg, big ? UINT64_MAX - (uint64_t)i : 7u + i, text), 0);
            }
            msg->failed[2].final = true;
        }
        break;
    default:
        cr_assert_fail ("no such command");
    }
}

const sl_cmd_t pt_all_cmds[] = {
    SL_CMD_HELLO, SL_CMD_WELCOME, SL_CMD_PUBLISH, SL_CMD_CONFIRM,   SL_CMD_SEEK, SL_CMD_POSITION,
    SL_CMD_FETCH, SL_CMD_RECORDS, SL_CMD_COMMIT,  SL_CMD_COMMITTED, SL_CMD_LIST, SL_CMD_STREAMS,
    SL_CMD_PING,  SL_CMD_PONG,    SL_CMD_ERROR,   SL_CMD_LIVE,
};
_Static_assert(sizeof pt_all_cmds / sizeof pt_all_cmds[0] == N_CMDS, "one entry per command");

//  Required keys per command, from PROTOCOL.md §5.2.
const char *
pt_required (sl_cmd_t cmd)
{
    switch (cmd) {
    case SL_CMD_HELLO:
        return "";
    case SL_CMD_WELCOME:
        return "req broker pub heartbeat_ms max_batch_bytes max_batch_records max_depth";
    case SL_CMD_PUBLISH:
        return "stream producer seq count";
    case SL_CMD_CONFIRM:
        return "stream producer seq offset count";
    case SL_CMD_SEEK:
        return "req stream from reader"; //  reader: from is "committed"
    case SL_CMD_POSITION:
        return "req stream offset first next found";
    case SL_CMD_FETCH:
        return "req stream offset";
    case SL_CMD_RECORDS:
        return "req stream offset first next";
    case SL_CMD_COMMIT:
    case SL_CMD_COMMITTED:
        return "req stream reader offset";
    case SL_CMD_LIST:
        return "req";
    case SL_CMD_STREAMS:
        return "req streams";
    case SL_CMD_PING:
        return "";
    case SL_CMD_PONG:
        return "req";
    case SL_CMD_ERROR:
        return "req code text";
    case SL_CMD_LIVE:
        return "stream offset count next";
    case SL_CMD_JOIN:
        return "req group in out member";
    case SL_CMD_JOINED:
        return "req group in out offset";
    case SL_CMD_WORK:
        return "group lease offset count attempt";
    case SL_CMD_RESULT:
        return "group lease offset count out_count";
    case SL_CMD_LEAVE:
        return "group member";
    default:
        return NULL;
    }
}

bool
pt_word_in (const char *words, const uint8_t *key, uint32_t len)
{
    const char *p = words;
    while (*p) {
        size_t n = strcspn (p, " ");
        if (n == len && memcmp (p, key, len) == 0) {
            return true;
        }
        p += n;
        p += *p == ' ';
    }
    return false;
}

//  Copies body without pair number skip into out (map header rewritten).
//  Returns the new size and the removed key.
size_t
pt_drop_pair (const uint8_t *body, size_t size, uint32_t skip, uint8_t *out, char *key_out)
{
    const uint8_t *p = body;
    const uint8_t *end = body + size;
    uint32_t pairs;
    cr_assert_eq (sl_mp_read_map (&p, end, &pairs), 0);
    cr_assert_lt (skip, pairs);
    size_t n = sl_mp_write_map (out, 5, pairs - 1);
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *start = p;
        const uint8_t *key;
        uint32_t key_len;
        cr_assert_eq (sl_mp_read_str (&p, end, &key, &key_len), 0);
        size_t used;
        cr_assert_eq (sl_mp_skip (p, (size_t)(end - p), 8, &used), 0);
        p += used;
        if (i == skip) {
            memcpy (key_out, key, key_len);
            key_out[key_len] = 0;
        }
        else {
            memcpy (out + n, start, (size_t)(p - start));
            n += (size_t)(p - start);
        }
    }
    return n;
}

void
pt_b_raw (pt_body_t *b, const void *data, size_t size)
{
    cr_assert_leq (b->len + size, sizeof b->data);
    if (size == 0) {
        return;
    }
    memcpy (b->data + b->len, data, size);
    b->len += size;
}

void
pt_b_map (pt_body_t *b, uint32_t n)
{
    b->len += sl_mp_write_map (b->data + b->len, sizeof b->data - b->len, n);
}

void
pt_b_str (pt_body_t *b, const char *s)
{
    size_t len = strlen (s);
    b->len += sl_mp_write_str_header (b->data + b->len, sizeof b->data - b->len, (uint32_t)len);
    pt_b_raw (b, s, len);
}

void
pt_b_uint (pt_body_t *b, uint64_t v)
{
    b->len += sl_mp_write_uint (b->data + b->len, sizeof b->data - b->len, v);
}

void
pt_b_int (pt_body_t *b, int64_t v)
{
    b->len += sl_mp_write_int (b->data + b->len, sizeof b->data - b->len, v);
}

//  A valid FETCH body {req, stream, offset} with one key's value replaced
//  by raw bytes.
void
pt_b_fetch (pt_body_t *b, const char *bad_key, const void *bad, size_t bad_size)
{
    b->len = 0;
    pt_b_map (b, 3);
    pt_b_str (b, "req");
    if (bad_key && strcmp (bad_key, "req") == 0) {
        pt_b_raw (b, bad, bad_size);
    }
    else {
        pt_b_uint (b, 7);
    }
    pt_b_str (b, "stream");
    if (bad_key && strcmp (bad_key, "stream") == 0) {
        pt_b_raw (b, bad, bad_size);
    }
    else {
        pt_b_str (b, "orders");
    }
    pt_b_str (b, "offset");
    if (bad_key && strcmp (bad_key, "offset") == 0) {
        pt_b_raw (b, bad, bad_size);
    }
    else {
        pt_b_uint (b, 0);
    }
}

//  ---------------------------------------------------------------------
//  Hex and PROTOCOL.md, for the test vectors

char *
pt_hex (const uint8_t *data, size_t size)
{
    char *hex = malloc (size * 2 + 1);
    for (size_t i = 0; i < size; i++) {
        snprintf (hex + 2 * i, 3, "%02x", data[i]);
    }
    hex[size * 2] = 0;
    return hex;
}

//  Encodes msg and compares with the documented hex; decodes the
//  documented bytes back and compares with msg.
void
pt_check_vector (const sl_msg_t *msg, const char *header_hex, const char *body_hex)
{
    zmsg_t *zmsg = sl_msg_encode (msg);
    cr_assert_not_null (zmsg, "%s", sl_cmd_name (msg->cmd));
    char *h = pt_hex (zframe_data (zmsg_first (zmsg)), 4);
    char *b = pt_hex (zframe_data (zmsg_last (zmsg)), zframe_size (zmsg_last (zmsg)));
    cr_assert_str_eq (h, header_hex, "%s header", sl_cmd_name (msg->cmd));
    cr_assert_str_eq (b, body_hex, "%s body: codec gives\n%s", sl_cmd_name (msg->cmd), b);
    free (h);
    free (b);
    for (int i = 0; i < pt_data_frames (msg->cmd) && msg->cmd != SL_CMD_RECORDS; i++) {
        zmsg_addmem (zmsg, "x", 1);
    }
    sl_msg_t out;
    sl_msg_init (&out, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &out), 0);
    pt_assert_msg_eq (msg, &out);
    sl_msg_reset (&out);
    zmsg_destroy (&zmsg);
}

//  Hex of a documented frame or of a buffer, for comparison.
char *
pt_buf_hex (const sl_buf_t *buf)
{
    return pt_hex (buf->data, buf->len);
}

zframe_t *
pt_unhex (const char *hex)
{
    size_t size = strlen (hex) / 2;
    zframe_t *frame = zframe_new (NULL, size);
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        cr_assert_eq (sscanf (hex + 2 * i, "%2x", &byte), 1);
        zframe_data (frame)[i] = (uint8_t)byte;
    }
    return frame;
}

//  Finds docs/PROTOCOL.md: $SLUICE_SOURCE_ROOT, else from this file's
//  compiled path (relative to the build directory, where meson runs tests).
FILE *
pt_open_protocol_md (void)
{
    char path[4096];
    const char *root = getenv ("SLUICE_SOURCE_ROOT");
    if (root) {
        snprintf (path, sizeof path, "%s/docs/PROTOCOL.md", root);
        return fopen (path, "r");
    }
    const char *self = __FILE__;
    const char *tail = strstr (self, "tests/unit/proto_util.c");
    cr_assert_not_null (tail);
    snprintf (path, sizeof path, "%.*sdocs/PROTOCOL.md", (int)(tail - self), self);
    FILE *file = fopen (path, "r");
    if (!file) {
        //  Run from the source root rather than the build directory.
        file = fopen ("docs/PROTOCOL.md", "r");
    }
    return file;
}

//  Collects the hex of the labelled frames of §13's examples into
//  doc[cmd][label], labels: 0 topic, 1 header, 2 body, 3 data.
void
pt_read_examples (char doc[SL_CMD_LEAVE + 1][4][4096])
{
    FILE *file = pt_open_protocol_md ();
    cr_assert_not_null (file, "docs/PROTOCOL.md not found: set SLUICE_SOURCE_ROOT");
    static const char *labels[] = {"topic", "header", "body", "data"};
    char line[1024];
    bool in_examples = false;
    int cmd = -1;
    int label = -1;
    while (fgets (line, sizeof line, file)) {
        if (strncmp (line, "## ", 3) == 0) {
            in_examples = strncmp (line, "## 13. Examples", 15) == 0;
            continue;
        }
        if (!in_examples) {
            continue;
        }
        if (strncmp (line, "### ", 4) == 0) {
            cmd = -1;
            label = -1;
            char name[32];
            if (sscanf (line, "### 13.%*d %31s", name) == 1) {
                //  Every command, the group commands of §14 included.
                for (int c = 1; c <= (int)SL_CMD_LEAVE; c++) {
                    if (strcmp (name, sl_cmd_name ((sl_cmd_t)c)) == 0) {
                        cmd = c;
                    }
                }
                cr_assert_neq (cmd, -1, "unknown example heading %s", line);
            }
            continue;
        }
        if (cmd < 0) {
            continue;
        }
        const char *p = line;
        if (line[0] != ' ') {
            label = -1;
            for (int l = 0; l < 4; l++) {
                size_t n = strlen (labels[l]);
                if (strncmp (line, labels[l], n) == 0 && line[n] == ' ') {
                    label = l;
                    p = line + n;
                }
            }
        }
        if (label < 0) {
            continue;
        }
        //  Hex byte pairs separated by spaces.
        char *out = doc[cmd][label];
        unsigned byte;
        int used;
        while (sscanf (p, " %2x%n", &byte, &used) == 1) {
            size_t len = strlen (out);
            cr_assert_lt (len + 3, 4096);
            snprintf (out + len, 3, "%02x", byte);
            p += used;
        }
    }
    fclose (file);
}

void
pt_check_required (sl_cmd_t cmd)
{
    sl_msg_t msg;
    pt_full (&msg, cmd, false);
    zmsg_t *encoded = sl_msg_encode (&msg);
    cr_assert_not_null (encoded);
    zframe_t *body = zmsg_last (encoded);
    const uint8_t *p = zframe_data (body);
    uint32_t pairs;
    cr_assert_eq (sl_mp_read_map (&p, p + zframe_size (body), &pairs), 0);
    int required_seen = 0;
    for (uint32_t i = 0; i < pairs; i++) {
        uint8_t out[4096];
        char key[64];
        size_t n = pt_drop_pair (zframe_data (body), zframe_size (body), i, out, key);
        sl_msg_t dec;
        int rc = pt_decode_raw ((uint8_t)cmd, out, n, pt_data_frames (cmd), &dec);
        bool required =
            pt_word_in (pt_required (cmd), (const uint8_t *)key, (uint32_t)strlen (key));
        required_seen += required;
        cr_assert_eq (rc, required ? SL_EPROTO : 0, "%s without %s: %d", sl_cmd_name (cmd), key,
                      rc);
        sl_msg_reset (&dec);
    }
    //  Every key the spec requires was in the encoded message.
    const char *req = pt_required (cmd);
    int n_required = 0;
    for (const char *q = req; *q; q++) {
        n_required += (q == req || q[-1] == ' ');
    }
    cr_assert_eq (required_seen, n_required, "%s", sl_cmd_name (cmd));
    zmsg_destroy (&encoded);
    sl_msg_reset (&msg);
}
