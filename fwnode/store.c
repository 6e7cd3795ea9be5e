/* store.c: a priori synchronization of connection state in Redis: the decisions, the entry
 * format, and the I/O (writes, group-committed WAITs, held packets, lookups on miss). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "keys.h"
#include "stats.h"
#include "store.h"
#include "tcp_state.h"

#define HELD_MAX     65536 /* packets held at once, beyond: dropped and counted */
#define LOOKUPS_MAX  16384 /* lookups in flight */
#define LOOKUP_SLOTS 1024
#define RESULTS      4096 /* outcomes of the last release points, to find a connection's */
#define LANE_BITS    4    /* a release point's seq: (count << LANE_BITS) | its lane */
#define KEY_PINS     4096 /* by steering hash: the lane of the last write of a key there */
#define LANE_MASK    ((1u << LANE_BITS) - 1)

_Static_assert(STORE_LANES_MAX <= 1 << LANE_BITS, "a lane index fits in LANE_BITS");

/* ---- decisions ---- */

bool store_final(uint8_t proto, uint8_t st)
{
    return proto == PKT_IPPROTO_TCP && (st == TCP_ST_TIME_WAIT || st == TCP_ST_CLOSE);
}

bool store_wanted(enum sync_level level, uint8_t proto, uint8_t st)
{
    if (level == SYNC_LEVEL_NONE || st == 0)
        return false;
    if (proto != PKT_IPPROTO_TCP)
        return level == SYNC_LEVEL_FULL || st == CONN_REPLIED;
    if (store_final(proto, st))
        return false;
    if (level == SYNC_LEVEL_FULL)
        return true;
    return st == TCP_ST_ESTABLISHED;
}

struct store_plan store_plan(enum sync_level level, enum sync_strategy strategy,
                             enum sync_access access, uint8_t proto, uint8_t st, uint8_t stored_st)
{
    struct store_plan p = {STORE_OP_NONE, false, false, false};
    if (level == SYNC_LEVEL_NONE)
        return p;
    if (store_final(proto, st) ||
        (stored_st && !store_wanted(level, proto, st) && level == SYNC_LEVEL_FULL)) {
        if (stored_st) {
            p.op = STORE_OP_DEL; /* never holds: a lost delete only leaves an entry to its TTL */
            p.multi = access == SYNC_ACCESS_TRANSACTION;
        }
        return p;
    }
    if (!store_wanted(level, proto, st) || stored_st == st)
        return p;
    p.op = STORE_OP_PUT;
    p.multi = access == SYNC_ACCESS_TRANSACTION;
    p.wait = strategy == SYNC_STRATEGY_SYNC;
    p.hold = p.wait || p.multi;
    return p;
}

/* ---- entries ---- */

const char *store_state_name(uint8_t proto, uint8_t st)
{
    if (proto == PKT_IPPROTO_TCP)
        return tcp_state_name((enum tcp_st)st);
    return st == CONN_REPLIED ? "ESTABLISHED" : st == CONN_NEW ? "NEW" : "NONE";
}

/* The state of a word for proto, 0 when unknown. */
static uint8_t state_from_name(uint8_t proto, const char *w)
{
    if (proto == PKT_IPPROTO_TCP) {
        int st = tcp_state_from_name(w);
        return st > 0 && st < TCP_ST_MAX ? (uint8_t)st : 0;
    }
    if (strcmp(w, "NEW") == 0)
        return CONN_NEW;
    if (strcmp(w, "ESTABLISHED") == 0)
        return CONN_REPLIED;
    return 0;
}

uint8_t store_rank(uint8_t proto, uint8_t st)
{
    return proto == PKT_IPPROTO_TCP ? st : (st == CONN_REPLIED ? 3 : 1);
}

int store_entry_format(const struct store_entry *e, uint8_t proto, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s owner=%s orig=%c side=%c rank=%u v=%d t=%llu",
                     store_state_name(proto, e->state), e->owner, e->orig_is_a ? 'a' : 'b',
                     e->orig_side ? 'b' : 'a', e->rank, STORE_ENTRY_VERSION,
                     (unsigned long long)e->t_ms);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

/* Reads "a" or "b" into *out. */
static int parse_ab(const char *v, uint8_t *out)
{
    if ((v[0] != 'a' && v[0] != 'b') || v[1])
        return -1;
    *out = v[0] == 'b';
    return 0;
}

int store_entry_parse(const char *s, size_t len, uint8_t proto, struct store_entry *e, char *err,
                      size_t errlen)
{
    char buf[STORE_VALUE_MAX + 1];
    memset(e, 0, sizeof(*e));
    if (len == 0 || len > STORE_VALUE_MAX) {
        snprintf(err, errlen, "value of %zu bytes", len);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(err, errlen, "NUL byte in the value");
        return -1;
    }
    unsigned seen = 0; /* bits: owner, orig, side, rank, v, t */
    char *save = NULL;
    char *tok = strtok_r(buf, " ", &save);
    if (!tok || !(e->state = state_from_name(proto, tok))) {
        snprintf(err, errlen, "unknown state '%.32s'", tok ? tok : "");
        return -1;
    }
    uint8_t orig_side = 0, orig_is_b = 0;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(err, errlen, "bad field '%.32s'", tok);
            return -1;
        }
        *eq = '\0';
        const char *v = eq + 1;
        char *end;
        if (strcmp(tok, "owner") == 0) {
            size_t n = strlen(v);
            if (n == 0 || n >= sizeof(e->owner)) {
                snprintf(err, errlen, "bad owner");
                return -1;
            }
            for (size_t i = 0; i < n; i++) {
                if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) {
                    snprintf(err, errlen, "bad owner");
                    return -1;
                }
            }
            memcpy(e->owner, v, n + 1);
            seen |= 1;
        } else if (strcmp(tok, "orig") == 0) {
            if (parse_ab(v, &orig_is_b) != 0) {
                snprintf(err, errlen, "bad orig '%.8s'", v);
                return -1;
            }
            seen |= 2;
        } else if (strcmp(tok, "side") == 0) {
            if (parse_ab(v, &orig_side) != 0) {
                snprintf(err, errlen, "bad side '%.8s'", v);
                return -1;
            }
            seen |= 4;
        } else if (strcmp(tok, "rank") == 0) {
            unsigned long r = strtoul(v, &end, 10);
            if (*end || !*v || r > 255) {
                snprintf(err, errlen, "bad rank");
                return -1;
            }
            e->rank = (uint8_t)r;
            seen |= 8;
        } else if (strcmp(tok, "v") == 0) {
            if (strcmp(v, "1") != 0) {
                snprintf(err, errlen, "unknown version '%.8s'", v);
                return -1;
            }
            seen |= 16;
        } else if (strcmp(tok, "t") == 0) {
            unsigned long long t = strtoull(v, &end, 10);
            if (*end || !*v) {
                snprintf(err, errlen, "bad time");
                return -1;
            }
            e->t_ms = t;
            seen |= 32;
        } /* unknown fields are ignored: newer writers may add some */
    }
    if (seen != 63) {
        snprintf(err, errlen, "missing fields");
        return -1;
    }
    e->orig_is_a = !orig_is_b;
    e->orig_side = orig_side;
    return 0;
}

