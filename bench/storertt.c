/* storertt.c: the bare store round trip the worker's hold time is compared with: one SET of an
 * entry-sized value followed by WAIT, on one connection, as fwnode's sync/dirty mode issues them,
 * timed from sending to the WAIT reply. Prints p50, p90, p99 in microseconds.
 *
 *   storertt HOST PORT USER PASSWORD_FILE REPLICAS COUNT
 *            [dirty|transaction|function [INTERVAL_US]]
 *
 * With "transaction": MULTI, SET, SADD, EXEC, then WAIT (a transaction of plain commands). With
 * "function": MULTI, FCALL fw_put, EXEC, then WAIT: the very write of fwnode's sync/transaction
 * mode, through the function a worker loads into Redis (run it while a worker is up), so that a
 * hold compared with it shows what the worker adds to the store's own latency. With INTERVAL_US:
 * one round trip every INTERVAL_US at most (a probe of the store's latency while something else
 * loads it, at a rate too low to add much load), until COUNT or SIGTERM / SIGINT; the
 * percentiles are over the round trips done. */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "redis_ev.h"

struct run {
    struct ev_loop *loop;
    struct redis_ev *r;
    int replicas, count, done;
    bool stopping; /* SIGTERM / SIGINT, or an error reported: what is in flight is dropped */
    enum { MODE_DIRTY, MODE_TRANSACTION, MODE_FUNCTION } mode;
    double interval_us;
    double *lat;
    double t0;
    ev_timer pace;
    ev_signal term, intr;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void next(struct run *rn);

static void on_wait(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct run *rn = arg;
    if (rn->stopping)
        return;
    if (redis_reply_type(rr) != RR_INTEGER) {
        fprintf(stderr, "storertt: WAIT: %s\n",
                redis_reply_type(rr) == RR_NONE ? "no reply (connection lost)"
                                                : redis_reply_str(rr, NULL));
        rn->stopping = true;
        ev_break(rn->loop, EVBREAK_ALL);
        return;
    }
    double t = now_us();
    rn->lat[rn->done++] = t - rn->t0;
    if (rn->done == rn->count) {
        ev_break(rn->loop, EVBREAK_ALL);
    } else if (rn->interval_us > 0) {
        double wait = rn->t0 + rn->interval_us - t;
        ev_timer_set(&rn->pace, wait > 0 ? wait / 1e6 : 0., 0.);
        ev_timer_start(rn->loop, &rn->pace);
    } else {
        next(rn);
    }
}

/* function mode: fw_put answers 1 (written) or 0 (a higher rank is stored: never here); an error
 * (no function loaded: no worker has started) ends the run */
static void on_exec(struct redis_ev *r, const struct redis_reply *rr, void *arg)
{
    (void)r;
    struct run *rn = arg;
    if (rn->stopping)
        return;
    const struct redis_reply *e = redis_reply_type(rr) == RR_ARRAY && redis_reply_count(rr) == 1
                                      ? redis_reply_elem(rr, 0)
                                      : NULL;
    if (!e || redis_reply_type(e) != RR_INTEGER) {
        const char *why = e ? redis_reply_str(e, NULL) : redis_reply_str(rr, NULL);
        fprintf(stderr, "storertt: EXEC of FCALL fw_put: %s\n", *why ? why : "unexpected reply");
        rn->stopping = true;
        ev_break(rn->loop, EVBREAK_ALL);
    }
}

static void on_pace(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    next(t->data);
}

static void on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    ((struct run *)s->data)->stopping = true;
    ev_break(loop, EVBREAK_ALL);
}

