/* Tests for the nats-server config syntax parser (src/common/conf.c).
 *
 * Every syntax form, the configurations Aerie's programs and hubs actually use, exact
 * "FILE:LINE: message" errors, includes written to a temporary directory, variables from
 * the environment, the limits (nesting, size, substitution blow-up), and a compatibility
 * check that runs the real nats-server (`nats-server -t -c FILE`) on the same files: for
 * configs made only of keys nats-server knows, it must accept what we accept and reject
 * what we reject.
 *
 * The seed hub example is the YAML sketch from the project brief, rewritten in nats syntax
 * (the brief's YAML is not nats syntax); the hub and leaf configs are those of
 * nats-wire-notes section 2.1 (verified there against nats-server 2.9.10). */
#include "common/conf.h"
#include "harness/harness.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------- */

static ae_conf_node *parse_ok(const char *text)
{
    ae_err e = {0};
    ae_conf_node *r = NULL;
    int rc = ae_conf_parse_string(text, strlen(text), "t.conf", &r, &e);
    AH_ASSERT_MSG(rc == 0 && r, "parse failed (%d): %s\n--- text:\n%s", rc, e.msg, text);
    AH_ASSERT_EQ_INT(r->type, AE_CONF_MAP);
    return r;
}

/* Parses `text` as "leaf.conf", expects failure with exactly `msg`. */
static void parse_err(const char *text, const char *msg)
{
    ae_err e = {0};
    ae_conf_node *r = (ae_conf_node *)1;
    int rc = ae_conf_parse_string(text, strlen(text), "leaf.conf", &r, &e);
    AH_ASSERT_MSG(rc == AE_EINVAL, "expected AE_EINVAL for:\n%s\ngot %d", text, rc);
    AH_ASSERT(r == NULL);
    AH_ASSERT_EQ_INT(e.code, AE_EINVAL);
    AH_ASSERT_EQ_STR(e.msg, msg);
}

/* Walks a path like "leafnodes.remotes[0].urls[1]" (keys ignore case). */
static const ae_conf_node *at(const ae_conf_node *n, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *s = buf;
    while (n && *s) {
        if (*s == '[') {
            int idx = atoi(s + 1);
            s = strchr(s, ']');
            AH_ASSERT(s);
            s++;
            if (n->type != AE_CONF_ARRAY)
                return NULL;
            const ae_conf_node *c = n->child;
            while (c && idx-- > 0)
                c = c->next;
            n = c;
        } else {
            if (*s == '.')
                s++;
            size_t k = strcspn(s, ".[");
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)k, s);
            n = ae_conf_get(n, key);
            s += k;
        }
    }
    return n;
}

static const ae_conf_node *need(const ae_conf_node *root, const char *path, ae_conf_type t)
{
    const ae_conf_node *n = at(root, path);
    AH_ASSERT_MSG(n, "no value at %s", path);
    AH_ASSERT_MSG(n->type == t, "%s is a %s, expected a %s", path, ae_conf_type_name(n->type),
                  ae_conf_type_name(t));
    return n;
}

static void str_is(const ae_conf_node *root, const char *path, const char *want)
{
    AH_ASSERT_EQ_STR(need(root, path, AE_CONF_STRING)->str, want);
}

static void int_is(const ae_conf_node *root, const char *path, int64_t want)
{
    AH_ASSERT_EQ_INT(need(root, path, AE_CONF_INT)->i, want);
}

static void bool_is(const ae_conf_node *root, const char *path, bool want)
{
    AH_ASSERT_EQ_INT(need(root, path, AE_CONF_BOOL)->b, want);
}

static int count(const ae_conf_node *n)
{
    int k = 0;
    for (const ae_conf_node *c = n ? n->child : NULL; c; c = c->next)
        k++;
    return k;
}

/* ---- syntax forms -------------------------------------------------------------------- */

static void t_separators(void)
{
    ae_conf_node *r = parse_ok("a: 1\n"
                               "b = 2\n"
                               "c 3\n"
                               "d:4\n"
                               "e=5\n"
                               "\"quoted key\": 6\n"
                               "'single key' = 7\n"
                               "  indented\t:\t8\n"
                               "dotted.key.name: 9\n");
    int_is(r, "a", 1);
    int_is(r, "b", 2);
    int_is(r, "c", 3);
    int_is(r, "d", 4);
    int_is(r, "e", 5);
    int_is(r, "quoted key", 6);
    int_is(r, "single key", 7);
    int_is(r, "indented", 8);
    AH_ASSERT_EQ_INT(ae_conf_get(r, "dotted.key.name")->i, 9);
    AH_ASSERT_EQ_INT(count(r), 9);
    AH_ASSERT_EQ_STR(r->child->key, "a");
    ae_conf_free(r);
}

static void t_item_separators(void)
{
    ae_conf_node *r = parse_ok("a: 1, b: 2; c: 3\n"
                               "m { x: 1; y: 2, z: 3 }\n"
                               "n {\n  p: 1,\n  q: 2;\n  r: 3\n}\n"
                               "arr: [1, 2\n 3,\n 4,]\n"
                               "tight: [1,2]\n"
                               "nomap{k: v}\n"
                               "empty_map {}\n"
                               "empty_arr []\n");
    int_is(r, "a", 1);
    int_is(r, "b", 2);
    int_is(r, "c", 3);
    int_is(r, "m.x", 1);
    int_is(r, "m.y", 2);
    int_is(r, "m.z", 3);
    int_is(r, "n.r", 3);
    AH_ASSERT_EQ_INT(count(need(r, "arr", AE_CONF_ARRAY)), 4);
    int_is(r, "arr[3]", 4);
    int_is(r, "tight[1]", 2);
    str_is(r, "nomap.k", "v");
    AH_ASSERT_EQ_INT(count(need(r, "empty_map", AE_CONF_MAP)), 0);
    AH_ASSERT_EQ_INT(count(need(r, "empty_arr", AE_CONF_ARRAY)), 0);
    ae_conf_free(r);
}

static void t_comments(void)
{
    ae_conf_node *r = parse_ok("# hash comment\n"
                               "// slash comment\n"
                               "a: 1 # trailing\n"
                               "b: 2 // trailing\n"
                               "m { # after brace\n"
                               "  x: 1 // in map\n"
                               "  # whole line\n"
                               "}\n"
                               "arr [ # after bracket\n"
                               "  1 # after element\n"
                               "  // own line\n"
                               "  2\n"
                               "]\n"
                               "password: #secret#\n"
                               "url: nats://host:4222\n"
                               "glued: foo#bar\n");
    int_is(r, "a", 1);
    int_is(r, "b", 2);
    int_is(r, "m.x", 1);
    AH_ASSERT_EQ_INT(count(at(r, "m")), 1);
    AH_ASSERT_EQ_INT(count(at(r, "arr")), 2);
    int_is(r, "arr[1]", 2);
    /* as in nats-server, # glued to text is part of a bare string, // after a space is not */
    str_is(r, "password", "#secret#");
    str_is(r, "url", "nats://host:4222");
    str_is(r, "glued", "foo#bar");
    ae_conf_free(r);
}

