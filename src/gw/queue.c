/* Commands with an id, the vehicle's side (qcmd.h for what a command carries).
 *
 * The execution queue runs one command with an id at a time, in the order they were admitted,
 * so two commands keep the order they were issued in. Admitting a command checks the journal
 * (an id seen before is never run again), supersedes older waiting commands of the same kind
 * (and the ids the command lists), and appends it. The head is run when its turn comes, if
 * it is still fresh; an expired head is reported and dropped unsent.
 *
 * The catch-up: when the leaf reports its link up in a session (its "since") that no
 * complete catch-up has covered yet, or the gateway (re)connects to the leaf, the gateway
 * asks the hub, in one round of pipelined direct gets through the leaf, for the newest
 * FLEET_CMD message of each command kind and for the vehicle's newest FLEET_LINK report. No
 * consumer is made on the hub, so its load does not grow with the fleet. The newest command
 * of a kind is the only one that can still run: an older one of the same kind is superseded
 * (the operator's newer command names it, and it is reported superseded when the newer one
 * arrives). The link report, stamped by the leaf with the vehicle's clock and by the hub
 * with its own, gives the offset between the two clocks, so ages are measured on the hub's
 * clock even when the vehicle's is wrong. Live commands that arrive during a catch-up wait
 * until it is done, then queue behind the fetched ones.
 *
 * Outcome reports go to ...event.cmd, an uplink subject: the leaf logs each one and forwards
 * it to the hub's TWIN_EVENTS exactly once. The journal keeps every report until a flush to
 * the leaf has completed (a PONG from aerie-leaf means logged), and a restarted gateway
 * publishes the ones it had not seen flushed. */
#include "gw/gw_priv.h"

#include "common/log.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATCHUP_TIMEOUT_NS (5 * AE_NS_PER_SEC)
#define CATCHUP_RETRY_NS   AE_NS_PER_SEC
#define FLUSH_EVERY_NS     (200 * AE_NS_PER_MS)
#define FLUSH_WAIT_MS      500
#define STREAM_CMD         "FLEET_CMD"
#define STREAM_LINK        "FLEET_LINK"

/* ---- the execution queue ------------------------------------------------------------- */

static ae_gw_qcmd *fifo_find(ae_gw *g, const char *id)
{
    for (ae_gw_qcmd *q = g->fifo; q; q = q->next)
        if (strcmp(q->id, id) == 0)
            return q;
    return NULL;
}

