/* redisopt.c: the settings both daemons share: reaching Redis, and the sync choices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redisopt.h"

const char *const sync_level_words[] = {"none", "established", "full", NULL};
const char *const sync_strategy_words[] = {"sync", "async", NULL};
const char *const sync_access_words[] = {"transaction", "dirty", NULL};
const char *const sync_policy_words[] = {"open", "closed", NULL};

bool redisopt_configured(const struct redis_opt *o)
{
    return o->host[0] || o->sentinels[0];
}

int redisopt_connection(const struct redis_opt *o, const char *client_name, char *secret,
                        size_t len, struct redis_ev_config *rc, char *err, size_t errlen)
{
    snprintf(secret, len, "%s", o->password);
    if (o->password_file[0] && config_read_secret(o->password_file, secret, len, err, errlen) != 0)
        return -1;
    memset(rc, 0, sizeof(*rc));
    rc->host = o->host;
    rc->port = (int)o->port;
    rc->sentinels = o->sentinels;
    rc->master_name = o->master;
    rc->user = o->user;
    rc->password = secret;
    rc->client_name = client_name;
    rc->connect_timeout = o->timeout_ms / 1000.0;
    rc->backoff_min = 0.05;
    rc->backoff_max = 1.0;
    return 0;
}

int syncopt_replicas(const struct sync_opt *s)
{
    return strcmp(s->replicas, "all") == 0 ? -1 : atoi(s->replicas);
}
