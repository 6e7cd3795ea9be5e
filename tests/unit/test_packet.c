/* test_packet.c: unit tests of the frame parser and the checksum helpers, on frames built byte by
 * byte, plus truncation and mutation loops that show the parser never reads past the frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "packet.h"

static const uint8_t MAC_DST[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC_SRC[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t IP4_A[4] = {10, 10, 1, 10};
static const uint8_t IP4_B[4] = {10, 10, 2, 10};
static const uint8_t IP4_R[4] = {10, 10, 2, 1}; /* a router that sends ICMP errors */
static const uint8_t IP6_A[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint8_t IP6_B[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
static const uint8_t IP6_R[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe};

#define SEQ 1000u
#define ACK 2000u
#define WIN 29200

/* ---- frame builder ----------------------------------------------------------------------------
 */

static void w16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static void w32(uint8_t *b, uint32_t v)
{
    w16(b, v >> 16);
    w16(b + 2, v & 0xffff);
}

/* Reference one's complement sum, the slow obvious way, independent of pkt_csum_add. */
static uint32_t ref_sum(const uint8_t *d, size_t n, uint32_t sum)
{
    uint64_t s = sum;

    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(d[i] << 8 | d[i + 1]);
    if (n & 1)
        s += (uint32_t)d[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static uint16_t ref_csum(const uint8_t *d, size_t n, uint32_t sum)
{
    return (uint16_t)~ref_sum(d, n, sum);
}

/* A frame under construction. The fb_* calls append headers; fb_finish() sets lengths and
 * checksums. src/dst are the IP addresses the next fb_ip4/fb_ip6 writes. */
struct fb {
    uint8_t b[2048];
    uint32_t len;  /* bytes written */
    uint32_t l3;   /* offset of the IP header */
    uint32_t l4;   /* offset of the transport header */
    int family;    /* 4 or 6 */
    uint8_t proto; /* transport protocol at the end of the header chain */
    const uint8_t *src, *dst;
};

static void fb_put(struct fb *f, const void *d, uint32_t n)
{
    memcpy(f->b + f->len, d, n);
    f->len += n;
}

/* Ethernet header with ntags VLAN tags (802.1ad outer when two, ids 100, 101, ...). */
static void fb_eth(struct fb *f, uint16_t type, int ntags)
{
    memset(f, 0, sizeof(*f));
    fb_put(f, MAC_DST, 6);
    fb_put(f, MAC_SRC, 6);
    for (int i = 0; i < ntags; i++) {
        w16(f->b + f->len, i == 0 && ntags > 1 ? 0x88a8 : 0x8100);
        w16(f->b + f->len + 2, 0x2000 | (100 + i)); /* priority bits must be masked off */
        f->len += 4;
    }
    w16(f->b + f->len, type);
    f->len += 2;
    f->l3 = f->len;
}

/* IPv4 header with options (a multiple of 4 bytes); DF set, TTL 64. */
static void fb_ip4(struct fb *f, uint8_t proto, const uint8_t *opt, uint32_t optlen)
{
    uint8_t *ip = f->b + f->len;

    memset(ip, 0, 20);
    ip[0] = (uint8_t)(0x40 | (5 + optlen / 4));
    w16(ip + 4, 0x1234);
    w16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, f->src ? f->src : IP4_A, 4);
    memcpy(ip + 16, f->dst ? f->dst : IP4_B, 4);
    f->len += 20;
    if (optlen)
        fb_put(f, opt, optlen);
    f->l4 = f->len;
    f->family = 4;
    f->proto = proto;
}

/* IPv6 header, first next header nh, then the chained extension headers ext (each one's first byte
 * names the next); proto is the transport protocol at the end of the chain. Hop limit 64. */
static void fb_ip6(struct fb *f, uint8_t nh, const uint8_t *ext, uint32_t extlen, uint8_t proto)
{
    uint8_t *ip = f->b + f->len;

    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[6] = nh;
    ip[7] = 64;
    memcpy(ip + 8, f->src ? f->src : IP6_A, 16);
    memcpy(ip + 24, f->dst ? f->dst : IP6_B, 16);
    f->len += 40;
    if (extlen)
        fb_put(f, ext, extlen);
    f->l4 = f->len;
    f->family = 6;
    f->proto = proto;
}

static void fb_payload(struct fb *f, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        f->b[f->len++] = (uint8_t)('a' + i % 26);
}

static void fb_tcp(struct fb *f, uint16_t sport, uint16_t dport, uint8_t flags, const uint8_t *opt,
                   uint32_t optlen, uint32_t plen)
{
    uint8_t *th = f->b + f->len;

    memset(th, 0, 20);
    w16(th, sport);
    w16(th + 2, dport);
    w32(th + 4, SEQ);
    w32(th + 8, ACK);
    th[12] = (uint8_t)(((20 + optlen) / 4) << 4);
    th[13] = flags;
    w16(th + 14, WIN);
    f->len += 20;
    if (optlen)
        fb_put(f, opt, optlen);
    fb_payload(f, plen);
}

static void fb_udp(struct fb *f, uint16_t sport, uint16_t dport, uint32_t plen)
{
    uint8_t *uh = f->b + f->len;

    memset(uh, 0, 8);
    w16(uh, sport);
    w16(uh + 2, dport);
    f->len += 8;
    fb_payload(f, plen);
}

/* ICMP / ICMPv6 header (rest: the 4 bytes after the checksum) followed by data. */
static void fb_icmp(struct fb *f, uint8_t type, uint8_t code, uint32_t rest, const uint8_t *data,
                    uint32_t dlen)
{
    uint8_t *h = f->b + f->len;

    h[0] = type;
    h[1] = code;
    w16(h + 2, 0);
    w32(h + 4, rest);
    f->len += 8;
    if (dlen)
        fb_put(f, data, dlen);
}

static void fb_ip4_csum(struct fb *f)
{
    uint8_t *ip = f->b + f->l3;
    uint32_t hl = (ip[0] & 0x0f) * 4u;

    w16(ip + 10, 0);
    w16(ip + 10, ref_csum(ip, hl, 0));
}

/* Sets the IP length fields, the IPv4 header checksum, the UDP length and the transport
 * checksum (with the pseudo-header except for ICMP). */
static void fb_finish(struct fb *f)
{
    uint8_t *ip = f->b + f->l3, *h = f->b + f->l4;
    uint32_t l4len = f->len - f->l4, alen = f->family == 4 ? 4 : 16, sum = 0, coff;
    uint16_t cs;

    if (f->family == 4) {
        w16(ip + 2, f->len - f->l3);
        fb_ip4_csum(f);
    } else {
        w16(ip + 4, f->len - f->l3 - 40);
    }
    switch (f->proto) {
    case PKT_IPPROTO_TCP:
        coff = 16;
        break;
    case PKT_IPPROTO_UDP:
        coff = 6;
        w16(h + 4, l4len);
        break;
    case PKT_IPPROTO_ICMP:
    case PKT_IPPROTO_ICMPV6:
        coff = 2;
        break;
    default:
        return;
    }
    if (l4len < coff + 2)
        return;
    w16(h + coff, 0);
    if (f->proto != PKT_IPPROTO_ICMP) {
        sum = ref_sum(ip + (f->family == 4 ? 12 : 8), alen, 0);
        sum = ref_sum(ip + (f->family == 4 ? 16 : 24), alen, sum);
        sum += f->proto + (l4len >> 16) + (l4len & 0xffff);
    }
    cs = ref_csum(h, l4len, sum);
    if (f->proto == PKT_IPPROTO_UDP && cs == 0)
        cs = 0xffff;
    w16(h + coff, cs);
}

/* ---- canned frames ----------------------------------------------------------------------------
 */

/* MSS 1460, SACK permitted, timestamps, NOP, window scale 7: 20 bytes. */
static const uint8_t SYN_OPTS[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                     0, 1, 0,    0,    0, 0, 1, 3,  3, 7};

static void tcp4_frame(struct fb *f, uint8_t flags, const uint8_t *opt, uint32_t optlen,
                       uint32_t plen)
{
    fb_eth(f, PKT_ETH_IPV4, 0);
    fb_ip4(f, PKT_IPPROTO_TCP, NULL, 0);
    fb_tcp(f, 40000, 80, flags, opt, optlen, plen);
    fb_finish(f);
}

static void udp4_frame(struct fb *f, uint32_t plen)
{
    fb_eth(f, PKT_ETH_IPV4, 0);
    fb_ip4(f, PKT_IPPROTO_UDP, NULL, 0);
    fb_udp(f, 5353, 53, plen);
    fb_finish(f);
}

static void tcp6_frame(struct fb *f, const uint8_t *ext, uint32_t extlen, uint8_t nh)
{
    fb_eth(f, PKT_ETH_IPV6, 0);
    fb_ip6(f, extlen ? nh : PKT_IPPROTO_TCP, ext, extlen, PKT_IPPROTO_TCP);
    fb_tcp(f, 40000, 80, TCPF_SYN, SYN_OPTS, sizeof(SYN_OPTS), 0);
    fb_finish(f);
}

static void udp6_frame(struct fb *f, uint32_t plen)
{
    fb_eth(f, PKT_ETH_IPV6, 0);
    fb_ip6(f, PKT_IPPROTO_UDP, NULL, 0, PKT_IPPROTO_UDP);
    fb_udp(f, 40000, 53, plen);
    fb_finish(f);
}

/* An ICMP error from the router quoting the first qlen bytes of the IP packet in orig. */
static void icmp4_error_frame(struct fb *f, uint8_t type, uint8_t code, const struct fb *orig,
                              uint32_t qlen)
{
    fb_eth(f, PKT_ETH_IPV4, 0);
    f->src = IP4_R;
    f->dst = IP4_A;
    fb_ip4(f, PKT_IPPROTO_ICMP, NULL, 0);
    fb_icmp(f, type, code, 0, orig->b + orig->l3, qlen);
    fb_finish(f);
}

static void icmp6_error_frame(struct fb *f, uint8_t type, const struct fb *orig, uint32_t qlen)
{
    fb_eth(f, PKT_ETH_IPV6, 0);
    f->src = IP6_R;
    f->dst = IP6_A;
    fb_ip6(f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    fb_icmp(f, type, 0, type == 2 ? 1280 : 0, orig->b + orig->l3, qlen);
    fb_finish(f);
}

/* Neighbour solicitation (135) or advertisement (136) for target IP6_B, hop limit hops. */
static void nd_frame(struct fb *f, uint8_t type, uint8_t hops)
{
    fb_eth(f, PKT_ETH_IPV6, 0);
    fb_ip6(f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    f->b[f->l3 + 7] = hops;
    fb_icmp(f, type, 0, type == 136 ? 0x60000000u : 0, IP6_B, 16);
    fb_finish(f);
}

static void arp_frame(struct fb *f, int ntags)
{
    uint8_t *a;

    fb_eth(f, PKT_ETH_ARP, ntags);
    a = f->b + f->len;
    w16(a, 1);
    w16(a + 2, PKT_ETH_IPV4);
    a[4] = 6;
    a[5] = 4;
    w16(a + 6, 1);
    memcpy(a + 8, MAC_SRC, 6);
    memcpy(a + 14, IP4_A, 4);
    memset(a + 18, 0, 6);
    a[24] = 10, a[25] = 10, a[26] = 1, a[27] = 1;
    f->len += 28;
    memset(f->b + f->len, 0, 18); /* Ethernet padding to 60 bytes */
    f->len += 18;
}

/* ---- parse helpers ----------------------------------------------------------------------------
 */

/* Invariants every accepted packet must satisfy. */
static void check_invariants(const struct pkt *p, uint32_t len)
{
    assert_true(p->l3_off <= len);
    assert_true(p->l3_len <= len - p->l3_off);
    if (p->ethertype == PKT_ETH_ARP)
        return;
    assert_true(p->l4_off >= p->l3_off + 20);
    assert_true(p->l4_off + p->l4_len <= p->l3_off + p->l3_len);
    assert_true(p->payload_off >= p->l4_off);
    assert_true(p->payload_off + p->payload_len <= p->l4_off + p->l4_len);
}

/* Parses the first len bytes of b from an exact-size heap copy, so ASan flags any read past them;
 * on success checks the invariants and runs the checksum and flow code over the result. */
static enum pkt_drop parse_exact(const uint8_t *b, uint32_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    struct pkt p;
    struct flow_key k;
    bool s;
    enum pkt_drop r;

    assert_non_null(c);
    memcpy(c, b, len);
    r = pkt_parse(c, len, &p);
    assert_true(r < PKT_DROP_MAX && r != PKT_ERR_L4_CSUM);
    if (r == PKT_OK) {
        check_invariants(&p, len);
        (void)pkt_l4_csum_ok(&p);
        if (flow_key_from_pkt(&p, &k, &s) == 0)
            (void)flow_steer_hash(&p.l4);
    }
    free(c);
    return r;
}

static enum pkt_drop parse_fb(const struct fb *f)
{
    return parse_exact(f->b, f->len);
}

/* Parses f (in place) and requires success. */
static void parse_ok(const struct fb *f, struct pkt *p)
{
    assert_int_equal(parse_fb(f), PKT_OK);
    assert_int_equal(pkt_parse(f->b, f->len, p), PKT_OK);
    check_invariants(p, f->len);
}

/* ---- checksum helpers -------------------------------------------------------------------------
 */

static void test_csum_rfc1071_example(void **state)
{
    static const uint8_t d[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    static const uint8_t odd[1] = {0x01};

    (void)state;
    assert_int_equal(pkt_csum_add(0, d, 8), 0xddf2);
    assert_int_equal(pkt_csum_fold(pkt_csum_add(0, d, 8)), 0x220d);
    assert_int_equal(pkt_csum_add(0, odd, 1), 0x0100);
    assert_int_equal(pkt_csum_add(0, d, 0), 0);
    assert_int_equal(pkt_csum_fold(0xffff), 0);
    assert_int_equal(pkt_csum_fold(0), 0xffff);
    assert_int_equal(pkt_csum_fold(0x1fffe), 0); /* 0xfffe + 1 = 0xffff */
}

/* Every length 0..200 at every alignment 0..7, with random initial sums, against the reference. */
static void test_csum_matches_reference(void **state)
{
    uint8_t buf[256];
    uint32_t x = 0x2545f491;

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    for (size_t align = 0; align < 8; align++) {
        for (size_t n = 0; n <= 200; n++) {
            uint32_t init = n % 3 == 0 ? 0 : (n % 3 == 1 ? 0xffff : 0xfffffff0u);
            uint32_t s = pkt_csum_add(init, buf + align, n);
            assert_true(s <= 0xffff);
            assert_int_equal(pkt_csum_fold(s), ref_csum(buf + align, n, init));
        }
    }
    /* all-ones data: sums that carry on every word */
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(pkt_csum_fold(pkt_csum_add(0, buf, 255)), ref_csum(buf, 255, 0));
}

static void test_csum_chaining(void **state)
{
    uint8_t d[64];

    (void)state;
    for (size_t i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 37 + 11);
    for (size_t cut = 0; cut <= 62; cut += 2) {
        uint32_t s = pkt_csum_add(pkt_csum_add(0, d, cut), d + cut, 63 - cut);
        assert_int_equal(pkt_csum_fold(s), pkt_csum_fold(pkt_csum_add(0, d, 63)));
    }
}

/* ---- Ethernet, VLAN, ARP ----------------------------------------------------------------------
 */

static void test_eth_short(void **state)
{
    struct fb f;

    (void)state;
    tcp4_frame(&f, TCPF_SYN, NULL, 0, 0);
    for (uint32_t n = 0; n < 14; n++)
        assert_int_equal(parse_exact(f.b, n), PKT_ERR_ETH_SHORT);
}

static void test_ethertype_unknown(void **state)
{
    struct fb f;

    (void)state;
    fb_eth(&f, 0x88cc, 0); /* LLDP */
    fb_payload(&f, 46);
    assert_int_equal(parse_fb(&f), PKT_ERR_ETHERTYPE);
    fb_eth(&f, PKT_ETH_IPV4, 3); /* a third tag is not allowed */
    fb_ip4(&f, PKT_IPPROTO_UDP, NULL, 0);
    fb_udp(&f, 1, 2, 0);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_ETHERTYPE);
}

static void test_vlan_single(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    fb_eth(&f, PKT_ETH_IPV4, 1);
    fb_ip4(&f, PKT_IPPROTO_UDP, NULL, 0);
    fb_udp(&f, 5353, 53, 10);
    fb_finish(&f);
    parse_ok(&f, &p);
    assert_int_equal(p.vlan, 100);
    assert_int_equal(p.ethertype, PKT_ETH_IPV4);
    assert_int_equal(p.l3_off, 18);
    assert_int_equal(p.l4_off, 38);
    assert_int_equal(p.l4.sport, 5353);
}

static void test_vlan_double(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    fb_eth(&f, PKT_ETH_IPV6, 2);
    fb_ip6(&f, PKT_IPPROTO_UDP, NULL, 0, PKT_IPPROTO_UDP);
    fb_udp(&f, 1000, 2000, 4);
    fb_finish(&f);
    parse_ok(&f, &p);
    assert_int_equal(p.vlan, 100); /* the outer (802.1ad) tag */
    assert_int_equal(p.ethertype, PKT_ETH_IPV6);
    assert_int_equal(p.l3_off, 22);
    assert_true(pkt_l4_csum_ok(&p));
}

static void test_vlan_short(void **state)
{
    struct fb f;

    (void)state;
    fb_eth(&f, PKT_ETH_IPV4, 2);
    fb_ip4(&f, PKT_IPPROTO_UDP, NULL, 0);
    fb_udp(&f, 1, 2, 0);
    fb_finish(&f);
    for (uint32_t n = 14; n < 22; n++)
        assert_int_equal(parse_exact(f.b, n), PKT_ERR_VLAN_SHORT);
    assert_int_equal(parse_exact(f.b, 22), PKT_ERR_IP4_SHORT);
}

static void test_arp_ok(void **state)
{
    static const uint8_t tpa[4] = {10, 10, 1, 1};
    struct fb f;
    struct pkt p;

    (void)state;
    arp_frame(&f, 0);
    parse_ok(&f, &p);
    assert_int_equal(p.ethertype, PKT_ETH_ARP);
    assert_int_equal(p.arp_op, 1);
    assert_memory_equal(p.arp_sha, MAC_SRC, 6);
    assert_memory_equal(p.arp_spa, IP4_A, 4);
    assert_memory_equal(p.arp_tpa, tpa, 4);
    assert_memory_equal(p.eth_src, MAC_SRC, 6);
    assert_memory_equal(p.eth_dst, MAC_DST, 6);
    assert_int_equal(p.l3_off, 14);
    assert_int_equal(p.l3_len, 28);
    assert_int_equal(p.l4.family, 0);
    assert_true(pkt_l4_csum_ok(&p));
    arp_frame(&f, 1);
    parse_ok(&f, &p);
    assert_int_equal(p.vlan, 100);
    assert_int_equal(p.l3_off, 18);
    f.b[18 + 7] = 2; /* reply */
    parse_ok(&f, &p);
    assert_int_equal(p.arp_op, 2);
}

static void test_arp_short(void **state)
{
    struct fb f;

    (void)state;
    arp_frame(&f, 0);
    for (uint32_t n = 14; n < 14 + 28; n++)
        assert_int_equal(parse_exact(f.b, n), PKT_ERR_ARP_SHORT);
    assert_int_equal(parse_exact(f.b, 14 + 28), PKT_OK);
}

static void test_arp_format(void **state)
{
    static const struct {
        uint32_t off;
        uint8_t val;
    } bad[] = {{1, 6}, {2, 0x86}, {4, 8}, {5, 16}, {7, 3}, {7, 0}, {6, 1}};
    struct fb f;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        arp_frame(&f, 0);
        f.b[14 + bad[i].off] = bad[i].val;
        assert_int_equal(parse_fb(&f), PKT_ERR_ARP_FORMAT);
    }
}

/* ---- IPv4 -------------------------------------------------------------------------------------
 */

static void test_ip4_tcp_fields(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    tcp4_frame(&f, TCPF_SYN, SYN_OPTS, sizeof(SYN_OPTS), 0);
    parse_ok(&f, &p);
    assert_ptr_equal(p.frame, f.b);
    assert_int_equal(p.len, f.len);
    assert_int_equal(p.vlan, 0);
    assert_int_equal(p.ethertype, PKT_ETH_IPV4);
    assert_int_equal(p.l3_off, 14);
    assert_int_equal(p.l3_len, 20 + 40);
    assert_int_equal(p.l4_off, 34);
    assert_int_equal(p.l4_len, 40);
    assert_int_equal(p.payload_off, 74);
    assert_int_equal(p.payload_len, 0);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.ttl_off, 8);
    assert_int_equal(f.b[p.l3_off + p.ttl_off], 64);
    assert_int_equal(p.l4.family, 4);
    assert_int_equal(p.l4.proto, PKT_IPPROTO_TCP);
    assert_memory_equal(p.l4.src, IP4_A, 4);
    assert_memory_equal(p.l4.dst, IP4_B, 4);
    for (int i = 4; i < 16; i++)
        assert_int_equal(p.l4.src[i] | p.l4.dst[i], 0);
    assert_int_equal(p.l4.sport, 40000);
    assert_int_equal(p.l4.dport, 80);
    assert_int_equal(p.tcp_flags, TCPF_SYN);
    assert_int_equal(p.seq, SEQ);
    assert_int_equal(p.ack, ACK);
    assert_int_equal(p.win, WIN);
    assert_int_equal(p.mss, 1460);
    assert_int_equal(p.wscale, 7);
    assert_true(p.sack_perm);
    assert_false(p.icmp_is_echo || p.icmp_is_error || p.is_nd);
    assert_true(pkt_l4_csum_ok(&p));
}

static void test_ip4_payload_and_padding(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    tcp4_frame(&f, TCPF_ACK | TCPF_PSH, NULL, 0, 100);
    parse_ok(&f, &p);
    assert_int_equal(p.payload_len, 100);
    assert_int_equal(p.payload_off, 14 + 20 + 20);
    assert_int_equal(p.wscale, 0xff);
    assert_int_equal(p.mss, 0);
    assert_false(p.sack_perm);
    /* Ethernet padding: a short frame carries trailing bytes past the IP total length */
    udp4_frame(&f, 2);
    memset(f.b + f.len, 0xee, 60 - f.len);
    f.len = 60;
    parse_ok(&f, &p);
    assert_int_equal(p.l3_len, 20 + 8 + 2);
    assert_int_equal(p.l4_len, 10);
    assert_int_equal(p.payload_len, 2);
    assert_true(pkt_l4_csum_ok(&p));
}

static void test_ip4_short_version(void **state)
{
    struct fb f;

    (void)state;
    udp4_frame(&f, 0);
    for (uint32_t n = 14; n < 34; n++)
        assert_int_equal(parse_exact(f.b, n), PKT_ERR_IP4_SHORT);
    f.b[14] = 0x65;
    assert_int_equal(parse_fb(&f), PKT_ERR_IP4_VERSION);
}

static void test_ip4_ihl(void **state)
{
    struct fb f;

    (void)state;
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        udp4_frame(&f, 0);
        f.b[14] = (uint8_t)(0x40 | ihl);
        assert_int_equal(parse_fb(&f), PKT_ERR_IP4_IHL);
    }
    udp4_frame(&f, 0); /* 28 bytes of IP: an IHL of 8 (32 bytes) runs past the frame */
    f.b[14] = 0x48;
    assert_int_equal(parse_fb(&f), PKT_ERR_IP4_IHL);
}

static void test_ip4_totlen(void **state)
{
    struct fb f;

    (void)state;
    udp4_frame(&f, 4);
    w16(f.b + 16, 19); /* less than the header */
    fb_ip4_csum(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP4_TOTLEN);
    udp4_frame(&f, 4);
    w16(f.b + 16, 20 + 8 + 4 + 1); /* one byte past the frame */
    fb_ip4_csum(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP4_TOTLEN);
}

static void test_ip4_csum(void **state)
{
    struct fb f;

    (void)state;
    udp4_frame(&f, 4);
    f.b[14 + 10] ^= 0x01;
    assert_int_equal(parse_fb(&f), PKT_ERR_IP4_CSUM);
    udp4_frame(&f, 4);
    f.b[14 + 8] = 63; /* TTL changed, checksum not updated */
    assert_int_equal(parse_fb(&f), PKT_ERR_IP4_CSUM);
}

static void ip4_with_options(struct fb *f, const uint8_t *opt, uint32_t optlen)
{
    fb_eth(f, PKT_ETH_IPV4, 0);
    fb_ip4(f, PKT_IPPROTO_UDP, opt, optlen);
    fb_udp(f, 1, 2, 3);
    fb_finish(f);
}

static void test_ip4_options(void **state)
{
    static const uint8_t good[][8] = {
        {1, 1, 1, 0, 0, 0, 0, 0},          /* NOPs, EOL */
        {7, 7, 4, 0, 0, 0, 0, 0},          /* record route, EOL */
        {0x94, 4, 0, 0, 1, 1, 1, 1},       /* router alert, NOPs */
        {0, 0xff, 0xff, 0xff, 9, 9, 9, 9}, /* EOL: the rest is padding */
        {0x44, 8, 5, 0, 0, 0, 0, 0},       /* timestamp filling the header */
    };
    static const uint8_t bad[][8] = {
        {0x94, 1, 0, 0, 0, 0, 0, 0}, /* length < 2 */
        {0x94, 0, 0, 0, 0, 0, 0, 0}, /* length 0 */
        {1, 1, 1, 1, 0x94, 9, 0, 0}, /* past the header */
        {1, 1, 1, 1, 1, 1, 1, 0x94}, /* length byte missing */
        {7, 7, 4, 0, 0, 0, 0, 7},    /* second option truncated */
    };
    struct fb f;
    struct pkt p;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ip4_with_options(&f, good[i], 8);
        parse_ok(&f, &p);
        assert_int_equal(p.l4_off, 14 + 28);
        assert_int_equal(p.l4.sport, 1);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ip4_with_options(&f, bad[i], 8);
        assert_int_equal(parse_fb(&f), PKT_ERR_IP4_OPTIONS);
    }
}

static void test_ip4_fragment(void **state)
{
    static const uint16_t frag[] = {0x2000, 0x0001, 0x2001, 0x1fff, 0x6000};
    struct fb f;
    struct pkt p;

    (void)state;
    for (size_t i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
        udp4_frame(&f, 8);
        w16(f.b + 14 + 6, frag[i]);
        fb_ip4_csum(&f);
        assert_int_equal(parse_fb(&f), PKT_ERR_IP4_FRAGMENT);
    }
    udp4_frame(&f, 8);
    w16(f.b + 14 + 6, 0x0000); /* DF clear, not a fragment */
    fb_ip4_csum(&f);
    parse_ok(&f, &p);
}

static void test_l4_proto(void **state)
{
    struct fb f;

    (void)state;
    fb_eth(&f, PKT_ETH_IPV4, 0);
    fb_ip4(&f, 47, NULL, 0); /* GRE */
    fb_payload(&f, 8);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_L4_PROTO);
    fb_eth(&f, PKT_ETH_IPV4, 0);
    fb_ip4(&f, PKT_IPPROTO_ICMPV6, NULL, 0); /* ICMPv6 over IPv4 */
    fb_icmp(&f, 128, 0, 0x00070001, NULL, 0);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_L4_PROTO);
    fb_eth(&f, PKT_ETH_IPV6, 0);
    fb_ip6(&f, PKT_IPPROTO_ICMP, NULL, 0, PKT_IPPROTO_ICMP); /* ICMP over IPv6 */
    fb_icmp(&f, 8, 0, 0x00070001, NULL, 0);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_L4_PROTO);
    fb_eth(&f, PKT_ETH_IPV6, 0);
    fb_ip6(&f, 132, NULL, 0, 132); /* SCTP */
    fb_payload(&f, 12);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_L4_PROTO);
}

