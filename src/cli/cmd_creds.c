/* `aerie creds add VID | list`, and the fleet-directory, hub-config and reload plumbing that
 * `aerie revoke` shares (see cmd_creds.h for the state layout, docs/security.md for why the
 * hub config looks the way it does on nats-server 2.9.10).
 *
 * Hub configs are edited as text, not regenerated: they belong to `aerie up` or
 * `aerie topology`, and the only part this file owns is the marked region inside the
 * top-level users list. Everything in that region is rebuilt from the registry on every
 * change, so a crash between two steps is repaired by the next command. */
#include "cli/cmd_creds.h"
#include "cli/audit.h"
#include "common/nkeys.h"
#include "common/timeutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small file helpers ---------------------------------------------------------------- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[8192];
    size_t r;
    while (m && (r = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, r, m);
    fclose(f);
    if (!m)
        return NULL;
    fclose(m);
    return buf;
}

/* Atomic replace through a temporary file, mode 0600 (configs and registries hold secrets),
 * fsync'd so that a crash leaves the old or the new file, never half of one. */
static int write_text_atomic(const char *path, const char *text, ae_err *err)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return ae_err_set(err, AE_EIO, "cannot create %s: %s", tmp, strerror(errno));
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return ae_err_set(err, AE_EIO, "cannot write %s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ae_err_set(err, AE_EIO, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

static int ensure_dir(const char *path, ae_err *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return ae_err_set(err, AE_EIO, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---- reading hub configs ------------------------------------------------------------ */

/* The value of `key` on a line that starts at column 0 (a top-level key), or inside the
 * top-level block `block` when block is non-NULL. Quotes are removed. Returns true if found. */
static bool conf_value(const char *text, const char *block, const char *key, char *out, size_t cap)
{
    const char *p = text;
    size_t klen = strlen(key);
    bool in_block = block == NULL;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *q = p;
        if (block) {
            size_t blen = strlen(block);
            if (!in_block && len > blen && strncmp(p, block, blen) == 0 &&
                (p[blen] == ' ' || p[blen] == '{' || p[blen] == ':'))
                in_block = true;
            else if (in_block && p[0] == '}')
                return false;
            while (q < p + len && (*q == ' ' || *q == '\t'))
                q++;
        }
        /* The block's opening line may carry the key too ("leafnodes { listen: ..."). */
        if (in_block && block && strncmp(q, block, strlen(block)) == 0) {
            const char *brace = memchr(q, '{', len - (size_t)(q - p));
            if (brace) {
                q = brace + 1;
                while (q < p + len && (*q == ' ' || *q == '\t'))
                    q++;
            }
        }
        if (in_block && (size_t)(p + len - q) > klen && strncmp(q, key, klen) == 0 &&
            (q[klen] == ':' || q[klen] == ' ' || q[klen] == '=' || q[klen] == '\t')) {
            const char *v = q + klen;
            while (*v == ' ' || *v == '\t' || *v == ':' || *v == '=')
                v++;
            char quote = (*v == '"' || *v == '\'') ? *v++ : 0;
            size_t n = 0;
            while (v < p + len && n + 1 < cap &&
                   (quote ? *v != quote
                          : !(*v == ' ' || *v == '\t' || *v == ',' || *v == '#' || *v == '}' ||
                              *v == '\r')))
                out[n++] = *v++;
            out[n] = 0;
            return n > 0;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

/* "host:port", "port" or "[v6]:port" into host (default 127.0.0.1 for a wildcard) and port. */
static bool split_hostport(const char *v, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(v, ':');
    const char *ps = colon ? colon + 1 : v;
    char *end = NULL;
    long p = strtol(ps, &end, 10);
    if (!*ps || *end || p < 1 || p > 65535)
        return false;
    *port = (int)p;
    if (!colon || colon == v || strncmp(v, "0.0.0.0:", 8) == 0 || strncmp(v, "[::]:", 5) == 0)
        snprintf(host, cap, "127.0.0.1");
    else if (v[0] == '[')
        snprintf(host, cap, "%.*s", (int)(colon - v - 2), v + 1);
    else
        snprintf(host, cap, "%.*s", (int)(colon - v), v);
    return true;
}

static int hub_from_conf(ae_sec_hub *h, ae_err *err)
{
    char *text = read_text(h->conf);
    if (!text)
        return ae_err_set(err, AE_EIO, "cannot read hub config %s: %s", h->conf, strerror(errno));
    char v[300];
    if (!h->name[0] && conf_value(text, NULL, "server_name", v, sizeof v))
        snprintf(h->name, sizeof h->name, "%.63s", v);
    if (conf_value(text, NULL, "http", v, sizeof v) ||
        conf_value(text, NULL, "http_port", v, sizeof v) ||
        conf_value(text, NULL, "monitor_port", v, sizeof v))
        split_hostport(v, h->http_host, sizeof h->http_host, &h->http_port);
    /* `aerie topology` marks the region a hub node serves, for region-scoped identities. */
    const char *rm = strstr(text, "\n" AE_SEC_REGION_MARK);
    if (rm) {
        rm += 1 + strlen(AE_SEC_REGION_MARK);
        while (*rm == ' ')
            rm++;
        size_t n = strcspn(rm, " \r\n");
        snprintf(h->region, sizeof h->region, "%.*s", (int)(n < 63 ? n : 63), rm);
    }
    if (conf_value(text, "leafnodes", "listen", v, sizeof v) ||
        conf_value(text, "leafnodes", "port", v, sizeof v))
        split_hostport(v, h->leaf_host, sizeof h->leaf_host, &h->leaf_port);
    free(text);
    if (!h->leaf_port)
        return ae_err_set(err, AE_EINVAL,
                          "%s: no leafnodes listener found (expected `leafnodes { listen: ... }`)",
                          h->conf);
    return 0;
}

/* ---- the fleet directory ------------------------------------------------------------- */

static int cmp_hub(const void *a, const void *b)
{
    return strcmp(((const ae_sec_hub *)a)->conf, ((const ae_sec_hub *)b)->conf);
}

/* Hub configs named prefix*.conf in `sub`, sorted. */
static int glob_confs(ae_sec_fleet *f, const char *sub, const char *prefix)
{
    DIR *d = opendir(sub);
    if (!d)
        return 0;
    struct dirent *e;
    int start = f->n_hubs;
    while ((e = readdir(d)) && f->n_hubs < AE_SEC_MAX_HUBS) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || n < 6 ||
            strcmp(e->d_name + n - 5, ".conf") != 0)
            continue;
        ae_sec_hub *h = &f->hubs[f->n_hubs++];
        memset(h, 0, sizeof *h);
        snprintf(h->conf, sizeof h->conf, "%s/%s", sub, e->d_name);
    }
    closedir(d);
    qsort(f->hubs + start, (size_t)(f->n_hubs - start), sizeof f->hubs[0], cmp_hub);
    return f->n_hubs - start;
}

int ae_sec_fleet_load(const char *dir, ae_sec_fleet *f, ae_err *err)
{
    memset(f, 0, sizeof *f);
    if (!dir || !*dir)
        return ae_err_set(err, AE_EINVAL, "no fleet directory: give --dir DIR (or AERIE_DIR)");
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/fleet.json", dir);
    json_error_t je;
    if (access(path, F_OK) == 0) {
        f->fleet_json = json_load_file(path, 0, &je);
        if (!f->fleet_json)
            return ae_err_set(err, AE_EINVAL, "%s:%d: %s", path, je.line, je.text);
    }
    /* A local fleet: the hub processes `aerie up` recorded (kind "hub", argv with -c CONF). */
    json_t *procs = json_object_get(f->fleet_json, "processes");
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        if (strcmp(jstr(p, "kind"), "hub") != 0 || f->n_hubs == AE_SEC_MAX_HUBS)
            continue;
        ae_sec_hub *h = &f->hubs[f->n_hubs];
        memset(h, 0, sizeof *h);
        snprintf(h->name, sizeof h->name, "%s", jstr(p, "name"));
        snprintf(h->log, sizeof h->log, "%s", jstr(p, "log"));
        h->pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
        json_t *av = json_object_get(p, "argv");
        for (size_t k = 0; k + 1 < json_array_size(av); k++) {
            const char *a = json_string_value(json_array_get(av, k));
            if (a && (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0))
                snprintf(h->conf, sizeof h->conf, "%s",
                         json_string_value(json_array_get(av, k + 1)));
        }
        if (!h->conf[0])
            return ae_err_set(err, AE_EINVAL, "%s: hub process %s has no -c CONFIG in its argv",
                              path, h->name);
        f->n_hubs++;
    }
    f->local = f->n_hubs > 0;
    if (!f->n_hubs && !glob_confs(f, dir, "hub-")) {
        snprintf(path, sizeof path, "%s/conf", dir);
        glob_confs(f, path, "hub");
    }
    if (!f->n_hubs)
        return ae_err_set(err, AE_ENOENT,
                          "no hub found in %s: expected fleet.json with hub processes (`aerie "
                          "up`) or hub-<node>.conf files (`aerie topology --out`)",
                          dir);
    for (int k = 0; k < f->n_hubs; k++) {
        int rc = hub_from_conf(&f->hubs[k], err);
        if (rc)
            return rc;
    }
    return 0;
}

void ae_sec_fleet_free(ae_sec_fleet *f)
{
    json_decref(f->fleet_json);
    f->fleet_json = NULL;
}

json_t *ae_sec_fleet_vehicle(const ae_sec_fleet *f, const char *vid)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(f->fleet_json, "vehicles"), i,
                       v) if (strcmp(jstr(v, "vid"), vid) == 0) return v;
    return NULL;
}

