/* options.h: every setting of the element manager, as one table (see common/config.h). */
#ifndef FW_EMGR_OPTIONS_H
#define FW_EMGR_OPTIONS_H

#include <stdbool.h>

#include "config.h"
#include "redisopt.h"
#include "rule.h"

struct emgr_options {
    char *id; /* this manager's name (leases) */
    int log_level;
    bool log_json;
    long actives;         /* active workers wanted */
    long backups;         /* backups wanted (reported when short) */
    long buckets;         /* a power of two */
    long heartbeat_ms;    /* workers' heartbeat interval */
    long misses;          /* heartbeats missed before a worker is failed */
    long reconcile_ms;    /* membership scan period */
    long lease_ms;        /* leadership lease */
    struct sync_opt sync; /* published to the workers */
    char *notify;         /* command run on every map change ("" = none) */
    struct redis_opt redis;
    struct ruleset rules;
};

extern const struct cfg_option emgr_options_table[];

#endif
