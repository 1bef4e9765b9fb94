/* Pipelined last-by-subject direct gets; see direct_batch.h. */
#include "cli/direct_batch.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets reqs[i]'s answer from a reply: a message, or a status (404, 503, ...). */
static void take_reply(ae_last_req *r, natsMsg *m)
{
    const char *status = NULL;
    if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK && status && *status) {
        /* 404: no message; 503: no responders, the stream does not exist here. */
        r->rc = strcmp(status, "404") == 0 || strcmp(status, "503") == 0 ? AE_ENOENT : AE_EPROTO;
        natsMsg_Destroy(m);
        return;
    }
    r->rc = 0;
    r->msg = m;
}

/* The request index a reply subject "<inbox>.<i>" carries, or -1. */
static long reply_index(const char *subject, size_t inbox_len, size_t n)
{
    if (strlen(subject) <= inbox_len + 1 || subject[inbox_len] != '.')
        return -1;
    char *end;
    long i = strtol(subject + inbox_len + 1, &end, 10);
    return *end || i < 0 || (size_t)i >= n ? -1 : i;
}

int ae_cli_last_batch(ae_cli *c, ae_last_req *reqs, size_t n, int window, ae_err *err)
{
    for (size_t i = 0; i < n; i++) {
        reqs[i].msg = NULL;
        reqs[i].rc = AE_ETIMEOUT;
    }
    if (n == 0)
        return 0;
    if (window <= 0)
        window = AE_DIRECT_BATCH_WINDOW;
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    char wild[128];
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        snprintf(wild, sizeof wild, "%s.*", (const char *)inbox);
        s = natsConnection_SubscribeSync(&sub, c->nc, wild);
    }
    if (s != NATS_OK) {
        natsInbox_Destroy(inbox);
        return ae_err_set(err, AE_EIO, "cannot subscribe for direct get replies: %s",
                          natsStatus_GetText(s));
    }
    size_t inbox_len = strlen((const char *)inbox);
    size_t sent = 0, answered = 0;
    int64_t timeout_ms = c->timeout_ns / AE_NS_PER_MS > 0 ? c->timeout_ns / AE_NS_PER_MS : 1;
    int rc = 0;
    while (answered < n) {
        /* Keep `window` requests in flight. */
        while (sent < n && sent - answered < (size_t)window) {
            const ae_last_req *r = &reqs[sent];
            char subj[sizeof r->src->api + sizeof r->src->stream + 300], reply[160];
            snprintf(subj, sizeof subj, "%s.DIRECT.GET.%s.%s", r->src->api, r->src->stream,
                     r->subject);
            snprintf(reply, sizeof reply, "%s.%zu", (const char *)inbox, sent);
            s = natsConnection_PublishRequest(c->nc, subj, reply, NULL, 0);
            if (s != NATS_OK) {
                rc = ae_err_set(err, AE_EIO, "direct get on %s failed: %s", r->src->stream,
                                natsStatus_GetText(s));
                goto out;
            }
            c->req_direct++;
            sent++;
        }
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, timeout_ms);
        if (s == NATS_TIMEOUT)
            break; /* the unanswered keep AE_ETIMEOUT */
        /* libnats hands a 503 to a sync subscription as this status, without the message:
         * which request it answered is unknown, so that one times out (a stream deleted
         * since it was listed). */
        if (s == NATS_NO_RESPONDERS)
            continue;
        if (s != NATS_OK) {
            rc = ae_err_set(err, AE_EIO, "reading direct get replies failed: %s",
                            natsStatus_GetText(s));
            goto out;
        }
        long i = reply_index(natsMsg_GetSubject(m), inbox_len, n);
        if (i < 0 || reqs[i].rc != AE_ETIMEOUT || reqs[i].msg) { /* not ours, or twice */
            natsMsg_Destroy(m);
            continue;
        }
        take_reply(&reqs[i], m);
        answered++;
    }
out:
    if (rc)
        for (size_t i = 0; i < n; i++) {
            natsMsg_Destroy(reqs[i].msg);
            reqs[i].msg = NULL;
        }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return rc;
}
