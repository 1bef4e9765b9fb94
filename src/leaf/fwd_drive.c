/* The durable forwarder's per-subject driver: it reads the log into one pipeline per
 * subject (pipeline.h), publishes within the window, walks the stream back when in doubt
 * (walk.h), repairs the order, and handles the hub's replies. forward.c owns the lifecycle
 * and calls in here (fwd_drive.h); the subjects' records and the note are fwd_subjects.c's.
 * See forward.h for the contract and docs/store-and-forward.md for the argument.
 *
 * Sections: the pump (log -> pipelines -> the hub, the window); the driver (first contact,
 * walk, repair, ready); replies from the hub; timeouts, the window, idle subjects. */
#include "common/log.h"
#include "common/random.h"
#include "leaf/fwd_drive.h"
#include "leaf/fwd_subjects.h"
#include "leaf/jsapi.h"
#include "leaf/subject.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_enqueue(ae_forward *f, fsubj *ss)
{
    if (ss->runnable)
        return;
    ss->runnable = true;
    ss->run_next = NULL;
    if (f->run_tail)
        f->run_tail->run_next = ss;
    else
        f->run_head = ss;
    f->run_tail = ss;
}

static bool window_open(ae_forward *f, const fsubj *ss)
{
    int per = f->srv->opts.uplink_window;
    return f->inflight < f->window && ae_uplink_queued(f->up) < QUEUE_LIMIT &&
           (per <= 0 || ss->pl.nsent < (unsigned)per);
}

static int64_t ack_timeout(const ae_forward *f)
{
    int64_t base = f->srv->opts.uplink_ack_timeout_ns;
    int64_t t = base + (int64_t)(4 * f->srtt);
    int64_t rate = f->srv->opts.uplink_rate;
    if (rate > 0)
        t += (int64_t)((double)ae_uplink_queued(f->up) / (double)rate * 1e9);
    /* Backing off never shortens it, and stops at ACK_TIMEOUT_MAX_NS. */
    int64_t backed = t;
    for (int i = 0; i < f->ack_backoff && backed < ACK_TIMEOUT_MAX_NS; i++)
        backed *= 2;
    if (backed > ACK_TIMEOUT_MAX_NS)
        backed = ACK_TIMEOUT_MAX_NS;
    return backed > t ? backed : t;
}

/* Publishes one record of the pipeline. Returns false when nothing more can go now. */
static bool publish(ae_forward *f, fsubj *ss, ae_prec *r)
{
    bool again = r->sent_at != 0;
    ae_pipeline_sent(&ss->pl, r, ae_mono_ns());
    f->inflight++;
    char id[AE_MSGID_MAX], ts[48], reply[128];
    ae_msgid_format(&f->key, r->seq, r->inc, id, sizeof id);
    ae_format_rfc3339(r->time_ns, ts, sizeof ts);
    size_t cap = ae_js_headers_cap(r->hdr_len);
    char stack[2048];
    char *hdr = cap <= sizeof stack ? stack : malloc(cap);
    int stripped = 0;
    size_t hl = hdr ? ae_js_build_headers(hdr, cap, id, ts, r->data, r->hdr_len, &stripped) : 0;
    int rn = snprintf(reply, sizeof reply, "%sa.%d.%" PRIu32 ".%" PRIu64, f->prefix, ss->id, r->gen,
                      r->seq);
    int rc = hl ? ae_uplink_publish(f->up, ss->subject, ss->len, reply, (size_t)rn, hdr, hl,
                                    r->data + r->hdr_len, r->payload_len)
                : AE_ENOMEM;
    if (hdr != stack)
        free(hdr);
    if (rc == AE_ELIMIT || rc == AE_ENOMEM) {
        /* Larger than the hub accepts: it can never be delivered. Set it aside. */
        ae_err err = {0};
        char why[160];
        snprintf(why, sizeof why, "%s",
                 rc == AE_ELIMIT ? "larger than the hub's max_payload"
                                 : "out of memory building its headers");
        f->inflight--;
        if (ae_store_set_aside(f->st, r->seq, why, &err) == 0) {
            f->set_aside++;
            fwd_error(f, "record %" PRIu64 " on %s is %s: set aside (dead letter)", r->seq,
                      ss->subject, why);
            f->held -= sizeof *r + r->hdr_len + r->payload_len;
            ae_pipeline_drop(&ss->pl, r->seq);
        } else {
            fwd_error(f, "record %" PRIu64 " on %s is %s and cannot be set aside: %s", r->seq,
                      ss->subject, why, err.msg);
        }
        return true;
    }
    if (rc != 0)
        return false; /* the link went down: fwd_on_ready(false) recalls everything */
    if (stripped) {
        if (!f->stripped_headers)
            ae_log_warn("forward: a publisher on %s set JetStream control headers (Nats-Msg-Id, "
                        "Nats-Expected-*, Nats-Rollup); they are not forwarded to the hub",
                        ss->subject);
        f->stripped_headers += (uint64_t)stripped;
    }
    f->forwarded++;
    if (again)
        f->resends++;
    return true;
}

