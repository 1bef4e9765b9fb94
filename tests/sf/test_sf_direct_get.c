/* Which read of a replicated hub stream the forwarder's resync can trust (issue 20).
 *
 * After a reconnect the forwarder asks the hub for the newest message it holds on a
 * subject. On a 3-node nats-server 2.9.10 hub with an R3 `allow_direct` stream, two reads
 * exist:
 *
 *   $JS.API.DIRECT.GET.<stream>.<subject>   any replica in the `_sys_` queue group answers,
 *                                           from its own store, followers included
 *   $JS.API.STREAM.MSG.GET.<stream>         the stream leader answers
 *
 * Case `leader_read_after_ack`: one publisher on node A stores 2000 messages one by one
 * with a synchronous JetStream publish (the PubAck says stream sequence S is stored); right
 * after each PubAck a client on another node asks both reads for the subject's last
 * message. The leader's read must never be behind S: that is what a resync may rely on,
 * and the case fails if it ever is. The direct read through the same node is counted and
 * printed (how many answers were behind S, and by how much), as the evidence for or
 * against "a follower answers DIRECT.GET while behind the leader"; it is not asserted,
 * since how far a follower trails depends on timing. */
#include "sf_util.h"

#include <stdlib.h>
#include <string.h>

#define ROUNDS 2000

/* The stream sequence in a direct get reply (header Nats-Sequence), or 0. */
static uint64_t direct_seq(natsMsg *m)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, "Nats-Sequence", &v) == NATS_OK && v ? strtoull(v, NULL, 10) : 0;
}

static uint64_t msg_get_seq(natsMsg *m)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    uint64_t seq =
        (uint64_t)json_integer_value(json_object_get(json_object_get(j, "message"), "seq"));
    json_decref(j);
    return seq;
}

static void test_leader_read_after_ack(void)
{
    sf_net n;
    sf_net_start(&n, 3, false);
    sf_stream_create(&n.hub, "VEH", 3, 0);
    int leader = sf_stream_leader(&n.hub, "VEH");
    SF_ASSERT(leader >= 0, "no stream leader");
    int reader = (leader + 1) % 3; /* a follower's node */
    printf("  stream leader hub%d; publishing through hub%d, reading through hub%d\n", leader + 1,
           leader + 1, reader + 1);
    natsConnection *pc = sf_hub_conn(&n.hub, leader);
    natsConnection *rc = sf_hub_conn(&n.hub, reader);
    jsCtx *js = NULL;
    SF_ASSERT(natsConnection_JetStream(&js, pc, NULL) == NATS_OK, "no JetStream context");
    const char *subj = "fleet.test.veh.v1.state.s0";
    long direct_behind = 0, leader_behind = 0, direct_missing = 0;
    uint64_t direct_max_lag = 0;
    for (int i = 0; i < ROUNDS; i++) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        char payload[32];
        int pl = snprintf(payload, sizeof payload, "g=%d;", i);
        natsStatus s = js_Publish(&pa, js, subj, payload, pl, NULL, &jerr);
        SF_ASSERT(s == NATS_OK && pa, "publish %d: %s (%d)", i, natsStatus_GetText(s), (int)jerr);
        uint64_t stored = pa->Sequence;
        jsPubAck_Destroy(pa);

        natsMsg *dm = NULL;
        s = natsConnection_RequestString(
            &dm, rc, "$JS.API.DIRECT.GET.VEH.fleet.test.veh.v1.state.s0", "", 5000);
        uint64_t d = s == NATS_OK ? direct_seq(dm) : 0;
        natsMsg_Destroy(dm);
        if (d == 0)
            direct_missing++;
        else if (d < stored) {
            direct_behind++;
            if (stored - d > direct_max_lag)
                direct_max_lag = stored - d;
        }

        natsMsg *gm = NULL;
        s = natsConnection_RequestString(&gm, rc, "$JS.API.STREAM.MSG.GET.VEH",
                                         "{\"last_by_subj\":\"fleet.test.veh.v1.state.s0\"}", 5000);
        SF_ASSERT(s == NATS_OK, "STREAM.MSG.GET after seq %llu: %s", (unsigned long long)stored,
                  natsStatus_GetText(s));
        uint64_t g = msg_get_seq(gm);
        natsMsg_Destroy(gm);
        if (g < stored)
            leader_behind++;
    }
    printf("  %d PubAcks; right after each: DIRECT.GET through hub%d behind the ack %ld times "
           "(at most %llu messages), no answer %ld; STREAM.MSG.GET behind %ld times\n",
           ROUNDS, reader + 1, direct_behind, (unsigned long long)direct_max_lag, direct_missing,
           leader_behind);
    fflush(stdout);
    SF_ASSERT(leader_behind == 0,
              "STREAM.MSG.GET answered behind an acknowledged publish %ld times", leader_behind);
    jsCtx_Destroy(js);
    natsConnection_Destroy(pc);
    natsConnection_Destroy(rc);
    sf_net_stop(&n);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"leader_read_after_ack", test_leader_read_after_ack, 120},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
