/* `aerie replay`: history of one vehicle by event-time window.
 *
 * Plan of a run:
 *  1. List the vehicle's subjects matching the filter in TWIN_STATE, TWIN_EVENTS and
 *     FLEET_LINK (stream info with subjects_filter: the server's index, one request each)
 *     and note each stream's last sequence: the replay covers what was stored when it began.
 *  2. Per subject, binary-search the first message whose event time is inside the window
 *     (replay_search.c; direct get {seq, next_by_subj}), O(log N) requests per subject. Late
 *     data is found like any other, because per subject stream order is event-time order.
 *  3. Walk each subject forward and merge the subjects by event time (ties by stream
 *     sequence), stopping a subject at its first message at or past --end. The walk is a
 *     push consumer on that one subject from the found start (the server streams it: an
 *     hour of a 10 Hz subject, 36,000 messages, in about 1.3 s, bench/bench_replay.c) for
 *     the hub's own streams; a short rest of a subject (a few dozen sequences), another
 *     region's copy, or the rest after a gap in the deliveries is walked with direct gets
 *     {seq, next_by_subj}, one round trip per message.
 *  4. Print JSON lines or CSV to stdout, progress to stderr once a run takes more than a
 *     second, and with --republish publish each message to PREFIX.<subject> paced by its
 *     event time divided by --speed.
 *
 * Event time is the Aerie-Event-Time header the vehicle leaf stamps, falling back to the
 * hub's store time (Nats-Time-Stamp) for messages without it. */
#include "cli/cmd_replay.h"
#include "cli/copies.h"
#include "cli/replay_search.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool ae_subject_matches(const char *pattern, const char *subject)
{
    const char *p = pattern, *s = subject;
    for (;;) {
        const char *pe = strchr(p, '.'), *se = strchr(s, '.');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        size_t sl = se ? (size_t)(se - s) : strlen(s);
        if (pl == 1 && p[0] == '>')
            return sl > 0;
        if (!(pl == 1 && p[0] == '*') && (pl != sl || strncmp(p, s, pl) != 0))
            return false;
        if (!pe || !se)
            return !pe && !se;
        p = pe + 1;
        s = se + 1;
    }
}

/* One subject being replayed. */
typedef struct cursor {
    ae_cli *c;
    ae_read_src src; /* the copy it reads */
    const char *stream;
    char *subject;
    uint64_t hi;  /* last stream sequence at the start of the run */
    natsMsg *cur; /* current message, or NULL when done */
    uint64_t seq;
    int64_t event_ns;
    /* The consumer streaming the rest of the subject, or NULL (direct gets). */
    natsSubscription *sub;
    char *consumer;     /* its name */
    uint64_t delivered; /* consumer sequence of the last delivery */
    bool drained;       /* the consumer delivered the last message the stream had */
} cursor;

/* Subjects with fewer sequences than this left are walked with direct gets: a consumer
 * costs a few round trips to set up. */
#define STREAM_MIN_SEQS 64

static void stream_stop(cursor *k);

static int src_next_at(void *ctx, uint64_t seq, ae_replay_hit *out, ae_err *err)
{
    cursor *k = ctx;
    natsMsg *m = NULL;
    int rc = ae_cli_direct_get_at(k->c, &k->src, seq, k->subject, NULL, &m, err);
    if (rc)
        return rc;
    out->seq = ae_cli_msg_seq(m);
    out->event_ns = ae_cli_msg_event_ns(m);
    out->msg = m;
    if (out->seq == 0) {
        natsMsg_Destroy(m);
        return ae_err_set(err, AE_EPROTO, "direct get reply on %s lacks Nats-Sequence",
                          k->src.stream);
    }
    return 0;
}

static void src_release(void *ctx, void *msg)
{
    (void)ctx;
    natsMsg_Destroy(msg);
}

/* Starts a push consumer on the cursor's subject from the sequence after its current
 * message, delivering to an inbox of ours: ephemeral, in memory, one replica, no acks, no
 * flow control, gone 30 s after we stop reading (and deleted when we are done). Plain on
 * purpose: the server sends as fast as it can, and the cursor checks every delivery's
 * consumer sequence; a gap (the server dropped messages for a slow reader) sends the cursor
 * back to direct gets from where it is. Returns 0 or an AE_E* with a message. */
