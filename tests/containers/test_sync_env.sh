#!/usr/bin/env bash
# The sync mode set by environment variables is the one in effect: the cluster comes up with an
# environment file (as a user's .env) that says FW_SYNC_LEVEL=established FW_SYNC_ACCESS=dirty
# FW_SYNC_CONNECTIONS=1 FW_SYNC_PIPELINE=2; emgr status and every worker show it, Redis holds only
# ESTABLISHED TCP entries, and the workers' counters in Redis show WAITs sent behind another (with
# one write lane: with the default four a write seldom finds every lane's WAIT in flight).
set -u
. "$(dirname "$0")/lib.sh"

unset FW_SYNC_LEVEL FW_SYNC_STRATEGY FW_SYNC_ACCESS FW_SYNC_POLICY FW_SYNC_CONNECTIONS FW_SYNC_PIPELINE \
    FW_ACTIVES FW_BACKUPS
ENVFILE=$(mktemp /tmp/fwc-env.XXXXXX)
cat >"$ENVFILE" <<'EOF'
# a user's .env: a non-default sync mode
FW_SYNC_LEVEL=established
FW_SYNC_ACCESS=dirty
FW_SYNC_CONNECTIONS=1
FW_SYNC_PIPELINE=2
EOF
cluster_up
# shellcheck disable=SC2154
trap 'rc=$?; rm -f "$ENVFILE"; (exit $rc); cluster_cleanup' EXIT
ok "compose up with FW_SYNC_LEVEL=established FW_SYNC_ACCESS=dirty in the env file ($UP_SECONDS s)"

st=$(emgr_status)
diag "$st"
check "emgr status shows sync level established, strategy sync, access dirty" \
    grep -q 'sync level established, strategy sync, access dirty' <<<"$st"
check "emgr status: 2 active workers and 1 backup" roles_are 2 1
applied() {
    local w
    for w in worker1 worker2 worker3; do
        docker logs "$(cid "$w")" 2>&1 | grep -q 'config version .*sync level established, strategy sync, access dirty' || return 1
    done
}
check "every worker applied the published mode (worker logs)" wait_until 10 applied

out=$(on client ab -q -n 1000 -c 20 http://10.10.2.10/1b 2>&1)
diag "$(grep -E 'Complete requests|Failed requests|Requests per second' <<<"$out")"
check "ab -n 1000 -c 20: 0 failed requests" grep -Eq '^Failed requests: +0$' <<<"$out"
# FW_SYNC_CONNECTIONS=1 and FW_SYNC_PIPELINE=2 reached the workers: their counters
# (fw:stats:<node>, once a second) show WAITs that went behind another
queued() {
    local k n=0 v
    for k in $(on redis redis-cli --scan --pattern 'fw:stats:*' | tr -d '\r'); do
        v=$(on redis redis-cli HGET "$k" waits_queued | tr -d '\r')
        n=$((n + ${v:-0}))
    done
    QUEUED=$n
    [ "$n" -gt 0 ]
}
check "FW_SYNC_PIPELINE=2: the workers sent WAITs behind another (waits_queued in fw:stats:*)" \
    wait_until 5 queued
diag "waits_queued, all workers: ${QUEUED:-?}"

on client sh -c 'timeout 15 curl -s --limit-rate 1M -o /dev/null http://10.10.2.10/big' &
slow=$!
est() {
    local k
    for k in $(on redis redis-cli --scan --pattern 'fw:conn:tcp:10.10.1.10:*:10.10.2.10:80' | tr -d '\r'); do
        on redis redis-cli GET "$k" | grep -q '^ESTABLISHED' && return 0
    done
    return 1
}
check "redis-cli in the Redis container shows the slow transfer ESTABLISHED" wait_until 10 est
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
# level established: the handshake and teardown states stay local; closed connections are deleted
states=$(on redis sh -c 'for k in $(redis-cli --scan --pattern "fw:conn:tcp:*"); do redis-cli GET "$k"; done' |
    awk '{print $1}' | sort | uniq -c | tr '\n' ';')
diag "TCP states in Redis: ${states:-none}"
other() { on redis sh -c 'for k in $(redis-cli --scan --pattern "fw:conn:tcp:*"); do redis-cli GET "$k"; done' | grep -qv '^ESTABLISHED'; }
check_fails "level established: no TCP state other than ESTABLISHED in Redis" other

compose down -v --remove-orphans -t 5 >/dev/null 2>&1
left=$(project_leftovers)
if [ -z "$left" ]; then ok "compose down -v leaves nothing behind"; else
    notok "compose down -v leaves nothing behind"
    diag "$left"
fi
rm -f "$ENVFILE"
trap - EXIT
