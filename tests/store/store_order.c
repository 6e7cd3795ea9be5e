/* store_order.c: the order and the verdicts with which the store (fwnode/store.c) hands out the
 * packets it holds, against a real Redis (tests/integration/test_store_order.sh starts a private
 * master and replica). The packets go through the store as pipeline.c's frame_run sends them:
 * store_sync, then held while the connection's release point has not passed, else forwarded at
 * once. The lanes are set up as the worker's are (redis_ev_config.quiet): with sync/dirty a
 * batch's writes go without replies and are read back after its WAIT. Checks (each can be run
 * alone by name):
 *   handshake  the commands of the connect handshake (CLIENT SETNAME, CLIENT REPLY ON, ROLE) are
 *              counted neither as sent nor as answered: replied <= sent right after connect,
 *              == once all is answered
 *   writes     a connection's DEL follows its TTL refresh still queued behind a WAIT on another
 *              lane: the closed connection's entry is not written back
 *   reuse      a new connection object on the addresses and ports of one whose DEL is queued
 *              behind a WAIT writes on the DEL's lane, after it: the new entry is not deleted
 *   switch     sync -> async with a WAIT in flight and the next batch open: the lane's points pass
 *              in order (the open batch's WAIT is answered before the EXEC behind it), and the
 *              packets of the batch whose WAIT timed out are dropped (fail-closed)
 *   hol        packets of a point that passed leave with it, not behind a later point's packets
 *   wrap       4100 release points on one lane while another lane's WAIT is in flight: that
 *              lane's point is still pending (no ring of recent points wraps onto it)
 *   pin        after a switch to async, a connection whose packets wait on a lane writes there
 *   loss-kill, loss-drop, loss-free   a lane with a WAIT in flight, an open batch and an EXEC
 *              behind them loses its connection (CLIENT KILL, redis_ev_drop, store_free): under
 *              fail-closed every held packet is dropped, none forwarded
 *   cork       a write that comes while its lane's WAIT blocks the connection stays in the worker
 *              (the master's query buffer holds nothing of it, only the blocked batch's MGET
 *              read-back) until that WAIT is answered, then leaves with the next WAIT
 *   pipe       with 2 WAITs in flight per lane, the second batch waits at the master behind the
 *              first WAIT (in its query buffer, not applied), the third stays in the worker;
 *              the points pass in order, each after its own WAIT (dirty and transaction)
 *   stress     per seed: a randomized run (connections change state, modes switch, lanes drop
 *              their connection or are killed; odd seeds with 2 WAITs in flight per lane); each
 * connection's forwarded packets leave in order and every held packet is handed out exactly once
 * Prints TAP lines ("ok - what", "not ok - what", "# ..." diagnostics) and a summary; the exit
 * status is 0 only when every check passed.
 *   store_order -p PORT [-H HOST] [-R REPLICAS] [-n ROUNDS] [-s SEED]... [CHECK...]
 * REPLICAS: how many replicas are connected to the master (a WAIT for that many succeeds; the
 * checks that need a WAIT to time out ask for more). */
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "packet.h"
#include "stats.h"
#include "store.h"

#define LANES_MAX 4
#define RELS_MAX  128
#define TMO_NS    (30ull * 1000000000ull) /* a connection's timeout: the entry's TTL */

static struct ev_loop *loop;
static const char *host = "127.0.0.1";
static int port;
static int reps; /* replicas connected to the master */
static struct fw_stats stats;
static struct store *st;
static struct redis_ev *lanes[LANES_MAX];
static int nlanes;
static struct redis_ev *admin; /* CLIENT KILL, EXISTS, FLUSHALL */
static bool auto_flush;        /* store_flush at the end of every loop round, as the worker does */
static uint64_t now_ns = 1000000000000ull;
static int npassed, nfailed;

/* the connect handshake as each lane saw it when it came up */
static unsigned long long up_sent[LANES_MAX], up_replied[LANES_MAX];
static bool up_seen[LANES_MAX];

/* ---- the packets handed out (scenarios) ---- */

struct rel {
    char tag[24]; /* "NAME:N": connection NAME's packet N */
    bool fwd;
    bool held;   /* handed out by the store (else forwarded or dropped at once) */
    double t_ms; /* since the scenario's start */
};
static struct rel rels[RELS_MAX];
static int nrels;
static unsigned long nheld, nreleased;
static double t0_ms;

static bool stressing;
static void stress_out(const char *tag, bool fwd);

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void out(const char *tag, bool fwd, bool held)
{
    if (stressing) {
        stress_out(tag, fwd);
        return;
    }
    if (nrels < RELS_MAX) {
        struct rel *r = &rels[nrels++];
        snprintf(r->tag, sizeof(r->tag), "%s", tag);
        r->fwd = fwd;
        r->held = held;
        r->t_ms = mono_ms() - t0_ms;
    }
}

static void on_release(void *arg, int side, const uint8_t *frame, uint32_t len, uint64_t ts,
                       bool forward)
{
    (void)arg, (void)side, (void)len, (void)ts;
    nreleased++;
    out((const char *)frame, forward, true);
}

static void on_adopt(void *arg, const struct flow_key *k, uint32_t hash,
                     const struct store_entry *e, int side, const uint8_t *frame, uint32_t len,
                     uint64_t ts)
{
    (void)arg, (void)k, (void)hash, (void)e, (void)side, (void)frame, (void)len, (void)ts;
}

static void on_rerun(void *arg, int side, const uint8_t *frame, uint32_t len, uint64_t ts)
{
    (void)arg, (void)side, (void)frame, (void)len, (void)ts;
}

/* The index of tag's (first) release, or -1. */
static int rel_find(const char *tag)
{
    for (int i = 0; i < nrels; i++)
        if (strcmp(rels[i].tag, tag) == 0)
            return i;
    return -1;
}

static int rel_count(const char *tag)
{
    int n = 0;
    for (int i = 0; i < nrels; i++)
        n += strcmp(rels[i].tag, tag) == 0;
    return n;
}

