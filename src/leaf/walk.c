/* The probe and the walk; see walk.h. */
#include "leaf/walk.h"
#include "common/random.h"
#include "common/timeutil.h"
#include "leaf/jsapi.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PULL_BATCH   100000
#define PULL_EXPIRES (2 * AE_NS_PER_SEC)

static void api_send(const ae_walk_env *e, const char *api, char kind, int id, uint64_t op,
                     const char *body)
{
    char subj[600], reply[160];
    int sn = snprintf(subj, sizeof subj, "$JS.%s.API.%s", e->domain, api);
    int rn = snprintf(reply, sizeof reply, "%s%c.%d.%" PRIu64, e->inbox, kind, id, op);
    if (sn <= 0 || (size_t)sn >= sizeof subj || rn <= 0 || (size_t)rn >= sizeof reply)
        return;
    e->send(e->ctx, subj, (size_t)sn, reply, (size_t)rn, NULL, 0, body, strlen(body));
}

static void send_probe(ae_walk *w, const ae_walk_env *e)
{
    static const char hdr[] = "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 999999999999999"
                              "\r\nAerie-Probe: 1\r\n\r\n";
    char reply[160];
    int rn = snprintf(reply, sizeof reply, "%sp.%d.%" PRIu64, e->inbox, w->subj_id, w->op);
    e->send(e->ctx, w->subject, w->subject_len, reply, (size_t)rn, hdr, sizeof hdr - 1, NULL, 0);
}

static void send_consumer(ae_walk *w, const ae_walk_env *e)
{
    json_t *cfg =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:I, s:i}", "name", w->consumer,
                  "deliver_policy", w->after ? "by_start_sequence" : "all", "ack_policy", "none",
                  "replay_policy", "instant", "headers_only", 1, "mem_storage", 1, "num_replicas",
                  1, "inactive_threshold", (json_int_t)(2 * AE_NS_PER_SEC), "max_deliver", 1);
    json_object_set_new(cfg, "filter_subject", json_stringn(w->subject, w->subject_len));
    if (w->after)
        json_object_set_new(cfg, "opt_start_seq", json_integer((json_int_t)(w->after + 1)));
    json_t *req = json_pack("{s:s, s:o}", "stream_name", w->stream, "config", cfg);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char api[600];
    int n = snprintf(api, sizeof api, "CONSUMER.CREATE.%s.%s.%.*s", w->stream, w->consumer,
                     (int)w->subject_len, w->subject);
    if (body && n > 0 && (size_t)n < sizeof api)
        api_send(e, api, 'c', w->subj_id, w->op, body);
    free(body);
}

static void send_pull(ae_walk *w, const ae_walk_env *e)
{
    char api[400], body[96];
    snprintf(api, sizeof api, "CONSUMER.MSG.NEXT.%s.%s", w->stream, w->consumer);
    snprintf(body, sizeof body, "{\"batch\":%d,\"expires\":%lld}", PULL_BATCH,
             (long long)PULL_EXPIRES);
    api_send(e, api, 'w', w->subj_id, w->op, body);
    w->pull_open = true;
    w->pulled_at = ae_mono_ns();
}

static void consumer_name(char *out, size_t cap)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[16] = {0};
    if (ae_random_bytes(raw, sizeof raw, NULL) != 0) {
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(ae_mono_ns() >> (i % 8)); /* names need not be secret */
    }
    size_t n = cap - 1 < 18 ? cap - 1 : 18;
    out[0] = 'a';
    out[1] = 'w';
    for (size_t i = 2; i < n; i++)
        out[i] = al[raw[i - 2] % (sizeof al - 1)];
    out[n] = 0;
}

