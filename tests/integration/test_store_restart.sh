#!/usr/bin/env bash
# A worker restarted with an empty local table continues an established connection from its entry
# in Redis (lookup on miss, DESIGN.md section 4; issue 3), against the lab's real Redis:
#   levels full and established: a /big download (32 MiB, ~8 s) runs through node1; 2 s in, node1
#     is SIGKILLed and started again (lab/fwlab kill node1 + start node1: a new process, an empty
#     table). The download completes with the right sha256, no RST is seen at either end (tcpdump),
#     and the restarted worker's counters show the lookup on miss: store_lookups >= 1,
#     store_found >= 1, conns_adopted >= 1.
#     Two kinds of transfer per level:
#       paced:  the server's side of the flow is shaped to 32 Mbit/s (htb on the server's eth0):
#               a steady stream of segments, as a long-lived transfer looks on a network;
#       bursty: curl --limit-rate 4M: curl's reads open and close the receive window, so the
#               server sends bursts, then waits (zero window, persist probes, retransmissions);
#               three runs, because where the kill falls in a burst decides which packet the
#               restarted worker sees first (a retransmission of the server's, or the client's).
#     A stalled download is given up by curl after 5 s below 1 kB/s (--speed-time 5).
#   level none (strict): the same restart (paced) makes the transfer fail (curl -m bounded fails,
#     the body is short or differs), and the restarted worker counts the connection's packets as
#     drop_tcp_not_syn: there is no state anywhere, which is the value of a priori sync.
set -u
. "$(dirname "$0")/lib.sh"

lab_start --replicas 2 --level full --strategy sync --access transaction
check "node1 is connected to the Redis master" wait_until 10 worker_connected node1
check "htb on the server's eth0 (to pace single flows)" shape_init

PORT=41000
# restart_run LEVEL KIND (paced | bursty): one download, node1 killed and started 2 s in.
# Sets RUN (the name), RUN_PORT, T_KILL, T_UP, T_START.
restart_run() {
    local level=$1 kind=$2
    RUN="$level-$kind${3:-}"
    PORT=$((PORT + 1))
    RUN_PORT=$PORT
    kill_server_conns
    check "$RUN: node1 restarted with FW_SYNC_LEVEL=$level" restart_node1 FW_SYNC_LEVEL="$level"
    pcap_start fwl-client "$RUN-cli" "tcp port $RUN_PORT"
    pcap_start fwl-server "$RUN-srv" "tcp port $RUN_PORT"
    local m=20
    T_START=$(now_s)
    case $kind in
    paced)
        shape_port "$RUN_PORT" 32mbit
        xfer_start "$RUN" "$RUN_PORT" -m "$m" --speed-limit 1000 --speed-time 5
        ;;
    bursty) xfer_start "$RUN" "$RUN_PORT" -m "$m" --speed-limit 1000 --speed-time 5 --limit-rate 4M ;;
    esac
    XFER_M=$m
    check "$RUN: the download from port $RUN_PORT is established" wait_until 5 xfer_established "$RUN_PORT"
    sleep 2
    local key="fw:conn:tcp:10.10.1.10:$RUN_PORT:10.10.2.10:80"
    ENTRY=$(rcli GET "$key")
    diag "$RUN: before the kill: GET $key -> '${ENTRY}'"
    if [ "$level" != none ]; then
        check "$RUN: its entry in Redis says ESTABLISHED before the kill" \
            bash -c '[[ $1 == ESTABLISHED\ * ]]' _ "$ENTRY"
        check "$RUN: the entry is in the index of bucket $(bucket_of "$RUN_PORT") (the steering hash)" \
            test "$(rcli SISMEMBER "fw:bucket:$(bucket_of "$RUN_PORT")" "$key")" = 1
    else
        check "$RUN: no entry in Redis (level none)" test -z "$ENTRY"
    fi
    T_KILL=$(now_s)
    q "$FWLAB" kill node1
    env FW_SYNC_LEVEL="$level" "$FWLAB" start node1 >/dev/null 2>&1
    T_UP=$(now_s)
    diag "$RUN: node1 killed and started again in $(ms_between "$T_KILL" "$T_UP") ms (new pid $(worker_pid))"
}
# after_run: stops the captures, prints the gap, the timeline after the restart on failure
after_run() {
    pcap_stop "$RUN-cli"
    pcap_stop "$RUN-srv"
    read -r gap _ <<<"$(pcap_max_gap "$RUN-cli" "$T_KILL" "$(t_plus "$T_KILL" 5)")"
    diag "$RUN: largest gap between packets at the client after the kill: ${gap} ms"
}
timeline_after_kill() { # the client's view of the flow after the kill (data segments folded)
    pcap_text "$RUN-cli" | after_kill "$T_KILL" | fold_data "$T_KILL" | head -n "${1:-12}"
}

