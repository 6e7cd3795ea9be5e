/* test_store.c: the store's decisions (what is written, with which commands, when the packet
 * leaves) and the stored entry format, without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "stats.h"
#include "store.h"
#include "tcp_state.h"

#define TCP PKT_IPPROTO_TCP
#define UDP PKT_IPPROTO_UDP

static const enum sync_level levels[] = {SYNC_LEVEL_NONE, SYNC_LEVEL_ESTABLISHED, SYNC_LEVEL_FULL};

static void test_level_none_writes_nothing(void **state)
{
    (void)state;
    for (int st = 0; st < TCP_ST_MAX; st++)
        for (int sa = 0; sa < 2; sa++)
            for (int ac = 0; ac < 2; ac++) {
                struct store_plan p = store_plan(SYNC_LEVEL_NONE, sa, ac, TCP, (uint8_t)st, 0);
                assert_int_equal(p.op, STORE_OP_NONE);
                assert_false(p.hold);
            }
}

static void test_which_states_each_level_writes(void **state)
{
    (void)state;
    /* established: only ESTABLISHED; full: every live state; none: nothing */
    for (int st = TCP_ST_SYN_SENT; st < TCP_ST_MAX; st++) {
        bool final = st == TCP_ST_TIME_WAIT || st == TCP_ST_CLOSE;
        assert_int_equal(store_wanted(SYNC_LEVEL_ESTABLISHED, TCP, (uint8_t)st),
                         st == TCP_ST_ESTABLISHED);
        assert_int_equal(store_wanted(SYNC_LEVEL_FULL, TCP, (uint8_t)st), !final);
        assert_false(store_wanted(SYNC_LEVEL_NONE, TCP, (uint8_t)st));
    }
    assert_true(store_wanted(SYNC_LEVEL_FULL, UDP, CONN_NEW));
    assert_false(store_wanted(SYNC_LEVEL_ESTABLISHED, UDP, CONN_NEW));
    assert_true(store_wanted(SYNC_LEVEL_ESTABLISHED, UDP, CONN_REPLIED));
}

static void test_handshake_writes_by_level(void **state)
{
    (void)state;
    /* the SYN (SYN_SENT) is written and held only at level full */
    struct store_plan p = store_plan(SYNC_LEVEL_FULL, SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION,
                                     TCP, TCP_ST_SYN_SENT, 0);
    assert_int_equal(p.op, STORE_OP_PUT);
    assert_true(p.hold);
    p = store_plan(SYNC_LEVEL_ESTABLISHED, SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, TCP,
                   TCP_ST_SYN_SENT, 0);
    assert_int_equal(p.op, STORE_OP_NONE);
    p = store_plan(SYNC_LEVEL_ESTABLISHED, SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, TCP,
                   TCP_ST_SYN_RECV, 0);
    assert_int_equal(p.op, STORE_OP_NONE);
    /* the handshake-completing ACK (ESTABLISHED) at both levels */
    for (int i = 1; i < 3; i++) {
        p = store_plan(levels[i], SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, TCP, TCP_ST_ESTABLISHED,
                       levels[i] == SYNC_LEVEL_FULL ? TCP_ST_SYN_RECV : 0);
        assert_int_equal(p.op, STORE_OP_PUT);
    }
    /* the same state again: nothing */
    p = store_plan(SYNC_LEVEL_FULL, SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, TCP, TCP_ST_ESTABLISHED,
                   TCP_ST_ESTABLISHED);
    assert_int_equal(p.op, STORE_OP_NONE);
}

static void test_strategy_access_matrix(void **state)
{
    (void)state;
    struct {
        enum sync_strategy s;
        enum sync_access a;
        bool multi, wait, hold;
    } m[] = {
        {SYNC_STRATEGY_ASYNC, SYNC_ACCESS_DIRTY, false, false, false},     /* released at once */
        {SYNC_STRATEGY_ASYNC, SYNC_ACCESS_TRANSACTION, true, false, true}, /* on EXEC */
        {SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, false, true, true},        /* on WAIT */
        {SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION, true, true, true},   /* EXEC, WAIT */
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        struct store_plan p =
            store_plan(SYNC_LEVEL_ESTABLISHED, m[i].s, m[i].a, TCP, TCP_ST_ESTABLISHED, 0);
        assert_int_equal(p.op, STORE_OP_PUT);
        assert_int_equal(p.multi, m[i].multi);
        assert_int_equal(p.wait, m[i].wait);
        assert_int_equal(p.hold, m[i].hold);
    }
}

