/* The small files of a store directory besides its segments (docs/store.md has the tables):
 *
 * "meta", version 2: the epoch, the ack floor, the last seq handed out, the durable seq, the
 * bitmap of seqs acked above the floor (the ackset's words) and the owner's note, with a
 * CRC32C over all of it. Version 1 (the ack floor plus at most 1024 acked seqs) is still
 * read. The file is replaced atomically: write meta.tmp, fsync, rename over meta, fsync the
 * directory. Open reads it (recovery.c) and writes it once; after that only the sync thread
 * writes it, from snapshots taken under st->mu, so acks and note always travel together.
 *
 * "secret": 32 random bytes made once per store directory, written the same way and never
 * changed. It keys message ids; it is never logged.
 *
 * Sections: notes | reading meta | writing meta | the secret | the owner's note and the
 * secret (the API: ae_store_set_note, ae_store_note, ae_store_note_durable_gen,
 * ae_store_secret) */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "store/crc32c.h"

#define META_V1_HDR 40u /* magic, version, n, epoch, floor, last */
#define META_V2_HDR 72u /* ... durable, base, words, note length, note gen */

/* ==== notes ============================================================================ */

ae_note *ae_note_new(const void *blob, size_t len, uint64_t gen)
{
    ae_note *n = malloc(sizeof *n + (len ? len : 1));
    if (!n)
        return NULL;
    n->refs = 1;
    n->gen = gen;
    n->len = len;
    if (len)
        memcpy(n->data, blob, len);
    return n;
}

void ae_note_unref_locked(ae_note *n)
{
    if (n && --n->refs == 0)
        free(n);
}

void ae_meta_clear_locked(ae_meta *m)
{
    free(m->words);
    free(m->acked);
    ae_note_unref_locked(m->note);
    memset(m, 0, sizeof *m);
}

/* ==== reading meta ===================================================================== */

/* Reads the whole file at path into *buf (at most max bytes). Returns 0, AE_ENOENT,
 * AE_ECORRUPT (larger than max), AE_EIO or AE_ENOMEM. */
static int read_small_file(ae_store *s, const char *name, size_t max, uint8_t **buf, size_t *len)
{
    char *path = ae_store_path(s, name);
    if (!path)
        return AE_ENOMEM;
    int fd = s->os->open(s->os->ctx, path, O_RDONLY, 0);
    free(path);
    if (fd < 0)
        return errno == ENOENT ? AE_ENOENT : AE_EIO;
    struct stat sb;
    int rc = 0;
    *buf = NULL;
    if (s->os->fstat(s->os->ctx, fd, &sb) != 0)
        rc = AE_EIO;
    else if ((uint64_t)sb.st_size > max)
        rc = AE_ECORRUPT;
    else if (!(*buf = malloc((size_t)sb.st_size + 1)))
        rc = AE_ENOMEM;
    size_t got = 0;
    while (!rc && got < (size_t)sb.st_size) {
        ssize_t r = s->os->pread(s->os->ctx, fd, *buf + got, (size_t)sb.st_size - got, (off_t)got);
        if (r < 0)
            rc = AE_EIO;
        else if (r == 0)
            break;
        else
            got += (size_t)r;
    }
    int e = errno;
    s->os->close(s->os->ctx, fd);
    errno = e;
    if (rc) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *len = got;
    return 0;
}

static int parse_v1(const uint8_t *b, size_t len, ae_meta *m)
{
    if (len < META_V1_HDR + 4)
        return AE_ECORRUPT;
    uint32_t n = ae_get32(b + 12);
    if (n > 1024 || len != META_V1_HDR + 8 * (size_t)n + 4)
        return AE_ECORRUPT;
    if (ae_get32(b + len - 4) != ae_crc32c(0, b, len - 4))
        return AE_ECORRUPT;
    m->last = ae_get64(b + 32);
    if (n && !(m->acked = malloc(n * sizeof *m->acked)))
        return AE_ENOMEM;
    m->nacked = n;
    for (uint32_t i = 0; i < n; i++)
        m->acked[i] = ae_get64(b + META_V1_HDR + 8 * i);
    return 0;
}

static int parse_v2(const uint8_t *b, size_t len, ae_meta *m)
{
    if (len < META_V2_HDR + 4 || ae_get32(b + 12) != 0)
        return AE_ECORRUPT;
    uint64_t nw = ae_get32(b + 56), nl = ae_get32(b + 60);
    if (nw > AE_META_MAX_WORDS || nl > AE_STORE_NOTE_MAX || len != META_V2_HDR + 8 * nw + nl + 4)
        return AE_ECORRUPT;
    if (ae_get32(b + len - 4) != ae_crc32c(0, b, len - 4))
        return AE_ECORRUPT;
    m->last = ae_get64(b + 32);
    m->durable = ae_get64(b + 40);
    m->base = ae_get64(b + 48);
    if (m->base % 64 || m->durable > UINT64_MAX / 2 || m->base > UINT64_MAX / 2)
        return AE_ECORRUPT;
    if (nw && !(m->words = malloc(nw * sizeof *m->words)))
        return AE_ENOMEM;
    m->nw = (size_t)nw;
    for (size_t i = 0; i < m->nw; i++)
        m->words[i] = ae_get64(b + META_V2_HDR + 8 * i);
    uint64_t gen = ae_get64(b + 64);
    if (nl || gen) {
        if (!(m->note = ae_note_new(b + META_V2_HDR + 8 * nw, (size_t)nl, gen)))
            return AE_ENOMEM;
    }
    return 0;
}

