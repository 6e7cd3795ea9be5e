/* test_conntable.c: the connection table: insert, find, timeouts, the maximum, the sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* An entry of key n with an explicit hash (to place it in a chosen slot), state and age. */
static struct conn *put(struct conntable *ct, uint32_t n, uint32_t hash, uint8_t proto, uint8_t st,
                        uint64_t first)
{
    struct flow_key k = key_n(n);
    k.proto = proto;
    struct conn *c = conntable_insert(ct, &k, hash);
    assert_non_null(c);
    c->state = st;
    c->first_ns = first;
    c->expires_ns = 1000000;
    return c;
}

static void test_unassured_states(void **state)
{
    (void)state;
    struct conn c;
    memset(&c, 0, sizeof(c));
    c.key.proto = 6;
    const uint8_t yes[] = {TCP_ST_NONE, TCP_ST_SYN_SENT, TCP_ST_SYN_RECV};
    const uint8_t no[] = {TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT,  TCP_ST_CLOSE_WAIT,
                          TCP_ST_LAST_ACK,    TCP_ST_TIME_WAIT, TCP_ST_CLOSE};
    for (size_t i = 0; i < sizeof(yes); i++) {
        c.state = yes[i];
        assert_true(conn_unassured(&c));
    }
    for (size_t i = 0; i < sizeof(no); i++) {
        c.state = no[i];
        assert_false(conn_unassured(&c));
    }
    const uint8_t other[] = {17, 1, 58};
    for (size_t i = 0; i < sizeof(other); i++) {
        c.key.proto = other[i];
        c.state = CONN_NEW;
        assert_true(conn_unassured(&c)); /* not answered */
        c.state = CONN_REPLIED;
        assert_false(conn_unassured(&c));
    }
}

/* At the maximum the oldest entry not yet established near the new hash is given up; established
 * connections never are, however old. */
static void test_early_drop_oldest_unassured(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(6);
    uint64_t expired = 0;
    put(ct, 1, 100, 6, TCP_ST_ESTABLISHED, 10); /* the oldest, but established */
    put(ct, 2, 100, 6, TCP_ST_SYN_SENT, 40);
    struct conn *oldest = put(ct, 3, 101, 6, TCP_ST_SYN_RECV, 20);
    put(ct, 4, 102, 17, CONN_REPLIED, 15); /* answered UDP */
    put(ct, 5, 103, 17, CONN_NEW, 30);
    assert_null(conntable_early_drop(ct, 100, 500, &expired)); /* not full: nothing to drop */
    put(ct, 6, 104, 6, TCP_ST_FIN_WAIT, 5);
    assert_int_equal(conntable_count(ct), 6);
    struct conn *v = conntable_early_drop(ct, 100, 500, &expired);
    assert_ptr_equal(v, oldest);
    assert_int_equal(conntable_count(ct), 6); /* the caller removes it */
    conntable_remove(ct, v);
    put(ct, 7, 100, 6, TCP_ST_NONE, 50);
    /* next the unanswered UDP flow (30), then the SYN_SENT (40) */
    v = conntable_early_drop(ct, 100, 500, &expired);
    assert_non_null(v);
    assert_int_equal(v->key.pa, key_n(5).pa);
    assert_int_equal(v->key.proto, 17);
    conntable_remove(ct, v);
    assert_non_null(put(ct, 8, 100, 6, TCP_ST_ESTABLISHED, 600));
    v = conntable_early_drop(ct, 100, 500, &expired);
    assert_non_null(v);
    assert_int_equal(v->key.pa, key_n(2).pa);
    conntable_remove(ct, v);
    assert_non_null(put(ct, 9, 100, 6, TCP_ST_ESTABLISHED, 700));
    /* entry 7 (no state yet) is the last unassured one */
    v = conntable_early_drop(ct, 100, 500, &expired);
    assert_non_null(v);
    assert_int_equal(v->key.pa, key_n(7).pa);
    conntable_remove(ct, v);
    assert_non_null(put(ct, 10, 100, 6, TCP_ST_ESTABLISHED, 800));
    /* everything established or answered: nothing is given up, the new connection is refused */
    assert_null(conntable_early_drop(ct, 100, 500, &expired));
    assert_int_equal(conntable_count(ct), 6);
    assert_int_equal(expired, 0);
    /* what is left: 1 (established), 4 (answered), 6 (closing), 8, 9, 10 (established) */
    static const uint32_t hash[11] = {0, 100, 100, 101, 102, 103, 104, 100, 100, 100, 100};
    for (uint32_t n = 1; n <= 10; n++) {
        struct flow_key k = key_n(n);
        k.proto = n == 4 || n == 5 ? 17 : 6;
        bool kept = n == 1 || n == 4 || n == 6 || n >= 8;
        assert_int_equal(conntable_find(ct, &k, hash[n], 500, NULL) != NULL, kept);
    }
    conntable_free(ct);
}

