#!/usr/bin/env bash
# The Redis master dies, with no Sentinel involvement (issue 3; DESIGN.md section 5: "When Redis is
# unreachable, established connections keep flowing from the local table; new connections follow
# the same fail-open / fail-closed policy; writes are retried after reconnect or reported as lost").
# No Sentinel: the three Sentinels are stopped first (they would promote a replica), and node1 is
# started with FW_REDIS_SENTINELS= FW_REDIS_HOST=10.10.0.200: it talks to the master, redis0,
# directly. The master keeps no data on disk (save "", appendonly no): started again it is empty
# (and its replicas resync to that), so whatever the cluster should know afterwards the worker has
# to write again. Level full, strategy sync, access transaction.
#   policy open:  a long transfer (paced /big download, ~8.5 s) runs; the master is killed; new
#     connections pass (curl), and a second long transfer starts during the outage; both transfers
#     complete intact (sha256, no RST). After the master is started again the worker reconnects
#     (redis_reconnects >= 1), writes resume (state_writes grows), and the fw:conn: keys of both
#     running transfers appear again (the one opened during the outage included: the worker rewrote
#     it). Counters: writes_deferred > 0, policy_forwards > 0.
#   policy closed: the master is killed during a long transfer; a new connection fails (curl times
#     out; policy_drops grows), the long transfer completes intact, and after the master returns a
#     new connection passes again.
#   hung master (SIGSTOP, policy open): a new connection's SYN is held up to the hold limit
#     ((FW_SYNC_PIPELINE + 1) x WAIT timeout + Redis timeout = 0.7 s), then the worker gives the
#     master up (redis_timeouts) and forwards it; the next new connection passes with its write
#     deferred; a long transfer flows on intact; after SIGCONT the worker reconnects.
set -u
. "$(dirname "$0")/lib.sh"

# dcli ARGS...: redis-cli as admin on redis0 directly (the lab's wrapper asks the Sentinels first)
dcli() {
    REDISCLI_AUTH=$(cat "$STATE/secrets/admin.pass") timeout 5 ip netns exec fwl-mgmt redis-cli \
        --no-auth-warning --user admin -h 10.10.0.200 -p 6379 "$@" 2>/dev/null | tr -d '\r'
}
direct_connected() { dcli CLIENT LIST | grep ' name=fwnode-node1 ' >/dev/null; }
# node1_direct POLICY: node1 restarted with the master's address instead of the Sentinels
node1_direct() {
    "$FWLAB" stop node1 >/dev/null 2>&1
    env FW_REDIS_SENTINELS= FW_REDIS_HOST=10.10.0.200 FW_SYNC_POLICY="$1" "$FWLAB" start node1 >/dev/null 2>&1 &&
        wait_until 10 direct_connected
}
has_key() { [[ "$(dcli GET "$(conn_key "$1")")" == ESTABLISHED* ]]; }
snap() { stats_refresh node1 || diag "stats of node1 not refreshed"; }
master_alive() { [ "$(dcli PING)" = PONG ]; }
master_down() { ! master_alive; }

lab_start --replicas 2 --level full --strategy sync --access transaction
for k in 1 2 3; do q "$FWLAB" redis-kill "sentinel$k"; done
check "the Sentinels are stopped (no failover can happen)" \
    bash -c '! "$1" status 2>/dev/null | grep -E "^  sentinel[123] " | grep -qv DEAD' _ "$FWLAB"
check "node1 talks to the master redis0 directly (FW_REDIS_HOST=10.10.0.200, policy open)" node1_direct open
check "htb on the server's eth0 (to pace the long transfers)" shape_init

# ---- policy open ----
PA=47001 PB=47002
shape_port "$PA"
shape_port "$PB"
pcap_start fwl-client rd-cli "tcp port $PA or tcp port $PB"
pcap_start fwl-server rd-srv "tcp port $PA or tcp port $PB"
xfer_start rdA "$PA" -m 40 --speed-limit 1000 --speed-time 8
check "open: transfer A is established" wait_until 5 xfer_established "$PA"
check "open: A's entry is in Redis (ESTABLISHED)" wait_until 3 has_key "$PA"
sleep 1
snap
r0=$(stat_get redis_reconnects) d0=$(stat_get writes_deferred) f0=$(stat_get policy_forwards)
l0=$(stat_get writes_lost) e0=$(stat_get redis_errors)
T_DOWN=$(now_s)
q "$FWLAB" redis-kill master
check "open: the master is down" wait_until 3 master_down
sleep 0.3
check "open: a new connection passes while the master is down (curl)" curl_1b 5
xfer_start rdB "$PB" -m 40 --speed-limit 1000 --speed-time 8
check "open: transfer B is established during the outage" wait_until 5 xfer_established "$PB"
curl3() { curl_1b 5 && curl_1b 5 && curl_1b 5; }
check "open: more new connections pass (3 x curl)" curl3
sleep 1.5
snap
w_mid=$(stat_get state_writes) f1=$(stat_get policy_forwards) d1=$(stat_get writes_deferred)
diag "open, during the outage: policy_forwards $f0 -> $f1, writes_deferred $d0 -> $d1, redis_errors $e0 -> $(stat_get redis_errors)"
T_UP=$(now_s)
q "$FWLAB" redis-start master
diag "the master was down for $(ms_between "$T_DOWN" "$T_UP") ms"
check "open: the master answers again" wait_until 5 master_alive
check "open: node1 reconnects to it" wait_until 10 direct_connected
reconnected() { snap >/dev/null 2>&1; [ "$(stat_get redis_reconnects)" -gt "$r0" ]; }
check "open: redis_reconnects grows ($r0 -> ...)" wait_until 10 reconnected
check "open: B's entry (opened during the outage) appears in Redis: the worker rewrote it" wait_until 5 has_key "$PB"
check "open: A's entry is back too (the restarted master was empty)" wait_until 5 has_key "$PA"
diag "GET $(conn_key "$PB") -> $(dcli GET "$(conn_key "$PB")")"
check "open: new connections pass after the master's return" curl_1b 5
snap
w1=$(stat_get state_writes) r1=$(stat_get redis_reconnects) d2=$(stat_get writes_deferred) f2=$(stat_get policy_forwards)
l1=$(stat_get writes_lost)
diag "open, after the return: state_writes $w_mid -> $w1, redis_reconnects $r0 -> $r1, writes_deferred $d0 -> $d2, policy_forwards $f0 -> $f2, writes_lost $l0 -> $l1"
check "open: writes resume: state_writes grows after the reconnect ($w_mid -> $w1)" test "$w1" -gt "$w_mid"
check "open: counters tell: writes_deferred > 0 ($d2)" test "$d2" -gt 0
check "open: counters tell: redis_reconnects >= 1 ($r1)" test "$r1" -ge 1
check "open: counters tell: policy_forwards > 0 ($f2)" test "$f2" -gt 0
check "open: keys in Redis now: $(dcli --scan --pattern 'fw:conn:*' | wc -l) fw:conn: keys" test "$(dcli --scan --pattern 'fw:conn:*' | wc -l)" -ge 2
for x in rdA rdB; do
    xfer_wait "$x" 40
    xfer_diag "$x"
    check "open: transfer ${x#rd} completes intact across the outage (exit $(xfer_rc "$x"), sha256)" xfer_intact "$x"
