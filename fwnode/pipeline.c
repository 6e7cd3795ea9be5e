/* pipeline.c: the per-frame path of the worker, from a captured frame to a forwarded packet. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

#define NS_PER_S 1000000000ull

/* Parses "xx:xx:xx:xx:xx:xx"; the settings validator already checked the text. */
static void parse_mac(const char *s, uint8_t mac[6])
{
    unsigned m[6] = {0};
    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)m[i];
}

int pipeline_init(struct pipeline *pl, const struct fwnode_settings *set, struct forward *fwd,
                  char *err, size_t errlen)
{
    memset(pl, 0, sizeof(*pl));
    pl->fwd = fwd;
    for (int s = 0; s < 2; s++) {
        parse_mac(set->side[s].vmac, pl->vmac[s]);
        memcpy(pl->own_mac[s], pl->vmac[s], 6);
        pl->own_mac[s][0] ^= 0x80; /* offline default; live mode sets the interface's MAC */
        if (inet_pton(AF_INET, set->side[s].vip, pl->vip[s]) != 1 ||
            inet_pton(AF_INET6, set->side[s].vip6, pl->vip6[s]) != 1) {
            snprintf(err, errlen, "side %c: bad virtual gateway address", 'a' + s);
            return -1;
        }
    }
    if (memcmp(pl->vmac[0], pl->vmac[1], 6) == 0) {
        snprintf(err, errlen, "side a and side b need different virtual MACs");
        return -1;
    }
    pl->to_tcp[TCP_ST_NONE] = 10 * NS_PER_S;
    pl->to_tcp[TCP_ST_SYN_SENT] = (uint64_t)set->to_syn_sent * NS_PER_S;
    pl->to_tcp[TCP_ST_SYN_RECV] = (uint64_t)set->to_syn_recv * NS_PER_S;
    pl->to_tcp[TCP_ST_ESTABLISHED] = (uint64_t)set->to_established * NS_PER_S;
    pl->to_tcp[TCP_ST_FIN_WAIT] = (uint64_t)set->to_fin_wait * NS_PER_S;
    pl->to_tcp[TCP_ST_CLOSE_WAIT] = (uint64_t)set->to_close_wait * NS_PER_S;
    pl->to_tcp[TCP_ST_LAST_ACK] = (uint64_t)set->to_last_ack * NS_PER_S;
    pl->to_tcp[TCP_ST_TIME_WAIT] = (uint64_t)set->to_time_wait * NS_PER_S;
    pl->to_tcp[TCP_ST_CLOSE] = (uint64_t)set->to_close * NS_PER_S;
    pl->to_udp = (uint64_t)set->to_udp * NS_PER_S;
    pl->to_udp_stream = (uint64_t)set->to_udp_stream * NS_PER_S;
    pl->to_icmp = (uint64_t)set->to_icmp * NS_PER_S;
    pl->loose = set->tcp_loose;
    pl->pickup_ns = (uint64_t)set->takeover_pickup_ms * 1000000ull;
    pl->checksum = set->checksum;
    if (pipeline_set_rules(pl, &set->rules, err, errlen) != 0)
        return -1;
    pl->rl = malloc(sizeof(*pl->rl));
    if (pl->rl)
        ratelimit_init(pl->rl, (uint32_t)set->rate_per_source, (uint32_t)set->rate_burst);
    pl->ct = pl->rl ? conntable_new((uint32_t)set->conn_max) : NULL;
    if (!pl->ct) {
        free(pl->rl);
        pl->rl = NULL;
        snprintf(err, errlen, "out of memory for %ld connections", set->conn_max);
        classify_free(pl->cls);
        pl->cls = NULL;
        return -1;
    }
    return 0;
}

void pipeline_free(struct pipeline *pl)
{
    free(pl->taken_ns);
    pl->taken_ns = NULL;
    pl->taken_n = 0;
    free(pl->rl);
    pl->rl = NULL;
    classify_free(pl->cls);
    conntable_free(pl->ct);
    pl->cls = NULL;
    pl->ct = NULL;
}

int pipeline_set_rules(struct pipeline *pl, const struct ruleset *rules, char *err, size_t errlen)
{
    struct classifier *c = classify_compile(rules->rules, rules->n, err, errlen);
    if (!c)
        return -1;
    classify_free(pl->cls);
    pl->cls = c;
    return 0;
}