/* Sends what the window allows for one subject; queues it for later when the window is
 * full. */
static void send_subject(ae_forward *f, fsubj *ss)
{
    if (ss->ph != PH_READY || !f->ready)
        return;
    ae_prec *r;
    while ((r = ae_pipeline_next(&ss->pl))) {
        if (!window_open(f, ss)) {
            run_enqueue(f, ss);
            return;
        }
        if (!publish(f, ss, r))
            return;
    }
}

/* Window room came back: subjects that waited for it go first, in turn. */
void fwd_send_runnable(ae_forward *f)
{
    while (f->run_head && f->inflight < f->window && ae_uplink_queued(f->up) < QUEUE_LIMIT) {
        fsubj *ss = f->run_head;
        f->run_head = ss->run_next;
        if (!f->run_head)
            f->run_tail = NULL;
        ss->runnable = false;
        send_subject(f, ss);
    }
}

static void retire(ae_forward *f, fsubj *ss)
{
    ae_prec *r;
    while ((r = ae_pipeline_pop_retired(&ss->pl))) {
        int rc = ae_store_ack(f->st, r->seq, NULL);
        if (rc == 0)
            f->acked++;
        f->held -= sizeof *r + r->hdr_len + r->payload_len;
        free(r);
        f->note_dirty = true;
    }
}

/* Drops the records a blocked subject holds beyond its first ones, so other subjects keep
 * moving; they are read from the log again (a rewind) once it moves. */
static void evict(ae_forward *f)
{
    fsubj *worst = NULL;
    for (int i = 0; i < f->nids; i++) {
        fsubj *ss = f->by_id[i];
        if (ss && ss->ph != PH_READY && (!worst || ss->pl.bytes > worst->pl.bytes))
            worst = ss;
    }
    if (!worst || worst->pl.bytes < HELD_LIMIT / 8)
        return;
    size_t freed = ae_pipeline_evict(&worst->pl, HELD_LIMIT / 16);
    if (!freed)
        return;
    f->held -= freed;
    worst->skipping = true;
    ae_log_info("forward: %s is in %s: keeping only its oldest records in memory", worst->subject,
                fwd_phase_name[worst->ph]);
}

void fwd_pump(ae_forward *f)
{
    if (!f->ready)
        return;
    if (f->rewind_pending) {
        f->rewind_pending = false;
        ae_store_cursor_seek(f->cur, ae_store_ack_floor(f->st) + 1);
        for (int i = 0; i < f->nids; i++) {
            if (f->by_id[i])
                f->by_id[i]->skipping = false;
        }
    }
    int budget = 4096; /* records per call, so the loop stays responsive */
    while (budget-- > 0 && ae_uplink_queued(f->up) < QUEUE_LIMIT) {
        if (f->held >= HELD_LIMIT) {
            evict(f);
            if (f->held >= HELD_LIMIT)
                break;
        }
        ae_store_rec r;
        ae_err err = {0};
        int rc = ae_store_cursor_next(f->cur, &r, &err);
        if (rc == AE_EAGAIN) {
            f->cursor_stalled = true;
            break;
        }
        if (rc != 0) {
            fwd_error(f, "reading the log: %s", err.msg);
            break;
        }
        f->cursor_stalled = false;
        fsubj *ss = fwd_subject_get(f, r.subject, r.subject_len, true);
        if (!ss)
            break; /* out of memory: read it again later */
        if (r.seq <= ss->pl.max_seq || ss->skipping)
            continue; /* in memory already, or evicted until the next rewind */
        ae_prec *p = malloc(sizeof *p + r.hdr_len + r.payload_len);
        if (!p) {
            f->rewind_pending = true;
            break;
        }
        memset(p, 0, sizeof *p);
        p->seq = r.seq;
        p->time_ns = r.time_ns;
        p->hdr_len = (uint32_t)r.hdr_len;
        p->payload_len = (uint32_t)r.payload_len;
        memcpy(p->data, r.hdr, r.hdr_len);
        memcpy(p->data + r.hdr_len, r.payload, r.payload_len);
        ae_pipeline_push(&ss->pl, p);
        f->held += sizeof *p + r.hdr_len + r.payload_len;
        fwd_drive(f, ss);
    }
    fwd_send_runnable(f);
}

