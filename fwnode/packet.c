/* packet.c: the bounds-checked, allocation-free frame parser and the Internet checksum helpers. */
#include <string.h>

#include "compiler.h"
#include "packet.h"

#define ETH_HLEN        14
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88a8
#define ARP_LEN         28 /* Ethernet/IPv4 ARP */
#define IP4_HLEN        20
#define IP6_HLEN        40
#define IP6_MAX_EXTHDRS 8
#define TCP_HLEN        20
#define UDP_HLEN        8
#define ICMP_HLEN       8
#define ND_LEN          24 /* ICMPv6 header + reserved + target address */

/* The common path (Ethernet -> IPv4 -> TCP) is kept in one function, without calls; the rarer
 * frames (IPv6, ARP) are parsed out of line so that it needs no registers saved for them. */

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The Internet checksum (RFC 1071) is byte-order independent: summing native-order words gives the
 * byte-swapped sum on a little-endian host, and a right checksum sums to 0xffff in either order.
 * So data is summed as native 64-bit words with end-around carry, and only pkt_csum_add, whose
 * running sum is in network-word order, swaps once at the end. */

/* One's complement addition: the carry out of bit 63 comes back in at bit 0 (add, adc). */
static inline uint64_t csum_add64(uint64_t acc, uint64_t w)
{
    acc += w;
    return acc + (acc < w);
}

/* Adds d[0 .. len) to the native-order sum acc; an odd last byte is the first byte of a
 * zero-padded word. The result is 0 only when acc and every word are 0. 32 bytes per step, the
 * carries out of bit 63 counted apart (add, adc) and added back once at the end (each stands for
 * 2^64, which is 1 in one's complement arithmetic). */
static inline uint64_t csum_native(uint64_t acc, const uint8_t *d, size_t len)
{
    uint64_t sum = acc, carries = 0, w0, w1, w2, w3;
    uint32_t w32;
    uint16_t w16;

    for (const uint8_t *end = d + (len & ~(size_t)31); d != end; d += 32) {
        memcpy(&w0, d, 8);
        memcpy(&w1, d + 8, 8);
        memcpy(&w2, d + 16, 8);
        memcpy(&w3, d + 24, 8);
        sum += w0;
        carries += sum < w0;
        sum += w1;
        carries += sum < w1;
        sum += w2;
        carries += sum < w2;
        sum += w3;
        carries += sum < w3;
    }
    if (len & 16) {
        memcpy(&w0, d, 8);
        memcpy(&w1, d + 8, 8);
        sum += w0;
        carries += sum < w0;
        sum += w1;
        carries += sum < w1;
        d += 16;
    }
    if (len & 8) {
        memcpy(&w0, d, 8);
        sum += w0;
        carries += sum < w0;
        d += 8;
    }
    if (len & 4) {
        memcpy(&w32, d, 4);
        sum += w32;
        carries += sum < w32;
        d += 4;
    }
    if (len & 2) {
        memcpy(&w16, d, 2);
        sum += w16;
        carries += sum < w16;
        d += 2;
    }
    if (len & 1) {
        uint8_t last[2] = {d[0], 0};
        memcpy(&w16, last, 2);
        sum += w16;
        carries += sum < w16;
    }
    return csum_add64(sum, carries); /* carries < 2^61: len < 2^64 */
}

/* Folds a native-order sum to 16 bits with end-around carries: 0 only for a zero sum, else
 * 1 .. 0xffff. */
static inline uint32_t csum_fold64(uint64_t acc)
{
    uint32_t lo = (uint32_t)acc, hi = (uint32_t)(acc >> 32);

    lo += hi;
    lo += lo < hi;
    lo = (lo & 0xffff) + (lo >> 16);
    lo = (lo & 0xffff) + (lo >> 16);
    return lo;
}

/* The native-order 32-bit word that holds x big-endian, as it would be loaded from a packet. */
static inline uint32_t csum_be32(uint32_t x)
{
    uint8_t b[4] = {(uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
    uint32_t w;

    memcpy(&w, b, 4);
    return w;
}

/* The running sum the caller passes and gets back is in network-word order, folded to 16 bits. */
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
    uint64_t acc = csum_fold64(csum_native(0, data, len));

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
    acc += sum;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint32_t)acc;
}

/* Folds a running sum to 16 bits and complements it: the value to store in a checksum field (as a
 * big-endian number), or 0 when verifying a block that includes a correct checksum. */