/* ---- TCP --------------------------------------------------------------------------------------
 */

static void test_tcp_short(void **state)
{
    struct fb f;

    (void)state;
    for (uint32_t n = 0; n < 20; n++) {
        fb_eth(&f, PKT_ETH_IPV4, 0);
        fb_ip4(&f, PKT_IPPROTO_TCP, NULL, 0);
        fb_payload(&f, n);
        fb_finish(&f);
        assert_int_equal(parse_fb(&f), PKT_ERR_TCP_SHORT);
    }
}

static void test_tcp_doff(void **state)
{
    struct fb f;

    (void)state;
    for (uint8_t doff = 0; doff < 5; doff++) {
        tcp4_frame(&f, TCPF_ACK, NULL, 0, 40);
        f.b[34 + 12] = (uint8_t)(doff << 4);
        assert_int_equal(parse_fb(&f), PKT_ERR_TCP_DOFF);
    }
    tcp4_frame(&f, TCPF_ACK, NULL, 0, 20); /* 40-byte segment: doff 11 (44 bytes) is past it */
    f.b[34 + 12] = 11 << 4;
    assert_int_equal(parse_fb(&f), PKT_ERR_TCP_DOFF);
    tcp4_frame(&f, TCPF_ACK, NULL, 0, 20); /* doff 10 fits exactly: options are the "payload" */
    f.b[34 + 12] = 10 << 4;
    memset(f.b + 54, 1, 20); /* NOPs */
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_OK);
}

