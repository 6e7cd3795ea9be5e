/* forward.c: egress through raw IP sockets (live) or into a capture file (offline), and the
 * gateway's ARP and neighbour-discovery replies. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "forward.h"

/* Live egress is batched: packets are copied into a queue per side and family and leave in one
 * sendmmsg per queue when it fills or when the caller flushes (once per batch of captured frames
 * and before the event loop blocks). Larger packets than a slot leave at once, after the queue. */
#define TXQ_LEN  64
#define TXQ_SLOT 2048

struct txq {
    int fd;
    unsigned n;
    struct mmsghdr mm[TXQ_LEN];
    struct iovec iov[TXQ_LEN];
    struct sockaddr_storage to[TXQ_LEN];
    uint8_t slot[TXQ_LEN][TXQ_SLOT];
};

struct forward_ops {
    int (*send_ip)(struct forward *f, int out, const struct pkt *p, const uint8_t *hdr,
                   size_t hdrlen, uint64_t ts_ns, char *err, size_t errlen);
    int (*send_frame)(struct forward *f, int side, const uint8_t *frame, size_t len, uint64_t ts_ns,
                      char *err, size_t errlen);
};

struct forward {
    const struct forward_ops *ops;
    int fd4[2], fd6[2];        /* live: raw sockets per side */
    struct capture *cap[2];    /* live: for frames */
    struct txq *txq[2][2];     /* live: [side][0: IPv4, 1: IPv6] */
    unsigned failed;           /* live: queued packets whose send failed, since the last flush */
    char txerr[128];           /* live: the last such failure */
    struct capture_dump *dump; /* file: output, may be NULL */
    uint8_t buf[65536 + 64];   /* file: a frame being assembled */
};

/* ---- live ---- */

/* Fills *ss with p's destination; returns its length. */
static socklen_t dest_of(const struct pkt *p, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (p->l4.family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, p->l4.dst, 4);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, p->l4.dst, 16);
    return sizeof(*sin6);
}

/* Sends what q holds; a message the kernel refuses is counted as failed and skipped. */
static void txq_flush(struct forward *f, struct txq *q)
{
    unsigned off = 0;
    while (off < q->n) {
        int k = sendmmsg(q->fd, q->mm + off, q->n - off, MSG_DONTWAIT);
        if (k > 0) {
            off += (unsigned)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        snprintf(f->txerr, sizeof(f->txerr), "send: %s", k < 0 ? strerror(errno) : "nothing sent");
        f->failed++;
        off++;
    }
    q->n = 0;
}

static int live_send_ip(struct forward *f, int out, const struct pkt *p, const uint8_t *hdr,
                        size_t hdrlen, uint64_t ts_ns, char *err, size_t errlen)
{
    (void)ts_ns;
    struct txq *q = f->txq[out][p->l4.family == 4 ? 0 : 1];
    const uint8_t *rest = p->frame + p->l3_off + hdrlen;
    size_t restlen = p->l3_len - hdrlen;
    if (p->l3_len > TXQ_SLOT) { /* a jumbo frame: after what is queued, on its own */
        txq_flush(f, q);
        struct sockaddr_storage ss;
        struct iovec iov[2] = {{(void *)(uintptr_t)hdr, hdrlen},
                               {(void *)(uintptr_t)rest, restlen}};
        struct msghdr mh = {
            .msg_name = &ss, .msg_namelen = dest_of(p, &ss), .msg_iov = iov, .msg_iovlen = 2};
        if (sendmsg(q->fd, &mh, MSG_DONTWAIT) < 0) {
            int e = errno;
            snprintf(err, errlen, "send: %s", strerror(e));
            return -1;
        }
        return 0;
    }
    unsigned i = q->n++;
    memcpy(q->slot[i], hdr, hdrlen);
    memcpy(q->slot[i] + hdrlen, rest, restlen);
    q->iov[i].iov_len = p->l3_len;
    q->mm[i].msg_hdr.msg_namelen = dest_of(p, &q->to[i]);
    if (q->n == TXQ_LEN)
        txq_flush(f, q);
    return 0;
}

static int live_send_frame(struct forward *f, int side, const uint8_t *frame, size_t len,
                           uint64_t ts_ns, char *err, size_t errlen)
{
    (void)ts_ns;
    return capture_inject(f->cap[side], frame, len, err, errlen);
}

static const struct forward_ops live_ops = {live_send_ip, live_send_frame};

/* Opens a raw socket of family bound to iface, header included. */
static int open_raw(int family, const char *iface, char *err, size_t errlen)
{
    int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "raw IPv%d socket: %s", family == AF_INET ? 4 : 6, strerror(e));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface)) != 0) {
        int e = errno;
        snprintf(err, errlen, "bind raw socket to %s: %s", iface, strerror(e));
        close(fd);
        return -1;
    }
    int one = 1;
    if (family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) != 0) {
        int e = errno;
        snprintf(err, errlen, "IP_HDRINCL: %s", strerror(e));
        close(fd);
        return -1;
    }
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)); /* best effort */
    return fd;
}

