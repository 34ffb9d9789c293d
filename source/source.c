/*  source.c - sluice-source's core: batching, the window of unconfirmed
    batches, and the publish rules of docs/PROTOCOL.md section 6.1.

    One thread, one loop: read records while the window has room, close a
    batch when it is full or its linger expires, send, and read CONFIRMs and
    ERRORs. Every record gets seq = its index among the valid records of the
    whole input, so a rerun (or a resend) carries the same numbers and the
    broker drops what it already has. Batches stay in the window, as
    ZeroMQ frames sent by reference, until a cumulative CONFIRM covers them;
    a timeout, a reconnect or an ESEQ resends them all, in order.
*/
#include "source.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "input.h"
#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"
#include "sl_version.h"
#include "source_int.h"

#define S_MAX_WAIT_MS 100 //  longest poll: signals, reconnects and clocks looked at as often
#define S_READ_BURST 4096 //  records read per turn before the socket is looked at
#define S_RECORD_SLACK 32 //  record envelope beyond value and key (as input.c)

void
sl_source_config_defaults (sl_source_config_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->format = SL_FORMAT_JSON;
    cfg->batch_records = 1000;
    cfg->batch_bytes = 1u << 20;
    cfg->linger_ms = 5;
    cfg->window = 32;
    cfg->timeout_ms = 5000;
    cfg->drain_timeout_ms = 10000;
    cfg->connect_timeout_ms = 30000;
    cfg->progress = -1;
}