static void test_tcp_options_good(void **state)
{
    static const uint8_t ws15[4] = {1, 3, 3, 15};
    static const uint8_t eol[4] = {0, 0xff, 0xff, 0xff};
    static const uint8_t sack[12] = {1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    struct fb f;
    struct pkt p;

    (void)state;
    tcp4_frame(&f, TCPF_SYN, ws15, 4, 0);
    parse_ok(&f, &p);
    assert_int_equal(p.wscale, 14); /* capped */
    tcp4_frame(&f, TCPF_SYN, eol, 4, 0);
    parse_ok(&f, &p);
    assert_int_equal(p.wscale, 0xff);
    assert_int_equal(p.mss, 0);
    tcp4_frame(&f, TCPF_ACK, sack, 12, 5);
    parse_ok(&f, &p);
    assert_int_equal(p.payload_len, 5);
    assert_int_equal(p.payload_off, 14 + 20 + 32);
}

static void test_tcp_options_bad(void **state)
{
    static const uint8_t bad[][8] = {
        {1, 1, 1, 1, 1, 1, 1, 2},     /* length byte missing */
        {3, 0, 1, 1, 1, 1, 1, 1},     /* length 0 */
        {3, 1, 1, 1, 1, 1, 1, 1},     /* length 1 */
        {1, 1, 1, 1, 1, 1, 3, 3},     /* window scale past the end */
        {2, 3, 5, 0, 0, 0, 0, 0},     /* MSS of length 3 */
        {3, 4, 7, 0, 0, 0, 0, 0},     /* window scale of length 4 */
        {4, 3, 0, 0, 0, 0, 0, 0},     /* SACK permitted of length 3 */
        {5, 6, 0, 0, 0, 1, 0, 0},     /* SACK not a multiple of 8 */
        {8, 8, 0, 0, 0, 0, 0, 0},     /* timestamps of length 8 */
        {0xfe, 12, 0, 0, 0, 0, 0, 0}, /* unknown option past the end */
    };
    static const uint8_t unknown_ok[8] = {0xfe, 6, 1, 2, 3, 4, 1, 0};
    struct fb f;
    struct pkt p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tcp4_frame(&f, TCPF_SYN, bad[i], 8, 0);
        assert_int_equal(parse_fb(&f), PKT_ERR_TCP_OPTIONS);
    }
    tcp4_frame(&f, TCPF_SYN, unknown_ok, 8, 0);
    parse_ok(&f, &p);
}

