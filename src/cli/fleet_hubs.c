/* A fleet directory's hub nodes read from their configs (ae_fleet_open_hubs, fleet.h): for
 * the security commands on a directory of `aerie topology --out` or an older local fleet. */
#include "cli/fleet.h"
#include "common/conf.h"
#include "common/fileio.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows the fleet's hub nodes by one zeroed node. Returns it or NULL. */
static ae_fleet_hub *grow_hub(ae_fleet *f)
{
    ae_fleet_hub *nh = realloc(f->hubs, (f->n_hubs + 1) * sizeof *nh);
    if (!nh)
        return NULL;
    f->hubs = nh;
    memset(&nh[f->n_hubs], 0, sizeof *nh);
    return &nh[f->n_hubs++];
}

/* "host:port", "port" or "[v6]:port" into host (127.0.0.1 for a wildcard or no host: the
 * tools dial the node from where it runs) and port. */
static bool split_hostport(const char *v, char **host, int *port)
{
    const char *colon = strrchr(v, ':');
    const char *ps = colon ? colon + 1 : v;
    char *end = NULL;
    long p = strtol(ps, &end, 10);
    if (!*ps || *end || p < 1 || p > 65535)
        return false;
    *port = (int)p;
    free(*host);
    if (!colon || colon == v || strncmp(v, "0.0.0.0:", 8) == 0 || strncmp(v, "[::]:", 5) == 0)
        *host = strdup("127.0.0.1");
    else if (v[0] == '[')
        *host = strndup(v + 1, (size_t)(colon - v - 2));
    else
        *host = strndup(v, (size_t)(colon - v));
    return *host != NULL;
}

/* A listener given as "host:port" text or as a bare port number. */
static bool listener(const ae_conf_node *n, char **host, int *port)
{
    if (n && n->type == AE_CONF_STRING)
        return split_hostport(n->str, host, port);
    if (n && n->type == AE_CONF_INT && n->i > 0 && n->i <= 65535) {
        *port = (int)n->i;
        free(*host);
        *host = strdup("127.0.0.1");
        return *host != NULL;
    }
    return false;
}

/* The region mark `aerie topology` writes, "# aerie-region: NAME" (a comment, which the
 * config parser skips by design), or NULL. */
static char *region_mark(const char *text)
{
    static const char mark[] = "\n# aerie-region:";
    const char *p = strstr(text, mark);
    if (!p)
        return NULL;
    p += strlen(mark);
    p += strspn(p, " ");
    return strndup(p, strcspn(p, " \r\n"));
}

/* Fills a hub node's name, listeners and region from its config file. */
static int hub_from_conf(ae_fleet_hub *h, ae_err *err)
{
    char *text = NULL;
    ae_conf_node *root = NULL;
    int rc = ae_file_read(h->conf, &text, NULL, err);
    if (rc)
        return rc;
    if ((rc = ae_conf_parse_string(text, strlen(text), h->conf, &root, err)) != 0) {
        free(text);
        return rc;
    }
    const ae_conf_node *sn = ae_conf_get(root, "server_name");
    if (!h->name && sn && sn->type == AE_CONF_STRING)
        h->name = strdup(sn->str);
    const char *http_keys[] = {"http", "http_port", "monitor_port"};
    for (size_t k = 0; k < 3 && !h->http_port; k++)
        listener(ae_conf_get(root, http_keys[k]), &h->http_host, &h->http_port);
    const ae_conf_node *leaf = ae_conf_get(root, "leafnodes");
    if (leaf && leaf->type == AE_CONF_MAP &&
        !listener(ae_conf_get(leaf, "listen"), &h->leaf_host, &h->leaf_port) &&
        listener(ae_conf_get(leaf, "port"), &h->leaf_host, &h->leaf_port)) {
        const ae_conf_node *lh = ae_conf_get(leaf, "host");
        if (lh && lh->type == AE_CONF_STRING && strcmp(lh->str, "0.0.0.0") != 0) {
            free(h->leaf_host);
            h->leaf_host = strdup(lh->str);
        }
    }
    h->region = region_mark(text);
    ae_conf_free(root);
    free(text);
    if (!h->name)
        h->name = strdup("?");
    if (!h->leaf_port)
        return ae_err_set(err, AE_EINVAL,
                          "%s: no leafnodes listener found (expected `leafnodes { listen: ... }`)",
                          h->conf);
    return 0;
}

static int cmp_conf(const void *a, const void *b)
{
    return strcmp(((const ae_fleet_hub *)a)->conf, ((const ae_fleet_hub *)b)->conf);
}

/* Adds a hub node for every prefix*.conf in `sub`, sorted by path. Returns how many. */
static size_t glob_confs(ae_fleet *f, const char *sub, const char *prefix)
{
    DIR *d = opendir(sub);
    if (!d)
        return 0;
    size_t start = f->n_hubs;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || n < 6 ||
            strcmp(e->d_name + n - 5, ".conf") != 0)
            continue;
        ae_fleet_hub *h = grow_hub(f);
        if (h && asprintf(&h->conf, "%s/%s", sub, e->d_name) < 0) {
            h->conf = NULL;
            f->n_hubs--;
        }
    }
    closedir(d);
    if (f->n_hubs > start)
        qsort(f->hubs + start, f->n_hubs - start, sizeof f->hubs[0], cmp_conf);
    return f->n_hubs - start;
}

int ae_fleet_open_hubs(const char *dir, ae_fleet **out, ae_err *err)
{
    if (!dir || !*dir)
        return ae_err_set(err, AE_EINVAL, "no fleet directory: give --dir DIR (or AERIE_DIR)");
    ae_fleet *f = NULL;
    int rc = ae_fleet_load(dir, &f, err);
    if (rc == AE_ENOENT)
        f = ae_fleet_new(dir), rc = f ? 0 : ae_err_set(err, AE_ENOMEM, "out of memory");
    if (rc)
        return rc;
    /* A local fleet records its hub nodes with their ports; only a node written before the
     * conf path was recorded needs the layout `aerie up` uses. */
    for (size_t i = 0; i < f->n_hubs && !rc; i++)
        if (!f->hubs[i].conf &&
            asprintf(&f->hubs[i].conf, "%s/conf/%s.conf", dir, f->hubs[i].name) < 0) {
            f->hubs[i].conf = NULL;
            rc = ae_err_set(err, AE_ENOMEM, "out of memory");
        }
    if (!rc && f->n_hubs == 0) {
        char *sub = NULL;
        if (!glob_confs(f, dir, "hub-") && asprintf(&sub, "%s/conf", dir) >= 0)
            glob_confs(f, sub, "hub");
        free(sub);
        for (size_t i = 0; i < f->n_hubs && !rc; i++)
            rc = hub_from_conf(&f->hubs[i], err);
        if (!rc && f->n_hubs == 0)
            rc = ae_err_set(err, AE_ENOENT,
                            "no hub found in %s: expected fleet.json with hub processes (`aerie "
                            "up`) or hub-<node>.conf files (`aerie topology --out`)",
                            dir);
    }
    if (rc) {
        ae_fleet_free(f);
        return rc;
    }
    *out = f;
    return 0;
}
