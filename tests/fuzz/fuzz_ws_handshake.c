/* libFuzzer target for the parser of a hub's answer to the websocket upgrade
 * (src/leaf/ws_handshake.c). The input is the hub's bytes, parsed from an exact-size heap
 * copy. A complete head's length is within the input and ends with a blank line; every
 * prefix of the input is either "need more" or the same verdict as far as it can see (an
 * error found early stays an error). Violations abort(). */
#include "leaf/ws_handshake.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    ae_ws_upgrade up;
    ae_err err = {0};
    int rc = ae_ws_response_parse(p, size, key, &up, &err);
    if (rc > 0) {
        if ((size_t)rc > size || rc < 4 || memcmp(p + rc - 4, "\r\n\r\n", 4) != 0)
            abort();
        /* any prefix that holds the head parses the same */
        if (ae_ws_response_parse(p, (size_t)rc, key, &up, &err) != rc)
            abort();
        if (rc > 1 && ae_ws_response_parse(p, (size_t)rc - 1, key, &up, &err) > 0)
            abort();
    } else if (rc < 0) {
        if (!err.msg[0] || (rc != AE_EPROTO && rc != AE_ELIMIT))
            abort();
    }
    free(p);
    return 0;
}
