/* test_assign.c: unit tests of the bucket map and role assignment (each rule of assign.h, errors,
 * randomized membership histories checked against the invariants) and of the map's text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "assign.h"

#define CAP 32

/* A member table and the map in force, as emgr keeps them. */
struct cluster {
    struct assign_member m[CAP];
    size_t n;
    uint32_t want;
    struct assign_map *cur, *nxt; /* nxt: scratch for the next map */
    enum assign_role roles[CAP];
    char why[512];
};

static struct cluster *cluster_new(uint32_t nbuckets, uint32_t want)
{
    struct cluster *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->cur = malloc(sizeof(*c->cur));
    c->nxt = malloc(sizeof(*c->nxt));
    assert_non_null(c->cur);
    assert_non_null(c->nxt);
    assign_map_init(c->cur, nbuckets, 0);
    c->want = want;
    return c;
}

static void cluster_free(struct cluster *c)
{
    free(c->cur);
    free(c->nxt);
    free(c);
}

/* Adds an alive worker (into the first free slot, else at the end); returns its index. */
static int add(struct cluster *c, const char *id)
{
    size_t i = 0;
    while (i < c->n && c->m[i].id[0])
        i++;
    if (i == c->n) {
        assert_true(c->n < CAP);
        c->n++;
    }
    memset(&c->m[i], 0, sizeof(c->m[i]));
    snprintf(c->m[i].id, sizeof(c->m[i].id), "%s", id);
    c->m[i].alive = true;
    return (int)i;
}

static int idx(const struct cluster *c, const char *id)
{
    int i = assign_find(c->m, c->n, id);
    assert_true(i >= 0);
    return i;
}

static struct assign_member *mem(struct cluster *c, const char *id)
{
    return &c->m[idx(c, id)];
}

/* Runs assign_next from the current map; the result becomes current. Returns its result. */
static int step(struct cluster *c)
{
    int rc = assign_next(c->cur, c->m, c->n, c->want, c->nxt, c->roles, c->why, sizeof(c->why));
    assert_true(rc == 0 || rc == 1);
    struct assign_map *t = c->cur;
    c->cur = c->nxt;
    c->nxt = t;
    return rc;
}

/* Asserts the text form of the current map. */
static void expect_map(const struct cluster *c, const char *text)
{
    static char buf[ASSIGN_TEXT_MAX];
    char err[128];
    int len = assign_map_format(c->cur, c->m, c->n, buf, sizeof(buf), err, sizeof(err));
    assert_true(len >= 0);
    assert_int_equal((size_t)len, strlen(buf));
    assert_string_equal(buf, text);
}

static void expect_role(struct cluster *c, const char *id, enum assign_role role)
{
    assert_int_equal(c->roles[idx(c, id)], role);
}

/* Buckets whose owner differs between two maps. */
static uint32_t moved(const struct assign_map *a, const struct assign_map *b)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < a->nbuckets; i++)
        m += a->owner[i] != b->owner[i];
    return m;
}

/* A cluster of k alive workers node1..nodek (ids in table order given by names) after the initial
 * map. */
static struct cluster *cluster_up(uint32_t nbuckets, uint32_t want, const char *const *names,
                                  size_t k)
{
    struct cluster *c = cluster_new(nbuckets, want);
    for (size_t i = 0; i < k; i++)
        add(c, names[i]);
    assert_int_equal(step(c), 1);
    return c;
}

static const char *const four[] = {"node1", "node2", "node3", "node4"};
static const char *const five[] = {"node1", "node2", "node3", "node4", "node5"};

/* Rule 1: the first min(k, want) by id are active with contiguous, even ranges; the rest backups.
 */