/* 'F' forwarded, 'D' dropped, '-' not handed out, '2' handed out more than once. */
static char verdict(const char *tag)
{
    int i = rel_find(tag);
    if (i < 0)
        return '-';
    if (rel_count(tag) > 1)
        return '2';
    return rels[i].fwd ? 'F' : 'D';
}

/* Each connection's forwarded packets in increasing order ("NAME:N": per NAME, N increasing). */
static bool rels_in_order(void)
{
    for (int i = 0; i < nrels; i++) {
        const char *ci = strrchr(rels[i].tag, ':');
        if (!rels[i].fwd || !ci)
            continue;
        for (int j = i + 1; j < nrels; j++) {
            const char *cj = strrchr(rels[j].tag, ':');
            if (!rels[j].fwd || !cj || cj - rels[j].tag != ci - rels[i].tag ||
                strncmp(rels[i].tag, rels[j].tag, (size_t)(ci - rels[i].tag)) != 0)
                continue;
            if (atoi(cj + 1) <= atoi(ci + 1))
                return false;
        }
    }
    return true;
}

/* Every packet the store held was handed out exactly once (after store_free). */
static bool all_handed_out(void)
{
    return nreleased == nheld && stats.held_overflow == 0;
}

static void rels_diag(void)
{
    printf("# handed out (%lu held, %lu released by the store):\n", nheld, nreleased);
    for (int i = 0; i < nrels; i++)
        printf("#   %6.0f ms %-8s %s%s\n", rels[i].t_ms, rels[i].tag,
               rels[i].fwd ? "forwarded" : "dropped", rels[i].held ? "" : " (at once)");
}

static bool check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(ok ? "ok - " : "not ok - ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (ok) {
        npassed++;
    } else {
        nfailed++;
        if (!stressing && (nrels || nheld))
            rels_diag();
    }
    fflush(stdout);
    return ok;
}

/* ---- the loop ---- */

static bool deadline_hit;

static void on_deadline(struct ev_loop *l, ev_timer *t, int revents)
{
    (void)l, (void)t, (void)revents;
    deadline_hit = true;
}

static void on_prepare(struct ev_loop *l, ev_prepare *p, int revents)
{
    (void)l, (void)p, (void)revents;
    if (auto_flush && st)
        store_flush(st);
}

/* Runs the loop until done() (NULL: never) or max_ms have passed. Returns done()'s last value. */
static bool run_until(bool (*done)(void), double max_ms)
{
    ev_timer t;
    ev_now_update(loop);
    ev_timer_init(&t, on_deadline, max_ms / 1000.0, 0.);
    deadline_hit = false;
    ev_timer_start(loop, &t);
    while (!(done && done()) && !deadline_hit)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return done && done();
}

static void run_ms(double ms)
{
    run_until(NULL, ms);
}

static uint64_t poll_need;
static bool need_passed(void)
{
    return !store_pending(st, poll_need);
}

static int poll_rels;
static bool rels_reached(void)
{
    return nrels >= poll_rels;
}

static bool lanes_up(void)
{
    for (int i = 0; i < nlanes; i++)
        if (!redis_ev_up(lanes[i]))
            return false;
    return true;
}

/* Every command queued on the lanes has had its callback (or more: the count is wrong). */
static bool lanes_answered(void)
{
    for (int i = 0; i < nlanes; i++)
        if (redis_ev_replied(lanes[i]) < redis_ev_mark(lanes[i]))
            return false;
    return true;
}

/* ---- the admin connection ---- */

static void on_admin_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r, (void)up, (void)why, (void)arg;
}

static bool admin_done;
static enum redis_reply_type admin_type;
static long long admin_int;
static char admin_str[8192]; /* a string reply, cut to fit */

static void on_admin_reply(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r, (void)arg;
    admin_type = redis_reply_type(rr);
    admin_int = admin_type == RR_INTEGER ? redis_reply_int(rr) : -1;
    size_t n = 0;
    const char *str = admin_type == RR_STRING ? redis_reply_str(rr, &n) : NULL;
    if (n >= sizeof(admin_str))
        n = sizeof(admin_str) - 1;
    memcpy(admin_str, str ? str : "", n);
    admin_str[n] = '\0';
    admin_done = true;
}

static bool admin_up(void)
{
    return redis_ev_up(admin);
}

static bool admin_answered(void)
{
    return admin_done;
}

/* Runs an admin command and waits for its reply (2 s). Returns its integer reply, -1 for any
 * other (admin_type says which), -2 for none. */
static long long admin_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    admin_done = false;
    admin_type = RR_NONE;
    int rc = redis_ev_up(admin) ? redis_ev_vcmd(admin, on_admin_reply, NULL, fmt, ap) : -1;
    va_end(ap);
    if (rc != 0)
        return -2;
    return run_until(admin_answered, 2000) ? admin_int : -2;
}

/* ---- a store and its lanes ---- */

static void on_lane_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    for (int i = 0; i < nlanes; i++)
        if (lanes[i] == r && up && !up_seen[i]) {
            up_seen[i] = true;
            up_sent[i] = redis_ev_sent(r);
            up_replied[i] = redis_ev_replied(r);
        }
    store_on_redis_state(r, up, why, arg);
}

static struct store_config mode(enum sync_strategy strategy, enum sync_access access,
                                enum sync_policy policy, int replicas, long wait_ms)
{
    struct store_config c = {
        SYNC_LEVEL_FULL, strategy, access, policy, replicas, wait_ms, 1024, "so", 2000000000ull,
    };
    return c;
}

