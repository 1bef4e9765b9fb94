/* `aerie cmd status ID` and `aerie cmd list VID`: the command log (cmdlog.h) as text or JSON.
 *
 *   status: one command and every step it went through, who took it (the hub or the
 *           vehicle) and when;
 *   list:   one line per command to a vehicle, oldest first; --pending keeps those that may
 *           still run (queued, or delivered without a verdict). */
#include "cli/cmd_cmd.h"
#include "cli/cmd_hub.h"
#include "cli/cmdlog.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int usage(void)
{
    fprintf(stderr, "usage: aerie cmd status ID [--since 24h] [--json] [--dir DIR | --server URL]\n"
                    "       aerie cmd list VID [--since 1h] [--pending] [--json] [--dir DIR | "
                    "--server URL]\n");
    return 2;
}

/* What a step adds in words: the vehicle's result, attempts, age, error. */
static void step_detail(json_t *rep, char *out, size_t cap)
{
    out[0] = 0;
    if (!rep)
        return;
    size_t n = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < cap)                                                                               \
            n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__);                                  \
    } while (0)
    const char *via = str(rep, "via"), *error = str(rep, "error");
    json_t *age = json_object_get(rep, "age_s"), *att = json_object_get(rep, "attempts");
    json_t *mr = json_object_get(rep, "mav_result");
    if (via)
        ADD("%s", via);
    if (age && !error)
        ADD("%s%.1f s old", n ? ", " : "", json_number_value(age));
    if (mr)
        ADD("%sMAV_RESULT %lld", n ? ", " : "", (long long)json_integer_value(mr));
    if (att)
        ADD("%s%lld attempt%s", n ? ", " : "", (long long)json_integer_value(att),
            json_integer_value(att) == 1 ? "" : "s");
    if (str(rep, "superseded_by") && !error)
        ADD("%sby %s", n ? ", " : "", str(rep, "superseded_by"));
    if (error)
        ADD("%s%s", n ? ": " : "", error);
#undef ADD
}

static void print_status(json_t *o)
{
    char ttl[32] = "?";
    json_t *t = json_object_get(o, "ttl_s");
    if (t)
        ae_cli_fmt_duration((int64_t)(json_number_value(t) * 1e9), ttl, sizeof ttl);
    printf("%s  %s to %s: %s (%s)\n", str(o, "id"), str(o, "command"), str(o, "vid"),
           str(o, "state"),
           strcmp(str(o, "by") ?: "", "vehicle") == 0 ? "reported by the vehicle"
                                                      : "the hub's view: no report from the "
                                                        "vehicle yet");
    char *args = json_dumps(json_object_get(o, "args"), AE_CLI_JSON_FLAGS | JSON_ENCODE_ANY);
    if (args)
        printf("  %-10s %s\n", "args", args);
    free(args);
    if (str(o, "issued") || str(o, "actor"))
        printf("  %-10s %s%s%s, TTL %s%s%s\n", "issued", str(o, "issued") ?: "?",
               str(o, "actor") ? " by " : "", str(o, "actor") ?: "", ttl,
               str(o, "expires") ? ", expires " : "", str(o, "expires") ?: "");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o, "steps"), i, s)
    {
        char detail[400];
        bool hub = strcmp(str(s, "by") ?: "", "hub") == 0;
        step_detail(json_object_get(s, "report"), detail, sizeof detail);
        if (hub)
            snprintf(detail, sizeof detail, "stored (FLEET_CMD seq %lld)",
                     (long long)json_integer_value(json_object_get(o, "seq")));
        printf("  %-10s %s  %s%s%s\n", str(s, "state"), str(s, "time") ?: "?",
               hub ? "hub" : "vehicle", *detail ? ": " : "", detail);
    }
    if (str(o, "replaced_by"))
        printf("  %-10s the newer %s %s replaces it: it will be superseded, not run\n", "note",
               str(o, "command"), str(o, "replaced_by"));
    if (strcmp(str(o, "by") ?: "", "hub") == 0 && strcmp(str(o, "state") ?: "", "queued") != 0) {
        if (str(o, "superseded_by"))
            printf("  %-10s a newer %s (%s) reached the vehicle first; this one will not run\n",
                   str(o, "state"), str(o, "command"), str(o, "superseded_by"));
        else
            printf("  %-10s its TTL ran out before the vehicle got it; it will not run\n",
                   str(o, "state"));
    }
}

static void print_list(json_t *all)
{
    printf("%-28s %-8s %-11s %-8s %-31s %-6s %s\n", "ID", "COMMAND", "STATE", "BY", "STORED", "TTL",
           "DETAIL");
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o)
    {
        char ttl[32] = "-", detail[400] = "";
        json_t *t = json_object_get(o, "ttl_s");
        if (t)
            ae_cli_fmt_duration((int64_t)(json_number_value(t) * 1e9), ttl, sizeof ttl);
        step_detail(json_object_get(o, "report"), detail, sizeof detail);
        if (!*detail && str(o, "superseded_by"))
            snprintf(detail, sizeof detail, "by %s", str(o, "superseded_by"));
        if (!*detail && str(o, "replaced_by"))
            snprintf(detail, sizeof detail, "the newer %s replaces it", str(o, "replaced_by"));
        printf("%-28s %-8s %-11s %-8s %-31s %-6s %s\n", str(o, "id"), str(o, "command"),
               str(o, "state"), str(o, "by"), str(o, "stored") ?: "-", ttl, detail);
    }
}

int ae_cmd_cmd_log(ae_cli *c, int argc, char **argv)
{
    bool list = strcmp(argv[0], "list") == 0, pending = false;
    const char *what = NULL;
    int64_t since = (list ? 1 : 24) * 3600 * AE_NS_PER_SEC;
    ae_err err = {0};
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie cmd %s: %s\n", argv[0], err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            if (ae_parse_duration(argv[i + 1], &since) != 0 || since <= 0) {
                fprintf(stderr, "aerie cmd %s: --since %s: expected a duration such as 1h\n",
                        argv[0], argv[i + 1]);
                return 2;
            }
            i += 2;
        } else if (list && strcmp(argv[i], "--pending") == 0) {
            pending = true;
            i++;
        } else if (argv[i][0] == '-' || what) {
            fprintf(stderr, "aerie cmd %s: unexpected %s\n", argv[0], argv[i]);
            return usage();
        } else {
            what = argv[i++];
        }
    }
    if (!what || !ae_ident_valid(what))
        return usage();
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie cmd %s: %s\n", argv[0], err.msg);
        return 1;
    }
    json_t *out = NULL;
    int rc = list ? pending ? ae_cmdlog_pending(c, what, &out, &err)
                            : ae_cmdlog_list(c, what, ae_now_ns() - since, &out, &err)
                  : ae_cmdlog_find(c, what, ae_now_ns() - since, &out, &err);
    if (rc) {
        fprintf(stderr, "aerie cmd %s: %s\n", argv[0], err.msg);
        return 1;
    }
    if (c->json) {
        char *d = json_dumps(out, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "null");
        free(d);
    } else if (list) {
        if (json_array_size(out) == 0)
            printf("no commands to %s in the window\n", what);
        else
            print_list(out);
    } else {
        print_status(out);
    }
    json_decref(out);
    ae_cli_print_stats(c, "cmd");
    return 0;
}
