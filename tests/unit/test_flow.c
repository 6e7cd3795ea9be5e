/* test_flow.c: unit tests of the canonical flow key, the BPF-compatible steering hash, the table
 * hash and key formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "packet.h"

static const uint8_t IP4_A[4] = {10, 10, 1, 10};
static const uint8_t IP4_B[4] = {10, 10, 2, 10};
static const uint8_t IP6_A[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint8_t IP6_B[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

static struct pkt_l4 tuple(uint8_t family, uint8_t proto, const uint8_t *src, uint16_t sport,
                           const uint8_t *dst, uint16_t dport)
{
    struct pkt_l4 t;

    memset(&t, 0, sizeof(t));
    t.family = family;
    t.proto = proto;
    memcpy(t.src, src, family == 4 ? 4 : 16);
    memcpy(t.dst, dst, family == 4 ? 4 : 16);
    t.sport = sport;
    t.dport = dport;
    return t;
}

static struct pkt_l4 reversed(const struct pkt_l4 *t)
{
    struct pkt_l4 r = *t;

    memcpy(r.src, t->dst, 16);
    memcpy(r.dst, t->src, 16);
    r.sport = t->dport;
    r.dport = t->sport;
    return r;
}

/* A parsed packet as pkt_parse would leave it, for the fields the flow code reads. */
static struct pkt ip_pkt(const struct pkt_l4 *t)
{
    struct pkt p;

    memset(&p, 0, sizeof(p));
    p.ethertype = t->family == 4 ? PKT_ETH_IPV4 : PKT_ETH_IPV6;
    p.l4 = *t;
    if (t->proto == PKT_IPPROTO_ICMP || t->proto == PKT_IPPROTO_ICMPV6) {
        p.icmp_type = t->proto == PKT_IPPROTO_ICMP ? 8 : 128;
        p.icmp_is_echo = true;
        p.icmp_id = t->sport;
    }
    return p;
}

/* Both directions give one key, with src_is_a flipped, one table hash and one steering hash. */
static void check_symmetric(const struct pkt_l4 *t)
{
    struct pkt_l4 r = reversed(t);
    struct pkt p1 = ip_pkt(t), p2 = ip_pkt(&r);
    struct flow_key k1, k2;
    bool s1, s2;

    assert_int_equal(flow_key_from_pkt(&p1, &k1, &s1), 0);
    assert_int_equal(flow_key_from_pkt(&p2, &k2, &s2), 0);
    assert_true(flow_key_eq(&k1, &k2));
    assert_int_equal(flow_key_hash(&k1), flow_key_hash(&k2));
    assert_int_equal(flow_steer_hash(t), flow_steer_hash(&r));
    assert_int_equal(k1.family, t->family);
    assert_int_equal(k1.proto, t->proto);
    assert_int_equal(k1.pad, 0);
    if (memcmp(t->src, t->dst, 16) != 0 || t->sport != t->dport)
        assert_int_not_equal(s1, s2);
    /* a is the lower endpoint */
    assert_true(memcmp(k1.a, k1.b, 16) < 0 || (memcmp(k1.a, k1.b, 16) == 0 && k1.pa <= k1.pb));
    /* and src_is_a says which one the source was */
    assert_memory_equal(s1 ? k1.a : k1.b, t->src, 16);
    assert_int_equal(s1 ? k1.pa : k1.pb, t->sport);
}

static void test_symmetry_v4(void **state)
{
    struct pkt_l4 t;

    (void)state;
    t = tuple(4, PKT_IPPROTO_TCP, IP4_A, 40000, IP4_B, 80);
    check_symmetric(&t);
    t = tuple(4, PKT_IPPROTO_TCP, IP4_B, 80, IP4_A, 40000);
    check_symmetric(&t);
    t = tuple(4, PKT_IPPROTO_UDP, IP4_A, 5353, IP4_B, 53);
    check_symmetric(&t);
    t = tuple(4, PKT_IPPROTO_ICMP, IP4_A, 7, IP4_B, 7);
    check_symmetric(&t);
    /* same address: the ports decide */
    t = tuple(4, PKT_IPPROTO_TCP, IP4_A, 2000, IP4_A, 1000);
    check_symmetric(&t);
}