/* A store with n lanes, every lane up and its first commands answered. */
static bool setup(int n, const struct store_config *cfg)
{
    memset(&stats, 0, sizeof(stats));
    memset(up_seen, 0, sizeof(up_seen));
    nrels = 0;
    nheld = nreleased = 0;
    auto_flush = false;
    struct store_hooks hooks = {NULL, on_release, on_adopt, on_rerun, NULL};
    st = store_new(cfg, &hooks, &stats);
    if (!st)
        return false;
    nlanes = 0;
    for (int i = 0; i < n; i++) {
        char name[32], err[256];
        snprintf(name, sizeof(name), "so-lane%d", i);
        struct redis_ev_config rc = {host, port, NULL, NULL, NULL, NULL, name, 1.0, 0.01, 0.05};
        rc.quiet = true; /* as the worker's lanes: sync/dirty batches write without replies */
        struct redis_ev *r = redis_ev_new(loop, &rc, on_lane_state, st, err, sizeof(err));
        if (!r) {
            printf("# redis_ev_new: %s\n", err);
            return false;
        }
        if (store_attach(st, r) != 0) {
            redis_ev_free(r);
            return false;
        }
        lanes[nlanes++] = r;
    }
    if (!run_until(lanes_up, 3000)) {
        printf("# the store's connections to %s:%d did not come up\n", host, port);
        return false;
    }
    run_until(lanes_answered, 2000); /* FUNCTION LOAD, ROLE */
    t0_ms = mono_ms();
    return true;
}

static void teardown(void)
{
    auto_flush = false;
    if (st)
        store_free(st);
    st = NULL;
    nlanes = 0;
}

static void conn_init(struct conn *c, uint16_t sport, uint8_t state)
{
    memset(c, 0, sizeof(*c));
    c->key.family = 4;
    c->key.proto = PKT_IPPROTO_TCP;
    c->key.a[0] = 10, c->key.a[3] = 1;
    c->key.b[0] = 10, c->key.b[3] = 2;
    c->key.pa = sport;
    c->key.pb = 80;
    c->orig_is_a = 1;
    c->state = state;
}

enum pkt_fate { PKT_FORWARDED, PKT_HELD, PKT_DROPPED };

/* One packet of c, tagged tag, as pipeline.c's frame_run passes it through the store. */
static enum pkt_fate pkt(struct conn *c, const char *tag)
{
    now_ns += 1000;
    uint64_t need = store_sync(st, c, TMO_NS, now_ns);
    if (need == STORE_DROP) {
        out(tag, false, false);
        return PKT_DROPPED;
    }
    if (need)
        c->hold_need = need;
    if (store_pending(st, c->hold_need)) {
        nheld++;
        store_hold(st, c->hold_need, 0, (const uint8_t *)tag, (uint32_t)strlen(tag) + 1, now_ns);
        return PKT_HELD;
    }
    out(tag, true, false);
    return PKT_FORWARDED;
}

static void not_set_up(const char *name)
{
    check(false, "%s: a store connected to %s:%d", name, host, port);
    teardown();
}

/* ---- the scenarios ---- */

static void t_handshake(void)
{
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_CLOSED, reps, 1000);
    if (!setup(2, &c)) {
        not_set_up("handshake");
        return;
    }
    bool ok = true;
    char what[128] = "";
    for (int i = 0; i < nlanes; i++) {
        ok = ok && up_seen[i] && up_replied[i] <= up_sent[i];
        snprintf(what + strlen(what), sizeof(what) - strlen(what),
                 "%slane %d: sent %llu replied %llu", i ? ", " : "", i, up_sent[i], up_replied[i]);
    }
    check(ok, "handshake: right after connect no lane counts more replies than commands (%s)",
          what);

    struct conn a;
    conn_init(&a, 1000, TCP_ST_SYN_SENT);
    pkt(&a, "A:0");
    store_flush(st);
    poll_rels = 1;
    run_until(rels_reached, 2000);
    run_until(lanes_answered, 1000);
    ok = verdict("A:0") == 'F';
    what[0] = '\0';
    for (int i = 0; i < nlanes; i++) {
        ok = ok && redis_ev_replied(lanes[i]) == redis_ev_sent(lanes[i]);
        snprintf(what + strlen(what), sizeof(what) - strlen(what),
                 "%slane %d: sent %llu replied %llu", i ? ", " : "", i, redis_ev_sent(lanes[i]),
                 redis_ev_replied(lanes[i]));
    }
    teardown();
    check(ok && all_handed_out(),
          "handshake: once answered, replied == sent on every lane (%s); the write's packet is "
          "forwarded after WAIT %d",
          what, reps);
}

/* Two lanes, an 800 ms WAIT in flight on one and a 100 ms WAIT on the other; then x (sport,
 * written long ago) refreshes its TTL, which queues behind one of them. Returns once the other
 * lane's WAIT returned, with *busy the point of the lane the refresh waits on: false (a note
 * printed) when that premise does not hold. The store is set up (st) and the caller tears it
 * down; st is NULL when it could not be set up. */
static bool refresh_queued(const char *name, struct conn *x, uint16_t sport, char *key,
                           size_t keylen, uint64_t *busy)
{
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, SYNC_POLICY_OPEN, reps + 4, 800);
    if (!setup(2, &c)) {
        not_set_up(name);
        teardown(); /* st NULL: the caller stops */
        return false;
    }
    struct conn w1, w0;
    conn_init(&w1, (uint16_t)(sport + 1), TCP_ST_SYN_SENT);
    conn_init(&w0, (uint16_t)(sport + 2), TCP_ST_SYN_SENT);
    conn_init(x, sport, TCP_ST_ESTABLISHED);
    store_conn_key(&x->key, key, keylen);
    admin_cmd("DEL %s", key);
    now_ns += 1000;
    uint64_t n1 = store_sync(st, &w1, TMO_NS, now_ns); /* a WAIT of 800 ms */
    store_flush(st);
    c.wait_timeout_ms = 100;
    store_set_mode(st, &c);
    now_ns += 1000;
    uint64_t n0 = store_sync(st, &w0, TMO_NS, now_ns); /* a WAIT of 100 ms on the other lane */
    store_flush(st);
    x->stored_state = TCP_ST_ESTABLISHED; /* written long ago: its TTL refresh is due */
    x->stored_ns = 1;
    now_ns += 1000;
    store_sync(st, x, TMO_NS, now_ns);
    bool on_w1 = x->store_lane == w1.store_lane;
    poll_need = on_w1 ? n0 : n1;
    bool other_done = run_until(need_passed, 3000);
    *busy = on_w1 ? n1 : n0;
    bool still = store_pending(st, *busy);
    if (!other_done || !still)
        printf("# %s premise: the other lane's WAIT returned %s, the refresh's lane busy %s\n",
               name, other_done ? "yes" : "no", still ? "yes" : "no");
    return other_done && still;
}

