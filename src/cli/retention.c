/* Retention limits of the twin streams and their defaults; see retention.h. */
#include "cli/retention.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ae_retention_streams[AE_RET_N] = {"TWIN_STATE", "TWIN_EVENTS", "FLEET_CMD",
                                                    "FLEET_LINK", "TWIN_LIVE"};

/* The option prefix of each stream, in AE_RET_* order. */
static const char *const prefixes[AE_RET_N] = {"state", "events", "cmd", "link", "live"};

/* Each stream's share of the budget, in percent. */
static const int shares[AE_RET_N] = {60, 25, 5, 5, 5};

const char ae_retention_usage[] =
    "  retention (per stream S = state, events, cmd, link, live):\n"
    "    --S-max-age DUR      keep messages this long (0: forever); defaults state 7d,\n"
    "                         events 30d, cmd 1h, link 7d, live 1h\n"
    "    --S-max-bytes SIZE   at most this much per hub node (\"unlimited\"); default a\n"
    "                         share of --store-budget: state 60%, events 25%, others 5%\n"
    "    --S-history N        messages kept per subject (\"unlimited\"); default link 100,\n"
    "                         the others unlimited (live: always 1)\n"
    "    --store-budget SIZE  what the streams may fill on each node (default: none, or for\n"
    "                         a local fleet of one tenant 90% of a node's store)\n";

ae_retention ae_retention_defaults(void)
{
    const int64_t day = 86400 * AE_NS_PER_SEC, hour = 3600 * AE_NS_PER_SEC;
    ae_retention r = {.max_age = {7 * day, 30 * day, hour, 7 * day, hour},
                      .history = {-1, -1, -1, 100, 1}};
    for (int k = 0; k < AE_RET_N; k++)
        r.max_bytes[k] = AE_RET_UNSET;
    return r;
}

int64_t ae_retention_budget(int64_t node_store)
{
    return node_store > 0 ? node_store / 10 * 9 : 0;
}

int ae_retention_index(const char *stream)
{
    for (int k = 0; k < AE_RET_N; k++)
        if (strcmp(stream, ae_retention_streams[k]) == 0)
            return k;
    return -1;
}

/* "unlimited" as -1, else a size or a count. */
static int parse_limit(const char *v, bool size, int64_t *out)
{
    if (strcmp(v, "unlimited") == 0) {
        *out = -1;
        return 0;
    }
    if (size)
        return ae_parse_size(v, out) != 0 || *out < 1 ? -1 : 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || end == v || n < 1)
        return -1;
    *out = n;
    return 0;
}

int ae_retention_opt(ae_retention *r, int argc, char **argv, int *i, ae_err *err)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0)
        return 0;
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--store-budget") == 0) {
        if (!v || ae_parse_size(v, &r->budget) != 0 || r->budget < 1)
            return ae_err_set(err, AE_EINVAL, "--store-budget %s: expected a size such as 4GB",
                              v ? v : "(missing)"),
                   -1;
        *i += 2;
        return 1;
    }
    for (int k = 0; k < AE_RET_N; k++) {
        size_t pl = strlen(prefixes[k]);
        if (strncmp(a + 2, prefixes[k], pl) != 0 || a[2 + pl] != '-')
            continue;
        const char *what = a + 3 + pl;
        int bad;
        if (strcmp(what, "max-age") == 0)
            bad = !v || ae_parse_duration(v, &r->max_age[k]) != 0 || r->max_age[k] < 0;
        else if (strcmp(what, "max-bytes") == 0)
            bad = !v || parse_limit(v, true, &r->max_bytes[k]) != 0;
        else if (strcmp(what, "history") == 0 && k != AE_RET_LIVE)
            bad = !v || parse_limit(v, false, &r->history[k]) != 0;
        else
            return 0;
        if (bad)
            return ae_err_set(err, AE_EINVAL, "bad value for %s: %s", a, v ? v : "(missing)"), -1;
        *i += 2;
        return 1;
    }
    return 0;
}

void ae_retention_fit(ae_retention *r, int64_t budget)
{
    if (r->budget > 0)
        budget = r->budget;
    for (int k = 0; k < AE_RET_N; k++)
        if (r->max_bytes[k] == AE_RET_UNSET)
            r->max_bytes[k] = budget > 0 ? budget / 100 * shares[k] : -1;
}
