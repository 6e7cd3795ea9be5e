/* flow.c: the BPF-compatible steering hash and key formatting (the canonical key and the table
 * hash are inline in flow.h: they run for every packet). */
#include <arpa/inet.h>
#include <stdio.h>

#include "flow.h"

/* Xor of the address words (and of the ports for TCP/UDP): what the capture filter computes, e.g.
 * ip[12:4] ^ ip[16:4] ^ tcp[0:2] ^ tcp[2:2] for IPv4 TCP. Symmetric because xor is. */
uint32_t flow_steer_hash(const struct pkt_l4 *t)
{
    uint32_t h = 0;
    int words = t->family == 4 ? 1 : 4;

    for (int i = 0; i < words; i++)
        h ^= flow_rd32(t->src + 4 * i) ^ flow_rd32(t->dst + 4 * i);
    if (t->proto == PKT_IPPROTO_TCP || t->proto == PKT_IPPROTO_UDP)
        h ^= (uint32_t)t->sport ^ t->dport;
    return h;
}

/* "tcp 10.10.1.10:40000 10.10.2.10:80", "udp [fd00::1]:53 [fd00::2]:40000",
 * "icmp 10.10.1.10 10.10.2.10 id 7". Returns what snprintf returns (the untruncated length). */
int flow_key_format(const struct flow_key *k, char *buf, int len)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int af = k->family == 4 ? AF_INET : AF_INET6;
    size_t n = len > 0 ? (size_t)len : 0;

    inet_ntop(af, k->a, a, sizeof(a)); /* cannot fail: known family, buffers large enough */
    inet_ntop(af, k->b, b, sizeof(b));
    switch (k->proto) {
    case PKT_IPPROTO_TCP:
    case PKT_IPPROTO_UDP:
        if (af == AF_INET)
            return snprintf(buf, n, "%s %s:%u %s:%u", k->proto == PKT_IPPROTO_TCP ? "tcp" : "udp",
                            a, k->pa, b, k->pb);
        return snprintf(buf, n, "%s [%s]:%u [%s]:%u", k->proto == PKT_IPPROTO_TCP ? "tcp" : "udp",
                        a, k->pa, b, k->pb);
    case PKT_IPPROTO_ICMP:
    case PKT_IPPROTO_ICMPV6:
        return snprintf(buf, n, "%s %s %s id %u", k->proto == PKT_IPPROTO_ICMP ? "icmp" : "icmpv6",
                        a, b, k->pa);
    }
    return snprintf(buf, n, "proto %u %s %s", k->proto, a, b);
}