/* ---- UDP --------------------------------------------------------------------------------------
 */

static void test_udp(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    udp4_frame(&f, 10);
    parse_ok(&f, &p);
    assert_int_equal(p.l4.proto, PKT_IPPROTO_UDP);
    assert_int_equal(p.l4.sport, 5353);
    assert_int_equal(p.l4.dport, 53);
    assert_int_equal(p.l4_len, 18);
    assert_int_equal(p.payload_off, 42);
    assert_int_equal(p.payload_len, 10);
    assert_int_equal(p.wscale, 0);
    assert_true(pkt_l4_csum_ok(&p));
    /* a UDP length shorter than the IP payload trims the datagram */
    udp4_frame(&f, 10);
    w16(f.b + 34 + 4, 12);
    w16(f.b + 34 + 6, 0);
    parse_ok(&f, &p);
    assert_int_equal(p.l4_len, 12);
    assert_int_equal(p.payload_len, 4);
}

static void test_udp_short_len(void **state)
{
    struct fb f;

    (void)state;
    for (uint32_t n = 0; n < 8; n++) {
        fb_eth(&f, PKT_ETH_IPV4, 0);
        fb_ip4(&f, PKT_IPPROTO_UDP, NULL, 0);
        fb_payload(&f, n);
        fb_finish(&f);
        assert_int_equal(parse_fb(&f), PKT_ERR_UDP_SHORT);
    }
    udp4_frame(&f, 10);
    w16(f.b + 34 + 4, 7);
    assert_int_equal(parse_fb(&f), PKT_ERR_UDP_LEN);
    udp4_frame(&f, 10);
    w16(f.b + 34 + 4, 19);
    assert_int_equal(parse_fb(&f), PKT_ERR_UDP_LEN);
    udp6_frame(&f, 10);
    w16(f.b + 54 + 4, 0); /* a jumbogram's UDP length */
    assert_int_equal(parse_fb(&f), PKT_ERR_UDP_LEN);
}