static void next(struct run *rn)
{
    char key[64];
    const char *val = "ESTABLISHED owner=bench orig=a side=a rank=3 v=1 t=1795666768579";
    /* keys of their own per mode: two probes running together never write each other's */
    snprintf(key, sizeof(key), "fw:conn:tcp:10.99.%d.1:%d:10.99.%d.2:80", (int)rn->mode,
             rn->done % 60000, (int)rn->mode);
    rn->t0 = now_us();
    if (rn->mode == MODE_TRANSACTION) {
        redis_ev_cmd(rn->r, NULL, NULL, "MULTI");
        redis_ev_cmd(rn->r, NULL, NULL, "SET %s %s PX 60000", key, val);
        redis_ev_cmd(rn->r, NULL, NULL, "SADD fw:bucket:bench %s", key);
        redis_ev_cmd(rn->r, NULL, NULL, "EXEC");
    } else if (rn->mode == MODE_FUNCTION) {
        redis_ev_cmd(rn->r, NULL, NULL, "MULTI");
        redis_ev_cmd(rn->r, NULL, NULL, "FCALL fw_put 2 %s fw:bucket:bench %s 60000 3 1", key, val);
        redis_ev_cmd(rn->r, on_exec, rn, "EXEC");
    } else {
        redis_ev_cmd(rn->r, NULL, NULL, "SET %s %s PX 60000", key, val);
    }
    redis_ev_cmd(rn->r, on_wait, rn, "WAIT %d 1000", rn->replicas);
}

static void on_state(struct redis_ev *r, bool up, const char *why, void *arg)
{
    (void)r;
    struct run *rn = arg;
    if (up)
        next(rn);
    else
        fprintf(stderr, "storertt: %s\n", why);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: storertt HOST PORT USER PASSWORD_FILE REPLICAS COUNT "
                        "[dirty|transaction|function [INTERVAL_US]]\n");
        return 2;
    }
    char pw[256] = "", err[256];
    if (argv[4][0] && config_read_secret(argv[4], pw, sizeof(pw), err, sizeof(err)) != 0) {
        fprintf(stderr, "storertt: %s\n", err);
        return 2;
    }
    struct run rn = {.replicas = atoi(argv[5]), .count = atoi(argv[6])};
    if (argc > 7 && strcmp(argv[7], "transaction") == 0) {
        rn.mode = MODE_TRANSACTION;
    } else if (argc > 7 && strcmp(argv[7], "function") == 0) {
        rn.mode = MODE_FUNCTION;
    } else if (argc > 7 && strcmp(argv[7], "dirty") != 0) {
        fprintf(stderr, "storertt: unknown mode '%s' (dirty, transaction, function)\n", argv[7]);
        return 2;
    }
    rn.interval_us = argc > 8 ? atof(argv[8]) : 0;
    if (rn.count < 1 || !(rn.lat = calloc((size_t)rn.count, sizeof(double))))
        return 2;
    rn.loop = ev_default_loop(0);
    ev_timer_init(&rn.pace, on_pace, 0., 0.);
    rn.pace.data = &rn;
    ev_signal_init(&rn.term, on_stop, SIGTERM);
    ev_signal_init(&rn.intr, on_stop, SIGINT);
    rn.term.data = rn.intr.data = &rn;
    ev_signal_start(rn.loop, &rn.term);
    ev_signal_start(rn.loop, &rn.intr);
    struct redis_ev_config rc = {.host = argv[1],
                                 .port = atoi(argv[2]),
                                 .user = argv[3],
                                 .password = pw,
                                 .client_name = "storertt",
                                 .connect_timeout = 2,
                                 .backoff_min = 0.1,
                                 .backoff_max = 1};
    if (!(rn.r = redis_ev_new(rn.loop, &rc, on_state, &rn, err, sizeof(err)))) {
        fprintf(stderr, "storertt: %s\n", err);
        return 2;
    }
    ev_run(rn.loop, 0);
    redis_ev_free(rn.r);
    int n = rn.done;
    if (n < (rn.interval_us > 0 ? 1 : rn.count))
        return 1;
    qsort(rn.lat, (size_t)n, sizeof(double), cmp);
    printf("count %d\np50_us %.1f\np90_us %.1f\np99_us %.1f\n", n, rn.lat[n / 2],
           rn.lat[n * 9 / 10], rn.lat[n * 99 / 100]);
    free(rn.lat);
    return 0;
}
