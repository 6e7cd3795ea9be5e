#!/usr/bin/env bash
# Sync mode really waits (DESIGN.md section 5, second table), against the lab's real Redis:
#  (a) with both replicas paused (SIGSTOP: connected but silent) and a 400 ms WAIT timeout,
#      - level full, sync, with each access: transaction (a1, a2: MULTI/FCALL/EXEC with replies)
#        and dirty (a1d, a2d: the writes go without replies, CLIENT REPLY SKIP, and the batch
#        reads them back with MGET after its WAIT; both asserted from the master's
#        commandstats): a new connection's SYN is not forwarded until WAIT times out; then the
#        policy decides: open -> it leaves (wait_timeouts, policy_forwards grow), closed -> it is
#        dropped, and so are the client's retransmissions (curl times out, policy_drops grows);
#      - the same open cases, the worker's counters in Redis: at its next update (ts_ms changes)
#        the master's hash fw:stats:node1 has the latency quantiles (setup_*, hold_*) and the
#        counters (pkts_*, conns_new, state_writes, wait_timeouts, store_*, redis_errors),
#        hold_p99_us says a packet was held for the WAIT timeout, wait_timeouts >= 1, and ts_ms
#        advances by about the 1 s stats interval (0.5 to 3 s) from one update to the next;
#      - level established, sync: the SYN and the SYN+ACK pass at once, the client's
#        handshake-completing ACK reaches the server only after the timeout; fail-closed (a3c):
#        it never does (nor anything after it), the server resends its SYN+ACK, curl times out;
#      - async strategy: unaffected (a quick connect, no WAIT timeout);
#      - (a5) one replica paused: with FW_SYNC_REPLICAS=1 the other's acknowledgement releases
#        the SYN at once, with all it waits for the timeout.
#  (b) with the replicas running, sync mode: when connect() returns (the SYN+ACK left the
#      worker), the connection's entry is on every replica, 50 times out of 50, written for this
#      connection (its t= not older than the connect() call) and at least SYN_RECV (rank >= 2: a
#      SYN_SENT value would mean the SYN+ACK left before its own write reached the replica); at
#      level established, when the response's first byte came (the worker holds the client's
#      ACK, not the SYN+ACK), every replica has it as ESTABLISHED. (c) and (e) check the same.
#  (c) the same under load, with one lane and one WAIT in flight, four write lanes (the
#      default, FW_SYNC_CONNECTIONS=4), and with one lane that
#      has 2 WAITs in flight (FW_SYNC_PIPELINE=2: the next batch waits at the master): while
#      ab -c 30 keeps the lanes' WAITs in flight, 50 of 50 entries are on every replica when
#      connect() returns, ab completes without a failure, and group commit shows: fewer WAITs
#      than state writes.
#  (d) a master that refuses writes (maxmemory 1 byte: OOM), fail-closed, sync, both accesses: a
#      new connection does not get through and policy_drops grows; with dirty access the writes
#      go without replies (CLIENT REPLY SKIP), so only the batch's read-back after its WAIT can
#      tell, and it must; transaction access reads the error replies. Writes resume after.
#  (e) CLIENT REPLY taken from the worker's ACL user while it runs (sync, dirty, fail-open): the
#      next batch's SKIPs answer NOPERM, ahead of its WAIT; the worker drops the connection
#      (replies out of step), reconnects, finds CLIENT REPLY refused, says so in its log and
#      sends its writes with replies: requests keep completing, the entries reach the replicas.
set -u
. "$(dirname "$0")/lib.sh"

TO_MS=400 # the WAIT timeout of these runs
TO_S=0.4
MIN_S=0.39 # a held packet leaves no earlier than this (Redis's WAIT never returns early)