static void test_initial(void **state)
{
    (void)state;
    static const char *const shuffled[] = {"node3", "node1", "node2"};
    struct cluster *c = cluster_up(1024, 2, shuffled, 3);
    expect_map(c, "node1=0-511;node2=512-1023");
    assert_int_equal(c->cur->epoch, 1);
    expect_role(c, "node1", ASSIGN_ACTIVE);
    expect_role(c, "node2", ASSIGN_ACTIVE);
    expect_role(c, "node3", ASSIGN_BACKUP);
    assert_string_equal(c->why, "initial map: 1024 buckets over 2 actives");
    assert_int_equal(step(c), 0); /* idempotent */
    assert_int_equal(c->cur->epoch, 1);
    assert_string_equal(c->why, "map unchanged");
    cluster_free(c);

    c = cluster_up(1024, 8, shuffled, 3); /* counts differ by 1: the lower ids get the extra */
    expect_map(c, "node1=0-341;node2=342-682;node3=683-1023");
    cluster_free(c);

    c = cluster_up(2, 3, shuffled, 3); /* never more actives than buckets */
    expect_map(c, "node1=0;node2=1");
    expect_role(c, "node3", ASSIGN_BACKUP);
    cluster_free(c);

    c = cluster_up(1, 1, shuffled, 3);
    expect_map(c, "node1=0");
    cluster_free(c);

    c = cluster_new(16, 2); /* nobody yet: nothing to do */
    assert_int_equal(step(c), 0);
    assert_int_equal(c->cur->epoch, 0);
    expect_map(c, "");
    cluster_free(c);
}

/* Rule 2: a failed active's buckets all go to one backup; nothing else moves. */
static void test_failover(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(1024, 4, five, 5);
    expect_map(c, "node1=0-255;node2=256-511;node3=512-767;node4=768-1023");
    expect_role(c, "node5", ASSIGN_BACKUP);

    mem(c, "node2")->alive = false;
    assert_int_equal(step(c), 1);
    assert_int_equal(c->cur->epoch, 2);
    expect_map(c, "node1=0-255;node3=512-767;node4=768-1023;node5=256-511");
    assert_string_equal(c->why, "node2 failed: its 256 buckets go to backup node5");
    assert_int_equal(moved(c->nxt, c->cur), 256);
    expect_role(c, "node2", ASSIGN_NONE);
    expect_role(c, "node5", ASSIGN_ACTIVE);

    mem(c, "node2")->alive = true; /* back: a backup, the map stays */
    assert_int_equal(step(c), 0);
    assert_int_equal(c->cur->epoch, 2);
    expect_role(c, "node2", ASSIGN_BACKUP);

    /* two failures at once with two backups: two 1:1 takeovers, lowest ids first */
    add(c, "node6");
    mem(c, "node1")->alive = false;
    mem(c, "node4")->alive = false;
    assert_int_equal(step(c), 1);
    expect_map(c, "node2=0-255;node3=512-767;node5=256-511;node6=768-1023");
    assert_string_equal(c->why, "node1 failed: its 256 buckets go to backup node2; "
                                "node4 failed: its 256 buckets go to backup node6");
    cluster_free(c);
}

/* Rule 3: no backup left: the failed active's buckets are spread in contiguous pieces, the
 * neighbours first, and shares differ by at most 1; nothing else moves. */
static void test_spread(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(1024, 4, four, 4);
    mem(c, "node4")->alive = false;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-255,853-938;node2=256-511,939-1023;node3=512-852");
    assert_string_equal(c->why, "node4 failed: its 256 buckets are spread over 3 actives");
    assert_int_equal(moved(c->nxt, c->cur), 256);

    /* node4 back: it becomes active again and takes its share from the busiest, which gives
     * back the same range */
    mem(c, "node4")->alive = true;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-255;node2=256-511;node3=512-767;node4=768-1023");
    assert_int_equal(moved(c->nxt, c->cur), 256);

    /* the first range fails: its right neighbour grows to its share, the rest is split */
    mem(c, "node1")->alive = false;
    assert_int_equal(step(c), 1);
    expect_map(c, "node2=170-511;node3=0-84,512-767;node4=85-169,768-1023");
    assert_int_equal(moved(c->nxt, c->cur), 256);

    /* down to one, then none */
    mem(c, "node2")->alive = false;
    mem(c, "node3")->alive = false;
    assert_int_equal(step(c), 1);
    expect_map(c, "node4=0-1023");
    expect_role(c, "node4", ASSIGN_ACTIVE);
    cluster_free(c);
}

/* Rule 4: a join is a backup when the actives are complete, else it becomes active and takes an
 * even share from the busiest actives, no active gaining and losing. */
