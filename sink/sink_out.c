/*  sink_out.c - the sink's output: record formats, batched writes, --list.

    A batch is formatted into one sl_buf_t that keeps its allocation between
    batches. Next to it, one mark per record remembers where the record ends
    in the buffer and which offset follows it, so that a write cut short
    (the reader closed the pipe mid-batch) still tells the core exactly
    which records the reader was given.

    On a pipe, "given" is not "read": what the pipe buffered when the reader
    exited (`| head -5`) was never seen. So for a pipe the output also keeps
    where each record written ends in the byte stream, and the kernel's
    count of unread bytes (FIONREAD) tells which records the reader took.
*/
#include "sink_out.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqtt_out.h"
#include "post.h"
#include "out_files.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_mp.h"
#include "sl_record_out.h"

typedef struct {
    size_t end;    //  buffer length just after the record
    uint64_t next; //  offset following the record
} s_mark_t;

#define S_TAKEN_MIN 65536      //  records remembered per pipe, at least
#define S_TAKEN_MAX (1u << 20) //  and at most (16 bytes each)

typedef struct {
    uint64_t pos;  //  bytes written to the pipe up to the record's end
    uint64_t next; //  offset following the record
} s_taken_t;

struct _sl_sink_out_t {
    int fd;
    bool pipe;       //  fd is a pipe: track what its reader took
    uint64_t total;  //  bytes written to the pipe so far
    s_taken_t *ring; //  records written and maybe not read yet, oldest first
    size_t ring_cap;
    size_t ring_head;
    size_t ring_n;
    uint64_t taken; //  offset after the last record read whole
    bool have_taken;
    uint64_t written; //  offset after the last record written whole
    bool have_written;
    sl_sink_format_t format;
    const volatile int *stop;
    sl_json_t *json;
    sl_buf_t buf;
    s_mark_t *marks;
    size_t n_marks;
    size_t max_marks;
    sl_out_files_t *files; //  --output DIR instead of fd (out_files.c)
    sl_mqtt_out_t *mqtt;   //  --mqtt URL instead of fd (mqtt_out.c)
    sl_post_t *post;       //  --post URL instead of fd (post.c)
    sl_sink_dead_fn *dead; //  where a batch the webhook refused goes
    void *dead_ctx;
    sl_buf_t records; //  --post: the batch's records, encoded, for the dead letters
};

sl_sink_out_t *
sl_sink_out_new (int fd, sl_sink_format_t format, const volatile int *stop)
{
    sl_sink_out_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->fd = fd;
    self->format = format == SL_SINK_FORMAT_DEFAULT ? SL_SINK_FORMAT_JSON : format;
    self->stop = stop;
    sl_buf_init (&self->buf, 0);
    struct stat st;
    if (fstat (fd, &st) == 0 && S_ISFIFO (st.st_mode)) {
        //  Enough entries for a full pipe of two-byte records: an entry
        //  is dropped unread only past that, and then nothing is claimed.
        int size = fcntl (fd, F_GETPIPE_SZ);
        size_t cap = size > 0 ? (size_t)size / 2 : S_TAKEN_MIN;
        cap = cap < S_TAKEN_MIN ? S_TAKEN_MIN : cap > S_TAKEN_MAX ? S_TAKEN_MAX : cap;
        self->ring = calloc (cap, sizeof *self->ring);
        self->ring_cap = cap;
        self->pipe = self->ring != NULL;
    }
    if (self->format != SL_SINK_FORMAT_MSGPACK) {
        self->json = sl_json_new ();
        if (!self->json) {
            free (self);
            return NULL;
        }
    }
    return self;
}

void
sl_sink_out_destroy (sl_sink_out_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_sink_out_t *self = *self_p;
    sl_json_destroy (&self->json);
    sl_out_files_destroy (&self->files);
    sl_mqtt_out_destroy (&self->mqtt);
    sl_post_destroy (&self->post);
    sl_buf_free (&self->records);
    sl_buf_free (&self->buf);
    free (self->marks);
    free (self->ring);
    free (self);
    *self_p = NULL;
}

