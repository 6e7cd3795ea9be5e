/* status.c: emgr status, conns, drain and reload. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "status.h"

/* One short session with Redis: connect, run the job's first step, stop when it is done. */
struct session {
    struct ev_loop *loop;
    struct redis_ev *r;
    ev_timer deadline;
    int rc; /* exit status */
    bool started;
    FILE *out;
    void (*step)(struct session *s); /* first step, once connected */
    /* job arguments */
    bool json;
    const char *node, *state;
    bool wait;
    unsigned long long cursor;
    size_t shown;
};

static void finish(struct session *s, int rc)
{
    s->rc = rc;
    ev_break(s->loop, EVBREAK_ALL);
}

static void on_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r;
    struct session *s = arg;
    if (up && !s->started) {
        s->started = true;
        s->step(s);
    } else if (!up && s->started) {
        fprintf(stderr, "emgr: redis: %s\n", why);
        finish(s, 1);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct session *s = t->data;
    fprintf(stderr, "emgr: %s\n",
            s->started ? "timed out" : "cannot reach Redis (check FW_REDIS_* settings)");
    finish(s, 1);
}

/* Runs a session of at most timeout_s seconds. */
static int session_run(struct session *s, const struct redis_ev_config *rc, double timeout_s)
{
    char err[256];
    s->loop = ev_loop_new(EVFLAG_AUTO);
    s->rc = 1;
    if (!s->loop)
        return 1;
    if (!(s->r = redis_ev_new(s->loop, rc, on_state, s, err, sizeof(err)))) {
        fprintf(stderr, "emgr: %s\n", err);
        ev_loop_destroy(s->loop);
        return 2;
    }
    ev_timer_init(&s->deadline, on_deadline, timeout_s, 0.);
    s->deadline.data = s;
    ev_timer_start(s->loop, &s->deadline);
    ev_run(s->loop, 0);
    ev_timer_stop(s->loop, &s->deadline);
    redis_ev_free(s->r);
    ev_loop_destroy(s->loop);
    return s->rc;
}

/* Field name of a HGETALL-shaped array. */
static const char *hget(const struct redis_reply *h, const char *name)
{
    for (size_t i = 0; i + 1 < redis_reply_count(h); i += 2)
        if (strcmp(redis_reply_str(redis_reply_elem(h, i), NULL), name) == 0)
            return redis_reply_str(redis_reply_elem(h, i + 1), NULL);
    return NULL;
}

/* ---- status ---- */

static const char status_script[] =
    "local ids = redis.call('SMEMBERS', KEYS[1]) table.sort(ids) "
    "local rows = {} "
    "for i, id in ipairs(ids) do rows[i] = {id, redis.call('GET', ARGV[1] .. id), "
    "redis.call('PTTL', ARGV[1] .. id), redis.call('HGETALL', ARGV[2] .. id)} end "
    "return {redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]), "
    "redis.call('GET', KEYS[4]), rows}";

/* Buckets of id in a map text ("node1=0-511;node2=512-1023"). */
static unsigned long buckets_of(const char *map, const char *id)
{
    size_t idl = strlen(id);
    unsigned long n = 0;
    const char *s = map;
    while (s && *s) {
        const char *eq = strchr(s, '=');
        if (!eq)
            break;
        bool mine = (size_t)(eq - s) == idl && strncmp(s, id, idl) == 0;
        s = eq + 1;
        while (*s && *s != ';') {
            char *end;
            unsigned long lo = strtoul(s, &end, 10), hi = lo;
            if (*end == '-')
                hi = strtoul(end + 1, &end, 10);
            if (mine && hi >= lo)
                n += hi - lo + 1;
            s = *end == ',' ? end + 1 : end;
            if (end == s && *s != ';' && *s)
                s++;
        }
        if (*s == ';')
            s++;
    }
    return n;
}

static const char *field(const char *hb, const char *name, char *buf, size_t len)
{
    const char *p = hb ? strstr(hb, name) : NULL;
    if (!p) {
        snprintf(buf, len, "-");
        return buf;
    }
    p += strlen(name);
    size_t n = strcspn(p, " ");
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
    return buf;
}

