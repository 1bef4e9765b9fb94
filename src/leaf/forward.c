/* The durable forwarder; see forward.h.
 *
 * Sections: capture (the broker hands us local messages on uplink subjects); the pump (read
 * the log, one publish in flight per subject, flow control); acks and timeouts; the resync
 * after a (re)connect (which stream holds the subject, and the Nats-Msg-Id of the newest
 * message it stored); status. Works with store/store.h and uplink.h. */
#include "leaf/forward.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "leaf/subject.h"
#include "leaf/uplink.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELD_LIMIT        (4 * 1024 * 1024) /* bytes of records read ahead while their subject waits */
#define QUEUE_LIMIT       (256 * 1024)      /* bytes queued on the uplink before we stop reading */
#define RESYNC_TIMEOUT_NS (3 * AE_NS_PER_SEC)
#define LIVE_BACKLOG_MIN  64 /* records waiting before live copies are worth sending */

/* A record copied out of the log while its subject has a publish in flight. */
typedef struct held_rec {
    struct held_rec *next;
    uint64_t seq;
    int64_t time_ns;
    size_t hdr_len, payload_len;
    uint8_t data[]; /* hdr then payload */
} held_rec;

typedef enum subj_phase {
    SUBJ_UNKNOWN,   /* not checked against the hub since the last (re)connect */
    SUBJ_RESYNCING, /* waiting for the stream name / the last stored message */
    SUBJ_READY,
} subj_phase;

typedef struct subj_state {
    char *subject;
    size_t len;
    int id; /* index for inbox reply subjects */
    subj_phase phase;
    int64_t phase_since;
    char stream[128];  /* the hub stream that captures it, learned from acks or a lookup */
    uint64_t hub_last; /* our seq of the newest message the hub holds (this epoch), or 0 */
    int ninflight;     /* publishes of this subject awaiting a PubAck */
    int64_t sent_at;   /* when the subject last made progress (a send from idle, an ack) */
    uint32_t gen;      /* bumped by every rewind; acks of older sends only retire records */
    int64_t live_sent; /* monotonic ns of the last live copy */
    held_rec *head, *tail;
} subj_state;

struct ae_forward {
    ae_server *srv;
    ae_uplink *up;
    ae_store *st;
    ae_store_cursor *cur;
    ae_io notify;
    ae_timer tick;
    char vid[128];
    char hub_domain[64];
    char prefix[64]; /* the uplink's inbox prefix */
    bool ready;
    bool cursor_stalled; /* the cursor caught up (AE_EAGAIN) */
    ae_hmap subjects;    /* subject -> subj_state */
    subj_state **by_id;
    int nids, capids;
    size_t held_bytes;
    uint64_t inflight;
    int window; /* publishes in flight per subject (uplink.max_inflight_per_subject) */
    uint64_t last_durable;
    /* statistics */
    uint64_t captured, forwarded, acked, duplicates, resent, skipped_stored, hub_errors;
    uint64_t capture_errors;
    uint64_t live_copies;
    uint64_t acked_at_last_tick;
    double ack_rate;
    int64_t last_rate_at;
    char last_error[256];
};

static void pump(ae_forward *f);

static void fwd_error(ae_forward *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fwd_error(ae_forward *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->last_error, sizeof f->last_error, fmt, ap);
    va_end(ap);
    ae_log_warn("forward: %s", f->last_error);
}

