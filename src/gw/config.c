/* Gateway configuration: defaults, one option at a time (shared by the command line and the
 * config file so both accept exactly the same values), and the config-file loader. */
#include "gw/gw.h"

#include "common/conf.h"
#include "common/timeutil.h"
#include "gw/metrics.h"

#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const state_names[AE_GW_NSTATE] = {"position", "attitude",  "battery", "gps",
                                                      "status",   "heartbeat", "home"};

const char *ae_gw_state_name(ae_gw_state s)
{
    return (unsigned)s < AE_GW_NSTATE ? state_names[s] : "?";
}

void ae_gw_config_init(ae_gw_config *c)
{
    memset(c, 0, sizeof *c);
    c->nats_url = strdup("nats://127.0.0.1:4222");
    c->env = strdup("prod");
    c->sysid = 255;
    c->compid = 190;
    c->heartbeat_timeout_ns = 5 * AE_NS_PER_SEC;
    c->cmd_timeout_ns = 1 * AE_NS_PER_SEC;
    c->cmd_retries = 3;
    c->cmd_domain = strdup("hub");
    /* Defaults sized for a cellular uplink: the fast streams at 10 Hz, the slow ones at 1 Hz.
     * The latest value is always delivered, just not more often than this. */
    c->rate_ns[AE_GW_ST_POSITION] = AE_NS_PER_SEC / 10;
    c->rate_ns[AE_GW_ST_ATTITUDE] = AE_NS_PER_SEC / 10;
    c->rate_ns[AE_GW_ST_BATTERY] = AE_NS_PER_SEC;
    c->rate_ns[AE_GW_ST_GPS] = AE_NS_PER_SEC;
    c->rate_ns[AE_GW_ST_STATUS] = AE_NS_PER_SEC;
    c->rate_ns[AE_GW_ST_HEARTBEAT] = AE_NS_PER_SEC;
    c->rate_ns[AE_GW_ST_HOME] = AE_NS_PER_SEC;
}

void ae_gw_config_free(ae_gw_config *c)
{
    free(c->nats_url);
    free(c->vid);
    free(c->env);
    free(c->name);
    free(c->state_dir);
    free(c->cmd_domain);
    free(c->metrics);
    for (int i = 0; i < c->nmavlink; i++)
        free(c->mavlink[i]);
    memset(c, 0, sizeof *c);
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
}

static int parse_u8(const char *v, int lo, uint8_t *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > 255)
        return AE_EINVAL;
    *out = (uint8_t)n;
    return 0;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
        !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
        !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

/* A rate is either a frequency ("10", "10hz", "0.5Hz"; 0 = unlimited) or a minimum interval
 * as a duration ("200ms", "1s"). */
static int parse_rate(const char *v, int64_t *ns)
{
    char *end;
    double hz = strtod(v, &end);
    if (end != v && (*end == '\0' || !strcasecmp(end, "hz"))) {
        if (hz < 0)
            return AE_EINVAL;
        *ns = hz == 0 ? 0 : (int64_t)(1e9 / hz);
        return 0;
    }
    return ae_parse_duration(v, ns);
}

static int set_rate(ae_gw_config *c, const char *name, const char *v, ae_err *err)
{
    for (int s = 0; s < AE_GW_NSTATE; s++) {
        if (strcasecmp(name, state_names[s]) == 0 || strcmp(name, "*") == 0 ||
            strcasecmp(name, "all") == 0) {
            int64_t ns;
            if (parse_rate(v, &ns) != 0)
                return ae_err_set(err, AE_EINVAL,
                                  "rate for %s: \"%s\" is neither a frequency (10, 2.5hz, 0 = "
                                  "unlimited) nor an interval (200ms)",
                                  name, v);
            c->rate_ns[s] = ns;
            if (strcasecmp(name, state_names[s]) == 0)
                return 0;
        }
    }
    if (strcmp(name, "*") == 0 || strcasecmp(name, "all") == 0)
        return 0;
    return ae_err_set(err, AE_EINVAL,
                      "rate: unknown subject \"%s\" (position, attitude, battery, gps, status, "
                      "heartbeat, home, or all)",
                      name);
}

static int parse_key(ae_gw_config *c, const char *v, ae_err *err)
{
    /* 64 hex digits = the 32-byte secret; anything else is a passphrase hashed with SHA-256,
     * the convention of Mission Planner and node-mavlink. */
    if (strlen(v) == 64 && strspn(v, "0123456789abcdefABCDEF") == 64) {
        for (int i = 0; i < 32; i++) {
            unsigned b;
            sscanf(v + 2 * i, "%2x", &b);
            c->key[i] = (uint8_t)b;
        }
    } else if (*v) {
        SHA256((const unsigned char *)v, strlen(v), c->key);
    } else {
        return ae_err_set(err, AE_EINVAL, "signing_key is empty");
    }
    c->has_key = true;
    return 0;
}