struct forward *forward_live_new(const char *const iface[2], struct capture *const cap[2],
                                 char *err, size_t errlen)
{
    struct forward *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->ops = &live_ops;
    for (int s = 0; s < 2; s++) {
        f->fd4[s] = f->fd6[s] = -1;
        f->cap[s] = cap[s];
    }
    for (int s = 0; s < 2; s++) {
        if ((f->fd4[s] = open_raw(AF_INET, iface[s], err, errlen)) < 0 ||
            (f->fd6[s] = open_raw(AF_INET6, iface[s], err, errlen)) < 0) {
            forward_free(f);
            return NULL;
        }
        for (int fam = 0; fam < 2; fam++) {
            struct txq *q = f->txq[s][fam] = calloc(1, sizeof(*q));
            if (!q) {
                snprintf(err, errlen, "out of memory");
                forward_free(f);
                return NULL;
            }
            q->fd = fam == 0 ? f->fd4[s] : f->fd6[s];
            for (unsigned i = 0; i < TXQ_LEN; i++) {
                q->iov[i].iov_base = q->slot[i];
                q->mm[i].msg_hdr.msg_iov = &q->iov[i];
                q->mm[i].msg_hdr.msg_iovlen = 1;
                q->mm[i].msg_hdr.msg_name = &q->to[i];
            }
        }
    }
    return f;
}

/* ---- file ---- */

/* Appends the packet to the capture file: the original link-layer header, the rewritten start
 * of the IP header, the rest. Out of line: a run without -w pays only for the test below. */
static __attribute__((noinline)) void file_write_ip(struct forward *f, const struct pkt *p,
                                                    const uint8_t *hdr, size_t hdrlen,
                                                    uint64_t ts_ns)
{
    size_t n = p->l3_off;
    memcpy(f->buf, p->frame, n);
    memcpy(f->buf + n, hdr, hdrlen);
    memcpy(f->buf + n + hdrlen, p->frame + p->l3_off + hdrlen, p->l3_len - hdrlen);
    capture_dump_write(f->dump, f->buf, (uint32_t)(n + p->l3_len), ts_ns);
}

static int file_send_ip(struct forward *f, int out, const struct pkt *p, const uint8_t *hdr,
                        size_t hdrlen, uint64_t ts_ns, char *err, size_t errlen)
{
    (void)out, (void)err, (void)errlen;
    if (f->dump)
        file_write_ip(f, p, hdr, hdrlen, ts_ns);
    return 0;
}

static int file_send_frame(struct forward *f, int side, const uint8_t *frame, size_t len,
                           uint64_t ts_ns, char *err, size_t errlen)
{
    (void)side, (void)err, (void)errlen;
    if (f->dump)
        capture_dump_write(f->dump, frame, (uint32_t)len, ts_ns);
    return 0;
}

static const struct forward_ops file_ops = {file_send_ip, file_send_frame};

struct forward *forward_file_new(struct capture_dump *dump, char *err, size_t errlen)
{
    struct forward *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->ops = &file_ops;
    f->dump = dump;
    for (int s = 0; s < 2; s++)
        f->fd4[s] = f->fd6[s] = -1;
    return f;
}

void forward_free(struct forward *f)
{
    if (!f)
        return;
    for (int s = 0; s < 2; s++) {
        free(f->txq[s][0]);
        free(f->txq[s][1]);
        if (f->fd4[s] >= 0)
            close(f->fd4[s]);
        if (f->fd6[s] >= 0)
            close(f->fd6[s]);
    }
    free(f);
}

