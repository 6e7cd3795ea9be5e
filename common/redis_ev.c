/* redis_ev.c: hiredis async on libev with timeouts, reconnects, AUTH and Sentinel discovery. */
#include <errno.h>
#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_ev.h"

#define MAX_SENTINELS 8
#define MAX_SUBS      4
#define WHY_LEN       1024 /* room for two host names and an error */
#define REPLY_SKIP    "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"

struct endpoint {
    char host[256];
    int port;
};

/* A queued command's callback and argument. */
struct pending {
    redis_ev_reply_fn fn;
    void *arg;
    bool counted; /* queued by redis_ev_cmd(v): its callback counts in replied */
    bool carrier; /* carries a quiet run: an error reply may be a quiet command's */
};

/* A subscription: kept for the life of the connection object, renewed at every reconnect. */
struct sub {
    char channel[128];
    struct pending cb;
    struct redis_ev *r;
};

struct redis_ev {
    struct ev_loop *loop;
    struct endpoint master; /* the master in use or being tried */
    struct endpoint sentinel[MAX_SENTINELS];
    int nsentinels;
    int sentinel_idx; /* the sentinel in use or being tried */
    char master_name[128];
    char user[128], password[256], client_name[128];
    double connect_timeout, backoff_min, backoff_max, backoff;
    redisAsyncContext *ac;  /* master connection, NULL when none */
    redisAsyncContext *sac; /* sentinel connection, NULL when none */
    bool up;                /* ac is authenticated and is a master */
    bool ever_up;
    bool master_known;  /* master holds an address (from config or a sentinel) */
    ev_timer handshake; /* connect + AUTH + ROLE must finish within connect_timeout */
    ev_timer sentinel_timer;
    ev_timer retry; /* reconnect after the backoff */
    unsigned long reconnects;
    unsigned long long sent, replied;  /* commands queued by redis_ev_cmd(v), their replies */
    void (*add_write)(void *privdata); /* the adapter's: starts writing the output buffer */
    bool corked;                 /* commands queued now stay in the output buffer (redis_ev_cork) */
    bool write_held;             /* one was held back by the cork */
    bool quiet_wanted, quiet_ok; /* redis_ev_vquiet asked for; CLIENT REPLY permitted */
    char *qbuf;                  /* the quiet run not queued yet: CLIENT REPLY SKIP, command, ... */
    size_t qlen, qcap;
    struct sub subs[MAX_SUBS];
    int nsubs;
    char addr[280];
    redis_ev_state_fn state_fn;
    void *arg;
};

static void master_connect(struct redis_ev *r);
static void sentinel_connect(struct redis_ev *r);
static void schedule_retry(struct redis_ev *r, const char *why);

/* ---- replies ---- */

enum redis_reply_type redis_reply_type(const struct redis_reply *rr)
{
    const redisReply *x = (const redisReply *)(const void *)rr;
    if (!x)
        return RR_NONE;
    switch (x->type) {
    case REDIS_REPLY_STRING:
        return RR_STRING;
    case REDIS_REPLY_ARRAY:
        return RR_ARRAY;
    case REDIS_REPLY_INTEGER:
        return RR_INTEGER;
    case REDIS_REPLY_NIL:
        return RR_NIL;
    case REDIS_REPLY_STATUS:
        return RR_STATUS;
    case REDIS_REPLY_ERROR:
        return RR_ERROR;
    default:
        return RR_NONE;
    }
}

const char *redis_reply_str(const struct redis_reply *rr, size_t *len)
{
    const redisReply *x = (const redisReply *)(const void *)rr;
    if (!x ||
        (x->type != REDIS_REPLY_STRING && x->type != REDIS_REPLY_STATUS &&
         x->type != REDIS_REPLY_ERROR) ||
        !x->str) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = x->len;
    return x->str;
}

long long redis_reply_int(const struct redis_reply *rr)
{
    const redisReply *x = (const redisReply *)(const void *)rr;
    return x && x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
}

size_t redis_reply_count(const struct redis_reply *rr)
{
    const redisReply *x = (const redisReply *)(const void *)rr;
    return x && x->type == REDIS_REPLY_ARRAY ? x->elements : 0;
}

const struct redis_reply *redis_reply_elem(const struct redis_reply *rr, size_t i)
{
    const redisReply *x = (const redisReply *)(const void *)rr;
    if (!x || x->type != REDIS_REPLY_ARRAY || i >= x->elements)
        return NULL;
    return (const struct redis_reply *)(const void *)x->element[i];
}

