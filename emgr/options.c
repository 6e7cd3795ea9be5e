/* options.c: the element manager's settings table. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
const char *const emgr_sync_levels[] = {"none", "established", "full", NULL};
const char *const emgr_sync_strategies[] = {"sync", "async", NULL};
const char *const emgr_sync_accesses[] = {"transaction", "dirty", NULL};
const char *const emgr_sync_policies[] = {"open", "closed", NULL};

#define OFF(f) offsetof(struct emgr_options, f)

const struct cfg_option emgr_options_table[] = {
    {"id", "FW_EMGR_ID", "emgr.id", CFG_STRING, "emgr1", OFF(id), 0, 0, NULL, NULL,
     "this manager's name (several managers: one leads, the others stand by)"},
    {"log_level", "FW_LOG_LEVEL", "log.level", CFG_ENUM, "info", OFF(log_level), 0, 0, log_levels,
     NULL, "least severe level logged"},
    {"log_json", "FW_LOG_JSON", "log.json", CFG_BOOL, "false", OFF(log_json), 0, 0, NULL, NULL,
     "log JSON lines instead of text"},
    {"actives", "FW_ACTIVES", "cluster.actives", CFG_INT, "2", OFF(actives), 1, 1000, NULL, NULL,
     "active workers wanted (they share the buckets)"},
    {"backups", "FW_BACKUPS", "cluster.backups", CFG_INT, "1", OFF(backups), 0, 1000, NULL, NULL,
     "backup workers wanted (standing by; a shortage is reported)"},
    {"buckets", "FW_BUCKETS", "cluster.buckets", CFG_INT, "1024", OFF(buckets), 1, 65536, NULL,
     config_valid_pow2, "number of buckets connections hash to (a power of two)"},
    {"heartbeat", "FW_HEARTBEAT_MS", "cluster.heartbeat_ms", CFG_INT, "20", OFF(heartbeat_ms), 5,
     10000, NULL, NULL, "milliseconds between a worker's heartbeats"},
    {"misses", "FW_HEARTBEAT_MISSES", "cluster.misses", CFG_INT, "3", OFF(misses), 2, 100, NULL,
     NULL, "heartbeats missed before a worker is failed (detection time = heartbeat x misses)"},
    {"reconcile", "FW_RECONCILE_MS", "cluster.reconcile_ms", CFG_INT, "50", OFF(reconcile_ms), 10,
     60000, NULL, NULL, "period of the membership scan (keyspace events can be missed)"},
    {"lease", "FW_LEASE_MS", "cluster.lease_ms", CFG_INT, "1000", OFF(lease_ms), 100, 60000, NULL,
     NULL, "leadership lease: a standby manager takes over within this time"},
    {"sync_level", "FW_SYNC_LEVEL", "sync.level", CFG_ENUM, "full", OFF(sync_level), 0, 0,
     emgr_sync_levels, NULL, "which state changes the workers write to Redis"},
    {"sync_strategy", "FW_SYNC_STRATEGY", "sync.strategy", CFG_ENUM, "sync", OFF(sync_strategy), 0,
     0, emgr_sync_strategies, NULL, "sync: a packet waits for WAIT; async: it does not"},
    {"sync_access", "FW_SYNC_ACCESS", "sync.access", CFG_ENUM, "transaction", OFF(sync_access), 0,
     0, emgr_sync_accesses, NULL, "transaction: MULTI/EXEC; dirty: plain SET"},
    {"sync_policy", "FW_SYNC_POLICY", "sync.policy", CFG_ENUM, "open", OFF(sync_policy), 0, 0,
     emgr_sync_policies, NULL, "a packet whose write failed: forwarded (open) or dropped (closed)"},
    {"sync_replicas", "FW_SYNC_REPLICAS", "sync.replicas", CFG_STRING, "all", OFF(sync_replicas), 0,
     0, NULL, config_valid_replicas, "replicas WAIT requires: all (connected) or a number"},
    {"sync_wait_timeout", "FW_SYNC_WAIT_TIMEOUT_MS", "sync.wait_timeout_ms", CFG_INT, "100",
     OFF(sync_wait_timeout_ms), 1, 60000, NULL, NULL, "WAIT timeout, milliseconds"},
    {"notify", "FW_NOTIFY", "notify", CFG_STRING, "", OFF(notify), 0, 0, NULL, NULL,
     "command run on every map change, with FW_MAP_* in its environment"},
    {"redis_host", "FW_REDIS_HOST", "redis.host", CFG_STRING, "", OFF(redis_host), 0, 0, NULL, NULL,
     "Redis master address (or use sentinels)"},
    {"redis_port", "FW_REDIS_PORT", "redis.port", CFG_INT, "6379", OFF(redis_port), 1, 65535, NULL,
     NULL, "Redis master port"},
    {"redis_sentinels", "FW_REDIS_SENTINELS", "redis.sentinels", CFG_STRING, "",
     OFF(redis_sentinels), 0, 0, NULL, NULL, "host:port,... of Redis Sentinels"},
    {"redis_master", "FW_REDIS_MASTER", "redis.master", CFG_STRING, "fwmaster", OFF(redis_master),
     0, 0, NULL, NULL, "the master's name at the sentinels"},
    {"redis_user", "FW_REDIS_USER", "redis.user", CFG_STRING, "", OFF(redis_user), 0, 0, NULL, NULL,
     "Redis ACL user"},
    {"redis_password", "FW_REDIS_PASSWORD", "redis.password", CFG_STRING, "", OFF(redis_password),
     0, 0, NULL, NULL, "Redis password (prefer the password file)"},
    {"redis_password_file", "FW_REDIS_PASSWORD_FILE", "redis.password_file", CFG_STRING, "",
     OFF(redis_password_file), 0, 0, NULL, NULL, "file holding the Redis password"},
    {"redis_timeout", "FW_REDIS_TIMEOUT_MS", "redis.timeout_ms", CFG_INT, "500",
     OFF(redis_timeout_ms), 10, 60000, NULL, NULL, "connect timeout, milliseconds"},
    {"rules", "FW_RULES", "rules", CFG_RULES, NULL, OFF(rules), 0, 0, NULL, NULL,
     "the cluster's rules, first match wins, default deny (env: separated by ';')"},
    CFG_END,
};
