/* manager.c: leadership, membership, the bucket map and the published configuration. */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "assign.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "manager.h"
#include "redis_ev.h"

/* Renews the lease only while this manager holds it. */
static const char renew_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

struct manager {
    struct ev_loop *loop;
    const struct emgr_options *o;
    struct redis_ev *cmd, *sub;
    manager_reload_fn reload;
    void *reload_arg;
    bool leader;
    bool lease_pending;   /* a lease command is in flight */
    bool reconciling;     /* a membership read is in flight */
    bool again;           /* an event came during it: reconcile once more */
    bool map_loaded;      /* the map in Redis was read after becoming leader */
    bool notify_refused;  /* CONFIG SET notify-keyspace-events was refused (said once) */
    uint64_t grace_until; /* ms: until then a worker alive before is not failed for a missing
                           * heartbeat (the lead was just taken, maybe on a new master) */
    uint64_t read_sent;   /* monotonic ms: when the membership read in flight was sent */
    struct assign_member members[ASSIGN_MAX_MEMBERS];
    size_t nmembers;
    struct assign_map map, next;
    enum assign_role roles[ASSIGN_MAX_MEMBERS];
    char text[ASSIGN_TEXT_MAX];
    uint64_t acked[ASSIGN_MAX_MEMBERS];  /* each member's acknowledged epoch */
    uint8_t missing[ASSIGN_MAX_MEMBERS]; /* reads in a row that found its heartbeat missing */
    ev_timer lease_timer;
    ev_timer reconcile_timer;
    ev_timer soon;  /* a reconciliation right after a keyspace event */
    ev_child child; /* the notify hook in progress */
    pid_t notify_pid;
    void (*stepped_down)(void *arg);
    void *stepped_arg;
};

/* reads in a row that find a heartbeat missing fail its worker, late or not */
#define MISSING_LATE 4

static void on_ignore(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    if (redis_reply_type(rr) == RR_ERROR)
        log_warnx("redis: %s: %s", (const char *)arg, redis_reply_str(rr, NULL));
}

/* ---- the configuration the workers follow ---- */

/* Writes fw:config with a new version and announces it. */
static void publish_config(struct manager *m)
{
    const struct emgr_options *o = m->o;
    char rules[65536], version[32], hb[16], misses[16], wt[16], buckets[16];
    size_t n = 0;
    rules[0] = '\0';
    for (size_t i = 0; i < o->rules.n && n < sizeof(rules) - 512; i++) {
        n += (size_t)rule_format(&o->rules.rules[i], rules + n, sizeof(rules) - n - 1);
        rules[n++] = '\n';
        rules[n] = '\0';
    }
    snprintf(version, sizeof(version), "%llu", (unsigned long long)clock_ms(CLOCK_REALTIME));
    snprintf(hb, sizeof(hb), "%ld", o->heartbeat_ms);
    snprintf(misses, sizeof(misses), "%ld", o->misses);
    snprintf(wt, sizeof(wt), "%ld", o->sync.wait_timeout_ms);
    snprintf(buckets, sizeof(buckets), "%ld", o->buckets);
    char act[16], bak[16];
    snprintf(act, sizeof(act), "%ld", o->actives);
    snprintf(bak, sizeof(bak), "%ld", o->backups);
    const char *argv[] = {
        "HSET",
        KEYS_CONFIG,
        "version",
        version,
        "rules",
        rules,
        "level",
        sync_level_words[o->sync.level],
        "strategy",
        sync_strategy_words[o->sync.strategy],
        "access",
        sync_access_words[o->sync.access],
        "policy",
        sync_policy_words[o->sync.policy],
        "replicas",
        o->sync.replicas,
        "wait_timeout_ms",
        wt,
        "heartbeat_ms",
        hb,
        "misses",
        misses,
        "buckets",
        buckets,
        "actives",
        act,
        "backups",
        bak,
        "manager",
        o->id,
    };
    redis_ev_cmdv(m->cmd, on_ignore, "HSET fw:config", (int)(sizeof(argv) / sizeof(argv[0])), argv,
                  NULL);
    redis_ev_cmd(m->cmd, on_ignore, "PUBLISH", "PUBLISH %s config:%s", KEYS_EVENTS, version);
    log_info("published configuration version %s: %zu rules, sync %s/%s/%s, %ld actives", version,
             o->rules.n, sync_level_words[o->sync.level], sync_strategy_words[o->sync.strategy],
             sync_access_words[o->sync.access], o->actives);
}

