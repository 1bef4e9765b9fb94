/* Error codes and the caller-owned error message buffer used across Aerie.
 *
 * Functions that act return 0 or a negative AE_E* code; when they take an
 * `ae_err *` (which may be NULL) they also write a sentence saying what went
 * wrong and what to do, naming the call, path or peer involved. */
#ifndef AERIE_COMMON_ERR_H
#define AERIE_COMMON_ERR_H

#include <stdarg.h>

enum {
    AE_OK = 0,
    AE_EINVAL = -1,   /* bad argument or malformed input */
    AE_ENOMEM = -2,   /* allocation failed */
    AE_EIO = -3,      /* an operating-system call failed; see the message */
    AE_ENOENT = -4,   /* no such thing */
    AE_EEXIST = -5,   /* already there */
    AE_EAGAIN = -6,   /* not now: try again later */
    AE_ENOSPC = -7,   /* disk or quota full */
    AE_ECORRUPT = -8, /* stored data failed a check */
    AE_ECLOSED = -9,  /* the object is closed or closing */
    AE_ELIMIT = -10,  /* a configured limit was hit */
    AE_ETIMEOUT = -11,
    AE_EPROTO = -12, /* a peer broke the protocol */
    AE_EAUTH = -13,  /* credentials refused */
};

typedef struct ae_err {
    int code;
    char msg[256];
} ae_err;

/* Records `code` and a formatted message in `e` (ignored when e is NULL).
 * Returns `code` so callers can write `return ae_err_set(e, AE_EIO, ...)`. */
int ae_err_set(ae_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Returns a short constant name for an AE_E* code ("EIO"). */
const char *ae_strerror(int code);

#endif
