/* test_steering.c: bucket maps, owned ranges, and the capture filters generated from them (each
 * compiled by libpcap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "flow.h"
#include "steering.h"

static uint8_t owned[STEERING_MAX_BUCKETS];
static char buf[1 << 16];

static void test_parse_map(void **state)
{
    (void)state;
    char err[256];
    const char *map = "node1=0-511;node2=512-1000,1002-1023;node3=1001";
    assert_int_equal(steering_parse(map, "node1", 1024, owned, err, sizeof(err)), 512);
    assert_true(owned[0] && owned[511] && !owned[512]);
    assert_int_equal(steering_parse(map, "node2", 1024, owned, err, sizeof(err)), 511);
    assert_true(!owned[1001] && owned[1002] && owned[1023]);
    assert_int_equal(steering_parse(map, "node3", 1024, owned, err, sizeof(err)), 1);
    assert_int_equal(steering_parse(map, "node4", 1024, owned, err, sizeof(err)), 0);
    assert_int_equal(steering_parse("", "node1", 1024, owned, err, sizeof(err)), 0);
    assert_int_equal(steering_parse("node", "node1", 1024, owned, err, sizeof(err)), -1);
    /* a worker whose name is a prefix of another's owns only its own */
    assert_int_equal(steering_parse("node1=0-9;node10=10-15", "node1", 16, owned, err, sizeof(err)),
                     10);
}

