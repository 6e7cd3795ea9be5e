/* test_classify.c: unit tests of the compiled rule matcher: order, prefixes, ports, sides, ICMP. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"

#define MAX_RULES 16

/* Compiles the rules given as text, one per string (NULL-terminated list). */
static struct classifier *compile(const char *const *texts)
{
    struct rule rules[MAX_RULES];
    char err[256];
    size_t n = 0;

    for (; texts[n] != NULL; n++) {
        assert_true(n < MAX_RULES);
        if (rule_parse(texts[n], &rules[n], err, sizeof(err)) != 0)
            fail_msg("'%s': %s", texts[n], err);
    }
    struct classifier *c = classify_compile(rules, n, err, sizeof(err));
    if (c == NULL)
        fail_msg("compile: %s", err);
    assert_int_equal(classify_count(c), n);
    return c;
}

/* A tuple from text addresses (IPv4 or IPv6, told apart by ':'). */
static struct pkt_l4 tuple(uint8_t proto, const char *src, uint16_t sport, const char *dst,
                           uint16_t dport)
{
    struct pkt_l4 t;

    memset(&t, 0, sizeof(t));
    t.family = strchr(src, ':') != NULL ? 6 : 4;
    t.proto = proto;
    assert_int_equal(inet_pton(t.family == 6 ? AF_INET6 : AF_INET, src, t.src), 1);
    assert_int_equal(inet_pton(t.family == 6 ? AF_INET6 : AF_INET, dst, t.dst), 1);
    t.sport = sport;
    t.dport = dport;
    return t;
}

static struct pkt_l4 tcp(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
    return tuple(PKT_IPPROTO_TCP, src, sport, dst, dport);
}

/* Returns the matching rule's index (-1 for none) and checks the action agrees with it. */
static int match(const struct classifier *c, struct pkt_l4 t, int side, int icmp_type)
{
    int action = 42;
    int i = classify_match(c, &t, side, icmp_type, &action);
    if (i < 0)
        assert_int_equal(action, RULE_DENY);
    else
        assert_true(action == RULE_ALLOW || action == RULE_DENY);
    return i;
}

static void test_empty_is_default_deny(void **state)
{
    static const char *const none[] = {NULL};
    char err[64];
    int action = 7;
    (void)state;
    struct classifier *c = compile(none);
    struct pkt_l4 t = tcp("10.0.0.1", 1, "10.0.0.2", 2);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, &action), -1);
    assert_int_equal(action, RULE_DENY);
    classify_free(c);

    c = classify_compile(NULL, 0, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(classify_count(c), 0);
    classify_free(c);
    classify_free(NULL);
    assert_int_equal(classify_count(NULL), 0);
    assert_int_equal(classify_match(NULL, &t, RULE_SIDE_A, -1, &action), -1);
    assert_int_equal(action, RULE_DENY);
    assert_int_equal(classify_match(c = compile(none), NULL, RULE_SIDE_A, -1, NULL), -1);
    classify_free(c);
}

static void test_first_match_wins(void **state)
{
    static const char *const rules[] = {
        "deny tcp to 10.0.2.10 port 22", "allow tcp to 10.0.2.0/24", "deny tcp", "allow any", NULL,
    };
    int action;
    (void)state;
    struct classifier *c = compile(rules);
    struct pkt_l4 t = tcp("10.0.1.5", 4000, "10.0.2.10", 22);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, &action), 0);
    assert_int_equal(action, RULE_DENY);
    t = tcp("10.0.1.5", 4000, "10.0.2.10", 80);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, &action), 1);
    assert_int_equal(action, RULE_ALLOW);
    t = tcp("10.0.1.5", 4000, "10.0.3.10", 80);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, &action), 2);
    assert_int_equal(action, RULE_DENY);
    t = tuple(PKT_IPPROTO_UDP, "10.0.1.5", 4000, "10.0.3.10", 80);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, &action), 3);
    assert_int_equal(action, RULE_ALLOW);
    /* NULL action is allowed */
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, NULL), 3);
    classify_free(c);
}

