/* test_tcp_state.c: the TCP state machine: every transition, every rejection, the window checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_state.h"

/* Wire flag bits (same values as packet.h; kept local so this test needs tcp_state.h only). */
#define F 0x01u /* FIN */
#define S 0x02u /* SYN */
#define R 0x04u /* RST */
#define P 0x08u /* PSH */
#define A 0x10u /* ACK */
#define U 0x20u /* URG */
#define E 0x40u /* ECE */
#define C 0x80u /* CWR */

#define O_ISN 1000u  /* the originator's ISN in the canonical connection */
#define R_ISN 50000u /* the responder's */
#define WIN   65535u
#define NO_WS 0xff
#define O_DIR TCP_DIR_ORIG
#define R_DIR TCP_DIR_REPLY

/* A segment without options. */
static struct tcp_seg seg(unsigned flags, uint32_t seq, uint32_t ack, uint32_t len, uint16_t win)
{
    struct tcp_seg s;

    memset(&s, 0, sizeof(s));
    s.flags = (uint8_t)flags;
    s.seq = seq;
    s.ack = ack;
    s.len = len;
    s.win = win;
    s.wscale = NO_WS;
    return s;
}

/* A SYN or SYN+ACK with a window scale option (NO_WS for none) and SACK permitted. */
static struct tcp_seg synseg(unsigned flags, uint32_t seq, uint32_t ack, uint16_t win, uint8_t ws)
{
    struct tcp_seg s = seg(flags, seq, ack, 0, win);

    s.wscale = ws;
    s.sack_perm = true;
    return s;
}

/* Feeds s in direction dir and checks the verdict and the resulting state; on a drop also that
 * the track is byte for byte unchanged. Reports the caller's line. */
#define STEP(t, dir, s, want, st) step_at(__LINE__, (t), (dir), (s), (want), (st))
static void step_at(int line, struct tcp_track *t, int dir, struct tcp_seg s, enum tcp_verdict want,
                    enum tcp_st want_st)
{
    struct tcp_track before;
    enum tcp_verdict v;

    memcpy(&before, t, sizeof(before));
    v = tcp_state_update(t, dir, &s);
    if (v != want || t->state != want_st)
        fail_msg("line %d: verdict %s (want %s), state %s (want %s)", line, tcp_verdict_name(v),
                 tcp_verdict_name(want), tcp_state_name((enum tcp_st)t->state),
                 tcp_state_name(want_st));
    if (want != TCP_OK && memcmp(&before, t, sizeof(before)) != 0)
        fail_msg("line %d: track changed on a drop", line);
}

/* Drives the canonical connection (ISNs O_ISN and R_ISN, no options, 65535 windows, no data) from
 * nothing to st along the orderly path: SYN, SYN+ACK, ACK, orig FIN, reply ACK, reply FIN, orig
 * ACK; CLOSE by an originator RST in ESTABLISHED. */
