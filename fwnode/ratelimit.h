/* ratelimit.h: a per-source limit on new connections (a token bucket per source address in a
 * fixed table), so that one flooding source cannot fill the connection table alone.
 *
 * The table never grows, whatever is spoofed: a source address hashes to one of RATELIMIT_SLOTS
 * buckets, and sources that collide in the table share that bucket's tokens. A bucket is never
 * handed out fresh to a newcomer, so spoofed packets that land on a real flooder's bucket drain it
 * further instead of refilling it; the price is that a source sharing a bucket with a flooder is
 * limited with it. */
#ifndef FW_RATELIMIT_H
#define FW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 8192

struct ratelimit_slot {
    uint64_t last_ns;      /* when the bucket was last refilled */
    uint32_t tokens_milli; /* tokens x 1000 */
};

struct ratelimit {
    uint32_t rate;  /* new connections per second per source, 0: no limit */
    uint32_t burst; /* bucket size */
    struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

/* Every bucket starts full. burst 0: the rate. */
void ratelimit_init(struct ratelimit *rl, uint32_t rate, uint32_t burst);

/* The bucket of source addr (family 4 or 6): sources with the same slot share it. */
uint32_t ratelimit_slot_of(uint8_t family, const uint8_t addr[16]);

/* Takes a token for a new connection from source addr (family 4 or 6) at now_ns. Returns false
 * when the source's bucket is empty. A clock that went backwards refills nothing. */
bool ratelimit_take(struct ratelimit *rl, uint8_t family, const uint8_t addr[16], uint64_t now_ns);

#endif
