/* clock.h: one reading of a clock in nanoseconds or milliseconds. CLOCK_REALTIME for times that
 * are published (entries, heartbeats, versions), CLOCK_MONOTONIC for intervals. */
#ifndef FW_CLOCK_H
#define FW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_ms(clockid_t id)
{
    return clock_ns(id) / 1000000;
}

#endif
