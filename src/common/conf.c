/* The nats-server configuration syntax, read into a tree of ae_conf_node (see conf.h).
 *
 * The grammar follows nats-server's conf/lex.go and conf/parse.go (2.9.10) closely so that
 * an operator's nats-server knowledge carries over, and so that what we accept for keys
 * nats-server knows, it accepts too. Where nats-server's lexer has corner cases that
 * silently produce odd results (a key with no value, `port:` followed by a value on the
 * next line inside a map, a quoted string running over many lines, an integer with an
 * unknown suffix), we report an error naming the line instead: a drone that reads a
 * surprising value is worse than one that refuses to start.
 *
 * Deliberate differences from nats-server, all documented in docs/configuration.md:
 *   - quoted strings end on their line (multi-line text goes in a `( ... )` block);
 *   - "\uXXXX" escapes are accepted in double-quoted strings (nats-server has only \xXX);
 *   - `[1,2]` is accepted (2.9.10 rejects an integer directly followed by `]`);
 *   - bare tokens that nats-server rejects as malformed numbers (`1.5GB`, `-x`) are strings.
 *
 * Structure: one recursive-descent parser over a byte buffer. Every map, array and include
 * gets its own C stack frame, so the nesting limit (AE_CONF_MAX_DEPTH, counted across includes
 * and variable substitution) also bounds the recursion. A per-parse budget bounds the node
 * count and the bytes held, so variable substitution cannot blow up ("billion laughs"). */
#include "common/conf_base.h"
#include "common/conf_scalar.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- values ------------------------------------------------------------------------------ */

static int parse_map_body(parser *p, builder *b, int open_line, const char *what, bool top);
static int parse_value(parser *p, const char *key, int line, ae_conf_node **out);

/* Copies `src` (a value found through a $variable) for use at the current place. The copy
 * is placed at depth p->depth + 1 when it is a container; its own line and file stay
 * with the parts it copies, so messages about them point at where they were written. */
static int copy_tree(parser *p, const ae_conf_node *src, int depth, int line, ae_conf_node **out)
{
    if ((src->type == AE_CONF_MAP || src->type == AE_CONF_ARRAY) && depth > MAX_DEPTH)
        return SYNTAX(p, line,
                      "maps and arrays are nested more than %d deep (after variable "
                      "substitution)",
                      MAX_DEPTH);
    ae_conf_node *n;
    int rc = conf_new_node(p, src->type, src->line, &n);
    if (rc)
        return rc;
    n->file = src->file;
    n->i = src->i;
    n->f = src->f;
    n->b = src->b;
    if (src->key && (rc = conf_dup_mem(p, src->key, strlen(src->key), &n->key)))
        goto fail;
    if (src->str && (rc = conf_dup_mem(p, src->str, strlen(src->str), &n->str)))
        goto fail;
    builder b = {n, NULL};
    for (const ae_conf_node *c = src->child; c; c = c->next) {
        ae_conf_node *cc;
        if ((rc = copy_tree(p, c, depth + 1, line, &cc)))
            goto fail;
        conf_append(&b, cc);
    }
    *out = n;
    return 0;
fail:
    conf_free_nodes(n);
    return rc;
}

/* The last entry named `name` (exactly, as nats-server compares) in the open maps,
 * innermost first. Entries still being parsed are not yet in their map, so `a: $a` looks
 * outward, as in nats-server. */
static const ae_conf_node *find_var(const parser *p, const char *name)
{
    for (int i = p->nscopes - 1; i >= 0; i--) {
        const ae_conf_node *found = NULL;
        for (const ae_conf_node *c = p->scopes[i]->child; c; c = c->next)
            if (c->key && !strcmp(c->key, name))
                found = c;
        if (found)
            return found;
    }
    return NULL;
}

static int parse_text(parser *p, ae_conf_node *into, bool top);

/* The value of environment variable `name`, read as a config value (so PORT=4222 gives an
 * integer and SUBJECTS=[a, b] an array), as nats-server does. An empty variable is "". */