static void test_join(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(1024, 3, four, 2);
    expect_map(c, "node1=0-511;node2=512-1023");

    add(c, "node3");
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-341;node2=512-852;node3=342-511,853-1023");
    assert_int_equal(moved(c->nxt, c->cur), 341);
    expect_role(c, "node3", ASSIGN_ACTIVE);
    assert_string_equal(c->why,
                        "backup node3 becomes active; rebalanced: 341 buckets taken from busier "
                        "actives");

    add(c, "node4");
    assert_int_equal(step(c), 0);
    expect_role(c, "node4", ASSIGN_BACKUP);

    /* a join and a failure at once: the newcomer replaces the failed active 1:1 */
    mem(c, "node4")->alive = false;
    assert_int_equal(step(c), 0);
    mem(c, "node2")->alive = false;
    mem(c, "node4")->alive = true;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-341;node3=342-511,853-1023;node4=512-852");
    cluster_free(c);
}

/* Rule 5: draining moves a worker out: 1:1 to a backup, else spread; a draining backup just stops
 * being one; the last worker keeps its buckets while draining. */
static void test_drain(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(1024, 2, four, 3);
    mem(c, "node1")->draining = true;
    assert_int_equal(step(c), 1);
    expect_map(c, "node2=512-1023;node3=0-511");
    assert_string_equal(c->why, "node1 is draining: its 512 buckets go to backup node3");
    expect_role(c, "node1", ASSIGN_NONE);
    assert_int_equal(assign_count(c->cur, idx(c, "node1")), 0);

    mem(c, "node2")->draining = true; /* no backup: spread */
    assert_int_equal(step(c), 1);
    expect_map(c, "node3=0-1023");
    assert_string_equal(c->why, "node2 is draining: its 512 buckets are spread over 1 active");
    expect_role(c, "node2", ASSIGN_NONE);

    mem(c, "node1")->draining = false; /* undrained: a backup again */
    assert_int_equal(step(c), 1);      /* want 2: it becomes active */
    expect_map(c, "node1=512-1023;node3=0-511");
    mem(c, "node2")->draining = false;
    assert_int_equal(step(c), 0);
    expect_role(c, "node2", ASSIGN_BACKUP);
    mem(c, "node2")->draining = true; /* a draining backup: no map change */
    assert_int_equal(step(c), 0);
    expect_role(c, "node2", ASSIGN_NONE);

    /* every eligible worker gone: draining owners keep their buckets, dead ones lose them */
    mem(c, "node1")->draining = true;
    mem(c, "node3")->alive = false;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=512-1023");
    expect_role(c, "node1", ASSIGN_ACTIVE);
    assert_string_equal(c->why, "node1 is draining but no worker can take over: it keeps its 512 "
                                "buckets; node3 failed and no worker is left: its 512 buckets "
                                "have no owner");
    mem(c, "node2")->draining = false; /* someone again: everything goes to it */
    assert_int_equal(step(c), 1);
    expect_map(c, "node2=0-1023");
    expect_role(c, "node1", ASSIGN_NONE);
    cluster_free(c);
}

/* Rule 6: raising want_actives promotes backups; lowering it demotes the highest ids, whose
 * buckets are spread. */
