/* The durable forwarder; see forward.h. This file: the durable-subject policy, capture (the
 * broker hands us local messages on uplink subjects), the present first (live copies), the
 * loop's notify fd and tick, status, lifecycle. The per-subject work is in fwd_drive.c. */
#include "leaf/forward.h"
#include "leaf/fwd_drive.h"
#include "leaf/fwd_subjects.h"
#include "leaf/fwdnote.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timeutil.h"
#include "leaf/jsapi.h"
#include "leaf/msgid.h"
#include "leaf/pipeline.h"
#include "leaf/subject.h"
#include "leaf/sublist.h"
#include "leaf/uplink.h"
#include "leaf/walk.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUSY_TICK_NS (100 * AE_NS_PER_MS) /* while something is under way */
#define IDLE_TICK_NS AE_NS_PER_SEC        /* otherwise */

/* ---- subjects ------------------------------------------------------------------------ */

bool ae_forward_is_durable(const ae_forward *f, const char *subject, size_t len)
{
    if (!f || !f->npolicy || !ae_subject_valid_literal(subject, len))
        return false;
    return ae_sublist_match(f->policy, subject, len)->npsubs > 0;
}

/* ---- the present first ------------------------------------------------------------------
 * While a backlog drains, the stream receives old records in order, so the hub's view of a
 * vehicle would lag by the whole outage. Meanwhile the newest value of each subject is also
 * sent, at most once a second, as best-effort traffic on a twin subject outside the stream
 * ("...state.position" -> "...live.position"), which `aerie twin` prefers while it is newer. */

