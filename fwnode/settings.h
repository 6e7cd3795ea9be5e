/* settings.h: every setting of the worker, as one table (see common/config.h). */
#ifndef FW_SETTINGS_H
#define FW_SETTINGS_H

#include <stdbool.h>

#include "config.h"
#include "redisopt.h"
#include "rule.h"

struct fwnode_side_settings {
    char *iface; /* capture and egress interface */
    char *vip;   /* virtual gateway IPv4 address */
    char *vip6;  /* virtual gateway IPv6 address */
    char *vmac;  /* virtual MAC, "02:f0:00:00:00:0a" */
};

struct fwnode_settings {
    char *node_id;
    int log_level; /* enum log_level */
    bool log_json;
    struct fwnode_side_settings side[2]; /* [0] side A, [1] side B */
    long conn_max;                       /* connection table maximum */
    bool tcp_loose;                      /* mid-stream pickup */
    long takeover_pickup_ms; /* level established: mid-stream pickup this long after a takeover */
    bool checksum;           /* verify transport checksums */
    long rate_per_source;    /* new connections per second per source address, 0: no limit */
    long rate_burst;         /* their burst, 0: the rate */
    char *user;              /* run as this user once the captures and sockets are open */
    long rt_priority;        /* SCHED_FIFO priority of the worker, 0: normal scheduling */
    char *cpus;              /* CPU list the worker runs on ("" = no affinity) */
    long to_syn_sent, to_syn_recv, to_established, to_fin_wait, to_close_wait, to_last_ack,
        to_time_wait, to_close;          /* TCP state timeouts, seconds */
    long to_udp, to_udp_stream, to_icmp; /* pseudo-state timeouts, seconds */
    char *stats_file;                    /* counters rewritten here once a second ("" = none) */
    /* the shared store */
    struct sync_opt sync;
    long buckets;     /* bucket count, a power of two */
    long connections; /* connections to the master the writes are spread over */
    long pipeline;    /* WAITs in flight per connection */
    struct redis_opt redis;
    /* the cluster */
    bool cluster; /* follow emgr: register, heartbeat, bucket map, configuration */
    long heartbeat_ms;
    long heartbeat_misses;
    long drain_timeout_ms;
    long stats_interval_ms;
    struct ruleset rules;
};

extern const struct cfg_option fwnode_options[];

#endif