static void test_symmetry_v6(void **state)
{
    struct pkt_l4 t;

    (void)state;
    t = tuple(6, PKT_IPPROTO_TCP, IP6_B, 80, IP6_A, 40000);
    check_symmetric(&t);
    t = tuple(6, PKT_IPPROTO_UDP, IP6_A, 40000, IP6_B, 53);
    check_symmetric(&t);
    t = tuple(6, PKT_IPPROTO_ICMPV6, IP6_A, 0x42, IP6_B, 0x42);
    check_symmetric(&t);
}

/* Many random tuples: symmetry holds for all of them. */
static void test_symmetry_random(void **state)
{
    uint32_t x = 0x1234567;

    (void)state;
    for (int i = 0; i < 2000; i++) {
        struct pkt_l4 t;
        uint8_t a[16], b[16];

        for (int j = 0; j < 16; j++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            a[j] = (uint8_t)x;
            b[j] = (uint8_t)(x >> 8);
        }
        if (i % 7 == 0)
            memcpy(b, a, 16);
        t = tuple(i % 2 ? 4 : 6, i % 3 ? PKT_IPPROTO_TCP : PKT_IPPROTO_UDP, a, (uint16_t)x, b,
                  (uint16_t)(x >> 16));
        check_symmetric(&t);
    }
}

/* An ICMP error maps to the key of the connection it quotes, from either side. */
static void test_icmp_error_maps_to_quoted(void **state)
{
    static const uint8_t router[4] = {10, 10, 2, 1};
    struct pkt_l4 conn = tuple(4, PKT_IPPROTO_TCP, IP4_A, 40000, IP4_B, 80);
    struct pkt_l4 back = reversed(&conn);
    struct pkt syn = ip_pkt(&conn), err;
    struct flow_key k, ke;
    bool s, se;

    (void)state;
    assert_int_equal(flow_key_from_pkt(&syn, &k, &s), 0);
    /* the router tells A that B is unreachable, quoting A's SYN */
    memset(&err, 0, sizeof(err));
    err.ethertype = PKT_ETH_IPV4;
    err.l4 = tuple(4, PKT_IPPROTO_ICMP, router, 0, IP4_A, 0);
    err.icmp_type = 3;
    err.icmp_is_error = true;
    err.inner = conn;
    assert_int_equal(flow_key_from_pkt(&err, &ke, &se), 0);
    assert_true(flow_key_eq(&k, &ke));
    assert_int_equal(s, se);
    /* an error quoting B's reply: same key, the quoted source is the other end */
    err.inner = back;
    assert_int_equal(flow_key_from_pkt(&err, &ke, &se), 0);
    assert_true(flow_key_eq(&k, &ke));
    assert_int_not_equal(s, se);
    /* IPv6 error quoting an ICMPv6 echo */
    conn = tuple(6, PKT_IPPROTO_ICMPV6, IP6_A, 9, IP6_B, 9);
    syn = ip_pkt(&conn);
    assert_int_equal(flow_key_from_pkt(&syn, &k, &s), 0);
    memset(&err, 0, sizeof(err));
    err.ethertype = PKT_ETH_IPV6;
    err.l4 = tuple(6, PKT_IPPROTO_ICMPV6, IP6_B, 0, IP6_A, 0);
    err.icmp_type = 1;
    err.icmp_is_error = true;
    err.inner = conn;
    assert_int_equal(flow_key_from_pkt(&err, &ke, &se), 0);
    assert_true(flow_key_eq(&k, &ke));
}

