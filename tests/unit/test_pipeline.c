/* test_pipeline.c: the per-frame path without I/O: rules, state, bucket ownership, and taking a
 * connection over from a stored entry (bulk load) in strict mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "pipeline.h"
#include "settings.h"

static const uint8_t VMAC_A[6] = {0x02, 0xf0, 0, 0, 0, 0x0a};
static const uint8_t VMAC_B[6] = {0x02, 0xf0, 0, 0, 0, 0x0b};
static const uint8_t CLIENT[4] = {10, 10, 1, 10}, SERVER[4] = {10, 10, 2, 10};

/* An Ethernet + IPv4 + TCP frame with right checksums. to_server: client -> server (side A). */
static uint32_t tcp_frame(uint8_t *f, bool to_server, uint16_t cport, uint8_t flags, uint32_t seq,
                          uint32_t ack, uint32_t plen)
{
    memset(f, 0, 14 + 20 + 20 + plen);
    memcpy(f, to_server ? VMAC_A : VMAC_B, 6);
    f[6] = 0x02, f[11] = 0x99;
    f[12] = 0x08;
    uint8_t *ip = f + 14, *t = ip + 20;
    ip[0] = 0x45;
    uint32_t tot = 40 + plen;
    ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
    ip[8] = 64, ip[9] = 6;
    memcpy(ip + 12, to_server ? CLIENT : SERVER, 4);
    memcpy(ip + 16, to_server ? SERVER : CLIENT, 4);
    uint32_t s = pkt_csum_add(0, ip, 20);
    uint16_t c = pkt_csum_fold(s);
    ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
    uint16_t sp = to_server ? cport : 80, dp = to_server ? 80 : cport;
    t[0] = (uint8_t)(sp >> 8), t[1] = (uint8_t)sp, t[2] = (uint8_t)(dp >> 8), t[3] = (uint8_t)dp;
    for (int i = 0; i < 4; i++) {
        t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
        t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
    }
    t[12] = 0x50, t[13] = flags, t[14] = 0xff, t[15] = 0xff;
    memset(t + 20, 'x', plen);
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0, ph[9] = 6, ph[10] = (uint8_t)((20 + plen) >> 8), ph[11] = (uint8_t)(20 + plen);
    s = pkt_csum_add(pkt_csum_add(0, ph, 12), t, 20 + plen);
    c = pkt_csum_fold(s);
    t[16] = (uint8_t)(c >> 8), t[17] = (uint8_t)c;
    return 14 + tot;
}

struct fixture {
    struct fwnode_settings set;
    struct pipeline pl;
    struct forward *fwd;
    uint8_t frame[256];
};

static int setup(void **state)
{
    static struct fixture fx;
    char err[256];
    memset(&fx, 0, sizeof(fx));
    setenv("FW_RULES", "allow tcp on a from 10.10.1.0/24 to 10.10.2.0/24 port 80", 1);
    assert_int_equal(config_load(fwnode_options, &fx.set, NULL, err, sizeof(err)), 0);
    fx.fwd = forward_file_new(NULL, err, sizeof(err));
    assert_non_null(fx.fwd);
    assert_int_equal(pipeline_init(&fx.pl, &fx.set, fx.fwd, err, sizeof(err)), 0);
    *state = &fx;
    return 0;
}

/* The same with a table of 64 connections. */
static int setup_small(void **state)
{
    setenv("FW_CONN_MAX", "64", 1);
    int rc = setup(state);
    unsetenv("FW_CONN_MAX");
    return rc;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    pipeline_free(&fx->pl);
    forward_free(fx->fwd);
    config_free(fwnode_options, &fx->set);
    unsetenv("FW_RULES");
    return 0;
}

static uint64_t run(struct fixture *fx, bool to_server, uint16_t cport, uint8_t flags, uint32_t seq,
                    uint32_t ack, uint32_t plen)
{
    uint64_t before = fx->pl.stats.pkts_fwd;
    uint32_t n = tcp_frame(fx->frame, to_server, cport, flags, seq, ack, plen);
    pipeline_frame(&fx->pl, to_server ? SIDE_A : SIDE_B, fx->frame, n, 1000000000ull);
    return fx->pl.stats.pkts_fwd - before;
}

static void test_handshake_and_data(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(run(fx, true, 40000, TCPF_SYN, 100, 0, 0), 1);
    assert_int_equal(run(fx, false, 40000, TCPF_SYN | TCPF_ACK, 900, 101, 0), 1);
    assert_int_equal(run(fx, true, 40000, TCPF_ACK, 101, 901, 0), 1);
    assert_int_equal(run(fx, true, 40000, TCPF_ACK | TCPF_PSH, 101, 901, 10), 1);
    assert_int_equal(fx->pl.stats.setup.count, 1);
    /* denied: the server opening toward the client */
    assert_int_equal(run(fx, false, 22, TCPF_SYN, 5, 0, 0), 0);
    assert_true(fx->pl.stats.drop[DROP_RULE] >= 1);
}

static void test_strict_mid_stream_dropped(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(run(fx, true, 41000, TCPF_ACK, 5000, 7000, 10), 0);
    assert_int_equal(fx->pl.stats.drop_tcp[TCP_NOT_SYN], 1);
}

