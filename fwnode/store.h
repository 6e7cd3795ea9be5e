/* store.h: the shared connection store, a priori synchronization of connection state in Redis.
 *
 * Three choices, as DESIGN.md section 5 defines them:
 *   level     full: every TCP state change (and UDP/ICMP NEW and ESTABLISHED) is written;
 *             established: only ESTABLISHED is written (and deleted on close); none: nothing
 *   strategy  sync: the packet that caused a write waits for WAIT (one WAIT per batch: group
 *             commit); async: it does not wait for the replicas
 *   access    transaction: MULTI, FCALL fw_put (entry + bucket index, never backwards), EXEC;
 *             dirty: pipelined SET and SADD
 *   async/dirty releases the packet at once; async/transaction on EXEC; sync on WAIT.
 *
 * The pure parts (store_plan, the entry format) are separate from the I/O so that unit tests can
 * check every decision without a server. */
#ifndef FW_STORE_H
#define FW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conntable.h"
#include "redis_ev.h"
#include "redisopt.h"

/* ---- decisions (pure) ---- */

/* Whether a connection in state st (TCP: enum tcp_st; UDP / ICMP: enum conn_pseudo) belongs in
 * the store at this level. */
bool store_wanted(enum sync_level level, uint8_t proto, uint8_t st);

/* True for states after which the entry is deleted (TCP TIME_WAIT and CLOSE). */
bool store_final(uint8_t proto, uint8_t st);

enum store_op { STORE_OP_NONE = 0, STORE_OP_PUT, STORE_OP_DEL };

struct store_plan {
    enum store_op op;
    bool multi; /* wrapped in MULTI / EXEC (transaction access) */
    bool wait;  /* followed by the batch's WAIT (sync strategy; PUT only) */
    bool hold;  /* the packet waits: for EXEC (async/transaction) or WAIT (sync) */
};

/* What to do for a connection now in state st whose stored state is stored_st (0: not stored). */
struct store_plan store_plan(enum sync_level level, enum sync_strategy strategy,
                             enum sync_access access, uint8_t proto, uint8_t st, uint8_t stored_st);

/* ---- entries (pure) ---- */

/* The value of a fw:conn: key, e.g. "ESTABLISHED owner=node1 orig=a side=a rank=3 v=1 t=...". */
struct store_entry {
    uint8_t state;     /* TCP: enum tcp_st; UDP / ICMP: enum conn_pseudo */
    uint8_t orig_is_a; /* the originator is endpoint a of the key */
    uint8_t orig_side; /* side of the first packet: 0 = a, 1 = b */
    uint8_t rank;      /* order of the state: a store never moves an entry to a lower rank */
    char owner[64];    /* the worker that wrote it */
    uint64_t t_ms;     /* when, ms since the epoch */
};

#define STORE_VALUE_MAX     192
#define STORE_LANES_MAX     16 /* connections to the master a store spreads its writes over */
#define STORE_PIPELINE_MAX  4  /* WAITs in flight on one of them */
#define STORE_ENTRY_VERSION 1

/* State words: TCP "SYN_SENT" ... "CLOSE"; UDP / ICMP "NEW", "ESTABLISHED". */
const char *store_state_name(uint8_t proto, uint8_t st);
uint8_t store_rank(uint8_t proto, uint8_t st);

/* Formats e for proto. Returns the length, or -1 when it does not fit. */
int store_entry_format(const struct store_entry *e, uint8_t proto, char *buf, size_t len);
/* Parses and validates a stored value; anything malformed, out of range or of another version is
 * rejected (-1, reason in err). Never trusts the input. */
int store_entry_parse(const char *s, size_t len, uint8_t proto, struct store_entry *e, char *err,
                      size_t errlen);

/* The key of a connection ("fw:conn:tcp:10.10.1.10:40000:10.10.2.10:80"). Returns its length. */
int store_conn_key(const struct flow_key *k, char *buf, size_t len);

/* Parses a key name back into a flow key (for bulk loads). Returns 0 or -1 (not a valid key). */
int store_conn_key_parse(const char *s, size_t len, struct flow_key *k);

