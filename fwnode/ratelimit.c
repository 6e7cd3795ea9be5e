/* ratelimit.c: per-source token buckets for new connections. */
#include <string.h>

#include "ratelimit.h"

void ratelimit_init(struct ratelimit *rl, uint32_t rate, uint32_t burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst ? burst : rate;
}

/* A mixed hash of an address, for the slot. */
static uint32_t addr_slot(uint8_t family, const uint8_t addr[16])
{
    uint64_t a, b;
    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ family) * 0xc2b2ae3d27d4eb4full;
    return (uint32_t)(h >> 40) & (RATELIMIT_SLOTS - 1);
}

bool ratelimit_take(struct ratelimit *rl, uint8_t family, const uint8_t addr[16], uint64_t now_ns)
{
    if (rl->rate == 0)
        return true;
    struct ratelimit_slot *s = &rl->slots[addr_slot(family, addr)];
    uint64_t cap = (uint64_t)rl->burst * 1000;
    if (s->family != family || memcmp(s->addr, addr, 16) != 0 || now_ns < s->last_ns) {
        /* a new source in this slot: it starts with a full bucket */
        memcpy(s->addr, addr, 16);
        s->family = family;
        s->tokens_milli = (uint32_t)cap;
        s->last_ns = now_ns;
    } else {
        uint64_t add = (now_ns - s->last_ns) / 1000000 * rl->rate; /* rate tokens per second */
        if (add > 0) {
            uint64_t t = s->tokens_milli + add;
            s->tokens_milli = (uint32_t)(t > cap ? cap : t);
            s->last_ns = now_ns;
        }
    }
    if (s->tokens_milli < 1000)
        return false;
    s->tokens_milli -= 1000;
    return true;
}