# cap_start NS NAME FILTER: capture NS's eth0 (both directions) into $STATE/NAME.pcap; sets CAP_PID
# (--immediate-mode: without it the last second of packets may never leave the ring buffer)
cap_start() {
    local ns=$1 name=$2
    shift 2
    rm -f "$STATE/$name.pcap" "$STATE/$name.tcpdump"
    ip netns exec "$ns" tcpdump -i eth0 -n -U --immediate-mode -w "$STATE/$name.pcap" "$@" >"$STATE/$name.tcpdump" 2>&1 &
    CAP_PID=$!
    wait_until 5 grep -q 'listening on' "$STATE/$name.tcpdump"
}
cap_stop() {
    sleep 0.2
    kill -INT "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
# cap_lines NAME: the capture as text with epoch timestamps
cap_lines() { tcpdump -r "$STATE/$1.pcap" -n -tt 2>/dev/null; }
# first_ts NAME REGEX: the timestamp of the first packet whose line matches REGEX (empty: none)
first_ts() { cap_lines "$1" | grep -E -- "$2" | head -n 1 | awk '{print $1}'; }
count_pkts() { cap_lines "$1" | grep -Ec -- "$2"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%d", (b - a) * 1000}'; } # ms from a to b
ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a >= b)}'; }             # a >= b (decimals)
lt() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a < b)}'; }
# timeline NAME T0: the capture's packets as "+MS src > dst flags" lines, relative to T0
timeline() {
    cap_lines "$1" | awk -v t0="$2" '{printf "+%d ms %s %s %s %s %s\n", ($1 - t0) * 1000, $3, $4, $5, $6, $7}' |
        tr -d ',' | head -n "${3:-8}"
}

SYN_OUT='IP 10\.10\.1\.10\.[0-9]+ > 10\.10\.2\.10\.80: Flags \[S\],'
SYNACK_OUT='IP 10\.10\.2\.10\.80 > 10\.10\.1\.10\.[0-9]+: Flags \[S\.\],'
ACK_IN='IP 10\.10\.1\.10\.[0-9]+ > 10\.10\.2\.10\.80: Flags \[\.\],'

stats_now() {
    sleep 0.2
    stats_refresh || diag "stats file not refreshed after SIGUSR1"
}
# node1_mode POLICY LEVEL STRATEGY [ACCESS]: restart node1 with these settings and the 400 ms
# WAIT timeout
node1_mode() {
    restart_node1 FW_SYNC_POLICY="$1" FW_SYNC_LEVEL="$2" FW_SYNC_STRATEGY="$3" \
        FW_SYNC_ACCESS="${4:-transaction}" FW_SYNC_WAIT_TIMEOUT_MS=$TO_MS FW_SYNC_REPLICAS=all
}
pause_replicas() { q "$FWLAB" redis-pause all-replicas; }
resume_replicas() { q "$FWLAB" redis-resume all-replicas; }
# curl_w URL: prints "EXIT TIME_CONNECT TIME_TOTAL BODY"
curl_w() {
    local out rc
    out=$(inc curl -sS -m "${2:-10}" -w ' %{time_connect} %{time_total}' "$1" 2>/dev/null)
    rc=$?
    echo "$rc ${out#* } ${out%% *}"
}
replicas_linked() { # both replicas report their link to the master up
    local k
    for k in 1 2; do rcli_at "$k" INFO replication | grep -q '^master_link_status:up' || return 1; done
}

lab_start --replicas 2 --level full --strategy sync --access transaction
check "node1 is connected to the Redis master" wait_until 10 worker_connected node1

# ---- the worker's counters in Redis (fw:stats:node1 on the master, store_publish_stats) ----
RSTATS_KEY=fw:stats:node1
RSTATS_FIELDS="setup_count setup_p50_us setup_p90_us setup_p99_us hold_p50_us hold_p90_us
    hold_p99_us pkts_in pkts_fwd pkts_drop conns_new state_writes wait_timeouts store_lookups
    store_found redis_errors"
