/* Setting a record aside: the dead-letter file "<dir>/deadletter.log". When the hub refuses
 * a record for good, the owner copies it here with the reason and acks it, so the subject
 * can move on and nothing is lost: the copy stays on the vehicle for a person to look at.
 *
 * The file is JSON lines, one object per record set aside (docs/store.md lists the fields),
 * so `jq` reads it: the subject as text (or base64 when it is not UTF-8), headers and
 * payload in base64. It only ever grows, by whole lines written with one pwrite; a line torn
 * by a crash is cut off when the file is next opened. Durability follows the store's sync
 * policy: the file joins the sync thread's dirty list and asks for a sync at once, and since
 * that list is synced before the meta file is written and before segments are removed in
 * the same round, the ack never reaches the disk before the copy does. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

/* A JSON string of n bytes, or NULL when they are not valid UTF-8 (jansson checks). */
static json_t *text(const void *p, size_t n)
{
    return json_stringn((const char *)p, n);
}

/* Base64 of n bytes as a JSON string (OpenSSL's encoder, no line breaks). */
static json_t *b64(const uint8_t *p, size_t n)
{
    if (n > (SIZE_MAX / 4) * 3 - 3)
        return NULL;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    int k = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    json_t *j = k >= 0 ? json_stringn(out, (size_t)k) : NULL;
    free(out);
    return j;
}

/* The reason as valid UTF-8 text: bytes that are not are replaced by '?'. */
static json_t *reason_text(const char *reason)
{
    json_t *j = text(reason, strlen(reason));
    if (j)
        return j;
    char *copy = strdup(reason);
    if (!copy)
        return NULL;
    for (char *q = copy; *q; q++)
        if ((unsigned char)*q >= 0x80)
            *q = '?';
    j = text(copy, strlen(copy));
    free(copy);
    return j;
}

/* Formats the line for rec (with its trailing newline); NULL on ENOMEM. */
static char *format_line(ae_store *s, const ae_store_rec *rec, const char *reason, size_t *len)
{
    char at[48], ev[48], epoch[17];
    int64_t now = ae_now_ns();
    snprintf(epoch, sizeof epoch, "%016" PRIx64, s->epoch);
    json_t *o = json_object();
    json_t *subj = text(rec->subject, rec->subject_len);
    int bad = !o;
    bad |= json_object_set_new(o, "seq", json_integer((json_int_t)rec->seq));
    bad |= json_object_set_new(o, "epoch", json_string(epoch));
    bad |= json_object_set_new(o, "set_aside", json_string(ae_format_rfc3339(now, at, sizeof at)));
    bad |= json_object_set_new(o, "set_aside_ns", json_integer((json_int_t)now));
    bad |= json_object_set_new(o, "reason", reason_text(reason));
    bad |= json_object_set_new(o, "event_time",
                               json_string(ae_format_rfc3339(rec->time_ns, ev, sizeof ev)));
    bad |= json_object_set_new(o, "event_time_ns", json_integer((json_int_t)rec->time_ns));
    if (subj)
        bad |= json_object_set_new(o, "subject", subj);
    else
        bad |= json_object_set_new(o, "subject_b64",
                                   b64((const uint8_t *)rec->subject, rec->subject_len));
    bad |= json_object_set_new(o, "headers_b64", b64(rec->hdr, rec->hdr_len));
    bad |= json_object_set_new(o, "payload_b64", b64(rec->payload, rec->payload_len));
    char *line = bad ? NULL : json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return NULL;
    *len = strlen(line);
    char *nl = realloc(line, *len + 2);
    if (!nl) {
        free(line);
        return NULL;
    }
    nl[(*len)++] = '\n';
    nl[*len] = 0;
    return nl;
}

/* Cuts a last line that a crash tore (no newline at its end). Returns the size kept. */
static int cut_torn_line(ae_store *s, int fd, uint64_t size, uint64_t *keep, const char *path)
{
    uint8_t buf[4096];
    uint64_t end = size;
    while (end > 0) {
        size_t n = end < sizeof buf ? (size_t)end : sizeof buf;
        ssize_t r = s->os->pread(s->os->ctx, fd, buf, n, (off_t)(end - n));
        if (r != (ssize_t)n)
            return -1;
        if (end == size && buf[n - 1] == '\n')
            break; /* intact */
        size_t k = n;
        while (k > 0 && buf[k - 1] != '\n')
            k--;
        if (k > 0) {
            end = end - n + k;
            break;
        }
        end -= n;
    }
    *keep = end;
    if (end == size)
        return 0;
    ae_log_warn("store %s: %s: cut a line a crash tore (%" PRIu64 " bytes)", s->dir, path,
                size - end);
    return s->os->ftruncate(s->os->ctx, fd, (off_t)end);
}

