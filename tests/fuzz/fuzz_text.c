/* fuzz_text.c: libFuzzer target: every parser of text that comes from outside the process and
 * must be rejected cleanly when hostile: rules, stored connection entries and key names, bucket
 * maps (the worker's and the manager's parsers). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "keys.h"
#include "rule.h"
#include "steering.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t owned[STEERING_MAX_BUCKETS];
    static struct assign_member members[64];
    static struct assign_map map;
    char err[256];
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    struct rule r;
    if (rule_parse(s, &r, err, sizeof(err)) == 0) {
        char back[512];
        struct rule r2;
        rule_format(&r, back, sizeof(back));
        if (rule_parse(back, &r2, err, sizeof(err)) != 0 || memcmp(&r, &r2, sizeof(r)) != 0)
            abort(); /* the canonical text must read back to the same rule */
    }
    struct store_entry e;
    for (uint8_t proto = 1; proto <= 17; proto += 16)
        store_entry_parse((const char *)data, size, proto, &e, err, sizeof(err));
    struct flow_key k;
    if (store_conn_key_parse((const char *)data, size, &k) == 0) {
        char back[KEYS_MAX + 1];
        if (store_conn_key(&k, back, sizeof(back)) < 0 || strlen(back) != size ||
            memcmp(back, data, size) != 0)
            abort(); /* a key that parses is canonical */
    }
    steering_parse(s, "node1", 1024, owned, err, sizeof(err));
    size_t n = 0;
    assign_map_parse(s, 1024, 1, members, &n, 64, &map, err, sizeof(err));
    free(s);
    return 0;
}