int ae_meta_read(ae_store *s, ae_meta *m)
{
    uint8_t *b;
    size_t len;
    memset(m, 0, sizeof *m);
    int rc = read_small_file(s, AE_META_NAME,
                             META_V2_HDR + 8 * (size_t)AE_META_MAX_WORDS + AE_STORE_NOTE_MAX + 4,
                             &b, &len);
    if (rc)
        return rc;
    if (len < 16 || memcmp(b, AE_META_MAGIC, 8) != 0)
        rc = AE_ECORRUPT;
    else if ((m->version = ae_get32(b + 8)) == 1)
        rc = parse_v1(b, len, m);
    else if (m->version == AE_META_VERSION)
        rc = parse_v2(b, len, m);
    else
        rc = AE_ECORRUPT;
    if (!rc) {
        m->epoch = ae_get64(b + 16);
        m->floor = ae_get64(b + 24);
        if (m->floor > UINT64_MAX / 2 || m->last > UINT64_MAX / 2)
            rc = AE_ECORRUPT;
    }
    free(b);
    if (rc)
        ae_meta_clear_locked(m);
    return rc;
}

/* ==== writing meta ===================================================================== */

int ae_meta_snapshot_locked(ae_store *s, ae_meta *m, uint64_t durable)
{
    const ae_ackset *a = &s->acks;
    uint64_t spread = s->o.meta_max_ack_spread;
    size_t maxw = (size_t)((spread + 63) / 64), nw = a->nw < maxw ? a->nw : maxw;
    if (nw > m->wcap) {
        uint64_t *w = realloc(m->words, nw * sizeof *w);
        if (!w)
            return AE_ENOMEM;
        m->words = w;
        m->wcap = nw;
    }
    m->version = AE_META_VERSION;
    m->epoch = s->epoch;
    m->floor = a->floor;
    m->last = s->written_seq;
    m->durable = durable;
    m->base = a->base;
    m->nw = nw;
    m->dropped_above = nw < a->nw ? a->base + 64 * (uint64_t)nw : 0;
    if (nw)
        memcpy(m->words, a->w, nw * sizeof *m->words);
    ae_note_unref_locked(m->note);
    m->note = s->note;
    if (m->note)
        m->note->refs++;
    return 0;
}

/* Writes len bytes of buf to "<dir>/<name>" atomically: name.tmp, fsync (when durable),
 * rename, directory fsync (when durable). On failure the tmp file is removed, so a full disk
 * gets its few bytes back. Returns 0 or AE_E* with a message. */
static int replace_file(ae_store *s, const char *name, const char *tmpname, const uint8_t *buf,
                        size_t len, bool durable, ae_err *err)
{
    char *tmp = ae_store_path(s, tmpname), *dst = ae_store_path(s, name);
    int rc = 0, fd = -1;
    const char *what = NULL;
    if (!tmp || !dst) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory writing %s", name);
        goto out;
    }
    fd = s->os->open(s->os->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        what = "open";
    else if (ae_os_write_all(s->os, fd, buf, len, 0) != 0)
        what = "write";
    else if (durable && s->os->fsync(s->os->ctx, fd) != 0)
        what = "fsync";
    int e = errno;
    if (fd >= 0)
        s->os->close(s->os->ctx, fd);
    if (!what && s->os->rename(s->os->ctx, tmp, dst) != 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        if (fd >= 0)
            s->os->unlink(s->os->ctx, tmp);
        rc = ae_err_set(err, ae_store_errcode(e), "store: %s of %s failed: %s", what, tmp,
                        strerror(e));
        goto out;
    }
    if (durable && ae_os_sync_dir(s->os, s->dir) != 0)
        rc = ae_err_set(err, ae_store_errcode(errno),
                        "store: fsync of directory %s after renaming %s failed: %s", s->dir, tmp,
                        strerror(errno));
out:
    free(tmp);
    free(dst);
    return rc;
}