static const char *proto_word(uint8_t proto)
{
    switch (proto) {
    case PKT_IPPROTO_TCP:
        return "tcp";
    case PKT_IPPROTO_UDP:
        return "udp";
    case PKT_IPPROTO_ICMP:
        return "icmp";
    case PKT_IPPROTO_ICMPV6:
        return "icmpv6";
    default:
        return "ip";
    }
}

int store_conn_key(const struct flow_key *k, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int af = k->family == 6 ? AF_INET6 : AF_INET;
    inet_ntop(af, k->a, a, sizeof(a));
    inet_ntop(af, k->b, b, sizeof(b));
    return keys_conn(buf, len, proto_word(k->proto), a, k->pa, b, k->pb);
}

/* Reads "addr:port" or "[addr6]:port" at s (length n) into a, *port; family per brackets. */
static int parse_endpoint(const char *s, size_t n, int *family, uint8_t a[16], uint16_t *port)
{
    char buf[64];
    const char *colon;
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] == '[') {
        char *rb = strchr(buf, ']');
        if (!rb || rb[1] != ':')
            return -1;
        *rb = '\0';
        colon = rb + 1;
        *family = 6;
        if (inet_pton(AF_INET6, buf + 1, a) != 1)
            return -1;
    } else {
        char *c = strchr(buf, ':');
        if (!c)
            return -1;
        *c = '\0';
        colon = c;
        *family = 4;
        memset(a, 0, 16);
        if (inet_pton(AF_INET, buf, a) != 1)
            return -1;
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int store_conn_key_parse(const char *s, size_t len, struct flow_key *k)
{
    static const struct {
        const char *word;
        uint8_t proto;
    } protos[] = {{"tcp:", PKT_IPPROTO_TCP},
                  {"udp:", PKT_IPPROTO_UDP},
                  {"icmp:", PKT_IPPROTO_ICMP},
                  {"icmpv6:", PKT_IPPROTO_ICMPV6}};
    size_t pl = strlen(KEYS_CONN_PREFIX);
    const char *name = s;
    size_t name_len = len;
    memset(k, 0, sizeof(*k));
    if (len <= pl || len >= KEYS_MAX || memcmp(s, KEYS_CONN_PREFIX, pl) != 0)
        return -1;
    s += pl;
    len -= pl;
    size_t i;
    for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        size_t wl = strlen(protos[i].word);
        if (len > wl && memcmp(s, protos[i].word, wl) == 0) {
            k->proto = protos[i].proto;
            s += wl;
            len -= wl;
            break;
        }
    }
    if (i == sizeof(protos) / sizeof(protos[0]))
        return -1;
    /* the two endpoints: the port of the first ends at the first ':' after its address */
    const char *mid = NULL;
    const char *start2 = NULL;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb || (size_t)(rb - s) + 2 >= len)
            return -1;
        mid = memchr(rb + 2, ':', len - (size_t)(rb + 2 - s));
    } else {
        const char *c1 = memchr(s, ':', len);
        if (!c1)
            return -1;
        mid = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s));
    }
    if (!mid)
        return -1;
    start2 = mid + 1;
    int f1, f2;
    if (parse_endpoint(s, (size_t)(mid - s), &f1, k->a, &k->pa) != 0 ||
        parse_endpoint(start2, len - (size_t)(start2 - s), &f2, k->b, &k->pb) != 0 || f1 != f2)
        return -1;
    k->family = (uint8_t)f1;
    /* only canonical keys are accepted: the lower endpoint first, and the name exactly as this
     * module writes it (no other spelling of an address or a port) */
    int c = memcmp(k->a, k->b, 16);
    if (c > 0 || (c == 0 && k->pa > k->pb))
        return -1;
    char back[KEYS_MAX];
    int n = store_conn_key(k, back, sizeof(back));
    if (n < 0 || (size_t)n != name_len || memcmp(back, name, name_len) != 0)
        return -1;
    return 0;
}

const char store_function_source[] =
    "#!lua name=" KEYS_FUNCTION_LIBRARY "\n"
    "-- fw_put(conn key, bucket key; value, ttl ms, rank[, index]): writes an entry and its index\n"
    "-- entry together (index '0': the entry is indexed already, unless it is gone), unless the\n"
    "-- stored entry is of a higher rank: a state never moves backwards.\n"
    "redis.register_function('fw_put', function(keys, args)\n"
    "  local old = redis.call('GET', keys[1])\n"
    "  if old then\n"
    "    local r = tonumber(string.match(old, ' rank=(%d+)'))\n"
    "    if r and r > tonumber(args[3]) then return 0 end\n"
    "  end\n"
    "  redis.call('SET', keys[1], args[1], 'PX', args[2])\n"
    "  if args[4] ~= '0' or not old then redis.call('SADD', keys[2], keys[1]) end\n"
    "  return 1\n"
    "end)\n";

/* ---- replies ---- */

enum store_outcome store_judge_write(enum redis_reply_type t, const enum redis_reply_type *results,
                                     const long long *values, size_t n)
{
    if (t == RR_NONE)
        return STORE_LOST;
    if (!results)
        return t == RR_ERROR || t == RR_ARRAY || t == RR_NIL ? STORE_ERROR : STORE_OK;
    /* EXEC: an array of the queued commands' results; nil when the transaction was aborted */
    if (t != RR_ARRAY)
        return STORE_ERROR;
    enum store_outcome o = STORE_OK;
    for (size_t i = 0; i < n; i++) {
        if (results[i] == RR_ERROR || results[i] == RR_NONE)
            return STORE_ERROR;
        if (results[i] == RR_INTEGER && values && values[i] == 0 && o == STORE_OK)
            o = STORE_REFUSED; /* fw_put returned 0: a higher rank is stored */
    }
    return o;
}

enum store_outcome store_judge_wait(enum redis_reply_type t, long long acked, int required)
{
    if (t == RR_NONE)
        return STORE_LOST;
    if (t != RR_INTEGER)
        return STORE_ERROR;
    return acked >= required ? STORE_OK : STORE_TIMEOUT;
}

enum store_outcome store_judge_readback(enum redis_reply_type t, const char *s, size_t len,
                                        const char *want, size_t want_len, uint8_t proto,
                                        uint8_t rank, const char *node)
{
    if (t == RR_NONE)
        return STORE_LOST;
    if (t == RR_NIL)
        return want ? STORE_ERROR : STORE_OK;
    if (t != RR_STRING)
        return STORE_ERROR;
    if (want && len == want_len && memcmp(s, want, len) == 0)
        return STORE_OK;
    struct store_entry e;
    char err[128];
    if (store_entry_parse(s, len, proto, &e, err, sizeof(err)) != 0)
        return STORE_ERROR;
    if (strcmp(e.owner, node) != 0 || (want && e.rank > rank))
        return STORE_REFUSED;
    return STORE_ERROR;
}

enum store_outcome store_judge_lookup(enum redis_reply_type t, const char *s, size_t len,
                                      uint8_t proto, struct store_entry *e)
{
    char err[128];
    switch (t) {
    case RR_NONE:
        return STORE_LOST;
    case RR_NIL:
        return STORE_REFUSED;
    case RR_STRING:
        return store_entry_parse(s, len, proto, e, err, sizeof(err)) == 0 ? STORE_OK : STORE_ERROR;
    default:
        return STORE_ERROR;
    }
}