//  "anon-" and 16 random hex digits: a producer id of its own per process,
//  so that two anonymous sources never share sequences.
static void
s_anon_name (char *out, size_t size)
{
    uint8_t bytes[8];
    if (getrandom (bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        uint64_t mix = (uint64_t)sl_now_ms () * 6364136223846793005ull ^ (uint64_t)getpid ();
        memcpy (bytes, &mix, sizeof bytes);
    }
    int n = snprintf (out, size, "anon-");
    for (size_t i = 0; i < sizeof bytes && (size_t)n + 2 < size; i++) {
        n += snprintf (out + n, size - (size_t)n, "%02x", bytes[i]);
    }
}

//  Closes the open batch into the window.
static void
s_push_batch (s_source_t *self, int64_t now)
{
    assert (self->batch_count > 0);
    assert (self->n < self->ring_size);
    zframe_t *frame = zframe_new (self->batch.data, self->batch.len);
    if (!frame) {
        sl_error ("source", "out of memory for a batch of %zu bytes", self->batch.len);
        self->fatal = true;
        return;
    }
    s_batch_t *entry = s_at (self, self->n);
    entry->seq = self->batch_seq;
    entry->count = self->batch_count;
    entry->sent = false;
    entry->frame = frame;
    if (self->n == 0) {
        self->last_progress = now;
    }
    self->n++;
    self->stats.batches++;
    sl_buf_reset (&self->batch);
    self->batch_count = 0;
}

static void
s_add_record (s_source_t *self, const sl_input_record_t *rec, int64_t now)
{
    size_t estimate = rec->value_len + rec->key_len + S_RECORD_SLACK;
    if (self->batch_count > 0 && self->batch.len + estimate > self->batch_bytes) {
        s_push_batch (self, now);
    }
    if (self->batch_count == 0) {
        self->batch_seq = rec->index;
        self->batch_start = now;
    }
    //  The wall clock costs about 30 ns here, as much as the rest of the
    //  record: read it every 32 records of a burst (tens of microseconds
    //  at most, for a millisecond timestamp), and afresh for each burst.
    if (self->stamp_left == 0) {
        self->stamp_ms = sl_now_ms ();
        self->stamp_left = 32;
    }
    self->stamp_left--;
    const char *fixed = self->cfg->fixed_key;
    int rc = sl_record_encode (&self->batch, self->stamp_ms, fixed ? fixed : (const char *)rec->key,
                               fixed ? (uint32_t)strlen (fixed) : rec->key_len,
                               fixed ? false : rec->key_is_bin,
                               self->headers.len ? self->headers.data : NULL, self->headers.len,
                               rec->value, rec->value_len);
    if (rc) {
        sl_error ("source", "cannot encode record %" PRIu64 ": %s", rec->index, sl_strerror (rc));
        self->fatal = true;
        return;
    }
    self->batch_count++;
    self->last_seq = rec->index;
    self->stats.read++;
    if (self->batch_count >= self->batch_records || self->batch.len >= self->batch_bytes) {
        s_push_batch (self, now);
    }
}

//  True when --rate allows one more record now; otherwise sets rate_wake.
static bool
s_rate_ok (s_source_t *self, int64_t now)
{
    double rate = self->cfg->rate;
    if (rate <= 0) {
        return true;
    }
    double burst = rate / 100 > 1 ? rate / 100 : 1;
    double allowed = rate * (double)(now - self->rate_start) / 1000.0 + burst;
    if ((double)self->stats.read < allowed) {
        return true;
    }
    self->rate_wake =
        self->rate_start + (int64_t)(((double)self->stats.read + 1 - burst) * 1000.0 / rate);
    if (self->rate_wake <= now) {
        self->rate_wake = now + 1;
    }
    return false;
}

//  Reads records while the window has room, up to a burst per turn.
static void
s_read_input (s_source_t *self, int64_t now)
{
    self->want_input = false;
    self->more_ready = false;
    self->rate_wake = 0;
    self->stamp_left = 0;
    for (int i = 0; i < S_READ_BURST; i++) {
        if (self->n >= self->cfg->window || self->fatal || !s_rate_ok (self, now)) {
            return;
        }
        sl_input_record_t rec;
        int rc = sl_input_next (self->input, &rec);
        if (rc == 1) {
            self->last_index = rec.index;
            if (rec.index <= self->skip) {
                self->stats.skipped++;
                continue;
            }
            s_add_record (self, &rec, now);
            continue;
        }
        if (rc == SL_EAGAIN) {
            self->want_input = true;
            return;
        }
        //  The end, or a stop already reported (--strict).
        self->input_done = true;
        if (self->last_index < self->skip) {
            sl_warn ("source",
                     "the input has %" PRIu64 " records and the broker already has %" PRIu64
                     " from producer %s: nothing to send (a different input "
                     "under the same --name?)",
                     self->last_index, self->skip, self->producer);
        }
        return;
    }
    self->more_ready = true;
}

//  Sends what the window holds and has not sent, in order, up to the
//  window; stops when the DEALER's queue is full.
static void
s_pump (s_source_t *self, int64_t now)
{
    self->send_blocked = false;
    if (now < self->hold_until) {
        return;
    }
    uint32_t limit = self->n < self->cfg->window ? self->n : self->cfg->window;
    if (self->next_send < limit && sl_input_sync (self->input) != 0) {
        self->fatal = true; //  the positions file cannot say where they come from
        return;
    }
    while (self->next_send < limit) {
        s_batch_t *entry = s_at (self, self->next_send);
        self->publish.seq = entry->seq;
        self->publish.count = entry->count;
        int rc = sl_client_send_frame (self->client, &self->publish, entry->frame);
        if (rc == SL_EAGAIN) {
            self->send_blocked = true;
            return;
        }
        if (rc) {
            sl_error ("source", "cannot send to the broker: %s", sl_strerror (rc));
            self->fatal = true;
            return;
        }
        if (entry->sent) {
            self->stats.resent++;
        }
        entry->sent = true;
        self->next_send++;
    }
}

//  Signals, reconnects and timeouts.
static void
s_check (s_source_t *self, int64_t now)
{
    sl_source_report (self, now);
    bool stop = self->cfg->stop && *self->cfg->stop;
    if (zsys_interrupted || (stop && !self->stopping)) {
        if (self->stopping) {
            sl_warn ("source", "interrupted again: exiting without waiting for confirms");
            self->killed = true;
            return;
        }
        //  Cleared so that the client keeps working while we drain; a
        //  second signal sets it again and ends the wait.
        zsys_interrupted = 0;
        self->stopping = true;
        sl_input_close (self->input);
        self->drain_deadline = now + self->cfg->drain_timeout_ms;
        uint32_t pending = self->n + (self->batch_count ? 1 : 0);
        if (pending) {
            sl_info ("source",
                     "stopping: waiting up to %" PRId64 " ms for %u unconfirmed "
                     "batches",
                     self->cfg->drain_timeout_ms, pending);
        }
    }
    uint32_t connects = sl_client_connects (self->client);
    if (connects != self->connects) {
        if (self->n > 0) {
            sl_info ("source", "reconnected to the broker: resending %u unconfirmed batches",
                     self->n);
            s_resend_all (self, now);
            self->eseq_expected = 0;
        }
        self->connects = connects;
    }
    if (self->n > 0 && self->next_send > 0 && now - self->last_progress >= self->cfg->timeout_ms) {
        if (sl_client_connected (self->client)) {
            sl_warn ("source",
                     "no confirm from the broker for %" PRId64 " ms: resending %u "
                     "batches",
                     now - self->last_progress, self->n);
            s_resend_all (self, now);
        }
        //  Without a connection the reconnect resends.
        self->last_progress = now;
    }
}

static bool
s_finished (s_source_t *self, int64_t now)
{
    if (self->fatal || self->killed) {
        return true;
    }
    if ((self->input_done || self->stopping) && self->batch_count == 0 && self->n == 0) {
        return true;
    }
    return self->stopping && now >= self->drain_deadline;
}

//  Waits for the socket, the input or the next deadline, whichever first.
static void
s_wait (s_source_t *self, int64_t now)
{
    int64_t wake = now + S_MAX_WAIT_MS;
    bool reading = !self->input_done && !self->stopping;
    if (reading && self->more_ready) {
        wake = now;
    }
    if (self->batch_count > 0) {
        int64_t at = self->batch_start + self->cfg->linger_ms;
        wake = at < wake ? at : wake;
    }
    if (self->hold_until > now && self->hold_until < wake) {
        wake = self->hold_until;
    }
    if (self->n > 0 && self->last_progress + self->cfg->timeout_ms < wake) {
        wake = self->last_progress + self->cfg->timeout_ms;
    }
    if (reading && self->rate_wake && self->rate_wake < wake) {
        wake = self->rate_wake;
    }
    if (self->progress && self->next_progress < wake) {
        wake = self->next_progress;
    }
    if (self->stopping && self->drain_deadline < wake) {
        wake = self->drain_deadline;
    }
    zmq_pollitem_t items[2] = {
        {zsock_resolve (sl_client_sock (self->client)), 0,
         (short)(ZMQ_POLLIN | (self->send_blocked ? ZMQ_POLLOUT : 0)), 0},
        {NULL, sl_input_fd (self->input), ZMQ_POLLIN, 0},
    };
    int count = reading && self->want_input && sl_input_fd (self->input) >= 0 ? 2 : 1;
    long timeout = wake > now ? (long)(wake - now) : 0;
    zmq_poll (items, count, timeout);
}

static int
s_loop (s_source_t *self)
{
    while (true) {
        int64_t now = sl_mono_ms ();
        s_check (self, now);
        if (!self->input_done && !self->stopping && !self->fatal) {
            s_read_input (self, now);
        }
        if (self->batch_count > 0 && self->n < self->ring_size &&
            (self->input_done || self->stopping ||
             sl_batch_due (false, self->n > 0, now - self->batch_start, self->cfg->linger_ms))) {
            s_push_batch (self, now);
        }
        if (!self->fatal) {
            s_pump (self, now);
        }
        sl_source_progress (self, now, false);
        if (s_finished (self, now)) {
            break;
        }
        s_wait (self, now);
        sl_source_read_replies (self);
    }
    sl_source_progress (self, sl_mono_ms (), true);
    bool all = self->batch_count == 0 && self->acked >= self->last_seq;
    self->stats.confirmed = (self->acked < self->last_seq ? self->acked : self->last_seq) -
                            (self->skip < self->last_seq ? self->skip : self->last_seq);
    self->stats.bad = sl_input_bad (self->input);
    if (all && !self->fatal) {
        sl_log (sl_input_failed (self->input) ? SL_LOG_WARN : SL_LOG_INFO, "source",
                "%s: %" PRIu64 " records confirmed, %" PRIu64 " skipped as already in the "
                "stream, %" PRIu64 " bad",
                sl_input_failed (self->input) ? "done, but not all input could be read" : "done",
                self->stats.confirmed, self->stats.skipped, self->stats.bad);
    }
    else {
        sl_error ("source",
                  "%" PRIu64 " of %" PRIu64 " records read were confirmed; the rest "
                  "may be missing from stream %s (%s)",
                  self->stats.confirmed, self->stats.read, self->cfg->stream,
                  self->cfg->name ? "run again with the same --name to send only them"
                                  : "with --name, a rerun sends only what is missing");
    }
    if (self->fatal || !all || sl_input_failed (self->input)) {
        return 1;
    }
    if (self->stats.bad > 0) {
        //  Input was lost (bad lines, records too large): the exit code says
        //  so, distinct from 1, since what was valid is all confirmed.
        sl_warn ("source",
                 "%" PRIu64 " bad line%s or record%s rejected (reported above): "
                 "exit 3",
                 self->stats.bad, self->stats.bad == 1 ? "" : "s", self->stats.bad == 1 ? "" : "s");
        return 3;
    }
    return 0;
}

//  Connects, says HELLO, learns the limits and (with --name) where to resume.
static int
s_start (s_source_t *self)
{
    const sl_source_config_t *cfg = self->cfg;
    sl_client_opts_t opts = {.broker = cfg->broker,
                             .software = "sluice-source/" SLUICE_VERSION,
                             .producer = cfg->name,
                             .stream = cfg->stream,
                             .timeout_ms = (int)cfg->timeout_ms};
    self->client = sl_client_new (&opts);
    if (!self->client) {
        sl_error ("source", "cannot use broker address '%s' (expected tcp://HOST:PORT)",
                  cfg->broker);
        return 2;
    }
    int64_t deadline = cfg->connect_timeout_ms > 0 ? sl_mono_ms () + cfg->connect_timeout_ms : 0;
    int rc = sl_client_hello (self->client, deadline);
    if (rc == SL_ETIMEOUT) {
        sl_error ("source",
                  "broker %s did not answer within %" PRId64 " ms: is sluice-broker "
                  "running there? (--broker, --connect-timeout)",
                  cfg->broker, cfg->connect_timeout_ms);
        return 1;
    }
    if (rc) {
        sl_error ("source", "no session with broker %s: %s", cfg->broker, sl_strerror (rc));
        return 1;
    }
    const sl_msg_t *welcome = sl_client_welcome (self->client);
    self->connects = sl_client_connects (self->client);
    uint64_t max_bytes = welcome->max_batch_bytes ? welcome->max_batch_bytes : 16u << 20;
    self->max_record = (size_t)max_bytes;
    self->batch_bytes = cfg->batch_bytes < max_bytes ? cfg->batch_bytes : max_bytes;
    if (cfg->batch_bytes > max_bytes) {
        //  Worth saying only when the operator asked for more than the default.
        sl_log (cfg->batch_bytes > (1u << 20) ? SL_LOG_INFO : SL_LOG_DEBUG, "source",
                "--batch-bytes lowered to %" PRIu64 ", the broker's limit", max_bytes);
    }
    self->batch_records = cfg->batch_records;
    if (welcome->max_batch_records && self->batch_records > welcome->max_batch_records) {
        self->batch_records = welcome->max_batch_records;
        sl_info ("source", "--batch-records lowered to %u, the broker's limit",
                 self->batch_records);
    }
    if (cfg->name) {
        self->skip = welcome->seq;
        if (self->skip) {
            sl_info ("source",
                     "resuming after record %" PRIu64 " (the broker has records 1..%" PRIu64
                     " of producer %s on stream %s)",
                     self->skip, self->skip, cfg->name, cfg->stream);
        }
    }
    self->acked = self->skip;
    self->last_seq = self->skip;
    sl_debug ("source", "connected to %s (%s) as producer %s", cfg->broker, welcome->broker,
              self->producer);
    return 0;
}

int
sl_source_run (const sl_source_config_t *cfg, int nfiles, char **files)
{
    assert (cfg);
    if (!cfg->broker || !cfg->stream || !sl_name_valid (cfg->stream, strlen (cfg->stream))) {
        sl_error ("source",
                  "--stream must be 1-%d characters of A-Z a-z 0-9 . _ - (not "
                  "starting with '.')",
                  SL_NAME_MAX);
        return 2;
    }
    if (cfg->name && !sl_name_valid (cfg->name, strlen (cfg->name))) {
        sl_error ("source",
                  "--name must be 1-%d characters of A-Z a-z 0-9 . _ - (not starting "
                  "with '.')",
                  SL_NAME_MAX);
        return 2;
    }
    if (cfg->window == 0 || cfg->batch_records == 0 || cfg->batch_bytes == 0 ||
        cfg->timeout_ms <= 0) {
        sl_error ("source", "--window, --batch-records, --batch-bytes and --timeout must be "
                            "above 0");
        return 2;
    }
    if (cfg->fixed_key && cfg->key_field) {
        sl_error ("source", "--fixed-key and --key go separately: one key per record");
        return 2;
    }
    if (cfg->fixed_key && strlen (cfg->fixed_key) > SL_SOURCE_HEADERS_MAX) {
        sl_error ("source", "--fixed-key longer than 64 KiB");
        return 2;
    }
    //  A file that cannot be opened is said before the broker is asked
    //  anything, and is a usage error (2): running again will not help, so
    //  `sluice run` does not restart it. --follow waits for its files (and
    //  expands globs), so a name that does not exist yet is not an error.
    for (int i = 0; !cfg->generate && !cfg->follow && i < nfiles; i++) {
        if (strcmp (files[i], "-") != 0 && access (files[i], R_OK) != 0) {
            sl_error ("source", "%s: %s", files[i], strerror (errno));
            return 2;
        }
    }
    s_source_t *self = (s_source_t *)calloc (1, sizeof (s_source_t));
    if (!self) {
        return 1;
    }
    int code = 1;
    self->cfg = cfg;
    sl_buf_init (&self->batch, 0);
    sl_buf_init (&self->headers, 0);
    const char *why = NULL;
    int hrc = sl_source_headers (cfg, &self->headers, &why);
    if (hrc) {
        sl_error ("source", "--header: %s", why ? why : sl_strerror (hrc));
        code = 2;
        goto done;
    }
    if (cfg->name) {
        snprintf (self->producer, sizeof self->producer, "%s", cfg->name);
    }
    else {
        s_anon_name (self->producer, sizeof self->producer);
    }
    self->ring_size = cfg->window + 2;
    self->ring = (s_batch_t *)calloc (self->ring_size, sizeof (s_batch_t));
    if (!self->ring) {
        goto done;
    }
    sl_msg_init (&self->publish, SL_CMD_PUBLISH);
    snprintf (self->publish.stream, sizeof self->publish.stream, "%s", cfg->stream);
    snprintf (self->publish.name, sizeof self->publish.name, "%s", self->producer);
    self->backoff = S_BACKOFF_MIN;
    self->tty = isatty (STDERR_FILENO);
    self->progress = cfg->progress < 0 ? self->tty : cfg->progress > 0;

    code = s_start (self);
    if (code) {
        goto done;
    }
    const sl_msg_t *welcome = sl_client_welcome (self->client);
    char state_path[4096];
    snprintf (state_path, sizeof state_path, "%s/%s@%s.follow",
              cfg->state_dir ? cfg->state_dir : ".", cfg->name ? cfg->name : "", cfg->stream);
    sl_input_opts_t in = {.format = cfg->format,
                          .key_field = cfg->key_field,
                          .max_record = self->max_record,
                          .max_depth = welcome->max_depth,
                          .strict = cfg->strict,
                          .generate = cfg->generate,
                          .generate_count = cfg->generate_count,
                          .follow = cfg->follow,
                          .mqtt_url = cfg->mqtt_url,
                          .mqtt_client = cfg->mqtt_url ? cfg->name : NULL,
                          .state_path = cfg->follow && cfg->name ? state_path : NULL};
    self->input = sl_input_new (&in, nfiles, files);
    if (!self->input || sl_input_resume (self->input, self->skip) != 0) {
        code = 1;
        goto done;
    }
    int64_t now = sl_mono_ms ();
    self->rate_start = now;
    self->progress_tick = now;
    self->next_progress = now + 1000;
    code = s_loop (self);

done:
    if (cfg->stats) {
        *cfg->stats = self->stats;
    }
    for (uint32_t i = 0; i < self->n; i++) {
        zframe_destroy (&s_at (self, i)->frame);
    }
    free (self->ring);
    sl_buf_free (&self->batch);
    sl_buf_free (&self->headers);
    sl_msg_reset (&self->publish);
    sl_input_destroy (&self->input);
    sl_client_destroy (&self->client);
    free (self);
    return code;
}
