/* redis_ev.h: a Redis connection on the libev loop, the only module that includes hiredis.
 *
 * Wraps hiredis's async API and its libev adapter with what a daemon needs around it: connect
 * timeout, reconnect with exponential backoff, ACL authentication (AUTH user password), a client
 * name, and master discovery through Redis Sentinel (SENTINEL get-master-addr-by-name, then follow
 * +switch-master). Replies are handed out through an opaque type and accessors, so no other module
 * sees hiredis. */
#ifndef FW_REDIS_EV_H
#define FW_REDIS_EV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct redis_ev;
struct redis_reply; /* opaque: valid only during the reply callback */

enum redis_reply_type {
    RR_NONE = 0, /* no reply: the connection went away before it came */
    RR_STRING,
    RR_ARRAY,
    RR_INTEGER,
    RR_NIL,
    RR_STATUS,
    RR_ERROR,
};

struct redis_ev_config {
    const char *host; /* master address when no sentinels are given */
    int port;
    const char *sentinels;   /* "host:port,host:port,..." or NULL / "" */
    const char *master_name; /* the name the sentinels know the master by */
    const char *user;        /* ACL user, NULL / "": none ("default" with a password) */
    const char *password;    /* NULL / "": no AUTH */
    const char *client_name; /* CLIENT SETNAME, NULL: none */
    double connect_timeout;  /* seconds */
    double backoff_min;      /* seconds before the first reconnect */
    double backoff_max;      /* longest wait between reconnects */
    bool quiet;              /* offer redis_ev_vquiet: the handshake checks CLIENT REPLY */
};

/* Called with up = true once a master connection is ready (authenticated, role checked), and with
 * up = false when it is lost; why says what happened, for the log. */
typedef void (*redis_ev_state_fn)(struct redis_ev *r, bool up, const char *why, void *arg);
/* Called with the reply of a command (NULL reply: type RR_NONE, the connection was lost). */
typedef void (*redis_ev_reply_fn)(struct redis_ev *r, const struct redis_reply *reply, void *arg);

/* Creates the connection object (the strings of cfg are copied) and starts connecting.
 * Returns NULL with err set on a bad configuration. */
struct redis_ev *redis_ev_new(struct ev_loop *loop, const struct redis_ev_config *cfg,
                              redis_ev_state_fn state_fn, void *arg, char *err, size_t errlen);
/* Closes the connection: pending reply callbacks run with RR_NONE. Not from inside a callback. */
void redis_ev_free(struct redis_ev *r);

bool redis_ev_up(const struct redis_ev *r);
/* "host:port" of the master in use (or being tried). */
const char *redis_ev_addr(const struct redis_ev *r);

/* Queues a command (hiredis printf-like format: %s, %b with a length, %d, %lld, ...).
 * Returns 0, or -1 when the connection is not up (fn is then not called). */
int redis_ev_cmd(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, const char *fmt, ...);
int redis_ev_vcmd(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, const char *fmt, va_list ap);
int redis_ev_cmdv(struct redis_ev *r, redis_ev_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens);

/* Subscribes to channel (a pattern when it holds '*') and keeps the subscription across
 * reconnects: fn is called with every message (an array reply: "message", channel, payload, or
 * "pmessage", pattern, channel, payload), and with RR_NONE when the connection goes.
 * A connection with subscriptions is in subscriber mode: use another redis_ev for commands.
 * At most 4 channels. Returns 0 or -1. */
int redis_ev_subscribe(struct redis_ev *r, const char *channel, redis_ev_reply_fn fn, void *arg);

/* Corks (on) or uncorks the master connection: while corked, commands queued once the output
 * buffer has been written out stay in it, and leave together when it is uncorked (e.g. a batch of
 * writes queued behind a blocking command goes out with the command that follows them). A new
 * connection starts uncorked. */
void redis_ev_cork(struct redis_ev *r, bool on);

/* Queues a command the server runs without replying (CLIENT REPLY SKIP ahead of it): the run of
 * such commands leaves in one piece with the next command queued with a callback, in the order
 * they were queued. Its outcome (or its error) can only be read back afterwards. An error reply
 * to the command that carries a run (other than OOM or WRONGTYPE, which CLIENT REPLY SKIP never
 * answers) drops the connection: it may come from a CLIENT REPLY SKIP that was refused, and the
 * replies would be out of step. A run is lost with its connection. Returns 0, or -1
 * when the connection is not up or does not skip replies (redis_ev_quiet_ok); nothing is queued
 * then. */
int redis_ev_vquiet(struct redis_ev *r, const char *fmt, va_list ap);

/* Whether redis_ev_vquiet can be used: the config asked for it and the handshake found CLIENT
 * REPLY permitted on this connection (CLIENT REPLY ON answered +OK). */
bool redis_ev_quiet_ok(const struct redis_ev *r);

/* Drops the master connection (e.g. it stopped answering) and reconnects after the backoff.
 * Safe from inside a callback. */
void redis_ev_drop(struct redis_ev *r, const char *why);

/* Counters: reconnects after the first connect, and master switches seen. */
unsigned long redis_ev_reconnects(const struct redis_ev *r);

/* Commands queued by redis_ev_cmd / redis_ev_cmdv so far, and how many of their callbacks have
 * run (a reply, or none when the connection went). Replies come in order: command number n (the
 * value of redis_ev_sent right after it was queued) has been answered (or its connection is gone)
 * once redis_ev_replied >= n. */
unsigned long long redis_ev_sent(const struct redis_ev *r);
unsigned long long redis_ev_replied(const struct redis_ev *r);
/* The count redis_ev_replied reaches once every command queued so far, quiet ones included, has
 * been answered (a quiet run is answered with the command that carries it). */
unsigned long long redis_ev_mark(const struct redis_ev *r);

enum redis_reply_type redis_reply_type(const struct redis_reply *rr);
/* String, status and error replies; *len may be NULL. "" for other types. */
const char *redis_reply_str(const struct redis_reply *rr, size_t *len);
long long redis_reply_int(const struct redis_reply *rr);
/* Array replies. */
size_t redis_reply_count(const struct redis_reply *rr);
const struct redis_reply *redis_reply_elem(const struct redis_reply *rr, size_t i);

#endif
