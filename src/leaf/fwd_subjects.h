/* The durable forwarder's subjects (fwd_subjects.c): each subject's record, its place in
 * the JetStream domains it has been forwarded to, and the note that keeps those places with
 * the log across restarts (fwdnote.h). Called by forward.c and fwd_drive.c; calls only the
 * modules below the forwarder (store, pipeline, walk, fwdnote). */
#ifndef AERIE_LEAF_FWD_SUBJECTS_H
#define AERIE_LEAF_FWD_SUBJECTS_H

#include "leaf/fwd_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Records an error in last_hub_error and logs it. */
void fwd_error(ae_forward *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The subject's state, created when `create` (NULL: absent, or out of memory). */
fsubj *fwd_subject_get(ae_forward *f, const char *s, size_t n, bool create);
void fwd_subject_free(ae_forward *f, fsubj *ss);
/* Moves the subject to phase ph (logged at debug level when it changes). */
void fwd_set_phase(fsubj *ss, phase ph);
/* Hands the note (fwdnote.h) to the store; urgent writes it now. *gen (may be NULL) is its
 * generation. Returns 0 or the store's error. */
int fwd_write_note(ae_forward *f, bool urgent, uint64_t *gen);
/* Makes the subjects of the last run's note known (each walked before it sends). */
void fwd_read_note(ae_forward *f);
/* The link came up in JetStream domain `domain`: subjects switch to their state there. */
void fwd_enter_domain(ae_forward *f, const char *domain);

#endif
