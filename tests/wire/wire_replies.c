/* Compatibility: the exact replies to edge-case and bad input, in order. Each case sends
 * one input on a fresh connection and requires, byte for byte, what nats-server 2.9.10 sends
 * back (recorded from it, and re-checked against it by the nats-server variant of this
 * suite), and whether it then closes the connection:
 *   - verbose +OK before the message a PUB delivers back to the same connection;
 *   - a pending +OK (of CONNECT) written before the close on a parse error;
 *   - CONNECT fields of the wrong type, "protocol" outside 0..1 (4294967297 included);
 *   - -ERR texts and their order for permissions (publish, subscribe, queues, reserved reply
 *     subjects), limits, pedantic subjects, client -ERR, lenient UNSUB.
 * OPEN cases end with a PING, so the reply ends with PONG and the connection must stay up;
 * CLOSES cases must end in a close; QUIET cases must stay up with nothing more said. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"

enum outcome { OPEN, CLOSES, QUIET };

typedef struct reply_case {
    const char *name;
    const char *input;
    const char *expect;
    enum outcome outcome;
} reply_case;

static const reply_case PLAIN[] = {
    {"verbose_pub_self", "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\nPONG\r\n", OPEN},
    {"verbose_sub_no_sid", "CONNECT {\"verbose\":true}\r\nSUB a\r\n", "+OK\r\n", CLOSES},
    {"verbose_hpub_bad_sizes", "CONNECT {\"verbose\":true,\"headers\":true}\r\nHPUB a 10 5\r\n",
     "+OK\r\n", CLOSES},
    {"verbose_hpub_no_headers",
     "CONNECT {\"verbose\":true}\r\nHPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "+OK\r\n", CLOSES},
    {"verbose_pub_bad_size", "CONNECT {\"verbose\":true}\r\nPUB a b c\r\n", "+OK\r\n", CLOSES},
    {"protocol_2p32", "CONNECT {\"verbose\":false,\"protocol\":4294967297}\r\nPING\r\n",
     "-ERR 'invalid client protocol'\r\n", CLOSES},
    {"protocol_neg", "CONNECT {\"verbose\":false,\"protocol\":-1}\r\nPING\r\n",
     "-ERR 'invalid client protocol'\r\n", CLOSES},
    {"protocol_string", "CONNECT {\"verbose\":false,\"protocol\":\"1\"}\r\nPING\r\n", "", CLOSES},
    {"protocol_float", "CONNECT {\"verbose\":false,\"protocol\":1.5}\r\nPING\r\n", "", CLOSES},
    {"verbose_int", "CONNECT {\"verbose\":1}\r\nPING\r\n", "", CLOSES},
    {"verbose_unsub_unknown", "CONNECT {\"verbose\":true}\r\nUNSUB 9\r\nPING\r\n",
     "+OK\r\n+OK\r\nPONG\r\n", OPEN},
    {"pedantic_wildcard_pub",
     "CONNECT {\"verbose\":true,\"pedantic\":true}\r\nSUB > 1\r\nPUB a.* 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG a.* 1 1\r\nx\r\nPONG\r\n", OPEN},
    {"no_connect_pub", "PUB a 1\r\nx\r\nPING\r\n", "+OK\r\nPONG\r\n", OPEN},
    {"verbose_bad_sub_subject", "CONNECT {\"verbose\":true}\r\nSUB a..b 1\r\nPING\r\n",
     "+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n", OPEN},
    {"payload_too_long", "CONNECT {\"verbose\":true}\r\nPUB a 2\r\nhello\r\n",
     "+OK\r\n-ERR 'Unknown Protocol Operation'\r\n", CLOSES},
    {"client_ok", "CONNECT {\"verbose\":false}\r\n+OK\r\nPING\r\n", "PONG\r\n", OPEN},
    {"client_err", "CONNECT {\"verbose\":false}\r\n-ERR 'x'\r\nPING\r\n", "", CLOSES},
    {"client_info", "CONNECT {\"verbose\":false}\r\nINFO {}\r\nPING\r\n", "PONG\r\n", OPEN},
    {"no_responders_no_headers", "CONNECT {\"verbose\":true,\"no_responders\":true}\r\nPING\r\n",
     "-ERR 'no responders requires headers support'\r\n", CLOSES},
    {"verbose_no_echo",
     "CONNECT {\"verbose\":true,\"echo\":false}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nPONG\r\n", OPEN},
    {"verbose_no_responders",
     "CONNECT {\"verbose\":true,\"headers\":true,\"no_responders\":true}\r\nSUB r.* 1\r\nPUB "
     "nobody r.1 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nHMSG r.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n", OPEN},
    {"gnr_subject", "CONNECT {\"verbose\":true}\r\nPUB $GNR.x 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\nPONG\r\n", OPEN},
    {"reserved_reply", "CONNECT {\"verbose\":true}\r\nPUB a _R_.x 1\r\nx\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\nPONG\r\n", OPEN},
    {"jsack_reply", "CONNECT {\"verbose\":true}\r\nPUB a $JS.ACK.x 1\r\nx\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.x\"'\r\nPONG\r\n",
     OPEN},
    {"unsub_bad_max",
     "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nUNSUB 1 x\r\nPUB a 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\n+OK\r\nPONG\r\n", OPEN},
    {"unsub_three_args", "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nUNSUB 1 2 3\r\n",
     "+OK\r\n+OK\r\n", CLOSES},
    {"double_connect", "CONNECT {\"verbose\":true}\r\nCONNECT {\"verbose\":true}\r\nPING\r\n",
     "+OK\r\n+OK\r\nPONG\r\n", OPEN},
    {"verbose_hpub_self",
     "CONNECT {\"verbose\":true,\"headers\":true}\r\nSUB a 1\r\nHPUB a 12 "
     "14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nHMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n", OPEN},
    {"zero_payload", "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nPUB a 0\r\n\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nMSG a 1 0\r\n\r\nPONG\r\n", OPEN},
    {"unsub_max_reached",
     "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1 1\r\nPUB a "
     "1\r\ny\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\n+OK\r\n+OK\r\nPONG\r\n", OPEN},
    {"dup_sid",
     "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nSUB b 1\r\nPUB b 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG a 1 1\r\ny\r\nPONG\r\n", OPEN},
    {"empty_connect_json", "CONNECT \r\n", "", CLOSES},
    {"connect_not_object", "CONNECT []\r\nPING\r\n", "", CLOSES},
    {"connect_extra_fields", "CONNECT {\"verbose\":true,\"foo\":1,\"lang\":\"x\"}\r\nPING\r\n",
     "+OK\r\nPONG\r\n", OPEN},
    {"pub_then_close_partial", "CONNECT {\"verbose\":true}\r\nPUB a 5\r\nab", "+OK\r\n", QUIET},
    {"max_payload_verbose", "CONNECT {\"verbose\":true}\r\nPUB a 99999999\r\n",
     "+OK\r\n-ERR 'Maximum Payload Violation'\r\n", CLOSES},
    {"blank_lines", "CONNECT {\"verbose\":true}\r\n\r\n",
     "+OK\r\n-ERR 'Unknown Protocol Operation'\r\n", CLOSES},
    {"sub_queue_verbose", "CONNECT {\"verbose\":true}\r\nSUB a q 1\r\nPUB a 1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\nPONG\r\n", OPEN},
    {"ping_pong_verbose", "CONNECT {\"verbose\":true}\r\nPING\r\nPONG\r\nPING\r\n",
     "+OK\r\nPONG\r\nPONG\r\n", OPEN},
    {"tab_args", "CONNECT {\"verbose\":true}\r\nSUB\ta\t1\r\nPUB\ta\t1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\nPONG\r\n", OPEN},
    {"headers_false_hmsg",
     "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB a 1\r\nHPUB a r 12 "
     "14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
     "HMSG a 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n", OPEN},
    {"connect_null_fields",
     "CONNECT {\"verbose\":null,\"protocol\":null,\"name\":null}\r\nPING\r\n", "+OK\r\nPONG\r\n",
     OPEN},
};

static const char CONF_PERMS[] =
    "authorization {\n"
    "  users = [\n"
    "    {user: u, password: p, permissions: {publish: {allow: [\"foo.>\", \"_INBOX.>\"], deny: "
    "[\"foo.secret\"]}, subscribe: {allow: [\"bar.>\", \"q.* grp\", \"w.> g.*\"], deny: "
    "[\"bar.secret\", \"w.x bad\"]}}}\n"
    "    {user: r, password: p, permissions: {subscribe: \"req\", allow_responses: true}}\n"
    "    {user: d, password: p, permissions: {subscribe: {deny: \"bar.secret\"}}}\n"
    "    {user: o, password: p}\n"
    "  ]\n"
    "}\n";

static const reply_case PERMS[] = {
    {"pub_denied",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nPUB baz 1\r\nx\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Publish to \"baz\"'\r\nPONG\r\n", OPEN},
    {"pub_deny_rule",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nPUB foo.secret 1\r\nx\r\nPUB "
     "foo.ok 1\r\ny\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n+OK\r\nPONG\r\n", OPEN},
    {"sub_denied",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB baz 1\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Subscription to \"baz\"'\r\nPONG\r\n", OPEN},
    {"sub_deny_rule",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB bar.secret 1\r\nSUB bar.x "
     "2\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Subscription to \"bar.secret\"'\r\n+OK\r\nPONG\r\n",
     OPEN},
    {"queue_allowed",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB q.a grp 1\r\nSUB q.a other "
     "2\r\nSUB q.a 3\r\nPING\r\n",
     "+OK\r\n+OK\r\n-ERR 'Permissions Violation for Subscription to \"q.a\" using queue "
     "\"other\"'\r\n-ERR 'Permissions Violation for Subscription to \"q.a\"'\r\nPONG\r\n",
     OPEN},
    {"queue_wildcard",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB w.a g.x 1\r\nSUB w.a h "
     "2\r\nSUB w.x bad 3\r\nSUB w.x good 4\r\nSUB w.x 5\r\nPING\r\n",
     "+OK\r\n+OK\r\n-ERR 'Permissions Violation for Subscription to \"w.a\" using queue "
     "\"h\"'\r\n-ERR 'Permissions Violation for Subscription to \"w.x\" using queue "
     "\"bad\"'\r\n-ERR 'Permissions Violation for Subscription to \"w.x\" using queue "
     "\"good\"'\r\n-ERR 'Permissions Violation for Subscription to \"w.x\"'\r\nPONG\r\n",
     OPEN},
    {"wildcard_sub_deny_filter",
     "CONNECT {\"verbose\":false,\"user\":\"d\",\"pass\":\"p\"}\r\nSUB bar.* 1\r\nPUB bar.secret "
     "1\r\nx\r\nPUB bar.ok 1\r\ny\r\nPING\r\n",
     "MSG bar.ok 1 1\r\ny\r\nPONG\r\n", OPEN},
    {"responses",
     "CONNECT {\"verbose\":false,\"user\":\"r\",\"pass\":\"p\"}\r\nSUB req 1\r\nPUB req rep.1 "
     "1\r\nx\r\nPING\r\n",
     "-ERR 'Permissions Violation for Publish to \"req\"'\r\nPONG\r\n", OPEN},
    {"bad_password", "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"x\"}\r\nPING\r\n",
     "-ERR 'Authorization Violation'\r\n", CLOSES},
    {"no_connect_ping", "PING\r\n", "-ERR 'Authorization Violation'\r\n", CLOSES},
    {"user_no_perms",
     "CONNECT {\"verbose\":true,\"user\":\"o\",\"pass\":\"p\"}\r\nSUB any 1\r\nPUB any "
     "1\r\nx\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\nMSG any 1 1\r\nx\r\nPONG\r\n", OPEN},
    {"quoted_subject",
     "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nPUB foo\"x 1\r\nx\r\nPUB a\\b "
     "1\r\nx\r\nPING\r\n",
     "+OK\r\n-ERR 'Permissions Violation for Publish to \"foo\\\"x\"'\r\n-ERR 'Permissions "
     "Violation for Publish to \"a\\\\b\"'\r\nPONG\r\n",
     OPEN},
};

static const char CONF_LIMITS[] = "max_subscriptions: 2\nmax_control_line: 256\nmax_payload: 512\n";

static const reply_case LIMITS[] = {
    {"max_subs",
     "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB a 1\r\nPING\r\n",
     "+OK\r\n+OK\r\n+OK\r\n-ERR 'maximum subscriptions exceeded'\r\n-ERR 'maximum subscriptions "
     "exceeded'\r\nPONG\r\n",
     OPEN},
    {"max_control",
     "CONNECT {\"verbose\":true}\r\nSUB "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaa 1\r\n",
     "+OK\r\n-ERR 'maximum control line exceeded'\r\n", CLOSES},
    {"max_payload", "CONNECT {\"verbose\":true}\r\nPUB a 513\r\n",
     "+OK\r\n-ERR 'Maximum Payload Violation'\r\n", CLOSES},
};

/* Shows CR and LF so a difference in line ends is visible in the failure message. */
static void visible(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '\r' || *in == '\n') {
            out[o++] = '\\';
            out[o++] = *in == '\r' ? 'r' : 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = 0;
}