int
sl_sink_out_record (sl_sink_out_t *self, const sl_record_t *record)
{
    if (self->n_marks == self->max_marks) {
        size_t max = self->max_marks ? self->max_marks * 2 : 1024;
        s_mark_t *marks = realloc (self->marks, max * sizeof *marks);
        if (!marks) {
            return SL_ENOMEM;
        }
        self->marks = marks;
        self->max_marks = max;
    }
    size_t before = self->buf.len;
    int rc;
    if (self->mqtt) {
        //  The value as JSON is the message; the buffer only holds it on the way.
        rc = sl_msgpack_to_json (self->json, record->value, record->value_len, &self->buf);
        if (rc == 0) {
            rc = sl_mqtt_out_add (self->mqtt, record->key, record->key ? record->key_len : 0,
                                  self->buf.data + before, self->buf.len - before);
        }
        self->buf.len = before;
        if (rc) {
            return rc;
        }
    }
    else if (self->format == SL_SINK_FORMAT_MSGPACK) {
        rc = sl_record_to_msgpack (record, &self->buf);
    }
    else {
        if (self->format == SL_SINK_FORMAT_VALUE) {
            rc = sl_msgpack_to_json (self->json, record->value, record->value_len, &self->buf);
        }
        else {
            rc = sl_record_to_json (self->json, record, &self->buf);
        }
        if (rc == 0) {
            rc = sl_buf_append (&self->buf, "\n", 1);
        }
    }
    if (rc) {
        self->buf.len = before;
        return rc;
    }
    if (self->post) {
        rc = sl_buf_append (&self->records, record->raw, record->raw_len);
        if (rc) {
            self->buf.len = before;
            return rc;
        }
    }
    self->marks[self->n_marks].end = self->buf.len;
    self->marks[self->n_marks].next = record->offset + 1;
    self->n_marks++;
    return 0;
}

size_t
sl_sink_out_pending (sl_sink_out_t *self)
{
    return self->n_marks;
}

void
sl_sink_out_truncate (sl_sink_out_t *self, size_t keep)
{
    if (keep < self->n_marks) {
        self->n_marks = keep;
        self->buf.len = keep ? self->marks[keep - 1].end : 0;
    }
}

//  Writes data[0..len) to fd, waiting while a non-blocking descriptor is
//  full. Returns 0 or a negative code with the bytes written in *done.
static int
s_write_all (int fd, const uint8_t *data, size_t len, const volatile int *stop, size_t *done)
{
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t n = write (fd, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            //  A signal cuts a blocked pipe write short rather than failing it.
            if (off < len && (zsys_interrupted || (stop && *stop))) {
                rc = SL_EAGAIN;
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            if (zsys_interrupted || (stop && *stop)) {
                rc = SL_EAGAIN;
                break;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll (&pfd, 1, 200) < 0 && errno != EINTR) {
                rc = SL_EIO;
                break;
            }
            if (zsys_interrupted || (stop && *stop)) {
                rc = SL_EAGAIN;
                break;
            }
            continue;
        }
        rc = (n < 0 && errno == EPIPE) ? SL_ECLOSED : SL_EIO;
        break;
    }
    *done = off;
    return rc;
}

void
sl_sink_out_set_files (sl_sink_out_t *self, sl_out_files_t **files_p)
{
    sl_out_files_destroy (&self->files);
    self->files = *files_p;
    *files_p = NULL;
}

void
sl_sink_out_set_post (sl_sink_out_t *self, sl_post_t **post_p, sl_sink_dead_fn *dead, void *ctx)
{
    sl_post_destroy (&self->post);
    self->post = *post_p;
    *post_p = NULL;
    self->dead = dead;
    self->dead_ctx = ctx;
    sl_buf_init (&self->records, 0);
}

//  --post: the batch goes to the webhook; what it refuses for good goes to
//  the dead letters. Either way the batch counts as written only after.
static int
s_flush_post (sl_sink_out_t *self, uint64_t *next)
{
    long status = 0;
    char why[320];
    int rc = sl_post_send (self->post, self->buf.data, self->buf.len, self->stop, &status, why,
                           sizeof why);
    if (rc == SL_EINVAL) {
        rc = self->dead (self->dead_ctx, self->records.data, self->records.len,
                         (uint32_t)self->n_marks, self->marks[0].next - 1, why);
    }
    if (rc == 0) {
        *next = self->marks[self->n_marks - 1].next;
    }
    sl_buf_reset (&self->buf);
    sl_buf_reset (&self->records);
    self->n_marks = 0;
    return rc;
}

void
sl_sink_out_set_mqtt (sl_sink_out_t *self, sl_mqtt_out_t **mqtt_p)
{
    sl_mqtt_out_destroy (&self->mqtt);
    self->mqtt = *mqtt_p;
    *mqtt_p = NULL;
    if (!self->json) {
        self->json = sl_json_new ();
    }
}

int
sl_sink_out_begin (sl_sink_out_t *self, uint64_t offset)
{
    return self->files ? sl_out_files_begin (self->files, offset) : 0;
}

int
sl_sink_out_complete (sl_sink_out_t *self, uint64_t *next)
{
    if (!self->files) {
        return 0;
    }
    int rc = sl_out_files_complete (self->files);
    *next = sl_out_files_done (self->files);
    return rc;
}