static void test_preloaded_entry_is_taken_over(void **state)
{
    struct fixture *fx = *state;
    /* the connection 10.10.1.10:42000 -> 10.10.2.10:80 as another worker stored it */
    const char *key = "fw:conn:tcp:10.10.1.10:42000:10.10.2.10:80";
    const char *val = "ESTABLISHED owner=node9 orig=a side=a rank=3 v=1 t=1";
    assert_int_equal(pipeline_preload(&fx->pl, key, strlen(key), val, strlen(val), 1000000000ull),
                     0);
    assert_int_equal(fx->pl.stats.conns_adopted, 1);
    /* a second load of the same connection is refused */
    assert_int_equal(pipeline_preload(&fx->pl, key, strlen(key), val, strlen(val), 1000000000ull),
                     -1);
    /* mid-stream packets in both directions pass, strict mode notwithstanding */
    assert_int_equal(run(fx, false, 42000, TCPF_ACK | TCPF_PSH, 90000, 50000, 100), 1);
    assert_int_equal(run(fx, true, 42000, TCPF_ACK, 50000, 90100, 0), 1);
    assert_int_equal(run(fx, true, 42000, TCPF_ACK | TCPF_PSH, 50000, 90100, 50), 1);
    /* a blind RST far outside the learned window is still dropped */
    assert_int_equal(run(fx, false, 42000, TCPF_RST, 90100 + 0x40000000u, 0, 0), 0);
    assert_int_equal(run(fx, true, 42000, TCPF_ACK, 50050, 90100, 0), 1);
}

static void test_hostile_entries_not_loaded(void **state)
{
    struct fixture *fx = *state;
    const char *key = "fw:conn:tcp:10.10.1.10:43000:10.10.2.10:80";
    const char *bad[] = {"ESTABLISHED", "OPEN owner=x orig=a side=a rank=3 v=1 t=1",
                         "ESTABLISHED owner=x orig=a side=a rank=3 v=9 t=1"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(pipeline_preload(&fx->pl, key, strlen(key), bad[i], strlen(bad[i]), 1),
                         -1);
    const char *badkey = "fw:conn:tcp:10.10.2.10:80:10.10.1.10:43000"; /* not canonical */
    const char *val = "ESTABLISHED owner=x orig=a side=a rank=3 v=1 t=1";
    assert_int_equal(pipeline_preload(&fx->pl, badkey, strlen(badkey), val, strlen(val), 1), -1);
    assert_int_equal(fx->pl.stats.store_rejected, 4);
    assert_int_equal(run(fx, true, 43000, TCPF_ACK, 1, 1, 0), 0);
}

static void test_unowned_buckets_dropped(void **state)
{
    struct fixture *fx = *state;
    static uint8_t owned[1024];
    memset(owned, 0, sizeof(owned));
    pipeline_set_owned(&fx->pl, owned, 1024);
    assert_int_equal(run(fx, true, 44000, TCPF_SYN, 1, 0, 0), 0);
    assert_int_equal(fx->pl.stats.drop[DROP_NOT_OWNED], 1);
    /* own the connection's bucket: the same SYN passes */
    uint32_t h = (0x0a0a010au ^ 0x0a0a020au ^ 44000u ^ 80u) & 1023;
    owned[h] = 1;
    assert_int_equal(run(fx, true, 44000, TCPF_SYN, 1, 0, 0), 1);
    pipeline_set_owned(&fx->pl, NULL, 0);
}

/* A miss is read from the store unless it is a plain SYN, there is no store, it was read
 * already, or the table is full (then no read: a flood of spoofed datagrams must not become a
 * flood of Redis reads). */
static void test_miss_lookup_or_not(void **state)
{
    (void)state;
    const uint8_t T = PKT_IPPROTO_TCP, U = PKT_IPPROTO_UDP, I = PKT_IPPROTO_ICMP;
    assert_int_equal(pipeline_on_miss(T, TCPF_SYN, true, false, 0, 10), MISS_CREATE);
    assert_int_equal(pipeline_on_miss(T, TCPF_SYN, true, false, 10, 10), MISS_CREATE);
    assert_int_equal(pipeline_on_miss(T, TCPF_SYN | TCPF_ACK, true, false, 0, 10), MISS_LOOKUP);
    assert_int_equal(pipeline_on_miss(T, TCPF_ACK, true, false, 9, 10), MISS_LOOKUP);
    assert_int_equal(pipeline_on_miss(U, 0, true, false, 9, 10), MISS_LOOKUP);
    assert_int_equal(pipeline_on_miss(I, 0, true, false, 0, 10), MISS_LOOKUP);
    /* the table is full: no read */
    assert_int_equal(pipeline_on_miss(U, 0, true, false, 10, 10), MISS_FULL);
    assert_int_equal(pipeline_on_miss(T, TCPF_ACK, true, false, 10, 10), MISS_FULL);
    assert_int_equal(pipeline_on_miss(I, 0, true, false, 11, 10), MISS_FULL);
    /* no store, or asked already: the rules and the table decide */
    assert_int_equal(pipeline_on_miss(U, 0, false, false, 10, 10), MISS_CREATE);
    assert_int_equal(pipeline_on_miss(U, 0, true, true, 10, 10), MISS_CREATE);
    assert_int_equal(pipeline_on_miss(T, TCPF_ACK, true, true, 0, 10), MISS_CREATE);
}

/* Mid-stream pickup after a takeover: only at level established, only once the store was asked,
 * only within the window after the bucket was taken over, never for a bucket never taken over. */
static void test_takeover_pickup(void **state)
{
    (void)state;
    const uint64_t s = 1000000000ull, w = 3 * s, t0 = 100 * s;
    assert_true(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, true, t0, t0, w));
    assert_true(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, true, t0, t0 + w - 1, w));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, true, t0, t0 + w, w));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, false, t0, t0 + 1, w));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, true, 0, t0, w));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, true, t0, t0 - 1, w));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_ESTABLISHED, true, t0, t0 + 1, 0));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_FULL, true, t0, t0 + 1, w));
    assert_false(pipeline_takeover_pickup(SYNC_LEVEL_NONE, true, t0, t0 + 1, w));
}

