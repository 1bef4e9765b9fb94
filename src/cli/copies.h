/* Reading one logical stream across its copies (cli.h: ae_cli_read_sources): the region's
 * own TWIN_STATE and those of the regions its vehicles fail over to, or the fleet-wide
 * aggregate. The readers (twin, status, replay, the dashboard) never depend on which copy
 * answers: each copy is listed by subject, the newest value of a subject is the newest of
 * all copies by event time, and a record that two copies both hold (the same Nats-Msg-Id,
 * e.g. stored by the home region just before it went down and again by the fallback region)
 * is shown once.
 *
 * Ownership: an ae_copies owns its subject lists (ae_copies_free); ae_seen_ids owns its
 * keys (ae_seen_ids_free). */
#ifndef AERIE_CLI_COPIES_H
#define AERIE_CLI_COPIES_H

#include "cli/cli.h"
#include "common/hmap.h"

#include <stdbool.h>

/* The subjects one copy holds that match a filter, sorted. ok: the copy answered. */
typedef struct ae_copy_listing {
    ae_read_src src;
    char **subjects;
    int n;
    bool ok;
} ae_copy_listing;

typedef struct ae_copies {
    ae_copy_listing v[AE_READ_MAX];
    int n;
    bool home_found; /* at least one home copy exists */
} ae_copies;

/* Lists the subjects matching `filter` in every copy of `base` (ae_cli_read_sources). A
 * missing stream lists nothing; a non-home copy that fails is noted (ae_cli_note_unreachable)
 * and skipped. Returns 0, or the error of a home copy other than AE_ENOENT (message in err).
 * Free with ae_copies_free, also after an error. */
int ae_copies_list(ae_cli *c, const char *base, const char *filter, ae_copies *out, ae_err *err);
void ae_copies_free(ae_copies *cp);

/* True when the listing holds `subject` (binary search). */
bool ae_copy_has(const ae_copy_listing *l, const char *subject);

/* The newest message of `subject` (by event time; the first copy wins a tie) among the
 * copies that list it, or NULL when none holds it. *rc receives 0, or the error of a home
 * copy other than "not found" (message in err). */
natsMsg *ae_copies_last(ae_cli *c, const ae_copies *cp, const char *subject, int *rc, ae_err *err);

/* One subject of a batch read across copies (ae_copies_last_many). */
typedef struct ae_copies_get {
    const ae_copies *cp; /* the copies of the stream the subject is in (borrowed) */
    const char *subject; /* borrowed */
    natsMsg *msg;        /* out: as ae_copies_last's result (caller destroys), or NULL */
} ae_copies_get;

/* ae_copies_last for many subjects at once, every direct get pipelined on one connection
 * (direct_batch.h), so that the cost is about one round trip, not one per subject. Returns
 * 0 with each msg set, or the first error of a home copy other than "not found" (message in
 * err; then every msg is NULL). A fallback copy that fails is noted and skipped. */
int ae_copies_last_many(ae_cli *c, ae_copies_get *gets, size_t n, ae_err *err);
/* The same with at most `window` direct gets in flight (1: one at a time). */
int ae_copies_last_many_window(ae_cli *c, ae_copies_get *gets, size_t n, int window, ae_err *err);

/* The record ids a reader has shown, so that a second copy of a record is skipped. */
typedef struct ae_seen_ids {
    ae_hmap ids;
} ae_seen_ids;

/* True when m carries a Nats-Msg-Id that was seen before; otherwise remembers it (a message
 * without an id is never a duplicate) and returns false. */
bool ae_seen_ids_repeat(ae_seen_ids *s, natsMsg *m);
void ae_seen_ids_free(ae_seen_ids *s);

#endif
