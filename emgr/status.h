/* status.h: the operator's commands that read or nudge the cluster through Redis: status, conns,
 * drain, reload. Each runs its own short event loop and returns an exit status. */
#ifndef FW_EMGR_STATUS_H
#define FW_EMGR_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "redis_ev.h"

/* A table (or JSON with json) of the workers: role, buckets, acknowledged epoch, heartbeat age,
 * connections, packets/s, setup p50/p99; and the map epoch, the leader, the sync settings. */
int status_show(const struct redis_ev_config *rc, bool json, FILE *out);

/* The connections in Redis, optionally only those of one worker or in one state. */
int status_conns(const struct redis_ev_config *rc, const char *node, const char *state, FILE *out);

/* Asks the leader to move node's buckets away; with wait, until it owns none (at most
 * timeout_s). */
int status_drain(const struct redis_ev_config *rc, const char *node, bool wait, double timeout_s,
                 FILE *out);

/* Asks the leader to re-read its configuration file and republish it. */
int status_reload(const struct redis_ev_config *rc, FILE *out);

#endif