static void to_state(struct tcp_track *t, enum tcp_st st)
{
    struct tcp_seg s = seg(S, O_ISN, 0, 0, WIN);

    assert_int_equal(tcp_state_new(t, &s, false), TCP_OK);
    if (st == TCP_ST_SYN_SENT)
        return;
    STEP(t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
    if (st == TCP_ST_SYN_RECV)
        return;
    STEP(t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    if (st == TCP_ST_ESTABLISHED)
        return;
    if (st == TCP_ST_CLOSE) {
        STEP(t, O_DIR, seg(R, O_ISN + 1, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
        return;
    }
    STEP(t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    if (st == TCP_ST_FIN_WAIT)
        return;
    STEP(t, R_DIR, seg(A, R_ISN + 1, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
    if (st == TCP_ST_CLOSE_WAIT)
        return;
    STEP(t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    if (st == TCP_ST_LAST_ACK)
        return;
    STEP(t, O_DIR, seg(A, O_ISN + 2, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
}

/* ---- names ---- */

static void test_state_names_round_trip(void **state)
{
    static const char *const names[] = {"NONE",        "SYN_SENT",  "SYN_RECV",
                                        "ESTABLISHED", "FIN_WAIT",  "CLOSE_WAIT",
                                        "LAST_ACK",    "TIME_WAIT", "CLOSE"};
    (void)state;
    assert_int_equal(sizeof(names) / sizeof(names[0]), TCP_ST_MAX);
    for (int i = 0; i < TCP_ST_MAX; i++) {
        assert_string_equal(tcp_state_name((enum tcp_st)i), names[i]);
        assert_int_equal(tcp_state_from_name(names[i]), i);
    }
    assert_int_equal(tcp_state_from_name("established"), -1);
    assert_int_equal(tcp_state_from_name("SYN_SENT2"), -1);
    assert_int_equal(tcp_state_from_name(""), -1);
    assert_int_equal(tcp_state_from_name(NULL), -1);
    assert_string_equal(tcp_state_name(TCP_ST_MAX), "?");
}

static void test_verdict_names(void **state)
{
    (void)state;
    assert_string_equal(tcp_verdict_name(TCP_OK), "ok");
    assert_string_equal(tcp_verdict_name(TCP_BAD_FLAGS), "bad_flags");
    assert_string_equal(tcp_verdict_name(TCP_NOT_SYN), "not_syn");
    assert_string_equal(tcp_verdict_name(TCP_UNEXPECTED), "unexpected");
    assert_string_equal(tcp_verdict_name(TCP_OUT_OF_WINDOW), "out_of_window");
    assert_string_equal(tcp_verdict_name(TCP_BAD_RST), "bad_rst");
    assert_string_equal(tcp_verdict_name(TCP_VERDICT_MAX), "?");
}

/* ---- flag combinations ---- */

static void test_flags_invalid_named_combos(void **state)
{
    static const unsigned bad[] = {
        S | F,
        S | F | A,
        S | F | P | U,
        S | R,
        S | R | A,
        F | R,
        F | R | A,
        F | R | P,
        0,
        P,
        E | C,
        F | P | U,
        F | S | R | P | A | U,
        0xff,
        F,
        F | P,
        U,
        P | U,
        R | U,
        S | A | U,
        S | A | F,
    };
    static const unsigned good[] = {
        S,         S | E | C, S | U,     S | P,     S | A, S | A | E, A,     A | P,     A | U,
        A | P | U, F | A,     F | A | P, F | A | U, R,     R | A,     R | P, R | A | P, A | E | C,
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!tcp_flags_invalid((uint8_t)bad[i]))
            fail_msg("flags 0x%02x should be invalid", bad[i]);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (tcp_flags_invalid((uint8_t)good[i]))
            fail_msg("flags 0x%02x should be valid", good[i]);
}

/* All 256 combinations against the rule in words: PSH, ECE and CWR never matter; a SYN goes alone
 * or with ACK or URG; an RST alone or with ACK; anything else needs ACK. */
static void test_flags_invalid_exhaustive(void **state)
{
    (void)state;
    for (unsigned f = 0; f < 256; f++) {
        unsigned m = f & ~(P | E | C);
        bool valid;

        if (m & S)
            valid = m == S || m == (S | U) || m == (S | A);
        else if (m & R)
            valid = m == R || m == (R | A);
        else
            valid = (m & A) != 0;
        if (tcp_flags_invalid((uint8_t)f) != !valid)
            fail_msg("flags 0x%02x: expected %s", f, valid ? "valid" : "invalid");
    }
}

static void test_bad_flags_rejected_by_new_and_update(void **state)
{
    static const unsigned bad[] = {S | F, S | R, F | R, 0, F | P | U, 0x3f, F};
    struct tcp_track t, zero;
    (void)state;
    memset(&zero, 0, sizeof(zero));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tcp_seg s = seg(bad[i], O_ISN, 0, 0, WIN);

        memset(&t, 0xa5, sizeof(t));
        assert_int_equal(tcp_state_new(&t, &s, false), TCP_BAD_FLAGS);
        assert_memory_equal(&t, &zero, sizeof(t));
        assert_int_equal(tcp_state_new(&t, &s, true), TCP_BAD_FLAGS);
        assert_memory_equal(&t, &zero, sizeof(t));

        to_state(&t, TCP_ST_ESTABLISHED);
        STEP(&t, O_DIR, seg(bad[i], O_ISN + 1, R_ISN + 1, 0, WIN), TCP_BAD_FLAGS,
             TCP_ST_ESTABLISHED);
        STEP(&t, R_DIR, seg(bad[i], R_ISN + 1, O_ISN + 1, 0, WIN), TCP_BAD_FLAGS,
             TCP_ST_ESTABLISHED);
    }
}

/* ---- the first segment ---- */

static void test_new_plain_syn_records_originator(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = synseg(S | E | C, O_ISN, 0, 29200, 7);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    assert_int_equal(t.state, TCP_ST_SYN_SENT);
    assert_int_equal(t.loose, 0);
    assert_int_equal(t.last_dir, O_DIR);
    assert_int_equal(t.last_flags, S | E | C);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 1);
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 1);
    assert_int_equal(t.peer[O_DIR].maxwin, 29200);
    assert_int_equal(t.peer[O_DIR].wscale, 7);
    assert_int_equal(t.peer[O_DIR].flags, TCP_PEER_WSCALE | TCP_PEER_SACK);
    assert_int_equal(t.peer[R_DIR].maxwin, 0);
    assert_int_equal(t.peer[R_DIR].flags, 0);
}

static void test_new_syn_options_edge_cases(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = seg(S, O_ISN, 0, 0, 0);
    (void)state;
    /* No options, zero window: maxwin 1 (as Linux), no flags. */
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    assert_int_equal(t.peer[O_DIR].maxwin, 1);
    assert_int_equal(t.peer[O_DIR].flags, 0);
    assert_int_equal(t.peer[O_DIR].wscale, 0);
    /* A scale above 14 is clamped; a scale of 0 is still an announced option. */
    s = synseg(S, O_ISN, 0, WIN, 15);
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    assert_int_equal(t.peer[O_DIR].wscale, 14);
    s = synseg(S, O_ISN, 0, WIN, 0);
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    assert_true(t.peer[O_DIR].flags & TCP_PEER_WSCALE);
    /* A SYN with data (TFO) ends after it; SYN+URG is a plain SYN too. */
    s = seg(S | U, O_ISN, 0, 100, WIN);
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 101);
}

/* Strict mode: unsolicited ACK, FIN, RST, SYN+ACK or data as the first segment are not starts. */
static void test_new_strict_rejects_non_syn(void **state)
{
    static const unsigned firsts[] = {A, A | P, F | A, R, R | A, S | A, A | U};
    struct tcp_track t, zero;
    (void)state;
    memset(&zero, 0, sizeof(zero));
    for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
        struct tcp_seg s = seg(firsts[i], O_ISN, R_ISN, 10, WIN);

        memset(&t, 0x5a, sizeof(t));
        if (tcp_state_new(&t, &s, false) != TCP_NOT_SYN)
            fail_msg("flags 0x%02x: want not_syn", firsts[i]);
        assert_memory_equal(&t, &zero, sizeof(t));
    }
}

/* ---- handshake and data ---- */

static void test_full_handshake(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = seg(S, O_ISN, 0, 0, 29200);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, 28960), TCP_OK, TCP_ST_SYN_RECV);
    assert_int_equal(t.peer[R_DIR].end, R_ISN + 1);
    assert_int_equal(t.peer[R_DIR].maxwin, 28960);
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 1 + 28960);
    assert_true(t.peer[R_DIR].flags & TCP_PEER_MAXACK_SET);
    assert_int_equal(t.peer[R_DIR].maxack, O_ISN + 1);
    assert_int_equal(t.last_dir, R_DIR);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 0, 29200), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].maxend, R_ISN + 1 + 29200);
    assert_int_equal(t.last_dir, O_DIR);
    assert_int_equal(t.last_flags, A);
}