/* ---- the notify hook ---- */

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct manager *m = w->data;
    ev_child_stop(loop, w);
    m->notify_pid = 0;
    if (!WIFEXITED(w->rstatus) || WEXITSTATUS(w->rstatus) != 0)
        log_warnx("notify hook '%s' failed (status %d)", m->o->notify, w->rstatus);
}

/* Runs the operator's hook with the new map in its environment (keepalived-style). A hook still
 * running from the previous change is left to finish. */
static void run_notify(struct manager *m, const char *why)
{
    if (!m->o->notify[0] || m->notify_pid > 0)
        return;
    char epoch[32], nb[16];
    snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)m->map.epoch);
    snprintf(nb, sizeof(nb), "%u", m->map.nbuckets);
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("notify hook: fork");
        return;
    }
    if (pid == 0) {
        setenv("FW_MAP_EPOCH", epoch, 1);
        setenv("FW_MAP_BUCKETS", nb, 1);
        setenv("FW_MAP", m->text, 1);
        setenv("FW_MAP_REASON", why, 1);
        execl("/bin/sh", "sh", "-c", m->o->notify, (char *)NULL);
        _exit(127);
    }
    m->notify_pid = pid;
    ev_child_init(&m->child, on_child, pid, 0);
    m->child.data = m;
    ev_child_start(m->loop, &m->child);
}

/* ---- membership ---- */

/* Parses "state=ready epoch=7 owned=512 pid=1" into draining and epoch. */
static void parse_heartbeat(const char *v, bool *draining, uint64_t *epoch)
{
    const char *e = strstr(v, "epoch=");
    *draining = strstr(v, "state=draining") != NULL;
    *epoch = e ? strtoull(e + 6, NULL, 10) : 0;
}

/* Makes the table slot of id (a free slot or a new one). Returns its index or -1. */
static int member_slot(struct manager *m, const char *id)
{
    int i = assign_find(m->members, m->nmembers, id);
    if (i >= 0)
        return i;
    if (!assign_id_valid(id))
        return -1;
    for (size_t k = 0; k < m->nmembers; k++) {
        if (!m->members[k].id[0]) {
            i = (int)k;
            break;
        }
    }
    if (i < 0) {
        if (m->nmembers == ASSIGN_MAX_MEMBERS)
            return -1;
        i = (int)m->nmembers++;
    }
    memset(&m->members[i], 0, sizeof(m->members[i]));
    snprintf(m->members[i].id, sizeof(m->members[i].id), "%s", id);
    m->acked[i] = 0;
    m->missing[i] = 0;
    return i;
}

/* Publishes the map in m->map (its text is in m->text). */
static void publish_map(struct manager *m, const char *why)
{
    char epoch[32], nb[16];
    snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)m->map.epoch);
    snprintf(nb, sizeof(nb), "%u", m->map.nbuckets);
    const char *argv[] = {"HSET", KEYS_MAP,  "epoch", epoch,    "nbuckets",
                          nb,     "buckets", m->text, "reason", why};
    redis_ev_cmdv(m->cmd, on_ignore, "HSET fw:map", 10, argv, NULL);
    redis_ev_cmd(m->cmd, on_ignore, "PUBLISH", "PUBLISH %s map:%s", KEYS_EVENTS, epoch);
    log_info("map epoch %s: %s", epoch, why);
    run_notify(m, why);
}

/* Applies a membership read answered rtt ms after it was sent: who is alive, who drains, then
 * the next map.
 * A heartbeat key also expires when Redis stalls (a fork, a long script, a paused VM): the
 * heartbeats sent meanwhile wait in its input, unapplied, and a read (one queued with them, or
 * one sent on the expiry's event) may be answered before them. So a worker is failed by the
 * second read in a row that finds its heartbeat missing, sent when the first was answered (an
 * extra round trip, a millisecond); and only by a read answered within a heartbeat period, since
 * a later one may have waited behind those heartbeats itself: up to MISSING_LATE reads. */
