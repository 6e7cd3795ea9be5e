/* stats.h: the worker's counters and latency histograms. Plain integers bumped on the packet path;
 * written out as "name value" lines by stats_write(). */
#ifndef FW_STATS_H
#define FW_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "packet.h"
#include "tcp_state.h"

/* A log-linear histogram of durations in nanoseconds: 64 sub-buckets per power of two, so a bin
 * is at most 1/64 (1.6%) wide, and a percentile is interpolated within its bin. Fixed size
 * (20 KiB), no allocation. */
#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_POWERS   40
struct hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t bins[HIST_POWERS * HIST_SUB];
};

void hist_add(struct hist *h, uint64_t ns);
/* The value below which a fraction q (0..1) of the samples fall, in ns; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
void hist_reset(struct hist *h);

/* Why a parsed packet was not forwarded (beyond parse errors and TCP verdicts). */
enum stat_drop {
    DROP_RULE = 0,       /* a connection's first packet matched no allow rule */
    DROP_NO_CONN,        /* a reply-type packet (echo reply, ...) with no connection */
    DROP_TABLE_FULL,     /* the connection table is at its maximum */
    DROP_CSUM,           /* bad transport checksum */
    DROP_TTL,            /* TTL / hop limit would reach 0 */
    DROP_NO_FLOW,        /* an IP packet that is no connection (ICMP other than echo/errors) */
    DROP_ICMP_UNRELATED, /* ICMP error quoting no known connection */
    DROP_WRONG_SIDE,     /* a known connection's packet arrived on the wrong side */
    DROP_TO_GATEWAY,     /* addressed to the virtual gateway itself */
    DROP_EGRESS,         /* the send failed */
    DROP_NOT_OWNED,      /* its bucket belongs to another worker (the filter was being swapped) */
    DROP_RATE,           /* a new connection over its source's rate limit */
    DROP_MAX_
};

struct fw_stats {
    uint64_t pkts_in;    /* frames captured */
    uint64_t pkts_fwd;   /* packets forwarded */
    uint64_t pkts_drop;  /* packets dropped, all reasons */
    uint64_t pkts_local; /* ARP / ND answered or ignored, frames not for the gateway */
    uint64_t arp_replies, nd_replies;
    uint64_t conns_new;        /* connections created */
    uint64_t conns_expired;    /* connections removed by timeout */
    uint64_t conns_closed;     /* TCP connections removed after close */
    uint64_t conns_adopted;    /* connections taken over from the shared store */
    uint64_t conns_early_drop; /* unassured connections dropped at a full table for a new one */
    uint64_t conns_pickup;     /* picked up mid-stream in buckets just taken over (established) */
    uint64_t conns_active;     /* in the table now (gauge) */
    uint64_t drop_parse[PKT_DROP_MAX];
    uint64_t drop_tcp[TCP_VERDICT_MAX];
    uint64_t drop[DROP_MAX_];
    uint64_t capture_drops; /* the kernel's count of frames the capture buffer lost (gauge) */

    /* the shared store */
    uint64_t state_writes;     /* entries written (PUT) */
    uint64_t state_deletes;    /* entries deleted */
    uint64_t ttl_refreshes;    /* long-lived entries rewritten to renew their TTL */
    uint64_t wait_timeouts;    /* WAIT answered with fewer replicas than required */
    uint64_t waits;            /* WAITs sent (one per batch of synchronous writes) */
    uint64_t waits_queued;     /* ... behind another WAIT of its lane (FW_SYNC_PIPELINE > 1) */
    uint64_t store_lookups;    /* reads of an unknown flow's entry */
    uint64_t store_found;      /* ... that found a valid entry (adopted) */
    uint64_t store_rejected;   /* ... that found a malformed entry (not trusted) */
    uint64_t redis_errors;     /* error replies and failed commands */
    uint64_t redis_timeouts;   /* the master stopped answering: connection dropped */
    uint64_t redis_reconnects; /* connections made after the first */
    uint64_t writes_deferred;  /* writes that could not be sent (Redis down): retried later */
    uint64_t writes_lost;      /* writes or deletes whose outcome is unknown (connection lost) */
    uint64_t writes_refused;   /* transactional writes that found a later state stored */
    uint64_t policy_forwards;  /* packets forwarded although their write failed (fail-open) */
    uint64_t policy_drops;     /* packets dropped because their write failed (fail-closed) */
    uint64_t held_overflow;    /* packets dropped because too many were held */
    struct hist setup;         /* client SYN to the handshake-completing ACK */
    struct hist hold;          /* time a packet was held for a write or a lookup */
};

/* Short name of a drop reason: "rule", "table_full", ... */
const char *stats_drop_name(enum stat_drop d);

/* Writes every counter as "name value" lines: pkts_in, drop_parse_<reason>, drop_tcp_<verdict>,
 * drop_<reason>, setup_count, setup_p50_us, setup_p90_us, setup_p99_us, ... */
void stats_write(const struct fw_stats *s, FILE *out);

/* Writes the counters to path atomically (temporary file + rename). Returns 0 or -1 (errno). */
int stats_write_file(const struct fw_stats *s, const char *path);

/* The stats file written off the event loop: a thread writes the newest counters handed to it
 * (temporary file + rename), so that a slow disk never holds a packet or a heartbeat. */
struct stats_file;

/* Starts the writer of path. NULL with a message in err when it cannot. */
struct stats_file *stats_file_new(const char *path, char *err, size_t errlen);

/* Hands the counters to the writer (formatted here, written there; a text not yet written is
 * replaced). Returns the errno of the writer's last write, 0 when it succeeded (or none yet). */
int stats_file_post(struct stats_file *sf, const struct fw_stats *s);

/* Writes what was handed over last and stops the writer, waiting wait_s seconds at most for it
 * (a write may hang: an unreachable file system, a FIFO). Returns 0, or -1 when the writer was
 * still writing: sf stays valid (call again to wait more), else the writer ends with the process.
 * NULL is ignored. */
int stats_file_free(struct stats_file *sf, double wait_s);

#endif
