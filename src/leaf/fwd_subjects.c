/* The durable forwarder's subjects (fwd_subjects.h): creating and freeing a subject's
 * record, switching JetStream domains, and writing and reading the note. */
#include "common/log.h"
#include "common/random.h"
#include "leaf/fwd_subjects.h"
#include "leaf/fwdnote.h"
#include "leaf/subject.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fwd_phase_name[] = {"idle",   "first-contact", "note",   "walk",
                                      "repair", "ready",         "backoff"};

void fwd_error(ae_forward *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->last_error, sizeof f->last_error, fmt, ap);
    va_end(ap);
    ae_log_warn("forward: %s", f->last_error);
}

static uint32_t random_inc(void)
{
    uint32_t v = 0;
    while (v == 0) {
        if (ae_random_bytes(&v, sizeof v, NULL) != 0)
            v = (uint32_t)ae_mono_ns();
    }
    return v;
}

void fwd_set_phase(fsubj *ss, phase ph)
{
    if (ss->ph != ph)
        ae_log_debug("forward: %s: %s -> %s", ss->subject, fwd_phase_name[ss->ph],
                     fwd_phase_name[ph]);
    ss->ph = ph;
    ss->phase_since = ae_mono_ns();
}

fsubj *fwd_subject_get(ae_forward *f, const char *s, size_t n, bool create)
{
    fsubj *ss = ae_hmap_get(&f->subjects, s, n);
    if (ss || !create)
        return ss;
    ss = calloc(1, sizeof *ss);
    if (!ss || !(ss->subject = strndup(s, n))) {
        free(ss);
        return NULL;
    }
    ss->len = n;
    int id = -1;
    for (int i = 0; i < f->nids && id < 0; i++) {
        if (!f->by_id[i])
            id = i;
    }
    if (id < 0) {
        if (f->nids == f->capids) {
            int ncap = f->capids ? f->capids * 2 : 16;
            fsubj **nb = realloc(f->by_id, (size_t)ncap * sizeof *nb);
            if (!nb) {
                free(ss->subject);
                free(ss);
                return NULL;
            }
            f->by_id = nb;
            f->capids = ncap;
        }
        id = f->nids++;
    }
    ss->id = id;
    f->by_id[id] = ss;
    ae_pipeline_init(&ss->pl, random_inc);
    ss->pl.gen = (uint32_t)++f->next_op;
    ss->last_activity = ae_mono_ns();
    ae_hmap_put(&f->subjects, ss->subject, ss->len, ss);
    f->nsubjects++;
    return ss;
}

void fwd_subject_free(ae_forward *f, fsubj *ss)
{
    f->held -= ss->pl.bytes;
    f->inflight -= ss->pl.nsent;
    ae_hmap_del(&f->subjects, ss->subject, ss->len);
    f->by_id[ss->id] = NULL;
    f->nsubjects--;
    ae_pipeline_free(&ss->pl);
    ae_walk_free(&ss->walk);
    free(ss->disp);
    free(ss->away);
    free(ss->subject);
    free(ss);
}

/* The note (fwdnote.h): for every known subject, its stream and where a walk starts. */
int fwd_write_note(ae_forward *f, bool urgent, uint64_t *gen)
{
    size_t cap = 1;
    for (int i = 0; i < f->nids; i++)
        cap += f->by_id[i] ? 1 + f->by_id[i]->naway : 0;
    ae_fwdnote_entry *e = calloc(cap, sizeof *e);
    if (!e)
        return AE_ENOMEM;
    size_t n = 0;
    for (int i = 0; i < f->nids; i++) {
        fsubj *ss = f->by_id[i];
        if (!ss)
            continue;
        if (ss->known)
            e[n++] = (ae_fwdnote_entry){.subject = ss->subject,
                                        .subject_len = ss->len,
                                        .domain = f->hub_domain,
                                        .stream = ss->stream,
                                        .retired_seq = ss->pl.retired_seq,
                                        .retired_sseq = ss->pl.retired_sseq};
        for (size_t k = 0; k < ss->naway; k++)
            e[n++] = (ae_fwdnote_entry){.subject = ss->subject,
                                        .subject_len = ss->len,
                                        .domain = ss->away[k].domain,
                                        .stream = ss->away[k].stream,
                                        .retired_seq = ss->away[k].retired_seq,
                                        .retired_sseq = ss->away[k].retired_sseq};
    }
    size_t len = 0;
    uint8_t *b = ae_fwdnote_encode(e, n, &len);
    free(e);
    if (!b)
        return AE_ENOMEM;
    uint64_t g = 0;
    ae_err err = {0};
    int rc = ae_store_set_note(f->st, b, len, urgent, &g, &err);
    free(b);
    if (rc != 0)
        fwd_error(f, "keeping the forwarder's note with the log: %s", err.msg);
    else if (gen)
        *gen = g;
    f->note_dirty = false;
    f->note_at = ae_mono_ns();
    return rc;
}

