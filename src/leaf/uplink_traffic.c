/* What crosses the uplink once it is up: interest both ways (local subscriptions advertised
 * as LS+/LS- through the hub's import permissions, the hub's LS+/LS- mirrored into the
 * broker's sublist) and messages both ways (local messages the hub wants as LMSG/HMSG, the
 * hub's routed locally or handed to the forwarder's inbox). Calls uplink_write.c, uplink.c. */
#include "leaf/uplink_internal.h"
#include "common/log.h"
#include "leaf/subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- interest: local -> hub ------------------------------------------------------------ */

static void emit_ctrl(void *ctx, const char *line, size_t len)
{
    uplink_send_ctrl(ctx, line, len);
}

void uplink_hook_interest(void *ctx, const ae_ssub *sub, bool added)
{
    ae_uplink *u = ctx;
    ae_interest_change(&u->local, sub->subject, sub->queue, added, u->state == AE_UPLINK_READY,
                       emit_ctrl, u);
}

void uplink_send_all_interest(ae_uplink *u)
{
    /* A loop-detection subject of this connection only: a previous connection that the hub
     * has not noticed dead yet (a black-holed link that came back) still holds the old one,
     * and the hub would otherwise hand it back to us as a loop. */
    char rnd[24];
    uplink_rand_token(rnd, 22);
    snprintf(u->lds, sizeof u->lds, "$LDS.%s", rnd);
    uplink_send_ctrlf(u, "LS+ %s\r\n", u->lds);
    uplink_send_ctrlf(u, "LS+ %s>\r\n", u->inbox_prefix);
    ae_interest_connected(&u->local, u->import_perm, emit_ctrl, u);
}

/* ---- interest: hub -> local ------------------------------------------------------------ */

void uplink_hub_ls_plus(ae_uplink *u, const ae_op *op)
{
    if (op->subject.len == strlen(u->lds) && !memcmp(op->subject.ptr, u->lds, op->subject.len)) {
        /* Our own loop-detection subject came back: interest goes round in a circle. */
        uplink_send_ctrl(u,
                         "-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to "
                         "reconnect for 30s'\r\n",
                         strlen("-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt "
                                "to reconnect for 30s'\r\n"));
        uplink_set_error(u, "loop detected: the hub sent back our own interest; waiting 30s");
        u->forced_delay = LOOP_DELAY_NS;
        uplink_disconnect(u, "loop detected");
        return;
    }
    if (!ae_subject_valid(op->subject.ptr, op->subject.len))
        return;
    char key[4096];
    int kn = snprintf(key, sizeof key, "%.*s%s%.*s", (int)op->subject.len, op->subject.ptr,
                      op->queue.len ? " " : "", (int)op->queue.len, op->queue.ptr);
    if (kn <= 0 || (size_t)kn >= sizeof key)
        return;
    hub_interest *hi = ae_hmap_get(&u->hub, key, (size_t)kn);
    if (hi) {
        hi->ss.weight = op->weight; /* LS+ is idempotent; a queue's weight is replaced */
        return;
    }
    hi = calloc(1, sizeof *hi);
    if (!hi)
        return;
    hi->key = strndup(key, (size_t)kn);
    hi->key_len = (size_t)kn;
    hi->ss.kind = AE_EP_UPLINK;
    hi->ss.subject = strndup(op->subject.ptr, op->subject.len);
    hi->ss.queue = op->queue.len ? strndup(op->queue.ptr, op->queue.len) : NULL;
    hi->ss.weight = op->weight;
    hi->ss.sub = (ae_sub){.subject = hi->ss.subject,
                          .subject_len = op->subject.len,
                          .queue = hi->ss.queue,
                          .queue_len = op->queue.len,
                          .owner = u};
    if (ae_sublist_insert(u->srv->sl, &hi->ss.sub) != 0) {
        free(hi->ss.subject);
        free(hi->ss.queue);
        free(hi->key);
        free(hi);
        return;
    }
    ae_hmap_put(&u->hub, hi->key, hi->key_len, hi);
}

