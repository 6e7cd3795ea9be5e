/* test_rule.c: unit tests of rule parsing (every error path), canonical formatting and rule sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rule.h"

static void assert_rule_equal(const struct rule *a, const struct rule *b)
{
    assert_int_equal(a->action, b->action);
    assert_int_equal(a->proto, b->proto);
    assert_int_equal(a->side, b->side);
    assert_int_equal(a->src.family, b->src.family);
    assert_int_equal(a->src.plen, b->src.plen);
    assert_memory_equal(a->src.addr, b->src.addr, 16);
    assert_int_equal(a->dst.family, b->dst.family);
    assert_int_equal(a->dst.plen, b->dst.plen);
    assert_memory_equal(a->dst.addr, b->dst.addr, 16);
    assert_int_equal(a->sport_lo, b->sport_lo);
    assert_int_equal(a->sport_hi, b->sport_hi);
    assert_int_equal(a->dport_lo, b->dport_lo);
    assert_int_equal(a->dport_hi, b->dport_hi);
    assert_int_equal(a->icmp_type, b->icmp_type);
}

static void test_defaults(void **state)
{
    struct rule r;
    char err[128];
    (void)state;
    assert_int_equal(rule_parse("allow", &r, err, sizeof(err)), 0);
    assert_int_equal(r.action, RULE_ALLOW);
    assert_int_equal(r.proto, RULE_PROTO_ANY);
    assert_int_equal(r.side, RULE_SIDE_ANY);
    assert_int_equal(r.src.family, 0);
    assert_int_equal(r.dst.family, 0);
    assert_int_equal(r.sport_lo, 0);
    assert_int_equal(r.sport_hi, 65535);
    assert_int_equal(r.dport_lo, 0);
    assert_int_equal(r.dport_hi, 65535);
    assert_int_equal(r.icmp_type, -1);

    assert_int_equal(rule_parse("  deny\t", &r, err, sizeof(err)), 0);
    assert_int_equal(r.action, RULE_DENY);
}

static void test_fields(void **state)
{
    struct rule r;
    char err[128];
    static const uint8_t net[16] = {10, 10, 1, 0};
    static const uint8_t host[16] = {10, 10, 2, 10};
    (void)state;
    assert_int_equal(
        rule_parse("allow tcp on a from 10.10.1.0/24 port 1024-65535 to 10.10.2.10 port 80", &r,
                   err, sizeof(err)),
        0);
    assert_int_equal(r.action, RULE_ALLOW);
    assert_int_equal(r.proto, 6);
    assert_int_equal(r.side, RULE_SIDE_A);
    assert_int_equal(r.src.family, 4);
    assert_int_equal(r.src.plen, 24);
    assert_memory_equal(r.src.addr, net, 16);
    assert_int_equal(r.dst.family, 4);
    assert_int_equal(r.dst.plen, 32);
    assert_memory_equal(r.dst.addr, host, 16);
    assert_int_equal(r.sport_lo, 1024);
    assert_int_equal(r.sport_hi, 65535);
    assert_int_equal(r.dport_lo, 80);
    assert_int_equal(r.dport_hi, 80);

    assert_int_equal(rule_parse("deny icmpv6 on b to 2001:db8::/32 type 128", &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.action, RULE_DENY);
    assert_int_equal(r.proto, 58);
    assert_int_equal(r.side, RULE_SIDE_B);
    assert_int_equal(r.src.family, 0);
    assert_int_equal(r.dst.family, 6);
    assert_int_equal(r.dst.plen, 32);
    assert_int_equal(r.dst.addr[0], 0x20);
    assert_int_equal(r.dst.addr[1], 0x01);
    assert_int_equal(r.dst.addr[2], 0x0d);
    assert_int_equal(r.dst.addr[3], 0xb8);
    assert_int_equal(r.icmp_type, 128);

    assert_int_equal(rule_parse("allow udp", &r, err, sizeof(err)), 0);
    assert_int_equal(r.proto, 17);
    assert_int_equal(rule_parse("allow icmp type 0", &r, err, sizeof(err)), 0);
    assert_int_equal(r.proto, 1);
    assert_int_equal(r.icmp_type, 0);
    assert_int_equal(rule_parse("allow any on any", &r, err, sizeof(err)), 0);
    assert_int_equal(r.proto, 0);
    assert_int_equal(r.side, RULE_SIDE_ANY);
    /* keywords are case-insensitive */
    assert_int_equal(rule_parse("ALLOW TCP On A From ANY Port 5", &r, err, sizeof(err)), 0);
    assert_int_equal(r.side, RULE_SIDE_A);
    assert_int_equal(r.sport_lo, 5);
    /* clauses in any order */
    assert_int_equal(rule_parse("allow tcp to 10.0.0.1 from 10.0.0.2 on b", &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.side, RULE_SIDE_B);
    assert_int_equal(r.src.addr[3], 2);
    assert_int_equal(r.dst.addr[3], 1);
}