static void test_scale(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(1024, 2, four, 4);
    expect_map(c, "node1=0-511;node2=512-1023");
    c->want = 4;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-255;node2=512-767;node3=256-511;node4=768-1023");
    assert_int_equal(moved(c->nxt, c->cur), 512);
    expect_role(c, "node4", ASSIGN_ACTIVE);

    c->want = 3;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-255,853-938;node2=512-852;node3=256-511,939-1023");
    assert_string_equal(c->why, "node4 becomes a backup (want_actives 3): its 256 buckets are "
                                "spread");
    expect_role(c, "node4", ASSIGN_BACKUP);
    assert_int_equal(moved(c->nxt, c->cur), 256);

    c->want = 1;
    assert_int_equal(step(c), 1);
    expect_map(c, "node1=0-1023");
    expect_role(c, "node2", ASSIGN_BACKUP);
    expect_role(c, "node3", ASSIGN_BACKUP);

    c->want = 100; /* more than there are workers: all active */
    assert_int_equal(step(c), 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(c->roles[i], ASSIGN_ACTIVE);
    cluster_free(c);
}

/* Rule 7: nothing alive: no bucket has an owner; the first worker back gets everything. */
static void test_nothing_alive(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(64, 2, four, 3);
    for (size_t i = 0; i < c->n; i++)
        c->m[i].alive = false;
    assert_int_equal(step(c), 1);
    expect_map(c, "");
    for (uint32_t b = 0; b < 64; b++)
        assert_int_equal(c->cur->owner[b], -1);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(c->roles[i], ASSIGN_NONE);
    assert_int_equal(step(c), 0);
    assert_string_equal(c->why, "map unchanged");

    /* the dead can now leave the table; the slot is reused */
    assert_int_equal(assign_count(c->cur, idx(c, "node2")), 0);
    c->m[idx(c, "node2")].id[0] = '\0';
    assert_int_equal(add(c, "node9"), 1);
    c->m[1].alive = false;
    mem(c, "node3")->alive = true;
    assert_int_equal(step(c), 1);
    expect_map(c, "node3=0-63");
    assert_string_equal(c->why, "initial map: 64 buckets over 1 active");
    cluster_free(c);
}

/* Rule 8: the same input gives the same output, whatever the members' order in the table. */
static void test_deterministic(void **state)
{
    (void)state;
    static const char *const order_a[] = {"b", "a", "d", "c", "e"};
    static const char *const order_b[] = {"e", "d", "c", "b", "a"};
    struct cluster *x = cluster_up(256, 3, order_a, 5);
    struct cluster *y = cluster_up(256, 3, order_b, 5);
    static char tx[4096], ty[4096];
    for (int round = 0; round < 4; round++) {
        assert_int_equal(assign_map_format(x->cur, x->m, x->n, tx, sizeof(tx), NULL, 0) >= 0, 1);
        assert_int_equal(assign_map_format(y->cur, y->m, y->n, ty, sizeof(ty), NULL, 0) >= 0, 1);
        assert_string_equal(tx, ty);
        assert_string_equal(x->why, y->why);
        const char *id = round % 2 ? "c" : "a";
        mem(x, id)->alive = !mem(x, id)->alive;
        mem(y, id)->alive = !mem(y, id)->alive;
        step(x);
        step(y);
    }
    /* twice from the same map: identical results */
    struct assign_map *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    char wa[256], wb[256];
    assert_non_null(a);
    assert_non_null(b);
    mem(x, "e")->alive = false;
    int ra = assign_next(x->cur, x->m, x->n, 2, a, NULL, wa, sizeof(wa));
    int rb = assign_next(x->cur, x->m, x->n, 2, b, NULL, wb, sizeof(wb));
    assert_int_equal(ra, rb);
    assert_int_equal(a->epoch, b->epoch);
    assert_memory_equal(a->owner, b->owner, 256 * sizeof(a->owner[0]));
    assert_string_equal(wa, wb);
    free(a);
    free(b);
    cluster_free(x);
    cluster_free(y);
}

/* Bad input is refused with a reason; a tiny or absent reason buffer is fine. */
static void test_errors(void **state)
{
    (void)state;
    struct cluster *c = cluster_up(64, 2, four, 2);
    char why[128];

    assert_int_equal(assign_next(c->cur, c->m, c->n, 0, c->nxt, NULL, why, sizeof(why)), -1);
    assert_string_equal(why, "want_actives must be at least 1");
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->cur, NULL, why, sizeof(why)), -1);
    assert_int_equal(
        assign_next(c->cur, c->m, ASSIGN_MAX_MEMBERS + 1, 2, c->nxt, NULL, why, sizeof(why)), -1);

    static const uint32_t bad_nb[] = {0, 3, 1000, 2 * ASSIGN_MAX_BUCKETS};
    for (size_t i = 0; i < sizeof(bad_nb) / sizeof(bad_nb[0]); i++) {
        struct assign_map *m = malloc(sizeof(*m));
        assert_non_null(m);
        assign_map_init(m, bad_nb[i], 0);
        assert_int_equal(assign_next(m, c->m, c->n, 2, c->nxt, NULL, why, sizeof(why)), -1);
        assert_non_null(strstr(why, "bad bucket count"));
        free(m);
    }

    strcpy(c->m[1].id, "node1"); /* duplicate */
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, why, sizeof(why)), -1);
    assert_string_equal(why, "worker id 'node1' appears twice in the member table");
    strcpy(c->m[1].id, "no=de");
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "bad worker id 'no=de'"));
    strcpy(c->m[1].id, "node2");

    c->cur->owner[5] = 7; /* no such member */
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, why, sizeof(why)), -1);
    assert_string_equal(why, "bucket 5 has owner 7, not a worker of the table");
    c->cur->owner[5] = -2;
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, why, sizeof(why)), -1);
    c->cur->owner[5] = 0;
    c->m[0].id[0] = '\0'; /* a free slot that still owns buckets */
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, why, sizeof(why)), -1);
    strcpy(c->m[0].id, "node1");

    /* reasons are truncated safely, or not written at all */
    char tiny[8];
    mem(c, "node1")->alive = false;
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, tiny, sizeof(tiny)), 1);
    assert_string_equal(tiny, "node1 f");
    assert_int_equal(assign_next(c->cur, c->m, c->n, 2, c->nxt, NULL, NULL, 0), 1);

    assert_true(assign_id_valid("node-1.a_b:2@x"));
    assert_false(assign_id_valid(""));
    assert_false(assign_id_valid("a b"));
    assert_false(assign_id_valid("a,b"));
    assert_false(assign_id_valid("a;b"));
    assert_false(assign_id_valid("a\tb"));
    assert_false(assign_id_valid("caf\xc3\xa9"));
    char longid[80];
    memset(longid, 'x', sizeof(longid));
    longid[ASSIGN_ID_MAX - 1] = '\0';
    assert_true(assign_id_valid(longid));
    longid[ASSIGN_ID_MAX - 1] = 'x';
    longid[ASSIGN_ID_MAX] = '\0';
    assert_false(assign_id_valid(longid));
    assert_int_equal(assign_find(c->m, c->n, ""), -1);
    assert_int_equal(assign_find(c->m, c->n, "node9"), -1);
    cluster_free(c);
}