void uplink_hub_ls_minus(ae_uplink *u, const ae_op *op)
{
    char key[4096];
    int kn = snprintf(key, sizeof key, "%.*s%s%.*s", (int)op->subject.len, op->subject.ptr,
                      op->queue.len ? " " : "", (int)op->queue.len, op->queue.ptr);
    if (kn <= 0 || (size_t)kn >= sizeof key)
        return;
    hub_interest *hi = ae_hmap_del(&u->hub, key, (size_t)kn);
    if (!hi)
        return;
    ae_sublist_remove(u->srv->sl, &hi->ss.sub);
    free(hi->ss.subject);
    free(hi->ss.queue);
    free(hi->key);
    free(hi);
}

/* ---- messages both ways ---------------------------------------------------------------- */

void uplink_hook_forward(void *ctx, const ae_msg *m, const ae_slice *queues, size_t nq)
{
    ae_uplink *u = ctx;
    if (u->state != AE_UPLINK_READY)
        return;
    char subj[1024];
    snprintf(subj, sizeof subj, "%.*s", (int)m->subject.len, m->subject.ptr);
    if (!ae_interest_permitted(u->export_perm, subj))
        return;
    if (u->hub_max_payload > 0 && (int64_t)m->total_len > u->hub_max_payload) {
        u->dropped_msgs++;
        ae_log_warn("uplink: not forwarding %.*s: %zu bytes exceed the hub's max_payload %lld",
                    (int)m->subject.len, m->subject.ptr, m->total_len,
                    (long long)u->hub_max_payload);
        return;
    }
    if (u->data.pending > DATA_QUEUE_LIMIT) {
        u->dropped_msgs++;
        return;
    }
    /* LMSG subject [reply | "|" queues | "+" reply queues] [hdr] total */
    char line[8192];
    size_t n = 0;
    n += (size_t)snprintf(line + n, sizeof line - n, "%s %.*s", m->hdr_len ? "HMSG" : "LMSG",
                          (int)m->subject.len, m->subject.ptr);
    if (nq > 0) {
        if (m->reply.len)
            n += (size_t)snprintf(line + n, sizeof line - n, " + %.*s", (int)m->reply.len,
                                  m->reply.ptr);
        else
            n += (size_t)snprintf(line + n, sizeof line - n, " |");
        for (size_t i = 0; i < nq && n < sizeof line - 64; i++)
            n += (size_t)snprintf(line + n, sizeof line - n, " %.*s", (int)queues[i].len,
                                  queues[i].ptr);
    } else if (m->reply.len) {
        n += (size_t)snprintf(line + n, sizeof line - n, " %.*s", (int)m->reply.len, m->reply.ptr);
    }
    if (m->hdr_len)
        n += (size_t)snprintf(line + n, sizeof line - n, " %zu", m->hdr_len);
    n += (size_t)snprintf(line + n, sizeof line - n, " %zu\r\n", m->total_len);
    if (n >= sizeof line)
        return;
    uplink_queue_data(u, line, n, NULL, 0, m->payload, m->total_len);
}

void uplink_hub_msg(ae_uplink *u, const ae_op *op)
{
    u->in_msgs++;
    u->in_bytes += op->total_len;
    size_t pl = strlen(u->inbox_prefix);
    if (op->subject.len > pl && !memcmp(op->subject.ptr, u->inbox_prefix, pl)) {
        if (u->client.on_inbox)
            u->client.on_inbox(u->client.ctx, op);
        return;
    }
    ae_msg m = {.subject = op->subject,
                .deliver_subject = op->subject,
                .reply = op->reply,
                .hdr_len = op->hdr_len,
                .total_len = op->total_len,
                .payload = op->payload,
                .queues = op->queues,
                .from_uplink = true};
    /* JetStream deliveries carry the stream subject after the last '@' of an ack reply. */
    if (op->reply.len > 8 && !memcmp(op->reply.ptr, "$JS.ACK.", 8)) {
        const char *at = NULL;
        for (size_t i = op->reply.len; i-- > 8;) {
            if (op->reply.ptr[i] == '@') {
                at = op->reply.ptr + i;
                break;
            }
        }
        if (at && at + 1 < op->reply.ptr + op->reply.len) {
            m.deliver_subject.ptr = at + 1;
            m.deliver_subject.len = (size_t)(op->reply.ptr + op->reply.len - at - 1);
            m.reply.len = (size_t)(at - op->reply.ptr);
        }
    }
    ae_server_route(u->srv, NULL, &m);
}