static void test_bare_address_is_host(void **state)
{
    struct rule r;
    char err[128];
    (void)state;
    assert_int_equal(rule_parse("allow from 192.0.2.7", &r, err, sizeof(err)), 0);
    assert_int_equal(r.src.family, 4);
    assert_int_equal(r.src.plen, 32);
    assert_int_equal(rule_parse("allow from 2001:db8::7", &r, err, sizeof(err)), 0);
    assert_int_equal(r.src.family, 6);
    assert_int_equal(r.src.plen, 128);
    assert_int_equal(r.src.addr[15], 7);
    assert_int_equal(rule_parse("allow to 0.0.0.0/0", &r, err, sizeof(err)), 0);
    assert_int_equal(r.dst.family, 4);
    assert_int_equal(r.dst.plen, 0);
    assert_int_equal(rule_parse("allow to ::/0", &r, err, sizeof(err)), 0);
    assert_int_equal(r.dst.family, 6);
    assert_int_equal(r.dst.plen, 0);
}

/* Every parse error path, with its exact message. */
static const struct {
    const char *text;
    const char *err;
} bad[] = {
    {"", "empty rule"},
    {"   \t ", "empty rule"},
    {"permit tcp", "unknown action 'permit' (expected allow or deny)"},
    {"allow tcpp", "unknown protocol 'tcpp' (expected tcp, udp, icmp, icmpv6 or any)"},
    {"allow 6", "unknown protocol '6' (expected tcp, udp, icmp, icmpv6 or any)"},
    {"allow on a tcp", "protocol 'tcp' must come right after the action"},
    {"allow tcp udp", "protocol 'udp' must come right after the action"},
    {"allow tcp from any bogus", "unknown word 'bogus'"},
    {"allow tcp from 10.0.0.1 10.0.0.2", "unknown word '10.0.0.2'"},
    {"allow tcp deny", "unknown word 'deny'"},
    {"allow on", "'on' needs a side (a, b or any)"},
    {"allow on c", "unknown side 'c' (expected a, b or any)"},
    {"allow on a on b", "'on' given twice"},
    {"allow from", "'from' needs an address (any, IPv4[/len] or IPv6[/len])"},
    {"allow to", "'to' needs an address (any, IPv4[/len] or IPv6[/len])"},
    {"allow from any from any", "'from' given twice"},
    {"allow to any to any", "'to' given twice"},
    {"allow from 10.1.1.300", "bad IPv4 address '10.1.1.300'"},
    {"allow from 10.1.1", "bad IPv4 address '10.1.1'"},
    {"allow from host.example", "bad IPv4 address 'host.example'"},
    {"allow from 2001:db8:::1", "bad IPv6 address '2001:db8:::1'"},
    {"allow from 2001:db8::g", "bad IPv6 address '2001:db8::g'"},
    {"allow from 10.0.0.0/", "bad prefix length in 10.0.0.0/"},
    {"allow from 10.0.0.0/x", "bad prefix length in 10.0.0.0/x"},
    {"allow from 10.0.0.0/-1", "bad prefix length in 10.0.0.0/-1"},
    {"allow from 10.0.0.0/8/8", "bad prefix length in 10.0.0.0/8/8"},
    {"allow from 10.0.0.0/33", "prefix too long in 10.0.0.0/33 (at most /32)"},
    {"allow from 2001:db8::/129", "prefix too long in 2001:db8::/129 (at most /128)"},
    {"allow from 10.0.0.0/1000000", "bad prefix length in 10.0.0.0/1000000"},
    {"allow tcp from 10.10.1.5/24", "host bits set in 10.10.1.5/24"},
    {"allow tcp to 10.10.1.0/23", "host bits set in 10.10.1.0/23"},
    {"allow tcp to 128.0.0.0/0", "host bits set in 128.0.0.0/0"},
    {"allow tcp to 2001:db8::1/64", "host bits set in 2001:db8::1/64"},
    {"allow tcp to 2001:db8::1/127", "host bits set in 2001:db8::1/127"},
    {"allow tcp to any port", "'port' needs a port or a range (N or N-M)"},
    {"allow tcp to any port 65536", "bad port '65536' (expected 0-65535)"},
    {"allow tcp to any port http", "bad port 'http' (expected 0-65535)"},
    {"allow tcp to any port -80", "bad port range '-80' (expected N-M within 0-65535)"},
    {"allow tcp to any port 80-", "bad port range '80-' (expected N-M within 0-65535)"},
    {"allow tcp to any port 1-2-3", "bad port range '1-2-3' (expected N-M within 0-65535)"},
    {"allow tcp to any port 1-70000", "bad port range '1-70000' (expected N-M within 0-65535)"},
    {"allow tcp to any port 443-80", "bad port range '443-80': 443 is above 80"},
    {"allow tcp port 80", "'port' must follow 'from ADDR' or 'to ADDR' (once each)"},
    {"allow tcp to any port 80 port 81", "'port' must follow 'from ADDR' or 'to ADDR' (once each)"},
    {"allow to any port 80", "port given for protocol any: ports need tcp or udp"},
    {"allow icmp from any port 80", "port given for protocol icmp: ports need tcp or udp"},
    {"allow icmpv6 to ::1 port 1", "port given for protocol icmpv6: ports need tcp or udp"},
    {"allow icmp type", "'type' needs an ICMP type (0-255)"},
    {"allow icmp type 256", "bad icmp type '256' (expected 0-255)"},
    {"allow icmp type echo", "bad icmp type 'echo' (expected 0-255)"},
    {"allow icmp type 8 type 0", "'type' given twice"},
    {"allow tcp type 8", "type given for protocol tcp: types need icmp or icmpv6"},
    {"allow type 8", "type given for protocol any: types need icmp or icmpv6"},
    {"allow icmp to 2001:db8::1", "protocol icmp with an IPv6 address (use icmpv6)"},
    {"allow icmp from ::/0 type 8", "protocol icmp with an IPv6 address (use icmpv6)"},
    {"allow icmpv6 from 10.0.0.1 type 128", "protocol icmpv6 with an IPv4 address (use icmp)"},
    {"allow tcp from 10.0.0.1 to 2001:db8::1", "source is IPv4 but destination is IPv6"},
    {"allow from ::/0 to 0.0.0.0/0", "source is IPv6 but destination is IPv4"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rule r;
        char err[256] = "";
        memset(&r, 0x5a, sizeof(r));
        if (rule_parse(bad[i].text, &r, err, sizeof(err)) != -1)
            fail_msg("'%s' parsed", bad[i].text);
        if (strcmp(err, bad[i].err) != 0)
            fail_msg("'%s': got '%s', want '%s'", bad[i].text, err, bad[i].err);
        assert_int_equal(r.action, 0x5a); /* r untouched on error */
    }
}

