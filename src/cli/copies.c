/* Reading a stream across its copies; see copies.h. */
#include "cli/copies.h"
#include "cli/direct_batch.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ae_copies_list(ae_cli *c, const char *base, const char *filter, ae_copies *out, ae_err *err)
{
    ae_read_src src[AE_READ_MAX];
    memset(out, 0, sizeof *out);
    int n = ae_cli_read_sources(c, base, src, AE_READ_MAX);
    for (int i = 0; i < n; i++) {
        ae_copy_listing *l = &out->v[out->n++];
        l->src = src[i];
        ae_err e = {0};
        int rc = ae_cli_stream_subjects_at(c, &l->src, filter, &l->subjects, &l->n, NULL, NULL, &e);
        if (rc == 0) {
            l->ok = true;
            out->home_found = out->home_found || l->src.home;
            if (l->n > 1) /* an empty list has no array (qsort's base may not be NULL) */
                qsort(l->subjects, (size_t)l->n, sizeof *l->subjects, cmp_str);
            continue;
        }
        l->subjects = NULL;
        l->n = 0;
        if (rc == AE_ENOENT)
            continue;
        if (l->src.home)
            return ae_err_set(err, rc, "%s", e.msg);
        ae_cli_note_unreachable(c, &l->src, e.msg);
    }
    return 0;
}

void ae_copies_free(ae_copies *cp)
{
    for (int i = 0; i < cp->n; i++) {
        for (int k = 0; k < cp->v[i].n; k++)
            free(cp->v[i].subjects[k]);
        free(cp->v[i].subjects);
        cp->v[i].subjects = NULL;
        cp->v[i].n = 0;
    }
    cp->n = 0;
}

bool ae_copy_has(const ae_copy_listing *l, const char *subject)
{
    return l->n > 0 &&
           bsearch(&subject, l->subjects, (size_t)l->n, sizeof *l->subjects, cmp_str) != NULL;
}

natsMsg *ae_copies_last(ae_cli *c, const ae_copies *cp, const char *subject, int *rc, ae_err *err)
{
    natsMsg *best = NULL;
    *rc = 0;
    for (int i = 0; i < cp->n; i++) {
        const ae_copy_listing *l = &cp->v[i];
        if (!l->ok || !ae_copy_has(l, subject))
            continue;
        natsMsg *m = NULL;
        ae_err e = {0};
        int r = ae_cli_direct_get_at(c, &l->src, 0, NULL, subject, &m, &e);
        if (r == AE_ENOENT) /* aged out between the listing and the get: fine */
            continue;
        if (r) {
            if (l->src.home && !*rc)
                *rc = ae_err_set(err, r, "%s", e.msg);
            else if (!l->src.home)
                ae_cli_note_unreachable(c, &l->src, e.msg);
            continue;
        }
        if (!best || ae_cli_msg_event_ns(m) > ae_cli_msg_event_ns(best)) {
            if (best)
                natsMsg_Destroy(best);
            best = m;
        } else {
            natsMsg_Destroy(m);
        }
    }
    return best;
}

int ae_copies_last_many(ae_cli *c, ae_copies_get *gets, size_t n, ae_err *err)
{
    return ae_copies_last_many_window(c, gets, n, 0, err);
}

int ae_copies_last_many_window(ae_cli *c, ae_copies_get *gets, size_t n, int window, ae_err *err)
{
    /* One request per (subject, copy that lists it), copies in order, so that the first
     * copy wins a tie as in ae_copies_last. */
    size_t nreq = 0;
    for (size_t i = 0; i < n; i++) {
        gets[i].msg = NULL;
        for (int k = 0; k < gets[i].cp->n; k++)
            nreq += gets[i].cp->v[k].ok && ae_copy_has(&gets[i].cp->v[k], gets[i].subject);
    }
    if (nreq == 0)
        return 0;
    ae_last_req *reqs = calloc(nreq, sizeof *reqs);
    size_t *owner = calloc(nreq, sizeof *owner);
    if (!reqs || !owner) {
        free(reqs);
        free(owner);
        return ae_err_set(err, AE_ENOMEM, "out of memory reading %zu subjects", n);
    }
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < gets[i].cp->n; k++) {
            const ae_copy_listing *l = &gets[i].cp->v[k];
            if (!l->ok || !ae_copy_has(l, gets[i].subject))
                continue;
            reqs[r] = (ae_last_req){.src = &l->src, .subject = gets[i].subject};
            owner[r++] = i;
        }
    int rc = ae_cli_last_batch(c, reqs, nreq, window, err);
    for (r = 0; rc == 0 && r < nreq; r++) {
        ae_copies_get *g = &gets[owner[r]];
        natsMsg *m = reqs[r].msg;
        reqs[r].msg = NULL;
        if (reqs[r].rc == AE_ENOENT) /* aged out between the listing and the get: fine */
            continue;
        if (reqs[r].rc) {
            if (reqs[r].src->home)
                rc = ae_err_set(err, reqs[r].rc, "direct get of %s on %s: %s", g->subject,
                                reqs[r].src->stream,
                                reqs[r].rc == AE_ETIMEOUT ? "no answer in time" : "bad reply");
            else
                ae_cli_note_unreachable(c, reqs[r].src, "no answer to a direct get");
            continue;
        }
        if (!g->msg || ae_cli_msg_event_ns(m) > ae_cli_msg_event_ns(g->msg)) {
            natsMsg_Destroy(g->msg);
            g->msg = m;
        } else {
            natsMsg_Destroy(m);
        }
    }
    for (size_t k = 0; k < nreq; k++)
        natsMsg_Destroy(reqs[k].msg);
    if (rc)
        for (size_t i = 0; i < n; i++) {
            natsMsg_Destroy(gets[i].msg);
            gets[i].msg = NULL;
        }
    free(reqs);
    free(owner);
    return rc;
}

bool ae_seen_ids_repeat(ae_seen_ids *s, natsMsg *m)
{
    const char *id = ae_cli_msg_id(m);
    if (!id)
        return false;
    size_t n = strlen(id);
    if (ae_hmap_get(&s->ids, id, n))
        return true;
    char *key = strndup(id, n);
    if (key && ae_hmap_put(&s->ids, key, n, key) != 0)
        free(key); /* out of memory: show it rather than fail the read */
    return false;
}

void ae_seen_ids_free(ae_seen_ids *s)
{
    ae_hmap_ent *e;
    for (size_t pos = 0; (e = ae_hmap_next(&s->ids, &pos));)
        free(e->val);
    ae_hmap_free(&s->ids);
}
