/* manager.h: the element manager daemon (emgr run). One leader among the managers (a lease in
 * Redis); the leader publishes the configuration and rules, watches the workers (keyspace events
 * on their heartbeat keys, and a periodic reconciliation because events can be missed), computes
 * the bucket map with assign_next() and publishes it with a new epoch. */
#ifndef FW_EMGR_MANAGER_H
#define FW_EMGR_MANAGER_H

#include <stdbool.h>

#include "options.h"
#include "redis_ev.h"

struct ev_loop;
struct manager;

/* Called when an operator asks for a reload through Redis (emgr reload): the caller re-reads its
 * configuration and calls manager_reload. */
typedef void (*manager_reload_fn)(void *arg);

/* o is kept by reference: it must outlive the manager (manager_reload swaps it). rc: how to reach
 * Redis (copied; the manager opens two connections with it). NULL with err set on failure. */
struct manager *manager_new(struct ev_loop *loop, const struct emgr_options *o,
                            const struct redis_ev_config *rc, manager_reload_fn reload, void *arg,
                            char *err, size_t errlen);
void manager_free(struct manager *m);

/* A new configuration (SIGHUP, emgr reload): republished by the leader; existing connections are
 * untouched. o must outlive the manager. */
void manager_reload(struct manager *m, const struct emgr_options *o);

bool manager_is_leader(const struct manager *m);

/* Gives the lease up (on a clean stop) so that a standby leads at once; done runs when Redis
 * answered. Returns -1 when not leading (done is not called). */
int manager_step_down(struct manager *m, void (*done)(void *arg), void *arg);

#endif
