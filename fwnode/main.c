/* main.c: the fwnode worker: options, configuration, live capture loop and offline mode. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "config.h"
#include "forward.h"
#include "log.h"
#include "pipeline.h"
#include "settings.h"

#define FWNODE_VERSION "0.1.0"
#define TICK_S         0.1 /* the periodic timer */
#define EXPIRE_ROUNDS  50  /* a full sweep of the table every EXPIRE_ROUNDS ticks */
#define DISPATCH_MAX   256 /* frames per read event, so one side cannot starve the other */

/* The worker: one context, no scattered globals. */
struct fwnode {
    struct fwnode_settings set;
    struct pipeline pl;
    struct capture *cap[2];
    struct forward *fwd;
    struct ev_loop *loop;
    ev_io io[2];
    ev_timer tick;
    ev_signal sig_int, sig_term, sig_usr1;
    double stats_due;  /* ev_now of the next stats write */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fwnode [-c CONFIG] [-t]\n"
            "       fwnode -r IN.pcap [-w PASSED.pcap] [-c CONFIG]\n"
            "\n"
            "A stateful firewall worker: captures on the side A and side B interfaces, tracks\n"
            "connections, applies the rules and forwards what they allow.\n"
            "\n"
            "  -c, --config FILE   libconfig file (default: none; env FW_CONFIG)\n"
            "  -t, --test          check the configuration, print 'configuration OK', exit\n"
            "  -r, --read FILE     offline: run the pipeline over a capture file, print counters\n"
            "  -w, --write FILE    offline: write the forwarded packets to a capture file\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n"
            "\n"
            "Settings (environment variables override the file):\n");
    config_usage(fwnode_options, out);
}

static void write_stats(struct fwnode *w)
{
    if (!w->set.stats_file || !w->set.stats_file[0])
        return;
    for (int s = 0; s < 2; s++)
        if (w->cap[s])
            w->pl.stats.capture_drops = capture_kernel_drops(w->cap[s]);
    if (stats_write_file(&w->pl.stats, w->set.stats_file) != 0)
        log_warn("cannot write %s", w->set.stats_file);
}


struct frame_ctx {
    struct fwnode *w;
    int side;
};

static void on_frame(void *arg, const uint8_t *data, uint32_t caplen, uint64_t ts_ns)
{
    struct frame_ctx *fc = arg;
    pipeline_frame(&fc->w->pl, fc->side, data, caplen, ts_ns);
}

/* A capture descriptor is readable: run a batch of frames through the pipeline. */
static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    struct fwnode *w = ev_userdata(loop);
    struct frame_ctx fc = {w, io == &w->io[0] ? SIDE_A : SIDE_B};
    char err[256];
    if (capture_dispatch(w->cap[fc.side], DISPATCH_MAX, on_frame, &fc, err, sizeof(err)) < 0) {
        log_errorx("side %c: %s", 'a' + fc.side, err);
        ev_break(loop, EVBREAK_ALL);
    }
}

/* The periodic timer: incremental expiry sweep and the stats file. */
static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    struct fwnode *w = ev_userdata(loop);
    uint64_t now = (uint64_t)(ev_now(loop) * 1e9);
    size_t budget = conntable_slots(w->pl.ct) / EXPIRE_ROUNDS + 1;
    pipeline_expire(&w->pl, now, budget);
    if (ev_now(loop) >= w->stats_due) {
        write_stats(w);
        w->stats_due = ev_now(loop) + w->set.stats_interval_ms / 1000.0;
    }
}

static void on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    log_info("signal %d: stopping", s->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)s, (void)revents;
    write_stats(ev_userdata(loop));
}

/* The BPF program of a side: frames to the virtual MAC, ARP, and neighbour solicitations. */
static void side_filter(const char *vmac, char *buf, size_t len)
{
    snprintf(buf, len, "ether dst %s or arp or (icmp6 and ip6[40] == 135)", vmac);
}

