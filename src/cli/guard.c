/* The guard service; see guard.h for what it is for and guard_check.h for what passes.
 *
 * One hub connection per tenant. Requests arrive on the queue subscription (one libnats
 * delivery thread), answers from JetStream on a wildcard inbox (another thread); a table of
 * requests in flight, under a mutex, joins the two. Nothing blocks on the hub: a request is
 * forwarded with this guard's inbox as its reply, and the answer is relayed when it comes. */
#include "cli/guard.h"
#include "cli/accounts.h"
#include "cli/guard_check.h"
#include "common/timeutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS          4096
#define PENDING_TTL_NS (10 * AE_NS_PER_SEC)
/* At most this many refusals are logged per second and tenant (a vehicle could flood). */
#define LOG_PER_SEC 20

typedef enum step { STEP_FREE, STEP_RELAY, STEP_CHECK } step;

/* A request in flight. */
typedef struct pend {
    uint64_t id;
    step st;
    int64_t deadline;
    ae_guard_req req;
    char reply[AE_GUARD_SUBJECT_MAX];
    char *body; /* a delete's own request, sent on once the check passed */
    int body_len;
} pend;

typedef struct tguard {
    char name[AE_IDENT_MAX + 1], env[AE_IDENT_MAX + 1];
    natsConnection *nc;
    natsSubscription *req_sub, *ans_sub;
    char inbox[96]; /* answers come to <inbox>.<id> */
    pthread_mutex_t mu;
    pend *slots;
    uint64_t next_id;
    long requests, passed, refused, expired;
    int64_t log_sec;
    int logged;
} tguard;

static void log_refusal(tguard *g, const ae_guard_req *r, const char *subject, const char *why)
{
    int64_t sec = ae_mono_ns() / AE_NS_PER_SEC;
    pthread_mutex_lock(&g->mu);
    if (sec != g->log_sec) {
        g->log_sec = sec;
        g->logged = 0;
    }
    bool log = g->logged++ < LOG_PER_SEC;
    pthread_mutex_unlock(&g->mu);
    static const char prefix[] = "aerie guard: ";
    if (strncmp(why, prefix, sizeof prefix - 1) == 0)
        why += sizeof prefix - 1;
    if (log)
        fprintf(stderr, "aerie guard: tenant %s: refused %s (vehicle %s): %s\n", g->name, subject,
                r->vid[0] ? r->vid : "?", why);
}

/* Sends an error answer to `reply` (nothing when the request had none). */
static void answer_error(tguard *g, const char *reply, ae_guard_kind kind, int code, int err_code,
                         const char *desc)
{
    if (!reply || !*reply)
        return;
    char *body = ae_guard_error_reply(kind, code, err_code, desc);
    if (body)
        natsConnection_Publish(g->nc, reply, body, (int)strlen(body));
    free(body);
}

/* A free slot for a new request, its id set; NULL when the table is full. Under g->mu. */
static pend *take_slot(tguard *g)
{
    for (int k = 0; k < SLOTS; k++) {
        uint64_t id = ++g->next_id;
        pend *p = &g->slots[id % SLOTS];
        if (p->st == STEP_FREE) {
            p->id = id;
            return p;
        }
    }
    return NULL;
}

static void free_slot(pend *p)
{
    free(p->body);
    memset(p, 0, sizeof *p);
}