/* ---- helpers ---- */

static void set_addr(struct redis_ev *r)
{
    snprintf(r->addr, sizeof(r->addr), "%s:%d", r->master.host, r->master.port);
}

/* Parses "host:port" ("[v6]:port" too) into e. Returns 0 or -1. */
static int parse_endpoint(const char *s, size_t n, struct endpoint *e)
{
    char buf[300];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *colon = strrchr(buf, ':');
    if (!colon || colon == buf)
        return -1;
    *colon = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return -1;
    char *host = buf;
    size_t hl = strlen(host);
    if (host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        host++;
    }
    size_t n2 = strlen(host);
    if (n2 >= sizeof(e->host))
        return -1;
    memcpy(e->host, host, n2 + 1);
    e->port = (int)port;
    return 0;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* A callback record for a queued command; NULL when out of memory. */
static struct pending *pending_new(redis_ev_reply_fn fn, void *arg, bool counted, bool carrier)
{
    struct pending *p = malloc(sizeof(*p));
    if (p)
        *p = (struct pending){fn, arg, counted, carrier};
    return p;
}

/* An error a data command answers that CLIENT REPLY SKIP cannot (it is not refused for memory,
 * and has no key): when the command carrying a quiet run answers it, the replies are in step. */
static bool in_step_error(const char *msg)
{
    return msg && (strncmp(msg, "OOM ", 4) == 0 || strncmp(msg, "WRONGTYPE ", 10) == 0);
}

/* Runs a queued command's callback. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_ev *r = ac->data;
    struct pending *p = privdata;
    if (p->counted)
        r->replied++; /* not the handshake's: sent does not count those */
    if (p->fn)
        p->fn(r, (const struct redis_reply *)reply, p->arg);
    if (p->carrier && reply && ((const redisReply *)reply)->type == REDIS_REPLY_ERROR &&
        r->ac == ac && !in_step_error(((const redisReply *)reply)->str)) {
        /* CLIENT REPLY SKIP refused would answer ahead of the commands it should silence */
        char why[WHY_LEN];
        snprintf(why, sizeof(why),
                 "%s answered a command sent behind commands without replies with an error "
                 "(%s): replies may be out of step",
                 r->addr, ((const redisReply *)reply)->str ? ((const redisReply *)reply)->str : "");
        redis_ev_drop(r, why);
    }
    free(p);
}

/* A subscription's message (or RR_NONE when the connection goes); the record is not freed. */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sub *sb = privdata;
    if (ac != sb->r->ac && reply)
        return;
    if (sb->cb.fn)
        sb->cb.fn(sb->r, (const struct redis_reply *)reply, sb->cb.arg);
}

/* SUBSCRIBE, or PSUBSCRIBE for a pattern. */
static void subscribe_one(struct redis_ev *r, struct sub *sb)
{
    redisAsyncCommand(r->ac, on_sub_reply, sb,
                      strchr(sb->channel, '*') ? "PSUBSCRIBE %s" : "SUBSCRIBE %s", sb->channel);
}

static void subscribe_all(struct redis_ev *r)
{
    for (int i = 0; i < r->nsubs; i++)
        subscribe_one(r, &r->subs[i]);
}

/* Marks the master connection lost: tells the owner once and forgets ac (its callbacks that are
 * still to come see a context that is no longer r->ac and are ignored). */
static void master_lost(struct redis_ev *r, const char *why)
{
    bool was_up = r->up;
    r->up = false;
    r->ac = NULL;
    r->quiet_ok = false;
    if (r->qlen) {
        r->qlen = 0; /* lost with the connection: as if its carrier got no reply */
        r->sent++;
        r->replied++;
    }
    ev_timer_stop(r->loop, &r->handshake);
    if (was_up && r->state_fn)
        r->state_fn(r, false, why, r->arg);
}

/* ---- master connection ---- */

static void on_master_connect(const redisAsyncContext *ac, int status)
{
    struct redis_ev *r = ac->data;
    if (ac != r->ac || status == REDIS_OK)
        return; /* the handshake continues with the queued AUTH / ROLE */
    char why[WHY_LEN];
    snprintf(why, sizeof(why), "connect to %s: %s", r->addr, ac->errstr);
    master_lost(r, why); /* hiredis frees ac after this callback */
    schedule_retry(r, why);
}