/* ---- the registry -------------------------------------------------------------------- */

json_t *ae_creds_registry_load(const char *dir, ae_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/creds/creds.json", dir);
    if (access(path, F_OK) != 0)
        return json_pack("{s:i, s:{}}", "version", 1, "vehicles");
    json_error_t je;
    json_t *r = json_load_file(path, 0, &je);
    if (!json_is_object(r) || !json_is_object(json_object_get(r, "vehicles"))) {
        json_decref(r);
        ae_err_set(err, AE_EINVAL, "%s:%d: not a valid credential registry (%s)", path, je.line,
                   r ? "no \"vehicles\" object" : je.text);
        return NULL;
    }
    return r;
}

int ae_creds_registry_save(const char *dir, json_t *reg, ae_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/creds", dir);
    if (ensure_dir(path, err) != 0)
        return AE_EIO;
    snprintf(path, sizeof path, "%s/creds/creds.json", dir);
    char *d = json_dumps(reg, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!d)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = write_text_atomic(path, d, err);
    free(d);
    return rc;
}

/* A new user nkey: the seed is written to `seed_path` (0600), the public key to pub. */
static int new_identity(const char *seed_path, char pub[64], ae_err *err)
{
    ae_nkey k;
    char seed[64];
    int rc = ae_nkey_generate('U', &k, err);
    if (rc)
        return rc;
    ae_nkey_seed(&k, seed, sizeof seed);
    ae_nkey_public(&k, pub, 64);
    char text[80];
    snprintf(text, sizeof text, "%s\n", seed);
    rc = write_text_atomic(seed_path, text, err);
    /* Do not leave the private seed in memory longer than needed. */
    memset(&k, 0, sizeof k);
    memset(seed, 0, sizeof seed);
    memset(text, 0, sizeof text);
    return rc;
}

