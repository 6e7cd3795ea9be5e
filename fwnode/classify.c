/* classify.c: rules compiled to masks and ranges, matched by a first-match linear scan. */
#include "classify.h"
#include "err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One rule, ready for integer compares. Addresses are two 64-bit words in the packet's byte
 * order (loaded with memcpy), so (addr & mask) == net needs no byte swapping. */
struct centry {
    uint64_t src_net[2], src_mask[2];
    uint64_t dst_net[2], dst_mask[2];
    uint16_t sport_lo, sport_hi;
    uint16_t dport_lo, dport_hi;
    int16_t icmp_type; /* -1: any */
    uint8_t family;    /* 0: any, else the family of the rule's addresses */
    uint8_t proto;     /* 0: any */
    uint8_t side;      /* RULE_SIDE_ANY matches both sides */
    uint8_t action;
    bool match_src; /* the source address is not "any" */
    bool match_dst;
};

struct classifier {
    size_t n;
    struct centry e[]; /* in rule order */
};

/* Builds the network and mask words of a prefix; host bits of the address are cleared. */
static int compile_addr(const struct rule_addr *a, uint64_t net[2], uint64_t mask[2], size_t idx,
                        const char *what, char *err, size_t errlen)
{
    uint8_t m[16] = {0}, v[16];
    unsigned max = a->family == 4 ? 32 : 128;

    net[0] = net[1] = mask[0] = mask[1] = 0;
    if (a->family == 0)
        return 0;
    if (a->family != 4 && a->family != 6)
        return errf(err, errlen, "rule %zu: bad %s address family %u", idx + 1, what, a->family);
    if (a->plen > max)
        return errf(err, errlen, "rule %zu: %s prefix /%u too long", idx + 1, what, a->plen);
    for (unsigned bit = 0; bit < a->plen; bit++)
        m[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
    for (size_t i = 0; i < 16; i++)
        v[i] = a->addr[i] & m[i];
    memcpy(mask, m, 16);
    memcpy(net, v, 16);
    return 0;
}

/* Checks one rule and compiles it into e. idx (0-based) names the rule in errors. */
static int compile_rule(const struct rule *r, struct centry *e, size_t idx, char *err,
                        size_t errlen)
{
    memset(e, 0, sizeof(*e));
    if (r->action != RULE_DENY && r->action != RULE_ALLOW)
        return errf(err, errlen, "rule %zu: bad action %u", idx + 1, r->action);
    if (r->side != RULE_SIDE_ANY && r->side != RULE_SIDE_A && r->side != RULE_SIDE_B)
        return errf(err, errlen, "rule %zu: bad side %u", idx + 1, r->side);
    if (r->src.family && r->dst.family && r->src.family != r->dst.family)
        return errf(err, errlen, "rule %zu: source and destination families differ", idx + 1);
    if (r->sport_lo > r->sport_hi || r->dport_lo > r->dport_hi)
        return errf(err, errlen, "rule %zu: port range low above high", idx + 1);
    if (compile_addr(&r->src, e->src_net, e->src_mask, idx, "source", err, errlen) < 0 ||
        compile_addr(&r->dst, e->dst_net, e->dst_mask, idx, "destination", err, errlen) < 0)
        return -1;
    e->match_src = r->src.family != 0;
    e->match_dst = r->dst.family != 0;
    e->family = r->src.family ? r->src.family : r->dst.family;
    e->proto = r->proto;
    e->side = r->side;
    e->action = r->action;
    e->sport_lo = r->sport_lo;
    e->sport_hi = r->sport_hi;
    e->dport_lo = r->dport_lo;
    e->dport_hi = r->dport_hi;
    e->icmp_type = r->icmp_type < 0 ? -1 : r->icmp_type;
    return 0;
}

struct classifier *classify_compile(const struct rule *rules, size_t n, char *err, size_t errlen)
{
    struct classifier *c;

    if (n > 0 && rules == NULL) {
        errf(err, errlen, "no rules given");
        return NULL;
    }
    if (n > (SIZE_MAX - sizeof(*c)) / sizeof(c->e[0])) {
        errf(err, errlen, "too many rules");
        return NULL;
    }
    c = malloc(sizeof(*c) + n * sizeof(c->e[0]));
    if (c == NULL) {
        errf(err, errlen, "out of memory");
        return NULL;
    }
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        if (compile_rule(&rules[i], &c->e[i], i, err, errlen) < 0) {
            free(c);
            return NULL;
        }
    }
    return c;
}

void classify_free(struct classifier *c)
{
    free(c);
}

size_t classify_count(const struct classifier *c)
{
    return c != NULL ? c->n : 0;
}

static bool addr_match(const uint8_t addr[16], const uint64_t net[2], const uint64_t mask[2])
{
    uint64_t a[2];

    memcpy(a, addr, 16);
    return (a[0] & mask[0]) == net[0] && (a[1] & mask[1]) == net[1];
}

/* First-match scan over the compiled rules: family, protocol, side, addresses, then ports (TCP and
 * UDP packets only) and the ICMP type (rules that name one need a packet that has one). */
int classify_match(const struct classifier *c, const struct pkt_l4 *t, int side, int icmp_type,
                   int *action)
{
    bool ports;

    if (action != NULL)
        *action = RULE_DENY;
    if (c == NULL || t == NULL)
        return -1;
    ports = t->proto == PKT_IPPROTO_TCP || t->proto == PKT_IPPROTO_UDP;
    for (size_t i = 0; i < c->n; i++) {
        const struct centry *e = &c->e[i];

        if (e->family != 0 && e->family != t->family)
            continue;
        if (e->proto != RULE_PROTO_ANY && e->proto != t->proto)
            continue;
        if (e->side != RULE_SIDE_ANY && e->side != side)
            continue;
        if (e->match_src && !addr_match(t->src, e->src_net, e->src_mask))
            continue;
        if (e->match_dst && !addr_match(t->dst, e->dst_net, e->dst_mask))
            continue;
        if (ports && (t->sport < e->sport_lo || t->sport > e->sport_hi || t->dport < e->dport_lo ||
                      t->dport > e->dport_hi))
            continue;
        if (e->icmp_type >= 0 && e->icmp_type != icmp_type)
            continue;
        if (action != NULL)
            *action = e->action;
        return (int)i;
    }
    return -1;
}
