/* settings.c: the worker's settings table: name, env var, file path, type, default, help. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

/* Validates a unicast MAC address "xx:xx:xx:xx:xx:xx". */
static int valid_mac(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;
    unsigned m[6];
    char tail;
    (void)opt;
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
                     &tail) != 6) {
        snprintf(err, errlen, "not a MAC address: '%s'", s ? s : "");
        return -1;
    }
    if (m[0] & 1) {
        snprintf(err, errlen, "a multicast MAC cannot be a gateway: '%s'", s);
        return -1;
    }
    return 0;
}

/* Validates a worker name: 1..63 printable characters other than space, '=', ',' and ';' (it is
 * written into the bucket map's text and into Redis key names). */
static int valid_name(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;
    size_t n = s ? strlen(s) : 0;
    (void)opt;
    bool ok = n >= 1 && n <= 63;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] > ' ' && s[i] < 0x7f && !strchr("=,;", s[i]);
    if (!ok) {
        snprintf(err, errlen, "'%s': 1 to 63 printable characters, no space, '=', ',' or ';'",
                 s ? s : "");
        return -1;
    }
    return 0;
}

/* Validates an IPv4 address, or IPv6 for the vip6 settings. */
static int valid_ip(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;
    unsigned char buf[16];
    int v6 = strstr(opt->name, "vip6") != NULL;
    if (!s || inet_pton(v6 ? AF_INET6 : AF_INET, s, buf) != 1) {
        snprintf(err, errlen, "not an IPv%d address: '%s'", v6 ? 6 : 4, s ? s : "");
        return -1;
    }
    return 0;
}

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define OFF(f) offsetof(struct fwnode_settings, f)
#define SECS(n, e, p, d, f, h)                                                                     \
    {                                                                                              \
        n, e, p, CFG_INT, d, OFF(f), 1, 100000000, NULL, NULL, h                                   \
    }