static void t_writes(void)
{
    struct conn x;
    char key[128];
    uint64_t busy;
    bool premise = refresh_queued("writes", &x, 1100, key, sizeof(key), &busy);
    if (!st)
        return;
    int refresh_lane = x.store_lane;
    x.state = TCP_ST_CLOSE; /* the DEL */
    now_ns += 1000;
    store_sync(st, &x, TMO_NS, now_ns);
    int del_lane = x.store_lane;
    poll_need = busy;
    run_until(need_passed, 3000);
    run_until(lanes_answered, 1000);
    long long exists = admin_cmd("EXISTS %s", key);
    teardown();
    check(premise && del_lane == refresh_lane && exists == 0,
          "writes: a DEL follows its connection's TTL refresh queued behind a WAIT (refresh on "
          "lane %d, DEL on lane %d); the closed connection's entry is gone (EXISTS %lld)",
          refresh_lane, del_lane, exists);
}

/* Transaction access never moves an entry to a lower state: another worker stored x in FIN_WAIT;
 * this store's write of ESTABLISHED (held, then released by its WAIT), and later its TTL refresh,
 * are refused by fw_put and counted; the stored entry stays the other worker's. */
static void t_rank(void)
{
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_CLOSED, reps, 1000);
    if (!setup(1, &c)) {
        not_set_up("rank");
        return;
    }
    struct conn x;
    char key[128], theirs[STORE_VALUE_MAX];
    conn_init(&x, 1200, TCP_ST_ESTABLISHED);
    store_conn_key(&x.key, key, sizeof(key));
    struct store_entry e = {TCP_ST_FIN_WAIT, 1, 0, store_rank(PKT_IPPROTO_TCP, TCP_ST_FIN_WAIT),
                            "other",         1};
    store_entry_format(&e, PKT_IPPROTO_TCP, theirs, sizeof(theirs));
    admin_cmd("SET %s %s PX 60000", key, theirs);
    pkt(&x, "X:0");
    store_flush(st);
    poll_rels = 1;
    bool released = run_until(rels_reached, 3000) && verdict("X:0") == 'F';
    run_until(lanes_answered, 1000);
    unsigned long long refused_write = stats.writes_refused;
    admin_cmd("GET %s", key);
    bool kept_write = strcmp(admin_str, theirs) == 0;

    x.stored_ns = 1; /* written long ago: its TTL refresh is due */
    now_ns += 1000;
    store_sync(st, &x, TMO_NS, now_ns);
    bool refreshed = stats.ttl_refreshes == 1;
    store_flush(st);
    run_until(lanes_answered, 1000);
    admin_cmd("GET %s", key);
    bool kept_refresh = strcmp(admin_str, theirs) == 0;
    unsigned long long refused = stats.writes_refused;

    admin_cmd("DEL %s", key); /* gone (expired, or deleted by another worker) */
    x.stored_ns = 1;
    now_ns += 1000;
    store_sync(st, &x, TMO_NS, now_ns);
    store_flush(st);
    run_until(lanes_answered, 1000);
    admin_cmd("GET %s", key);
    bool recreated = strncmp(admin_str, "ESTABLISHED owner=so ", 21) == 0;
    admin_cmd("EVAL %s 0 %s",
              "for _, b in ipairs(redis.call('KEYS', 'fw:bucket:*')) do "
              "if redis.call('SISMEMBER', b, ARGV[1]) == 1 then return b end end return false",
              key);
    bool indexed = admin_type == RR_STRING;
    char bucket[sizeof(admin_str)];
    snprintf(bucket, sizeof(bucket), "%s", indexed ? admin_str : "none");
    admin_cmd("DEL %s %s", key, indexed ? bucket : key);
    teardown();
    check(released && refused_write == 1 && kept_write,
          "rank: a write of ESTABLISHED over another worker's FIN_WAIT is refused (refused %llu), "
          "its packet still leaves after the WAIT, the entry stays FIN_WAIT",
          refused_write);
    check(refreshed && refused == 2 && kept_refresh,
          "rank: the TTL refresh of that connection (transaction access) is refused too (refused "
          "%llu), the entry stays FIN_WAIT (%s)",
          refused, kept_refresh ? "kept" : admin_str);
    check(recreated && indexed,
          "rank: a refresh of an entry that is gone writes it again (%s), in its bucket index (%s)",
          recreated ? "ESTABLISHED" : "not written", bucket);
}

/* A connection closes while its DEL waits behind a WAIT; a new connection object on the same
 * addresses and ports writes at once: on the DEL's lane, after it, so its entry survives. */
static void t_reuse(void)
{
    struct conn x, x2;
    char key[128];
    uint64_t busy;
    bool premise = refresh_queued("reuse", &x, 1150, key, sizeof(key), &busy);
    if (!st)
        return;
    x.state = TCP_ST_CLOSE; /* the DEL, behind the refresh */
    now_ns += 1000;
    store_sync(st, &x, TMO_NS, now_ns);
    int del_lane = x.store_lane;
    conn_init(&x2, 1150, TCP_ST_SYN_SENT); /* the same key, a new connection object */
    now_ns += 1000;
    store_sync(st, &x2, TMO_NS, now_ns);
    store_flush(st);
    int new_lane = x2.store_lane;
    auto_flush = true; /* the new entry's batch: its writes leave with its WAIT, as in the worker */
    poll_need = busy;
    run_until(need_passed, 3000);
    run_until(lanes_answered, 2000);
    long long exists = admin_cmd("EXISTS %s", key);
    teardown();
    check(premise && new_lane == del_lane && exists == 1,
          "reuse: a new connection on the addresses and ports of one whose DEL waits behind a "
          "WAIT writes after it (DEL on lane %d, new entry on lane %d); the new entry stays "
          "(EXISTS %lld)",
          del_lane, new_lane, exists);
}

