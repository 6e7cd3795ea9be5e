/* ratelimit.h: a per-source limit on new connections (a token bucket per source address in a
 * fixed table), so that one flooding source cannot fill the connection table alone. Sources
 * that collide in the table share a bucket: the table never grows, whatever is spoofed. */
#ifndef FW_RATELIMIT_H
#define FW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 8192

struct ratelimit_slot {
    uint8_t addr[16];
    uint8_t family;
    uint32_t tokens_milli; /* tokens x 1000 */
    uint64_t last_ns;
};

struct ratelimit {
    uint32_t rate;  /* new connections per second per source, 0: no limit */
    uint32_t burst; /* bucket size */
    struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *rl, uint32_t rate, uint32_t burst);

/* Takes a token for a new connection from source addr (family 4 or 6) at now_ns. Returns false
 * when the source is over its rate. */
bool ratelimit_take(struct ratelimit *rl, uint8_t family, const uint8_t addr[16], uint64_t now_ns);

#endif