static void test_parse_rejects_bad_maps(void **state)
{
    (void)state;
    char err[256];
    const char *bad[] = {
        "node1",     "node1=",   "node1=5-2",        "node1=0-1024",   "node1=0-10;node2=10",
        "node1=a-b", "node1=1,", "node1=1;;node2=2", "node1=1 node2=2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (steering_parse(bad[i], "node1", 1024, owned, err, sizeof(err)) != -1)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(steering_parse("node1=0", "node1", 1000, owned, err, sizeof(err)), -1);
}

static void test_ranges(void **state)
{
    (void)state;
    memset(owned, 0, 1024);
    assert_int_equal(steering_ranges(owned, 1024, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    for (int b = 0; b < 512; b++)
        owned[b] = 1;
    owned[700] = 1;
    owned[1023] = 1;
    assert_true(steering_ranges(owned, 1024, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "0-511,700,1023");
    char tiny[4];
    assert_int_equal(steering_ranges(owned, 1024, tiny, sizeof(tiny)), -1);
}

static void test_filters_compile(void **state)
{
    (void)state;
    char err[512];
    const char *vmac = "02:f0:00:00:00:0a";
    /* no bucket, one bucket, one range, several ranges, every bucket, no steering */
    memset(owned, 0, 1024);
    assert_true(steering_filter(owned, 1024, false, vmac, buf, sizeof(buf)) > 0);
    if (capture_check_filter(buf, err, sizeof(err)) != 0)
        fail_msg("%s: %s", err, buf);
    owned[5] = 1;
    assert_true(steering_filter(owned, 1024, false, vmac, buf, sizeof(buf)) > 0);
    assert_int_equal(capture_check_filter(buf, err, sizeof(err)), 0);
    for (int b = 0; b < 512; b++)
        owned[b] = 1;
    for (int b = 600; b < 700; b += 10)
        owned[b] = 1;
    assert_true(steering_filter(owned, 1024, false, vmac, buf, sizeof(buf)) > 0);
    assert_int_equal(capture_check_filter(buf, err, sizeof(err)), 0);
    memset(owned, 1, 1024);
    assert_true(steering_filter(owned, 1024, false, vmac, buf, sizeof(buf)) > 0);
    assert_int_equal(capture_check_filter(buf, err, sizeof(err)), 0);
    assert_true(steering_filter(owned, 1024, true, vmac, buf, sizeof(buf)) > 0);
    assert_int_equal(capture_check_filter(buf, err, sizeof(err)), 0);
    assert_null(strstr(buf, "ip[12:4]"));
    /* too small a buffer is an error, not a truncated filter */
    char small[64];
    assert_int_equal(steering_filter(owned, 1024, false, vmac, small, sizeof(small)), -1);
}

static void test_filter_hash_matches_the_worker(void **state)
{
    (void)state;
    /* the expression the filter uses for IPv4 TCP is the worker's flow_steer_hash */
    struct pkt_l4 t;
    memset(&t, 0, sizeof(t));
    t.family = 4;
    t.proto = 6;
    uint8_t s[4] = {10, 10, 1, 10}, d[4] = {10, 10, 2, 10};
    memcpy(t.src, s, 4);
    memcpy(t.dst, d, 4);
    t.sport = 40000;
    t.dport = 80;
    uint32_t want = (0x0a0a010au ^ 0x0a0a020au ^ 40000u ^ 80u);
    assert_int_equal(flow_steer_hash(&t), want);
    assert_int_equal(flow_bucket(flow_steer_hash(&t), 1024), want & 1023);
    memset(owned, 0, 1024);
    owned[want & 1023] = 1;
    assert_true(steering_filter(owned, 1024, false, "02:f0:00:00:00:0a", buf, sizeof(buf)) > 0);
    char expr[64];
    snprintf(expr, sizeof(expr), "& 1023) == %u", want & 1023);
    assert_non_null(strstr(buf, expr));
}

/* An Ethernet frame to the side A virtual MAC: IPv4 or IPv6, TCP or UDP or ICMP, given
 * addresses and ports (checksums are not looked at by the filter). Returns its length. */
static uint32_t frame(uint8_t *f, int family, uint8_t proto, const uint8_t *src, const uint8_t *dst,
                      uint16_t sport, uint16_t dport)
{
    static const uint8_t vmac[6] = {0x02, 0xf0, 0, 0, 0, 0x0a};
    memset(f, 0, 128);
    memcpy(f, vmac, 6);
    f[6] = 0x02;
    uint8_t *l4;
    if (family == 4) {
        f[12] = 0x08, f[13] = 0x00;
        uint8_t *ip = f + 14;
        ip[0] = 0x45, ip[3] = 60, ip[8] = 64, ip[9] = proto;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        l4 = ip + 20;
    } else {
        f[12] = 0x86, f[13] = 0xdd;
        uint8_t *ip = f + 14;
        ip[0] = 0x60, ip[5] = 40, ip[6] = proto, ip[7] = 64;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
        l4 = ip + 40;
    }
    l4[0] = (uint8_t)(sport >> 8), l4[1] = (uint8_t)sport;
    l4[2] = (uint8_t)(dport >> 8), l4[3] = (uint8_t)dport;
    if (proto == 6)
        l4[12] = 0x50;
    return (uint32_t)(l4 - f) + 20;
}

static void test_filter_picks_the_workers_bucket(void **state)
{
    (void)state;
    /* for frames of every kind, the compiled filter of a worker owning exactly the frame's bucket
     * (by flow_steer_hash) lets it through, and the filter of the worker owning every other
     * bucket does not: the kernel and the worker agree on every bucket */
    uint8_t f[128], src[16], dst[16];
    char err[256];
    uint32_t seed = 12345;
    const uint8_t protos[3] = {6, 17, 1};
    for (int i = 0; i < 60; i++) {
        int family = i % 2 ? 6 : 4;
        uint8_t proto = protos[(i / 2) % 3];
        if (family == 6 && proto == 1)
            proto = 58;
        for (int b = 0; b < 16; b++) {
            seed = seed * 1103515245u + 12345u;
            src[b] = (uint8_t)(seed >> 16);
            seed = seed * 1103515245u + 12345u;
            dst[b] = (uint8_t)(seed >> 16);
        }
        uint16_t sport = (uint16_t)(1024 + i * 977), dport = (uint16_t)(i % 3 ? 80 : 53);
        uint32_t len = frame(f, family, proto, src, dst, sport, dport);
        struct pkt_l4 t;
        memset(&t, 0, sizeof(t));
        t.family = (uint8_t)family;
        t.proto = proto;
        memcpy(t.src, src, family == 4 ? 4 : 16);
        memcpy(t.dst, dst, family == 4 ? 4 : 16);
        if (proto == 6 || proto == 17) {
            t.sport = sport;
            t.dport = dport;
        }
        uint32_t bucket = flow_bucket(flow_steer_hash(&t), 1024);
        memset(owned, 0, 1024);
        owned[bucket] = 1;
        assert_true(steering_filter(owned, 1024, false, "02:f0:00:00:00:0a", buf, sizeof(buf)) > 0);
        if (capture_filter_matches(buf, f, len, err, sizeof(err)) != 1)
            fail_msg("IPv%d proto %u: the owner's filter drops its own bucket %u", family, proto,
                     bucket);
        memset(owned, 1, 1024);
        owned[bucket] = 0;
        assert_true(steering_filter(owned, 1024, false, "02:f0:00:00:00:0a", buf, sizeof(buf)) > 0);
        if (capture_filter_matches(buf, f, len, err, sizeof(err)) != 0)
            fail_msg("IPv%d proto %u: a worker without bucket %u captures it", family, proto,
                     bucket);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_map),
        cmocka_unit_test(test_parse_rejects_bad_maps),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_filters_compile),
        cmocka_unit_test(test_filter_hash_matches_the_worker),
        cmocka_unit_test(test_filter_picks_the_workers_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