rstats_ts() { rcli HGET "$RSTATS_KEY" ts_ms; }
rstats_ts_changed() { # rstats_ts_changed OLD: the hash was written again since ts_ms was OLD
    local t
    t=$(rstats_ts)
    [[ $t =~ ^[0-9]+$ ]] && [ "$t" != "$1" ]
}
# rstats_field HASH NAME: a field's value in HASH (HGETALL as "field value" lines); empty: absent
rstats_field() { awk -v k="$2" '$1 == k {print $2; exit}' <<<"$1"; }
# rstats_check LABEL: at the worker's next update of its hash after the case, every field of
# RSTATS_FIELDS is there, the hold histogram has the packet held for the WAIT timeout,
# wait_timeouts counted it, and ts_ms advances by about the 1 s stats interval
rstats_check() {
    local c=$1 t0 h f missing="" hold wt t1 t2
    t0=$(rstats_ts)
    check "$c: node1 writes $RSTATS_KEY on the master again (ts_ms ${t0:-absent} changes)" \
        wait_until 3 rstats_ts_changed "$t0"
    h=$(rcli HGETALL "$RSTATS_KEY" | paste -d ' ' - -)
    for f in $RSTATS_FIELDS; do
        [ -n "$(rstats_field "$h" "$f")" ] || missing="$missing $f"
    done
    check "$c: $RSTATS_KEY has all $(wc -w <<<"$RSTATS_FIELDS") fields (missing:${missing:- none})" \
        test -z "$missing"
    hold=$(rstats_field "$h" hold_p99_us) wt=$(rstats_field "$h" wait_timeouts)
    diag "$c: in Redis: hold_p50/p90/p99 $(rstats_field "$h" hold_p50_us)/$(rstats_field "$h" hold_p90_us)/$hold us," \
        "setup_p99 $(rstats_field "$h" setup_p99_us) us, wait_timeouts $wt, state_writes $(rstats_field "$h" state_writes)"
    # The histogram has 64 sub-buckets per power of two and a quantile lies within its bin: 400 ms
    # (2^28 <= 4e8 ns < 2^29, sub-buckets 2^22 ns wide) is in [95*2^22, 96*2^22) ns = [398.5,
    # 402.7) ms; a longer hold lands in a later bin (higher), and a value is reported within its
    # bin, so >= 390000 means a sample in bin 92 ([385.9, 390.1) ms) or later: a packet held
    # 385.9 ms or longer. p99 is the largest sample here (under 100 held packets since the
    # restart).
    check "$c: hold_p99_us in Redis ${hold:-absent} >= 390000 (a packet held for the $TO_MS ms WAIT timeout)" \
        ge "${hold:-0}" 390000
    check "$c: wait_timeouts in Redis ${wt:-absent} >= 1" test "${wt:-0}" -ge 1
    t1=$(rstats_field "$h" ts_ms)
    wait_until 3 rstats_ts_changed "$t1"
    t2=$(rstats_ts)
    [[ $t1 =~ ^[0-9]+$ ]] || t1=0 # an error text would end the script in $((...)) (set -u)
    [[ $t2 =~ ^[0-9]+$ ]] || t2=0
    check "$c: ts_ms in Redis advances $((${t2:-0} - ${t1:-0})) ms to the next update (500..3000 ms)" \
        test "$((${t2:-0} - ${t1:-0}))" -ge 500 -a "$((${t2:-0} - ${t1:-0}))" -le 3000
}
# quiet_path_check LABEL ACCESS SKIPS MGETS: the batches' writes went the ACCESS way: dirty
# without replies (CLIENT REPLY SKIP: at least the SYN's SET and SADD) and read back with MGET
# after the WAIT; transaction with replies (MULTI/FCALL/EXEC), no read-back
quiet_path_check() {
    if [ "$2" = dirty ]; then
        check "$1: the writes went without replies (CLIENT REPLY SKIP: $3 >= 2)" test "$3" -ge 2
        check "$1: the batch read its entries back after its WAIT (MGET: $4)" test "$4" -ge 1
    else
        check "$1: the writes went with replies (CLIENT REPLY: $3, MGET: $4)" test "$3" -eq 0 -a "$4" -eq 0
    fi
}

