/* flow.c: canonical connection keys, the BPF-compatible steering hash and the table hash. */
#include <arpa/inet.h>
#include <stdio.h>

#include "flow.h"

static inline uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t rd64(const uint8_t *b)
{
    return (uint64_t)rd32(b) << 32 | rd32(b + 4);
}

/* Compares two addresses as big-endian numbers (memcmp order) without a libc call. */
static inline int addr_cmp(const uint8_t *x, const uint8_t *y, bool v4)
{
    uint64_t a, b;

    if (v4)
        return (rd32(x) > rd32(y)) - (rd32(x) < rd32(y));
    a = rd64(x), b = rd64(y);
    if (a == b)
        a = rd64(x + 8), b = rd64(y + 8);
    return (a > b) - (a < b);
}

/* The lower (address, port) endpoint becomes a: addresses compare as big-endian numbers, then
 * ports. Only the address bytes of the family are copied, so the rest of the key stays zero
 * whatever the tuple holds there. */
void flow_key_from_l4(const struct pkt_l4 *t, struct flow_key *k, bool *src_is_a)
{
    bool v4 = t->family == 4;
    int c = addr_cmp(t->src, t->dst, v4);
    bool s = c < 0 || (c == 0 && t->sport <= t->dport);
    const uint8_t *a = s ? t->src : t->dst, *b = s ? t->dst : t->src;

    memset(k, 0, sizeof(*k));
    k->family = t->family;
    k->proto = t->proto;
    if (v4) {
        memcpy(k->a, a, 4);
        memcpy(k->b, b, 4);
    } else {
        memcpy(k->a, a, 16);
        memcpy(k->b, b, 16);
    }
    k->pa = s ? t->sport : t->dport;
    k->pb = s ? t->dport : t->sport;
    *src_is_a = s;
}

/* TCP, UDP and ICMP echo use the packet's own tuple; an ICMP error uses the packet it quotes, so it
 * finds the connection that caused it. */
int flow_key_from_pkt(const struct pkt *p, struct flow_key *k, bool *src_is_a)
{
    const struct pkt_l4 *t = &p->l4;

    if (p->ethertype == PKT_ETH_ARP || p->l4.family == 0 || p->is_nd)
        return -1;
    if (t->proto == PKT_IPPROTO_ICMP || t->proto == PKT_IPPROTO_ICMPV6) {
        if (p->icmp_is_error)
            t = &p->inner;
        else if (!p->icmp_is_echo)
            return -1;
    }
    flow_key_from_l4(t, k, src_is_a);
    return 0;
}

/* Xor of the address words (and of the ports for TCP/UDP): what the capture filter computes, e.g.
 * ip[12:4] ^ ip[16:4] ^ tcp[0:2] ^ tcp[2:2] for IPv4 TCP. Symmetric because xor is. */
uint32_t flow_steer_hash(const struct pkt_l4 *t)
{
    uint32_t h = 0;
    int words = t->family == 4 ? 1 : 4;

    for (int i = 0; i < words; i++)
        h ^= rd32(t->src + 4 * i) ^ rd32(t->dst + 4 * i);
    if (t->proto == PKT_IPPROTO_TCP || t->proto == PKT_IPPROTO_UDP)
        h ^= (uint32_t)t->sport ^ t->dport;
    return h;
}

/* Multiply-rotate over the five 64-bit words of the key, then a murmur3 finaliser so that every
 * key bit reaches the low bits the table masks with. */
uint32_t flow_key_hash(const struct flow_key *k)
{
    _Static_assert(sizeof(struct flow_key) == 40, "flow_key must be five 64-bit words");
    const unsigned char *b = (const unsigned char *)k;
    uint64_t h = 0x9e3779b97f4a7c15ull, w;

    for (int i = 0; i < 5; i++) {
        memcpy(&w, b + 8 * i, 8);
        h ^= w * 0xc2b2ae3d27d4eb4full;
        h = (h << 31 | h >> 33) * 0x9e3779b97f4a7c15ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* "tcp 10.10.1.10:40000 10.10.2.10:80", "udp [fd00::1]:53 [fd00::2]:40000",
 * "icmp 10.10.1.10 10.10.2.10 id 7". Returns what snprintf returns (the untruncated length). */
int flow_key_format(const struct flow_key *k, char *buf, int len)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int af = k->family == 4 ? AF_INET : AF_INET6;
    size_t n = len > 0 ? (size_t)len : 0;

    inet_ntop(af, k->a, a, sizeof(a)); /* cannot fail: known family, buffers large enough */
    inet_ntop(af, k->b, b, sizeof(b));
    switch (k->proto) {
    case PKT_IPPROTO_TCP:
    case PKT_IPPROTO_UDP:
        if (af == AF_INET)
            return snprintf(buf, n, "%s %s:%u %s:%u", k->proto == PKT_IPPROTO_TCP ? "tcp" : "udp",
                            a, k->pa, b, k->pb);
        return snprintf(buf, n, "%s [%s]:%u [%s]:%u", k->proto == PKT_IPPROTO_TCP ? "tcp" : "udp",
                        a, k->pa, b, k->pb);
    case PKT_IPPROTO_ICMP:
    case PKT_IPPROTO_ICMPV6:
        return snprintf(buf, n, "%s %s %s id %u", k->proto == PKT_IPPROTO_ICMP ? "icmp" : "icmpv6",
                        a, b, k->pa);
    }
    return snprintf(buf, n, "proto %u %s %s", k->proto, a, b);
}
