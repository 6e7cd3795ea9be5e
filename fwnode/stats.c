/* stats.c: counters and log-linear latency histograms of the worker. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"

/* Maps ns to its bin: values below HIST_SUB are exact; above, the HIST_SUB_BITS bits after the
 * leading one select one of HIST_SUB sub-buckets of the power of two. */
static unsigned hist_bin(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (unsigned)ns;
    unsigned p = 63u - (unsigned)__builtin_clzll(ns); /* >= HIST_SUB_BITS */
    unsigned sub = (unsigned)(ns >> (p - HIST_SUB_BITS)) & (HIST_SUB - 1);
    unsigned bin = (p - HIST_SUB_BITS + 1) * HIST_SUB + sub;
    return bin < HIST_POWERS * HIST_SUB ? bin : HIST_POWERS * HIST_SUB - 1;
}

/* The smallest value of a bin, the inverse of hist_bin. */
static uint64_t hist_bin_low(unsigned bin)
{
    if (bin < HIST_SUB)
        return bin;
    unsigned p = bin / HIST_SUB + HIST_SUB_BITS - 1, sub = bin % HIST_SUB;
    return ((uint64_t)(HIST_SUB + sub)) << (p - HIST_SUB_BITS);
}

void hist_add(struct hist *h, uint64_t ns)
{
    h->bins[hist_bin(ns)]++;
    h->count++;
    h->sum_ns += ns;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_POWERS * HIST_SUB; i++) {
        if (seen + h->bins[i] > rank) {
            /* the bin's samples taken as spread evenly over it: the rank's place among them */
            uint64_t lo = hist_bin_low(i), hi = hist_bin_low(i + 1);
            double at = ((double)(rank - seen) + 0.5) / (double)h->bins[i];
            return lo + (uint64_t)((double)(hi - lo) * at);
        }
        seen += h->bins[i];
    }
    return 0;
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

static const char *const drop_names[DROP_MAX_] = {
    [DROP_RULE] = "rule",
    [DROP_NO_CONN] = "no_conn",
    [DROP_TABLE_FULL] = "table_full",
    [DROP_CSUM] = "csum",
    [DROP_TTL] = "ttl",
    [DROP_NO_FLOW] = "no_flow",
    [DROP_ICMP_UNRELATED] = "icmp_unrelated",
    [DROP_WRONG_SIDE] = "wrong_side",
    [DROP_TO_GATEWAY] = "to_gateway",
    [DROP_EGRESS] = "egress",
    [DROP_NOT_OWNED] = "not_owned",
    [DROP_RATE] = "rate",
};

const char *stats_drop_name(enum stat_drop d)
{
    return (unsigned)d < DROP_MAX_ ? drop_names[d] : "unknown";
}

void stats_write(const struct fw_stats *s, FILE *out)
{
#define W(name) fprintf(out, #name " %llu\n", (unsigned long long)s->name)
    W(pkts_in);
    W(pkts_fwd);
    W(pkts_drop);
    W(pkts_local);
    W(arp_replies);
    W(nd_replies);
    W(conns_new);
    W(conns_expired);
    W(conns_closed);
    W(conns_adopted);
    W(conns_early_drop);
    W(conns_pickup);
    W(conns_active);
    W(capture_drops);
    W(state_writes);
    W(state_deletes);
    W(ttl_refreshes);
    W(wait_timeouts);
    W(waits);
    W(waits_queued);
    W(store_lookups);
    W(store_found);
    W(store_rejected);
    W(redis_errors);
    W(redis_timeouts);
    W(redis_reconnects);
    W(writes_deferred);
    W(writes_lost);
    W(writes_refused);
    W(policy_forwards);
    W(policy_drops);
    W(held_overflow);
#undef W
    for (int i = 1; i < PKT_DROP_MAX; i++)
        fprintf(out, "drop_parse_%s %llu\n", pkt_drop_name((enum pkt_drop)i),
                (unsigned long long)s->drop_parse[i]);
    for (int i = 1; i < TCP_VERDICT_MAX; i++)
        fprintf(out, "drop_tcp_%s %llu\n", tcp_verdict_name((enum tcp_verdict)i),
                (unsigned long long)s->drop_tcp[i]);
    for (int i = 0; i < DROP_MAX_; i++)
        fprintf(out, "drop_%s %llu\n", drop_names[i], (unsigned long long)s->drop[i]);
    fprintf(out, "setup_count %llu\n", (unsigned long long)s->setup.count);
    fprintf(out, "setup_p50_us %.1f\n", hist_quantile(&s->setup, 0.50) / 1000.0);
    fprintf(out, "setup_p90_us %.1f\n", hist_quantile(&s->setup, 0.90) / 1000.0);
    fprintf(out, "setup_p99_us %.1f\n", hist_quantile(&s->setup, 0.99) / 1000.0);
    fprintf(out, "hold_count %llu\n", (unsigned long long)s->hold.count);
    fprintf(out, "hold_p50_us %.1f\n", hist_quantile(&s->hold, 0.50) / 1000.0);
    fprintf(out, "hold_p90_us %.1f\n", hist_quantile(&s->hold, 0.90) / 1000.0);
    fprintf(out, "hold_p99_us %.1f\n", hist_quantile(&s->hold, 0.99) / 1000.0);
}