int ae_gw_config_set(ae_gw_config *c, const char *name, const char *v, ae_err *err)
{
    if (!strcmp(name, "mavlink")) {
        if (c->nmavlink >= AE_GW_MAX_LINKS)
            return ae_err_set(err, AE_ELIMIT, "too many MAVLink endpoints (at most %d)",
                              AE_GW_MAX_LINKS);
        c->mavlink[c->nmavlink++] = strdup(v);
    } else if (!strcmp(name, "nats")) {
        set_str(&c->nats_url, v);
    } else if (!strcmp(name, "vid")) {
        set_str(&c->vid, v);
    } else if (!strcmp(name, "env")) {
        set_str(&c->env, v);
    } else if (!strcmp(name, "name")) {
        set_str(&c->name, v);
    } else if (!strcmp(name, "sysid")) {
        if (parse_u8(v, 1, &c->sysid))
            return ae_err_set(err, AE_EINVAL, "sysid: \"%s\" is not 1..255", v);
    } else if (!strcmp(name, "compid")) {
        if (parse_u8(v, 1, &c->compid))
            return ae_err_set(err, AE_EINVAL, "compid: \"%s\" is not 1..255", v);
    } else if (!strcmp(name, "target-sysid") || !strcmp(name, "target_sysid")) {
        if (parse_u8(v, 0, &c->target_sysid))
            return ae_err_set(err, AE_EINVAL, "target_sysid: \"%s\" is not 0..255", v);
    } else if (!strcmp(name, "heartbeat-timeout") || !strcmp(name, "heartbeat_timeout")) {
        if (ae_parse_duration(v, &c->heartbeat_timeout_ns) || c->heartbeat_timeout_ns <= 0)
            return ae_err_set(err, AE_EINVAL, "heartbeat_timeout: \"%s\" is not a duration", v);
    } else if (!strcmp(name, "cmd-timeout") || !strcmp(name, "cmd_timeout")) {
        if (ae_parse_duration(v, &c->cmd_timeout_ns) || c->cmd_timeout_ns <= 0)
            return ae_err_set(err, AE_EINVAL, "cmd_timeout: \"%s\" is not a duration", v);
    } else if (!strcmp(name, "cmd-retries") || !strcmp(name, "cmd_retries")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 0 || n > 20)
            return ae_err_set(err, AE_EINVAL, "cmd_retries: \"%s\" is not 0..20", v);
        c->cmd_retries = (int)n;
    } else if (!strcmp(name, "state-dir") || !strcmp(name, "state_dir")) {
        if (!*v)
            return ae_err_set(err, AE_EINVAL, "state_dir: give a directory");
        set_str(&c->state_dir, v);
    } else if (!strcmp(name, "cmd-domain") || !strcmp(name, "cmd_domain")) {
        set_str(&c->cmd_domain, v);
    } else if (!strcmp(name, "metrics")) {
        char host[256];
        int port;
        if (ae_gw_metrics_parse_addr(v, host, sizeof host, &port) != 0)
            return ae_err_set(err, AE_EINVAL,
                              "metrics: \"%s\" is not HOST:PORT, [IPv6]:PORT or PORT "
                              "(e.g. 127.0.0.1:9102)",
                              v);
        set_str(&c->metrics, v);
    } else if (!strcmp(name, "rate")) {
        /* NAME=RATE */
        const char *eq = strchr(v, '=');
        if (!eq)
            return ae_err_set(err, AE_EINVAL, "rate: expected NAME=RATE, e.g. position=5hz");
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(eq - v), v);
        return set_rate(c, key, eq + 1, err);
    } else if (!strcmp(name, "raw")) {
        if (!parse_bool(v, &c->raw))
            return ae_err_set(err, AE_EINVAL, "raw: \"%s\" is not true/false", v);
    } else if (!strcmp(name, "signing-key") || !strcmp(name, "signing_key")) {
        return parse_key(c, v, err);
    } else if (!strcmp(name, "require-signed") || !strcmp(name, "require_signed")) {
        if (!parse_bool(v, &c->require_signed))
            return ae_err_set(err, AE_EINVAL, "require_signed: \"%s\" is not true/false", v);
    } else {
        return ae_err_set(err, AE_EINVAL, "unknown option \"%s\"", name);
    }
    return 0;
}

