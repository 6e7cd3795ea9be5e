/* cluster.c: registration, heartbeats, and following emgr's map and configuration. */
#include <ev.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "keys.h"
#include "log.h"

#define EVENTS_CHANNEL KEYS_EVENTS
#define POLL_S         1.0 /* reconciliation: notifications are fire-and-forget */
#define MGET_CHUNK     64
#define LOAD_WINDOW    32 /* bulk-load commands in flight on the heartbeat's connection, */
#define LOAD_INDEXES   2  /* ... of them index reads (a bucket's index may be large) */

struct sched_times {
    uint64_t cpu_ns;  /* ran */
    uint64_t wait_ns; /* runnable, waiting for a CPU (UINT64_MAX: not known) */
};

struct chunk;

/* The bulk load of the buckets taken over (below). */
struct loader {
    uint8_t *want;             /* buckets whose index is still to be read */
    uint32_t nbuckets, next;   /* want's size; the first bucket that may be set */
    struct chunk *head, *tail; /* MGETs to send, in order */
    int inflight, indexes;     /* load commands sent, not answered; of them SMEMBERS */
    cluster_entry_fn fn;
    void *arg;
    uint64_t started_ns, entries; /* this load's start (0: none running), entries handed over */
    unsigned failed;              /* reads answered with an error */
    unsigned gen;                 /* bumped when what is queued is dropped (a new bucket count) */
};

struct cluster {
    struct ev_loop *loop;
    char node[64];
    char node_key[KEYS_MAX];
    struct redis_ev *cmd, *sub;
    struct cluster_hooks hooks;
    long heartbeat_ms, misses;
    uint64_t map_epoch;   /* last map handed to the hooks */
    uint64_t acked_epoch; /* last map applied (announced in the heartbeat) */
    uint32_t owned;
    uint64_t config_version;
    bool draining;
    bool healthy; /* the data interfaces are up: heartbeats are sent */
    ev_timer heartbeat;
    ev_timer poll;
    uint64_t last_hb_ns;        /* when the heartbeat timer last ran (monotonic) */
    struct sched_times last_st; /* the event loop thread's run and wait times then */
    int schedstat_fd;           /* its /proc/thread-self/schedstat: -1 not open yet, -2 none */
    struct loader load;
};

static void load_pump(struct cluster *c);
static void load_reset(struct loader *l);

static void note(struct cluster *c, bool warn, const char *fmt, ...) FW_PRINTF(3, 4);

/* Passes a message to the owner's log. */
static void note(struct cluster *c, bool warn, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->hooks.note)
        c->hooks.note(c->hooks.arg, warn, msg);
}

static void on_ignore(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r, (void)rr, (void)arg;
}

static void send_heartbeat(struct cluster *c)
{
    if (!c->cmd || !c->healthy)
        return;
    char val[256];
    snprintf(val, sizeof(val), "state=%s epoch=%llu owned=%u pid=%d",
             c->draining ? "draining" : "ready", (unsigned long long)c->acked_epoch, c->owned,
             (int)getpid());
    redis_ev_cmd(c->cmd, on_ignore, NULL, "SET %s %s PX %ld", c->node_key, val,
                 c->heartbeat_ms * c->misses);
    /* every time: emgr finds workers through this set and prunes the dead from it */
    redis_ev_cmd(c->cmd, on_ignore, NULL, "SADD %s %s", KEYS_NODES, c->node);
}

/* The event loop thread's CPU time and time spent runnable but waiting for a CPU, from the
 * scheduler's statistics (/proc/thread-self/schedstat, opened once by that thread and read again
 * from the start each time). Without them, wait_ns is UINT64_MAX and cpu_ns comes from the
 * thread's CPU clock. */
static struct sched_times sched_times_now(struct cluster *c)
{
    struct sched_times st = {0, UINT64_MAX};
    char buf[128];
    if (c->schedstat_fd == -1) {
        c->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        if (c->schedstat_fd < 0)
            c->schedstat_fd = -2;
    }
    ssize_t n = c->schedstat_fd >= 0 ? pread(c->schedstat_fd, buf, sizeof(buf) - 1, 0) : -1;
    unsigned long long run, wait;
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "%llu %llu", &run, &wait) == 2 && run > 0) /* 0: not kept here */
            return (struct sched_times){run, wait};
    }
    st.cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    return st;
}