/* ---- the store ---- */

struct held {
    struct held *next;
    uint64_t ts;
    int side;
    uint32_t len;
    uint8_t frame[];
};

struct lookup {
    struct lookup *next_slot;   /* hash chain */
    struct lookup *prev, *next; /* age list, oldest first */
    struct store *st;
    struct flow_key key;
    uint32_t hash;
    uint64_t started_ns;
    struct held *head, *tail;
};

/* An entry a synchronous batch wrote without replies: read back after the batch's WAIT. */
struct check {
    char key[KEYS_MAX];
    char val[STORE_VALUE_MAX]; /* as written; "" for a delete (an entry is never empty) */
    uint8_t proto, rank;
    bool held; /* a held write: when it did not take effect, the batch fails */
};

/* A point packets can wait for: an EXEC reply (async/transaction) or a WAIT reply (sync). It
 * completes with that reply (or a failure), and passes once every earlier point of its lane has
 * passed: then its held packets are handed out. Freed when it has passed and no callback refers
 * to it any more. */
struct relpoint {
    struct store *st;
    struct relpoint *next;    /* the lane's next point, in seq order, while queued */
    struct held *head, *tail; /* the packets waiting for it, FIFO */
    uint64_t seq;             /* its lane is seq & LANE_MASK (lane_of_seq) */
    int refs;                 /* queued commands whose callback has it as argument */
    struct check *checks;     /* sync: the entries its writes, sent without replies, must leave */
    size_t nchecks, capchecks;
    bool failed;    /* a write of it failed, or its WAIT */
    bool completed; /* its reply came (or its failure) */
    bool queued;    /* not passed yet: on its lane's list */
};

/* One connection to the master. Redis blocks a connection that sent WAIT until the replicas
 * acknowledge, and commands sent behind it wait too; so a lane has at most one WAIT in flight
 * (by default; FW_SYNC_PIPELINE), and the writes that come meanwhile form the next batch, whose
 * WAIT leaves when the one in flight returns (group commit: one WAIT per round trip, however
 * many writes). With a pipeline of 2, the next batch and its WAIT leave at once and wait at the
 * master, which applies them the moment the WAIT ahead returns; the batch after them waits in
 * the worker. With several lanes a synchronous write takes a lane that can send its WAIT at
 * once, unless the connection's packets wait on a lane or its previous write is still
 * unanswered on its lane (then that one: a connection's writes and packets stay in order).
 * Lane 0 also carries lookups, statistics and the periodic commands. Release points pass in
 * order within a lane, even when a later one completes first (an EXEC after a switch from
 * sync, a failed send). */
struct lane {
    struct redis_ev *r;
    struct relpoint *batch; /* sync: the open batch, its WAIT not sent yet */
    /* sync: the batches whose WAIT was sent and is not answered yet, oldest first: at most the
     * pipeline depth, more when switches to async send open batches' WAITs at once (beyond the
     * capacity the oldest is no longer tracked: lane_wait) */
    struct relpoint *inflight[STORE_PIPELINE_MAX + 1];
    int ninflight;
    struct relpoint *first, *last; /* the points not passed yet, in seq order */
    uint64_t done;                 /* the last release point passed */
};

struct store {
    struct store_config cfg;
    char node[64];
    struct redis_ev *r;
    struct store_hooks hooks;
    struct fw_stats *stats;
    uint64_t issued;               /* release points: the last handed out */
    uint64_t results[RESULTS];     /* [seq_slot(seq)] = seq << 1 | failed, once it passed */
    struct relpoint *rps[RESULTS]; /* [seq_slot(seq)] = point seq while it lives (store_hold) */
    struct lane lane[STORE_LANES_MAX];
    int nlanes;
    struct {
        uint64_t mark; /* redis_ev_mark of the lane after the write */
        uint8_t lane;
    } pin[KEY_PINS]; /* [steering hash % KEY_PINS]: keys there write on that lane until answered */
    bool all_up;     /* every lane connected (last reported to hooks.state) */
    size_t nheld;
    struct lookup *slots[LOOKUP_SLOTS];
    struct lookup *lk_old, *lk_new;
    size_t nlookups;
    int replicas_seen;                   /* connected replicas, from ROLE */
    uint64_t prev_in, prev_fwd, prev_ms; /* for the packet rates published */
    bool function_loaded;
};

struct store *store_new(const struct store_config *cfg, const struct store_hooks *hooks,
                        struct fw_stats *stats)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->cfg = *cfg;
    if (st->cfg.pipeline < 1)
        st->cfg.pipeline = 1;
    if (st->cfg.pipeline > STORE_PIPELINE_MAX)
        st->cfg.pipeline = STORE_PIPELINE_MAX;
    snprintf(st->node, sizeof(st->node), "%s", cfg->node_id ? cfg->node_id : "node");
    st->cfg.node_id = st->node;
    st->hooks = *hooks;
    st->stats = stats;
    st->replicas_seen = 0;
    return st;
}

static void on_function_load(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct store *st = arg;
    if (redis_reply_type(rr) == RR_ERROR) {
        st->stats->redis_errors++;
        char msg[300];
        snprintf(msg, sizeof(msg), "FUNCTION LOAD: %s", redis_reply_str(rr, NULL));
        if (st->hooks.state)
            st->hooks.state(st->hooks.arg, true, msg);
    } else if (redis_reply_type(rr) != RR_NONE) {
        st->function_loaded = true;
    }
}

void store_set_mode(struct store *st, const struct store_config *cfg)
{
    bool load = cfg->access == SYNC_ACCESS_TRANSACTION && st->cfg.access != cfg->access;
    st->cfg.level = cfg->level;
    st->cfg.strategy = cfg->strategy;
    st->cfg.access = cfg->access;
    st->cfg.policy = cfg->policy;
    st->cfg.replicas = cfg->replicas;
    st->cfg.wait_timeout_ms = cfg->wait_timeout_ms;
    for (int i = 0; load && i < st->nlanes; i++)
        if (redis_ev_up(st->lane[i].r))
            redis_ev_cmd(st->lane[i].r, on_function_load, st, "FUNCTION LOAD REPLACE %s",
                         store_function_source);
}

void store_set_buckets(struct store *st, uint32_t buckets)
{
    st->cfg.buckets = buckets;
}

const struct store_config *store_mode(const struct store *st)
{
    return &st->cfg;
}

int store_attach(struct store *st, struct redis_ev *r)
{
    if (st->nlanes >= STORE_LANES_MAX)
        return -1;
    st->lane[st->nlanes++].r = r;
    return 0;
}

static bool lane_up(const struct store *st, int l)
{
    return l < st->nlanes && redis_ev_up(st->lane[l].r);
}

bool store_up(const struct store *st)
{
    for (int i = 0; i < st->nlanes; i++)
        if (!redis_ev_up(st->lane[i].r))
            return false;
    return st->nlanes > 0;
}

/* The ring slot of release point seq; its lane. */
static size_t seq_slot(uint64_t seq)
{
    return (size_t)((seq >> LANE_BITS) % RESULTS);
}

static struct lane *lane_of_seq(struct store *st, uint64_t seq)
{
    return &st->lane[seq & LANE_MASK];
}

