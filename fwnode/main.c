/* main.c: the fwnode worker: options, configuration, live capture loop and offline mode. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include "capture.h"
#include "cluster.h"
#include "config.h"
#include "forward.h"
#include "log.h"
#include "pipeline.h"
#include "redis_ev.h"
#include "redisopt.h"
#include "settings.h"
#include "steering.h"
#include "store.h"

#define FWNODE_VERSION    "0.1.0"
#define TICK_S            0.1 /* the periodic timer */
#define EXPIRE_ROUNDS     50  /* a full sweep of the table every EXPIRE_ROUNDS ticks */
#define DISPATCH_MAX      256 /* frames per read event, so one side cannot starve the other */
#define STATS_EXIT_WAIT_S 2.0 /* at exit, for the stats file's last write */

/* The worker: one context, no scattered globals. */
struct fwnode {
    struct fwnode_settings set;
    struct pipeline pl;
    struct capture *cap[2];
    struct forward *fwd;
    struct store *store;     /* NULL: no Redis */
    struct cluster *cluster; /* NULL: not in a cluster (every bucket is processed) */
    struct steering steer;   /* the buckets owned (cluster mode) */
    uint8_t new_owned[STEERING_MAX_BUCKETS];
    bool draining; /* SIGTERM in cluster mode: waiting for the buckets to move */
    bool links_up; /* both data interfaces have a carrier */
    ev_timer drain_timer;
    struct ev_loop *loop;
    ev_io io[2];
    ev_timer tick;
    ev_prepare flush;     /* before the loop blocks: queued egress leaves */
    double egress_warned; /* ev_now of the last egress error logged */
    ev_signal sig_int, sig_term, sig_usr1;
    double stats_due;             /* ev_now of the next stats write */
    struct stats_file *stats_out; /* the stats file's writer (NULL: none yet) */
    int stats_err;                /* errno of its last write, as last logged */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fwnode [-c CONFIG] [-t]\n"
            "       fwnode -r IN.pcap [-w PASSED.pcap] [-c CONFIG]\n"
            "\n"
            "A stateful firewall worker: captures on the side A and side B interfaces, tracks\n"
            "connections, applies the rules and forwards what they allow.\n"
            "\n"
            "  -c, --config FILE   libconfig file (default: none; env FW_CONFIG)\n"
            "  -t, --test          check the configuration, print 'configuration OK', exit\n"
            "  -r, --read FILE     offline: run the pipeline over a capture file, print counters\n"
            "  -w, --write FILE    offline: write the forwarded packets to a capture file\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n"
            "\n"
            "Settings (environment variables override the file):\n");
    config_usage(fwnode_options, out);
}

/* The frames the kernel dropped because a capture ring was full, both sides together. */
static void update_capture_drops(struct fwnode *w)
{
    uint64_t d = 0;
    for (int s = 0; s < 2; s++)
        if (w->cap[s])
            d += capture_kernel_drops(w->cap[s]);
    w->pl.stats.capture_drops = d;
}

/* Hands the counters to the stats file's writer; a write error is logged when it first appears
 * (and when it changes), not every time. */
static void write_stats(struct fwnode *w)
{
    update_capture_drops(w); /* also for the counters published to Redis */
    if (!w->stats_out)
        return;
    int e = stats_file_post(w->stats_out, &w->pl.stats);
    if (e == w->stats_err)
        return;
    if (e)
        log_warnx("cannot write %s: %s", w->set.stats_file, strerror(e));
    else
        log_info("%s written again", w->set.stats_file);
    w->stats_err = e;
}

struct frame_ctx {
    struct fwnode *w;
    int side;
};

static void on_frame(void *arg, const uint8_t *data, uint32_t caplen, uint64_t ts_ns)
{
    struct frame_ctx *fc = arg;
    pipeline_frame(&fc->w->pl, fc->side, data, caplen, ts_ns);
}

/* Sends the queued egress; refused packets are counted by the pipeline and logged at most once a
 * second. */
static void flush_egress(struct fwnode *w)
{
    unsigned failed = pipeline_flush(&w->pl);
    if (failed && ev_now(w->loop) - w->egress_warned >= 1.0) {
        w->egress_warned = ev_now(w->loop);
        log_warnx("egress: %u packets not sent: %s", failed, w->pl.err);
    }
}

