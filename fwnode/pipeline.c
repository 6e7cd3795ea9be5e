/* pipeline.c: the per-frame path of the worker, from a captured frame to a forwarded packet. */
#include <arpa/inet.h>
#include <stdio.h>
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
    pl->checksum = set->checksum;
    if (pipeline_set_rules(pl, &set->rules, err, errlen) != 0)
        return -1;
    pl->ct = conntable_new((uint32_t)set->conn_max);
    if (!pl->ct) {
        snprintf(err, errlen, "out of memory for %ld connections", set->conn_max);
        classify_free(pl->cls);
        pl->cls = NULL;
        return -1;
    }
    return 0;
}

void pipeline_free(struct pipeline *pl)
{
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
static int infer_side(const struct pipeline *pl, const struct pkt *p)
{
    for (int s = 0; s < 2; s++) {
        if (memcmp(p->eth_dst, pl->vmac[s], 6) == 0)
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

/* Creates the connection for the first packet of a flow, if the rules allow it. Returns the new
 * entry, or NULL when the packet was dropped (and counted). */
static struct conn *conn_create(struct pipeline *pl, int side, const struct pkt *p,
                                const struct flow_key *k, uint32_t h, bool src_is_a, uint64_t ts)
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
    classify_match(pl->cls, &p->l4, side == SIDE_A ? RULE_SIDE_A : RULE_SIDE_B, icmp_type,
                   &action);
    if (action != RULE_ALLOW) {
        drop(pl, DROP_RULE);
        return NULL;
    }
    if (p->l4.proto == PKT_IPPROTO_TCP) {
        struct tcp_seg s = tcp_seg_of(p);
        enum tcp_verdict v = tcp_state_new(&tr, &s, pl->loose);
        if (v != TCP_OK) {
            pl->stats.drop_tcp[v]++;
            pl->stats.pkts_drop++;
            return NULL;
        }
        state = tr.state;
    } else {
        state = CONN_NEW;
    }
    struct conn *c = conntable_insert(pl->ct, k, h);
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

/* Advances a known connection with a packet in direction dir. Returns false when the packet must
 * be dropped (counted). */
static bool conn_update(struct pipeline *pl, struct conn *c, int dir, const struct pkt *p,
                        uint64_t ts)
{
    if (c->key.proto == PKT_IPPROTO_TCP) {
        struct tcp_seg s = tcp_seg_of(p);
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
        if (!c->setup_done && before == TCP_ST_SYN_RECV && c->state == TCP_ST_ESTABLISHED &&
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
        n = 12;
        memcpy(hdr, ip, n);
        hdr[8]--;
        /* RFC 1624 incremental checksum update: the TTL is the high byte of word 4 */
        uint32_t sum = (uint32_t)(uint16_t) ~((hdr[10] << 8) | hdr[11]);
        sum += (uint16_t) ~((uint16_t)((ip[8] << 8) | ip[9]));
        sum += (uint16_t)((hdr[8] << 8) | hdr[9]);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        uint16_t c = (uint16_t)~sum;
        hdr[10] = (uint8_t)(c >> 8);
        hdr[11] = (uint8_t)c;
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

void pipeline_frame(struct pipeline *pl, int side, const uint8_t *frame, uint32_t len,
                    uint64_t ts)
{
    struct pkt p;
    pl->stats.pkts_in++;
    enum pkt_drop pd = pkt_parse(frame, len, &p);
    if (pd != PKT_OK) {
        pl->stats.drop_parse[pd]++;
        pl->stats.pkts_drop++;
        return;
    }
    if (side == SIDE_UNKNOWN && (side = infer_side(pl, &p)) == SIDE_UNKNOWN) {
        pl->stats.pkts_local++; /* not for the gateway */
        return;
    }
    if (gateway_reply(pl, side, &p, ts)) {
        pl->stats.pkts_local++;
        return;
    }
    if (memcmp(p.eth_dst, pl->vmac[side], 6) != 0) {
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
        if (!conn_create(pl, side, &p, &k, h, src_is_a, ts))
            return;
    } else {
        int dir = src_is_a == (bool)c->orig_is_a ? TCP_DIR_ORIG : TCP_DIR_REPLY;
        if ((dir == TCP_DIR_ORIG) != (side == c->orig_side)) {
            drop(pl, DROP_WRONG_SIDE);
            return;
        }
        if (!conn_update(pl, c, dir, &p, ts))
            return;
    }
    forward_packet(pl, 1 - side, &p, ts);
}
