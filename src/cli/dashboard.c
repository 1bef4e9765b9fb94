/* `aerie dashboard`: the fleet as a web page (see dashboard.h). This file is the command:
 * its options, who may connect (ae_dash_auth), and the server's life. The HTTP side is
 * dash_http.c, the endpoints dash_api.c, the page itself web/ (embedded at build time).
 *
 * Bound to a loopback address (the default) the dashboard needs no login: only this
 * machine's users reach it. Bound anywhere else it requires the operator's credentials, the
 * hub login of the fleet (fleet.json's operator, or --user/--password), as HTTP basic auth,
 * or a bearer token from --token-file; it refuses to start without them. */
#include "cli/dashboard.h"
#include "cli/dash_http.h"
#include "cli/fleet_state.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: aerie dashboard [--port 8080] [--listen 127.0.0.1] [--require-auth]\n"
            "                       [--token-file FILE] [--global] [--dir DIR | --server URL]\n"
            "  --listen: a non-loopback address requires the operator's login (HTTP basic\n"
            "            auth with fleet.json's operator, or --user/--password) or the token\n"
            "  --require-auth: require it on loopback too\n"
            "  --global: every vehicle of the fleet, from the fleet-wide aggregate\n");
    return 2;
}

/* The options of `aerie dashboard`. */
typedef struct dash_opts {
    int port;
    const char *listen, *token_file;
    bool require_auth;
} dash_opts;

/* Returns -1 when the arguments are good, else the exit code. */
static int parse_args(ae_cli *c, int argc, char **argv, dash_opts *o)
{
    ae_err err = {0};
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie dashboard: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--port") == 0 && v) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 1 || p > 65535) {
                fprintf(stderr, "aerie dashboard: --port %s: expected 1..65535\n", v);
                return 2;
            }
            o->port = (int)p;
            i += 2;
        } else if (strcmp(a, "--listen") == 0 && v) {
            o->listen = v;
            i += 2;
        } else if (strcmp(a, "--token-file") == 0 && v) {
            o->token_file = v;
            i += 2;
        } else if (strcmp(a, "--require-auth") == 0) {
            o->require_auth = true;
            i++;
        } else if (strcmp(a, "--global") == 0) {
            c->global = true; /* every endpoint reads the fleet-wide aggregate */
            i++;
        } else {
            fprintf(stderr, "aerie dashboard: unexpected argument %s\n", a);
            return usage();
        }
    }
    return -1;
}

/* Reads the bearer token: the file's first line, at least 16 characters. */
static int read_token(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "aerie dashboard: --token-file %s: cannot read it\n", path);
        return -1;
    }
    if (!fgets(out, (int)cap, f))
        out[0] = 0;
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    if (strlen(out) < 16) {
        fprintf(stderr,
                "aerie dashboard: --token-file %s: the token (its first line) must have at "
                "least 16 characters\n",
                path);
        return -1;
    }
    return 0;
}

/* Who may use the dashboard; returns -1 (after a message) when a login is required and
 * there is none to check against. */
static int setup_auth(const ae_cli *c, const dash_opts *o, bool loopback, ae_dash_auth *a,
                      char *token, size_t tcap)
{
    a->required = o->require_auth || !loopback;
    a->realm = "Aerie fleet";
    a->user = c->user ? c->user : c->fleet ? c->fleet->op_user : NULL;
    a->password = c->password ? c->password : c->fleet ? c->fleet->op_password : NULL;
    if (o->token_file) {
        if (read_token(o->token_file, token, tcap) != 0)
            return -1;
        a->token = token;
    }
    if (a->required && !(a->user && a->password) && !a->token) {
        fprintf(stderr,
                "aerie dashboard: listening on %s needs the operator's login, and none is "
                "known: give --dir with a fleet.json that has one, --user and --password, or "
                "--token-file\n",
                o->listen);
        return -1;
    }
    return 0;
}

int ae_cmd_dashboard(ae_cli *c, int argc, char **argv)
{
    dash_opts o = {.port = 8080, .listen = "127.0.0.1"};
    int rc = parse_args(c, argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    if (inet_pton(AF_INET, o.listen, &addr.sin_addr) != 1) {
        fprintf(stderr, "aerie dashboard: --listen %s: expected an IPv4 address\n", o.listen);
        return 2;
    }
    bool loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
    /* Short requests: the page polls, and a slow hub should show as an error, not a hang. */
    bool timeout_given = c->timeout_set;
    if (!c->timeout_set)
        c->timeout_ns = 2 * AE_NS_PER_SEC;
    ae_err err = {0};
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie dashboard: %s\n", err.msg);
        return 1;
    }
    /* That connection only proved the hub answers: requests use the dashboard's own. */
    natsConnection_Destroy(c->nc);
    c->nc = NULL;
    ae_dash_auth auth = {0};
    char token[256];
    if (setup_auth(c, &o, loopback, &auth, token, sizeof token) != 0)
        return 2;
    /* Signals are taken with sigwait on this thread; the server's threads must not see them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    ae_dash d;
    ae_dash_init(&d, c, &auth, loopback);
    d.stale_ns = ae_status_stale_ns(c, 30 * AE_NS_PER_SEC);
    /* A command waits for its vehicle's verdict as long as `aerie cmd` does. */
    if (!timeout_given)
        d.cmds.c.timeout_ns = 10 * AE_NS_PER_SEC;
    struct MHD_Daemon *mhd = ae_dash_start(&d, &addr, &err);
    if (!mhd) {
        fprintf(stderr, "aerie dashboard: %s\n", err.msg);
        ae_dash_free(&d);
        return 1;
    }
    printf("aerie dashboard: http://%s:%d/ (%s; Ctrl-C stops it)\n", o.listen, o.port,
           auth.required ? "login required" : "loopback only, no login");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(mhd);
    printf("aerie dashboard: stopped after %ld requests\n", (long)atomic_load(&d.requests));
    ae_dash_free(&d);
    return 0;
}