# paused_request TAG MAX_S: one request (curl_w, MAX_S) while the replicas are paused, captured
# at the client and the server (TAG-cli, TAG-srv), the worker's stats read before they resume;
# sets the caller's rc tc tt body, and skips / mgets: the master's CLIENT REPLY and MGET calls
paused_request() {
    local cli_cap srv_cap
    cap_start fwl-client "$1-cli" "tcp port 80" && cli_cap=$CAP_PID
    cap_start fwl-server "$1-srv" "tcp port 80" && srv_cap=$CAP_PID
    rcli CONFIG RESETSTAT >/dev/null # after the worker's handshake (its CLIENT REPLY ON)
    pause_replicas
    read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b "$2")"
    stats_now # while the replicas are still paused
    resume_replicas
    skips=$(cmdstat 'client|reply') mgets=$(cmdstat mget)
    cap_stop "$cli_cap"
    cap_stop "$srv_cap"
}

# ---- (a1, a1d) level full, sync, fail-open: the SYN waits for the WAIT timeout, then leaves ----
# paused_open ACCESS TAG
paused_open() {
    local access=$1 tag=$2 c="full/sync/$1/open, replicas paused"
    local rc tc tt body w0 f0 w1 f1 t_sent t_srv d skips mgets
    check "$c: node1 restarted (WAIT timeout $TO_MS ms)" node1_mode open full sync "$access"
    stats_now
    w0=$(stat_get wait_timeouts) f0=$(stat_get policy_forwards)
    paused_request "$tag" 10
    diag "$c: curl exit $rc, time_connect $tc s, time_total $tt s, body '$body'; CLIENT REPLY $skips, MGET $mgets"
    check "$c: the request completes (policy open)" test "$rc" = 0 -a "$body" = x
    check "$c: curl's time_connect $tc s >= the WAIT timeout $TO_S s" ge "$tc" "$MIN_S"
    t_sent=$(first_ts "$tag-cli" "$SYN_OUT")
    t_srv=$(first_ts "$tag-srv" "$SYN_OUT")
    if [ -n "$t_sent" ] && [ -n "$t_srv" ]; then
        d=$(ms "$t_sent" "$t_srv")
        check "$c: the SYN reached the server ${d} ms after the client sent it (>= $TO_MS ms, tcpdump)" \
            ge "$d" "$((TO_MS - 10))"
    else
        notok "$c: the SYN is seen leaving the client and reaching the server (tcpdump)"
        cap_lines "$tag-cli" | head -n 3 | sed 's/^/#   /'
    fi
    check "$c: exactly one SYN was sent (no retransmission blurs the timing)" \
        test "$(count_pkts "$tag-cli" "$SYN_OUT")" -eq 1
    quiet_path_check "$c" "$access" "$skips" "$mgets"
    stats_now
    w1=$(stat_get wait_timeouts) f1=$(stat_get policy_forwards)
    check "$c: wait_timeouts grows ($w0 -> $w1)" test "$w1" -gt "$w0"
    check "$c: policy_forwards grows ($f0 -> $f1)" test "$f1" -gt "$f0"
    rstats_check "$c"
    check "$c: the replicas are back in sync" wait_until 10 replicas_linked
}

# ---- (a2, a2d) level full, sync, fail-closed: the SYN and its retransmissions are dropped ----
# paused_closed ACCESS TAG
paused_closed() {
    local access=$1 tag=$2 c="full/sync/$1/closed, replicas paused"
    local rc tc tt body d0 w0 d1 w1 nsyn nsrv t0 skips mgets
    check "$c: node1 restarted" node1_mode closed full sync "$access"
    stats_now
    d0=$(stat_get policy_drops) w0=$(stat_get wait_timeouts)
    paused_request "$tag" 3.5
    d1=$(stat_get policy_drops) w1=$(stat_get wait_timeouts)
    nsyn=$(count_pkts "$tag-cli" "$SYN_OUT")
    nsrv=$(count_pkts "$tag-srv" "$SYN_OUT")
    diag "$c: curl exit $rc after $tt s; the client sent $nsyn SYN(s), the server saw $nsrv; CLIENT REPLY $skips, MGET $mgets"
    check "$c: curl fails with a timeout (exit 28: $rc)" test "$rc" = 28
    check "$c: the client retransmitted its SYN ($nsyn SYNs sent)" test "$nsyn" -ge 2
    if ! check "$c: no SYN reached the server ($nsrv)" test "$nsrv" -eq 0; then
        t0=$(first_ts "$tag-cli" "$SYN_OUT")
        diag "$c: timeline (from the client's first SYN) at the client:" "$(timeline "$tag-cli" "$t0")" \
            "... and at the server:" "$(timeline "$tag-srv" "$t0")"
    fi
    quiet_path_check "$c" "$access" "$skips" "$mgets"
    check "$c: policy_drops grows ($d0 -> $d1)" test "$d1" -gt "$d0"
    check "$c: wait_timeouts grows ($w0 -> $w1)" test "$w1" -gt "$w0"
    check "$c: the replicas are back in sync" wait_until 10 replicas_linked
    read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b)"
    check "$c: with the replicas back, a new connection passes (exit $rc, connect $tc s)" test "$rc" = 0 -a "$body" = x
}

