/* rule.c: the rule model: strict parsing of the rule text, canonical formatting, rule sets. */
#include "rule.h"
#include "err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Words longer than this are cut in error messages. */
#define ERR_WORD_MAX 64

/* One whitespace-separated word of the rule text (not NUL-terminated). */
struct tok {
    const char *p;
    size_t n;
};

/* The protocol words, in the order they are tried. */
static const struct {
    const char *name;
    uint8_t proto;
} protos[] = {
    {"any", RULE_PROTO_ANY}, {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58},
};

#define N_PROTOS (sizeof(protos) / sizeof(protos[0]))

/* The words that start a clause; a second word that is none of these names the protocol. */
static const char *const clause_words[] = {"on", "from", "to", "port", "type"};

/* Length of a word as printed in an error message. */
static int tlen(const struct tok *t)
{
    return t->n > ERR_WORD_MAX ? ERR_WORD_MAX : (int)t->n;
}

/* Reads the next word at *cur into t. Returns false at the end of the text. */
static bool next_tok(const char **cur, struct tok *t)
{
    const char *s = *cur;

    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    t->p = s;
    while (*s != '\0' && !isspace((unsigned char)*s))
        s++;
    t->n = (size_t)(s - t->p);
    *cur = s;
    return t->n > 0;
}

/* Keywords are matched without regard to case. */
static bool tok_is(const struct tok *t, const char *word)
{
    return strlen(word) == t->n && strncasecmp(t->p, word, t->n) == 0;
}

static bool tok_is_clause(const struct tok *t)
{
    for (size_t i = 0; i < sizeof(clause_words) / sizeof(clause_words[0]); i++)
        if (tok_is(t, clause_words[i]))
            return true;
    return false;
}

static int proto_lookup(const struct tok *t)
{
    for (size_t i = 0; i < N_PROTOS; i++)
        if (tok_is(t, protos[i].name))
            return protos[i].proto;
    return -1;
}

static const char *proto_name(uint8_t proto)
{
    for (size_t i = 0; i < N_PROTOS; i++)
        if (protos[i].proto == proto)
            return protos[i].name;
    return NULL;
}

