#!/usr/bin/env bash
# The lab itself: up / up again / status / exec / kill + start / stop / down / down again, a
# failed up leaves nothing behind, down cleans up after a crash. The lab runs with its Redis (the
# default: a master, 2 replicas, 3 Sentinels): roles in status, redis-cli as admin through exec
# mgmt, the secrets, pause / resume, a master crash with a Sentinel failover, and all of it gone
# after down.
set -u
. "$(dirname "$0")/lib.sh"

lab_namespaces() { ip netns list | awk '{print $1}' | grep '^fwl-' || true; }
no_namespaces() {
    local left
    left=$(lab_namespaces)
    [ -z "$left" ] || {
        diag "left: $left"
        return 1
    }
}
# the pids the lab recorded; after down none of them may live
lab_pids() { cat "$STATE"/pids/*.pid "$STATE"/node*.pid 2>/dev/null | sort -u; }
none_alive() {
    local p bad=""
    for p in "$@"; do pid_alive "$p" && bad="$bad $p($(cat /proc/"$p"/comm 2>/dev/null))"; done
    [ -z "$bad" ] || {
        diag "still alive:$bad"
        return 1
    }
}
curl_ok() { [ "$(inc curl -sS -m "${1:-5}" http://10.10.2.10/1b 2>/dev/null)" = x ]; }

lab_start
PIDS=$(lab_pids)

out=$("$FWLAB" up 2>&1)
rc=$?
diag "$out"
check "up again on a fully up lab says so and succeeds" test $rc -eq 0 -a -n "$(grep -i 'already up' <<<"$out")"
"$FWLAB" up --nodes 2 >/dev/null 2>&1
check "up --nodes 2 on a lab with 1 node is refused (exit 1)" test $? -eq 1
check "status succeeds" q "$FWLAB" status
st=$("$FWLAB" status 2>&1)
check "status shows node1's worker alive" grep -q "node1 worker: pid $(worker_pid) alive" <<<"$st"
check "status shows the client's address" grep -q '10.10.1.10/24' <<<"$st"
check "status shows counters" grep -q 'pkts_in' <<<"$st"
check "exec client runs in the client namespace" \
    bash -c '"$1" exec client -- ip -br addr show eth0 | grep -q "10.10.1.10/24"' _ "$FWLAB"
check "exec server runs in the server namespace" \
    bash -c '"$1" exec server -- ip -br addr show eth0 | grep -q "fd00:10:2::10/64"' _ "$FWLAB"
check "exec node1 sees interfaces a, b, m" \
    bash -c '[ "$("$1" exec node1 -- ip -br link | awk "{print \$1}" | cut -d@ -f1 | grep -cx "[abm]")" = 3 ]' _ "$FWLAB"
check "exec passes the command's exit status" bash -c '"$1" exec mgmt -- sh -c "exit 7"; [ $? -eq 7 ]' _ "$FWLAB"
check_fails "exec on an unknown host fails" q "$FWLAB" exec nosuchhost -- true
check "forwarding is off in node1" bash -c \
    '[ "$("$1" exec node1 -- sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding | tr -d "\n")" = 00 ]' _ "$FWLAB"
check "traffic flows through node1" curl_ok 10

# ---- the lab's Redis ----
check "status shows redis0 as master with 2 replicas" \
    grep -Eq '^  redis0 +10\.10\.0\.200:6379 .* master, 2 replica\(s\) connected' <<<"$st"
check "status shows redis1 and redis2 as replicas of redis0, link up" \
    test "$(grep -Ec '^  redis[12] +.* replica of 10\.10\.0\.200, link up' <<<"$st")" = 2
check "status shows 3 Sentinels naming the master" \
    test "$(grep -Ec '^  sentinel[123] +.* master at 10\.10\.0\.200:6379, OK' <<<"$st")" = 3
check "exec mgmt -- redis-cli: admin on the master" \
    bash -c '[ "$("$1" exec mgmt -- redis-cli ACL WHOAMI)" = admin ] && [ "$("$1" exec mgmt -- redis-cli ROLE | head -n 1)" = master ]' _ "$FWLAB"
check "exec mgmt -- redis-cli -h <replica> reaches that replica" \
    bash -c '[ "$("$1" exec mgmt -- redis-cli -h 10.10.0.202 ROLE | head -n 1)" = slave ]' _ "$FWLAB"
check "exec mgmt -- redis-cli -p 26379 -h <sentinel> talks to a Sentinel" \
    bash -c '"$1" exec mgmt -- redis-cli -h 10.10.0.221 -p 26379 SENTINEL get-master-addr-by-name fwmaster | grep -qx 10.10.0.200' _ "$FWLAB"
check "the default user is off: without a login the master answers NOAUTH" \
    bash -c 'ip netns exec fwl-mgmt /usr/bin/redis-cli -h 10.10.0.200 PING 2>&1 | grep -q NOAUTH'
check "secrets: directory mode 700, password files mode 600" \
    bash -c '[ "$(stat -c %a "$1/secrets")" = 700 ] && [ "$(stat -c %a "$1"/secrets/*.pass | sort -u)" = 600 ] && [ "$(ls "$1"/secrets/*.pass | wc -l)" = 5 ]' _ "$STATE"
as_fwnode() { rcli CLIENT LIST | grep " name=fwnode-node1 " | grep -q " user=fwnode "; }
check "the worker is logged in as user fwnode" as_fwnode
stats_hash() { [ "$(rcli EXISTS fw:stats:node1)" = 1 ]; }
check "the worker's statistics hash fw:stats:node1 exists" wait_until 3 stats_hash
check "redis-pause replica1: SIGSTOP" q "$FWLAB" redis-pause replica1
check "status shows redis1 PAUSED" bash -c '"$1" status | grep -Eq "^  redis1 .*PAUSED"' _ "$FWLAB"
check "redis-resume replica1" q "$FWLAB" redis-resume replica1
linked() { rcli_at 1 INFO replication | grep -q '^master_link_status:up'; }
check "redis1's link is up again" wait_until 10 linked
# a master crash: the Sentinels fail over, redis-cli and the worker follow the new master
check "redis-kill master" q "$FWLAB" redis-kill master
new_master() {
    local m
    m=$(ip netns exec fwl-mgmt /usr/bin/redis-cli -h 10.10.0.221 -p 26379 SENTINEL get-master-addr-by-name fwmaster 2>/dev/null | head -n 1)
    [ -n "$m" ] && [ "$m" != 10.10.0.200 ]
}
check "the Sentinels elect a new master within 20 s" wait_until 20 new_master
check "exec mgmt -- redis-cli follows the new master" \
    bash -c '[ "$("$1" exec mgmt -- redis-cli ROLE | head -n 1)" = master ]' _ "$FWLAB"
check "the worker follows the new master (its connection is there, 10 s)" wait_until 10 worker_connected node1
check "traffic flows after the failover" curl_ok 10
check "redis-start master: the old master comes back" q "$FWLAB" redis-start master
old_is_replica() { rcli_at 0 ROLE | head -n 1 | grep -qx slave; }
check "... and the Sentinels make it a replica of the new master (20 s)" wait_until 20 old_is_replica
# a hung master twice: once the Sentinels moved away from the first, 'redis-pause master' stops
# the next one; 'redis-resume master' gives back the last one stopped, then the one before it
sentinel_master() {
    ip netns exec fwl-mgmt /usr/bin/redis-cli -h 10.10.0.221 -p 26379 SENTINEL get-master-addr-by-name fwmaster 2>/dev/null | head -n 1
}
master_moved_from() { local m; m=$(sentinel_master); [ -n "$m" ] && [ "$m" != "$1" ]; }
paused_instances() { "$FWLAB" status | sed -n 's/^  \(redis[0-9]\) .*PAUSED.*/\1/p' | sort | tr '\n' ' '; }
m1=$(sentinel_master)
m1=redis$((${m1##*.} - 200))
q "$FWLAB" redis-pause master
check "redis-pause master: $m1 stopped" test "$(paused_instances)" = "$m1 "
check "the Sentinels elect another master within 20 s" wait_until 20 master_moved_from "10.10.0.$((200 + ${m1#redis}))"
m2=$(sentinel_master)
m2=redis$((${m2##*.} - 200))
q "$FWLAB" redis-pause master
check "redis-pause master again: the new master $m2 stopped too" \
    test "$(paused_instances)" = "$(printf '%s\n' "$m1" "$m2" | sort | tr '\n' ' ')"
q "$FWLAB" redis-resume master
check "redis-resume master: $m2, the last one stopped, runs again" test "$(paused_instances)" = "$m1 "
q "$FWLAB" redis-resume master
check "redis-resume master again: $m1 runs again" test -z "$(paused_instances)"
check "traffic flows once the Sentinels settled (30 s)" wait_until 30 curl_ok 3

old=$(worker_pid)
check "kill node1 succeeds" q "$FWLAB" kill node1
dead() { ! pid_alive "$1"; }
check "node1's worker is gone after kill" wait_until 3 dead "$old"
check_fails "no traffic while node1 is dead" curl_ok 2
check "status reports node1 DEAD" bash -c '"$1" status | grep -q "node1 worker: pid [0-9]* DEAD"' _ "$FWLAB"
out=$("$FWLAB" up 2>&1)
rc=$?
check "up with a dead worker is refused with a hint (exit 1)" test $rc -eq 1 -a -n "$(grep 'start node1' <<<"$out")"
check "start node1 succeeds" q "$FWLAB" start node1
check "node1 runs again with a new pid" test -n "$(worker_pid)" -a "$(worker_pid)" != "$old"
check_fails "start node1 while it runs is refused" q "$FWLAB" start node1
check "traffic flows again after start" wait_until 5 curl_ok 3
LOGSTART=$(grep -n '=== .* start node1' "$STATE/node1.log" | tail -n 1 | cut -d: -f1)
check "stop node1 (SIGTERM) succeeds" q "$FWLAB" stop node1
check "node1 exited cleanly: no sanitizer report" sanitizer_clean
check "start node1 after stop" q "$FWLAB" start node1
PIDS="$PIDS $(lab_pids)"

check "down succeeds" q "$FWLAB" down
check "down leaves no fwl-* namespace" no_namespaces
check "down leaves none of the lab's processes" none_alive $PIDS
check "down again succeeds" q "$FWLAB" down
check "status on a down lab says down (exit 3)" bash -c '"$1" status | grep -q "lab: down"; [ ${PIPESTATUS[0]} -eq 3 ]' _ "$FWLAB"

# A worker that cannot start: up fails and leaves nothing half-built.
out=$(FWLAB_FWNODE=/bin/false "$FWLAB" up 2>&1)
rc=$?
diag "$(tail -n 2 <<<"$out")"
check "up with a worker that exits at once fails" test $rc -ne 0
check "the failed up left no namespace" no_namespaces
check "the failed up left no process" bash -c '! pgrep -f "$1/nginx/nginx.conf" >/dev/null' _ "$STATE"
check "the failed up left no Redis or Sentinel" bash -c '! pgrep -f "$1/redis/" >/dev/null' _ "$STATE"
check_fails "up with a missing worker binary is refused" q env FWLAB_FWNODE=/nonexistent "$FWLAB" up
check "... and makes nothing" no_namespaces

# Crash recovery: SIGKILL everything of a lab and remove its marker files; down still cleans up.
check "up --nodes 2" q "$FWLAB" up --nodes 2
check "node2's namespace is ready with its addresses" \
    bash -c '"$1" exec node2 -- ip -br addr show a | grep -q "10.10.1.102/24 fd00:10:1::102/64"' _ "$FWLAB"
check "node2's worker is not started (no bucket steering yet)" \
    bash -c '"$1" status | grep -q "node2 worker: not started"' _ "$FWLAB"
PIDS=$(lab_pids)
kill -KILL $PIDS 2>/dev/null
rm -rf "$STATE/up" "$STATE/pids"
out=$("$FWLAB" up 2>&1)
check "up on a crashed lab is refused (exit 1)" test $? -eq 1
check "down after a crash succeeds" q "$FWLAB" down
check "down after a crash leaves no fwl-* namespace" no_namespaces
check "down after a crash leaves no process in the lab" none_alive $PIDS
check_fails "no nginx of the lab is left" pgrep -f "$STATE/nginx/nginx.conf"
check_fails "no Redis or Sentinel of the lab is left" pgrep -f "$STATE/redis/"
check "down removed the secrets and the Redis files" test ! -e "$STATE/secrets" -a ! -e "$STATE/redis" -a ! -e "$STATE/bin"

# ---- the cluster in the lab: up --backups B starts emgr and every worker with FW_CLUSTER=1 ----
check_fails "up --nodes 2 --backups 2 is refused (no active worker)" q "$FWLAB" up --nodes 2 --backups 2
check_fails "up --cluster --no-redis is refused (the cluster needs Redis)" q "$FWLAB" up --cluster --no-redis
check "... and both made nothing" no_namespaces
check "up --nodes 2 --backups 1 (emgr1; node1 active, node2 the backup)" q "$FWLAB" up --nodes 2 --backups 1
st=$("$FWLAB" status 2>&1)
check "status shows emgr1 alive" grep -Eq '^  emgr1: pid [0-9]+ alive' <<<"$st"
check "status shows emgr status (node1 active with 1024 buckets, node2 backup)" \
    bash -c 'grep -Eq "^  node1 +active +1024 " <<<"$1" && grep -Eq "^  node2 +backup +0 " <<<"$1"' _ "$st"
es=$("$FWLAB" exec mgmt -- emgr status 2>&1)
diag "$es"
check "exec mgmt -- emgr status works (the lab's wrapper: Redis as admin)" grep -q '^map epoch [0-9]*, leader emgr1' <<<"$es"
mp=$(rcli HGETALL fw:map | paste -sd' ')
diag "HGETALL fw:map: $mp"
check "fw:map has epoch, nbuckets 1024 and buckets node1=0-1023" \
    bash -c '[[ $1 == *epoch\ [0-9]* && $1 == *nbuckets\ 1024* && $1 == *buckets\ node1=0-1023* ]]' _ "$mp"
hb=$(rcli GET fw:node:node2)
check "node2's heartbeat key: state=ready epoch=N owned=0 pid=P ($hb)" \
    bash -c '[[ $1 =~ ^state=ready\ epoch=[0-9]+\ owned=0\ pid=[0-9]+$ ]]' _ "$hb"
check "traffic flows through the cluster" curl_ok 5
check "kill emgr1" q "$FWLAB" kill emgr1
check "status shows emgr1 DEAD" bash -c '"$1" status | grep -Eq "^  emgr1: pid [0-9]+ DEAD"' _ "$FWLAB"
check "traffic flows without a manager" curl_ok 5
t0=$(now_s)
check "start emgr1" q "$FWLAB" start emgr1
leads_again() { log_first_after "$STATE/emgr1.log" "$t0" 'emgr1 leads the cluster' >/dev/null; }
check "the new emgr1 leads (its log, within the old lease + a renewal period)" wait_until 3 leads_again
check_fails "start emgr2 on a lab with one manager is refused" q "$FWLAB" start emgr2
PIDS=$(lab_pids)
check "down succeeds" q "$FWLAB" down
check "down leaves no fwl-* namespace (emgr1's included)" no_namespaces
check "down leaves none of the cluster's processes (workers, emgr)" none_alive $PIDS
check "down removed the cluster's files" test ! -e "$STATE/emgr" -a ! -e "$STATE/cluster"
