/* Commands to the autopilot: a COMMAND_LONG sent to where the autopilot's frames come from,
 * resent every cmd_timeout with confirmation + 1 up to cmd_retries times, and matched to its
 * COMMAND_ACK by MAV_CMD (an ACK names nothing else, so two of the same MAV_CMD are never in
 * flight at once).
 *
 * A request without an id is sent at once and answered on its reply subject, or refused as
 * busy, as it always was (queue.c hands it over through ae_gw_exec_plain). A command with an
 * id is started by queue.c with ae_gw_exec_start when its turn comes; its outcome goes back
 * through g->cmd_finished, which queue.c sets, so that this file never calls up into it. */
#include "gw/gw_priv.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "mavlink/modes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ae_gw_exec_refuse(ae_gw *g, const char *reply, const char *name, const char *kind,
                       const char *msg)
{
    char doc[1024];
    ae_gw_buf b;
    ae_gw_buf_init(&b, doc, sizeof doc);
    ae_gw_buf_printf(&b, "{\"ok\":false,\"command\":");
    ae_gw_buf_str(&b, name);
    ae_gw_buf_printf(&b, ",\"result\":\"%s\",\"error\":", kind);
    ae_gw_buf_str(&b, msg);
    ae_gw_buf_printf(&b, "}");
    if (!b.overflow)
        ae_gw_reply(g, reply, doc, b.len);
    g->cmd_failed[AE_GW_FAIL_REJECTED]++;
    ae_log_info("command %s refused: %s", name, msg);
}

/* The outcome of a pending command: result is the MAV_RESULT name or "timeout". */
static void finish_queued(ae_gw *g, ae_gw_pending *p, const char *result, int mav_result,
                          const ae_mav_command_ack *ack)
{
    char msg[200];
    if (mav_result < 0)
        snprintf(msg, sizeof msg,
                 "no COMMAND_ACK from the autopilot after %d attempts; the link may be down",
                 p->attempts);
    else
        snprintf(msg, sizeof msg, "the autopilot answered %s (MAV_RESULT %d)", result, mav_result);
    ae_gw_outcome o = {.state = ae_gw_cmd_state_of(mav_result),
                       .result = result,
                       .error = mav_result == AE_MAV_RESULT_ACCEPTED ? NULL : msg,
                       .mav_cmd = p->cl.command,
                       .mav_result = mav_result,
                       .result_param2 = ack ? ack->result_param2 : -1,
                       .attempts = p->attempts,
                       .elapsed_s = (double)(ae_mono_ns() - p->started) / 1e9};
    ae_gw_qcmd *q = p->q;
    memset(p, 0, sizeof *p);
    g->cmd_finished(g, q, &o);
}

/* Counts the outcome of a command that went out. */
static void count_finished(ae_gw *g, int mav_result)
{
    if (mav_result == AE_MAV_RESULT_ACCEPTED)
        g->cmd_acked++;
    else if (mav_result < 0)
        g->cmd_failed[AE_GW_FAIL_TIMEOUT]++;
    else if (strcmp(ae_gw_cmd_state_of(mav_result), AE_GW_CS_DENIED) == 0)
        g->cmd_failed[AE_GW_FAIL_DENIED]++;
    else
        g->cmd_failed[AE_GW_FAIL_FAILED]++;
}