/* The text form: exact output, round trips, every parse error, rollback of the member table. */
static void test_text(void **state)
{
    (void)state;
    struct assign_member m[4] = {{"node2", true, false}, {"node1", true, false}};
    size_t n = 2;
    struct assign_map *map = malloc(sizeof(*map)), *back = malloc(sizeof(*back));
    static char buf[ASSIGN_TEXT_MAX], buf2[ASSIGN_TEXT_MAX];
    char err[128];
    assert_non_null(map);
    assert_non_null(back);

    assign_map_init(map, 16, 9);
    for (int b = 0; b < 16; b++)
        map->owner[b] = b < 7 || b == 9 ? 1 : b == 7 || b >= 12 ? 0 : -1;
    assert_int_equal(assign_map_format(map, m, n, buf, sizeof(buf), err, sizeof(err)), 25);
    assert_string_equal(buf, "node1=0-6,9;node2=7,12-15");

    /* into an empty table: ids are appended in text order, not alive */
    struct assign_member t[4];
    size_t tn = 0;
    assert_int_equal(assign_map_parse(buf, 16, 9, t, &tn, 4, back, err, sizeof(err)), 13);
    assert_int_equal(tn, 2);
    assert_string_equal(t[0].id, "node1");
    assert_false(t[0].alive);
    assert_int_equal(back->epoch, 9);
    assert_int_equal(back->nbuckets, 16);
    assert_int_equal(assign_map_format(back, t, tn, buf2, sizeof(buf2), err, sizeof(err)), 25);
    assert_string_equal(buf2, buf);
    /* into the existing table: the same owners */
    assert_int_equal(assign_map_parse(buf, 16, 9, m, &n, 4, back, err, sizeof(err)), 13);
    assert_int_equal(n, 2);
    assert_memory_equal(back->owner, map->owner, 16 * sizeof(map->owner[0]));
    /* ranges in any order, single-bucket ranges */
    assert_int_equal(
        assign_map_parse("node2=15,12-14,7-7;node1=9,0-6", 16, 9, m, &n, 4, back, err, sizeof(err)),
        13);
    assert_memory_equal(back->owner, map->owner, 16 * sizeof(map->owner[0]));
    assert_int_equal(assign_map_parse("", 16, 9, m, &n, 4, back, err, sizeof(err)), 0);
    assert_int_equal(back->owner[0], -1);

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"node1", "missing '=' after 'node1'"},
        {"node1=", "bad bucket range of node1 near ''"},
        {"=1", "bad worker id '' (1 to 63 characters)"},
        {"no de=1", "bad worker id 'no de'"},
        {"node1=5-3", "bucket range 5-3 of node1 runs backwards"},
        {"node1=0-16", "bucket 16 of node1 out of range (16 buckets)"},
        {"node1=99999999999999999999", "bucket number of node1 out of range (16 buckets)"},
        {"node1=1;node2=0-1", "bucket 1 given twice (node1 and node2)"},
        {"node1=1,1", "bucket 1 given twice (node1 and node1)"},
        {"node1=1;node1=2", "worker node1 is listed twice"},
        {"node1=1;", "trailing ';' in the map"},
        {"node1=1,", "bad bucket range of node1 near ''"},
        {"node1=a", "bad bucket range of node1 near 'a'"},
        {"node1=-1", "bad bucket range of node1 near '-1'"},
        {"node1=1-", "bad bucket range of node1 near ''"},
        {"node1=1x", "unexpected 'x' after the ranges of node1"},
        {"node1=1 ", "unexpected ' ' after the ranges of node1"},
        {"node1=1;;node2=2", "missing '=' after ''"},
        {"node1=1,node2=2", "bad bucket range of node1 near 'node2=2'"},
        {"new1=1;new2=2;new3=3", "worker new3 does not fit in the member table (4 slots)"},
        {"new1=1;node1=1", "bucket 1 given twice (new1 and node1)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(assign_map_parse(bad[i].text, 16, 9, m, &n, 4, back, err, sizeof(err)),
                         -1);
        assert_string_equal(err, bad[i].err);
        assert_int_equal(n, 2); /* new ids rolled back */
        for (int b = 0; b < 16; b++)
            assert_int_equal(back->owner[b], -1);
    }
    char longtext[100];
    memset(longtext, 'x', 70);
    strcpy(longtext + 70, "=1");
    assert_int_equal(assign_map_parse(longtext, 16, 9, m, &n, 4, back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1 to 63 characters"));
    assert_int_equal(assign_map_parse("node1=1", 12, 9, m, &n, 4, back, err, sizeof(err)), -1);
    assert_string_equal(err, "bad bucket count 12 (a power of two up to 65536)");
    assert_int_equal(assign_map_parse("node1=1", 16, 9, m, &n, 1, back, err, sizeof(err)), -1);

    /* formatting errors: too small a buffer, a bad owner */
    char small[10];
    assert_int_equal(assign_map_format(map, m, n, small, sizeof(small), err, sizeof(err)), -1);
    assert_string_equal(small, "");
    assert_string_equal(err, "the map's text does not fit in 10 bytes");
    char exact[26];
    assert_int_equal(assign_map_format(map, m, n, exact, sizeof(exact), err, sizeof(err)), 25);
    assert_int_equal(assign_map_format(map, m, n, exact, 25, err, sizeof(err)), -1);
    assert_int_equal(assign_map_format(map, m, n, NULL, 0, NULL, 0), -1);
    map->owner[3] = 2;
    assert_int_equal(assign_map_format(map, m, n, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_string_equal(err, "bucket 3 has owner 2, not a worker of the table");

    /* the worst case fits ASSIGN_TEXT_MAX: every bucket alone, the most members, longest ids */
    static struct assign_member big[ASSIGN_MAX_MEMBERS];
    for (int i = 0; i < ASSIGN_MAX_MEMBERS; i++) {
        memset(big[i].id, 'a', ASSIGN_ID_MAX - 1);
        snprintf(big[i].id + ASSIGN_ID_MAX - 5, 5, "%04u", (unsigned)i % 10000u);
    }
    struct assign_map *bm = malloc(sizeof(*bm));
    assert_non_null(bm);
    assign_map_init(bm, ASSIGN_MAX_BUCKETS, 1);
    for (uint32_t b = 0; b < ASSIGN_MAX_BUCKETS; b++)
        bm->owner[b] = (int16_t)(b % ASSIGN_MAX_MEMBERS);
    int len = assign_map_format(bm, big, ASSIGN_MAX_MEMBERS, buf, sizeof(buf), err, sizeof(err));
    assert_true(len > 0 && len < ASSIGN_TEXT_MAX);
    static struct assign_member big2[ASSIGN_MAX_MEMBERS];
    size_t bn = 0;
    assert_int_equal(assign_map_parse(buf, ASSIGN_MAX_BUCKETS, 1, big2, &bn, ASSIGN_MAX_MEMBERS,
                                      back, err, sizeof(err)),
                     ASSIGN_MAX_BUCKETS);
    assert_int_equal(bn, ASSIGN_MAX_MEMBERS);
    assert_memory_equal(back->owner, bm->owner, sizeof(bm->owner));
    free(bm);
    free(map);
    free(back);
}

/* --- randomized histories --- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t bound)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((rng_state >> 33) % bound);
}

static bool is_eligible(const struct assign_member *m)
{
    return m->id[0] && m->alive && !m->draining;
}

/* The invariants of one step from prev to cur (the cluster's current map). */
static void check_step(const struct cluster *c, const struct assign_map *prev, int rc,
                       uint32_t *max_ranges)
{
    uint32_t nb = prev->nbuckets, cnt[CAP] = {0}, neligible = 0, nact = 0;
    uint32_t lost[CAP + 1] = {0}, gained[CAP + 1] = {0}, nmoved = 0;
    const struct assign_map *cur = c->cur;

    /* epoch strictly increases exactly when the map changed */
    bool changed = memcmp(prev->owner, cur->owner, nb * sizeof(cur->owner[0])) != 0;
    assert_int_equal(rc, changed);
    assert_true(cur->epoch == prev->epoch + (changed ? 1 : 0));
    assert_int_equal(cur->nbuckets, nb);

    for (uint32_t b = 0; b < nb; b++) {
        int o = cur->owner[b], p = prev->owner[b];
        if (o >= 0)
            cnt[o]++;
        if (o != p) { /* slot CAP stands for "no owner" */
            lost[p >= 0 ? p : CAP]++;
            gained[o >= 0 ? o : CAP]++;
            nmoved++;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        neligible += is_eligible(&c->m[i]);
        /* roles follow ownership */
        if (cnt[i] > 0)
            assert_int_equal(c->roles[i], ASSIGN_ACTIVE);
        else if (is_eligible(&c->m[i]))
            assert_int_equal(c->roles[i], ASSIGN_BACKUP);
        else
            assert_int_equal(c->roles[i], ASSIGN_NONE);
        nact += cnt[i] > 0;
    }
    /* fewest moves: nobody both gains and loses */
    for (size_t i = 0; i <= CAP; i++)
        assert_false(lost[i] > 0 && gained[i] > 0);

    if (neligible > 0) {
        uint32_t lo = UINT32_MAX, hi = 0;
        for (uint32_t b = 0; b < nb; b++) {
            assert_true(cur->owner[b] >= 0);
            assert_true(is_eligible(&c->m[cur->owner[b]]));
        }
        uint32_t want_act = c->want < neligible ? c->want : neligible;
        assert_int_equal(nact, want_act < nb ? want_act : nb);
        for (size_t i = 0; i < c->n; i++) {
            if (cnt[i] == 0)
                continue;
            lo = cnt[i] < lo ? cnt[i] : lo;
            hi = cnt[i] > hi ? cnt[i] : hi;
            /* count ranges: the capture filter's length */
            uint32_t ranges = 0;
            for (uint32_t b = 0; b < nb; b++)
                ranges += cur->owner[b] == (int)i && (b == 0 || cur->owner[b - 1] != (int)i);
            if (ranges > *max_ranges)
                *max_ranges = ranges;
        }
        /* maps built from scratch by assign_next stay balanced, 1:1 takeovers included */
        assert_true(hi - lo <= 1);
    } else {
        for (uint32_t b = 0; b < nb; b++) {
            int o = cur->owner[b];
            assert_true(o == -1 || (c->m[o].alive && c->m[o].draining && o == prev->owner[b]));
        }
    }
}

/* Thousands of random joins, failures, drains, removals and want changes (several at once now
 * and then), each step checked against the invariants, the 1:1 failover rule, idempotence and
 * the text round trip. */
static void run_history(uint32_t nbuckets, int steps, uint64_t seed, uint32_t *max_ranges)
{
    static const char *const names[] = {"w0", "w1", "w2", "w3", "w4",  "w5",
                                        "w6", "w7", "w8", "w9", "w10", "w11"};
    const uint32_t nnames = sizeof(names) / sizeof(names[0]);
    struct cluster *c = cluster_new(nbuckets, 1 + (uint32_t)(seed % 4));
    struct assign_map *again = malloc(sizeof(*again)), *back = malloc(sizeof(*back));
    static char text[ASSIGN_TEXT_MAX];
    char err[128];
    int takeovers = 0;
    assert_non_null(again);
    assert_non_null(back);
    rng_state = seed;

    for (int s = 0; s < steps; s++) {
        uint32_t nops = rnd(8) == 0 ? 2 + rnd(3) : 1;
        int single_leaver = -1;
        bool had_backup = false;
        uint32_t want0 = c->want;
        for (size_t i = 0; i < c->n; i++)
            had_backup |= c->m[i].id[0] && c->roles[i] == ASSIGN_BACKUP;
        for (uint32_t op = 0; op < nops; op++) {
            int i = c->n ? (int)rnd((uint32_t)c->n) : -1;
            switch (rnd(10)) {
            case 0:
            case 1: { /* a worker registers (new, or back from the dead) */
                const char *id = names[rnd(nnames)];
                int j = assign_find(c->m, c->n, id);
                if (j < 0)
                    add(c, id);
                else
                    c->m[j].alive = true;
                break;
            }
            case 2:
            case 3: /* a worker fails */
                if (i >= 0 && c->m[i].id[0] && c->m[i].alive) {
                    c->m[i].alive = false;
                    single_leaver = nops == 1 ? i : -1;
                }
                break;
            case 4: /* drained */
                if (i >= 0 && c->m[i].id[0] && !c->m[i].draining) {
                    c->m[i].draining = true;
                    single_leaver = nops == 1 && c->m[i].alive ? i : -1;
                }
                break;
            case 5: /* undrained */
                if (i >= 0)
                    c->m[i].draining = false;
                break;
            case 6: /* want_actives changed */
                c->want = 1 + rnd(6);
                break;
            case 7: /* a dead worker that owns nothing leaves the table */
                if (i >= 0 && c->m[i].id[0] && !c->m[i].alive && assign_count(c->cur, i) == 0)
                    c->m[i].id[0] = '\0';
                break;
            default: /* nothing: a periodic reconcile */
                break;
            }
        }

        uint32_t lcount = single_leaver >= 0 ? assign_count(c->cur, single_leaver) : 0;
        int rc = step(c);
        check_step(c, c->nxt, rc, max_ranges);

        /* rule 2: one active leaves, a backup stands by: all its buckets to that one backup,
         * nothing else moves */
        if (single_leaver >= 0 && lcount > 0 && had_backup && c->want == want0) {
            int to = -1;
            assert_int_equal(rc, 1);
            assert_int_equal(moved(c->nxt, c->cur), lcount);
            for (uint32_t b = 0; b < nbuckets; b++) {
                if (c->nxt->owner[b] != single_leaver)
                    continue;
                if (to < 0)
                    to = c->cur->owner[b];
                assert_int_equal(c->cur->owner[b], to);
            }
            assert_int_equal(assign_count(c->nxt, to), 0);
            takeovers++;
        }

        /* idempotent and deterministic */
        char why2[512];
        assert_int_equal(assign_next(c->cur, c->m, c->n, c->want, again, NULL, why2, sizeof(why2)),
                         0);
        assert_memory_equal(again->owner, c->cur->owner, nbuckets * sizeof(again->owner[0]));
        assert_int_equal(again->epoch, c->cur->epoch);

        /* the text round trip, into a fresh table */
        struct assign_member t[CAP];
        size_t tn = 0;
        int len = assign_map_format(c->cur, c->m, c->n, text, sizeof(text), err, sizeof(err));
        assert_true(len >= 0);
        int owned =
            assign_map_parse(text, nbuckets, c->cur->epoch, t, &tn, CAP, back, err, sizeof(err));
        assert_true(owned >= 0);
        for (uint32_t b = 0; b < nbuckets; b++) {
            int o = c->cur->owner[b];
            if (o < 0)
                assert_int_equal(back->owner[b], -1);
            else
                assert_string_equal(t[back->owner[b]].id, c->m[o].id);
        }
    }
    assert_true(takeovers > 0);
    free(again);
    free(back);
    cluster_free(c);
}

static void test_random_histories(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {1, 2, 8, 64, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint32_t max_ranges = 0;
        run_history(sizes[i], 3000, 0x5eed0000ULL + i, &max_ranges);
        assert_true(max_ranges <= 16); /* seen: at most 7; the capture filter stays short */
    }
}

static void test_random_history_large(void **state)
{
    (void)state;
    uint32_t max_ranges = 0;
    run_history(ASSIGN_MAX_BUCKETS, 300, 0xfeedULL, &max_ranges);
    assert_true(max_ranges <= 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_nothing_alive),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_random_histories),
        cmocka_unit_test(test_random_history_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