static void test_data_both_ways(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A | P, O_ISN + 1, R_ISN + 1, 1000, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 1001);
    STEP(&t, R_DIR, seg(A | P, R_ISN + 1, O_ISN + 1001, 3000, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].end, R_ISN + 3001);
    assert_int_equal(t.peer[R_DIR].maxack, O_ISN + 1001);
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 1001 + WIN);
    STEP(&t, O_DIR, seg(A, O_ISN + 1001, R_ISN + 3001, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].maxend, R_ISN + 3001 + WIN);
    /* Pipelined: several segments before any ack, up to the window. */
    for (uint32_t off = 0; off < 60000; off += 1460)
        STEP(&t, O_DIR, seg(A, O_ISN + 1001 + off, R_ISN + 3001, 1460, WIN), TCP_OK,
             TCP_ST_ESTABLISHED);
}

static void test_retransmissions_and_keepalives(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 500, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 500, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 101, R_ISN + 1, 400, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 501);
    /* Duplicate acks. */
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 501, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 501, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    /* Keepalives: seq one below the next, with zero or one byte. */
    STEP(&t, O_DIR, seg(A, O_ISN + 500, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 500, R_ISN + 1, 1, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 501);
}

static void test_zero_window_probe(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 0, 0), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 1, WIN), TCP_OK, TCP_ST_ESTABLISHED);
}

/* ---- handshake rejections and retransmissions ---- */

static void test_synack_with_wrong_ack_is_out_of_window(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 2, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(S | A, R_ISN, 0, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
}

static void test_synack_from_originator_is_unexpected(void **state)
{
    static const enum tcp_st sts[] = {TCP_ST_SYN_SENT, TCP_ST_SYN_RECV, TCP_ST_ESTABLISHED,
                                      TCP_ST_FIN_WAIT, TCP_ST_TIME_WAIT};
    (void)state;
    for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        struct tcp_track t;

        to_state(&t, sts[i]);
        STEP(&t, O_DIR, seg(S | A, O_ISN, R_ISN + 1, 0, WIN), TCP_UNEXPECTED, sts[i]);
    }
}

static void test_syn_from_responder_is_unexpected(void **state)
{
    static const enum tcp_st sts[] = {TCP_ST_SYN_SENT, TCP_ST_SYN_RECV, TCP_ST_ESTABLISHED,
                                      TCP_ST_TIME_WAIT, TCP_ST_CLOSE};
    (void)state;
    for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        struct tcp_track t;

        to_state(&t, sts[i]);
        STEP(&t, R_DIR, seg(S, R_ISN, 0, 0, WIN), TCP_UNEXPECTED, sts[i]);
    }
}

static void test_syn_from_originator_mid_connection_is_unexpected(void **state)
{
    static const enum tcp_st sts[] = {TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT, TCP_ST_CLOSE_WAIT,
                                      TCP_ST_LAST_ACK};
    (void)state;
    for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        struct tcp_track t;

        to_state(&t, sts[i]);
        STEP(&t, O_DIR, seg(S, O_ISN, 0, 0, WIN), TCP_UNEXPECTED, sts[i]);
        STEP(&t, O_DIR, seg(S, O_ISN + 7777, 0, 0, WIN), TCP_UNEXPECTED, sts[i]);
    }
}

/* Before the SYN+ACK nothing but a SYN retransmission, the SYN+ACK or a reset may pass. */
static void test_ack_or_fin_in_syn_sent_is_unexpected(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_SENT);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_SYN_SENT);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(A | P, R_ISN + 1, O_ISN + 1, 10, WIN), TCP_UNEXPECTED, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_SYN_SENT);
}

static void test_syn_retransmission_in_syn_sent(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_SENT);
    STEP(&t, O_DIR, seg(S, O_ISN, 0, 0, WIN), TCP_OK, TCP_ST_SYN_SENT);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 1);
    /* A later ISN restarts the attempt (the client gave up and retried, as Linux). */
    STEP(&t, O_DIR, synseg(S, O_ISN + 100, 0, 1000, 3), TCP_OK, TCP_ST_SYN_SENT);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 101);
    assert_int_equal(t.peer[O_DIR].maxwin, 1000);
    assert_int_equal(t.peer[O_DIR].wscale, 3);
    /* An earlier one is stale. */
    STEP(&t, O_DIR, seg(S, O_ISN, 0, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_SENT);
    /* The SYN+ACK must now acknowledge the new ISN. */
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 101, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
}