static void apply_membership(struct manager *m, const struct redis_reply *ids,
                             const struct redis_reply *vals, const struct redis_reply *drains,
                             uint64_t rtt)
{
    bool seen[ASSIGN_MAX_MEMBERS] = {false};
    bool late = rtt > (uint64_t)m->o->heartbeat_ms;
    char suspects[256] = "";
    size_t n = redis_reply_count(ids);
    for (size_t i = 0; i < n; i++) {
        const char *id = redis_reply_str(redis_reply_elem(ids, i), NULL);
        int k = member_slot(m, id);
        if (k < 0) {
            log_warnx("worker '%s': bad name or too many workers: ignored", id);
            continue;
        }
        seen[k] = true;
        const struct redis_reply *v = redis_reply_elem(vals, i);
        bool alive = redis_reply_type(v) == RR_STRING, draining = false;
        uint64_t epoch = 0;
        if (alive)
            parse_heartbeat(redis_reply_str(v, NULL), &draining, &epoch);
        for (size_t d = 0; d < redis_reply_count(drains); d++)
            if (strcmp(redis_reply_str(redis_reply_elem(drains, d), NULL), id) == 0)
                draining = true;
        if (!alive && m->members[k].alive && clock_ms(CLOCK_REALTIME) < m->grace_until)
            continue; /* its heartbeat may not be on this master yet: the next reads decide */
        m->missing[k] = alive ? 0 : m->missing[k] < MISSING_LATE ? m->missing[k] + 1 : MISSING_LATE;
        if (!alive && m->members[k].alive &&
            (m->missing[k] < 2 || (late && m->missing[k] < MISSING_LATE))) {
            m->again = true; /* read again at once: that read decides */
            if (late) {
                size_t used = strlen(suspects);
                snprintf(suspects + used, sizeof(suspects) - used, "%s%s", used ? ", " : "", id);
            }
            continue;
        }
        if (alive != m->members[k].alive)
            log_info("worker %s %s", id, alive ? "joined" : "failed (no heartbeat)");
        m->members[k].alive = alive;
        m->members[k].draining = draining;
        m->acked[k] = epoch;
    }
    for (size_t k = 0; k < m->nmembers; k++)
        if (m->members[k].id[0] && !seen[k])
            m->members[k].alive = false; /* removed from fw:nodes by hand */
    if (suspects[0]) {
        log_warnx("membership read answered after %llu ms (a heartbeat is every %ld ms: Redis or "
                  "emgr stalled?): reading again before failing %s",
                  (unsigned long long)rtt, m->o->heartbeat_ms, suspects);
    }

    char why[512], err[256];
    int rc = assign_next(&m->map, m->members, m->nmembers, (uint32_t)m->o->actives, &m->next,
                         m->roles, why, sizeof(why));
    if (rc < 0) {
        log_warnx("assignment: %s", why);
        return;
    }
    if (rc == 1) {
        if (assign_map_format(&m->next, m->members, m->nmembers, m->text, sizeof(m->text), err,
                              sizeof(err)) < 0) {
            log_warnx("map: %s", err);
            return;
        }
        memcpy(&m->map, &m->next, sizeof(m->map));
        publish_map(m, why);
    }
    /* forget the dead that own nothing (they come back through fw:nodes if they return) */
    for (size_t k = 0; k < m->nmembers; k++) {
        if (m->members[k].id[0] && !m->members[k].alive && assign_count(&m->map, (int)k) == 0) {
            redis_ev_cmd(m->cmd, on_ignore, "SREM", "SREM %s %s", KEYS_NODES, m->members[k].id);
            redis_ev_cmd(m->cmd, on_ignore, "SREM", "SREM %s %s", KEYS_DRAIN, m->members[k].id);
            m->members[k].id[0] = '\0';
        }
    }
    long backups = 0;
    for (size_t k = 0; k < m->nmembers; k++)
        backups += m->roles[k] == ASSIGN_BACKUP;
    static long warned = -1;
    if (backups < m->o->backups && warned != backups)
        log_warnx("%ld backup(s) standing by, %ld wanted", backups, m->o->backups);
    warned = backups < m->o->backups ? backups : -1;
}

