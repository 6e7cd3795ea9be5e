/* assign.c: the bucket map and worker roles as a pure function of the previous map and the
 * membership (see assign.h), and the map's text form. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assign.h"

/* What happened to a member in one assign_next step (for the reason line). */
enum fate {
    FATE_NONE = 0,
    FATE_REPLACED, /* left (dead or draining): a backup took all its buckets */
    FATE_SPREAD,   /* left: its buckets were spread over the actives */
    FATE_DEMOTED,  /* surplus active: its buckets were spread, it is a backup now */
    FATE_PROMOTED, /* backup made active with an even share */
};

/* Scratch of one assign_next call, indexed by member. */
struct work {
    int16_t order[ASSIGN_MAX_MEMBERS]; /* used slots sorted by id */
    size_t k;                          /* entries in order */
    uint32_t cnt[ASSIGN_MAX_MEMBERS];  /* buckets owned in the map being built */
    uint32_t need[ASSIGN_MAX_MEMBERS]; /* buckets still to receive while balancing */
    uint32_t lost[ASSIGN_MAX_MEMBERS]; /* buckets given up by a leaving or demoted member */
    int16_t taker[ASSIGN_MAX_MEMBERS]; /* the backup that replaced a member */
    uint8_t fate[ASSIGN_MAX_MEMBERS];  /* enum fate */
    bool act[ASSIGN_MAX_MEMBERS];      /* active in the map being built */
};

/* A reason line being built: parts joined by "; ", silently truncated. */
struct why {
    char *buf;
    size_t len;
    size_t used;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_add(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int append(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void why_add(struct why *w, const char *fmt, ...)
{
    va_list ap;
    if (!w->buf || w->used + 1 >= w->len)
        return;
    if (w->used > 0) {
        int s = snprintf(w->buf + w->used, w->len - w->used, "; ");
        w->used += (size_t)s < w->len - w->used ? (size_t)s : w->len - w->used - 1;
        if (w->used + 1 >= w->len)
            return;
    }
    va_start(ap, fmt);
    int r = vsnprintf(w->buf + w->used, w->len - w->used, fmt, ap);
    va_end(ap);
    if (r > 0)
        w->used += (size_t)r < w->len - w->used ? (size_t)r : w->len - w->used - 1;
}

/* Appends to buf at *used. Returns 0, or -1 when it does not fit. */
static int append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    if (*used >= len)
        return -1;
    va_start(ap, fmt);
    int r = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= len - *used)
        return -1;
    *used += (size_t)r;
    return 0;
}

static const char *plural(uint32_t v)
{
    return v == 1 ? "" : "s";
}

static bool nbuckets_ok(uint32_t nb)
{
    return nb >= 1 && nb <= ASSIGN_MAX_BUCKETS && (nb & (nb - 1)) == 0;
}

static bool eligible(const struct assign_member *m)
{
    return m->id[0] && m->alive && !m->draining;
}

void assign_map_init(struct assign_map *map, uint32_t nbuckets, uint64_t epoch)
{
    map->nbuckets = nbuckets;
    map->epoch = epoch;
    memset(map->owner, 0xff, sizeof(map->owner)); /* every int16_t -1 */
}

bool assign_id_valid(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len >= ASSIGN_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= ' ' || c > '~' || c == '=' || c == ',' || c == ';')
            return false;
    }
    return true;
}

int assign_find(const struct assign_member *members, size_t n, const char *id)
{
    if (!id[0])
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(members[i].id, id) == 0)
            return (int)i;
    return -1;
}

uint32_t assign_count(const struct assign_map *map, int idx)
{
    uint32_t c = 0;
    uint32_t nb = map->nbuckets <= ASSIGN_MAX_BUCKETS ? map->nbuckets : ASSIGN_MAX_BUCKETS;
    for (uint32_t b = 0; b < nb; b++)
        c += map->owner[b] == idx;
    return c;
}

/* Sorts the used slots of members[0..n) by id into order[0..*k) (insertion sort: n is small and
 * the result must not depend on a library's sort). Returns 0, or -1 with err set for a bad or
 * duplicate id. */