static void back_off(ae_forward *f, fsubj *ss, const char *why)
{
    int64_t d = RETRY_MIN_NS;
    for (int i = 0; i < ss->failures && d < RETRY_MAX_NS; i++)
        d *= 2;
    if (d > RETRY_MAX_NS)
        d = RETRY_MAX_NS;
    /* Half of it at random: vehicles that failed together (a hub restart) retry apart. */
    uint32_t half_ms = (uint32_t)(d / 2 / AE_NS_PER_MS), r = 0;
    if (half_ms > 0 && ae_random_below(half_ms, &r, NULL) == 0)
        d = d / 2 + (int64_t)r * AE_NS_PER_MS;
    ss->failures++;
    f->retries++;
    ss->walk_after_repair = false;
    ss->wait_until = ae_mono_ns() + d;
    f->inflight -= ss->pl.nsent;
    ae_pipeline_recall(&ss->pl);
    if (ss->known)
        ss->uncertain = true;
    fwd_error(f, "%s: %s; trying again in %.1fs", ss->subject, why, (double)d / 1e9);
    fwd_set_phase(ss, PH_WAIT);
}

static void start_walk(ae_forward *f, fsubj *ss, bool first_contact)
{
    f->inflight -= ss->pl.nsent;
    ae_pipeline_recall(&ss->pl);
    ss->op = ++f->next_op;
    if (!first_contact)
        f->resyncs++;
    ae_walk_begin(&ss->walk, &f->env, ss->id, ss->subject, ss->len, ss->stream, ss->pl.retired_sseq,
                  first_contact, ss->op);
    fwd_set_phase(ss, first_contact ? PH_FIRST : PH_WALK);
}

/* Deletes the copies a walk or a settle found out of order; the records go out again under
 * new ids once the deletes are confirmed. */
static void start_repair(ae_forward *f, fsubj *ss)
{
    ss->op = ++f->next_op;
    f->repairs++;
    fwd_error(f,
              "%s: the hub stream holds %zu record(s) out of publish order (a publish lost in a "
              "leader change while later ones got through); deleting them to publish them again "
              "in order",
              ss->subject, ss->ndisp);
    for (size_t k = 0; k < ss->ndisp; k++)
        ae_walk_send_delete(&f->env, ss->stream, ss->id, ss->op, (unsigned)k, ss->disp[k].sseq);
    ss->dels_pending = (unsigned)ss->ndisp;
    fwd_set_phase(ss, PH_REPAIR);
}

static bool grow_disp(fsubj *ss, size_t need)
{
    if (ss->capdisp >= need)
        return true;
    ae_stored_ref *n = realloc(ss->disp, need * sizeof *n);
    if (!n)
        return false;
    ss->disp = n;
    ss->capdisp = need;
    return true;
}

