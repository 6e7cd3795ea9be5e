/* capture.h: packet capture and capture files, the only module that includes pcap.h.
 *
 * Two kinds of source behind one handle: a live interface (promiscuous, immediate mode,
 * non-blocking, inbound only, nanosecond timestamps) and a capture file (offline mode). */
#ifndef FW_CAPTURE_H
#define FW_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct capture;
struct capture_dump;

/* Called for each frame: data is valid only during the call. ts_ns: the capture timestamp. */
typedef void (*capture_cb)(void *arg, const uint8_t *data, uint32_t caplen, uint64_t ts_ns);

#define CAPTURE_EOF (-2) /* capture_dispatch: the file has no more frames */

/* Opens iface for live capture with a BPF filter (NULL: none). NULL with err set on failure. */
struct capture *capture_open_live(const char *iface, const char *filter, char *err, size_t errlen);
/* Opens a capture file (pcap or pcapng) for reading. */
struct capture *capture_open_file(const char *path, char *err, size_t errlen);
void capture_close(struct capture *c);

/* The descriptor to watch for readability (live), or -1. */
int capture_fd(const struct capture *c);

/* Delivers up to max frames (max <= 0: all that are ready) to cb. Returns the count (0 when none
 * is ready), CAPTURE_EOF at the end of a file, or -1 with err set. */
int capture_dispatch(struct capture *c, int max, capture_cb cb, void *arg, char *err,
                     size_t errlen);

/* Replaces the kernel filter. Returns 0 or -1 with err set. */
int capture_set_filter(struct capture *c, const char *filter, char *err, size_t errlen);

/* Compiles filter for Ethernet without a capture, to check it. Returns 0 or -1 with err set. */
int capture_check_filter(const char *filter, char *err, size_t errlen);

/* Runs filter over one frame as the kernel would. Returns 1 (passes), 0 (filtered out) or -1 with
 * err set (the filter does not compile). */
int capture_filter_matches(const char *filter, const uint8_t *frame, uint32_t len, char *err,
                           size_t errlen);

/* Sends a whole Ethernet frame out of the interface. Returns 0 or -1 with err set. */
int capture_inject(struct capture *c, const void *frame, size_t len, char *err, size_t errlen);

/* The interface's MAC address (live captures); -1 when unknown. */
int capture_mac(const struct capture *c, uint8_t mac[6]);

/* Frames the kernel dropped because the capture buffer was full (live), else 0. */
uint64_t capture_kernel_drops(struct capture *c);

/* Capture files for writing (Ethernet link type, nanosecond timestamps). */
struct capture_dump *capture_dump_open(const char *path, char *err, size_t errlen);
void capture_dump_write(struct capture_dump *d, const uint8_t *data, uint32_t len, uint64_t ts_ns);
void capture_dump_close(struct capture_dump *d);

#endif
