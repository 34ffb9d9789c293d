/*  input.c - the record reader behind sluice-source.

    Input is read in large chunks into one buffer that is reused (and only
    grows to the longest line or object seen); records are cut out of it in
    place. Per record there is one JSON parse (or none, for lines and
    msgpack) and no allocation.
*/
#include "input.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow.h"
#include "mqtt_in.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_util.h"

#define S_READ_SIZE (1u << 20) //  bytes asked of each read()
#define S_SHOWN_ERRORS 100     //  bad lines printed before only counting (--verbose: all)
#define S_RECORD_SLACK 32      //  record envelope beyond value and key (array, ts, nil)
#define S_TEMPS 256            //  precomputed generator temperatures

struct _sl_input_t {
    sl_input_opts_t opts;
    char **files;
    int nfiles;
    int next_file;
    bool closed;
    bool failed;
    uint64_t bad;
    uint64_t valid; //  valid records so far (the last one's index)

    //  The file being read.
    int fd;           //  -1 when none is open
    bool is_stdin;    //  fd is standard input: never closed here
    const char *name; //  for messages: the path, or "<stdin>"
    bool regular;     //  a regular file never blocks; others are polled first
    bool eof;
    bool skipping; //  inside a line too long to keep
    uint64_t line; //  number of the last line cut
    uint64_t base; //  file offset of in.data[0]
    sl_buf_t in;   //  read buffer: in.data[pos, in.len) is unread
    size_t pos;
    size_t scan; //  in.data[pos, scan) holds no newline

    sl_json_t *json;
    sl_buf_t value;   //  the current record's value (JSON and lines formats)
    sl_buf_t scratch; //  key rendering

    sl_follow_t *follow; //  --follow: lines come from follow.c
    sl_mqtt_in_t *mqtt;  //  --mqtt: messages come from mqtt_in.c

    //  Generator.
    uint64_t generated;
    sl_buf_t temps; //  S_TEMPS msgpack floats, back to back
    size_t temp_at[S_TEMPS + 1];
};