void pipeline_expire(struct pipeline *pl, uint64_t now_ns, size_t budget)
{
    pl->stats.conns_expired += conntable_expire(pl->ct, now_ns, budget);
    pl->stats.conns_active = conntable_count(pl->ct);
}

/* Counts a drop. */
static inline void drop(struct pipeline *pl, enum stat_drop why)
{
    pl->stats.drop[why]++;
    pl->stats.pkts_drop++;
}

/* Answers ARP requests and neighbour solicitations for the virtual gateway of side.
 * Returns true when the frame was gateway business (answered or not). */
static bool gateway_reply(struct pipeline *pl, int side, const struct pkt *p, uint64_t ts)
{
    uint8_t buf[128];
    size_t n;
    if (p->ethertype == PKT_ETH_ARP) {
        if (p->arp_op != 1 || memcmp(p->arp_tpa, pl->vip[side], 4) != 0)
            return true;
        n = forward_build_arp_reply(buf, p, pl->vmac[side], pl->own_mac[side]);
        pl->stats.arp_replies++;
    } else if (p->is_nd) {
        if (p->icmp_type != 135 || memcmp(p->nd_target, pl->vip6[side], 16) != 0)
            return true;
        n = forward_build_nd_advert(buf, p, pl->vip6[side], pl->vmac[side], pl->own_mac[side]);
        pl->stats.nd_replies++;
    } else {
        return false;
    }
    forward_frame(pl->fwd, side, buf, n, ts, pl->err, sizeof(pl->err));
    return true;
}

/* Finds the side of a frame in offline mode: the virtual MAC it is sent to, or for ARP / ND the
 * gateway address it asks for. */
static int infer_side(const struct pipeline *pl, const struct pkt *p, bool *to_vmac)
{
    for (int s = 0; s < 2; s++) {
        if ((*to_vmac = memcmp(p->eth_dst, pl->vmac[s], 6) == 0))
            return s;
        if (p->ethertype == PKT_ETH_ARP && memcmp(p->arp_tpa, pl->vip[s], 4) == 0)
            return s;
        if (p->is_nd && memcmp(p->nd_target, pl->vip6[s], 16) == 0)
            return s;
    }
    return SIDE_UNKNOWN;
}

/* The timeout of a connection in its current state. */
static uint64_t conn_timeout(const struct pipeline *pl, const struct conn *c)
{
    switch (c->key.proto) {
    case PKT_IPPROTO_TCP:
        return pl->to_tcp[c->state < TCP_ST_MAX ? c->state : TCP_ST_CLOSE];
    case PKT_IPPROTO_UDP:
        return c->state == CONN_REPLIED ? pl->to_udp_stream : pl->to_udp;
    default:
        return pl->to_icmp;
    }
}

static struct tcp_seg tcp_seg_of(const struct pkt *p)
{
    struct tcp_seg s = {
        .flags = p->tcp_flags,
        .seq = p->seq,
        .ack = p->ack,
        .len = p->payload_len,
        .win = p->win,
        .wscale = p->wscale,
        .sack_perm = p->sack_perm,
    };
    return s;
}

/* Adds an entry for k (the caller fills it). At the maximum it first makes room the way Linux
 * conntrack's early drop does: the oldest entry not yet established near k's hash slot is
 * removed (and its stored entry deleted), counted as conns_early_drop. NULL when there is no
 * room (the caller counts the drop). */
static struct conn *table_insert(struct pipeline *pl, const struct flow_key *k, uint32_t h,
                                 uint64_t ts)
{
    struct conn *victim = conntable_early_drop(pl->ct, h, ts, &pl->stats.conns_expired);
    if (victim) {
        if (pl->store)
            store_forget(pl->store, victim);
        conntable_remove(pl->ct, victim);
        pl->stats.conns_early_drop++;
    }
    return conntable_insert(pl->ct, k, h);
}

/* Creates the connection for the first packet of a flow, if the rules allow it. Returns the new
 * entry, or NULL when the packet was dropped (and counted). */
bool pipeline_takeover_pickup(int level, bool looked_up, uint64_t taken_ns, uint64_t now_ns,
                              uint64_t pickup_ns)
{
    return level == SYNC_LEVEL_ESTABLISHED && looked_up && taken_ns && now_ns >= taken_ns &&
           now_ns - taken_ns < pickup_ns;
}