static int stream_from(cursor *k, ae_err *err)
{
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&k->sub, k->c->nc, inbox);
    if (s == NATS_OK) /* the whole rest may be buffered: replay reads it all anyway */
        s = natsSubscription_SetPendingLimits(k->sub, -1, 256 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsConnection_Flush(k->c->nc); /* subscribed before the first delivery */
    if (s != NATS_OK) {
        natsInbox_Destroy(inbox);
        return ae_err_set(err, AE_EIO, "cannot subscribe to stream %s: %s", k->subject,
                          natsStatus_GetText(s));
    }
    json_t *cfg =
        json_pack("{s:s, s:{s:s, s:s, s:I, s:s, s:s, s:I, s:i, s:b}}", "stream_name", k->src.stream,
                  "config", "deliver_subject", inbox, "deliver_policy", "by_start_sequence",
                  "opt_start_seq", (json_int_t)(k->seq + 1), "ack_policy", "none", "filter_subject",
                  k->subject, "inactive_threshold", (json_int_t)(30 * AE_NS_PER_SEC),
                  "num_replicas", 1, "mem_storage", 1);
    natsInbox_Destroy(inbox);
    char *body = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    json_decref(cfg);
    char api[AE_IDENT_MAX + 32];
    snprintf(api, sizeof api, "CONSUMER.CREATE.%s", k->src.stream);
    json_t *resp = NULL;
    int rc = body ? ae_cli_api_at(k->c, k->src.api, api, body, &resp, err)
                  : ae_err_set(err, AE_ENOMEM, "out of memory");
    free(body);
    const char *name = json_string_value(json_object_get(resp, "name"));
    if (rc == 0 && name)
        k->consumer = strdup(name);
    /* Nothing of the subject after the cursor (a slow subject whose one message in the
     * window was found by the search): the consumer would never deliver and the cursor would
     * wait out the timeout for it; a direct get says at once whether there is more. */
    json_t *pending = json_object_get(resp, "num_pending");
    bool nothing_pending = json_is_integer(pending) && json_integer_value(pending) == 0;
    json_decref(resp);
    if (rc == 0 && !k->consumer)
        rc =
            ae_err_set(err, AE_EPROTO, "CONSUMER.CREATE.%s answered without a name", k->src.stream);
    if (rc) {
        natsSubscription_Destroy(k->sub);
        k->sub = NULL;
    } else if (nothing_pending) {
        stream_stop(k);
    }
    return rc;
}

/* Ends the cursor's consumer, if it has one: unsubscribes and deletes it (its inactivity
 * threshold removes it anyway when the delete does not get through). */
static void stream_stop(cursor *k)
{
    if (!k->sub)
        return;
    natsSubscription_Destroy(k->sub);
    k->sub = NULL;
    char api[2 * AE_IDENT_MAX + 64];
    snprintf(api, sizeof api, "CONSUMER.DELETE.%s.%s", k->src.stream, k->consumer);
    json_t *resp = NULL;
    ae_err e = {0};
    if (ae_cli_api_at(k->c, k->src.api, api, NULL, &resp, &e) == 0)
        json_decref(resp);
    free(k->consumer);
    k->consumer = NULL;
}

/* The next message of the cursor's consumer into *h: 0; AE_ENOENT when the subject has no
 * more (the previous one was the stream's last); AE_EAGAIN when the stream has a gap or the
 * consumer delivered nothing within the timeout (the caller goes on with direct gets);
 * AE_EIO / AE_EPROTO. */