static void test_close_deletes_without_holding(void **state)
{
    (void)state;
    for (int i = 1; i < 3; i++) {
        struct store_plan p = store_plan(levels[i], SYNC_STRATEGY_SYNC, SYNC_ACCESS_TRANSACTION,
                                         TCP, TCP_ST_TIME_WAIT, TCP_ST_ESTABLISHED);
        assert_int_equal(p.op, STORE_OP_DEL);
        assert_false(p.hold);
        assert_false(p.wait);
        p = store_plan(levels[i], SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, TCP, TCP_ST_CLOSE,
                       TCP_ST_ESTABLISHED);
        assert_int_equal(p.op, STORE_OP_DEL);
        assert_false(p.multi);
    }
    /* nothing stored: nothing to delete */
    struct store_plan p = store_plan(SYNC_LEVEL_ESTABLISHED, SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY,
                                     TCP, TCP_ST_CLOSE, 0);
    assert_int_equal(p.op, STORE_OP_NONE);
    /* level established: teardown states are not written, the entry stays ESTABLISHED */
    p = store_plan(SYNC_LEVEL_ESTABLISHED, SYNC_STRATEGY_SYNC, SYNC_ACCESS_DIRTY, TCP,
                   TCP_ST_FIN_WAIT, TCP_ST_ESTABLISHED);
    assert_int_equal(p.op, STORE_OP_NONE);
    /* level full: they are */
    p = store_plan(SYNC_LEVEL_FULL, SYNC_STRATEGY_ASYNC, SYNC_ACCESS_DIRTY, TCP, TCP_ST_FIN_WAIT,
                   TCP_ST_ESTABLISHED);
    assert_int_equal(p.op, STORE_OP_PUT);
}

static void test_entry_roundtrip(void **state)
{
    (void)state;
    struct store_entry e = {TCP_ST_ESTABLISHED, 1, 0, 3, "node1", 1764130000123ull}, f;
    char buf[STORE_VALUE_MAX], err[128];
    int n = store_entry_format(&e, TCP, buf, sizeof(buf));
    assert_true(n > 0);
    assert_non_null(strstr(buf, "ESTABLISHED"));
    assert_non_null(strstr(buf, "owner=node1"));
    assert_int_equal(store_entry_parse(buf, (size_t)n, TCP, &f, err, sizeof(err)), 0);
    assert_int_equal(f.state, e.state);
    assert_int_equal(f.orig_is_a, 1);
    assert_int_equal(f.orig_side, 0);
    assert_int_equal(f.rank, 3);
    assert_string_equal(f.owner, "node1");
    assert_true(f.t_ms == e.t_ms);
    /* UDP: NEW and ESTABLISHED */
    e.state = CONN_REPLIED;
    e.orig_is_a = 0;
    e.orig_side = 1;
    n = store_entry_format(&e, UDP, buf, sizeof(buf));
    assert_true(strncmp(buf, "ESTABLISHED ", 12) == 0);
    assert_int_equal(store_entry_parse(buf, (size_t)n, UDP, &f, err, sizeof(err)), 0);
    assert_int_equal(f.state, CONN_REPLIED);
    assert_int_equal(f.orig_is_a, 0);
    assert_int_equal(f.orig_side, 1);
}