const struct cfg_option fwnode_options[] = {
    {"node_id", "FW_NODE_ID", "node_id", CFG_STRING, "node1", OFF(node_id), 0, 0, NULL, valid_name,
     "name of this worker in the cluster"},
    {"log_level", "FW_LOG_LEVEL", "log.level", CFG_ENUM, "info", OFF(log_level), 0, 0, log_levels,
     NULL, "least severe level logged"},
    {"log_json", "FW_LOG_JSON", "log.json", CFG_BOOL, "false", OFF(log_json), 0, 0, NULL, NULL,
     "log JSON lines instead of text"},
    {"side_a_iface", "FW_SIDE_A_IFACE", "side_a.iface", CFG_STRING, "a", OFF(side[0].iface), 0, 0,
     NULL, NULL, "interface on side A (clients)"},
    {"side_a_vip", "FW_SIDE_A_VIP", "side_a.vip", CFG_STRING, "10.10.1.1", OFF(side[0].vip), 0, 0,
     NULL, valid_ip, "virtual gateway IPv4 address on side A"},
    {"side_a_vip6", "FW_SIDE_A_VIP6", "side_a.vip6", CFG_STRING, "fd00:10:1::1", OFF(side[0].vip6),
     0, 0, NULL, valid_ip, "virtual gateway IPv6 address on side A"},
    {"side_a_vmac", "FW_SIDE_A_VMAC", "side_a.vmac", CFG_STRING, "02:f0:00:00:00:0a",
     OFF(side[0].vmac), 0, 0, NULL, valid_mac, "virtual gateway MAC on side A"},
    {"side_b_iface", "FW_SIDE_B_IFACE", "side_b.iface", CFG_STRING, "b", OFF(side[1].iface), 0, 0,
     NULL, NULL, "interface on side B (servers)"},
    {"side_b_vip", "FW_SIDE_B_VIP", "side_b.vip", CFG_STRING, "10.10.2.1", OFF(side[1].vip), 0, 0,
     NULL, valid_ip, "virtual gateway IPv4 address on side B"},
    {"side_b_vip6", "FW_SIDE_B_VIP6", "side_b.vip6", CFG_STRING, "fd00:10:2::1", OFF(side[1].vip6),
     0, 0, NULL, valid_ip, "virtual gateway IPv6 address on side B"},
    {"side_b_vmac", "FW_SIDE_B_VMAC", "side_b.vmac", CFG_STRING, "02:f0:00:00:00:0b",
     OFF(side[1].vmac), 0, 0, NULL, valid_mac, "virtual gateway MAC on side B"},
    {"conn_max", "FW_CONN_MAX", "conntrack.max", CFG_INT, "65536", OFF(conn_max), 1, 16777216, NULL,
     NULL, "connection table maximum; beyond it new connections are dropped"},
    {"tcp_loose", "FW_TCP_LOOSE", "conntrack.loose", CFG_BOOL, "false", OFF(tcp_loose), 0, 0, NULL,
     NULL, "pick up TCP connections mid-stream (off: strict)"},
    {"takeover_pickup_ms", "FW_TAKEOVER_PICKUP_MS", "conntrack.takeover_pickup_ms", CFG_INT, "3000",
     OFF(takeover_pickup_ms), 0, 600000, NULL, NULL,
     "level established: for this long after a takeover, a TCP flow of the buckets taken over "
     "that is missing from Redis (its handshake was in flight) is picked up mid-stream, if the "
     "rules allow its direction (0: strict)"},
    {"checksum", "FW_CHECKSUM", "conntrack.checksum", CFG_BOOL, "true", OFF(checksum), 0, 0, NULL,
     NULL, "verify TCP/UDP/ICMP checksums and drop bad ones"},
    {"rate_per_source", "FW_RATE_PER_SOURCE", "conntrack.rate_per_source", CFG_INT, "0",
     OFF(rate_per_source), 0, 10000000, NULL, NULL,
     "new connections per second one source may open (0: no limit)"},
    {"rate_burst", "FW_RATE_BURST", "conntrack.rate_burst", CFG_INT, "0", OFF(rate_burst), 0,
     10000000, NULL, NULL, "burst of new connections per source (0: the rate)"},
    {"user", "FW_USER", "user", CFG_STRING, "", OFF(user), 0, 0, NULL, NULL,
     "drop root for this user once captures and sockets are open (\"\": stay)"},
    {"realtime_priority", "FW_RT_PRIORITY", "realtime_priority", CFG_INT, "0", OFF(rt_priority), 0,
     99, NULL, NULL,
     "SCHED_FIFO priority (1-99): packets are handled as soon as they arrive, ahead of the "
     "host's other processes (0: normal scheduling)"},
    {"cpus", "FW_CPUS", "cpus", CFG_STRING, "", OFF(cpus), 0, 0, NULL, config_valid_cpus,
     "CPUs the live worker runs on, a list like 0 or 2-3,6 (\"\": wherever the host puts it)"},
    SECS("timeout_syn_sent", "FW_TIMEOUT_SYN_SENT", "conntrack.timeouts.syn_sent", "120",
         to_syn_sent, "seconds"),
    SECS("timeout_syn_recv", "FW_TIMEOUT_SYN_RECV", "conntrack.timeouts.syn_recv", "60",
         to_syn_recv, "seconds"),
    SECS("timeout_established", "FW_TIMEOUT_ESTABLISHED", "conntrack.timeouts.established",
         "432000", to_established, "seconds"),
    SECS("timeout_fin_wait", "FW_TIMEOUT_FIN_WAIT", "conntrack.timeouts.fin_wait", "120",
         to_fin_wait, "seconds"),
    SECS("timeout_close_wait", "FW_TIMEOUT_CLOSE_WAIT", "conntrack.timeouts.close_wait", "60",
         to_close_wait, "seconds"),
    SECS("timeout_last_ack", "FW_TIMEOUT_LAST_ACK", "conntrack.timeouts.last_ack", "30",
         to_last_ack, "seconds"),
    SECS("timeout_time_wait", "FW_TIMEOUT_TIME_WAIT", "conntrack.timeouts.time_wait", "120",
         to_time_wait, "seconds"),
    SECS("timeout_close", "FW_TIMEOUT_CLOSE", "conntrack.timeouts.close", "10", to_close,
         "seconds"),
    SECS("timeout_udp", "FW_TIMEOUT_UDP", "conntrack.timeouts.udp", "30", to_udp,
         "seconds, UDP flow not yet answered"),
    SECS("timeout_udp_stream", "FW_TIMEOUT_UDP_STREAM", "conntrack.timeouts.udp_stream", "180",
         to_udp_stream, "seconds, UDP flow with replies"),
    SECS("timeout_icmp", "FW_TIMEOUT_ICMP", "conntrack.timeouts.icmp", "30", to_icmp,
         "seconds, ICMP echo"),
    {"stats_file", "FW_STATS_FILE", "stats.file", CFG_STRING, "", OFF(stats_file), 0, 0, NULL, NULL,
     "file the counters are rewritten to (\"\": none)"},
    {"stats_interval", "FW_STATS_INTERVAL_MS", "stats.interval_ms", CFG_INT, "1000",
     OFF(stats_interval_ms), 10, 3600000, NULL, NULL, "milliseconds between counter updates"},
    SYNC_OPT_ROWS(struct fwnode_settings, sync, "none"),
    {"buckets", "FW_BUCKETS", "sync.buckets", CFG_INT, "1024", OFF(buckets), 1, 65536, NULL,
     config_valid_pow2, "number of buckets connections hash to (a power of two)"},
    {"connections", "FW_SYNC_CONNECTIONS", "sync.connections", CFG_INT, "4", OFF(connections), 1,
     16, NULL, NULL,
     "connections to the Redis master that writes are spread over; each has at most one WAIT "
     "in flight (group commit) and a synchronous write takes the one that commits it soonest; "
     "more shorten holds under load and cost the master more WAITs, 1 commits the most writes "
     "per WAIT"},
    {"pipeline", "FW_SYNC_PIPELINE", "sync.pipeline", CFG_INT, "1", OFF(pipeline), 1, 4, NULL, NULL,
     "WAITs one connection to the master may have in flight: with 2 the next batch waits at the "
     "master behind the WAIT in flight, applied the moment it returns (shorter holds; fewer "
     "writes per WAIT, so more work for the master)"},
    REDIS_OPT_ROWS(struct fwnode_settings, redis),
    {"cluster", "FW_CLUSTER", "cluster.enabled", CFG_BOOL, "false", OFF(cluster), 0, 0, NULL, NULL,
     "join the cluster: heartbeat, follow emgr's bucket map and configuration"},
    {"heartbeat", "FW_HEARTBEAT_MS", "cluster.heartbeat_ms", CFG_INT, "20", OFF(heartbeat_ms), 5,
     10000, NULL, NULL, "milliseconds between heartbeats (until emgr's configuration says)"},
    {"heartbeat_misses", "FW_HEARTBEAT_MISSES", "cluster.misses", CFG_INT, "3",
     OFF(heartbeat_misses), 2, 100, NULL, NULL, "heartbeats missed before a worker is failed"},
    {"drain_timeout", "FW_DRAIN_TIMEOUT_MS", "cluster.drain_timeout_ms", CFG_INT, "5000",
     OFF(drain_timeout_ms), 0, 600000, NULL, NULL,
     "on SIGTERM, wait this long for emgr to move the buckets away"},
    {"rules", "FW_RULES", "rules", CFG_RULES, NULL, OFF(rules), 0, 0, NULL, NULL,
     "ordered rules, first match wins, default deny (env: separated by ';')"},
    CFG_END,
};