/* ---- ICMP -------------------------------------------------------------------------------------
 */

static void test_icmp_echo(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    for (int reply = 0; reply < 2; reply++) {
        fb_eth(&f, PKT_ETH_IPV4, 0);
        fb_ip4(&f, PKT_IPPROTO_ICMP, NULL, 0);
        fb_icmp(&f, reply ? 0 : 8, 0, 0x00070001, (const uint8_t *)"ping data", 9);
        fb_finish(&f);
        parse_ok(&f, &p);
        assert_int_equal(p.icmp_type, reply ? 0 : 8);
        assert_true(p.icmp_is_echo);
        assert_false(p.icmp_is_error);
        assert_int_equal(p.icmp_id, 7);
        assert_int_equal(p.l4.sport, 7);
        assert_int_equal(p.l4.dport, 7);
        assert_int_equal(p.payload_len, 9);
        assert_true(pkt_l4_csum_ok(&p));
        fb_eth(&f, PKT_ETH_IPV6, 0);
        fb_ip6(&f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
        fb_icmp(&f, reply ? 129 : 128, 0, 0x12340002, NULL, 0);
        fb_finish(&f);
        parse_ok(&f, &p);
        assert_true(p.icmp_is_echo);
        assert_int_equal(p.icmp_id, 0x1234);
        assert_int_equal(p.l4.sport, 0x1234);
        assert_int_equal(p.l4.dport, 0x1234);
        assert_true(pkt_l4_csum_ok(&p));
    }
}

static void test_icmp_other_and_short(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    fb_eth(&f, PKT_ETH_IPV4, 0);
    fb_ip4(&f, PKT_IPPROTO_ICMP, NULL, 0);
    fb_icmp(&f, 13, 0, 0, NULL, 0); /* timestamp: accepted, but neither echo nor error */
    fb_finish(&f);
    parse_ok(&f, &p);
    assert_false(p.icmp_is_echo || p.icmp_is_error);
    assert_int_equal(p.l4.sport, 0);
    fb_eth(&f, PKT_ETH_IPV6, 0);
    fb_ip6(&f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    fb_icmp(&f, 134, 0, 0, NULL, 0); /* router advertisement */
    fb_finish(&f);
    parse_ok(&f, &p);
    assert_false(p.icmp_is_echo || p.icmp_is_error || p.is_nd);
    for (uint32_t n = 0; n < 8; n++) {
        fb_eth(&f, PKT_ETH_IPV4, 0);
        fb_ip4(&f, PKT_IPPROTO_ICMP, NULL, 0);
        fb_payload(&f, n);
        fb_finish(&f);
        assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_SHORT);
        fb_eth(&f, PKT_ETH_IPV6, 0);
        fb_ip6(&f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
        fb_payload(&f, n ? n : 1);
        fb_finish(&f);
        assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_SHORT);
    }
}

static void test_icmp4_error_quoting_tcp(void **state)
{
    struct fb orig, f;
    struct pkt p;

    (void)state;
    tcp4_frame(&orig, TCPF_SYN, SYN_OPTS, sizeof(SYN_OPTS), 0);
    icmp4_error_frame(&f, 3, 4, &orig, 20 + 8); /* quoted header + first 8 transport bytes */
    parse_ok(&f, &p);
    assert_int_equal(p.icmp_type, 3);
    assert_int_equal(p.icmp_code, 4);
    assert_true(p.icmp_is_error);
    assert_false(p.icmp_is_echo);
    assert_memory_equal(p.l4.src, IP4_R, 4);
    assert_int_equal(p.l4.sport, 0);
    assert_int_equal(p.inner.family, 4);
    assert_int_equal(p.inner.proto, PKT_IPPROTO_TCP);
    assert_memory_equal(p.inner.src, IP4_A, 4);
    assert_memory_equal(p.inner.dst, IP4_B, 4);
    assert_int_equal(p.inner.sport, 40000);
    assert_int_equal(p.inner.dport, 80);
    assert_int_equal(p.inner_seq, SEQ);
    assert_true(pkt_l4_csum_ok(&p));
    icmp4_error_frame(&f, 3, 4, &orig, orig.len - orig.l3); /* the whole packet quoted */
    parse_ok(&f, &p);
    assert_int_equal(p.inner.dport, 80);
}

static void test_icmp4_error_types(void **state)
{
    static const uint8_t types[] = {3, 4, 5, 11, 12};
    struct fb orig, f;
    struct pkt p;

    (void)state;
    udp4_frame(&orig, 20);
    for (size_t i = 0; i < sizeof(types); i++) {
        icmp4_error_frame(&f, types[i], 0, &orig, orig.len - orig.l3);
        parse_ok(&f, &p);
        assert_true(p.icmp_is_error);
        assert_int_equal(p.inner.proto, PKT_IPPROTO_UDP);
        assert_int_equal(p.inner.sport, 5353);
        assert_int_equal(p.inner.dport, 53);
        assert_int_equal(p.inner_seq, 0);
    }
    /* quoting an echo request: the identifier is both ports */
    fb_eth(&orig, PKT_ETH_IPV4, 0);
    fb_ip4(&orig, PKT_IPPROTO_ICMP, NULL, 0);
    fb_icmp(&orig, 8, 0, 0x00090001, NULL, 0);
    fb_finish(&orig);
    icmp4_error_frame(&f, 11, 0, &orig, 28);
    parse_ok(&f, &p);
    assert_int_equal(p.inner.proto, PKT_IPPROTO_ICMP);
    assert_int_equal(p.inner.sport, 9);
    assert_int_equal(p.inner.dport, 9);
    /* quoted header with options */
    fb_eth(&orig, PKT_ETH_IPV4, 0);
    fb_ip4(&orig, PKT_IPPROTO_TCP, (const uint8_t *)"\x94\x04\x00\x00", 4);
    fb_tcp(&orig, 1234, 443, TCPF_ACK, NULL, 0, 0);
    fb_finish(&orig);
    icmp4_error_frame(&f, 3, 1, &orig, 24 + 8);
    parse_ok(&f, &p);
    assert_int_equal(p.inner.sport, 1234);
    assert_int_equal(p.inner.dport, 443);
}

static void test_icmp4_error_bad_inner(void **state)
{
    struct fb orig, f;

    (void)state;
    tcp4_frame(&orig, TCPF_SYN, NULL, 0, 0);
    for (uint32_t q = 0; q < 28; q++) { /* less than header + 8 bytes */
        icmp4_error_frame(&f, 3, 1, &orig, q);
        assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    }
    orig.b[14] = 0x65; /* version 6 */
    icmp4_error_frame(&f, 3, 1, &orig, 28);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    orig.b[14] = 0x44; /* IHL 4 */
    icmp4_error_frame(&f, 3, 1, &orig, 28);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    orig.b[14] = 0x46; /* IHL 6: the quote no longer holds 8 transport bytes */
    icmp4_error_frame(&f, 3, 1, &orig, 28);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    orig.b[14] = 0x45;
    w16(orig.b + 14 + 6, 0x0010); /* a non-first fragment */
    icmp4_error_frame(&f, 3, 1, &orig, 28);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    w16(orig.b + 14 + 6, 0);
    orig.b[14 + 9] = 47; /* GRE */
    icmp4_error_frame(&f, 3, 1, &orig, 28);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    /* an error quoting an error */
    fb_eth(&orig, PKT_ETH_IPV4, 0);
    fb_ip4(&orig, PKT_IPPROTO_ICMP, NULL, 0);
    fb_icmp(&orig, 3, 0, 0, NULL, 0);
    fb_finish(&orig);
    icmp4_error_frame(&f, 3, 1, &orig, 28);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
}

static void test_icmp6_errors(void **state)
{
    static const uint8_t dst_opts[8] = {PKT_IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};
    struct fb orig, f;
    struct pkt p;

    (void)state;
    tcp6_frame(&orig, NULL, 0, 0);
    for (uint8_t type = 1; type <= 4; type++) {
        icmp6_error_frame(&f, type, &orig, 48);
        parse_ok(&f, &p);
        assert_true(p.icmp_is_error);
        assert_int_equal(p.inner.family, 6);
        assert_int_equal(p.inner.proto, PKT_IPPROTO_TCP);
        assert_memory_equal(p.inner.src, IP6_A, 16);
        assert_memory_equal(p.inner.dst, IP6_B, 16);
        assert_int_equal(p.inner.sport, 40000);
        assert_int_equal(p.inner.dport, 80);
        assert_int_equal(p.inner_seq, SEQ);
        assert_true(pkt_l4_csum_ok(&p));
    }
    /* packet too big quoting UDP behind a destination options header */
    fb_eth(&orig, PKT_ETH_IPV6, 0);
    fb_ip6(&orig, 60, dst_opts, 8, PKT_IPPROTO_UDP);
    fb_udp(&orig, 4500, 4501, 1400);
    fb_finish(&orig);
    icmp6_error_frame(&f, 2, &orig, 1232);
    parse_ok(&f, &p);
    assert_int_equal(p.inner.proto, PKT_IPPROTO_UDP);
    assert_int_equal(p.inner.sport, 4500);
    assert_int_equal(p.inner.dport, 4501);
    icmp6_error_frame(&f, 2, &orig, 40 + 8 + 7); /* ext header quoted, transport cut short */
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    /* quoting an echo request */
    fb_eth(&orig, PKT_ETH_IPV6, 0);
    fb_ip6(&orig, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    fb_icmp(&orig, 128, 0, 0x00420001, NULL, 0);
    fb_finish(&orig);
    icmp6_error_frame(&f, 3, &orig, 48);
    parse_ok(&f, &p);
    assert_int_equal(p.inner.proto, PKT_IPPROTO_ICMPV6);
    assert_int_equal(p.inner.sport, 0x42);
    assert_int_equal(p.inner.dport, 0x42);
}

static void test_icmp6_error_bad_inner(void **state)
{
    static const uint8_t frag[8] = {PKT_IPPROTO_UDP, 0, 0, 0, 0, 0, 0, 1};
    struct fb orig, f;

    (void)state;
    tcp6_frame(&orig, NULL, 0, 0);
    for (uint32_t q = 0; q < 48; q++) {
        icmp6_error_frame(&f, 1, &orig, q);
        assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    }
    orig.b[14] = 0x45;
    icmp6_error_frame(&f, 1, &orig, 48);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    fb_eth(&orig, PKT_ETH_IPV6, 0);
    fb_ip6(&orig, 44, frag, 8, PKT_IPPROTO_UDP);
    fb_udp(&orig, 1, 2, 8);
    fb_finish(&orig);
    icmp6_error_frame(&f, 1, &orig, orig.len - orig.l3);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
    fb_eth(&orig, PKT_ETH_IPV6, 0); /* quoting ICMP (v4) over IPv6 */
    fb_ip6(&orig, PKT_IPPROTO_ICMP, NULL, 0, PKT_IPPROTO_ICMP);
    fb_icmp(&orig, 8, 0, 0x00010001, NULL, 0);
    fb_finish(&orig);
    icmp6_error_frame(&f, 1, &orig, 48);
    assert_int_equal(parse_fb(&f), PKT_ERR_ICMP_INNER);
}

/* An ICMP error's flow key is the key of the connection it quotes, end to end through the parser.
 */
static void test_icmp_error_flow_key(void **state)
{
    struct fb orig, f;
    struct pkt p;
    struct flow_key k1, k2;
    bool s1, s2;

    (void)state;
    tcp4_frame(&orig, TCPF_SYN, NULL, 0, 0);
    parse_ok(&orig, &p);
    assert_int_equal(flow_key_from_pkt(&p, &k1, &s1), 0);
    icmp4_error_frame(&f, 3, 3, &orig, 28);
    parse_ok(&f, &p);
    assert_int_equal(flow_key_from_pkt(&p, &k2, &s2), 0);
    assert_true(flow_key_eq(&k1, &k2));
    assert_int_equal(s1, s2);
    tcp6_frame(&orig, NULL, 0, 0);
    parse_ok(&orig, &p);
    assert_int_equal(flow_key_from_pkt(&p, &k1, &s1), 0);
    icmp6_error_frame(&f, 1, &orig, 48);
    parse_ok(&f, &p);
    assert_int_equal(flow_key_from_pkt(&p, &k2, &s2), 0);
    assert_true(flow_key_eq(&k1, &k2));
    assert_int_equal(s1, s2);
}

/* ---- neighbour discovery ----------------------------------------------------------------------
 */

static void test_nd(void **state)
{
    struct fb f;
    struct pkt p;
    struct flow_key k;
    bool s;

    (void)state;
    for (uint8_t type = 135; type <= 136; type++) {
        nd_frame(&f, type, 255);
        parse_ok(&f, &p);
        assert_true(p.is_nd);
        assert_int_equal(p.icmp_type, type);
        assert_memory_equal(p.nd_target, IP6_B, 16);
        assert_int_equal(p.ttl, 255);
        assert_true(pkt_l4_csum_ok(&p));
        assert_int_equal(flow_key_from_pkt(&p, &k, &s), -1);
    }
    nd_frame(&f, 135, 64); /* forwarded by a router: not link-local */
    assert_int_equal(parse_fb(&f), PKT_ERR_ND_FORMAT);
    nd_frame(&f, 135, 255);
    f.b[54 + 1] = 1; /* code 1 */
    assert_int_equal(parse_fb(&f), PKT_ERR_ND_FORMAT);
    fb_eth(&f, PKT_ETH_IPV6, 0); /* 20 bytes: no room for the target */
    fb_ip6(&f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    f.b[14 + 7] = 255;
    fb_icmp(&f, 136, 0, 0, IP6_B, 12);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_ND_FORMAT);
}

/* ---- IPv6 -------------------------------------------------------------------------------------
 */

static void test_ip6_tcp_fields(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    tcp6_frame(&f, NULL, 0, 0);
    parse_ok(&f, &p);
    assert_int_equal(p.ethertype, PKT_ETH_IPV6);
    assert_int_equal(p.l3_off, 14);
    assert_int_equal(p.l3_len, 40 + 40);
    assert_int_equal(p.l4_off, 54);
    assert_int_equal(p.l4_len, 40);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.ttl_off, 7);
    assert_int_equal(p.l4.family, 6);
    assert_int_equal(p.l4.proto, PKT_IPPROTO_TCP);
    assert_memory_equal(p.l4.src, IP6_A, 16);
    assert_memory_equal(p.l4.dst, IP6_B, 16);
    assert_int_equal(p.l4.sport, 40000);
    assert_int_equal(p.mss, 1460);
    assert_int_equal(p.wscale, 7);
    assert_true(pkt_l4_csum_ok(&p));
    /* Ethernet padding after an IPv6 packet */
    f.b[f.len] = 0xee;
    f.len++;
    parse_ok(&f, &p);
    assert_int_equal(p.l3_len, 80);
    assert_true(pkt_l4_csum_ok(&p));
}

static void test_ip6_short_version_paylen(void **state)
{
    struct fb f;

    (void)state;
    udp6_frame(&f, 4);
    for (uint32_t n = 14; n < 54; n++)
        assert_int_equal(parse_exact(f.b, n), PKT_ERR_IP6_SHORT);
    f.b[14] = 0x40;
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_VERSION);
    udp6_frame(&f, 4);
    w16(f.b + 18, 13); /* one past the frame */
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_PAYLEN);
    w16(f.b + 18, 0); /* jumbogram */
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_PAYLEN);
    w16(f.b + 18, 0xffff);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_PAYLEN);
}