static void test_no_match_denies(void **state)
{
    static const char *const rules[] = {"allow tcp to 10.0.2.10 port 80", NULL};
    (void)state;
    struct classifier *c = compile(rules);
    assert_int_equal(match(c, tcp("10.0.1.5", 1, "10.0.2.10", 80), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("10.0.1.5", 1, "10.0.2.10", 81), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tcp("10.0.1.5", 1, "10.0.2.11", 80), RULE_SIDE_A, -1), -1);
    assert_int_equal(
        match(c, tuple(PKT_IPPROTO_UDP, "10.0.1.5", 1, "10.0.2.10", 80), RULE_SIDE_A, -1), -1);
    classify_free(c);
}

static void test_v4_prefixes(void **state)
{
    static const char *const rules[] = {
        "allow tcp to 192.168.1.77",   /* /32 */
        "allow tcp to 192.168.1.0/24", /* 1 */
        "allow tcp to 128.0.0.0/1",    /* 2 */
        "allow tcp from 0.0.0.0/0",    /* 3 */
        NULL,
    };
    (void)state;
    struct classifier *c = compile(rules);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.1.77", 2), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.1.76", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.1.78", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.1.0", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.1.255", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.0.255", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "192.168.2.0", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "128.0.0.0", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "255.255.255.255", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "127.255.255.255", 2), RULE_SIDE_A, -1), 3);
    assert_int_equal(match(c, tcp("0.0.0.0", 1, "0.0.0.0", 2), RULE_SIDE_A, -1), 3);
    /* 0.0.0.0/0 is "every IPv4 address", not "any family" */
    assert_int_equal(match(c, tcp("::1", 1, "::2", 2), RULE_SIDE_A, -1), -1);
    classify_free(c);
}

static void test_v6_prefixes(void **state)
{
    static const char *const rules[] = {
        "allow tcp to 2001:db8::1",       /* 0: /128 */
        "allow tcp to 2001:db8::2/127",   /* 1: ::2 and ::3 */
        "allow tcp to 2001:db8:0:1::/64", /* 2 */
        "allow tcp to 8000::/1",          /* 3 */
        "allow tcp to ::/0",              /* 4 */
        NULL,
    };
    (void)state;
    struct classifier *c = compile(rules);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8::1", 2), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8::2", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8::3", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8::4", 2), RULE_SIDE_A, -1), 4);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8::", 2), RULE_SIDE_A, -1), 4);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8:0:1::", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(
        match(c, tcp("::9", 1, "2001:db8:0:1:ffff:ffff:ffff:ffff", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8:0:2::", 2), RULE_SIDE_A, -1), 4);
    assert_int_equal(match(c, tcp("::9", 1, "2001:db8:0:0:ffff::", 2), RULE_SIDE_A, -1), 4);
    assert_int_equal(match(c, tcp("::9", 1, "8000::", 2), RULE_SIDE_A, -1), 3);
    assert_int_equal(match(c, tcp("::9", 1, "ffff::1", 2), RULE_SIDE_A, -1), 3);
    assert_int_equal(match(c, tcp("::9", 1, "7fff:ffff::", 2), RULE_SIDE_A, -1), 4);
    /* IPv4 packets never match IPv6 rules */
    assert_int_equal(match(c, tcp("10.0.0.1", 1, "10.0.0.2", 2), RULE_SIDE_A, -1), -1);
    classify_free(c);
}

static void test_v6_prefix_at_word_boundary(void **state)
{
    /* /63 and /65 straddle the two 64-bit words of the compiled masks */
    static const char *const rules[] = {
        "allow from 2001:db8:0:2::/63",      /* 0 */
        "allow from 2001:db8:0:4:8000::/65", /* 1 */
        NULL,
    };
    (void)state;
    struct classifier *c = compile(rules);
    assert_int_equal(match(c, tcp("2001:db8:0:3:1::", 1, "::1", 2), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("2001:db8:0:2::", 1, "::1", 2), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("2001:db8:0:4::", 1, "::1", 2), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tcp("2001:db8:0:4:8000::1", 1, "::1", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("2001:db8:0:4:ffff::1", 1, "::1", 2), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tcp("2001:db8:0:4:7fff::1", 1, "::1", 2), RULE_SIDE_A, -1), -1);
    classify_free(c);
}

static void test_port_edges(void **state)
{
    static const char *const rules[] = {
        "allow tcp to any port 80-443",
        "allow udp from any port 53 to any port 1024-65535",
        "allow tcp to any port 0",
        "allow udp to any port 65535",
        NULL,
    };
    (void)state;
    struct classifier *c = compile(rules);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 79), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 80), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 200), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 443), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 444), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 0), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 65535), RULE_SIDE_A, -1), -1);

    const uint8_t udp = PKT_IPPROTO_UDP;
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 53, "10.0.0.2", 1024), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 53, "10.0.0.2", 65535), RULE_SIDE_A, -1), 1);
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 53, "10.0.0.2", 1023), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 54, "10.0.0.2", 2000), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 52, "10.0.0.2", 65535), RULE_SIDE_A, -1), 3);
    classify_free(c);
}