/* Logs a heartbeat that comes late, with where the time went: a busy event loop is the worker's
 * doing; waiting for a CPU, being stopped or blocked in the kernel (a write to a slow disk) are
 * the host's. */
static void note_late(struct cluster *c, uint64_t gap_ms, struct sched_times st)
{
    bool known = st.wait_ns != UINT64_MAX && c->last_st.wait_ns != UINT64_MAX;
    uint64_t ran = st.cpu_ns > c->last_st.cpu_ns ? (st.cpu_ns - c->last_st.cpu_ns) / 1000000 : 0;
    uint64_t waited = known ? (st.wait_ns - c->last_st.wait_ns) / 1000000 : 0;
    uint64_t other = gap_ms > ran + waited ? gap_ms - ran - waited : 0;
    char detail[128];
    if (known)
        snprintf(detail, sizeof(detail), "waited %llu ms for a CPU, and was neither for %llu ms",
                 (unsigned long long)waited, (unsigned long long)other);
    else
        snprintf(detail, sizeof(detail), "and did not run for %llu ms (no schedstat)",
                 (unsigned long long)other);
    const char *why = ran >= waited && ran >= other ? "its event loop was busy"
                      : !known ? "it was not running (waiting for a CPU, stopped or blocked)"
                      : waited >= other
                          ? "it waited for a CPU"
                          : "it was stopped, or blocked in a system call (a slow disk?)";
    note(c, true,
         "heartbeat %llu ms after the one before (every %ld ms; emgr fails a worker after %ld ms "
         "without one): meanwhile the worker ran %llu ms, %s: %s",
         (unsigned long long)gap_ms, c->heartbeat_ms, c->heartbeat_ms * c->misses,
         (unsigned long long)ran, detail, why);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct cluster *c = t->data;
    /* more than two periods since the last run: the worker's loop was busy, or the worker was
     * not running, for that long, which emgr takes for a failure once heartbeat_ms * misses pass */
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    struct sched_times st = sched_times_now(c);
    uint64_t gap_ms = (now - c->last_hb_ns) / 1000000;
    if (c->last_hb_ns && c->cmd && c->healthy && gap_ms > 2 * (uint64_t)c->heartbeat_ms)
        note_late(c, gap_ms, st);
    c->last_hb_ns = now;
    c->last_st = st;
    send_heartbeat(c);
}

/* Looks a field up in an HGETALL reply. */
static const char *hfield(const struct redis_reply *rr, const char *name)
{
    size_t n = redis_reply_count(rr);
    for (size_t i = 0; i + 1 < n; i += 2)
        if (strcmp(redis_reply_str(redis_reply_elem(rr, i), NULL), name) == 0)
            return redis_reply_str(redis_reply_elem(rr, i + 1), NULL);
    return NULL;
}

static void on_map(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct cluster *c = arg;
    if (redis_reply_type(rr) != RR_ARRAY || redis_reply_count(rr) == 0)
        return; /* no map yet */
    const char *e = hfield(rr, "epoch"), *nb = hfield(rr, "nbuckets"), *m = hfield(rr, "buckets");
    if (!e || !nb || !m) {
        note(c, true, "fw:map lacks epoch, nbuckets or buckets: ignored");
        return;
    }
    uint64_t epoch = strtoull(e, NULL, 10);
    unsigned long nbuckets = strtoul(nb, NULL, 10);
    if (epoch == c->map_epoch)
        return;
    c->map_epoch = epoch;
    if (c->hooks.map)
        c->hooks.map(c->hooks.arg, epoch, (uint32_t)nbuckets, m);
}

static long lfield(const struct redis_reply *rr, const char *name)
{
    const char *v = hfield(rr, name);
    return v ? strtol(v, NULL, 10) : 0;
}

static void on_config(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct cluster *c = arg;
    if (redis_reply_type(rr) != RR_ARRAY || redis_reply_count(rr) == 0)
        return;
    const char *v = hfield(rr, "version");
    uint64_t version = v ? strtoull(v, NULL, 10) : 0;
    if (!v || version == c->config_version)
        return;
    struct cluster_config cfg = {
        .version = version,
        .rules = hfield(rr, "rules"),
        .level = hfield(rr, "level"),
        .strategy = hfield(rr, "strategy"),
        .access = hfield(rr, "access"),
        .policy = hfield(rr, "policy"),
        .replicas = hfield(rr, "replicas"),
        .wait_timeout_ms = lfield(rr, "wait_timeout_ms"),
        .heartbeat_ms = lfield(rr, "heartbeat_ms"),
        .misses = lfield(rr, "misses"),
    };
    c->config_version = version;
    if (cfg.heartbeat_ms > 0 && cfg.misses > 0)
        cluster_set_heartbeat(c, cfg.heartbeat_ms, cfg.misses);
    if (c->hooks.config)
        c->hooks.config(c->hooks.arg, &cfg);
}