static void t_strings(void)
{
    ae_conf_node *r = parse_ok("dq: \"tab\\tnl\\ncr\\rq\\\"bs\\\\hex\\x41\"\n"
                               "uni: \"\\u00e9\\u20ac\\u0041\"\n"
                               "sq: 'raw \\t \\n \"kept\"'\n"
                               "empty: \"\"\n"
                               "empty_sq: ''\n"
                               "spaces: \"  a b  \"\n"
                               "hashes: \"# not a comment // nor this\"\n"
                               "braces: \"{[,;]}\"\n"
                               "listen: 127.0.0.1:4222\n"
                               "url: nats-leaf://vehicle:secret@127.0.0.1:7422\n"
                               "subject: fleet.prod.veh.*.state.>\n"
                               "dur: 10s\n"
                               "week: 7d\n"
                               "path: /var/lib/aerie\n"
                               "neg_word: -foo\n"
                               "bare_escape: a\\tb\n"
                               "word: hello\n");
    str_is(r, "dq", "tab\tnl\ncr\rq\"bs\\hexA");
    str_is(r, "uni",
           "\xc3\xa9\xe2\x82\xac"
           "A");
    str_is(r, "sq", "raw \\t \\n \"kept\"");
    str_is(r, "empty", "");
    str_is(r, "empty_sq", "");
    str_is(r, "spaces", "  a b  ");
    str_is(r, "hashes", "# not a comment // nor this");
    str_is(r, "braces", "{[,;]}");
    str_is(r, "listen", "127.0.0.1:4222");
    str_is(r, "url", "nats-leaf://vehicle:secret@127.0.0.1:7422");
    str_is(r, "subject", "fleet.prod.veh.*.state.>");
    str_is(r, "dur", "10s");
    str_is(r, "week", "7d");
    str_is(r, "path", "/var/lib/aerie");
    str_is(r, "neg_word", "-foo");
    str_is(r, "bare_escape", "a\tb"); /* nats-server decodes escapes in bare strings too */
    str_is(r, "word", "hello");
    ae_conf_free(r);
}

static void t_bare_string_ends(void)
{
    ae_conf_node *r = parse_ok("a: x,b: y;c: z\nm {k: v}\nl: [p,q]\n");
    str_is(r, "a", "x");
    str_is(r, "b", "y");
    str_is(r, "c", "z");
    str_is(r, "m.k", "v");
    str_is(r, "l[0]", "p");
    str_is(r, "l[1]", "q");
    ae_conf_free(r);
}

static void t_block_strings(void)
{
    ae_conf_node *r = parse_ok("cert: (\n"
                               "-----BEGIN CERTIFICATE-----\n"
                               "  MIIB (with parens) \"and quotes\" # and hashes\n"
                               "-----END CERTIFICATE-----\n"
                               ")\n"
                               "after: 1\n"
                               "last (\n"
                               "x\n"
                               ")");
    str_is(r, "cert",
           "\n-----BEGIN CERTIFICATE-----\n  MIIB (with parens) \"and quotes\" # and "
           "hashes\n-----END CERTIFICATE-----\n");
    int_is(r, "after", 1);
    AH_ASSERT_EQ_INT(at(r, "after")->line, 6);
    str_is(r, "last", "\nx\n");
    ae_conf_free(r);
}

static void t_integers(void)
{
    static const struct {
        const char *lit;
        int64_t v;
    } cases[] = {
        {"0", 0},
        {"4222", 4222},
        {"-5", -5},
        {"1k", 1000},
        {"1K", 1000},
        {"1kb", 1024},
        {"1KB", 1024},
        {"1ki", 1024},
        {"1kib", 1024},
        {"1KiB", 1024},
        {"64KB", 65536},
        {"2m", 2000000},
        {"2mb", 2097152},
        {"2MiB", 2097152},
        {"1g", 1000000000},
        {"1GB", 1073741824LL},
        {"4GB", 4LL << 30},
        {"100GB", 100LL << 30},
        {"1t", 1000000000000LL},
        {"1tb", 1LL << 40},
        {"1p", 1000000000000000LL},
        {"1pib", 1LL << 50},
        {"1e", 1000000000000000000LL},
        {"1eb", 1LL << 60},
        {"-1k", -1000},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"-8EB", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "v: %s\n", cases[i].lit);
        ae_conf_node *r = parse_ok(text);
        const ae_conf_node *v = need(r, "v", AE_CONF_INT);
        AH_ASSERT_MSG(v->i == cases[i].v, "%s: got %lld, want %lld", cases[i].lit, (long long)v->i,
                      (long long)cases[i].v);
        AH_ASSERT_EQ_STR(v->str, cases[i].lit); /* the literal as written */
        ae_conf_free(r);
    }
    /* letters that are not a size suffix make a string, as in nats-server */
    ae_conf_node *r = parse_ok("a: 1kbb\nb: 12abc\nc: 1.5GB\nd: 2024-01-02\n");
    str_is(r, "a", "1kbb");
    str_is(r, "b", "12abc");
    str_is(r, "c", "1.5GB");
    str_is(r, "d", "2024-01-02");
    ae_conf_free(r);
    parse_err("port: 9223372036854775808\n",
              "leaf.conf:1: integer \"9223372036854775808\" is out of range (at most "
              "9223372036854775807)");
    parse_err("\n\nsize: 8EB\n",
              "leaf.conf:3: integer \"8EB\" is out of range (at most 9223372036854775807)");
    parse_err("size: 99999999999999999999999k\n",
              "leaf.conf:1: integer \"99999999999999999999999k\" is out of range (at most "
              "9223372036854775807)");
}

static void t_floats_bools_dates(void)
{
    ae_conf_node *r = parse_ok("f: 1.5\ng: -0.25\nh: 10.0\n"
                               "t1: true\nt2: TRUE\nt3: yes\nt4: On\n"
                               "f1: false\nf2: False\nf3: no\nf4: OFF\n"
                               "q: \"true\"\n"
                               "when: 2024-01-02T03:04:05Z\n");
    const ae_conf_node *f = need(r, "f", AE_CONF_FLOAT);
    AH_ASSERT(f->f == 1.5);
    AH_ASSERT_EQ_STR(f->str, "1.5");
    AH_ASSERT(need(r, "g", AE_CONF_FLOAT)->f == -0.25);
    AH_ASSERT(need(r, "h", AE_CONF_FLOAT)->f == 10.0);
    bool_is(r, "t1", true);
    bool_is(r, "t2", true);
    bool_is(r, "t3", true);
    bool_is(r, "t4", true);
    bool_is(r, "f1", false);
    bool_is(r, "f2", false);
    bool_is(r, "f3", false);
    bool_is(r, "f4", false);
    AH_ASSERT_EQ_STR(at(r, "t4")->str, "On");
    str_is(r, "q", "true");
    str_is(r, "when", "2024-01-02T03:04:05Z"); /* dates are kept as strings */
    ae_conf_free(r);
}

