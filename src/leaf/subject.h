/* Subject rules: validity and wildcard matching, byte-wise as nats-server does.
 * A token is the text between dots; `*` and `>` are wildcards only as a whole token,
 * `>` only last. Space, tab, CR, LF and form-feed never appear in a subject. */
#ifndef AERIE_LEAF_SUBJECT_H
#define AERIE_LEAF_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* Valid for SUB: non-empty tokens, wildcards allowed as whole tokens, `>` last. */
bool ae_subject_valid(const char *s, size_t n);
/* Valid and without wildcard tokens: a subject one may publish to. */
bool ae_subject_valid_literal(const char *s, size_t n);
/* True if the literal subject `subj` is matched by the (possibly wildcard) `pattern`. */
bool ae_subject_matches(const char *pattern, size_t plen, const char *subj, size_t slen);
/* True if every subject matched by `inner` is also matched by `outer` (both may have
 * wildcards); used to filter interest through permissions. */
bool ae_subject_subset(const char *inner, size_t ilen, const char *outer, size_t olen);

#endif