static void relpoint_free(struct relpoint *rp)
{
    struct store *st = rp->st;
    if (st->rps[seq_slot(rp->seq)] == rp)
        st->rps[seq_slot(rp->seq)] = NULL;
    free(rp->checks);
    free(rp);
}

/* Hands out a held packet: forwarded, or per the policy when its release point failed. */
static void release_one(struct store *st, struct held *h, bool failed, uint64_t now)
{
    st->nheld--;
    bool fwd = true;
    if (failed) {
        fwd = st->cfg.policy == SYNC_POLICY_OPEN;
        if (fwd)
            st->stats->policy_forwards++;
        else
            st->stats->policy_drops++;
    }
    if (now > h->ts)
        hist_add(&st->stats->hold, now - h->ts);
    st->hooks.release(st->hooks.arg, h->side, h->frame, h->len, h->ts, fwd);
    free(h);
}

/* Passes the lane's release points that completed, in seq order (a point that completed before an
 * earlier one waits for it), and hands out their packets. */
static void lane_advance(struct store *st, struct lane *ln)
{
    while (ln->first && ln->first->completed) {
        struct relpoint *rp = ln->first;
        ln->first = rp->next;
        if (!ln->first)
            ln->last = NULL;
        rp->queued = false;
        ln->done = rp->seq;
        st->results[seq_slot(rp->seq)] = rp->seq << 1 | (rp->failed ? 1u : 0u);
        uint64_t now = clock_ns(CLOCK_REALTIME);
        while (rp->head) {
            struct held *h = rp->head;
            rp->head = h->next;
            if (!rp->head)
                rp->tail = NULL;
            release_one(st, h, rp->failed, now);
        }
        if (rp->refs == 0)
            relpoint_free(rp);
    }
}

/* rp's reply came (or it failed): it passes when the earlier points of its lane have. rp may be
 * freed by the call unless the caller holds a reference. */
static void relpoint_complete(struct relpoint *rp)
{
    if (rp->completed)
        return;
    rp->completed = true;
    lane_advance(rp->st, lane_of_seq(rp->st, rp->seq));
}

/* One callback fewer refers to rp. */
static void relpoint_unref(struct relpoint *rp)
{
    if (--rp->refs == 0 && rp->completed && !rp->queued)
        relpoint_free(rp);
}

/* Queues a command whose callback gets rp (counted, so that rp outlives it). */
static int relpoint_vcmd(struct redis_ev *r, redis_ev_reply_fn fn, struct relpoint *rp,
                         const char *fmt, va_list ap)
{
    int rc = redis_ev_vcmd(r, fn, rp, fmt, ap);
    if (rc == 0)
        rp->refs++;
    return rc;
}

static int relpoint_cmd(struct redis_ev *r, redis_ev_reply_fn fn, struct relpoint *rp,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = relpoint_vcmd(r, fn, rp, fmt, ap);
    va_end(ap);
    return rc;
}

static struct relpoint *relpoint_new(struct store *st, int lane)
{
    struct relpoint *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return NULL;
    rp->st = st;
    rp->seq = ++st->issued << LANE_BITS | (uint64_t)lane;
    rp->queued = true;
    struct lane *ln = &st->lane[lane];
    if (ln->last)
        ln->last->next = rp;
    else
        ln->first = rp;
    ln->last = rp;
    st->rps[seq_slot(rp->seq)] = rp;
    return rp;
}

/* Counts a write's outcome that was not what it should be. */
static void count_outcome(struct store *st, enum store_outcome o)
{
    switch (o) {
    case STORE_ERROR:
        st->stats->redis_errors++;
        break;
    case STORE_LOST:
        st->stats->writes_lost++;
        break;
    case STORE_REFUSED:
        st->stats->writes_refused++;
        break;
    default:
        break;
    }
}

/* Judges a write's reply (for EXEC, with the results of the queued commands) and counts it. */
static enum store_outcome judge(struct store *st, const struct redis_reply *rr)
{
    enum redis_reply_type t = redis_reply_type(rr), types[8];
    long long values[8];
    size_t n = redis_reply_count(rr);
    if (n > 8)
        n = 8;
    for (size_t i = 0; i < n; i++) {
        types[i] = redis_reply_type(redis_reply_elem(rr, i));
        values[i] = redis_reply_int(redis_reply_elem(rr, i));
    }
    enum store_outcome o = store_judge_write(t, t == RR_ARRAY ? types : NULL, values, n);
    count_outcome(st, o);
    return o;
}

/* A write's reply in a sync batch: a failure fails the whole batch. */
static void on_write_reply(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct relpoint *rp = arg;
    enum store_outcome o = judge(rp->st, rr);
    if (o == STORE_ERROR || o == STORE_LOST)
        rp->failed = true;
    relpoint_unref(rp);
}

/* Unwaited writes (and MULTI, SADD, SREM, HSET): counted, nobody waits. */
static void on_plain_reply(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    judge(arg, rr);
}

/* EXEC of an async transaction: the release point completes with it. */
static void on_exec_release(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct relpoint *rp = arg;
    enum store_outcome o = judge(rp->st, rr);
    if (o == STORE_ERROR || o == STORE_LOST)
        rp->failed = true;
    relpoint_complete(rp); /* rp may have completed already (a send of it failed) */
    relpoint_unref(rp);    /* the EXEC's, last: it may free rp */
}

/* The replicas a WAIT asks for: the configured number, or every replica the master has. */
static int wait_replicas(const struct store *st)
{
    return st->cfg.replicas >= 0 ? st->cfg.replicas : st->replicas_seen;
}

/* The last reply of batch rp, in flight on ln, came: the next batch's WAIT may go (store_flush),
 * with the writes held back meanwhile. */
static void batch_answered(const struct store *st, struct lane *ln, struct relpoint *rp)
{
    for (int i = 0; i < ln->ninflight; i++) {
        if (ln->inflight[i] != rp)
            continue;
        memmove(&ln->inflight[i], &ln->inflight[i + 1],
                (size_t)(ln->ninflight - i - 1) * sizeof(ln->inflight[0]));
        if (--ln->ninflight < st->cfg.pipeline)
            redis_ev_cork(ln->r, false);
        return;
    }
}

/* WAIT: enough replicas, or the batch failed (timeout). A batch whose writes went without
 * replies passes with its read-back, which follows. */
static void on_wait(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct relpoint *rp = arg;
    struct store *st = rp->st;
    int need = wait_replicas(st);
    switch (store_judge_wait(redis_reply_type(rr), redis_reply_int(rr), need)) {
    case STORE_OK:
        break;
    case STORE_TIMEOUT:
        rp->failed = true;
        st->stats->wait_timeouts++;
        break;
    default:
        rp->failed = true;
        st->stats->redis_errors++;
        break;
    }
    if (!rp->nchecks || redis_reply_type(rr) == RR_NONE) {
        batch_answered(st, lane_of_seq(st, rp->seq), rp);
        relpoint_complete(rp);
    }
    relpoint_unref(rp); /* the WAIT's */
}

/* MGET of a batch's entries after its WAIT: each as written, or the write failed (a held one
 * fails the batch; a delete or a refresh only counts). */
