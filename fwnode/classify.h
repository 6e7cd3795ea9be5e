/* classify.h: the compiled rule matcher.
 *
 * Rules are compiled once into masks and ranges so that matching a packet is a scan of integer
 * compares with no parsing; first match wins, no match means deny. */
#ifndef FW_CLASSIFY_H
#define FW_CLASSIFY_H

#include <stddef.h>

#include "packet.h"
#include "rule.h"

struct classifier;

/* Compiles rules (copied). Returns NULL with err set on failure. The caller frees with
 * classify_free(). */
struct classifier *classify_compile(const struct rule *rules, size_t n, char *err, size_t errlen);
void classify_free(struct classifier *c);

/* Matches the first packet of a connection that arrived on side (RULE_SIDE_A or RULE_SIDE_B).
 * Returns the index of the first matching rule, or -1 when none matches (default deny).
 * *action is set to the matching rule's action, RULE_DENY when none matches. */
int classify_match(const struct classifier *c, const struct pkt_l4 *t, int side, int icmp_type,
                   int *action);

size_t classify_count(const struct classifier *c);

#endif
