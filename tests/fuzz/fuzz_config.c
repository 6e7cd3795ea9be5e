/* fuzz_config.c: libFuzzer target: arbitrary configuration files through the worker's and the
 * manager's tables (libconfig syntax, types, ranges, validators, rules, unknown keys). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "options.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/fuzz_config.%d.conf", (int)getpid());
        /* env overrides must not hide the file's values */
        unsetenv("FW_RULES");
        unsetenv("FW_NODE_ID");
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[512];
    struct fwnode_settings set = {0};
    config_load(fwnode_options, &set, path, err, sizeof(err));
    config_free(fwnode_options, &set);
    struct emgr_options o = {0};
    config_load(emgr_options_table, &o, path, err, sizeof(err));
    config_free(emgr_options_table, &o);
    return 0;
}
