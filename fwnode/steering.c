/* steering.c: bucket maps and the capture filters generated from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steering.h"

/* Parses "lo-hi" or "n" at *s (advancing it). Returns 0 or -1. */
static int parse_range(const char **s, unsigned long *lo, unsigned long *hi)
{
    char *end;
    if (**s < '0' || **s > '9')
        return -1;
    *lo = strtoul(*s, &end, 10);
    *hi = *lo;
    if (*end == '-') {
        const char *p = end + 1;
        if (*p < '0' || *p > '9')
            return -1;
        *hi = strtoul(p, &end, 10);
    }
    *s = end;
    return *lo <= *hi ? 0 : -1;
}

int steering_parse(const char *map, const char *node, uint32_t nbuckets, uint8_t *owned, char *err,
                   size_t errlen)
{
    static uint8_t seen[STEERING_MAX_BUCKETS];
    size_t nlen = strlen(node);
    int count = 0;
    if (nbuckets == 0 || nbuckets > STEERING_MAX_BUCKETS || (nbuckets & (nbuckets - 1))) {
        snprintf(err, errlen, "bad bucket count %u", nbuckets);
        return -1;
    }
    memset(owned, 0, nbuckets);
    memset(seen, 0, nbuckets);
    const char *s = map;
    while (*s) {
        const char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "missing '=' in the map");
            return -1;
        }
        if (eq == s || memchr(s, ';', (size_t)(eq - s)) || memchr(s, ',', (size_t)(eq - s)) ||
            memchr(s, ' ', (size_t)(eq - s))) {
            snprintf(err, errlen, "bad worker name in the map near '%.20s'", s);
            return -1;
        }
        bool mine = (size_t)(eq - s) == nlen && memcmp(s, node, nlen) == 0;
        s = eq + 1;
        for (;;) {
            unsigned long lo, hi;
            if (parse_range(&s, &lo, &hi) != 0 || hi >= nbuckets) {
                snprintf(err, errlen, "bad bucket range in the map near '%.20s'", s);
                return -1;
            }
            for (unsigned long b = lo; b <= hi; b++) {
                if (seen[b]) {
                    snprintf(err, errlen, "bucket %lu given twice in the map", b);
                    return -1;
                }
                seen[b] = 1;
                if (mine) {
                    owned[b] = 1;
                    count++;
                }
            }
            if (*s != ',')
                break;
            s++;
        }
        if (*s == ';')
            s++;
        else if (*s) {
            snprintf(err, errlen, "unexpected '%c' in the map", *s);
            return -1;
        }
    }
    return count;
}

/* Finds the next run of owned buckets at or after *b: its first (*b) and last (*e) bucket.
 * Returns false when there is none. */
static bool next_run(const uint8_t *owned, uint32_t nbuckets, uint32_t *b, uint32_t *e)
{
    while (*b < nbuckets && !owned[*b])
        (*b)++;
    if (*b >= nbuckets)
        return false;
    *e = *b;
    while (*e + 1 < nbuckets && owned[*e + 1])
        (*e)++;
    return true;
}

int steering_ranges(const uint8_t *owned, uint32_t nbuckets, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t b = 0, e; next_run(owned, nbuckets, &b, &e); b = e + 1) {
        int w = e == b ? snprintf(buf + n, len - n, "%s%u", n ? "," : "", b)
                       : snprintf(buf + n, len - n, "%s%u-%u", n ? "," : "", b, e);
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
    }
    return (int)n;
}

/* Appends "(H in ranges)" for hash expression h over the owned ranges. */
static int append_ranges(char *buf, size_t len, size_t *n, const char *h, const uint8_t *owned,
                         uint32_t nbuckets)
{
    int w = snprintf(buf + *n, len - *n, "(");
    if (w < 0 || (size_t)w >= len - *n)
        return -1;
    *n += (size_t)w;
    bool first = true;
    for (uint32_t b = 0, e; next_run(owned, nbuckets, &b, &e); b = e + 1) {
        if (e == b)
            w = snprintf(buf + *n, len - *n, "%s((%s) & %u) == %u", first ? "" : " or ", h,
                         nbuckets - 1, b);
        else
            w = snprintf(buf + *n, len - *n, "%s(((%s) & %u) >= %u and ((%s) & %u) <= %u)",
                         first ? "" : " or ", h, nbuckets - 1, b, h, nbuckets - 1, e);
        if (w < 0 || (size_t)w >= len - *n)
            return -1;
        *n += (size_t)w;
        first = false;
    }
    w = snprintf(buf + *n, len - *n, "%s)", first ? "len = 0" : ""); /* never true */
    if (w < 0 || (size_t)w >= len - *n)
        return -1;
    *n += (size_t)w;
    return 0;
}

int steering_filter(const uint8_t *owned, uint32_t nbuckets, bool all, const char *vmac, char *buf,
                    size_t len)
{
#define A6                                                                                         \
    "ip6[8:4] ^ ip6[12:4] ^ ip6[16:4] ^ ip6[20:4] ^ ip6[24:4] ^ ip6[28:4] ^ ip6[32:4] ^ ip6[36:4]"
    static const struct {
        const char *match, *hash;
    } kinds[] = {
        {"ip and tcp", "ip[12:4] ^ ip[16:4] ^ tcp[0:2] ^ tcp[2:2]"},
        {"ip and udp", "ip[12:4] ^ ip[16:4] ^ udp[0:2] ^ udp[2:2]"},
        {"ip and not tcp and not udp", "ip[12:4] ^ ip[16:4]"},
        /* libpcap's tcp[] and udp[] read IPv4 only: for IPv6 the ports are read right after
         * the fixed header, which is where they are when no extension header comes first */
        {"ip6 and ip6[6] == 6", A6 " ^ ip6[40:2] ^ ip6[42:2]"},
        {"ip6 and ip6[6] == 17", A6 " ^ ip6[40:2] ^ ip6[42:2]"},
        {"ip6 and ip6[6] == 58", A6},
    };
#undef A6
    size_t n = 0;
    int w;
    if (all) {
        w = snprintf(buf, len, "ether dst %s or arp or (icmp6 and ip6[40] == 135)", vmac);
        return w < 0 || (size_t)w >= len ? -1 : w;
    }
    w = snprintf(buf, len, "(ether dst %s and (", vmac);
    if (w < 0 || (size_t)w >= len)
        return -1;
    n = (size_t)w;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        w = snprintf(buf + n, len - n, "%s(%s and ", i ? " or " : "", kinds[i].match);
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
        if (append_ranges(buf, len, &n, kinds[i].hash, owned, nbuckets) != 0)
            return -1;
        w = snprintf(buf + n, len - n, ")");
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
    }
    /* IPv6 behind extension headers: every worker takes it and its own hash decides (the
     * pipeline drops what it does not own) */
    w = snprintf(buf + n, len - n,
                 " or (ip6 and ip6[6] != 6 and ip6[6] != 17 and ip6[6] != 58))) or arp or "
                 "(icmp6 and ip6[40] == 135)");
    if (w < 0 || (size_t)w >= len - n)
        return -1;
    return (int)(n + (size_t)w);
}
