/* flow.h: the canonical key of a connection and the hashes on it.
 *
 * A key is direction-free: both directions of a connection give the same key. The bucket hash is
 * symmetric and is the same function the kernel capture filter computes in classic BPF, so the
 * bucket a worker computes for a packet is the bucket the filter let through. */
#ifndef FW_FLOW_H
#define FW_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "packet.h"

struct flow_key {
    uint8_t family;  /* 4 or 6 */
    uint8_t proto;   /* PKT_IPPROTO_* */
    uint16_t pad;    /* always 0, so keys compare with memcmp */
    uint8_t a[16];   /* the lower (address, port) endpoint */
    uint8_t b[16];   /* the higher endpoint */
    uint16_t pa, pb; /* ports (ICMP echo: the identifier on both), host order */
};

/* Builds the key of a parsed IP packet. For an ICMP error, the key of the connection it quotes.
 * *src_is_a is set to true when the packet's source (for ICMP errors: the quoted packet's source)
 * is endpoint a. Returns 0, or -1 for packets that have no flow (ARP, ND, other ICMP). */
int flow_key_from_pkt(const struct pkt *p, struct flow_key *k, bool *src_is_a);

/* Same, from a bare tuple. */
void flow_key_from_l4(const struct pkt_l4 *t, struct flow_key *k, bool *src_is_a);

/* The symmetric steering hash, as the capture filter computes it:
 *   IPv4 TCP/UDP: saddr ^ daddr ^ sport ^ dport (32-bit words, ports as 16-bit values)
 *   IPv4 other:   saddr ^ daddr
 *   IPv6:         the xor of the eight 32-bit words of both addresses (^ ports for TCP/UDP)
 * The bucket is flow_bucket(hash, nbuckets) = hash & (nbuckets - 1), nbuckets a power of two. */
uint32_t flow_steer_hash(const struct pkt_l4 *t);
static inline uint32_t flow_bucket(uint32_t hash, uint32_t nbuckets)
{
    return hash & (nbuckets - 1);
}

/* A well-mixed hash of a key, for the connection table. */
uint32_t flow_key_hash(const struct flow_key *k);

static inline bool flow_key_eq(const struct flow_key *x, const struct flow_key *y)
{
    return memcmp(x, y, sizeof(*x)) == 0;
}

/* Formats "tcp 10.10.1.10:40000 10.10.2.10:80" (IPv6 in brackets); returns the length. */
int flow_key_format(const struct flow_key *k, char *buf, int len);

#endif