int ae_creds_ensure_service(const char *dir, json_t *reg, ae_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/creds", dir);
    if (ensure_dir(path, err) != 0)
        return AE_EIO;
    if (!json_is_string(json_object_get(reg, "nobody_password"))) {
        /* Never used to log in: no_auth_user maps anonymous connections to this user, whose
         * connection types exclude everything a client or leaf can be (docs/security.md). */
        static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        unsigned char raw[24];
        if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
            return ae_err_set(err, AE_EIO, "getrandom: %s", strerror(errno));
        char pw[25];
        for (int i = 0; i < 24; i++)
            pw[i] = al[raw[i] % (sizeof al - 1)];
        pw[24] = 0;
        json_object_set_new(reg, "nobody_password", json_string(pw));
    }
    json_t *ev = json_object_get(reg, "evict");
    snprintf(path, sizeof path, "%s/creds/%s.nk", dir, AE_SEC_EVICT_USER);
    if (!json_is_object(ev) || access(path, R_OK) != 0) {
        char pub[64];
        int rc = new_identity(path, pub, err);
        if (rc)
            return rc;
        json_object_set_new(reg, "evict",
                            json_pack("{s:s, s:s}", "public", pub, "seed_file", path));
    }
    return 0;
}

bool ae_creds_is_revoked(json_t *reg, const char *vid)
{
    json_t *v = json_object_get(json_object_get(reg, "vehicles"), vid);
    return v && strcmp(jstr(v, "status"), "revoked") == 0;
}

int ae_creds_issue(const char *dir, json_t *reg, const char *vid, const char *region, ae_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/creds", dir);
    if (ensure_dir(path, err) != 0)
        return AE_EIO;
    json_t *vehs = json_object_get(reg, "vehicles");
    if (!json_is_object(vehs)) {
        vehs = json_object();
        json_object_set_new(reg, "vehicles", vehs);
    }
    json_t *have = json_object_get(vehs, vid);
    snprintf(path, sizeof path, "%s/creds/%s.nk", dir, vid);
    if (have && strcmp(jstr(have, "status"), "active") == 0 && access(path, R_OK) == 0 &&
        *jstr(have, "public")) {
        if (region && *region)
            json_object_set_new(have, "region", json_string(region));
        return 0; /* the same identity again: configs that name it stay valid */
    }
    char pub[64], ts[48];
    int rc = new_identity(path, pub, err);
    if (rc)
        return rc;
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "nkey", "public", pub, "seed_file", path,
                  "status", "active", "issued", ae_format_rfc3339(ae_now_ns(), ts, sizeof ts));
    if (region && *region)
        json_object_set_new(e, "region", json_string(region));
    json_object_set_new(vehs, vid, e);
    return 1;
}

