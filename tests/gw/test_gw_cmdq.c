/* Units of commands across an outage on the vehicle's side, without a broker: the headers a
 * command carries (qcmd.h), its age on the hub's clock, the verdict mapping, the report
 * document, and the command journal on disk (journal.h): durable records, duplicates found
 * after a reopen, a torn last line (cut off, so that the next record stays readable), reports
 * to republish, interrupted commands, compaction. */
#include "common/err.h"
#include "common/timeutil.h"
#include "gw/journal.h"
#include "gw/qcmd.h"
#include "harness/harness.h"
#include "mavlink/messages.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ae_gw_qcmd *qnew(void)
{
    ae_gw_qcmd *q = calloc(1, sizeof *q);
    AH_ASSERT(q != NULL);
    return q;
}

static void t_headers(void)
{
    ae_err err = {0};
    ae_gw_qcmd *q = qnew();
    /* No id: a plain request, handled as before. */
    AH_ASSERT_EQ_INT(ae_gw_qcmd_parse(q, "rtl", NULL, "5000", NULL, NULL, &err), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_gw_qcmd_parse(q, "rtl", "V1-abc", "60000", "2026-11-26T06:00:00.5Z",
                                      "V1-old1,V1-old2", &err),
                     0);
    AH_ASSERT_EQ_STR(q->id, "V1-abc");
    AH_ASSERT_EQ_STR(q->name, "rtl");
    AH_ASSERT_EQ_INT(q->ttl_ns, 60 * AE_NS_PER_SEC);
    int64_t want = 0;
    AH_ASSERT_EQ_INT(ae_parse_rfc3339("2026-11-26T06:00:00.5Z", &want), 0);
    AH_ASSERT_EQ_INT(q->issued_ns, want);
    AH_ASSERT_EQ_INT(q->n_supersedes, 2);
    AH_ASSERT_EQ_STR(q->supersedes[1], "V1-old2");
    ae_gw_qcmd_free(q);

    /* Defaults: a TTL of 30 s, no issue time. */
    q = qnew();
    AH_ASSERT_EQ_INT(ae_gw_qcmd_parse(q, "land", "V1-x", NULL, NULL, NULL, &err), 0);
    AH_ASSERT_EQ_INT(q->ttl_ns, AE_GW_CMD_TTL_DEFAULT_NS);
    AH_ASSERT_EQ_INT(q->issued_ns, 0);
    ae_gw_qcmd_free(q);

    /* Each malformed header is refused with its name in the message. */
    static const struct {
        const char *id, *ttl, *issued, *sup, *says;
    } bad[] = {
        {"V1 x", NULL, NULL, NULL, "Aerie-Cmd-Id"},
        {"V1.x", NULL, NULL, NULL, "Aerie-Cmd-Id"},
        {"", NULL, NULL, NULL, "Aerie-Cmd-Id"},
        {"V1-x", "0", NULL, NULL, "Aerie-Cmd-Ttl-Ms"},
        {"V1-x", "-5", NULL, NULL, "Aerie-Cmd-Ttl-Ms"},
        {"V1-x", "5s", NULL, NULL, "Aerie-Cmd-Ttl-Ms"},
        {"V1-x", "99999999999", NULL, NULL, "Aerie-Cmd-Ttl-Ms"},
        {"V1-x", NULL, "yesterday", NULL, "Aerie-Cmd-Issued"},
        {"V1-x", NULL, NULL, "a,,b", "Aerie-Cmd-Supersedes"},
        {"V1-x", NULL, NULL, "a b", "Aerie-Cmd-Supersedes"},
        {"V1-x", NULL, NULL, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "more than 16"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q = qnew();
        err.msg[0] = 0;
        AH_ASSERT_MSG(ae_gw_qcmd_parse(q, "rtl", bad[i].id, bad[i].ttl, bad[i].issued, bad[i].sup,
                                       &err) == AE_EINVAL,
                      "case %zu accepted", i);
        AH_ASSERT_CONTAINS(err.msg, bad[i].says);
        ae_gw_qcmd_free(q);
    }
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    q = qnew();
    AH_ASSERT_EQ_INT(ae_gw_qcmd_parse(q, "rtl", longid, NULL, NULL, NULL, &err), AE_EINVAL);
    ae_gw_qcmd_free(q);
}

/* Queued: age from the hub's store time on the hub's clock. Live: from the issue time. */
static void t_age(void)
{
    ae_gw_qcmd q = {.ttl_ns = 10 * AE_NS_PER_SEC};
    int64_t now = 1800000000LL * AE_NS_PER_SEC;
    q.stored_ns = now - 4 * AE_NS_PER_SEC;
    q.issued_ns = now - 100 * AE_NS_PER_SEC; /* ignored when the store time is known */
    AH_ASSERT_EQ_INT(ae_gw_qcmd_age(&q, now, 0), 4 * AE_NS_PER_SEC);
    /* The vehicle's clock is an hour behind the hub's: still 4 s, not an hour less. */
    AH_ASSERT_EQ_INT(ae_gw_qcmd_age(&q, now - 3600 * AE_NS_PER_SEC, 3600 * AE_NS_PER_SEC),
                     4 * AE_NS_PER_SEC);
    /* A clock far ahead never makes an age negative. */
    AH_ASSERT_EQ_INT(ae_gw_qcmd_age(&q, now, -60 * AE_NS_PER_SEC), 0);
    q.stored_ns = 0;
    AH_ASSERT_EQ_INT(ae_gw_qcmd_age(&q, now, 0), 100 * AE_NS_PER_SEC);
    q.issued_ns = 0;
    AH_ASSERT_EQ_INT(ae_gw_qcmd_age(&q, now, 0), 0);
}

static void t_states_and_report(void)
{
    AH_ASSERT_EQ_STR(ae_gw_cmd_state_of(AE_MAV_RESULT_ACCEPTED), "accepted");
    AH_ASSERT_EQ_STR(ae_gw_cmd_state_of(AE_MAV_RESULT_DENIED), "denied");
    AH_ASSERT_EQ_STR(ae_gw_cmd_state_of(AE_MAV_RESULT_TEMPORARILY_REJECTED), "denied");
    AH_ASSERT_EQ_STR(ae_gw_cmd_state_of(AE_MAV_RESULT_UNSUPPORTED), "failed");
    AH_ASSERT_EQ_STR(ae_gw_cmd_state_of(AE_MAV_RESULT_FAILED), "failed");
    AH_ASSERT_EQ_STR(ae_gw_cmd_state_of(-1), "failed");

    ae_gw_qcmd q = {.ttl_ns = 60 * AE_NS_PER_SEC, .seq = 7};
    snprintf(q.id, sizeof q.id, "V1-abc");
    snprintf(q.name, sizeof q.name, "rtl");
    ae_gw_outcome o = {.state = "accepted",
                       .result = "accepted",
                       .mav_cmd = 20,
                       .mav_result = 0,
                       .result_param2 = -1,
                       .attempts = 1,
                       .elapsed_s = 0.0123,
                       .has_age = true,
                       .age_s = 18.04};
    char *doc = ae_gw_cmd_report("V1", &q, &o, 1800000000LL * AE_NS_PER_SEC);
    AH_ASSERT(doc && !strchr(doc, '\n'));
    json_t *j = json_loads(doc, 0, NULL);
    AH_ASSERT_MSG(json_is_object(j), "not JSON: %s", doc);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "vid")), "V1");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "event")), "cmd");
    AH_ASSERT(json_is_true(json_object_get(j, "ok")));
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "id")), "V1-abc");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "via")), "queued");
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "ttl_s")), 60);
    AH_ASSERT(json_number_value(json_object_get(j, "elapsed_s")) == 0.012);
    AH_ASSERT(json_number_value(json_object_get(j, "age_s")) == 18.04);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "time")),
                     "2027-01-15T08:00:00.000000000Z");
    AH_ASSERT(!json_object_get(j, "error") && !json_object_get(j, "result_param2"));
    json_decref(j);
    free(doc);

    /* A command known only by its id (superseded before it reached the vehicle). */
    ae_gw_qcmd ghost = {0};
    snprintf(ghost.id, sizeof ghost.id, "V1-old");
    snprintf(ghost.name, sizeof ghost.name, "rtl");
    ae_gw_outcome s = {.state = "superseded",
                       .result = "superseded",
                       .error = "replaced \"quoted\"",
                       .mav_cmd = -1,
                       .mav_result = -1,
                       .result_param2 = -1,
                       .attempts = -1,
                       .elapsed_s = -1,
                       .superseded_by = "V1-abc"};
    doc = ae_gw_cmd_report("V1", &ghost, &s, 0);
    j = json_loads(doc, 0, NULL);
    AH_ASSERT(json_is_false(json_object_get(j, "ok")));
    AH_ASSERT(!json_object_get(j, "via") && !json_object_get(j, "ttl_s"));
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "superseded_by")), "V1-abc");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "error")), "replaced \"quoted\"");
    json_decref(j);
    free(doc);
}