static void test_no_flow(void **state)
{
    struct pkt_l4 t = tuple(4, PKT_IPPROTO_ICMP, IP4_A, 0, IP4_B, 0);
    struct pkt p;
    struct flow_key k;
    bool s;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.ethertype = PKT_ETH_ARP;
    assert_int_equal(flow_key_from_pkt(&p, &k, &s), -1);
    p = ip_pkt(&t); /* timestamp request: neither echo nor error */
    p.icmp_type = 13;
    p.icmp_is_echo = false;
    assert_int_equal(flow_key_from_pkt(&p, &k, &s), -1);
    t = tuple(6, PKT_IPPROTO_ICMPV6, IP6_A, 0, IP6_B, 0);
    p = ip_pkt(&t);
    p.icmp_type = 135;
    p.icmp_is_echo = false;
    p.is_nd = true;
    assert_int_equal(flow_key_from_pkt(&p, &k, &s), -1);
}

/* Reads a big-endian value from a byte array as BPF's ld [k] / ldh [k] do. */
static uint32_t bpf_ld(const uint8_t *b, int size)
{
    uint32_t v = 0;

    for (int i = 0; i < size; i++)
        v = v << 8 | b[i];
    return v;
}

/* The worked example from DESIGN.md: ip[12:4] ^ ip[16:4] ^ tcp[0:2] ^ tcp[2:2] over real header
 * bytes, and the constant worked out by hand. */
static void test_steer_hash_matches_bpf(void **state)
{
    /* IPv4 header (no options) + the first 4 bytes of TCP: 10.10.1.10:40000 -> 10.10.2.10:80 */
    static const uint8_t pkt[24] = {0x45, 0,  0, 40, 0,  0,  0x40, 0,  64,   6,    0,    0,
                                    10,   10, 1, 10, 10, 10, 2,    10, 0x9c, 0x40, 0x00, 0x50};
    const uint8_t *ip = pkt, *tcp = pkt + 20;
    struct pkt_l4 t = tuple(4, PKT_IPPROTO_TCP, IP4_A, 40000, IP4_B, 80);
    struct pkt_l4 r = reversed(&t);
    uint32_t bpf = bpf_ld(ip + 12, 4) ^ bpf_ld(ip + 16, 4) ^ bpf_ld(tcp, 2) ^ bpf_ld(tcp + 2, 2);

    (void)state;
    /* 0x0a0a010a ^ 0x0a0a020a = 0x300; 40000 ^ 80 = 0x9c40 ^ 0x50 = 0x9c10; 0x300 ^ 0x9c10 */
    assert_int_equal(bpf, 0x9f10);
    assert_int_equal(flow_steer_hash(&t), bpf);
    assert_int_equal(flow_steer_hash(&r), bpf);
    assert_int_equal(flow_bucket(flow_steer_hash(&t), 1024), 0x310);
    /* ICMP and other protocols: the addresses only */
    t = tuple(4, PKT_IPPROTO_ICMP, IP4_A, 7, IP4_B, 7);
    assert_int_equal(flow_steer_hash(&t), 0x300);
    /* IPv6: the xor of the eight address words and the ports */
    t = tuple(6, PKT_IPPROTO_UDP, IP6_A, 1000, IP6_B, 53);
    assert_int_equal(flow_steer_hash(&t), (0x01u ^ 0x02u) ^ 1000u ^ 53u);
    t.src[0] = 0x20, t.src[1] = 0x01, t.src[4] = 0xab;
    assert_int_equal(flow_steer_hash(&t),
                     0x20010000u ^ 0xfd000000u ^ 0xab000000u ^ (0x01u ^ 0x02u) ^ 1000u ^ 53u);
}