static bool valid_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

int ae_gw_config_check(const ae_gw_config *c, ae_err *err)
{
    if (!c->vid)
        return ae_err_set(err, AE_EINVAL, "no vehicle id: give --vid VID (or vid: in the config)");
    if (!valid_token(c->vid))
        return ae_err_set(err, AE_EINVAL, "vid \"%s\": use letters, digits, '_' and '-' only",
                          c->vid);
    if (!valid_token(c->env))
        return ae_err_set(err, AE_EINVAL, "env \"%s\": use letters, digits, '_' and '-' only",
                          c->env);
    if (c->nmavlink == 0)
        return ae_err_set(err, AE_EINVAL,
                          "no MAVLink endpoint: give --mavlink udp://:14550 (repeatable)");
    if (!valid_token(c->cmd_domain))
        return ae_err_set(err, AE_EINVAL,
                          "commands.domain \"%s\": the hub's JetStream domain, one token of "
                          "letters, digits, '_' and '-'",
                          c->cmd_domain ? c->cmd_domain : "");
    if (c->require_signed && !c->has_key)
        return ae_err_set(err, AE_EINVAL, "require_signed needs signing_key");
    return 0;
}

/* The value of a scalar node as text (ints and floats as written). */
static const char *scalar(const ae_conf_node *n)
{
    switch (n->type) {
    case AE_CONF_STRING:
    case AE_CONF_INT:
    case AE_CONF_FLOAT:
        return n->str;
    case AE_CONF_BOOL:
        return n->b ? "true" : "false";
    default:
        return NULL;
    }
}

int ae_gw_config_load(ae_gw_config *c, const char *path, ae_err *err)
{
    ae_conf_node *root = NULL;
    int rc = ae_conf_parse_file(path, &root, err);
    if (rc)
        return rc;
    ae_err e2 = {0};
    for (const ae_conf_node *n = root->child; n; n = n->next) {
        if (!strcasecmp(n->key, "mavlink")) {
            if (n->type == AE_CONF_ARRAY) {
                for (const ae_conf_node *it = n->child; it; it = it->next) {
                    if (it->type != AE_CONF_STRING) {
                        rc = ae_err_set(err, AE_EINVAL, "%s:%d: mavlink: items must be strings",
                                        it->file, it->line);
                        goto out;
                    }
                    if ((rc = ae_gw_config_set(c, "mavlink", it->str, &e2)))
                        goto bad;
                }
                continue;
            }
        }
        if (!strcasecmp(n->key, "rate") || !strcasecmp(n->key, "rate_limits")) {
            if (n->type != AE_CONF_MAP) {
                rc = ae_err_set(err, AE_EINVAL, "%s:%d: %s: expected a map { position: 5 ... }",
                                n->file, n->line, n->key);
                goto out;
            }
            for (const ae_conf_node *it = n->child; it; it = it->next) {
                const char *v = scalar(it);
                if (!v || (rc = set_rate(c, it->key, v, &e2))) {
                    if (!v)
                        ae_err_set(&e2, AE_EINVAL, "%s: expected a number or duration", it->key);
                    rc = ae_err_set(err, AE_EINVAL, "%s:%d: %s", it->file, it->line, e2.msg);
                    goto out;
                }
            }
            continue;
        }
        if (!strcasecmp(n->key, "commands") && n->type == AE_CONF_MAP) {
            for (const ae_conf_node *it = n->child; it; it = it->next) {
                char key[64];
                snprintf(key, sizeof key, "cmd_%s", it->key);
                const char *v = scalar(it);
                if (!v || (rc = ae_gw_config_set(c, key, v, &e2))) {
                    rc = ae_err_set(err, AE_EINVAL, "%s:%d: commands.%s: %s", it->file, it->line,
                                    it->key, v ? e2.msg : "expected a scalar");
                    goto out;
                }
            }
            continue;
        }
        const char *v = scalar(n);
        if (!v) {
            rc = ae_err_set(err, AE_EINVAL, "%s:%d: %s: expected a single value, not a %s", n->file,
                            n->line, n->key, ae_conf_type_name(n->type));
            goto out;
        }
        char key[64];
        snprintf(key, sizeof key, "%s", n->key);
        for (char *p = key; *p; p++)
            *p = (char)(*p == '-' ? '_' : *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if ((rc = ae_gw_config_set(c, key, v, &e2)))
            goto bad;
        continue;
    bad:
        rc = ae_err_set(err, rc, "%s:%d: %s", n->file, n->line, e2.msg);
        goto out;
    }
out:
    ae_conf_free(root);
    return rc;
}
