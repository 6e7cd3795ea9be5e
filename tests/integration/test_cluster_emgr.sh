#!/usr/bin/env bash
# The element manager's own failures (issue 4): the lab's cluster of 3 workers (2 active, 1
# backup) with 2 managers (emgr1 leads, emgr2 stands by; cluster.lease_ms = 1000).
#   manager failover: emgr1 (the leader) is SIGKILLed; emgr2 leads within the lease (GET
#     fw:emgr:leader, emgr status), and the traffic never stops: a ping -i 0.1 and a curl loop run
#     meanwhile (no loss beyond a handful of pings, no failed curl).
#   no manager: emgr2 is killed too; the workers keep forwarding (ab: 0 failed; ping, curl loop).
#   reconciliation: with no manager running, an active worker is SIGKILLed (its heartbeat key
#     expires: the keyspace event reaches nobody); then emgr1 is started again: it notices all the
#     same (its membership scan), and the dead worker's buckets move to the backup; traffic in those
#     buckets flows again.
#   a late heartbeat: a worker stopped (SIGSTOP) for 80 ms logs that its heartbeat came late.
#   stalls of the Redis master: stopped 6 times for 500 ms (heartbeat keys expire meanwhile),
#     it fails no worker and the map stays as it was.
#   least privilege: the managers log in as the ACL user emgr (redis/users.acl.in), not admin;
#     test_acl.sh checks what that user may and may not do.
set -u
. "$(dirname "$0")/lib.sh"

lab_start --nodes 3 --backups 1 --managers 2 --level full --strategy sync --access transaction
check "emgr1 leads (GET fw:emgr:leader)" test "$(leader)" = emgr1
# the managers' connections (emgr-emgr1, emgr-emgr1-events, emgr-emgr2, ...) use the ACL user emgr, not admin
emgr_clients() { rcli CLIENT LIST | grep -E ' name=emgr-emgr[0-9]+(-events)? '; }
as_emgr() { [ "$(emgr_clients | grep -c ' user=emgr ')" -ge 4 ] && ! emgr_clients | grep -qv ' user=emgr '; }
if ! check "both managers log in to Redis as the ACL user emgr" wait_until 5 as_emgr; then
    diag "$(rcli CLIENT LIST | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(name|user|addr)=/) printf "%s ", $i; print ""}')"
fi
check "emgr2 runs (standing by)" pid_alive "$(cat "$STATE/pids/emgr2.pid" 2>/dev/null)"
check "two actives, node3 the backup" test "$(actives) $(role_of node3)" = "node1 node2 backup"
lease=$(sed -n 's/^[[:space:]]*lease_ms[[:space:]]*=[[:space:]]*\([0-9]*\);.*/\1/p' "$STATE/emgr/cluster.conf")
lease=${lease:-1000}

# background traffic: ping -i 0.1 and a curl loop (one request every 0.1 s, each bounded)
ping_start() {
    rm -f "$STATE/$1.ping"
    inc ping -n -i 0.1 -W 1 -c "$2" 10.10.2.10 >"$STATE/$1.ping" 2>&1 &
}
ping_loss() { # transmitted received
    sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$STATE/$1.ping"
}
ping_done() { grep -q 'packets transmitted' "$STATE/$1.ping" 2>/dev/null; }
curl_loop_start() {
    rm -f "$STATE/$1.loop" "$STATE/$1.stop"
    (
        while [ ! -e "$STATE/$1.stop" ]; do
            if [ "$(inc curl -sS -m 3 http://10.10.2.10/1b 2>/dev/null)" = x ]; then echo ok; else echo FAIL; fi
            sleep 0.1
        done >"$STATE/$1.loop"
    ) &
    LOOP_PID=$!
}
curl_loop_stop() { # the loop ends after its current request (bounded by -m 3)
    touch "$STATE/$1.stop"
    wait "$LOOP_PID" 2>/dev/null
}
loop_counts() { echo "$(grep -c '^ok' "$STATE/$1.loop") $(grep -c '^FAIL' "$STATE/$1.loop")"; }

