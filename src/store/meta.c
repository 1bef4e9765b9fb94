/* The meta file of a store directory: the epoch, the ack floor, the highest seq known when
 * it was written and up to AE_META_MAX_ACKED acked seqs above the floor:
 *   0 magic "AERIEMTA" | 8 u32 version | 12 u32 n | 16 u64 epoch | 24 u64 ack floor
 *   32 u64 last seq | 40 u64 acked[n] | u32 CRC32C of everything before
 * It is replaced atomically: write meta.tmp, fsync, rename over meta, fsync the directory.
 * Open reads it (recovery.c) and writes it once; after that only the sync thread writes it,
 * from snapshots taken under st->mu. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/crc32c.h"

int ae_meta_read(ae_store *s, ae_meta *m)
{
    char *path = ae_store_path(s, AE_META_NAME);
    if (!path)
        return AE_ENOMEM;
    int fd = s->os->open(s->os->ctx, path, O_RDONLY, 0);
    free(path);
    if (fd < 0)
        return errno == ENOENT ? AE_ENOENT : AE_EIO;
    uint8_t buf[44 + 8 * AE_META_MAX_ACKED + 1];
    size_t got = 0;
    int rc = 0;
    while (got < sizeof buf) {
        ssize_t r = s->os->pread(s->os->ctx, fd, buf + got, sizeof buf - got, (off_t)got);
        if (r < 0) {
            rc = AE_EIO;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    s->os->close(s->os->ctx, fd);
    if (rc)
        return rc;
    if (got < 44 || memcmp(buf, AE_META_MAGIC, 8) != 0 || ae_get32(buf + 8) != AE_META_VERSION)
        return AE_ECORRUPT;
    uint32_t n = ae_get32(buf + 12);
    if (n > AE_META_MAX_ACKED || got != 44 + 8 * (size_t)n)
        return AE_ECORRUPT;
    if (ae_get32(buf + 40 + 8 * n) != ae_crc32c(0, buf, 40 + 8 * n))
        return AE_ECORRUPT;
    m->epoch = ae_get64(buf + 16);
    m->floor = ae_get64(buf + 24);
    m->last = ae_get64(buf + 32);
    if (m->floor > UINT64_MAX / 2 || m->last > UINT64_MAX / 2)
        return AE_ECORRUPT;
    m->n = n;
    for (uint32_t i = 0; i < n; i++)
        m->acked[i] = ae_get64(buf + 40 + 8 * i);
    return 0;
}

int ae_meta_write(ae_store *s, const ae_meta *m, bool durable, ae_err *err)
{
    uint8_t buf[44 + 8 * AE_META_MAX_ACKED];
    memcpy(buf, AE_META_MAGIC, 8);
    ae_put32(buf + 8, AE_META_VERSION);
    ae_put32(buf + 12, m->n);
    ae_put64(buf + 16, m->epoch);
    ae_put64(buf + 24, m->floor);
    ae_put64(buf + 32, m->last);
    for (uint32_t i = 0; i < m->n; i++)
        ae_put64(buf + 40 + 8 * i, m->acked[i]);
    size_t len = 40 + 8 * (size_t)m->n;
    ae_put32(buf + len, ae_crc32c(0, buf, len));
    len += 4;

    char *tmp = ae_store_path(s, AE_META_TMP_NAME), *dst = ae_store_path(s, AE_META_NAME);
    int rc = 0;
    const char *what = NULL;
    if (!tmp || !dst) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory writing meta");
        goto out;
    }
    int fd = s->os->open(s->os->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        what = "open";
        goto oserr;
    }
    if (ae_os_write_all(s->os, fd, buf, len, 0) != 0) {
        what = "write";
    } else if (durable && s->os->fsync(s->os->ctx, fd) != 0) {
        what = "fsync";
    }
    int e = errno;
    s->os->close(s->os->ctx, fd);
    errno = e;
    if (what)
        goto oserr;
    if (s->os->rename(s->os->ctx, tmp, dst) != 0) {
        what = "rename";
        goto oserr;
    }
    if (durable && ae_os_sync_dir(s->os, s->dir) != 0) {
        what = "fsync of directory after rename";
        goto oserr;
    }
    goto out;
oserr:
    rc = ae_err_set(err, ae_store_errcode(errno), "store: %s of %s failed: %s", what, tmp,
                    strerror(errno));
out:
    free(tmp);
    free(dst);
    return rc;
}

void ae_meta_snapshot_locked(ae_store *s, ae_meta *m)
{
    m->epoch = s->epoch;
    m->floor = s->acks.floor;
    m->last = s->written_seq;
    m->n = (uint32_t)ae_ackset_list(&s->acks, m->acked, AE_META_MAX_ACKED);
}