paused_open transaction a1
paused_closed transaction a2
paused_open dirty a1d
paused_closed dirty a2d

# ---- (a3) level established, sync, fail-open: the handshake-completing ACK is held ----
c="established/sync/open, replicas paused"
check "$c: node1 restarted" node1_mode open established sync
stats_now
w0=$(stat_get wait_timeouts)
cap_start fwl-server a3-srv "tcp port 80" && srv_cap=$CAP_PID
pause_replicas
read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b)"
resume_replicas
cap_stop "$srv_cap"
diag "$c: curl exit $rc, time_connect $tc s, time_total $tt s"
check "$c: the request completes" test "$rc" = 0 -a "$body" = x
t_syn=$(first_ts a3-srv "$SYN_OUT")
t_sa=$(first_ts a3-srv "$SYNACK_OUT")
t_ack=$(first_ts a3-srv "$ACK_IN")
if [ -n "$t_syn" ] && [ -n "$t_sa" ] && [ -n "$t_ack" ]; then
    diag "$c: at the server: SYN +0 ms, SYN+ACK +$(ms "$t_syn" "$t_sa") ms, the client's ACK +$(ms "$t_syn" "$t_ack") ms"
    check "$c: the server answers the SYN at once ($(ms "$t_syn" "$t_sa") ms < 100 ms)" lt "$(ms "$t_syn" "$t_sa")" 100
    check "$c: the client's ACK reaches the server $(ms "$t_sa" "$t_ack") ms after the SYN+ACK (>= $TO_MS ms)" \
        ge "$(ms "$t_sa" "$t_ack")" "$((TO_MS - 10))"
else
    notok "$c: SYN, SYN+ACK and the client's ACK are seen at the server (tcpdump)"
    cap_lines a3-srv | head -n 5 | sed 's/^/#   /'
fi
check "$c: curl's time_connect is short ($tc s < 0.1 s: the SYN+ACK was not held)" lt "$tc" 0.1
stats_now
w1=$(stat_get wait_timeouts)
check "$c: wait_timeouts grows ($w0 -> $w1)" test "$w1" -gt "$w0"
check "$c: the replicas are back in sync" wait_until 10 replicas_linked

# ---- (a3c) level established, sync, fail-closed: the handshake never completes ----
c="established/sync/closed, replicas paused"
check "$c: node1 restarted" node1_mode closed established sync
stats_now
d0=$(stat_get policy_drops)
paused_request a3c 3.5
d1=$(stat_get policy_drops)
nsa=$(count_pkts a3c-srv "$SYNACK_OUT")
nfrom=$(cap_lines a3c-srv | grep -Ec 'IP 10\.10\.1\.10\.[0-9]+ > 10\.10\.2\.10\.80: Flags \[[^S]')
diag "$c: curl exit $rc after $tt s; at the server: $nsa SYN+ACK(s) sent, $nfrom packet(s) after the SYN from the client"
check "$c: curl fails with a timeout (exit 28: $rc)" test "$rc" = 28
check "$c: the server answered the SYN ($nsa SYN+ACKs: resent, no ACK came)" test "$nsa" -ge 2
check "$c: nothing of the client but its SYN reached the server ($nfrom)" test "$nfrom" -eq 0
check "$c: policy_drops grows ($d0 -> $d1)" test "$d1" -gt "$d0"
check "$c: the replicas are back in sync" wait_until 10 replicas_linked
read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b)"
check "$c: with the replicas back, a new connection passes (exit $rc)" test "$rc" = 0 -a "$body" = x

