#!/usr/bin/env bash
# Failover per sync level (issue 4): the lab's cluster of 3 workers (2 active, 1 backup) and emgr.
# A long-lived transfer (a /big download paced to 32 Mbit/s at the server, ~8.5 s) runs through an
# active worker's buckets; that worker is SIGKILLed 2 s in, the backup takes its buckets over.
#   level established: the transfer survives (completes with /big's sha256, no RST), and the
#     backup adopted connections from Redis;
#   level none (strict): it does not: nothing was in Redis, so the backup drops the connection's
#     packets (drop_tcp_not_syn grows) and the transfer stalls (curl gives up after 5 s below
#     1 kB/s) or is reset. This is the value of a priori sync.
# The level is emgr's (published in fw:config; the workers follow it): established at up, then
# none by restarting emgr1 with FW_SYNC_LEVEL=none (lab/fwlab: the caller's FW_SYNC_* win at
# start emgrK), which also shows the workers applying a new configuration.
set -u
. "$(dirname "$0")/lib.sh"

lab_start --nodes 3 --backups 1 --level established --strategy sync --access transaction
check "emgr status: two actives and node3 the backup" test "$(actives) $(role_of node3)" = "node1 node2 backup"
check "htb on the server's eth0 (to pace the long transfers)" shape_init
owner_is() { [ "$(conn_owner "$1")" = "$2" ]; }

# failover_run NAME VICTIM PORT_FROM: a paced transfer through VICTIM's buckets, VICTIM killed 2 s
# in; sets PORT, T_KILL, TAKER (the backup that took the buckets)
failover_run() {
    local name=$1 victim=$2 map
    TAKER=$(for n in node1 node2 node3; do worker_alive "$n" && role_is "$n" backup && echo "$n"; done | head -n 1)
    map=$(map_buckets)
    PORT=$(port_for "$victim" "$map" "$3")
    diag "$name: map $map; transfer from port $PORT (bucket $(bucket_of "$PORT")) through $victim; backup $TAKER"
    shape_port "$PORT"
    pcap_start fwl-client "$name-cli" "tcp port $PORT"
    pcap_start fwl-server "$name-srv" "tcp port $PORT"
    xfer_start "$name" "$PORT" -m 40 --speed-limit 1000 --speed-time 5
    check "$name: the transfer is established" wait_until 5 xfer_established "$PORT"
    sleep 2
    ENTRY=$(rcli GET "fw:conn:tcp:10.10.1.10:$PORT:10.10.2.10:80")
    diag "$name: its entry in Redis before the kill: '$ENTRY'"
    stats_refresh "$TAKER" || true
    NS0=$(stat_get drop_tcp_not_syn "$TAKER")
    T_KILL=$(now_s)
    q "$FWLAB" kill "$victim"
    check "$name: $TAKER (the backup) takes $victim's buckets" wait_until 5 role_is "$TAKER" active
    xfer_wait "$name" 45
    pcap_stop "$name-cli"
    pcap_stop "$name-srv"
    xfer_diag "$name"
    if [ "$(xfer_rc "$name")" = 0 ]; then
        read -r gap _ <<<"$(pcap_max_gap "$name-cli" "$(t_plus "$T_KILL" -0.5)" "$(t_plus "$T_KILL" 10)")"
        diag "$name: gap_ms=$gap (the largest gap between the transfer's packets at the client around the kill)"
    fi
}

# ---- level established ----
failover_run est node1 44000
check "est: the transfer's entry was in Redis before the kill (ESTABLISHED)" bash -c '[[ $1 == ESTABLISHED\ * ]]' _ "$ENTRY"
check "est: the transfer completes after the failover (curl exit $(xfer_rc est))" test "$(xfer_rc est)" = 0
check "est: ... with /big's sha256" xfer_sha_ok est
r=$(($(pcap_rsts est-cli) + $(pcap_rsts est-srv)))
check "est: no RST at the client or the server ($r)" test "$r" -eq 0
stats_refresh "$TAKER" || true
ad=$(stat_get conns_adopted "$TAKER")
check "est: $TAKER adopted connections from Redis (conns_adopted $ad >= 1)" test "$ad" -ge 1
check "lab/fwlab start node1: it rejoins as the backup" q "$FWLAB" start node1
check "node1 is the backup" wait_until 5 role_is node1 backup
kill_server_conns

# ---- level none: emgr1 restarted with FW_SYNC_LEVEL=none ----
check "emgr1 stopped" q "$FWLAB" stop emgr1
T_CFG=$(now_s)
check "emgr1 started with FW_SYNC_LEVEL=none" q env FW_SYNC_LEVEL=none "$FWLAB" start emgr1
level_none_everywhere() {
    local n
    for n in node1 node2 node3; do
        worker_alive "$n" || continue
        log_first_after "$STATE/$n.log" "$T_CFG" 'config version [0-9]+: .*sync level none' >/dev/null || return 1
    done
}
check "every worker applies emgr's new configuration: sync level none (its log)" wait_until 10 level_none_everywhere
check "emgr status shows level none" wait_until 5 bash -c '"$1" exec mgmt -- emgr status 2>&1 | grep -q "sync level none"' _ "$FWLAB"
victim=$(actives | awk '{print $1}')
failover_run none "$victim" 45000
check "none: the transfer had no entry in Redis before the kill" test -z "$ENTRY"
check "none: the transfer does not survive the failover (curl exit $(xfer_rc none), not 0)" test "$(xfer_rc none)" != 0
check_fails "none: ... its body is not /big ($(xfer_bytes none) bytes)" xfer_sha_ok none
stats_refresh "$TAKER" || true
ns1=$(stat_get drop_tcp_not_syn "$TAKER")
check "none: $TAKER drops the connection's packets: drop_tcp_not_syn grows ($NS0 -> $ns1)" test "$ns1" -gt "$NS0"
kill_server_conns
check "none: new connections pass the cluster (curl)" test "$(inc curl -sS -m 5 http://10.10.2.10/1b 2>/dev/null)" = x

for n in node1 node2 node3; do node_stats_diag "$n"; done
check "no sanitizer report in the workers' and emgr's logs" cluster_logs_clean
