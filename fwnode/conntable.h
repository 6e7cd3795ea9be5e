/* conntable.h: the worker's local connection table.
 *
 * A chained hash table keyed by the canonical flow key, with a hard maximum of entries and a
 * deadline per entry. Expired entries are removed lazily on lookup and by an incremental sweep
 * (conntable_expire) driven by the periodic timer, so no packet pays for a full scan.
 *
 * At the maximum, a new entry may take the place of one not yet established (early drop, as
 * Linux conntrack does): conntable_early_drop looks at a bounded neighbourhood of the new entry's
 * hash slot, so a table filled by a spoofed SYN flood does not lock out real connections until
 * the embryonic entries time out, and established connections are never given up for them. */
#ifndef FW_CONNTABLE_H
#define FW_CONNTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "tcp_state.h"

/* Pseudo-states of UDP and ICMP echo flows. */
enum conn_pseudo { CONN_NEW = 1, CONN_REPLIED = 2 };

struct conn {
    struct flow_key key;  /* canonical key */
    struct conn *next;    /* hash chain */
    uint32_t hash;        /* flow_key_hash(&key) */
    uint8_t orig_is_a;    /* the originator is endpoint a of key */
    uint8_t orig_side;    /* side the first packet arrived on: 0 = A, 1 = B */
    uint8_t state;        /* TCP: enum tcp_st; UDP / ICMP: enum conn_pseudo */
    uint8_t setup_done;   /* the handshake-completing ACK has been seen */
    uint8_t needs_adopt;  /* loaded from the store: the TCP track starts at its next packet */
    uint8_t store_lane;   /* the store connection that carried its last write */
    struct tcp_track tcp; /* TCP only */
    uint64_t expires_ns;  /* removed at or after this time */
    uint64_t first_ns;    /* time of the first packet (the originator's SYN) */
    uint64_t pkts[2];     /* packets per direction (TCP_DIR_ORIG, TCP_DIR_REPLY) */
    uint8_t stored_state; /* the state last written to the shared store, 0: none */
    uint64_t stored_ns;   /* when it was written (TTL refresh) */
    uint64_t hold_need;   /* the store's release point this connection's packets wait for */
    uint64_t store_mark;  /* store_lane's redis_ev_mark after its last write */
};

struct conntable;

/* max: most entries ever held. Returns NULL when out of memory. */
struct conntable *conntable_new(uint32_t max);
void conntable_free(struct conntable *ct);

/* The live entry for key, or NULL. An entry whose deadline is <= now is removed and not returned
 * (*expired is incremented when expired != NULL). */
struct conn *conntable_find(struct conntable *ct, const struct flow_key *key, uint32_t hash,
                            uint64_t now_ns, uint64_t *expired);

/* Adds a zeroed entry for key (the caller fills it). Returns NULL when the table is full or out of
 * memory. The key must not be in the table. */
struct conn *conntable_insert(struct conntable *ct, const struct flow_key *key, uint32_t hash);

/* Whether c may be dropped to make room for a new connection: it has not been established yet
 * (TCP SYN_SENT or SYN_RECV; UDP or ICMP not answered). */
bool conn_unassured(const struct conn *c);

/* The neighbourhood conntable_early_drop looks at: CONNTABLE_EVICT_SLOTS hash slots from the new
 * entry's own (times the slots per entry of a full table, when the table is much smaller than its
 * 1024 slots at least), and CONNTABLE_EVICT_ENTRIES entries at most. */
#define CONNTABLE_EVICT_SLOTS   16
#define CONNTABLE_EVICT_ENTRIES 64

/* Makes room for a new entry of hash when the table is at its maximum. Looks at the entries of
 * the hash slots from hash's own (the neighbourhood above):
 * the first expired one found is removed (*expired incremented when expired != NULL) and NULL
 * returned, there is room; otherwise returns the oldest (first_ns) unassured entry among them, for
 * the caller to remove with conntable_remove once it has let go of it. NULL when the table is not
 * full, or when none of the entries looked at may be dropped (the new connection is refused). */
struct conn *conntable_early_drop(struct conntable *ct, uint32_t hash, uint64_t now_ns,
                                  uint64_t *expired);

/* Removes and frees c. */
void conntable_remove(struct conntable *ct, struct conn *c);

/* Sweeps up to budget hash slots from where the last sweep stopped and removes expired entries.
 * Returns the number removed. */
size_t conntable_expire(struct conntable *ct, uint64_t now_ns, size_t budget);

size_t conntable_count(const struct conntable *ct);
size_t conntable_slots(const struct conntable *ct);
/* The hash slots an early drop looks at. */
size_t conntable_evict_slots(const struct conntable *ct);
uint32_t conntable_max(const struct conntable *ct);

/* Calls fn for every entry (fn must not insert or remove). */
void conntable_foreach(struct conntable *ct, void (*fn)(struct conn *c, void *arg), void *arg);

#endif
