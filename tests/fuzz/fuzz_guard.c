/* libFuzzer target for the guard's checks (src/cli/guard_check.c): the subjects and bodies a
 * vehicle can send to its tenant's guard, and the stream's answers the guard reads back.
 *
 * The first byte picks the input: a request (subject NUL body), or a STREAM.MSG.GET reply.
 * Properties beyond "no crash, no out-of-bounds read": a request that passes names this
 * vehicle (fleet.prod.veh.<vid>. in a consumer filter; a delete a positive sequence) and
 * goes on to a JetStream API subject; a refusal explains itself; an error reply is JSON.
 *
 * Seeds: tests/fuzz/corpus/guard/ (the walk's consumer create, a delete, a push consumer,
 * a MSG.GET answer). */
#include "cli/guard_check.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0] % 2;
    size_t n = size - 1;
    char *buf = malloc(n + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, n);
    buf[n] = 0;
    ae_err err = {0};
    if (sel == 0) {
        /* subject NUL body: the body is what follows the first NUL (exact size, no NUL). */
        size_t sl = strlen(buf);
        const char *body = sl < n ? buf + sl + 1 : "";
        size_t bl = sl < n ? n - sl - 1 : 0;
        char *exact = malloc(bl ? bl : 1);
        if (!exact)
            abort();
        memcpy(exact, body, bl);
        ae_guard_req r;
        int rc = ae_guard_parse("prod", buf, exact, bl, &r, &err);
        if (rc == 0) {
            if (strncmp(r.api, "$JS.", 4) != 0 || !r.vid[0])
                abort();
            if (r.kind == AE_GUARD_DELETE && r.seq == 0)
                abort();
            if (r.kind == AE_GUARD_CREATE) {
                char want[200];
                snprintf(want, sizeof want, ".fleet.prod.veh.%s.", r.vid);
                if (!strstr(r.api, want))
                    abort();
            }
            char api[AE_GUARD_SUBJECT_MAX], get[64];
            ae_guard_get_request(&r, api, sizeof api, get, sizeof get);
        } else if (!err.msg[0]) {
            abort();
        }
        char *reply = ae_guard_error_reply(r.kind, 403, 0, err.msg);
        json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
        if (reply && !json_is_object(j))
            abort();
        json_decref(j);
        free(reply);
        free(exact);
    } else {
        char *exact = malloc(n ? n : 1);
        if (!exact)
            abort();
        memcpy(exact, buf, n);
        int rc = ae_guard_check_owner("prod", "VID-001", exact, n, &err);
        if (rc != 0 && !err.msg[0])
            abort();
        free(exact);
    }
    free(buf);
    return 0;
}