/* Opens (creating) the dead-letter file once per store. Returns 0 or AE_E* with a message. */
static int dl_open(ae_store *s, ae_err *err)
{
    if (s->dl)
        return 0;
    ae_seg_file *f = calloc(1, sizeof *f);
    char *path = ae_store_path(s, AE_DEADLETTER_NAME);
    struct stat sb;
    int rc = 0;
    if (!f || !path) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory");
        goto fail;
    }
    bool created = false;
    f->fd = s->os->open(s->os->ctx, path, O_RDWR, 0);
    if (f->fd < 0 && errno == ENOENT) {
        f->fd = s->os->open(s->os->ctx, path, O_RDWR | O_CREAT, 0600);
        created = true;
    }
    if (f->fd < 0 || s->os->fstat(s->os->ctx, f->fd, &sb) != 0 ||
        cut_torn_line(s, f->fd, (uint64_t)sb.st_size, &s->dl_size, path) != 0) {
        rc = ae_err_set(err, ae_store_errcode(errno), "store: cannot open %s: %s", path,
                        strerror(errno));
        if (f->fd >= 0)
            s->os->close(s->os->ctx, f->fd);
        goto fail;
    }
    f->path = path;
    f->refs = 1;
    s->dl = f;
    if (created) {
        pthread_mutex_lock(&s->mu);
        s->dirsync = true;
        pthread_mutex_unlock(&s->mu);
    }
    return 0;
fail:
    free(path);
    free(f);
    return rc;
}

/* Reads record seq into *rec (pointers into rb), verified. Returns 0, AE_ENOENT,
 * AE_ECORRUPT (damaged: counted lost), AE_EIO / AE_ENOMEM. */
static int read_record(ae_store *s, uint64_t seq, ae_rbuf *rb, ae_store_rec *rec, ae_err *err)
{
    size_t i = ae_store_find_seg(s, seq);
    if (i >= s->nsegs || s->segs[i]->first_seq > seq)
        return ae_err_set(err, AE_ENOENT, "store: seq %" PRIu64 " is no longer in the log", seq);
    ae_seg *g = s->segs[i];
    uint64_t off;
    uint32_t len;
    const char *why;
    int rc = ae_store_locate(s, g, seq, rb, &off, err);
    if (rc == 0 && (rc = ae_store_read(s, g, off, seq, rb, rec, &len, &why, err)) == AE_ECORRUPT) {
        int drc = ae_store_damage(s, g, seq, off, rb, why);
        return ae_err_set(err, drc ? drc : AE_ECORRUPT,
                          "store: record seq %" PRIu64 " is damaged (%s); it is counted lost, "
                          "nothing was set aside",
                          seq, why);
    }
    return rc;
}

/* Writes line at the end of the dead-letter file; on failure cuts off what got in.
 * Returns 0 or AE_E* with a message. */
static int dl_append(ae_store *s, const char *line, size_t len, ae_err *err)
{
    if (ae_os_write_all(s->os, s->dl->fd, line, len, s->dl_size) != 0) {
        int e = errno;
        if (s->os->ftruncate(s->os->ctx, s->dl->fd, (off_t)s->dl_size) != 0)
            ae_log_error("store %s: cannot cut a partial line off %s: %s", s->dir, s->dl->path,
                         strerror(errno));
        return ae_err_set(err, ae_store_errcode(e),
                          "store: cannot write to %s: %s; the record stays in the log, unacked",
                          s->dl->path, strerror(e));
    }
    s->dl_size += len;
    if (s->o.sync == AE_SYNC_NEVER)
        return 0;
    pthread_mutex_lock(&s->mu);
    if (!s->dl->dirty && ae_store_push_file(&s->dirty, &s->ndirty, &s->cdirty, s->dl) == 0) {
        s->dl->refs++;
        s->dl->dirty = true;
    }
    s->sync_soon = true; /* rare and precious: sync now, whatever the interval */
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int ae_store_set_aside(ae_store *s, uint64_t seq, const char *reason, ae_err *err)
{
    if (atomic_load(&s->failed))
        return ae_err_set(err, atomic_load(&s->failed),
                          "store %s failed earlier; close and reopen it before setting records "
                          "aside",
                          s->dir);
    if (seq == 0 || seq >= s->next_seq)
        return ae_err_set(err, AE_ENOENT, "store: seq %" PRIu64 " was never appended", seq);
    if (ae_store_is_acked(s, seq))
        return ae_err_set(err, AE_EEXIST, "store: seq %" PRIu64 " is already acked", seq);
    if (seq > ae_store_durable_seq(s))
        return ae_err_set(err, AE_EAGAIN, "store: seq %" PRIu64 " is not durable yet", seq);
    ae_rbuf rb = {0};
    ae_store_rec rec;
    size_t len = 0;
    char *line = NULL;
    int rc = read_record(s, seq, &rb, &rec, err);
    if (rc == 0 && !(line = format_line(s, &rec, reason ? reason : "", &len)))
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory setting seq %" PRIu64 " aside", seq);
    ae_rbuf_free(&rb);
    if (rc == 0 && (rc = dl_open(s, err)) == 0)
        rc = dl_append(s, line, len, err);
    free(line);
    if (rc)
        return rc;
    if ((rc = ae_store_ack(s, seq, err)) != 0)
        return rc;
    s->st.set_aside_records++;
    ae_log_warn("store %s: set seq %" PRIu64 " aside in %s: %s", s->dir, seq, s->dl->path,
                reason ? reason : "");
    return 0;
}
