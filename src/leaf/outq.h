/* A connection's outbound queue: a chain of byte chunks written with writev.
 *
 * Producers append copies (the payload of a message fanned out to many subscribers is
 * copied once per subscriber, as nats-server does); the loop flushes as much as the
 * socket takes. `pending` is what the slow-consumer limit is checked against. */
#ifndef AERIE_LEAF_OUTQ_H
#define AERIE_LEAF_OUTQ_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ae_chunk {
    struct ae_chunk *next;
    size_t start; /* first unsent byte */
    size_t end;   /* one past the last byte written */
    size_t cap;
    char data[];
} ae_chunk;

typedef struct ae_outq {
    ae_chunk *head, *tail;
    size_t pending; /* bytes appended and not yet written */
} ae_outq;

/* Appends a copy of n bytes. Returns 0 or AE_ENOMEM. */
int ae_outq_append(ae_outq *q, const void *p, size_t n);
/* Reserves n contiguous bytes at the tail and returns a pointer to them (NULL on ENOMEM);
 * the caller fills exactly n bytes. */
char *ae_outq_reserve(ae_outq *q, size_t n);
/* Gives back the last n bytes of the most recent reservation (they were not needed). */
void ae_outq_unreserve(ae_outq *q, size_t n);
/* Writes pending bytes to fd with writev, up to `budget` bytes. Returns bytes written (0 if
 * the socket is full), or -1 with errno on a real error. */
ssize_t ae_outq_flush_fd(ae_outq *q, int fd, size_t budget);
/* The first unsent contiguous span, for writers that cannot use writev (TLS). */
size_t ae_outq_peek(const ae_outq *q, const char **p);
/* Marks n bytes of the head span as sent. */
void ae_outq_consume(ae_outq *q, size_t n);
/* Drops everything queued and frees the chunks. */
void ae_outq_clear(ae_outq *q);

#endif
