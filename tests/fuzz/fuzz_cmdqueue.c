/* libFuzzer target for the parsers of commands across an outage: the command journal
 * (src/gw/journal.c, a file a crash may have cut short or a disk may have damaged), the
 * headers a command carries (src/gw/qcmd.c) and the merge of stored commands with the
 * vehicle's reports (src/cli/cmdlog.c, JSON from the hub).
 *
 * The first byte picks the parser:
 *   0  the rest is a journal file: it must open (bad lines are skipped, never fatal), and
 *      a state recorded afterwards must read back; after a reopen it is still there;
 *   1  the rest is five header values separated by '\n' (id, TTL, issued, supersedes, and
 *      the command name): a parse succeeds with a valid id and TTL, or fails with a message;
 *   2  the rest is JSON: used as the reports and (when it is an array) also as the commands
 *      of a merge, which must return an array whose every element has an id and a state.
 *
 * Seeds: tests/fuzz/corpus/cmdqueue/. */
#include "cli/cmdlog.h"
#include "common/ident.h"
#include "gw/journal.h"
#include "gw/qcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void journal_case(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/aerie-fuzz-journal-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, AE_GW_JOURNAL_FILE);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    ae_gw_journal *j = NULL;
    ae_err err = {0};
    if (ae_gw_journal_open(dir, &j, &err) != 0)
        abort(); /* a damaged file is skipped line by line, never a reason to refuse */
    size_t n = 0;
    const char *const *reps = ae_gw_journal_unflushed(j, &n);
    for (size_t i = 0; i < n; i++)
        if (!reps[i] || strchr(reps[i], '\n'))
            abort();
    if (ae_gw_journal_record(j, "V1-fuzz", "accepted", "{}", &err) != 0)
        abort();
    ae_gw_journal_close(j);
    if (ae_gw_journal_open(dir, &j, &err) != 0)
        abort();
    const char *st = ae_gw_journal_state(j, "V1-fuzz");
    if (!st || strcmp(st, "accepted") != 0)
        abort();
    ae_gw_journal_close(j);
}

static void headers_case(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *field[5] = {0};
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = 0;
    char *p = text;
    for (int i = 0; i < 5 && p; i++) {
        field[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = 0;
    }
    ae_gw_qcmd *q = calloc(1, sizeof *q);
    ae_err err = {0};
    int rc = ae_gw_qcmd_parse(q, field[4] ? field[4] : "rtl", field[0], field[1], field[2],
                              field[3], &err);
    if (rc == 0 && (!ae_ident_valid(q->id) || q->ttl_ns <= 0 || q->n_supersedes < 0 ||
                    q->n_supersedes > AE_GW_CMD_SUPERSEDES_MAX))
        abort();
    if (rc != 0 && rc != AE_ENOENT && !err.msg[0])
        abort();
    ae_gw_qcmd_free(q);
    free(text);
}

static void merge_case(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j)
        return;
    json_t *cmds = json_is_array(j) ? json_deep_copy(j) : json_array();
    json_t *reps = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
    json_t *all = ae_cmdlog_merge(cmds, reps, 1800000000LL * 1000000000LL);
    if (!json_is_array(all))
        abort();
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o)
    {
        if (!json_is_string(json_object_get(o, "id")) ||
            !json_is_string(json_object_get(o, "state")))
            abort();
    }
    json_decref(all);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        journal_case(data + 1, size - 1);
        break;
    case 1:
        headers_case(data + 1, size - 1);
        break;
    default:
        merge_case(data + 1, size - 1);
        break;
    }
    return 0;
}