# ---- (a4) async strategy: paused replicas change nothing ----
for access in transaction dirty; do
    c="full/async/$access, replicas paused"
    check "$c: node1 restarted" node1_mode open full async "$access"
    stats_now
    w0=$(stat_get wait_timeouts) f0=$(stat_get policy_forwards)
    pause_replicas
    read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b)"
    resume_replicas
    diag "$c: curl exit $rc, time_connect $tc s, time_total $tt s"
    check "$c: the request completes" test "$rc" = 0 -a "$body" = x
    check "$c: time_connect is short ($tc s < 0.1 s)" lt "$tc" 0.1
    stats_now
    w1=$(stat_get wait_timeouts) f1=$(stat_get policy_forwards)
    check "$c: no WAIT timeout ($w0 -> $w1)" test "$w1" -eq "$w0"
    check "$c: no packet needed the policy ($f0 -> $f1)" test "$f1" -eq "$f0"
    check "$c: the replicas are back in sync" wait_until 10 replicas_linked
done

# ---- (a5) required replicas: FW_SYNC_REPLICAS=1 with one replica paused does not wait ----
for need in 1 all; do
    c="full/sync/transaction, FW_SYNC_REPLICAS=$need, replica 2 paused"
    check "$c: node1 restarted" restart_node1 FW_SYNC_POLICY=open FW_SYNC_LEVEL=full \
        FW_SYNC_STRATEGY=sync FW_SYNC_ACCESS=transaction FW_SYNC_WAIT_TIMEOUT_MS=$TO_MS \
        FW_SYNC_REPLICAS=$need
    stats_now
    w0=$(stat_get wait_timeouts)
    q "$FWLAB" redis-pause replica2
    read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b)"
    q "$FWLAB" redis-resume replica2
    stats_now
    w1=$(stat_get wait_timeouts)
    diag "$c: curl exit $rc, time_connect $tc s; wait_timeouts $w0 -> $w1"
    check "$c: the request completes" test "$rc" = 0 -a "$body" = x
    if [ "$need" = 1 ]; then
        check "$c: replica 1's acknowledgement is enough: time_connect $tc s < $TO_S s" lt "$tc" "$TO_S"
        check "$c: no WAIT timed out ($w0 -> $w1)" test "$w1" -eq "$w0"
    else
        check "$c: both are needed: the SYN waited for the timeout (time_connect $tc s >= $TO_S s)" ge "$tc" "$MIN_S"
        check "$c: wait_timeouts grows ($w0 -> $w1)" test "$w1" -gt "$w0"
    fi
    check "$c: the replicas are back in sync" wait_until 10 replicas_linked
done