done
pcap_stop rd-cli
pcap_stop rd-srv
r=$(($(pcap_rsts rd-cli) + $(pcap_rsts rd-srv)))
check "open: no RST on either transfer ($r)" test "$r" -eq 0

# ---- policy closed ----
check "node1 restarted with policy closed (directly on redis0)" node1_direct closed
PC=47003
shape_port "$PC"
xfer_start rdC "$PC" -m 40 --speed-limit 1000 --speed-time 8
check "closed: transfer C is established" wait_until 5 xfer_established "$PC"
sleep 1
snap
p0=$(stat_get policy_drops)
q "$FWLAB" redis-kill master
check "closed: the master is down" wait_until 3 master_down
sleep 0.3
check_fails "closed: a new connection fails while the master is down (curl -m 3)" curl_1b 3
snap
p1=$(stat_get policy_drops)
check "closed: policy_drops grows ($p0 -> $p1)" test "$p1" -gt "$p0"
q "$FWLAB" redis-start master
check "closed: node1 reconnects" wait_until 10 direct_connected
check "closed: C's entry is in Redis again (the restarted master was empty: rewritten after the reconnect)" \
    wait_until 5 has_key "$PC"
check "closed: a new connection passes after the master's return" wait_until 5 curl_1b 3
xfer_wait rdC 40
xfer_diag rdC
check "closed: transfer C completes intact across the outage (exit $(xfer_rc rdC), sha256)" xfer_intact rdC

# ---- a hung master (SIGSTOP: connected, silent), policy open ----
# A held packet waits at most (FW_SYNC_PIPELINE + 1) x the WAIT timeout + the Redis timeout
# (defaults: 2 x 100 + 500 = 700 ms); then the worker drops the connection (redis_timeouts), the
# packet follows the policy, and until the master answers again new connections follow it at once
# (writes_deferred); a running transfer needs no write and flows on.
check "node1 restarted with policy open (directly on redis0)" node1_direct open
PD=47004
shape_port "$PD"
xfer_start rdD "$PD" -m 40 --speed-limit 1000 --speed-time 8
check "hung: transfer D is established" wait_until 5 xfer_established "$PD"
check "hung: D's entry is in Redis (ESTABLISHED)" wait_until 3 has_key "$PD"
snap
t0=$(stat_get redis_timeouts) d0=$(stat_get writes_deferred) r0=$(stat_get redis_reconnects)
q "$FWLAB" redis-pause master
read -r rc1 tc1 <<<"$(curl_t 5)"
read -r rc2 tc2 <<<"$(curl_t 5)"
snap # while the master is still paused
t1=$(stat_get redis_timeouts) d1=$(stat_get writes_deferred)
q "$FWLAB" redis-resume master
diag "hung: first new connection: curl exit $rc1, connect $tc1 s; second: exit $rc2, connect $tc2 s;" \
    "redis_timeouts $t0 -> $t1, writes_deferred $d0 -> $d1"
check "hung: the first new connection passes, its SYN held up to the hold limit (connect $tc1 s, 0.6..3 s)" \
    bash -c '[ "$1" = 0 ] && awk -v t="$2" "BEGIN {exit !(t >= 0.6 && t < 3)}"' _ "$rc1" "$tc1"
check "hung: redis_timeouts grows: the worker gave the silent master up ($t0 -> $t1)" test "$t1" -gt "$t0"
check "hung: the next new connection passes too (exit $rc2, connect $tc2 s)" test "$rc2" = 0
check "hung: its write is deferred, not lost (writes_deferred $d0 -> $d1)" test "$d1" -gt "$d0"
check "hung: node1 reconnects once the master answers" wait_until 10 direct_connected
check "hung: redis_reconnects grows ($r0 -> ...)" wait_until 10 reconnected
check "hung: a new connection passes after the master's return" wait_until 5 curl_1b 3
check "hung: D's entry is still in Redis" has_key "$PD"
xfer_wait rdD 40
xfer_diag rdD
check "hung: transfer D completes intact across the pause (exit $(xfer_rc rdD), sha256)" xfer_intact rdD

stats_refresh || true
stats_diag
worker_final_checks