uint16_t pkt_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The IPv4 header checksum, on the fast path: hl is a multiple of 4, so sum native 32-bit words
 * (at most 15: s < 2^36, no overflow). A right header folds to 0xffff, which reads the same in
 * either byte order (RFC 1071): s is a multiple of 0xffff (2^16 is 1 modulo 0xffff) and not 0
 * (which only an all-zero header, version 0, could give). A multiply and a compare test that. */
static inline bool ip4_csum_ok(const uint8_t *ip, uint32_t hl)
{
    uint32_t w0, w1, w2, w3, w4;
    uint64_t s;

    memcpy(&w0, ip, 4);
    memcpy(&w1, ip + 4, 4);
    memcpy(&w2, ip + 8, 4);
    memcpy(&w3, ip + 12, 4);
    memcpy(&w4, ip + 16, 4);
    s = (uint64_t)w0 + w1 + w2 + w3 + w4;
    for (uint32_t i = IP4_HLEN; i < hl; i += 4) { /* options */
        memcpy(&w0, ip + i, 4);
        s += w0;
    }
    return s != 0 && s % 0xffff == 0;
}

/* Checks an IPv4 option list: EOL ends it, NOP is one byte, every other option carries a length
 * byte that is at least 2 and keeps the option inside the header. */
static bool ip4_options_ok(const uint8_t *o, uint32_t n)
{
    uint32_t i = 0;

    while (i < n) {
        if (o[i] == 0) /* EOL: the rest is padding */
            return true;
        if (o[i] == 1) {
            i++;
            continue;
        }
        if (n - i < 2 || o[i + 1] < 2 || o[i + 1] > n - i)
            return false;
        i += o[i + 1];
    }
    return true;
}

/* Walks the IPv6 extension headers of the header at ip, whose packet ends at ip + end. On PKT_OK,
 * *off is the offset of the upper-layer header from ip and *nh its protocol. Hop-by-hop must come
 * first (RFC 8200); a fragment header or "no next header" ends the walk with a drop reason. */
static enum pkt_drop ip6_skip_ext(const uint8_t *ip, uint32_t end, uint32_t *off, uint8_t *nh)
{
    uint32_t o = IP6_HLEN, hlen;
    uint8_t next = ip[6];

    for (unsigned n = 0;; n++) {
        switch (next) {
        case 0: /* hop-by-hop options */
            if (n != 0)
                return PKT_ERR_IP6_EXTHDR;
            /* fallthrough */
        case 43: /* routing */
        case 60: /* destination options */
        case 51: /* authentication header: length in 4-byte units, minus 2 */
            if (n == IP6_MAX_EXTHDRS || end - o < 2)
                return PKT_ERR_IP6_EXTHDR;
            hlen = next == 51 ? (ip[o + 1] + 2u) * 4 : (ip[o + 1] + 1u) * 8;
            if (hlen > end - o)
                return PKT_ERR_IP6_EXTHDR;
            next = ip[o];
            o += hlen;
            break;
        case 44:
            return PKT_ERR_IP6_FRAGMENT;
        case 59:
            return PKT_ERR_L4_PROTO;
        default:
            *off = o;
            *nh = next;
            return PKT_OK;
        }
    }
}

static inline bool icmp_type_is_echo(uint8_t family, uint8_t type)
{
    return family == 4 ? type == 8 || type == 0 : type == 128 || type == 129;
}

/* Parses the packet quoted by an ICMP error (q[0 .. n), same family as the outer packet) into
 * p->inner: the IP header and the first 8 transport bytes, which is all an error must quote. Only
 * TCP, UDP and ICMP echo can belong to a connection; a quoted fragment cannot (fragments are never
 * forwarded), so those are refused too. */
