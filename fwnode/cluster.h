/* cluster.h: the worker's side of cluster membership. Registers and heartbeats (fw:node:<id>,
 * a key with a short TTL that emgr watches), follows the bucket map (fw:map) and the cluster's
 * configuration (fw:config) as emgr publishes them (notified on the channel fw:events, and polled
 * once a second because notifications can be missed), and acknowledges the map epoch it applied
 * in its heartbeat. */
#ifndef FW_CLUSTER_H
#define FW_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "redis_ev.h"

struct ev_loop;
struct cluster;

/* The cluster configuration emgr publishes (fw:config). Strings are valid during the callback. */
struct cluster_config {
    uint64_t version;
    const char *rules;                                         /* rules, one per line */
    const char *level, *strategy, *access, *policy, *replicas; /* NULL when absent */
    long wait_timeout_ms;                                      /* 0 when absent */
    long heartbeat_ms, misses;                                 /* 0 when absent */
};

struct cluster_hooks {
    void *arg;
    /* a new map: this worker's buckets are in map (steering_parse) */
    void (*map)(void *arg, uint64_t epoch, uint32_t nbuckets, const char *map);
    /* a new configuration version */
    void (*config)(void *arg, const struct cluster_config *cfg);
    /* something worth a log line */
    void (*note)(void *arg, bool warn, const char *msg);
};

/* heartbeat_ms and misses: until fw:config says otherwise. The connections are attached next
 * (their state callbacks take the cluster as argument). */
struct cluster *cluster_new(struct ev_loop *loop, const char *node, struct redis_ev *cmd,
                            struct redis_ev *sub, long heartbeat_ms, long misses,
                            const struct cluster_hooks *hooks);
/* cmd: a connection for commands, sub: one for the subscription (both owned from now on). */
void cluster_attach(struct cluster *c, struct redis_ev *cmd, struct redis_ev *sub);
void cluster_free(struct cluster *c);

/* The redis_ev state callbacks to give to redis_ev_new for cmd and sub (arg: the cluster). */
void cluster_on_cmd_state(struct redis_ev *r, bool up, const char *why, void *arg);
void cluster_on_sub_state(struct redis_ev *r, bool up, const char *why, void *arg);

/* Records the epoch applied and announces it at once. */
void cluster_ack(struct cluster *c, uint64_t epoch, uint32_t owned);
/* Marks the worker as draining (it asks emgr to move its buckets away) and announces it. */
void cluster_drain(struct cluster *c);
/* Stops (healthy = false) or resumes heartbeats: a worker that cannot reach its data
 * interfaces lets its registration expire, so that emgr hands its buckets to a backup. */
void cluster_set_healthy(struct cluster *c, bool healthy);

/* Heartbeat settings from the configuration. */
void cluster_set_heartbeat(struct cluster *c, long heartbeat_ms, long misses);

/* Reads the connection keys of buckets [0, nbuckets) where want[b] is set and hands every entry
 * to fn (key name, value) as the replies come in; stale index members are removed. */
typedef void (*cluster_entry_fn)(void *arg, const char *key, size_t klen, const char *val,
                                 size_t vlen);
void cluster_load_buckets(struct cluster *c, const uint8_t *want, uint32_t nbuckets,
                          cluster_entry_fn fn, void *arg);

#endif
