/* test_ratelimit.c: per-source token buckets for new connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

#define MS 1000000ull

static void test_burst_then_rate(void **state)
{
    (void)state;
    struct ratelimit *rl = malloc(sizeof(*rl));
    uint8_t a[16] = {10, 10, 1, 10};
    ratelimit_init(rl, 10, 3); /* 10 a second, bursts of 3 */
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, 4, a, 1000 * MS));
    assert_false(ratelimit_take(rl, 4, a, 1000 * MS));
    assert_false(ratelimit_take(rl, 4, a, 1050 * MS)); /* half a token */
    assert_true(ratelimit_take(rl, 4, a, 1100 * MS));  /* one token after 100 ms */
    assert_false(ratelimit_take(rl, 4, a, 1100 * MS));
    /* a long pause refills to the burst, not beyond */
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, 4, a, 9000 * MS));
    assert_false(ratelimit_take(rl, 4, a, 9000 * MS));
    free(rl);
}

static void test_sources_apart_and_off(void **state)
{
    (void)state;
    struct ratelimit *rl = malloc(sizeof(*rl));
    uint8_t a[16] = {10, 10, 1, 10}, b[16] = {10, 10, 1, 11};
    ratelimit_init(rl, 1, 1);
    assert_true(ratelimit_take(rl, 4, a, 5 * MS));
    assert_false(ratelimit_take(rl, 4, a, 6 * MS));
    assert_true(ratelimit_take(rl, 4, b, 6 * MS)); /* another source has its own bucket */
    ratelimit_init(rl, 0, 0);                      /* 0: no limit */
    for (int i = 0; i < 1000; i++)
        assert_true(ratelimit_take(rl, 4, a, 7 * MS));
    free(rl);
}

/* Two IPv4 addresses 10.10.x.y that share a slot, and a third that does not. */
static void colliding(uint8_t a[16], uint8_t b[16], uint8_t c[16])
{
    memset(a, 0, 16);
    a[0] = 10, a[1] = 10, a[2] = 1, a[3] = 77;
    uint32_t slot = ratelimit_slot_of(4, a);
    bool got_b = false, got_c = false;
    for (uint32_t i = 0; i < 65536 && !(got_b && got_c); i++) {
        uint8_t x[16] = {10, 10, (uint8_t)(i >> 8), (uint8_t)i};
        if (memcmp(x, a, 16) == 0)
            continue;
        if (!got_b && ratelimit_slot_of(4, x) == slot) {
            memcpy(b, x, 16);
            got_b = true;
        } else if (!got_c && ratelimit_slot_of(4, x) != slot) {
            memcpy(c, x, 16);
            got_c = true;
        }
    }
    assert_true(got_b && got_c);
}

/* A spoofed source colliding with a flooder's slot must not get a fresh bucket (and so must not
 * reset the flooder's): colliding sources share the tokens. */
static void test_colliding_sources_share(void **state)
{
    (void)state;
    struct ratelimit *rl = malloc(sizeof(*rl));
    uint8_t a[16], b[16], c[16];
    colliding(a, b, c);
    ratelimit_init(rl, 10, 3);
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, 4, a, 1000 * MS)); /* the flooder empties its bucket */
    assert_false(ratelimit_take(rl, 4, a, 1000 * MS));
    assert_false(ratelimit_take(rl, 4, b, 1000 * MS)); /* the colliding source: no fresh bucket */
    assert_false(ratelimit_take(rl, 4, a, 1000 * MS)); /* ... and the flooder's is not reset */
    assert_true(ratelimit_take(rl, 4, c, 1000 * MS));  /* another slot is untouched */
    /* the refill is shared too: one token after 100 ms, for whichever of them comes first */
    assert_true(ratelimit_take(rl, 4, b, 1100 * MS));
    assert_false(ratelimit_take(rl, 4, a, 1100 * MS));
    /* spoofed packets landing on the slot drain it: the flooder gets nothing back */
    assert_true(ratelimit_take(rl, 4, b, 1200 * MS));
    assert_false(ratelimit_take(rl, 4, a, 1200 * MS));
    free(rl);
}

/* A clock that goes backwards refills nothing and hands out no fresh bucket. */
static void test_clock_backwards(void **state)
{
    (void)state;
    struct ratelimit *rl = malloc(sizeof(*rl));
    uint8_t a[16] = {10, 10, 1, 10};
    ratelimit_init(rl, 10, 2);
    assert_true(ratelimit_take(rl, 4, a, 5000 * MS));
    assert_true(ratelimit_take(rl, 4, a, 5000 * MS));
    assert_false(ratelimit_take(rl, 4, a, 1000 * MS));
    assert_false(ratelimit_take(rl, 4, a, 5050 * MS)); /* half a token since 5000 ms */
    assert_true(ratelimit_take(rl, 4, a, 5100 * MS));
    /* sub-millisecond steps add up: 200 steps of 0.5 ms are one token (100 ms) */
    uint64_t t = 5100 * MS;
    int got = 0;
    for (int i = 0; i < 200; i++) {
        t += MS / 2;
        got += ratelimit_take(rl, 4, a, t);
    }
    assert_int_equal(got, 1);
    free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_sources_apart_and_off),
        cmocka_unit_test(test_colliding_sources_share),
        cmocka_unit_test(test_clock_backwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