static int streamed_next(cursor *k, ae_replay_hit *h, ae_err *err)
{
    if (k->drained)
        return AE_ENOENT;
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, k->sub, (int64_t)(k->c->timeout_ns / AE_NS_PER_MS));
    if (s == NATS_TIMEOUT) /* a consumer that went quiet: the rest one by one */
        return AE_EAGAIN;
    if (s != NATS_OK)
        return ae_err_set(err, AE_EIO, "streaming %s from %s: %s", k->subject, k->src.stream,
                          natsStatus_GetText(s));
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        natsMsg_Destroy(m);
        return ae_err_set(err, AE_EPROTO, "streaming %s: a message without stream metadata",
                          k->subject);
    }
    if (meta->Sequence.Consumer != k->delivered + 1) {
        jsMsgMetaData_Destroy(meta);
        natsMsg_Destroy(m);
        return AE_EAGAIN;
    }
    k->delivered++;
    h->seq = meta->Sequence.Stream;
    k->drained = meta->NumPending == 0;
    /* The event time, else (no Aerie-Event-Time) the time the hub stored it, as for a
     * direct get's Nats-Time-Stamp. */
    const char *v = NULL;
    int64_t ns = 0;
    if (natsMsgHeader_Get(m, AE_HDR_EVENT_TIME, &v) != NATS_OK || !v ||
        ae_parse_rfc3339(v, &ns) != 0)
        ns = meta->Timestamp;
    h->event_ns = ns;
    h->msg = m;
    jsMsgMetaData_Destroy(meta);
    return 0;
}

/* Moves a cursor to its next message in the window, or marks it done. */
static int advance_one(cursor *k, int64_t end_ns, ae_err *err)
{
    uint64_t next = k->seq + 1;
    natsMsg_Destroy(k->cur);
    k->cur = NULL;
    if (next > k->hi)
        return 0;
    ae_replay_hit h;
    int rc = k->sub ? streamed_next(k, &h, err) : AE_EAGAIN;
    if (rc == AE_EAGAIN) { /* no consumer, or it left a gap: from here one by one */
        stream_stop(k);
        rc = src_next_at(k, next, &h, err);
    }
    if (rc == AE_ENOENT)
        return 0;
    if (rc)
        return rc;
    if (h.seq > k->hi || h.event_ns >= end_ns) {
        natsMsg_Destroy(h.msg);
        return 0;
    }
    k->cur = h.msg;
    k->seq = h.seq;
    k->event_ns = h.event_ns;
    return 0;
}

/* advance_one(); a cursor that is done ends its consumer at once, not at the end of the
 * replay (it would go on filling our buffers). */
static int advance(cursor *k, int64_t end_ns, ae_err *err)
{
    int rc = advance_one(k, end_ns, err);
    if (rc || !k->cur)
        stream_stop(k);
    return rc;
}

/* advance(), except that a fallback region's copy that stops answering ends only its own
 * cursors (noted), not the replay. */
static int step(cursor *k, int64_t end_ns, ae_err *err)
{
    ae_err e = {0};
    int rc = advance(k, end_ns, &e);
    if (rc && !k->src.home) {
        ae_cli_note_unreachable(k->c, &k->src, e.msg);
        natsMsg_Destroy(k->cur);
        k->cur = NULL;
        return 0;
    }
    return rc ? ae_err_set(err, rc, "%s", e.msg) : 0;
}

/* Parses a window bound: RFC 3339, "now", or a duration meaning that long ago. */
static int parse_when(const char *v, int64_t now, int64_t *out)
{
    int64_t d;
    if (strcmp(v, "now") == 0) {
        *out = now;
        return 0;
    }
    if (ae_parse_rfc3339(v, out) == 0)
        return 0;
    if (ae_parse_duration(v, &d) == 0 && d >= 0) {
        *out = now - d;
        return 0;
    }
    return AE_EINVAL;
}