static void walk_done(ae_forward *f, fsubj *ss)
{
    ae_walk *w = &ss->walk;
    if (w->stream[0])
        snprintf(ss->stream, sizeof ss->stream, "%s", w->stream);
    ss->failures = 0;
    if (ss->ph == PH_FIRST) {
        /* Nothing of ours is in the stream yet: later walks start after its newest message.
         * That must be on disk before the first send, or a crash could leave records at the
         * hub that no walk would look for. */
        ss->pl.retired_sseq = w->last;
        ss->known = true;
        if (fwd_write_note(f, true, &ss->note_gen) != 0) {
            back_off(f, ss, "could not keep the subject's note with the log");
            return;
        }
        fwd_set_phase(ss, PH_NOTE);
        fwd_drive(f, ss);
        return;
    }
    if (w->forged)
        fwd_error(f,
                  "%s: %u message(s) in the hub stream carry this vehicle's message ids with a "
                  "wrong tag: another program forged them; they are ignored",
                  ss->subject, w->forged);
    f->forged_ids += w->forged;
    f->foreign_msgs += w->foreign;
    /* Ids with our secret but a seq this log never wrote: a store directory restored from a
     * copy, or a second leaf with the same directory. Never a reason to retire anything. */
    uint64_t last_seq = ae_store_last_seq(f->st);
    size_t kept = 0;
    for (size_t i = 0; i < w->nfound; i++) {
        if (w->found[i].seq <= last_seq)
            w->found[kept++] = w->found[i];
    }
    if (kept != w->nfound) {
        f->forged_ids += w->nfound - kept;
        fwd_error(f,
                  "%s: the hub stream holds %zu message(s) with this vehicle's ids beyond its log "
                  "(seq > %" PRIu64 "): is another leaf using a copy of this store directory? "
                  "They are ignored",
                  ss->subject, w->nfound - kept, last_seq);
        w->nfound = kept;
    }
    ss->ndisp = 0;
    if (!grow_disp(ss, w->nfound + 1)) {
        back_off(f, ss, "out of memory applying a walk");
        return;
    }
    uint64_t horizon = w->seen > w->last ? w->seen : w->last;
    uint64_t last = w->last_any > w->last ? w->last_any : w->last;
    ae_pipeline_apply_walk(&ss->pl, w->found, w->nfound, horizon, ss->disp, &ss->ndisp);
    ss->uncertain = false;
    if (ss->ndisp) {
        start_repair(f, ss);
        return;
    }
    ae_log_debug("forward: %s: walked stream %s after %" PRIu64 ": %zu of ours, %zu out of "
                 "order, newest %" PRIu64,
                 ss->subject, ss->stream, ss->pl.retired_sseq, w->nfound, ss->ndisp, last);
    fwd_set_phase(ss, PH_READY);
    fwd_drive(f, ss);
}

void fwd_drive(ae_forward *f, fsubj *ss)
{
    if (!f->ready)
        return;
    switch (ss->ph) {
    case PH_IDLE:
        if (!ss->pl.head)
            return;
        if (!ss->known)
            start_walk(f, ss, true);
        else if (ss->uncertain)
            start_walk(f, ss, false);
        else {
            fwd_set_phase(ss, PH_READY);
            fwd_drive(f, ss);
        }
        return;
    case PH_NOTE:
        if (ae_store_note_durable_gen(f->st) < ss->note_gen) {
            /* A full disk cannot take the note: waiting would keep the backlog from draining
             * (which is what frees space). Go on, and say what a crash would cost. */
            if (ae_mono_ns() - ss->phase_since < NOTE_WAIT_NS)
                return;
            fwd_error(f,
                      "%s: the note could not be written (disk full?); forwarding anyway: a crash "
                      "before it is written may store this subject's first records twice",
                      ss->subject);
        }
        ss->uncertain = false;
        fwd_set_phase(ss, PH_READY);
        fwd_drive(f, ss);
        return;
    case PH_READY:
        if (ss->pl.nahead) {
            if (!grow_disp(ss, ss->pl.nahead + 1)) {
                back_off(f, ss, "out of memory settling a walk");
                return;
            }
            size_t matched = 0;
            ss->ndisp = 0;
            ae_pipeline_settle(&ss->pl, ss->disp, &ss->ndisp, ss->capdisp, &matched);
            f->skipped_stored += matched;
            if (ss->ndisp) {
                retire(f, ss);
                start_repair(f, ss);
                return;
            }
        }
        retire(f, ss);
        if (ss->skipping && ss->pl.bytes < HELD_LIMIT / 16)
            f->rewind_pending = true;
        send_subject(f, ss);
        return;
    default:
        return;
    }
}

