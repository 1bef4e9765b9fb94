/* The monitoring answers that grow with the broker (/connz, /subsz) produced a slice at a
 * time, so that listing a million subscriptions never holds up client traffic: each call of
 * ae_mon_list_read does a bounded amount of work (a few thousand items) and returns the next
 * piece of the JSON body; the loop serves clients between calls (libmicrohttpd asks for more
 * as the HTTP client reads).
 *
 * Nothing is held across calls but connection ids and positions: a connection that closes
 * meanwhile is skipped (or its subscription list ends with a note), so an answer is a fair
 * picture of a moving broker, as nats-server's is. Field names are nats-server's; counts
 * that depend on what was listed (num_connections, total of /subsz) come after the lists.
 * Everything runs on the loop thread. */
#ifndef AERIE_LEAF_MONITOR_LISTS_H
#define AERIE_LEAF_MONITOR_LISTS_H

#include "leaf/server.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct ae_mon_list ae_mon_list;

/* /connz: subs_mode 0 none, 1 subscriptions_list, 2 subscriptions_list_detail. */
typedef struct ae_connz_args {
    int subs_mode;
    bool want_open, want_closed;
    long offset, limit;
} ae_connz_args;

/* /subsz: with list (subs=1), the subscriptions (that match `test`, a literal subject, if
 * given), paged; "total" is the number on the page, as in nats-server. */
typedef struct ae_subsz_args {
    bool list;
    const char *test; /* a subject subscriptions must match, or NULL */
    long offset, limit;
} ae_subsz_args;

/* NULL on ENOMEM. */
ae_mon_list *ae_mon_connz_new(ae_server *s, const ae_connz_args *a);
ae_mon_list *ae_mon_subsz_new(ae_server *s, const ae_subsz_args *a);
/* Copies the next piece of the body into buf (at most max bytes). Returns > 0; 0 when this
 * answer already had its share (128 KiB) in loop pass `pass` (call again in a later pass:
 * libmicrohttpd in external mode asks again on its next run); -1 at the end; -2 when memory
 * ran out (the answer is cut off; libmicrohttpd's END_OF_STREAM and END_WITH_ERROR). A slice
 * that produced nothing to show yet returns a blank (JSON whitespace). */
ssize_t ae_mon_list_read(ae_mon_list *l, uint64_t pass, char *buf, size_t max);
void ae_mon_list_free(ae_mon_list *l); /* accepts NULL */

/* Time helpers shared with monitor.c: an RFC 3339 string, a Go duration string. */
json_t *ae_mon_rfc3339(int64_t ns);
json_t *ae_mon_godur(int64_t ns);

#endif