/* Reads the membership as of one moment: the registered ids, each one's heartbeat (nil when
 * expired) and the drain set. */
static const char members_script[] =
    "local ids = redis.call('SMEMBERS', KEYS[1]) "
    "local vals = {} "
    "for i, id in ipairs(ids) do vals[i] = redis.call('GET', ARGV[1] .. id) end "
    "return {ids, vals, redis.call('SMEMBERS', KEYS[2])}";

static void reconcile(struct manager *m);

static void on_members(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct manager *m = arg;
    m->reconciling = false;
    if (redis_reply_type(rr) == RR_ARRAY && redis_reply_count(rr) == 3 && m->leader &&
        m->map_loaded)
        apply_membership(m, redis_reply_elem(rr, 0), redis_reply_elem(rr, 1),
                         redis_reply_elem(rr, 2), clock_ms(CLOCK_MONOTONIC) - m->read_sent);
    else if (redis_reply_type(rr) == RR_ERROR)
        log_warnx("membership read: %s", redis_reply_str(rr, NULL));
    if (m->again) {
        m->again = false;
        reconcile(m);
    }
}

static void reconcile(struct manager *m)
{
    if (!m->leader || !m->map_loaded || !redis_ev_up(m->cmd))
        return;
    if (m->reconciling) {
        m->again = true;
        return;
    }
    m->read_sent = clock_ms(CLOCK_MONOTONIC);
    m->reconciling = redis_ev_cmd(m->cmd, on_members, m, "EVAL %s 2 %s %s %s", members_script,
                                  KEYS_NODES, KEYS_DRAIN, KEYS_NODE_PREFIX) == 0;
}

static void on_reconcile_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    reconcile(t->data);
}

static void on_soon(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    reconcile(t->data);
}

/* ---- leadership ---- */

/* The map in Redis when leadership begins: carry on from it (epochs keep increasing). */
static void on_map_loaded(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct manager *m = arg;
    const char *epoch = NULL, *nb = NULL, *text = NULL;
    for (size_t i = 0; i + 1 < redis_reply_count(rr); i += 2) {
        const char *f = redis_reply_str(redis_reply_elem(rr, i), NULL);
        const char *v = redis_reply_str(redis_reply_elem(rr, i + 1), NULL);
        if (strcmp(f, "epoch") == 0)
            epoch = v;
        else if (strcmp(f, "nbuckets") == 0)
            nb = v;
        else if (strcmp(f, "buckets") == 0)
            text = v;
    }
    uint64_t e = epoch ? strtoull(epoch, NULL, 10) : 0;
    uint32_t n = nb ? (uint32_t)strtoul(nb, NULL, 10) : 0;
    char err[256];
    assign_map_init(&m->map, (uint32_t)m->o->buckets, e);
    if (text && n == (uint32_t)m->o->buckets) {
        if (assign_map_parse(text, n, e, m->members, &m->nmembers, ASSIGN_MAX_MEMBERS, &m->map, err,
                             sizeof(err)) < 0) {
            log_warnx("the map in Redis is unreadable (%s): starting a new one", err);
            assign_map_init(&m->map, (uint32_t)m->o->buckets, e);
        } else {
            log_info("carrying on from map epoch %llu", (unsigned long long)e);
        }
    } else if (text) {
        log_warnx("the map in Redis has %u buckets, the configuration %ld: starting a new map", n,
                  m->o->buckets);
    }
    m->map_loaded = true;
    publish_config(m);
    reconcile(m);
}