static char *tmpdir(void)
{
    char *d = ah_mkdtemp("gwjournal");
    AH_ASSERT(d != NULL);
    return d;
}

static char *journal_path(const char *dir)
{
    char *p = NULL;
    AH_ASSERT(asprintf(&p, "%s/state/%s", dir, AE_GW_JOURNAL_FILE) > 0);
    return p;
}

static ae_gw_journal *open_in(const char *dir)
{
    char sd[600];
    snprintf(sd, sizeof sd, "%s/state", dir);
    ae_gw_journal *j = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_gw_journal_open(sd, &j, &err) == 0, "open: %s", err.msg);
    AH_ASSERT(ae_gw_journal_durable(j));
    return j;
}

static void count_cb(void *ctx, const char *id, const char *report)
{
    json_t *seen = ctx;
    json_object_set_new(seen, id, json_string(report ? report : ""));
}

/* Records survive a reopen; a torn last line is ignored; reports not marked flushed come
 * back to be republished; a "delivered" command is found as interrupted. */
static void t_journal_reopen(void)
{
    char *dir = tmpdir();
    ae_err err = {0};
    ae_gw_journal *j = open_in(dir);
    AH_ASSERT(ae_gw_journal_state(j, "V1-a") == NULL);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-a", "delivered", "{\"n\":1}", &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-a", "accepted", "{\"n\":2}", &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_journal_mark_flushed(j, &err), 0);
    size_t n = 9;
    ae_gw_journal_unflushed(j, &n);
    AH_ASSERT_EQ_INT(n, 0);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-b", "delivered", "{\"n\":3}", &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-c", "expired", "{\"n\":4}", &err), 0);
    /* Bad input is refused, not written. */
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1 d", "accepted", NULL, &err), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-d", "Accepted!", NULL, &err), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-d", "accepted", "{\n}", &err), AE_EINVAL);
    ae_gw_journal_close(j);

    /* A crash in the middle of the next write. */
    char *path = journal_path(dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    AH_ASSERT(fd >= 0);
    AH_ASSERT(write(fd, "S 17 V1-e deliv", 15) == 15);
    close(fd);

    j = open_in(dir);
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-a"), "accepted");
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-b"), "delivered");
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-c"), "expired");
    AH_ASSERT(ae_gw_journal_state(j, "V1-e") == NULL);
    const char *const *reps = ae_gw_journal_unflushed(j, &n);
    AH_ASSERT_EQ_INT(n, 2);
    AH_ASSERT_EQ_STR(reps[0], "{\"n\":3}");
    AH_ASSERT_EQ_STR(reps[1], "{\"n\":4}");
    json_t *seen = json_object();
    ae_gw_journal_each_in_state(j, "delivered", count_cb, seen);
    AH_ASSERT_EQ_INT(json_object_size(seen), 1);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(seen, "V1-b")), "{\"n\":3}");
    json_decref(seen);
    /* The torn line is gone, so the next record is not glued to it (found by fuzzing). */
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-f", "accepted", NULL, &err), 0);
    ae_gw_journal_close(j);
    j = open_in(dir);
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-f"), "accepted");
    ae_gw_journal_close(j);
    free(path);
    ah_rmrf(dir);
    free(dir);
}

