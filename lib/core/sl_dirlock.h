/*  sl_dirlock.h - one broker per data directory.

    The broker holds an exclusive flock(2) on DIR/broker.lock for its whole
    life and writes its PID into the file, so that a second broker started
    on the same directory (which LMDB alone would let in as a second
    writer) fails at once and names the process in the way. The kernel
    drops the lock when the holder dies, however it dies: a stale file
    never blocks a restart.
*/
#ifndef SL_DIRLOCK_H_INCLUDED
#define SL_DIRLOCK_H_INCLUDED

#define SL_DIRLOCK_FILE "broker.lock"

typedef struct _sl_dirlock_t sl_dirlock_t;

//  Takes the lock on dir (an existing directory), creating the lock file,
//  and writes the caller's PID into it. NULL on failure with *err set:
//  SL_ELOCKED when another process holds it (*holder = its PID, 0 when it
//  has not written it yet), SL_EIO / SL_ENOSPC / SL_ENOMEM otherwise.
sl_dirlock_t *sl_dirlock_new (const char *dir, int *err, long *holder);
//  Releases the lock (the file stays). Idempotent.
void sl_dirlock_destroy (sl_dirlock_t **self_p);

//  Asks without taking the lock: 0 when nobody holds it (or there is no
//  lock file), SL_ELOCKED when a process does (*holder = its PID or 0).
int sl_dirlock_probe (const char *dir, long *holder);

#endif
