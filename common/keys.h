/* keys.h: the one place that names Redis keys. Every key starts with "fw:".
 *
 *   fw:conn:<proto>:<addr>:<port>:<addr>:<port>  one connection (string value, TTL = its timeout);
 *                                                endpoints in canonical order, IPv6 in brackets
 *   fw:bucket:<n>                                set of the connection keys of bucket n
 *   fw:stats:<node>                              hash of a worker's counters, rewritten each second
 *   fw:node:<node>                               a worker's registration / heartbeat (short TTL)
 *   fw:map                                       hash: epoch, nbuckets, buckets (the map text)
 *   fw:config                                    hash: version, rules, sync settings (emgr)
 *   fw:events                                    channel announcing new maps and configs
 *   fw:emgr:leader                               the leading manager's lease
 *   fw:nodes, fw:drain                           sets: registered workers, workers to drain
 *   fw:emgr                                      channel: requests to the leading manager
 *
 * The functions write a NUL-terminated key into buf and return its length, or -1 when it does not
 * fit. */
#ifndef FW_KEYS_H
#define FW_KEYS_H

#include <stddef.h>

#define KEYS_CONN_PREFIX      "fw:conn:"
#define KEYS_CONN_PATTERN     "fw:conn:*"
#define KEYS_BUCKET_PATTERN   "fw:bucket:*"
#define KEYS_STATS_PATTERN    "fw:stats:*"
#define KEYS_STATS_PREFIX     "fw:stats:"
#define KEYS_NODE_PATTERN     "fw:node:*"
#define KEYS_MAP              "fw:map"
#define KEYS_CONFIG           "fw:config"      /* hash: version, rules, sync settings, heartbeat */
#define KEYS_EVENTS           "fw:events"      /* channel: "map:<epoch>", "config:<version>" */
#define KEYS_LEADER           "fw:emgr:leader" /* the leading manager's lease */
#define KEYS_NODES            "fw:nodes" /* set: every worker that ever registered (emgr prunes) */
#define KEYS_DRAIN            "fw:drain" /* set: workers the operator asked to drain */
#define KEYS_EMGR_CHANNEL     "fw:emgr"  /* channel: "reload", "drain:<node>" for the leader */
#define KEYS_NODE_PREFIX      "fw:node:"
#define KEYS_FUNCTION_LIBRARY "fw" /* the Redis function library (FUNCTION LOAD) */
#define KEYS_MAX              160  /* longest key any function here writes */

/* a, b: textual addresses ("10.10.1.10", "fd00:10:1::10"); proto: "tcp", "udp", "icmp", ... */
int keys_conn(char *buf, size_t len, const char *proto, const char *a, unsigned pa, const char *b,
              unsigned pb);
int keys_bucket(char *buf, size_t len, unsigned bucket);
int keys_stats(char *buf, size_t len, const char *node);
int keys_node(char *buf, size_t len, const char *node);

#endif
