/* packet.h: bounds-checked parser for the frames the worker sees.
 *
 * Ethernet (+ one or two 802.1Q tags), ARP, IPv4 (options), IPv6 (extension headers), TCP
 * (options), UDP, ICMP, ICMPv6. pkt_parse() never reads outside [frame, frame + len) and never
 * writes the frame; a frame it cannot trust gets a drop reason. The parser is pure: no allocation,
 * no I/O, no globals. */
#ifndef FW_PACKET_H
#define FW_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a frame was not accepted by the parser. PKT_OK is 0; every other value is one drop counter.
 */
enum pkt_drop {
    PKT_OK = 0,
    PKT_ERR_ETH_SHORT,    /* shorter than an Ethernet header */
    PKT_ERR_VLAN_SHORT,   /* truncated 802.1Q tag */
    PKT_ERR_ETHERTYPE,    /* not ARP, IPv4 or IPv6 */
    PKT_ERR_ARP_SHORT,    /* truncated ARP */
    PKT_ERR_ARP_FORMAT,   /* ARP that is not Ethernet/IPv4 */
    PKT_ERR_IP4_SHORT,    /* truncated IPv4 header */
    PKT_ERR_IP4_VERSION,  /* version field is not 4 */
    PKT_ERR_IP4_IHL,      /* IHL < 5 or header past the frame */
    PKT_ERR_IP4_TOTLEN,   /* total length < IHL or past the frame */
    PKT_ERR_IP4_CSUM,     /* bad header checksum */
    PKT_ERR_IP4_OPTIONS,  /* malformed option list */
    PKT_ERR_IP4_FRAGMENT, /* fragment (no reassembly: dropped) */
    PKT_ERR_IP6_SHORT,    /* truncated IPv6 header */
    PKT_ERR_IP6_VERSION,  /* version field is not 6 */
    PKT_ERR_IP6_PAYLEN,   /* payload length past the frame (or jumbo) */
    PKT_ERR_IP6_EXTHDR,   /* truncated or too many extension headers */
    PKT_ERR_IP6_FRAGMENT, /* fragment header (no reassembly: dropped) */
    PKT_ERR_L4_PROTO,     /* transport protocol the firewall does not handle */
    PKT_ERR_TCP_SHORT,    /* truncated TCP header */
    PKT_ERR_TCP_DOFF,     /* data offset < 5 or past the segment */
    PKT_ERR_TCP_OPTIONS,  /* malformed option list */
    PKT_ERR_UDP_SHORT,    /* truncated UDP header */
    PKT_ERR_UDP_LEN,      /* UDP length < 8 or past the datagram */
    PKT_ERR_ICMP_SHORT,   /* truncated ICMP / ICMPv6 header */
    PKT_ERR_ICMP_INNER,   /* ICMP error whose quoted packet cannot be parsed */
    PKT_ERR_ND_FORMAT,    /* malformed neighbour solicitation / advertisement */
    PKT_ERR_L4_CSUM,      /* bad TCP/UDP/ICMP checksum (only from pkt_l4_csum_ok callers) */
    PKT_DROP_MAX
};

/* TCP flag bits as on the wire. */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20
#define TCPF_ECE 0x40
#define TCPF_CWR 0x80

#define PKT_ETH_ARP  0x0806
#define PKT_ETH_IPV4 0x0800
#define PKT_ETH_IPV6 0x86dd

#define PKT_IPPROTO_ICMP   1
#define PKT_IPPROTO_TCP    6
#define PKT_IPPROTO_UDP    17
#define PKT_IPPROTO_ICMPV6 58

/* The transport header of the packet quoted inside an ICMP error (or the packet itself). */
struct pkt_l4 {
    uint8_t family;  /* 4 or 6 */
    uint8_t proto;   /* PKT_IPPROTO_* */
    uint8_t src[16]; /* IPv4 in the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport; /* host order; ICMP echo: the identifier; other ICMP: 0 */
    uint16_t dport; /* host order; ICMP echo: the identifier; other ICMP: 0 */
};