static void on_status(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct session *s = arg;
    if (redis_reply_type(rr) != RR_ARRAY || redis_reply_count(rr) != 4) {
        fprintf(stderr, "emgr: status: %s\n",
                redis_reply_type(rr) == RR_ERROR ? redis_reply_str(rr, NULL) : "bad reply");
        finish(s, 1);
        return;
    }
    const struct redis_reply *map = redis_reply_elem(rr, 0), *cfg = redis_reply_elem(rr, 1);
    const char *leader = redis_reply_str(redis_reply_elem(rr, 2), NULL);
    const struct redis_reply *rows = redis_reply_elem(rr, 3);
    const char *epoch = hget(map, "epoch"), *text = hget(map, "buckets");
    const char *hbms = hget(cfg, "heartbeat_ms"), *misses = hget(cfg, "misses");
    long ttl_full = hbms && misses ? atol(hbms) * atol(misses) : 0;
    FILE *o = s->out;
    if (s->json) {
        fprintf(o,
                "{\"epoch\":%s,\"leader\":\"%s\",\"level\":\"%s\",\"strategy\":\"%s\","
                "\"access\":\"%s\",\"policy\":\"%s\",\"reason\":\"%s\",\"workers\":[",
                epoch ? epoch : "0", leader, hget(cfg, "level") ? hget(cfg, "level") : "",
                hget(cfg, "strategy") ? hget(cfg, "strategy") : "",
                hget(cfg, "access") ? hget(cfg, "access") : "",
                hget(cfg, "policy") ? hget(cfg, "policy") : "",
                hget(map, "reason") ? hget(map, "reason") : "");
    } else {
        fprintf(o, "map epoch %s, leader %s; sync level %s, strategy %s, access %s, policy %s\n",
                epoch ? epoch : "-", leader[0] ? leader : "none",
                hget(cfg, "level") ? hget(cfg, "level") : "-",
                hget(cfg, "strategy") ? hget(cfg, "strategy") : "-",
                hget(cfg, "access") ? hget(cfg, "access") : "-",
                hget(cfg, "policy") ? hget(cfg, "policy") : "-");
        if (hget(map, "reason"))
            fprintf(o, "last change: %s\n", hget(map, "reason"));
        fprintf(o, "%-12s %-9s %7s %6s %8s %8s %9s %9s %9s\n", "WORKER", "ROLE", "BUCKETS", "ACKED",
                "HB_AGE", "CONNS", "PKTS/S", "SETUP_P50", "SETUP_P99");
    }
    for (size_t i = 0; i < redis_reply_count(rows); i++) {
        const struct redis_reply *row = redis_reply_elem(rows, i);
        const char *id = redis_reply_str(redis_reply_elem(row, 0), NULL);
        bool alive = redis_reply_type(redis_reply_elem(row, 1)) == RR_STRING;
        const char *hb = alive ? redis_reply_str(redis_reply_elem(row, 1), NULL) : NULL;
        long long pttl = redis_reply_int(redis_reply_elem(row, 2));
        const struct redis_reply *st = redis_reply_elem(row, 3);
        unsigned long nb = text ? buckets_of(text, id) : 0;
        bool draining = hb && strstr(hb, "state=draining");
        const char *role = !alive ? "failed" : draining ? "draining" : nb ? "active" : "backup";
        char acked[32], age[48], age_ms[32];
        field(hb, "epoch=", acked, sizeof(acked));
        if (alive && ttl_full > 0 && pttl >= 0)
            snprintf(age_ms, sizeof(age_ms), "%lld", (long long)ttl_full - pttl);
        else
            snprintf(age_ms, sizeof(age_ms), "null");
        snprintf(age, sizeof(age), "%s%s", strcmp(age_ms, "null") ? age_ms : "-",
                 strcmp(age_ms, "null") ? "ms" : "");
        const char *conns = hget(st, "conns_active"), *pps = hget(st, "pps_in");
        const char *p50 = hget(st, "setup_p50_us"), *p99 = hget(st, "setup_p99_us");
        if (s->json)
            fprintf(o,
                    "%s{\"worker\":\"%s\",\"role\":\"%s\",\"buckets\":%lu,\"acked_epoch\":%s,"
                    "\"heartbeat_age_ms\":%s,\"conns\":%s,\"pps\":%s,\"setup_p50_us\":%s,"
                    "\"setup_p99_us\":%s}",
                    i ? "," : "", id, role, nb, alive ? acked : "null", age_ms,
                    conns ? conns : "null", pps ? pps : "null", p50 ? p50 : "null",
                    p99 ? p99 : "null");
        else
            fprintf(o, "%-12s %-9s %7lu %6s %8s %8s %9s %9s %9s\n", id, role, nb, acked, age,
                    conns ? conns : "-", pps ? pps : "-", p50 ? p50 : "-", p99 ? p99 : "-");
    }
    if (s->json)
        fprintf(o, "]}\n");
    finish(s, 0);
}

static void step_status(struct session *s)
{
    if (redis_ev_cmd(s->r, on_status, s, "EVAL %s 4 %s %s %s %s %s %s", status_script, KEYS_NODES,
                     KEYS_MAP, KEYS_CONFIG, KEYS_LEADER, KEYS_NODE_PREFIX, KEYS_STATS_PREFIX) != 0)
        finish(s, 1);
}

int status_show(const struct redis_ev_config *rc, bool json, FILE *out)
{
    struct session s = {.out = out, .step = step_status, .json = json};
    return session_run(&s, rc, 5.0);
}

/* ---- conns ---- */

static void scan_next(struct session *s);

