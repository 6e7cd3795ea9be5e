/* conntable.c: chained hash table of connections with a maximum and per-entry deadlines. */
#include <stdlib.h>

#include "conntable.h"

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

struct conntable {
    struct conn **slots;
    uint32_t mask;        /* number of slots - 1 */
    uint32_t max;         /* most entries */
    uint32_t count;       /* entries now */
    uint32_t cursor;      /* next slot the sweep looks at */
    uint32_t evict_slots; /* slots an early drop looks at: about CONNTABLE_EVICT_SLOTS entries */
};

struct conntable *conntable_new(uint32_t max)
{
    struct conntable *ct = calloc(1, sizeof(*ct));
    if (!ct)
        return NULL;
    uint32_t n = 1024;
    while (n < max && n < (1u << 30))
        n <<= 1;
    ct->slots = calloc(n, sizeof(*ct->slots));
    if (!ct->slots) {
        free(ct);
        return NULL;
    }
    ct->mask = n - 1;
    ct->max = max;
    /* a full table holds max entries in n slots: a table far smaller than its slots (n is at
     * least 1024) looks at proportionally more of them, so that an early drop still sees about
     * CONNTABLE_EVICT_SLOTS entries */
    uint64_t per = max ? ((uint64_t)n + max - 1) / max : n;
    uint64_t es = CONNTABLE_EVICT_SLOTS * per;
    ct->evict_slots = (uint32_t)(es < n ? es : n);
    return ct;
}

void conntable_free(struct conntable *ct)
{
    if (!ct)
        return;
    for (uint32_t i = 0; i <= ct->mask; i++) {
        struct conn *c = ct->slots[i];
        while (c) {
            struct conn *next = c->next;
            free(c);
            c = next;
        }
    }
    free(ct->slots);
    free(ct);
}

/* Unlinks *pp (an entry of its chain) and frees it. */
static void unlink_free(struct conntable *ct, struct conn **pp)
{
    struct conn *c = *pp;
    *pp = c->next;
    free(c);
    ct->count--;
}

/* Removes the expired entry c found by a lookup. Out of line, and finding c's link again itself:
 * a lookup that finds a live entry keeps no link pointer and saves no registers for this. */
static NOINLINE void find_expired(struct conntable *ct, struct conn *c, uint64_t *expired)
{
    conntable_remove(ct, c);
    if (expired)
        (*expired)++;
}

struct conn *conntable_find(struct conntable *ct, const struct flow_key *key, uint32_t hash,
                            uint64_t now_ns, uint64_t *expired)
{
    for (struct conn *c = ct->slots[hash & ct->mask]; c; c = c->next) {
        if (c->hash != hash || !flow_key_eq(&c->key, key))
            continue;
        if (c->expires_ns <= now_ns) {
            find_expired(ct, c, expired);
            return NULL;
        }
        return c;
    }
    return NULL;
}

struct conn *conntable_insert(struct conntable *ct, const struct flow_key *key, uint32_t hash)
{
    if (ct->count >= ct->max)
        return NULL;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->key = *key;
    c->hash = hash;
    struct conn **slot = &ct->slots[hash & ct->mask];
    c->next = *slot;
    *slot = c;
    ct->count++;
    return c;
}

bool conn_unassured(const struct conn *c)
{
    if (c->key.proto == PKT_IPPROTO_TCP)
        return c->state == TCP_ST_NONE || c->state == TCP_ST_SYN_SENT ||
               c->state == TCP_ST_SYN_RECV;
    return c->state == CONN_NEW;
}

struct conn *conntable_early_drop(struct conntable *ct, uint32_t hash, uint64_t now_ns,
                                  uint64_t *expired)
{
    if (ct->count < ct->max)
        return NULL;
    struct conn *victim = NULL;
    unsigned seen = 0;
    for (uint32_t i = 0; i < ct->evict_slots && seen < CONNTABLE_EVICT_ENTRIES; i++) {
        struct conn **pp = &ct->slots[(hash + i) & ct->mask];
        while (*pp && seen < CONNTABLE_EVICT_ENTRIES) {
            struct conn *c = *pp;
            seen++;
            if (c->expires_ns <= now_ns) {
                unlink_free(ct, pp); /* its deadline passed: room without dropping anything */
                if (expired)
                    (*expired)++;
                return NULL;
            }
            if (conn_unassured(c) && (!victim || c->first_ns < victim->first_ns))
                victim = c;
            pp = &c->next;
        }
    }
    return victim;
}

void conntable_remove(struct conntable *ct, struct conn *c)
{
    for (struct conn **pp = &ct->slots[c->hash & ct->mask]; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            unlink_free(ct, pp);
            return;
        }
    }
}

size_t conntable_expire(struct conntable *ct, uint64_t now_ns, size_t budget)
{
    size_t removed = 0;
    if (budget > (size_t)ct->mask + 1)
        budget = (size_t)ct->mask + 1;
    for (size_t i = 0; i < budget; i++) {
        struct conn **pp = &ct->slots[ct->cursor];
        while (*pp) {
            if ((*pp)->expires_ns <= now_ns) {
                unlink_free(ct, pp);
                removed++;
            } else {
                pp = &(*pp)->next;
            }
        }
        ct->cursor = (ct->cursor + 1) & ct->mask;
    }
    return removed;
}

size_t conntable_count(const struct conntable *ct)
{
    return ct->count;
}

size_t conntable_slots(const struct conntable *ct)
{
    return (size_t)ct->mask + 1;
}

size_t conntable_evict_slots(const struct conntable *ct)
{
    return ct->evict_slots;
}

uint32_t conntable_max(const struct conntable *ct)
{
    return ct->max;
}

void conntable_foreach(struct conntable *ct, void (*fn)(struct conn *c, void *arg), void *arg)
{
    for (uint32_t i = 0; i <= ct->mask; i++)
        for (struct conn *c = ct->slots[i]; c; c = c->next)
            fn(c, arg);
}
