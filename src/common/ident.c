/* The identifier rule of ident.h. */
#include "common/ident.h"

#include <string.h>

static bool ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* Length of the identifier at s up to `end` (any char outside the set), or 0 when invalid. */
static size_t ident_span(const char *s, char end)
{
    size_t n = 0;
    while (s[n] && s[n] != end) {
        if (!ident_char(s[n]))
            return 0;
        n++;
    }
    return n <= AE_IDENT_MAX ? n : 0;
}

bool ae_ident_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = ident_span(s, 0);
    return n > 0 && s[n] == 0;
}

bool ae_ident_list_valid(const char *s)
{
    if (!s || !*s)
        return false;
    for (;;) {
        size_t n = ident_span(s, ',');
        if (n == 0)
            return false;
        if (s[n] == 0)
            return true;
        s += n + 1; /* past the comma: an empty item or a trailing comma fails above */
    }
}
