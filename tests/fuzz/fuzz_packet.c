/* fuzz_packet.c: libFuzzer target: arbitrary frames through the worker's whole offline pipeline
 * (parser, ARP/ND answers, rules, TCP state, connection table, egress into no file). The input is
 * a sequence of frames, each prefixed by one byte: its side (bit 0) and a 2-byte length. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pipeline.h"
#include "settings.h"

static struct fwnode_settings set;
static struct forward *fwd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pipeline pl;
    char err[256];
    if (!fwd) {
        setenv("FW_CONN_MAX", "64", 1); /* small: the table's limit is reached too */
        if (config_load(fwnode_options, &set, NULL, err, sizeof(err)) != 0)
            abort();
        setenv("FW_RULES",
               "allow tcp on a to any port 80;allow udp on a to any port 53;allow icmp on a", 1);
        config_free(fwnode_options, &set);
        memset(&set, 0, sizeof(set));
        if (config_load(fwnode_options, &set, NULL, err, sizeof(err)) != 0)
            abort();
        if (!(fwd = forward_file_new(NULL, err, sizeof(err))))
            abort();
    }
    if (pipeline_init(&pl, &set, fwd, err, sizeof(err)) != 0)
        abort();
    uint64_t ts = 1000000000ull;
    while (size >= 3) {
        int side = data[0] & 1;
        size_t len = (size_t)data[1] << 8 | data[2];
        data += 3;
        size -= 3;
        if (len > size)
            len = size;
        /* an exact-size copy, so that reading past the frame is caught */
        uint8_t *frame = malloc(len ? len : 1);
        memcpy(frame, data, len);
        pipeline_frame(&pl, side, frame, (uint32_t)len, ts);
        free(frame);
        ts += 1000000;
        data += len;
        size -= len;
    }
    pipeline_expire(&pl, ts + 1000000000000ull, 1 << 20);
    pipeline_free(&pl);
    return 0;
}
