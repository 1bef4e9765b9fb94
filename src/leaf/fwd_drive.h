/* The durable forwarder's per-subject driver (fwd_drive.c): reads the log into one pipeline
 * per subject, publishes within the window, walks the stream back when in doubt, repairs the
 * order, handles the hub's replies. Called by forward.c; calls fwd_subjects.c. */
#ifndef AERIE_LEAF_FWD_DRIVE_H
#define AERIE_LEAF_FWD_DRIVE_H

#include "leaf/fwd_state.h"
#include "leaf/proto.h"

#include <stdbool.h>
#include <stdint.h>

/* Reads the log into the pipelines and publishes what the window allows. */
void fwd_pump(ae_forward *f);
/* Moves one subject on (first contact, walk, repair, publishing). */
void fwd_drive(ae_forward *f, fsubj *ss);
/* Subjects that waited for window room publish, in turn. */
void fwd_send_runnable(ae_forward *f);
/* Timeouts and backoff of one subject (from the tick). */
void fwd_check_subject(ae_forward *f, fsubj *ss, int64_t now);
/* Forgets a drained subject unused for uplink.subject_idle. */
void fwd_release_idle(ae_forward *f, fsubj *ss, int64_t now);
/* Follows the window to the link (once a second). */
void fwd_adapt_window(ae_forward *f, int64_t now);
/* The uplink's client hooks (hooks.h: ae_uplink_client). */
void fwd_on_ready(void *ctx, bool ready);
void fwd_on_inbox(void *ctx, const ae_op *op);
void fwd_on_writable(void *ctx);

#endif
