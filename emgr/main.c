/* main.c: emgr, the element manager: the daemon (run) and the operator's commands. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "options.h"
#include "redisopt.h"
#include "status.h"

#define EMGR_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: emgr [-c CONFIG] run                 the manager daemon\n"
            "       emgr -t CONFIG                       check a configuration file\n"
            "       emgr [-c CONFIG] status [--json]     workers, roles, buckets, epochs\n"
            "       emgr [-c CONFIG] conns [--node N] [--state S]   connections in Redis\n"
            "       emgr [-c CONFIG] drain NODE [--wait] move a worker's buckets away\n"
            "       emgr [-c CONFIG] reload              the leader re-reads its configuration\n"
            "\n"
            "The element manager of the firewall cluster: publishes the rules and settings,\n"
            "watches the workers, assigns active and backup roles and the bucket map, and moves a\n"
            "failed worker's buckets to a backup. Several managers may run: one leads.\n"
            "\n"
            "  -c, --config FILE   libconfig file (default: none; env FW_CONFIG)\n"
            "  -t, --test FILE     check FILE, print 'configuration OK' or FILE:LINE: reason\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n"
            "\n"
            "Settings (environment variables override the file):\n");
    config_usage(emgr_options_table, out);
}

/* The daemon's state: one context for the signal handlers. */
struct emgr {
    const char *conf;
    struct emgr_options opt[2]; /* the one in force and the one a reload fills */
    int cur;
    char password[256];
    struct manager *m;
    struct ev_loop *loop;
    ev_timer stop_timer;
};

/* Re-reads the configuration file; keeps the running one on error. */
static void reload(void *arg)
{
    struct emgr *e = arg;
    char err[512];
    int next = 1 - e->cur;
    config_free(emgr_options_table, &e->opt[next]);
    memset(&e->opt[next], 0, sizeof(e->opt[next]));
    if (config_load(emgr_options_table, &e->opt[next], e->conf, err, sizeof(err)) != 0) {
        log_warnx("reload: %s: keeping the configuration in force", err);
        return;
    }
    if (e->opt[next].buckets != e->opt[e->cur].buckets) {
        log_warnx("reload: the bucket count cannot change while running: keeping %ld",
                  e->opt[e->cur].buckets);
        e->opt[next].buckets = e->opt[e->cur].buckets;
    }
    e->cur = next;
    manager_reload(e->m, &e->opt[e->cur]);
    log_info("configuration reloaded from %s", e->conf ? e->conf : "the environment");
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)revents;
    reload(w->data);
}

static void stepped_down(void *arg)
{
    struct emgr *e = arg;
    ev_break(e->loop, EVBREAK_ALL);
}

static void on_stop_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct emgr *e = w->data;
    log_info("signal %d: stopping", w->signum);
    /* hand the lease over at once, but never wait long for Redis */
    if (manager_step_down(e->m, stepped_down, e) != 0) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    ev_timer_init(&e->stop_timer, on_stop_timeout, 0.5, 0.);
    ev_timer_start(loop, &e->stop_timer);
}

static int run(struct emgr *e)
{
    char err[512];
    const struct emgr_options *o = &e->opt[e->cur];
    char name[160];
    struct redis_ev_config rc;
    snprintf(name, sizeof(name), "emgr-%s", o->id);
    if (!redisopt_configured(&o->redis)) {
        fprintf(stderr, "emgr: no Redis: set redis.host or redis.sentinels\n");
        return 2;
    }
    if (redisopt_connection(&o->redis, name, e->password, sizeof(e->password), &rc, err,
                            sizeof(err)) != 0) {
        fprintf(stderr, "emgr: %s\n", err);
        return 2;
    }
    log_init("emgr", (enum log_level)o->log_level, o->log_json);
    e->loop = ev_default_loop(EVFLAG_AUTO);
    e->m = manager_new(e->loop, o, &rc, reload, e, err, sizeof(err));
    if (!e->m) {
        log_errorx("%s", err);
        return 1;
    }
    ev_signal sig_int, sig_term, sig_hup;
    ev_signal_init(&sig_int, on_stop, SIGINT);
    ev_signal_init(&sig_term, on_stop, SIGTERM);
    ev_signal_init(&sig_hup, on_hup, SIGHUP);
    sig_int.data = sig_term.data = sig_hup.data = e;
    ev_signal_start(e->loop, &sig_int);
    ev_signal_start(e->loop, &sig_term);
    ev_signal_start(e->loop, &sig_hup);
    signal(SIGPIPE, SIG_IGN);
    log_info("%s: managing %ld active(s) + %ld backup(s) over %ld buckets", o->id, o->actives,
             o->backups, o->buckets);
    ev_run(e->loop, 0);
    manager_free(e->m);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'j'},
        {"node", required_argument, NULL, 'n'},
        {"state", required_argument, NULL, 's'},
        {"wait", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    static struct emgr e;
    const char *node = NULL, *state = NULL;
    bool test = false, json = false, wait = false;
    int ch;
    e.conf = getenv("FW_CONFIG");
    while ((ch = getopt_long(argc, argv, "c:t:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            e.conf = optarg;
            break;
        case 't':
            e.conf = optarg;
            test = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("emgr %s\n", EMGR_VERSION);
            return 0;
        case 'j':
            json = true;
            break;
        case 'n':
            node = optarg;
            break;
        case 's':
            state = optarg;
            break;
        case 'w':
            wait = true;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (e.conf && !e.conf[0])
        e.conf = NULL;
    const char *cmd = optind < argc ? argv[optind] : NULL;
    if (!test && !cmd) {
        usage(stderr);
        return 2;
    }
    char err[512];
    log_init("emgr", LOG_LVL_INFO, false);
    if (config_load(emgr_options_table, &e.opt[0], e.conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        config_free(emgr_options_table, &e.opt[0]);
        return 2;
    }
    if (test) {
        printf("configuration OK\n");
        config_free(emgr_options_table, &e.opt[0]);
        return 0;
    }
    int rc;
    struct emgr_options *o = &e.opt[0];
    if (strcmp(cmd, "run") == 0 && optind + 1 == argc) {
        rc = run(&e);
    } else if (!redisopt_configured(&o->redis)) {
        fprintf(stderr, "emgr: no Redis: set redis.host or redis.sentinels\n");
        rc = 2;
    } else {
        struct redis_ev_config rc_cfg;
        if (redisopt_connection(&o->redis, "emgr-cli", e.password, sizeof(e.password), &rc_cfg, err,
                                sizeof(err)) != 0) {
            fprintf(stderr, "emgr: %s\n", err);
            rc = 2;
        } else if (strcmp(cmd, "status") == 0 && optind + 1 == argc) {
            rc = status_show(&rc_cfg, json, stdout);
        } else if (strcmp(cmd, "conns") == 0 && optind + 1 == argc) {
            rc = status_conns(&rc_cfg, node, state, stdout);
        } else if (strcmp(cmd, "drain") == 0 && optind + 2 == argc) {
            rc = status_drain(&rc_cfg, argv[optind + 1], wait, 30.0, stdout);
        } else if (strcmp(cmd, "reload") == 0 && optind + 1 == argc) {
            rc = status_reload(&rc_cfg, stdout);
        } else {
            usage(stderr);
            rc = 2;
        }
    }
    memset(e.password, 0, sizeof(e.password));
    config_free(emgr_options_table, &e.opt[0]);
    config_free(emgr_options_table, &e.opt[1]);
    return rc;
}