static void finish_cmd(ae_gw *g, ae_gw_pending *p, const char *result, int mav_result,
                       const ae_mav_command_ack *ack)
{
    count_finished(g, mav_result);
    ae_log_info("command %s%s%s (MAV_CMD %u): %s after %d attempt(s)", p->name, p->q ? " " : "",
                p->q ? p->q->id : "", p->cl.command, result, p->attempts);
    if (p->q) {
        finish_queued(g, p, result, mav_result, ack);
        return;
    }
    char doc[1024];
    ae_gw_buf b;
    ae_gw_buf_init(&b, doc, sizeof doc);
    bool ok = mav_result == AE_MAV_RESULT_ACCEPTED;
    ae_gw_buf_printf(&b, "{\"ok\":%s,\"command\":\"%s\",\"result\":\"%s\",\"mav_cmd\":%u",
                     ok ? "true" : "false", p->name, result, p->cl.command);
    if (mav_result >= 0)
        ae_gw_buf_printf(&b, ",\"mav_result\":%d", mav_result);
    if (ack && ack->result_param2)
        ae_gw_buf_printf(&b, ",\"result_param2\":%d", ack->result_param2);
    ae_gw_buf_printf(&b, ",\"attempts\":%d", p->attempts);
    ae_gw_buf_num(&b, "elapsed_s", (double)(ae_mono_ns() - p->started) / 1e9, 3);
    if (!ok) {
        ae_gw_buf_printf(&b, ",\"error\":");
        char msg[200];
        if (mav_result < 0)
            snprintf(msg, sizeof msg,
                     "no COMMAND_ACK from the autopilot after %d attempts; the link may be down",
                     p->attempts);
        else
            snprintf(msg, sizeof msg, "the autopilot answered %s (MAV_RESULT %d)", result,
                     mav_result);
        ae_gw_buf_str(&b, msg);
    }
    ae_gw_buf_printf(&b, "}");
    if (!b.overflow)
        ae_gw_reply(g, p->reply, doc, b.len);
    free(p->reply);
    memset(p, 0, sizeof *p);
}

static void send_attempt(ae_gw *g, ae_gw_pending *p)
{
    p->cl.confirmation = (uint8_t)p->attempts;
    if (p->attempts > 0)
        g->cmd_resends++;
    p->attempts++;
    p->deadline = ae_mono_ns() + g->cfg.cmd_timeout_ns;
    int rc = ae_gw_send_to_autopilot(g, AE_MAV_MSG_COMMAND_LONG, &p->cl);
    if (rc)
        ae_log_debug("command %s attempt %d not sent: %s", p->name, p->attempts, ae_strerror(rc));
}

/* A free slot for MAV_CMD cmd, or NULL with err saying why there is none. */
static ae_gw_pending *free_slot(ae_gw *g, uint16_t cmd, ae_err *err)
{
    ae_gw_pending *slot = NULL;
    for (int i = 0; i < AE_GW_PENDING_MAX; i++) {
        if (g->cmds[i].used && g->cmds[i].cl.command == cmd) {
            /* COMMAND_ACK names only the MAV_CMD, so two in flight could not be told apart. */
            ae_err_set(err, AE_EAGAIN,
                       "a %s command (MAV_CMD %u) is still waiting for its ACK; retry when it "
                       "has been answered",
                       g->cmds[i].name, cmd);
            return NULL;
        }
        if (!g->cmds[i].used && !slot)
            slot = &g->cmds[i];
    }
    if (!slot)
        ae_err_set(err, AE_EAGAIN, "too many commands waiting for ACKs; retry later");
    return slot;
}

static void start_slot(ae_gw *g, ae_gw_pending *slot, const char *name, const char *reply,
                       ae_gw_qcmd *q, const ae_mav_command_long *cl)
{
    slot->used = true;
    snprintf(slot->name, sizeof slot->name, "%s", name);
    slot->reply = reply ? strdup(reply) : NULL;
    slot->q = q;
    slot->cl = *cl;
    slot->attempts = 0;
    slot->started = ae_mono_ns();
    g->cmd_sent++;
    send_attempt(g, slot);
}

void ae_gw_exec_plain(ae_gw *g, natsMsg *m, const char *name)
{
    const char *reply = natsMsg_GetReply(m);
    ae_gw_vehinfo vi = ae_gw_vehinfo_now(g);
    ae_mav_command_long cl;
    ae_err err = {0};
    int rc =
        ae_gw_cmd_build(name, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &vi, &cl, &err);
    if (rc) {
        ae_gw_exec_refuse(g, reply, name,
                          rc == AE_ENOENT   ? "unknown_command"
                          : rc == AE_EAGAIN ? "unavailable"
                                            : "bad_arguments",
                          err.msg);
        return;
    }
    ae_gw_pending *slot = free_slot(g, cl.command, &err);
    if (!slot) {
        ae_gw_exec_refuse(g, reply, name, "busy", err.msg);
        return;
    }
    start_slot(g, slot, name, reply, NULL, &cl);
}