static void on_readback(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct relpoint *rp = arg;
    struct store *st = rp->st;
    bool whole = redis_reply_type(rr) == RR_ARRAY && redis_reply_count(rr) == rp->nchecks;
    for (size_t i = 0; i < rp->nchecks; i++) {
        const struct check *k = &rp->checks[i];
        const struct redis_reply *e = whole ? redis_reply_elem(rr, i) : NULL;
        size_t len;
        const char *s = redis_reply_str(e, &len);
        enum store_outcome o =
            whole ? store_judge_readback(redis_reply_type(e), s, len, k->val[0] ? k->val : NULL,
                                         strlen(k->val), k->proto, k->rank, st->node)
            : redis_reply_type(rr) == RR_NONE ? STORE_LOST
                                              : STORE_ERROR;
        count_outcome(st, o);
        if (k->held && (o == STORE_ERROR || o == STORE_LOST))
            rp->failed = true;
    }
    batch_answered(st, lane_of_seq(st, rp->seq), rp);
    relpoint_complete(rp);
    relpoint_unref(rp); /* the MGET's */
}

/* The entry of c as stored now. */
static int conn_value(struct store *st, const struct conn *c, char *buf, size_t len)
{
    struct store_entry e;
    memset(&e, 0, sizeof(e));
    e.state = c->state;
    e.orig_is_a = c->orig_is_a;
    e.orig_side = c->orig_side;
    e.rank = store_rank(c->key.proto, c->state);
    snprintf(e.owner, sizeof(e.owner), "%s", st->node);
    e.t_ms = clock_ms(CLOCK_REALTIME);
    return store_entry_format(&e, c->key.proto, buf, len);
}

/* The steering hash of a key (symmetric: the key's endpoint order does not matter). */
static uint32_t key_steer_hash(const struct flow_key *k)
{
    struct pkt_l4 t;
    memset(&t, 0, sizeof(t));
    t.family = k->family;
    t.proto = k->proto;
    memcpy(t.src, k->a, 16);
    memcpy(t.dst, k->b, 16);
    t.sport = k->pa;
    t.dport = k->pb;
    return flow_steer_hash(&t);
}

/* The lane of the writes of a connection whose steering hash is h, without group commit. */
static int lane_of(const struct store *st, uint32_t h)
{
    return st->nlanes > 1 ? (int)(h % (uint32_t)st->nlanes) : 0;
}

int store_pick_lane(const uint8_t *state, int n)
{
    static const int rank[] = {
        [STORE_LANE_OPEN] = 0,      /* joins a WAIT that leaves in this round */
        [STORE_LANE_IDLE] = 1,      /* its WAIT leaves at once */
        [STORE_LANE_PIPE_OPEN] = 2, /* joins a WAIT that leaves now, behind the one in flight */
        [STORE_LANE_PIPE] = 3,      /* its WAIT leaves now, behind the one in flight */
        [STORE_LANE_BUSY_OPEN] = 4, /* joins the batch that follows the WAITs in flight */
        [STORE_LANE_BUSY] = 5,      /* starts that batch */
    };
    int best = -1;
    for (int k = 1; k <= n; k++) {
        int i = k % n; /* lane 0 last: it also carries the lookups */
        if (state[i] == STORE_LANE_DOWN || state[i] > STORE_LANE_PIPE_OPEN)
            continue;
        if (best < 0 || rank[state[i]] < rank[state[best]])
            best = i;
    }
    return best;
}

/* Whether the write after which lane l's redis_ev_mark was mark is unanswered. */
static bool unanswered(const struct store *st, int l, uint64_t mark)
{
    return mark && l < st->nlanes && redis_ev_replied(st->lane[l].r) < mark;
}

/* The lane of a write of c (steering hash h): the lane packets of c wait on (they leave in order:
 * a lane passes its release points in order, two lanes might not), else the lane of c's previous
 * write while that is unanswered (a connection's writes stay in order), else the lane of the last
 * unanswered write of its key's pin slot (a key's writes stay in order across connection objects),
 * whatever the strategy (it may have just changed); else, sync strategy: the one that commits
 * soonest; async: by hash. */
static int write_lane(struct store *st, const struct conn *c, uint32_t h)
{
    if (st->nlanes <= 1)
        return 0;
    if (c->hold_need && store_pending(st, c->hold_need) &&
        (int)(c->hold_need & LANE_MASK) < st->nlanes)
        return (int)(c->hold_need & LANE_MASK);
    if (unanswered(st, c->store_lane, c->store_mark))
        return c->store_lane;
    /* a write of the same key by another connection object (the one before it on the same
     * addresses and ports, whose delete may still be queued), or of a key that shares the slot */
    const uint32_t slot = h % KEY_PINS;
    if (unanswered(st, st->pin[slot].lane, st->pin[slot].mark))
        return st->pin[slot].lane;
    if (st->cfg.strategy != SYNC_STRATEGY_SYNC)
        return lane_of(st, h);
    uint8_t state[STORE_LANES_MAX] = {0};
    for (int i = 0; i < st->nlanes; i++) {
        const struct lane *ln = &st->lane[i];
        if (!redis_ev_up(ln->r))
            state[i] = STORE_LANE_DOWN;
        else if (ln->ninflight >= st->cfg.pipeline)
            state[i] = ln->batch ? STORE_LANE_BUSY_OPEN : STORE_LANE_BUSY;
        else if (ln->ninflight)
            state[i] = ln->batch ? STORE_LANE_PIPE_OPEN : STORE_LANE_PIPE;
        else
            state[i] = ln->batch ? STORE_LANE_OPEN : STORE_LANE_IDLE;
    }
    int l = store_pick_lane(state, st->nlanes);
    return l >= 0 ? l : lane_of(st, h);
}

/* Where a command of a write goes: with its reply to fn (arg: rp when given, else the store), or,
 * quiet, into the lane's run of commands without replies, which its batch reads back. */
struct out {
    struct store *st;
    struct redis_ev *r;
    bool quiet;
};

static int out_cmd(const struct out *o, redis_ev_reply_fn fn, struct relpoint *rp, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc;
    if (o->quiet) {
        rc = redis_ev_vquiet(o->r, fmt, ap);
    } else if (rp) {
        rc = relpoint_vcmd(o->r, fn, rp, fmt, ap);
    } else {
        rc = redis_ev_vcmd(o->r, on_plain_reply, o->st, fmt, ap);
    }
    va_end(ap);
    return rc;
}

/* Adds the entry key (val; NULL: deleted) to what batch b reads back after its WAIT; a later
 * write of the same key in the batch replaces the earlier one's. */
static int batch_check(struct relpoint *b, const char *key, const char *val, uint8_t proto,
                       uint8_t rank, bool held)
{
    struct check *k = NULL;
    for (size_t i = 0; i < b->nchecks && !k; i++)
        if (strcmp(b->checks[i].key, key) == 0)
            k = &b->checks[i];
    if (!k) {
        if (b->nchecks == b->capchecks) {
            size_t cap = b->capchecks ? b->capchecks * 2 : 8;
            struct check *n = realloc(b->checks, cap * sizeof(*n));
            if (!n)
                return -1;
            b->checks = n;
            b->capchecks = cap;
        }
        k = &b->checks[b->nchecks++];
        snprintf(k->key, sizeof(k->key), "%s", key);
        k->held = false;
    }
    snprintf(k->val, sizeof(k->val), "%s", val ? val : "");
    k->proto = proto;
    k->rank = rank;
    k->held = k->held || held;
    return 0;
}

