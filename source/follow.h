/*  follow.h - sluice-source --follow: complete lines from files that keep
    growing, as `tail -F` reads them, with a durable map from the source's
    record numbers to byte positions so that a restart resumes exactly.

    Files are given as paths or glob patterns, looked at again every
    S_SCAN_MS: a new file that matches is read from its start; a file
    renamed away (rename rotation) or deleted is read to its end and then
    dropped; a file that shrinks (copytruncate) is read again from byte 0. A
    last line without its newline waits for it (a file dropped after
    rotation gives it up as a line of its own).

    Positions: every record read gets its number (seq) from the caller
    through sl_follow_mark. Consecutive records of one file form a "run"
    (first seq, file, start byte); a run ends when reading moves to another
    file or after S_RUN_SPLIT_MS. The state file lists the files (identity:
    device, inode and their first bytes; the byte position up to which
    everything is confirmed) and the runs not yet confirmed. It is written
    (temporary file, fsync, rename) whenever a run starts, so before the
    first record of that run is sent (sl_follow_sync, once per send, not
    once per run: following thousands of small files costs one state write
    per batch sent, not one per file). At a restart the broker says how
    many records of this producer it has (S); the runs say exactly which file
    and which byte range each seq up to S came from, so every file is put
    back after its last record up to S (the run holding S is read again from
    its start and its first records are counted off).
*/
#ifndef SL_FOLLOW_H_INCLUDED
#define SL_FOLLOW_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _sl_follow_t sl_follow_t;

typedef struct {
    int npatterns;
    char **patterns;        //  paths or glob(3) patterns
    const char *state_path; //  NULL: no state (no resume)
    size_t max_line;        //  longer lines are reported and skipped
} sl_follow_opts_t;

sl_follow_t *sl_follow_new (const sl_follow_opts_t *opts);
void sl_follow_destroy (sl_follow_t **self_p);

//  Puts every file after record `confirmed` (how many records of this
//  producer the broker has) from the state file, and sets *next_base: the
//  caller's next record gets number *next_base + 1; the records numbered up
//  to `confirmed` that are read again come first (the caller drops them).
//  Without a state file and confirmed > 0: SL_ENOTFOUND (cannot resume).
//  0, SL_ENOTFOUND, SL_EPROTO (state file malformed) or SL_EIO.
int sl_follow_resume (sl_follow_t *self, uint64_t confirmed, uint64_t *next_base);

//  The next complete line, without its newline: 1 with *line / *len (valid
//  until the next call), the file's path in *name and the line's number in
//  *lineno; SL_EAGAIN when no file has a complete line now.
int sl_follow_next (sl_follow_t *self, const uint8_t **line, size_t *len, const char **name,
                    uint64_t *lineno);

//  The line returned last became record number seq: 0, or SL_ENOMEM (the
//  run must stop: positions would not be exact).
int sl_follow_mark (sl_follow_t *self, uint64_t seq);

//  Writes the state if runs started since the last write: call before
//  sending any record marked since. 0 or SL_EIO (logged).
int sl_follow_sync (sl_follow_t *self);

//  The broker confirmed every record up to seq: the state forgets what it
//  no longer needs. 0 or SL_EIO.
int sl_follow_confirmed (sl_follow_t *self, uint64_t seq);

//  Lines too long to keep, reported and skipped.
uint64_t sl_follow_bad (sl_follow_t *self);

#endif