void ae_walk_begin(ae_walk *w, const ae_walk_env *e, int subj_id, const char *subject,
                   size_t subject_len, const char *stream, uint64_t after, bool probe_only,
                   uint64_t op)
{
    ae_stored_ref *found = w->found;
    size_t cap = w->capfound;
    memset(w, 0, sizeof *w);
    w->found = found;
    w->capfound = cap;
    w->subj_id = subj_id;
    w->op = op;
    w->subject = subject;
    w->subject_len = subject_len;
    snprintf(w->stream, sizeof w->stream, "%s", stream ? stream : "");
    w->after = after;
    w->probe_only = probe_only;
    w->began = ae_mono_ns();
    consumer_name(w->consumer, sizeof w->consumer);
    send_probe(w, e);
    if (!w->stream[0]) {
        /* Which stream captures it: the probe's reply says so too, but a hub without such a
         * stream does not reply to the probe at all, and this tells that case apart. */
        json_t *q = json_object();
        json_object_set_new(q, "subject", json_stringn(subject, subject_len));
        char *body = json_dumps(q, JSON_COMPACT);
        json_decref(q);
        if (body)
            api_send(e, "STREAM.NAMES", 'n', subj_id, op, body);
        free(body);
    }
    if (!probe_only && w->stream[0])
        send_consumer(w, e);
}

static ae_walk_status check_done(ae_walk *w)
{
    if (!w->probed)
        return AE_WALK_PENDING;
    if (w->probe_only || w->last <= w->after || w->seen >= w->last)
        return AE_WALK_DONE;
    return AE_WALK_PENDING;
}

static ae_walk_status fail(ae_walk *w, const char *fmt, const char *detail)
{
    snprintf(w->error, sizeof w->error, fmt, detail);
    return AE_WALK_FAILED;
}

static ae_walk_status on_probe(ae_walk *w, const ae_walk_env *e, const ae_op *op)
{
    ae_js_reply r;
    const uint8_t *body = op->payload + op->hdr_len;
    if (!ae_js_reply_parse(op->payload, op->hdr_len, body, op->total_len - op->hdr_len, &r))
        return fail(w, "unreadable answer to the probe: %s", r.desc);
    uint64_t last = 0;
    if (!ae_js_reply_wrong_last_seq(&r, &last)) {
        if (r.ok)
            return fail(w,
                        "the hub stored a probe (stream %s): is the stream's subject "
                        "checking switched off?",
                        r.stream);
        return fail(w, "the hub answered the probe with: %s", r.desc);
    }
    if (r.stream[0] && strcmp(r.stream, w->stream) != 0) {
        bool had = w->stream[0] != 0;
        snprintf(w->stream, sizeof w->stream, "%s", r.stream);
        if (!w->probe_only && !had)
            send_consumer(w, e);
        else if (!w->probe_only)
            return fail(w, "the subject moved to stream %s; walking again", r.stream);
    }
    w->probed = true;
    w->last = last;
    return check_done(w);
}

static ae_walk_status on_consumer(ae_walk *w, const ae_walk_env *e, const ae_op *op)
{
    ae_js_reply r;
    const uint8_t *body = op->payload + op->hdr_len;
    if (!ae_js_reply_parse(op->payload, op->hdr_len, body, op->total_len - op->hdr_len, &r) ||
        !r.ok)
        return fail(w, "the hub did not create the walk's consumer: %s", r.desc);
    w->consumer_ok = true;
    send_pull(w, e);
    return check_done(w);
}

static ae_walk_status on_delivery(ae_walk *w, const ae_walk_env *e, const ae_op *op)
{
    int status = ae_hdr_status(op->payload, op->hdr_len);
    if (status) {
        /* 408 (the pull expired), 404, 409: this pull is over. Pull again if the probe's
         * answer is still ahead (a consumer on a follower that is catching up). */
        w->pull_open = false;
        ae_walk_status st = check_done(w);
        if (st == AE_WALK_PENDING && w->consumer_ok && status != 409)
            send_pull(w, e);
        return st;
    }
    ae_js_delivery d;
    if (!ae_js_delivery_parse(op->reply.ptr, op->reply.len, &d))
        return check_done(w);
    if (d.stream_seq > w->seen)
        w->seen = d.stream_seq;
    if (d.stream_seq > w->last_any)
        w->last_any = d.stream_seq;
    const char *id;
    size_t idl;
    uint64_t seq = 0;
    uint32_t inc = 0;
    ae_msgid_verdict v = ae_hdr_get(op->payload, op->hdr_len, "Nats-Msg-Id", &id, &idl)
                             ? ae_msgid_parse(e->key, id, idl, &seq, &inc)
                             : AE_MSGID_FOREIGN;
    if (v == AE_MSGID_OURS) {
        if (w->nfound == w->capfound) {
            size_t ncap = w->capfound ? w->capfound * 2 : 64;
            ae_stored_ref *n = realloc(w->found, ncap * sizeof *n);
            if (!n)
                return fail(w, "%s", "out of memory reading the walk");
            w->found = n;
            w->capfound = ncap;
        }
        w->found[w->nfound++] = (ae_stored_ref){.seq = seq, .sseq = d.stream_seq, .inc = inc};
    } else if (v == AE_MSGID_FORGED) {
        w->forged++;
    } else {
        w->foreign++;
    }
    return check_done(w);
}