/* Sends the commands of plan p for c, whose steering hash is h, on lane l. rp: the release point
 * waiting on them (may be NULL). Returns 0, or -1 when nothing could be sent. In sync strategy
 * with dirty access, while the lane has an open batch, the commands go without replies and the
 * batch reads the entries back after its WAIT: the master answers the batch once, when the
 * replicas have acknowledged it, instead of answering the writes at once and the WAIT later
 * (a message to the worker ahead of the replicas' GETACK). A transaction cannot: the commands
 * queued in it answer QUEUED whatever CLIENT REPLY SKIP said. */
static int send_plan(struct store *st, int l, uint32_t h, const struct conn *c,
                     const struct store_plan *p, uint64_t ttl_ms, struct relpoint *rp,
                     bool exec_releases)
{
    char key[KEYS_MAX], idx[KEYS_MAX], val[STORE_VALUE_MAX], ttl[24], rank[8];
    if (store_conn_key(&c->key, key, sizeof(key)) < 0)
        return -1;
    uint32_t bucket = flow_bucket(h, st->cfg.buckets);
    keys_bucket(idx, sizeof(idx), bucket);
    struct lane *ln = &st->lane[l];
    struct relpoint *batch = st->cfg.strategy == SYNC_STRATEGY_SYNC && !p->multi &&
                                     st->cfg.access == SYNC_ACCESS_DIRTY && redis_ev_quiet_ok(ln->r)
                                 ? ln->batch
                                 : NULL;
    const struct out o = {st, ln->r, batch != NULL};
    int rc = 0;
    if (p->multi && out_cmd(&o, on_plain_reply, NULL, "MULTI") != 0)
        return -1;
    uint8_t rk = store_rank(c->key.proto, c->state);
    if (p->op == STORE_OP_PUT) {
        if (conn_value(st, c, val, sizeof(val)) < 0)
            return -1;
        snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(ttl_ms ? ttl_ms : 1));
        snprintf(rank, sizeof(rank), "%u", rk);
        /* the bucket index gets the key with the connection's first write; later writes (and
         * those of a worker that took the entry over) find it there */
        bool index = c->stored_state == 0;
        if (p->multi) {
            rc |= out_cmd(&o, on_plain_reply, NULL, "FCALL fw_put 2 %s %s %s %s %s %s", key, idx,
                          val, ttl, rank, index ? "1" : "0");
        } else {
            rc |= out_cmd(&o, on_write_reply, rp, "SET %s %s PX %s", key, val, ttl);
            if (index)
                rc |= out_cmd(&o, on_plain_reply, NULL, "SADD %s %s", idx, key);
        }
        st->stats->state_writes++;
    } else {
        rc |= out_cmd(&o, on_write_reply, p->multi ? NULL : rp, "DEL %s", key);
        rc |= out_cmd(&o, on_plain_reply, NULL, "SREM %s %s", idx, key);
        st->stats->state_deletes++;
    }
    if (p->multi)
        rc |= out_cmd(&o, exec_releases ? on_exec_release : on_write_reply, rp, "EXEC");
    if (batch && rc == 0 &&
        batch_check(batch, key, p->op == STORE_OP_PUT ? val : NULL, c->key.proto, rk,
                    rp == batch) != 0)
        rc = -1;
    st->pin[h % KEY_PINS].lane = (uint8_t)l;
    st->pin[h % KEY_PINS].mark = redis_ev_mark(ln->r);
    return rc ? -1 : 0;
}

/* Queues the MGET that reads batch rp's entries back (on_readback). Returns 0 or -1. */
static int readback(struct lane *ln, struct relpoint *rp)
{
    const char **argv = malloc((rp->nchecks + 1) * sizeof(*argv));
    if (!argv)
        return -1;
    argv[0] = "MGET";
    for (size_t i = 0; i < rp->nchecks; i++)
        argv[i + 1] = rp->checks[i].key;
    int rc = redis_ev_cmdv(ln->r, on_readback, rp, (int)rp->nchecks + 1, argv, NULL);
    free(argv);
    if (rc == 0)
        rp->refs++;
    return rc;
}

/* Sends the WAIT of the lane's open batch (the WAIT in flight, if any, is answered first), and
 * when its writes went without replies the MGET that reads their entries back, answered with it. */
static void lane_wait(struct store *st, struct lane *ln)
{
    int need = wait_replicas(st);
    struct relpoint *rp = ln->batch;
    ln->batch = NULL;
    int rc = relpoint_cmd(ln->r, on_wait, rp, "WAIT %d %ld", need, st->cfg.wait_timeout_ms);
    if (rc == 0 && rp->nchecks && readback(ln, rp) != 0) {
        rp->failed = true; /* unread: it fails with its WAIT's reply */
        rp->nchecks = 0;
    }
    if (rc != 0) {
        rp->failed = true;
        relpoint_complete(rp);
    } else {
        st->stats->waits++;
        if (ln->ninflight)
            st->stats->waits_queued++; /* it waits at the master behind the one in flight */
        const int cap = (int)(sizeof(ln->inflight) / sizeof(ln->inflight[0]));
        if (ln->ninflight == cap) {
            /* switches to async one after the other, each sending an open batch's WAIT: the
             * oldest is no longer tracked (its callback still completes it, in order) */
            memmove(&ln->inflight[0], &ln->inflight[1], (size_t)(cap - 1) * sizeof(rp));
            ln->ninflight--;
        }
        ln->inflight[ln->ninflight++] = rp;
        /* once the lane has all the WAITs in flight it may, the writes that come leave with
         * the next WAIT: the master applies them and asks the replicas for their
         * acknowledgement at once (one wakeup of each replica per batch, not one for the
         * writes and one for the WAIT) */
        if (ln->ninflight >= st->cfg.pipeline)
            redis_ev_cork(ln->r, true);
    }
}

/* Whether release point seq completed and failed (unknown when too old: taken as not failed). */
static bool relpoint_failed(struct store *st, uint64_t seq)
{
    return seq <= lane_of_seq(st, seq)->done && st->results[seq_slot(seq)] == (seq << 1 | 1u);
}