for level in full established; do
    for kind in paced bursty1 bursty2 bursty3; do
        restart_run "$level" "${kind%[0-9]}" "${kind##*[a-z]}"
        xfer_wait "$RUN" $((XFER_M + 5))
        after_run
        xfer_diag "$RUN"
        if ! check "$RUN: the download completes after the restart (curl exit $(xfer_rc "$RUN"))" \
            test "$(xfer_rc "$RUN")" = 0; then
            diag "$RUN: the client's capture after the kill:" "$(timeline_after_kill 14)"
        fi
        check "$RUN: the body has /big's sha256" xfer_sha_ok "$RUN"
        # a transfer that stalled ends with curl's own reset at its timeout: count only the RSTs
        # sent while curl still waited
        r_cli=$(pcap_rsts "$RUN-cli" "$T_START" "$(t_plus "$T_START" "$((XFER_M - 1))")")
        r_srv=$(pcap_rsts "$RUN-srv" "$T_START" "$(t_plus "$T_START" "$((XFER_M - 1))")")
        check "$RUN: no RST at the client ($r_cli) or the server ($r_srv) (tcpdump)" test "$r_cli" -eq 0 -a "$r_srv" -eq 0
        stats_refresh node1 || diag "stats of node1 not refreshed"
        lk=$(stat_get store_lookups) fd=$(stat_get store_found) ad=$(stat_get conns_adopted)
        oow=$(stat_get drop_tcp_out_of_window)
        diag "$RUN: restarted node1: store_lookups=$lk store_found=$fd conns_adopted=$ad drop_tcp_out_of_window=$oow"
        check "$RUN: the restarted worker looked the connection up on a miss (store_lookups $lk >= 1)" test "$lk" -ge 1
        check "$RUN: ... found it (store_found $fd >= 1) and adopted it (conns_adopted $ad >= 1)" \
            test "$fd" -ge 1 -a "$ad" -ge 1
        check "$RUN: the restarted worker dropped none of its packets as out of window ($oow)" test "$oow" -eq 0
        check "$RUN: node1's log has no sanitizer report" sanitizer_clean_log "$STATE/node1.log"
        xfer_kill "$RUN"
    done
done

# ---- level none: nothing in Redis, the restarted worker cannot know the connection ----
restart_run none paced
xfer_wait "$RUN" $((XFER_M + 5))
after_run
xfer_diag "$RUN"
check "$RUN: the download fails after the restart (curl exit $(xfer_rc "$RUN"), not 0)" \
    test "$(xfer_rc "$RUN")" != 0
check_fails "$RUN: ... and its body is not /big ($(xfer_bytes "$RUN") bytes)" xfer_sha_ok "$RUN"
stats_refresh node1 || diag "stats of node1 not refreshed"
ns=$(stat_get drop_tcp_not_syn) lk=$(stat_get store_lookups) ad=$(stat_get conns_adopted)
diag "$RUN: restarted node1: drop_tcp_not_syn=$ns store_lookups=$lk conns_adopted=$ad"
check "$RUN: the restarted worker drops the connection's packets as not-SYN (drop_tcp_not_syn $ns > 0)" \
    test "$ns" -gt 0
check "$RUN: ... and adopts nothing (conns_adopted $ad)" test "$ad" -eq 0
kill_server_conns

stats_refresh || true
stats_diag
check "worker node1 still alive (pid $(worker_pid))" worker_alive
check "node1's log has no sanitizer report" sanitizer_clean_log "$STATE/node1.log"