void pipeline_taken_over(struct pipeline *pl, const uint8_t *gained, uint32_t nbuckets,
                         uint64_t now_ns)
{
    if (pl->taken_n != nbuckets) {
        uint64_t *t = calloc(nbuckets, sizeof(*t));
        if (!t)
            return; /* no pickup: the strict behaviour */
        free(pl->taken_ns);
        pl->taken_ns = t;
        pl->taken_n = nbuckets;
    }
    for (uint32_t b = 0; b < nbuckets; b++)
        if (gained[b])
            pl->taken_ns[b] = now_ns;
}

static struct conn *conn_create(struct pipeline *pl, int side, const struct pkt *p,
                                const struct flow_key *k, uint32_t h, bool src_is_a, uint64_t ts,
                                bool loose)
{
    struct tcp_track tr;
    uint8_t state;
    int action;
    int icmp_type = -1;

    if (p->l4.proto == PKT_IPPROTO_ICMP || p->l4.proto == PKT_IPPROTO_ICMPV6) {
        /* only an echo request opens an ICMP flow */
        if (!(p->icmp_type == 8 && p->l4.proto == PKT_IPPROTO_ICMP) &&
            !(p->icmp_type == 128 && p->l4.proto == PKT_IPPROTO_ICMPV6)) {
            drop(pl, DROP_NO_CONN);
            return NULL;
        }
        icmp_type = p->icmp_type;
    }
    classify_match(pl->cls, &p->l4, side == SIDE_A ? RULE_SIDE_A : RULE_SIDE_B, icmp_type, &action);
    if (action != RULE_ALLOW) {
        drop(pl, DROP_RULE);
        return NULL;
    }
    if (!ratelimit_take(pl->rl, p->l4.family, p->l4.src, ts)) {
        drop(pl, DROP_RATE);
        return NULL;
    }
    if (p->l4.proto == PKT_IPPROTO_TCP) {
        struct tcp_seg s = tcp_seg_of(p);
        enum tcp_verdict v = tcp_state_new(&tr, &s, pl->loose || loose);
        if (v != TCP_OK) {
            pl->stats.drop_tcp[v]++;
            pl->stats.pkts_drop++;
            return NULL;
        }
        state = tr.state;
    } else {
        state = CONN_NEW;
    }
    struct conn *c = table_insert(pl, k, h, ts);
    if (!c) {
        drop(pl, DROP_TABLE_FULL);
        return NULL;
    }
    c->orig_is_a = src_is_a;
    c->orig_side = (uint8_t)side;
    c->state = state;
    if (p->l4.proto == PKT_IPPROTO_TCP)
        c->tcp = tr;
    c->first_ns = ts;
    c->expires_ns = ts + conn_timeout(pl, c);
    pl->stats.conns_new++;
    pl->stats.conns_active = conntable_count(pl->ct);
    return c;
}

/* Starts tracking a TCP connection taken over from the store, from its first packet seen here
 * (in direction dir): the stored state, the window learned from the packet as in a mid-stream
 * pickup. A SYN+ACK of a stored SYN_SENT stands for the originator's SYN it acknowledges. */
static enum tcp_verdict tcp_adopt(struct tcp_track *t, uint8_t st, int dir, const struct tcp_seg *s)
{
    if ((s->flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK) && dir == TCP_DIR_REPLY) {
        struct tcp_seg syn = {.flags = TCPF_SYN,
                              .seq = s->ack - 1,
                              .win = s->win,
                              .wscale = s->wscale,
                              .sack_perm = s->sack_perm};
        return tcp_state_new(t, &syn, false);
    }
    enum tcp_verdict v = tcp_state_new(t, s, true);
    if (v != TCP_OK)
        return v;
    if (dir == TCP_DIR_REPLY) {
        struct tcp_peer tmp = t->peer[0];
        t->peer[0] = t->peer[1];
        t->peer[1] = tmp;
        t->last_dir = TCP_DIR_REPLY;
    }
    if (t->state != TCP_ST_SYN_SENT && st > t->state && !store_final(PKT_IPPROTO_TCP, st))
        t->state = st;
    if (t->state != TCP_ST_SYN_SENT)
        t->loose = TCP_LOOSE_ADOPTED; /* learned from any packet, maybe a stale one */
    return TCP_OK;
}

/* Advances a known connection with a packet in direction dir. Returns false when the packet must
 * be dropped (counted). */