static void on_master_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_ev *r = ac->data;
    (void)status;
    if (ac != r->ac)
        return;
    char why[WHY_LEN];
    snprintf(why, sizeof(why), "connection to %s lost: %s", r->addr,
             ac->errstr[0] ? ac->errstr : "closed");
    master_lost(r, why);
    schedule_retry(r, why);
}

static void on_auth(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)arg;
    if (redis_reply_type(rr) == RR_ERROR) {
        char why[WHY_LEN];
        snprintf(why, sizeof(why), "AUTH at %s: %s", r->addr, redis_reply_str(rr, NULL));
        redis_ev_drop(r, why);
    }
}

/* CLIENT REPLY ON in the handshake: +OK when CLIENT REPLY (SKIP as well) is permitted; an ACL
 * may refuse it, and then every command is sent with its reply. */
static void on_quiet_probe(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)arg;
    r->quiet_ok = redis_reply_type(rr) == RR_STATUS;
}

/* The last step of the handshake: the server must be a master. */
static void on_role(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)arg;
    if (redis_reply_type(rr) == RR_NONE || !r->ac)
        return;
    const char *role = redis_reply_str(redis_reply_elem(rr, 0), NULL);
    if (strcmp(role, "master") != 0) {
        char why[WHY_LEN];
        snprintf(why, sizeof(why), "%s is not a master (%s)", r->addr,
                 redis_reply_type(rr) == RR_ERROR ? redis_reply_str(rr, NULL) : role);
        r->master_known = r->nsentinels == 0; /* ask the sentinels again */
        redis_ev_drop(r, why);
        return;
    }
    ev_timer_stop(r->loop, &r->handshake);
    r->up = true;
    r->backoff = r->backoff_min;
    subscribe_all(r);
    if (r->ever_up)
        r->reconnects++;
    r->ever_up = true;
    if (r->state_fn)
        r->state_fn(r, true, r->addr, r->arg);
}

/* Queues a handshake command on ac regardless of r->up. */
static void handshake_cmd(struct redis_ev *r, redis_ev_reply_fn fn, int argc, const char **argv)
{
    struct pending *p = pending_new(fn, NULL, false, false);
    if (!p)
        return;
    if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, NULL) != REDIS_OK)
        free(p);
}

/* The adapter's addWrite behind the cork: while corked, a command queued after the output buffer
 * was written out stays in it (a write in progress goes on: the watcher is running). */
static void corked_add_write(void *privdata)
{
    redisLibevEvents *e = privdata;
    struct redis_ev *r = e->context->data;
    if (r->corked && !e->writing) {
        r->write_held = true;
        return;
    }
    r->add_write(privdata);
}

static void master_connect(struct redis_ev *r)
{
    set_addr(r);
    redisAsyncContext *ac = redisAsyncConnect(r->master.host, r->master.port);
    if (!ac) {
        schedule_retry(r, "out of memory");
        return;
    }
    if (ac->err) {
        char why[WHY_LEN];
        snprintf(why, sizeof(why), "connect to %s: %s", r->addr, ac->errstr);
        redisAsyncFree(ac);
        schedule_retry(r, why);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisLibevAttach(r->loop, ac);
    r->add_write = ac->ev.addWrite;
    ac->ev.addWrite = corked_add_write;
    r->corked = r->write_held = false;
    redisAsyncSetConnectCallback(ac, on_master_connect);
    redisAsyncSetDisconnectCallback(ac, on_master_disconnect);
    if (r->password[0]) {
        const char *argv[3] = {"AUTH", r->user[0] ? r->user : r->password, r->password};
        handshake_cmd(r, on_auth, r->user[0] ? 3 : 2, argv);
    }
    if (r->client_name[0]) {
        const char *argv[3] = {"CLIENT", "SETNAME", r->client_name};
        handshake_cmd(r, NULL, 3, argv);
    }
    if (r->quiet_wanted) {
        const char *argv[3] = {"CLIENT", "REPLY", "ON"};
        handshake_cmd(r, on_quiet_probe, 3, argv);
    }
    const char *role[1] = {"ROLE"};
    handshake_cmd(r, on_role, 1, role);
    ev_timer_set(&r->handshake, r->connect_timeout, 0.);
    ev_timer_start(r->loop, &r->handshake);
}

/* The connect + handshake deadline passed. */
static void on_handshake_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct redis_ev *r = t->data;
    char why[WHY_LEN];
    snprintf(why, sizeof(why), "%s did not answer within %.1f s", r->addr, r->connect_timeout);
    redis_ev_drop(r, why);
}