static ae_walk_status on_names(ae_walk *w, const ae_walk_env *e, const ae_op *op)
{
    const char *body = (const char *)op->payload + op->hdr_len;
    json_t *j = json_loadb(body, op->total_len - op->hdr_len, 0, NULL);
    const char *name = json_string_value(json_array_get(json_object_get(j, "streams"), 0));
    bool listed = json_is_object(j) && !json_object_get(j, "error");
    ae_walk_status st = check_done(w);
    if (name && !w->stream[0]) {
        snprintf(w->stream, sizeof w->stream, "%s", name);
        if (!w->probe_only)
            send_consumer(w, e);
    } else if (!name && listed && st == AE_WALK_PENDING) {
        st = fail(w, "%s",
                  "no hub stream captures the subject (run `aerie hub init`, or add "
                  "the subject to a stream)");
    }
    json_decref(j);
    return st;
}

ae_walk_status ae_walk_reply(ae_walk *w, const ae_walk_env *e, char kind, const ae_op *op)
{
    switch (kind) {
    case 'n':
        return on_names(w, e, op);
    case 'p':
        return on_probe(w, e, op);
    case 'c':
        return on_consumer(w, e, op);
    case 'w':
        return on_delivery(w, e, op);
    default:
        return check_done(w);
    }
}

ae_walk_status ae_walk_tick(ae_walk *w, const ae_walk_env *e, int64_t now, int64_t timeout_ns)
{
    ae_walk_status st = check_done(w);
    if (st != AE_WALK_PENDING)
        return st;
    if (now - w->began > timeout_ns) {
        if (!w->probed)
            return fail(w, "%s",
                        "no answer to the probe (no stream captures the subject, or "
                        "the stream has no leader)");
        if (!w->consumer_ok)
            return fail(w, "%s", "no answer to the walk's consumer create");
        return fail(w, "%s", "the walk did not reach the stream's newest message in time");
    }
    if (w->consumer_ok && w->pull_open && now - w->pulled_at > PULL_EXPIRES + AE_NS_PER_SEC)
        send_pull(w, e); /* the expiry status was lost with a connection */
    return AE_WALK_PENDING;
}

void ae_walk_free(ae_walk *w)
{
    free(w->found);
    w->found = NULL;
    w->nfound = w->capfound = 0;
}

void ae_walk_send_delete(const ae_walk_env *e, const char *stream, int subj_id, uint64_t op,
                         unsigned k, uint64_t sseq)
{
    char api[300], body[96], reply[160], subj[400];
    snprintf(api, sizeof api, "STREAM.MSG.DELETE.%s", stream);
    snprintf(body, sizeof body, "{\"seq\":%" PRIu64 ",\"no_erase\":true}", sseq);
    int sn = snprintf(subj, sizeof subj, "$JS.%s.API.%s", e->domain, api);
    int rn = snprintf(reply, sizeof reply, "%sd.%d.%" PRIu64 ".%u", e->inbox, subj_id, op, k);
    if (sn > 0 && (size_t)sn < sizeof subj && rn > 0 && (size_t)rn < sizeof reply)
        e->send(e->ctx, subj, (size_t)sn, reply, (size_t)rn, NULL, 0, body, strlen(body));
}