static void on_prepare(struct ev_loop *loop, ev_prepare *pr, int revents)
{
    (void)pr, (void)revents;
    struct fwnode *w = ev_userdata(loop);
    flush_egress(w);
    if (w->store)
        store_flush(w->store); /* group commit: one WAIT per lane for the writes of this round */
}

/* A capture descriptor is readable: run a batch of frames through the pipeline. */
static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    struct fwnode *w = ev_userdata(loop);
    struct frame_ctx fc = {w, io == &w->io[0] ? SIDE_A : SIDE_B};
    char err[256];
    if (capture_dispatch(w->cap[fc.side], DISPATCH_MAX, on_frame, &fc, err, sizeof(err)) < 0) {
        log_errorx("side %c: %s", 'a' + fc.side, err);
        ev_break(loop, EVBREAK_ALL);
    }
    flush_egress(w); /* the batch's WAITs leave in on_prepare, after every callback of the round */
}

/* Whether an interface is up with a carrier (its operstate says so). */
static bool iface_up(const char *iface)
{
    char path[128], state[32] = "";
    snprintf(path, sizeof(path), "/sys/class/net/%s/operstate", iface);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    if (!fgets(state, sizeof(state), f))
        state[0] = '\0';
    fclose(f);
    return strncmp(state, "up", 2) == 0 || strncmp(state, "unknown", 7) == 0;
}

/* In a cluster, a worker whose data interfaces are down stops heartbeating, so that a backup
 * takes its buckets; it registers again when they are back. */
static void check_links(struct fwnode *w)
{
    bool up = iface_up(w->set.side[0].iface) && iface_up(w->set.side[1].iface);
    if (up == w->links_up)
        return;
    w->links_up = up;
    if (up)
        log_info("data interfaces %s and %s up: heartbeats resume", w->set.side[0].iface,
                 w->set.side[1].iface);
    else
        log_warnx("a data interface (%s, %s) is down: heartbeats stop, a backup takes over",
                  w->set.side[0].iface, w->set.side[1].iface);
    cluster_set_healthy(w->cluster, up);
}

/* The periodic timer: incremental expiry sweep and the stats file. */
static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    struct fwnode *w = ev_userdata(loop);
    uint64_t now = (uint64_t)(ev_now(loop) * 1e9);
    size_t budget = conntable_slots(w->pl.ct) / EXPIRE_ROUNDS + 1;
    pipeline_expire(&w->pl, now, budget);
    if (w->store)
        store_tick(w->store, now);
    if (w->cluster)
        check_links(w);
    if (ev_now(loop) >= w->stats_due) {
        write_stats(w);
        if (w->store)
            store_publish_stats(w->store, &w->pl.stats, now);
        /* from the time it was due: a tick's lateness does not add up from one to the next */
        w->stats_due += w->set.stats_interval_ms / 1000.0;
        if (w->stats_due <= ev_now(loop))
            w->stats_due = ev_now(loop) + w->set.stats_interval_ms / 1000.0;
    }
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    log_warnx("drain: buckets still owned after the drain timeout: stopping anyway");
    ev_break(loop, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    struct fwnode *w = ev_userdata(loop);
    if (s->signum == SIGTERM && w->cluster && w->steer.owned_count > 0 && !w->draining &&
        w->set.drain_timeout_ms > 0) {
        /* hand the buckets to another worker first: their connections move, none is lost */
        log_info("signal %d: draining %u buckets before stopping", s->signum, w->steer.owned_count);
        w->draining = true;
        cluster_drain(w->cluster);
        ev_timer_init(&w->drain_timer, on_drain_timeout, w->set.drain_timeout_ms / 1000.0, 0.);
        ev_timer_start(loop, &w->drain_timer);
        return;
    }
    log_info("signal %d: stopping", s->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)s, (void)revents;
    write_stats(ev_userdata(loop));
}

/* Installs the capture filters of both sides for the buckets owned (every bucket when not in a
 * cluster). Returns 0 or -1 (logged). */
static int apply_filters(struct fwnode *w)
{
    static char filter[65536];
    char err[512];
    for (int s = 0; s < 2; s++) {
        if (steering_filter(w->steer.owned, w->steer.nbuckets, !w->cluster, w->set.side[s].vmac,
                            filter, sizeof(filter)) < 0) {
            log_errorx("side %c: the capture filter for these buckets is too long", 'a' + s);
            return -1;
        }
        if (w->cap[s] && capture_set_filter(w->cap[s], filter, err, sizeof(err)) != 0) {
            log_errorx("side %c: %s", 'a' + s, err);
            return -1;
        }
    }
    return 0;
}