int forward_ip(struct forward *f, int out, const struct pkt *p, const uint8_t *hdr, size_t hdrlen,
               uint64_t ts_ns, char *err, size_t errlen)
{
    return f->ops->send_ip(f, out, p, hdr, hdrlen, ts_ns, err, errlen);
}

unsigned forward_flush(struct forward *f, char *err, size_t errlen)
{
    for (int s = 0; s < 2; s++)
        for (int fam = 0; fam < 2; fam++)
            if (f->txq[s][fam] && f->txq[s][fam]->n)
                txq_flush(f, f->txq[s][fam]);
    unsigned failed = f->failed;
    if (failed)
        snprintf(err, errlen, "%s", f->txerr);
    f->failed = 0;
    return failed;
}

int forward_frame(struct forward *f, int side, const uint8_t *frame, size_t len, uint64_t ts_ns,
                  char *err, size_t errlen)
{
    return f->ops->send_frame(f, side, frame, len, ts_ns, err, errlen);
}

/* ---- gateway replies ---- */

size_t forward_build_arp_reply(uint8_t *b, const struct pkt *req, const uint8_t vmac[6],
                               const uint8_t src_mac[6])
{
    memcpy(b, req->arp_sha, 6); /* to the asker */
    memcpy(b + 6, src_mac, 6);  /* from the worker's own port: the virtual MAC is never a source */
    b[12] = 0x08, b[13] = 0x06;
    static const uint8_t arp_hdr[8] = {0, 1, 8, 0, 6, 4, 0, 2}; /* Ethernet, IPv4, reply */
    memcpy(b + 14, arp_hdr, 8);
    memcpy(b + 22, vmac, 6);         /* sender hardware: the virtual MAC */
    memcpy(b + 28, req->arp_tpa, 4); /* sender protocol: the gateway address asked for */
    memcpy(b + 32, req->arp_sha, 6); /* target: the asker */
    memcpy(b + 38, req->arp_spa, 4);
    return 42;
}

size_t forward_build_nd_advert(uint8_t *b, const struct pkt *req, const uint8_t vip6[16],
                               const uint8_t vmac[6], const uint8_t src_mac[6])
{
    static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t unspec[16];
    int dad = memcmp(req->l4.src, unspec, 16) == 0; /* duplicate address detection probe */
    const uint8_t *dst = dad ? all_nodes : req->l4.src;

    if (dad) {
        static const uint8_t mc[6] = {0x33, 0x33, 0, 0, 0, 1};
        memcpy(b, mc, 6);
    } else {
        memcpy(b, req->eth_src, 6);
    }
    memcpy(b + 6, src_mac, 6);
    b[12] = 0x86, b[13] = 0xdd;
    uint8_t *ip = b + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[5] = 32;  /* payload: ICMPv6 header 4 + flags 4 + target 16 + option 8 */
    ip[6] = 58;  /* ICMPv6 */
    ip[7] = 255; /* hop limit: ND requires 255 */
    memcpy(ip + 8, vip6, 16);
    memcpy(ip + 24, dst, 16);
    uint8_t *icmp = ip + 40;
    memset(icmp, 0, 32);
    icmp[0] = 136;                                       /* neighbour advertisement */
    icmp[4] = (uint8_t)(0x80 | (dad ? 0 : 0x40) | 0x20); /* router, solicited, override */
    memcpy(icmp + 8, vip6, 16);
    icmp[24] = 2; /* target link-layer address option */
    icmp[25] = 1;
    memcpy(icmp + 26, vmac, 6);
    /* checksum over the pseudo-header and the message */
    uint32_t sum = pkt_csum_add(0, ip + 8, 32);
    uint8_t ph[8] = {0, 0, 0, 32, 0, 0, 0, 58};
    sum = pkt_csum_add(sum, ph, 8);
    sum = pkt_csum_add(sum, icmp, 32);
    uint16_t c = pkt_csum_fold(sum);
    icmp[2] = (uint8_t)(c >> 8);
    icmp[3] = (uint8_t)c;
    return 14 + 40 + 32;
}