static void window_grow(ae_forward *f);
static void window_shrink(ae_forward *f);

static void track_rtt(ae_forward *f, const fsubj *ss, uint64_t seq)
{
    for (const ae_prec *r = ss->pl.head; r && r->state != AE_PREC_WAITING; r = r->next) {
        if (r->seq != seq)
            continue;
        int64_t now = ae_mono_ns(), rtt = now - r->sent_at;
        if (r->sent_at && rtt > 0) {
            if (!f->min_rtt || rtt < f->min_rtt || now - f->min_rtt_at > 10 * AE_NS_PER_SEC) {
                f->min_rtt = rtt;
                f->min_rtt_at = now;
            }
            f->srtt = f->srtt ? 0.875 * f->srtt + 0.125 * (double)rtt : (double)rtt;
            f->ack_backoff = 0;
        }
        return;
    }
}

static void on_ack(ae_forward *f, fsubj *ss, uint32_t gen, uint64_t seq, const ae_op *op)
{
    ae_js_reply r;
    const uint8_t *body = op->payload + op->hdr_len;
    bool parsed =
        ae_js_reply_parse(op->payload, op->hdr_len, body, op->total_len - op->hdr_len, &r);
    unsigned nsent = ss->pl.nsent;
    ae_pipe_verdict v;
    uint64_t misplaced = 0;
    if (parsed && r.ok) {
        track_rtt(f, ss, seq);
        if (r.stream[0] && strcmp(r.stream, ss->stream) != 0)
            snprintf(ss->stream, sizeof ss->stream, "%s", r.stream);
        v = ae_pipeline_ack(&ss->pl, gen, seq, r.seq, r.duplicate, &misplaced);
        if (v != AE_PIPE_IGNORED && r.duplicate)
            f->duplicates++;
    } else {
        v = ae_pipeline_refused(&ss->pl, gen, seq, parsed && ae_js_reply_is_permanent(&r));
        if (v != AE_PIPE_IGNORED) {
            f->hub_errors++;
            fwd_error(f, "the hub refused %s record %" PRIu64 ": %s", ss->subject, seq, r.desc);
        }
    }
    f->inflight -= nsent - ss->pl.nsent;
    switch (v) {
    case AE_PIPE_IGNORED:
        return;
    case AE_PIPE_OK:
    case AE_PIPE_PAUSE:
        ss->failures = 0;
        window_grow(f);
        fwd_drive(f, ss);
        break;
    case AE_PIPE_RESYNC:
        if (misplaced && grow_disp(ss, 1)) {
            /* a copy of the record sits before records already retired: delete it first */
            f->inflight -= ss->pl.nsent;
            ae_pipeline_recall(&ss->pl);
            ss->disp[0] = (ae_stored_ref){.seq = seq, .sseq = misplaced};
            ss->ndisp = 1;
            ss->walk_after_repair = true;
            start_repair(f, ss);
        } else if (parsed && !r.ok && (r.status || r.code >= 500))
            back_off(f, ss, r.desc); /* the hub is not ready: give it a moment */
        else
            start_walk(f, ss, false);
        break;
    case AE_PIPE_SET_ASIDE: {
        ae_err err = {0};
        char why[200];
        snprintf(why, sizeof why, "the hub refused it for good: %s", r.desc);
        if (ae_store_set_aside(f->st, seq, why, &err) == 0) {
            f->set_aside++;
            for (ae_prec *p = ss->pl.head; p; p = p->next) {
                if (p->seq == seq) {
                    f->held -= sizeof *p + p->hdr_len + p->payload_len;
                    break;
                }
            }
            unsigned before = ss->pl.nsent;
            ae_pipeline_drop(&ss->pl, seq);
            f->inflight -= before - ss->pl.nsent;
            fwd_error(f, "%s record %" PRIu64 " set aside (dead letter): %s", ss->subject, seq,
                      why);
            fwd_drive(f, ss);
        } else {
            back_off(f, ss, err.msg);
        }
        break;
    }
    }
    fwd_send_runnable(f);
    fwd_pump(f);
}