/* ---- rewriting hub configs ----------------------------------------------------------- */

char *ae_creds_region_text(json_t *reg, const char *hub_region)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    fprintf(m, "    " AE_SEC_BEGIN_MARK ": per-vehicle leaf identities, written by `aerie creds`"
               " and `aerie revoke` from creds/creds.json; edits here are overwritten\n");
    fprintf(
        m,
        "    { user: \"" AE_SEC_NOBODY_USER "\", password: \"%s\", allowed_connection_types:"
        " [\"MQTT\"], permissions: { publish: { deny: \">\" }, subscribe: { deny: \">\" } } }\n",
        jstr(reg, "nobody_password"));
    const char *ev = jstr(json_object_get(reg, "evict"), "public");
    if (*ev)
        fprintf(m,
                "    { nkey: \"%s\", allowed_connection_types: [\"LEAFNODE\"], permissions: {"
                " publish: { deny: \">\" }, subscribe: { deny: \">\" } } }  # " AE_SEC_EVICT_USER
                "\n",
                ev);
    const char *vid;
    json_t *v;
    json_object_foreach(json_object_get(reg, "vehicles"), vid, v)
    {
        if (strcmp(jstr(v, "status"), "active") != 0)
            continue;
        /* An identity issued for one region (`aerie topology`) is accepted only there. */
        const char *vr = jstr(v, "region");
        if (*vr && hub_region && *hub_region && strcmp(vr, hub_region) != 0)
            continue;
        /* Per-vehicle permissions (`aerie topology` with vehicle_permissions) are JSON, which
         * the nats-server config syntax reads as it is. */
        char *perm = json_is_object(json_object_get(v, "permissions"))
                         ? json_dumps(json_object_get(v, "permissions"), JSON_COMPACT)
                         : NULL;
        fprintf(m, "    { nkey: \"%s\", allowed_connection_types: [\"LEAFNODE\"]%s%s }  # %s\n",
                jstr(v, "public"), perm ? ", permissions: " : "", perm ? perm : "", vid);
        free(perm);
    }
    fprintf(m, "    " AE_SEC_END_MARK "\n");
    fclose(m);
    return buf;
}

/* Start of the line containing p. */
static const char *line_start(const char *text, const char *p)
{
    while (p > text && p[-1] != '\n')
        p--;
    return p;
}

static const char *line_end(const char *p)
{
    const char *e = strchr(p, '\n');
    return e ? e + 1 : p + strlen(p);
}

/* True if the line at p is a users entry `{ user: NAME ...` (NAME quoted or not). */
static bool is_user_entry(const char *p, const char *name)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '{')
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "username", 8) == 0)
        p += 8;
    else if (strncmp(p, "user", 4) == 0)
        p += 4;
    else
        return false;
    while (*p == ' ' || *p == '\t' || *p == ':' || *p == '=')
        p++;
    bool quoted = *p == '"';
    if (quoted)
        p++;
    size_t n = strlen(name);
    if (strncmp(p, name, n) != 0)
        return false;
    p += n;
    return quoted ? *p == '"' : (*p == ',' || *p == ' ' || *p == '}' || *p == '\t');
}

/* Removes every `{ user: NAME ... }` entry (possibly spanning lines) outside the managed
 * region. Returns a new string. */
static char *drop_user_entries(const char *text, const char *name)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    const char *p = text;
    while (*p) {
        const char *e = line_end(p);
        if (is_user_entry(p, name)) {
            /* Skip through the line where the entry's braces balance. */
            int depth = 0;
            const char *q = p;
            bool closed = false;
            while (*q && !closed) {
                if (*q == '{')
                    depth++;
                else if (*q == '}' && --depth == 0)
                    closed = true;
                else if (*q == '"')
                    for (q++; *q && *q != '"'; q++)
                        ;
                if (*q)
                    q++;
            }
            if (closed) {
                p = line_end(q - 1);
                continue;
            }
        }
        fwrite(p, 1, (size_t)(e - p), m);
        p = e;
    }
    fclose(m);
    return buf;
}

