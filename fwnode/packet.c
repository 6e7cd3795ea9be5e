/* packet.c: the bounds-checked, allocation-free frame parser and the Internet checksum helpers. */
#include <string.h>

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

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* RFC 1071 is byte-order independent: summing native-order words gives the byte-swapped sum on a
 * little-endian host. So sum 64-bit native words with end-around carry, fold, and swap once. The
 * running sum the caller passes and gets back is in network-word order, folded to 16 bits. */
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *d = data;
    uint64_t acc = 0, w;

    for (; len >= 8; d += 8, len -= 8) {
        memcpy(&w, d, 8);
        acc += w;
        acc += acc < w;
    }
    if (len >= 4) {
        uint32_t w32;
        memcpy(&w32, d, 4);
        acc += w32;
        acc += acc < w32;
        d += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w16;
        memcpy(&w16, d, 2);
        acc += w16;
        acc += acc < w16;
        d += 2;
        len -= 2;
    }
    if (len) {
        uint8_t last[2] = {d[0], 0}; /* odd byte: the high byte of a zero-padded word */
        uint16_t w16;
        memcpy(&w16, last, 2);
        acc += w16;
        acc += acc < w16;
    }
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
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
 * (at most 15: no overflow) and fold. A right header sums to 0xffff, which reads the same in either
 * byte order (RFC 1071); an all-zero header, which could fold to 0, never gets here (version 0). */
static inline bool ip4_csum_ok(const uint8_t *ip, uint32_t hl)
{
    uint32_t w[5];
    uint64_t s;

    memcpy(w, ip, sizeof(w));
    s = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
    for (uint32_t i = IP4_HLEN; i < hl; i += 4) { /* options */
        memcpy(w, ip + i, 4);
        s += w[0];
    }
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return s == 0xffff;
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
 */
static bool tcp_options(struct pkt *p, const uint8_t *o, uint32_t n)
{
    uint32_t i = 0, olen;

    while (i < n) {
        if (o[i] == 0) /* EOL */
            return true;
        if (o[i] == 1) { /* NOP */
            i++;
            continue;
        }
        if (n - i < 2 || (olen = o[i + 1]) < 2 || olen > n - i)
            return false;
        switch (o[i]) {
        case 2: /* MSS */
            if (olen != 4)
                return false;
            p->mss = rd16(o + i + 2);
            break;
        case 3: /* window scale */
            if (olen != 3)
                return false;
            p->wscale = o[i + 2] > 14 ? 14 : o[i + 2];
            break;
        case 4: /* SACK permitted */
            if (olen != 2)
                return false;
            p->sack_perm = true;
            break;
        case 5: /* SACK: 1 to 4 blocks of 8 bytes */
            if (olen < 10 || (olen - 2) % 8 != 0)
                return false;
            break;
        case 8: /* timestamps */
            if (olen != 10)
                return false;
            break;
        }
        i += olen;
    }
    return true;
}

static enum pkt_drop parse_tcp(struct pkt *p, const uint8_t *h)
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
    if (doff > TCP_HLEN && !tcp_options(p, h + TCP_HLEN, doff - TCP_HLEN))
        return PKT_ERR_TCP_OPTIONS;
    p->payload_off = p->l4_off + doff;
    p->payload_len = p->l4_len - doff;
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
static enum pkt_drop parse_l4(struct pkt *p, uint32_t off, uint32_t len)
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

static enum pkt_drop parse_arp(struct pkt *p)
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

/* IPv4: the total length, not the captured length, bounds the packet (Ethernet pads short frames).
 */
static enum pkt_drop parse_ip4(struct pkt *p)
{
    const uint8_t *ip = p->frame + p->l3_off;
    uint32_t avail = p->len - p->l3_off, hl, tot;

    if (avail < IP4_HLEN)
        return PKT_ERR_IP4_SHORT;
    if (ip[0] >> 4 != 4)
        return PKT_ERR_IP4_VERSION;
    hl = (ip[0] & 0x0f) * 4u;
    if (hl < IP4_HLEN || hl > avail)
        return PKT_ERR_IP4_IHL;
    tot = rd16(ip + 2);
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

/* IPv6: a payload length of 0 would mean a jumbogram, which cannot arrive on Ethernet. */
static enum pkt_drop parse_ip6(struct pkt *p)
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

/* Ethernet and up to two VLAN tags (802.1ad outer, 802.1Q inner, in any mix); vlan is the outer
 * tag's id. A third tag is an unknown ethertype. */
enum pkt_drop pkt_parse(const uint8_t *frame, uint32_t len, struct pkt *p)
{
    uint32_t off = 12;
    uint16_t type;

    memset(p, 0, sizeof(*p));
    p->frame = frame;
    p->len = len;
    if (len < ETH_HLEN)
        return PKT_ERR_ETH_SHORT;
    memcpy(p->eth_dst, frame, 6);
    memcpy(p->eth_src, frame + 6, 6);
    type = rd16(frame + off);
    for (int tags = 0; tags < 2 && (type == ETH_P_8021Q || type == ETH_P_8021AD); tags++) {
        if (len - off < 6)
            return PKT_ERR_VLAN_SHORT;
        if (tags == 0)
            p->vlan = rd16(frame + off + 2) & 0x0fff;
        off += 4;
        type = rd16(frame + off);
    }
    p->ethertype = type;
    p->l3_off = off + 2;
    switch (type) {
    case PKT_ETH_ARP:
        return parse_arp(p);
    case PKT_ETH_IPV4:
        return parse_ip4(p);
    case PKT_ETH_IPV6:
        return parse_ip6(p);
    }
    return PKT_ERR_ETHERTYPE;
}

/* Verifies the transport checksum of a packet pkt_parse() accepted. TCP, UDP and ICMPv6 cover a
 * pseudo-header (addresses, protocol, upper-layer length); ICMP does not. UDP checksum 0 means
 * "none" over IPv4 and is invalid over IPv6 (RFC 8200). Frames without one (ARP) are right. */
bool pkt_l4_csum_ok(const struct pkt *p)
{
    const uint8_t *h = p->frame + p->l4_off;
    uint32_t sum = 0, alen = p->l4.family == 4 ? 4 : 16;

    if (p->ethertype == PKT_ETH_ARP || p->l4.family == 0)
        return true;
    if (p->l4.proto == PKT_IPPROTO_UDP && h[6] == 0 && h[7] == 0)
        return p->l4.family == 4;
    if (p->l4.proto != PKT_IPPROTO_ICMP) {
        sum = pkt_csum_add(0, p->l4.src, alen);
        sum = pkt_csum_add(sum, p->l4.dst, alen);
        sum += p->l4.proto + (p->l4_len >> 16) + (p->l4_len & 0xffff);
    }
    return pkt_csum_fold(pkt_csum_add(sum, h, p->l4_len)) == 0;
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
