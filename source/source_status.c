/*  source_status.c - what sluice-source tells about itself while it runs:
    its counters on a PING for `sluice stat`, and the progress line on
    stderr.
*/
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "input.h"
#include "sl_client.h"
#include "source_int.h"

//  Our counters ride on a PING every S_REPORT_MS (PROTOCOL.md §15.5), so
//  that `sluice stat` shows every source: records confirmed, input found
//  bad. Best effort: a PING that cannot go now goes next time.
#define S_REPORT_MS 2000
void
sl_source_report (s_source_t *self, int64_t now)
{
    if (now - self->reported_ms < S_REPORT_MS) {
        return;
    }
    self->reported_ms = now;
    sl_msg_t ping;
    sl_msg_init_report (&ping, sl_client_next_req (self->client), "source", self->producer,
                        self->acked > self->skip ? self->acked - self->skip : 0,
                        self->input ? sl_input_bad (self->input) : 0);
    snprintf (ping.stream, sizeof ping.stream, "%s", self->cfg->stream);
    sl_client_send (self->client, &ping, NULL);
    sl_msg_reset (&ping);
}

void
sl_source_progress (s_source_t *self, int64_t now, bool last)
{
    if (!self->progress || (!last && now < self->next_progress)) {
        return;
    }
    int64_t span = now - self->progress_tick;
    double rate =
        span > 0 ? (double)(self->stats.read - self->progress_read) * 1000.0 / (double)span : 0;
    self->progress_tick = now;
    self->progress_read = self->stats.read;
    self->next_progress = now + 1000;
    uint64_t confirmed = self->acked > self->skip ? self->acked - self->skip : 0;
    char line[256];
    snprintf (line, sizeof line,
              "read %" PRIu64 "  confirmed %" PRIu64 "  %.0f rec/s  bad %" PRIu64 "  in flight %u",
              self->stats.read, confirmed, rate, sl_input_bad (self->input), self->n);
    if (self->tty) {
        fprintf (stderr, "\r%s\033[K%s", line, last ? "\n" : "");
    }
    else {
        fprintf (stderr, "%s\n", line);
    }
    self->progress_shown = true;
}