/* Equal keys hash alike; the key ignores garbage past an IPv4 address; the hash spreads. */
static void test_key_hash(void **state)
{
    struct pkt_l4 t = tuple(4, PKT_IPPROTO_TCP, IP4_A, 40000, IP4_B, 80), u;
    struct flow_key k1, k2;
    bool s;
    static uint16_t load[1024];
    uint16_t max = 0;

    (void)state;
    flow_key_from_l4(&t, &k1, &s);
    u = t;
    memset(u.src + 4, 0xaa, 12); /* garbage past the IPv4 address must not reach the key */
    memset(&k2, 0x55, sizeof(k2));
    flow_key_from_l4(&u, &k2, &s);
    assert_true(flow_key_eq(&k1, &k2));
    assert_int_equal(flow_key_hash(&k1), flow_key_hash(&k2));
    u.dport = 81;
    flow_key_from_l4(&u, &k2, &s);
    assert_false(flow_key_eq(&k1, &k2));
    assert_int_not_equal(flow_key_hash(&k1), flow_key_hash(&k2));
    u = tuple(4, PKT_IPPROTO_UDP, IP4_A, 40000, IP4_B, 80);
    flow_key_from_l4(&u, &k2, &s);
    assert_false(flow_key_eq(&k1, &k2));
    assert_int_not_equal(flow_key_hash(&k1), flow_key_hash(&k2));
    /* 16384 clients on sequential ports into 1024 slots: about 16 each, none crowded */
    for (uint32_t i = 0; i < 16384; i++) {
        t = tuple(4, PKT_IPPROTO_TCP, IP4_A, (uint16_t)(10000 + i), IP4_B, 80);
        flow_key_from_l4(&t, &k1, &s);
        uint16_t *slot = &load[flow_key_hash(&k1) & 1023];
        if (++*slot > max)
            max = *slot;
    }
    assert_true(max < 40);
}

static void test_format(void **state)
{
    struct pkt_l4 t;
    struct flow_key k;
    bool s;
    char buf[128];
    int n;

    (void)state;
    t = tuple(4, PKT_IPPROTO_TCP, IP4_B, 80, IP4_A, 40000);
    flow_key_from_l4(&t, &k, &s);
    n = flow_key_format(&k, buf, sizeof(buf));
    assert_string_equal(buf, "tcp 10.10.1.10:40000 10.10.2.10:80");
    assert_int_equal(n, (int)strlen(buf));
    t = tuple(4, PKT_IPPROTO_UDP, IP4_A, 5353, IP4_B, 53);
    flow_key_from_l4(&t, &k, &s);
    flow_key_format(&k, buf, sizeof(buf));
    assert_string_equal(buf, "udp 10.10.1.10:5353 10.10.2.10:53");
    t = tuple(6, PKT_IPPROTO_TCP, IP6_B, 80, IP6_A, 40000);
    flow_key_from_l4(&t, &k, &s);
    flow_key_format(&k, buf, sizeof(buf));
    assert_string_equal(buf, "tcp [fd00::1]:40000 [fd00::2]:80");
    t = tuple(4, PKT_IPPROTO_ICMP, IP4_A, 7, IP4_B, 7);
    flow_key_from_l4(&t, &k, &s);
    flow_key_format(&k, buf, sizeof(buf));
    assert_string_equal(buf, "icmp 10.10.1.10 10.10.2.10 id 7");
    t = tuple(6, PKT_IPPROTO_ICMPV6, IP6_A, 9, IP6_B, 9);
    flow_key_from_l4(&t, &k, &s);
    flow_key_format(&k, buf, sizeof(buf));
    assert_string_equal(buf, "icmpv6 fd00::1 fd00::2 id 9");
    /* truncation: snprintf semantics */
    t = tuple(4, PKT_IPPROTO_TCP, IP4_A, 40000, IP4_B, 80);
    flow_key_from_l4(&t, &k, &s);
    n = flow_key_format(&k, buf, 8);
    assert_int_equal(n, (int)strlen("tcp 10.10.1.10:40000 10.10.2.10:80"));
    assert_string_equal(buf, "tcp 10.");
    assert_int_equal(flow_key_format(&k, NULL, 0), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symmetry_v4),     cmocka_unit_test(test_symmetry_v6),
        cmocka_unit_test(test_symmetry_random), cmocka_unit_test(test_icmp_error_maps_to_quoted),
        cmocka_unit_test(test_no_flow),         cmocka_unit_test(test_steer_hash_matches_bpf),
        cmocka_unit_test(test_key_hash),        cmocka_unit_test(test_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
