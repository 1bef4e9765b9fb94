/* Scalar literals of the configuration syntax, for conf.c: quoted and block strings with
 * their escapes, and the typing of bare values. */
#ifndef AERIE_COMMON_CONF_SCALAR_H
#define AERIE_COMMON_CONF_SCALAR_H

#include "common/conf_base.h"

/* A backslash escape into b; p->pos is at the backslash. */
int conf_escape(parser *p, sbuf *b);
/* A quoted string into b; p->pos is at the opening quote (what names it in messages). */
int conf_quoted(parser *p, sbuf *b, const char *what);
/* A block string `( ... )` into b; p->pos is at the "(". */
int conf_block(parser *p, sbuf *b);
/* Whether c ends a bare (unquoted) value. */
bool conf_bare_end(int c);
/* 1 with *v when s is an integer (size suffixes applied), 0 when it is not, or an error
 * when it is out of range. */
int conf_as_integer(parser *p, int line, const char *s, int64_t *v);
bool conf_as_float(const char *s);
/* 1 for true/yes/on, 0 for false/no/off (any case), -1 for anything else. */
int conf_as_bool(const char *s);

#endif