/* ---- cluster hooks ---- */

static void on_cluster_note(void *arg, bool warn, const char *msg)
{
    (void)arg;
    if (warn)
        log_warnx("%s", msg);
    else
        log_info("%s", msg);
}

static void on_preload(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct fwnode *w = arg;
    pipeline_preload(&w->pl, key, klen, val, vlen, (uint64_t)(ev_now(w->loop) * 1e9));
}

/* A new bucket map: swap the capture filters, load the entries of the buckets taken over,
 * acknowledge the epoch. */
static void on_cluster_map(void *arg, uint64_t epoch, uint32_t nbuckets, const char *map)
{
    struct fwnode *w = arg;
    char err[256], ranges[1024];
    if (nbuckets != w->steer.nbuckets) {
        log_warnx("map epoch %llu has %u buckets, this worker %u: following the map",
                  (unsigned long long)epoch, nbuckets, w->steer.nbuckets);
        if (nbuckets == 0 || nbuckets > STEERING_MAX_BUCKETS || (nbuckets & (nbuckets - 1))) {
            log_warnx("map epoch %llu ignored: bad bucket count", (unsigned long long)epoch);
            return;
        }
        memset(w->steer.owned, 0, sizeof(w->steer.owned));
        w->steer.nbuckets = nbuckets;
        if (w->store)
            store_set_buckets(w->store, nbuckets);
    }
    int n = steering_parse(map, w->set.node_id, nbuckets, w->new_owned, err, sizeof(err));
    if (n < 0) {
        log_warnx("map epoch %llu ignored: %s", (unsigned long long)epoch, err);
        return;
    }
    /* the buckets taken over: their entries are loaded before their packets need them */
    uint32_t gained = 0;
    for (uint32_t b = 0; b < nbuckets; b++) {
        uint8_t was = w->steer.owned[b];
        w->steer.owned[b] = w->new_owned[b];
        w->new_owned[b] = w->new_owned[b] && !was;
        gained += w->new_owned[b];
    }
    w->steer.owned_count = (uint32_t)n;
    w->steer.epoch = epoch;
    pipeline_set_owned(&w->pl, w->steer.owned, nbuckets);
    if (gained)
        pipeline_taken_over(&w->pl, w->new_owned, nbuckets, (uint64_t)(ev_time() * 1e9));
    if (apply_filters(w) != 0)
        return;
    if (gained && w->store && store_mode(w->store)->level != SYNC_LEVEL_NONE)
        cluster_load_buckets(w->cluster, w->new_owned, nbuckets, on_preload, w);
    cluster_ack(w->cluster, epoch, (uint32_t)n);
    steering_ranges(w->steer.owned, nbuckets, ranges, sizeof(ranges));
    log_info("map epoch %llu: %d buckets owned (%u taken over)%s%s", (unsigned long long)epoch, n,
             gained, n ? ": " : "", ranges);
    if (w->draining && n == 0) {
        log_info("drained: stopping");
        ev_break(w->loop, EVBREAK_ALL);
    }
}

/* Parses a word of choices into *out (unchanged when absent or unknown). */
static void pick(const char *word, const char *const *choices, int *out)
{
    for (int i = 0; word && choices[i]; i++)
        if (strcmp(word, choices[i]) == 0)
            *out = i;
}