//  Reports one bad line or object, counts it, and after S_SHOWN_ERRORS only
//  counts (a wrong --format would otherwise print every line of a file).
static void s_bad (sl_input_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_bad (sl_input_t *self, const char *fmt, ...)
{
    self->bad++;
    if (self->bad > S_SHOWN_ERRORS && sl_log_level () < SL_LOG_DEBUG) {
        if (self->bad == S_SHOWN_ERRORS + 1) {
            sl_warn ("input", "more bad input: further errors are counted but not shown "
                              "(--verbose shows them all)");
        }
        return;
    }
    char text[512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    sl_warn ("input", "%s", text);
}

//  The generator's temperatures are made once, through the JSON codec, so
//  that this file writes no float encoding of its own.
static int
s_make_temps (sl_input_t *self)
{
    for (int i = 0; i < S_TEMPS; i++) {
        char text[32];
        snprintf (text, sizeof text, "%.2f", 12.0 + (double)((i * 7919) % 2000) / 100.0);
        self->temp_at[i] = self->temps.len;
        char why[64];
        int rc =
            sl_json_to_msgpack (self->json, text, strlen (text), &self->temps, why, sizeof why);
        if (rc) {
            return rc;
        }
    }
    self->temp_at[S_TEMPS] = self->temps.len;
    return 0;
}

sl_input_t *
sl_input_new (const sl_input_opts_t *opts, int nfiles, char **files)
{
    assert (opts);
    sl_input_t *self = (sl_input_t *)calloc (1, sizeof (sl_input_t));
    if (!self) {
        return NULL;
    }
    self->opts = *opts;
    if (self->opts.max_depth == 0) {
        self->opts.max_depth = SL_MP_MAX_DEPTH;
    }
    self->files = files;
    self->nfiles = nfiles;
    self->fd = -1;
    sl_buf_init (&self->in, 0);
    sl_buf_init (&self->value, 0);
    sl_buf_init (&self->scratch, 0);
    sl_buf_init (&self->temps, 0);
    self->json = sl_json_new ();
    if (!self->json) {
        goto fail;
    }
    if (opts->generate && s_make_temps (self)) {
        goto fail;
    }
    if (opts->mqtt_url) {
        self->mqtt = sl_mqtt_in_new (opts->mqtt_url, opts->mqtt_client, opts->max_record);
        if (!self->mqtt) {
            goto fail;
        }
    }
    if (opts->follow) {
        sl_follow_opts_t fo = {.npatterns = nfiles,
                               .patterns = files,
                               .state_path = opts->state_path,
                               .max_line = opts->max_record};
        self->follow = sl_follow_new (&fo);
        if (!self->follow) {
            goto fail;
        }
    }
    return self;

fail:
    sl_input_destroy (&self);
    return NULL;
}

static void
s_close_file (sl_input_t *self)
{
    if (self->fd >= 0 && !self->is_stdin) {
        close (self->fd);
    }
    self->fd = -1;
}

void
sl_input_destroy (sl_input_t **self_p)
{
    assert (self_p);
    sl_input_t *self = *self_p;
    if (!self) {
        return;
    }
    s_close_file (self);
    sl_follow_destroy (&self->follow);
    sl_mqtt_in_destroy (&self->mqtt);
    sl_json_destroy (&self->json);
    sl_buf_free (&self->in);
    sl_buf_free (&self->value);
    sl_buf_free (&self->scratch);
    sl_buf_free (&self->temps);
    free (self);
    *self_p = NULL;
}

int
sl_input_fd (sl_input_t *self)
{
    assert (self);
    return self->mqtt ? sl_mqtt_in_fd (self->mqtt) : self->fd;
}

void
sl_input_close (sl_input_t *self)
{
    assert (self);
    s_close_file (self);
    self->closed = true;
}

uint64_t
sl_input_bad (sl_input_t *self)
{
    assert (self);
    return self->bad + (self->follow ? sl_follow_bad (self->follow) : 0);
}

int
sl_input_resume (sl_input_t *self, uint64_t confirmed)
{
    assert (self);
    if (self->mqtt) {
        //  Messages are new input: they are numbered after what the broker has.
        self->valid = confirmed;
        return 0;
    }
    if (!self->follow) {
        return 0;
    }
    uint64_t base = 0;
    int rc = sl_follow_resume (self->follow, confirmed, &base);
    self->valid = base;
    return rc;
}

int
sl_input_confirmed (sl_input_t *self, uint64_t index)
{
    assert (self);
    return self->follow ? sl_follow_confirmed (self->follow, index) : 0;
}

int
sl_input_sync (sl_input_t *self)
{
    assert (self);
    if (!self->follow || sl_follow_sync (self->follow) == 0) {
        return 0;
    }
    self->failed = true;
    self->closed = true;
    return SL_EIO;
}

static int s_line (sl_input_t *self, const uint8_t *text, size_t len, sl_input_record_t *rec);
static bool s_utf8_valid (const uint8_t *p, size_t len);
static int s_finish (sl_input_t *self, const uint8_t *value, size_t len, sl_input_record_t *rec);

//  --mqtt: the next message as a record: the payload is the value (per
//  --format: JSON when it parses, else the bytes as str or bin), the topic
//  the key (unless --key names a field).
static int
s_next_mqtt (sl_input_t *self, sl_input_record_t *rec)
{
    while (true) {
        const char *topic;
        const uint8_t *payload;
        size_t len;
        int rc = sl_mqtt_in_next (self->mqtt, &topic, &payload, &len);
        if (rc != 1) {
            return rc;
        }
        self->name = topic;
        self->line++;
        sl_buf_reset (&self->value);
        char why[160];
        if (self->opts.format != SL_FORMAT_JSON ||
            sl_json_to_msgpack (self->json, (const char *)payload, len, &self->value, why,
                                sizeof why) != 0) {
            uint8_t head[9];
            size_t n = s_utf8_valid (payload, len)
                           ? sl_mp_write_str_header (head, sizeof head, (uint32_t)len)
                           : sl_mp_write_bin_header (head, sizeof head, (uint32_t)len);
            if (sl_buf_append (&self->value, head, n) ||
                sl_buf_append (&self->value, payload, len)) {
                s_bad (self, "mqtt %s: out of memory", topic);
                continue;
            }
        }
        if (s_finish (self, self->value.data, self->value.len, rec) == 0) {
            s_bad (self, "mqtt %s: message of %zu bytes is larger than a batch may be", topic, len);
            continue;
        }
        if (!self->opts.key_field) {
            rec->key = (const uint8_t *)topic;
            rec->key_len = (uint32_t)strlen (topic);
        }
        return 1;
    }
}

//  --follow: the next line of any followed file, as a record. Never ends;
//  SL_EAGAIN while no file has a complete line.
static int
s_next_followed (sl_input_t *self, sl_input_record_t *rec)
{
    while (true) {
        const uint8_t *line;
        size_t len;
        int rc = sl_follow_next (self->follow, &line, &len, &self->name, &self->line);
        if (rc != 1) {
            return rc;
        }
        rc = s_line (self, line, len, rec);
        if (rc == 1 && sl_follow_mark (self->follow, rec->index) != 0) {
            self->failed = true;
            self->closed = true;
            return SL_EIO;
        }
        if (rc != 0) {
            return rc;
        }
    }
}

bool
sl_input_failed (sl_input_t *self)
{
    assert (self);
    return self->failed;
}

//  Opens the next input; false when there is none left. A file that cannot
//  be opened is reported and marks the run failed; the others are read.
static bool
s_open_next (sl_input_t *self)
{
    static char *s_stdin[] = {"-"};
    char **files = self->nfiles ? self->files : s_stdin;
    int nfiles = self->nfiles ? self->nfiles : 1;
    while (self->next_file < nfiles) {
        const char *path = files[self->next_file++];
        int fd = STDIN_FILENO;
        self->is_stdin = strcmp (path, "-") == 0;
        if (self->is_stdin) {
            self->name = "<stdin>";
        }
        else {
            self->name = path;
            fd = open (path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                sl_error ("input", "%s: cannot open: %s", path, strerror (errno));
                self->failed = true;
                continue;
            }
        }
        struct stat st;
        self->regular = fstat (fd, &st) == 0 && S_ISREG (st.st_mode);
        self->fd = fd;
        self->eof = false;
        self->skipping = false;
        self->line = 0;
        self->base = 0;
        self->pos = 0;
        self->scan = 0;
        sl_buf_reset (&self->in);
        return true;
    }
    return false;
}

//  Reads once into the buffer, after moving the unread bytes to its front.
//  0 (bytes added, or eof set), SL_EAGAIN (a pipe or terminal with nothing
//  to read yet), SL_ENOMEM or SL_EIO (reported).
static int
s_fill (sl_input_t *self)
{
    if (self->pos > 0) {
        size_t left = self->in.len - self->pos;
        memmove (self->in.data, self->in.data + self->pos, left);
        self->in.len = left;
        self->base += self->pos;
        self->scan -= self->pos;
        self->pos = 0;
    }
    if (sl_buf_reserve (&self->in, S_READ_SIZE)) {
        sl_error ("input", "%s: out of memory for the read buffer", self->name);
        return SL_ENOMEM;
    }
    if (!self->regular) {
        struct pollfd item = {self->fd, POLLIN, 0};
        if (poll (&item, 1, 0) == 0) {
            return SL_EAGAIN;
        }
    }
    while (true) {
        ssize_t n = read (self->fd, self->in.data + self->in.len, self->in.cap - self->in.len);
        if (n > 0) {
            self->in.len += (size_t)n;
            return 0;
        }
        if (n == 0) {
            self->eof = true;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return SL_EAGAIN;
        }
        sl_error ("input", "%s: read failed: %s", self->name, strerror (errno));
        return SL_EIO;
    }
}

//  Fills in the parts of rec common to every format, from value: the key,
//  the size check and the index. 1, or 0 when the record was bad.
static int
s_finish (sl_input_t *self, const uint8_t *value, size_t len, sl_input_record_t *rec)
{
    rec->value = value;
    rec->value_len = len;
    rec->key = NULL;
    rec->key_len = 0;
    rec->key_is_bin = false;
    if (self->opts.key_field) {
        const uint8_t *key;
        uint32_t key_len;
        sl_buf_reset (&self->scratch);
        if (sl_json_field_key (self->json, value, len, self->opts.key_field, &self->scratch, &key,
                               &key_len) == 1) {
            rec->key = key;
            rec->key_len = key_len;
        }
    }
    if (len + rec->key_len + S_RECORD_SLACK > self->opts.max_record) {
        return 0;
    }
    rec->index = ++self->valid;
    return 1;
}

//  The end of a bad line: counted already; under --strict the input stops.
static int
s_after_bad (sl_input_t *self)
{
    if (self->opts.strict) {
        sl_error ("input", "stopping at the first bad line (--strict)");
        self->failed = true;
        sl_input_close (self);
        return SL_EJSON;
    }
    return 0;
}

//  True for bytes that are valid UTF-8 (no overlongs, no surrogates).
static bool
s_utf8_valid (const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

//  One line, without its newline. 1 = a record, 0 = skipped (blank or bad),
//  negative = stop (--strict).
static int
s_line (sl_input_t *self, const uint8_t *text, size_t len, sl_input_record_t *rec)
{
    sl_buf_reset (&self->value);
    if (self->opts.format == SL_FORMAT_LINES) {
        if (len > 0 && text[len - 1] == '\r') {
            len--;
        }
        //  A line is a str when it is UTF-8, else bin, so that no byte is lost.
        uint8_t head[9];
        size_t n = s_utf8_valid (text, len)
                       ? sl_mp_write_str_header (head, sizeof head, (uint32_t)len)
                       : sl_mp_write_bin_header (head, sizeof head, (uint32_t)len);
        if (sl_buf_append (&self->value, head, n) || sl_buf_append (&self->value, text, len)) {
            s_bad (self, "%s:%" PRIu64 ": out of memory", self->name, self->line);
            return s_after_bad (self);
        }
    }
    else {
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) {
            i++;
        }
        if (i == len) {
            return 0;
        }
        char why[160];
        int rc =
            sl_json_to_msgpack (self->json, (const char *)text, len, &self->value, why, sizeof why);
        if (rc) {
            s_bad (self, "%s:%" PRIu64 ": %s", self->name, self->line, why);
            return s_after_bad (self);
        }
    }
    if (s_finish (self, self->value.data, self->value.len, rec) == 0) {
        s_bad (self, "%s:%" PRIu64 ": record of %zu bytes is larger than a batch may be (%zu)",
               self->name, self->line, self->value.len, self->opts.max_record);
        return s_after_bad (self);
    }
    return 1;
}

//  The next line of the current file. 1 = a record, 0 = the file ended,
//  SL_EAGAIN = wait for input, other negative = stop.
static int
s_next_line (sl_input_t *self, sl_input_record_t *rec)
{
    while (true) {
        uint8_t *data = self->in.data;
        size_t end = self->in.len;
        const uint8_t *newline =
            self->scan < end ? memchr (data + self->scan, '\n', end - self->scan) : NULL;
        if (newline) {
            size_t start = self->pos;
            size_t stop = (size_t)(newline - data);
            self->pos = self->scan = stop + 1;
            if (self->skipping) {
                self->skipping = false; //  the end of a line already reported
                continue;
            }
            self->line++;
            int rc = s_line (self, data + start, stop - start, rec);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        self->scan = end;
        if (self->eof) {
            if (self->pos < end && !self->skipping) {
                size_t start = self->pos;
                self->pos = self->scan = end;
                self->line++;
                int rc = s_line (self, data + start, end - start, rec);
                if (rc != 0) {
                    return rc;
                }
            }
            return 0;
        }
        if (!self->skipping && end - self->pos > self->opts.max_record) {
            self->line++;
            s_bad (self,
                   "%s:%" PRIu64 ": line longer than %zu bytes (the largest batch the "
                   "broker accepts), skipped",
                   self->name, self->line, self->opts.max_record);
            self->skipping = true;
            int rc = s_after_bad (self);
            if (rc) {
                return rc;
            }
        }
        if (self->skipping) {
            self->pos = self->scan = end;
        }
        int rc = s_fill (self);
        if (rc == SL_EAGAIN) {
            return rc;
        }
        if (rc) {
            self->failed = true;
            return 0;
        }
    }
}

static const char *
s_mp_reason (int rc)
{
    switch (rc) {
    case SL_EDEPTH:
        return "nesting deeper than the broker accepts";
    case SL_EPROTO:
        return "invalid msgpack (reserved type byte 0xc1)";
    case SL_ETRUNC:
        return "truncated msgpack object";
    default:
        return sl_strerror (rc);
    }
}

//  The next msgpack object of the current file; as s_next_line. A bad
//  object ends its file: there is no resynchronising inside msgpack.
static int
s_next_object (sl_input_t *self, sl_input_record_t *rec)
{
    while (true) {
        size_t avail = self->in.len - self->pos;
        if (avail > 0) {
            const uint8_t *at = self->in.data + self->pos;
            uint64_t offset = self->base + self->pos;
            size_t used = 0;
            int rc = sl_mp_skip (at, avail, self->opts.max_depth, &used);
            if (rc == 0) {
                self->pos += used;
                if (s_finish (self, at, used, rec) == 1) {
                    return 1;
                }
                s_bad (self,
                       "%s:offset %" PRIu64 ": object of %zu bytes is larger than a batch "
                       "may be (%zu)",
                       self->name, offset, used, self->opts.max_record);
                self->failed = true;
                return 0;
            }
            if (rc != SL_ETRUNC || self->eof || avail > self->opts.max_record) {
                if (rc == SL_ETRUNC && !self->eof) {
                    s_bad (self,
                           "%s:offset %" PRIu64 ": object larger than %zu bytes (the "
                           "largest batch the broker accepts)",
                           self->name, offset, self->opts.max_record);
                }
                else {
                    s_bad (self, "%s:offset %" PRIu64 ": %s%s", self->name, offset,
                           s_mp_reason (rc), rc == SL_ETRUNC ? " (the file ends inside it)" : "");
                }
                sl_error ("input", "%s: stopped reading this file at offset %" PRIu64, self->name,
                          offset);
                self->failed = true;
                return 0;
            }
        }
        else if (self->eof) {
            return 0;
        }
        int rc = s_fill (self);
        if (rc == SL_EAGAIN) {
            return rc;
        }
        if (rc) {
            self->failed = true;
            return 0;
        }
    }
}

//  Appends a str to the value buffer (room was reserved by the caller).
static void
s_put_str (sl_buf_t *buf, const char *text, size_t len)
{
    buf->len += sl_mp_write_str_header (buf->data + buf->len, buf->cap - buf->len, (uint32_t)len);
    memcpy (buf->data + buf->len, text, len);
    buf->len += len;
}

//  {"id":i,"sensor":"s-<i%16>","temp":<float>,"ts":<ms>}, written straight
//  as msgpack: the generator is for benchmarks and must not be the bottleneck.
static int
s_generate (sl_input_t *self, sl_input_record_t *rec)
{
    if (self->opts.generate_count && self->generated >= self->opts.generate_count) {
        self->closed = true;
        return 0;
    }
    uint64_t i = self->generated++;
    sl_buf_t *buf = &self->value;
    sl_buf_reset (buf);
    if (sl_buf_reserve (buf, 128)) {
        return SL_ENOMEM;
    }
    char sensor[8];
    int sensor_len = snprintf (sensor, sizeof sensor, "s-%u", (unsigned)(i % 16));
    buf->len += sl_mp_write_map (buf->data, buf->cap, 4);
    s_put_str (buf, "id", 2);
    buf->len += sl_mp_write_uint (buf->data + buf->len, buf->cap - buf->len, i);
    s_put_str (buf, "sensor", 6);
    s_put_str (buf, sensor, (size_t)sensor_len);
    s_put_str (buf, "temp", 4);
    size_t t = (size_t)((i * 2654435761u) >> 8) % S_TEMPS;
    size_t t_len = self->temp_at[t + 1] - self->temp_at[t];
    memcpy (buf->data + buf->len, self->temps.data + self->temp_at[t], t_len);
    buf->len += t_len;
    s_put_str (buf, "ts", 2);
    buf->len += sl_mp_write_int (buf->data + buf->len, buf->cap - buf->len, sl_now_ms ());
    return s_finish (self, buf->data, buf->len, rec) == 1 ? 1 : SL_ETOOBIG;
}

int
sl_input_next (sl_input_t *self, sl_input_record_t *rec)
{
    assert (self);
    assert (rec);
    if (self->closed) {
        return 0;
    }
    if (self->opts.generate) {
        return s_generate (self, rec);
    }
    if (self->follow) {
        return s_next_followed (self, rec);
    }
    if (self->mqtt) {
        return s_next_mqtt (self, rec);
    }
    while (true) {
        if (self->fd < 0 && !s_open_next (self)) {
            self->closed = true;
            return 0;
        }
        int rc = self->opts.format == SL_FORMAT_MSGPACK ? s_next_object (self, rec)
                                                        : s_next_line (self, rec);
        if (rc != 0) {
            return rc;
        }
        if (self->closed) {
            return 0;
        }
        s_close_file (self);
    }
}
