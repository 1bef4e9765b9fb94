/* The managed users region of hub configs; see creds_conf.h. */
#include "cli/creds_conf.h"
#include "cli/creds_registry.h"
#include "common/conf.h"
#include "common/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        ae_creds_str(reg, "nobody_password"));
    const char *ev = ae_creds_str(json_object_get(reg, "evict"), "public");
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
        if (strcmp(ae_creds_str(v, "status"), "active") != 0)
            continue;
        /* An identity issued for one region (`aerie topology`) is accepted only there. */
        const char *vr = ae_creds_str(v, "region");
        if (*vr && hub_region && *hub_region && strcmp(vr, hub_region) != 0)
            continue;
        /* Per-vehicle permissions (`aerie topology` with vehicle_permissions) are JSON, which
         * the nats-server config syntax reads as it is. */
        char *perm = json_is_object(json_object_get(v, "permissions"))
                         ? json_dumps(json_object_get(v, "permissions"), JSON_COMPACT)
                         : NULL;
        fprintf(m, "    { nkey: \"%s\", allowed_connection_types: [\"LEAFNODE\"]%s%s }  # %s\n",
                ae_creds_str(v, "public"), perm ? ", permissions: " : "", perm ? perm : "", vid);
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

int ae_creds_apply(const ae_fleet *f, json_t *reg, const char *drop_vid, ae_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < f->n_hubs && !rc; i++) {
        const ae_fleet_hub *h = &f->hubs[i];
        char *region = ae_creds_region_text(reg, h->region);
        char *text = NULL, *out = NULL;
        if (!region)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        rc = ae_file_read(h->conf, &text, NULL, err);
        if (!rc) {
            ae_err e2 = {0};
            out = ae_creds_rewrite_conf(text, region, drop_vid, &e2);
            if (!out)
                rc = ae_err_set(err, e2.code ? e2.code : AE_EINVAL, "%s: %s", h->conf, e2.msg);
            else if (strcmp(out, text) != 0)
                rc = ae_file_write_atomic(h->conf, out, AE_FILE_DURABLE, err);
        }
        free(out);
        free(text);
        free(region);
    }
    return rc;
}

bool ae_creds_conf_hardened(const char *conf)
{
    ae_conf_node *root = NULL;
    if (ae_conf_parse_file(conf, &root, NULL) != 0)
        return false;
    const ae_conf_node *n = ae_conf_get(root, "no_auth_user");
    bool ok = n && n->type == AE_CONF_STRING && strcmp(n->str, AE_SEC_NOBODY_USER) == 0;
    ae_conf_free(root);
    return ok;
}