static bool parse_inner(struct pkt *p, const uint8_t *q, uint32_t n)
{
    struct pkt_l4 *t = &p->inner;
    uint32_t hl;
    uint8_t proto;

    memset(t, 0, sizeof(*t)); /* pkt_parse leaves inner unset: zero the IPv4 address tails */
    p->inner_seq = 0;
    t->family = p->l4.family;
    if (t->family == 4) {
        if (n < IP4_HLEN || q[0] >> 4 != 4)
            return false;
        hl = (q[0] & 0x0f) * 4u;
        if (hl < IP4_HLEN || (rd16(q + 6) & 0x3fff))
            return false;
        proto = q[9];
        memcpy(t->src, q + 12, 4);
        memcpy(t->dst, q + 16, 4);
    } else {
        if (n < IP6_HLEN || q[0] >> 4 != 6 || ip6_skip_ext(q, n, &hl, &proto) != PKT_OK)
            return false;
        memcpy(t->src, q + 8, 16);
        memcpy(t->dst, q + 24, 16);
    }
    if (hl > n || n - hl < 8)
        return false;
    q += hl;
    t->proto = proto;
    switch (proto) {
    case PKT_IPPROTO_TCP:
        p->inner_seq = rd32(q + 4);
        /* fallthrough */
    case PKT_IPPROTO_UDP:
        t->sport = rd16(q);
        t->dport = rd16(q + 2);
        return true;
    case PKT_IPPROTO_ICMP:
    case PKT_IPPROTO_ICMPV6:
        if ((proto == PKT_IPPROTO_ICMP) != (t->family == 4) || !icmp_type_is_echo(t->family, q[0]))
            return false;
        t->sport = t->dport = rd16(q + 4);
        return true;
    }
    return false;
}

/* Parses the TCP option list o[0 .. n): MSS, window scale (capped at 14 as RFC 7323 says) and
 * SACK permitted are kept; every option must fit, and the options with a fixed size must have it.
 * Returns PKT_OK or PKT_ERR_TCP_OPTIONS, so that parse_tcp ends in a tail call to it. */
static enum pkt_drop tcp_options(struct pkt *p, const uint8_t *o, uint32_t n)
{
    uint32_t i = 0, olen;

    while (i < n) {
        if (o[i] == 0) /* EOL */
            return PKT_OK;
        if (o[i] == 1) { /* NOP */
            i++;
            continue;
        }
        if (n - i < 2 || (olen = o[i + 1]) < 2 || olen > n - i)
            return PKT_ERR_TCP_OPTIONS;
        switch (o[i]) {
        case 2: /* MSS */
            if (olen != 4)
                return PKT_ERR_TCP_OPTIONS;
            p->mss = rd16(o + i + 2);
            break;
        case 3: /* window scale */
            if (olen != 3)
                return PKT_ERR_TCP_OPTIONS;
            p->wscale = o[i + 2] > 14 ? 14 : o[i + 2];
            break;
        case 4: /* SACK permitted */
            if (olen != 2)
                return PKT_ERR_TCP_OPTIONS;
            p->sack_perm = true;
            break;
        case 5: /* SACK: 1 to 4 blocks of 8 bytes */
            if (olen < 10 || (olen - 2) % 8 != 0)
                return PKT_ERR_TCP_OPTIONS;
            break;
        case 8: /* timestamps */
            if (olen != 10)
                return PKT_ERR_TCP_OPTIONS;
            break;
        }
        i += olen;
    }
    return PKT_OK;
}

static ALWAYS_INLINE enum pkt_drop parse_tcp(struct pkt *p, const uint8_t *h)
{
    uint32_t doff;

    if (p->l4_len < TCP_HLEN)
        return PKT_ERR_TCP_SHORT;
    doff = (h[12] >> 4) * 4u;
    if (doff < TCP_HLEN || doff > p->l4_len)
        return PKT_ERR_TCP_DOFF;
    p->l4.sport = rd16(h);
    p->l4.dport = rd16(h + 2);
    p->seq = rd32(h + 4);
    p->ack = rd32(h + 8);
    p->tcp_flags = h[13];
    p->win = rd16(h + 14);
    p->wscale = 0xff;
    p->payload_off = p->l4_off + doff;
    p->payload_len = p->l4_len - doff;
    if (doff > TCP_HLEN) /* last: a tail call, with nothing live across it */
        return tcp_options(p, h + TCP_HLEN, doff - TCP_HLEN);
    return PKT_OK;
}

/* A UDP length shorter than the IP payload is accepted and trims the datagram (as Linux does):
 * l4_len is then the UDP length. */
static enum pkt_drop parse_udp(struct pkt *p, const uint8_t *h)
{
    uint32_t ulen;

    if (p->l4_len < UDP_HLEN)
        return PKT_ERR_UDP_SHORT;
    ulen = rd16(h + 4);
    if (ulen < UDP_HLEN || ulen > p->l4_len)
        return PKT_ERR_UDP_LEN;
    p->l4.sport = rd16(h);
    p->l4.dport = rd16(h + 2);
    p->l4_len = ulen;
    p->payload_off = p->l4_off + UDP_HLEN;
    p->payload_len = ulen - UDP_HLEN;
    return PKT_OK;
}

