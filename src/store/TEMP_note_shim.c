/* TEMPORARY (lead's branch only, removed when the store branch lands): in-memory stand-ins
 * for the store APIs the forwarder needs, so it can be built and tested meanwhile. */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

static void *shim_note;
static size_t shim_note_len;
static uint64_t shim_gen;
static uint8_t shim_secret[32];

int ae_store_set_note(ae_store *st, const void *blob, size_t len, bool urgent, uint64_t *gen,
                      ae_err *err)
{
    (void)st;
    (void)urgent;
    (void)err;
    void *n = malloc(len ? len : 1);
    memcpy(n, blob, len);
    free(shim_note);
    shim_note = n;
    shim_note_len = len;
    *gen = ++shim_gen;
    return 0;
}

size_t ae_store_note(const ae_store *st, const void **blob)
{
    (void)st;
    *blob = shim_note;
    return shim_note_len;
}

uint64_t ae_store_note_durable_gen(const ae_store *st)
{
    (void)st;
    return shim_gen;
}

const uint8_t *ae_store_secret(const ae_store *st)
{
    for (int i = 0; i < 32; i++)
        shim_secret[i] = (uint8_t)(st->epoch >> (8 * (i % 8))) ^ (uint8_t)i;
    return shim_secret;
}

int ae_store_set_aside(ae_store *st, uint64_t seq, const char *reason, ae_err *err)
{
    (void)reason;
    return ae_store_ack(st, seq, err);
}