static void t_top_level_braces(void)
{
    ae_conf_node *r = parse_ok("# JSON-like\n{\n  \"port\": 4222,\n  \"debug\": true\n}\n# end\n");
    int_is(r, "port", 4222);
    bool_is(r, "debug", true);
    ae_conf_free(r);
    parse_err("{\n a: 1\n",
              "leaf.conf:1: \"{\" that opens the file is never closed (missing \"}\")");
    parse_err("{ a: 1 }\nb: 2\n",
              "leaf.conf:2: unexpected \"b\" after the \"}\" that closes the file");
}

static void t_duplicates_and_case(void)
{
    ae_conf_node *r = parse_ok("Port: 1\nport: 2\nPORT: 3\nother: x\n");
    AH_ASSERT_EQ_INT(count(r), 4); /* all kept, in order */
    int_is(r, "port", 3);          /* the last one wins, ignoring case */
    AH_ASSERT_EQ_STR(at(r, "pOrT")->key, "PORT");
    AH_ASSERT(ae_conf_get(r, "missing") == NULL);
    AH_ASSERT(ae_conf_get(NULL, "x") == NULL);
    AH_ASSERT(ae_conf_get(at(r, "other"), "x") == NULL); /* not a map */
    AH_ASSERT_EQ_STR(ae_conf_type_name(AE_CONF_ARRAY), "array");
    AH_ASSERT_EQ_STR(ae_conf_type_name(AE_CONF_INT), "integer");
    ae_conf_free(r);
    ae_conf_free(NULL);
}

static void t_allman_braces(void)
{
    ae_conf_node *r = parse_ok("cluster\n{\n  name: c1\n}\nport 4222\n");
    str_is(r, "cluster.name", "c1");
    int_is(r, "port", 4222);
    ae_conf_free(r);
}

/* ---- variables ----------------------------------------------------------------------- */

static void t_variables(void)
{
    ae_conf_node *r =
        parse_ok("pass: s3cret\n"
                 "size = 1GB\n"
                 "subjects: [a.>, b.>]\n"
                 "limits { max: 10, inner { deep: $size } }\n"
                 "leafnodes {\n"
                 "  pass: inner\n"
                 "  authorization { user: v, password: $pass }\n"
                 "  outer_pass: $size\n"
                 "}\n"
                 "users = [ {user: a, password: $pass}, $subjects ]\n"
                 "copy: $limits\n"
                 "bcrypt: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.pjKvQW\n");
    str_is(r, "leafnodes.authorization.password", "inner"); /* innermost scope first */
    int_is(r, "leafnodes.outer_pass", 1 << 30);
    str_is(r, "users[0].password", "s3cret"); /* arrays are skipped, enclosing maps seen */
    str_is(r, "users[1][1]", "b.>");
    int_is(r, "limits.inner.deep", 1 << 30);
    int_is(r, "copy.inner.deep", 1 << 30); /* a map is copied whole */
    int_is(r, "copy.max", 10);
    AH_ASSERT_EQ_STR(at(r, "copy")->key, "copy");
    AH_ASSERT_EQ_INT(at(r, "copy")->line, 11);
    AH_ASSERT_EQ_INT(at(r, "copy.max")->line, 4); /* parts keep where they were written */
    AH_ASSERT_EQ_STR(need(r, "leafnodes.outer_pass", AE_CONF_INT)->str, "1GB");
    str_is(r, "bcrypt", "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.pjKvQW");
    ae_conf_free(r);

    /* only earlier keys; the key being defined is not yet visible */
    setenv("AE_T_SELF", "from-env", 1);
    r = parse_ok("AE_T_SELF: $AE_T_SELF\n");
    str_is(r, "AE_T_SELF", "from-env");
    ae_conf_free(r);
    unsetenv("AE_T_LATER");
    parse_err("a: $AE_T_LATER\nAE_T_LATER: 1\n",
              "leaf.conf:1: variable \"$AE_T_LATER\" is not defined (set it earlier in this file "
              "or in the environment)");
    /* names compare exactly, as in nats-server */
    parse_err("Pass: x\n\n\n\n\n\n\n\nuser { password: $PASS }\n",
              "leaf.conf:9: variable \"$PASS\" is not defined (set it earlier in this file or in "
              "the environment)");
    parse_err("a: $\n", "leaf.conf:1: \"$\" at column 4 must be followed by a variable name");
    /* quoted "$x" is text */
    r = parse_ok("q: \"$NOT_A_VAR\"\n");
    str_is(r, "q", "$NOT_A_VAR");
    ae_conf_free(r);
}

static void t_env_variables(void)
{
    setenv("AE_T_PORT", "4222", 1);
    setenv("AE_T_SIZE", "64KB", 1);
    setenv("AE_T_PASS", "hunter2", 1);
    setenv("AE_T_LIST", "[a, b, c]", 1);
    setenv("AE_T_MAP", "{ x: 1, y: $AE_T_PORT }", 1);
    setenv("AE_T_EMPTY", "", 1);
    setenv("AE_T_BOOL", "yes", 1);
    setenv("AE_T_QUOTED", "\"with space\"", 1);
    ae_conf_node *r = parse_ok("port: $AE_T_PORT\nrate: $AE_T_SIZE\npass = $AE_T_PASS\n"
                               "list: $AE_T_LIST\nm: $AE_T_MAP\ne: $AE_T_EMPTY\nb: $AE_T_BOOL\n"
                               "q: $AE_T_QUOTED\n");
    int_is(r, "port", 4222);
    int_is(r, "rate", 65536);
    str_is(r, "pass", "hunter2");
    AH_ASSERT_EQ_INT(count(need(r, "list", AE_CONF_ARRAY)), 3);
    str_is(r, "list[2]", "c");
    int_is(r, "m.y", 4222);
    AH_ASSERT_EQ_INT(at(r, "m.y")->line, 5);
    str_is(r, "e", "");
    bool_is(r, "b", true);
    str_is(r, "q", "with space");
    /* an earlier key wins over the environment */
    ae_conf_free(r);
    r = parse_ok("AE_T_PORT: 1\nport: $AE_T_PORT\n");
    int_is(r, "port", 1);
    ae_conf_free(r);

    setenv("AE_T_BAD", "two words", 1);
    parse_err("a: 1\nx: $AE_T_BAD\n",
              "leaf.conf:2: in the value of environment variable \"AE_T_BAD\": unexpected \"w\" "
              "after the value");
    setenv("AE_T_LOOP", "$AE_T_LOOP", 1);
    parse_err("x: $AE_T_LOOP\n", "leaf.conf:1: in the value of environment variable "
                                 "\"AE_T_LOOP\": environment variable \"AE_T_LOOP\" refers to "
                                 "itself");
    setenv("AE_T_UNTERM", "\"abc", 1);
    parse_err("\nx: $AE_T_UNTERM\n",
              "leaf.conf:2: in the value of environment variable \"AE_T_UNTERM\": unterminated "
              "string starting at column 1 (a quoted string ends on its line; use a ( ) block "
              "for multi-line text)");
}