static void test_syn_retransmission_in_syn_recv(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(S, O_ISN, 0, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(S, O_ISN + 5, 0, 0, WIN), TCP_UNEXPECTED, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
}

static void test_synack_retransmission_in_syn_recv(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
    STEP(&t, R_DIR, seg(S | A, R_ISN + 9, O_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_SYN_RECV);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 2, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_RECV);
}

/* The originator's final ACK was lost beyond us: the responder repeats its SYN+ACK. Fine until the
 * responder has sent anything else. */
static void test_synack_retransmission_in_established(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 99, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(S | A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 100, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_ESTABLISHED);
    to_state(&t, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_UNEXPECTED, TCP_ST_FIN_WAIT);
}

/* The responder may ack (not send data) while in SYN_RECV; only the originator's ACK establishes.
 */
static void test_responder_ack_in_syn_recv_stays(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(A | P, O_ISN + 1, R_ISN + 1, 200, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 201);
}

static void test_final_ack_with_bad_ack_is_out_of_window(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 2, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN - 70000, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_RECV);
}

/* ---- closing ---- */

static void test_close_originator_first(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    assert_true(t.peer[O_DIR].flags & TCP_PEER_FIN);
    /* The FIN sender's own ack does not ack its FIN. */
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
    assert_true(t.peer[O_DIR].flags & TCP_PEER_FIN_ACKED);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
    assert_true(t.peer[R_DIR].flags & TCP_PEER_FIN_ACKED);
}

static void test_close_responder_first(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, R_DIR, seg(A, R_ISN + 2, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
}

/* The second FIN acknowledges the first in the same segment: FIN_WAIT straight to LAST_ACK. */
static void test_close_fin_acking_fin(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
}

/* Both FINs cross, neither acking the other; then both acks. */
static void test_simultaneous_close(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, R_DIR, seg(A, R_ISN + 2, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
}

/* FIN with data in SYN_RECV (the originator's ACK completes the handshake in the same segment),
 * and the responder closing before the final ACK. */
static void test_fin_in_syn_recv(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(F | A | P, O_ISN + 1, R_ISN + 1, 10, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 12);
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
}

/* Half close: the side that has not closed keeps sending; the closed side may only ack. */
static void test_half_close_data_and_no_data_after_fin(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_CLOSE_WAIT);
    STEP(&t, R_DIR, seg(A | P, R_ISN + 1, O_ISN + 2, 1000, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 1001, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
    /* Retransmitted FIN fine, new data or a later FIN from the closed side not. */
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1001, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 1001, 10, WIN), TCP_OUT_OF_WINDOW, TCP_ST_CLOSE_WAIT);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 2, R_ISN + 1001, 0, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_CLOSE_WAIT);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1001, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 1002, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
}

static void test_fin_retransmission_in_fin_wait(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_FIN_WAIT);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 1, R_ISN + 1, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
}

static void test_time_wait_accepts_retransmissions(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_TIME_WAIT);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 2, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
    STEP(&t, O_DIR, seg(A, O_ISN + 2, R_ISN + 3, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_TIME_WAIT);
}

