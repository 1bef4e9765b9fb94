/* Local interest advertised to the hub; see interest.h. */
#include "leaf/interest.h"
#include "common/err.h"
#include "leaf/subject.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Local interest advertised to the hub, reference-counted by subject (+ queue). */
typedef struct entry {
    char *key; /* "subject" or "subject queue" */
    size_t key_len;
    char *subject;
    char *queue;
    int count;
    bool sent;
} entry;

void ae_interest_init(ae_interest *in)
{
    memset(in, 0, sizeof *in);
}

static void entry_free(entry *e)
{
    free(e->key);
    free(e->subject);
    free(e->queue);
    free(e);
}

void ae_interest_free(ae_interest *in)
{
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(&in->local, &pos)))
        entry_free(e->val);
    ae_hmap_free(&in->local);
    json_decref(in->import);
    in->import = NULL;
}

static bool list_covers(json_t *list, const char *subj, bool subset)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *p = json_string_value(v);
        if (!p)
            continue;
        bool ok = subset ? ae_subject_subset(subj, strlen(subj), p, strlen(p))
                         : ae_subject_matches(p, strlen(p), subj, strlen(subj));
        if (ok)
            return true;
    }
    return false;
}

bool ae_interest_permitted(json_t *perm, const char *subj)
{
    if (!perm)
        return true;
    bool literal = ae_subject_valid_literal(subj, strlen(subj));
    json_t *allow = json_object_get(perm, "allow");
    json_t *deny = json_object_get(perm, "deny");
    if (json_is_array(allow) && json_array_size(allow) > 0 && !list_covers(allow, subj, !literal))
        return false;
    if (json_is_array(deny) && list_covers(deny, subj, false))
        return false;
    return true;
}

bool ae_interest_hub_denies(const char *subj)
{
    return !strncmp(subj, "$JS.API.", 8) || !strcmp(subj, "$JS.API.>") ||
           !strncmp(subj, "$KV.", 4) || !strncmp(subj, "$OBJ.", 5) || !strcmp(subj, ">");
}

static void emitf(ae_interest_emit emit, void *ctx, const char *fmt, const char *a, const char *b,
                  int n)
{
    char line[4096];
    int len = b ? snprintf(line, sizeof line, fmt, a, b, n) : snprintf(line, sizeof line, fmt, a);
    if (len > 0 && (size_t)len < sizeof line)
        emit(ctx, line, (size_t)len);
}

/* Tells the hub the entry's current state, if the permissions let it through. */
static void advertise(ae_interest *in, entry *e, ae_interest_emit emit, void *ctx)
{
    if (ae_interest_hub_denies(e->subject) || !ae_interest_permitted(in->import, e->subject))
        return;
    if (e->count > 0) {
        if (e->queue)
            emitf(emit, ctx, "LS+ %s %s %d\r\n", e->subject, e->queue, e->count);
        else if (!e->sent)
            emitf(emit, ctx, "LS+ %s\r\n", e->subject, NULL, 0);
        e->sent = true;
    } else if (e->sent) {
        if (e->queue)
            emitf(emit, ctx, "LS- %s %s\r\n", e->subject, e->queue, 0);
        else
            emitf(emit, ctx, "LS- %s\r\n", e->subject, NULL, 0);
        e->sent = false;
    }
}

int ae_interest_change(ae_interest *in, const char *subject, const char *queue, bool added,
                       bool link_up, ae_interest_emit emit, void *ctx)
{
    char key[4096];
    int kn = snprintf(key, sizeof key, "%s%s%s", subject, queue ? " " : "", queue ? queue : "");
    if (kn <= 0 || (size_t)kn >= sizeof key)
        return AE_EINVAL;
    entry *e = ae_hmap_get(&in->local, key, (size_t)kn);
    if (!e) {
        if (!added)
            return 0;
        e = calloc(1, sizeof *e);
        if (!e || !(e->key = strndup(key, (size_t)kn)) || !(e->subject = strdup(subject)) ||
            (queue && !(e->queue = strdup(queue))) ||
            ae_hmap_put(&in->local, e->key, (size_t)kn, e) != 0) {
            if (e)
                entry_free(e);
            return AE_ENOMEM;
        }
        e->key_len = (size_t)kn;
    }
    e->count += added ? 1 : -1;
    /* Plain interest changes the hub's view only on 0<->1; queue weights on every change. */
    if (link_up && (e->queue || e->count == 0 || (added && e->count == 1)))
        advertise(in, e, emit, ctx);
    if (e->count <= 0) {
        ae_hmap_del(&in->local, e->key, e->key_len);
        entry_free(e);
    }
    return 0;
}

void ae_interest_connected(ae_interest *in, json_t *import, ae_interest_emit emit, void *ctx)
{
    json_decref(in->import);
    in->import = json_incref(import);
    size_t pos = 0;
    ae_hmap_ent *he;
    while ((he = ae_hmap_next(&in->local, &pos))) {
        entry *e = he->val;
        e->sent = false;
        advertise(in, e, emit, ctx);
    }
}

void ae_interest_disconnected(ae_interest *in)
{
    size_t pos = 0;
    ae_hmap_ent *he;
    while ((he = ae_hmap_next(&in->local, &pos)))
        ((entry *)he->val)->sent = false;
    json_decref(in->import);
    in->import = NULL;
}