static void fifo_remove(ae_gw *g, ae_gw_qcmd *q)
{
    ae_gw_qcmd **pp = &g->fifo, *prev = NULL;
    while (*pp && *pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = q->next;
    if (g->fifo_tail == q)
        g->fifo_tail = prev;
    q->next = NULL;
}

static void fifo_push(ae_gw *g, ae_gw_qcmd *q)
{
    q->next = NULL;
    if (g->fifo_tail)
        g->fifo_tail->next = q;
    else
        g->fifo = q;
    g->fifo_tail = q;
}

/* Records an outcome of q in the journal, reports it on event.cmd and answers a live
 * requester. */
static void conclude(ae_gw *g, ae_gw_qcmd *q, const ae_gw_outcome *o)
{
    char *rep = ae_gw_cmd_report(g->cfg.vid, q, o, ae_now_ns());
    if (!rep) {
        ae_log_error("command %s: out of memory for its report", q->id);
        return;
    }
    ae_err err = {0};
    if (ae_gw_journal_record(g->journal, q->id, o->state, rep, &err) != 0)
        ae_log_error("command %s: %s", q->id, err.msg);
    ae_gw_publish(g, "event.cmd", rep, (int)strlen(rep));
    g->reports_unflushed = true;
    ae_gw_reply(g, q->reply, rep, strlen(rep));
    if (o->attempts < 0) /* never sent in this run; cmdexec.c counted those that were */
        g->cmd_failed[ae_gw_fail_reason_of(o->state, o->result)]++;
    ae_log_info("command %s (%s): %s%s%s", q->id, q->name, o->state, o->error ? ": " : "",
                o->error ? o->error : "");
    free(rep);
}

static void conclude_simple(ae_gw *g, ae_gw_qcmd *q, const char *state, const char *result,
                            const char *error, const char *by)
{
    ae_gw_outcome o = {.state = state,
                       .result = result,
                       .error = error,
                       .mav_cmd = -1,
                       .mav_result = -1,
                       .result_param2 = -1,
                       .attempts = -1,
                       .elapsed_s = -1,
                       .superseded_by = by};
    conclude(g, q, &o);
}

static void supersede(ae_gw *g, ae_gw_qcmd *old, const ae_gw_qcmd *by)
{
    char msg[AE_GW_CMD_ID_MAX + 80];
    snprintf(msg, sizeof msg, "replaced by the newer %s command %s before it ran", by->name,
             by->id);
    conclude_simple(g, old, AE_GW_CS_SUPERSEDED, "superseded", msg, by->id);
}

/* A command that asks to be run: once per id, after what is already queued. Takes q. */
static void admit(ae_gw *g, ae_gw_qcmd *q)
{
    const char *seen = ae_gw_journal_state(g->journal, q->id);
    ae_gw_qcmd *twin = seen ? NULL : fifo_find(g, q->id);
    if (seen || twin) {
        /* The same command again: live and fetched, or an operator's retry with its id. */
        if (twin && q->reply && !twin->reply) {
            twin->reply = q->reply;
            q->reply = NULL;
        } else if (seen && q->reply) {
            char msg[AE_GW_CMD_ID_MAX + 80];
            snprintf(msg, sizeof msg, "command %s was already handled (%s); it is not run again",
                     q->id, seen);
            ae_gw_outcome o = {.state = seen,
                               .result = "duplicate",
                               .error = msg,
                               .mav_cmd = -1,
                               .mav_result = -1,
                               .result_param2 = -1,
                               .attempts = -1,
                               .elapsed_s = -1};
            char *rep = ae_gw_cmd_report(g->cfg.vid, q, &o, ae_now_ns());
            if (rep)
                ae_gw_reply(g, q->reply, rep, strlen(rep));
            free(rep);
        }
        ae_log_debug("command %s (%s): already %s, not run again", q->id, q->name,
                     seen ? seen : "queued");
        ae_gw_qcmd_free(q);
        return;
    }
    for (int i = 0; i < q->n_supersedes; i++) {
        const char *id = q->supersedes[i];
        if (ae_gw_journal_state(g->journal, id))
            continue;
        ae_gw_qcmd *old = fifo_find(g, id);
        if (old && old->started)
            continue; /* already running: it had its turn */
        if (old) {
            fifo_remove(g, old);
            supersede(g, old, q);
            ae_gw_qcmd_free(old);
        } else {
            /* Never seen here: it was queued on the hub behind this one. */
            ae_gw_qcmd ghost = {0};
            snprintf(ghost.id, sizeof ghost.id, "%s", id);
            snprintf(ghost.name, sizeof ghost.name, "%s", q->name);
            supersede(g, &ghost, q);
        }
    }
    for (ae_gw_qcmd *o = g->fifo, *next; o; o = next) {
        next = o->next;
        if (!o->started && strcmp(o->name, q->name) == 0) {
            fifo_remove(g, o);
            supersede(g, o, q);
            ae_gw_qcmd_free(o);
        }
    }
    fifo_push(g, q);
}

/* Runs the head of the queue when it can go; drops expired and refused heads. */
static void pump(ae_gw *g)
{
    ae_gw_qcmd *q;
    while ((q = g->fifo) && !q->started) {
        int64_t age = ae_gw_qcmd_age(q, ae_now_ns(), g->hub_offset_ns);
        if (age >= q->ttl_ns) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "%.1f s old when its turn came, past its TTL of %.1f s; not executed%s%s",
                     (double)age / 1e9, (double)q->ttl_ns / 1e9, q->wait_cause ? ": " : "",
                     q->wait_cause ? q->wait_cause : "");
            ae_gw_outcome o = {.state = AE_GW_CS_EXPIRED,
                               .result = "expired",
                               .error = msg,
                               .mav_cmd = -1,
                               .mav_result = -1,
                               .result_param2 = -1,
                               .attempts = -1,
                               .elapsed_s = -1,
                               .has_age = true,
                               .age_s = (double)age / 1e9};
            fifo_remove(g, q);
            conclude(g, q, &o);
            ae_gw_qcmd_free(q);
            continue;
        }
        ae_err err = {0};
        int rc = ae_gw_exec_start(g, q, &err);
        if (rc == 0)
            return;
        if (rc == AE_EAGAIN) {
            /* Keep the reason for the expiry report; say it once. */
            const char *cause = strstr(err.msg, "ACK") ? "another command was still running"
                                                       : "the autopilot was not ready";
            if (q->wait_cause != cause)
                ae_log_info("command %s (%s) waits: %s", q->id, q->name, err.msg);
            q->wait_cause = cause;
            return;
        }
        fifo_remove(g, q);
        if (rc == AE_EIO)
            conclude_simple(g, q, AE_GW_CS_FAILED, "journal_error", err.msg, NULL);
        else
            conclude_simple(g, q, AE_GW_CS_REJECTED,
                            rc == AE_ENOENT ? "unknown_command" : "bad_arguments", err.msg, NULL);
        ae_gw_qcmd_free(q);
    }
}