static void fetch(struct cluster *c)
{
    if (!c->cmd)
        return;
    redis_ev_cmd(c->cmd, on_config, c, "HGETALL %s", KEYS_CONFIG);
    redis_ev_cmd(c->cmd, on_map, c, "HGETALL %s", KEYS_MAP);
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    fetch(t->data);
}

/* fw:events messages: "map:<epoch>", "config:<version>". */
static void on_event(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct cluster *c = arg;
    if (redis_reply_type(rr) != RR_ARRAY || redis_reply_count(rr) != 3 ||
        strcmp(redis_reply_str(redis_reply_elem(rr, 0), NULL), "message") != 0)
        return;
    const char *msg = redis_reply_str(redis_reply_elem(rr, 2), NULL);
    if (strncmp(msg, "map:", 4) == 0)
        redis_ev_cmd(c->cmd, on_map, c, "HGETALL %s", KEYS_MAP);
    else if (strncmp(msg, "config:", 7) == 0)
        redis_ev_cmd(c->cmd, on_config, c, "HGETALL %s", KEYS_CONFIG);
}

void cluster_on_cmd_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r;
    struct cluster *c = arg;
    if (up) {
        note(c, false, "cluster: registered as %s at %s", c->node, why);
        send_heartbeat(c);
        fetch(c);
        load_pump(c); /* what was left of a load when the connection went */
    } else {
        note(c, true, "cluster: %s", why);
    }
}

void cluster_on_sub_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r;
    struct cluster *c = arg;
    if (up)
        fetch(c); /* what was published while unsubscribed */
    else
        note(c, true, "cluster events: %s", why);
}

struct cluster *cluster_new(struct ev_loop *loop, const char *node, struct redis_ev *cmd,
                            struct redis_ev *sub, long heartbeat_ms, long misses,
                            const struct cluster_hooks *hooks)
{
    struct cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = loop;
    snprintf(c->node, sizeof(c->node), "%s", node);
    keys_node(c->node_key, sizeof(c->node_key), c->node);
    c->cmd = cmd;
    c->sub = sub;
    c->hooks = *hooks;
    c->heartbeat_ms = heartbeat_ms;
    c->misses = misses;
    c->healthy = true;
    c->schedstat_fd = -1;
    ev_timer_init(&c->heartbeat, on_heartbeat, heartbeat_ms / 1000.0, heartbeat_ms / 1000.0);
    c->heartbeat.data = c;
    ev_timer_start(loop, &c->heartbeat);
    ev_timer_init(&c->poll, on_poll, POLL_S, POLL_S);
    c->poll.data = c;
    ev_timer_start(loop, &c->poll);
    if (cmd && sub)
        cluster_attach(c, cmd, sub);
    return c;
}

void cluster_attach(struct cluster *c, struct redis_ev *cmd, struct redis_ev *sub)
{
    c->cmd = cmd;
    c->sub = sub;
    redis_ev_subscribe(sub, EVENTS_CHANNEL, on_event, c);
}

void cluster_free(struct cluster *c)
{
    if (!c)
        return;
    ev_timer_stop(c->loop, &c->heartbeat);
    ev_timer_stop(c->loop, &c->poll);
    redis_ev_free(c->sub);
    redis_ev_free(c->cmd); /* the load's callbacks run (RR_NONE) and send nothing more */
    load_reset(&c->load);
    if (c->schedstat_fd >= 0)
        close(c->schedstat_fd);
    free(c);
}

void cluster_set_heartbeat(struct cluster *c, long heartbeat_ms, long misses)
{
    if (heartbeat_ms == c->heartbeat_ms && misses == c->misses)
        return;
    c->heartbeat_ms = heartbeat_ms;
    c->misses = misses;
    ev_timer_stop(c->loop, &c->heartbeat);
    ev_timer_set(&c->heartbeat, heartbeat_ms / 1000.0, heartbeat_ms / 1000.0);
    ev_timer_start(c->loop, &c->heartbeat);
}

