/* Identifiers that become subject tokens, file names and config names: vehicle ids, env
 * names, JetStream domains and stream names, region and hub node names, command names.
 *
 * The one rule (docs/subjects.md): 1 to AE_IDENT_MAX characters of A-Z a-z 0-9 '_' '-'. No
 * dot, wildcard or space, so an identifier is always exactly one subject token; no '/', so
 * it is safe in a path; no quote or backslash, so it is safe inside a quoted config string. */
#ifndef AERIE_COMMON_IDENT_H
#define AERIE_COMMON_IDENT_H

#include <stdbool.h>
#include <stddef.h>

#define AE_IDENT_MAX 128

/* True when s (may be NULL) is one identifier. */
bool ae_ident_valid(const char *s);

/* True when s is one or more identifiers separated by single commas ("hub-eu,hub-us"). */
bool ae_ident_list_valid(const char *s);

#endif