/* How the store reads replies (pure, so every error reply is tested without a server). */
enum store_outcome {
    STORE_OK = 0,  /* the command did what it should */
    STORE_REFUSED, /* fw_put kept a stored entry of a higher rank (not an error) */
    STORE_ERROR,   /* an error reply, or a reply of the wrong type */
    STORE_LOST,    /* no reply: the connection went away */
    STORE_TIMEOUT, /* WAIT: fewer replicas than required acknowledged in time */
};
/* A write (SET, DEL, EXEC of a transaction): type of its reply and, for EXEC, the types of the
 * queued commands' results (n of them, NULL when not EXEC). */
enum store_outcome store_judge_write(enum redis_reply_type t, const enum redis_reply_type *results,
                                     const long long *values, size_t n);
/* WAIT: the number of replicas that acknowledged and the number required. */
enum store_outcome store_judge_wait(enum redis_reply_type t, long long acked, int required);
/* The read-back of an entry a synchronous batch wrote without replies: what the master holds
 * after the batch's WAIT (reply type t, string s/len) against what was written (want/want_len;
 * want NULL: deleted) as rank by worker node. STORE_OK: as written; STORE_REFUSED: another entry
 * stands, of a higher rank or another worker's (a guarded write refused, or a later writer);
 * STORE_ERROR: missing or different (the write did not take effect: its error was not read);
 * STORE_LOST: no reply. */
enum store_outcome store_judge_readback(enum redis_reply_type t, const char *s, size_t len,
                                        const char *want, size_t want_len, uint8_t proto,
                                        uint8_t rank, const char *node);
/* GET of an entry: STORE_OK with *e filled, STORE_REFUSED for nil (none), STORE_ERROR for a
 * malformed entry or an error reply, STORE_LOST for no reply. */
enum store_outcome store_judge_lookup(enum redis_reply_type t, const char *s, size_t len,
                                      uint8_t proto, struct store_entry *e);

/* The Lua source of the Redis function library loaded at connect (fw_put). */
extern const char store_function_source[];

/* ---- the store (I/O) ---- */

struct store;
struct fw_stats;

struct store_config {
    enum sync_level level;
    enum sync_strategy strategy;
    enum sync_access access;
    enum sync_policy policy;
    int replicas;         /* required replicas for WAIT; -1 = all connected replicas */
    long wait_timeout_ms; /* WAIT timeout */
    uint32_t buckets;     /* bucket count, a power of two */
    const char *node_id;
    uint64_t to_hold_ns; /* a held packet older than this: the master is deemed hung */
    int pipeline; /* WAITs a lane may have in flight (below 1: 1; at most STORE_PIPELINE_MAX) */
};

/* Calls back into the pipeline. */
struct store_hooks {
    void *arg;
    /* a held packet may leave (forward) or is dropped by the fail-closed policy (!forward) */
    void (*release)(void *arg, int side, const uint8_t *frame, uint32_t len, uint64_t ts,
                    bool forward);
    /* a lookup finished: e is the valid entry found, or NULL. The pipeline adopts it (or not)
     * before its held packets are run again through rerun. */
    void (*adopt)(void *arg, const struct flow_key *k, uint32_t hash, const struct store_entry *e,
                  int side, const uint8_t *frame, uint32_t len, uint64_t ts);
    void (*rerun)(void *arg, int side, const uint8_t *frame, uint32_t len, uint64_t ts);
    /* the connection to Redis came up (true) or went down, for the log */
    void (*state)(void *arg, bool up, const char *why);
};

/* Creates the store; stats (not owned) receives its counters. Attach the connection with
 * store_attach before the loop runs. */
struct store *store_new(const struct store_config *cfg, const struct store_hooks *hooks,
                        struct fw_stats *stats);
/* Changes the level, strategy, access, policy, replicas and WAIT timeout (from emgr's
 * configuration); the other fields of cfg are ignored. */
void store_set_mode(struct store *st, const struct store_config *cfg);
void store_set_buckets(struct store *st, uint32_t buckets);
const struct store_config *store_mode(const struct store *st);