static void on_conn_values(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct session *s = arg;
    /* [keys, values] from the script */
    const struct redis_reply *keys = redis_reply_elem(rr, 0), *vals = redis_reply_elem(rr, 1);
    for (size_t i = 0; i < redis_reply_count(keys); i++) {
        const char *k = redis_reply_str(redis_reply_elem(keys, i), NULL);
        const struct redis_reply *v = redis_reply_elem(vals, i);
        if (redis_reply_type(v) != RR_STRING)
            continue;
        const char *val = redis_reply_str(v, NULL);
        char owner[80];
        if (s->node) {
            field(val, "owner=", owner, sizeof(owner));
            if (strcmp(owner, s->node) != 0)
                continue;
        }
        if (s->state && strncmp(val, s->state, strlen(s->state)) != 0)
            continue;
        fprintf(s->out, "%s  %s\n", k + strlen(KEYS_CONN_PREFIX), val);
        s->shown++;
    }
    if (s->cursor == 0) {
        fprintf(s->out, "%zu connection(s)\n", s->shown);
        finish(s, 0);
    } else {
        scan_next(s);
    }
}

static const char conns_script[] =
    "local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', 1000) "
    "local vals = {} "
    "for i, k in ipairs(r[2]) do vals[i] = redis.call('GET', k) end "
    "return {r[2], vals, r[1]}";

static void on_conn_scan(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    struct session *s = arg;
    if (redis_reply_type(rr) != RR_ARRAY || redis_reply_count(rr) != 3) {
        fprintf(stderr, "emgr: conns: %s\n",
                redis_reply_type(rr) == RR_ERROR ? redis_reply_str(rr, NULL) : "bad reply");
        finish(s, 1);
        return;
    }
    s->cursor = strtoull(redis_reply_str(redis_reply_elem(rr, 2), NULL), NULL, 10);
    on_conn_values(r, rr, arg);
}

static void scan_next(struct session *s)
{
    char cursor[32];
    snprintf(cursor, sizeof(cursor), "%llu", s->cursor);
    if (redis_ev_cmd(s->r, on_conn_scan, s, "EVAL %s 0 %s %s", conns_script, cursor,
                     KEYS_CONN_PATTERN) != 0)
        finish(s, 1);
}

static void step_conns(struct session *s)
{
    s->cursor = 0;
    scan_next(s);
}

int status_conns(const struct redis_ev_config *rc, const char *node, const char *state, FILE *out)
{
    struct session s = {.out = out, .step = step_conns, .node = node, .state = state};
    return session_run(&s, rc, 30.0);
}

/* ---- drain ---- */

static void drain_poll(struct session *s);

static void on_drain_map(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct session *s = arg;
    const char *text = hget(rr, "buckets");
    unsigned long n = text ? buckets_of(text, s->node) : 0;
    if (n == 0) {
        fprintf(s->out, "%s owns no bucket: it can be stopped\n", s->node);
        finish(s, 0);
        return;
    }
    drain_poll(s);
}

static void on_drain_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct session *s = t->data;
    redis_ev_cmd(s->r, on_drain_map, s, "HGETALL %s", KEYS_MAP);
}

static ev_timer drain_timer;

static void drain_poll(struct session *s)
{
    ev_timer_init(&drain_timer, on_drain_timer, 0.05, 0.);
    drain_timer.data = s;
    ev_timer_start(s->loop, &drain_timer);
}

static void on_drain_sent(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct session *s = arg;
    if (redis_reply_type(rr) != RR_INTEGER) {
        fprintf(stderr, "emgr: drain: %s\n", redis_reply_str(rr, NULL));
        finish(s, 1);
        return;
    }
    fprintf(s->out, "drain of %s requested (%lld manager(s) listening)\n", s->node,
            redis_reply_int(rr));
    if (s->wait)
        drain_poll(s);
    else
        finish(s, 0);
}

static void step_drain(struct session *s)
{
    redis_ev_cmd(s->r, NULL, NULL, "SADD %s %s", KEYS_DRAIN, s->node);
    if (redis_ev_cmd(s->r, on_drain_sent, s, "PUBLISH %s drain:%s", KEYS_EMGR_CHANNEL, s->node) !=
        0)
        finish(s, 1);
}

int status_drain(const struct redis_ev_config *rc, const char *node, bool wait, double timeout_s,
                 FILE *out)
{
    struct session s = {.out = out, .step = step_drain, .node = node, .wait = wait};
    return session_run(&s, rc, timeout_s);
}

/* ---- reload ---- */

static void on_reload_sent(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct session *s = arg;
    long long n = redis_reply_int(rr);
    fprintf(s->out, "reload requested (%lld manager(s) listening)\n", n);
    finish(s, n > 0 ? 0 : 1);
}

static void step_reload(struct session *s)
{
    if (redis_ev_cmd(s->r, on_reload_sent, s, "PUBLISH %s reload", KEYS_EMGR_CHANNEL) != 0)
        finish(s, 1);
}

int status_reload(const struct redis_ev_config *rc, FILE *out)
{
    struct session s = {.out = out, .step = step_reload};
    return session_run(&s, rc, 5.0);
}
