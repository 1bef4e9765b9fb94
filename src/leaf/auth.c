/* Client authentication; see auth.h. */
#include "leaf/auth.h"
#include "leaf/tls.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

bool ae_auth_required(const ae_opts *o)
{
    return o->user || o->token || o->nusers > 0;
}

/* Constant-time comparison so a password's length and prefix do not leak through timing. */
static bool secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

/* "CN=a, O=b" and "O=b,CN=a" name the same subject: compare the sets of RDNs, attribute
 * types without case, as nats-server's RDNsMatch does for reordered DNs. */
static bool dn_equal_unordered(const char *a, const char *b)
{
    char ca[1024], cb[1024];
    if (strlen(a) >= sizeof ca || strlen(b) >= sizeof cb || !strchr(a, '=') || !strchr(b, '='))
        return false;
    strcpy(ca, a);
    strcpy(cb, b);
    int na = 0, nb = 0;
    char *ra[32], *rb[32], *save;
    for (char *t = strtok_r(ca, ",", &save); t && na < 32; t = strtok_r(NULL, ",", &save))
        ra[na++] = t + strspn(t, " ");
    for (char *t = strtok_r(cb, ",", &save); t && nb < 32; t = strtok_r(NULL, ",", &save))
        rb[nb++] = t + strspn(t, " ");
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++) {
        bool found = false;
        const char *eqa = strchr(ra[i], '=');
        for (int j = 0; j < nb && !found && eqa; j++) {
            const char *eqb = strchr(rb[j], '=');
            found = eqb && eqb - rb[j] == eqa - ra[i] &&
                    strncasecmp(ra[i], rb[j], (size_t)(eqa - ra[i])) == 0 && strcmp(eqa, eqb) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

typedef struct map_search {
    const ae_opts *o;
    const ae_user *found;
} map_search;

static bool match_cert_name(void *ctx, const char *name)
{
    map_search *m = ctx;
    for (int i = 0; i < m->o->nusers; i++) {
        const char *u = m->o->users[i].user;
        if (m->o->users[i].not_on_client_port)
            continue;
        if (strcmp(u, name) == 0 || dn_equal_unordered(u, name)) {
            m->found = &m->o->users[i];
            return true;
        }
    }
    return false;
}

bool ae_auth_check(const ae_opts *o, json_t *connect, const ae_tls *tls, const ae_user **user)
{
    *user = NULL;
    if (!ae_auth_required(o))
        return true;
    const char *name = json_string_value(json_object_get(connect, "user"));
    const char *pass = json_string_value(json_object_get(connect, "pass"));
    const char *token = json_string_value(json_object_get(connect, "auth_token"));
    if (o->token)
        return secret_eq(token, o->token);
    if (o->nusers > 0 && o->tls_map) {
        /* The certificate names the user; what CONNECT says about users is ignored. */
        map_search m = {.o = o};
        if (!tls || !ae_tls_peer_names(tls, match_cert_name, &m))
            return false;
        *user = m.found;
        return true;
    }
    if (o->user && name && strcmp(name, o->user) == 0)
        return secret_eq(pass, o->password);
    for (int i = 0; i < o->nusers; i++) {
        if (name && strcmp(name, o->users[i].user) == 0) {
            if (o->users[i].not_on_client_port)
                return false;
            if (!secret_eq(pass, o->users[i].password ? o->users[i].password : ""))
                return false;
            *user = &o->users[i];
            return true;
        }
    }
    return false;
}