static void csv_field(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {.tv_sec = ns / AE_NS_PER_SEC, .tv_nsec = ns % AE_NS_PER_SEC};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Step 1 of ae_replay_each: a cursor for each subject under filter in each copy of each
 * twin stream, bounded by the copy's snapshot (its last seq now). A fallback region that does
 * not answer is noted and left out. Appends to *ks / *nk (freed by the caller, also after an
 * error); AE_ENOENT when the hub has none of the streams. */
static int open_cursors(ae_cli *c, const char *filter, cursor **ks, int *nk, ae_err *err)
{
    static const char *streams[] = {AE_STREAM_STATE, AE_STREAM_EVENTS, AE_STREAM_LINK};
    bool any_stream = false;
    for (int s = 0; s < 3; s++) {
        ae_read_src src[AE_READ_MAX];
        int ns = ae_cli_read_sources(c, streams[s], src, AE_READ_MAX);
        for (int k = 0; k < ns; k++) {
            char **subs = NULL;
            int n = 0;
            uint64_t first = 0, last = 0;
            ae_err e = {0};
            int r = ae_cli_stream_subjects_at(c, &src[k], filter, &subs, &n, &first, &last, &e);
            if (r == AE_ENOENT)
                continue;
            if (r && !src[k].home) {
                ae_cli_note_unreachable(c, &src[k], e.msg);
                continue;
            }
            if (r)
                return ae_err_set(err, r, "%s", e.msg);
            any_stream = any_stream || src[k].home;
            cursor *nks = realloc(*ks, (size_t)(*nk + n + 1) * sizeof **ks);
            if (!nks) {
                for (int j = 0; j < n; j++)
                    free(subs[j]);
                free(subs);
                return ae_err_set(err, AE_ENOMEM, "out of memory");
            }
            *ks = nks;
            for (int j = 0; j < n; j++) {
                nks[*nk] =
                    (cursor){.c = c, .src = src[k], .subject = subs[j], .hi = last, .seq = first};
                nks[*nk].stream = streams[s];
                (*nk)++;
            }
            free(subs);
        }
    }
    if (!any_stream)
        return ae_err_set(err, AE_ENOENT,
                          c->global ? "the hub has no fleet-wide aggregate; run `aerie hub init "
                                      "--global DOMAIN,...` in the global region (provision.sh)"
                                    : "the hub has none of the twin streams; run `aerie hub "
                                      "init` and let vehicles report");
    return 0;
}

/* Step 2: each cursor finds the start of the window in its subject (a cursor with nothing in
 * the window keeps no message); the hub's own copy streams the rest from there. A consumer
 * create that JetStream does not answer in time (its meta leader is being elected after a
 * node or region went away; direct gets need none) leaves that cursor and the ones after
 * it on direct gets: slower, but the replay answers. */
static int find_starts(ae_cli *c, cursor *ks, int nk, int64_t start_ns, int64_t end_ns, ae_err *err)
{
    bool consumers = true;
    for (int j = 0; j < nk; j++) {
        ae_replay_source src = {src_next_at, src_release, &ks[j]};
        ae_replay_hit h;
        ae_err e = {0};
        int r = ae_replay_find_start(&src, ks[j].seq ? ks[j].seq : 1, ks[j].hi, start_ns, &h, &e);
        if (r == AE_ENOENT)
            continue;
        if (r && !ks[j].src.home) { /* a fallback region that went away meanwhile */
            ae_cli_note_unreachable(c, &ks[j].src, e.msg);
            continue;
        }
        if (r) {
            ae_err_set(err, r, "%s", e.msg);
            return r;
        }
        if (h.event_ns >= end_ns) {
            natsMsg_Destroy(h.msg);
            continue;
        }
        ks[j].cur = h.msg;
        ks[j].seq = h.seq;
        ks[j].event_ns = h.event_ns;
        /* The hub's own copy streams the rest; a fallback region's is read one by one (its
         * consumer would have to deliver across the domains). */
        if (consumers && ks[j].src.home && ks[j].hi > ks[j].seq + STREAM_MIN_SEQS &&
            (r = stream_from(&ks[j], &e)) != 0) {
            if (r != AE_ETIMEOUT) {
                ae_err_set(err, r, "%s", e.msg);
                return r;
            }
            consumers = false;
        }
    }
    return 0;
}

/* Step 3: merges the cursors by event time (then seq) and hands each message to emit once. */
static int merge(cursor *ks, int nk, int64_t end_ns, ae_seen_ids *seen, ae_replay_emit_fn emit,
                 void *ctx, ae_err *err)
{
    int rc;
    for (;;) {
        cursor *best = NULL;
        for (int j = 0; j < nk; j++)
            if (ks[j].cur && (!best || ks[j].event_ns < best->event_ns ||
                              (ks[j].event_ns == best->event_ns && ks[j].seq < best->seq)))
                best = &ks[j];
        if (!best)
            return 0;
        /* The same record from a second copy (or twice in an aggregate): shown once. */
        if (ae_seen_ids_repeat(seen, best->cur)) {
            if ((rc = step(best, end_ns, err)) != 0)
                return rc;
            continue;
        }
        ae_replay_item it = {.subject = best->subject,
                             .stream = best->stream,
                             .seq = best->seq,
                             .event_ns = best->event_ns,
                             .msg = best->cur};
        if ((rc = emit(ctx, &it, err)) != 0)
            return rc;
        if ((rc = step(best, end_ns, err)) != 0)
            return rc;
    }
}

int ae_replay_each(ae_cli *c, const char *vid, const char *filter_rel, int64_t start_ns,
                   int64_t end_ns, ae_replay_emit_fn emit, void *ctx, int *subjects,
                   long *search_requests, ae_err *err)
{
    long direct0 = c->req_direct;
    char filter[512];
    if (strncmp(filter_rel, "fleet.", 6) == 0)
        snprintf(filter, sizeof filter, "%s", filter_rel);
    else
        snprintf(filter, sizeof filter, "fleet.%s.veh.%s.%s", c->env, vid, filter_rel);

    cursor *ks = NULL;
    int nk = 0;
    ae_seen_ids seen = {AE_HMAP_INIT};
    int rc = open_cursors(c, filter, &ks, &nk, err);
    if (rc == 0)
        rc = find_starts(c, ks, nk, start_ns, end_ns, err);
    if (rc == 0) {
        *search_requests = c->req_direct - direct0;
        rc = merge(ks, nk, end_ns, &seen, emit, ctx, err);
    }
    for (int j = 0; j < nk; j++) {
        natsMsg_Destroy(ks[j].cur);
        stream_stop(&ks[j]);
        free(ks[j].subject);
    }
    free(ks);
    ae_seen_ids_free(&seen);
    *subjects = nk;
    return rc;
}

/* What `aerie replay` does with each message: print it, republish it, report progress. */
typedef struct emit_ctx {
    ae_cli *c;
    bool csv;
    const char *republish;
    double speed;
    long count;
    int64_t t0, last_progress, first_event, wall0;
    bool progressed;
} emit_ctx;

/* One JSON line. A payload that is a JSON object on one line (what vehicles send) goes out
 * as its own bytes after a check that it parses: re-encoding it would cost a replay of an
 * hour of a 10 Hz subject a good part of its time. Anything else is encoded. */
static void emit_json_line(const ae_replay_item *it, const char *ts, const char *data, int len)
{
    json_t *line = json_pack("{s:s, s:s, s:I, s:s}", "subject", it->subject, "event_time", ts,
                             "seq", (json_int_t)it->seq, "stream", it->stream);
    json_t *payload = len > 1 && data[0] == '{' && !memchr(data, '\n', (size_t)len) &&
                              !memchr(data, '\r', (size_t)len)
                          ? json_loadb(data, (size_t)len, 0, NULL)
                          : NULL;
    if (!payload)
        json_object_set_new(line, "payload", ae_cli_payload_json(data, len));
    char *d = json_dumps(line, AE_CLI_JSON_FLAGS);
    if (d && payload) /* d ends with '}': the payload goes in before it */
        printf("%.*s,\"payload\":%.*s}\n", (int)strlen(d) - 1, d, len, data);
    else
        printf("%s\n", d ? d : "{}");
    free(d);
    json_decref(payload);
    json_decref(line);
}

static int emit_line(void *ctx, const ae_replay_item *it, ae_err *err)
{
    emit_ctx *e = ctx;
    ae_cli *c = e->c;
    natsMsg *m = it->msg;
    char ts[48];
    ae_format_rfc3339(it->event_ns, ts, sizeof ts);
    const char *data = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    if (e->csv) {
        printf("%s,", ts);
        csv_field(stdout, it->subject, strlen(it->subject));
        printf(",%" PRIu64 ",", it->seq);
        csv_field(stdout, data ? data : "", (size_t)len);
        printf("\n");
    } else {
        emit_json_line(it, ts, data, len);
    }
    if (e->republish) {
        if (e->count == 0) {
            e->first_event = it->event_ns;
            e->wall0 = ae_mono_ns();
        } else if (e->speed > 0) {
            int64_t due = e->wall0 + (int64_t)((double)(it->event_ns - e->first_event) / e->speed);
            fflush(stdout);
            sleep_ns(due - ae_mono_ns());
        }
        char subj[600];
        snprintf(subj, sizeof subj, "%s.%s", e->republish, it->subject);
        natsMsg *out = NULL;
        natsStatus s = natsMsg_Create(&out, subj, NULL, data, len);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(out, AE_HDR_EVENT_TIME, ts);
        if (s == NATS_OK)
            s = natsConnection_PublishMsg(c->nc, out);
        natsMsg_Destroy(out);
        if (s != NATS_OK)
            return ae_err_set(err, AE_EIO, "publishing to %s failed: %s", subj,
                              natsStatus_GetText(s));
    }
    e->count++;
    int64_t now_m = ae_mono_ns();
    if (now_m - e->last_progress >= AE_NS_PER_SEC) {
        fprintf(stderr, "replay: %ld messages, at %s\n", e->count, ts);
        e->last_progress = now_m;
        e->progressed = true;
    }
    return 0;
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: aerie replay VID [--since 10m | --start T] [--end T] [--subject FILTER]\n"
        "                        [--csv] [--republish PREFIX [--speed 1|10|0]] [--stats]\n"
        "                        [--global] [--dir DIR | --server URL] [--env ENV]\n"
        "  --global: read the fleet-wide aggregate (TWIN_STATE_ALL, ... of the global region)\n"
        "  T is RFC 3339 (2026-11-26T04:15:51Z), \"now\", or a duration meaning that long ago.\n"
        "  FILTER is relative to fleet.ENV.veh.VID (default \"state.>\").\n");
    return 2;
}

