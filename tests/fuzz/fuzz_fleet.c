/* libFuzzer target for the fleet record parser (src/cli/fleet.c, DIR/fleet.json).
 *
 * Parses arbitrary bytes with ae_fleet_parse. A record that loads must survive a round
 * trip: dumped and parsed again it dumps to the same text, so nothing `aerie up` or
 * `aerie topology` writes is lost or changed when another command reads it. A failure
 * must explain itself.
 *
 * Seeds: tests/fuzz/corpus/fleet/ (records as `aerie up` and `aerie topology` write them). */
#include "cli/fleet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ae_err err = {0};
    ae_fleet *f = NULL;
    int rc = ae_fleet_parse(text, "fleet.json", "/fleet", &f, &err);
    if (rc == 0) {
        char *one = ae_fleet_dump(f);
        ae_fleet *g = NULL;
        if (!one || ae_fleet_parse(one, "dump", "/fleet", &g, &err) != 0)
            abort();
        char *two = ae_fleet_dump(g);
        if (!two || strcmp(one, two) != 0)
            abort();
        for (size_t i = 0; i < f->n_vehicles; i++)
            if (ae_fleet_vehicle_find(f, f->vehicles[i].vid) == NULL)
                abort();
        free(one);
        free(two);
        ae_fleet_free(g);
        ae_fleet_free(f);
    } else if (f || err.code != rc || !err.msg[0]) {
        abort();
    }
    free(text);
    return 0;
}