static int env_value(parser *p, const char *name, const char *text, int line, ae_conf_node **out)
{
    shared *sh = p->sh;
    for (int i = 0; i < sh->nenv; i++)
        if (!strcmp(sh->envstack[i], name))
            return SYNTAX(p, line, "environment variable \"%s\" refers to itself", name);
    if (sh->nenv >= MAX_ENV_NEST)
        return SYNTAX(p, line, "environment variables refer to each other more than %d deep",
                      MAX_ENV_NEST);
    size_t len = strlen(text);
    if (len > MAX_FILE_BYTES)
        return SYNTAX(p, line, "environment variable \"%s\" is longer than %u MiB", name,
                      MAX_FILE_BYTES >> 20);
    parser e = *p;
    e.src = text;
    e.len = len;
    e.pos = 0;
    e.bol = 0;
    e.line = 1;
    e.envvar = name;
    e.envline = line;
    e.nscopes = 0; /* only the environment and the value's own maps are visible */
    sh->envstack[sh->nenv++] = name;
    int rc = 0;
    skip_all(&e);
    if (e.pos >= e.len) {
        if ((rc = conf_new_node(p, AE_CONF_STRING, line, out)) == 0 &&
            (rc = conf_dup_mem(p, "", 0, &(*out)->str)) != 0) {
            conf_free_nodes(*out);
            *out = NULL;
        }
    } else if ((rc = parse_value(&e, name, line, out)) == 0) {
        skip_all(&e);
        if (e.pos < e.len) {
            char sb[16];
            rc = SYNTAX(&e, line, "unexpected %s after the value",
                        conf_show_char(&e, e.pos, sb, sizeof sb));
            conf_free_nodes(*out);
            *out = NULL;
        } else {
            (*out)->line = line;
            (*out)->file = p->file;
        }
    }
    sh->nenv--;
    return rc;
}

static bool is_bcrypt(const char *name)
{
    /* bcrypt hashes start with $2a$ (nats-server special-cases it) or $2b$/$2y$; they are
     * passwords, not variable references. */
    return name[0] == '2' && (name[1] == 'a' || name[1] == 'b' || name[1] == 'y') && name[2] == '$';
}

static int variable(parser *p, const char *name, int line, int col, ae_conf_node **out)
{
    if (!*name)
        return SYNTAX(p, line, "\"$\" at column %d must be followed by a variable name", col);
    const ae_conf_node *def = find_var(p, name);
    if (def) {
        int rc = copy_tree(p, def, p->depth + 1, line, out);
        if (rc)
            return rc;
        free((*out)->key);
        (*out)->key = NULL;
        (*out)->line = line;
        (*out)->file = p->file;
        return 0;
    }
    const char *env = getenv(name);
    if (env)
        return env_value(p, name, env, line, out);
    char cb[64];
    return SYNTAX(p, line,
                  "variable \"$%s\" is not defined (set it earlier in this file or in the "
                  "environment)",
                  conf_clip(name, cb, sizeof cb));
}

/* An unquoted value: a boolean, an integer (with size suffix), a float, a $variable, or a
 * string. Backslash escapes are decoded here too, as nats-server does. */
static int bare(parser *p, int line, ae_conf_node **out)
{
    sbuf b = {0};
    int col = col_of(p, p->pos), rc = 0;
    bool escaped = false;
    while (!conf_bare_end(peek(p))) {
        if (peek(p) == '\\') {
            escaped = true;
            rc = conf_escape(p, &b);
        } else {
            size_t start = p->pos;
            while (!conf_bare_end(peek(p)) && peek(p) != '\\')
                adv(p);
            rc = conf_sb_put(p, &b, p->src + start, p->pos - start);
        }
        if (rc)
            goto done;
    }
    const char *s = b.d ? b.d : "";
    int64_t iv = 0;
    int bv = -1;
    ae_conf_type t = AE_CONF_STRING;
    if (!escaped) {
        if (s[0] == '$' && !is_bcrypt(s + 1)) {
            rc = variable(p, s + 1, line, col, out);
            goto done;
        }
        if ((bv = conf_as_bool(s)) >= 0)
            t = AE_CONF_BOOL;
        else if ((rc = conf_as_integer(p, line, s, &iv)) < 0)
            goto done;
        else if (rc == 1)
            t = AE_CONF_INT;
        else if (conf_as_float(s))
            t = AE_CONF_FLOAT;
        rc = 0;
    }
    if ((rc = conf_new_node(p, t, line, out)))
        goto done;
    if ((rc = conf_dup_mem(p, s, strlen(s), &(*out)->str))) {
        conf_free_nodes(*out);
        *out = NULL;
        goto done;
    }
    if (t == AE_CONF_BOOL)
        (*out)->b = bv == 1;
    else if (t == AE_CONF_INT)
        (*out)->i = iv;
    else if (t == AE_CONF_FLOAT) {
        errno = 0;
        (*out)->f = strtod(s, NULL);
        if (errno == ERANGE) {
            char cb[48];
            rc = SYNTAX(p, line, "number \"%s\" is out of range", conf_clip(s, cb, sizeof cb));
            conf_free_nodes(*out);
            *out = NULL;
        }
    }
done:
    free(b.d);
    return rc;
}

