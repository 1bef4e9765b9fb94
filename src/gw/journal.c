/* The command journal; see journal.h for the format and the guarantees. */
#include "gw/journal.h"

#include "common/fileio.h"
#include "common/hmap.h"
#include "common/ident.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMPACT_BYTES (1 << 20)
/* A gateway that runs for months compacts while it runs, at a larger size. */
#define COMPACT_RUNNING_BYTES (4 << 20)
#define STATE_MAX             24

typedef struct jent {
    char *id;
    char state[STATE_MAX];
    int64_t ns;
    char *report;   /* kept for the newest state, so that a restart can tell what it was */
    uint64_t order; /* of the newest S line, to rewrite in the original order */
} jent;

struct ae_gw_journal {
    char *path; /* NULL: memory only */
    int fd;
    size_t size; /* bytes in the file */
    ae_hmap ids; /* id -> jent */
    uint64_t next_order;
    char **unflushed;
    size_t n_unflushed, cap_unflushed;
};

static bool state_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= STATE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z') && s[i] != '_')
            return false;
    return true;
}

static int push_unflushed(ae_gw_journal *j, const char *report)
{
    if (j->n_unflushed == j->cap_unflushed) {
        size_t cap = j->cap_unflushed ? j->cap_unflushed * 2 : 8;
        char **nu = realloc(j->unflushed, cap * sizeof *nu);
        if (!nu)
            return AE_ENOMEM;
        j->unflushed = nu;
        j->cap_unflushed = cap;
    }
    char *copy = strdup(report);
    if (!copy)
        return AE_ENOMEM;
    j->unflushed[j->n_unflushed++] = copy;
    return 0;
}

static void clear_unflushed(ae_gw_journal *j)
{
    for (size_t i = 0; i < j->n_unflushed; i++)
        free(j->unflushed[i]);
    j->n_unflushed = 0;
}

/* Sets id's newest state in memory. */
static int remember(ae_gw_journal *j, const char *id, const char *state, int64_t ns,
                    const char *report)
{
    jent *e = ae_hmap_get(&j->ids, id, strlen(id));
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->id = strdup(id))) {
            free(e);
            return AE_ENOMEM;
        }
        if (ae_hmap_put(&j->ids, e->id, strlen(e->id), e) != 0) {
            free(e->id);
            free(e);
            return AE_ENOMEM;
        }
    }
    snprintf(e->state, sizeof e->state, "%s", state);
    e->ns = ns;
    e->order = j->next_order++;
    free(e->report);
    e->report = report ? strdup(report) : NULL;
    return 0;
}

/* One line of the file (without its newline). Returns false for a line that does not parse. */
static bool load_line(ae_gw_journal *j, char *line)
{
    if (line[0] == 'F' && line[1] == ' ') {
        clear_unflushed(j);
        return true;
    }
    if (line[0] == 'R' && line[1] == ' ') { /* a report still to publish (after a compaction) */
        char *sp = strchr(line + 2, ' ');
        return sp && sp[1] && push_unflushed(j, sp + 1) == 0;
    }
    if (line[0] != 'S' || line[1] != ' ')
        return false;
    char *p = line + 2, *end;
    long long ns = strtoll(p, &end, 10);
    if (end == p || *end != ' ')
        return false;
    char *id = end + 1;
    char *sp = strchr(id, ' ');
    if (!sp)
        return false;
    *sp = 0;
    char *state = sp + 1;
    char *report = strchr(state, ' ');
    if (report)
        *report++ = 0;
    if (!ae_ident_valid(id) || !state_valid(state))
        return false;
    if (remember(j, id, state, ns, report) != 0)
        return false;
    if (report && *report)
        push_unflushed(j, report);
    return true;
}

/* Reads the file; *size is its length, *whole the length of its complete lines. */
static int load(ae_gw_journal *j, size_t *size, size_t *whole, ae_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = ae_file_read(j->path, &text, &len, err);
    if (rc == AE_ENOENT)
        return 0;
    if (rc)
        return rc;
    *size = *whole = len;
    size_t bad = 0, lineno = 0;
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        lineno++;
        if (!nl) { /* torn tail: the crash came in the middle of this write */
            ae_log_warn("%s: line %zu is incomplete (cut off by a crash); dropping it", j->path,
                        lineno);
            *whole = (size_t)(p - text);
            break;
        }
        *nl = 0;
        if (!load_line(j, p) && bad++ < 3)
            ae_log_warn("%s: line %zu is not a journal record; ignoring it", j->path, lineno);
        p = nl + 1;
    }
    free(text);
    return 0;
}

