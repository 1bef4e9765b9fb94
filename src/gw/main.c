/* aerie-gw: command line, signals and logging around the gateway library (gw.h).
 *
 *   aerie-gw --mavlink udp://:14550 --nats nats://127.0.0.1:4222 --vid VID-001 --env prod
 *   aerie-gw -c /etc/aerie/gw.conf
 *
 * Process-wide state: the stop flag set by SIGINT/SIGTERM (the one documented singleton). */
#include "common/log.h"
#include "gw/gw.h"

#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: aerie-gw --vid VID --mavlink URL [--mavlink URL ...] [options]\n"
            "\n"
            "  -c, --config FILE        config file (nats-server syntax); options override it\n"
            "  --mavlink URL            udp://[host]:port (listen), udpout://host:port (send),\n"
            "                           serial:///dev/ttyACM0:57600; repeatable\n"
            "  --nats URL               NATS server (default nats://127.0.0.1:4222)\n"
            "  --vid VID                vehicle id (subject token)\n"
            "  --env ENV                environment token (default prod)\n"
            "  --sysid N, --compid N    our own MAVLink ids (default 255/190)\n"
            "  --target-sysid N         the autopilot's sysid (default: first one heard)\n"
            "  --rate NAME=RATE         per-subject limit: position=5hz, battery=2s, all=0\n"
            "  --raw                    also publish raw frames on ...raw.mavlink\n"
            "  --heartbeat-timeout DUR  autopilot silence that counts as link lost (5s)\n"
            "  --cmd-timeout DUR        wait per COMMAND_LONG attempt (1s)\n"
            "  --cmd-retries N          resends after the first attempt (3)\n"
            "  --state-dir DIR          command journal: commands run at most once across\n"
            "                           restarts; needed to fetch commands queued on the hub\n"
            "  --cmd-domain D           the hub's JetStream domain (hub)\n"
            "  --metrics ADDR           serve Prometheus metrics on http://ADDR/metrics\n"
            "                           (HOST:PORT, [IPv6]:PORT, or :PORT for every address)\n"
            "  --signing-key KEY        64 hex digits or a passphrase: verify signed frames\n"
            "  --require-signed         with a key: drop unsigned frames\n"
            "  -l, --log FILE           log to FILE instead of stderr\n"
            "  -D, -V                   debug / trace logging\n"
            "  -h, --help               this text\n"
            "  -v, --version            the version\n");
}

int main(int argc, char **argv)
{
    ae_gw_config cfg;
    ae_gw_config_init(&cfg);
    ae_err err = {0};
    int rc = 0;
    ae_log_set_level(AE_LOG_INFO);

    /* The config file first, so that command-line options override it wherever it appears. */
    for (int i = 1; i < argc - 1; i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            if ((rc = ae_gw_config_load(&cfg, argv[i + 1], &err))) {
                fprintf(stderr, "aerie-gw: %s\n", err.msg);
                goto out;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            goto out;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            printf("aerie-gw %s\n", AERIE_VERSION);
            goto out;
        }
        if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strcmp(a, "-D")) {
            ae_log_set_level(AE_LOG_DEBUG);
            continue;
        }
        if (!strcmp(a, "-V")) {
            ae_log_set_level(AE_LOG_TRACE);
            continue;
        }
        if (!strcmp(a, "--raw") || !strcmp(a, "--require-signed")) {
            rc = ae_gw_config_set(&cfg, a + 2, "true", &err);
        } else if (!strcmp(a, "-l") || !strcmp(a, "--log")) {
            if (i + 1 >= argc || ae_log_set_file(argv[i + 1])) {
                fprintf(stderr, "aerie-gw: %s needs a writable file\n", a);
                rc = 2;
                goto out;
            }
            i++;
            continue;
        } else if (strncmp(a, "--", 2) == 0 && a[2]) {
            char name[64];
            const char *eq = strchr(a, '=');
            const char *val;
            if (eq) { /* --vid=VID */
                snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
                val = eq + 1;
            } else {
                snprintf(name, sizeof name, "%s", a + 2);
                if (i + 1 >= argc) {
                    fprintf(stderr, "aerie-gw: %s needs a value\n", a);
                    rc = 2;
                    goto out;
                }
                val = argv[++i];
            }
            rc = ae_gw_config_set(&cfg, name, val, &err);
        } else {
            fprintf(stderr, "aerie-gw: unexpected argument \"%s\" (see --help)\n", a);
            rc = 2;
            goto out;
        }
        if (rc) {
            fprintf(stderr, "aerie-gw: %s\n", err.msg);
            rc = 2;
            goto out;
        }
    }
    if ((rc = ae_gw_config_check(&cfg, &err))) {
        fprintf(stderr, "aerie-gw: %s\n", err.msg);
        rc = 2;
        goto out;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (nats_Open(-1) != NATS_OK) {
        fprintf(stderr, "aerie-gw: cannot initialise the NATS library\n");
        rc = 1;
        goto out;
    }
    ae_gw *g = NULL;
    if ((rc = ae_gw_new(&cfg, &g, &err))) {
        fprintf(stderr, "aerie-gw: %s\n", err.msg);
        rc = 1;
    } else {
        ae_log_info("aerie-gw %s: vehicle %s, env %s, NATS %s", AERIE_VERSION, cfg.vid, cfg.env,
                    cfg.nats_url);
        ae_gw_run(g, &stop_flag);
        ae_log_info("aerie-gw: stopping");
        ae_gw_free(g);
    }
    nats_Close();
out:
    ae_gw_config_free(&cfg);
    return rc;
}