# ---- (b) replicas running: the entry is on every replica when its packet leaves ----
json() { # json 'JSON' KEY
    "$PY" -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(json.dumps(v) if isinstance(v, (list, dict)) else v)' "$1" "$2" 2>/dev/null
}
replica_check() { # replica_check [LEVEL]: prints the helper's JSON line
    timeout 60 ip netns exec fwl-mgmt "$PY" "$TOP/tests/integration/replica_check.py" \
        --replicas 10.10.0.201,10.10.0.202 --password-file "$STATE/secrets/admin.pass" \
        --netns /run/netns/fwl-client --count 50 --level "${1:-full}" 2>&1 | tail -n 1
}
# replicas_have_all LABEL [LEVEL]: 50 connections through the worker (replica_check), each entry
# on both replicas, written for this connection and in the state the level guarantees: at level
# full when connect() returned (the SYN+ACK left the worker): SYN_RECV or later (rank >= 2, a
# SYN_SENT value: the SYN+ACK left before its own write reached the replica); at level
# established when the response's first byte came (the server had the client's ACK): ESTABLISHED
replicas_have_all() {
    local out found good bad when want i r
    out=$(replica_check "${2:-full}")
    diag "$1: $out"
    if [ "${2:-full}" = established ]; then
        when="the response's first byte arrived" want="ESTABLISHED"
    else
        when="connect() returned" want="at least SYN_RECV (rank >= 2, not SYN_SENT)"
    fi
    found=$(json "$out" found) good=$(json "$out" good) bad=$(json "$out" bad)
    check "$1: 50 connections, each entry found on replica 1 when $when" \
        test "$(json "$found" 10.10.0.201)" = 50
    check "$1: ... and on replica 2" test "$(json "$found" 10.10.0.202)" = 50
    for i in 1 2; do
        r=10.10.0.20$i
        check "$1: on replica $i each entry was $want and this connection's ($(json "$good" $r) of 50)" \
            test "$(json "$good" $r)" = 50
    done
    [ "${bad:-[]}" = "[]" ] || diag "$1: values that break it (first 10): $bad"
}
for access in transaction dirty; do
    c="full/sync/$access, replicas running"
    check "$c: node1 restarted" node1_mode open full sync "$access"
    stats_now
    w0=$(stat_get wait_timeouts)
    replicas_have_all "$c"
    stats_now
    w1=$(stat_get wait_timeouts)
    check "$c: no WAIT timed out meanwhile ($w0 -> $w1)" test "$w1" -eq "$w0"
done
# level established: the worker writes only ESTABLISHED and holds the client's ACK for it
c="established/sync/transaction, replicas running"
check "$c: node1 restarted" node1_mode open established sync
stats_now
w0=$(stat_get wait_timeouts)
replicas_have_all "$c" established
stats_now
w1=$(stat_get wait_timeouts)
check "$c: no WAIT timed out meanwhile ($w0 -> $w1)" test "$w1" -eq "$w0"
# ---- (c) under load, four write lanes or two WAITs in flight: group commit keeps the guarantee ----
for variant in "transaction 1 1" "transaction 4 1" "dirty 4 1" "dirty 1 2"; do
    read -r access lanes depth <<<"$variant"
    c="full/sync/$access, write lanes: $lanes, WAITs in flight per lane: $depth, under ab -c 30"
    check "$c: node1 restarted" node1_with open FW_SYNC_ACCESS="$access" \
        FW_SYNC_CONNECTIONS="$lanes" FW_SYNC_PIPELINE="$depth"
    rcli CONFIG RESETSTAT >/dev/null
    stats_now
    w0=$(stat_get wait_timeouts) s0=$(stat_get state_writes) q0=$(stat_get waits_queued)
    ab_start load -s 30 -t 15 -n 1000000 -c 30 http://10.10.2.10/1b # 15 s of load
    sleep 0.5
    replicas_have_all "$c"
    check "$c: ab was still running meanwhile" test ! -s "$STATE/load.abrc"
    wait_until 60 ab_done load
    n=$(sed -n 's/^Complete requests: *//p' "$STATE/load.ab")
    load_ok() { [ "${n:-0}" -ge 1000 ] && ab_clean load "$n"; }
    check "$c: ab's 15 s: ${n:-no} requests complete (at least 1000), none failed" load_ok ||
        ab_diag load
    stats_now
    w1=$(stat_get wait_timeouts) s1=$(stat_get state_writes) q1=$(stat_get waits_queued)
    waits=$(rcli INFO commandstats | sed -n 's/^cmdstat_wait:calls=\([0-9]*\),.*/\1/p')
    diag "$c: $((s1 - s0)) state writes, ${waits:-no} WAITs"
    check "$c: group commit: fewer WAITs (${waits:-none}) than state writes ($((s1 - s0)))" \
        test "${waits:-0}" -gt 0 -a "${waits:-0}" -lt "$((s1 - s0))"
    check "$c: no WAIT timed out meanwhile ($w0 -> $w1)" test "$w1" -eq "$w0"
    if [ "$depth" -gt 1 ]; then
        check "$c: WAITs went behind the one in flight (waits_queued $q0 -> $q1)" \
            test "${q1:-0}" -gt "${q0:-0}"
    else
        # the counter is published (a missing one reads as 0), and did not grow
        check "$c: no WAIT went behind another (waits_queued $q0 -> $q1)" \
            bash -c 'grep -q "^waits_queued " "$1" && [ "$2" = "$3" ]' _ "$STATE/node1.stats" "$q0" "$q1"
    fi