static void test_error_edge_cases(void **state)
{
    struct rule r;
    char err[16];
    char longword[512];
    char text[600];
    (void)state;
    /* NULL text, no error buffer, small error buffer */
    assert_int_equal(rule_parse(NULL, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "empty rule");
    assert_int_equal(rule_parse("nope", &r, NULL, 0), -1);
    assert_int_equal(rule_parse("allow tcpp", &r, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    /* a very long word is cut in the message */
    memset(longword, 'x', sizeof(longword) - 1);
    longword[sizeof(longword) - 1] = '\0';
    snprintf(text, sizeof(text), "allow from %s", longword);
    char big[256];
    assert_int_equal(rule_parse(text, &r, big, sizeof(big)), -1);
    assert_true(strncmp(big, "bad address 'xxxx", 17) == 0);
    assert_true(strlen(big) < 100);
}

/* Round trips: input text -> canonical text, and parse(format(r)) == r. */
static const struct {
    const char *in;
    const char *out;
} trips[] = {
    {"allow", "allow any"},
    {"deny", "deny any"},
    {"allow any", "allow any"},
    {"allow tcp", "allow tcp"},
    {"deny udp on b", "deny udp on b"},
    {"allow tcp on any", "allow tcp"},
    {"allow tcp on a from 10.10.1.0/24 to 10.10.2.10 port 80-443",
     "allow tcp on a from 10.10.1.0/24 to 10.10.2.10 port 80-443"},
    {"allow tcp from any to any", "allow tcp"},
    {"allow tcp from any port 1024-65535", "allow tcp from any port 1024-65535"},
    {"allow tcp from any port 0-65535", "allow tcp"},
    {"allow udp to any port 53", "allow udp to any port 53"},
    {"allow udp to any port 53-53", "allow udp to any port 53"},
    {"allow udp to 10.0.0.1/32 port 0", "allow udp to 10.0.0.1 port 0"},
    {"allow udp from 0.0.0.0/0", "allow udp from 0.0.0.0/0"},
    {"allow from 128.0.0.0/1", "allow any from 128.0.0.0/1"},
    {"allow from ::/0", "allow any from ::/0"},
    {"allow tcp from 2001:DB8:0:0::/64 to 2001:db8:1::1",
     "allow tcp from 2001:db8::/64 to 2001:db8:1::1"},
    {"allow tcp to 2001:db8::/127", "allow tcp to 2001:db8::/127"},
    {"allow tcp to 2001:db8::1/128 port 22", "allow tcp to 2001:db8::1 port 22"},
    {"allow tcp to ::ffff:10.0.0.1", "allow tcp to ::ffff:10.0.0.1"},
    {"allow icmp type 8", "allow icmp type 8"},
    {"allow icmp on a from 10.10.1.0/24 type 8", "allow icmp on a from 10.10.1.0/24 type 8"},
    {"allow icmpv6 to fe80::/10 type 135", "allow icmpv6 to fe80::/10 type 135"},
    {"allow icmpv6 type 0", "allow icmpv6 type 0"},
    {"deny tcp on b from 192.168.0.0/16 port 1-2 to 172.16.0.0/12 port 3-4",
     "deny tcp on b from 192.168.0.0/16 port 1-2 to 172.16.0.0/12 port 3-4"},
    {"  allow\ttcp  to 10.0.0.0/8   on b ", "allow tcp on b to 10.0.0.0/8"},
    {"deny to 255.255.255.255", "deny any to 255.255.255.255"},
    {"allow udp from 10.0.0.0/31 port 65535", "allow udp from 10.0.0.0/31 port 65535"},
};

static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(trips) / sizeof(trips[0]); i++) {
        struct rule r, r2;
        char err[256], buf[256];
        if (rule_parse(trips[i].in, &r, err, sizeof(err)) != 0)
            fail_msg("'%s': %s", trips[i].in, err);
        int n = rule_format(&r, buf, sizeof(buf));
        assert_int_equal(n, (int)strlen(buf));
        if (strcmp(buf, trips[i].out) != 0)
            fail_msg("'%s' formats as '%s', want '%s'", trips[i].in, buf, trips[i].out);
        if (rule_parse(buf, &r2, err, sizeof(err)) != 0)
            fail_msg("'%s' (formatted): %s", buf, err);
        assert_rule_equal(&r, &r2);
    }
}

/* Every protocol x side x address shape x port shape that parses round-trips field by field. */
static void test_round_trip_combinations(void **state)
{
    static const char *const protos[] = {"", " any", " tcp", " udp", " icmp", " icmpv6"};
    static const char *const sides[] = {"", " on a", " on b", " on any"};
    static const char *const addrs[] = {"",
                                        " from any",
                                        " from 10.0.0.0/8",
                                        " to 10.1.2.3",
                                        " from 10.0.0.0/8 to 10.2.0.0/16",
                                        " from 2001:db8::/48 to ::1",
                                        " to fd00::/8",
                                        " from any port 7 to any port 1-9"};
    static const char *const types[] = {"", " type 3"};
    int parsed = 0;
    (void)state;
    for (size_t a = 0; a < 2; a++)
        for (size_t p = 0; p < sizeof(protos) / sizeof(protos[0]); p++)
            for (size_t s = 0; s < sizeof(sides) / sizeof(sides[0]); s++)
                for (size_t d = 0; d < sizeof(addrs) / sizeof(addrs[0]); d++)
                    for (size_t t = 0; t < 2; t++) {
                        char text[256], buf[256], buf2[256], err[256];
                        struct rule r, r2;
                        snprintf(text, sizeof(text), "%s%s%s%s%s", a ? "allow" : "deny", protos[p],
                                 sides[s], addrs[d], types[t]);
                        if (rule_parse(text, &r, err, sizeof(err)) != 0)
                            continue;
                        parsed++;
                        rule_format(&r, buf, sizeof(buf));
                        if (rule_parse(buf, &r2, err, sizeof(err)) != 0)
                            fail_msg("'%s' -> '%s': %s", text, buf, err);
                        assert_rule_equal(&r, &r2);
                        rule_format(&r2, buf2, sizeof(buf2));
                        assert_string_equal(buf, buf2);
                    }
    assert_true(parsed > 100);
}

static void test_format_truncates(void **state)
{
    struct rule r;
    char err[128], small[10], full[128];
    (void)state;
    assert_int_equal(rule_parse("allow tcp to 10.0.0.0/8 port 80", &r, err, sizeof(err)), 0);
    int n = rule_format(&r, full, sizeof(full));
    assert_string_equal(full, "allow tcp to 10.0.0.0/8 port 80");
    assert_int_equal(rule_format(&r, small, sizeof(small)), n);
    assert_string_equal(small, "allow tcp");
    assert_int_equal(rule_format(&r, NULL, 0), n);
}

static void test_format_struct(void **state)
{
    struct rule r;
    char buf[128];
    (void)state;
    memset(&r, 0, sizeof(r));
    r.action = RULE_ALLOW;
    r.proto = 17;
    r.side = RULE_SIDE_B;
    r.sport_hi = r.dport_hi = 65535;
    r.icmp_type = -1;
    r.dst.family = 6;
    r.dst.plen = 128;
    r.dst.addr[15] = 1;
    r.dport_lo = r.dport_hi = 53;
    rule_format(&r, buf, sizeof(buf));
    assert_string_equal(buf, "allow udp on b to ::1 port 53");
}

static void test_ruleset(void **state)
{
    struct ruleset rs = {NULL, 0};
    struct rule r;
    char err[128];
    (void)state;
    for (int i = 0; i < 100; i++) {
        char text[64];
        snprintf(text, sizeof(text), "allow tcp to any port %d", i);
        assert_int_equal(rule_parse(text, &r, err, sizeof(err)), 0);
        assert_int_equal(ruleset_add(&rs, &r), 0);
    }
    assert_int_equal(rs.n, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(rs.rules[i].dport_lo, i);
    ruleset_free(&rs);
    assert_null(rs.rules);
    assert_int_equal(rs.n, 0);
    ruleset_free(&rs);
    ruleset_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bare_address_is_host),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_edge_cases),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_combinations),
        cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_format_struct),
        cmocka_unit_test(test_ruleset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
