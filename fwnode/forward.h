/* forward.h: egress. Permitted packets leave through the other side; ARP and ND replies through the
 * side they answer.
 *
 * Two implementations behind one ops table: live (raw IP sockets, one per side and family, bound to
 * the side's interface; the kernel routes and resolves the next hop, forwarding stays off) and file
 * (offline mode: frames are appended to a capture file, or discarded). */
#ifndef FW_FORWARD_H
#define FW_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "packet.h"

struct forward;

/* Live egress on iface[0] (side A) and iface[1] (side B); frames (ARP / ND replies) are injected
 * through cap[side]. The captures are not owned. NULL with err set on failure. */
struct forward *forward_live_new(const char *const iface[2], struct capture *const cap[2],
                                 char *err, size_t errlen);

/* Offline egress: frames go to dump (not owned; NULL: discarded). */
struct forward *forward_file_new(struct capture_dump *dump, char *err, size_t errlen);

void forward_free(struct forward *f);

/* Sends the IP packet of p out of side out. hdr (hdrlen bytes) replaces the start of the IP header
 * (the caller decremented the TTL there). Live egress queues the packet (a copy): it leaves when
 * its queue fills or at the next forward_flush. Returns 0, or -1 with err set. */
int forward_ip(struct forward *f, int out, const struct pkt *p, const uint8_t *hdr, size_t hdrlen,
               uint64_t ts_ns, char *err, size_t errlen);

/* Sends every queued packet. Returns how many of the packets queued since the last flush the
 * kernel refused (err: the last reason), so the caller can count them as dropped. */
unsigned forward_flush(struct forward *f, char *err, size_t errlen);

/* Sends a whole Ethernet frame out of side. Returns 0, or -1 with err set. */
int forward_frame(struct forward *f, int side, const uint8_t *frame, size_t len, uint64_t ts_ns,
                  char *err, size_t errlen);

/* Builds the ARP reply to request req for the gateway address vip with MAC vmac, sent from src_mac.
 * Returns the frame length (42). */
size_t forward_build_arp_reply(uint8_t *buf, const struct pkt *req, const uint8_t vmac[6],
                               const uint8_t src_mac[6]);

/* Builds the neighbour advertisement answering solicitation req for vip6 with vmac, sent from
 * src_mac. Returns the frame length (86). */
size_t forward_build_nd_advert(uint8_t *buf, const struct pkt *req, const uint8_t vip6[16],
                               const uint8_t vmac[6], const uint8_t src_mac[6]);

#endif