/* Parses a decimal number of at most 5 digits (no sign, no spaces) that is <= max. */
static bool parse_uint(const char *p, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Parses "any", an IPv4 or IPv6 address, with an optional /len. A bare address is a host (/32 or
 * /128). Host bits below the prefix must be zero. */
static int parse_addr(const struct tok *t, struct rule_addr *a, char *err, size_t errlen)
{
    char buf[64];
    char *slash;
    unsigned plen, max;

    memset(a, 0, sizeof(*a));
    if (tok_is(t, "any"))
        return 0;
    if (t->n >= sizeof(buf))
        return errf(err, errlen, "bad address '%.*s'", tlen(t), t->p);
    memcpy(buf, t->p, t->n);
    buf[t->n] = '\0';

    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    if (strchr(buf, ':') != NULL) {
        if (inet_pton(AF_INET6, buf, a->addr) != 1)
            return errf(err, errlen, "bad IPv6 address '%s'", buf);
        a->family = 6;
        max = 128;
    } else {
        if (inet_pton(AF_INET, buf, a->addr) != 1)
            return errf(err, errlen, "bad IPv4 address '%s'", buf);
        a->family = 4;
        max = 32;
    }
    plen = max;
    if (slash != NULL) {
        *slash = '/';
        if (!parse_uint(slash + 1, strlen(slash + 1), 999, &plen))
            return errf(err, errlen, "bad prefix length in %s", buf);
        if (plen > max)
            return errf(err, errlen, "prefix too long in %s (at most /%u)", buf, max);
    }
    a->plen = (uint8_t)plen;
    for (unsigned bit = plen; bit < max; bit++)
        if (a->addr[bit / 8] & (0x80u >> (bit % 8)))
            return errf(err, errlen, "host bits set in %s", buf);
    return 0;
}

/* Parses "N" or "N-M" into lo..hi. */
static int parse_ports(const struct tok *t, uint16_t *lo, uint16_t *hi, char *err, size_t errlen)
{
    const char *dash = memchr(t->p, '-', t->n);
    unsigned a, b;

    if (dash == NULL) {
        if (!parse_uint(t->p, t->n, 65535, &a))
            return errf(err, errlen, "bad port '%.*s' (expected 0-65535)", tlen(t), t->p);
        *lo = *hi = (uint16_t)a;
        return 0;
    }
    if (!parse_uint(t->p, (size_t)(dash - t->p), 65535, &a) ||
        !parse_uint(dash + 1, t->n - (size_t)(dash - t->p) - 1, 65535, &b))
        return errf(err, errlen, "bad port range '%.*s' (expected N-M within 0-65535)", tlen(t),
                    t->p);
    if (a > b)
        return errf(err, errlen, "bad port range '%.*s': %u is above %u", tlen(t), t->p, a, b);
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}

static bool is_tcp_udp(uint8_t proto)
{
    return proto == 6 || proto == 17;
}

static bool is_icmp(uint8_t proto)
{
    return proto == 1 || proto == 58;
}

static const char *family_name(uint8_t family)
{
    return family == 6 ? "IPv6" : "IPv4";
}

/* Checks what the words alone cannot: protocol, families, ports and ICMP type fit together. */
static int check_rule(const struct rule *r, bool ports, bool type, char *err, size_t errlen)
{
    const char *pn = proto_name(r->proto);
    uint8_t fam = r->src.family ? r->src.family : r->dst.family;

    if (r->src.family && r->dst.family && r->src.family != r->dst.family)
        return errf(err, errlen, "source is %s but destination is %s", family_name(r->src.family),
                    family_name(r->dst.family));
    if (r->proto == 1 && fam == 6)
        return errf(err, errlen, "protocol icmp with an IPv6 address (use icmpv6)");
    if (r->proto == 58 && fam == 4)
        return errf(err, errlen, "protocol icmpv6 with an IPv4 address (use icmp)");
    if (ports && !is_tcp_udp(r->proto))
        return errf(err, errlen, "port given for protocol %s: ports need tcp or udp", pn);
    if (type && !is_icmp(r->proto))
        return errf(err, errlen, "type given for protocol %s: types need icmp or icmpv6", pn);
    return 0;
}

/* Parses an address clause's words after "from" / "to": ADDR [port PORTS]. */
static int parse_endpoint(const char **cur, const char *kw, struct rule_addr *a, uint16_t *lo,
                          uint16_t *hi, bool *ports, char *err, size_t errlen)
{
    struct tok t;
    const char *save;

    if (!next_tok(cur, &t))
        return errf(err, errlen, "'%s' needs an address (any, IPv4[/len] or IPv6[/len])", kw);
    if (parse_addr(&t, a, err, errlen) < 0)
        return -1;
    save = *cur;
    if (!next_tok(cur, &t) || !tok_is(&t, "port")) {
        *cur = save;
        return 0;
    }
    if (!next_tok(cur, &t))
        return errf(err, errlen, "'port' needs a port or a range (N or N-M)");
    if (parse_ports(&t, lo, hi, err, errlen) < 0)
        return -1;
    *ports = true;
    return 0;
}

/* Parses one rule (see the grammar in rule.h) strictly: every word must be known, every clause
 * appears at most once, addresses carry no host bits, and protocol, families, ports and ICMP type
 * must fit together. r is written only on success. */
int rule_parse(const char *text, struct rule *r, char *err, size_t errlen)
{
    struct rule nr;
    struct tok t;
    const char *cur = text != NULL ? text : "";
    bool seen_on = false, seen_from = false, seen_to = false, seen_type = false;
    bool ports = false;
    int p;

    memset(&nr, 0, sizeof(nr));
    nr.sport_hi = nr.dport_hi = 65535;
    nr.icmp_type = -1;

    if (!next_tok(&cur, &t))
        return errf(err, errlen, "empty rule");
    if (tok_is(&t, "allow"))
        nr.action = RULE_ALLOW;
    else if (tok_is(&t, "deny"))
        nr.action = RULE_DENY;
    else
        return errf(err, errlen, "unknown action '%.*s' (expected allow or deny)", tlen(&t), t.p);

    const char *save = cur;
    if (next_tok(&cur, &t)) {
        if (tok_is_clause(&t))
            cur = save;
        else if ((p = proto_lookup(&t)) < 0)
            return errf(err, errlen,
                        "unknown protocol '%.*s' (expected tcp, udp, icmp, icmpv6 or any)",
                        tlen(&t), t.p);
        else
            nr.proto = (uint8_t)p;
    }

    while (next_tok(&cur, &t)) {
        if (tok_is(&t, "on")) {
            if (seen_on)
                return errf(err, errlen, "'on' given twice");
            seen_on = true;
            if (!next_tok(&cur, &t))
                return errf(err, errlen, "'on' needs a side (a, b or any)");
            if (tok_is(&t, "a"))
                nr.side = RULE_SIDE_A;
            else if (tok_is(&t, "b"))
                nr.side = RULE_SIDE_B;
            else if (tok_is(&t, "any"))
                nr.side = RULE_SIDE_ANY;
            else
                return errf(err, errlen, "unknown side '%.*s' (expected a, b or any)", tlen(&t),
                            t.p);
        } else if (tok_is(&t, "from")) {
            if (seen_from)
                return errf(err, errlen, "'from' given twice");
            seen_from = true;
            if (parse_endpoint(&cur, "from", &nr.src, &nr.sport_lo, &nr.sport_hi, &ports, err,
                               errlen) < 0)
                return -1;
        } else if (tok_is(&t, "to")) {
            if (seen_to)
                return errf(err, errlen, "'to' given twice");
            seen_to = true;
            if (parse_endpoint(&cur, "to", &nr.dst, &nr.dport_lo, &nr.dport_hi, &ports, err,
                               errlen) < 0)
                return -1;
        } else if (tok_is(&t, "type")) {
            unsigned v;
            if (seen_type)
                return errf(err, errlen, "'type' given twice");
            seen_type = true;
            if (!next_tok(&cur, &t))
                return errf(err, errlen, "'type' needs an ICMP type (0-255)");
            if (!parse_uint(t.p, t.n, 255, &v))
                return errf(err, errlen, "bad icmp type '%.*s' (expected 0-255)", tlen(&t), t.p);
            nr.icmp_type = (int16_t)v;
        } else if (tok_is(&t, "port")) {
            return errf(err, errlen, "'port' must follow 'from ADDR' or 'to ADDR' (once each)");
        } else if (proto_lookup(&t) >= 0) {
            return errf(err, errlen, "protocol '%.*s' must come right after the action", tlen(&t),
                        t.p);
        } else {
            return errf(err, errlen, "unknown word '%.*s'", tlen(&t), t.p);
        }
    }

    if (check_rule(&nr, ports, seen_type, err, errlen) < 0)
        return -1;
    *r = nr;
    return 0;
}

/* snprintf at the end of what is already in buf; *pos counts what would have been written. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    char dummy[1];
    int n;

    va_start(ap, fmt);
    if (*pos < len)
        n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    else
        n = vsnprintf(dummy, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n;
}

/* Appends " from|to ADDR [port PORTS]" unless the endpoint is the default (any, all ports). */
static void format_endpoint(char *buf, size_t len, size_t *pos, const char *kw,
                            const struct rule_addr *a, uint16_t lo, uint16_t hi)
{
    char text[INET6_ADDRSTRLEN];
    bool all_ports = lo == 0 && hi == 65535;

    if (a->family == 0 && all_ports)
        return;
    if (a->family == 4 || a->family == 6) {
        int af = a->family == 4 ? AF_INET : AF_INET6;
        unsigned max = a->family == 4 ? 32 : 128;
        inet_ntop(af, a->addr, text, sizeof(text));
        if (a->plen == max)
            append(buf, len, pos, " %s %s", kw, text);
        else
            append(buf, len, pos, " %s %s/%u", kw, text, a->plen);
    } else {
        append(buf, len, pos, " %s any", kw);
    }
    if (all_ports)
        return;
    if (lo == hi)
        append(buf, len, pos, " port %u", lo);
    else
        append(buf, len, pos, " port %u-%u", lo, hi);
}

/* Formats r as canonical text: action and protocol always, then only the clauses that differ from
 * the defaults, in the grammar's order. */
int rule_format(const struct rule *r, char *buf, size_t len)
{
    size_t pos = 0;
    const char *pn = proto_name(r->proto);

    if (len > 0)
        buf[0] = '\0';
    append(buf, len, &pos, "%s", r->action == RULE_ALLOW ? "allow" : "deny");
    if (pn != NULL)
        append(buf, len, &pos, " %s", pn);
    else
        append(buf, len, &pos, " %u", r->proto); /* XXX: not parseable; only from a bad struct */
    if (r->side == RULE_SIDE_A || r->side == RULE_SIDE_B)
        append(buf, len, &pos, " on %s", r->side == RULE_SIDE_A ? "a" : "b");
    format_endpoint(buf, len, &pos, "from", &r->src, r->sport_lo, r->sport_hi);
    format_endpoint(buf, len, &pos, "to", &r->dst, r->dport_lo, r->dport_hi);
    if (r->icmp_type >= 0)
        append(buf, len, &pos, " type %d", r->icmp_type);
    return (int)pos;
}

int ruleset_add(struct ruleset *rs, const struct rule *r)
{
    struct rule *nr;

    /* The struct has no capacity field, so grow by one: rule sets are small and built once. */
    if (rs->n >= SIZE_MAX / sizeof(*nr) - 1)
        return -1;
    nr = realloc(rs->rules, (rs->n + 1) * sizeof(*nr));
    if (nr == NULL)
        return -1;
    nr[rs->n] = *r;
    rs->rules = nr;
    rs->n++;
    return 0;
}

void ruleset_free(struct ruleset *rs)
{
    if (rs == NULL)
        return;
    free(rs->rules);
    rs->rules = NULL;
    rs->n = 0;
}