static int sort_members(const struct assign_member *members, size_t n, int16_t *order, size_t *k,
                        char *err, size_t errlen)
{
    *k = 0;
    if (n > ASSIGN_MAX_MEMBERS) {
        set_err(err, errlen, "%zu members exceed the limit of %d", n, ASSIGN_MAX_MEMBERS);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!members[i].id[0])
            continue;
        if (!assign_id_valid(members[i].id)) {
            set_err(err, errlen, "bad worker id '%.*s' (member %zu)", ASSIGN_ID_MAX - 1,
                    members[i].id, i);
            return -1;
        }
        size_t j = *k;
        while (j > 0 && strcmp(members[order[j - 1]].id, members[i].id) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        if (j > 0 && strcmp(members[order[j - 1]].id, members[i].id) == 0) {
            set_err(err, errlen, "worker id '%s' appears twice in the member table", members[i].id);
            return -1;
        }
        order[j] = (int16_t)i;
        (*k)++;
    }
    return 0;
}

/* Checks map's bucket count and that every owner is -1 or a used slot of members[0..n), counting
 * each member's buckets into cnt[0..n) when cnt is not NULL. Returns 0, or -1 with err set. */
static int check_map(const struct assign_map *map, const struct assign_member *members, size_t n,
                     uint32_t *cnt, char *err, size_t errlen)
{
    if (!nbuckets_ok(map->nbuckets)) {
        set_err(err, errlen, "bad bucket count %u (a power of two up to %d)", map->nbuckets,
                ASSIGN_MAX_BUCKETS);
        return -1;
    }
    if (cnt)
        memset(cnt, 0, n * sizeof(*cnt));
    for (uint32_t b = 0; b < map->nbuckets; b++) {
        int o = map->owner[b];
        if (o == -1)
            continue;
        if (o < -1 || (size_t)o >= n || !members[o].id[0]) {
            set_err(err, errlen, "bucket %u has owner %d, not a worker of the table", b, o);
            return -1;
        }
        if (cnt)
            cnt[o]++;
    }
    return 0;
}

/* Makes every bucket of member i in map unowned. */
static void release_all(struct assign_map *map, int i)
{
    for (uint32_t b = 0; b < map->nbuckets; b++)
        if (map->owner[b] == i)
            map->owner[b] = -1;
}