static void test_hostile_entries_rejected(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "ESTABLISHED",
        "BOGUS owner=n orig=a side=a rank=3 v=1 t=1",
        "ESTABLISHED owner=n orig=c side=a rank=3 v=1 t=1",
        "ESTABLISHED owner=n orig=a side=x rank=3 v=1 t=1",
        "ESTABLISHED owner=n orig=a side=a rank=999 v=1 t=1",
        "ESTABLISHED owner=n orig=a side=a rank=3 v=2 t=1",
        "ESTABLISHED owner=n orig=a side=a rank=3 v=1 t=x",
        "ESTABLISHED owner= orig=a side=a rank=3 v=1 t=1",
        "ESTABLISHED owner=n orig=a side=a rank=3 v=1",
        "ESTABLISHED owner=n orig=a side=a rank=3 v=1 t=1 junk",
        "NEW owner=n orig=a side=a rank=1 v=1 t=1", /* NEW is no TCP state */
        "ESTABLISHED "
        "owner=nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn "
        "orig=a side=a rank=3 v=1 t=1",
    };
    struct store_entry e;
    char err[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = store_entry_parse(bad[i], strlen(bad[i]), TCP, &e, err, sizeof(err));
        if (rc != -1)
            fail_msg("accepted: '%s'", bad[i]);
    }
    /* an embedded NUL and an oversized value */
    const char nul[] = "ESTABLISHED owner=n\0x orig=a side=a rank=3 v=1 t=1";
    assert_int_equal(store_entry_parse(nul, sizeof(nul) - 1, TCP, &e, err, sizeof(err)), -1);
    char big[400];
    memset(big, 'A', sizeof(big));
    assert_int_equal(store_entry_parse(big, sizeof(big), TCP, &e, err, sizeof(err)), -1);
}