/* A journal past 1 MiB is rewritten at open: the newest state per id, old ids dropped,
 * unflushed reports kept unflushed. */
static void t_journal_compact(void)
{
    char *dir = tmpdir();
    ae_err err = {0};
    ae_gw_journal *j = open_in(dir);
    ae_gw_journal_close(j);
    char *path = journal_path(dir);
    FILE *f = fopen(path, "a");
    AH_ASSERT(f != NULL);
    int64_t now = ae_now_ns(), old = now - AE_GW_JOURNAL_KEEP_NS - AE_NS_PER_SEC;
    char pad[150];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    for (int i = 0; i < 3000; i++) {
        fprintf(f, "S %lld V1-old%d delivered {\"p\":\"%s\"}\n", (long long)old, i, pad);
        fprintf(f, "S %lld V1-new%d delivered {\"p\":\"%s\"}\n", (long long)now, i, pad);
        fprintf(f, "S %lld V1-new%d accepted {\"p\":\"%s\"}\n", (long long)now, i, pad);
    }
    fprintf(f, "F %lld\nS %lld V1-last expired {\"last\":1}\n", (long long)now, (long long)now);
    fclose(f);
    struct stat st;
    AH_ASSERT(stat(path, &st) == 0 && st.st_size > (1 << 20));

    j = open_in(dir);
    AH_ASSERT(stat(path, &st) == 0 && st.st_size < (1 << 20) && st.st_size > 3000 * 150);
    AH_ASSERT(ae_gw_journal_state(j, "V1-old5") == NULL);
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-new5"), "accepted");
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-last"), "expired");
    size_t n = 0;
    const char *const *reps = ae_gw_journal_unflushed(j, &n);
    AH_ASSERT_EQ_INT(n, 1);
    AH_ASSERT_EQ_STR(reps[0], "{\"last\":1}");
    ae_gw_journal_close(j);
    /* And the compacted file reads back the same. */
    j = open_in(dir);
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-new2999"), "accepted");
    AH_ASSERT(ae_gw_journal_state(j, "V1-old2999") == NULL);
    ae_gw_journal_unflushed(j, &n);
    AH_ASSERT_EQ_INT(n, 1);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-z", "accepted", NULL, &err), 0);
    ae_gw_journal_close(j);
    free(path);
    ah_rmrf(dir);
    free(dir);
}

