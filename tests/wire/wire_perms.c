/* Compatibility: per-user permissions in `authorization { users = [...] }` with nats-server's
 * semantics, across connections (the single-connection replies are byte-checked in
 * wire_replies): a denied publish is dropped with an asynchronous -ERR and the connection
 * stays open; allow_responses lets a responder answer each request once (or `max` times
 * within `expires`); deny rules under a wildcard subscription filter deliveries;
 * default_permissions apply to users without their own; a bad subject in a permission is a
 * config error. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"

#define AS(u) "{\"verbose\":false,\"pedantic\":false,\"user\":\"" u "\",\"pass\":\"p\"}"

static const char CONF[] =
    "authorization {\n"
    "  default_permissions: { publish: \"dflt.>\" }\n"
    "  users = [\n"
    "    {user: svc, password: p, permissions: {subscribe: [\"svc.>\", \"cast.>\"],\n"
    "                                           allow_responses: true}}\n"
    "    {user: svc2, password: p, permissions: {subscribe: \"svc2.>\",\n"
    "                                            allow_responses: {max: 2, expires: \"1m\"}}}\n"
    "    {user: watcher, password: p, permissions: {subscribe: {allow: \">\", deny: "
    "\"*.secret\"}}}\n"
    "    {user: anyone, password: p}\n"
    "    {user: admin, password: p, permissions: {publish: \">\", subscribe: \">\"}}\n"
    "  ]\n"
    "}\n";

static void case_publish_violation_keeps_connection(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = CONF};
    ai_broker_start(&b, &o);
    int sub = ai_client(b.port, AS("admin"));
    AH_ASSERT(ah_send(sub, "SUB > 1\r\n") == 0);
    ai_expect_sync(sub, "");
    int pub = ai_client(b.port, AS("anyone")); /* default_permissions: publish dflt.> only */
    AH_ASSERT(ah_send(pub, "PUB other 1\r\nx\r\nPUB dflt.a 1\r\ny\r\n") == 0);
    ai_expect_sync(pub, "-ERR 'Permissions Violation for Publish to \"other\"'\r\n");
    /* still open: it keeps publishing what it may */
    AH_ASSERT(ah_send(pub, "PUB dflt.b 1\r\nz\r\n") == 0);
    ai_expect_sync(pub, "");
    ai_expect_sync(sub, "MSG dflt.a 1 1\r\ny\r\nMSG dflt.b 1 1\r\nz\r\n");
    close(pub);
    close(sub);
    ai_broker_free(&b);
}

static void case_allow_responses(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = CONF};
    ai_broker_start(&b, &o);
    int svc = ai_client(b.port, AS("svc"));
    AH_ASSERT(ah_send(svc, "SUB svc.echo 1\r\n") == 0);
    ai_expect_sync(svc, "");
    int req = ai_client(b.port, AS("admin"));
    AH_ASSERT(ah_send(req, "SUB reply.> 9\r\nPUB svc.echo reply.1 2\r\nhi\r\n") == 0);
    ai_expect_sync(req, "");
    ai_expect_sync(svc, "MSG svc.echo 1 reply.1 2\r\nhi\r\n");
    /* One response to the reply subject of a request it received; the second is refused. */
    AH_ASSERT(ah_send(svc, "PUB reply.1 2\r\nok\r\nPUB reply.1 4\r\nmore\r\n") == 0);
    ai_expect_sync(svc, "-ERR 'Permissions Violation for Publish to \"reply.1\"'\r\n");
    ai_expect_sync(req, "MSG reply.1 9 2\r\nok\r\n");
    /* A reply subject it never received a request for is refused. */
    AH_ASSERT(ah_send(svc, "PUB reply.2 2\r\nno\r\n") == 0);
    ai_expect_sync(svc, "-ERR 'Permissions Violation for Publish to \"reply.2\"'\r\n");
    /* max: 2 responses per request */
    int svc2 = ai_client(b.port, AS("svc2"));
    AH_ASSERT(ah_send(svc2, "SUB svc2.x 1\r\n") == 0);
    ai_expect_sync(svc2, "");
    AH_ASSERT(ah_send(req, "PUB svc2.x reply.3 1\r\nq\r\n") == 0);
    ai_expect_sync(req, "");
    ai_expect_sync(svc2, "MSG svc2.x 1 reply.3 1\r\nq\r\n");
    AH_ASSERT(ah_send(svc2, "PUB reply.3 1\r\na\r\nPUB reply.3 1\r\nb\r\nPUB reply.3 1\r\nc\r\n") ==
              0);
    ai_expect_sync(svc2, "-ERR 'Permissions Violation for Publish to \"reply.3\"'\r\n");
    ai_expect_sync(req, "MSG reply.3 9 1\r\na\r\nMSG reply.3 9 1\r\nb\r\n");
    close(svc);
    close(svc2);
    close(req);
    ai_broker_free(&b);
}

static void case_deny_under_wildcard(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = CONF};
    ai_broker_start(&b, &o);
    int w = ai_client(b.port, AS("watcher"));
    /* The denied subject itself cannot be subscribed... */
    AH_ASSERT(ah_send(w, "SUB a.secret 1\r\n") == 0);
    ai_expect_sync(w, "-ERR 'Permissions Violation for Subscription to \"a.secret\"'\r\n");
    /* ...and a wildcard that covers it is allowed but never delivers the denied subjects.
     * nats-server starts filtering once a subscription covers a whole deny rule (`>` covers
     * `*.secret`; `a.*` alone would not), and then filters every delivery of the connection. */
    AH_ASSERT(ah_send(w, "SUB > 2\r\nSUB a.* 3\r\n") == 0);
    ai_expect_sync(w, "");
    int pub = ai_client(b.port, AS("admin"));
    AH_ASSERT(ah_send(pub, "PUB a.secret 1\r\nx\r\nPUB a.public 1\r\ny\r\n") == 0);
    ai_expect_sync(pub, "");
    char buf[1024];
    ai_sync(w, buf, sizeof buf, 3000);
    char *sorted = ai_sorted_units(buf);
    AH_ASSERT_EQ_STR(sorted, "MSG a.public 2 1\r\ny\r\nMSG a.public 3 1\r\ny\r\nPONG\r\n");
    free(sorted);
    close(pub);
    close(w);
    ai_broker_free(&b);
}

static void case_bad_permission_subject(void)
{
    const char *bin = ai_is_nats() ? ah_nats_server() : ah_bin("aerie-leaf");
    char *dir = ah_mkdtemp("perms");
    char conf[600], port[16];
    snprintf(conf, sizeof conf, "%s/bad.conf", dir);
    AH_ASSERT(ah_write_file(conf, "authorization { users = [ {user: a, password: p,\n"
                                  "  permissions: {publish: [\"ok\", \"a..b\"]}} ] }\n") == 0);
    snprintf(port, sizeof port, "%d", ah_free_port());
    char *argv[] = {(char *)bin, "-a", "127.0.0.1", "-p", port, "-c", conf, NULL};
    ah_output out = ah_run_capture("perms", argv, 5000);
    AH_ASSERT_MSG(out.code > 0, "a permission on subject a..b started the broker (code %d)",
                  out.code);
    AH_ASSERT_MSG(strstr(out.err, "a..b") || strstr(out.out, "a..b"),
                  "the error does not name the subject: %s%s", out.out, out.err);
    ah_output_free(&out);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"publish_violation_keeps_connection", case_publish_violation_keeps_connection, 20},
        {"allow_responses", case_allow_responses, 20},
        {"deny_under_wildcard", case_deny_under_wildcard, 20},
        {"bad_permission_subject", case_bad_permission_subject, 20},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
