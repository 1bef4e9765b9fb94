/* The command journal: which command ids this vehicle has handled and how, kept on the
 * vehicle so that a command is executed at most once across gateway, leaf and hub restarts,
 * and so that no outcome report is lost when the gateway stops before the leaf logged it.
 *
 * On disk it is DIR/commands.journal, text, one record per line:
 *
 *   S <unix_ns> <id> <state> <report>   command <id> reached <state>; <report> is the JSON
 *                                       document published on event.cmd (one line)
 *   F <unix_ns>                         every report above is durable in the leaf's log
 *   R <unix_ns> <report>                a report still to publish (written by a compaction)
 *
 * Each record is appended and fdatasync'd before the call returns, so a gateway that records
 * "delivered" and then sends the COMMAND_LONG can never send it again after a crash. A line
 * cut short by a crash is skipped (with a warning) when the file is read. When the file has
 * grown past 1 MiB it is rewritten at open (and past 4 MiB while it runs): per id only its
 * newest S line, and no id older than AE_GW_JOURNAL_KEEP_NS (FLEET_CMD keeps commands for at
 * most an hour, so an id that old can no longer come back).
 *
 * Without a directory the journal lives in memory only (duplicates are still caught while
 * the process runs). Not thread-safe: the gateway's loop owns it. */
#ifndef AERIE_GW_JOURNAL_H
#define AERIE_GW_JOURNAL_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_GW_JOURNAL_FILE    "commands.journal"
#define AE_GW_JOURNAL_KEEP_NS (24LL * 3600 * 1000000000LL)

typedef struct ae_gw_journal ae_gw_journal;

/* Opens (creating DIR with mode 0700 and the file if needed) and reads the journal in dir,
 * or makes a memory-only one when dir is NULL. Returns 0 and *out, or AE_EIO / AE_ENOMEM
 * with a message naming the path. */
int ae_gw_journal_open(const char *dir, ae_gw_journal **out, ae_err *err);
void ae_gw_journal_close(ae_gw_journal *j); /* accepts NULL */

/* True when the journal is kept on disk. */
bool ae_gw_journal_durable(const ae_gw_journal *j);

/* The newest state recorded for id, or NULL when the id was never recorded. */
const char *ae_gw_journal_state(const ae_gw_journal *j, const char *id);

/* Records that id reached state (a short word without spaces) with its report (one line of
 * JSON without newlines; may be NULL). On disk: appended and fdatasync'd before returning.
 * The report counts as not yet flushed. Returns 0, AE_EINVAL (bad id or state), or AE_EIO /
 * AE_ENOMEM with a message; after an error the id is not recorded. */
int ae_gw_journal_record(ae_gw_journal *j, const char *id, const char *state, const char *report,
                         ae_err *err);

/* Reports recorded but not yet marked flushed, oldest first: those found after the last F
 * line at open, then those recorded since. *n receives their count; the array and strings
 * stay owned by the journal until the next mark_flushed or record. */
const char *const *ae_gw_journal_unflushed(const ae_gw_journal *j, size_t *n);

/* Marks every report recorded so far as durable (an F line). Returns 0 or AE_EIO. */
int ae_gw_journal_mark_flushed(ae_gw_journal *j, ae_err *err);

/* Calls fn for each id whose newest state is `state` (e.g. "delivered": a restart came
 * between sending a command and its ACK), with that state's report (may be NULL). The
 * callback may record new states. */
void ae_gw_journal_each_in_state(ae_gw_journal *j, const char *state,
                                 void (*fn)(void *ctx, const char *id, const char *report),
                                 void *ctx);

#endif
