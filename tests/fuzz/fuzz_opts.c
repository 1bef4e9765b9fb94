/* libFuzzer target for aerie-leaf's option loaders (src/leaf/opts*.c) and the permission
 * engine (src/leaf/perms.c).
 *
 * Input: config text, then optionally a NUL byte and subjects separated by '\n'. The text is
 * parsed without includes and loaded over the defaults (authorization with users,
 * permissions and default_permissions, tls, limits, ...); a config that loads is validated.
 * Each user's permissions are then compiled and every subject after the NUL is checked for
 * publishing, subscribing (with and without a queue), delivery filtering and reply grants.
 * Nothing may crash, leak or read out of bounds; a permission that allows a subject must
 * not also deny it (checked against a brute-force evaluation of the plain rules).
 *
 * Seeds: tests/fuzz/corpus/opts/. */
#include "common/conf.h"
#include "leaf/opts.h"
#include "leaf/perms.h"
#include "leaf/subject.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The allow/deny verdict of plain rules, evaluated the slow way. */
static bool brute_publish(const ae_perm_rules *r, const char *s)
{
    bool allowed = !r->allow_set;
    for (int i = 0; i < r->nallow && !allowed; i++)
        allowed = !strchr(r->allow[i], ' ') &&
                  ae_subject_matches(r->allow[i], strlen(r->allow[i]), s, strlen(s));
    for (int i = 0; i < r->ndeny && allowed; i++)
        allowed = strchr(r->deny[i], ' ') ||
                  !ae_subject_matches(r->deny[i], strlen(r->deny[i]), s, strlen(s));
    return allowed;
}

static void exercise(const ae_perms_conf *conf, const char *subjects, size_t n)
{
    ae_perms *p = ae_perms_new(conf);
    if (!p)
        return;
    int64_t now = 1;
    const char *s = subjects, *end = subjects + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        /* An exact copy: the line may hold NUL bytes, as a subject on the wire may. */
        char *subj = malloc(len + 1);
        if (!subj)
            break;
        memcpy(subj, s, len);
        subj[len] = 0;
        bool pub = ae_perms_can_publish(p, subj, len, now);
        if (!conf->responses && !memchr(subj, 0, len) && ae_subject_valid_literal(subj, len) &&
            pub != brute_publish(&conf->pub, subj))
            abort();
        (void)ae_perms_can_publish(p, subj, len, now); /* cached the second time */
        (void)ae_perms_can_subscribe(p, subj, len, NULL, 0);
        (void)ae_perms_can_subscribe(p, subj, len, "q", 1);
        (void)ae_perms_can_subscribe(p, subj, len, subj, len);
        ae_perms_note_subscription(p, subj, len);
        (void)ae_perms_delivery_denied(p, subj, len);
        ae_perms_note_request(p, subj, len, now);
        now += 1000000000LL;
        free(subj);
        s += len + 1;
    }
    ae_perms_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - text) : size;
    ae_conf_node *root = NULL;
    ae_err err = {0};
    if (ae_conf_parse_string_noinclude(text, tlen, "fuzz.conf", &root, &err) != 0)
        return 0;
    ae_opts o;
    ae_opts_defaults(&o);
    if (ae_opts_load_conf(&o, root, &err) == 0) {
        (void)ae_opts_validate(&o, &err);
        const char *subjects = nul ? nul + 1 : "";
        size_t sn = nul ? size - tlen - 1 : 0;
        for (int i = 0; i < o.nusers; i++) {
            if (o.users[i].perms)
                exercise(o.users[i].perms, subjects, sn);
        }
    }
    ae_opts_free(&o);
    ae_conf_free(root);
    return 0;
}