static size_t live_subject(const char *s, size_t n, char *out, size_t cap)
{
    const char *tok = memmem(s, n, ".state.", 7);
    int k = tok ? snprintf(out, cap, "%.*slive.%.*s", (int)(tok - s + 1), s,
                           (int)(n - (size_t)(tok - s) - 7), tok + 7)
                : snprintf(out, cap, "live.%.*s", (int)n, s);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

static void send_live_copy(ae_forward *f, fsubj *ss, const ae_msg *m, uint64_t seq)
{
    if (!f->ready || !f->srv->opts.uplink_live)
        return;
    /* Only while a real backlog is ahead of this record: in steady state a window of
     * records is always waiting for PubAcks, and copying those would double the traffic. */
    if (seq <= ae_store_ack_floor(f->st) + LIVE_BACKLOG_MIN + f->inflight)
        return;
    int64_t now = ae_mono_ns();
    if (now - ss->live_sent < AE_NS_PER_SEC)
        return;
    ss->live_sent = now;
    char subj[1024], hdr[256], ts[48];
    size_t sl = live_subject(ss->subject, ss->len, subj, sizeof subj);
    if (!sl)
        return;
    int hl = snprintf(hdr, sizeof hdr, "NATS/1.0\r\nAerie-Event-Time: %s\r\n\r\n",
                      ae_format_rfc3339(ae_now_ns(), ts, sizeof ts));
    if (ae_uplink_publish(f->up, subj, sl, NULL, 0, hdr, (size_t)hl, m->payload + m->hdr_len,
                          m->total_len - m->hdr_len) == 0)
        f->live_copies++;
}

/* ---- capture ---------------------------------------------------------------------------- */

static uint64_t hook_capture(void *ctx, const ae_msg *m, bool *failed)
{
    ae_forward *f = ctx;
    if (!ae_forward_is_durable(f, m->subject.ptr, m->subject.len))
        return 0;
    fsubj *ss = fwd_subject_get(f, m->subject.ptr, m->subject.len,
                                f->nsubjects < f->srv->opts.uplink_max_subjects);
    if (!ss) {
        f->capture_errors++;
        fwd_error(f,
                  "not logging %.*s: the vehicle already has %d distinct uplink subjects "
                  "(uplink.max_subjects); publish on fewer subjects or raise the limit",
                  (int)m->subject.len, m->subject.ptr, f->nsubjects);
        *failed = true;
        return 0;
    }
    ae_store_msg sm = {.subject = m->subject.ptr,
                       .subject_len = m->subject.len,
                       .hdr = m->payload,
                       .hdr_len = m->hdr_len,
                       .payload = m->payload + m->hdr_len,
                       .payload_len = m->total_len - m->hdr_len,
                       .time_ns = ae_now_ns()};
    uint64_t seq = 0;
    ae_err err = {0};
    if (ae_store_append(f->st, &sm, &seq, &err) != 0) {
        f->capture_errors++;
        fwd_error(f, "could not log %.*s for the hub: %s", (int)m->subject.len, m->subject.ptr,
                  err.msg);
        *failed = true;
        return 0;
    }
    f->captured++;
    send_live_copy(f, ss, m, seq);
    ss->last_captured = seq;
    ss->last_activity = ae_mono_ns();
    return seq;
}

static ae_durability hook_durability(void *ctx, uint64_t seq)
{
    ae_forward *f = ctx;
    if (ae_store_durable_seq(f->st) >= seq)
        return AE_DURABILITY_ON_DISK;
    return ae_store_failed(f->st) ? AE_DURABILITY_LOST : AE_DURABILITY_PENDING;
}

/* The pump (log -> pipelines -> the hub), the per-subject driver and the hub's replies live
 * in fwd_drive.c. */

/* ---- notifications and the tick -------------------------------------------------------- */

static void on_notify(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    ae_forward *f = io->ctx;
    ae_store_notify_drain(f->st);
    uint64_t d = ae_store_durable_seq(f->st);
    if (d != f->last_durable || ae_store_failed(f->st)) {
        f->last_durable = d;
        ae_server_durable_advanced(f->srv);
        f->cursor_stalled = false;
    }
    for (int i = 0; i < f->nids; i++) {
        fsubj *ss = f->by_id[i];
        if (ss && ss->ph == PH_NOTE)
            fwd_drive(f, ss);
    }
    fwd_pump(f);
}

/* How long until the next tick. 100 ms while anything is under way (a publish in flight, a
 * walk of the stream, a subject in doubt): the PubAck timeouts and the window follow the
 * link at that pace. An idle forwarder waits only for its note and its log maintenance, and
 * new records or the uplink's return wake it through their own events; a vehicle that sends
 * a message every few seconds then ticks about once a second, not ten times. */
static int64_t next_tick_in(const ae_forward *f, int64_t now)
{
    for (int i = 0; i < f->nids; i++) {
        const fsubj *ss = f->by_id[i];
        if (ss && (ss->pl.head || ss->uncertain || (ss->ph != PH_READY && ss->ph != PH_IDLE)))
            return BUSY_TICK_NS;
    }
    if (f->note_dirty) {
        int64_t due = f->note_at + NOTE_EVERY_NS - now;
        return due < BUSY_TICK_NS ? BUSY_TICK_NS : due > IDLE_TICK_NS ? IDLE_TICK_NS : due;
    }
    return IDLE_TICK_NS;
}

static void on_tick(ae_loop *loop, ae_timer *t)
{
    ae_forward *f = t->ctx;
    int64_t now = ae_mono_ns();
    ae_err err = {0};
    if (ae_store_tick(f->st, ae_now_ns(), &err) != 0)
        fwd_error(f, "log maintenance: %s", err.msg);
    for (int i = 0; i < f->nids; i++) {
        fsubj *ss = f->by_id[i];
        if (ss && f->ready && ss->ph == PH_NOTE)
            fwd_drive(f, ss);
        if (ss && f->ready)
            fwd_check_subject(f, ss, now);
        if (f->by_id[i])
            fwd_release_idle(f, f->by_id[i], now);
    }
    if (f->note_dirty && now - f->note_at >= NOTE_EVERY_NS)
        fwd_write_note(f, false, NULL);
    fwd_adapt_window(f, now);
    if (f->ready) {
        fwd_send_runnable(f);
        fwd_pump(f);
    }
    ae_loop_timer_start(loop, t, next_tick_in(f, ae_mono_ns()));
}

/* ---- status ---------------------------------------------------------------------------- */

void ae_forward_status(ae_forward *f, json_t *j)
{
    if (!f)
        return;
    ae_store_stats st;
    ae_store_stats_get(f->st, &st);
    json_object_set_new(j, "backlog_msgs", json_integer((json_int_t)st.records));
    json_object_set_new(j, "backlog_bytes", json_integer((json_int_t)st.bytes));
    double age = st.oldest_time_ns ? (double)(ae_now_ns() - st.oldest_time_ns) / 1e9 : 0;
    json_object_set_new(j, "backlog_oldest_s", json_real(age));
    json_object_set_new(j, "forward_rate", json_real(f->ack_rate));
    json_object_set_new(j, "captured", json_integer((json_int_t)f->captured));
    json_object_set_new(j, "forwarded", json_integer((json_int_t)f->forwarded));
    json_object_set_new(j, "acked", json_integer((json_int_t)f->acked));
    json_object_set_new(j, "duplicates", json_integer((json_int_t)f->duplicates));
    json_object_set_new(j, "skipped_stored", json_integer((json_int_t)f->skipped_stored));
    json_object_set_new(j, "resends", json_integer((json_int_t)f->resends));
    json_object_set_new(j, "resyncs", json_integer((json_int_t)f->resyncs));
    json_object_set_new(j, "retries", json_integer((json_int_t)f->retries));
    json_object_set_new(j, "order_repairs", json_integer((json_int_t)f->repairs));
    json_object_set_new(j, "deleted_copies", json_integer((json_int_t)f->deleted));
    json_object_set_new(j, "set_aside", json_integer((json_int_t)f->set_aside));
    json_object_set_new(j, "inflight", json_integer((json_int_t)f->inflight));
    json_object_set_new(j, "window", json_integer((json_int_t)f->window));
    json_object_set_new(j, "uplink_subjects", json_integer((json_int_t)f->nsubjects));
    json_object_set_new(j, "stripped_headers", json_integer((json_int_t)f->stripped_headers));
    json_object_set_new(j, "forged_ids", json_integer((json_int_t)f->forged_ids));
    json_object_set_new(j, "discarded_msgs", json_integer((json_int_t)st.discarded_records));
    json_object_set_new(j, "discarded_bytes", json_integer((json_int_t)st.discarded_bytes));
    json_object_set_new(j, "lost_msgs", json_integer((json_int_t)st.lost_records));
    json_object_set_new(j, "capture_errors", json_integer((json_int_t)f->capture_errors));
    json_object_set_new(j, "live_copies", json_integer((json_int_t)f->live_copies));
    json_object_set_new(j, "store_failed", json_boolean(st.failed != 0));
    json_object_set_new(j, "store_read_only", json_boolean(st.read_only));
    if (st.read_only)
        json_object_set_new(j, "store_read_only_reason", json_string(st.read_only_reason));
    json_object_set_new(j, "set_aside_records", json_integer((json_int_t)st.set_aside_records));
    if (f->last_error[0])
        json_object_set_new(j, "last_hub_error", json_string(f->last_error));
}

struct ae_store *ae_forward_store(ae_forward *f)
{
    return f ? f->st : NULL;
}

static void status_hook(void *ctx, json_t *j)
{
    ae_forward_status(ctx, j);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static int uplink_send(void *ctx, const char *subject, size_t subject_len, const char *reply,
                       size_t reply_len, const void *hdr, size_t hdr_len, const void *payload,
                       size_t payload_len)
{
    return ae_uplink_publish(ctx, subject, subject_len, reply, reply_len, hdr, hdr_len, payload,
                             payload_len);
}

static int make_policy(ae_forward *f, const ae_opts *o, ae_err *err)
{
    f->policy = ae_sublist_new(256);
    f->policy_subs = calloc((size_t)o->nuplink_subjects + 1, sizeof *f->policy_subs);
    if (!f->policy || !f->policy_subs)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    for (int i = 0; i < o->nuplink_subjects; i++) {
        /* a copy: a reload replaces the options' strings */
        char *p = strdup(o->uplink_subjects[i]);
        if (!p)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        f->policy_subs[i] = (ae_sub){.subject = p, .subject_len = strlen(p), .owner = f};
        f->npolicy++;
        int rc = ae_sublist_insert(f->policy, &f->policy_subs[i]);
        if (rc != 0 && rc != AE_EEXIST)
            return ae_err_set(err, AE_EINVAL, "uplink.subjects: \"%s\" is not a valid subject", p);
    }
    return 0;
}

static void forward_free(ae_forward *f)
{
    for (int i = 0; i < f->nids; i++) {
        if (f->by_id[i])
            fwd_subject_free(f, f->by_id[i]);
    }
    free(f->by_id);
    ae_hmap_free(&f->subjects);
    ae_sublist_free(f->policy);
    for (int i = 0; i < f->npolicy; i++)
        free((char *)f->policy_subs[i].subject);
    free(f->policy_subs);
    free(f);
}

int ae_forward_start(ae_server *s, ae_uplink *up, ae_err *err)
{
    const ae_opts *o = &s->opts;
    if (!up)
        return ae_err_set(err, AE_EINVAL, "uplink subjects need a leafnodes remote");
    ae_forward *f = calloc(1, sizeof *f);
    if (!f)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    f->srv = s;
    f->up = up;
    f->window = o->uplink_max_inflight < 256 ? (unsigned)o->uplink_max_inflight : 256;
    if (make_policy(f, o, err) != 0) {
        forward_free(f);
        return err ? err->code : AE_EINVAL;
    }
    ae_store_opts so;
    ae_store_opts_default(&so);
    so.sync = o->sync_mode == AE_OPT_SYNC_ALWAYS     ? AE_SYNC_ALWAYS
              : o->sync_mode == AE_OPT_SYNC_INTERVAL ? AE_SYNC_INTERVAL
                                                     : AE_SYNC_NEVER;
    so.sync_interval_ns = o->sync_interval_ns;
    so.meta_interval_ns = o->ack_interval_ns;
    so.max_bytes = (uint64_t)o->store_max_bytes;
    so.max_age_ns = o->store_max_age_ns;
    if (ae_store_open(o->store_dir, &so, &f->st, err) != 0) {
        forward_free(f);
        return err ? err->code : AE_EIO;
    }
    if (ae_store_cursor_new(f->st, &f->cur, err) != 0) {
        ae_store_close(f->st, NULL);
        forward_free(f);
        return AE_ENOMEM;
    }
    snprintf(f->key.vid, sizeof f->key.vid, "%s", o->vid ? o->vid : s->server_name);
    f->key.epoch = ae_store_epoch(f->st);
    memcpy(f->key.secret, ae_store_secret(f->st), AE_MSGID_KEY_LEN);
    snprintf(f->conf_domain, sizeof f->conf_domain, "%s", o->hub_domain ? o->hub_domain : "hub");
    snprintf(f->hub_domain, sizeof f->hub_domain, "%s", f->conf_domain);
    snprintf(f->prefix, sizeof f->prefix, "%s", ae_uplink_inbox_prefix(up));
    f->env = (ae_walk_env){.send = uplink_send,
                           .ctx = up,
                           .inbox = f->prefix,
                           .domain = f->hub_domain,
                           .key = &f->key};
    fwd_read_note(f);
    f->last_durable = ae_store_durable_seq(f->st);
    f->notify = (ae_io){.fd = ae_store_notify_fd(f->st), .cb = on_notify, .ctx = f};
    ae_loop_add(s->loop, &f->notify, AE_IO_READ);
    f->tick = (ae_timer){.cb = on_tick, .ctx = f};
    f->last_rate_at = ae_mono_ns();
    ae_loop_timer_start(s->loop, &f->tick, BUSY_TICK_NS);
    ae_uplink_client uc = {.ctx = f,
                           .on_ready = fwd_on_ready,
                           .on_inbox = fwd_on_inbox,
                           .on_writable = fwd_on_writable,
                           .status = status_hook};
    ae_uplink_set_client(up, &uc);
    s->durable_hooks.ctx = f;
    s->durable_hooks.capture = hook_capture;
    s->durable_hooks.durability = hook_durability;
    s->forward = f;
    ae_store_stats st;
    ae_store_stats_get(f->st, &st);
    ae_log_info("store: %s: %llu records waiting for the hub (seq %llu..%llu), %llu recovered, "
                "%llu bytes dropped in recovery, %d subjects known",
                o->store_dir, (unsigned long long)st.records, (unsigned long long)st.first_seq,
                (unsigned long long)st.last_seq, (unsigned long long)st.recovered_records,
                (unsigned long long)st.recovery_dropped_bytes, f->nsubjects);
    return 0;
}

void ae_forward_stop(ae_server *s)
{
    ae_forward *f = s->forward;
    if (!f)
        return;
    /* main() stops the uplink after us, and its disconnect calls the client's status and
     * on_ready hooks: unplug them first, or they run on the freed forwarder. */
    ae_uplink_set_client(f->up, &(ae_uplink_client){0});
    if (f->note_dirty)
        fwd_write_note(f, false, NULL);
    ae_loop_del(s->loop, &f->notify);
    ae_loop_timer_stop(s->loop, &f->tick);
    ae_store_cursor_free(f->cur);
    ae_err err = {0};
    if (ae_store_close(f->st, &err) != 0)
        ae_log_error("store: closing: %s", err.msg);
    memset(&s->durable_hooks, 0, sizeof s->durable_hooks);
    s->forward = NULL;
    forward_free(f);
}