/* ---- the configurations we use ------------------------------------------------------- */

/* The seed's hub cluster example, in nats syntax. */
static const char SEED_HUB[] = "# Example hub cluster configuration\n"
                               "cluster {\n"
                               "  name: hub-americas\n"
                               "  routes: [\n"
                               "    nats://hub-americas-1:6222\n"
                               "    nats://hub-americas-2:6222\n"
                               "    nats://hub-americas-3:6222\n"
                               "  ]\n"
                               "}\n"
                               "\n"
                               "jetstream {\n"
                               "  store_dir: /data/jetstream\n"
                               "  max_memory_store: 4GB\n"
                               "  max_file_store: 100GB\n"
                               "}\n"
                               "\n"
                               "leafnodes {\n"
                               "  port: 7422\n"
                               "  authorization {\n"
                               "    users: [\n"
                               "      { user: vehicle, password: $VEHICLE_PASSWORD,\n"
                               "        allowed_connection_types: [\"LEAFNODE\"] }\n"
                               "    ]\n"
                               "  }\n"
                               "}\n";

/* nats-wire-notes 2.1: the hub used for the verification cluster (hub1). */
static const char NOTES_HUB[] =
    "server_name: hub1\n"
    "listen: 127.0.0.1:14222\n"
    "http: 127.0.0.1:14822\n"
    "jetstream { store_dir: data/hub1, max_memory_store: 256MB, max_file_store: 1GB, domain: "
    "hub }\n"
    "cluster { name: hubc, listen: 127.0.0.1:14248,\n"
    "          routes: [ \"nats-route://127.0.0.1:14248\", \"nats-route://127.0.0.1:14249\", "
    "\"nats-route://127.0.0.1:14250\" ] }\n"
    "leafnodes { listen: 127.0.0.1:14422, advertise: \"127.0.0.1:14500\",\n"
    "            authorization { users = [ {user: vehicle, password: secret} ] } }\n";

/* nats-wire-notes 2.1, shape B: top-level users restricted to leaf connections. */
static const char NOTES_AUTH_B[] =
    "authorization {\n"
    "  users = [\n"
    "    { user: vehicle, password: secret, allowed_connection_types: [\"LEAFNODE\"],\n"
    "      permissions: { publish: { allow: [\"telem.>\", \"_INBOX.>\"] }, subscribe: { allow: "
    "[\"cmd.>\", \"_INBOX.>\"] } } }\n"
    "    { nkey: UBD76WDSMDD3N5FLXDXQO6H3DFV4EFYNTNCEA5F3QSZ47ZTDO725NQ2S, "
    "allowed_connection_types: [\"LEAFNODE\"] }\n"
    "  ]\n"
    "}\n"
    "leafnodes { listen: 127.0.0.1:14810 }       # no authorization block here\n";

static void t_seed_hub(void)
{
    setenv("VEHICLE_PASSWORD", "s3cret", 1);
    ae_conf_node *r = parse_ok(SEED_HUB);
    str_is(r, "cluster.name", "hub-americas");
    AH_ASSERT_EQ_INT(count(need(r, "cluster.routes", AE_CONF_ARRAY)), 3);
    str_is(r, "cluster.routes[2]", "nats://hub-americas-3:6222");
    AH_ASSERT_EQ_INT(at(r, "cluster.routes[2]")->line, 7);
    str_is(r, "jetstream.store_dir", "/data/jetstream");
    int_is(r, "jetstream.max_memory_store", 4LL << 30);
    int_is(r, "jetstream.max_file_store", 100LL << 30);
    int_is(r, "leafnodes.port", 7422);
    str_is(r, "leafnodes.authorization.users[0].user", "vehicle");
    str_is(r, "leafnodes.authorization.users[0].password", "s3cret");
    str_is(r, "leafnodes.authorization.users[0].allowed_connection_types[0]", "LEAFNODE");
    AH_ASSERT_EQ_INT(at(r, "leafnodes.authorization.users[0].allowed_connection_types")->line, 22);
    ae_conf_free(r);
}

static void t_notes_hub(void)
{
    ae_conf_node *r = parse_ok(NOTES_HUB);
    str_is(r, "server_name", "hub1");
    str_is(r, "listen", "127.0.0.1:14222");
    int_is(r, "jetstream.max_memory_store", 256LL << 20);
    int_is(r, "jetstream.max_file_store", 1LL << 30);
    str_is(r, "jetstream.domain", "hub");
    str_is(r, "cluster.routes[1]", "nats-route://127.0.0.1:14249");
    str_is(r, "leafnodes.advertise", "127.0.0.1:14500");
    str_is(r, "leafnodes.authorization.users[0].password", "secret");
    AH_ASSERT_EQ_INT(at(r, "leafnodes.authorization")->line, 8);
    ae_conf_free(r);
    r = parse_ok(NOTES_AUTH_B);
    AH_ASSERT_EQ_INT(count(need(r, "authorization.users", AE_CONF_ARRAY)), 2);
    str_is(r, "authorization.users[0].permissions.subscribe.allow[0]", "cmd.>");
    str_is(r, "authorization.users[1].nkey",
           "UBD76WDSMDD3N5FLXDXQO6H3DFV4EFYNTNCEA5F3QSZ47ZTDO725NQ2S");
    AH_ASSERT_EQ_INT(at(r, "authorization.users[1]")->line, 5);
    ae_conf_free(r);
}

static void t_aerie_blocks(void)
{
    ae_conf_node *r = parse_ok(
        "leafnodes { remotes = [ { urls: [\"nats-leaf://vehicle:secret@127.0.0.1:7422\"], "
        "credentials: \"/etc/x.creds\" } ] }\n"
        "store { dir: \"/var/lib/aerie\", max_bytes: \"1GB\", max_age: \"7d\", sync: always }\n"
        "uplink { subjects: [\"fleet.prod.veh.VID-001.state.>\"], rate: \"64KB\" }\n");
    str_is(r, "leafnodes.remotes[0].urls[0]", "nats-leaf://vehicle:secret@127.0.0.1:7422");
    str_is(r, "leafnodes.remotes[0].credentials", "/etc/x.creds");
    str_is(r, "store.dir", "/var/lib/aerie");
    str_is(r, "store.max_bytes", "1GB"); /* quoted: a string, the typed loader sizes it */
    str_is(r, "store.max_age", "7d");
    str_is(r, "store.sync", "always");
    str_is(r, "uplink.subjects[0]", "fleet.prod.veh.VID-001.state.>");
    str_is(r, "uplink.rate", "64KB");
    AH_ASSERT_EQ_INT(at(r, "uplink")->line, 3);
    AH_ASSERT_EQ_STR(at(r, "uplink.rate")->file, "t.conf");
    ae_conf_free(r);
}

