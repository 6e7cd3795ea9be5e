/* rule.h: the rule model. Ordered, first match wins, default deny.
 *
 * Text form, one rule per string (the form used in configuration files, env vars and Redis):
 *
 *   ACTION [PROTO] [on SIDE] [from ADDR [port PORTS]] [to ADDR [port PORTS]] [type ICMPTYPE]
 *
 *   ACTION   allow | deny
 *   PROTO    tcp | udp | icmp | icmpv6 | any            (default any)
 *   SIDE     a | b | any: the side the connection's first packet arrives on (default any)
 *   ADDR     any | IPv4[/len] | IPv6[/len]              (default any)
 *   PORTS    N | N-M                                    (tcp/udp only)
 *   ICMPTYPE N                                          (icmp/icmpv6 only: e.g. 8 or 128, echo
 * request)
 *
 * e.g. "allow tcp on a from 10.10.1.0/24 to 10.10.2.10 port 80". Rules match the first packet of a
 * connection; later packets follow the connection's state. */
#ifndef FW_RULE_H
#define FW_RULE_H

#include <stddef.h>
#include <stdint.h>

enum rule_action { RULE_DENY = 0, RULE_ALLOW = 1 };

enum rule_side { RULE_SIDE_ANY = 0, RULE_SIDE_A = 1, RULE_SIDE_B = 2 };

/* Protocol numbers as in IP; 0 means any. */
#define RULE_PROTO_ANY 0

struct rule_addr {
    uint8_t family;   /* 0 = any, 4 or 6 */
    uint8_t plen;     /* prefix length */
    uint8_t addr[16]; /* network address, host bits zero; IPv4 in the first 4 bytes */
};

struct rule {
    uint8_t action; /* enum rule_action */
    uint8_t proto;  /* RULE_PROTO_ANY, 1 icmp, 6 tcp, 17 udp, 58 icmpv6 */
    uint8_t side;   /* enum rule_side */
    struct rule_addr src, dst;
    uint16_t sport_lo, sport_hi; /* 0-65535 when not given */
    uint16_t dport_lo, dport_hi;
    int16_t icmp_type; /* -1 when not given */
};

/* Parses one rule. Returns 0, or -1 with a reason in err ("unknown protocol 'tcpp'"). */
int rule_parse(const char *text, struct rule *r, char *err, size_t errlen);

/* Formats a rule back to its canonical text (parse(format(r)) == r). Returns the length written
 * (truncated to len - 1 like snprintf). */
int rule_format(const struct rule *r, char *buf, size_t len);

/* A rule set: an array owned by whoever holds it. */
struct ruleset {
    struct rule *rules;
    size_t n;
};

/* Appends a copy of r; returns 0 or -1 on allocation failure. */
int ruleset_add(struct ruleset *rs, const struct rule *r);
void ruleset_free(struct ruleset *rs);

#endif