void cluster_ack(struct cluster *c, uint64_t epoch, uint32_t owned)
{
    c->acked_epoch = epoch;
    c->owned = owned;
    send_heartbeat(c);
}

void cluster_set_healthy(struct cluster *c, bool healthy)
{
    if (healthy == c->healthy)
        return;
    c->healthy = healthy;
    if (healthy)
        send_heartbeat(c);
}

void cluster_drain(struct cluster *c)
{
    c->draining = true;
    send_heartbeat(c);
}

/* ---- bulk loading ----
 * The buckets taken over are read in order, LOAD_WINDOW commands (MGETs of up to MGET_CHUNK keys
 * of an index read, and at most LOAD_INDEXES SMEMBERS of a bucket's index) in flight at a time.
 * The heartbeat shares the connection:
 * Redis answers a connection's commands in order, so with every index and MGET sent at once a
 * heartbeat waited behind the whole load (200,000 entries: long enough for its key to expire,
 * emgr to fail the worker that had just taken over, hand its buckets to another, which then failed
 * the same way). With the window it waits behind a few. */

struct chunk { /* an MGET to send: keys of one bucket */
    struct chunk *next;
    uint32_t bucket;
    size_t n;
    char *keys[MGET_CHUNK];
};

struct load_cmd { /* a load command in flight */
    struct cluster *c;
    uint32_t bucket;
    unsigned gen;        /* the loader's then */
    struct chunk *chunk; /* the MGET's keys; NULL for SMEMBERS */
};

static void chunk_free(struct chunk *k)
{
    for (size_t i = 0; k && i < k->n; i++)
        free(k->keys[i]);
    free(k);
}

/* The loader's queue of MGETs to send: appended as indexes are read, a chunk whose MGET was lost
 * with the connection put back in front, taken from the front. */
static void chunk_append(struct loader *l, struct chunk *k)
{
    k->next = NULL;
    if (l->tail)
        l->tail->next = k;
    else
        l->head = k;
    l->tail = k;
}

static void chunk_push(struct loader *l, struct chunk *k)
{
    k->next = l->head;
    l->head = k;
    if (!l->tail)
        l->tail = k;
}

static struct chunk *chunk_take(struct loader *l)
{
    struct chunk *k = l->head;
    if (k) {
        l->head = k->next;
        if (!l->head)
            l->tail = NULL;
        k->next = NULL;
    }
    return k;
}

/* The end of a load command: counted out, and the next ones sent unless the connection went
 * (then what is left is sent when it is back). */
static void load_done(struct cluster *c, struct load_cmd *lc, const struct redis_reply *rr)
{
    c->load.inflight--;
    if (!lc->chunk)
        c->load.indexes--;
    if (redis_reply_type(rr) != RR_NONE)
        load_pump(c);
    free(lc);
}

static void on_mget(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    struct load_cmd *lc = arg;
    struct cluster *c = lc->c;
    struct loader *l = &c->load;
    struct chunk *k = lc->chunk;
    bool current = lc->gen == l->gen;
    if (current && redis_reply_type(rr) == RR_ARRAY && redis_reply_count(rr) == k->n) {
        const char *gone[2 + MGET_CHUNK]; /* SREM of the index members whose entry expired */
        char idx[KEYS_MAX];
        int ngone = 2;
        keys_bucket(idx, sizeof(idx), k->bucket);
        gone[0] = "SREM";
        gone[1] = idx;
        for (size_t i = 0; i < k->n; i++) {
            const struct redis_reply *e = redis_reply_elem(rr, i);
            if (redis_reply_type(e) == RR_STRING) {
                size_t vlen;
                const char *v = redis_reply_str(e, &vlen);
                l->fn(l->arg, k->keys[i], strlen(k->keys[i]), v, vlen);
                l->entries++;
            } else {
                gone[ngone++] = k->keys[i];
            }
        }
        if (ngone > 2)
            redis_ev_cmdv(r, on_ignore, NULL, ngone, gone, NULL);
        chunk_free(k);
    } else if (current && redis_reply_type(rr) == RR_NONE) {
        chunk_push(l, k); /* the connection went: asked again when it is back */
    } else {
        l->failed += current; /* an error reply: those flows are looked up when they come */
        chunk_free(k);
    }
    load_done(c, lc, rr);
}

