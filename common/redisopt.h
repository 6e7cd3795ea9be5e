/* redisopt.h: the settings both daemons share, how to reach Redis and how to synchronize, as rows
 * for their configuration tables (common/config.h), and the words of the sync choices. */
#ifndef FW_REDISOPT_H
#define FW_REDISOPT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "redis_ev.h"

/* The three choices of DESIGN.md section 5 and the failure policy. */
enum sync_level { SYNC_LEVEL_NONE = 0, SYNC_LEVEL_ESTABLISHED, SYNC_LEVEL_FULL };
enum sync_strategy { SYNC_STRATEGY_SYNC = 0, SYNC_STRATEGY_ASYNC };
enum sync_access { SYNC_ACCESS_TRANSACTION = 0, SYNC_ACCESS_DIRTY };
enum sync_policy { SYNC_POLICY_OPEN = 0, SYNC_POLICY_CLOSED };

/* Their words, indexed by the enums (NULL-terminated, for CFG_ENUM). */
extern const char *const sync_level_words[];
extern const char *const sync_strategy_words[];
extern const char *const sync_access_words[];
extern const char *const sync_policy_words[];

struct redis_opt {
    char *host; /* master address, "" when the sentinels find it */
    long port;
    char *sentinels; /* "host:port,..." */
    char *master;    /* the master's name at the sentinels */
    char *user;      /* ACL user */
    char *password;
    char *password_file; /* preferred over password */
    long timeout_ms;     /* connect timeout */
};

struct sync_opt {
    int level;      /* enum sync_level */
    int strategy;   /* enum sync_strategy */
    int access;     /* enum sync_access */
    int policy;     /* enum sync_policy */
    char *replicas; /* "all" or a number */
    long wait_timeout_ms;
};

/* Table rows of a struct redis_opt at member m of the settings struct T. */
#define REDIS_OPT_ROWS(T, m)                                                                       \
    {"redis_host",                                                                                 \
     "FW_REDIS_HOST",                                                                              \
     "redis.host",                                                                                 \
     CFG_STRING,                                                                                   \
     "",                                                                                           \
     offsetof(T, m.host),                                                                          \
     0,                                                                                            \
     0,                                                                                            \
     NULL,                                                                                         \
     NULL,                                                                                         \
     "Redis master address (\"\": none, or found by the sentinels)"},                              \
        {"redis_port",                                                                             \
         "FW_REDIS_PORT",                                                                          \
         "redis.port",                                                                             \
         CFG_INT,                                                                                  \
         "6379",                                                                                   \
         offsetof(T, m.port),                                                                      \
         1,                                                                                        \
         65535,                                                                                    \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "Redis master port"},                                                                     \
        {"redis_sentinels",                                                                        \
         "FW_REDIS_SENTINELS",                                                                     \
         "redis.sentinels",                                                                        \
         CFG_STRING,                                                                               \
         "",                                                                                       \
         offsetof(T, m.sentinels),                                                                 \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "host:port,... of Redis Sentinels (they name the master)"},                               \
        {"redis_master",                                                                           \
         "FW_REDIS_MASTER",                                                                        \
         "redis.master",                                                                           \
         CFG_STRING,                                                                               \
         "fwmaster",                                                                               \
         offsetof(T, m.master),                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "the master's name at the sentinels"},                                                    \
        {"redis_user",                                                                             \
         "FW_REDIS_USER",                                                                          \
         "redis.user",                                                                             \
         CFG_STRING,                                                                               \
         "",                                                                                       \
         offsetof(T, m.user),                                                                      \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "Redis ACL user (\"\": the default user)"},                                               \
        {"redis_password",                                                                         \
         "FW_REDIS_PASSWORD",                                                                      \
         "redis.password",                                                                         \
         CFG_STRING,                                                                               \
         "",                                                                                       \
         offsetof(T, m.password),                                                                  \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "Redis password (prefer the password file)"},                                             \
        {"redis_password_file",                                                                    \
         "FW_REDIS_PASSWORD_FILE",                                                                 \
         "redis.password_file",                                                                    \
         CFG_STRING,                                                                               \
         "",                                                                                       \
         offsetof(T, m.password_file),                                                             \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "file holding the Redis password"},                                                       \
    {                                                                                              \
        "redis_timeout", "FW_REDIS_TIMEOUT_MS", "redis.timeout_ms", CFG_INT, "500",                \
            offsetof(T, m.timeout_ms), 10, 60000, NULL, NULL, "connect timeout, milliseconds"      \
    }

/* Table rows of a struct sync_opt at member m of T, level deflevel by default. */
#define SYNC_OPT_ROWS(T, m, deflevel)                                                              \
    {"sync_level",                                                                                 \
     "FW_SYNC_LEVEL",                                                                              \
     "sync.level",                                                                                 \
     CFG_ENUM,                                                                                     \
     deflevel,                                                                                     \
     offsetof(T, m.level),                                                                         \
     0,                                                                                            \
     0,                                                                                            \
     sync_level_words,                                                                             \
     NULL,                                                                                         \
     "which state changes go to Redis"},                                                           \
        {"sync_strategy",                                                                          \
         "FW_SYNC_STRATEGY",                                                                       \
         "sync.strategy",                                                                          \
         CFG_ENUM,                                                                                 \
         "sync",                                                                                   \
         offsetof(T, m.strategy),                                                                  \
         0,                                                                                        \
         0,                                                                                        \
         sync_strategy_words,                                                                      \
         NULL,                                                                                     \
         "sync: a packet waits for WAIT; async: it does not"},                                     \
        {"sync_access",                                                                            \
         "FW_SYNC_ACCESS",                                                                         \
         "sync.access",                                                                            \
         CFG_ENUM,                                                                                 \
         "transaction",                                                                            \
         offsetof(T, m.access),                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         sync_access_words,                                                                        \
         NULL,                                                                                     \
         "transaction: MULTI/EXEC, never backwards; dirty: plain SET"},                            \
        {"sync_policy",                                                                            \
         "FW_SYNC_POLICY",                                                                         \
         "sync.policy",                                                                            \
         CFG_ENUM,                                                                                 \
         "open",                                                                                   \
         offsetof(T, m.policy),                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         sync_policy_words,                                                                        \
         NULL,                                                                                     \
         "a packet whose write failed: forwarded (open) or dropped (closed)"},                     \
        {"sync_replicas",                                                                          \
         "FW_SYNC_REPLICAS",                                                                       \
         "sync.replicas",                                                                          \
         CFG_STRING,                                                                               \
         "all",                                                                                    \
         offsetof(T, m.replicas),                                                                  \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         config_valid_replicas,                                                                    \
         "replicas WAIT requires: all (connected) or a number"},                                   \
    {                                                                                              \
        "sync_wait_timeout", "FW_SYNC_WAIT_TIMEOUT_MS", "sync.wait_timeout_ms", CFG_INT, "100",    \
            offsetof(T, m.wait_timeout_ms), 1, 60000, NULL, NULL, "WAIT timeout, milliseconds"     \
    }

/* Whether a Redis address (host or sentinels) is configured. */
bool redisopt_configured(const struct redis_opt *o);

/* Fills rc to reach Redis as o says, with the password (read from the password file when one is
 * given) in secret[0..len), which must outlive rc. Returns 0 or -1 with err set. */
int redisopt_connection(const struct redis_opt *o, const char *client_name, char *secret,
                        size_t len, struct redis_ev_config *rc, char *err, size_t errlen);

/* The replica count of a sync_opt: -1 for "all". */
int syncopt_replicas(const struct sync_opt *s);

#endif
