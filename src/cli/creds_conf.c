/* The managed accounts region of hub configs; see creds_conf.h. */
#include "cli/creds_conf.h"
#include "cli/accounts.h"
#include "cli/creds_registry.h"
#include "common/conf.h"
#include "common/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The line after the one that opens the top-level `accounts {` block (the brace must end
 * its line, as in every config the tools write), or NULL. */
static const char *accounts_open(const char *text)
{
    for (const char *l = text; l && *l; l = line_end(l)) {
        if (strncmp(l, "accounts", 8) != 0 || (l[8] != ' ' && l[8] != '{' && l[8] != ':'))
            continue;
        const char *le = line_end(l);
        const char *br = memchr(l, '{', (size_t)(le - l));
        if (!br)
            return NULL;
        const char *r = br + 1;
        while (r < le && (*r == ' ' || *r == '\t' || *r == '\r'))
            r++;
        return r == le || *r == '\n' || *r == '#' ? le : NULL;
    }
    return NULL;
}

char *ae_creds_rewrite_conf(const char *text, const char *region, ae_err *err)
{
    if (strstr(text, AE_SEC_BEGIN_MARK)) {
        ae_err_set(err, AE_EINVAL,
                   "this hub config has the identity layout of an earlier version (vehicles in "
                   "the global account); regenerate it with `aerie topology` (or `aerie down` "
                   "and `aerie up` for a local fleet) to get the tenant and vehicle accounts "
                   "(docs/security.md)");
        return NULL;
    }
    const char *b = strstr(text, AE_ACCOUNTS_BEGIN_MARK), *e = strstr(text, AE_ACCOUNTS_END_MARK);
    const char *cut_from, *cut_to;
    if (b && e && e > b) {
        cut_from = line_start(text, b);
        cut_to = line_end(e);
    } else if ((cut_from = cut_to = accounts_open(text)) == NULL) {
        ae_err_set(err, AE_EINVAL,
                   "no top-level `accounts {` block (with the brace at the end of its line) to "
                   "write the tenant and vehicle accounts into");
        return NULL;
    }
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(cut_from - text), text, region, cut_to) < 0) {
        ae_err_set(err, AE_ENOMEM, "out of memory");
        return NULL;
    }
    return out;
}

int ae_creds_apply(const ae_fleet *f, json_t *reg, ae_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < f->n_hubs && !rc; i++) {
        const ae_fleet_hub *h = &f->hubs[i];
        char *region = NULL, *text = NULL, *out = NULL;
        if ((rc = ae_accounts_text(reg, h->region, &region, err)) != 0)
            return rc;
        rc = ae_file_read(h->conf, &text, NULL, err);
        if (!rc) {
            ae_err e2 = {0};
            out = ae_creds_rewrite_conf(text, region, &e2);
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