/* A gateway that runs long compacts while it runs: past 4 MiB the file is rewritten, every
 * state stays, and recording goes on into the new file. */
static void t_journal_compact_running(void)
{
    char *dir = tmpdir();
    ae_err err = {0};
    ae_gw_journal *j = open_in(dir);
    char *path = journal_path(dir);
    char *big = malloc(8001);
    AH_ASSERT(big != NULL);
    snprintf(big, 8001, "{\"p\":\"%7990d\"}", 1);
    struct stat st;
    off_t peak = 0;
    for (int i = 0; i < 700; i++) {
        char id[32];
        snprintf(id, sizeof id, "V1-k%d", i % 10);
        AH_ASSERT_EQ_INT(ae_gw_journal_record(j, id, i % 2 ? "accepted" : "delivered", big, &err),
                         0);
        if (i % 50 == 49)
            AH_ASSERT_EQ_INT(ae_gw_journal_mark_flushed(j, &err), 0);
        AH_ASSERT(stat(path, &st) == 0);
        peak = st.st_size > peak ? st.st_size : peak;
    }
    AH_ASSERT_MSG(peak <= (4 << 20) + 9000, "the journal grew to %lld bytes", (long long)peak);
    AH_ASSERT_MSG(st.st_size < (4 << 20), "no compaction: %lld bytes", (long long)st.st_size);
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-last", "expired", "{}", &err), 0);
    ae_gw_journal_close(j);
    j = open_in(dir);
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-k9"), "accepted");
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-k0"), "delivered");
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-last"), "expired");
    ae_gw_journal_close(j);
    free(big);
    free(path);
    ah_rmrf(dir);
    free(dir);
}

/* Without a directory: duplicates are still caught while it lives. A directory that cannot
 * be made is a clear error. */
static void t_journal_memory_and_errors(void)
{
    ae_gw_journal *j = NULL;
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_gw_journal_open(NULL, &j, &err), 0);
    AH_ASSERT(!ae_gw_journal_durable(j));
    AH_ASSERT_EQ_INT(ae_gw_journal_record(j, "V1-a", "accepted", "{}", &err), 0);
    AH_ASSERT_EQ_STR(ae_gw_journal_state(j, "V1-a"), "accepted");
    AH_ASSERT_EQ_INT(ae_gw_journal_mark_flushed(j, &err), 0);
    ae_gw_journal_close(j);
    j = NULL;
    /* a directory that cannot be made, even by root: its parent is a regular file */
    char *dir = ah_mkdtemp("gwjournal"), blocked[600];
    snprintf(blocked, sizeof blocked, "%s/file", dir);
    AH_ASSERT(ah_write_file(blocked, "not a directory\n") == 0);
    snprintf(blocked, sizeof blocked, "%s/file/x/y", dir);
    AH_ASSERT_EQ_INT(ae_gw_journal_open(blocked, &j, &err), AE_EIO);
    AH_ASSERT_CONTAINS(err.msg, blocked);
    ah_rmrf(dir);
    free(dir);
    AH_ASSERT(j == NULL);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"headers", t_headers, 0},
        {"age", t_age, 0},
        {"states_and_report", t_states_and_report, 0},
        {"journal_reopen", t_journal_reopen, 0},
        {"journal_compact", t_journal_compact, 0},
        {"journal_compact_running", t_journal_compact_running, 0},
        {"journal_memory_and_errors", t_journal_memory_and_errors, 0},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