static void on_delete_reply(ae_forward *f, fsubj *ss, const ae_op *op)
{
    ae_js_reply r;
    const uint8_t *body = op->payload + op->hdr_len;
    bool parsed =
        ae_js_reply_parse(op->payload, op->hdr_len, body, op->total_len - op->hdr_len, &r);
    if (!parsed || (!r.ok && r.err_code != AE_JS_ERR_NO_MESSAGE)) {
        back_off(f, ss,
                 parsed && r.desc[0]
                     ? r.desc
                     : "the hub did not delete an out-of-order copy (does the vehicle's "
                       "account allow STREAM.MSG.DELETE on its stream?)");
        return;
    }
    f->deleted++;
    if (ss->dels_pending && --ss->dels_pending == 0) {
        ss->ndisp = 0;
        if (ss->walk_after_repair) {
            ss->walk_after_repair = false;
            start_walk(f, ss, false);
            return;
        }
        fwd_set_phase(ss, PH_READY);
        fwd_drive(f, ss);
    }
}

static void on_walk_reply(ae_forward *f, fsubj *ss, char kind, const ae_op *op)
{
    ae_walk_status st = ae_walk_reply(&ss->walk, &f->env, kind, op);
    if (st == AE_WALK_DONE)
        walk_done(f, ss);
    else if (st == AE_WALK_FAILED)
        back_off(f, ss, ss->walk.error);
}

/* Reply subjects: <prefix><kind>.<subject id>.<op or generation>[.<seq or index>]. */
void fwd_on_inbox(void *ctx, const ae_op *op)
{
    ae_forward *f = ctx;
    size_t pl = strlen(f->prefix);
    if (op->subject.len < pl + 4 || op->subject.len - pl > 100)
        return;
    char rest[128];
    snprintf(rest, sizeof rest, "%.*s", (int)(op->subject.len - pl), op->subject.ptr + pl);
    char kind = rest[0];
    char *end;
    long id = strtol(rest + 2, &end, 10);
    if (rest[1] != '.' || *end != '.' || id < 0 || id >= f->nids || !f->by_id[id])
        return;
    fsubj *ss = f->by_id[id];
    char *end2;
    unsigned long long num = strtoull(end + 1, &end2, 10);
    if (kind == 'a' && *end2 == '.') {
        on_ack(f, ss, (uint32_t)num, strtoull(end2 + 1, NULL, 10), op);
        return;
    }
    if (num != ss->op)
        return; /* a reply of an earlier round */
    if ((kind == 'p' || kind == 'c' || kind == 'w' || kind == 'n') &&
        (ss->ph == PH_FIRST || ss->ph == PH_WALK))
        on_walk_reply(f, ss, kind, op);
    else if (kind == 'd' && ss->ph == PH_REPAIR)
        on_delete_reply(f, ss, op);
    fwd_pump(f);
}

void fwd_on_ready(void *ctx, bool ready)
{
    ae_forward *f = ctx;
    f->ready = ready;
    f->run_head = f->run_tail = NULL;
    for (int i = 0; i < f->nids; i++) {
        fsubj *ss = f->by_id[i];
        if (!ss)
            continue;
        ss->runnable = false;
        if (!ready) {
            /* Whatever was in flight may or may not have reached the stream. */
            if (ss->pl.nsent || ss->ph == PH_WALK || ss->ph == PH_REPAIR || ss->ph == PH_READY ||
                ss->ph == PH_WAIT)
                ss->uncertain = ss->known;
            f->inflight -= ss->pl.nsent;
            ae_pipeline_recall(&ss->pl);
            if (ss->ph != PH_NOTE)
                fwd_set_phase(ss, PH_IDLE);
        }
    }
    if (ready) {
        const char *d = ae_uplink_hub_domain(f->up);
        fwd_enter_domain(f, d[0] ? d : f->conf_domain);
    }
    if (ready) {
        for (int i = 0; i < f->nids; i++) {
            if (f->by_id[i])
                fwd_drive(f, f->by_id[i]);
        }
        fwd_pump(f);
    }
}