# ---- manager failover ----
ping_start mf 60
curl_loop_start mf
sleep 1
T_KILL=$(now_s)
q "$FWLAB" kill emgr1
led_by_emgr2() { [ "$(leader)" = emgr2 ]; }
if wait_until 5 led_by_emgr2; then
    t_lead=$(ms_between "$T_KILL" "$(now_s)")
    diag "emgr2 leads $t_lead ms after emgr1 was killed (lease $lease ms; polled every 0.1 s)"
    check "emgr2 leads within the lease + one renewal period ($t_lead ms <= $((lease + lease / 3 + 300)) ms)" \
        test "$t_lead" -le $((lease + lease / 3 + 300))
else
    notok "emgr2 leads within 5 s of emgr1's kill (leader: '$(leader)')"
fi
line=$(log_first_after "$STATE/emgr2.log" "$T_KILL" 'emgr2 leads the cluster')
[ -n "$line" ] && diag "emgr2's log: ${line#* info: } ($(ms_between "$T_KILL" "$(log_time "$line")") ms after the kill)"
check "emgr status names emgr2 as the leader" wait_until 3 bash -c '"$1" exec mgmt -- emgr status 2>&1 | grep -q "leader emgr2"' _ "$FWLAB"
check "the map is unchanged: node1 and node2 active, node3 the backup" \
    test "$(actives) $(role_of node3)" = "node1 node2 backup"
wait_until 10 ping_done mf
curl_loop_stop mf
read -r tx rx <<<"$(ping_loss mf)"
read -r cok cfail <<<"$(loop_counts mf)"
diag "ping: $tx sent, $rx received; curl loop: $cok ok, $cfail failed"
check "ping: no loss beyond a handful during the manager failover ($((tx - rx)) of $tx lost)" \
    test -n "$tx" -a "$((${tx:-0} - ${rx:-0}))" -le 3 -a "${tx:-0}" -ge 50
check "curl loop: no request failed ($cfail of $((cok + cfail)))" test "$cfail" -eq 0 -a "$cok" -ge 10

# ---- no manager at all ----
q "$FWLAB" kill emgr2
no_leader() { [ -z "$(leader)" ]; }
check "no manager runs, and the lease ran out (no fw:emgr:leader)" wait_until 3 no_leader
ping_start nm 40
curl_loop_start nm
ab_start nm -s 20 -n 2000 -c 10 http://10.10.2.10/1b
check "ab finished (60 s)" wait_until 60 ab_done nm
ab_diag nm
check "no manager: ab: 2000 requests, 'Failed requests: 0', no Non-2xx" ab_clean nm 2000
wait_until 10 ping_done nm
curl_loop_stop nm
read -r tx rx <<<"$(ping_loss nm)"
read -r cok cfail <<<"$(loop_counts nm)"
diag "no manager: ping: $tx sent, $rx received; curl loop: $cok ok, $cfail failed"
check "no manager: ping loses nothing ($((tx - rx)) of $tx)" test -n "$tx" -a "${tx:-0}" = "${rx:-x}"
check "no manager: the curl loop never fails ($cfail of $((cok + cfail)))" test "$cfail" -eq 0 -a "$cok" -ge 5
check "the heartbeats go on without a manager (fw:node:node1..3 present)" \
    test -n "$(rcli GET fw:node:node1)" -a -n "$(rcli GET fw:node:node2)" -a -n "$(rcli GET fw:node:node3)"

# ---- reconciliation: a worker dies while no manager runs ----
map0=$(map_buckets) e0=$(map_epoch)
P1=$(port_for node1 "$map0" 30000)
q "$FWLAB" kill node1
hb_gone() { [ -z "$(rcli GET fw:node:node1)" ]; }
check "node1 killed while no manager runs: its heartbeat key expires" wait_until 3 hb_gone
sleep 0.5
check "nobody changed the map meanwhile (epoch $e0: $(map_buckets))" test "$(map_epoch)" = "$e0" -a "$(map_buckets)" = "$map0"
check_fails "a request in node1's buckets (client port $P1) goes nowhere meanwhile" \
    bash -c '[ "$(ip netns exec fwl-client curl -sS -m 2 --local-port "$1" http://10.10.2.10/1b 2>/dev/null)" = x ]' _ "$P1"