char *ae_creds_rewrite_conf(const char *text, const char *region, const char *drop_user,
                            ae_err *err)
{
    char *work = drop_user ? drop_user_entries(text, drop_user) : strdup(text);
    if (!work) {
        ae_err_set(err, AE_ENOMEM, "out of memory");
        return NULL;
    }
    const char *b = strstr(work, AE_SEC_BEGIN_MARK), *e = strstr(work, AE_SEC_END_MARK);
    const char *cut_from, *cut_to;
    if (b && e && e > b) {
        cut_from = line_start(work, b);
        cut_to = line_end(e);
    } else {
        /* First time: after the `users = [` line of the top-level authorization block. */
        const char *a = work;
        while (a && !(strncmp(a, "authorization", 13) == 0 &&
                      (a[13] == ' ' || a[13] == '{' || a[13] == ':')))
            a = (a = strchr(a, '\n')) ? a + 1 : NULL;
        const char *u = NULL;
        for (const char *l = a; l && *l && (l == a || *l != '}'); l = line_end(l)) {
            const char *le = line_end(l);
            const char *k = strstr(l, "users");
            const char *br = k && k < le ? memchr(k, '[', (size_t)(le - k)) : NULL;
            if (br) {
                /* Only when nothing but a comment follows the bracket on that line. */
                const char *r = br + 1;
                while (r < le && (*r == ' ' || *r == '\t' || *r == '\r'))
                    r++;
                if (r == le || *r == '\n' || *r == '#')
                    u = le;
                break;
            }
            if (*le == 0)
                break;
        }
        if (!u) {
            free(work);
            ae_err_set(err, AE_EINVAL,
                       "no top-level `authorization { users = [` list (with the bracket at the "
                       "end of its line) to add vehicle identities to");
            return NULL;
        }
        cut_from = cut_to = u;
    }
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(cut_from - work), work, region, cut_to) < 0)
        out = NULL;
    free(work);
    if (!out)
        ae_err_set(err, AE_ENOMEM, "out of memory");
    return out;
}

int ae_creds_apply(ae_sec_fleet *f, json_t *reg, const char *drop_vid, ae_err *err)
{
    int rc = 0;
    for (int i = 0; i < f->n_hubs && !rc; i++) {
        char *region = ae_creds_region_text(reg, f->hubs[i].region);
        if (!region)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        char *text = read_text(f->hubs[i].conf);
        if (!text) {
            rc = ae_err_set(err, AE_EIO, "cannot read %s: %s", f->hubs[i].conf, strerror(errno));
            free(region);
            break;
        }
        ae_err e2 = {0};
        char *out = ae_creds_rewrite_conf(text, region, drop_vid, &e2);
        if (!out)
            rc = ae_err_set(err, e2.code ? e2.code : AE_EINVAL, "%s: %s", f->hubs[i].conf, e2.msg);
        else if (strcmp(out, text) != 0)
            rc = write_text_atomic(f->hubs[i].conf, out, err);
        free(out);
        free(text);
        free(region);
    }
    return rc;
}

/* True when the config refuses anonymous leaves (docs/security.md). */
static bool conf_hardened(const char *conf)
{
    char *text = read_text(conf);
    char v[128];
    bool ok = text && conf_value(text, NULL, "no_auth_user", v, sizeof v) &&
              strcmp(v, AE_SEC_NOBODY_USER) == 0;
    free(text);
    return ok;
}

/* ---- processes and monitoring -------------------------------------------------------- */

bool ae_sec_pid_is_hub(pid_t pid, const char *conf)
{
    if (pid <= 0)
        return false;
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    const char *argv0 = buf, *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strcmp(base, "nats-server") != 0)
        return false;
    char want[PATH_MAX], have[PATH_MAX];
    if (!realpath(conf, want))
        snprintf(want, sizeof want, "%s", conf);
    bool next_is_conf = false;
    for (const char *a = buf; a < buf + n; a += strlen(a) + 1) {
        if (next_is_conf) {
            if (!realpath(a, have))
                snprintf(have, sizeof have, "%.*s", (int)sizeof have - 1, a);
            if (strcmp(have, want) == 0)
                return true;
        }
        next_is_conf = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0;
    }
    return false;
}

