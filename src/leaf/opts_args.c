/* aerie-leaf's command line, spelled as nats-server's: Go's flag package accepts every flag
 * with one dash or two and a value as the next argument or after '=' (-port 4222,
 * --port=4222), and so do we. Flags the vehicle broker rightly lacks (clustering,
 * JetStream, ...) are refused with a reason rather than ignored. See opts.h. */
#include "leaf/opts.h"
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: aerie-leaf [options]\n"
               "\n"
               "The vehicle's edge broker: a NATS server for on-vehicle programs, a leaf node\n"
               "towards the regional hub, and a durable store-and-forward log. Options are\n"
               "nats-server's: each may be written with one dash or two (-port or --port),\n"
               "and a value may follow '=' (--port=4222).\n"
               "\n"
               "Server options:\n"
               "  -a, --addr, --net <host>     Bind to host address (default: 0.0.0.0)\n"
               "  -p, --port <port>            Use port for clients (default: 4222)\n"
               "  -n, --name, --server_name <name>  Server name (default: the server id)\n"
               "  -m, --http_port <port>       Use port for HTTP monitoring\n"
               "  -c, --config <file>          Configuration file (nats-server syntax)\n"
               "  -t                           Test the configuration and exit\n"
               "  -P, --pid <file>             File to store the PID\n"
               "\n"
               "Logging options:\n"
               "  -l, --log <file>             File to redirect log output\n"
               "  -T, --logtime                Accepted; log lines always carry a timestamp\n"
               "  -D, --debug                  Enable debugging output\n"
               "  -V, --trace                  Trace the raw protocol\n"
               "  -DV, -VV, -DVV               Debug and trace\n"
               "\n"
               "Authorization options:\n"
               "      --user <user>            User required for connections\n"
               "      --pass <password>        Password required for connections\n"
               "      --auth <token>           Authorization token required for connections\n"
               "\n"
               "TLS options:\n"
               "      --tls                    Enable TLS, do not verify clients\n"
               "      --tlscert <file>         Server certificate file\n"
               "      --tlskey <file>          Private key for server certificate\n"
               "      --tlsverify              Enable TLS, verify client certificates\n"
               "      --tlscacert <file>       Client certificate CA for verification\n"
               "\n"
               "Common options:\n"
               "  -h, --help                   Show this message\n"
               "  -v, --version                Show version\n");
}

/* One parsed flag: its name without dashes and its value (after '=' or the next argument). */
typedef struct flag {
    const char *arg; /* as written, for messages */
    char name[64];
    const char *eq; /* the text after '=', or NULL */
} flag;

static bool flag_is(const flag *f, ...)
{
    va_list ap;
    va_start(ap, f);
    bool hit = false;
    for (const char *n; !hit && (n = va_arg(ap, const char *));)
        hit = strcmp(f->name, n) == 0;
    va_end(ap);
    return hit;
}

/* Splits "-name", "--name", "-name=value"; false for something that is not a flag. */
static bool split_flag(const char *arg, flag *f)
{
    if (arg[0] != '-' || !arg[1] || (arg[1] == '-' && !arg[2]))
        return false;
    const char *p = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(p, '=');
    size_t n = eq ? (size_t)(eq - p) : strlen(p);
    if (n == 0 || n >= sizeof f->name)
        return false;
    memcpy(f->name, p, n);
    f->name[n] = 0;
    f->arg = arg;
    f->eq = eq ? eq + 1 : NULL;
    return true;
}

/* The value of a flag that takes one: after '=' or the next argument (which is consumed). */
static const char *take_value(const flag *f, int argc, char **argv, int *i, ae_err *err)
{
    if (f->eq)
        return f->eq;
    if (*i + 1 >= argc) {
        ae_err_set(err, AE_EINVAL, "%s needs a value (see aerie-leaf --help)", f->arg);
        return NULL;
    }
    return argv[++*i];
}

/* A boolean flag: true unless written "-flag=false" (Go's flag syntax). */
static int bool_value(const flag *f, bool *out, ae_err *err)
{
    if (!f->eq || !strcasecmp(f->eq, "true") || !strcmp(f->eq, "1") || !strcasecmp(f->eq, "t")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(f->eq, "false") || !strcmp(f->eq, "0") || !strcasecmp(f->eq, "f")) {
        *out = false;
        return 0;
    }
    return ae_err_set(err, AE_EINVAL, "%s: expected true or false", f->arg);
}

static int set_str(char **slot, const char *v)
{
    char *d = strdup(v);
    if (!d)
        return AE_ENOMEM;
    free(*slot);
    *slot = d;
    return 0;
}

static int port_value(const flag *f, const char *v, bool allow_neg, int *out, ae_err *err)
{
    char *end;
    long p = strtol(v, &end, 10);
    if (!*v || *end || p < (allow_neg ? -1 : 0) || p > 65535)
        return ae_err_set(err, AE_EINVAL, "%s: bad port \"%s\": expected 0..65535", f->arg, v);
    *out = p < 0 ? 0 : (int)p;
    return 0;
}

/* Flags of nats-server that have no meaning for a vehicle broker, with the reason. */
static const char *unsupported(const flag *f)
{
    if (flag_is(f, "routes", "cluster", "cluster_name", "cluster_advertise", "cluster_listen",
                "no_advertise", "connect_retries", "client_advertise", NULL))
        return "clustering belongs to the hub (nats-server), not to aerie-leaf";
    if (flag_is(f, "js", "jetstream", "sd", "store_dir", NULL))
        return "aerie-leaf has no JetStream of its own; use store {} and uplink {} in the config "
               "for store-and-forward to the hub's JetStream";
    if (flag_is(f, "ms", "https_port", NULL))
        return "monitoring over HTTPS is not supported; use -m (HTTP) on a loopback address";
    if (flag_is(f, "sl", "signal", NULL))
        return "send signals with kill: SIGHUP reloads, SIGTERM drains and stops";
    if (flag_is(f, "s", "syslog", "r", "remote_syslog", NULL))
        return "syslog output is not supported; use -l FILE or the journal (stderr)";
    if (flag_is(f, "profile", "ports_file_dir", "log_size_limit", "max_traced_msg_len", "help_tls",
                NULL))
        return "not supported by aerie-leaf";
    return NULL;
}