/* The options of `aerie replay`. */
typedef struct replay_opts {
    const char *vid, *filter_rel, *republish;
    const char *since, *start_s, *end_s;
    bool csv;
    double speed;
    int64_t start_ns, end_ns;
} replay_opts;

/* Returns -1 when the arguments are good, else the exit code. */
static int parse_replay_args(ae_cli *c, int argc, char **argv, replay_opts *o)
{
    ae_err err = {0};
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie replay: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--csv") == 0) {
            o->csv = true;
            i++;
            continue;
        }
        if (strcmp(a, "--global") == 0) {
            c->global = true;
            i++;
            continue;
        }
        if (a[0] != '-') {
            if (o->vid) {
                fprintf(stderr, "aerie replay: unexpected argument %s\n", a);
                return usage();
            }
            o->vid = a;
            i++;
            continue;
        }
        if (!v) {
            fprintf(stderr, "aerie replay: unknown option or missing value: %s\n", a);
            return usage();
        }
        if (strcmp(a, "--since") == 0)
            o->since = v;
        else if (strcmp(a, "--start") == 0)
            o->start_s = v;
        else if (strcmp(a, "--end") == 0)
            o->end_s = v;
        else if (strcmp(a, "--subject") == 0)
            o->filter_rel = v;
        else if (strcmp(a, "--republish") == 0)
            o->republish = v;
        else if (strcmp(a, "--speed") == 0) {
            char *e;
            o->speed = strtod(v, &e);
            if (*e || o->speed < 0) {
                fprintf(stderr,
                        "aerie replay: --speed %s: expected a factor such as 1 or 10 "
                        "(0: as fast as possible)\n",
                        v);
                return 2;
            }
        } else {
            fprintf(stderr, "aerie replay: unknown option %s\n", a);
            return usage();
        }
        i += 2;
    }
    return -1;
}