static void test_conn_key_names(void **state)
{
    (void)state;
    struct flow_key k;
    memset(&k, 0, sizeof(k));
    k.family = 4;
    k.proto = TCP;
    uint8_t a[4] = {10, 10, 1, 10}, b[4] = {10, 10, 2, 10};
    memcpy(k.a, a, 4);
    memcpy(k.b, b, 4);
    k.pa = 40000;
    k.pb = 80;
    char buf[KEYS_MAX];
    assert_true(store_conn_key(&k, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "fw:conn:tcp:10.10.1.10:40000:10.10.2.10:80");
    k.family = 6;
    k.proto = UDP;
    memset(k.a, 0, 16);
    memset(k.b, 0, 16);
    k.a[0] = 0xfd, k.a[3] = 0x10, k.a[5] = 1, k.a[15] = 0x10;
    k.b[0] = 0xfd, k.b[3] = 0x10, k.b[5] = 2, k.b[15] = 0x10;
    k.pa = 5353;
    k.pb = 53;
    assert_true(store_conn_key(&k, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "fw:conn:udp:[fd00:10:1::10]:5353:[fd00:10:2::10]:53");
    keys_bucket(buf, sizeof(buf), 17);
    assert_string_equal(buf, "fw:bucket:17");
    keys_stats(buf, sizeof(buf), "node2");
    assert_string_equal(buf, "fw:stats:node2");
    char tiny[8];
    assert_int_equal(keys_stats(tiny, sizeof(tiny), "node2"), -1);
}

static void test_ranks_never_backwards_within_a_connection(void **state)
{
    (void)state;
    uint8_t prev = 0;
    const uint8_t path[] = {TCP_ST_SYN_SENT, TCP_ST_SYN_RECV, TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT,
                            TCP_ST_LAST_ACK};
    for (size_t i = 0; i < sizeof(path); i++) {
        uint8_t r = store_rank(TCP, path[i]);
        assert_true(r > prev);
        prev = r;
    }
    assert_true(store_rank(UDP, CONN_REPLIED) > store_rank(UDP, CONN_NEW));
    assert_non_null(strstr(store_function_source, "register_function('fw_put'"));
}

static void test_judge_every_reply(void **state)
{
    (void)state;
    /* plain writes */
    assert_int_equal(store_judge_write(RR_STATUS, NULL, NULL, 0), STORE_OK);   /* +OK */
    assert_int_equal(store_judge_write(RR_INTEGER, NULL, NULL, 0), STORE_OK);  /* DEL, SADD */
    assert_int_equal(store_judge_write(RR_ERROR, NULL, NULL, 0), STORE_ERROR); /* -NOPERM, -OOM */
    assert_int_equal(store_judge_write(RR_NONE, NULL, NULL, 0), STORE_LOST);   /* disconnected */
    assert_int_equal(store_judge_write(RR_NIL, NULL, NULL, 0), STORE_ERROR);
    assert_int_equal(store_judge_write(RR_ARRAY, NULL, NULL, 0), STORE_ERROR); /* wrong type */
    /* EXEC */
    enum redis_reply_type ok[1] = {RR_INTEGER}, err[2] = {RR_INTEGER, RR_ERROR};
    long long one[1] = {1}, zero[1] = {0}, two[2] = {1, 0};
    assert_int_equal(store_judge_write(RR_ARRAY, ok, one, 1), STORE_OK);
    assert_int_equal(store_judge_write(RR_ARRAY, ok, zero, 1), STORE_REFUSED); /* lower rank */
    assert_int_equal(store_judge_write(RR_ARRAY, err, two, 2), STORE_ERROR); /* a command failed */
    assert_int_equal(store_judge_write(RR_NIL, ok, one, 0), STORE_ERROR);    /* aborted (WATCH) */
    assert_int_equal(store_judge_write(RR_ERROR, ok, one, 0), STORE_ERROR);  /* -EXECABORT */
    assert_int_equal(store_judge_write(RR_NONE, ok, one, 0), STORE_LOST);
    /* WAIT */
    assert_int_equal(store_judge_wait(RR_INTEGER, 2, 2), STORE_OK);
    assert_int_equal(store_judge_wait(RR_INTEGER, 3, 2), STORE_OK);
    assert_int_equal(store_judge_wait(RR_INTEGER, 1, 2), STORE_TIMEOUT);
    assert_int_equal(store_judge_wait(RR_INTEGER, 0, 0), STORE_OK); /* no replica required */
    assert_int_equal(store_judge_wait(RR_ERROR, 0, 1), STORE_ERROR);
    assert_int_equal(store_judge_wait(RR_STRING, 5, 1), STORE_ERROR);
    assert_int_equal(store_judge_wait(RR_NONE, 0, 1), STORE_LOST);
    /* GET of an entry */
    struct store_entry e;
    const char *good = "ESTABLISHED owner=node2 orig=b side=a rank=3 v=1 t=5";
    assert_int_equal(store_judge_lookup(RR_STRING, good, strlen(good), TCP, &e), STORE_OK);
    assert_string_equal(e.owner, "node2");
    assert_int_equal(e.orig_is_a, 0);
    assert_int_equal(store_judge_lookup(RR_NIL, NULL, 0, TCP, &e), STORE_REFUSED);
    assert_int_equal(store_judge_lookup(RR_STRING, "garbage", 7, TCP, &e), STORE_ERROR);
    assert_int_equal(store_judge_lookup(RR_ERROR, "ERR", 3, TCP, &e), STORE_ERROR);
    assert_int_equal(store_judge_lookup(RR_INTEGER, NULL, 0, TCP, &e), STORE_ERROR);
    assert_int_equal(store_judge_lookup(RR_ARRAY, NULL, 0, TCP, &e), STORE_ERROR);
    assert_int_equal(store_judge_lookup(RR_NONE, NULL, 0, TCP, &e), STORE_LOST);
}

/* The read-back of a write sent without its reply: as written, another entry standing in its
 * place (refused: higher rank, or another worker's), or the write did not take effect. */
static void test_judge_readback(void **state)
{
    (void)state;
    char ours[STORE_VALUE_MAX], later[STORE_VALUE_MAX], other[STORE_VALUE_MAX],
        older[STORE_VALUE_MAX];
    struct store_entry e = {.state = TCP_ST_SYN_SENT, .orig_is_a = 1, .t_ms = 1000};
    snprintf(e.owner, sizeof(e.owner), "node1");
    e.rank = store_rank(TCP, e.state);
    uint8_t rank = e.rank;
    assert_true(store_entry_format(&e, TCP, ours, sizeof(ours)) > 0);
    e.state = TCP_ST_ESTABLISHED;
    e.rank = store_rank(TCP, e.state);
    assert_true(store_entry_format(&e, TCP, later, sizeof(later)) > 0);
    snprintf(e.owner, sizeof(e.owner), "node2");
    assert_true(store_entry_format(&e, TCP, other, sizeof(other)) > 0);
    e.state = TCP_ST_SYN_SENT;
    e.rank = rank;
    e.t_ms = 900;
    snprintf(e.owner, sizeof(e.owner), "node1");
    assert_true(store_entry_format(&e, TCP, older, sizeof(older)) > 0);
    size_t n = strlen(ours);
    /* a put */
    assert_int_equal(store_judge_readback(RR_STRING, ours, n, ours, n, TCP, rank, "node1"),
                     STORE_OK);
    assert_int_equal(
        store_judge_readback(RR_STRING, later, strlen(later), ours, n, TCP, rank, "node1"),
        STORE_REFUSED); /* a later state of ours stands: the guard kept it */
    assert_int_equal(
        store_judge_readback(RR_STRING, other, strlen(other), ours, n, TCP, rank, "node1"),
        STORE_REFUSED); /* another worker's entry (it took the connection over) */
    assert_int_equal(
        store_judge_readback(RR_STRING, older, strlen(older), ours, n, TCP, rank, "node1"),
        STORE_ERROR); /* our earlier write is still there: this one did not take effect */
    assert_int_equal(store_judge_readback(RR_NIL, NULL, 0, ours, n, TCP, rank, "node1"),
                     STORE_ERROR);
    assert_int_equal(store_judge_readback(RR_STRING, "garbage", 7, ours, n, TCP, rank, "node1"),
                     STORE_ERROR);
    assert_int_equal(store_judge_readback(RR_ERROR, "ERR", 3, ours, n, TCP, rank, "node1"),
                     STORE_ERROR);
    assert_int_equal(store_judge_readback(RR_INTEGER, NULL, 0, ours, n, TCP, rank, "node1"),
                     STORE_ERROR);
    assert_int_equal(store_judge_readback(RR_NONE, NULL, 0, ours, n, TCP, rank, "node1"),
                     STORE_LOST);
    /* a delete */
    assert_int_equal(store_judge_readback(RR_NIL, NULL, 0, NULL, 0, TCP, rank, "node1"), STORE_OK);
    assert_int_equal(store_judge_readback(RR_STRING, ours, n, NULL, 0, TCP, rank, "node1"),
                     STORE_ERROR); /* still there: the delete did not take effect */
    assert_int_equal(
        store_judge_readback(RR_STRING, other, strlen(other), NULL, 0, TCP, rank, "node1"),
        STORE_REFUSED); /* written again by another worker */
    assert_int_equal(store_judge_readback(RR_NONE, NULL, 0, NULL, 0, TCP, rank, "node1"),
                     STORE_LOST);
}

static void test_conn_key_parse(void **state)
{
    (void)state;
    const char *good[] = {"fw:conn:tcp:10.10.1.10:40000:10.10.2.10:80",
                          "fw:conn:udp:[fd00:10:1::10]:5353:[fd00:10:2::10]:53",
                          "fw:conn:icmp:10.10.1.10:7:10.10.2.10:7"};
    for (size_t i = 0; i < 3; i++) {
        struct flow_key k;
        char back[KEYS_MAX];
        assert_int_equal(store_conn_key_parse(good[i], strlen(good[i]), &k), 0);
        assert_true(store_conn_key(&k, back, sizeof(back)) > 0);
        assert_string_equal(back, good[i]); /* the name round-trips */
    }
    const char *bad[] = {
        "fw:conn:", "fw:conn:tcp:", "fw:conn:sctp:1.2.3.4:1:1.2.3.5:2",
        "fw:conn:tcp:10.10.2.10:80:10.10.1.10:40000", /* not canonical */
        "fw:conn:tcp:10.10.1.10:40000:[fd00::1]:80",  /* mixed families */
        "fw:conn:tcp:10.10.1.10:99999:10.10.2.10:80", "fw:conn:tcp:10.10.1.300:1:10.10.2.10:80",
        "fw:node:x", "fw:conn:tcp:10.10.1.10:1:10.10.2.10:", "fw:conn:tcp:[fd00::1:1:[fd00::2]:2",
        /* found by fuzz_text: other spellings of a canonical key */
        "fw:conn:udp:[fd00:10:0::10]:5353:[fd00:10:2::10]:53",
        "fw:conn:udp:[fd00:1:01::10]:5353:[fd00:10:2::10]:53",
        "fw:conn:tcp:10.10.1.10:040000:10.10.2.10:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct flow_key k;
        if (store_conn_key_parse(bad[i], strlen(bad[i]), &k) != -1)
            fail_msg("accepted '%s'", bad[i]);
    }
}

/* A connection dropped for room (early drop) while Redis is unreachable: its entry is left to its
 * TTL and counted as a lost delete, like a close's; one that wrote nothing costs nothing. */
static void test_forget_while_down(void **state)
{
    (void)state;
    struct fw_stats stats;
    memset(&stats, 0, sizeof(stats));
    struct store_config cfg = {SYNC_LEVEL_FULL,
                               SYNC_STRATEGY_SYNC,
                               SYNC_ACCESS_TRANSACTION,
                               SYNC_POLICY_OPEN,
                               -1,
                               100,
                               1024,
                               "node1",
                               0};
    struct store_hooks hooks = {NULL, NULL, NULL, NULL, NULL};
    struct store *st = store_new(&cfg, &hooks, &stats);
    assert_non_null(st);
    struct conn c;
    memset(&c, 0, sizeof(c));
    c.key.family = 4;
    c.key.proto = TCP;
    c.state = TCP_ST_SYN_SENT;
    store_forget(st, &c); /* never written */
    assert_int_equal(stats.writes_lost, 0);
    assert_int_equal(stats.state_deletes, 0);
    c.stored_state = TCP_ST_SYN_SENT;
    store_forget(st, &c);
    assert_int_equal(stats.writes_lost, 1);
    assert_int_equal(stats.state_deletes, 0);
    assert_int_equal(stats.redis_errors, 0);
    store_free(st);
}

/* A synchronous write joins the lane that commits it soonest, lane 0 (the lookups') last. */
static void test_pick_lane(void **state)
{
    (void)state;
    enum {
        D = STORE_LANE_DOWN,
        I = STORE_LANE_IDLE,
        O = STORE_LANE_OPEN,
        B = STORE_LANE_BUSY,
        BO = STORE_LANE_BUSY_OPEN,
        P = STORE_LANE_PIPE,
        PO = STORE_LANE_PIPE_OPEN
    };
    struct {
        uint8_t lanes[4];
        int n, want;
    } cases[] = {
        {{I}, 1, 0},           /* one lane: that one */
        {{B}, 1, 0},           /* ... even with its WAIT in flight */
        {{D}, 1, -1},          /* none up */
        {{D, D, D, D}, 4, -1}, /* none up */
        {{I, I, I, I}, 4, 1},  /* all idle: lane 1 first, 0 last */
        {{I, B, B, B}, 4, 0},  /* the only idle one is lane 0 */
        {{B, B, O, I}, 4, 2},  /* an open batch leaves this round: joined, no extra WAIT */
        {{B, B, I, B}, 4, 2},  /* idle before busy */
        {{B, B, BO, B}, 4, 2}, /* busy: the batch that is open already */
        {{B, B, B, B}, 4, 1},  /* all busy, none open: lane 1 */
        {{BO, D, D, D}, 4, 0}, /* the others down */
        {{I, D, BO, O}, 4, 3}, /* open beats idle beats busy */
        {{O, I, I, I}, 4, 0},  /* lane 0's open batch beats idle lanes */
        /* with more than one WAIT in flight per lane (FW_SYNC_PIPELINE) */
        {{B, P, B, I}, 4, 3},  /* idle before a WAIT behind another */
        {{B, P, PO, B}, 4, 2}, /* joins the batch that follows a WAIT now */
        {{B, BO, P, B}, 4, 2}, /* a WAIT that may leave now before the batch after the full */
        {{P, B, B, B}, 4, 0},  /* lane 0 when the others are full */
        {{PO, O, P, P}, 4, 1}, /* a batch leaving this round on a free lane first */
        {{B, PO, I, B}, 4, 2}, /* an idle lane before a batch that would wait behind a WAIT */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(store_pick_lane(cases[i].lanes, cases[i].n), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_none_writes_nothing),
        cmocka_unit_test(test_which_states_each_level_writes),
        cmocka_unit_test(test_handshake_writes_by_level),
        cmocka_unit_test(test_strategy_access_matrix),
        cmocka_unit_test(test_close_deletes_without_holding),
        cmocka_unit_test(test_entry_roundtrip),
        cmocka_unit_test(test_hostile_entries_rejected),
        cmocka_unit_test(test_conn_key_names),
        cmocka_unit_test(test_ranks_never_backwards_within_a_connection),
        cmocka_unit_test(test_judge_every_reply),
        cmocka_unit_test(test_judge_readback),
        cmocka_unit_test(test_conn_key_parse),
        cmocka_unit_test(test_forget_while_down),
        cmocka_unit_test(test_pick_lane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
