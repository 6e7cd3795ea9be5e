/* flow.h: the canonical key of a connection and the hashes on it.
 *
 * A key is direction-free: both directions of a connection give the same key. The bucket hash is
 * symmetric and is the same function the kernel capture filter computes in classic BPF, so the
 * bucket a worker computes for a packet is the bucket the filter let through. */
#ifndef FW_FLOW_H
#define FW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
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

_Static_assert(offsetof(struct flow_key, proto) == 1 && offsetof(struct pkt_l4, proto) == 1,
               "family and proto are the first two bytes of a key and of a tuple");

/* Key building and hashing are expanded into their caller even when it has several: they run for
 * every packet. */
#if defined(__GNUC__)
#define FLOW_INLINE inline __attribute__((always_inline))
#else
#define FLOW_INLINE inline
#endif

/* Big-endian loads, to compare addresses as numbers (memcmp order) without a libc call. */
static inline uint32_t flow_rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t flow_rd64(const uint8_t *b)
{
    return (uint64_t)flow_rd32(b) << 32 | flow_rd32(b + 4);
}

/* Builds the key of a bare tuple: the lower (address, port) endpoint becomes a (addresses compare
 * as big-endian numbers, then ports). Only the address bytes of the family are copied, so the rest
 * of the key stays zero whatever the tuple holds there. *src_is_a is set to true when the tuple's
 * source is endpoint a. Inline, as flow_key_from_pkt and flow_key_hash: the per-packet path builds
 * the key and hashes it without a call. */
static FLOW_INLINE void flow_key_from_l4(const struct pkt_l4 *t, struct flow_key *k, bool *src_is_a)
{
    bool v4 = t->family == 4, s;

    if (v4) {
        uint32_t x = flow_rd32(t->src), y = flow_rd32(t->dst);
        s = x < y || (x == y && t->sport <= t->dport);
    } else {
        uint64_t x = flow_rd64(t->src), y = flow_rd64(t->dst);
        if (x == y) {
            x = flow_rd64(t->src + 8);
            y = flow_rd64(t->dst + 8);
        }
        s = x < y || (x == y && t->sport <= t->dport);
    }
    memset(k, 0, sizeof(*k));
    memcpy(k, t, 2); /* family, proto */
    if (v4) {
        memcpy(k->a, s ? t->src : t->dst, 4);
        memcpy(k->b, s ? t->dst : t->src, 4);
    } else {
        memcpy(k->a, s ? t->src : t->dst, 16);
        memcpy(k->b, s ? t->dst : t->src, 16);
    }
    k->pa = s ? t->sport : t->dport;
    k->pb = s ? t->dport : t->sport;
    *src_is_a = s;
}

/* Builds the key of a parsed IP packet. For an ICMP error, the key of the connection it quotes:
 * TCP, UDP and ICMP echo use the packet's own tuple; an ICMP error uses the packet it quotes, so it
 * finds the connection that caused it. *src_is_a is set to true when the packet's source (for ICMP
 * errors: the quoted packet's source) is endpoint a. Returns 0, or -1 for packets that have no
 * flow (ARP, ND, other ICMP), with a zero key and *src_is_a false: the outputs are always written,
 * so that a caller that inlines this never sees them maybe uninitialised. */
static FLOW_INLINE int flow_key_from_pkt(const struct pkt *p, struct flow_key *k, bool *src_is_a)
{
    const struct pkt_l4 *t = &p->l4;

    if (p->ethertype == PKT_ETH_ARP || p->l4.family == 0 || p->is_nd)
        goto none;
    switch (t->proto) {
    case PKT_IPPROTO_ICMP:
    case PKT_IPPROTO_ICMPV6:
        if (p->icmp_is_error)
            t = &p->inner;
        else if (!p->icmp_is_echo)
            goto none;
        break;
    }
    flow_key_from_l4(t, k, src_is_a);
    return 0;
none:
    memset(k, 0, sizeof(*k));
    *src_is_a = false;
    return -1;
}

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

/* A well-mixed hash of a key, for the connection table: each of the five 64-bit words of the key
 * times its own odd constant, summed (independent multiplies, no chain), then a xor-shift and a
 * multiply whose high half is the result, so that every key bit reaches the low bits the table
 * masks with. Inline: the pipeline hashes the key it has just built. */
static FLOW_INLINE uint32_t flow_key_hash(const struct flow_key *k)
{
    _Static_assert(sizeof(struct flow_key) == 40, "flow_key must be five 64-bit words");
    const unsigned char *b = (const unsigned char *)k;
    uint64_t w0, w1, w2, w3, w4, h;

    memcpy(&w0, b, 8);
    memcpy(&w1, b + 8, 8);
    memcpy(&w2, b + 16, 8);
    memcpy(&w3, b + 24, 8);
    memcpy(&w4, b + 32, 8);
    h = w0 * 0x9e3779b97f4a7c15ull + w1 * 0xc2b2ae3d27d4eb4full + w2 * 0x165667b19e3779f9ull +
        w3 * 0xd6e8feb86659fd93ull + w4 * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h *= 0xc4ceb9fe1a85ec53ull;
    return (uint32_t)(h >> 32);
}

static inline bool flow_key_eq(const struct flow_key *x, const struct flow_key *y)
{
    return memcmp(x, y, sizeof(*x)) == 0;
}

/* Formats "tcp 10.10.1.10:40000 10.10.2.10:80" (IPv6 in brackets); returns the length. */
int flow_key_format(const struct flow_key *k, char *buf, int len);

#endif