static subj_state *subject_state(ae_forward *f, const char *s, size_t n)
{
    subj_state *ss = ae_hmap_get(&f->subjects, s, n);
    if (ss)
        return ss;
    ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->subject = strndup(s, n);
    ss->len = n;
    if (f->nids == f->capids) {
        int ncap = f->capids ? f->capids * 2 : 16;
        subj_state **nb = realloc(f->by_id, (size_t)ncap * sizeof *nb);
        if (!nb) {
            free(ss->subject);
            free(ss);
            return NULL;
        }
        f->by_id = nb;
        f->capids = ncap;
    }
    ss->id = f->nids;
    f->by_id[f->nids++] = ss;
    ae_hmap_put(&f->subjects, ss->subject, ss->len, ss);
    return ss;
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

static void send_live_copy(ae_forward *f, const ae_msg *m, uint64_t seq)
{
    if (!f->ready || !f->srv->opts.uplink_live)
        return;
    /* Only while a real backlog is ahead of this record: in steady state a few records are
     * always waiting for their PubAck, and copying those would only double the traffic. */
    uint64_t floor = ae_store_ack_floor(f->st);
    if (seq <= floor + LIVE_BACKLOG_MIN + (uint64_t)f->inflight)
        return;
    subj_state *ss = subject_state(f, m->subject.ptr, m->subject.len);
    int64_t now = ae_mono_ns();
    if (!ss || now - ss->live_sent < AE_NS_PER_SEC)
        return;
    ss->live_sent = now;
    char subj[1024], hdr[256], ts[48];
    size_t sl = live_subject(m->subject.ptr, m->subject.len, subj, sizeof subj);
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
    if (!ae_uplink_is_durable_subject(f->up, m->subject.ptr, m->subject.len))
        return 0;
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
    send_live_copy(f, m, seq);
    return seq;
}

static bool hook_is_durable(void *ctx, uint64_t seq)
{
    ae_forward *f = ctx;
    return ae_store_durable_seq(f->st) >= seq || ae_store_failed(f->st);
}

/* ---- the pump --------------------------------------------------------------------------- */

/* Builds the header block: ours first, then the publisher's own headers. */
static size_t build_headers(ae_forward *f, uint64_t seq, int64_t time_ns, const uint8_t *orig,
                            size_t orig_len, char *out, size_t cap)
{
    char id[160], ts[48];
    ae_store_msg_id(f->st, f->vid, seq, id, sizeof id);
    ae_format_rfc3339(time_ns, ts, sizeof ts);
    int n = snprintf(out, cap, "NATS/1.0\r\nNats-Msg-Id: %s\r\nAerie-Event-Time: %s\r\n", id, ts);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    if (orig_len > 12) {
        /* skip the publisher's version line, keep its header lines and the closing CRLF */
        const uint8_t *eol = memchr(orig, '\n', orig_len);
        if (eol) {
            size_t rest = orig_len - (size_t)(eol + 1 - orig);
            if (len + rest < cap) {
                memcpy(out + len, eol + 1, rest);
                return len + rest;
            }
        }
    }
    if (len + 2 >= cap)
        return 0;
    memcpy(out + len, "\r\n", 2);
    return len + 2;
}

static void send_record(ae_forward *f, subj_state *ss, uint64_t seq, int64_t time_ns,
                        const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
                        size_t payload_len)
{
    char headers[8192];
    size_t hl = build_headers(f, seq, time_ns, hdr, hdr_len, headers, sizeof headers);
    char reply[128];
    int rn = snprintf(reply, sizeof reply, "%sa.%d.%u.%llu", f->prefix, ss->id, ss->gen,
                      (unsigned long long)seq);
    int rc = ae_uplink_publish(f->up, ss->subject, ss->len, reply, (size_t)rn, headers, hl, payload,
                               payload_len);
    if (rc == AE_ELIMIT) {
        /* Larger than the hub accepts: it can never be delivered. Count it and move on. */
        fwd_error(f, "record %llu on %s is larger than the hub's max_payload: discarded",
                  (unsigned long long)seq, ss->subject);
        ae_store_ack(f->st, seq, NULL);
        return;
    }
    if (rc != 0)
        return; /* the link went down: the resync after reconnect sends it again */
    if (ss->ninflight++ == 0)
        ss->sent_at = ae_mono_ns();
    f->inflight++;
    f->forwarded++;
}

static void hold(ae_forward *f, subj_state *ss, const ae_store_rec *r)
{
    held_rec *h = malloc(sizeof *h + r->hdr_len + r->payload_len);
    if (!h)
        return; /* not lost: a rewind reads it from the log again */
    h->next = NULL;
    h->seq = r->seq;
    h->time_ns = r->time_ns;
    h->hdr_len = r->hdr_len;
    h->payload_len = r->payload_len;
    memcpy(h->data, r->hdr, r->hdr_len);
    memcpy(h->data + r->hdr_len, r->payload, r->payload_len);
    if (ss->tail)
        ss->tail->next = h;
    else
        ss->head = h;
    ss->tail = h;
    f->held_bytes += sizeof *h + r->hdr_len + r->payload_len;
}

static void start_resync(ae_forward *f, subj_state *ss);

/* Sends the next held record of a subject whose publish was just acked. */
static void advance_subject(ae_forward *f, subj_state *ss)
{
    while (ss->phase == SUBJ_READY && ss->ninflight < f->window && ss->head) {
        held_rec *h = ss->head;
        ss->head = h->next;
        if (!ss->head)
            ss->tail = NULL;
        f->held_bytes -= sizeof *h + h->hdr_len + h->payload_len;
        if (ae_store_is_acked(f->st, h->seq) || h->seq <= ss->hub_last) {
            if (!ae_store_is_acked(f->st, h->seq)) {
                ae_store_ack(f->st, h->seq, NULL);
                f->skipped_stored++;
            }
            free(h);
            continue;
        }
        send_record(f, ss, h->seq, h->time_ns, h->data, h->hdr_len, h->data + h->hdr_len,
                    h->payload_len);
        free(h);
    }
}

static void pump(ae_forward *f)
{
    if (!f->ready)
        return;
    int budget = 4096; /* records per call, so the loop stays responsive */
    while (budget-- > 0 && f->held_bytes < HELD_LIMIT &&
           (int)f->inflight < f->srv->opts.uplink_max_inflight &&
           ae_uplink_queued(f->up) < QUEUE_LIMIT) {
        ae_store_rec r;
        ae_err err = {0};
        int rc = ae_store_cursor_next(f->cur, &r, &err);
        if (rc == AE_EAGAIN) {
            f->cursor_stalled = true;
            return;
        }
        if (rc != 0) {
            fwd_error(f, "reading the log: %s", err.msg);
            return;
        }
        f->cursor_stalled = false;
        subj_state *ss = subject_state(f, r.subject, r.subject_len);
        if (!ss)
            return;
        if (ss->phase == SUBJ_UNKNOWN)
            start_resync(f, ss);
        if (ss->phase != SUBJ_READY || ss->ninflight >= f->window || ss->head) {
            hold(f, ss, &r);
            continue;
        }
        if (r.seq <= ss->hub_last) {
            ae_store_ack(f->st, r.seq, NULL);
            f->skipped_stored++;
            continue;
        }
        send_record(f, ss, r.seq, r.time_ns, r.hdr, r.hdr_len, r.payload, r.payload_len);
    }
}

/* Forgets everything in flight and reads the log again from the oldest unacked record. */
static void rewind_all(ae_forward *f, bool reset_phase)
{
    for (int i = 0; i < f->nids; i++) {
        subj_state *ss = f->by_id[i];
        held_rec *h = ss->head;
        while (h) {
            held_rec *n = h->next;
            free(h);
            h = n;
        }
        ss->head = ss->tail = NULL;
        ss->ninflight = 0;
        ss->gen++;
        if (reset_phase)
            ss->phase = SUBJ_UNKNOWN;
    }
    f->held_bytes = 0;
    f->inflight = 0;
    ae_store_cursor_seek(f->cur, ae_store_ack_floor(f->st) + 1);
}

/* ---- resync ---------------------------------------------------------------------------- */

static void send_api(ae_forward *f, subj_state *ss, char kind, const char *api, const char *body)
{
    char subj[512], reply[128];
    int sn = snprintf(subj, sizeof subj, "$JS.%s.API.%s", f->hub_domain, api);
    int rn = snprintf(reply, sizeof reply, "%s%c.%d", f->prefix, kind, ss->id);
    if (sn <= 0 || (size_t)sn >= sizeof subj)
        return;
    ae_uplink_publish(f->up, subj, (size_t)sn, reply, (size_t)rn, NULL, 0, body, strlen(body));
}

static void ask_last(ae_forward *f, subj_state *ss)
{
    char api[400];
    snprintf(api, sizeof api, "DIRECT.GET.%s.%s", ss->stream, ss->subject);
    send_api(f, ss, 'g', api, "");
}

static void start_resync(ae_forward *f, subj_state *ss)
{
    ss->phase = SUBJ_RESYNCING;
    ss->phase_since = ae_mono_ns();
    ss->hub_last = 0;
    if (ss->stream[0]) {
        ask_last(f, ss);
    } else {
        char body[600];
        json_t *j = json_pack("{s:s}", "subject", ss->subject);
        char *js = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        snprintf(body, sizeof body, "%s", js ? js : "{}");
        free(js);
        send_api(f, ss, 'n', "STREAM.NAMES", body);
    }
}

static void resync_done(ae_forward *f, subj_state *ss)
{
    ae_log_debug("forward: %s: the hub holds up to our seq %llu (stream %s)", ss->subject,
                 (unsigned long long)ss->hub_last, ss->stream[0] ? ss->stream : "?");
    ss->phase = SUBJ_READY;
    advance_subject(f, ss);
}

/* Reads our seq out of the header "Nats-Msg-Id: <vid>.<epoch hex>.<seq>" when it is ours. */
static uint64_t our_seq_from_headers(ae_forward *f, const char *h, size_t n)
{
    const char *key = "Nats-Msg-Id:";
    const char *p = memmem(h, n, key, strlen(key));
    if (!p)
        return 0;
    p += strlen(key);
    while (p < h + n && *p == ' ')
        p++;
    const char *e = memchr(p, '\r', (size_t)(h + n - p));
    if (!e)
        return 0;
    char id[200];
    snprintf(id, sizeof id, "%.*s", (int)(e - p), p);
    char mine[200];
    int ml = ae_store_msg_id(f->st, f->vid, 0, mine, sizeof mine);
    if (ml <= 1)
        return 0;
    /* compare "<vid>.<epoch>." */
    size_t prefix_len = (size_t)ml - 1; /* mine ends with "0" */
    if (strncmp(id, mine, prefix_len) != 0)
        return 0;
    return strtoull(id + prefix_len, NULL, 10);
}

static void on_names_reply(ae_forward *f, subj_state *ss, const ae_op *op)
{
    json_t *j =
        json_loadb((const char *)op->payload + op->hdr_len, op->total_len - op->hdr_len, 0, NULL);
    json_t *streams = json_object_get(j, "streams");
    const char *name = json_string_value(json_array_get(streams, 0));
    if (name) {
        snprintf(ss->stream, sizeof ss->stream, "%s", name);
        ask_last(f, ss);
    } else {
        fwd_error(f,
                  "no hub stream captures %s: publishing anyway (the hub will not ack until "
                  "a stream exists; run `aerie hub init`)",
                  ss->subject);
        resync_done(f, ss);
    }
    json_decref(j);
}

static void on_last_reply(ae_forward *f, subj_state *ss, const ae_op *op)
{
    const char *h = (const char *)op->payload;
    size_t hl = op->hdr_len;
    if (hl >= 12 && !memcmp(h, "NATS/1.0 ", 9)) {
        /* a status: 404 (nothing stored, or it aged out) or 408 */
        ss->hub_last = 0;
    } else {
        ss->hub_last = our_seq_from_headers(f, h, hl);
    }
    resync_done(f, ss);
}

/* ---- acks ------------------------------------------------------------------------------ */

static void on_ack(ae_forward *f, subj_state *ss, uint32_t gen, uint64_t seq, const ae_op *op)
{
    const char *body = (const char *)op->payload + op->hdr_len;
    size_t blen = op->total_len - op->hdr_len;
    json_t *j = blen ? json_loadb(body, blen, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    if (!j || e || !json_object_get(j, "seq")) {
        /* Not stored (JetStream not ready, no stream, a status reply): the record stays in
         * flight, and the ack timeout resends it in order with everything after it. */
        f->hub_errors++;
        if (e)
            fwd_error(f, "the hub refused %s seq %llu: %s", ss->subject, (unsigned long long)seq,
                      json_string_value(json_object_get(e, "description")));
        else
            fwd_error(f, "unexpected reply to the publish of %s seq %llu: %.*s", ss->subject,
                      (unsigned long long)seq, (int)(op->total_len > 80 ? 80 : op->total_len),
                      (const char *)op->payload);
        json_decref(j);
        return;
    }
    const char *stream = json_string_value(json_object_get(j, "stream"));
    if (stream)
        snprintf(ss->stream, sizeof ss->stream, "%s", stream);
    if (json_is_true(json_object_get(j, "duplicate")))
        f->duplicates++;
    if (ae_store_ack(f->st, seq, NULL) == 0)
        f->acked++;
    json_decref(j);
    if (gen == ss->gen && ss->ninflight > 0) {
        ss->ninflight--;
        f->inflight--;
        ss->sent_at = ae_mono_ns();
        advance_subject(f, ss);
    }
    pump(f);
}

static void on_inbox(void *ctx, const ae_op *op)
{
    ae_forward *f = ctx;
    size_t pl = strlen(f->prefix);
    if (op->subject.len < pl + 3)
        return;
    char rest[128];
    snprintf(rest, sizeof rest, "%.*s", (int)(op->subject.len - pl), op->subject.ptr + pl);
    char kind = rest[0];
    char *end;
    long id = strtol(rest + 2, &end, 10);
    if (id < 0 || id >= f->nids)
        return;
    subj_state *ss = f->by_id[id];
    if (kind == 'a' && *end == '.') {
        char *end2;
        unsigned long gen = strtoul(end + 1, &end2, 10);
        if (*end2 == '.')
            on_ack(f, ss, (uint32_t)gen, strtoull(end2 + 1, NULL, 10), op);
    } else if (kind == 'n' && ss->phase == SUBJ_RESYNCING) {
        on_names_reply(f, ss, op);
        pump(f);
    } else if (kind == 'g' && ss->phase == SUBJ_RESYNCING) {
        on_last_reply(f, ss, op);
        pump(f);
    }
}

static void on_ready(void *ctx, bool ready)
{
    ae_forward *f = ctx;
    f->ready = ready;
    rewind_all(f, true);
    if (ready)
        pump(f);
}

static void on_writable(void *ctx)
{
    ae_forward *f = ctx;
    if (f->ready && (!f->cursor_stalled || f->inflight == 0))
        pump(f);
}

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
        pump(f);
    }
}