/* A store of n lanes in mode c, where connection X (source port sport) sent its SYN and its WAIT
 * is in flight; Y (sport + 1; may be NULL) has sent nothing yet. False (reported) when the store
 * did not come up. */
static bool x_waits(const char *name, int n, const struct store_config *c, uint16_t sport,
                    struct conn *x, struct conn *y)
{
    if (!setup(n, c)) {
        not_set_up(name);
        return false;
    }
    conn_init(x, sport, TCP_ST_SYN_SENT);
    if (y)
        conn_init(y, (uint16_t)(sport + 1), TCP_ST_SYN_SENT);
    pkt(x, "X:0");
    store_flush(st); /* X's WAIT in flight */
    return true;
}

static void t_switch(void)
{
    const long wait_ms = 200;
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_CLOSED, reps + 4, wait_ms);
    struct conn x, y, z;
    if (!x_waits("switch", 1, &c, 1200, &x, &y)) /* WAIT #1 in flight */
        return;
    conn_init(&z, 1202, TCP_ST_SYN_SENT);
    pkt(&y, "Y:0"); /* the next batch, open behind it */
    store_flush(st);
    c.strategy = SYNC_STRATEGY_ASYNC;
    store_set_mode(st, &c);
    pkt(&z, "Z:0"); /* MULTI ... EXEC */
    auto_flush = true;
    poll_rels = 3;
    run_until(rels_reached, 3000);
    teardown();
    int ix = rel_find("X:0"), iy = rel_find("Y:0"), iz = rel_find("Z:0");
    /* Y's WAIT goes after X's returned: both time out, one after the other */
    double y_min = 2.0 * (double)wait_ms * 0.95;
    double ty = iy >= 0 ? rels[iy].t_ms : 0;
    check(ix >= 0 && iy > ix && iz > iy && ty >= y_min && all_handed_out(),
          "switch: sync -> async, the lane's points pass in order: X, Y after its own WAIT "
          "(%.0f ms, >= %.0f), then Z's EXEC",
          ty, y_min);
    check(verdict("X:0") == 'D' && verdict("Y:0") == 'D' && verdict("Z:0") == 'F',
          "switch: fail-closed, the packets of the timed-out WAITs are dropped, the EXEC's "
          "forwarded (X %c, Y %c, Z %c)",
          verdict("X:0"), verdict("Y:0"), verdict("Z:0"));
}

static void t_hol(void)
{
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, SYNC_POLICY_CLOSED, reps, 1000);
    struct conn x, y;
    if (!x_waits("hol", 1, &c, 1300, &x, &y))
        return;
    pkt(&y, "Y:0"); /* the next batch */
    pkt(&x, "X:1"); /* no write: waits for X's point */
    poll_need = x.hold_need;
    bool passed = run_until(need_passed, 2000);
    pkt(&x, "X:2"); /* X's point passed: forwarded at once */
    auto_flush = true;
    poll_rels = 4;
    run_until(rels_reached, 2000);
    teardown();
    check(passed && rels_in_order() && verdict("X:0") == 'F' && verdict("X:1") == 'F' &&
              verdict("X:2") == 'F' && verdict("Y:0") == 'F' && all_handed_out(),
          "hol: X's packets leave in order (X:1 with X's point, before X:2 that came after it "
          "passed), not behind Y's later point; WAIT %d succeeded for all",
          reps);
}

/* The query buffer length (CLIENT LIST qbuf) of the client named name, -1 when not listed. */
static long long client_qbuf(const char *name)
{
    char want[64];
    snprintf(want, sizeof(want), " name=%s ", name);
    if (admin_cmd("CLIENT LIST") != -1 || admin_type != RR_STRING)
        return -1;
    const char *line = strstr(admin_str, want);
    const char *q = line ? strstr(line, " qbuf=") : NULL;
    return q ? atoll(q + 6) : -1;
}

/* The bytes of the MGET that reads back the entry of x alone, as the master's query buffer
 * holds it. */
static long long readback_len(const struct conn *x)
{
    char key[KEYS_MAX], mget[2 * KEYS_MAX];
    store_conn_key(&x->key, key, sizeof(key));
    return snprintf(mget, sizeof(mget), "*2\r\n$4\r\nMGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
}

static void t_cork(void)
{
    /* the WAIT asks for one replica more than there are: it blocks for its whole timeout */
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, SYNC_POLICY_OPEN, reps + 1, 700);
    struct conn x, y;
    if (!x_waits("cork", 1, &c, 1700, &x, &y))
        return;
    run_ms(150);    /* X's WAIT at the master, blocking the connection */
    pkt(&y, "Y:0"); /* the next batch: SET (+ SADD) */
    run_ms(150);
    long long qbuf = client_qbuf("so-lane0");
    char key[KEYS_MAX];
    store_conn_key(&y.key, key, sizeof(key));
    /* behind X's WAIT: X's read-back (its write went without a reply), nothing of Y */
    long long readback = readback_len(&x);
    long long early = admin_cmd("EXISTS %s", key);
    auto_flush = true;
    poll_rels = 2;
    bool both = run_until(rels_reached, 3000);
    long long late = admin_cmd("EXISTS %s", key);
    teardown();
    check(qbuf == readback && early == 0 && both && late == 1 && verdict("X:0") == 'F' &&
              verdict("Y:0") == 'F' && rels_in_order(),
          "cork: Y's write, queued while X's WAIT blocks the lane, is not at the master before "
          "that WAIT is answered (query buffer %lld bytes: X's read-back, %lld; EXISTS %lld), "
          "then written (EXISTS %lld); both packets forwarded after their WAITs timed out "
          "(fail-open)",
          qbuf, readback, early, late);
}