/* An expired entry in the neighbourhood is room enough: it goes, nothing alive is dropped. */
static void test_early_drop_takes_expired_first(void **state)
{
    (void)state;
    struct conntable *ct = conntable_new(3);
    uint64_t expired = 0;
    put(ct, 1, 7, 6, TCP_ST_SYN_SENT, 10);
    put(ct, 2, 8, 6, TCP_ST_ESTABLISHED, 20)->expires_ns = 400;
    put(ct, 3, 9, 6, TCP_ST_SYN_SENT, 30);
    assert_null(conntable_early_drop(ct, 7, 500, &expired));
    assert_int_equal(expired, 1);
    assert_int_equal(conntable_count(ct), 2);
    assert_null(find(ct, 2, 1, NULL));
    conntable_free(ct);
}

/* The look is bounded: slots beyond the neighbourhood and entries beyond the cap are not seen. */
static void test_early_drop_bounded(void **state)
{
    (void)state;
    /* 2048 slots for 2048 entries: the neighbourhood is CONNTABLE_EVICT_SLOTS slots */
    struct conntable *ct = conntable_new(2048);
    size_t es = conntable_evict_slots(ct);
    assert_int_equal(es, CONNTABLE_EVICT_SLOTS);
    uint32_t n = 0;
    put(ct, n++, 1000 + (uint32_t)es, 6, TCP_ST_SYN_SENT, 1); /* just outside */
    for (uint32_t i = 0; i < es; i++)
        put(ct, n++, 1000 + i, 6, TCP_ST_ESTABLISHED, 2); /* one in every slot inside */
    for (; conntable_count(ct) < 2048; n++)
        put(ct, n, 1100 + n % 900, 6, TCP_ST_SYN_SENT, 0); /* the rest far away */
    assert_null(conntable_early_drop(ct, 1000, 500, NULL));
    /* the same hash seen from one slot earlier: the SYN_SENT entry is inside now */
    assert_non_null(conntable_early_drop(ct, 1001, 500, NULL));
    conntable_free(ct);

    /* a chain longer than the entry cap: an unassured entry behind it is not reached */
    ct = conntable_new(200);
    put(ct, 0, 5, 6, TCP_ST_SYN_SENT, 1); /* the tail of slot 5's chain */
    for (n = 1; n < 200; n++)
        put(ct, n, 5, 6, TCP_ST_ESTABLISHED, 2);
    assert_null(conntable_early_drop(ct, 5, 500, NULL));
    conntable_free(ct);

    /* a small table looks at more slots, so that it still sees about as many entries */
    ct = conntable_new(64);
    assert_int_equal(conntable_slots(ct), 1024);
    assert_int_equal(conntable_evict_slots(ct), CONNTABLE_EVICT_SLOTS * 16);
    conntable_free(ct);
    ct = conntable_new(1);
    assert_int_equal(conntable_evict_slots(ct), 1024); /* never more than the table */
    conntable_free(ct);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_remove),
        cmocka_unit_test(test_lookup_expires),
        cmocka_unit_test(test_maximum),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_foreach_and_collisions),
        cmocka_unit_test(test_unassured_states),
        cmocka_unit_test(test_early_drop_oldest_unassured),
        cmocka_unit_test(test_early_drop_takes_expired_first),
        cmocka_unit_test(test_early_drop_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