/* Gives buckets [s, s + c) to member i. */
static void give(struct assign_map *map, struct work *w, int i, uint32_t s, uint32_t c)
{
    for (uint32_t b = s; b < s + c; b++)
        map->owner[b] = (int16_t)i;
    w->cnt[i] += c;
    w->need[i] -= c;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Brings the nact actives (w->act) of map to even shares, B / nact each and one more for the
 * B % nact busiest (ties: lower id), moving as few buckets as possible: an active above its share
 * gives up its highest buckets, then every run of unowned buckets is handed out, first to the
 * owner of the bucket on its left, then to the owner of the bucket on its right (so that ranges
 * grow instead of splitting), then to the actives still short in id order, in contiguous pieces.
 * Every owned bucket must belong to an active. Returns the buckets taken from busier actives. */
static uint32_t balance(struct assign_map *map, struct work *w, uint32_t nact)
{
    uint32_t nb = map->nbuckets, q = nb / nact, r = nb % nact, donated = 0;
    int16_t busy[ASSIGN_MAX_MEMBERS];
    uint32_t m = 0;

    /* actives by buckets held, most first; id order among equals (stable insertion) */
    for (size_t j = 0; j < w->k; j++) {
        int i = w->order[j];
        if (!w->act[i])
            continue;
        uint32_t p = m++;
        while (p > 0 && w->cnt[busy[p - 1]] < w->cnt[i]) {
            busy[p] = busy[p - 1];
            p--;
        }
        busy[p] = (int16_t)i;
    }
    for (uint32_t t = 0; t < m; t++) {
        int i = busy[t];
        uint32_t share = q + (t < r);
        if (w->cnt[i] > share) {
            uint32_t excess = w->cnt[i] - share;
            for (uint32_t b = nb; b-- > 0 && excess > 0;) {
                if (map->owner[b] == i) {
                    map->owner[b] = -1;
                    excess--;
                }
            }
            donated += w->cnt[i] - share;
            w->cnt[i] = share;
        }
        w->need[i] = share - w->cnt[i];
    }

    for (uint32_t b = 0; b < nb;) {
        if (map->owner[b] != -1) {
            b++;
            continue;
        }
        uint32_t s = b, e = b; /* the run [s, e) */
        while (e < nb && map->owner[e] == -1)
            e++;
        b = e;
        if (s > 0) {
            int left = map->owner[s - 1];
            uint32_t c = min_u32(w->need[left], e - s);
            give(map, w, left, s, c);
            s += c;
        }
        if (e < nb && s < e) {
            int right = map->owner[e];
            uint32_t c = min_u32(w->need[right], e - s);
            give(map, w, right, e - c, c);
            e -= c;
        }
        for (size_t j = 0; j < w->k && s < e; j++) {
            int i = w->order[j];
            if (!w->act[i] || w->need[i] == 0)
                continue;
            uint32_t c = min_u32(w->need[i], e - s);
            give(map, w, i, s, c);
            s += c;
        }
    }
    return donated;
}

/* The step with no eligible worker: buckets of dead owners become unowned, draining owners keep
 * theirs (better than dropping their traffic before they stop). */
static void assign_none(struct assign_map *next, const struct assign_member *members,
                        struct work *w, struct why *why)
{
    for (uint32_t b = 0; b < next->nbuckets; b++) {
        int o = next->owner[b];
        if (o >= 0 && !members[o].alive)
            next->owner[b] = -1;
    }
    for (size_t j = 0; j < w->k; j++) {
        int i = w->order[j];
        uint32_t c = w->cnt[i];
        if (c == 0)
            continue;
        if (!members[i].alive)
            why_add(why, "%s failed and no worker is left: its %u bucket%s have no owner",
                    members[i].id, c, plural(c));
        else
            why_add(why, "%s is draining but no worker can take over: it keeps its %u bucket%s",
                    members[i].id, c, plural(c));
    }
}

/* Builds the reason line of a step with eligible workers. */
static void explain(const struct assign_member *members, const struct work *w, uint32_t nact,
                    uint32_t nb, uint32_t want, uint32_t unowned, uint32_t donated, struct why *why)
{
    bool initial = unowned == nb;
    if (initial)
        why_add(why, "initial map: %u bucket%s over %u active%s", nb, plural(nb), nact,
                plural(nact));
    else if (unowned > 0)
        why_add(why, "%u unowned bucket%s spread over %u active%s", unowned, plural(unowned), nact,
                plural(nact));
    for (size_t j = 0; j < w->k; j++) {
        int i = w->order[j];
        const char *id = members[i].id;
        const char *verb = members[i].alive ? "is draining" : "failed";
        uint32_t c = w->lost[i];
        switch (w->fate[i]) {
        case FATE_REPLACED:
            why_add(why, "%s %s: its %u bucket%s go to backup %s", id, verb, c, plural(c),
                    members[w->taker[i]].id);
            break;
        case FATE_SPREAD:
            why_add(why, "%s %s: its %u bucket%s are spread over %u active%s", id, verb, c,
                    plural(c), nact, plural(nact));
            break;
        case FATE_DEMOTED:
            why_add(why, "%s becomes a backup (want_actives %u): its %u bucket%s are spread", id,
                    want, c, plural(c));
            break;
        case FATE_PROMOTED:
            if (!initial)
                why_add(why, "backup %s becomes active", id);
            break;
        default:
            break;
        }
    }
    if (donated > 0)
        why_add(why, "rebalanced: %u bucket%s taken from busier actives", donated, plural(donated));
}

/* The steps, in order: surplus actives are demoted (highest ids first); each leaving owner (dead
 * or draining, in id order) is replaced 1:1 by the lowest-id backup while actives are missing,
 * else its buckets are released; backups are promoted while actives are missing; then, unless the
 * step was only 1:1 replacements, balance() shares out every unowned bucket. */
int assign_next(const struct assign_map *prev, const struct assign_member *members, size_t n,
                uint32_t want_actives, struct assign_map *next, enum assign_role *roles, char *why,
                size_t whylen)
{
    struct work w;
    struct why wb = {why, whylen, 0};
    if (why && whylen)
        why[0] = '\0';
    if (!prev || !next || prev == next) {
        set_err(why, whylen, "prev and next must be two different maps");
        return -1;
    }
    if (want_actives == 0) {
        set_err(why, whylen, "want_actives must be at least 1");
        return -1;
    }
    if (sort_members(members, n, w.order, &w.k, why, whylen) != 0 ||
        check_map(prev, members, n, w.cnt, why, whylen) != 0)
        return -1;
    memset(w.need, 0, n * sizeof(w.need[0]));
    memset(w.lost, 0, n * sizeof(w.lost[0]));
    memset(w.fate, 0, n * sizeof(w.fate[0]));
    memset(w.act, 0, n * sizeof(w.act[0]));

    uint32_t nb = prev->nbuckets;
    next->nbuckets = nb;
    next->epoch = prev->epoch;
    memcpy(next->owner, prev->owner, nb * sizeof(next->owner[0]));

    uint32_t unowned = 0, neligible = 0, nact = 0;
    for (uint32_t b = 0; b < nb; b++)
        unowned += prev->owner[b] == -1;
    for (size_t j = 0; j < w.k; j++) {
        int i = w.order[j];
        if (!eligible(&members[i]))
            continue;
        neligible++;
        w.act[i] = w.cnt[i] > 0;
        nact += w.act[i];
    }

    if (neligible == 0) {
        assign_none(next, members, &w, &wb);
    } else {
        uint32_t target = min_u32(min_u32(want_actives, neligible), nb);
        uint32_t replaced = 0, promoted = 0, donated = 0;

        for (size_t j = w.k; j-- > 0 && nact > target;) {
            int i = w.order[j];
            if (!w.act[i])
                continue;
            w.act[i] = false;
            nact--;
            w.fate[i] = FATE_DEMOTED;
            w.lost[i] = w.cnt[i];
            release_all(next, i);
        }
        for (size_t j = 0; j < w.k; j++) {
            int i = w.order[j], backup = -1;
            if (eligible(&members[i]) || w.cnt[i] == 0)
                continue;
            w.lost[i] = w.cnt[i];
            for (size_t h = 0; h < w.k && nact < target && backup < 0; h++) {
                int c = w.order[h];
                if (eligible(&members[c]) && !w.act[c])
                    backup = c;
            }
            if (backup < 0) {
                w.fate[i] = FATE_SPREAD;
                release_all(next, i);
                continue;
            }
            for (uint32_t b = 0; b < nb; b++)
                if (next->owner[b] == i)
                    next->owner[b] = (int16_t)backup;
            w.act[backup] = true;
            nact++;
            w.fate[i] = FATE_REPLACED;
            w.taker[i] = (int16_t)backup;
            replaced++;
        }
        for (size_t j = 0; j < w.k && nact < target; j++) {
            int i = w.order[j];
            if (eligible(&members[i]) && !w.act[i]) {
                w.act[i] = true;
                nact++;
                w.fate[i] = FATE_PROMOTED;
                promoted++;
            }
        }

        uint32_t orphans = 0;
        memset(w.cnt, 0, n * sizeof(w.cnt[0]));
        for (uint32_t b = 0; b < nb; b++) {
            if (next->owner[b] == -1)
                orphans++;
            else
                w.cnt[next->owner[b]]++;
        }
        if (!(replaced > 0 && orphans == 0 && promoted == 0))
            donated = balance(next, &w, nact);
        explain(members, &w, nact, nb, want_actives, unowned, donated, &wb);
    }

    int changed = memcmp(prev->owner, next->owner, nb * sizeof(next->owner[0])) != 0;
    next->epoch = prev->epoch + (uint64_t)changed;
    if (!changed && wb.used == 0)
        why_add(&wb, "map unchanged");

    if (roles) {
        check_map(next, members, n, w.cnt, NULL, 0);
        for (size_t i = 0; i < n; i++) {
            if (w.cnt[i] > 0)
                roles[i] = ASSIGN_ACTIVE;
            else if (eligible(&members[i]))
                roles[i] = ASSIGN_BACKUP;
            else
                roles[i] = ASSIGN_NONE;
        }
    }
    return changed;
}

int assign_map_format(const struct assign_map *map, const struct assign_member *members, size_t n,
                      char *buf, size_t len, char *err, size_t errlen)
{
    int16_t order[ASSIGN_MAX_MEMBERS];
    uint32_t cnt[ASSIGN_MAX_MEMBERS];
    size_t k, used = 0;
    if (buf && len)
        buf[0] = '\0';
    if (sort_members(members, n, order, &k, err, errlen) != 0 ||
        check_map(map, members, n, cnt, err, errlen) != 0)
        return -1;
    if (!buf || len == 0)
        goto toolong;
    for (size_t j = 0; j < k; j++) {
        int i = order[j];
        bool first = true;
        if (cnt[i] == 0)
            continue;
        if (append(buf, len, &used, "%s%s=", used ? ";" : "", members[i].id) != 0)
            goto toolong;
        for (uint32_t b = 0; b < map->nbuckets; b++) {
            if (map->owner[b] != i)
                continue;
            uint32_t e = b;
            while (e + 1 < map->nbuckets && map->owner[e + 1] == i)
                e++;
            int r = e == b ? append(buf, len, &used, "%s%u", first ? "" : ",", b)
                           : append(buf, len, &used, "%s%u-%u", first ? "" : ",", b, e);
            if (r != 0)
                goto toolong;
            first = false;
            b = e;
        }
    }
    return (int)used;
toolong:
    if (buf && len)
        buf[0] = '\0';
    set_err(err, errlen, "the map's text does not fit in %zu bytes", len);
    return -1;
}

/* Reads a decimal bucket number at *s (advancing it). Returns 0, or -1 when there is no digit.
 * Values too large for any bucket read as UINT32_MAX. */
static int parse_bucket(const char **s, uint32_t *v)
{
    const char *p = *s;
    uint32_t x = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        x = x > ASSIGN_MAX_BUCKETS ? UINT32_MAX : x * 10 + (uint32_t)(*p - '0');
    *s = p;
    *v = x;
    return 0;
}

int assign_map_parse(const char *text, uint32_t nbuckets, uint64_t epoch,
                     struct assign_member *members, size_t *n, size_t cap, struct assign_map *map,
                     char *err, size_t errlen)
{
    uint8_t listed[ASSIGN_MAX_MEMBERS];
    size_t n0 = *n;
    int owned = 0;
    const char *s = text;

    assign_map_init(map, nbuckets, epoch);
    if (!nbuckets_ok(nbuckets)) {
        set_err(err, errlen, "bad bucket count %u (a power of two up to %d)", nbuckets,
                ASSIGN_MAX_BUCKETS);
        return -1;
    }
    if (cap > ASSIGN_MAX_MEMBERS || *n > cap) {
        set_err(err, errlen, "bad member table (%zu of %zu slots, limit %d)", *n, cap,
                ASSIGN_MAX_MEMBERS);
        return -1;
    }
    memset(listed, 0, sizeof(listed));
    while (*s) {
        char id[ASSIGN_ID_MAX];
        const char *eq = s;
        while (*eq && *eq != '=' && *eq != ';' && *eq != ',')
            eq++;
        size_t idlen = (size_t)(eq - s);
        if (*eq != '=') {
            set_err(err, errlen, "missing '=' after '%.*s'", (int)(idlen < 20 ? idlen : 20), s);
            goto fail;
        }
        if (idlen == 0 || idlen >= ASSIGN_ID_MAX) {
            set_err(err, errlen, "bad worker id '%.*s' (1 to %d characters)",
                    (int)(idlen < 20 ? idlen : 20), s, ASSIGN_ID_MAX - 1);
            goto fail;
        }
        memcpy(id, s, idlen);
        id[idlen] = '\0';
        if (!assign_id_valid(id)) {
            set_err(err, errlen, "bad worker id '%s'", id);
            goto fail;
        }
        int idx = assign_find(members, *n, id);
        if (idx < 0) {
            if (*n >= cap) {
                set_err(err, errlen, "worker %s does not fit in the member table (%zu slots)", id,
                        cap);
                goto fail;
            }
            idx = (int)(*n)++;
            memset(&members[idx], 0, sizeof(members[idx]));
            memcpy(members[idx].id, id, idlen + 1);
        }
        if (listed[idx]) {
            set_err(err, errlen, "worker %s is listed twice", id);
            goto fail;
        }
        listed[idx] = 1;
        s = eq + 1;
        for (;;) {
            uint32_t lo, hi;
            if (parse_bucket(&s, &lo) != 0) {
                set_err(err, errlen, "bad bucket range of %s near '%.20s'", id, s);
                goto fail;
            }
            hi = lo;
            if (*s == '-') {
                s++;
                if (parse_bucket(&s, &hi) != 0) {
                    set_err(err, errlen, "bad bucket range of %s near '%.20s'", id, s);
                    goto fail;
                }
            }
            if (lo >= nbuckets || hi >= nbuckets) {
                uint32_t bad = lo >= nbuckets ? lo : hi;
                if (bad == UINT32_MAX)
                    set_err(err, errlen, "bucket number of %s out of range (%u buckets)", id,
                            nbuckets);
                else
                    set_err(err, errlen, "bucket %u of %s out of range (%u buckets)", bad, id,
                            nbuckets);
                goto fail;
            }
            if (lo > hi) {
                set_err(err, errlen, "bucket range %u-%u of %s runs backwards", lo, hi, id);
                goto fail;
            }
            for (uint32_t b = lo; b <= hi; b++) {
                if (map->owner[b] != -1) {
                    set_err(err, errlen, "bucket %u given twice (%s and %s)", b,
                            members[map->owner[b]].id, id);
                    goto fail;
                }
                map->owner[b] = (int16_t)idx;
                owned++;
            }
            if (*s != ',')
                break;
            s++;
        }
        if (*s == ';') {
            s++;
            if (!*s) {
                set_err(err, errlen, "trailing ';' in the map");
                goto fail;
            }
        } else if (*s) {
            set_err(err, errlen, "unexpected '%c' after the ranges of %s", *s, id);
            goto fail;
        }
    }
    return owned;
fail:
    *n = n0;
    assign_map_init(map, nbuckets, epoch);
    return -1;
}
