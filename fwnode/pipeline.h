/* pipeline.h: what the worker does with one frame: parse, answer ARP / ND for the virtual gateway,
 * look up the connection, match the rules for a new one, track TCP state, forward or drop.
 * The same code runs live and offline; all I/O goes through the forward module. */
#ifndef FW_PIPELINE_H
#define FW_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "conntable.h"
#include "forward.h"
#include "ratelimit.h"
#include "settings.h"
#include "stats.h"
#include "store.h"

#define SIDE_A       0
#define SIDE_B       1
#define SIDE_UNKNOWN (-1) /* offline: find the side from the frame's destination */

struct pipeline {
    struct classifier *cls; /* owned */
    struct conntable *ct;   /* owned */
    struct forward *fwd;    /* not owned */
    struct store *store;    /* not owned; NULL: state is local only */
    const uint8_t *owned;   /* not owned; owned[bucket]: processed here; NULL: every bucket */
    uint32_t nbuckets;      /* with owned: the bucket count */
    struct fw_stats stats;
    struct ratelimit *rl;        /* owned; per-source limit on new connections */
    uint8_t vmac[2][6];          /* virtual gateway MAC per side */
    uint8_t own_mac[2][6];       /* source MAC of the replies per side */
    uint8_t vip[2][4];           /* virtual gateway IPv4 per side */
    uint8_t vip6[2][16];         /* virtual gateway IPv6 per side */
    uint64_t to_tcp[TCP_ST_MAX]; /* timeouts in ns */
    uint64_t to_udp, to_udp_stream, to_icmp;
    bool loose;         /* TCP mid-stream pickup */
    uint64_t *taken_ns; /* owned; [bucket]: when it was taken over (0: never), for pickup_ns */
    uint32_t taken_n;   /* entries of taken_ns */
    uint64_t pickup_ns; /* level established: how long after a takeover a flow missing from the
                         * store may be picked up mid-stream in the buckets taken over */
    bool checksum;      /* verify transport checksums */
    char err[256];      /* the last egress error */
};

/* Builds a pipeline from settings (rules compiled, table allocated). Returns 0, or -1 with err. */
int pipeline_init(struct pipeline *pl, const struct fwnode_settings *set, struct forward *fwd,
                  char *err, size_t errlen);
void pipeline_free(struct pipeline *pl);

/* Replaces the rule set (existing connections are untouched). Returns 0 or -1 with err. */
int pipeline_set_rules(struct pipeline *pl, const struct ruleset *rules, char *err, size_t errlen);

/* Processes one frame that arrived on side (SIDE_A, SIDE_B or SIDE_UNKNOWN) at ts_ns. */
void pipeline_frame(struct pipeline *pl, int side, const uint8_t *frame, uint32_t len,
                    uint64_t ts_ns);

/* Notes the buckets b with gained[b] as taken over at now_ns (see pipeline_takeover_pickup). */
void pipeline_taken_over(struct pipeline *pl, const uint8_t *gained, uint32_t nbuckets,
                         uint64_t now_ns);

/* Whether a TCP flow missing from the store may be picked up mid-stream (as with
 * conntrack.loose): at level established handshake states are not shared, so a connection whose
 * handshake was in flight at a takeover is known to no one; for pickup_ns after its bucket was
 * taken over (taken_ns) such a flow, once looked up and not found, is picked up. Never at levels
 * full (everything is shared) and none (strict by choice). Pure. */
bool pipeline_takeover_pickup(int level, bool looked_up, uint64_t taken_ns, uint64_t now_ns,
                              uint64_t pickup_ns);

/* Sends the packets egress has queued. Returns how many the kernel refused (counted as egress
 * drops; pl->err says why). */
unsigned pipeline_flush(struct pipeline *pl);

/* What the per-frame path does with a packet of a flow the table does not hold. */
enum pipeline_miss {
    MISS_CREATE = 0, /* a new connection (rules, rate limit, table room decide) */
    MISS_LOOKUP,     /* hold the packet while the store is asked: it may be a taken-over flow */
    MISS_FULL,       /* drop it: the table is full, and a flow that may be taken over is neither
                      * read (spoofed datagrams must not become reads) nor made new unread */
};

/* Decides the fate of a miss: a plain SYN starts a connection whatever is stored; any other
 * packet is looked up when there is a store and it was not asked yet, unless the table is at its
 * maximum (count >= max): then the read is skipped, so that a flood of spoofed datagrams does not
 * turn into a flood of reads and held packets. Pure. */
enum pipeline_miss pipeline_on_miss(uint8_t proto, uint8_t tcp_flags, bool have_store,
                                    bool looked_up, size_t count, uint32_t max);

/* Attaches the shared store (NULL: none) and returns the hooks it calls back into. */
struct store_hooks pipeline_store_hooks(struct pipeline *pl);
void pipeline_set_store(struct pipeline *pl, struct store *st);

/* Restricts processing to the buckets b with owned[b] (NULL: all). owned stays the caller's. */
void pipeline_set_owned(struct pipeline *pl, const uint8_t *owned, uint32_t nbuckets);

/* Adds a connection read from the store (bulk load of a bucket taken over). Returns 0, or -1
 * when the key or value is invalid (not trusted) or the connection is known already. */
int pipeline_preload(struct pipeline *pl, const char *key, size_t klen, const char *val,
                     size_t vlen, uint64_t now_ns);

/* Writes every connection the store should hold again (after a reconnect). */
void pipeline_resync(struct pipeline *pl, uint64_t now_ns);

/* Removes expired connections, looking at up to budget hash slots. */
void pipeline_expire(struct pipeline *pl, uint64_t now_ns, size_t budget);

#endif