uint64_t store_sync(struct store *st, struct conn *c, uint64_t timeout_ns, uint64_t now_ns)
{
    const struct store_config *cfg = &st->cfg;
    /* fail-closed: a write whose release point failed counts as not made, so the connection's
     * next packet (a retransmission) writes again and waits again, or is dropped again */
    if (cfg->policy == SYNC_POLICY_CLOSED && c->hold_need && relpoint_failed(st, c->hold_need)) {
        c->stored_state = 0;
        c->hold_need = 0;
    }
    struct store_plan p =
        store_plan(cfg->level, cfg->strategy, cfg->access, c->key.proto, c->state, c->stored_state);
    uint64_t ttl_ms = timeout_ns / 1000000;
    if (p.op == STORE_OP_NONE) {
        /* a long-lived entry: refresh its TTL at most once per half its timeout, never held */
        if (c->stored_state && c->stored_state == c->state &&
            now_ns - c->stored_ns > timeout_ns / 2) {
            uint32_t h = key_steer_hash(&c->key);
            int lane = write_lane(st, c, h);
            /* in transaction access through fw_put as well: a refresh must not overwrite an
             * entry of a higher state that another worker wrote meanwhile */
            struct store_plan refresh = {STORE_OP_PUT, cfg->access == SYNC_ACCESS_TRANSACTION,
                                         false, false};
            if (lane_up(st, lane) &&
                send_plan(st, lane, h, c, &refresh, ttl_ms, NULL, false) == 0) {
                c->stored_ns = now_ns;
                c->store_lane = (uint8_t)lane;
                c->store_mark = redis_ev_mark(st->lane[lane].r);
                st->stats->ttl_refreshes++;
            }
        }
        return 0;
    }
    /* the steering hash only for a write: most packets change no state */
    uint32_t h = key_steer_hash(&c->key);
    int lane = write_lane(st, c, h);
    if (!lane_up(st, lane)) {
        if (p.op == STORE_OP_DEL) {
            st->stats->writes_lost++; /* the entry stays until its TTL */
            c->stored_state = 0;
            return 0;
        }
        st->stats->writes_deferred++; /* retried by the next packet or after the reconnect */
        if (cfg->policy == SYNC_POLICY_OPEN) {
            st->stats->policy_forwards++;
            return 0;
        }
        st->stats->policy_drops++;
        return STORE_DROP;
    }
    struct relpoint *rp = NULL;
    bool exec_releases = false;
    if (p.hold) {
        struct lane *ln = &st->lane[lane];
        if (p.wait) {
            if (!ln->batch && !(ln->batch = relpoint_new(st, lane)))
                return 0;
            rp = ln->batch;
        } else {
            /* after a switch from sync: no write may join a batch older than this point (its
             * packets would pass first), so the open batch's WAIT leaves now */
            if (ln->batch)
                lane_wait(st, ln);
            if (!(rp = relpoint_new(st, lane)))
                return 0;
            exec_releases = true;
        }
    }
    if (send_plan(st, lane, h, c, &p, ttl_ms, rp, exec_releases) != 0) {
        st->stats->redis_errors++;
        if (exec_releases) {
            rp->failed = true;
            relpoint_complete(rp);
            return cfg->policy == SYNC_POLICY_OPEN ? 0 : STORE_DROP;
        }
    }
    c->stored_state = p.op == STORE_OP_PUT ? c->state : 0;
    c->stored_ns = now_ns;
    c->store_lane = (uint8_t)lane;
    c->store_mark = redis_ev_mark(st->lane[lane].r);
    return rp ? rp->seq : 0;
}

void store_forget(struct store *st, const struct conn *c)
{
    if (!c->stored_state)
        return;
    uint32_t h = key_steer_hash(&c->key);
    int lane = write_lane(st, c, h);
    if (!lane_up(st, lane)) {
        st->stats->writes_lost++; /* the entry stays until its TTL */
        return;
    }
    struct store_plan p = {STORE_OP_DEL, st->cfg.access == SYNC_ACCESS_TRANSACTION, false, false};
    if (send_plan(st, lane, h, c, &p, 0, NULL, false) != 0)
        st->stats->redis_errors++;
}

bool store_pending(struct store *st, uint64_t need)
{
    return need > lane_of_seq(st, need)->done;
}

static struct held *held_new(int side, const uint8_t *frame, uint32_t len, uint64_t ts)
{
    struct held *h = malloc(sizeof(*h) + len);
    if (!h)
        return NULL;
    h->next = NULL;
    h->ts = ts;
    h->side = side;
    h->len = len;
    memcpy(h->frame, frame, len);
    return h;
}

void store_hold(struct store *st, uint64_t need, int side, const uint8_t *frame, uint32_t len,
                uint64_t ts)
{
    struct held *h = st->nheld < HELD_MAX ? held_new(side, frame, len, ts) : NULL;
    if (!h) {
        st->stats->held_overflow++;
        st->stats->pkts_drop++;
        return;
    }
    st->nheld++;
    struct lane *ln = lane_of_seq(st, need);
    struct relpoint *rp = NULL;
    if (need > ln->done) {
        rp = st->rps[seq_slot(need)];
        if (!rp || rp->seq != need) /* its slot reused: a long wait */
            for (rp = ln->first; rp && rp->seq != need; rp = rp->next)
                ;
    }
    if (!rp) { /* passed already: its packets are out, this one follows them */
        release_one(st, h, relpoint_failed(st, need), clock_ns(CLOCK_REALTIME));
        return;
    }
    if (rp->tail)
        rp->tail->next = h;
    else
        rp->head = h;
    rp->tail = h;
}

void store_flush(struct store *st)
{
    for (int i = 0; i < st->nlanes; i++)
        if (st->lane[i].batch && st->lane[i].ninflight < st->cfg.pipeline)
            lane_wait(st, &st->lane[i]); /* else it grows until the WAIT in flight returns */
}

/* ---- lookups ---- */

static struct lookup **lookup_slot(struct store *st, const struct flow_key *k, uint32_t hash,
                                   struct lookup **found)
{
    struct lookup **pp = &st->slots[hash & (LOOKUP_SLOTS - 1)];
    for (; *pp; pp = &(*pp)->next_slot) {
        if ((*pp)->hash == hash && flow_key_eq(&(*pp)->key, k)) {
            *found = *pp;
            return pp;
        }
    }
    *found = NULL;
    return pp;
}

static void lookup_unlink(struct store *st, struct lookup *l)
{
    struct lookup *f;
    struct lookup **pp = lookup_slot(st, &l->key, l->hash, &f);
    if (f == l)
        *pp = l->next_slot;
    if (l->prev)
        l->prev->next = l->next;
    else
        st->lk_old = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        st->lk_new = l->prev;
    st->nlookups--;
}

static void on_lookup(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct lookup *l = arg;
    struct store *st = l->st;
    struct store_entry e;
    const struct store_entry *found = NULL;
    enum redis_reply_type t = redis_reply_type(rr);
    size_t len;
    const char *s = redis_reply_str(rr, &len);
    lookup_unlink(st, l);
    switch (store_judge_lookup(t, s, len, l->key.proto, &e)) {
    case STORE_OK:
        found = &e;
        st->stats->store_found++;
        break;
    case STORE_ERROR:
        if (t == RR_STRING)
            st->stats->store_rejected++; /* a malformed or hostile entry is never trusted */
        else
            st->stats->redis_errors++;
        break;
    case STORE_LOST:
        st->stats->redis_errors++;
        break;
    default:
        break;
    }
    struct held *h = l->head;
    if (h)
        st->hooks.adopt(st->hooks.arg, &l->key, l->hash, found, h->side, h->frame, h->len, h->ts);
    while (h) {
        struct held *next = h->next;
        st->hooks.rerun(st->hooks.arg, h->side, h->frame, h->len, h->ts);
        free(h);
        h = next;
    }
    free(l);
    store_flush(st); /* the reruns may have written (the new owner): their batch's WAIT */
}