int ae_gw_exec_start(ae_gw *g, ae_gw_qcmd *q, ae_err *err)
{
    ae_gw_vehinfo vi = ae_gw_vehinfo_now(g);
    ae_mav_command_long cl;
    int rc = ae_gw_cmd_build(q->name, q->body ? q->body : "", q->body_len, &vi, &cl, err);
    if (rc)
        return rc;
    ae_gw_pending *slot = free_slot(g, cl.command, err);
    if (!slot)
        return AE_EAGAIN;
    /* At most once: the journal says "delivered" on disk before anything goes out. */
    char *rep = ae_gw_cmd_report(
        g->cfg.vid, q,
        &(ae_gw_outcome){.state = AE_GW_CS_DELIVERED,
                         .result = "sent",
                         .mav_cmd = cl.command,
                         .mav_result = -1,
                         .result_param2 = -1,
                         .attempts = -1,
                         .elapsed_s = -1,
                         .has_age = true,
                         .age_s = (double)ae_gw_qcmd_age(q, ae_now_ns(), g->hub_offset_ns) / 1e9},
        ae_now_ns());
    if (!rep)
        return ae_err_set(err, AE_EIO, "out of memory for the report of %s", q->id);
    rc = ae_gw_journal_record(g->journal, q->id, AE_GW_CS_DELIVERED, rep, err);
    if (rc == 0) {
        ae_gw_publish(g, "event.cmd", rep, (int)strlen(rep));
        g->reports_unflushed = true;
        q->started = true;
        start_slot(g, slot, q->name, NULL, q, &cl);
    }
    free(rep);
    return rc ? AE_EIO : 0;
}

void ae_gw_exec_ack(ae_gw *g, const ae_mav_command_ack *ack)
{
    /* An ACK that names another sender is for another ground station. */
    if (ack->target_system && ack->target_system != g->cfg.sysid)
        return;
    for (int i = 0; i < AE_GW_PENDING_MAX; i++) {
        ae_gw_pending *p = &g->cmds[i];
        if (!p->used || p->cl.command != ack->command)
            continue;
        if (ack->result == AE_MAV_RESULT_IN_PROGRESS) {
            /* More ACKs follow: stop resending, keep waiting. */
            p->deadline = ae_mono_ns() + g->cfg.cmd_timeout_ns * (g->cfg.cmd_retries + 1);
            return;
        }
        finish_cmd(g, p, ae_mav_result_name(ack->result), ack->result, ack);
        return;
    }
}

void ae_gw_exec_timeouts(ae_gw *g, int64_t now)
{
    for (int i = 0; i < AE_GW_PENDING_MAX; i++) {
        ae_gw_pending *p = &g->cmds[i];
        if (!p->used || now < p->deadline)
            continue;
        if (p->attempts <= g->cfg.cmd_retries)
            send_attempt(g, p);
        else
            finish_cmd(g, p, "timeout", -1, NULL);
    }
}

int64_t ae_gw_exec_next_deadline(const ae_gw *g)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < AE_GW_PENDING_MAX; i++)
        if (g->cmds[i].used && g->cmds[i].deadline < next)
            next = g->cmds[i].deadline;
    return next;
}

void ae_gw_exec_free(ae_gw *g)
{
    /* Commands with an id still in flight stay "delivered" in the journal: the next run
     * reports them as interrupted (queue.c). Their qcmd belongs to the queue. */
    for (int i = 0; i < AE_GW_PENDING_MAX; i++)
        free(g->cmds[i].reply);
}