/* Applies one flag (config already loaded). *test_only is set by -t. */
static int apply_flag(ae_opts *o, const flag *f, int argc, char **argv, int *i, bool *test_only,
                      ae_err *err)
{
    const char *v = NULL;
    bool b = false;
    int rc = 0;
#define VALUE()                                                                                    \
    do {                                                                                           \
        if (!(v = take_value(f, argc, argv, i, err)))                                              \
            return AE_EINVAL;                                                                      \
    } while (0)
    if (flag_is(f, "c", "config", NULL)) {
        VALUE(); /* loaded before the other flags */
    } else if (flag_is(f, "a", "addr", "net", NULL)) {
        VALUE();
        rc = set_str(&o->host, v);
    } else if (flag_is(f, "p", "port", NULL)) {
        VALUE();
        rc = port_value(f, v, true, &o->port, err);
    } else if (flag_is(f, "m", "http_port", NULL)) {
        VALUE();
        rc = port_value(f, v, false, &o->http_port, err);
    } else if (flag_is(f, "n", "name", "server_name", NULL)) {
        VALUE();
        rc = set_str(&o->server_name, v);
    } else if (flag_is(f, "user", NULL)) {
        VALUE();
        rc = set_str(&o->user, v);
    } else if (flag_is(f, "pass", NULL)) {
        VALUE();
        rc = set_str(&o->password, v);
    } else if (flag_is(f, "auth", NULL)) {
        VALUE();
        rc = set_str(&o->token, v);
    } else if (flag_is(f, "l", "log", NULL)) {
        VALUE();
        rc = set_str(&o->log_file, v);
    } else if (flag_is(f, "P", "pid", NULL)) {
        VALUE();
        rc = set_str(&o->pid_file, v);
    } else if (flag_is(f, "tlscert", NULL)) {
        VALUE();
        rc = set_str(&o->tls_cert_file, v);
    } else if (flag_is(f, "tlskey", NULL)) {
        VALUE();
        rc = set_str(&o->tls_key_file, v);
    } else if (flag_is(f, "tlscacert", NULL)) {
        VALUE();
        rc = set_str(&o->tls_ca_file, v);
    } else if (flag_is(f, "tls", NULL)) {
        rc = bool_value(f, &o->tls, err);
    } else if (flag_is(f, "tlsverify", NULL)) {
        rc = bool_value(f, &o->tls_verify, err);
        if (rc == 0 && o->tls_verify)
            o->tls = true;
    } else if (flag_is(f, "D", "debug", NULL)) {
        rc = bool_value(f, &b, err);
        if (rc == 0 && b && o->log_level < AE_LOG_DEBUG)
            o->log_level = AE_LOG_DEBUG;
    } else if (flag_is(f, "V", "trace", "VV", "DV", "VD", "DVV", NULL)) {
        rc = bool_value(f, &b, err);
        if (rc == 0 && b)
            o->log_level = AE_LOG_TRACE;
    } else if (flag_is(f, "T", "logtime", NULL)) {
        rc = bool_value(f, &b, err); /* accepted: every log line is timestamped */
    } else if (flag_is(f, "t", NULL)) {
        *test_only = true;
    } else if (unsupported(f)) {
        return ae_err_set(err, AE_EINVAL, "%s: %s", f->arg, unsupported(f));
    } else {
        return ae_err_set(err, AE_EINVAL, "unknown option \"%s\" (see aerie-leaf --help)", f->arg);
    }
#undef VALUE
    return rc;
}

int ae_opts_from_args(ae_opts *o, int argc, char **argv, ae_err *err)
{
    /* First pass: --help, --version and the config file, which the other flags override. */
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        flag f;
        if (!split_flag(argv[i], &f))
            continue;
        if (flag_is(&f, "h", "help", NULL)) {
            usage(stdout);
            return 1;
        }
        if (flag_is(&f, "v", "version", NULL)) {
            printf("aerie-leaf: v%s (NATS protocol compatible with nats-server 2.9)\n",
                   AERIE_VERSION);
            return 1;
        }
        if (flag_is(&f, "c", "config", NULL)) {
            if (!(config = take_value(&f, argc, argv, &i, err)))
                return AE_EINVAL;
        }
    }
    if (config) {
        free(o->config_file);
        o->config_file = strdup(config);
        int rc = ae_opts_load_file(o, config, err);
        if (rc)
            return rc;
    }
    bool test_only = false;
    for (int i = 1; i < argc; i++) {
        flag f;
        if (!split_flag(argv[i], &f))
            return ae_err_set(err, AE_EINVAL,
                              "unexpected argument \"%s\" (options start with - or --; see "
                              "aerie-leaf --help)",
                              argv[i]);
        int rc = apply_flag(o, &f, argc, argv, &i, &test_only, err);
        if (rc)
            return rc;
    }
    int rc = ae_opts_validate(o, err);
    if (rc)
        return rc;
    if (test_only) {
        printf("aerie-leaf: configuration file %s is valid\n",
               o->config_file ? o->config_file : "(none)");
        return 1;
    }
    return 0;
}
