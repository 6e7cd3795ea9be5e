#!/usr/bin/env bash
# Replicas in trouble around one worker (issue 7, "Faults"): level full, strategy sync, access
# transaction, FW_SYNC_REPLICAS=all, a WAIT timeout of $TO_MS ms. (test_store_sync pauses both
# replicas at once; here one at a time, and kills.)
#   - one replica killed: "all" follows the replicas actually connected (the master's ROLE): 30
#     new connections find their entry on the surviving replica when connect() returns, and no
#     WAIT times out;
#   - one replica paused (SIGSTOP: still connected, silent): WAIT times out; policy open: a new
#     connection passes, wait_timeouts and policy_forwards grow; policy closed: it fails,
#     wait_timeouts and policy_drops grow; after the resume new connections pass again;
#   - every replica killed: "all" is none, new connections pass without a WAIT timeout even
#     with policy closed.
set -u
. "$(dirname "$0")/lib.sh"

TO_MS=400
snap() { sleep 0.2; stats_refresh node1 || diag "stats of node1 not refreshed"; }
json() { # json 'JSON' KEY
    "$PY" -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(json.dumps(v) if isinstance(v, (list, dict)) else v)' "$1" "$2" 2>/dev/null
}
# replica_check REPLICAS COUNT: COUNT connections, each entry looked for on REPLICAS (ip,ip)
replica_check() {
    timeout 60 ip netns exec fwl-mgmt "$PY" "$TOP/tests/integration/replica_check.py" \
        --replicas "$1" --password-file "$STATE/secrets/admin.pass" \
        --netns /run/netns/fwl-client --count "$2" 2>&1 | tail -n 1
}
connected_replicas() { rcli INFO replication | sed -n 's/^connected_slaves:\([0-9]*\).*/\1/p'; }
replicas_are() { [ "$(connected_replicas)" = "$1" ]; }
replicas_linked() {
    local k
    for k in 1 2; do rcli_at "$k" INFO replication | grep -q '^master_link_status:up' || return 1; done
}

lab_start --replicas 2 --level full --strategy sync --access transaction
check "node1 restarted (policy open, replicas all, WAIT timeout $TO_MS ms)" node1_with open

# ---- (a) one replica killed: "all" is the one left ----
q "$FWLAB" redis-kill replica2
check "replica2 killed: the master counts 1 connected replica" wait_until 10 replicas_are 1
sleep 1.5 # the worker asks ROLE once per period
snap
w0=$(stat_get wait_timeouts)
out=$(replica_check 10.10.0.201 30)
diag "one replica killed: $out"
found=$(json "$(json "$out" found)" 10.10.0.201)
check "30 connections, each entry on replica1 when connect() returned ($found)" test "${found:-0}" = 30
snap
w1=$(stat_get wait_timeouts)
check "no WAIT timed out: the required count followed the connected replicas ($w0 -> $w1)" test "$w1" -eq "$w0"

# ---- one replica paused: WAIT times out, the policy decides ----
check "replica2 started again" q "$FWLAB" redis-start replica2
check "both replicas linked" wait_until 15 replicas_linked
check "the master counts 2 connected replicas" wait_until 10 replicas_are 2
q "$FWLAB" redis-pause replica1
sleep 1.5
snap
w0=$(stat_get wait_timeouts) f0=$(stat_get policy_forwards)
read -r rc tc <<<"$(curl_t 5)"
diag "replica1 paused, policy open: curl exit $rc, time_connect $tc s (WAIT timeout $TO_MS ms)"
check "replica1 paused, policy open: a new connection passes (exit $rc)" test "$rc" = 0
snap
w1=$(stat_get wait_timeouts) f1=$(stat_get policy_forwards)
check "... its WAIT timed out: wait_timeouts grows ($w0 -> $w1)" test "$w1" -gt "$w0"
check "... and the packet left by the policy: policy_forwards grows ($f0 -> $f1)" test "$f1" -gt "$f0"
check "node1 restarted with policy closed (replica1 still paused)" node1_with closed
sleep 1
snap
w0=$(stat_get wait_timeouts) d0=$(stat_get policy_drops)
read -r rc tc <<<"$(curl_t 3)"
check "replica1 paused, policy closed: a new connection fails (curl exit $rc: 28 = timeout)" test "$rc" = 28
snap
w1=$(stat_get wait_timeouts) d1=$(stat_get policy_drops)
check "... wait_timeouts grows ($w0 -> $w1)" test "$w1" -gt "$w0"
check "... policy_drops grows ($d0 -> $d1)" test "$d1" -gt "$d0"
q "$FWLAB" redis-resume replica1
check "replica1 resumed: both replicas linked" wait_until 15 replicas_linked
check "policy closed, replicas back: a new connection passes" wait_until 5 curl_1b 3

# ---- every replica killed: "all" is none ----
q "$FWLAB" redis-kill all-replicas
check "all replicas killed: the master counts none" wait_until 10 replicas_are 0
sleep 1.5
snap
w0=$(stat_get wait_timeouts) d0=$(stat_get policy_drops)
read -r rc tc <<<"$(curl_t 3)"
diag "no replica, policy closed: curl exit $rc, time_connect $tc s"
check "no replica left, policy closed: a new connection passes (exit $rc)" test "$rc" = 0
snap
check "... without a WAIT timeout ($w0 -> $(stat_get wait_timeouts)) or a policy drop ($d0 -> $(stat_get policy_drops))" \
    test "$(stat_get wait_timeouts)" -eq "$w0" -a "$(stat_get policy_drops)" -eq "$d0"
check "the replicas started again" q "$FWLAB" redis-start all-replicas
check "both replicas linked" wait_until 15 replicas_linked

stats_refresh || true
stats_diag
worker_final_checks