/* A new cluster configuration: rules (existing connections untouched) and sync settings. */
static void on_cluster_config(void *arg, const struct cluster_config *cfg)
{
    struct fwnode *w = arg;
    char err[512];
    if (cfg->rules) {
        struct ruleset rs = {NULL, 0};
        const char *s = cfg->rules;
        int line = 0;
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            char text[1024];
            line++;
            if (n > 0 && n < sizeof(text)) {
                struct rule r;
                memcpy(text, s, n);
                text[n] = '\0';
                if (rule_parse(text, &r, err, sizeof(err)) != 0) {
                    log_warnx("config version %llu: rule %d: %s: rules not applied",
                              (unsigned long long)cfg->version, line, err);
                    ruleset_free(&rs);
                    return;
                }
                ruleset_add(&rs, &r);
            }
            s += n + (nl ? 1 : 0);
        }
        if (pipeline_set_rules(&w->pl, &rs, err, sizeof(err)) != 0)
            log_warnx("config version %llu: %s", (unsigned long long)cfg->version, err);
        ruleset_free(&rs);
    }
    if (w->store) {
        struct store_config sc = *store_mode(w->store);
        int v = (int)sc.level;
        pick(cfg->level, sync_level_words, &v);
        sc.level = (enum sync_level)v;
        v = (int)sc.strategy;
        pick(cfg->strategy, sync_strategy_words, &v);
        sc.strategy = (enum sync_strategy)v;
        v = (int)sc.access;
        pick(cfg->access, sync_access_words, &v);
        sc.access = (enum sync_access)v;
        v = (int)sc.policy;
        pick(cfg->policy, sync_policy_words, &v);
        sc.policy = (enum sync_policy)v;
        if (cfg->replicas)
            sc.replicas = strcmp(cfg->replicas, "all") == 0 ? -1 : atoi(cfg->replicas);
        if (cfg->wait_timeout_ms > 0)
            sc.wait_timeout_ms = cfg->wait_timeout_ms;
        store_set_mode(w->store, &sc);
        log_info("config version %llu: %zu rules; sync level %s, strategy %s, access %s, "
                 "policy %s",
                 (unsigned long long)cfg->version, classify_count(w->pl.cls),
                 sync_level_words[sc.level], sync_strategy_words[sc.strategy],
                 sync_access_words[sc.access], sync_policy_words[sc.policy]);
    } else {
        log_info("config version %llu: %zu rules", (unsigned long long)cfg->version,
                 classify_count(w->pl.cls));
    }
}

/* Joins the cluster: two more connections (commands, events), registration, the map. */
static int cluster_setup(struct fwnode *w, const struct redis_ev_config *rc)
{
    char err[512];
    struct cluster_hooks hooks = {w, on_cluster_map, on_cluster_config, on_cluster_note};
    struct redis_ev_config rcc = *rc;
    char name[160];
    snprintf(name, sizeof(name), "fwnode-%s-cluster", w->set.node_id);
    rcc.client_name = name;
    /* the cluster object is made first: the connections' state callbacks point at it */
    struct redis_ev *cmd = NULL, *sub = NULL;
    w->cluster = cluster_new(w->loop, w->set.node_id, NULL, NULL, w->set.heartbeat_ms,
                             w->set.heartbeat_misses, &hooks);
    if (!w->cluster ||
        !(cmd = redis_ev_new(w->loop, &rcc, cluster_on_cmd_state, w->cluster, err, sizeof(err))) ||
        !(sub = redis_ev_new(w->loop, &rcc, cluster_on_sub_state, w->cluster, err, sizeof(err)))) {
        log_errorx("cluster: %s", w->cluster ? err : "out of memory");
        redis_ev_free(cmd);
        return -1;
    }
    cluster_attach(w->cluster, cmd, sub);
    return 0;
}

/* The store's connection came up or went down. */
static void on_store_state(void *arg, bool up, const char *why)
{
    struct pipeline *pl = arg;
    if (up) {
        log_info("redis: %s", why);
        pipeline_resync(pl, (uint64_t)(ev_time() * 1e9));
    } else {
        log_warnx("redis: %s", why);
    }
}

/* Connects the shared store (and the cluster, in cluster mode) when Redis is configured.
 * Returns 0 or -1 (logged). */