static int enter(parser *p, int line)
{
    if (p->depth + 1 > MAX_DEPTH)
        return SYNTAX(p, line, "maps and arrays are nested more than %d deep", MAX_DEPTH);
    p->depth++;
    return 0;
}

static int parse_array(parser *p, const char *key, int line, ae_conf_node *arr)
{
    builder b = {arr, NULL};
    char kb[48], sb[16];
    adv(p); /* '[' */
    for (;;) {
        skip_all(p);
        int c = peek(p);
        if (c < 0)
            return SYNTAX(p, line, "array%s%s%s opened with \"[\" is never closed (missing \"]\")",
                          key ? " \"" : "", key ? conf_clip(key, kb, sizeof kb) : "",
                          key ? "\"" : "");
        if (c == ']') {
            adv(p);
            return 0;
        }
        if (c == ',' || c == ';' || c == '}')
            return SYNTAX(p, p->line, "unexpected %s in an array where a value was expected",
                          conf_show_char(p, p->pos, sb, sizeof sb));
        ae_conf_node *v;
        int rc = parse_value(p, key, p->line, &v);
        if (rc)
            return rc;
        conf_append(&b, v);
        skip_ws(p);
        c = peek(p);
        if (c == ',' || is_nl(c))
            adv(p);
        else if (c == ']' || c < 0 || at_comment(p))
            ; /* handled at the top of the loop */
        else
            return SYNTAX(p, p->line,
                          "expected \",\" or \"]\" after an array element, found %s at column %d",
                          conf_show_char(p, p->pos, sb, sizeof sb), col_of(p, p->pos));
    }
}

/* Parses the value starting at p->pos (the caller checked one is there) into *out, with
 * `line` as its line. `key` names the entry in messages (NULL inside arrays). */
static int parse_value(parser *p, const char *key, int line, ae_conf_node **out)
{
    int c = peek(p), rc;
    *out = NULL;
    if (c == '{' || c == '[') {
        if ((rc = enter(p, p->line)))
            return rc;
        if ((rc = conf_new_node(p, c == '{' ? AE_CONF_MAP : AE_CONF_ARRAY, line, out)) == 0) {
            if (c == '[') {
                rc = parse_array(p, key, p->line, *out);
            } else {
                builder b = {*out, NULL};
                int open = p->line;
                adv(p);
                p->scopes[p->nscopes++] = *out;
                rc = parse_map_body(p, &b, open, key, false);
                p->nscopes--;
            }
            if (rc) {
                conf_free_nodes(*out);
                *out = NULL;
            }
        }
        p->depth--;
        return rc;
    }
    if (c == '"' || c == '\'' || c == '(') {
        sbuf b = {0};
        rc = c == '(' ? conf_block(p, &b) : conf_quoted(p, &b, "string");
        if (rc == 0 && (rc = conf_charge(p, b.n + 1)) == 0 &&
            (rc = conf_new_node(p, AE_CONF_STRING, line, out)) == 0) {
            (*out)->str = b.d;
            return 0;
        }
        free(b.d);
        return rc;
    }
    return bare(p, line, out);
}

