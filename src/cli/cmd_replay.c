/* `aerie replay`: history of one vehicle by event-time window.
 *
 * Plan of a run:
 *  1. List the vehicle's subjects matching the filter in TWIN_STATE, TWIN_EVENTS and
 *     FLEET_LINK (stream info with subjects_filter: the server's index, one request each)
 *     and note each stream's last sequence: the replay covers what was stored when it began.
 *  2. Per subject, binary-search the first message whose event time is inside the window
 *     (replay_search.c; direct get {seq, next_by_subj}), O(log N) requests per subject. Late
 *     data is found like any other, because per subject stream order is event-time order.
 *  3. Walk each subject forward with next_by_subj and merge the subjects by event time
 *     (ties by stream sequence), stopping a subject at its first message at or past --end.
 *  4. Print JSON lines or CSV to stdout, progress to stderr once a run takes more than a
 *     second, and with --republish publish each message to PREFIX.<subject> paced by its
 *     event time divided by --speed.
 *
 * Event time is the Aerie-Event-Time header the vehicle leaf stamps, falling back to the
 * hub's store time (Nats-Time-Stamp) for messages without it. */
#include "cli/cmd_replay.h"
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
    const char *stream;
    char *subject;
    uint64_t hi;  /* last stream sequence at the start of the run */
    natsMsg *cur; /* current message, or NULL when done */
    uint64_t seq;
    int64_t event_ns;
} cursor;

static int src_next_at(void *ctx, uint64_t seq, ae_replay_hit *out, ae_err *err)
{
    cursor *k = ctx;
    natsMsg *m = NULL;
    int rc = ae_cli_direct_get(k->c, k->stream, seq, k->subject, NULL, &m, err);
    if (rc)
        return rc;
    out->seq = ae_cli_msg_seq(m);
    out->event_ns = ae_cli_msg_event_ns(m);
    out->msg = m;
    if (out->seq == 0) {
        natsMsg_Destroy(m);
        return ae_err_set(err, AE_EPROTO, "direct get reply on %s lacks Nats-Sequence", k->stream);
    }
    return 0;
}

static void src_release(void *ctx, void *msg)
{
    (void)ctx;
    natsMsg_Destroy(msg);
}

/* Moves a cursor to its next message in the window, or marks it done. */
static int advance(cursor *k, int64_t end_ns, ae_err *err)
{
    uint64_t next = k->seq + 1;
    natsMsg_Destroy(k->cur);
    k->cur = NULL;
    if (next > k->hi)
        return 0;
    ae_replay_hit h;
    int rc = src_next_at(k, next, &h, err);
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

    /* 1. subjects and the snapshot bound of each stream */
    static const char *streams[] = {AE_STREAM_STATE, AE_STREAM_EVENTS, AE_STREAM_LINK};
    cursor *ks = NULL;
    int nk = 0, rc = AE_EIO;
    bool any_stream = false;
    for (int s = 0; s < 3; s++) {
        char **subs = NULL;
        int n = 0;
        uint64_t first = 0, last = 0;
        int r = ae_cli_stream_subjects(c, streams[s], filter, &subs, &n, &first, &last, err);
        if (r == AE_ENOENT)
            continue;
        if (r) {
            rc = r;
            goto out;
        }
        any_stream = true;
        cursor *nks = realloc(ks, (size_t)(nk + n + 1) * sizeof *ks);
        if (!nks) {
            rc = ae_err_set(err, AE_ENOMEM, "out of memory");
            goto out;
        }
        ks = nks;
        for (int j = 0; j < n; j++)
            ks[nk++] = (cursor){
                .c = c, .stream = streams[s], .subject = subs[j], .hi = last, .seq = first};
        free(subs);
    }
    if (!any_stream) {
        rc = ae_err_set(err, AE_ENOENT,
                        "the hub has none of the twin streams; run `aerie hub init` and let "
                        "vehicles report");
        goto out;
    }

    /* 2. the start of the window in each subject */
    for (int j = 0; j < nk; j++) {
        ae_replay_source src = {src_next_at, src_release, &ks[j]};
        ae_replay_hit h;
        int r = ae_replay_find_start(&src, ks[j].seq ? ks[j].seq : 1, ks[j].hi, start_ns, &h, err);
        if (r == AE_ENOENT)
            continue;
        if (r) {
            rc = r;
            goto out;
        }
        if (h.event_ns >= end_ns) {
            natsMsg_Destroy(h.msg);
            continue;
        }
        ks[j].cur = h.msg;
        ks[j].seq = h.seq;
        ks[j].event_ns = h.event_ns;
    }
    *search_requests = c->req_direct - direct0;

    /* 3. merge and hand each message to emit */
    for (;;) {
        cursor *best = NULL;
        for (int j = 0; j < nk; j++)
            if (ks[j].cur && (!best || ks[j].event_ns < best->event_ns ||
                              (ks[j].event_ns == best->event_ns && ks[j].seq < best->seq)))
                best = &ks[j];
        if (!best)
            break;
        ae_replay_item it = {.subject = best->subject,
                             .stream = best->stream,
                             .seq = best->seq,
                             .event_ns = best->event_ns,
                             .msg = best->cur};
        if ((rc = emit(ctx, &it, err)) != 0)
            goto out;
        if ((rc = advance(best, end_ns, err)) != 0)
            goto out;
    }
    rc = 0;
out:
    for (int j = 0; j < nk; j++) {
        natsMsg_Destroy(ks[j].cur);
        free(ks[j].subject);
    }
    free(ks);
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
        json_t *line = json_pack("{s:s, s:s, s:I, s:s}", "subject", it->subject, "event_time", ts,
                                 "seq", (json_int_t)it->seq, "stream", it->stream);
        json_object_set_new(line, "payload", ae_cli_payload_json(data, len));
        char *d = json_dumps(line, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "{}");
        free(d);
        json_decref(line);
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
        "                        [--dir DIR | --server URL] [--env ENV]\n"
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