static int store_setup(struct fwnode *w)
{
    const struct fwnode_settings *s = &w->set;
    char err[512], secret[256], name[128];
    struct redis_ev_config rc;
    if (!redisopt_configured(&s->redis)) {
        if (s->cluster) {
            log_errorx("cluster mode needs Redis: set redis.host or redis.sentinels");
            return -1;
        }
        return 0;
    }
    snprintf(name, sizeof(name), "fwnode-%s", s->node_id);
    if (redisopt_connection(&s->redis, name, secret, sizeof(secret), &rc, err, sizeof(err)) != 0) {
        log_errorx("redis: %s", err);
        return -1;
    }
    struct store_config sc = {
        .level = (enum sync_level)s->sync.level,
        .strategy = (enum sync_strategy)s->sync.strategy,
        .access = (enum sync_access)s->sync.access,
        .policy = (enum sync_policy)s->sync.policy,
        .replicas = syncopt_replicas(&s->sync),
        .wait_timeout_ms = s->sync.wait_timeout_ms,
        .buckets = (uint32_t)s->buckets,
        .node_id = s->node_id,
        /* a held packet may wait for every WAIT in flight on its lane, then for its own */
        .to_hold_ns =
            (uint64_t)((s->pipeline + 1) * s->sync.wait_timeout_ms + s->redis.timeout_ms) *
            1000000ull,
        .pipeline = (int)s->pipeline,
    };
    struct store_hooks hooks = pipeline_store_hooks(&w->pl);
    hooks.state = on_store_state;
    if (!(w->store = store_new(&sc, &hooks, &w->pl.stats))) {
        log_errorx("out of memory");
        return -1;
    }
    struct redis_ev *r = NULL;
    for (long i = 0; i < s->connections; i++) {
        struct redis_ev_config lc = rc;
        lc.quiet = true; /* synchronous batches send their writes without replies */
        char lname[160];
        if (i > 0) { /* lane 0 keeps the plain name: the one operators look for */
            snprintf(lname, sizeof(lname), "%s-w%ld", name, i + 1);
            lc.client_name = lname;
        }
        struct redis_ev *l =
            redis_ev_new(w->loop, &lc, store_on_redis_state, w->store, err, sizeof(err));
        if (!l || store_attach(w->store, l) != 0) {
            redis_ev_free(l);
            memset(secret, 0, sizeof(secret));
            log_errorx("redis: %s", l ? "too many connections" : err);
            return -1;
        }
        if (i == 0)
            r = l;
    }
    pipeline_set_store(&w->pl, w->store);
    int rc_cluster = w->set.cluster ? cluster_setup(w, &rc) : 0;
    memset(secret, 0, sizeof(secret)); /* every connection has its copy */
    if (rc_cluster != 0)
        return -1;
    log_info("sync: level %s, strategy %s, access %s, policy fail-%s, via %s",
             sync_level_words[s->sync.level], sync_strategy_words[s->sync.strategy],
             sync_access_words[s->sync.access], sync_policy_words[s->sync.policy],
             s->redis.sentinels[0] ? s->redis.sentinels : redis_ev_addr(r));
    return 0;
}

/* Runs the worker on the CPUs of list (config_parse_cpus), all of them: a CPU the host does not
 * have or does not give this process is an error, not quietly left out. Threads started later
 * (the stats file's writer) inherit it. Returns 0 or -1. */
static int pin_cpus(const char *list)
{
    char err[160];
    cpu_set_t want;
    if (config_parse_cpus(list, &want, err, sizeof(err)) != 0) {
        log_errorx("cpus: %s", err);
        return -1;
    }
    /* the affinity is read back in a set as large as the host's CPUs (more than CPU_SETSIZE
     * on the largest hosts, where a cpu_set_t is refused) */
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    int ncpu = conf > CPU_SETSIZE ? (int)conf : CPU_SETSIZE;
    size_t size = CPU_ALLOC_SIZE(ncpu);
    cpu_set_t *got = CPU_ALLOC(ncpu);
    if (!got) {
        log_errorx("cpus '%s': out of memory", list);
        return -1;
    }
    CPU_ZERO_S(size, got);
    int rc = 0;
    if (sched_setaffinity(0, sizeof(want), &want) != 0) {
        if (errno != EINVAL) {
            log_msg(LOG_LVL_ERROR, true, "cpus '%s': cannot run there", list);
            rc = -1;
        } /* EINVAL: not one of them is available; got stays empty */
    } else if (sched_getaffinity(0, size, got) != 0) {
        log_msg(LOG_LVL_ERROR, true, "cpus '%s': cannot read the affinity back", list);
        rc = -1;
    }
    for (int c = 0; rc == 0 && c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &want) && !CPU_ISSET_S(c, size, got)) {
            log_errorx("cpus '%s': CPU %d is not available here", list, c);
            rc = -1;
        }
    CPU_FREE(got);
    return rc;
}

