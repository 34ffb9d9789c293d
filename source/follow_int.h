/*  follow_int.h - what follow.c (reading files as they grow) and
    follow_state.c (the state file and the resume computation) share.
    Nothing outside source/follow*.c includes it.
*/
#ifndef SL_FOLLOW_INT_H_INCLUDED
#define SL_FOLLOW_INT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "follow.h"
#include "sl_buf.h"

#define FOLLOW_FP_MAX 64      //  head bytes that tell a file from another with its inode
#define FOLLOW_MAX_FILES 4096 //  files followed (and in a state file) at most
#define FOLLOW_MAX_RUNS (1u << 20)
#define FOLLOW_PATH_MAX 4096

//  One file, identified by device, inode and head bytes. A file truncated
//  in place becomes a new entry (a new id) over the same descriptor.
typedef struct {
    uint32_t id; //  stable within a state file
    char *path;  //  last path it was seen under
    dev_t dev;
    ino_t ino;
    uint8_t fp[FOLLOW_FP_MAX]; //  its first bytes, as far as known
    size_t fp_len;
    int fd;                 //  -1: not open (dropped, or only known from the state)
    bool dead;              //  dropped: kept only while a run refers to it
    bool matched;           //  seen by the last scan under some pattern
    int64_t gone_ms;        //  when it stopped being matched or was deleted, 0 = not
    uint64_t confirmed_off; //  byte after everything confirmed from it
    uint64_t read_off;      //  file offset of buf's end
    sl_buf_t buf;           //  buf.data[start, buf.len) is unread
    size_t start;
    size_t scan;   //  buf.data[start, scan) holds no newline
    bool skipping; //  inside a line too long to keep
    bool at_eof;   //  the last read found the end
    uint64_t line;
    uint64_t line_start; //  byte where the last returned line starts
    uint64_t line_end;   //  byte after it (and its newline)
} follow_file_t;

typedef struct {
    uint64_t seq;   //  first record of the run
    uint32_t id;    //  its file
    uint64_t start; //  byte where its first record's line starts
    uint64_t end;   //  byte after its last record's line
    uint64_t last;  //  its last record (in memory only)
    int64_t started_ms;
} follow_run_t;

struct _sl_follow_t {
    sl_follow_opts_t opts;
    follow_file_t **files;
    uint32_t nfiles;
    uint32_t next_id;
    uint32_t cur;             //  file read now (round robin)
    uint32_t turn;            //  lines of it in this turn
    follow_file_t *last_file; //  file of the line returned last
    follow_run_t *runs;       //  unconfirmed runs, oldest first
    uint32_t nruns;
    uint32_t maxruns;
    uint64_t acked;
    uint64_t base;      //  seq up to which the state's file offsets hold
    follow_file_t *pin; //  resume: read only this file until pin_left records
    uint64_t pin_left;
    int64_t next_scan;
    int64_t state_written;
    bool state_dirty;
    bool state_needed; //  runs started that the state file does not hold yet
    uint64_t bad;
    uint32_t refused;      //  matching files left out by the last scan (the file limit)
    uint32_t refused_said; //  what the last warning about them said
    int64_t refused_said_ms;
};

//  follow.c
follow_file_t *follow_file_add (sl_follow_t *self, const char *path, dev_t dev, ino_t ino);
follow_file_t *follow_file_by_id (sl_follow_t *self, uint32_t id);
//  Reads the head bytes of an open file as far as it has them (up to FOLLOW_FP_MAX).
void follow_fingerprint (follow_file_t *f);

//  follow_state.c
//  Writes the state file (temporary name, fsync, rename). 0 or SL_EIO.
int follow_state_write (sl_follow_t *self);

#endif
