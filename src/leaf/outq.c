/* Outbound chunk queue; see outq.h. */
#include "leaf/outq.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define CHUNK_SIZE (32 * 1024)
#define MAX_IOV    64

static ae_chunk *chunk_new(size_t min)
{
    size_t cap = min > CHUNK_SIZE ? min : CHUNK_SIZE;
    ae_chunk *c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->start = c->end = 0;
    c->cap = cap;
    return c;
}

char *ae_outq_reserve(ae_outq *q, size_t n)
{
    ae_chunk *t = q->tail;
    if (!t || t->cap - t->end < n) {
        ae_chunk *c = chunk_new(n);
        if (!c)
            return NULL;
        if (t)
            t->next = c;
        else
            q->head = c;
        q->tail = t = c;
    }
    char *p = t->data + t->end;
    t->end += n;
    q->pending += n;
    return p;
}

void ae_outq_unreserve(ae_outq *q, size_t n)
{
    q->tail->end -= n;
    q->pending -= n;
}

int ae_outq_append(ae_outq *q, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    ae_chunk *t = q->tail;
    /* Fill the tail first so that many small messages share one chunk. */
    if (t && t->cap > t->end) {
        size_t room = t->cap - t->end;
        size_t k = room < n ? room : n;
        memcpy(t->data + t->end, p, k);
        t->end += k;
        q->pending += k;
        p = (const char *)p + k;
        n -= k;
        if (n == 0)
            return 0;
    }
    char *dst = ae_outq_reserve(q, n);
    if (!dst)
        return AE_ENOMEM;
    memcpy(dst, p, n);
    return 0;
}

ssize_t ae_outq_flush_fd(ae_outq *q, int fd, size_t budget)
{
    size_t total = 0;
    while (q->pending > 0 && total < budget) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        size_t want = 0;
        for (ae_chunk *c = q->head; c && n < MAX_IOV && want < budget - total; c = c->next) {
            if (c->end == c->start)
                continue;
            iov[n].iov_base = c->data + c->start;
            iov[n].iov_len = c->end - c->start;
            want += iov[n].iov_len;
            n++;
        }
        if (n == 0)
            break;
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        ae_outq_consume(q, (size_t)w);
        total += (size_t)w;
        if ((size_t)w < want)
            break; /* socket buffer full */
    }
    return (ssize_t)total;
}

size_t ae_outq_peek(const ae_outq *q, const char **p)
{
    for (ae_chunk *c = q->head; c; c = c->next) {
        if (c->end > c->start) {
            *p = c->data + c->start;
            return c->end - c->start;
        }
    }
    *p = NULL;
    return 0;
}

void ae_outq_consume(ae_outq *q, size_t n)
{
    q->pending -= n;
    while (n > 0 && q->head) {
        ae_chunk *c = q->head;
        size_t avail = c->end - c->start;
        size_t k = avail < n ? avail : n;
        c->start += k;
        n -= k;
        if (c->start == c->end) {
            /* Drained chunks are freed at once so an idle connection holds no buffer. */
            q->head = c->next;
            if (!q->head)
                q->tail = NULL;
            free(c);
        }
    }
}

void ae_outq_clear(ae_outq *q)
{
    ae_chunk *c = q->head;
    while (c) {
        ae_chunk *next = c->next;
        free(c);
        c = next;
    }
    q->head = q->tail = NULL;
    q->pending = 0;
}