/* Gives up every privilege once everything privileged is open: the capture handles
 * (promiscuous), the raw sockets and the filters' sockets need no capability after they are open
 * (a new filter on an open capture socket needs none either). As root: becomes user. Already
 * running as user (a container with file capabilities): clears the capabilities. Then sets
 * no_new_privs. Returns 0 or -1 (logged). */
static int drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        log_errorx("user %s: no such user", user);
        return -1;
    }
    if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
            log_warn("cannot run as %s", user);
            return -1;
        }
    } else if (geteuid() != pw->pw_uid) {
        log_errorx("running as uid %d, not as root or %s", (int)geteuid(), user);
        return -1;
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
    memset(none, 0, sizeof(none));
    if (syscall(SYS_capset, &hdr, none) != 0) {
        log_warn("cannot clear the capabilities");
        return -1;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        log_errorx("root could be regained after switching to %s", user);
        return -1;
    }
    log_info("running as %s (uid %d) without capabilities", user, (int)pw->pw_uid);
    return 0;
}

static int run_live(struct fwnode *w)
{
    char err[512];
    /* first: what is allocated from here on is allocated where the worker runs */
    if (w->set.cpus[0] && pin_cpus(w->set.cpus) != 0)
        return 1;
    w->steer.nbuckets = (uint32_t)w->set.buckets;
    for (int s = 0; s < 2; s++) {
        /* nothing until the filters below are set: a cluster worker starts owning no bucket */
        w->cap[s] = capture_open_live(w->set.side[s].iface, "ether proto 0xffff and not arp", err,
                                      sizeof(err));
        if (!w->cap[s]) {
            log_errorx("side %c: %s", 'a' + s, err);
            return 1;
        }
    }
    const char *ifaces[2] = {w->set.side[0].iface, w->set.side[1].iface};
    w->fwd = forward_live_new(ifaces, w->cap, err, sizeof(err));
    if (!w->fwd) {
        log_errorx("%s", err);
        return 1;
    }
    if (pipeline_init(&w->pl, &w->set, w->fwd, err, sizeof(err)) != 0) {
        log_errorx("%s", err);
        return 1;
    }
    for (int s = 0; s < 2; s++)
        if (capture_mac(w->cap[s], w->pl.own_mac[s]) != 0)
            log_warnx("side %c: interface MAC unknown, replies use a made-up source", 'a' + s);

    w->loop = ev_default_loop(EVFLAG_AUTO);
    ev_set_userdata(w->loop, w);
    if (store_setup(w) != 0)
        return 1;
    if (w->cluster)
        pipeline_set_owned(&w->pl, w->steer.owned, w->steer.nbuckets);
    w->links_up = true;
    if (apply_filters(w) != 0)
        return 1;
    for (int s = 0; s < 2; s++) {
        ev_io_init(&w->io[s], on_readable, capture_fd(w->cap[s]), EV_READ);
        ev_io_start(w->loop, &w->io[s]);
    }
    ev_timer_init(&w->tick, on_tick, TICK_S, TICK_S);
    ev_timer_start(w->loop, &w->tick);
    ev_prepare_init(&w->flush, on_prepare);
    ev_prepare_start(w->loop, &w->flush);
    ev_signal_init(&w->sig_int, on_stop, SIGINT);
    ev_signal_init(&w->sig_term, on_stop, SIGTERM);
    ev_signal_init(&w->sig_usr1, on_usr1, SIGUSR1);
    ev_signal_start(w->loop, &w->sig_int);
    ev_signal_start(w->loop, &w->sig_term);
    ev_signal_start(w->loop, &w->sig_usr1);
    signal(SIGPIPE, SIG_IGN);

    if (w->set.rt_priority > 0) {
        struct sched_param sp = {.sched_priority = (int)w->set.rt_priority};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) {
            log_msg(LOG_LVL_ERROR, true, "realtime_priority %ld: cannot use SCHED_FIFO",
                    w->set.rt_priority);
            return 1;
        }
    }
    if (w->set.user[0] && drop_privileges(w->set.user) != 0)
        return 1;
    log_info("%s: forwarding between %s and %s, %zu rules, table max %ld", w->set.node_id,
             w->set.side[0].iface, w->set.side[1].iface, classify_count(w->pl.cls),
             w->set.conn_max);
    /* the stats file's writer, started after the privileges are dropped (it would keep the
     * capabilities); a wrong path is reported by the next write_stats, within a tick */
    if (w->set.stats_file && w->set.stats_file[0] &&
        !(w->stats_out = stats_file_new(w->set.stats_file, err, sizeof(err)))) {
        log_errorx("%s", err);
        return 1;
    }
    write_stats(w);
    ev_run(w->loop, 0);
    flush_egress(w);
    write_stats(w);
    if (stats_file_free(w->stats_out, STATS_EXIT_WAIT_S) != 0) /* writes those last counters */
        log_warnx("%s: the last write did not finish in %.0f s: stopping without it",
                  w->set.stats_file, STATS_EXIT_WAIT_S);
    w->stats_out = NULL;
    return 0;
}