/* ---- sentinel ---- */

static void sentinel_lost(struct redis_ev *r)
{
    r->sac = NULL;
    ev_timer_stop(r->loop, &r->sentinel_timer);
    r->sentinel_idx = (r->sentinel_idx + 1) % r->nsentinels;
}

static void on_sentinel_connect(const redisAsyncContext *ac, int status)
{
    struct redis_ev *r = ac->data;
    if (ac != r->sac || status == REDIS_OK)
        return;
    sentinel_lost(r);
    if (!r->ac)
        schedule_retry(r, "no sentinel reachable");
}

static void on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_ev *r = ac->data;
    (void)status;
    if (ac != r->sac)
        return;
    sentinel_lost(r);
    /* without a sentinel no switch is heard of: find one again, with the backoff */
    schedule_retry(r, "sentinel connection lost");
}

/* SENTINEL get-master-addr-by-name: [host, port] or nil. */
static void on_sentinel_master(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct redis_ev *r = ac->data;
    redisReply *x = reply;
    if (ac != r->sac || !x)
        return;
    ev_timer_stop(r->loop, &r->sentinel_timer);
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
        x->element[0]->type != REDIS_REPLY_STRING || x->element[1]->type != REDIS_REPLY_STRING ||
        strlen(x->element[0]->str) >= sizeof(r->master.host)) {
        redisAsyncDisconnect(ac);
        return;
    }
    copy_str(r->master.host, sizeof(r->master.host), x->element[0]->str);
    r->master.port = atoi(x->element[1]->str);
    r->master_known = true;
    if (!r->ac && !ev_is_active(&r->retry))
        master_connect(r);
}

/* +switch-master messages: "<name> <old-ip> <old-port> <new-ip> <new-port>". */
static void on_switch_master(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct redis_ev *r = ac->data;
    redisReply *x = reply;
    if (ac != r->sac || !x || x->type != REDIS_REPLY_ARRAY || x->elements != 3 ||
        x->element[2]->type != REDIS_REPLY_STRING)
        return;
    char name[128], oldh[256], newh[256];
    int oldp, newp;
    if (sscanf(x->element[2]->str, "%127s %255s %d %255s %d", name, oldh, &oldp, newh, &newp) !=
            5 ||
        strcmp(name, r->master_name) != 0)
        return;
    if (strcmp(newh, r->master.host) == 0 && newp == r->master.port)
        return;
    copy_str(r->master.host, sizeof(r->master.host), newh);
    r->master.port = newp;
    char why[WHY_LEN];
    snprintf(why, sizeof(why), "sentinel: master %s switched to %s:%d", name, newh, newp);
    if (r->ac)
        redis_ev_drop(r, why);
    /* connect at once: the new master is known to be up */
    ev_timer_stop(r->loop, &r->retry);
    r->backoff = r->backoff_min;
    master_connect(r);
}

static void on_sentinel_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct redis_ev *r = t->data;
    redisAsyncContext *sac = r->sac;
    sentinel_lost(r);
    if (sac)
        redisAsyncFree(sac);
    if (!r->ac)
        schedule_retry(r, "sentinel did not answer");
}

static void sentinel_connect(struct redis_ev *r)
{
    struct endpoint *e = &r->sentinel[r->sentinel_idx];
    redisAsyncContext *sac = redisAsyncConnect(e->host, e->port);
    if (!sac || sac->err) {
        if (sac)
            redisAsyncFree(sac);
        r->sentinel_idx = (r->sentinel_idx + 1) % r->nsentinels;
        schedule_retry(r, "cannot reach a sentinel");
        return;
    }
    sac->data = r;
    r->sac = sac;
    redisLibevAttach(r->loop, sac);
    redisAsyncSetConnectCallback(sac, on_sentinel_connect);
    redisAsyncSetDisconnectCallback(sac, on_sentinel_disconnect);
    redisAsyncCommand(sac, on_sentinel_master, NULL, "SENTINEL get-master-addr-by-name %s",
                      r->master_name);
    redisAsyncCommand(sac, on_switch_master, NULL, "SUBSCRIBE +switch-master");
    ev_timer_set(&r->sentinel_timer, r->connect_timeout, 0.);
    ev_timer_start(r->loop, &r->sentinel_timer);
}