static int run_live(struct fwnode *w)
{
    char err[512], filter[256];
    for (int s = 0; s < 2; s++) {
        side_filter(w->set.side[s].vmac, filter, sizeof(filter));
        w->cap[s] = capture_open_live(w->set.side[s].iface, filter, err, sizeof(err));
        if (!w->cap[s]) {
            log_errorx("side %c: %s", 'a' + s, err);
            return 1;
        }
    }
    const char *ifaces[2] = {w->set.side[0].iface, w->set.side[1].iface};
    w->fwd = forward_live_new(ifaces, w->cap, err, sizeof(err));
    if (!w->fwd) {
        log_errorx("%s", err);
        return 1;
    }
    if (pipeline_init(&w->pl, &w->set, w->fwd, err, sizeof(err)) != 0) {
        log_errorx("%s", err);
        return 1;
    }
    for (int s = 0; s < 2; s++)
        if (capture_mac(w->cap[s], w->pl.own_mac[s]) != 0)
            log_warnx("side %c: interface MAC unknown, replies use a made-up source", 'a' + s);

    w->loop = ev_default_loop(EVFLAG_AUTO);
    ev_set_userdata(w->loop, w);
    for (int s = 0; s < 2; s++) {
        ev_io_init(&w->io[s], on_readable, capture_fd(w->cap[s]), EV_READ);
        ev_io_start(w->loop, &w->io[s]);
    }
    ev_timer_init(&w->tick, on_tick, TICK_S, TICK_S);
    ev_timer_start(w->loop, &w->tick);
    ev_signal_init(&w->sig_int, on_stop, SIGINT);
    ev_signal_init(&w->sig_term, on_stop, SIGTERM);
    ev_signal_init(&w->sig_usr1, on_usr1, SIGUSR1);
    ev_signal_start(w->loop, &w->sig_int);
    ev_signal_start(w->loop, &w->sig_term);
    ev_signal_start(w->loop, &w->sig_usr1);
    signal(SIGPIPE, SIG_IGN);

    log_info("%s: forwarding between %s and %s, %zu rules, table max %ld", w->set.node_id,
             w->set.side[0].iface, w->set.side[1].iface, classify_count(w->pl.cls),
             w->set.conn_max);
    write_stats(w);
    ev_run(w->loop, 0);
    write_stats(w);
    return 0;
}

struct offline_ctx {
    struct pipeline *pl;
    uint64_t last_ts;
};

static void on_offline_frame(void *arg, const uint8_t *data, uint32_t caplen, uint64_t ts_ns)
{
    struct offline_ctx *oc = arg;
    if (ts_ns > oc->last_ts)
        oc->last_ts = ts_ns;
    pipeline_frame(oc->pl, SIDE_UNKNOWN, data, caplen, ts_ns);
}

static int run_offline(struct fwnode *w, const char *in, const char *out)
{
    char err[512];
    struct capture_dump *dump = NULL;
    struct capture *c = capture_open_file(in, err, sizeof(err));
    int rc = 1;
    if (!c) {
        log_errorx("%s", err);
        return 1;
    }
    if (out && !(dump = capture_dump_open(out, err, sizeof(err)))) {
        log_errorx("%s: %s", out, err);
        goto done;
    }
    if (!(w->fwd = forward_file_new(dump, err, sizeof(err))) ||
        pipeline_init(&w->pl, &w->set, w->fwd, err, sizeof(err)) != 0) {
        log_errorx("%s", err);
        goto done;
    }
    struct offline_ctx oc = {&w->pl, 0};
    int n;
    while ((n = capture_dispatch(c, -1, on_offline_frame, &oc, err, sizeof(err))) > 0)
        ;
    if (n == -1) {
        log_errorx("%s: %s", in, err);
        goto done;
    }
    pipeline_expire(&w->pl, oc.last_ts, conntable_slots(w->pl.ct));
    stats_write(&w->pl.stats, stdout);
    rc = 0;
done:
    capture_dump_close(dump);
    capture_close(c);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"read", required_argument, NULL, 'r'},   {"write", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = getenv("FW_CONFIG"), *in = NULL, *out = NULL;
    bool test = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:tr:w:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conf = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'r':
            in = optarg;
            break;
        case 'w':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("fwnode %s\n", FWNODE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (out && !in)) {
        usage(stderr);
        return 2;
    }
    if (conf && !conf[0])
        conf = NULL;

    static struct fwnode w; /* large (the pipeline's counters): not on the stack */
    char err[512];
    log_init("fwnode", LOG_LVL_INFO, false);
    if (config_load(fwnode_options, &w.set, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        config_free(fwnode_options, &w.set);
        return 2;
    }
    struct classifier *cls = classify_compile(w.set.rules.rules, w.set.rules.n, err, sizeof(err));
    if (!cls) {
        fprintf(stderr, "%s: rules: %s\n", conf ? conf : "FW_RULES", err);
        config_free(fwnode_options, &w.set);
        return 2;
    }
    classify_free(cls);
    if (test) {
        printf("configuration OK\n");
        config_free(fwnode_options, &w.set);
        return 0;
    }
    log_init("fwnode", (enum log_level)w.set.log_level, w.set.log_json);

    int rc = in ? run_offline(&w, in, out) : run_live(&w);

    pipeline_free(&w.pl);
    forward_free(w.fwd);
    for (int s = 0; s < 2; s++)
        capture_close(w.cap[s]);
    config_free(fwnode_options, &w.set);
    return rc;
}