/* Writes len bytes of text to path atomically (temporary file + rename). Returns 0 or -1 (errno).
 */
static int write_text(const char *path, const char *text, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    errno = 0;
    size_t n = fwrite(text, 1, len, f);
    int e = n == len ? 0 : errno ? errno : EIO;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (e) {
        remove(tmp);
        errno = e;
        return -1;
    }
    return rename(tmp, path);
}

/* The counters as text, in a malloc'd buffer (*len bytes). NULL: out of memory. */
static char *format_text(const struct fw_stats *s, size_t *len)
{
    char *text = NULL;
    FILE *m = open_memstream(&text, len);
    if (!m)
        return NULL;
    stats_write(s, m);
    if (fclose(m) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int stats_write_file(const struct fw_stats *s, const char *path)
{
    size_t len;
    char *text = format_text(s, &len);
    if (!text)
        return -1;
    int rc = write_text(path, text, len);
    int e = errno;
    free(text);
    errno = e;
    return rc;
}

/* ---- the stats file, written by a thread of its own ----
 * A rename over an existing file can wait for the disk (ext4 starts the new file's writeback then,
 * and waits for room in the device's queue): hundreds of milliseconds while the disk is busy,
 * which in the event loop would hold every packet and the heartbeat. So the loop only formats the
 * counters (microseconds) and hands the text over; this thread writes and renames it. */
struct stats_file {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *path;
    char *pending; /* the newest text not yet written (an older one is dropped), or NULL */
    size_t pending_len;
    int err; /* errno of the last write, 0 when it succeeded */
    bool stop;
};

static void *writer_main(void *arg)
{
    struct stats_file *sf = arg;
    pthread_mutex_lock(&sf->mu);
    for (;;) {
        while (!sf->pending && !sf->stop)
            pthread_cond_wait(&sf->cv, &sf->mu);
        if (!sf->pending)
            break; /* stopping, nothing left to write */
        char *text = sf->pending;
        size_t len = sf->pending_len;
        sf->pending = NULL;
        pthread_mutex_unlock(&sf->mu);
        int e = write_text(sf->path, text, len) == 0 ? 0 : errno;
        free(text);
        pthread_mutex_lock(&sf->mu);
        sf->err = e;
    }
    pthread_mutex_unlock(&sf->mu);
    return NULL;
}

struct stats_file *stats_file_new(const char *path, char *err, size_t errlen)
{
    struct stats_file *sf = calloc(1, sizeof(*sf));
    if (!sf || !(sf->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        free(sf);
        return NULL;
    }
    pthread_mutex_init(&sf->mu, NULL);
    pthread_cond_init(&sf->cv, NULL);
    /* an ordinary thread whatever the worker's own policy (realtime_priority), which takes no
     * signal: they are the event loop's */
    pthread_attr_t attr;
    struct sched_param sp = {.sched_priority = 0};
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &sp);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&sf->thread, &attr, writer_main, sf);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the stats file's writer: %s", strerror(rc));
        pthread_cond_destroy(&sf->cv);
        pthread_mutex_destroy(&sf->mu);
        free(sf->path);
        free(sf);
        return NULL;
    }
    return sf;
}

int stats_file_post(struct stats_file *sf, const struct fw_stats *s)
{
    size_t len;
    char *text = format_text(s, &len);
    pthread_mutex_lock(&sf->mu);
    if (text) {
        free(sf->pending);
        sf->pending = text;
        sf->pending_len = len;
        pthread_cond_signal(&sf->cv);
    }
    int e = text ? sf->err : ENOMEM;
    pthread_mutex_unlock(&sf->mu);
    return e;
}

int stats_file_free(struct stats_file *sf, double wait_s)
{
    if (!sf)
        return 0;
    pthread_mutex_lock(&sf->mu);
    sf->stop = true;
    pthread_cond_signal(&sf->cv);
    pthread_mutex_unlock(&sf->mu);
    struct timespec until; /* pthread_timedjoin_np's clock */
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)(wait_s * 1e9);
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    if (pthread_timedjoin_np(sf->thread, NULL, &until) != 0)
        return -1; /* still in a write, which uses sf */
    pthread_cond_destroy(&sf->cv);
    pthread_mutex_destroy(&sf->mu);
    free(sf->pending);
    free(sf->path);
    free(sf);
    return 0;
}
