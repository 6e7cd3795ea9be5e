/* steering.h: which buckets this worker owns, from the cluster's bucket map, and the kernel
 * capture filter that lets through only the frames of those buckets.
 *
 * The map's text form (field "buckets" of fw:map, written by emgr) lists each worker's ranges:
 *   "node1=0-511;node2=512-1023"        (a worker without buckets is not listed)
 * The filter computes the same symmetric hash as flow_steer_hash() in classic BPF. */
#ifndef FW_STEERING_H
#define FW_STEERING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STEERING_MAX_BUCKETS 65536

struct steering {
    uint32_t nbuckets; /* a power of two */
    uint64_t epoch;    /* of the map applied */
    uint32_t owned_count;
    uint8_t owned[STEERING_MAX_BUCKETS]; /* 1: this worker processes the bucket */
};

/* Reads the buckets of node from a map's text into owned[0..nbuckets). Returns the number owned,
 * or -1 with err set for a malformed map (bad range, overlap, bucket out of range). */
int steering_parse(const char *map, const char *node, uint32_t nbuckets, uint8_t *owned, char *err,
                   size_t errlen);

/* Formats owned[0..nbuckets) as ranges "0-511,768-1023" ("" when none). Returns the length or -1
 * when it does not fit. */
int steering_ranges(const uint8_t *owned, uint32_t nbuckets, char *buf, size_t len);

/* The classic BPF expression of a side: frames to vmac whose bucket is owned, plus ARP and
 * neighbour solicitations (answered only when answer_arp). all: every bucket (no steering).
 * Returns the length or -1 when it does not fit. */
int steering_filter(const uint8_t *owned, uint32_t nbuckets, bool all, const char *vmac, char *buf,
                    size_t len);

#endif