int ae_sec_http_get(const char *host, int port, const char *path, char **body, int timeout_ms)
{
    if (body)
        *body = NULL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return AE_EIO;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (fd < 0)
        return AE_EIO;
    int64_t deadline = ae_mono_ns() + (int64_t)timeout_ms * 1000000;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    if (rc != 0 && (errno != EINPROGRESS || poll(&pfd, 1, timeout_ms) != 1)) {
        close(fd);
        return AE_EIO;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    char req[512];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n", path, host, port);
    if (soerr != 0 || send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
        close(fd);
        return AE_EIO;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    for (;;) {
        int left = (int)((deadline - ae_mono_ns()) / 1000000);
        pfd.events = POLLIN;
        if (left <= 0 || poll(&pfd, 1, left) != 1)
            break;
        char chunk[8192];
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            break;
        fwrite(chunk, 1, (size_t)r, m);
    }
    close(fd);
    fclose(m);
    int status = 0;
    const char *sep = buf ? strstr(buf, "\r\n\r\n") : NULL;
    if (!buf || sscanf(buf, "HTTP/%*s %d", &status) != 1 || !sep) {
        free(buf);
        return AE_EIO;
    }
    if (body) {
        *body = strdup(sep + 4);
    }
    free(buf);
    return status;
}

/* The hub's config_load_time from /varz, or "" when it cannot be read. */
static void varz_load_time(const ae_sec_hub *h, char *out, size_t cap)
{
    out[0] = 0;
    char *body = NULL;
    if (!h->http_port || ae_sec_http_get(h->http_host, h->http_port, "/varz", &body, 2000) != 200)
        return;
    json_t *j = json_loads(body, 0, NULL);
    snprintf(out, cap, "%s", jstr(j, "config_load_time"));
    json_decref(j);
    free(body);
}

/* The last line of the hub's log that mentions a failed reload, for the error message. */
static void reload_error(const ae_sec_hub *h, char *out, size_t cap)
{
    out[0] = 0;
    FILE *fp = h->log[0] ? fopen(h->log, "r") : NULL;
    if (!fp)
        return;
    char line[512];
    while (fgets(line, sizeof line, fp))
        if (strstr(line, "reload")) {
            line[strcspn(line, "\r\n")] = 0;
            snprintf(out, cap, "%s", line);
        }
    fclose(fp);
}

int ae_sec_reload_hubs(ae_sec_fleet *f, int timeout_ms, ae_err *err)
{
    if (!f->local)
        return 0;
    char before[AE_SEC_MAX_HUBS][64];
    for (int i = 0; i < f->n_hubs; i++) {
        ae_sec_hub *h = &f->hubs[i];
        if (!ae_sec_pid_is_hub(h->pid, h->conf))
            return ae_err_set(err, AE_EIO,
                              "hub %s: PID %d is not a nats-server running %s (any more); is "
                              "the fleet up? The config is changed and takes effect when the "
                              "node starts",
                              h->name, (int)h->pid, h->conf);
        varz_load_time(h, before[i], sizeof before[i]);
    }
    for (int i = 0; i < f->n_hubs; i++)
        if (kill(f->hubs[i].pid, SIGHUP) != 0)
            return ae_err_set(err, AE_EIO, "hub %s: SIGHUP to PID %d: %s", f->hubs[i].name,
                              (int)f->hubs[i].pid, strerror(errno));
    /* A reload is confirmed by a new config_load_time; a node that keeps the old one either
     * refused the new config (its log says why) or has not got to it yet. One more SIGHUP
     * halfway covers a signal that arrived while the node was still busy with the last. */
    int64_t start = ae_mono_ns(), deadline = start + (int64_t)timeout_ms * 1000000;
    bool resent = false;
    for (;;) {
        int pending = -1;
        for (int i = 0; i < f->n_hubs; i++) {
            char now[64];
            if (!f->hubs[i].http_port)
                continue; /* nothing to confirm with */
            varz_load_time(&f->hubs[i], now, sizeof now);
            if (!now[0] || strcmp(now, before[i]) == 0) {
                pending = i;
                break;
            }
        }
        if (pending < 0)
            return f->n_hubs;
        if (ae_mono_ns() > deadline) {
            char why[512];
            reload_error(&f->hubs[pending], why, sizeof why);
            return ae_err_set(err, AE_ETIMEOUT, "hub %s did not reload its config within %d ms%s%s",
                              f->hubs[pending].name, timeout_ms, why[0] ? "; its log says: " : "",
                              why);
        }
        if (!resent && ae_mono_ns() - start > (int64_t)timeout_ms * 500000) {
            resent = true;
            kill(f->hubs[pending].pid, SIGHUP);
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void ae_sec_actor(char *out, size_t cap)
{
    const char *user = getenv("USER");
    if (!user || !*user)
        user = getenv("LOGNAME");
    /* Services and CI often run without $USER; the account name is the next best thing. */
    struct passwd pw, *res = NULL;
    char pwbuf[1024];
    if ((!user || !*user) && getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) == 0 && res)
        user = res->pw_name;
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    snprintf(out, cap, "%s@%s", user && *user ? user : "unknown", host);
}

/* ---- the vehicle's leaf config (local fleets) --------------------------------------- */

/* Points a local fleet's DIR/conf/leaf-VID.conf at the seed: drops user:password@ from its
 * nats-leaf:// URLs and adds `nkey: "SEED"` to the remote. Returns 1 when the file was
 * changed, 0 when there is no such file or it already uses the seed, or an AE_E*. */
static int update_leaf_conf(const char *dir, const char *vid, const char *seed_path, ae_err *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/conf/leaf-%s.conf", dir, vid);
    char *text = read_text(path);
    if (!text)
        return 0;
    if (strstr(text, seed_path)) {
        free(text);
        return 0;
    }
    const char *rem = strstr(text, "remotes");
    const char *urls = rem ? strstr(rem, "urls") : NULL;
    const char *brace = urls;
    while (brace && brace > rem && *brace != '{')
        brace--;
    if (!urls || brace == rem) {
        free(text);
        return ae_err_set(err, AE_EINVAL, "%s: no `remotes = [ { urls: ... } ]` to add the nkey to",
                          path);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    fwrite(text, 1, (size_t)(brace + 1 - text), m);
    fprintf(m, " nkey: \"%s\",", seed_path);
    /* Copy the rest, dropping userinfo from leaf URLs: the shared password must not stay
     * next to the per-vehicle key. */
    for (const char *p = brace + 1; *p;) {
        const char *s = strstr(p, "://");
        if (!s) {
            fputs(p, m);
            break;
        }
        fwrite(p, 1, (size_t)(s + 3 - p), m);
        const char *h = s + 3;
        size_t span = strcspn(h, "@/\"' \n,]");
        p = h[span] == '@' ? h + span + 1 : h;
    }
    fclose(m);
    free(text);
    int rc = write_text_atomic(path, buf, err);
    free(buf);
    return rc ? rc : 1;
}

/* ---- the commands ------------------------------------------------------------------- */

static int usage_creds(void)
{
    fprintf(stderr, "usage: aerie creds add VID [--dir DIR | --out DIR] [--json]\n"
                    "       aerie creds list [--dir DIR] [--json]\n"
                    "See docs/security.md.\n");
    return 2;
}

static int creds_add(ae_cli *c, const char *dir, const char *vid)
{
    ae_err err = {0};
    ae_sec_fleet f;
    json_t *reg = NULL, *details = json_object();
    char seed_path[PATH_MAX + 64] = "", pub[64] = "";
    int reloaded = 0, leaf_changed = 0, rc;
    bool already = false;
    if ((rc = ae_sec_fleet_load(dir, &f, &err)) != 0)
        goto out;
    if (!(reg = ae_creds_registry_load(dir, &err))) {
        rc = AE_EINVAL;
        goto out;
    }
    if ((rc = ae_creds_ensure_service(dir, reg, &err)) != 0)
        goto out;
    snprintf(seed_path, sizeof seed_path, "%s/creds/%s.nk", dir, vid);
    /* Idempotent: an active identity whose seed is still there is re-applied as it is. */
    if ((rc = ae_creds_issue(dir, reg, vid, NULL, &err)) < 0)
        goto out;
    already = rc == 0;
    rc = 0;
    snprintf(pub, sizeof pub, "%s",
             jstr(json_object_get(json_object_get(reg, "vehicles"), vid), "public"));
    if ((rc = ae_creds_registry_save(dir, reg, &err)) != 0 ||
        (rc = ae_creds_apply(&f, reg, NULL, &err)) != 0)
        goto out;
    if ((rc = ae_sec_reload_hubs(&f, 5000, &err)) < 0)
        goto out;
    reloaded = rc;
    rc = 0;
    if (f.local && (leaf_changed = update_leaf_conf(dir, vid, seed_path, &err)) < 0) {
        rc = leaf_changed;
        goto out;
    }
out:
    json_object_set_new(details, "public", json_string(pub));
    json_object_set_new(details, "hubs", json_integer(f.n_hubs));
    json_object_set_new(details, "reloaded", json_integer(reloaded));
    if (already)
        json_object_set_new(details, "already_issued", json_true());
    if (rc)
        json_object_set_new(details, "error", json_string(err.msg));
    ae_audit(c, "creds.add", vid, details, rc ? "error" : "ok");
    if (rc) {
        fprintf(stderr, "aerie creds add: %s\n", err.msg);
    } else if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:b}", "vid", vid, "public", pub,
                              "seed_file", seed_path, "hubs", f.n_hubs, "reloaded", reloaded,
                              "already_issued", already, "leaf_conf_updated", leaf_changed > 0);
        char *d = json_dumps(o, AE_CLI_JSON_FLAGS);
        printf("%s\n", d);
        free(d);
        json_decref(o);
    } else {
        printf("%s: %s nkey %s\n", vid, already ? "already has" : "issued", pub);
        printf("credential file (give it to the vehicle, mode 0600): %s\n", seed_path);
        printf("  aerie-leaf: leafnodes { remotes = [ { urls: [...], nkey: \"%s\" } ] }\n",
               seed_path);
        if (f.local)
            printf("hub configs updated and reloaded: %d of %d nodes\n", reloaded, f.n_hubs);
        else
            printf("hub configs updated: %d files in %s; copy them to the hub nodes and send "
                   "each nats-server SIGHUP\n",
                   f.n_hubs, dir);
        if (leaf_changed > 0)
            printf("%s/conf/leaf-%s.conf now uses the key; restart that aerie-leaf to use it "
                   "(it reads credentials at start)\n",
                   dir, vid);
    }
    if (!rc)
        for (int i = 0; i < f.n_hubs; i++)
            if (!conf_hardened(f.hubs[i].conf)) {
                fprintf(stderr,
                        "aerie creds: warning: %s does not refuse leaves without credentials "
                        "(no `no_auth_user: " AE_SEC_NOBODY_USER
                        "`); add it and restart the node (2.9.10 cannot reload it), see "
                        "docs/security.md\n",
                        f.hubs[i].conf);
                break;
            }
    json_decref(details);
    json_decref(reg);
    ae_sec_fleet_free(&f);
    return rc ? 1 : 0;
}

static int creds_list(ae_cli *c, const char *dir)
{
    ae_err err = {0};
    json_t *reg = ae_creds_registry_load(dir, &err);
    if (!reg) {
        fprintf(stderr, "aerie creds list: %s\n", err.msg);
        return 1;
    }
    json_t *vehs = json_object_get(reg, "vehicles");
    if (c->json) {
        const char *vid;
        json_t *v;
        json_object_foreach(vehs, vid, v)
        {
            json_t *o = json_deep_copy(v);
            json_object_set_new(o, "vid", json_string(vid));
            char *d = json_dumps(o, AE_CLI_JSON_FLAGS | JSON_SORT_KEYS);
            printf("%s\n", d);
            free(d);
            json_decref(o);
        }
    } else {
        printf("%-16s %-8s %-8s %-31s %s\n", "VID", "TYPE", "STATUS", "SINCE", "PUBLIC KEY");
        const char *vid;
        json_t *v;
        json_object_foreach(vehs, vid, v)
        {
            bool active = strcmp(jstr(v, "status"), "active") == 0;
            printf("%-16s %-8s %-8s %-31s %s\n", vid, jstr(v, "type"), jstr(v, "status"),
                   active ? jstr(v, "issued") : jstr(v, "revoked"), jstr(v, "public"));
        }
        if (json_object_size(vehs) == 0)
            printf("(no credentials issued in %s)\n", dir);
    }
    json_decref(reg);
    return 0;
}

int ae_cmd_creds(ae_cli *c, int argc, char **argv)
{
    const char *sub = NULL, *vid = NULL;
    for (int i = 1; i < argc;) {
        ae_err err = {0};
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie creds: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            c->dir = argv[i + 1];
            i += 2;
        } else if (argv[i][0] != '-' && !sub) {
            sub = argv[i++];
        } else if (argv[i][0] != '-' && !vid) {
            vid = argv[i++];
        } else {
            fprintf(stderr, "aerie creds: unexpected argument %s\n", argv[i]);
            return usage_creds();
        }
    }
    if (!c->dir && access(".fleet/fleet.json", F_OK) == 0)
        c->dir = ".fleet";
    /* Absolute, because the seed paths written into leaf configs and printed for the
     * operator must not depend on where the command ran. */
    char absdir[PATH_MAX];
    if (c->dir && realpath(c->dir, absdir))
        c->dir = absdir;
    if (!sub)
        return usage_creds();
    if (!c->dir) {
        fprintf(stderr, "aerie creds: give the fleet directory with --dir DIR (a fleet made by "
                        "`aerie up`) or --out DIR (the output of `aerie topology`)\n");
        return 2;
    }
    if (strcmp(sub, "list") == 0 && !vid)
        return creds_list(c, c->dir);
    if (strcmp(sub, "add") == 0 && vid) {
        if (!ae_cli_valid_token(vid) || strncmp(vid, "aerie-", 6) == 0) {
            fprintf(stderr,
                    "aerie creds add: %s is not a vehicle id (one token of letters, digits, "
                    "'_' or '-', not starting with aerie-)\n",
                    vid);
            return 2;
        }
        return creds_add(c, c->dir, vid);
    }
    return usage_creds();
}