static void test_ip6_ext_chain(void **state)
{
    /* hop-by-hop -> destination options -> routing -> AH -> TCP */
    static const uint8_t ext[36] = {
        60,
        0,
        1,
        4,
        0,
        0,
        0,
        0, /* hop-by-hop, PadN */
        43,
        0,
        1,
        4,
        0,
        0,
        0,
        0, /* destination options, PadN */
        51,
        0,
        0,
        0,
        0,
        0,
        0,
        0, /* routing, type 0, 0 segments left */
        PKT_IPPROTO_TCP,
        1,
        0,
        0,
        0,
        0,
        0,
        1, /* AH: (1 + 2) * 4 = 12 bytes */
        0,
        0,
        0,
        1,
    };
    struct fb f;
    struct pkt p;

    (void)state;
    tcp6_frame(&f, ext, sizeof(ext), 0);
    parse_ok(&f, &p);
    assert_int_equal(p.l4.proto, PKT_IPPROTO_TCP);
    assert_int_equal(p.l4_off, 14 + 40 + 36);
    assert_int_equal(p.l4_len, 40);
    assert_int_equal(p.l3_len, 40 + 36 + 40);
    assert_int_equal(p.l4.dport, 80);
    assert_true(pkt_l4_csum_ok(&p));
}

static void test_ip6_ext_count(void **state)
{
    uint8_t ext[9 * 8];
    struct fb f;
    struct pkt p;

    (void)state;
    for (int n = 1; n <= 9; n++) {
        memset(ext, 0, sizeof(ext));
        for (int i = 0; i < n; i++) {
            ext[8 * i] = i == n - 1 ? PKT_IPPROTO_TCP : 60;
            ext[8 * i + 2] = 1;
            ext[8 * i + 3] = 4;
        }
        tcp6_frame(&f, ext, 8u * n, 60);
        if (n <= 8) {
            parse_ok(&f, &p);
            assert_int_equal(p.l4_off, 54 + 8 * n);
        } else {
            assert_int_equal(parse_fb(&f), PKT_ERR_IP6_EXTHDR);
        }
    }
}