void fwd_on_writable(void *ctx)
{
    ae_forward *f = ctx;
    if (!f->ready)
        return;
    fwd_send_runnable(f);
    if (!f->cursor_stalled)
        fwd_pump(f);
}

/* The window follows the link: twice the records acked per round trip, so a fast link is
 * kept busy and a slow one does not collect a long queue of publishes it will time out. */
void fwd_adapt_window(ae_forward *f, int64_t now)
{
    if (now - f->last_rate_at < AE_NS_PER_SEC)
        return;
    f->ack_rate =
        (double)(f->acked - f->acked_at_last_tick) * 1e9 / (double)(now - f->last_rate_at);
    f->acked_at_last_tick = f->acked;
    f->last_rate_at = now;
    /* Never below twice the records the link carried per round trip. Nothing acked (an
     * outage, an idle vehicle) says nothing about the link: the window stays as it was, so
     * a backlog after an outage starts at the speed the link had, not from the bottom. */
    unsigned max = (unsigned)f->srv->opts.uplink_max_inflight;
    double bdp = f->ack_rate * (double)f->min_rtt / 1e9;
    unsigned w = (unsigned)(2 * bdp);
    if (f->ack_rate > 0 && w > f->window)
        f->window = w > max ? max : w;
}

/* An ack while the window was full: one more in flight (the window doubles each round trip
 * while the link keeps up, as TCP's slow start). */
static void window_grow(ae_forward *f)
{
    unsigned max = (unsigned)f->srv->opts.uplink_max_inflight;
    if (f->inflight + 1 >= f->window && f->window < max)
        f->window++;
}

/* A reply overdue: the link or the hub is slower than the window assumed. */
static void window_shrink(ae_forward *f)
{
    f->window = f->window / 2 < WINDOW_MIN ? WINDOW_MIN : f->window / 2;
}

void fwd_check_subject(ae_forward *f, fsubj *ss, int64_t now)
{
    switch (ss->ph) {
    case PH_READY: {
        const ae_prec *oldest = ae_pipeline_oldest_sent(&ss->pl);
        int64_t limit = ack_timeout(f);
        if (oldest && now - oldest->sent_at > limit) {
            fwd_error(f,
                      "no PubAck within %.1fs for %s record %" PRIu64
                      " (stream %s): reading the stream back before sending again",
                      (double)limit / 1e9, ss->subject, oldest->seq,
                      ss->stream[0] ? ss->stream : "?");
            window_shrink(f);
            if (f->ack_backoff < ACK_BACKOFF_MAX)
                f->ack_backoff++;
            start_walk(f, ss, false);
        }
        break;
    }
    case PH_FIRST:
    case PH_WALK: {
        ae_walk_status st = ae_walk_tick(&ss->walk, &f->env, now, WALK_TIMEOUT_NS);
        if (st == AE_WALK_DONE)
            walk_done(f, ss);
        else if (st == AE_WALK_FAILED) {
            char why[512];
            snprintf(why, sizeof why, "%s%s", ss->walk.error,
                     ss->walk.probed ? ""
                                     : "; is there a hub stream capturing it? (run `aerie hub "
                                       "init`)");
            back_off(f, ss, why);
        }
        break;
    }
    case PH_REPAIR:
        if (now - ss->phase_since > WALK_TIMEOUT_NS)
            back_off(f, ss, "no answer to the deletes of out-of-order copies");
        break;
    case PH_WAIT:
        if (now >= ss->wait_until) {
            fwd_set_phase(ss, PH_IDLE);
            fwd_drive(f, ss);
        }
        break;
    default:
        break;
    }
}

/* A subject nothing was published on for a while, with everything retired, is forgotten
 * (and leaves the note); it is met again by a first contact. */
void fwd_release_idle(ae_forward *f, fsubj *ss, int64_t now)
{
    if (ss->pl.head || (ss->ph != PH_READY && ss->ph != PH_IDLE) || ss->uncertain ||
        now - ss->last_activity < f->srv->opts.uplink_subject_idle_ns ||
        ss->last_captured > ae_store_ack_floor(f->st))
        return;
    ae_log_debug("forward: %s idle, forgetting it", ss->subject);
    fwd_subject_free(f, ss);
    f->note_dirty = true;
}