static void on_members(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct load_cmd *lc = arg;
    struct cluster *c = lc->c;
    struct loader *l = &c->load;
    bool current = lc->gen == l->gen;
    size_t n = current && redis_reply_type(rr) == RR_ARRAY ? redis_reply_count(rr) : 0;
    for (size_t i = 0; i < n; i += MGET_CHUNK) {
        struct chunk *k = calloc(1, sizeof(*k));
        if (!k)
            break;
        k->bucket = lc->bucket;
        for (size_t j = i; j < n && k->n < MGET_CHUNK; j++)
            if (!(k->keys[k->n] = strdup(redis_reply_str(redis_reply_elem(rr, j), NULL))))
                break;
            else
                k->n++;
        if (k->n == 0) {
            free(k);
            break;
        }
        chunk_append(l, k);
    }
    if (current && redis_reply_type(rr) == RR_NONE) {
        l->want[lc->bucket] = 1; /* the connection went: read again when it is back */
        if (lc->bucket < l->next)
            l->next = lc->bucket;
    } else if (current && redis_reply_type(rr) != RR_ARRAY) {
        l->failed++;
    }
    load_done(c, lc, rr);
}

/* Sends load commands until LOAD_WINDOW are in flight: the MGETs of indexes read first (so that
 * keys do not pile up), then the next index. Stops quietly when the connection is down: what is
 * left is read when it is up again. */
static void load_pump(struct cluster *c)
{
    struct loader *l = &c->load;
    while (l->inflight < LOAD_WINDOW && c->cmd && redis_ev_up(c->cmd)) {
        struct load_cmd *lc = calloc(1, sizeof(*lc));
        if (!lc)
            return;
        lc->c = c;
        lc->gen = l->gen;
        struct chunk *k = l->head;
        if (k) {
            const char *argv[1 + MGET_CHUNK];
            argv[0] = "MGET";
            for (size_t i = 0; i < k->n; i++)
                argv[1 + i] = k->keys[i];
            if (redis_ev_cmdv(c->cmd, on_mget, lc, (int)k->n + 1, argv, NULL) != 0) {
                free(lc);
                return;
            }
            lc->chunk = chunk_take(l);
        } else {
            while (l->next < l->nbuckets && !l->want[l->next])
                l->next++;
            if (l->next >= l->nbuckets || l->indexes >= LOAD_INDEXES) {
                free(lc);
                break;
            }
            char idx[KEYS_MAX];
            keys_bucket(idx, sizeof(idx), l->next);
            lc->bucket = l->next;
            if (redis_ev_cmd(c->cmd, on_members, lc, "SMEMBERS %s", idx) != 0) {
                free(lc);
                return;
            }
            l->want[l->next++] = 0;
            l->indexes++;
        }
        l->inflight++;
    }
    if (l->inflight == 0 && l->started_ns && !l->head && l->next >= l->nbuckets) {
        char failed[128] = "";
        if (l->failed)
            snprintf(failed, sizeof(failed),
                     " (%u reads answered with an error: those flows are looked up when they "
                     "come)",
                     l->failed);
        note(c, l->failed > 0, "loaded %llu stored entries of the buckets taken over in %llu ms%s",
             (unsigned long long)l->entries,
             (unsigned long long)((clock_ns(CLOCK_MONOTONIC) - l->started_ns) / 1000000), failed);
        l->started_ns = 0;
    }
}

static void load_reset(struct loader *l)
{
    struct chunk *k;
    while ((k = chunk_take(l)))
        chunk_free(k);
    free(l->want);
    l->want = NULL;
    l->nbuckets = l->next = 0;
    l->gen++;
}

void cluster_load_buckets(struct cluster *c, const uint8_t *want, uint32_t nbuckets,
                          cluster_entry_fn fn, void *arg)
{
    struct loader *l = &c->load;
    if (nbuckets != l->nbuckets) { /* a new bucket count: what is queued is of the old one */
        load_reset(l);
        if (!(l->want = calloc(nbuckets, 1)))
            return;
        l->nbuckets = nbuckets;
    }
    for (uint32_t b = 0; b < nbuckets; b++) {
        if (want[b]) {
            l->want[b] = 1;
            if (b < l->next)
                l->next = b;
        }
    }
    l->fn = fn;
    l->arg = arg;
    if (!l->started_ns) {
        l->started_ns = clock_ns(CLOCK_MONOTONIC);
        l->entries = 0;
        l->failed = 0;
    }
    load_pump(c);
}
