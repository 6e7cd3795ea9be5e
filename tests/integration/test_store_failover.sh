#!/usr/bin/env bash
# The Redis master killed with Sentinel running (issue 7, "Faults"), under the cluster: emgr and
# 3 workers (node1, node2 active, node3 the backup), Redis master + 2 replicas + 3 Sentinels,
# level full, strategy sync, access transaction, replicas all (conf/cluster.conf).
#   - $N idle TCP connections are opened through the cluster and held; once the server has
#     accepted all of them, the worker released their handshake-completing ACKs, which in sync
#     mode happens only after WAIT reported the ESTABLISHED entry on every replica;
#   - a paced /big download runs through the cluster; the master is SIGKILLed;
#   - the Sentinels promote a replica; every worker (and emgr) connects to it (CLIENT LIST of the
#     new master); the times are printed ("# promoted_ms=", "# followed_ms=");
#   - nothing acknowledged is lost: each of the $N entries is on the new master, ESTABLISHED;
#   - traffic continues: the download completes intact (sha256, no RST), new connections pass,
#     the workers' heartbeats are on the new master and emgr status shows 2 actives, 1 backup.
set -u
. "$(dirname "$0")/lib.sh"

N=40
sentinel_master() {
    ip netns exec fwl-mgmt /usr/bin/redis-cli -h 10.10.0.221 -p 26379 \
        SENTINEL get-master-addr-by-name fwmaster 2>/dev/null | head -n 1
}
# hold_start COUNT SECONDS: COUNT connections to the server's port 80 from the client, held open
# (idle) for SECONDS; their client ports go to $STATE/held.ports once all are connected
hold_start() {
    rm -f "$STATE/held.ports"
    inc "$PY" -c '
import socket, sys, time
n, secs, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
socks = [socket.create_connection(("10.10.2.10", 80), timeout=5) for _ in range(n)]
with open(out + ".new", "w") as f:
    f.write("\n".join(str(s.getsockname()[1]) for s in socks) + "\n")
import os
os.rename(out + ".new", out)
time.sleep(secs)
' "$1" "$2" "$STATE/held.ports" >"$STATE/held.log" 2>&1 &
    HOLD_PID=$!
}
held_ports() { cat "$STATE/held.ports" 2>/dev/null; }
# server_accepted: the server has all the held connections established
server_accepted() {
    local n
    n=$(ins ss -Htn state established '( sport = :80 )' dst 10.10.1.10 |
        awk 'NR == FNR {p[$1] = 1; next} {split($4, a, ":"); if (a[2] in p) c++} END {print c + 0}' \
            "$STATE/held.ports" -)
    [ "$n" -eq "$N" ]
}
# entries_established: how many of the held connections are ESTABLISHED on the current master
entries_established() {
    local p c=0
    for p in $(held_ports); do
        [[ "$(rcli GET "fw:conn:tcp:10.10.1.10:$p:10.10.2.10:80")" == ESTABLISHED* ]] && c=$((c + 1))
    done
    echo "$c"
}
all_follow() {
    local cl
    cl=$(rcli CLIENT LIST) || return 1
    for n in node1 node2 node3; do grep -q " name=fwnode-$n " <<<"$cl" || return 1; done
    grep -q ' name=emgr-emgr1 ' <<<"$cl"
}

lab_start --nodes 3 --backups 1 --level full --strategy sync --access transaction
check "node1, node2 active, node3 the backup" test "$(actives) $(role_of node3)" = "node1 node2 backup"
old=$(sentinel_master)
check "the Sentinels name redis0 (10.10.0.200) the master" test "$old" = 10.10.0.200
P=47000
paced_download sf "$P" 24mbit 50
hold_start "$N" 60
check "$N connections held open through the cluster" wait_until 15 test -s "$STATE/held.ports"
check "the server accepted all $N (their ACKs were released by the workers)" wait_until 5 server_accepted
e0=$(entries_established)
check "their $e0 entries are ESTABLISHED on the master" test "$e0" -eq "$N"

T0=$(now_s)
q "$FWLAB" redis-kill master
promoted() {
    local m
    m=$(sentinel_master)
    [ -n "$m" ] && [ "$m" != "$old" ]
}
if check "the Sentinels promote a replica (20 s)" wait_until 20 promoted; then
    diag "promoted_ms=$(ms_between "$T0" "$(now_s)") (the kill to the Sentinels naming $(sentinel_master))"
fi
check "the new master says it is one (ROLE)" bash -c '[ "$("$1" exec mgmt -- redis-cli ROLE | head -n 1)" = master ]' _ "$FWLAB"
if check "every worker and emgr1 connect to the new master (15 s)" wait_until 15 all_follow; then
    diag "followed_ms=$(ms_between "$T0" "$(now_s)") (the kill to all three workers and emgr1 on the new master)"
fi
e1=$(entries_established)
if ! check "nothing acknowledged is lost: $e1 of the $N held connections are ESTABLISHED on the new master" \
    test "$e1" -eq "$N"; then
    for p in $(held_ports); do
        v=$(rcli GET "fw:conn:tcp:10.10.1.10:$p:10.10.2.10:80")
        [[ "$v" == ESTABLISHED* ]] || diag "port $p: '${v}'"
    done | head -n 10
fi
check "new connections pass after the failover" wait_until 10 curl_1b 3
hb() { [ "$(rcli --scan --pattern 'fw:node:*' | grep -c .)" -eq 3 ]; }
check "the three workers' heartbeats are on the new master" wait_until 10 hb
roles_kept() { [ "$(actives) $(role_of node3)" = "node1 node2 backup" ]; }
check "emgr status: still node1, node2 active, node3 the backup" wait_until 10 roles_kept
check "the download finished (45 s)" xfer_wait sf 45
pcap_stop sf-cli
xfer_diag sf
check "the download across the master failover completes intact (exit $(xfer_rc sf), sha256)" xfer_intact sf
r=$(pcap_rsts sf-cli)
check "no RST on the download ($r)" test "$r" -eq 0
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
for n in node1 node2 node3; do
    stats_refresh "$n" >/dev/null 2>&1
    diag "$n: redis_reconnects=$(stat_get redis_reconnects "$n") wait_timeouts=$(stat_get wait_timeouts "$n") policy_forwards=$(stat_get policy_forwards "$n") writes_lost=$(stat_get writes_lost "$n")"
done
all_alive() { worker_alive node1 && worker_alive node2 && worker_alive node3; }
check "the three workers are alive" all_alive
check "no sanitizer report in the workers' and emgr's logs" cluster_logs_clean
