/* capture.c: libpcap live capture, capture files and injection behind one small interface. */
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"

struct capture {
    pcap_t *p;
    int fd;           /* selectable descriptor, -1 for files */
    uint64_t unit_ns; /* nanoseconds per unit of ts.tv_usec: 1 (nanosecond timestamps) or 1000 */
    char iface[IFNAMSIZ];
    capture_cb cb; /* the callback of the dispatch in progress */
    void *arg;
};

struct capture_dump {
    pcap_t *dead;
    pcap_dumper_t *d;
};

/* Compiles and installs filter on c. */
static int set_filter(pcap_t *p, const char *filter, char *err, size_t errlen)
{
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "bad capture filter: %s", pcap_geterr(p));
        return -1;
    }
    int rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(err, errlen, "cannot set capture filter: %s", pcap_geterr(p));
        return -1;
    }
    return 0;
}

/* The MTU of iface, or -1. */
static int iface_mtu(const char *iface)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
    int rc = ioctl(fd, SIOCGIFMTU, &ifr);
    close(fd);
    return rc == 0 && ifr.ifr_mtu > 0 && ifr.ifr_mtu <= 65535 - 18 ? ifr.ifr_mtu : -1;
}

struct capture *capture_open_live(const char *iface, const char *filter, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct capture *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(c->iface, sizeof(c->iface), "%s", iface);
    c->p = pcap_create(iface, ebuf);
    if (!c->p) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        goto fail;
    }
    /* The ring's slots are as large as the snapshot length: a whole frame at the interface's
     * MTU (and a VLAN tag), not 64 KiB, so the same buffer holds ~30x more frames for bursts.
     * A larger frame (offloads left on) arrives truncated and the parser drops it, counted. */
    int mtu = iface_mtu(iface);
    pcap_set_snaplen(c->p, mtu > 0 ? mtu + 18 : 65535);
    pcap_set_promisc(c->p, 1);
    pcap_set_immediate_mode(c->p, 1);
    pcap_set_buffer_size(c->p, 8 << 20);
    c->unit_ns = pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_NANO) == 0 ? 1 : 1000;
    int rc = pcap_activate(c->p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", iface, pcap_geterr(c->p));
        goto fail;
    }
    if (pcap_datalink(c->p) != DLT_EN10MB) {
        snprintf(err, errlen, "%s: not an Ethernet interface", iface);
        goto fail;
    }
    if (pcap_setdirection(c->p, PCAP_D_IN) != 0) {
        snprintf(err, errlen, "%s: cannot capture inbound only: %s", iface, pcap_geterr(c->p));
        goto fail;
    }
#ifdef PACKET_IGNORE_OUTGOING
    /* The worker's own egress is not even copied into the ring (best effort: libpcap drops
     * outgoing frames itself where the kernel cannot). */
    int one = 1;
    setsockopt(pcap_fileno(c->p), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
    if (pcap_setnonblock(c->p, 1, ebuf) != 0) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        goto fail;
    }
    if (filter && set_filter(c->p, filter, err, errlen) != 0)
        goto fail;
    c->fd = pcap_get_selectable_fd(c->p);
    if (c->fd < 0) {
        snprintf(err, errlen, "%s: no selectable descriptor", iface);
        goto fail;
    }
    return c;
fail:
    capture_close(c);
    return NULL;
}

struct capture *capture_open_file(const char *path, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct capture *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!c->p) {
        snprintf(err, errlen, "%s", ebuf);
        free(c);
        return NULL;
    }
    c->unit_ns = 1;
    if (pcap_datalink(c->p) != DLT_EN10MB) {
        snprintf(err, errlen, "%s: not an Ethernet capture", path);
        capture_close(c);
        return NULL;
    }
    return c;
}

void capture_close(struct capture *c)
{
    if (!c)
        return;
    if (c->p)
        pcap_close(c->p);
    free(c);
}

int capture_fd(const struct capture *c)
{
    return c->fd;
}

/* pcap's callback: hands the frame to the capture's own callback with a nanosecond time. */
static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct capture *c = (struct capture *)(void *)user;
    uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec * c->unit_ns;
    c->cb(c->arg, data, h->caplen, ts);
}

int capture_dispatch(struct capture *c, int max, capture_cb cb, void *arg, char *err, size_t errlen)
{
    c->cb = cb;
    c->arg = arg;
    int n = pcap_dispatch(c->p, max, on_frame, (u_char *)(void *)c);
    if (n == PCAP_ERROR) {
        snprintf(err, errlen, "capture: %s", pcap_geterr(c->p));
        return -1;
    }
    if (n == 0 && c->fd < 0)
        return CAPTURE_EOF;
    return n < 0 ? 0 : n;
}

int capture_set_filter(struct capture *c, const char *filter, char *err, size_t errlen)
{
    return set_filter(c->p, filter, err, errlen);
}

int capture_check_filter(const char *filter, char *err, size_t errlen)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN);
    if (rc != 0)
        snprintf(err, errlen, "bad capture filter: %s", pcap_geterr(p));
    else
        pcap_freecode(&prog);
    pcap_close(p);
    return rc == 0 ? 0 : -1;
}

int capture_filter_matches(const char *filter, const uint8_t *frame, uint32_t len, char *err,
                           size_t errlen)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "bad capture filter: %s", pcap_geterr(p));
        pcap_close(p);
        return -1;
    }
    struct pcap_pkthdr h = {.caplen = len, .len = len};
    int rc = pcap_offline_filter(&prog, &h, frame) != 0;
    pcap_freecode(&prog);
    pcap_close(p);
    return rc;
}

int capture_inject(struct capture *c, const void *frame, size_t len, char *err, size_t errlen)
{
    if (pcap_inject(c->p, frame, len) < 0) {
        snprintf(err, errlen, "%s: inject: %s", c->iface, pcap_geterr(c->p));
        return -1;
    }
    return 0;
}

int capture_mac(const struct capture *c, uint8_t mac[6])
{
    if (!c->iface[0])
        return -1;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", c->iface);
    int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
    close(fd);
    if (rc != 0)
        return -1;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

uint64_t capture_kernel_drops(struct capture *c)
{
    struct pcap_stat st;
    if (c->fd < 0 || pcap_stats(c->p, &st) != 0)
        return 0;
    return st.ps_drop;
}

struct capture_dump *capture_dump_open(const char *path, char *err, size_t errlen)
{
    struct capture_dump *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    if (!d->dead) {
        snprintf(err, errlen, "out of memory");
        free(d);
        return NULL;
    }
    d->d = pcap_dump_open(d->dead, path);
    if (!d->d) {
        snprintf(err, errlen, "%s", pcap_geterr(d->dead));
        pcap_close(d->dead);
        free(d);
        return NULL;
    }
    return d;
}

void capture_dump_write(struct capture_dump *d, const uint8_t *data, uint32_t len, uint64_t ts_ns)
{
    struct pcap_pkthdr h;
    h.ts.tv_sec = (time_t)(ts_ns / 1000000000ull);
    h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000ull); /* nanoseconds: a nano-precision dumper */
    h.caplen = h.len = len;
    pcap_dump((u_char *)d->d, &h, data);
}

void capture_dump_close(struct capture_dump *d)
{
    if (!d)
        return;
    if (d->d)
        pcap_dump_close(d->d);
    if (d->dead)
        pcap_close(d->dead);
    free(d);
}