/* Forwards `data` to `subject` with the answer expected at this slot. */
static void forward(tguard *g, uint64_t id, const char *subject, const char *data, int len)
{
    char reply[160];
    snprintf(reply, sizeof reply, "%s.%llu", g->inbox, (unsigned long long)id);
    natsConnection_PublishRequest(g->nc, subject, reply, data, len);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    tguard *g = closure;
    const char *subject = natsMsg_GetSubject(msg), *reply = natsMsg_GetReply(msg);
    ae_guard_req r;
    ae_err err = {0};
    int rc = ae_guard_parse(g->env, subject, natsMsg_GetData(msg),
                            (size_t)natsMsg_GetDataLength(msg), &r, &err);
    pthread_mutex_lock(&g->mu);
    g->requests++;
    if (rc)
        g->refused++;
    pthread_mutex_unlock(&g->mu);
    if (rc) {
        log_refusal(g, &r, subject, err.msg);
        answer_error(g, reply, r.kind, rc == AE_EAUTH ? 403 : 400, 0, err.msg);
        natsMsg_Destroy(msg);
        return;
    }
    if (!reply || !*reply) { /* nobody to answer: a request without a reply is not run */
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&g->mu);
    pend *p = take_slot(g);
    uint64_t id = 0;
    char get_api[AE_GUARD_SUBJECT_MAX], get_body[64];
    if (p) {
        id = p->id;
        p->req = r;
        p->deadline = ae_mono_ns() + PENDING_TTL_NS;
        snprintf(p->reply, sizeof p->reply, "%s", reply);
        if (r.kind == AE_GUARD_DELETE) {
            p->st = STEP_CHECK;
            p->body_len = natsMsg_GetDataLength(msg);
            p->body = malloc((size_t)p->body_len + 1);
            if (p->body)
                memcpy(p->body, natsMsg_GetData(msg), (size_t)p->body_len);
            else
                free_slot(p), p = NULL;
        } else {
            p->st = STEP_RELAY;
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (!p) {
        answer_error(g, reply, r.kind, 503, 0, "aerie guard: busy, try again");
    } else if (r.kind == AE_GUARD_DELETE) {
        ae_guard_get_request(&r, get_api, sizeof get_api, get_body, sizeof get_body);
        forward(g, id, get_api, get_body, (int)strlen(get_body));
    } else {
        forward(g, id, r.api, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    }
    natsMsg_Destroy(msg);
}

/* The answer to a delete's check: the message is the vehicle's (delete it), gone (tell the
 * vehicle so, as JetStream would), or someone else's (refuse). */
static void on_check(tguard *g, pend *copy, natsMsg *msg)
{
    ae_err err = {0};
    int rc = ae_guard_check_owner(g->env, copy->req.vid, natsMsg_GetData(msg),
                                  (size_t)natsMsg_GetDataLength(msg), &err);
    if (rc == 0) {
        pthread_mutex_lock(&g->mu);
        pend *p = &g->slots[copy->id % SLOTS];
        bool still = p->id == copy->id && p->st == STEP_CHECK;
        if (still) {
            p->st = STEP_RELAY;
            g->passed++;
        }
        pthread_mutex_unlock(&g->mu);
        if (still)
            forward(g, copy->id, copy->req.api, copy->body, copy->body_len);
        return;
    }
    pthread_mutex_lock(&g->mu);
    pend *p = &g->slots[copy->id % SLOTS];
    if (p->id == copy->id)
        free_slot(p);
    if (rc == AE_EAUTH)
        g->refused++;
    pthread_mutex_unlock(&g->mu);
    if (rc == AE_ENOENT) {
        answer_error(g, copy->reply, AE_GUARD_DELETE, 404, 10037, "no message found");
    } else {
        char what[AE_GUARD_SUBJECT_MAX + 64];
        snprintf(what, sizeof what, "delete of %s seq %llu", copy->req.stream,
                 (unsigned long long)copy->req.seq);
        if (rc == AE_EAUTH)
            log_refusal(g, &copy->req, what, err.msg);
        answer_error(g, copy->reply, AE_GUARD_DELETE, rc == AE_EAUTH ? 403 : 500, 0, err.msg);
    }
}

static void on_answer(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    tguard *g = closure;
    const char *subject = natsMsg_GetSubject(msg);
    const char *dot = strrchr(subject, '.');
    uint64_t id = dot ? strtoull(dot + 1, NULL, 10) : 0;
    pend copy = {0};
    pthread_mutex_lock(&g->mu);
    pend *p = &g->slots[id % SLOTS];
    bool found = id && p->id == id && p->st != STEP_FREE;
    if (found) {
        copy = *p;
        if (p->st == STEP_RELAY) {
            if (p->req.kind == AE_GUARD_CREATE)
                g->passed++;
            free_slot(p);
            copy.body = NULL;
        } else if ((copy.body = malloc((size_t)p->body_len + 1)) != NULL) {
            /* The check keeps the slot; it works on its own copy of the request. */
            memcpy(copy.body, p->body, (size_t)p->body_len);
        } else {
            free_slot(p);
            found = false;
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (found && copy.st == STEP_RELAY)
        natsConnection_Publish(g->nc, copy.reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    else if (found)
        on_check(g, &copy, msg);
    free(copy.body);
    natsMsg_Destroy(msg);
}

/* Drops requests whose answer did not come within PENDING_TTL_NS. */
static void sweep(tguard *g)
{
    int64_t now = ae_mono_ns();
    pthread_mutex_lock(&g->mu);
    for (int k = 0; k < SLOTS; k++)
        if (g->slots[k].st != STEP_FREE && g->slots[k].deadline < now) {
            free_slot(&g->slots[k]);
            g->expired++;
        }
    pthread_mutex_unlock(&g->mu);
}

/* ---- connecting ------------------------------------------------------------------------- */

static int start(tguard *g, const ae_fleet *f, const ae_fleet_tenant *tn, ae_err *err)
{
    snprintf(g->name, sizeof g->name, "%s", tn->name);
    snprintf(g->env, sizeof g->env, "%s", f->env ? f->env : "prod");
    pthread_mutex_init(&g->mu, NULL);
    if (!(g->slots = calloc(SLOTS, sizeof *g->slots)))
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    char user[AE_IDENT_MAX + 16], *urls[16];
    snprintf(user, sizeof user, AE_GUARD_USER_PREFIX "%s", tn->name);
    int nurls = 0;
    for (size_t i = 0; i < f->n_hub_urls && nurls < 16; i++)
        if ((urls[nurls] = ae_cli_url_without_userinfo(f->hub_urls[i])))
            nurls++;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)urls, nurls);
    if (s == NATS_OK)
        s = natsOptions_SetUserInfo(o, user, tn->guard_password);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "aerie-guard");
    /* A guard outlives hub restarts and may start before its hubs. */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 500);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
    if (s == NATS_OK)
        s = natsConnection_Connect(&g->nc, o);
    natsOptions_Destroy(o);
    for (int i = 0; i < nurls; i++)
        free(urls[i]);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
        return ae_err_set(err, AE_EIO, "tenant %s: cannot connect to the hub as %s: %s (%s)",
                          tn->name, user, natsStatus_GetText(s), nats_GetLastError(NULL));
    natsInbox *ib = NULL;
    if (natsInbox_Create(&ib) != NATS_OK)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    snprintf(g->inbox, sizeof g->inbox, "%s", (const char *)ib);
    natsInbox_Destroy(ib);
    char wild[128];
    snprintf(wild, sizeof wild, "%s.*", g->inbox);
    s = natsConnection_Subscribe(&g->ans_sub, g->nc, wild, on_answer, g);
    if (s == NATS_OK)
        s = natsConnection_QueueSubscribe(&g->req_sub, g->nc, AE_GUARD_PREFIX ".>", AE_GUARD_QUEUE,
                                          on_request, g);
    /* Many vehicles resync at once after a hub restart: let requests queue in the client. */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(g->req_sub, 1000000, 256 * 1024 * 1024);
    if (s != NATS_OK)
        return ae_err_set(err, AE_EIO, "tenant %s: cannot subscribe: %s", tn->name,
                          natsStatus_GetText(s));
    return 0;
}

static void stop(tguard *g)
{
    natsSubscription_Destroy(g->req_sub);
    natsSubscription_Destroy(g->ans_sub);
    natsConnection_Destroy(g->nc);
    for (int k = 0; g->slots && k < SLOTS; k++)
        free(g->slots[k].body);
    free(g->slots);
    pthread_mutex_destroy(&g->mu);
}

static int usage(void)
{
    fprintf(stderr, "usage: aerie guard [--dir DIR] [--tenant NAME]\n"
                    "  Checks the consumer creates and deletes of the fleet's vehicles for every\n"
                    "  tenant in DIR/fleet.json (or only NAME); see docs/security.md.\n");
    return 2;
}

int ae_cmd_guard(ae_cli *c, int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc;) {
        ae_err e = {0};
        int r = ae_cli_global_opt(c, argc, argv, &i, &e);
        if (r < 0) {
            fprintf(stderr, "aerie guard: %s\n", e.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
        fprintf(stderr, "aerie guard: unexpected argument %s\n", argv[i]);
        return usage();
    }
    only = c->tenant;
    ae_err err = {0};
    ae_fleet *f = NULL;
    const char *dir = c->dir ? c->dir : ae_fleet_default_dir();
    if (ae_fleet_load(dir, &f, &err) != 0) {
        fprintf(stderr, "aerie guard: %s\n", err.msg);
        return 1;
    }
    /* Signals are taken with sigwait on this thread; libnats's threads must not see them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    tguard *gs = calloc(f->n_tenants ? f->n_tenants : 1, sizeof *gs);
    int n = 0, rc = 0;
    for (size_t i = 0; gs && i < f->n_tenants && !rc; i++) {
        const ae_fleet_tenant *tn = &f->tenants[i];
        if ((only && strcmp(only, tn->name) != 0) || !tn->guard_password)
            continue;
        rc = start(&gs[n++], f, tn, &err);
        if (!rc)
            printf("aerie guard: tenant %s: checking its vehicles' consumer creates and deletes "
                   "(%s.>, queue %s)\n",
                   tn->name, AE_GUARD_PREFIX, AE_GUARD_QUEUE);
    }
    if (!rc && n == 0)
        rc = ae_err_set(&err, AE_ENOENT, "%s/fleet.json lists no tenant%s%s with a guard login",
                        dir, only ? " named " : "", only ? only : "");
    if (rc) {
        fprintf(stderr, "aerie guard: %s\n", err.msg);
    } else {
        fflush(stdout);
        struct timespec tick = {1, 0};
        for (;;) {
            int sig = sigtimedwait(&set, NULL, &tick);
            if (sig == SIGINT || sig == SIGTERM)
                break;
            for (int k = 0; k < n; k++)
                sweep(&gs[k]);
        }
        for (int k = 0; k < n; k++)
            printf("aerie guard: tenant %s: %ld requests, %ld passed, %ld refused, %ld "
                   "unanswered\n",
                   gs[k].name, gs[k].requests, gs[k].passed, gs[k].refused, gs[k].expired);
    }
    for (int k = 0; k < n; k++)
        stop(&gs[k]);
    free(gs);
    ae_fleet_free(f);
    return rc ? 1 : 0;
}