struct pkt {
    const uint8_t *frame; /* the frame, not owned */
    uint32_t len;         /* captured length */
    uint8_t eth_dst[6];
    uint8_t eth_src[6];
    uint16_t vlan;        /* outer VLAN id, 0 when untagged */
    uint16_t ethertype;   /* after the VLAN tags, host order */
    uint32_t l3_off;      /* offset of the IP (or ARP) header in frame */
    uint32_t l3_len;      /* IP: header + payload by the header's length fields; <= len - l3_off */
    uint32_t l4_off;      /* offset of the transport header in frame */
    uint32_t l4_len;      /* transport header + payload */
    uint32_t payload_off; /* offset of the transport payload */
    uint32_t payload_len; /* transport payload bytes (TCP: segment length without SYN/FIN) */
    uint8_t ttl;          /* IPv4 TTL or IPv6 hop limit */
    uint8_t ttl_off;      /* offset of the TTL / hop-limit byte from l3_off */
    struct pkt_l4 l4;     /* family, proto, addresses, ports of this packet */

    /* TCP */
    uint8_t tcp_flags;
    uint32_t seq, ack; /* host order */
    uint16_t win;      /* host order, unscaled */
    uint8_t wscale;    /* window scale option (capped at 14), 0xff when absent; 0 if not TCP */
    bool sack_perm;    /* SACK permitted option present */
    uint16_t mss;      /* MSS option, 0 when absent */

    /* ICMP / ICMPv6 */
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;   /* echo request / reply identifier */
    bool icmp_is_echo;  /* echo request or reply */
    bool icmp_is_error; /* destination unreachable, time exceeded, parameter problem, ... */
    /* icmp_is_error only (unset otherwise): */
    struct pkt_l4 inner; /* the quoted packet's tuple (as sent: src is the origin) */
    uint32_t inner_seq;  /* inner.proto == TCP: quoted sequence number, else 0 */

    /* ARP (ethertype PKT_ETH_ARP); unset for other frames */
    uint16_t arp_op; /* 1 request, 2 reply */
    uint8_t arp_sha[6];
    uint8_t arp_spa[4];
    uint8_t arp_tpa[4];

    /* ICMPv6 neighbour discovery: type 135 (solicitation) or 136 (advertisement) */
    bool is_nd;
    uint8_t nd_target[16]; /* is_nd: the target address; unset otherwise */
};

/* Parses frame[0 .. len) into p. Returns PKT_OK or the reason the frame must be dropped.
 * Checks the IPv4 header checksum; transport checksums are left to pkt_l4_csum_ok().
 * On PKT_OK every field that does not apply to the frame is 0, except the ones marked "unset"
 * above (inner and inner_seq, the ARP fields, nd_target), which are written only for the frames
 * they describe: read them only after checking icmp_is_error, ethertype or is_nd. (Most frames
 * are thus spared clearing the whole struct.) On a drop, p holds no defined values. */
enum pkt_drop pkt_parse(const uint8_t *frame, uint32_t len, struct pkt *p);

/* True when the TCP/UDP/ICMP/ICMPv6 checksum of a parsed packet is right (UDP over IPv4 with
 * checksum 0 is right; over IPv6 it is not). p must be a packet pkt_parse() accepted; frames
 * without a transport checksum (ARP) are right. */
bool pkt_l4_csum_ok(const struct pkt *p);

/* Short, stable name of a drop reason, for counters: "ip4_ihl", "tcp_doff", ... */
const char *pkt_drop_name(enum pkt_drop reason);

/* Internet checksum helpers (RFC 1071), shared by the parser and the egress path.
 * pkt_csum_add() adds data to a running sum (start with 0) of big-endian 16-bit words and returns
 * it folded to 16 bits; when chaining calls, only the last block may have an odd length.
 * pkt_csum_fold() folds and complements: the value to store, big-endian, in a checksum field (zero
 * the field first), or 0 when the summed block holds a correct checksum. */
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t pkt_csum_fold(uint32_t sum);

#endif
