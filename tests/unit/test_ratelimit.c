/* test_ratelimit.c: per-source token buckets for new connections. */
#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_sources_apart_and_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