static void become_leader(struct manager *m)
{
    /* After a Redis master failover every heartbeat key is as old as the replica's copy: the
     * workers, which follow the Sentinels too, need a moment to write theirs on the new master.
     * Ten heartbeat lifetimes, at least a second. */
    long grace = 10 * m->o->heartbeat_ms * m->o->misses;
    m->grace_until = clock_ms(CLOCK_REALTIME) + (uint64_t)(grace > 1000 ? grace : 1000);
    m->leader = true;
    m->map_loaded = false;
    memset(m->missing, 0, sizeof(m->missing)); /* counts of an earlier term are stale */
    log_info("%s leads the cluster", m->o->id);
    redis_ev_cmd(m->cmd, on_map_loaded, m, "HGETALL %s", KEYS_MAP);
}

static void lose_leadership(struct manager *m, const char *why)
{
    if (!m->leader)
        return;
    m->leader = false;
    m->map_loaded = false;
    log_warnx("%s no longer leads: %s", m->o->id, why);
}

static void on_lease(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct manager *m = arg;
    m->lease_pending = false;
    enum redis_reply_type t = redis_reply_type(rr);
    if (m->leader) {
        if (t != RR_INTEGER || redis_reply_int(rr) != 1)
            lose_leadership(m, t == RR_NONE ? "Redis connection lost" : "lease taken");
    } else if (t == RR_STATUS) { /* SET NX answered OK */
        become_leader(m);
    }
}

static void on_lease_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct manager *m = t->data;
    if (!redis_ev_up(m->cmd) || m->lease_pending)
        return;
    char lease[16];
    snprintf(lease, sizeof(lease), "%ld", m->o->lease_ms);
    if (m->leader)
        m->lease_pending = redis_ev_cmd(m->cmd, on_lease, m, "EVAL %s 1 %s %s %s", renew_script,
                                        KEYS_LEADER, m->o->id, lease) == 0;
    else
        m->lease_pending = redis_ev_cmd(m->cmd, on_lease, m, "SET %s %s NX PX %s", KEYS_LEADER,
                                        m->o->id, lease) == 0;
}

/* ---- events ---- */

/* Keyspace events of fw:node:* (set, expired; del and expire where the server sends the generic
 * class too) and requests on fw:emgr. */
static void on_event(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct manager *m = arg;
    size_t n = redis_reply_count(rr);
    if (redis_reply_type(rr) != RR_ARRAY || n < 3)
        return;
    const char *kind = redis_reply_str(redis_reply_elem(rr, 0), NULL);
    const char *payload = redis_reply_str(redis_reply_elem(rr, n - 1), NULL);
    if (strcmp(kind, "pmessage") == 0 && n == 4) {
        /* a heartbeat key expired or was deleted, or a worker not known alive wrote one: look
         * now rather than at the next period (a heartbeat of a live worker, its "set" and, with
         * the generic class on, the "expire" of its PX, changes nothing) */
        const char *channel = redis_reply_str(redis_reply_elem(rr, 2), NULL);
        const char *id = strstr(channel, KEYS_NODE_PREFIX);
        int k = id ? assign_find(m->members, m->nmembers, id + strlen(KEYS_NODE_PREFIX)) : -1;
        bool gone = strcmp(payload, "expired") == 0 || strcmp(payload, "del") == 0;
        bool news = gone || k < 0 || !m->members[k].alive;
        if (news && !ev_is_active(&m->soon)) {
            ev_timer_set(&m->soon, 0.0, 0.);
            ev_timer_start(m->loop, &m->soon);
        }
    } else if (strcmp(kind, "message") == 0 && m->leader) {
        if (strcmp(payload, "reload") == 0 && m->reload)
            m->reload(m->reload_arg);
        else if (strncmp(payload, "drain:", 6) == 0)
            reconcile(m);
    }
}

/* A least-privilege ACL user (redis/users.acl.in: emgr) may not run CONFIG SET: then the
 * server's own notify-keyspace-events applies (redis.conf sets it), and the periodic
 * reconciliation finds what missed events would have told. Said once, not on every reconnect. */
static void on_notify_set(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct manager *m = arg;
    if (redis_reply_type(rr) != RR_ERROR || m->notify_refused)
        return;
    m->notify_refused = true;
    log_info("redis: CONFIG SET notify-keyspace-events refused (%s): relying on the server's "
             "setting and on reconciliation every %ld ms",
             redis_reply_str(rr, NULL), m->o->reconcile_ms);
}

