/* Unit tests for aerie-leaf's options loader (errors name file, line and key), the
 * outbound chunk queue and the hash map. */
#include "common/hmap.h"
#include "common/timeutil.h"
#include "harness/harness.h"
#include "leaf/opts.h"
#include "leaf/outq.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static char *write_conf(const char *name, const char *text)
{
    static char dir[512];
    if (!dir[0]) {
        char *d = ah_mkdtemp("leafunit");
        snprintf(dir, sizeof dir, "%s", d);
        free(d);
    }
    char *path = malloc(1024);
    snprintf(path, 1024, "%s/%s", dir, name);
    AH_ASSERT(ah_write_file(path, "%s", text) == 0);
    return path;
}

/* Loads text as a config; returns the error message (static) or NULL on success. */
static const char *load(const char *text, ae_opts *o)
{
    static ae_err err;
    memset(&err, 0, sizeof err);
    char *path = write_conf("t.conf", text);
    ae_opts_defaults(o);
    int rc = ae_opts_load_file(o, path, &err);
    if (rc == 0)
        rc = ae_opts_validate(o, &err);
    free(path);
    return rc == 0 ? NULL : err.msg;
}

static void opts_defaults_and_values(void)
{
    ae_opts o;
    const char *e = load("listen: 127.0.0.1:4333\n"
                         "server_name: VID-7\n"
                         "max_payload: 512KB\n"
                         "max_pending: \"8MB\"\n"
                         "ping_interval: \"5s\"\n"
                         "ping_max: 3\n"
                         "write_deadline: 10m\n"
                         "authorization { user: a, password: b, timeout: 1 }\n"
                         "http: 8222\n",
                         &o);
    AH_ASSERT_MSG(e == NULL, "unexpected error: %s", e);
    AH_ASSERT_EQ_STR(o.host, "127.0.0.1");
    AH_ASSERT_EQ_INT(o.port, 4333);
    AH_ASSERT_EQ_STR(o.server_name, "VID-7");
    AH_ASSERT_EQ_INT(o.max_payload, 512 * 1024);
    AH_ASSERT_EQ_INT(o.max_pending, 8 * 1024 * 1024);
    AH_ASSERT_EQ_INT(o.ping_interval_ns, 5 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(o.ping_max, 3);
    /* an unquoted 10m in the syntax is ten million; for a duration key it means minutes */
    AH_ASSERT_EQ_INT(o.write_deadline_ns, 600 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(o.auth_timeout_ns, AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(o.http_port, 8222);
    ae_opts_free(&o);
}

static void opts_uplink_blocks(void)
{
    ae_opts o;
    const char *e =
        load("server_name: V1\n"
             "leafnodes {\n"
             "  remotes = [ { urls: [\"nats-leaf://u:p@127.0.0.1:7422\", "
             "\"tls://h2:7422\"], tls { ca_file: \"/x/ca.pem\" } } ]\n"
             "  reconnect: \"200ms\"\n  reconnect_max: \"5s\"\n  dead_link_timeout: 3s\n"
             "}\n"
             "store { dir: \"/var/lib/aerie\", max_bytes: 1GB, max_age: \"7d\", sync: always,\n"
             "        ack_interval: \"5s\" }\n"
             "uplink { subjects: [\"fleet.prod.veh.V1.state.>\"], rate: \"64KB\" }\n",
             &o);
    AH_ASSERT_MSG(e == NULL, "unexpected error: %s", e);
    AH_ASSERT_EQ_INT(o.nremotes, 1);
    AH_ASSERT_EQ_INT(o.remotes[0].nurls, 2);
    AH_ASSERT(o.remotes[0].tls);
    AH_ASSERT_EQ_STR(o.remotes[0].tls_ca_file, "/x/ca.pem");
    AH_ASSERT_EQ_INT(o.reconnect_min_ns, 200 * AE_NS_PER_MS);
    AH_ASSERT_EQ_INT(o.dead_link_ns, 3 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(o.sync_mode, AE_OPT_SYNC_ALWAYS);
    AH_ASSERT_EQ_INT(o.store_max_bytes, 1024LL * 1024 * 1024);
    AH_ASSERT_EQ_INT(o.store_max_age_ns, 7 * 86400 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(o.ack_interval_ns, 5 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(o.nuplink_subjects, 1);
    AH_ASSERT_EQ_INT(o.uplink_rate, 64 * 1024);
    ae_opts_free(&o);
}

/* Every error names the file, the line and the key, and says what would be right. */
static void opts_errors_name_file_line_key(void)
{
    static const struct {
        const char *text, *want1, *want2;
    } cases[] = {
        {"port: 4222\nbogus_key: 1\n", "t.conf:2:", "unknown key \"bogus_key\""},
        {"port: 4222\n\nmax_payload: \"lots\"\n", "t.conf:3: max_payload:", "expected a size"},
        {"ping_interval: \"fast\"\n", "t.conf:1: ping_interval:", "expected a duration"},
        {"authorization {\n  user: a\n  pasword: b\n}\n", "t.conf:3:", "unknown key \"pasword\""},
        {"store { dir: x, sync: sometimes }\n", "t.conf:1: sync:", "always, never or an interval"},
        {"store { dir: x, ack_interval: \"5ms\" }\n", "t.conf:1: ack_interval:", "10ms to 60s"},
        {"jetstream { store_dir: /x }\n", "t.conf:1: jetstream:", "no JetStream of its own"},
        {"leafnodes { remotes = [ { account: A } ] }\n", "t.conf:1", "needs at least one url"},
        {"max_payload: 2MB\nmax_pending: 1MB\n", "max_payload (2097152)", "max_pending (1048576)"},
        {"uplink { subjects: [\"a.>\"] }\n", "uplink subjects need a durable store", "store"},
        {"port: 70000\n", "t.conf:1: port:", "0 to 65535"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ae_opts o;
        const char *e = load(cases[i].text, &o);
        AH_ASSERT_MSG(e != NULL, "case %zu was accepted: %s", i, cases[i].text);
        AH_ASSERT_CONTAINS(e, cases[i].want1);
        AH_ASSERT_CONTAINS(e, cases[i].want2);
        ae_opts_free(&o);
    }
}

static void opts_command_line_overrides_file(void)
{
    char *path = write_conf("f.conf", "port: 1111\nserver_name: from-file\n");
    ae_opts o;
    ae_opts_defaults(&o);
    char *argv[] = {"aerie-leaf", "-c", path, "-p", "2222", "--name", "from-flag", "-D", NULL};
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_opts_from_args(&o, 8, argv, &err), 0);
    AH_ASSERT_EQ_INT(o.port, 2222);
    AH_ASSERT_EQ_STR(o.server_name, "from-flag");
    ae_opts_free(&o);
    ae_opts_defaults(&o);
    char *bad[] = {"aerie-leaf", "--frobnicate", NULL};
    AH_ASSERT(ae_opts_from_args(&o, 2, bad, &err) < 0);
    AH_ASSERT_CONTAINS(err.msg, "unknown option \"--frobnicate\"");
    ae_opts_free(&o);
    free(path);
}

/* The queue hands out exactly the bytes appended, in order, across chunk boundaries. */
static void outq_roundtrip(void)
{
    int sv[2];
    AH_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ae_outq q = {0};
    size_t total = 0;
    unsigned char expect[300000];
    for (size_t i = 0; total < sizeof expect - 5000; i++) {
        size_t n = (i * 7919) % 4000 + 1;
        unsigned char chunk[4001];
        for (size_t k = 0; k < n; k++)
            chunk[k] = (unsigned char)(total + k);
        memcpy(expect + total, chunk, n);
        AH_ASSERT_EQ_INT(ae_outq_append(&q, chunk, n), 0);
        total += n;
    }
    AH_ASSERT_EQ_INT(q.pending, total);
    char *r = ae_outq_reserve(&q, 100);
    memset(r, 'z', 100);
    ae_outq_unreserve(&q, 60);
    memset(expect + total, 'z', 40);
    total += 40;
    AH_ASSERT_EQ_INT(q.pending, total);
    size_t got = 0;
    unsigned char buf[65536];
    while (got < total) {
        ssize_t w = ae_outq_flush_fd(&q, sv[0], 50000);
        AH_ASSERT(w >= 0);
        ssize_t rd = read(sv[1], buf, sizeof buf);
        AH_ASSERT(rd > 0);
        AH_ASSERT_MSG(memcmp(buf, expect + got, (size_t)rd) == 0, "bytes differ at %zu", got);
        got += (size_t)rd;
    }
    AH_ASSERT_EQ_INT(q.pending, 0);
    AH_ASSERT(q.head == NULL); /* drained chunks are freed */
    ae_outq_clear(&q);
    close(sv[0]);
    close(sv[1]);
}

static void hmap_against_model(void)
{
    ae_hmap m = AE_HMAP_INIT;
    enum { N = 5000 };
    static char keys[N][16];
    static int present[N];
    srand(7);
    for (int round = 0; round < 40000; round++) {
        int k = rand() % N;
        snprintf(keys[k], sizeof keys[k], "k%d", k);
        size_t kl = strlen(keys[k]);
        int op = rand() % 3;
        if (op == 0) {
            AH_ASSERT_EQ_INT(ae_hmap_put(&m, keys[k], kl, &present[k]), 0);
            present[k] = 1;
        } else if (op == 1) {
            void *v = ae_hmap_del(&m, keys[k], kl);
            AH_ASSERT_EQ_INT(v != NULL, present[k]);
            present[k] = 0;
        } else {
            AH_ASSERT_EQ_INT(ae_hmap_get(&m, keys[k], kl) != NULL, present[k]);
        }
    }
    size_t live = 0;
    for (int k = 0; k < N; k++)
        live += (size_t)present[k];
    AH_ASSERT_EQ_INT(m.count, live);
    size_t pos = 0, seen = 0;
    while (ae_hmap_next(&m, &pos))
        seen++;
    AH_ASSERT_EQ_INT(seen, live);
    ae_hmap_free(&m);
}

static void durations_and_sizes(void)
{
    int64_t v;
    AH_ASSERT(ae_parse_duration("1m30s", &v) == 0 && v == 90 * AE_NS_PER_SEC);
    AH_ASSERT(ae_parse_duration("250ms", &v) == 0 && v == 250 * AE_NS_PER_MS);
    AH_ASSERT(ae_parse_duration("7d", &v) == 0 && v == 7 * 86400 * AE_NS_PER_SEC);
    AH_ASSERT(ae_parse_duration("2", &v) == 0 && v == 2 * AE_NS_PER_SEC);
    AH_ASSERT(ae_parse_duration("soon", &v) != 0);
    AH_ASSERT(ae_parse_duration("-1s", &v) != 0);
    AH_ASSERT(ae_parse_size("64KB", &v) == 0 && v == 65536);
    AH_ASSERT(ae_parse_size("1K", &v) == 0 && v == 1000);
    AH_ASSERT(ae_parse_size("1GiB", &v) == 0 && v == 1073741824LL);
    AH_ASSERT(ae_parse_size("1XB", &v) != 0);
    char buf[48];
    AH_ASSERT_EQ_STR(ae_format_rfc3339(1795666552696582546LL, buf, sizeof buf),
                     "2026-11-26T04:15:52.696582546Z");
    AH_ASSERT(ae_parse_rfc3339("2026-11-26T04:15:52.696582546Z", &v) == 0 &&
              v == 1795666552696582546LL);
    AH_ASSERT(ae_parse_rfc3339("2026-11-26T05:15:52.5+01:00", &v) == 0 &&
              v == 1795666552500000000LL);
}

/* SIGHUP with a broken file keeps the running config (and says why); a good file is
 * applied to new connections. */
static void reload_bad_then_good_config(void)
{
    int port = ah_free_port();
    char text[256];
    snprintf(text, sizeof text, "listen: 127.0.0.1:%d\nmax_payload: 1000\n", port);
    char *conf = write_conf("reload.conf", text);
    char log[1100];
    snprintf(log, sizeof log, "%s.log", conf);
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", conf, NULL};
    ah_proc p;
    AH_ASSERT(ah_spawn(&p, log, argv) == 0);
    AH_ASSERT(ah_wait_tcp(port, 5000) == 0);
    char buf[4096];
    int fd = ah_connect(port);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    AH_ASSERT_CONTAINS(buf, "\"max_payload\":1000");
    close(fd);

    AH_ASSERT(ah_write_file(conf, "listen: 127.0.0.1:%d\nmax_payload: {\n", port) == 0);
    kill(p.pid, SIGHUP);
    ah_sleep_ms(300);
    AH_ASSERT(ah_alive(&p));
    fd = ah_connect(port);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    AH_ASSERT_CONTAINS(buf, "\"max_payload\":1000");
    close(fd);
    char *out = ah_read_file(log);
    AH_ASSERT_CONTAINS(out, "config reload failed, keeping the running config");
    AH_ASSERT_CONTAINS(out, "reload.conf:");
    free(out);

    AH_ASSERT(ah_write_file(conf, "listen: 127.0.0.1:%d\nmax_payload: 2000\n", port) == 0);
    kill(p.pid, SIGHUP);
    ah_sleep_ms(300);
    fd = ah_connect(port);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    AH_ASSERT_CONTAINS(buf, "\"max_payload\":2000");
    close(fd);
    AH_ASSERT_EQ_INT(ah_stop(&p, SIGTERM, 5000), 0);
    free(conf);
}

/* A "hub" that accepts and then says nothing (a wrong port, a hung proxy): the uplink must
 * give up on the handshake with a clear error and dial again, never hang. */
static void uplink_silent_hub_times_out_and_retries(void)
{
    int hub_port = ah_free_port();
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hub_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 8) == 0);

    int port = ah_free_port();
    char text[512];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:%d\nserver_name: silent\n"
             "leafnodes { remotes = [ { url: \"nats-leaf://127.0.0.1:%d\" } ], reconnect: "
             "\"100ms\", reconnect_max: \"200ms\" }\n",
             port, hub_port);
    char *conf = write_conf("silent.conf", text);
    char log[1100];
    snprintf(log, sizeof log, "%s.log", conf);
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", conf, NULL};
    ah_proc p;
    AH_ASSERT(ah_spawn(&p, log, argv) == 0);
    /* Hold every connection open without a byte, as a black hole would. */
    int held[8], nheld = 0;
    int64_t deadline = ah_now_ms() + 20000;
    while (nheld < 2 && ah_now_ms() < deadline) {
        struct timeval tv = {.tv_sec = 1};
        fd_set rf;
        FD_ZERO(&rf);
        FD_SET(lfd, &rf);
        if (select(lfd + 1, &rf, NULL, NULL, &tv) == 1)
            held[nheld++] = accept(lfd, NULL, NULL);
    }
    AH_ASSERT_MSG(nheld == 2, "the leaf did not dial again after a silent hub (%d dials)", nheld);
    AH_ASSERT(ah_count_in_file(log, "no answer from hub 127.0.0.1:") >= 1);
    AH_ASSERT_EQ_INT(ah_stop(&p, SIGTERM, 5000), 0);
    for (int i = 0; i < nheld; i++)
        close(held[i]);
    close(lfd);
    free(conf);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"opts_defaults_and_values", opts_defaults_and_values, 0},
        {"opts_uplink_blocks", opts_uplink_blocks, 0},
        {"opts_errors_name_file_line_key", opts_errors_name_file_line_key, 0},
        {"opts_command_line_overrides_file", opts_command_line_overrides_file, 0},
        {"outq_roundtrip", outq_roundtrip, 0},
        {"hmap_against_model", hmap_against_model, 0},
        {"durations_and_sizes", durations_and_sizes, 0},
        {"reload_bad_then_good_config", reload_bad_then_good_config, 30},
        {"uplink_silent_hub_times_out_and_retries", uplink_silent_hub_times_out_and_retries, 40},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