/* ICMP and ICMPv6: echo (identifier as both ports), errors (the quoted packet into p->inner),
 * neighbour discovery (checked: hop limit 255, code 0, room for the target). Other types are
 * accepted with nothing more filled; they have no flow. */
static enum pkt_drop parse_icmp(struct pkt *p, const uint8_t *h)
{
    uint8_t family = p->l4.family, type;
    bool err;

    if (p->l4_len < ICMP_HLEN)
        return PKT_ERR_ICMP_SHORT;
    p->icmp_type = type = h[0];
    p->icmp_code = h[1];
    p->payload_off = p->l4_off + ICMP_HLEN;
    p->payload_len = p->l4_len - ICMP_HLEN;
    if (icmp_type_is_echo(family, type)) {
        p->icmp_is_echo = true;
        p->icmp_id = p->l4.sport = p->l4.dport = rd16(h + 4);
        return PKT_OK;
    }
    if (family == 4)
        err = type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    else
        err = type >= 1 && type <= 4;
    if (err) {
        p->icmp_is_error = true;
        return parse_inner(p, h + ICMP_HLEN, p->payload_len) ? PKT_OK : PKT_ERR_ICMP_INNER;
    }
    if (family == 6 && (type == 135 || type == 136)) {
        p->is_nd = true;
        if (p->ttl != 255 || p->icmp_code != 0 || p->l4_len < ND_LEN)
            return PKT_ERR_ND_FORMAT;
        memcpy(p->nd_target, h + 8, 16);
    }
    return PKT_OK;
}

/* Dispatches on the transport protocol; ICMP only over IPv4, ICMPv6 only over IPv6. */
static ALWAYS_INLINE enum pkt_drop parse_l4(struct pkt *p, uint32_t off, uint32_t len)
{
    const uint8_t *h = p->frame + off;

    p->l4_off = off;
    p->l4_len = len;
    switch (p->l4.proto) {
    case PKT_IPPROTO_TCP:
        return parse_tcp(p, h);
    case PKT_IPPROTO_UDP:
        return parse_udp(p, h);
    case PKT_IPPROTO_ICMP:
        return p->l4.family == 4 ? parse_icmp(p, h) : PKT_ERR_L4_PROTO;
    case PKT_IPPROTO_ICMPV6:
        return p->l4.family == 6 ? parse_icmp(p, h) : PKT_ERR_L4_PROTO;
    }
    return PKT_ERR_L4_PROTO;
}

static NOINLINE enum pkt_drop parse_arp(struct pkt *p)
{
    const uint8_t *a = p->frame + p->l3_off;

    if (p->len - p->l3_off < ARP_LEN)
        return PKT_ERR_ARP_SHORT;
    p->arp_op = rd16(a + 6);
    if (rd16(a) != 1 || rd16(a + 2) != PKT_ETH_IPV4 || a[4] != 6 || a[5] != 4 ||
        (p->arp_op != 1 && p->arp_op != 2))
        return PKT_ERR_ARP_FORMAT;
    p->l3_len = ARP_LEN;
    memcpy(p->arp_sha, a + 8, 6);
    memcpy(p->arp_spa, a + 14, 4);
    memcpy(p->arp_tpa, a + 24, 4);
    return PKT_OK;
}

/* The rest of an IPv4 header of hl bytes (version and IHL checked): the total length, not the
 * captured length, bounds the packet (Ethernet pads short frames). */
static ALWAYS_INLINE enum pkt_drop ip4_rest(struct pkt *p, const uint8_t *ip, uint32_t avail,
                                            uint32_t hl)
{
    uint32_t tot = rd16(ip + 2);

    if (tot < hl || tot > avail)
        return PKT_ERR_IP4_TOTLEN;
    if (!ip4_csum_ok(ip, hl))
        return PKT_ERR_IP4_CSUM;
    if (hl > IP4_HLEN && !ip4_options_ok(ip + IP4_HLEN, hl - IP4_HLEN))
        return PKT_ERR_IP4_OPTIONS;
    if (rd16(ip + 6) & 0x3fff) /* MF or a fragment offset */
        return PKT_ERR_IP4_FRAGMENT;
    p->l3_len = tot;
    p->ttl = ip[8];
    p->ttl_off = 8;
    p->l4.family = 4;
    p->l4.proto = ip[9];
    memcpy(p->l4.src, ip + 12, 4);
    memcpy(p->l4.dst, ip + 16, 4);
    return parse_l4(p, p->l3_off + hl, tot - hl);
}