static void test_reopen_from_time_wait(void **state)
{
    struct tcp_track t;
    const uint32_t isn2 = O_ISN + 100000;
    (void)state;
    to_state(&t, TCP_ST_TIME_WAIT);
    STEP(&t, O_DIR, synseg(S, isn2, 0, 1000, 5), TCP_OK, TCP_ST_SYN_SENT);
    assert_int_equal(t.peer[O_DIR].end, isn2 + 1);
    assert_int_equal(t.peer[O_DIR].flags, TCP_PEER_WSCALE | TCP_PEER_SACK);
    assert_int_equal(t.peer[R_DIR].maxwin, 0);
    assert_int_equal(t.peer[R_DIR].flags, 0);
    STEP(&t, R_DIR, seg(S | A, R_ISN, O_ISN + 1, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(S | A, R_ISN + 7, isn2 + 1, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(A, isn2 + 1, R_ISN + 8, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
}

static void test_reopen_from_close(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_CLOSE);
    STEP(&t, O_DIR, seg(S, O_ISN + 5000, 0, 0, WIN), TCP_OK, TCP_ST_SYN_SENT);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 5001);
}

/* ---- resets ---- */

/* From every state after SYN_SENT an RST at the sender's next sequence number closes. */
static void test_rst_in_window_closes_from_every_state(void **state)
{
    static const enum tcp_st sts[] = {TCP_ST_SYN_RECV,   TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT,
                                      TCP_ST_CLOSE_WAIT, TCP_ST_LAST_ACK,    TCP_ST_TIME_WAIT,
                                      TCP_ST_CLOSE};
    (void)state;
    for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        for (int dir = O_DIR; dir <= R_DIR; dir++) {
            struct tcp_track t;

            to_state(&t, sts[i]);
            STEP(&t, dir, seg(R, t.peer[dir].end, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
            to_state(&t, sts[i]);
            STEP(&t, dir, seg(R | A, t.peer[dir].end, t.peer[!dir].end, 0, 0), TCP_OK,
                 TCP_ST_CLOSE);
        }
    }
}

static void test_rst_within_receive_window_accepted(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    /* Anywhere from the receiver's ack up to the window's edge, inclusive. */
    STEP(&t, O_DIR, seg(R, O_ISN + 1 + WIN, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R, O_ISN + 30000, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
    /* An RST+ACK with ack 0 is taken as carrying no ack (some stacks send it). */
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(R | A, R_ISN + 1, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
}

static void test_blind_rst_rejected(void **state)
{
    static const uint32_t offs[] = {WIN + 1,     1000000,      0x40000000u,     0x80000000u,
                                    0xc0000000u, (uint32_t)-1, (uint32_t)-70000};
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        STEP(&t, O_DIR, seg(R, O_ISN + 1 + offs[i], 0, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
        STEP(&t, R_DIR, seg(R | A, R_ISN + 1 + offs[i], O_ISN + 1, 0, 0), TCP_BAD_RST,
             TCP_ST_ESTABLISHED);
    }
}

/* Below what the receiver already acknowledged: an old or forged reset (Linux td_maxack check). */
static void test_rst_below_receiver_ack_rejected(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 1000, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1001, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R, O_ISN + 500, 0, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R, O_ISN + 1000, 0, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R, O_ISN + 1001, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
}

static void test_rst_with_bad_ack_rejected(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R | A, O_ISN + 1, R_ISN + 2, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R | A, O_ISN + 1, R_ISN - 70000, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
}

static void test_rst_in_syn_sent(void **state)
{
    struct tcp_track t;
    (void)state;
    /* Connection refused: the responder's RST+ACK acknowledges the SYN. */
    to_state(&t, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(R | A, 0, O_ISN + 1, 0, 0), TCP_OK, TCP_ST_CLOSE);
    /* Anything else from the responder is a blind reset. */
    to_state(&t, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(R | A, 0, O_ISN + 2, 0, 0), TCP_BAD_RST, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(R | A, 0, O_ISN, 0, 0), TCP_BAD_RST, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(R, 0, 0, 0, 0), TCP_BAD_RST, TCP_ST_SYN_SENT);
    STEP(&t, R_DIR, seg(R, R_ISN, O_ISN + 1, 0, 0), TCP_BAD_RST, TCP_ST_SYN_SENT);
    /* The originator's own RST sits at its end. */
    STEP(&t, O_DIR, seg(R, O_ISN + 5, 0, 0, 0), TCP_BAD_RST, TCP_ST_SYN_SENT);
    STEP(&t, O_DIR, seg(R, O_ISN + 1, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
}

static void test_rst_in_syn_recv_out_of_window_rejected(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(R, O_ISN + 1 + 2 * WIN, 0, 0, 0), TCP_BAD_RST, TCP_ST_SYN_RECV);
    STEP(&t, R_DIR, seg(R, R_ISN + 100, 0, 0, 0), TCP_BAD_RST, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(R, O_ISN, 0, 0, 0), TCP_BAD_RST, TCP_ST_SYN_RECV);
}

static void test_close_state_keeps_window_checks(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_CLOSE);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_CLOSE);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 1, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_CLOSE);
    STEP(&t, R_DIR, seg(A, R_ISN + 1000000, O_ISN + 1, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_CLOSE);
    STEP(&t, O_DIR, seg(R, O_ISN + 1000000, 0, 0, 0), TCP_BAD_RST, TCP_ST_CLOSE);
    STEP(&t, O_DIR, seg(R, O_ISN + 1, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
}

/* ---- the window ---- */

static void test_data_far_ahead_out_of_window(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    /* maxend is ack + window: O_ISN + 1 + WIN. The edge itself is accepted (Linux). */
    STEP(&t, O_DIR, seg(A, O_ISN + 2 + WIN, R_ISN + 1, 1, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 0x40000000u, R_ISN + 1, 1, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 2 + WIN, O_ISN + 1, 100, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1 + WIN, R_ISN + 1, 1, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    /* Streaming on past the edge, each segment starting at the sender's end, is not. */
    STEP(&t, O_DIR, seg(A, O_ISN + 2 + WIN, R_ISN + 1, 1, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
}

static void test_data_far_behind_out_of_window(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    for (uint32_t off = 0; off < 200000; off += 1000) {
        STEP(&t, O_DIR, seg(A, O_ISN + 1 + off, R_ISN + 1, 1000, WIN), TCP_OK, TCP_ST_ESTABLISHED);
        STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1001 + off, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    }
    /* end = O_ISN + 200001; the lower bound is end - the responder's window (65535). */
    STEP(&t, O_DIR, seg(A, O_ISN + 200001 - WIN - 101, R_ISN + 1, 100, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 1000, WIN), TCP_OUT_OF_WINDOW, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 200001 - WIN - 100, R_ISN + 1, 100, WIN), TCP_OK,
         TCP_ST_ESTABLISHED);
}

static void test_ack_out_of_window(void **state)
{
    struct tcp_track t;
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    /* Acking data the other side never sent. */
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 2, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 5000, 10, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    /* Too far behind: more than max(sender window, 66000) below the other's end. */
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1 - 66001, 0, WIN), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1 - 66000, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
}

/* Both SYNs carry the option: windows of later segments are shifted, SYN windows never. */
static void test_window_scaling_both_sides(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = synseg(S, O_ISN, 0, 64240, 7);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    STEP(&t, R_DIR, synseg(S | A, R_ISN, O_ISN + 1, 65160, 7), TCP_OK, TCP_ST_SYN_RECV);
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 1 + 65160);
    STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 0, 502), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].maxend, R_ISN + 1 + (502u << 7));
    assert_int_equal(t.peer[O_DIR].maxwin, 502u << 7);
    /* 60000 bytes ahead is inside the scaled window of 64256; its edge too, one past not. */
    STEP(&t, R_DIR, seg(A, R_ISN + 1 + 60000, O_ISN + 1, 1000, 600), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].maxwin, 600u << 7);
    STEP(&t, R_DIR, seg(A, R_ISN + 1 + (502u << 7), O_ISN + 1, 1, 600), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, R_ISN + 2 + (502u << 7), O_ISN + 1, 1, 600), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    /* A pure ACK at the responder's end, now one past maxend, is fine. */
    STEP(&t, R_DIR, seg(A, R_ISN + 2 + (502u << 7), O_ISN + 1, 0, 600), TCP_OK, TCP_ST_ESTABLISHED);
    /* The responder's scaled window (76800) bounds the originator likewise. */
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 1 + (600u << 7));
    STEP(&t, O_DIR, seg(A, O_ISN + 1 + 70000, R_ISN + 1, 100, 502), TCP_OK, TCP_ST_ESTABLISHED);
}

/* Only one SYN carries the option: nobody scales. */
static void test_window_scaling_one_side_only(void **state)
{
    for (int side = 0; side < 2; side++) {
        struct tcp_track t;
        struct tcp_seg s = synseg(S, O_ISN, 0, 64240, side == 0 ? 7 : NO_WS);

        (void)state;
        assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
        STEP(&t, R_DIR, synseg(S | A, R_ISN, O_ISN + 1, 65160, side == 0 ? NO_WS : 7), TCP_OK,
             TCP_ST_SYN_RECV);
        STEP(&t, O_DIR, seg(A, O_ISN + 1, R_ISN + 1, 0, 502), TCP_OK, TCP_ST_ESTABLISHED);
        assert_int_equal(t.peer[R_DIR].maxend, R_ISN + 1 + 502);
        STEP(&t, R_DIR, seg(A, R_ISN + 1 + 60000, O_ISN + 1, 1000, 509), TCP_OUT_OF_WINDOW,
             TCP_ST_ESTABLISHED);
        STEP(&t, R_DIR, seg(A, R_ISN + 1, O_ISN + 1, 502, 509), TCP_OK, TCP_ST_ESTABLISHED);
        assert_int_equal(t.peer[R_DIR].maxwin, 65160);
    }
}

/* Sequence numbers crossing 2^32 on both sides, through data, close and window checks. */
static void test_sequence_wrap_around(void **state)
{
    const uint32_t oi = 0xffffff00u, ri = 0xfffffff0u;
    struct tcp_track t;
    struct tcp_seg s = seg(S, oi, 0, 0, WIN);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, false), TCP_OK);
    STEP(&t, R_DIR, seg(S | A, ri, oi + 1, 0, WIN), TCP_OK, TCP_ST_SYN_RECV);
    STEP(&t, O_DIR, seg(A, oi + 1, ri + 1, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, oi + 1, ri + 1, 0x200, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[O_DIR].end, 0x101);
    STEP(&t, R_DIR, seg(A, ri + 1, 0x101, 100, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].end, 0x55);
    STEP(&t, O_DIR, seg(A, 0x101, 0x55, 0, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    /* Window checks across the wrap. */
    STEP(&t, O_DIR, seg(A, 0x101 - 200000, 0x55, 10, WIN), TCP_OUT_OF_WINDOW, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, 0x101 + 100000, 0x55, 10, WIN), TCP_OUT_OF_WINDOW, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, 0x101, 0x56, 0, WIN), TCP_OUT_OF_WINDOW, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, oi + 1, ri + 1, 0x200, WIN), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R, 0x101 + 2 * WIN, 0, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(F | A, 0x101, 0x55, 0, WIN), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(F | A, 0x55, 0x102, 0, WIN), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, O_DIR, seg(A, 0x102, 0x56, 0, WIN), TCP_OK, TCP_ST_TIME_WAIT);
}

/* ---- loose (mid-stream) pickup ---- */

static void test_loose_pickup_from_originator(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = seg(A | P, O_ISN + 5000, R_ISN + 7000, 100, 1000);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_OK);
    assert_int_equal(t.state, TCP_ST_ESTABLISHED);
    assert_int_equal(t.loose, 1);
    assert_true(t.peer[O_DIR].flags & TCP_PEER_PICKUP);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 5100);
    assert_int_equal(t.peer[O_DIR].maxwin, 1000u << 14);
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 5100 + (1000u << 14));
    assert_int_equal(t.peer[R_DIR].end, R_ISN + 7000);
    assert_int_equal(t.peer[R_DIR].maxwin, 0);
    /* Until the responder is heard, window failures are tolerated (we may have joined late). */
    STEP(&t, O_DIR, seg(A, O_ISN + 5100 - 0x40000000u, R_ISN + 7000, 100, 1000), TCP_OK,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 5100, R_ISN + 7500, 100, 1000), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.peer[R_DIR].end, R_ISN + 7500);
    assert_int_equal(t.loose, 1);
    /* The responder's first segment: its window is learned, the grace period ends. */
    STEP(&t, R_DIR, seg(A | P, R_ISN + 7500, O_ISN + 5200, 500, 100), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.loose, 0);
    assert_int_equal(t.peer[R_DIR].end, R_ISN + 8000);
    assert_int_equal(t.peer[R_DIR].maxwin, 100u << 14);
    assert_int_equal(t.peer[O_DIR].maxend, O_ISN + 5200 + (100u << 14));
    /* From now on the checks apply. */
    STEP(&t, O_DIR, seg(A, O_ISN + 5200 + 2000000, R_ISN + 8000, 10, 1000), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 5200 - 0x40000000u, R_ISN + 8000, 10, 1000), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 5200, R_ISN + 8001, 10, 1000), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, O_ISN + 5200, R_ISN + 8000, 1460, 1000), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(F | A, O_ISN + 6660, R_ISN + 8000, 0, 1000), TCP_OK, TCP_ST_FIN_WAIT);
    STEP(&t, R_DIR, seg(F | A, R_ISN + 8000, O_ISN + 6661, 0, 100), TCP_OK, TCP_ST_LAST_ACK);
    STEP(&t, O_DIR, seg(A, O_ISN + 6661, R_ISN + 8001, 0, 1000), TCP_OK, TCP_ST_TIME_WAIT);
}