static void on_tick(ae_loop *loop, ae_timer *t)
{
    ae_forward *f = t->ctx;
    int64_t now = ae_mono_ns();
    ae_err err = {0};
    if (ae_store_tick(f->st, ae_now_ns(), &err) != 0)
        fwd_error(f, "log maintenance: %s", err.msg);
    if (f->ready) {
        subj_state *late = NULL; /* the first subject whose PubAck is overdue */
        for (int i = 0; i < f->nids; i++) {
            subj_state *ss = f->by_id[i];
            if (ss->ninflight && now - ss->sent_at > f->srv->opts.uplink_ack_timeout_ns && !late)
                late = ss;
            if (ss->phase == SUBJ_RESYNCING && now - ss->phase_since > RESYNC_TIMEOUT_NS) {
                /* No answer (no direct get on that stream?): rely on the duplicate window. */
                fwd_error(f, "no answer from the hub about %s: resending with dedup only",
                          ss->subject);
                resync_done(f, ss);
            }
        }
        if (late) {
            /* A publish was lost (leader change, a dropped link): resend in order from the
             * oldest unacked record; the hub's dedup absorbs what did arrive. When no stream
             * is known for the subject, say so again: that is why nothing is acked, and the
             * operator needs that cause, not only the symptom. */
            f->resent++;
            double secs = (double)f->srv->opts.uplink_ack_timeout_ns / 1e9;
            if (!late->stream[0])
                fwd_error(f,
                          "no PubAck within %.1fs for %s: no hub stream captures it (run "
                          "`aerie hub init`); resending from the oldest unacked record",
                          secs, late->subject);
            else
                fwd_error(f,
                          "no PubAck within %.1fs for %s (stream %s): resending from the oldest "
                          "unacked record",
                          secs, late->subject, late->stream);
            rewind_all(f, false);
        }
        pump(f);
    }
    if (now - f->last_rate_at >= AE_NS_PER_SEC) {
        f->ack_rate =
            (double)(f->acked - f->acked_at_last_tick) * 1e9 / (double)(now - f->last_rate_at);
        f->acked_at_last_tick = f->acked;
        f->last_rate_at = now;
    }
    ae_loop_timer_start(loop, t, 250 * AE_NS_PER_MS);
}