/* IPv4. The common header (version 4, no options) takes a copy of the rest with a constant
 * length. */
static enum pkt_drop parse_ip4(struct pkt *p)
{
    const uint8_t *ip = p->frame + p->l3_off;
    uint32_t avail = p->len - p->l3_off, hl;

    if (avail < IP4_HLEN)
        return PKT_ERR_IP4_SHORT;
    if (ip[0] == 0x45)
        return ip4_rest(p, ip, avail, IP4_HLEN);
    if (ip[0] >> 4 != 4)
        return PKT_ERR_IP4_VERSION;
    hl = (ip[0] & 0x0f) * 4u;
    if (hl < IP4_HLEN || hl > avail)
        return PKT_ERR_IP4_IHL;
    return ip4_rest(p, ip, avail, hl);
}

/* IPv6: a payload length of 0 would mean a jumbogram, which cannot arrive on Ethernet. */
static NOINLINE enum pkt_drop parse_ip6(struct pkt *p)
{
    const uint8_t *ip = p->frame + p->l3_off;
    uint32_t avail = p->len - p->l3_off, plen, hl;
    enum pkt_drop r;

    if (avail < IP6_HLEN)
        return PKT_ERR_IP6_SHORT;
    if (ip[0] >> 4 != 6)
        return PKT_ERR_IP6_VERSION;
    plen = rd16(ip + 4);
    if (plen == 0 || plen > avail - IP6_HLEN)
        return PKT_ERR_IP6_PAYLEN;
    p->l3_len = IP6_HLEN + plen;
    p->ttl = ip[7];
    p->ttl_off = 7;
    p->l4.family = 6;
    memcpy(p->l4.src, ip + 8, 16);
    memcpy(p->l4.dst, ip + 24, 16);
    r = ip6_skip_ext(ip, p->l3_len, &hl, &p->l4.proto);
    if (r != PKT_OK)
        return r;
    return parse_l4(p, p->l3_off + hl, p->l3_len - hl);
}

/* Zeroes the members of p in [from, to) (offsetof values). Every field before inner is zeroed
 * first; inner, inner_seq, the ARP fields and nd_target are written only when they apply
 * (packet.h), which spares most packets half the struct. Two runs of at most 64 bytes, which
 * compilers store inline. */
static inline void pkt_zero(struct pkt *p, size_t from, size_t to)
{
    memset((unsigned char *)p + from, 0, to - from);
}

/* Ethernet and up to two VLAN tags (802.1ad outer, 802.1Q inner, in any mix); vlan is the outer
 * tag's id. A third tag is an unknown ethertype. */
enum pkt_drop pkt_parse(const uint8_t *frame, uint32_t len, struct pkt *p)
{
    uint32_t off = 12;
    uint16_t type;

    _Static_assert(offsetof(struct pkt, eth_src) == offsetof(struct pkt, eth_dst) + 6,
                   "eth_dst and eth_src are the frame's first 12 bytes, copied at once");

    p->frame = frame;
    p->len = len;
    pkt_zero(p, offsetof(struct pkt, vlan), offsetof(struct pkt, l4));
    pkt_zero(p, offsetof(struct pkt, l4), offsetof(struct pkt, inner));
    p->is_nd = false;
    if (len < ETH_HLEN)
        return PKT_ERR_ETH_SHORT;
    memcpy((unsigned char *)p + offsetof(struct pkt, eth_dst), frame, 12);
    type = rd16(frame + off);
    if (type != PKT_ETH_IPV4) { /* the common frame, untagged IPv4, has no tags to look at */
        for (int tags = 0; tags < 2 && (type == ETH_P_8021Q || type == ETH_P_8021AD); tags++) {
            if (len - off < 6)
                return PKT_ERR_VLAN_SHORT;
            if (tags == 0)
                p->vlan = rd16(frame + off + 2) & 0x0fff;
            off += 4;
            type = rd16(frame + off);
        }
    }
    p->ethertype = type;
    p->l3_off = off + 2;
    if (type == PKT_ETH_IPV4) /* the common case first */
        return parse_ip4(p);
    if (type == PKT_ETH_IPV6)
        return parse_ip6(p);
    if (type == PKT_ETH_ARP)
        return parse_arp(p);
    return PKT_ERR_ETHERTYPE;
}