/* ---- errors -------------------------------------------------------------------------- */

static void t_errors(void)
{
    parse_err("a: 1\nb: 2\n\n\n\n\nserver_name: \"unterminated\n",
              "leaf.conf:7: unterminated string starting at column 14 (a quoted string ends on "
              "its line; use a ( ) block for multi-line text)");
    parse_err("a: 'x\n", "leaf.conf:1: unterminated string starting at column 4 (a quoted string "
                         "ends on its line; use a ( ) block for multi-line text)");
    parse_err("a: 1\n\nport:\nb: 2\n", "leaf.conf:3: expected a value after \"port:\"");
    parse_err("port =   # the port\n", "leaf.conf:1: expected a value after \"port=\"");
    parse_err("m {\n  port:\n}\n", "leaf.conf:2: expected a value after \"port:\"");
    parse_err("m { port: }\n", "leaf.conf:1: expected a value after \"port:\"");
    parse_err("port", "leaf.conf:1: expected a value after \"port\"");
    parse_err("port\nother: 1\n", "leaf.conf:1: expected a value after \"port\"");
    parse_err("a: [1, 2\n",
              "leaf.conf:1: array \"a\" opened with \"[\" is never closed (missing \"]\")");
    parse_err("x: 1\ncluster {\n  name: a\n", "leaf.conf:2: map \"cluster\" opened with \"{\" is "
                                              "never closed (missing \"}\")");
    parse_err("a: 1 b: 2\n",
              "leaf.conf:1: unexpected \"b\" at column 6 after the value of \"a\" (put one "
              "setting per line, or separate them with \",\" or \";\")");
    parse_err("a: \"x\"y\n",
              "leaf.conf:1: unexpected \"y\" at column 7 after the value of \"a\" (put one "
              "setting per line, or separate them with \",\" or \";\")");
    parse_err(
        "a: [1 2]\n",
        "leaf.conf:1: expected \",\" or \"]\" after an array element, found \"2\" at column 7");
    parse_err("a: [1,,2]\n",
              "leaf.conf:1: unexpected \",\" in an array where a value was expected");
    parse_err("a: 1\n}\n", "leaf.conf:2: unexpected \"}\" at column 1 where a key was expected");
    parse_err("= 5\n", "leaf.conf:1: expected a key, found \"=\" at column 1");
    parse_err("m { a: 1,, b: 2 }\n",
              "leaf.conf:1: unexpected \",\" at column 10 where a key was expected");
    parse_err("s: \"a\\qb\"\n", "leaf.conf:1: invalid escape \"\\\" followed by \"q\" at column 6 "
                                "(allowed: \\t \\n \\r \\\" \\\\ \\xHH \\uHHHH; write \\\\ for a "
                                "backslash)");
    parse_err("s: C:\\data\n", "leaf.conf:1: invalid escape \"\\\" followed by \"d\" at column 6 "
                               "(allowed: \\t \\n \\r \\\" \\\\ \\xHH \\uHHHH; write \\\\ for a "
                               "backslash)");
    parse_err("s: \"\\x4\"\n", "leaf.conf:1: \\x at column 5 needs two hexadecimal digits");
    parse_err("s: \"\\x00\"\n", "leaf.conf:1: \\x00 at column 5: NUL characters are not allowed");
    parse_err("s: \"\\ud800\"\n",
              "leaf.conf:1: \\uD800 at column 5 is not a character that can be written this way");
    parse_err("s: \"\\u12\"\n", "leaf.conf:1: \\u at column 5 needs four hexadecimal digits");
    parse_err("a: 1\ncert: (\nabc\n  )\n", "leaf.conf:2: block string opened with \"(\" is never "
                                           "closed: put \")\" alone at the start of a line");
    parse_err("include: \n", "leaf.conf:1: expected a value after \"include:\"");
    parse_err("'unterminated key: 1\n",
              "leaf.conf:1: unterminated quoted key starting at column 1 (a quoted string ends "
              "on its line; use a ( ) block for multi-line text)");
}

static void t_nul_in_middle(void)
{
    /* strlen-based parse_err cannot carry the NUL: pass the length */
    static const char text[] = "a: 1\nb: x\0y\n";
    ae_err e = {0};
    ae_conf_node *r = NULL;
    AH_ASSERT_EQ_INT(ae_conf_parse_string(text, sizeof text - 1, NULL, &r, &e), AE_EINVAL);
    AH_ASSERT_EQ_STR(e.msg,
                     "<string>:2: NUL byte in the configuration text (is this a text file?)");
    AH_ASSERT(!r);
}

static void t_nesting_limit(void)
{
    char text[4096];
    size_t n = 0;
    /* 64 nested levels are fine, 65 are not */
    for (int levels = AE_CONF_MAX_DEPTH; levels <= AE_CONF_MAX_DEPTH + 1; levels++) {
        n = 0;
        n += (size_t)snprintf(text + n, sizeof text - n, "a: ");
        for (int i = 0; i < levels; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, i % 2 ? "[" : "{ k: ");
        n += (size_t)snprintf(text + n, sizeof text - n, "1");
        for (int i = levels - 1; i >= 0; i--)
            n += (size_t)snprintf(text + n, sizeof text - n, i % 2 ? "]" : " }");
        n += (size_t)snprintf(text + n, sizeof text - n, "\n");
        ae_err e = {0};
        ae_conf_node *r = NULL;
        int rc = ae_conf_parse_string(text, n, "deep.conf", &r, &e);
        if (levels == AE_CONF_MAX_DEPTH) {
            AH_ASSERT_MSG(rc == 0, "%s", e.msg);
            ae_conf_free(r);
        } else {
            AH_ASSERT_EQ_INT(rc, AE_EINVAL);
            AH_ASSERT_EQ_STR(e.msg, "deep.conf:1: maps and arrays are nested more than 64 deep");
        }
    }
    /* deep input far beyond the limit fails fast without recursing through it */
    size_t big = 1 << 20;
    char *t = malloc(big);
    memcpy(t, "a: ", 3);
    memset(t + 3, '[', big - 3);
    ae_err e = {0};
    ae_conf_node *r = NULL;
    AH_ASSERT_EQ_INT(ae_conf_parse_string(t, big, NULL, &r, &e), AE_EINVAL);
    AH_ASSERT_CONTAINS(e.msg, "nested more than 64 deep");
    free(t);
    /* substituting a deep map deeper still is caught too */
    n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "deep: ");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "{k: ");
    n += (size_t)snprintf(text + n, sizeof text - n, "1");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "}");
    n += (size_t)snprintf(text + n, sizeof text - n, "\nuse: ");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "[");
    n += (size_t)snprintf(text + n, sizeof text - n, "$deep");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "]");
    n += (size_t)snprintf(text + n, sizeof text - n, "\n");
    AH_ASSERT_EQ_INT(ae_conf_parse_string(text, n, "sub.conf", &r, &e), AE_EINVAL);
    AH_ASSERT_EQ_STR(e.msg, "sub.conf:2: maps and arrays are nested more than 64 deep (after "
                            "variable substitution)");
}