/* The window [start_ns, end_ns) from --since / --start / --end. Returns -1 or the exit code. */
static int replay_window(replay_opts *o)
{
    if (o->since && o->start_s) {
        fprintf(stderr, "aerie replay: give --since or --start, not both\n");
        return 2;
    }
    int64_t now = ae_now_ns(), d;
    o->start_ns = INT64_MIN;
    o->end_ns = INT64_MAX;
    if (o->since) {
        if (ae_parse_duration(o->since, &d) != 0 || d < 0) {
            fprintf(stderr, "aerie replay: --since %s: expected a duration such as 10m\n",
                    o->since);
            return 2;
        }
        o->start_ns = now - d;
    }
    if (o->start_s && parse_when(o->start_s, now, &o->start_ns) != 0) {
        fprintf(stderr, "aerie replay: --start %s: expected RFC 3339, \"now\" or a duration\n",
                o->start_s);
        return 2;
    }
    if (o->end_s && parse_when(o->end_s, now, &o->end_ns) != 0) {
        fprintf(stderr, "aerie replay: --end %s: expected RFC 3339, \"now\" or a duration\n",
                o->end_s);
        return 2;
    }
    if (o->end_ns <= o->start_ns) {
        fprintf(stderr, "aerie replay: the window is empty: --end is not after the start\n");
        return 2;
    }
    return -1;
}

