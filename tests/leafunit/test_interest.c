/* Unit tests of the interest the uplink advertises to the hub (leaf/interest.h): the LS+/LS-
 * lines for plain and queue interest, what the hub's permissions let through, and what a
 * new connection sends. No hub: the lines are collected and compared. */
#include "harness/harness.h"
#include "leaf/interest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char sent[8192];

static void collect(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    strncat(sent, line, len);
}

static const char *change(ae_interest *in, const char *subj, const char *queue, bool added, bool up)
{
    sent[0] = 0;
    AH_ASSERT_EQ_INT(ae_interest_change(in, subj, queue, added, up, collect, NULL), 0);
    return sent;
}

static void plain_interest_counts(void)
{
    ae_interest in;
    ae_interest_init(&in);
    AH_ASSERT_EQ_STR(change(&in, "a.b", NULL, true, true), "LS+ a.b\r\n");
    AH_ASSERT_EQ_STR(change(&in, "a.b", NULL, true, true), ""); /* second subscriber: nothing */
    AH_ASSERT_EQ_STR(change(&in, "a.b", NULL, false, true), "");
    AH_ASSERT_EQ_STR(change(&in, "a.b", NULL, false, true), "LS- a.b\r\n");
    AH_ASSERT_EQ_STR(change(&in, "a.b", NULL, false, true), ""); /* unknown: nothing */
    ae_interest_free(&in);
}

static void queue_weights(void)
{
    ae_interest in;
    ae_interest_init(&in);
    AH_ASSERT_EQ_STR(change(&in, "cmd", "workers", true, true), "LS+ cmd workers 1\r\n");
    AH_ASSERT_EQ_STR(change(&in, "cmd", "workers", true, true), "LS+ cmd workers 2\r\n");
    AH_ASSERT_EQ_STR(change(&in, "cmd", "others", true, true), "LS+ cmd others 1\r\n");
    AH_ASSERT_EQ_STR(change(&in, "cmd", "workers", false, true), "LS+ cmd workers 1\r\n");
    AH_ASSERT_EQ_STR(change(&in, "cmd", "workers", false, true), "LS- cmd workers\r\n");
    ae_interest_free(&in);
}

static void link_down_then_connected(void)
{
    ae_interest in;
    ae_interest_init(&in);
    AH_ASSERT_EQ_STR(change(&in, "x", NULL, true, false), ""); /* the link is down */
    AH_ASSERT_EQ_STR(change(&in, "q", "g", true, false), "");
    AH_ASSERT_EQ_STR(change(&in, "gone", NULL, true, false), "");
    AH_ASSERT_EQ_STR(change(&in, "gone", NULL, false, false), "");
    sent[0] = 0;
    ae_interest_connected(&in, NULL, collect, NULL);
    AH_ASSERT_CONTAINS(sent, "LS+ x\r\n");
    AH_ASSERT_CONTAINS(sent, "LS+ q g 1\r\n");
    AH_ASSERT(!strstr(sent, "gone"));
    ae_interest_disconnected(&in);
    AH_ASSERT_EQ_STR(change(&in, "x", NULL, false, false), "");
    sent[0] = 0;
    ae_interest_connected(&in, NULL, collect, NULL);
    AH_ASSERT_EQ_STR(sent, "LS+ q g 1\r\n");
    ae_interest_free(&in);
}

static void permissions_filter(void)
{
    ae_interest in;
    ae_interest_init(&in);
    json_t *imp = json_loads("{\"allow\":[\"fleet.prod.veh.V1.>\",\"_INBOX.>\"],\"deny\":"
                             "[\"fleet.prod.veh.V1.secret\"]}",
                             0, NULL);
    sent[0] = 0;
    ae_interest_connected(&in, imp, collect, NULL);
    json_decref(imp);
    AH_ASSERT_EQ_STR(change(&in, "fleet.prod.veh.V1.cmd.rtl", NULL, true, true),
                     "LS+ fleet.prod.veh.V1.cmd.rtl\r\n");
    AH_ASSERT_EQ_STR(change(&in, "fleet.prod.veh.V1.>", NULL, true, true),
                     "LS+ fleet.prod.veh.V1.>\r\n");
    /* outside the allow list, or wildcard interest reaching outside it: never sent */
    AH_ASSERT_EQ_STR(change(&in, "fleet.prod.veh.V2.cmd.rtl", NULL, true, true), "");
    AH_ASSERT_EQ_STR(change(&in, "fleet.prod.veh.*.cmd.rtl", NULL, true, true), "");
    AH_ASSERT_EQ_STR(change(&in, "fleet.prod.veh.V1.secret", NULL, true, true), "");
    /* what every hub denies a leaf */
    AH_ASSERT_EQ_STR(change(&in, "$JS.API.STREAM.INFO.X", NULL, true, true), "");
    AH_ASSERT_EQ_STR(change(&in, ">", NULL, true, true), "");
    AH_ASSERT(ae_interest_hub_denies("$KV.bucket.key") && ae_interest_hub_denies("$OBJ.x"));
    AH_ASSERT(!ae_interest_hub_denies("$JS.hub.API.STREAM.INFO.X"));
    AH_ASSERT(ae_interest_permitted(NULL, "anything"));
    ae_interest_free(&in);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"plain_interest_counts", plain_interest_counts, 10},
        {"queue_weights", queue_weights, 10},
        {"link_down_then_connected", link_down_then_connected, 10},
        {"permissions_filter", permissions_filter, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