done

# ---- (d) the master refuses the writes: the batch fails, whichever way its writes were sent ----
for access in dirty transaction; do
    c="full/sync/$access, fail-closed, the master refuses writes (maxmemory 1)"
    check "$c: node1 restarted" node1_mode closed full sync "$access"
    check "$c: a request completes first" curl_1b
    rcli CONFIG RESETSTAT >/dev/null
    stats_now
    d0=$(stat_get policy_drops) w0=$(stat_get wait_timeouts)
    rcli CONFIG SET maxmemory 1 >/dev/null
    read -r rc tc tt body <<<"$(curl_w http://10.10.2.10/1b 2)"
    oom=$(rcli INFO errorstats | sed -n 's/^errorstat_OOM:count=\([0-9]*\).*/\1/p')
    skips=$(rcli INFO commandstats | sed -n 's/^cmdstat_client|reply:calls=\([0-9]*\),.*/\1/p')
    rcli CONFIG SET maxmemory 0 >/dev/null
    stats_now
    d1=$(stat_get policy_drops) w1=$(stat_get wait_timeouts)
    diag "$c: curl exit $rc; OOM errors at the master ${oom:-0}; CLIENT REPLY SKIP ${skips:-0}; policy_drops $d0 -> $d1"
    check "$c: the master refused writes (errorstat OOM ${oom:-0})" test "${oom:-0}" -gt 0
    check "$c: the connection did not get through (curl exit $rc)" test "$rc" != 0
    check "$c: its packets were dropped by the policy ($d0 -> $d1)" test "$d1" -gt "$d0"
    check "$c: not for a WAIT timeout ($w0 -> $w1)" test "$w1" -eq "$w0"
    if [ "$access" = dirty ]; then
        check "$c: the writes went without replies (CLIENT REPLY SKIP ${skips:-0})" \
            test "${skips:-0}" -gt 0
    else
        check "$c: the writes went with replies (no CLIENT REPLY SKIP: ${skips:-0})" \
            test "${skips:-0}" -eq 0
    fi
    check "$c: writes resume: a request completes" curl_1b
done

# ---- (e) CLIENT REPLY refused while the worker runs: it falls back to writes with replies ----
c="full/sync/dirty, CLIENT REPLY taken from the worker's ACL user"
check "$c: node1 restarted" node1_mode open full sync dirty
check "$c: a request completes first" curl_1b
logline=$(($(wc -l <"$STATE/node1.log") + 1))
rcli ACL SETUSER fwnode -client\|reply >/dev/null
check "$c: the ACL refuses it now" test "$(rcli ACL DRYRUN fwnode CLIENT REPLY ON | cut -c1-8)" != OK
ok_n=0
for _ in $(seq 10); do curl_1b 10 && ok_n=$((ok_n + 1)); done
log_new() { tail -n +"$logline" "$STATE/node1.log"; }
diag "$c: $ok_n of 10 requests completed; node1 said: $(log_new | grep -E 'out of step|refuses CLIENT REPLY' | cut -c1-200 | head -n 3 | tr '\n' '|')"
check "$c: the worker dropped the connection whose replies were out of step" \
    bash -c "tail -n +$logline '$STATE/node1.log' | grep -q 'out of step'"
check "$c: ... and says it sends its writes with replies now" \
    bash -c "tail -n +$logline '$STATE/node1.log' | grep -q 'refuses CLIENT REPLY'"
check "$c: every request completed ($ok_n of 10)" test "$ok_n" = 10
replicas_have_all "$c"
rcli ACL SETUSER fwnode +client\|reply >/dev/null

# the async strategy, as an observation only: nothing waits for the replicas there
check "full/async/transaction: node1 restarted" node1_mode open full async transaction
out=$(replica_check)
diag "observation (not asserted), full/async/transaction, replicas running: $out"

stats_refresh || true
stats_diag
worker_final_checks
