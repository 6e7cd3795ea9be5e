/* test_conntable.c: the connection table: insert, find, timeouts, the maximum, the sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conntable.h"

static struct flow_key key_n(uint32_t n)
{
    struct flow_key k;
    memset(&k, 0, sizeof(k));
    k.family = 4;
    k.proto = 6;
    k.a[0] = 10, k.a[3] = 10;
    k.b[0] = 10, k.b[3] = 20;
    k.pa = (uint16_t)(1024 + (n & 0xffff));
    k.pb = (uint16_t)(80 + (n >> 16));
    return k;
}

static struct conn *add(struct conntable *ct, uint32_t n, uint64_t expires)
{
    struct flow_key k = key_n(n);
    struct conn *c = conntable_insert(ct, &k, flow_key_hash(&k));
    if (c)
        c->expires_ns = expires;
    return c;
}

static struct conn *find(struct conntable *ct, uint32_t n, uint64_t now, uint64_t *expired)
{
    struct flow_key k = key_n(n);
    return conntable_find(ct, &k, flow_key_hash(&k), now, expired);
}

static void test_insert_find_remove(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(100);
    assert_non_null(ct);
    for (uint32_t i = 0; i < 50; i++)
        assert_non_null(add(ct, i, 1000));
    assert_int_equal(conntable_count(ct), 50);
    for (uint32_t i = 0; i < 50; i++) {
        struct conn *c = find(ct, i, 10, NULL);
        assert_non_null(c);
        struct flow_key k = key_n(i);
        assert_true(flow_key_eq(&c->key, &k));
    }
    assert_null(find(ct, 77, 10, NULL));
    conntable_remove(ct, find(ct, 7, 10, NULL));
    assert_null(find(ct, 7, 10, NULL));
    assert_non_null(find(ct, 8, 10, NULL));
    assert_int_equal(conntable_count(ct), 49);
    conntable_free(ct);
}

static void test_lookup_expires(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(10);
    uint64_t expired = 0;
    add(ct, 1, 1000);
    add(ct, 2, 2000);
    assert_non_null(find(ct, 1, 999, &expired));
    assert_null(find(ct, 1, 1000, &expired)); /* deadline reached: gone */
    assert_int_equal(expired, 1);
    assert_int_equal(conntable_count(ct), 1);
    assert_non_null(find(ct, 2, 1500, &expired));
    conntable_free(ct);
}

static void test_maximum(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(5);
    for (uint32_t i = 0; i < 5; i++)
        assert_non_null(add(ct, i, 1000));
    assert_null(add(ct, 5, 1000)); /* full: refused */
    for (uint32_t i = 0; i < 5; i++)
        assert_non_null(find(ct, i, 10, NULL)); /* the existing ones are untouched */
    conntable_remove(ct, find(ct, 0, 10, NULL));
    assert_non_null(add(ct, 5, 1000)); /* room again */
    assert_int_equal(conntable_max(ct), 5);
    conntable_free(ct);
}

static void test_sweep(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(5000);
    for (uint32_t i = 0; i < 4000; i++)
        add(ct, i, i < 1000 ? 100 : 10000);
    size_t slots = conntable_slots(ct), removed = 0;
    /* a sweep in small steps visits every slot once per round */
    for (size_t done = 0; done < slots; done += 100)
        removed += conntable_expire(ct, 500, 100);
    assert_int_equal(removed, 1000);
    assert_int_equal(conntable_count(ct), 3000);
    assert_int_equal(conntable_expire(ct, 500, slots), 0);
    assert_int_equal(conntable_expire(ct, 20000, slots * 10), 3000);
    assert_int_equal(conntable_count(ct), 0);
    conntable_free(ct);
}

static void count_fn(struct conn *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
}

static void test_foreach_and_collisions(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(3000);
    /* the same hash for many keys: chains must still find the right entry */
    for (uint32_t i = 0; i < 300; i++) {
        struct flow_key k = key_n(i);
        struct conn *c = conntable_insert(ct, &k, 42);
        assert_non_null(c);
        c->expires_ns = 100;
    }
    for (uint32_t i = 0; i < 300; i++) {
        struct flow_key k = key_n(i);
        struct conn *c = conntable_find(ct, &k, 42, 1, NULL);
        assert_non_null(c);
        assert_int_equal(c->key.pa, k.pa);
    }
    int n = 0;
    conntable_foreach(ct, count_fn, &n);
    assert_int_equal(n, 300);
    conntable_free(ct);
    conntable_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_remove),
        cmocka_unit_test(test_lookup_expires),
        cmocka_unit_test(test_maximum),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_foreach_and_collisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