/* A prefix of valid tokens, and never one whose subjects a hub stream would capture:
 * replaying into TWIN_STATE would rewrite the history being replayed. */
static bool republish_ok(const char *republish, const char *vid)
{
    bool ok = *republish && republish[strlen(republish) - 1] != '.' && republish[0] != '.' &&
              !strpbrk(republish, " *>\t") && !strstr(republish, "..");
    char probe[512];
    snprintf(probe, sizeof probe, "%s.fleet.%s.veh.%s.state.x", republish, "e", vid);
    static const char *captured[] = {"fleet.*.veh.*.state.>", "fleet.*.veh.*.event.>",
                                     "fleet.*.veh.*.cmd.>", "fleet.*.veh.*.link",
                                     "fleet.*.veh.*.live.>"};
    for (int k = 0; k < 5 && ok; k++)
        if (ae_subject_matches(captured[k], probe))
            ok = false;
    return ok;
}

/* Streams the window and prints the end-of-run lines. Returns the exit code. */
static int run_replay(ae_cli *c, const replay_opts *o)
{
    ae_err err = {0};
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie replay: %s\n", err.msg);
        return 1;
    }
    emit_ctx ec = {
        .c = c, .csv = o->csv, .republish = o->republish, .speed = o->speed, .t0 = ae_mono_ns()};
    ec.last_progress = ec.t0;
    int nk = 0;
    long search_requests = 0;
    if (o->csv)
        printf("event_time,subject,seq,payload\n");
    if (ae_replay_each(c, o->vid, o->filter_rel, o->start_ns, o->end_ns, emit_line, &ec, &nk,
                       &search_requests, &err) != 0) {
        fprintf(stderr, "aerie replay: %s\n", err.msg);
        return 1;
    }
    fflush(stdout);
    ae_cli_print_note(c, "replay");
    if (o->republish && c->nc)
        natsConnection_FlushTimeout(c->nc, 5000);
    if (ec.progressed)
        fprintf(stderr, "replay: done, %ld messages in %.1fs\n", ec.count,
                (double)(ae_mono_ns() - ec.t0) / 1e9);
    if (c->stats)
        fprintf(stderr,
                "replay stats: subjects=%d messages=%ld search_requests=%ld read_requests=%ld "
                "api_requests=%ld\n",
                nk, ec.count, search_requests, c->req_direct - search_requests, c->req_api);
    return 0;
}

int ae_cmd_replay(ae_cli *c, int argc, char **argv)
{
    replay_opts o = {.filter_rel = "state.>", .speed = 1.0};
    int rc = parse_replay_args(c, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (!o.vid)
        return usage();
    if (!ae_ident_valid(o.vid)) {
        fprintf(stderr, "aerie replay: '%s' is not a vehicle id\n", o.vid);
        return 2;
    }
    if ((rc = replay_window(&o)) >= 0)
        return rc;
    if (o.republish && !republish_ok(o.republish, o.vid)) {
        fprintf(stderr,
                "aerie replay: --republish %s: need a subject prefix (tokens "
                "without wildcards) whose subjects no hub stream stores, e.g. "
                "replay or sim.replay\n",
                o.republish);
        return 2;
    }
    return run_replay(c, &o);
}