static bool conn_update(struct pipeline *pl, struct conn *c, int dir, const struct pkt *p,
                        uint64_t ts)
{
    if (c->key.proto == PKT_IPPROTO_TCP) {
        struct tcp_seg s = tcp_seg_of(p);
        if (c->needs_adopt) {
            enum tcp_verdict av = tcp_adopt(&c->tcp, c->state, dir, &s);
            if (av != TCP_OK) {
                pl->stats.drop_tcp[av]++;
                pl->stats.pkts_drop++;
                return false;
            }
            c->needs_adopt = 0;
            c->state = c->tcp.state;
        }
        uint8_t before = c->state;
        enum tcp_verdict v = tcp_state_update(&c->tcp, dir, &s);
        if (v != TCP_OK) {
            pl->stats.drop_tcp[v]++;
            pl->stats.pkts_drop++;
            return false;
        }
        c->state = c->tcp.state;
        if (c->state == TCP_ST_SYN_SENT && before != TCP_ST_SYN_SENT) {
            c->first_ns = ts; /* reopened */
            c->setup_done = 0;
        }
        if (before == TCP_ST_SYN_RECV && c->state == TCP_ST_ESTABLISHED && !c->setup_done &&
            dir == TCP_DIR_ORIG) {
            c->setup_done = 1;
            hist_add(&pl->stats.setup, ts - c->first_ns);
        }
    } else if (dir == TCP_DIR_REPLY) {
        c->state = CONN_REPLIED;
    }
    c->pkts[dir]++;
    c->expires_ns = ts + conn_timeout(pl, c);
    return true;
}

/* Decrements the TTL / hop limit in a copy of the start of the IP header and sends the packet out
 * of side out. */
static void forward_packet(struct pipeline *pl, int out, const struct pkt *p, uint64_t ts)
{
    uint8_t hdr[12];
    size_t n;
    const uint8_t *ip = p->frame + p->l3_off;
    if (p->l4.family == 4) {
        /* RFC 1624 incremental update of the header checksum for the TTL's word; one's
         * complement sums come out the same in either byte order, so native loads do */
        uint16_t old, sum16, now;
        n = 12;
        memcpy(hdr, ip, n);
        hdr[8]--;
        memcpy(&old, ip + 8, 2);
        memcpy(&now, hdr + 8, 2);
        memcpy(&sum16, ip + 10, 2);
        uint32_t sum = (uint32_t)(uint16_t)~sum16 + (uint16_t)~old + now;
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        sum16 = (uint16_t)~sum;
        memcpy(hdr + 10, &sum16, 2);
    } else {
        n = 8;
        memcpy(hdr, ip, n);
        hdr[7]--;
    }
    if (forward_ip(pl->fwd, out, p, hdr, n, ts, pl->err, sizeof(pl->err)) != 0) {
        drop(pl, DROP_EGRESS);
        return;
    }
    pl->stats.pkts_fwd++;
}

unsigned pipeline_flush(struct pipeline *pl)
{
    unsigned failed = forward_flush(pl->fwd, pl->err, sizeof(pl->err));
    if (failed) { /* counted as forwarded when queued */
        pl->stats.pkts_fwd -= failed < pl->stats.pkts_fwd ? failed : pl->stats.pkts_fwd;
        pl->stats.drop[DROP_EGRESS] += failed;
        pl->stats.pkts_drop += failed;
    }
    return failed;
}