static void test_ports_ignored_for_icmp(void **state)
{
    struct rule r;
    char err[128];
    (void)state;
    /* a rule struct with ports but protocol any (built by hand, not by the parser): ports only
     * constrain TCP and UDP packets */
    assert_int_equal(rule_parse("allow", &r, err, sizeof(err)), 0);
    r.dport_lo = r.dport_hi = 80;
    struct classifier *c = classify_compile(&r, 1, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 80), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 81), RULE_SIDE_A, -1), -1);
    /* ICMP echo carries the identifier in sport/dport; it is not a port */
    assert_int_equal(
        match(c, tuple(PKT_IPPROTO_ICMP, "10.0.0.1", 777, "10.0.0.2", 777), RULE_SIDE_A, 8), 0);
    classify_free(c);
}

static void test_sides(void **state)
{
    static const char *const rules[] = {
        "allow tcp on a to any port 80",
        "allow tcp on b to any port 25",
        "allow udp on any",
        NULL,
    };
    (void)state;
    struct classifier *c = compile(rules);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 80), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 80), RULE_SIDE_B, -1), -1);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 25), RULE_SIDE_B, -1), 1);
    assert_int_equal(match(c, tcp("10.0.0.1", 9, "10.0.0.2", 25), RULE_SIDE_A, -1), -1);
    const uint8_t udp = PKT_IPPROTO_UDP;
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 9, "10.0.0.2", 25), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tuple(udp, "10.0.0.1", 9, "10.0.0.2", 25), RULE_SIDE_B, -1), 2);
    classify_free(c);
}

static void test_icmp_types(void **state)
{
    static const char *const rules[] = {
        "allow icmp type 8",     "deny icmp",
        "allow icmpv6 type 128", "allow icmpv6 to fe80::/10 type 135",
        "allow icmp type 0",     NULL,
    };
    const uint8_t icmp = PKT_IPPROTO_ICMP, icmp6 = PKT_IPPROTO_ICMPV6;
    int action;
    (void)state;
    struct classifier *c = compile(rules);
    struct pkt_l4 t = tuple(icmp, "10.0.0.1", 5, "10.0.0.2", 5);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, 8, &action), 0);
    assert_int_equal(action, RULE_ALLOW);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, 0, &action), 1);
    assert_int_equal(action, RULE_DENY);
    assert_int_equal(classify_match(c, &t, RULE_SIDE_A, -1, &action), 1);
    assert_int_equal(match(c, tuple(icmp6, "2001:db8::1", 5, "2001:db8::2", 5), RULE_SIDE_B, 128),
                     2);
    assert_int_equal(match(c, tuple(icmp6, "2001:db8::1", 5, "2001:db8::2", 5), RULE_SIDE_B, 129),
                     -1);
    assert_int_equal(match(c, tuple(icmp6, "2001:db8::1", 0, "fe80::1", 0), RULE_SIDE_B, 135), 3);
    assert_int_equal(match(c, tuple(icmp6, "2001:db8::1", 0, "2001::1", 0), RULE_SIDE_B, 135), -1);
    /* the ICMPv4 type-8 rule does not match ICMPv6 packets with type 8 */
    assert_int_equal(match(c, tuple(icmp6, "2001:db8::1", 0, "2001::1", 0), RULE_SIDE_B, 8), -1);
    /* a type rule never matches a packet without a type */
    assert_int_equal(match(c, tuple(icmp6, "2001:db8::1", 5, "2001:db8::2", 5), RULE_SIDE_B, -1),
                     -1);
    classify_free(c);
}