int ae_meta_write(ae_store *s, const ae_meta *m, bool durable, ae_err *err)
{
    size_t nl = m->note ? m->note->len : 0;
    size_t len = META_V2_HDR + 8 * m->nw + nl + 4;
    uint8_t *b = malloc(len);
    if (!b)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory writing meta");
    memcpy(b, AE_META_MAGIC, 8);
    ae_put32(b + 8, AE_META_VERSION);
    ae_put32(b + 12, 0);
    ae_put64(b + 16, m->epoch);
    ae_put64(b + 24, m->floor);
    ae_put64(b + 32, m->last);
    ae_put64(b + 40, m->durable);
    ae_put64(b + 48, m->base);
    ae_put32(b + 56, (uint32_t)m->nw);
    ae_put32(b + 60, (uint32_t)nl);
    ae_put64(b + 64, m->note ? m->note->gen : 0);
    for (size_t i = 0; i < m->nw; i++)
        ae_put64(b + META_V2_HDR + 8 * i, m->words[i]);
    if (nl)
        memcpy(b + META_V2_HDR + 8 * m->nw, m->note->data, nl);
    ae_put32(b + len - 4, ae_crc32c(0, b, len - 4));
    int rc = replace_file(s, AE_META_NAME, AE_META_TMP_NAME, b, len, durable, err);
    free(b);
    return rc;
}

/* ==== the secret ======================================================================= */

#define SECRET_FILE_SIZE 60u /* magic, version, 0, epoch, secret, CRC */

int ae_secret_load(ae_store *s, bool fresh_dir, bool *need_write, ae_err *err)
{
    uint8_t *b = NULL;
    size_t len = 0;
    *need_write = false;
    int rc = read_small_file(s, AE_SECRET_NAME, 4096, &b, &len);
    if (rc == AE_EIO || rc == AE_ENOMEM) {
        free(b);
        return ae_err_set(err, rc, "store: cannot read %s/%s: %s", s->dir, AE_SECRET_NAME,
                          strerror(errno));
    }
    const char *bad = NULL;
    if (rc == 0 && (len != SECRET_FILE_SIZE || memcmp(b, AE_SECRET_MAGIC, 8) != 0 ||
                    ae_get32(b + 8) != 1 || ae_get32(b + 56) != ae_crc32c(0, b, 56)))
        bad = "is damaged";
    else if (rc == 0 && ae_get64(b + 16) != s->epoch)
        bad = "belongs to another epoch of this directory";
    if (rc == 0 && !bad) {
        memcpy(s->secret, b + 24, AE_STORE_SECRET_LEN);
        free(b);
        return 0;
    }
    free(b);
    if (getrandom(s->secret, AE_STORE_SECRET_LEN, 0) != (ssize_t)AE_STORE_SECRET_LEN)
        return ae_err_set(err, AE_EIO, "store: getrandom for the store's secret failed: %s",
                          strerror(errno));
    if (bad)
        ae_log_warn("store %s: the secret file %s; made a new secret (ids of records already "
                    "sent are keyed with the old one)",
                    s->dir, bad);
    else if (!fresh_dir)
        ae_log_info("store %s: made a per-store secret (the directory was set up by an older "
                    "version)",
                    s->dir);
    *need_write = true;
    return 0;
}

int ae_secret_write(ae_store *s, ae_err *err)
{
    uint8_t b[SECRET_FILE_SIZE];
    memcpy(b, AE_SECRET_MAGIC, 8);
    ae_put32(b + 8, 1);
    ae_put32(b + 12, 0);
    ae_put64(b + 16, s->epoch);
    memcpy(b + 24, s->secret, AE_STORE_SECRET_LEN);
    ae_put32(b + 56, ae_crc32c(0, b, 56));
    /* Always durable, whatever the sync policy: it is written once and ids depend on it. */
    int rc = replace_file(s, AE_SECRET_NAME, AE_SECRET_TMP_NAME, b, sizeof b, true, err);
    memset(b, 0, sizeof b);
    return rc;
}

/* ==== the owner's note and the secret =================================================== */

int ae_store_set_note(ae_store *s, const void *blob, size_t len, bool urgent, uint64_t *gen,
                      ae_err *err)
{
    if (len > AE_STORE_NOTE_MAX || (len && !blob))
        return ae_err_set(err, AE_EINVAL, "store: a note of %zu bytes%s; the limit is %u bytes",
                          len, len && !blob ? " without its bytes" : "", AE_STORE_NOTE_MAX);
    ae_note *n = ae_note_new(blob, len, s->note_gen + 1);
    if (!n)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory for a note of %zu bytes", len);
    pthread_mutex_lock(&s->mu);
    ae_note_unref_locked(s->note);
    s->note = n;
    ae_store_meta_dirty_locked(s);
    if (urgent) {
        s->meta_urgent = true;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    s->note_gen = n->gen;
    if (gen)
        *gen = n->gen;
    return 0;
}

size_t ae_store_note(const ae_store *s, const void **blob)
{
    if (!s->note || !s->note->len) {
        *blob = NULL;
        return 0;
    }
    *blob = s->note->data;
    return s->note->len;
}

uint64_t ae_store_note_durable_gen(const ae_store *s)
{
    return atomic_load(&((ae_store *)s)->note_durable_gen);
}

const uint8_t *ae_store_secret(const ae_store *s)
{
    return s->secret;
}
