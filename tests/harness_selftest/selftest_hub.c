/* Tests of the hub helper against real nats-server processes: a 3-node JetStream cluster
 * comes up with the documented users, answers a JetStream API request (an R3 stream and a
 * publish with an ack, through libnats), survives a node restart, and a single node starts
 * with extra config appended. */
#include "harness/harness.h"

#include <nats/nats.h>
#include <stdlib.h>
#include <unistd.h>

static natsConnection *connect_as(int port, const char *user, natsStatus *st_out)
{
    char url[128];
    snprintf(url, sizeof url, "nats://%s:secret@127.0.0.1:%d", user, port);
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetTimeout(o, 5000);
    natsOptions_SetAllowReconnect(o, false);
    natsStatus st = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (st_out)
        *st_out = st;
    return st == NATS_OK ? nc : NULL;
}

/* Creates stream `name` with `replicas`, retrying briefly: right after a cluster forms,
 * the first placement can still fail while peers report in. */
static void add_stream(jsCtx *js, const char *name, const char *subject, int replicas)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char *subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Replicas = replicas;
    cfg.Storage = js_FileStorage;
    natsStatus st = NATS_ERR;
    jsErrCode jerr = 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        jsStreamInfo *si = NULL;
        st = js_AddStream(&si, js, &cfg, NULL, &jerr);
        if (st == NATS_OK) {
            AH_ASSERT_EQ_INT(si->Config->Replicas, replicas);
            jsStreamInfo_Destroy(si);
            return;
        }
        ah_sleep_ms(250);
    }
    ah_fail(__FILE__, __LINE__, "js_AddStream %s R%d: %s (js err %d): %s", name, replicas,
            natsStatus_GetText(st), (int)jerr, nats_GetLastError(NULL));
}

static void publish_acked(jsCtx *js, const char *subject, const char *stream, uint64_t seq)
{
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_Publish(&pa, js, subject, "hello", 5, NULL, &jerr);
    AH_ASSERT_MSG(st == NATS_OK, "js_Publish: %s (js err %d)", natsStatus_GetText(st), (int)jerr);
    AH_ASSERT_EQ_STR(pa->Stream, stream);
    AH_ASSERT_EQ_INT(pa->Sequence, seq);
    AH_ASSERT_EQ_STR(pa->Domain, "hub");
    jsPubAck_Destroy(pa);
}

static void t_cluster3_jetstream(void)
{
    ah_hub h;
    AH_ASSERT(ah_hub_start(&h, 3, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        int status = 0;
        char *body = ah_http_get(h.http_port[i], "/varz", &status);
        AH_ASSERT_EQ_INT(status, 200);
        char name[32];
        snprintf(name, sizeof name, "\"server_name\": \"hub%d\"", i + 1);
        AH_ASSERT_CONTAINS(body, name);
        AH_ASSERT_CONTAINS(body, "\"name\": \"hubc\"");
        free(body);
    }

    /* The vehicle user is for leaf connections only. */
    natsStatus st;
    natsConnection *bad = connect_as(h.client_port[0], "vehicle", &st);
    AH_ASSERT_MSG(bad == NULL, "vehicle/secret must not log in on the client port");
    natsConnection *nc = connect_as(h.client_port[0], "operator", &st);
    AH_ASSERT_MSG(nc, "operator connect: %s", natsStatus_GetText(st));

    jsCtx *js = NULL;
    AH_ASSERT(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    add_stream(js, "TELEM", "telem.>", 3);
    publish_acked(js, "telem.v1.pos", "TELEM", 1);
    publish_acked(js, "telem.v1.pos", "TELEM", 2);

    /* The leaf port speaks the NATS protocol (INFO first). */
    int fd = ah_connect(h.leaf_port[0]);
    AH_ASSERT(fd >= 0);
    char buf[4096];
    ah_read_until(fd, buf, sizeof buf, "\r\n", 5000);
    AH_ASSERT_CONTAINS(buf, "INFO {");
    close(fd);

    /* Restart a follower-or-leader node; the R3 stream keeps taking writes. */
    AH_ASSERT(ah_hub_restart_node(&h, 2) == 0);
    AH_ASSERT(ah_alive(&h.proc[2]));
    uint64_t seq = 3;
    int64_t deadline = ah_now_ms() + (int64_t)(15000 * ah_timeout_scale());
    for (;;) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        st = js_Publish(&pa, js, "telem.v1.pos", "x", 1, NULL, &jerr);
        if (st == NATS_OK) {
            AH_ASSERT_EQ_INT(pa->Sequence, seq);
            jsPubAck_Destroy(pa);
            break;
        }
        AH_ASSERT_MSG(ah_now_ms() < deadline, "no ack after restart: %s", natsStatus_GetText(st));
        ah_sleep_ms(200);
    }

    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", h.dir);
    ah_hub_stop(&h);
    AH_ASSERT(!ah_alive(&h.proc[0]) && h.proc[0].pid == 0);
    AH_ASSERT_MSG(access(dir, F_OK) != 0, "hub dir %s not removed", dir);
    nats_Close();
}

static void t_single_node_extra_conf(void)
{
    ah_hub h;
    AH_ASSERT(ah_hub_start(&h, 1, "max_payload: 65536") == 0);
    AH_ASSERT_EQ_INT(h.cluster_port[0], 0);
    int status = 0;
    char *body = ah_http_get(h.http_port[0], "/varz", &status);
    AH_ASSERT_EQ_INT(status, 200);
    AH_ASSERT_CONTAINS(body, "\"max_payload\": 65536");
    free(body);
    body = ah_http_get(h.http_port[0], "/healthz?js-enabled-only=true", &status);
    AH_ASSERT_EQ_INT(status, 200);
    AH_ASSERT_CONTAINS(body, "ok");
    free(body);

    natsStatus st;
    natsConnection *nc = connect_as(h.client_port[0], "operator", &st);
    AH_ASSERT_MSG(nc, "operator connect: %s", natsStatus_GetText(st));
    jsCtx *js = NULL;
    AH_ASSERT(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    add_stream(js, "ONE", "one.>", 1);
    publish_acked(js, "one.a", "ONE", 1);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    ah_hub_stop(&h);
    nats_Close();
}

static void t_bad_arguments(void)
{
    ah_hub h;
    AH_ASSERT_EQ_INT(ah_hub_start(&h, 0, NULL), -1);
    AH_ASSERT_EQ_INT(ah_hub_start(&h, AH_HUB_MAX + 1, NULL), -1);
    /* A config nats-server rejects fails cleanly instead of hanging. */
    int64_t t0 = ah_now_ms();
    AH_ASSERT_EQ_INT(ah_hub_start(&h, 1, "this is { not valid"), -1);
    AH_ASSERT(ah_now_ms() - t0 < 20000);
    AH_ASSERT_EQ_INT(h.proc[0].pid, 0);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"cluster3_jetstream", t_cluster3_jetstream, 90},
        {"single_node_extra_conf", t_single_node_extra_conf, 60},
        {"bad_arguments", t_bad_arguments, 60},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