static void test_family_mismatch(void **state)
{
    static const char *const rules[] = {
        "allow tcp from 10.0.0.0/8",
        "allow udp to 2001:db8::/32",
        "allow any from 0.0.0.0/0 to 0.0.0.0/0",
        NULL,
    };
    const uint8_t udp = PKT_IPPROTO_UDP;
    (void)state;
    struct classifier *c = compile(rules);
    /* an IPv6 address whose first bytes look like 10/8 is not in 10.0.0.0/8 */
    assert_int_equal(match(c, tcp("a00::1", 1, "::1", 2), RULE_SIDE_A, -1), -1);
    assert_int_equal(match(c, tcp("10.1.2.3", 1, "10.1.2.4", 2), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tuple(udp, "::1", 1, "2001:db8::5", 2), RULE_SIDE_A, -1), 1);
    /* 32.1.13.184 is 2001:0db8 read as IPv4: no match for an IPv6 rule */
    assert_int_equal(match(c, tuple(udp, "1.1.1.1", 1, "32.1.13.184", 2), RULE_SIDE_A, -1), 2);
    assert_int_equal(match(c, tuple(udp, "::1", 1, "::2", 2), RULE_SIDE_A, -1), -1);
    classify_free(c);
}

static void test_host_bits_masked(void **state)
{
    struct rule r;
    char err[128];
    (void)state;
    /* a rule struct not from the parser may carry host bits: they are ignored */
    assert_int_equal(rule_parse("allow tcp to 10.1.2.0/24", &r, err, sizeof(err)), 0);
    r.dst.addr[3] = 99;
    struct classifier *c = classify_compile(&r, 1, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "10.1.2.200", 2), RULE_SIDE_A, -1), 0);
    assert_int_equal(match(c, tcp("1.1.1.1", 1, "10.1.3.200", 2), RULE_SIDE_A, -1), -1);
    classify_free(c);
}

static void test_compile_errors(void **state)
{
    struct rule rules[2];
    char err[128];
    (void)state;
    assert_int_equal(rule_parse("allow tcp", &rules[0], err, sizeof(err)), 0);

#define EXPECT_ERROR(mutate, want)                                                                 \
    do {                                                                                           \
        assert_int_equal(rule_parse("allow tcp from 10.0.0.0/8", &rules[1], err, sizeof(err)), 0); \
        mutate;                                                                                    \
        assert_null(classify_compile(rules, 2, err, sizeof(err)));                                 \
        assert_string_equal(err, want);                                                            \
    } while (0)

    EXPECT_ERROR(rules[1].action = 3, "rule 2: bad action 3");
    EXPECT_ERROR(rules[1].side = 9, "rule 2: bad side 9");
    EXPECT_ERROR(rules[1].src.family = 5, "rule 2: bad source address family 5");
    EXPECT_ERROR(rules[1].src.plen = 33, "rule 2: source prefix /33 too long");
    EXPECT_ERROR((rules[1].dst.family = 6, rules[1].dst.plen = 129),
                 "rule 2: source and destination families differ");
    EXPECT_ERROR((rules[1].src.family = 0, rules[1].dst.family = 6, rules[1].dst.plen = 129),
                 "rule 2: destination prefix /129 too long");
    EXPECT_ERROR((rules[1].dport_lo = 10, rules[1].dport_hi = 9),
                 "rule 2: port range low above high");
    EXPECT_ERROR((rules[1].sport_lo = 10, rules[1].sport_hi = 9),
                 "rule 2: port range low above high");
    assert_null(classify_compile(NULL, 1, err, sizeof(err)));
    assert_string_equal(err, "no rules given");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_is_default_deny),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_no_match_denies),
        cmocka_unit_test(test_v4_prefixes),
        cmocka_unit_test(test_v6_prefixes),
        cmocka_unit_test(test_v6_prefix_at_word_boundary),
        cmocka_unit_test(test_port_edges),
        cmocka_unit_test(test_ports_ignored_for_icmp),
        cmocka_unit_test(test_sides),
        cmocka_unit_test(test_icmp_types),
        cmocka_unit_test(test_family_mismatch),
        cmocka_unit_test(test_host_bits_masked),
        cmocka_unit_test(test_compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