/* ---- reconnects ---- */

/* The backoff passed: find the master again. */
static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct redis_ev *r = t->data;
    if (r->nsentinels > 0 && !r->sac) {
        sentinel_connect(r); /* its answer connects the master */
        return;
    }
    if (!r->ac && r->master_known)
        master_connect(r);
}

static void schedule_retry(struct redis_ev *r, const char *why)
{
    (void)why;
    if (ev_is_active(&r->retry))
        return;
    ev_timer_set(&r->retry, r->backoff, 0.);
    ev_timer_start(r->loop, &r->retry);
    r->backoff *= 2;
    if (r->backoff > r->backoff_max)
        r->backoff = r->backoff_max;
}

/* ---- public ---- */

struct redis_ev *redis_ev_new(struct ev_loop *loop, const struct redis_ev_config *cfg,
                              redis_ev_state_fn state_fn, void *arg, char *err, size_t errlen)
{
    struct redis_ev *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->state_fn = state_fn;
    r->arg = arg;
    copy_str(r->master_name, sizeof(r->master_name), cfg->master_name);
    copy_str(r->user, sizeof(r->user), cfg->user);
    copy_str(r->password, sizeof(r->password), cfg->password);
    copy_str(r->client_name, sizeof(r->client_name), cfg->client_name);
    r->quiet_wanted = cfg->quiet;
    r->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 1.0;
    r->backoff_min = cfg->backoff_min > 0 ? cfg->backoff_min : 0.05;
    r->backoff_max = cfg->backoff_max >= r->backoff_min ? cfg->backoff_max : r->backoff_min;
    r->backoff = r->backoff_min;
    const char *s = cfg->sentinels;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n > 0) {
            if (r->nsentinels == MAX_SENTINELS ||
                parse_endpoint(s, n, &r->sentinel[r->nsentinels]) != 0) {
                snprintf(err, errlen, "bad sentinel address '%.*s' (host:port, at most %d)", (int)n,
                         s, MAX_SENTINELS);
                free(r);
                return NULL;
            }
            r->nsentinels++;
        }
        s = comma ? comma + 1 : NULL;
    }
    if (r->nsentinels > 0 && !r->master_name[0]) {
        snprintf(err, errlen, "sentinels need a master name");
        free(r);
        return NULL;
    }
    if (r->nsentinels == 0) {
        if (!cfg->host || !cfg->host[0] || cfg->port < 1 || cfg->port > 65535) {
            snprintf(err, errlen, "no Redis address: give a host and port, or sentinels");
            free(r);
            return NULL;
        }
        copy_str(r->master.host, sizeof(r->master.host), cfg->host);
        r->master.port = cfg->port;
        r->master_known = true;
    }
    set_addr(r);
    ev_timer_init(&r->handshake, on_handshake_timeout, 0., 0.);
    ev_timer_init(&r->sentinel_timer, on_sentinel_timeout, 0., 0.);
    ev_timer_init(&r->retry, on_retry, 0., 0.);
    r->handshake.data = r->sentinel_timer.data = r->retry.data = r;
    if (r->nsentinels > 0)
        sentinel_connect(r);
    else
        master_connect(r);
    return r;
}

void redis_ev_free(struct redis_ev *r)
{
    if (!r)
        return;
    ev_timer_stop(r->loop, &r->handshake);
    ev_timer_stop(r->loop, &r->sentinel_timer);
    ev_timer_stop(r->loop, &r->retry);
    redisAsyncContext *ac = r->ac, *sac = r->sac;
    r->ac = r->sac = NULL;
    r->up = false;
    r->state_fn = NULL;
    if (ac)
        redisAsyncFree(ac);
    if (sac)
        redisAsyncFree(sac);
    free(r->qbuf);
    free(r);
}

bool redis_ev_up(const struct redis_ev *r)
{
    return r->up;
}

const char *redis_ev_addr(const struct redis_ev *r)
{
    return r->addr;
}

unsigned long redis_ev_reconnects(const struct redis_ev *r)
{
    return r->reconnects;
}

void redis_ev_cork(struct redis_ev *r, bool on)
{
    r->corked = on;
    if (!on && r->write_held) {
        r->write_held = false;
        if (r->ac)
            r->add_write(r->ac->ev.data);
    }
}

unsigned long long redis_ev_sent(const struct redis_ev *r)
{
    return r->sent;
}