static void t_size_limits(void)
{
    /* a string larger than 16 MiB is refused up front */
    size_t big = (16u << 20) + 1;
    char *t = malloc(big);
    memset(t, '#', big);
    ae_err e = {0};
    ae_conf_node *r = NULL;
    AH_ASSERT_EQ_INT(ae_conf_parse_string(t, big, "huge.conf", &r, &e), AE_EINVAL);
    AH_ASSERT_EQ_STR(e.msg, "huge.conf: the text is larger than 16 MiB");
    free(t);
    /* "billion laughs": each level multiplies by ten; stopped by the byte budget. A 64 KiB
     * string makes the budget bite within a thousand copies, so the test stays fast. */
    size_t cap = (64u << 10) + 512;
    char *laughs = malloc(cap);
    size_t n = (size_t)snprintf(laughs, cap, "a: \"");
    memset(laughs + n, 'x', 64u << 10);
    n += 64u << 10;
    n += (size_t)snprintf(laughs + n, cap - n,
                          "\"\n"
                          "b: [$a,$a,$a,$a,$a,$a,$a,$a,$a,$a]\n"
                          "c: [$b,$b,$b,$b,$b,$b,$b,$b,$b,$b]\n"
                          "d: [$c,$c,$c,$c,$c,$c,$c,$c,$c,$c]\n"
                          "e: [$d,$d,$d,$d,$d,$d,$d,$d,$d,$d]\n");
    AH_ASSERT_EQ_INT(ae_conf_parse_string(laughs, n, "laugh.conf", &r, &e), AE_EINVAL);
    AH_ASSERT_EQ_STR(e.msg, "laugh.conf:4: configuration too large: more than 64 MiB of text and "
                            "values (after includes and variable substitution)");
    free(laughs);
}

/* ---- line numbers -------------------------------------------------------------------- */

static void t_line_numbers(void)
{
    ae_conf_node *r = parse_ok("# 1\n"
                               "top: 1\n"            /* 2 */
                               "outer {\n"           /* 3 */
                               "  mid {\n"           /* 4 */
                               "\n"                  /* 5 */
                               "    leaf: x\n"       /* 6 */
                               "  }\n"               /* 7 */
                               "  list: [\n"         /* 8 */
                               "    a\n"             /* 9 */
                               "    { in_arr: 1,\n"  /* 10 */
                               "      second: 2 }\n" /* 11 */
                               "    [ nested,\n"     /* 12 */
                               "      deeper ]\n"    /* 13 */
                               "  ]\n"               /* 14 */
                               "  block: (\n"        /* 15 */
                               "text\n"              /* 16 */
                               ")\n"                 /* 17 */
                               "  after_block: 1\n"  /* 18 */
                               "}\n");
    AH_ASSERT_EQ_INT(r->line, 1);
    AH_ASSERT_EQ_INT(at(r, "top")->line, 2);
    AH_ASSERT_EQ_INT(at(r, "outer")->line, 3);
    AH_ASSERT_EQ_INT(at(r, "outer.mid")->line, 4);
    AH_ASSERT_EQ_INT(at(r, "outer.mid.leaf")->line, 6);
    AH_ASSERT_EQ_INT(at(r, "outer.list")->line, 8);
    AH_ASSERT_EQ_INT(at(r, "outer.list[0]")->line, 9);
    AH_ASSERT_EQ_INT(at(r, "outer.list[1]")->line, 10);
    AH_ASSERT_EQ_INT(at(r, "outer.list[1].in_arr")->line, 10);
    AH_ASSERT_EQ_INT(at(r, "outer.list[1].second")->line, 11);
    AH_ASSERT_EQ_INT(at(r, "outer.list[2]")->line, 12);
    AH_ASSERT_EQ_INT(at(r, "outer.list[2][1]")->line, 13);
    AH_ASSERT_EQ_INT(at(r, "outer.block")->line, 15);
    AH_ASSERT_EQ_INT(at(r, "outer.after_block")->line, 18);
    AH_ASSERT(at(r, "outer.list[0]")->key == NULL);
    ae_conf_free(r);
}