/* Runs one case; returns false (after printing what differed) on a difference. */
static bool run_one(int port, const reply_case *rc)
{
    int fd = ai_open(port, NULL, 0);
    AH_ASSERT(ah_send(fd, rc->input) == 0);
    char buf[8192] = "";
    bool closed = false;
    int wait = (int)(3000 * ah_timeout_scale());
    switch (rc->outcome) {
    case CLOSES:
        closed = ah_wait_closed(fd, buf, sizeof buf, wait);
        break;
    case OPEN:
        ah_read_until(fd, buf, sizeof buf, "PONG\r\n", wait);
        break;
    case QUIET:
        ah_read_for(fd, buf, sizeof buf, 300);
        break;
    }
    bool ok = strcmp(buf, rc->expect) == 0 && (rc->outcome != CLOSES || closed);
    if (ok && rc->outcome == OPEN) {
        /* still open, and nothing else was sent */
        char more[256] = "";
        ok = ah_send(fd, "PING\r\n") == 0 &&
             ah_read_until(fd, more, sizeof more, "PONG\r\n", wait) > 0 &&
             strcmp(more, "PONG\r\n") == 0;
        if (!ok)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " then %s",
                     more[0] ? more : "no PONG");
    }
    if (!ok) {
        char want[4096], got[8192];
        visible(want, sizeof want, rc->expect);
        visible(got, sizeof got, buf);
        printf("  DIFF %s: expected \"%s\"%s, got \"%s\"%s\n", rc->name, want,
               rc->outcome == CLOSES ? " and a close" : "", got,
               rc->outcome == CLOSES && !closed ? " and no close" : "");
    }
    close(fd);
    return ok;
}

static void run_group(const char *config, const reply_case *cases, size_t n)
{
    ai_broker b;
    ai_broker_opts o = {.config = config};
    ai_broker_start(&b, config ? &o : NULL);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !run_one(b.port, &cases[i]);
    ai_broker_free(&b);
    AH_ASSERT_MSG(bad == 0, "%zu of %zu cases differ from nats-server's replies (listed above)",
                  bad, n);
    printf("  %zu cases byte-identical\n", n);
}

static void case_plain(void)
{
    run_group(NULL, PLAIN, sizeof PLAIN / sizeof PLAIN[0]);
}

static void case_permissions(void)
{
    run_group(CONF_PERMS, PERMS, sizeof PERMS / sizeof PERMS[0]);
}

static void case_limits(void)
{
    run_group(CONF_LIMITS, LIMITS, sizeof LIMITS / sizeof LIMITS[0]);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"plain", case_plain, 60},
        {"permissions", case_permissions, 30},
        {"limits", case_limits, 30},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