unsigned long long redis_ev_replied(const struct redis_ev *r)
{
    return r->replied;
}

/* ---- quiet runs ---- */

static int qbuf_add(struct redis_ev *r, const char *s, size_t n)
{
    if (r->qlen + n > r->qcap) {
        size_t cap = r->qcap ? r->qcap : 4096;
        while (cap < r->qlen + n)
            cap *= 2;
        char *b = realloc(r->qbuf, cap);
        if (!b)
            return -1;
        r->qbuf = b;
        r->qcap = cap;
    }
    memcpy(r->qbuf + r->qlen, s, n);
    r->qlen += n;
    return 0;
}

/* Queues cmd (formatted, n bytes) with the quiet run ahead of it, in one piece. */
static int queue_carrier(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, const char *cmd,
                         size_t n)
{
    struct pending *p = pending_new(fn, arg, true, true);
    if (!p || qbuf_add(r, cmd, n) != 0) {
        free(p);
        return -1;
    }
    int rc = redisAsyncFormattedCommand(r->ac, on_reply, p, r->qbuf, r->qlen);
    r->qlen = 0;
    r->sent++;
    if (rc != REDIS_OK) {
        free(p);
        r->replied++; /* the run is lost: what waited for its answer has it */
        return -1;
    }
    return 0;
}

int redis_ev_vquiet(struct redis_ev *r, const char *fmt, va_list ap)
{
    if (!r->up || !r->quiet_ok)
        return -1;
    char *cmd = NULL;
    int n = redisvFormatCommand(&cmd, fmt, ap);
    if (n < 0)
        return -1;
    size_t at = r->qlen;
    int rc = qbuf_add(r, REPLY_SKIP, sizeof(REPLY_SKIP) - 1);
    if (rc == 0)
        rc = qbuf_add(r, cmd, (size_t)n);
    redisFreeCommand(cmd);
    if (rc != 0)
        r->qlen = at;
    return rc;
}

bool redis_ev_quiet_ok(const struct redis_ev *r)
{
    return r->up && r->quiet_ok;
}

unsigned long long redis_ev_mark(const struct redis_ev *r)
{
    return r->sent + (r->qlen ? 1 : 0);
}

int redis_ev_cmd(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = redis_ev_vcmd(r, fn, arg, fmt, ap);
    va_end(ap);
    return rc;
}

/* Queues cmd (formatted, n bytes) with its callback: behind the quiet run when there is one. */
static int send_formatted(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, const char *cmd,
                          size_t n)
{
    if (r->qlen)
        return queue_carrier(r, fn, arg, cmd, n);
    struct pending *p = pending_new(fn, arg, true, false);
    if (!p)
        return -1;
    if (redisAsyncFormattedCommand(r->ac, on_reply, p, cmd, n) != REDIS_OK) {
        free(p);
        return -1;
    }
    r->sent++;
    return 0;
}

int redis_ev_vcmd(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, const char *fmt, va_list ap)
{
    if (!r->up)
        return -1;
    char *cmd = NULL;
    int n = redisvFormatCommand(&cmd, fmt, ap);
    if (n < 0)
        return -1;
    int rc = send_formatted(r, fn, arg, cmd, (size_t)n);
    redisFreeCommand(cmd);
    return rc;
}

int redis_ev_cmdv(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens)
{
    if (!r->up)
        return -1;
    char *cmd = NULL;
    long long n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (n < 0)
        return -1;
    int rc = send_formatted(r, fn, arg, cmd, (size_t)n);
    redisFreeCommand(cmd);
    return rc;
}

int redis_ev_subscribe(struct redis_ev *r, const char *channel, redis_ev_reply_fn fn, void *arg)
{
    if (r->nsubs == MAX_SUBS || strlen(channel) >= sizeof(r->subs[0].channel))
        return -1;
    struct sub *sb = &r->subs[r->nsubs++];
    memcpy(sb->channel, channel, strlen(channel) + 1);
    sb->cb.fn = fn;
    sb->cb.arg = arg;
    sb->r = r;
    if (r->up)
        subscribe_one(r, sb);
    return 0;
}

void redis_ev_drop(struct redis_ev *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    if (!ac)
        return;
    master_lost(r, why);
    /* deferred by hiredis when called from one of ac's callbacks; pending callbacks run with no
     * reply, the disconnect callback finds ac no longer current and does nothing */
    redisAsyncFree(ac);
    schedule_retry(r, why);
}