/* With two WAITs in flight per lane (FW_SYNC_PIPELINE=2) the next batch does not wait in the
 * worker: it goes at once and waits at the master, behind the WAIT in flight, unapplied; the
 * batch after it is corked until the first WAIT returns. With dirty access the writes go
 * without replies (they leave with their WAIT whatever the cork); with transaction access
 * only the cork holds Z's commands back. */
static void t_pipe(enum sync_access access, uint16_t sport)
{
    const long wait_ms = 1000;
    const char *an = access == SYNC_ACCESS_DIRTY ? "dirty" : "transaction";
    /* each WAIT asks for one replica more than there are: it blocks for its whole timeout */
    struct store_config c = mode(SYNC_STRATEGY_SYNC, access, SYNC_POLICY_OPEN, reps + 1, wait_ms);
    c.pipeline = 2;
    struct conn x, y, z;
    if (!x_waits("pipe", 1, &c, sport, &x, &y))
        return;
    conn_init(&z, (uint16_t)(sport + 2), TCP_ST_SYN_SENT);
    run_ms(100);    /* X's WAIT at the master, blocking the connection */
    pkt(&y, "Y:0"); /* the second batch: its writes and WAIT leave now */
    store_flush(st);
    run_ms(100);
    long long qbuf_y = client_qbuf("so-lane0");
    pkt(&z, "Z:0"); /* the third: two WAITs in flight, it stays in the worker */
    store_flush(st);
    run_ms(100);
    long long qbuf_z = client_qbuf("so-lane0");
    char ykey[KEYS_MAX];
    store_conn_key(&y.key, ykey, sizeof(ykey));
    /* behind X's WAIT: X's read-back (dirty: its write went without a reply), then Y's batch */
    long long ahead = access == SYNC_ACCESS_DIRTY ? readback_len(&x) : 0;
    long long y_early = admin_cmd("EXISTS %s", ykey); /* at the master, not applied */
    auto_flush = true;
    poll_rels = 3;
    bool all = run_until(rels_reached, 4 * (int)wait_ms + 2000);
    teardown();
    int iy = rel_find("Y:0"), iz = rel_find("Z:0");
    double ty = iy >= 0 ? rels[iy].t_ms : 0, tz = iz >= 0 ? rels[iz].t_ms : 0;
    /* Y's WAIT runs when X's returns, Z's when Y's does: one timeout after the other */
    double y_min = 2.0 * (double)wait_ms * 0.95, z_min = 3.0 * (double)wait_ms * 0.95;
    check(qbuf_y > ahead && qbuf_z == qbuf_y && y_early == 0,
          "pipe (%s): with 2 WAITs in flight, Y's batch waits at the master behind X's WAIT "
          "(query buffer %lld bytes, more than the %lld of X's; Y's entry not applied yet: "
          "EXISTS %lld) and Z's stays in the worker (query buffer still %lld)",
          an, qbuf_y, ahead, y_early, qbuf_z);
    check(all && rels_in_order() && ty >= y_min && tz >= z_min && verdict("X:0") == 'F' &&
              verdict("Y:0") == 'F' && verdict("Z:0") == 'F' && all_handed_out(),
          "pipe (%s): the points pass in order, each after its own WAIT (Y at %.0f ms, >= %.0f; "
          "Z at %.0f, >= %.0f); forwarded after the timeouts (fail-open)",
          an, ty, y_min, tz, z_min);
}

static void t_wrap(void)
{
    const int points = 4100;
    /* transaction access: its writes are answered at once, so X's key pin slot is free again and
     * none of the 4100 keys is held on X's lane by sharing it (a dirty write, sent without its
     * reply, is answered with its WAIT: its slot keeps its lane until then) */
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_OPEN, reps + 4, 10000);
    struct conn x;
    if (!x_waits("wrap", 2, &c, 1400, &x, NULL)) /* a WAIT of 10 s on X's lane */
        return;
    c.replicas = 0;
    c.wait_timeout_ms = 1000;
    store_set_mode(st, &c);
    int n = 0, other = 0;
    double t = mono_ms();
    for (; n < points && mono_ms() - t < 20000; n++) {
        struct conn y;
        conn_init(&y, (uint16_t)(20000 + n), TCP_ST_SYN_SENT);
        now_ns += 1000;
        poll_need = store_sync(st, &y, TMO_NS, now_ns);
        other += y.store_lane != x.store_lane;
        store_flush(st);
        if (!run_until(need_passed, 2000))
            break;
    }
    bool pending = store_pending(st, x.hold_need);
    pkt(&x, "X:1");
    bool held = rel_find("X:1") < 0;
    teardown(); /* X's WAIT gets no reply: both packets go (fail-open), in order */
    check(n == points && other == points && pending && held && rels_in_order() && all_handed_out(),
          "wrap: %d of %d release points passed on the other lane while X's WAIT is in flight; "
          "X's point still pending (%s), X:1 held behind X:0 (%s)",
          other, points, pending ? "yes" : "no", held ? "yes" : "no");
}

static void t_pin(void)
{
    enum { N = 16 };
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_OPEN, reps + 4, 300);
    if (!setup(2, &c)) {
        not_set_up("pin");
        return;
    }
    struct conn cs[N];
    char tag[24];
    for (int i = 0; i < N; i++) {
        conn_init(&cs[i], (uint16_t)(1500 + i), TCP_ST_SYN_SENT);
        snprintf(tag, sizeof(tag), "p%d:0", i);
        pkt(&cs[i], tag); /* one batch: one lane */
    }
    int lane0 = cs[0].store_lane;
    store_flush(st);
    c.strategy = SYNC_STRATEGY_ASYNC;
    store_set_mode(st, &c);
    int pinned = 0;
    for (int i = 0; i < N; i++) {
        cs[i].state = TCP_ST_SYN_RECV;
        snprintf(tag, sizeof(tag), "p%d:1", i);
        pkt(&cs[i], tag);
        pinned += cs[i].store_lane == lane0;
    }
    auto_flush = true;
    poll_rels = 2 * N;
    run_until(rels_reached, 3000);
    teardown();
    check(pinned == N && nrels == 2 * N && rels_in_order() && all_handed_out(),
          "pin: after sync -> async, connections whose packets wait on lane %d write there "
          "(%d of %d), and their packets leave in order",
          lane0, pinned, N);
}