/* ---- entries, includes and files --------------------------------------------------------- */

static bool key_end(int c)
{
    return c < 0 || is_ws(c) || is_nl(c) || c == ':' || c == '=' || c == '{' || c == '}' ||
           c == '[' || c == ']' || c == ',' || c == ';' || c == '"' || c == '\'';
}

/* True if a value can start here: not a line end, separator, closer or comment. `#` and
 * `//` glued to text start a bare string in nats-server (`password: #secret#`), so only
 * a `#` or `//` followed by a blank or the line end counts as a comment here. */
static bool value_here(const parser *p)
{
    int c = peek(p);
    if (c < 0 || is_nl(c) || c == ',' || c == ';' || c == '}' || c == ']')
        return false;
    size_t skip = c == '#' ? 1 : (c == '/' && peek_at(p, 1) == '/') ? 2 : 0;
    if (skip) {
        int after = peek_at(p, skip);
        if (after < 0 || is_ws(after) || is_nl(after))
            return false;
    }
    return true;
}

static int read_whole(const char *path, size_t limit, char **out, size_t *len, int *err_no,
                      bool *too_big)
{
    *too_big = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err_no = errno;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        *err_no = EISDIR;
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            close(fd);
            *err_no = ENOMEM;
            return -1;
        }
        if (n == cap) {
            if (cap > limit) {
                free(buf);
                close(fd);
                *too_big = true;
                return -1;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                free(buf);
            buf = nb;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err_no = errno;
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > limit) {
        free(buf);
        *too_big = true;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Reads the file `path` (shown as `shown`) and parses it as a whole config into `into`.
 * `from` is the including parser (NULL for the top file), for messages and depth. */
static int parse_path(shared *sh, parser *from, const char *path, int line, int depth,
                      ae_conf_node *into)
{
    char *text = NULL;
    size_t len = 0;
    int eno = 0;
    bool too_big;
    if (read_whole(path, MAX_FILE_BYTES, &text, &len, &eno, &too_big) < 0) {
        if (too_big) {
            if (from)
                return SYNTAX(from, line, "included file \"%s\" is larger than %u MiB", path,
                              MAX_FILE_BYTES >> 20);
            return ae_err_set(sh->err, AE_EINVAL, "%s: the file is larger than %u MiB", path,
                              MAX_FILE_BYTES >> 20);
        }
        if (eno == ENOMEM)
            return ae_err_set(sh->err, AE_ENOMEM, "out of memory reading %s", path);
        if (from)
            return conf_report(from, AE_EIO, line, "cannot read included file \"%s\": %s", path,
                               strerror(eno));
        return ae_err_set(sh->err, AE_EIO, "cannot read config file %s: %s", path, strerror(eno));
    }
    int rc = 0;
    const char *name = conf_add_name(sh, path);
    char *dircopy = strdup(path);
    if (!name || !dircopy) {
        rc = ae_err_set(sh->err, AE_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    char *slash = strrchr(dircopy, '/');
    if (slash == dircopy)
        slash[1] = '\0'; /* "/x.conf": the root directory */
    else if (slash)
        *slash = '\0';
    parser q = {.sh = sh,
                .src = text,
                .len = len,
                .line = 1,
                .file = name,
                .dir = slash ? dircopy : NULL,
                .depth = depth};
    if (from && from->sh->bytes + len > MAX_TOTAL_BYTES) {
        rc = SYNTAX(from, line, "configuration too large: more than %u MiB read in all",
                    MAX_TOTAL_BYTES >> 20);
        goto out;
    }
    sh->bytes += len;
    into->file = name;
    rc = parse_text(&q, into, true);
out:
    free(dircopy);
    free(text);
    return rc;
}

/* `include path`: parses the file (relative to the including file's directory) on its own
 * (it does not see this file's variables, as in nats-server) and appends its entries to
 * the map being filled, where later entries of this file can refer to them. */
static int include(parser *p, builder *b, int line)
{
    shared *sh = p->sh;
    sbuf path = {0};
    int rc = 0, c = peek(p);
    char pb[64];
    if (c == '"' || c == '\'') {
        size_t start = p->pos + 1;
        int q = c, col = col_of(p, p->pos);
        adv(p);
        while (p->pos < p->len && peek(p) != q && !is_nl(peek(p)))
            adv(p);
        if (peek(p) != q)
            return SYNTAX(p, line, "unterminated include file name starting at column %d", col);
        rc = conf_sb_put(p, &path, p->src + start, p->pos - start);
        adv(p);
    } else {
        size_t start = p->pos;
        while (!conf_bare_end(peek(p)))
            adv(p);
        rc = conf_sb_put(p, &path, p->src + start, p->pos - start);
    }
    if (rc)
        goto out;
    if (path.n == 0) {
        rc = SYNTAX(p, line, "include needs a file name");
        goto out;
    }
    if (memchr(path.d, '\0', path.n)) {
        rc = SYNTAX(p, line, "include file name contains a NUL byte");
        goto out;
    }
    if (!sh->allow_include) {
        rc = SYNTAX(p, line, "include \"%s\": includes are not allowed here",
                    conf_clip(path.d, pb, sizeof pb));
        goto out;
    }
    if (p->envvar) {
        rc = SYNTAX(p, line, "include is not allowed in an environment variable");
        goto out;
    }
    if (++sh->includes > MAX_INCLUDES) {
        rc = SYNTAX(p, line, "more than %d include statements", MAX_INCLUDES);
        goto out;
    }
    if (sh->ninc >= MAX_INCLUDE_NEST) {
        rc = SYNTAX(p, line, "includes are nested more than %d deep", MAX_INCLUDE_NEST);
        goto out;
    }
    char *full = NULL;
    if (path.d[0] == '/' || !p->dir) {
        full = strdup(path.d);
    } else if (asprintf(&full, "%s/%s", p->dir, path.d) < 0) {
        full = NULL;
    }
    if (!full) {
        rc = conf_report(p, AE_ENOMEM, line, "out of memory");
        goto out;
    }
    char *real = realpath(full, NULL);
    if (!real) {
        rc = conf_report(p, AE_EIO, line, "cannot read included file \"%s\": %s", full,
                         strerror(errno));
        free(full);
        goto out;
    }
    for (int i = 0; i < sh->ninc; i++) {
        if (!strcmp(sh->incstack[i], real)) {
            rc = SYNTAX(p, line, "include cycle: \"%s\" is already being read", full);
            free(real);
            free(full);
            goto out;
        }
    }
    ae_conf_node tmp = {.type = AE_CONF_MAP};
    sh->incstack[sh->ninc++] = real;
    rc = parse_path(sh, p, full, line, p->depth, &tmp);
    free(sh->incstack[--sh->ninc]);
    free(full);
    if (rc)
        conf_free_nodes(tmp.child);
    else if (tmp.child)
        conf_append(b, tmp.child);
out:
    free(path.d);
    return rc;
}

/* What may follow an entry: a separator, a comment, the closing brace or the end. */
static int entry_end(parser *p, const char *what)
{
    char sb[16], kb[64];
    skip_ws(p);
    int c = peek(p);
    if (c == ',' || c == ';' || is_nl(c)) {
        adv(p);
        return 0;
    }
    if (c < 0 || c == '}' || at_comment(p))
        return 0;
    return SYNTAX(p, p->line,
                  "unexpected %s at column %d after the value of \"%s\" (put one setting per "
                  "line, or separate them with \",\" or \";\")",
                  conf_show_char(p, p->pos, sb, sizeof sb), col_of(p, p->pos),
                  conf_clip(what, kb, sizeof kb));
}

/* One `key [:|=] value` entry (or an include) of the map `b`. */
static int entry(parser *p, builder *b)
{
    int line = cur_line(p), c = peek(p), rc;
    char sb[16], kb[64];
    sbuf key = {0};
    bool quoted_key = c == '"' || c == '\'';
    if (quoted_key) {
        if ((rc = conf_quoted(p, &key, "quoted key")))
            goto out;
        if (key.n != strlen(key.d)) {
            rc = SYNTAX(p, line, "key contains a NUL byte");
            goto out;
        }
    } else {
        size_t start = p->pos;
        while (!key_end(peek(p)))
            adv(p);
        if (p->pos == start) {
            rc = SYNTAX(p, line, "expected a key, found %s at column %d",
                        conf_show_char(p, p->pos, sb, sizeof sb), col_of(p, p->pos));
            goto out;
        }
        if ((rc = conf_sb_put(p, &key, p->src + start, p->pos - start)))
            goto out;
        if (key.n == 7 && !strcasecmp(key.d, "include") && is_ws(peek(p))) {
            skip_ws(p);
            if (peek(p) != ':' && peek(p) != '=' && value_here(p)) {
                if ((rc = include(p, b, line)) == 0)
                    rc = entry_end(p, "include");
                goto out;
            }
        }
    }
    skip_ws(p);
    c = peek(p);
    char sep[2] = {0};
    if (c == ':' || c == '=') {
        sep[0] = (char)c;
        adv(p);
        skip_ws(p);
    } else if (is_nl(c)) {
        /* `cluster` then `{` on the next line, brace style as in C */
        size_t save_pos = p->pos, save_bol = p->bol;
        int save_line = p->line;
        while (is_ws(peek(p)) || is_nl(peek(p)))
            adv(p);
        if (peek(p) != '{') {
            p->pos = save_pos;
            p->bol = save_bol;
            p->line = save_line;
        }
    }
    if (!value_here(p)) {
        rc = SYNTAX(p, line, "expected a value after \"%s%s\"", conf_clip(key.d, kb, sizeof kb),
                    sep);
        goto out;
    }
    ae_conf_node *v;
    if ((rc = parse_value(p, key.d, line, &v)))
        goto out;
    v->key = key.d;
    v->line = line;
    key.d = NULL;
    conf_append(b, v);
    rc = entry_end(p, v->key);
out:
    free(key.d);
    return rc;
}

/* The entries of a map up to its `}` (or, for the top level, the end of the input). A
 * file may wrap its whole content in one pair of braces, as JSON would. */
static int parse_map_body(parser *p, builder *b, int open_line, const char *what, bool top)
{
    bool closing = !top, braced = false;
    char sb[16], kb[48];
    for (;;) {
        skip_all(p);
        int c = peek(p);
        if (c < 0) {
            if (!closing)
                return 0;
            if (braced)
                return SYNTAX(p, open_line,
                              "\"{\" that opens the file is never closed "
                              "(missing \"}\")");
            return SYNTAX(
                p, open_line, "map%s%s%s opened with \"{\" is never closed (missing \"}\")",
                what ? " \"" : "", what ? conf_clip(what, kb, sizeof kb) : "", what ? "\"" : "");
        }
        if (c == '}' && closing) {
            adv(p);
            if (!braced)
                return 0;
            skip_all(p);
            if (p->pos < p->len)
                return SYNTAX(p, p->line, "unexpected %s after the \"}\" that closes the file",
                              conf_show_char(p, p->pos, sb, sizeof sb));
            return 0;
        }
        if (c == '{' && top && !braced && !b->node->child) {
            braced = closing = true;
            open_line = p->line;
            adv(p);
            continue;
        }
        if (c == '}' || c == ']' || c == ',' || c == ';' || c == '{' || c == '[')
            return SYNTAX(p, p->line, "unexpected %s at column %d where a key was expected",
                          conf_show_char(p, p->pos, sb, sizeof sb), col_of(p, p->pos));
        int rc = entry(p, b);
        if (rc)
            return rc;
    }
}

/* Parses a whole file's text into the map `into`. */
static int parse_text(parser *p, ae_conf_node *into, bool top)
{
    const char *nul = memchr(p->src, '\0', p->len);
    if (nul) {
        int line = 1;
        for (const char *q = p->src; q < nul; q++)
            line += *q == '\n';
        return SYNTAX(p, line, "NUL byte in the configuration text (is this a text file?)");
    }
    builder b = {into, NULL};
    p->scopes[0] = into;
    p->nscopes = 1;
    return parse_map_body(p, &b, 1, NULL, top);
}

/* ---- public ------------------------------------------------------------------------------- */

static conf_root *new_root(shared *sh, ae_err *err, bool allow_include)
{
    conf_root *r = calloc(1, sizeof *r);
    memset(sh, 0, sizeof *sh);
    sh->root = r;
    sh->err = err;
    sh->allow_include = allow_include;
    if (r)
        r->node.type = AE_CONF_MAP;
    return r;
}

static void finish_shared(shared *sh)
{
    for (int i = 0; i < sh->ninc; i++)
        free(sh->incstack[i]);
}

int ae_conf_parse_file(const char *path, ae_conf_node **out, ae_err *err)
{
    *out = NULL;
    if (!path)
        return ae_err_set(err, AE_EINVAL, "ae_conf_parse_file: no path given");
    shared sh;
    conf_root *r = new_root(&sh, err, true);
    if (!r)
        return ae_err_set(err, AE_ENOMEM, "out of memory reading %s", path);
    r->node.line = 1;
    /* the top file is on the include stack so that including it again is a cycle */
    char *real = realpath(path, NULL);
    if (real)
        sh.incstack[sh.ninc++] = real;
    int rc = parse_path(&sh, NULL, path, 0, 0, &r->node);
    finish_shared(&sh);
    if (rc) {
        ae_conf_free(&r->node);
        return rc;
    }
    *out = &r->node;
    return 0;
}

static int parse_string(const char *text, size_t len, const char *name, ae_conf_node **out,
                        ae_err *err, bool allow_include)
{
    *out = NULL;
    const char *shown = name ? name : "<string>";
    if (!text && len)
        return ae_err_set(err, AE_EINVAL, "%s: no text given", shown);
    if (len > MAX_FILE_BYTES)
        return ae_err_set(err, AE_EINVAL, "%s: the text is larger than %u MiB", shown,
                          MAX_FILE_BYTES >> 20);
    shared sh;
    conf_root *r = new_root(&sh, err, allow_include);
    const char *fname = r ? conf_add_name(&sh, shown) : NULL;
    char *dir = NULL;
    if (!fname) {
        ae_conf_free(r ? &r->node : NULL);
        return ae_err_set(err, AE_ENOMEM, "out of memory parsing %s", shown);
    }
    if (name && strchr(name, '/')) {
        dir = strdup(name);
        if (!dir) {
            ae_conf_free(&r->node);
            return ae_err_set(err, AE_ENOMEM, "out of memory parsing %s", shown);
        }
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    r->node.file = fname;
    r->node.line = 1;
    sh.bytes = len;
    parser p = {
        .sh = &sh, .src = text ? text : "", .len = len, .line = 1, .file = fname, .dir = dir};
    int rc = parse_text(&p, &r->node, true);
    finish_shared(&sh);
    free(dir);
    if (rc) {
        ae_conf_free(&r->node);
        return rc;
    }
    *out = &r->node;
    return 0;
}

int ae_conf_parse_string(const char *text, size_t len, const char *name, ae_conf_node **out,
                         ae_err *err)
{
    return parse_string(text, len, name, out, err, true);
}

int ae_conf_parse_string_noinclude(const char *text, size_t len, const char *name,
                                   ae_conf_node **out, ae_err *err)
{
    return parse_string(text, len, name, out, err, false);
}

const ae_conf_node *ae_conf_get(const ae_conf_node *map, const char *key)
{
    if (!map || map->type != AE_CONF_MAP || !key)
        return NULL;
    const ae_conf_node *found = NULL;
    for (const ae_conf_node *c = map->child; c; c = c->next)
        if (c->key && !strcasecmp(c->key, key))
            found = c;
    return found;
}

const char *ae_conf_type_name(ae_conf_type t)
{
    switch (t) {
    case AE_CONF_MAP:
        return "map";
    case AE_CONF_ARRAY:
        return "array";
    case AE_CONF_STRING:
        return "string";
    case AE_CONF_INT:
        return "integer";
    case AE_CONF_FLOAT:
        return "number";
    case AE_CONF_BOOL:
        return "boolean";
    }
    return "value";
}
