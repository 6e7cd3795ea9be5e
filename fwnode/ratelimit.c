/* ratelimit.c: per-source token buckets for new connections, shared by colliding sources. */
#include <string.h>

#include "ratelimit.h"

#define NS_PER_MS 1000000ull

void ratelimit_init(struct ratelimit *rl, uint32_t rate, uint32_t burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst ? burst : rate;
    uint64_t cap = (uint64_t)rl->burst * 1000;
    for (uint32_t i = 0; i < RATELIMIT_SLOTS; i++)
        rl->slots[i].tokens_milli = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
}

/* A mixed hash of an address, for the slot. */
uint32_t ratelimit_slot_of(uint8_t family, const uint8_t addr[16])
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
    struct ratelimit_slot *s = &rl->slots[ratelimit_slot_of(family, addr)];
    uint64_t cap = (uint64_t)rl->burst * 1000;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    if (now_ns > s->last_ns) {
        /* rate tokens per second = rate milli-tokens per whole millisecond elapsed; the part of a
         * millisecond not yet paid out stays in last_ns */
        uint64_t ms = (now_ns - s->last_ns) / NS_PER_MS;
        uint64_t room = cap - s->tokens_milli;
        if (ms >= (room + rl->rate - 1) / rl->rate) {
            s->tokens_milli = (uint32_t)cap;
            s->last_ns = now_ns;
        } else {
            s->tokens_milli += (uint32_t)(ms * rl->rate);
            s->last_ns += ms * NS_PER_MS;
        }
    }
    if (s->tokens_milli < 1000)
        return false;
    s->tokens_milli -= 1000;
    return true;
}