static int cmp_order(const void *a, const void *b)
{
    const jent *x = *(const jent *const *)a, *y = *(const jent *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Rewrites the file with the newest S line of each id young enough, in the original order,
 * then F (everything kept counts as flushed except the reports still to publish, which are
 * written after the F so that they stay unflushed). */
static int compact(ae_gw_journal *j, ae_err *err)
{
    int64_t cutoff = ae_now_ns() - AE_GW_JOURNAL_KEEP_NS;
    jent **all = calloc(j->ids.count + 1, sizeof *all);
    if (!all)
        return ae_err_set(err, AE_ENOMEM, "out of memory compacting %s", j->path);
    size_t n = 0, pos = 0;
    ae_hmap_ent *he;
    while ((he = ae_hmap_next(&j->ids, &pos))) {
        jent *e = he->val;
        if (e->ns < cutoff) {
            ae_hmap_del(&j->ids, e->id, strlen(e->id));
            free(e->report);
            free(e->id);
            free(e);
            continue;
        }
        all[n++] = e;
    }
    qsort(all, n, sizeof *all, cmp_order);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) {
        free(all);
        return ae_err_set(err, AE_ENOMEM, "out of memory compacting %s", j->path);
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "S %lld %s %s %s\n", (long long)all[i]->ns, all[i]->id, all[i]->state,
                all[i]->report ? all[i]->report : "");
    fprintf(f, "F %lld\n", (long long)ae_now_ns());
    for (size_t i = 0; i < j->n_unflushed; i++)
        fprintf(f, "R %lld %s\n", (long long)ae_now_ns(), j->unflushed[i]);
    int rc = fclose(f) == 0 ? 0 : AE_ENOMEM;
    free(all);
    if (rc == 0)
        rc = ae_file_write_atomic(j->path, buf, AE_FILE_DURABLE, err);
    if (rc == 0)
        j->size = blen;
    free(buf);
    if (rc == 0)
        ae_log_info("%s: compacted to %zu commands", j->path, n);
    return rc;
}

/* Makes DIR and any missing parents (as `mkdir -p`; a state directory per vehicle under the
 * service's StateDirectory). */
static int make_dir(const char *dir, ae_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return ae_err_set(err, AE_EIO, "state directory %s: mkdir %s: %s", dir, path,
                              strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ae_err_set(err, AE_EIO, "state directory %s: mkdir: %s (create its parent first)",
                          dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ae_err_set(err, AE_EIO, "state directory %s is not a directory", dir);
    return 0;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int ae_gw_journal_open(const char *dir, ae_gw_journal **out, ae_err *err)
{
    ae_gw_journal *j = calloc(1, sizeof *j);
    if (!j)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    j->fd = -1;
    if (!dir) {
        *out = j;
        return 0;
    }
    int rc = make_dir(dir, err);
    if (rc)
        goto fail;
    if (asprintf(&j->path, "%s/%s", dir, AE_GW_JOURNAL_FILE) < 0) {
        j->path = NULL;
        rc = ae_err_set(err, AE_ENOMEM, "out of memory");
        goto fail;
    }
    size_t size = 0, whole = 0;
    if ((rc = load(j, &size, &whole, err)) != 0)
        goto fail;
    if (size > COMPACT_BYTES && (rc = compact(j, err)) != 0)
        goto fail;
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        rc = ae_err_set(err, AE_EIO, "%s: open: %s", j->path, strerror(errno));
        goto fail;
    }
    /* A torn last line (its write never completed, so nothing was sent on its account)
     * goes, or the next record would be appended to it and be unreadable too. */
    if (size <= COMPACT_BYTES)
        j->size = whole;
    if (size <= COMPACT_BYTES && whole < size &&
        (ftruncate(j->fd, (off_t)whole) != 0 || fdatasync(j->fd) != 0)) {
        rc = ae_err_set(err, AE_EIO, "%s: cutting off the torn last line: %s", j->path,
                        strerror(errno));
        goto fail;
    }
    sync_dir(dir);
    *out = j;
    return 0;
fail:
    ae_gw_journal_close(j);
    return rc;
}

void ae_gw_journal_close(ae_gw_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    size_t pos = 0;
    ae_hmap_ent *he;
    while ((he = ae_hmap_next(&j->ids, &pos))) {
        jent *e = he->val;
        free(e->report);
        free(e->id);
        free(e);
    }
    ae_hmap_free(&j->ids);
    clear_unflushed(j);
    free(j->unflushed);
    free(j->path);
    free(j);
}

bool ae_gw_journal_durable(const ae_gw_journal *j)
{
    return j->path != NULL;
}

const char *ae_gw_journal_state(const ae_gw_journal *j, const char *id)
{
    const jent *e = id ? ae_hmap_get(&j->ids, id, strlen(id)) : NULL;
    return e ? e->state : NULL;
}

/* Appends one whole line and makes it durable. */
static int append_line(ae_gw_journal *j, const char *line, size_t n, ae_err *err)
{
    if (j->fd < 0)
        return 0;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(j->fd, line + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ae_err_set(err, AE_EIO, "%s: write: %s", j->path,
                              w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    if (fdatasync(j->fd) != 0)
        return ae_err_set(err, AE_EIO, "%s: fdatasync: %s", j->path, strerror(errno));
    return 0;
}

/* Compacts the open journal and appends to the new file from then on. The record just
 * made is in the rewritten file already (compact() writes the memory state). */
static int recompact(ae_gw_journal *j, ae_err *err)
{
    int rc = compact(j, err);
    if (rc)
        return rc;
    int fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return ae_err_set(err, AE_EIO, "%s: reopen after compaction: %s", j->path, strerror(errno));
    close(j->fd);
    j->fd = fd;
    return 0;
}

int ae_gw_journal_record(ae_gw_journal *j, const char *id, const char *state, const char *report,
                         ae_err *err)
{
    if (!ae_ident_valid(id) || !state_valid(state))
        return ae_err_set(err, AE_EINVAL, "journal: bad id or state");
    if (report && strchr(report, '\n'))
        return ae_err_set(err, AE_EINVAL, "journal: a report must be one line");
    int64_t ns = ae_now_ns();
    char *line = NULL;
    int n = asprintf(&line, "S %lld %s %s %s\n", (long long)ns, id, state, report ? report : "");
    if (n < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = append_line(j, line, (size_t)n, err);
    free(line);
    if (rc)
        return rc;
    j->size += (size_t)n;
    if (remember(j, id, state, ns, report) != 0 || (report && push_unflushed(j, report) != 0))
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    if (j->fd >= 0 && j->size > COMPACT_RUNNING_BYTES)
        return recompact(j, err);
    return 0;
}

const char *const *ae_gw_journal_unflushed(const ae_gw_journal *j, size_t *n)
{
    *n = j->n_unflushed;
    return (const char *const *)j->unflushed;
}

int ae_gw_journal_mark_flushed(ae_gw_journal *j, ae_err *err)
{
    if (j->n_unflushed == 0)
        return 0;
    char line[48];
    int n = snprintf(line, sizeof line, "F %lld\n", (long long)ae_now_ns());
    int rc = append_line(j, line, (size_t)n, err);
    if (rc == 0)
        clear_unflushed(j);
    return rc;
}

void ae_gw_journal_each_in_state(ae_gw_journal *j, const char *state,
                                 void (*fn)(void *ctx, const char *id, const char *report),
                                 void *ctx)
{
    /* Collect first: the callback records, which may grow the table. */
    size_t cap = j->ids.count, n = 0, pos = 0;
    char **ids = calloc(cap + 1, sizeof *ids), **reps = calloc(cap + 1, sizeof *reps);
    ae_hmap_ent *he;
    while (ids && reps && (he = ae_hmap_next(&j->ids, &pos)) && n < cap) {
        jent *e = he->val;
        if (strcmp(e->state, state) == 0) {
            ids[n] = strdup(e->id);
            reps[n] = e->report ? strdup(e->report) : NULL;
            n++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i])
            fn(ctx, ids[i], reps[i]);
        free(ids[i]);
        free(reps[i]);
    }
    free(ids);
    free(reps);
}