/* Picked up from the server's side (the first segment seen decides who is "originator"). */
static void test_loose_pickup_from_responder_side(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = seg(A, R_ISN + 9000, O_ISN + 300, 1448, 235);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_OK);
    assert_int_equal(t.state, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(A, R_ISN + 10448, O_ISN + 300, 1448, 235), TCP_OK, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(A, O_ISN + 300, R_ISN + 11896, 0, 2000), TCP_OK, TCP_ST_ESTABLISHED);
    assert_int_equal(t.loose, 0);
    STEP(&t, R_DIR, seg(A, O_ISN + 300, R_ISN + 11897, 0, 2000), TCP_OUT_OF_WINDOW,
         TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(F | A, O_ISN + 300, R_ISN + 11896, 0, 2000), TCP_OK, TCP_ST_FIN_WAIT);
}

static void test_loose_first_segment_kinds(void **state)
{
    struct tcp_track t;
    struct tcp_seg s;
    (void)state;
    /* A plain SYN starts normally. */
    s = synseg(S, O_ISN, 0, WIN, 7);
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_OK);
    assert_int_equal(t.state, TCP_ST_SYN_SENT);
    assert_int_equal(t.loose, 0);
    assert_int_equal(t.peer[O_DIR].flags & TCP_PEER_PICKUP, 0);
    /* SYN+ACK and RST do not start anything. */
    s = seg(S | A, R_ISN, O_ISN + 1, 0, WIN);
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_NOT_SYN);
    assert_int_equal(t.state, TCP_ST_NONE);
    s = seg(R, O_ISN, 0, 0, 0);
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_NOT_SYN);
    s = seg(R | A, O_ISN, R_ISN, 0, 0);
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_NOT_SYN);
    /* A FIN picks up a closing connection. */
    s = seg(F | A, O_ISN, R_ISN, 0, WIN);
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_OK);
    assert_int_equal(t.state, TCP_ST_FIN_WAIT);
    assert_int_equal(t.peer[O_DIR].end, O_ISN + 1);
    STEP(&t, R_DIR, seg(A, R_ISN, O_ISN + 1, 0, WIN), TCP_OK, TCP_ST_CLOSE_WAIT);
}

