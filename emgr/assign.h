/* assign.h: the cluster's bucket map and worker roles, computed from the previous map and the
 * current membership (a pure core: no I/O, no globals, no allocation).
 *
 * The caller (emgr) keeps a table of known workers, struct assign_member[], across calls: a worker
 * keeps its index for as long as it is in the table, because the map names owners by index. A
 * worker is added when it first registers (in a free slot or at the end), marked alive / dead /
 * draining as heartbeats come and go, and removed only when it owns no bucket of the current map
 * (assign_count() == 0) by clearing its id ("" marks a free slot, which may be reused).
 *
 * Roles: an ACTIVE worker owns buckets; a BACKUP is alive, not draining and owns none; any other
 * worker (dead, draining, free slot) is NONE. Roles follow from the map and the membership alone,
 * so a restarted emgr needs only the map (assign_map_parse) to carry on.
 *
 * assign_next() moves from one map to the next:
 *   - the actives wanted are min(want_actives, eligible workers, nbuckets), where eligible means
 *     alive and not draining; backups are chosen in id order (strcmp), lowest first;
 *   - an active that is dead or draining hands ALL its buckets to one backup (1:1, the paper's
 * group action) when a backup is left and an active is missing; nothing else moves in that update;
 *   - otherwise its buckets are spread over the remaining actives; surplus actives (want_actives
 *     lowered: the highest ids) spread theirs and become backups; missing actives (a join,
 *     want_actives raised) are promoted from the backups and take their share from the busiest
 *     actives. Every such step leaves shares that differ by at most 1, moving the fewest buckets
 *     possible (no active both gains and loses) and keeping ranges contiguous where it can;
 *   - with no map yet (all buckets unowned) the actives get contiguous ranges in id order;
 *   - with no eligible worker, buckets of dead owners become unowned (-1: their traffic is dropped
 *     either way), and draining owners keep theirs until someone can take over.
 *
 * Text form (field "buckets" of fw:map; parsed by the workers' steering_parse): for each worker
 * with buckets, in id order, "id=lo-hi,lo-hi" (a single bucket as "7"), joined by ';', e.g.
 * "node1=0-511;node2=512-1023"; "" when no bucket has an owner. Ids are 1..63 printable ASCII
 * characters other than space, '=', ',' and ';'. */
#ifndef FW_ASSIGN_H
#define FW_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ASSIGN_MAX_BUCKETS 65536
#define ASSIGN_MAX_MEMBERS 1024 /* table slots, free ones included; fits owner's int16_t */
#define ASSIGN_ID_MAX      64   /* bytes of an id, its NUL included */
/* Bytes that always hold a map's text and its NUL: every bucket written alone (the digits of
 * 0..65535 are 316570, plus one separator each) and every member's "id=". */
#define ASSIGN_TEXT_MAX (316570 + ASSIGN_MAX_BUCKETS + ASSIGN_MAX_MEMBERS * ASSIGN_ID_MAX + 1)

enum assign_role {
    ASSIGN_NONE = 0,   /* dead, draining or a free slot: owns nothing, stands by for nothing */
    ASSIGN_ACTIVE = 1, /* owns buckets */
    ASSIGN_BACKUP = 2, /* alive, owns nothing, takes over a failed active's buckets */
};

struct assign_member {
    char id[ASSIGN_ID_MAX]; /* worker name, unique in the table; "" marks a free slot */
    bool alive;             /* registered and heartbeating */
    bool draining;          /* the operator is moving it out of the cluster */
};

struct assign_map {
    uint32_t nbuckets;                 /* a power of two, 1..ASSIGN_MAX_BUCKETS */
    uint64_t epoch;                    /* of the map; assign_next adds 1 when the map changes */
    int16_t owner[ASSIGN_MAX_BUCKETS]; /* bucket -> member index, -1: none; [nbuckets..] unused */
};

/* Sets map to nbuckets unowned buckets at the given epoch: the state before the first map, or
 * after a change of the bucket count (pass the last epoch published, so that epochs keep
 * increasing). nbuckets is not checked here; assign_next and the formatter check it. */
void assign_map_init(struct assign_map *map, uint32_t nbuckets, uint64_t epoch);

/* True when id can name a worker in the map text (see above). */
bool assign_id_valid(const char *id);

/* Returns the index of the member named id in members[0..n), or -1. */
int assign_find(const struct assign_member *members, size_t n, const char *id);

/* Returns the number of buckets of map owned by member index idx. */
uint32_t assign_count(const struct assign_map *map, int idx);

/* Computes the next map and every member's role.
 *   prev          the map in force (owners index members); not modified
 *   members[0..n) the member table, n <= ASSIGN_MAX_MEMBERS
 *   want_actives  how many actives the cluster should have, >= 1
 *   next          receives the new map; must not be prev
 *   roles[0..n)   receives each member's role (may be NULL)
 *   why           receives a one-line reason, e.g. "node2 failed: its 512 buckets go to backup
 *                 node3", or "map unchanged" (truncated to whylen; may be NULL when whylen is 0)
 * Returns 1 when the map changed (next->epoch = prev->epoch + 1), 0 when it did not (same epoch),
 * or -1 for bad input (bad bucket count, bad or duplicate id, owner out of range or a free slot,
 * want_actives 0) with the reason in why and next unspecified. Deterministic: the same input
 * gives the same output, ties are broken by id. Uses about 20 KiB of stack. */
int assign_next(const struct assign_map *prev, const struct assign_member *members, size_t n,
                uint32_t want_actives, struct assign_map *next, enum assign_role *roles, char *why,
                size_t whylen);

/* Writes the text form of map into buf (ASSIGN_TEXT_MAX bytes always suffice). Returns its length,
 * or -1 with err set when an owner is out of range or a free slot, the bucket count is bad, or the
 * text does not fit in len (buf then holds ""). Runs in O(owners * nbuckets). */
int assign_map_format(const struct assign_map *map, const struct assign_member *members, size_t n,
                      char *buf, size_t len, char *err, size_t errlen);

/* Reads a map's text (as written by assign_map_format; ranges in any order) into map, with
 * nbuckets buckets at the given epoch (both stored next to the text in fw:map). Owners are looked
 * up by id in members[0..*n); an id not there is appended (alive and draining false, *n grows, up
 * to cap <= ASSIGN_MAX_MEMBERS). Returns the number of owned buckets, or -1 with err set for a
 * malformed text (bad id, id listed twice, bad or empty range, bucket out of range or given twice,
 * table full); on error *n and members[0..*n) are as before and map has no owners. */
int assign_map_parse(const char *text, uint32_t nbuckets, uint64_t epoch,
                     struct assign_member *members, size_t *n, size_t cap, struct assign_map *map,
                     char *err, size_t errlen);

#endif