/* g->cmd_finished: the running head command q got its ACK (or none): record, report, reply,
 * run the next. */
static void queue_finished(ae_gw *g, ae_gw_qcmd *q, const ae_gw_outcome *o)
{
    if (!q)
        return;
    fifo_remove(g, q);
    conclude(g, q, o);
    ae_gw_qcmd_free(q);
    pump(g);
}

/* ---- the catch-up -------------------------------------------------------------------- */

/* A catch-up has a reason to run: a (re)connect to the leaf not acted on yet, or a link
 * session no complete catch-up has covered. Whether it may run now is catchup_wanted's. */
static bool catchup_has_reason(ae_gw *g)
{
    return g->cu_on_connect || atomic_load(&g->connects) != g->connects_seen ||
           (g->link_online && strcmp(g->link_since, g->link_since_done) != 0);
}

static bool catchup_wanted(ae_gw *g, int64_t now)
{
    if (!ae_gw_journal_durable(g->journal) || g->cu.active || now < g->cu_next_try)
        return false;
    int c = atomic_load(&g->connects);
    if (c != g->connects_seen) {
        g->connects_seen = c;
        g->cu_on_connect = true;
    }
    return catchup_has_reason(g);
}

static void start_catchup(ae_gw *g, int64_t now)
{
    ae_gw_catchup *cu = &g->cu;
    if (g->cu_on_connect) {
        /* The leaf must know our subscriptions (and have told the hub) before we ask. */
        g->cu_on_connect = false;
        if (natsConnection_FlushTimeout(g->nc, FLUSH_WAIT_MS) != NATS_OK) {
            g->cu_next_try = now + CATCHUP_RETRY_NS;
            return;
        }
    }
    int n = ae_gw_cmd_count();
    cu->gen++;
    cu->expected = n + 1;
    cu->got = 0;
    memset(cu->replies, 0, sizeof cu->replies);
    snprintf(cu->since, sizeof cu->since, "%s", g->link_since);
    for (int k = 0; k <= n; k++) {
        char subj[400], reply[128];
        if (k < n)
            snprintf(subj, sizeof subj, "$JS.%s.API.DIRECT.GET." STREAM_CMD ".%scmd.%s",
                     g->cfg.cmd_domain, g->prefix, ae_gw_cmd_name(k));
        else
            snprintf(subj, sizeof subj, "$JS.%s.API.DIRECT.GET." STREAM_LINK ".%slink",
                     g->cfg.cmd_domain, g->prefix);
        snprintf(reply, sizeof reply, "%s.%u.%d", g->cu_inbox, cu->gen, k);
        natsStatus s = natsConnection_PublishRequest(g->nc, subj, reply, NULL, 0);
        if (s != NATS_OK) {
            ae_log_debug("catch-up request %s: %s", subj, natsStatus_GetText(s));
            g->cu_next_try = now + CATCHUP_RETRY_NS;
            return;
        }
    }
    cu->active = true;
    cu->deadline = now + CATCHUP_TIMEOUT_NS;
    ae_log_debug("catch-up %u: asked the hub for queued commands (link session %s)", cu->gen,
                 *cu->since ? cu->since : "unknown");
}

static const char *hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;
    return m && natsMsgHeader_Get(m, key, &v) == NATS_OK ? v : NULL;
}

/* The hub's clock from the vehicle's newest link report: stored by the hub at "Nats-Time-
 * Stamp", written by the leaf (on this vehicle's clock) at "time". A report that travelled
 * slowly makes the offset too large, which makes commands look older: the safe side. */