static const char *const loss_names[] = {"loss-kill", "loss-drop", "loss-free"};

/* A lane with a WAIT in flight (X), the batch behind it open (Y, and X's next packet) and an
 * EXEC behind them (Z) loses its connection. */
static void t_loss(int how)
{
    static const char *const whats[] = {"CLIENT KILL", "redis_ev_drop", "store_free"};
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_CLOSED, reps + 4, 2000);
    struct conn x, y, z, w;
    if (!x_waits(loss_names[how], 1, &c, (uint16_t)(1600 + 10 * how), &x, &y))
        return;
    conn_init(&z, (uint16_t)(1602 + 10 * how), TCP_ST_SYN_SENT);
    conn_init(&w, (uint16_t)(1603 + 10 * how), TCP_ST_SYN_SENT);
    pkt(&y, "Y:0");
    pkt(&x, "X:1");
    store_flush(st);
    c.strategy = SYNC_STRATEGY_ASYNC;
    store_set_mode(st, &c);
    pkt(&z, "Z:0");
    auto_flush = true;
    run_ms(50);
    bool after = true;
    if (how == 0) {
        if (admin_cmd("CLIENT KILL TYPE normal SKIPME yes") < 1)
            printf("# CLIENT KILL killed nothing\n");
    } else if (how == 1) {
        redis_ev_drop(lanes[0], "test");
    } else {
        teardown();
    }
    if (how < 2) {
        poll_rels = 4;
        run_until(rels_reached, 3000);
        /* back up: a new write passes */
        run_until(lanes_up, 3000);
        run_until(lanes_answered, 2000);
        c = mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_CLOSED, reps, 1000);
        store_set_mode(st, &c);
        pkt(&w, "W:0");
        poll_rels = 5;
        run_until(rels_reached, 2000);
        after = verdict("W:0") == 'F';
        teardown();
    }
    check(verdict("X:0") == 'D' && verdict("X:1") == 'D' && verdict("Y:0") == 'D' &&
              verdict("Z:0") == 'D' && after && all_handed_out(),
          "%s: after %s, fail-closed drops every packet of the lost points, forwards none "
          "(X:0 %c, X:1 %c, Y:0 %c, Z:0 %c)%s",
          loss_names[how], whats[how], verdict("X:0"), verdict("X:1"), verdict("Y:0"),
          verdict("Z:0"), how < 2 ? "; after the reconnect a new write's packet is forwarded" : "");
}

/* ---- the randomized stress ---- */

#define SCONNS  64
#define SLANES  4
#define SEPOCHS 64 /* a slot's connections whose order is tracked at once */

static uint64_t rng;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)((rng >> 11) % n);
}

static struct conn sconn[SCONNS];
static unsigned spkt[SCONNS], sepoch[SCONNS];
static struct {
    unsigned epoch;
    long last;
} slast[SCONNS][SEPOCHS];
static unsigned long s_fwd, s_now, s_drop, s_bad;

static void stress_out(const char *tag, bool fwd)
{
    unsigned i, ep, n;
    if (sscanf(tag, "c%u.%u:%u", &i, &ep, &n) != 3 || i >= SCONNS) {
        printf("# stress: a frame that was not sent: %s\n", tag);
        s_bad++;
        return;
    }
    if (!fwd) {
        s_drop++;
        return;
    }
    s_fwd++;
    unsigned e = ep % SEPOCHS;
    if (slast[i][e].epoch != ep) {
        slast[i][e].epoch = ep;
        slast[i][e].last = -1;
    }
    if ((long)n <= slast[i][e].last) {
        if (s_bad < 5)
            printf("# stress: connection %u.%u: packet %u forwarded after %ld\n", i, ep, n,
                   slast[i][e].last);
        s_bad++;
    }
    slast[i][e].last = n;
}

static void sconn_reset(int i)
{
    conn_init(&sconn[i], (uint16_t)(5000 + i), TCP_ST_SYN_SENT);
}

/* One packet of stress connection i, which may change its state first. */
static void spacket(int i)
{
    static const uint8_t next[TCP_ST_MAX] = {
        [TCP_ST_SYN_SENT] = TCP_ST_SYN_RECV,
        [TCP_ST_SYN_RECV] = TCP_ST_ESTABLISHED,
        [TCP_ST_ESTABLISHED] = TCP_ST_FIN_WAIT,
        [TCP_ST_FIN_WAIT] = TCP_ST_CLOSE,
    };
    struct conn *c = &sconn[i];
    if (rnd(4) == 0) {
        if (next[c->state]) {
            c->state = next[c->state];
        } else { /* closed: the same 4-tuple again, a new connection */
            sconn_reset(i);
            sepoch[i]++;
        }
    }
    char tag[32];
    snprintf(tag, sizeof(tag), "c%d.%u:%u", i, sepoch[i], ++spkt[i]);
    if (pkt(c, tag) == PKT_FORWARDED)
        s_now++;
}

static struct store_config stress_mode(void)
{
    struct store_config c =
        mode(SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, SYNC_POLICY_OPEN, 0, 5);
    if (rnd(3) == 0)
        c.strategy = SYNC_STRATEGY_ASYNC;
    if (rnd(2))
        c.access = SYNC_ACCESS_DIRTY;
    if (rnd(2))
        c.policy = SYNC_POLICY_CLOSED;
    unsigned r = rnd(4);
    c.replicas = r < 2 ? 0 : r == 2 ? reps : reps + 4; /* WAIT at once, with the replicas, never */
    c.wait_timeout_ms = 5 + rnd(30);
    return c;
}