/* ---- status ---------------------------------------------------------------------------- */

static void status(void *ctx, json_t *j)
{
    ae_forward *f = ctx;
    ae_store_stats st;
    ae_store_stats_get(f->st, &st);
    json_object_set_new(j, "backlog_msgs", json_integer((json_int_t)st.records));
    json_object_set_new(j, "backlog_bytes", json_integer((json_int_t)st.bytes));
    double age = st.oldest_time_ns ? (double)(ae_now_ns() - st.oldest_time_ns) / 1e9 : 0;
    json_object_set_new(j, "backlog_oldest_s", json_real(age));
    json_object_set_new(j, "forward_rate", json_real(f->ack_rate));
    json_object_set_new(j, "captured", json_integer((json_int_t)f->captured));
    json_object_set_new(j, "acked", json_integer((json_int_t)f->acked));
    json_object_set_new(j, "duplicates", json_integer((json_int_t)f->duplicates));
    json_object_set_new(j, "skipped_stored", json_integer((json_int_t)f->skipped_stored));
    json_object_set_new(j, "resends", json_integer((json_int_t)f->resent));
    json_object_set_new(j, "discarded_msgs", json_integer((json_int_t)st.discarded_records));
    json_object_set_new(j, "discarded_bytes", json_integer((json_int_t)st.discarded_bytes));
    json_object_set_new(j, "lost_msgs", json_integer((json_int_t)st.lost_records));
    json_object_set_new(j, "capture_errors", json_integer((json_int_t)f->capture_errors));
    json_object_set_new(j, "live_copies", json_integer((json_int_t)f->live_copies));
    json_object_set_new(j, "store_failed", json_boolean(st.failed != 0));
    if (f->last_error[0])
        json_object_set_new(j, "last_hub_error", json_string(f->last_error));
}