struct offline_ctx {
    struct pipeline *pl;
    uint64_t last_ts;
};

static void on_offline_frame(void *arg, const uint8_t *data, uint32_t caplen, uint64_t ts_ns)
{
    struct offline_ctx *oc = arg;
    if (ts_ns > oc->last_ts)
        oc->last_ts = ts_ns;
    pipeline_frame(oc->pl, SIDE_UNKNOWN, data, caplen, ts_ns);
}

static int run_offline(struct fwnode *w, const char *in, const char *out)
{
    char err[512];
    struct capture_dump *dump = NULL;
    struct capture *c = capture_open_file(in, err, sizeof(err));
    int rc = 1;
    if (!c) {
        log_errorx("%s", err);
        return 1;
    }
    if (out && !(dump = capture_dump_open(out, err, sizeof(err)))) {
        log_errorx("%s: %s", out, err);
        goto done;
    }
    if (!(w->fwd = forward_file_new(dump, err, sizeof(err))) ||
        pipeline_init(&w->pl, &w->set, w->fwd, err, sizeof(err)) != 0) {
        log_errorx("%s", err);
        goto done;
    }
    struct offline_ctx oc = {&w->pl, 0};
    int n;
    while ((n = capture_dispatch(c, -1, on_offline_frame, &oc, err, sizeof(err))) > 0)
        ;
    if (n == -1) {
        log_errorx("%s: %s", in, err);
        goto done;
    }
    pipeline_expire(&w->pl, oc.last_ts, conntable_slots(w->pl.ct));
    stats_write(&w->pl.stats, stdout);
    rc = 0;
done:
    capture_dump_close(dump);
    capture_close(c);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = getenv("FW_CONFIG"), *in = NULL, *out = NULL;
    bool test = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:tr:w:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conf = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'r':
            in = optarg;
            break;
        case 'w':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("fwnode %s\n", FWNODE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (out && !in)) {
        usage(stderr);
        return 2;
    }
    if (conf && !conf[0])
        conf = NULL;

    static struct fwnode w; /* large (the pipeline's counters): not on the stack */
    char err[512];
    log_init("fwnode", LOG_LVL_INFO, false);
    if (config_load(fwnode_options, &w.set, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        config_free(fwnode_options, &w.set);
        return 2;
    }
    struct classifier *cls = classify_compile(w.set.rules.rules, w.set.rules.n, err, sizeof(err));
    if (!cls) {
        fprintf(stderr, "%s: rules: %s\n", conf ? conf : "FW_RULES", err);
        config_free(fwnode_options, &w.set);
        return 2;
    }
    classify_free(cls);
    if (w.set.sync.level != SYNC_LEVEL_NONE && !redisopt_configured(&w.set.redis) && !in) {
        fprintf(stderr, "%s: sync level %s needs Redis: set redis.host or redis.sentinels\n",
                conf ? conf : "FW_SYNC_LEVEL", sync_level_words[w.set.sync.level]);
        config_free(fwnode_options, &w.set);
        return 2;
    }
    if (test) {
        printf("configuration OK\n");
        config_free(fwnode_options, &w.set);
        return 0;
    }
    log_init("fwnode", (enum log_level)w.set.log_level, w.set.log_json);

    int rc = in ? run_offline(&w, in, out) : run_live(&w);

    cluster_free(w.cluster);
    store_free(w.store); /* before the pipeline: held packets are released into it */
    pipeline_set_store(&w.pl, NULL);
    pipeline_free(&w.pl);
    forward_free(w.fwd);
    for (int s = 0; s < 2; s++)
        capture_close(w.cap[s]);
    config_free(fwnode_options, &w.set);
    return rc;
}