//  --output: each record goes to the file its offset belongs in; what may
//  be committed is only what complete files hold.
static int
s_flush_files (sl_sink_out_t *self, uint64_t *next)
{
    int rc = 0;
    size_t start = 0;
    for (size_t i = 0; i < self->n_marks && rc == 0; i++) {
        rc = sl_out_files_write (self->files, self->buf.data + start, self->marks[i].end - start,
                                 self->marks[i].next - 1);
        start = self->marks[i].end;
    }
    if (rc == 0) {
        rc = sl_out_files_tick (self->files);
    }
    *next = sl_out_files_done (self->files);
    sl_buf_reset (&self->buf);
    self->n_marks = 0;
    return rc ? SL_EIO : 0;
}

int
sl_sink_out_flush (sl_sink_out_t *self, uint64_t *next)
{
    if (self->files) {
        return s_flush_files (self, next);
    }
    if (self->post && self->n_marks) {
        return s_flush_post (self, next);
    }
    if (self->mqtt) {
        //  Committed only once the MQTT broker acknowledged every message.
        int rc = self->n_marks ? sl_mqtt_out_flush (self->mqtt, self->stop) : 0;
        if (rc == 0 && self->n_marks) {
            *next = self->marks[self->n_marks - 1].next;
        }
        sl_buf_reset (&self->buf);
        self->n_marks = 0;
        return rc;
    }
    if (self->n_marks == 0) {
        sl_buf_reset (&self->buf);
        return 0;
    }
    size_t done = 0;
    int rc = s_write_all (self->fd, self->buf.data, self->buf.len, self->stop, &done);
    for (size_t i = 0; self->pipe && i < self->n_marks && self->marks[i].end <= done; i++) {
        if (self->ring_n == self->ring_cap) {
            //  Full: the oldest is forgotten and what it covered is no
            //  longer claimed (sl_sink_out_taken stays behind it).
            self->ring_head = (self->ring_head + 1) % self->ring_cap;
            self->ring_n--;
        }
        s_taken_t *t = &self->ring[(self->ring_head + self->ring_n) % self->ring_cap];
        t->pos = self->total + self->marks[i].end;
        t->next = self->marks[i].next;
        self->ring_n++;
        self->written = t->next;
        self->have_written = true;
    }
    self->total += done;
    if (rc == 0) {
        *next = self->marks[self->n_marks - 1].next;
    }
    else {
        //  The last record that reached the reader whole (marks are in order).
        for (size_t i = self->n_marks; i > 0; i--) {
            if (self->marks[i - 1].end <= done) {
                *next = self->marks[i - 1].next;
                break;
            }
        }
    }
    sl_buf_reset (&self->buf);
    self->n_marks = 0;
    return rc;
}

int
sl_sink_out_taken (sl_sink_out_t *self, uint64_t *next, bool final)
{
    if (!self->pipe) {
        return 0;
    }
    if (final && self->have_written) {
        //  A reader still there reads what the pipe holds after we exit;
        //  one that is gone (POLLERR on a pipe's write end) never will.
        struct pollfd item = {.fd = self->fd, .events = POLLOUT};
        if (poll (&item, 1, 0) >= 0 && !(item.revents & POLLERR)) {
            *next = self->written;
            return 1;
        }
    }
    int unread = 0;
    if (ioctl (self->fd, FIONREAD, &unread) != 0 || unread < 0) {
        return 0;
    }
    uint64_t consumed =
        self->total - ((uint64_t)unread < self->total ? (uint64_t)unread : self->total);
    bool any = false;
    uint64_t taken = 0;
    while (self->ring_n > 0 && self->ring[self->ring_head].pos <= consumed) {
        taken = self->ring[self->ring_head].next;
        any = true;
        self->ring_head = (self->ring_head + 1) % self->ring_cap;
        self->ring_n--;
    }
    if (any) {
        self->taken = taken;
        self->have_taken = true;
    }
    if (self->have_taken) {
        *next = self->taken;
    }
    else if (self->ring_n > 0) {
        *next = self->ring[self->ring_head].next - 1; //  nothing read yet
    }
    return 1;
}

//  "3s ago", "5m ago", "2h ago", "4d ago"; "-" when the stream is empty.
static void
s_format_age (int64_t last_ms, uint64_t records, int64_t now_ms, char *out, size_t size)
{
    if (records == 0 || last_ms <= 0) {
        snprintf (out, size, "-");
        return;
    }
    int64_t secs = (now_ms - last_ms) / 1000;
    if (secs < 0) {
        secs = 0; //  clocks of broker and sink disagree: say "0s ago", not a negative age
    }
    if (secs < 120) {
        snprintf (out, size, "%" PRId64 "s ago", secs);
    }
    else if (secs < 2 * 3600) {
        snprintf (out, size, "%" PRId64 "m ago", secs / 60);
    }
    else if (secs < 2 * 86400) {
        snprintf (out, size, "%" PRId64 "h ago", secs / 3600);
    }
    else {
        snprintf (out, size, "%" PRId64 "d ago", secs / 86400);
    }
}