static void test_ip6_ext_errors(void **state)
{
    static const uint8_t hbh_second[16] = {0, 0, 1, 4, 0, 0, 0, 0, PKT_IPPROTO_TCP,
                                           0, 1, 4, 0, 0, 0, 0};
    static const uint8_t long_dst[8] = {PKT_IPPROTO_TCP, 6, 1, 4, 0, 0, 0, 0}; /* claims 56 bytes */
    static const uint8_t frag[8] = {PKT_IPPROTO_TCP, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t hbh_frag[16] = {44, 0, 1, 4, 0, 0, 0, 0, PKT_IPPROTO_TCP,
                                         0,  0, 0, 0, 0, 0, 1};
    static const uint8_t dst_none[8] = {59, 0, 1, 4, 0, 0, 0, 0};
    struct fb f;

    (void)state;
    tcp6_frame(&f, hbh_second, 16, 60); /* hop-by-hop not first */
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_EXTHDR);
    fb_eth(&f, PKT_ETH_IPV6, 0);
    fb_ip6(&f, 60, long_dst, 8, PKT_IPPROTO_TCP);
    fb_payload(&f, 20);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_EXTHDR);
    fb_eth(&f, PKT_ETH_IPV6, 0); /* one byte of an extension header */
    fb_ip6(&f, 60, long_dst, 1, PKT_IPPROTO_TCP);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_EXTHDR);
    tcp6_frame(&f, frag, 8, 44);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_FRAGMENT);
    tcp6_frame(&f, hbh_frag, 16, 0);
    assert_int_equal(parse_fb(&f), PKT_ERR_IP6_FRAGMENT);
    fb_eth(&f, PKT_ETH_IPV6, 0); /* no next header */
    fb_ip6(&f, 59, NULL, 0, 59);
    fb_payload(&f, 8);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_L4_PROTO);
    fb_eth(&f, PKT_ETH_IPV6, 0);
    fb_ip6(&f, 60, dst_none, 8, 59);
    fb_finish(&f);
    assert_int_equal(parse_fb(&f), PKT_ERR_L4_PROTO);
}

/* ---- transport checksums ----------------------------------------------------------------------
 */

/* Flips one byte of the transport payload (or header) and expects the check to fail. */
static void csum_good_then_bad(struct fb *f, uint32_t flip_off)
{
    struct pkt p;

    parse_ok(f, &p);
    assert_true(pkt_l4_csum_ok(&p));
    f->b[flip_off] ^= 0x40;
    parse_ok(f, &p);
    assert_false(pkt_l4_csum_ok(&p));
}

static void test_l4_csum(void **state)
{
    static const uint8_t dst_opts[8] = {PKT_IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};
    struct fb f;
    struct pkt p;

    (void)state;
    tcp4_frame(&f, TCPF_ACK, NULL, 0, 33);
    csum_good_then_bad(&f, f.len - 1);
    tcp4_frame(&f, TCPF_ACK, NULL, 0, 33);
    f.b[14 + 12] ^= 0x40; /* source address: covered by the pseudo-header */
    fb_ip4_csum(&f);
    parse_ok(&f, &p);
    assert_false(pkt_l4_csum_ok(&p));
    udp4_frame(&f, 7);
    csum_good_then_bad(&f, f.len - 1);
    tcp6_frame(&f, NULL, 0, 0);
    csum_good_then_bad(&f, 54 + 4);
    udp6_frame(&f, 9);
    csum_good_then_bad(&f, f.len - 3);
    fb_eth(&f, PKT_ETH_IPV6, 0); /* the pseudo-header length excludes extension headers */
    fb_ip6(&f, 60, dst_opts, 8, PKT_IPPROTO_UDP);
    fb_udp(&f, 1, 2, 11);
    fb_finish(&f);
    csum_good_then_bad(&f, f.len - 1);
    fb_eth(&f, PKT_ETH_IPV4, 0);
    fb_ip4(&f, PKT_IPPROTO_ICMP, NULL, 0);
    fb_icmp(&f, 8, 0, 0x00010001, (const uint8_t *)"abc", 3);
    fb_finish(&f);
    csum_good_then_bad(&f, f.len - 2);
    fb_eth(&f, PKT_ETH_IPV6, 0);
    fb_ip6(&f, PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    fb_icmp(&f, 128, 0, 0x00010001, (const uint8_t *)"abc", 3);
    fb_finish(&f);
    csum_good_then_bad(&f, 14 + 39); /* destination address: ICMPv6 has a pseudo-header */
}

static void test_l4_csum_udp_zero(void **state)
{
    struct fb f;
    struct pkt p;

    (void)state;
    udp4_frame(&f, 5);
    w16(f.b + 34 + 6, 0);
    parse_ok(&f, &p);
    assert_true(pkt_l4_csum_ok(&p)); /* IPv4: no checksum */
    udp6_frame(&f, 5);
    w16(f.b + 54 + 6, 0);
    parse_ok(&f, &p);
    assert_false(pkt_l4_csum_ok(&p)); /* IPv6: mandatory */
}

/* ---- drop names -------------------------------------------------------------------------------
 */

static void test_drop_names(void **state)
{
    (void)state;
    for (int i = 0; i < PKT_DROP_MAX; i++) {
        const char *n = pkt_drop_name((enum pkt_drop)i);

        assert_non_null(n);
        assert_true(n[0] != '\0');
        assert_string_not_equal(n, "unknown");
        assert_true(strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(n));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, pkt_drop_name((enum pkt_drop)j));
    }
    assert_string_equal(pkt_drop_name(PKT_OK), "ok");
    assert_string_equal(pkt_drop_name(PKT_ERR_ETH_SHORT), "eth_short");
    assert_string_equal(pkt_drop_name(PKT_ERR_IP4_IHL), "ip4_ihl");
    assert_string_equal(pkt_drop_name(PKT_ERR_TCP_DOFF), "tcp_doff");
    assert_string_equal(pkt_drop_name(PKT_ERR_L4_CSUM), "l4_csum");
    assert_string_equal(pkt_drop_name(PKT_DROP_MAX), "unknown");
    assert_string_equal(pkt_drop_name((enum pkt_drop)1000), "unknown");
}

