/* Error message helpers; see err.h. */
#include "common/err.h"

#include <stdio.h>

int ae_err_set(ae_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *ae_strerror(int code)
{
    switch (code) {
    case AE_OK:
        return "OK";
    case AE_EINVAL:
        return "EINVAL";
    case AE_ENOMEM:
        return "ENOMEM";
    case AE_EIO:
        return "EIO";
    case AE_ENOENT:
        return "ENOENT";
    case AE_EEXIST:
        return "EEXIST";
    case AE_EAGAIN:
        return "EAGAIN";
    case AE_ENOSPC:
        return "ENOSPC";
    case AE_ECORRUPT:
        return "ECORRUPT";
    case AE_ECLOSED:
        return "ECLOSED";
    case AE_ELIMIT:
        return "ELIMIT";
    case AE_ETIMEOUT:
        return "ETIMEOUT";
    case AE_EPROTO:
        return "EPROTO";
    case AE_EAUTH:
        return "EAUTH";
    default:
        return "E?";
    }
}