/* Remembers (or replaces) the subject's note for a domain it leaves. */
static void keep_away(fsubj *ss, const char *domain, const char *stream, uint64_t retired_seq,
                      uint64_t retired_sseq)
{
    fdomain_note *slot = NULL;
    for (size_t k = 0; k < ss->naway && !slot; k++) {
        if (!strcmp(ss->away[k].domain, domain))
            slot = &ss->away[k];
    }
    if (!slot) {
        fdomain_note *n = realloc(ss->away, (ss->naway + 1) * sizeof *n);
        if (!n)
            return; /* the next visit there is a first contact: safe, only slower */
        ss->away = n;
        slot = &ss->away[ss->naway++];
    }
    snprintf(slot->domain, sizeof slot->domain, "%s", domain);
    snprintf(slot->stream, sizeof slot->stream, "%s", stream);
    slot->retired_seq = retired_seq;
    slot->retired_sseq = retired_sseq;
}

/* A subject of the last run's note: it starts uncertain (a crash may have left publishes in
 * flight) and is walked before anything of it is sent. Notes of other domains wait. */
static void note_entry(void *ctx, const ae_fwdnote_entry *e)
{
    ae_forward *f = ctx;
    fsubj *ss = ae_subject_valid_literal(e->subject, e->subject_len)
                    ? fwd_subject_get(f, e->subject, e->subject_len, true)
                    : NULL;
    if (!ss)
        return;
    if (e->domain[0] && strcmp(e->domain, f->hub_domain) != 0) {
        keep_away(ss, e->domain, e->stream, e->retired_seq, e->retired_sseq);
        if (e->retired_seq > ss->pl.retired_seq)
            ss->pl.retired_seq = e->retired_seq;
        return;
    }
    snprintf(ss->stream, sizeof ss->stream, "%s", e->stream);
    if (e->retired_seq > ss->pl.retired_seq)
        ss->pl.retired_seq = e->retired_seq;
    ss->pl.retired_sseq = e->retired_sseq;
    ss->known = true;
    ss->uncertain = true;
}

void fwd_read_note(ae_forward *f)
{
    const void *blob = NULL;
    size_t len = ae_store_note(f->st, &blob);
    ae_fwdnote_decode(blob, len, note_entry, f);
}

void fwd_enter_domain(ae_forward *f, const char *domain)
{
    if (!strcmp(domain, f->hub_domain))
        return;
    ae_log_info("forward: the hub's JetStream domain is %s (was %s): forwarding there", domain,
                f->hub_domain);
    for (int i = 0; i < f->nids; i++) {
        fsubj *ss = f->by_id[i];
        if (!ss)
            continue;
        if (ss->known)
            keep_away(ss, f->hub_domain, ss->stream, ss->pl.retired_seq, ss->pl.retired_sseq);
        ss->known = false;
        ss->uncertain = false;
        ss->stream[0] = 0;
        ss->pl.retired_sseq = 0;
        for (size_t k = 0; k < ss->naway; k++) {
            if (strcmp(ss->away[k].domain, domain) != 0)
                continue;
            /* been there before: walk from where we stood */
            snprintf(ss->stream, sizeof ss->stream, "%s", ss->away[k].stream);
            ss->pl.retired_sseq = ss->away[k].retired_sseq;
            ss->known = true;
            ss->uncertain = true;
            ss->away[k] = ss->away[--ss->naway];
            break;
        }
        if (ss->ph == PH_NOTE)
            fwd_set_phase(ss, PH_IDLE);
    }
    snprintf(f->hub_domain, sizeof f->hub_domain, "%s", domain);
    f->note_dirty = true;
}