/* ---- robustness -------------------------------------------------------------------------------
 */

#define NSAMPLES 10

/* A set of valid frames that together reach every parser path. */
static void build_samples(struct fb *s)
{
    static const uint8_t ext[16] = {60, 0, 1, 4, 0, 0, 0, 0, PKT_IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0};
    static const uint8_t ipopt[8] = {1, 0x94, 4, 0, 0, 1, 1, 0};
    struct fb orig;

    tcp4_frame(&s[0], TCPF_SYN, SYN_OPTS, sizeof(SYN_OPTS), 12);
    tcp6_frame(&s[1], ext, sizeof(ext), 0);
    fb_eth(&s[2], PKT_ETH_IPV4, 1);
    fb_ip4(&s[2], PKT_IPPROTO_UDP, NULL, 0);
    fb_udp(&s[2], 53, 5353, 30);
    fb_finish(&s[2]);
    tcp4_frame(&orig, TCPF_SYN, NULL, 0, 0);
    icmp4_error_frame(&s[3], 3, 1, &orig, 28);
    tcp6_frame(&orig, ext, sizeof(ext), 0);
    icmp6_error_frame(&s[4], 1, &orig, 64);
    nd_frame(&s[5], 135, 255);
    arp_frame(&s[6], 2);
    fb_eth(&s[7], PKT_ETH_IPV6, 2);
    fb_ip6(&s[7], PKT_IPPROTO_ICMPV6, NULL, 0, PKT_IPPROTO_ICMPV6);
    fb_icmp(&s[7], 128, 0, 0x00050001, (const uint8_t *)"0123456789", 10);
    fb_finish(&s[7]);
    fb_eth(&s[8], PKT_ETH_IPV4, 0);
    fb_ip4(&s[8], PKT_IPPROTO_TCP, ipopt, sizeof(ipopt));
    fb_tcp(&s[8], 22, 50000, TCPF_ACK, SYN_OPTS + 16, 4, 3);
    fb_finish(&s[8]);
    udp6_frame(&s[9], 0);
}

/* Every prefix of every sample: never OK before the IP length is complete, OK at full length. */
static void test_truncation(void **state)
{
    struct fb s[NSAMPLES];
    struct pkt p;

    (void)state;
    build_samples(s);
    for (int i = 0; i < NSAMPLES; i++) {
        uint32_t need;

        assert_int_equal(pkt_parse(s[i].b, s[i].len, &p), PKT_OK);
        need = p.l3_off + p.l3_len;
        for (uint32_t n = 0; n <= s[i].len; n++) {
            enum pkt_drop r = parse_exact(s[i].b, n);

            if (n < need)
                assert_int_not_equal(r, PKT_OK);
            else
                assert_int_equal(r, PKT_OK);
        }
    }
}

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Random byte mutations and truncations of the samples (fixed seed): the parser must never read
 * outside the frame (ASan) and every accepted result must satisfy the invariants. */
static void test_mutations(void **state)
{
    struct fb s[NSAMPLES];
    uint8_t buf[2048];
    uint32_t x = 0xc0ffee11, accepted = 0;
    unsigned seen[PKT_DROP_MAX] = {0};

    (void)state;
    build_samples(s);
    for (int iter = 0; iter < 20000; iter++) {
        const struct fb *f = &s[rnd(&x) % NSAMPLES];
        uint32_t len = f->len, nmut = 1 + rnd(&x) % 4;
        enum pkt_drop r;

        memcpy(buf, f->b, len);
        for (uint32_t m = 0; m < nmut; m++) {
            /* bias towards the headers, where the parser makes its decisions */
            uint32_t span = rnd(&x) % 2 ? len : (len < 100 ? len : 100);
            uint32_t pos = rnd(&x) % span;
            buf[pos] = (uint8_t)rnd(&x);
        }
        if (rnd(&x) % 4 == 0)
            len = rnd(&x) % (len + 1);
        r = parse_exact(buf, len);
        seen[r]++;
        accepted += r == PKT_OK;
    }
    assert_true(accepted > 0);
    assert_true(seen[PKT_ERR_IP4_CSUM] > 0);
    assert_true(seen[PKT_ERR_ETHERTYPE] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_rfc1071_example),
        cmocka_unit_test(test_csum_matches_reference),
        cmocka_unit_test(test_csum_chaining),
        cmocka_unit_test(test_eth_short),
        cmocka_unit_test(test_ethertype_unknown),
        cmocka_unit_test(test_vlan_single),
        cmocka_unit_test(test_vlan_double),
        cmocka_unit_test(test_vlan_short),
        cmocka_unit_test(test_arp_ok),
        cmocka_unit_test(test_arp_short),
        cmocka_unit_test(test_arp_format),
        cmocka_unit_test(test_ip4_tcp_fields),
        cmocka_unit_test(test_ip4_payload_and_padding),
        cmocka_unit_test(test_ip4_short_version),
        cmocka_unit_test(test_ip4_ihl),
        cmocka_unit_test(test_ip4_totlen),
        cmocka_unit_test(test_ip4_csum),
        cmocka_unit_test(test_ip4_options),
        cmocka_unit_test(test_ip4_fragment),
        cmocka_unit_test(test_l4_proto),
        cmocka_unit_test(test_tcp_short),
        cmocka_unit_test(test_tcp_doff),
        cmocka_unit_test(test_tcp_options_good),
        cmocka_unit_test(test_tcp_options_bad),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_udp_short_len),
        cmocka_unit_test(test_icmp_echo),
        cmocka_unit_test(test_icmp_other_and_short),
        cmocka_unit_test(test_icmp4_error_quoting_tcp),
        cmocka_unit_test(test_icmp4_error_types),
        cmocka_unit_test(test_icmp4_error_bad_inner),
        cmocka_unit_test(test_icmp6_errors),
        cmocka_unit_test(test_icmp6_error_bad_inner),
        cmocka_unit_test(test_icmp_error_flow_key),
        cmocka_unit_test(test_nd),
        cmocka_unit_test(test_ip6_tcp_fields),
        cmocka_unit_test(test_ip6_short_version_paylen),
        cmocka_unit_test(test_ip6_ext_chain),
        cmocka_unit_test(test_ip6_ext_count),
        cmocka_unit_test(test_ip6_ext_errors),
        cmocka_unit_test(test_l4_csum),
        cmocka_unit_test(test_l4_csum_udp_zero),
        cmocka_unit_test(test_drop_names),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