static void learn_hub_clock(ae_gw *g, natsMsg *m)
{
    int64_t stored = 0, sent = 0;
    const char *ts = hdr(m, "Nats-Time-Stamp");
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    const char *t = json_string_value(json_object_get(j, "time"));
    if (ts && t && ae_parse_rfc3339(ts, &stored) == 0 && ae_parse_rfc3339(t, &sent) == 0) {
        int64_t off = stored - sent;
        if (!g->hub_offset_known || llabs(off - g->hub_offset_ns) > AE_NS_PER_SEC)
            ae_log_info("the hub's clock is %+.3f s from this vehicle's; command ages use the "
                        "hub's",
                        (double)off / 1e9);
        g->hub_offset_ns = off;
        g->hub_offset_known = true;
    }
    json_decref(j);
}

/* A fetched FLEET_CMD message of kind `name` as a command, or NULL (nothing of that kind, a
 * request without an id, or malformed: said in the log and, with a usable id, reported). */
static ae_gw_qcmd *fetched(ae_gw *g, natsMsg *m, const char *name)
{
    const char *id = hdr(m, AE_GW_HDR_CMD_ID);
    if (!id)
        return NULL;
    ae_gw_qcmd *q = calloc(1, sizeof *q);
    ae_err err = {0};
    int rc =
        q ? ae_gw_qcmd_parse(q, name, id, hdr(m, AE_GW_HDR_CMD_TTL), hdr(m, AE_GW_HDR_CMD_ISSUED),
                             hdr(m, AE_GW_HDR_CMD_SUPERSEDES), &err)
          : AE_ENOMEM;
    const char *ts = hdr(m, "Nats-Time-Stamp"), *seq = hdr(m, "Nats-Sequence");
    if (rc == 0 && (!ts || ae_parse_rfc3339(ts, &q->stored_ns) != 0 || !seq))
        rc = ae_err_set(&err, AE_EINVAL, "no Nats-Time-Stamp/Nats-Sequence from the hub");
    int len = natsMsg_GetDataLength(m);
    if (rc == 0 && len > 0 && !(q->body = malloc((size_t)len)))
        rc = ae_err_set(&err, AE_ENOMEM, "out of memory");
    if (rc) {
        ae_log_warn("queued %s command %s: %s", name, id, err.msg);
        if (q && *q->id && !ae_gw_journal_state(g->journal, q->id))
            conclude_simple(g, q, AE_GW_CS_REJECTED, "bad_arguments", err.msg, NULL);
        ae_gw_qcmd_free(q);
        return NULL;
    }
    q->seq = strtoull(seq, NULL, 10);
    q->body_len = (size_t)len;
    if (len)
        memcpy(q->body, natsMsg_GetData(m), q->body_len);
    return q;
}