/* ---- includes ------------------------------------------------------------------------ */

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    AH_ASSERT(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void t_includes(void)
{
    char *dir = ah_mkdtemp("conf-inc");
    AH_ASSERT(dir);
    char *sub = path_in(dir, "sub");
    AH_ASSERT(mkdir(sub, 0755) == 0);
    char *mainp = path_in(dir, "main.conf"), *auth = path_in(dir, "sub/auth.conf"),
         *users = path_in(dir, "sub/users.conf"), *ports = path_in(dir, "ports.conf");
    AH_ASSERT(ah_write_file(mainp, "# main\n"
                                   "include \"ports.conf\"\n"     /* 2 */
                                   "leafnodes {\n"                /* 3 */
                                   "  include sub/auth.conf\n"    /* 4 */
                                   "  listen: \"127.0.0.1:$x\"\n" /* 5 */
                                   "}\n"
                                   "uses_port: $port\n"                          /* 7 */
                                   "INCLUDE 'sub/users.conf'; last: 1\n") == 0); /* 8 */
    AH_ASSERT(ah_write_file(ports, "port: 4222\nhttp: 8222\n") == 0);
    AH_ASSERT(ah_write_file(auth, "\n\nauthorization {\n  include users.conf\n}\n") == 0);
    AH_ASSERT(ah_write_file(users, "users = [\n  {user: a, password: b}\n]\n") == 0);
    ae_err e = {0};
    ae_conf_node *r = NULL;
    int rc = ae_conf_parse_file(mainp, &r, &e);
    AH_ASSERT_MSG(rc == 0, "%s", e.msg);
    AH_ASSERT_EQ_STR(r->file, mainp);
    int_is(r, "port", 4222);
    AH_ASSERT_EQ_STR(at(r, "port")->file, ports);
    AH_ASSERT_EQ_INT(at(r, "http")->line, 2);
    int_is(r, "uses_port", 4222); /* later keys see included ones */
    AH_ASSERT_EQ_STR(at(r, "uses_port")->file, mainp);
    AH_ASSERT_EQ_INT(at(r, "uses_port")->line, 7);
    /* include inside a map, and a relative include inside an included file */
    const ae_conf_node *u = need(r, "leafnodes.authorization.users[0].password", AE_CONF_STRING);
    AH_ASSERT_EQ_STR(u->str, "b");
    AH_ASSERT_EQ_STR(u->file, users);
    AH_ASSERT_EQ_INT(u->line, 2);
    AH_ASSERT_EQ_STR(at(r, "leafnodes.authorization")->file, auth);
    AH_ASSERT_EQ_INT(at(r, "leafnodes.authorization")->line, 3);
    AH_ASSERT_EQ_INT(at(r, "leafnodes.listen")->line, 5);
    str_is(r, "leafnodes.listen", "127.0.0.1:$x");
    /* top-level include with single quotes and a ";" after it */
    AH_ASSERT_EQ_STR(at(r, "users")->file, users);
    int_is(r, "last", 1);
    /* entry order: includes are spliced in place */
    const char *order[] = {"port", "http", "leafnodes", "uses_port", "users", "last"};
    const ae_conf_node *c = r->child;
    for (size_t i = 0; i < 6; i++, c = c->next)
        AH_ASSERT_EQ_STR(c->key, order[i]);
    AH_ASSERT(c == NULL);
    ae_conf_free(r);

    /* an included file does not see the includer's variables (as in nats-server) */
    AH_ASSERT(ah_write_file(mainp, "secret: x\ninclude sub/auth.conf\n") == 0);
    AH_ASSERT(ah_write_file(auth, "a: 1\npassword: $secret\n") == 0);
    AH_ASSERT_EQ_INT(ae_conf_parse_file(mainp, &r, &e), AE_EINVAL);
    char want[600];
    snprintf(want, sizeof want,
             "%s:2: variable \"$secret\" is not defined (set it earlier in this file or in the "
             "environment)",
             auth);
    AH_ASSERT_EQ_STR(e.msg, want);

    /* errors inside an included file name that file and line */
    AH_ASSERT(ah_write_file(mainp, "a: 1\ninclude ports.conf\n") == 0);
    AH_ASSERT(ah_write_file(ports, "\n\n\nport 4222 4223\n") == 0);
    AH_ASSERT_EQ_INT(ae_conf_parse_file(mainp, &r, &e), AE_EINVAL);
    snprintf(want, sizeof want, "%s:4: unexpected \"4\" at column 11 after the value of", ports);
    AH_ASSERT_CONTAINS(e.msg, want);

    /* a missing include names the including line and the path tried */
    AH_ASSERT(ah_write_file(mainp, "a: 1\n\ninclude nope.conf\n") == 0);
    AH_ASSERT_EQ_INT(ae_conf_parse_file(mainp, &r, &e), AE_EIO);
    snprintf(want, sizeof want,
             "%s:3: cannot read included file \"%s/nope.conf\": No such file or directory", mainp,
             dir);
    AH_ASSERT_EQ_STR(e.msg, want);

    /* a cycle: main -> ports -> main */
    AH_ASSERT(ah_write_file(mainp, "a: 1\ninclude ports.conf\n") == 0);
    AH_ASSERT(ah_write_file(ports, "b: 2\ninclude main.conf\n") == 0);
    AH_ASSERT_EQ_INT(ae_conf_parse_file(mainp, &r, &e), AE_EINVAL);
    snprintf(want, sizeof want, "%s:2: include cycle: \"%s/main.conf\" is already being read",
             ports, dir);
    AH_ASSERT_EQ_STR(e.msg, want);

    /* a file including itself */
    AH_ASSERT(ah_write_file(mainp, "include main.conf\n") == 0);
    AH_ASSERT_EQ_INT(ae_conf_parse_file(mainp, &r, &e), AE_EINVAL);
    AH_ASSERT_CONTAINS(e.msg, "include cycle");

    /* a chain deeper than the limit (no cycle): f0 -> f1 -> ... -> f19 */
    for (int i = 0; i < 20; i++) {
        char name[32], text[64];
        snprintf(name, sizeof name, "f%d.conf", i);
        snprintf(text, sizeof text, "k%d: %d\ninclude f%d.conf\n", i, i, i + 1);
        char *p = path_in(dir, name);
        AH_ASSERT(ah_write_file(p, "%s", text) == 0);
        free(p);
    }
    char *f0 = path_in(dir, "f0.conf");
    AH_ASSERT_EQ_INT(ae_conf_parse_file(f0, &r, &e), AE_EINVAL);
    AH_ASSERT_CONTAINS(e.msg, "f15.conf:2: includes are nested more than 16 deep");
    free(f0);

    /* a directory is not a file */
    AH_ASSERT(ah_write_file(mainp, "include sub\n") == 0);
    AH_ASSERT_EQ_INT(ae_conf_parse_file(mainp, &r, &e), AE_EIO);
    AH_ASSERT_CONTAINS(e.msg, "Is a directory");

    /* parse_string: relative to the name's directory; _noinclude refuses */
    AH_ASSERT(ah_write_file(ports, "port: 1\n") == 0);
    const char *text = "include ports.conf\n";
    AH_ASSERT_EQ_INT(ae_conf_parse_string(text, strlen(text), mainp, &r, &e), 0);
    int_is(r, "port", 1);
    ae_conf_free(r);
    AH_ASSERT_EQ_INT(ae_conf_parse_string_noinclude(text, strlen(text), "x.conf", &r, &e),
                     AE_EINVAL);
    AH_ASSERT_EQ_STR(e.msg, "x.conf:1: include \"ports.conf\": includes are not allowed here");
    AH_ASSERT(!r);

    /* missing top-level file */
    AH_ASSERT_EQ_INT(ae_conf_parse_file("/nonexistent/aerie.conf", &r, &e), AE_EIO);
    AH_ASSERT_EQ_STR(e.msg,
                     "cannot read config file /nonexistent/aerie.conf: No such file or directory");
    ah_rmrf(dir);
    free(dir);
    free(sub);
    free(mainp);
    free(auth);
    free(users);
    free(ports);
}

static void t_not_include_keyword(void)
{
    /* `include` followed by a separator is an ordinary key */
    ae_conf_node *r = parse_ok("include: yes\nm { include = 5 }\n");
    bool_is(r, "include", true);
    int_is(r, "m.include", 5);
    ae_conf_free(r);
}

/* ---- compatibility with the real nats-server ----------------------------------------- */

/* Runs `nats-server -t -c path`; returns its exit status (0: config valid). */
static int nats_check(const char *path, const char *log)
{
    pid_t pid = fork();
    AH_ASSERT(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        (void)f;
        dup2(fileno(stdout), 2);
        execl(ah_nats_server(), "nats-server", "-t", "-c", path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    AH_ASSERT(waitpid(pid, &st, 0) == pid);
    AH_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 127, "could not run %s", ah_nats_server());
    return WEXITSTATUS(st);
}

static void t_nats_server_agrees(void)
{
    char *dir = ah_mkdtemp("conf-nats");
    AH_ASSERT(dir);
    char *store = path_in(dir, "js");
    setenv("AE_T_NATS_LISTEN", "127.0.0.1:14999", 1);
    setenv("AE_T_NATS_PASS", "s3cret", 1);
    /* configs made only of keys nats-server 2.9.10 knows (variables are allowed: -t
     * accepts a key used as a variable) */
    struct {
        const char *name;
        char *text;
        bool valid;
    } cases[] = {
        {"notes_hub", NULL, true},
        {"notes_auth_b", NULL, true},
        {"forms", NULL, true},
        {"variables", NULL, true},
        {"include", NULL, true},
        {"braced", NULL, true},
        {"bad_unterminated", NULL, false},
        {"bad_two_values", NULL, false},
        {"bad_undefined_var", NULL, false},
        {"bad_array_sep", NULL, false},
        {"bad_escape", NULL, false},
        {"bad_unclosed_map", NULL, false},
    };
    AH_ASSERT(asprintf(&cases[0].text, "%s", NOTES_HUB) > 0);
    /* the hub store dir must be absolute and ours */
    char *hub = cases[0].text;
    char *js = strstr(hub, "data/hub1");
    AH_ASSERT(js);
    AH_ASSERT(asprintf(&cases[0].text, "%.*s%s%s", (int)(js - hub), hub, store, js + 9) > 0);
    free(hub);
    AH_ASSERT(asprintf(&cases[1].text, "%s", NOTES_AUTH_B) > 0);
    AH_ASSERT(asprintf(&cases[2].text,
                       "# every syntax form on keys nats-server knows\n"
                       "server_name = 'forms'\n"
                       "listen 127.0.0.1:14998; http: 127.0.0.1:14997\n"
                       "max_payload: 1MB, max_pending: 64MiB\n"
                       "max_connections: 1k\n"
                       "ping_interval: \"2m\"\n"
                       "debug: false\n"
                       "trace: OFF\n"
                       "logtime yes\n"
                       "// a slash comment\n"
                       "cluster\n"
                       "{\n"
                       "  name: \"c\\x31\"   # escape in a quoted string\n"
                       "  listen: 127.0.0.1:14996\n"
                       "  routes = [\n"
                       "    nats-route://127.0.0.1:14996 # comment in an array\n"
                       "    \"nats-route://127.0.0.1:14995\",\n"
                       "  ]\n"
                       "}\n"
                       "jetstream { store_dir: \"%s\"; max_memory_store: 256MB; max_file_store: "
                       "1GB }\n"
                       "authorization {\n"
                       "  users = [\n"
                       "    { user: vehicle, password: #secret# }\n"
                       "    { user: admin, password: 'single \\ quoted' }\n"
                       "  ]\n"
                       "}\n",
                       store) > 0);
    AH_ASSERT(asprintf(&cases[3].text,
                       "p = 14994\n"
                       "listen: $AE_T_NATS_LISTEN\n"
                       "leafnodes {\n"
                       "  pw: $AE_T_NATS_PASS\n"
                       "  port: $p\n"
                       "  authorization { users = [ {user: vehicle, password: $pw} ] }\n"
                       "}\n") > 0);
    AH_ASSERT(asprintf(&cases[4].text, "server_name: inc\ninclude 'part.conf'\n") > 0);
    AH_ASSERT(asprintf(&cases[5].text, "{\n  \"port\": 14993,\n  \"debug\": true\n}\n") > 0);
    AH_ASSERT(asprintf(&cases[6].text, "port: 14992\nserver_name: \"oops\n") > 0);
    AH_ASSERT(asprintf(&cases[7].text, "port: 14991 debug: true\n") > 0);
    AH_ASSERT(asprintf(&cases[8].text, "port: $AE_T_NATS_UNDEFINED\n") > 0);
    AH_ASSERT(asprintf(&cases[9].text, "cluster { routes: [ a b ] }\n") > 0);
    AH_ASSERT(asprintf(&cases[10].text, "server_name: \"a\\qb\"\n") > 0);
    AH_ASSERT(asprintf(&cases[11].text, "port: 1\ncluster {\n  name: x\n") > 0);
    char *part = path_in(dir, "part.conf");
    AH_ASSERT(ah_write_file(part, "port: 14990\nmax_payload: 64KB\n") == 0);
    unsetenv("AE_T_NATS_UNDEFINED");
    char *log = path_in(dir, "nats.log");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.conf", cases[i].name);
        char *p = path_in(dir, name);
        AH_ASSERT(ah_write_file(p, "%s", cases[i].text) == 0);
        ae_err e = {0};
        ae_conf_node *r = NULL;
        int ours = ae_conf_parse_file(p, &r, &e);
        ae_conf_free(r);
        int theirs = nats_check(p, log);
        char *out = ah_read_file(log);
        AH_ASSERT_MSG((ours == 0) == cases[i].valid, "%s: we said %d (%s)", cases[i].name, ours,
                      e.msg);
        AH_ASSERT_MSG((theirs == 0) == cases[i].valid, "%s: nats-server said %d: %s", cases[i].name,
                      theirs, out ? out : "");
        free(out);
        free(p);
        free(cases[i].text);
    }
    ah_rmrf(dir);
    free(part);
    free(log);
    free(store);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"separators", t_separators, 10},
        {"item_separators", t_item_separators, 10},
        {"comments", t_comments, 10},
        {"strings", t_strings, 10},
        {"bare_string_ends", t_bare_string_ends, 10},
        {"block_strings", t_block_strings, 10},
        {"integers", t_integers, 10},
        {"floats_bools_dates", t_floats_bools_dates, 10},
        {"top_level_braces", t_top_level_braces, 10},
        {"duplicates_and_case", t_duplicates_and_case, 10},
        {"allman_braces", t_allman_braces, 10},
        {"variables", t_variables, 10},
        {"env_variables", t_env_variables, 10},
        {"seed_hub", t_seed_hub, 10},
        {"notes_hub", t_notes_hub, 10},
        {"aerie_blocks", t_aerie_blocks, 10},
        {"errors", t_errors, 10},
        {"nul_in_middle", t_nul_in_middle, 10},
        {"nesting_limit", t_nesting_limit, 20},
        {"size_limits", t_size_limits, 30},
        {"line_numbers", t_line_numbers, 10},
        {"includes", t_includes, 20},
        {"not_include_keyword", t_not_include_keyword, 10},
        {"nats_server_agrees", t_nats_server_agrees, 60},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