enum pipeline_miss pipeline_on_miss(uint8_t proto, uint8_t tcp_flags, bool have_store,
                                    bool looked_up, size_t count, uint32_t max)
{
    if (proto == PKT_IPPROTO_TCP && (tcp_flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN)
        return MISS_CREATE;
    if (!have_store || looked_up)
        return MISS_CREATE;
    return count >= max ? MISS_FULL : MISS_LOOKUP;
}

/* The per-frame path. looked_up: the store was already asked about this frame's flow. */
static void frame_run(struct pipeline *pl, int side, const uint8_t *frame, uint32_t len,
                      uint64_t ts, bool looked_up)
{
    struct pkt p;
    enum pkt_drop pd = pkt_parse(frame, len, &p);
    if (pd != PKT_OK) {
        pl->stats.drop_parse[pd]++;
        pl->stats.pkts_drop++;
        return;
    }
    bool to_vmac;
    if (side == SIDE_UNKNOWN) {
        if ((side = infer_side(pl, &p, &to_vmac)) == SIDE_UNKNOWN) {
            pl->stats.pkts_local++; /* not for the gateway */
            return;
        }
    } else {
        to_vmac = memcmp(p.eth_dst, pl->vmac[side], 6) == 0;
    }
    if (gateway_reply(pl, side, &p, ts)) {
        pl->stats.pkts_local++;
        return;
    }
    if (!to_vmac) {
        pl->stats.pkts_local++; /* multicast and the like that the filter let through */
        return;
    }
    if ((p.l4.family == 4 && memcmp(p.l4.dst, pl->vip[side], 4) == 0) ||
        (p.l4.family == 6 && memcmp(p.l4.dst, pl->vip6[side], 16) == 0)) {
        drop(pl, DROP_TO_GATEWAY);
        return;
    }
    if (p.ttl <= 1) {
        drop(pl, DROP_TTL);
        return;
    }
    if (pl->checksum && !pkt_l4_csum_ok(&p)) {
        drop(pl, DROP_CSUM);
        return;
    }
    struct flow_key k;
    bool src_is_a;
    if (flow_key_from_pkt(&p, &k, &src_is_a) != 0) {
        drop(pl, DROP_NO_FLOW);
        return;
    }
    if (pl->owned && !pl->owned[flow_bucket(flow_steer_hash(&p.l4), pl->nbuckets)]) {
        drop(pl, DROP_NOT_OWNED);
        return;
    }
    uint32_t h = flow_key_hash(&k);
    struct conn *c = conntable_find(pl->ct, &k, h, ts, &pl->stats.conns_expired);
    if (p.icmp_is_error) {
        /* errors travel toward the quoted packet's sender; they never change state */
        if (!c) {
            drop(pl, DROP_ICMP_UNRELATED);
            return;
        }
        forward_packet(pl, 1 - side, &p, ts);
        return;
    }
    if (!c) {
        /* A flow this worker does not know may be one it just took over: its state is read from
         * the store first (pipeline_on_miss says when not). */
        switch (pipeline_on_miss(p.l4.proto, p.tcp_flags, pl->store != NULL, looked_up,
                                 conntable_count(pl->ct), conntable_max(pl->ct))) {
        case MISS_FULL:
            drop(pl, DROP_TABLE_FULL);
            return;
        case MISS_LOOKUP:
            if (store_lookup(pl->store, &k, h, side, frame, len, ts))
                return;
            break;
        case MISS_CREATE:
            break;
        }
        bool pickup =
            looked_up && pl->store && pl->taken_n &&
            pipeline_takeover_pickup(store_mode(pl->store)->level, looked_up,
                                     pl->taken_ns[flow_bucket(flow_steer_hash(&p.l4), pl->taken_n)],
                                     ts, pl->pickup_ns);
        if (!(c = conn_create(pl, side, &p, &k, h, src_is_a, ts, pickup)))
            return;
        if (pickup && c->key.proto == PKT_IPPROTO_TCP && c->tcp.loose == TCP_LOOSE_PICKUP)
            pl->stats.conns_pickup++;
    } else {
        int dir = src_is_a == (bool)c->orig_is_a ? TCP_DIR_ORIG : TCP_DIR_REPLY;
        if ((dir == TCP_DIR_ORIG) != (side == c->orig_side)) {
            drop(pl, DROP_WRONG_SIDE);
            return;
        }
        if (!conn_update(pl, c, dir, &p, ts))
            return;
    }
    if (pl->store) {
        /* a priori: the state change is written before the packet that caused it leaves */
        uint64_t need = store_sync(pl->store, c, conn_timeout(pl, c), ts);
        if (need == STORE_DROP) {
            pl->stats.pkts_drop++;
            return;
        }
        if (need)
            c->hold_need = need;
        if (store_pending(pl->store, c->hold_need)) {
            store_hold(pl->store, c->hold_need, side, frame, len, ts);
            return;
        }
    }
    forward_packet(pl, 1 - side, &p, ts);
}

void pipeline_frame(struct pipeline *pl, int side, const uint8_t *frame, uint32_t len, uint64_t ts)
{
    pl->stats.pkts_in++;
    frame_run(pl, side, frame, len, ts, false);
}

/* ---- the store's hooks ---- */

/* A held packet may leave, or the fail-closed policy drops it. */
static void hook_release(void *arg, int side, const uint8_t *frame, uint32_t len, uint64_t ts,
                         bool fwd)
{
    struct pipeline *pl = arg;
    struct pkt p;
    if (!fwd || pkt_parse(frame, len, &p) != PKT_OK) {
        pl->stats.pkts_drop++;
        return;
    }
    forward_packet(pl, 1 - side, &p, ts);
}

/* A lookup finished: a valid stored entry becomes a local connection. */
static void hook_adopt(void *arg, const struct flow_key *k, uint32_t hash,
                       const struct store_entry *e, int side, const uint8_t *frame, uint32_t len,
                       uint64_t ts)
{
    struct pipeline *pl = arg;
    struct pkt p;
    struct flow_key pk;
    bool src_is_a;
    if (!e || pkt_parse(frame, len, &p) != PKT_OK || flow_key_from_pkt(&p, &pk, &src_is_a) != 0 ||
        !flow_key_eq(&pk, k) || conntable_find(pl->ct, k, hash, ts, NULL))
        return;
    int dir = src_is_a == (bool)e->orig_is_a ? TCP_DIR_ORIG : TCP_DIR_REPLY;
    if ((dir == TCP_DIR_ORIG) != (side == e->orig_side))
        return; /* arrived on the wrong side for the stored connection: not adopted */
    struct tcp_track tr;
    memset(&tr, 0, sizeof(tr));
    if (k->proto == PKT_IPPROTO_TCP) {
        struct tcp_seg s = tcp_seg_of(&p);
        if (tcp_adopt(&tr, e->state, dir, &s) != TCP_OK)
            return; /* the packet cannot belong to it: it is judged as new */
    }
    struct conn *c = table_insert(pl, k, hash, ts);
    if (!c) {
        pl->stats.drop[DROP_TABLE_FULL]++;
        return;
    }
    c->orig_is_a = e->orig_is_a;
    c->orig_side = e->orig_side;
    c->tcp = tr;
    c->state = k->proto == PKT_IPPROTO_TCP ? tr.state : e->state;
    c->setup_done = 1; /* set up elsewhere: no setup time here */
    c->first_ns = ts;
    c->stored_state = 0; /* rewritten with this worker as the owner */
    c->expires_ns = ts + conn_timeout(pl, c);
    pl->stats.conns_adopted++;
    pl->stats.conns_active = conntable_count(pl->ct);
}

static void hook_rerun(void *arg, int side, const uint8_t *frame, uint32_t len, uint64_t ts)
{
    frame_run(arg, side, frame, len, ts, true);
}

struct resync {
    struct pipeline *pl;
    uint64_t now_ns;
};

static void resync_one(struct conn *c, void *arg)
{
    struct resync *rs = arg;
    c->stored_state = 0;
    store_sync(rs->pl->store, c, conn_timeout(rs->pl, c), rs->now_ns);
}

void pipeline_resync(struct pipeline *pl, uint64_t now_ns)
{
    if (!pl->store || !store_up(pl->store))
        return;
    struct resync rs = {pl, now_ns};
    conntable_foreach(pl->ct, resync_one, &rs);
    store_flush(pl->store);
}

void pipeline_set_owned(struct pipeline *pl, const uint8_t *owned, uint32_t nbuckets)
{
    pl->owned = owned;
    pl->nbuckets = nbuckets;
}

int pipeline_preload(struct pipeline *pl, const char *key, size_t klen, const char *val,
                     size_t vlen, uint64_t now_ns)
{
    struct flow_key k;
    struct store_entry e;
    char err[128];
    if (store_conn_key_parse(key, klen, &k) != 0 ||
        store_entry_parse(val, vlen, k.proto, &e, err, sizeof(err)) != 0) {
        pl->stats.store_rejected++;
        return -1;
    }
    uint32_t h = flow_key_hash(&k);
    if (conntable_find(pl->ct, &k, h, now_ns, NULL))
        return -1;
    struct conn *c = table_insert(pl, &k, h, now_ns);
    if (!c) {
        pl->stats.drop[DROP_TABLE_FULL]++;
        return -1;
    }
    c->orig_is_a = e.orig_is_a;
    c->orig_side = e.orig_side;
    c->state = e.state;
    c->needs_adopt = k.proto == PKT_IPPROTO_TCP;
    c->setup_done = 1;
    c->first_ns = now_ns;
    c->expires_ns = now_ns + conn_timeout(pl, c);
    pl->stats.conns_adopted++;
    pl->stats.conns_active = conntable_count(pl->ct);
    return 0;
}

struct store_hooks pipeline_store_hooks(struct pipeline *pl)
{
    struct store_hooks h = {pl, hook_release, hook_adopt, hook_rerun, NULL};
    return h;
}

void pipeline_set_store(struct pipeline *pl, struct store *st)
{
    pl->store = st;
}