static int by_seq(const void *a, const void *b)
{
    const ae_gw_qcmd *x = *(ae_gw_qcmd *const *)a, *y = *(ae_gw_qcmd *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* How one reply went: 0 a message, 1 none (404), -1 failed (no reply, 503, other status). */
static int reply_kind(natsMsg *m)
{
    if (!m)
        return -1;
    const char *st = hdr(m, "Status");
    if (!st || !*st)
        return 0;
    return strcmp(st, "404") == 0 ? 1 : -1;
}

static void complete_catchup(ae_gw *g, int64_t now)
{
    ae_gw_catchup *cu = &g->cu;
    int n = ae_gw_cmd_count();
    bool missing = false, refused = false;
    if (reply_kind(cu->replies[n]) == 0)
        learn_hub_clock(g, cu->replies[n]);
    ae_gw_qcmd *got[AE_GW_CU_SLOTS];
    int ngot = 0;
    for (int k = 0; k <= n; k++) {
        int kind = reply_kind(cu->replies[k]);
        missing = missing || !cu->replies[k];
        refused = refused || (cu->replies[k] && kind < 0);
        if (k < n && kind == 0) {
            ae_gw_qcmd *q = fetched(g, cu->replies[k], ae_gw_cmd_name(k));
            if (q)
                got[ngot++] = q;
        }
    }
    for (int k = 0; k < AE_GW_CU_SLOTS; k++)
        natsMsg_Destroy(cu->replies[k]);
    memset(cu->replies, 0, sizeof cu->replies);
    cu->active = false;
    /* Stream order is issue order; then the live ones that came meanwhile. */
    qsort(got, (size_t)ngot, sizeof got[0], by_seq);
    for (int i = 0; i < ngot; i++)
        admit(g, got[i]);
    while (g->held) {
        ae_gw_qcmd *q = g->held;
        g->held = q->next;
        admit(g, q);
    }
    g->held_tail = NULL;
    if (refused) {
        /* No responders (the link went down) or an error status: try again. */
        ae_log_warn("catch-up %u: the hub did not answer every request (link down?); trying "
                    "again on the next link report",
                    cu->gen);
        g->cu_next_try = now + CATCHUP_RETRY_NS;
    } else {
        if (missing)
            ae_log_warn("catch-up %u: no answer from the hub's " STREAM_CMD "/" STREAM_LINK
                        " within %lld s (does the hub have them? run `aerie hub init`)",
                        cu->gen, (long long)(CATCHUP_TIMEOUT_NS / AE_NS_PER_SEC));
        snprintf(g->link_since_done, sizeof g->link_since_done, "%s", cu->since);
        ae_log_info("catch-up %u: %d queued command(s) fetched from the hub", cu->gen, ngot);
    }
    pump(g);
}

void ae_gw_queue_catchup_reply(ae_gw *g, natsMsg *m)
{
    const char *subj = natsMsg_GetSubject(m);
    size_t il = strlen(g->cu_inbox);
    unsigned gen = 0;
    int slot = -1;
    if (g->cu.active && strncmp(subj, g->cu_inbox, il) == 0 && subj[il] == '.' &&
        sscanf(subj + il + 1, "%u.%d", &gen, &slot) == 2 && gen == g->cu.gen && slot >= 0 &&
        slot < g->cu.expected && !g->cu.replies[slot]) {
        g->cu.replies[slot] = m;
        if (++g->cu.got == g->cu.expected)
            complete_catchup(g, ae_mono_ns());
        return;
    }
    natsMsg_Destroy(m); /* late, for an earlier round */
}

void ae_gw_queue_link(ae_gw *g, natsMsg *m)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    g->link_online = json_is_true(json_object_get(j, "online"));
    const char *since = json_string_value(json_object_get(j, "since"));
    if (g->link_online && since)
        snprintf(g->link_since, sizeof g->link_since, "%s", since);
    json_decref(j);
}

/* ---- requests ------------------------------------------------------------------------- */

/* A live command with an id: admitted now, or held until the running catch-up is done. */
static void queue_live(ae_gw *g, ae_gw_qcmd *q)
{
    int64_t now = ae_mono_ns();
    if (catchup_wanted(g, now))
        start_catchup(g, now);
    if (g->cu.active) {
        q->next = NULL;
        if (g->held_tail)
            g->held_tail->next = q;
        else
            g->held = q;
        g->held_tail = q;
        return;
    }
    admit(g, q);
    pump(g);
}

/* A request on ...cmd.<name>: parsed here; one without an id goes to cmdexec.c. */
void ae_gw_queue_request(ae_gw *g, natsMsg *m)
{
    const char *subj = natsMsg_GetSubject(m);
    const char *reply = natsMsg_GetReply(m);
    const char *name = strrchr(subj, '.');
    name = name ? name + 1 : subj;
    ae_gw_qcmd *q = calloc(1, sizeof *q);
    ae_err err = {0};
    int rc =
        q ? ae_gw_qcmd_parse(q, name, hdr(m, AE_GW_HDR_CMD_ID), hdr(m, AE_GW_HDR_CMD_TTL),
                             hdr(m, AE_GW_HDR_CMD_ISSUED), hdr(m, AE_GW_HDR_CMD_SUPERSEDES), &err)
          : ae_err_set(&err, AE_ENOMEM, "out of memory");
    if (rc == AE_ENOENT) {
        ae_gw_qcmd_free(q);
        ae_gw_exec_plain(g, m, name);
        return;
    }
    if (rc == 0 && natsMsg_GetDataLength(m) > 0 &&
        !(q->body = malloc((size_t)natsMsg_GetDataLength(m))))
        rc = ae_err_set(&err, AE_ENOMEM, "out of memory");
    if (rc == 0 && reply && !(q->reply = strdup(reply)))
        rc = ae_err_set(&err, AE_ENOMEM, "out of memory");
    if (rc) {
        ae_gw_exec_refuse(g, reply, name, "bad_arguments", err.msg);
        ae_gw_qcmd_free(q);
        return;
    }
    q->body_len = (size_t)natsMsg_GetDataLength(m);
    if (q->body_len)
        memcpy(q->body, natsMsg_GetData(m), q->body_len);
    queue_live(g, q);
}

/* ---- reports, start, tick ------------------------------------------------------------ */

/* A completed flush means the leaf has logged every report published before it. */
static void flush_reports(ae_gw *g, int64_t now)
{
    if (!g->reports_unflushed || now < g->next_flush)
        return;
    g->next_flush = now + FLUSH_EVERY_NS;
    if (natsConnection_Status(g->nc) != NATS_CONN_STATUS_CONNECTED ||
        natsConnection_FlushTimeout(g->nc, FLUSH_WAIT_MS) != NATS_OK)
        return;
    ae_err err = {0};
    if (ae_gw_journal_mark_flushed(g->journal, &err) != 0)
        ae_log_warn("%s", err.msg);
    else
        g->reports_unflushed = false;
}

/* The earliest monotonic time at which ae_gw_queue_tick has something to do that no event
 * will prompt: a catch-up's deadline or retry, a report flush to retry, the waiting head
 * command's expiry. INT64_MAX when only events can move the queue. */
int64_t ae_gw_queue_next_deadline(ae_gw *g, int64_t now)
{
    int64_t next = INT64_MAX;
    if (g->cu.active)
        next = g->cu.deadline;
    else if (ae_gw_journal_durable(g->journal) && catchup_has_reason(g))
        next = g->cu_next_try > now ? g->cu_next_try : now;
    if (g->reports_unflushed && g->next_flush < next)
        next = g->next_flush;
    ae_gw_qcmd *q = g->fifo;
    if (q && !q->started) {
        int64_t left = q->ttl_ns - ae_gw_qcmd_age(q, ae_now_ns(), g->hub_offset_ns);
        int64_t expiry = now + (left > 0 ? left : 0);
        if (expiry < next)
            next = expiry;
    }
    return next;
}

void ae_gw_queue_tick(ae_gw *g, int64_t now)
{
    if (g->cu.active && now >= g->cu.deadline)
        complete_catchup(g, now);
    if (catchup_wanted(g, now))
        start_catchup(g, now);
    pump(g);
    flush_reports(g, now);
}

/* A command the previous run sent without hearing its ACK. */
static void report_interrupted(void *ctx, const char *id, const char *report)
{
    ae_gw *g = ctx;
    json_t *j = report ? json_loads(report, 0, NULL) : NULL;
    ae_gw_qcmd q = {0};
    snprintf(q.id, sizeof q.id, "%s", id);
    snprintf(q.name, sizeof q.name, "%s",
             json_string_value(json_object_get(j, "command")) ?: "unknown");
    json_decref(j);
    conclude_simple(g, &q, AE_GW_CS_FAILED, "interrupted",
                    "aerie-gw stopped after sending it and before the autopilot's ACK; it may "
                    "have been executed (check the vehicle's mode)",
                    NULL);
}

int ae_gw_queue_start(ae_gw *g, ae_err *err)
{
    g->cmd_finished = queue_finished;
    int rc = ae_gw_journal_open(g->cfg.state_dir, &g->journal, err);
    if (rc)
        return rc;
    if (!g->cfg.state_dir)
        ae_log_warn("no state_dir: commands queued on the hub are not fetched after a "
                    "reconnect (a restarted gateway could not tell which it already executed); "
                    "set state_dir (docs/gateway.md)");
    size_t n = 0;
    const char *const *reps = ae_gw_journal_unflushed(g->journal, &n);
    if (n)
        ae_log_info("republishing %zu command report(s) the leaf may not have logged", n);
    for (size_t i = 0; i < n; i++)
        ae_gw_publish(g, "event.cmd", reps[i], (int)strlen(reps[i]));
    g->reports_unflushed = n > 0;
    ae_gw_journal_each_in_state(g->journal, AE_GW_CS_DELIVERED, report_interrupted, g);
    return 0;
}

void ae_gw_queue_free(ae_gw *g)
{
    ae_gw_qcmd *lists[] = {g->fifo, g->held};
    for (int l = 0; l < 2; l++)
        for (ae_gw_qcmd *q = lists[l], *next; q; q = next) {
            next = q->next;
            ae_gw_qcmd_free(q);
        }
    g->fifo = g->fifo_tail = g->held = g->held_tail = NULL;
    for (int k = 0; k < AE_GW_CU_SLOTS; k++)
        natsMsg_Destroy(g->cu.replies[k]);
    ae_gw_journal_close(g->journal);
    g->journal = NULL;
}