/* Resets are checked even during the grace period. */
static void test_loose_blind_rst_rejected(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = seg(A, O_ISN, R_ISN, 0, 100);
    (void)state;
    assert_int_equal(tcp_state_new(&t, &s, true), TCP_OK);
    STEP(&t, R_DIR, seg(R, R_ISN + 0x80000000u, 0, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
    STEP(&t, O_DIR, seg(R, O_ISN - 0x10000000u, 0, 0, 0), TCP_BAD_RST, TCP_ST_ESTABLISHED);
    STEP(&t, R_DIR, seg(R, R_ISN, 0, 0, 0), TCP_OK, TCP_ST_CLOSE);
}

/* ---- misuse ---- */

static void test_update_rejects_bad_direction_and_untracked(void **state)
{
    struct tcp_track t;
    struct tcp_seg s = seg(A, O_ISN + 1, R_ISN + 1, 0, WIN);
    (void)state;
    to_state(&t, TCP_ST_ESTABLISHED);
    assert_int_equal(tcp_state_update(&t, 2, &s), TCP_UNEXPECTED);
    assert_int_equal(tcp_state_update(&t, -1, &s), TCP_UNEXPECTED);
    memset(&t, 0, sizeof(t));
    assert_int_equal(tcp_state_update(&t, O_DIR, &s), TCP_UNEXPECTED);
    t.state = TCP_ST_MAX;
    assert_int_equal(tcp_state_update(&t, O_DIR, &s), TCP_UNEXPECTED);
}

/* ---- robustness ---- */

/* Deterministic pseudo-random generator (xorshift32) for the property test below. */
static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Random segments, mostly near the tracked sequence numbers, against tracks in every state and
 * against garbage tracks (as a corrupt store entry could be): the verdict and state stay in range,
 * a drop changes nothing, an accept never leaves NONE. Run under the sanitizers this also checks
 * for undefined shifts and overflows. */
static void test_random_segments_keep_invariants(void **state)
{
    uint32_t x = 2463534242u;
    (void)state;
    for (int round = 0; round < 20000; round++) {
        struct tcp_track t, before;
        struct tcp_seg s;
        int dir = (int)(rnd(&x) & 1);
        enum tcp_verdict v;

        if (round % 10 == 9) {
            for (size_t i = 0; i < sizeof(t); i++)
                ((unsigned char *)&t)[i] = (unsigned char)rnd(&x);
            t.state = (uint8_t)(1 + rnd(&x) % (TCP_ST_MAX - 1));
        } else if (round % 10 == 8) {
            s = seg(rnd(&x) & 0xff, rnd(&x), rnd(&x), rnd(&x) & 0xffff, (uint16_t)rnd(&x));
            if (tcp_state_new(&t, &s, rnd(&x) & 1) != TCP_OK)
                continue;
        } else {
            to_state(&t, (enum tcp_st)(1 + rnd(&x) % (TCP_ST_MAX - 1)));
        }
        s = seg(rnd(&x) & 0xff, t.peer[dir].end + (rnd(&x) % 200000) - 100000,
                t.peer[!dir].end + (rnd(&x) % 200000) - 100000, rnd(&x) % 3000, (uint16_t)rnd(&x));
        s.wscale = (uint8_t)rnd(&x);
        memcpy(&before, &t, sizeof(t));
        v = tcp_state_update(&t, dir, &s);
        assert_true((unsigned)v < TCP_VERDICT_MAX);
        assert_true(t.state > TCP_ST_NONE && t.state < TCP_ST_MAX);
        if (v != TCP_OK)
            assert_memory_equal(&before, &t, sizeof(t));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names_round_trip),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_flags_invalid_named_combos),
        cmocka_unit_test(test_flags_invalid_exhaustive),
        cmocka_unit_test(test_bad_flags_rejected_by_new_and_update),
        cmocka_unit_test(test_new_plain_syn_records_originator),
        cmocka_unit_test(test_new_syn_options_edge_cases),
        cmocka_unit_test(test_new_strict_rejects_non_syn),
        cmocka_unit_test(test_full_handshake),
        cmocka_unit_test(test_data_both_ways),
        cmocka_unit_test(test_retransmissions_and_keepalives),
        cmocka_unit_test(test_zero_window_probe),
        cmocka_unit_test(test_synack_with_wrong_ack_is_out_of_window),
        cmocka_unit_test(test_synack_from_originator_is_unexpected),
        cmocka_unit_test(test_syn_from_responder_is_unexpected),
        cmocka_unit_test(test_syn_from_originator_mid_connection_is_unexpected),
        cmocka_unit_test(test_ack_or_fin_in_syn_sent_is_unexpected),
        cmocka_unit_test(test_syn_retransmission_in_syn_sent),
        cmocka_unit_test(test_syn_retransmission_in_syn_recv),
        cmocka_unit_test(test_synack_retransmission_in_syn_recv),
        cmocka_unit_test(test_synack_retransmission_in_established),
        cmocka_unit_test(test_responder_ack_in_syn_recv_stays),
        cmocka_unit_test(test_final_ack_with_bad_ack_is_out_of_window),
        cmocka_unit_test(test_close_originator_first),
        cmocka_unit_test(test_close_responder_first),
        cmocka_unit_test(test_close_fin_acking_fin),
        cmocka_unit_test(test_simultaneous_close),
        cmocka_unit_test(test_fin_in_syn_recv),
        cmocka_unit_test(test_half_close_data_and_no_data_after_fin),
        cmocka_unit_test(test_fin_retransmission_in_fin_wait),
        cmocka_unit_test(test_time_wait_accepts_retransmissions),
        cmocka_unit_test(test_reopen_from_time_wait),
        cmocka_unit_test(test_reopen_from_close),
        cmocka_unit_test(test_rst_in_window_closes_from_every_state),
        cmocka_unit_test(test_rst_within_receive_window_accepted),
        cmocka_unit_test(test_blind_rst_rejected),
        cmocka_unit_test(test_rst_below_receiver_ack_rejected),
        cmocka_unit_test(test_rst_with_bad_ack_rejected),
        cmocka_unit_test(test_rst_in_syn_sent),
        cmocka_unit_test(test_rst_in_syn_recv_out_of_window_rejected),
        cmocka_unit_test(test_close_state_keeps_window_checks),
        cmocka_unit_test(test_data_far_ahead_out_of_window),
        cmocka_unit_test(test_data_far_behind_out_of_window),
        cmocka_unit_test(test_ack_out_of_window),
        cmocka_unit_test(test_window_scaling_both_sides),
        cmocka_unit_test(test_window_scaling_one_side_only),
        cmocka_unit_test(test_sequence_wrap_around),
        cmocka_unit_test(test_loose_pickup_from_originator),
        cmocka_unit_test(test_loose_pickup_from_responder_side),
        cmocka_unit_test(test_loose_first_segment_kinds),
        cmocka_unit_test(test_loose_blind_rst_rejected),
        cmocka_unit_test(test_update_rejects_bad_direction_and_untracked),
        cmocka_unit_test(test_random_segments_keep_invariants),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