/* Verifies the transport checksum of a packet pkt_parse() accepted. TCP, UDP and ICMPv6 cover a
 * pseudo-header (addresses, protocol, upper-layer length); ICMP does not. UDP checksum 0 means
 * "none" over IPv4 and is invalid over IPv6 (RFC 8200). Frames without one (ARP) are right.
 * One native-order sum over the pseudo-header and the segment. The protocol and the length go in
 * as one big-endian word, proto << 16 | length: the length of a parsed packet fits in 16 bits (the
 * IP length fields do), so this sums the same as IPv4's (0, protocol) and length words and as
 * IPv6's 32-bit length and (0, 0, 0, protocol) words. */
bool pkt_l4_csum_ok(const struct pkt *p)
{
    const uint8_t *h = p->frame + p->l4_off;
    uint64_t acc = 0;

    if (p->ethertype == PKT_ETH_ARP || p->l4.family == 0)
        return true;
    if (p->l4.proto == PKT_IPPROTO_UDP && h[6] == 0 && h[7] == 0)
        return p->l4.family == 4;
    if (p->l4.proto != PKT_IPPROTO_ICMP) {
        uint32_t ph = csum_be32((uint32_t)p->l4.proto << 16 | p->l4_len);
        if (p->l4.family == 4) {
            uint32_t s, d;
            memcpy(&s, p->l4.src, 4);
            memcpy(&d, p->l4.dst, 4);
            acc = (uint64_t)s + d + ph; /* three 32-bit words: no carry out of 64 bits */
        } else {
            acc = csum_native(csum_native(ph, p->l4.src, 16), p->l4.dst, 16);
        }
    }
    acc = csum_native(acc, h, p->l4_len);
    /* Folding to 16 bits would give 0xffff: acc is the 16-bit sum modulo 0xffff (2^16 is 1 modulo
     * 0xffff), and only an all-zero block sums to 0. A multiply and a compare test that. */
    return acc != 0 && acc % 0xffff == 0;
}

const char *pkt_drop_name(enum pkt_drop reason)
{
    static const char *const names[PKT_DROP_MAX] = {
        [PKT_OK] = "ok",
        [PKT_ERR_ETH_SHORT] = "eth_short",
        [PKT_ERR_VLAN_SHORT] = "vlan_short",
        [PKT_ERR_ETHERTYPE] = "ethertype",
        [PKT_ERR_ARP_SHORT] = "arp_short",
        [PKT_ERR_ARP_FORMAT] = "arp_format",
        [PKT_ERR_IP4_SHORT] = "ip4_short",
        [PKT_ERR_IP4_VERSION] = "ip4_version",
        [PKT_ERR_IP4_IHL] = "ip4_ihl",
        [PKT_ERR_IP4_TOTLEN] = "ip4_totlen",
        [PKT_ERR_IP4_CSUM] = "ip4_csum",
        [PKT_ERR_IP4_OPTIONS] = "ip4_options",
        [PKT_ERR_IP4_FRAGMENT] = "ip4_fragment",
        [PKT_ERR_IP6_SHORT] = "ip6_short",
        [PKT_ERR_IP6_VERSION] = "ip6_version",
        [PKT_ERR_IP6_PAYLEN] = "ip6_paylen",
        [PKT_ERR_IP6_EXTHDR] = "ip6_exthdr",
        [PKT_ERR_IP6_FRAGMENT] = "ip6_fragment",
        [PKT_ERR_L4_PROTO] = "l4_proto",
        [PKT_ERR_TCP_SHORT] = "tcp_short",
        [PKT_ERR_TCP_DOFF] = "tcp_doff",
        [PKT_ERR_TCP_OPTIONS] = "tcp_options",
        [PKT_ERR_UDP_SHORT] = "udp_short",
        [PKT_ERR_UDP_LEN] = "udp_len",
        [PKT_ERR_ICMP_SHORT] = "icmp_short",
        [PKT_ERR_ICMP_INNER] = "icmp_inner",
        [PKT_ERR_ND_FORMAT] = "nd_format",
        [PKT_ERR_L4_CSUM] = "l4_csum",
    };

    if ((unsigned)reason >= PKT_DROP_MAX || names[reason] == NULL)
        return "unknown";
    return names[reason];
}
