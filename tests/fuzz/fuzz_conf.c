/* libFuzzer target for the config parser (src/common/conf.c).
 *
 * Parses arbitrary bytes with ae_conf_parse_string_noinclude, so that an `include` in the
 * input can never make the fuzzer read files, then walks the whole tree checking the
 * invariants the typed loaders rely on, and frees it. Environment variables are still
 * consulted; the fuzzer's environment is whatever it was started with.
 *
 * Seeds: tests/fuzz/corpus/conf/ (the configurations of tests/conf/test_conf.c). */
#include "common/conf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Checks one node and its children; `depth` is the container depth of `n`'s parent. */
static void walk(const ae_conf_node *n, int depth, bool in_map)
{
    for (; n; n = n->next) {
        if (!n->file || n->line < 1)
            abort();
        if (in_map != (n->key != NULL))
            abort();
        if (n->key)
            (void)strlen(n->key);
        switch (n->type) {
        case AE_CONF_MAP:
        case AE_CONF_ARRAY:
            if (depth + 1 > AE_CONF_MAX_DEPTH || n->str)
                abort();
            walk(n->child, depth + 1, n->type == AE_CONF_MAP);
            break;
        case AE_CONF_STRING:
        case AE_CONF_INT:
        case AE_CONF_FLOAT:
        case AE_CONF_BOOL:
            if (!n->str || n->child)
                abort();
            (void)strlen(n->str);
            break;
        default:
            abort();
        }
        if (n->key)
            (void)ae_conf_get(n, n->key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ae_err err = {0};
    ae_conf_node *root = NULL;
    int rc = ae_conf_parse_string_noinclude((const char *)data, size, NULL, &root, &err);
    if (rc == 0) {
        if (!root || root->type != AE_CONF_MAP || root->key)
            abort();
        walk(root->child, 0, true);
        ae_conf_free(root);
    } else {
        /* every failure explains itself and leaves nothing behind */
        if (root || err.code != rc || !err.msg[0])
            abort();
        if (rc == AE_EINVAL && strncmp(err.msg, "<string>:", 9) != 0)
            abort();
    }
    return 0;
}
