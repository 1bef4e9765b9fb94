/* A fault-injecting `ae_os` table for the store's tests, after SQLite's test_vfs.c (fail
 * call N) and test6.c (hold unsynced writes, then "crash" by dropping or trashing them).
 *
 * Every entry of the table counts as one call. A fault armed with fos_fail_at makes call N
 * (1-based, counted from when it was armed) fail with the given errno, once or for every
 * later call too. Short-write mode makes the Nth call, if it is a pwrite, write half its
 * bytes and return that count, and every later pwrite fail with ENOSPC (a disk filling up
 * mid-record).
 *
 * Full-disk mode (fos_full_at) fails only the calls that need free space, as a full file
 * system does: reads, fsyncs, truncates and unlinks keep working.
 *
 * Crash mode remembers, per file, every write and truncate since the file's last fsync, and
 * every file created since the last fsync of its directory. fos_crash then applies a random
 * fate to each unsynced write (kept, dropped, or overwritten with garbage), removes some
 * unsynced new files, and makes every later call fail with EIO, as if the machine had lost
 * power. Renames and unlinks are treated as durable at once (a simplification), so a file
 * that was renamed is never among the new files a crash removes.
 *
 * fsync and fdatasync do not reach the disk unless real_sync is set: these tests are about
 * the store's logic, and a real fsync per call would make them slow. Thread-safe. */
#ifndef AERIE_TESTS_STORE_FAULTOS_H
#define AERIE_TESTS_STORE_FAULTOS_H

#include <stdbool.h>

#include "store/os.h"

typedef struct fos fos;

enum { FOS_FAIL_ONCE, FOS_FAIL_PERSIST, FOS_SHORT_WRITE };

fos *fos_new(void);
void fos_free(fos *f);
/* The table to pass in ae_store_opts.os; valid while f lives. */
const ae_os *fos_os(fos *f);
/* Arms a fault at the nth call from now (n >= 1) with errno err, in mode FOS_FAIL_*. */
void fos_fail_at(fos *f, long n, int err, int mode);
/* From now on fos_fail_at counts and fails only the calling thread's calls: a scripted
 * fault then lands on the call the test means, whatever the store's sync thread does
 * meanwhile. */
void fos_count_only_this_thread(fos *f);
/* Disarms any fault (and short-write's and fos_full_at's disk-full state). */
void fos_clear(fos *f);
/* A full disk: from the nth call from now that needs free space (a pwrite, an open that
 * creates a file, a mkdir of a new directory, a rename) on, every such call fails with err
 * (ENOSPC, EDQUOT or EFBIG) while the others work, until fos_clear -- or, with
 * free_on_unlink, until the first successful unlink frees some space. */
void fos_full_at(fos *f, long n, int err, bool free_on_unlink);
/* Calls that needed free space since creation. */
long fos_space_calls(fos *f);
/* True while the disk is full (fos_full_at reached and not cleared). */
bool fos_full(fos *f);
/* Calls made since creation. */
long fos_calls(fos *f);
/* True once an armed fault has fired. */
bool fos_fired(fos *f);
/* Turns on tracking of unsynced writes (before any file is opened through f). */
void fos_crash_mode(fos *f);
/* Crashes when the nth call from now is made (that call and all later ones fail). */
void fos_crash_at(fos *f, long n, unsigned seed);
/* Crashes now: applies fates to unsynced writes with the given seed. */
void fos_crash(fos *f, unsigned seed);
bool fos_crashed(fos *f);

#endif
