/*  relay.h - a stage's output, line by line, onto sluice run's terminal.

    Each pipe from a stage (its stdout or its stderr) has one relay. A relay
    either prefixes every complete line with the stage's label ("enrich[2] | ",
    coloured on a terminal) or passes the bytes through as they are (a sink's
    records when stdout is not a terminal, so that they stay clean for a
    pipe). Lines are cut at SL_RELAY_LINE_MAX bytes; nothing is held longer
    than until the next newline or the end of the pipe.
*/
#ifndef SL_RELAY_H_INCLUDED
#define SL_RELAY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define SL_RELAY_LINE_MAX 65536

typedef struct {
    char prefix[160]; //  written before each line; empty in raw mode
    size_t prefix_len;
    int out_fd; //  1 or 2
    bool raw;   //  pass bytes through unprefixed
    char *buf;  //  a partial line, SL_RELAY_LINE_MAX bytes
    size_t len;
} sl_relay_t;

//  Sets up a relay writing to out_fd; label is "name[n]"; color an ANSI SGR
//  code ("36") or NULL for none. 0 or SL_ENOMEM.
int sl_relay_init (sl_relay_t *self, const char *label, const char *color, int out_fd, bool raw);
void sl_relay_free (sl_relay_t *self);

//  Reads what is available on fd (non-blocking) and writes out the complete
//  lines. Returns 1 at end of file (the partial last line is written too),
//  0 when fd has nothing more for now, SL_ECLOSED when out_fd is stdout and
//  its reader has gone, SL_EIO on a read error (treated as end of file).
int sl_relay_pump (sl_relay_t *self, int fd);

//  Writes the partial line held, if any, with a newline in prefixed mode.
int sl_relay_flush (sl_relay_t *self);

//  sluice run's own message, "sluice | text", on stderr (bold when color).
void sl_relay_say (bool color, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#endif