T_START=$(now_s)
check "lab/fwlab start emgr1" q "$FWLAB" start emgr1
node3_took_over() { [ "$(owned node3)" -eq 512 ] && [ "$(owned node1)" -eq 0 ]; }
if check "emgr1 notices node1's death and gives its buckets to node3 (the backup)" wait_until 5 node3_took_over; then
    diag "map $(map_epoch): $(map_buckets) (seen $(ms_between "$T_START" "$(now_s)") ms after lab/fwlab start emgr1 began)"
fi
line=$(log_first_after "$STATE/emgr1.log" "$T_START" 'map epoch [0-9]+: .*node1')
diag "emgr1's log: ${line#* info: }"
check "emgr1 leads again" test "$(leader)" = emgr1
check "emgr status: node3 active" role_is node3 active
check "a request in node1's former buckets passes again (client port $((P1 + 1024)))" \
    test "$(inc curl -sS -m 5 --local-port "$((P1 + 1024))" http://10.10.2.10/1b 2>/dev/null)" = x

# ---- a worker that did not run for a while says so ----
# (80 ms stopped: more than two heartbeat periods, less than the misses that fail a worker)
T_STOP=$(now_s)
kill -STOP "$(worker_pid node2)"
sleep 0.08
kill -CONT "$(worker_pid node2)"
late_hb() { log_first_after "$STATE/node2.log" "$T_STOP" 'heartbeat [0-9]+ ms after the one before' >/dev/null; }
if check "node2, stopped for 80 ms (SIGSTOP), logs that its heartbeat came late" wait_until 3 late_hb; then
    line=$(log_first_after "$STATE/node2.log" "$T_STOP" 'heartbeat [0-9]+ ms after the one before')
    diag "node2's log: ${line#* warn: }"
    check "... and why: it neither ran nor waited for a CPU most of that time (it was stopped)" \
        grep -q 'it was stopped, or blocked in a system call' <<<"$line"
fi

# ---- a stall of the Redis master fails no worker ----
# The master stopped 6 times for 500 ms: twice the heartbeat keys' TTL, half the Sentinels'
# down-after (1 s), and less than what is left of the managers' lease (1 s, renewed every 333 ms)
# when a stall begins. The heartbeats sent meanwhile wait
# in the master's input while their keys expire, and the leader's periodic membership read waits
# with them; when the master runs again, that read may be answered before the heartbeats are
# applied. emgr must not fail a worker on such a read (it comes back late: it reads again).
mpid=$(rcli INFO server | tr -d '\r' | sed -n 's/^process_id://p')
expired() { rcli INFO stats | sed -n 's/^expired_keys://p'; }
T_STALL=$(now_s)
e0=$(map_epoch) x0=$(expired) stopped=0
if check "the master's pid ($mpid)" test -n "$mpid"; then
    for _ in 1 2 3 4 5 6; do
        kill -STOP "$mpid" && stopped=$((stopped + 1))
        sleep 0.5
        kill -CONT "$mpid"
        sleep 1
    done
fi
x1=$(expired)
check "the master was stopped 6 times ($stopped)" test "$stopped" -eq 6
check "... and heartbeat keys expired meanwhile (expired_keys $x0 -> $x1)" test "${x1:-0}" -gt "${x0:-0}"
stall_log() { local e; for e in emgr1 emgr2; do log_after "$STATE/$e.log" "$T_STALL"; done; }
stall_fails=$(stall_log | grep -c 'failed (no heartbeat)')
late_reads=$(stall_log | grep -c 'reading again before failing')
diag "membership reads that came back late and found heartbeats missing: $late_reads"
if ! check "6 stalls of the master (500 ms each) fail no worker ($stall_fails failures)" \
    test "$stall_fails" -eq 0; then
    stall_log | grep -E 'failed|map epoch|membership|lease|lead' | sed 's/^/# /'
fi
check "... and leave the map as it was (epoch $e0 -> $(map_epoch))" test "$(map_epoch)" = "$e0"
check "traffic passes afterwards" test "$(inc curl -sS -m 5 http://10.10.2.10/1b 2>/dev/null)" = x

for n in node1 node2 node3; do node_stats_diag "$n"; done
check "no sanitizer report in the workers' and managers' logs" cluster_logs_clean