static void on_cmd_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r;
    struct manager *m = arg;
    if (up) {
        log_info("redis: %s", why);
        /* the manager relies on keyspace events of sets and expirations (redis.conf: no more,
         * since every write makes the events enabled) */
        redis_ev_cmd(m->cmd, on_notify_set, m, "CONFIG SET notify-keyspace-events K$x");
        on_lease_timer(m->loop, &m->lease_timer, 0);
    } else {
        log_warnx("redis: %s", why);
        m->lease_pending = false;
        m->reconciling = false;
        lose_leadership(m, "Redis connection lost");
    }
}

static void on_sub_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r;
    struct manager *m = arg;
    if (!up)
        log_warnx("redis events: %s", why);
    else
        reconcile(m);
}

struct manager *manager_new(struct ev_loop *loop, const struct emgr_options *o,
                            const struct redis_ev_config *rcfg, manager_reload_fn reload, void *arg,
                            char *err, size_t errlen)
{
    struct manager *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->loop = loop;
    m->o = o;
    m->reload = reload;
    m->reload_arg = arg;
    assign_map_init(&m->map, (uint32_t)o->buckets, 0);
    char sname[160];
    struct redis_ev_config rc = *rcfg;
    snprintf(sname, sizeof(sname), "%s-events", rc.client_name ? rc.client_name : "emgr");
    if (!(m->cmd = redis_ev_new(loop, &rc, on_cmd_state, m, err, errlen))) {
        free(m);
        return NULL;
    }
    rc.client_name = sname;
    if (!(m->sub = redis_ev_new(loop, &rc, on_sub_state, m, err, errlen))) {
        redis_ev_free(m->cmd);
        free(m);
        return NULL;
    }
    redis_ev_subscribe(m->sub, "__keyspace@0__:" KEYS_NODE_PREFIX "*", on_event, m);
    redis_ev_subscribe(m->sub, KEYS_EMGR_CHANNEL, on_event, m);
    double lease = o->lease_ms / 1000.0;
    ev_timer_init(&m->lease_timer, on_lease_timer, lease / 3, lease / 3);
    m->lease_timer.data = m;
    ev_timer_start(loop, &m->lease_timer);
    ev_timer_init(&m->reconcile_timer, on_reconcile_timer, o->reconcile_ms / 1000.0,
                  o->reconcile_ms / 1000.0);
    m->reconcile_timer.data = m;
    ev_timer_start(loop, &m->reconcile_timer);
    ev_timer_init(&m->soon, on_soon, 0., 0.);
    m->soon.data = m;
    return m;
}

void manager_free(struct manager *m)
{
    if (!m)
        return;
    ev_timer_stop(m->loop, &m->lease_timer);
    ev_timer_stop(m->loop, &m->reconcile_timer);
    ev_timer_stop(m->loop, &m->soon);
    if (m->notify_pid > 0)
        ev_child_stop(m->loop, &m->child);
    redis_ev_free(m->sub);
    redis_ev_free(m->cmd);
    free(m);
}

void manager_reload(struct manager *m, const struct emgr_options *o)
{
    m->o = o;
    if (m->leader && m->map_loaded) {
        publish_config(m);
        reconcile(m);
    }
}

static void on_stepped_down(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r, (void)rr;
    struct manager *m = arg;
    if (m->stepped_down)
        m->stepped_down(m->stepped_arg);
}

int manager_step_down(struct manager *m, void (*done)(void *arg), void *arg)
{
    if (!m->leader || !redis_ev_up(m->cmd))
        return -1;
    m->stepped_down = done;
    m->stepped_arg = arg;
    m->leader = false;
    /* the lease expires at once: a standby takes over at its next attempt */
    return redis_ev_cmd(m->cmd, on_stepped_down, m, "EVAL %s 1 %s %s 1", renew_script, KEYS_LEADER,
                        m->o->id);
}

bool manager_is_leader(const struct manager *m)
{
    return m->leader;
}