bool store_lookup(struct store *st, const struct flow_key *k, uint32_t hash, int side,
                  const uint8_t *frame, uint32_t len, uint64_t ts)
{
    if (st->cfg.level == SYNC_LEVEL_NONE || !lane_up(st, 0))
        return false;
    struct lookup *l;
    struct lookup **pp = lookup_slot(st, k, hash, &l);
    if (!l) {
        char key[KEYS_MAX];
        if (st->nlookups >= LOOKUPS_MAX || store_conn_key(k, key, sizeof(key)) < 0)
            return false;
        if (!(l = calloc(1, sizeof(*l))))
            return false;
        l->st = st;
        l->key = *k;
        l->hash = hash;
        l->started_ns = clock_ns(CLOCK_REALTIME);
        if (redis_ev_cmd(st->lane[0].r, on_lookup, l, "GET %s", key) != 0) {
            free(l);
            return false;
        }
        *pp = l;
        l->prev = st->lk_new;
        if (st->lk_new)
            st->lk_new->next = l;
        else
            st->lk_old = l;
        st->lk_new = l;
        st->nlookups++;
        st->stats->store_lookups++;
    }
    struct held *h = held_new(side, frame, len, ts);
    if (!h) {
        st->stats->held_overflow++;
        st->stats->pkts_drop++;
        return true;
    }
    if (l->tail)
        l->tail->next = h;
    else
        l->head = h;
    l->tail = h;
    return true;
}

/* ---- periodic work ---- */

static void on_role(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct store *st = arg;
    if (redis_reply_type(rr) != RR_ARRAY)
        return;
    const struct redis_reply *reps = redis_reply_elem(rr, 2);
    if (strcmp(redis_reply_str(redis_reply_elem(rr, 0), NULL), "master") == 0 && reps)
        st->replicas_seen = (int)redis_reply_count(reps);
}

void store_tick(struct store *st, uint64_t now_ns)
{
    (void)now_ns;
    uint64_t now = clock_ns(CLOCK_REALTIME);
    for (int i = 0; i < st->nlanes; i++) {
        struct lane *ln = &st->lane[i];
        if (!redis_ev_up(ln->r))
            continue;
        uint64_t oldest = 0; /* of the held packets: each point's first is its oldest */
        for (const struct relpoint *rp = ln->first; rp; rp = rp->next)
            if (rp->head && (!oldest || rp->head->ts < oldest))
                oldest = rp->head->ts;
        if (i == 0 && st->lk_old && (!oldest || st->lk_old->started_ns < oldest))
            oldest = st->lk_old->started_ns;
        if (oldest && now > oldest && now - oldest > st->cfg.to_hold_ns) {
            /* the master stopped answering: every pending reply completes as lost */
            st->stats->redis_timeouts++;
            redis_ev_drop(ln->r, "no reply within the hold limit");
        }
    }
    if (st->cfg.replicas < 0 && lane_up(st, 0))
        redis_ev_cmd(st->lane[0].r, on_role, st, "ROLE");
}

void store_publish_stats(struct store *st, const struct fw_stats *s, uint64_t now_ns)
{
    (void)now_ns;
    if (!lane_up(st, 0))
        return;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    stats_write(s, f);
    uint64_t t = clock_ms(CLOCK_REALTIME);
    double dt = st->prev_ms && t > st->prev_ms ? (double)(t - st->prev_ms) / 1000.0 : 0;
    fprintf(f, "pps_in %.0f\npps_fwd %.0f\n", dt > 0 ? (double)(s->pkts_in - st->prev_in) / dt : 0,
            dt > 0 ? (double)(s->pkts_fwd - st->prev_fwd) / dt : 0);
    st->prev_in = s->pkts_in;
    st->prev_fwd = s->pkts_fwd;
    st->prev_ms = t;
    fprintf(f, "node %s\nlevel %s\nreplicas_seen %d\nts_ms %llu\n", st->node,
            st->cfg.level == SYNC_LEVEL_FULL          ? "full"
            : st->cfg.level == SYNC_LEVEL_ESTABLISHED ? "established"
                                                      : "none",
            st->replicas_seen, (unsigned long long)t);
    fclose(f);
    enum { MAXF = 256 };
    const char *argv[2 + 2 * MAXF];
    char key[KEYS_MAX];
    keys_stats(key, sizeof(key), st->node);
    int argc = 0;
    argv[argc++] = "HSET";
    argv[argc++] = key;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && argc < 2 + 2 * MAXF;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        argv[argc++] = line;
        argv[argc++] = sp + 1;
    }
    redis_ev_cmdv(st->lane[0].r, on_plain_reply, st, argc, argv, NULL);
    free(buf);
}

void store_on_redis_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    struct store *st = arg;
    int l = 0;
    while (l < st->nlanes && st->lane[l].r != r)
        l++;
    if (l == st->nlanes)
        return; /* not attached yet: it reports again when it is */
    struct lane *ln = &st->lane[l];
    if (up) {
        unsigned long n = 0;
        for (int i = 0; i < st->nlanes; i++)
            n += redis_ev_reconnects(st->lane[i].r);
        st->stats->redis_reconnects = n;
        /* on every lane, so that it precedes the lane's own FCALLs */
        if (st->cfg.access == SYNC_ACCESS_TRANSACTION && st->cfg.level != SYNC_LEVEL_NONE)
            redis_ev_cmd(r, on_function_load, st, "FUNCTION LOAD REPLACE %s",
                         store_function_source);
        if (l == 0)
            redis_ev_cmd(r, on_role, st, "ROLE");
        if (!redis_ev_quiet_ok(r) && st->hooks.state) {
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "%s refuses CLIENT REPLY: synchronous dirty writes go with their replies "
                     "(slower; see redis/users.acl.in)",
                     redis_ev_addr(r));
            st->hooks.state(st->hooks.arg, true, msg);
        }
    } else {
        /* the WAIT in flight gets no answer; the open batch's can no longer be sent: their
         * packets follow the policy, in order */
        for (int i = 0; i < ln->ninflight; i++) {
            ln->inflight[i]->failed = true;
            relpoint_complete(ln->inflight[i]); /* freed by its WAIT's callback */
        }
        ln->ninflight = 0;
        struct relpoint *rp;
        if ((rp = ln->batch)) {
            ln->batch = NULL;
            rp->failed = true;
            relpoint_complete(rp);
        }
    }
    /* the hook hears of the store as a whole: up when every lane is (then the pipeline writes
     * again what was deferred), down when the first one goes */
    bool all = store_up(st);
    if (st->hooks.state && all != st->all_up)
        st->hooks.state(st->hooks.arg, all, why);
    st->all_up = all;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->nlanes; i++) {
        /* pending callbacks complete: held packets are released or dropped */
        redis_ev_free(st->lane[i].r);
        st->lane[i].r = NULL;
    }
    /* every callback ran: what is left is not referred to (an unsent batch, points behind it) */
    for (int i = 0; i < st->nlanes; i++) {
        struct lane *ln = &st->lane[i];
        ln->batch = NULL;
        ln->ninflight = 0;
        while (ln->first) {
            struct relpoint *rp = ln->first;
            ln->first = rp->next;
            while (rp->head) {
                struct held *h = rp->head;
                rp->head = h->next;
                free(h);
            }
            relpoint_free(rp);
        }
        ln->last = NULL;
    }
    free(st);
}
