/* options.h: every setting of the element manager, as one table (see common/config.h). */
#ifndef FW_EMGR_OPTIONS_H
#define FW_EMGR_OPTIONS_H

#include <stdbool.h>

#include "config.h"
#include "rule.h"

struct emgr_options {
    char *id; /* this manager's name (leases) */
    int log_level;
    bool log_json;
    long actives;      /* active workers wanted */
    long backups;      /* backups wanted (reported when short) */
    long buckets;      /* a power of two */
    long heartbeat_ms; /* workers' heartbeat interval */
    long misses;       /* heartbeats missed before a worker is failed */
    long reconcile_ms; /* membership scan period */
    long lease_ms;     /* leadership lease */
    int sync_level, sync_strategy, sync_access, sync_policy;
    char *sync_replicas;
    long sync_wait_timeout_ms;
    char *notify; /* command run on every map change ("" = none) */
    char *redis_host;
    long redis_port;
    char *redis_sentinels;
    char *redis_master;
    char *redis_user;
    char *redis_password;
    char *redis_password_file;
    long redis_timeout_ms;
    struct ruleset rules;
};

extern const struct cfg_option emgr_options_table[];

/* The words of the sync enums, as the workers read them from fw:config. */
extern const char *const emgr_sync_levels[];
extern const char *const emgr_sync_strategies[];
extern const char *const emgr_sync_accesses[];
extern const char *const emgr_sync_policies[];

#endif