/* ---- lifecycle ------------------------------------------------------------------------- */

int ae_forward_start(ae_server *s, ae_err *err)
{
    const ae_opts *o = &s->opts;
    if (!s->uplink)
        return ae_err_set(err, AE_EINVAL, "uplink subjects need a leafnodes remote");
    ae_forward *f = calloc(1, sizeof *f);
    if (!f)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    f->srv = s;
    f->up = s->uplink;
    f->window = o->uplink_window > 0 ? o->uplink_window : 1;
    ae_store_opts so;
    ae_store_opts_default(&so);
    so.sync = o->sync_mode == AE_OPT_SYNC_ALWAYS     ? AE_SYNC_ALWAYS
              : o->sync_mode == AE_OPT_SYNC_INTERVAL ? AE_SYNC_INTERVAL
                                                     : AE_SYNC_NEVER;
    so.sync_interval_ns = o->sync_interval_ns;
    so.max_bytes = (uint64_t)o->store_max_bytes;
    so.max_age_ns = o->store_max_age_ns;
    if (ae_store_open(o->store_dir, &so, &f->st, err) != 0) {
        free(f);
        return err ? err->code : AE_EIO;
    }
    if (ae_store_cursor_new(f->st, &f->cur, err) != 0) {
        ae_store_close(f->st, NULL);
        free(f);
        return AE_ENOMEM;
    }
    snprintf(f->vid, sizeof f->vid, "%s", o->vid ? o->vid : s->server_name);
    snprintf(f->hub_domain, sizeof f->hub_domain, "%s", o->hub_domain ? o->hub_domain : "hub");
    snprintf(f->prefix, sizeof f->prefix, "%s", ae_uplink_inbox_prefix(f->up));
    f->last_durable = ae_store_durable_seq(f->st);
    f->notify = (ae_io){.fd = ae_store_notify_fd(f->st), .cb = on_notify, .ctx = f};
    ae_loop_add(s->loop, &f->notify, AE_IO_READ);
    f->tick = (ae_timer){.cb = on_tick, .ctx = f};
    f->last_rate_at = ae_mono_ns();
    ae_loop_timer_start(s->loop, &f->tick, 250 * AE_NS_PER_MS);
    ae_uplink_client uc = {.ctx = f,
                           .on_ready = on_ready,
                           .on_inbox = on_inbox,
                           .on_writable = on_writable,
                           .status = status};
    ae_uplink_set_client(f->up, &uc);
    s->durable_hooks.ctx = f;
    s->durable_hooks.capture = hook_capture;
    s->durable_hooks.is_durable = hook_is_durable;
    s->forward = f;
    ae_store_stats st;
    ae_store_stats_get(f->st, &st);
    ae_log_info("store: %s: %llu records waiting for the hub (seq %llu..%llu), %llu recovered, "
                "%llu bytes dropped in recovery",
                o->store_dir, (unsigned long long)st.records, (unsigned long long)st.first_seq,
                (unsigned long long)st.last_seq, (unsigned long long)st.recovered_records,
                (unsigned long long)st.recovery_dropped_bytes);
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
    rewind_all(f, true);
    ae_loop_del(s->loop, &f->notify);
    ae_loop_timer_stop(s->loop, &f->tick);
    ae_store_cursor_free(f->cur);
    ae_err err = {0};
    if (ae_store_close(f->st, &err) != 0)
        ae_log_error("store: closing: %s", err.msg);
    for (int i = 0; i < f->nids; i++) {
        free(f->by_id[i]->subject);
        free(f->by_id[i]);
    }
    free(f->by_id);
    ae_hmap_free(&f->subjects);
    memset(&s->durable_hooks, 0, sizeof s->durable_hooks);
    s->forward = NULL;
    free(f);
}
