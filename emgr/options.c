/* options.c: the element manager's settings table. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

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
    SYNC_OPT_ROWS(struct emgr_options, sync, "full"),
    {"notify", "FW_NOTIFY", "notify", CFG_STRING, "", OFF(notify), 0, 0, NULL, NULL,
     "command run on every map change, with FW_MAP_* in its environment"},
    REDIS_OPT_ROWS(struct emgr_options, redis),
    {"rules", "FW_RULES", "rules", CFG_RULES, NULL, OFF(rules), 0, 0, NULL, NULL,
     "the cluster's rules, first match wins, default deny (env: separated by ';')"},
    CFG_END,
};