static void t_stress(unsigned seed, int rounds)
{
    rng = 0x9e3779b97f4a7c15ull * (seed + 1);
    memset(slast, 0, sizeof(slast));
    memset(spkt, 0, sizeof(spkt));
    memset(sepoch, 0, sizeof(sepoch));
    s_fwd = s_now = s_drop = s_bad = 0;
    unsigned long modes = 0, drops = 0, kills = 0;
    struct store_config c = stress_mode();
    const int depth = 1 + (int)(seed % 2); /* WAITs in flight per lane: odd seeds 2 */
    c.pipeline = depth;
    if (!setup(SLANES, &c)) {
        not_set_up("stress");
        return;
    }
    stressing = true;
    for (int i = 0; i < SCONNS; i++)
        sconn_reset(i);
    for (int r = 0; r < rounds; r++) {
        unsigned n = rnd(40);
        for (unsigned k = 0; k < n; k++)
            spacket((int)rnd(SCONNS));
        store_flush(st);
        unsigned ev = rnd(200);
        if (ev < 6) {
            c = stress_mode();
            store_set_mode(st, &c);
            modes++;
        } else if (ev == 6) {
            redis_ev_drop(lanes[rnd(SLANES)], "stress");
            drops++;
        } else if (ev == 7) {
            if (redis_ev_cmd(admin, NULL, NULL, "CLIENT KILL TYPE normal SKIPME yes") == 0)
                kills++;
        } else if (ev == 8) {
            store_tick(st, now_ns);
        }
        if (rnd(3))
            ev_run(loop, EVRUN_NOWAIT);
        else
            run_ms(rnd(5));
    }
    auto_flush = true;
    run_ms(200);
    teardown();
    check(s_bad == 0 && all_handed_out(),
          "stress seed %u: %d rounds, %d WAITs in flight per lane, each connection's forwarded "
          "packets in order, each held packet handed out once (forwarded %lu, %lu of them at once; "
          "held %lu, handed out "
          "%lu; dropped %lu; %lu mode switches, %lu lane drops, %lu kills; %llu writes, %llu "
          "WAIT timeouts)",
          seed, rounds, depth, s_fwd, s_now, nheld, nreleased, s_drop, modes, drops, kills,
          (unsigned long long)stats.state_writes, (unsigned long long)stats.wait_timeouts);
    if (s_bad)
        printf("# stress seed %u: %lu packets out of order\n", seed, s_bad);
    stressing = false;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: store_order -p PORT [-H HOST] [-R REPLICAS] [-n ROUNDS] [-s SEED]... "
                    "[CHECK...]\n"
                    "checks: handshake writes reuse switch hol wrap pin loss-kill loss-drop "
                    "loss-free cork pipe stress\n");
    exit(2);
}

static bool wanted(int argc, char **argv, const char *name)
{
    if (optind >= argc)
        return true;
    for (int i = optind; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    unsigned seeds[16];
    int nseeds = 0, rounds = 1500, opt;
    while ((opt = getopt(argc, argv, "H:p:R:n:s:")) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'R':
            reps = atoi(optarg);
            break;
        case 'n':
            rounds = atoi(optarg);
            break;
        case 's':
            if (nseeds == (int)(sizeof(seeds) / sizeof(seeds[0])))
                usage();
            seeds[nseeds++] = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (port <= 0 || port > 65535 || reps < 0 || rounds < 0)
        usage();
    if (nseeds == 0)
        seeds[nseeds++] = 1;
    static const char *known[] = {"handshake", "writes", "reuse",     "switch",    "hol",
                                  "wrap",      "pin",    "loss-kill", "loss-drop", "loss-free",
                                  "cork",      "pipe",   "stress",    "rank"};
    for (int i = optind; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(argv[i], known[k]) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0]))
            usage();
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    loop = ev_default_loop(0);
    ev_prepare prep;
    ev_prepare_init(&prep, on_prepare);
    ev_prepare_start(loop, &prep);
    char err[256];
    struct redis_ev_config rc = {host, port, NULL, NULL, NULL, NULL, "so-admin", 1.0, 0.01, 0.05};
    admin = redis_ev_new(loop, &rc, on_admin_state, NULL, err, sizeof(err));
    if (!admin) {
        printf("not ok - store_order: %s\n", err);
        return 1;
    }
    if (!run_until(admin_up, 3000) || (admin_cmd("FLUSHALL"), admin_type != RR_STATUS)) {
        printf("not ok - store_order: Redis at %s:%d answers\n", host, port);
        redis_ev_free(admin);
        return 1;
    }

    if (wanted(argc, argv, "handshake"))
        t_handshake();
    if (wanted(argc, argv, "writes"))
        t_writes();
    if (wanted(argc, argv, "rank"))
        t_rank();
    if (wanted(argc, argv, "reuse"))
        t_reuse();
    if (wanted(argc, argv, "switch"))
        t_switch();
    if (wanted(argc, argv, "hol"))
        t_hol();
    if (wanted(argc, argv, "pipe")) {
        t_pipe(SYNC_ACCESS_DIRTY, 1750);
        t_pipe(SYNC_ACCESS_TRANSACTION, 1760);
    }
    if (wanted(argc, argv, "wrap"))
        t_wrap();
    if (wanted(argc, argv, "pin"))
        t_pin();
    for (int how = 0; how < 3; how++)
        if (wanted(argc, argv, loss_names[how]))
            t_loss(how);
    if (wanted(argc, argv, "cork"))
        t_cork();
    if (wanted(argc, argv, "stress"))
        for (int i = 0; i < nseeds; i++)
            t_stress(seeds[i], rounds);

    redis_ev_free(admin);
    ev_prepare_stop(loop, &prep);
    ev_loop_destroy(loop);
    printf("# store_order: %d passed, %d failed\n", npassed, nfailed);
    return nfailed ? 1 : 0;
}