//  Bytes for people: "512B", "1.5K", "3.2M", "1.1G" (binary multiples).
static void
s_format_bytes (uint64_t bytes, char *out, size_t size)
{
    static const char units[] = "KMGTPE";
    if (bytes < 1024) {
        snprintf (out, size, "%" PRIu64 "B", bytes);
        return;
    }
    double value = (double)bytes / 1024.0;
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units - 1) {
        value /= 1024.0;
        unit++;
    }
    snprintf (out, size, value < 10.0 ? "%.1f%c" : "%.0f%c", value, units[unit]);
}

//  Appends a table line without the padding of its last column, which is noise in a
//  terminal.
static int
s_table_line (sl_buf_t *buf, const char *line)
{
    size_t len = strlen (line);
    while (len && line[len - 1] == ' ') {
        len--;
    }
    int rc = sl_buf_append (buf, line, len);
    return rc ? rc : sl_buf_append (buf, "\n", 1);
}

typedef struct {
    char first[24], next[24], records[24], bytes[24], newest[32];
} s_row_t;

int
sl_sink_out_streams (int fd, bool json, const sl_stream_info_t *streams, uint32_t n, int64_t now_ms)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    s_row_t *rows = calloc (n ? n : 1, sizeof *rows);
    int rc = rows ? 0 : SL_ENOMEM;
    char line[512];
    if (rc == 0 && json) {
        rc = sl_buf_append (&buf, "[", 1);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            const sl_stream_info_t *s = &streams[i];
            //  Stream names are [A-Za-z0-9._-] on the wire; the JSON writer escapes
            //  anything else, so the list stays valid whatever a broker sends.
            rc = sl_buf_append_str (&buf, i ? ",{" : "{");
            rc = rc ? rc : sl_json_put_name (&buf, true, "name");
            rc = rc ? rc : sl_json_put_string (&buf, s->name, strlen (s->name));
            const char *names[] = {"first", "next", "records", "bytes"};
            const uint64_t values[] = {s->first, s->next, s->records, s->bytes};
            for (int f = 0; f < 4 && rc == 0; f++) {
                rc = sl_json_put_name (&buf, false, names[f]);
                rc = rc ? rc : sl_json_put_uint (&buf, values[f]);
            }
            rc = rc ? rc : sl_json_put_name (&buf, false, "last_ms");
            rc = rc ? rc : sl_json_put_int (&buf, s->last_ms);
            rc = rc ? rc : sl_buf_append (&buf, "}", 1);
        }
        rc = rc ? rc : sl_buf_append (&buf, "]\n", 2);
    }
    else if (rc == 0) {
        int w[6] = {6, 5, 4, 7, 5, 6}; //  widths of the column titles
        for (uint32_t i = 0; i < n; i++) {
            const sl_stream_info_t *s = &streams[i];
            s_row_t *r = &rows[i];
            snprintf (r->first, sizeof r->first, "%" PRIu64, s->first);
            snprintf (r->next, sizeof r->next, "%" PRIu64, s->next);
            snprintf (r->records, sizeof r->records, "%" PRIu64, s->records);
            s_format_bytes (s->bytes, r->bytes, sizeof r->bytes);
            s_format_age (s->last_ms, s->records, now_ms, r->newest, sizeof r->newest);
            const char *cells[6] = {s->name, r->first, r->next, r->records, r->bytes, r->newest};
            for (int c = 0; c < 6; c++) {
                int len = (int)strlen (cells[c]);
                w[c] = len > w[c] ? len : w[c];
            }
        }
        //  Name and age left-aligned, numbers right-aligned.
        const char *fmt = "%-*s  %*s  %*s  %*s  %*s  %-*s";
        snprintf (line, sizeof line, fmt, w[0], "STREAM", w[1], "FIRST", w[2], "NEXT", w[3],
                  "RECORDS", w[4], "BYTES", w[5], "NEWEST");
        rc = s_table_line (&buf, line);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            s_row_t *r = &rows[i];
            snprintf (line, sizeof line, fmt, w[0], streams[i].name, w[1], r->first, w[2], r->next,
                      w[3], r->records, w[4], r->bytes, w[5], r->newest);
            rc = s_table_line (&buf, line);
        }
    }
    if (rc == 0) {
        size_t done = 0;
        rc = s_write_all (fd, buf.data, buf.len, NULL, &done);
    }
    free (rows);
    sl_buf_free (&buf);
    return rc;
}