/* Hands a Redis connection to the store (owned from now on); up to STORE_LANES_MAX. The first
 * carries lookups, statistics and the periodic commands. Each group-commits on its own, with at
 * most cfg.pipeline WAITs in flight (Redis blocks a connection behind its WAIT: a second one
 * waits at the master); what is queued once they are stays corked in the worker and leaves with
 * the next WAIT. Synchronous writes take
 * the lane that can commit them soonest (store_pick_lane), except that a connection whose
 * previous write is still unanswered keeps that write's lane, so its writes stay in order; other
 * writes are spread by connection hash. Returns 0, or -1 when the store has its maximum. */
int store_attach(struct store *st, struct redis_ev *r);
void store_free(struct store *st);

/* The redis_ev state callback to give to redis_ev_new (arg: the store). */
void store_on_redis_state(struct redis_ev *r, bool up, const char *why, void *arg);

/* STORE_DROP: the packet must be dropped (fail-closed, Redis unreachable). */
#define STORE_DROP UINT64_MAX

/* Brings the store up to date with connection c after its state may have changed: writes or
 * deletes as the level says, refreshes the TTL of a long-lived entry (at most once per half its
 * timeout). Returns the release point the packet that caused it must wait for (0: none, or
 * STORE_DROP). timeout_ns: the timeout of c's state (the entry's TTL). */
uint64_t store_sync(struct store *st, struct conn *c, uint64_t timeout_ns, uint64_t now_ns);

/* Connection c is about to be removed before its end (dropped to make room for a new one): its
 * entry, if it wrote one, is deleted as on close (DEL and SREM, in MULTI / EXEC with transaction
 * access), never holding a packet. When Redis is unreachable the delete is not retried: the entry
 * is left to its TTL, counted as writes_lost, like a close's delete. */
void store_forget(struct store *st, const struct conn *c);

/* Whether release point need has not passed (its lane passes its points in order: a point whose
 * reply came waits for the earlier ones of its lane). */
bool store_pending(struct store *st, uint64_t need);

/* Keeps a copy of a frame until release point need passes (at once when it has: the packets of
 * a point leave in the order they were held). */
void store_hold(struct store *st, uint64_t need, int side, const uint8_t *frame, uint32_t len,
                uint64_t ts);

/* Starts (or joins) the lookup of an unknown flow: the frame is held until the entry is read.
 * Returns true when held, false when the store cannot look up (no Redis, level none): the caller
 * goes on as if nothing was found. */
bool store_lookup(struct store *st, const struct flow_key *k, uint32_t hash, int side,
                  const uint8_t *frame, uint32_t len, uint64_t ts);

/* Ends a round of the event loop: each lane with an open batch and fewer WAITs in flight than
 * cfg.pipeline sends the batch's WAIT (group commit). */
void store_flush(struct store *st);

/* A lane's state, as store_pick_lane weighs it. */
enum store_lane_state {
    STORE_LANE_DOWN,
    STORE_LANE_IDLE,      /* no WAIT in flight, no open batch */
    STORE_LANE_OPEN,      /* an open batch, whose WAIT leaves at the end of this round */
    STORE_LANE_BUSY,      /* as many WAITs in flight as it may have */
    STORE_LANE_BUSY_OPEN, /* as many WAITs in flight as it may have, the next batch open */
    STORE_LANE_PIPE,      /* a WAIT in flight, another may follow it at once */
    STORE_LANE_PIPE_OPEN, /* a WAIT in flight and an open batch whose WAIT follows it now */
};

/* The lane a synchronous write joins, given each of the n lanes' state: one whose batch commits
 * in this round, else an idle one, else one whose next batch is open already (no extra WAIT),
 * else a busy one; lanes 1.. before lane 0, which also carries the lookups. -1 when all are
 * down. */
int store_pick_lane(const uint8_t *state, int n);

/* Periodic work (every tick): the hung-master check, the count of connected replicas. */
void store_tick(struct store *st, uint64_t now_ns);

/* Writes every counter to fw:stats:<node> (one HSET). */
void store_publish_stats(struct store *st, const struct fw_stats *s, uint64_t now_ns);

bool store_up(const struct store *st);

#endif