/* A full handshake and a data segment of the client's connection from cport. */
static void establish(struct fixture *fx, uint16_t cport)
{
    assert_int_equal(run(fx, true, cport, TCPF_SYN, 100, 0, 0), 1);
    assert_int_equal(run(fx, false, cport, TCPF_SYN | TCPF_ACK, 900, 101, 0), 1);
    assert_int_equal(run(fx, true, cport, TCPF_ACK, 101, 901, 0), 1);
}

/* A table full of established connections drops what it cannot hold, counted as table_full:
 * no established connection is given up for a new one. */
static void test_full_table_of_established_refuses(void **state)
{
    struct fixture *fx = *state;
    uint32_t max = conntable_max(fx->pl.ct);
    for (uint32_t i = 0; i < max; i++)
        establish(fx, (uint16_t)(1024 + i));
    assert_int_equal(conntable_count(fx->pl.ct), max);
    assert_int_equal(run(fx, true, (uint16_t)(1024 + max), TCPF_SYN, 1, 0, 0), 0);
    assert_int_equal(fx->pl.stats.drop[DROP_TABLE_FULL], 1);
    assert_int_equal(fx->pl.stats.conns_early_drop, 0);
    assert_int_equal(conntable_count(fx->pl.ct), max);
    /* every known connection still passes */
    for (uint32_t i = 0; i < max; i++)
        assert_int_equal(run(fx, true, (uint16_t)(1024 + i), TCPF_ACK | TCPF_PSH, 101, 901, 10), 1);
}

/* A table filled by a SYN flood takes new connections: each one drops an entry not yet
 * established (early drop), the table never grows beyond its maximum, and the established
 * connection is untouched. */
static void test_syn_flood_early_drop(void **state)
{
    struct fixture *fx = *state;
    uint32_t max = conntable_max(fx->pl.ct);
    establish(fx, 5000);
    for (uint32_t i = 1; i < max; i++) /* the flood: SYNs nobody answers */
        assert_int_equal(run(fx, true, (uint16_t)(10000 + i), TCPF_SYN, 1, 0, 0), 1);
    assert_int_equal(conntable_count(fx->pl.ct), max);
    assert_int_equal(fx->pl.stats.conns_early_drop, 0);
    /* a new connection: one flood entry makes room */
    assert_int_equal(run(fx, true, 6000, TCPF_SYN, 100, 0, 0), 1);
    assert_int_equal(fx->pl.stats.conns_early_drop, 1);
    assert_int_equal(fx->pl.stats.drop[DROP_TABLE_FULL], 0);
    assert_int_equal(conntable_count(fx->pl.ct), max);
    /* exactly one flood entry is gone: its SYN+ACK has no connection (the server may not open) */
    unsigned known = 0;
    for (uint32_t i = 1; i < max; i++)
        known += (unsigned)run(fx, false, (uint16_t)(10000 + i), TCPF_SYN | TCPF_ACK, 7, 2, 0);
    assert_int_equal(known, max - 2);
    /* the flood goes on: every SYN takes the place of an unassured entry */
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(run(fx, true, (uint16_t)(20000 + i), TCPF_SYN, 1, 0, 0), 1);
    assert_int_equal(fx->pl.stats.conns_early_drop, 1001);
    assert_int_equal(fx->pl.stats.drop[DROP_TABLE_FULL], 0);
    assert_int_equal(conntable_count(fx->pl.ct), max);
    /* the established connection never was a candidate */
    assert_int_equal(run(fx, true, 5000, TCPF_ACK | TCPF_PSH, 101, 901, 10), 1);
    assert_int_equal(run(fx, false, 5000, TCPF_ACK, 901, 111, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_and_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_mid_stream_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preloaded_entry_is_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_entries_not_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unowned_buckets_dropped, setup, teardown),
        cmocka_unit_test(test_miss_lookup_or_not),
        cmocka_unit_test(test_takeover_pickup),
        cmocka_unit_test_setup_teardown(test_full_table_of_established_refuses, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_syn_flood_early_drop, setup_small, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
