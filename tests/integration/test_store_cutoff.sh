#!/usr/bin/env bash
# A worker cut off from Redis (issue 7, "Faults"): node1's management interface (m) goes down
# while traffic flows; level full, strategy sync, access transaction, replicas all.
#   policy open: a paced download (24 Mbit/s, ~11 s) keeps flowing from the local table, a new
#     connection passes (policy_forwards grows), a second download opens during the outage; when
#     the link returns the worker reconnects (redis_reconnects grows) and writes the entry of the
#     download opened during the outage; both downloads complete intact.
#   policy closed: a new connection is dropped (policy_drops grows) while an established
#     download completes intact; after the link returns the worker reconnects and new
#     connections pass again.
set -u
. "$(dirname "$0")/lib.sh"

TO_MS=400
snap() { sleep 0.2; stats_refresh node1 || diag "stats of node1 not refreshed"; }
has_key() { [[ "$(rcli GET "$(conn_key "$1")")" == ESTABLISHED* ]]; }
link() { ip -n fwl-node1 link set dev m "$1"; } # the management interface of node1

lab_start --replicas 2 --level full --strategy sync --access transaction
check "node1 restarted (policy open)" node1_with open
check "htb on the server's eth0 (to pace the downloads)" shape_init
PA=46001 PB=46002 PC=46003
shape_port "$PA" 24mbit
shape_port "$PB" 24mbit
shape_port "$PC" 32mbit
pcap_start fwl-client lk-cli "tcp port $PA or tcp port $PB or tcp port $PC"
xfer_start lkA "$PA" -m 45 --speed-limit 1000 --speed-time 10
check "open: download A is established" wait_until 5 xfer_established "$PA"
check "open: A's entry is in Redis" wait_until 3 has_key "$PA"
snap
r0=$(stat_get redis_reconnects) f0=$(stat_get policy_forwards)
T0=$(now_s)
check "open: node1's management link is down" link down
read -r rc tc <<<"$(curl_t 10)"
diag "open, link down: a new connection: curl exit $rc, time_connect $tc s"
check "open, link down: a new connection passes (exit $rc)" test "$rc" = 0
xfer_start lkB "$PB" -m 45 --speed-limit 1000 --speed-time 10
check "open, link down: download B is established during the outage" wait_until 10 xfer_established "$PB"
snap
f1=$(stat_get policy_forwards)
check "open: counted as policy_forwards ($f0 -> $f1)" test "$f1" -gt "$f0"
sleep 1
check "open: node1's management link is up again" link up
diag "outage: $(ms_between "$T0" "$(now_s)") ms"
check "open: node1 reconnects to the master" wait_until 15 worker_connected node1
reconnected() { snap >/dev/null 2>&1; [ "$(stat_get redis_reconnects)" -gt "$r0" ]; }
check "open: redis_reconnects grows ($r0 -> ...)" wait_until 5 reconnected
check "open: B's entry (opened during the outage) is written after the reconnect" wait_until 10 has_key "$PB"
check "open: A's entry is still there" has_key "$PA"
check "open: a new connection passes after the outage" curl_1b 5
for x in lkA lkB; do
    xfer_wait "$x" 45
    xfer_diag "$x"
    check "open: download ${x#lk} completes intact across the outage (exit $(xfer_rc "$x"), sha256)" xfer_intact "$x"
done

check "node1 restarted with policy closed" node1_with closed
xfer_start lkC "$PC" -m 45 --speed-limit 1000 --speed-time 10
check "closed: download C is established" wait_until 5 xfer_established "$PC"
check "closed: C's entry is in Redis" wait_until 3 has_key "$PC"
snap
d0=$(stat_get policy_drops) r0=$(stat_get redis_reconnects)
check "closed: node1's management link is down" link down
read -r rc tc <<<"$(curl_t 4)"
check "closed, link down: a new connection fails (curl exit $rc: 28 = timeout)" test "$rc" = 28
snap
check "closed: counted as policy_drops ($d0 -> $(stat_get policy_drops))" test "$(stat_get policy_drops)" -gt "$d0"
check "closed: node1's management link is up again" link up
check "closed: node1 reconnects (redis_reconnects grows)" wait_until 15 reconnected
check "closed: a new connection passes again" wait_until 10 curl_1b 3

xfer_wait lkC 45
xfer_diag lkC
check "closed: download C completes intact across the outage (exit $(xfer_rc lkC), sha256)" xfer_intact lkC
pcap_stop lk-cli
r=$(pcap_rsts lk-cli)
check "no RST on the downloads ($r)" test "$r" -eq 0
snap
stats_diag
worker_final_checks
