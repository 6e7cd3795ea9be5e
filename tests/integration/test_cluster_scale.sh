#!/usr/bin/env bash
# Scale out and scale in without losing a connection (issue 4): the lab's cluster with 4 node
# namespaces, 3 workers running (node1, node2 active, node3 the backup), level full + sync.
#   scale out: while 4 long transfers (paced /big downloads spread over both actives' buckets)
#     and an ab run go on, node4 is started (it joins as a second backup) and the actives emgr
#     wants are raised from 2 to 3 (lab/fwlab scale --actives 3: the lab's cluster.conf changes,
#     then `emgr reload`): the map rebalances onto 3 actives; every transfer completes intact (sha256,
#     no RST), at least one of them changed owner, ab has 0 failed requests.
#   drain: `emgr drain nodeK --wait` returns when nodeK owns no bucket, then lab/fwlab stop nodeK;
#     a transfer through nodeK's buckets completes intact.
#   SIGTERM: lab/fwlab stop nodeK (the worker drains itself first: emgr moves its buckets, then it
#     exits); a transfer through nodeK's buckets completes intact.
set -u
. "$(dirname "$0")/lib.sh"

lab_start --nodes 4 --workers 3 --backups 1 --level full --strategy sync --access transaction
check "node1, node2 active, node3 the backup; node4 not started" \
    test "$(actives) $(role_of node3) $(role_of node4)" = "node1 node2 backup none"
check "htb on the server's eth0 (to pace the long transfers)" shape_init

# port_for_bucket B FROM: the first client port >= FROM whose connection to 10.10.2.10:80 is in B
port_for_bucket() {
    local p
    for ((p = $2; p < $2 + 1024; p++)); do [ "$(bucket_of "$p")" = "$1" ] && echo "$p" && return 0; done
    return 1
}
# xfers_start NAME BUCKET...: one paced transfer per bucket (NAME1, NAME2, ...); XPORTS: their ports
xfers_start() {
    local name=$1 i=0 b p
    shift
    XPORTS=()
    for b in "$@"; do
        i=$((i + 1))
        p=$(port_for_bucket "$b" "$PORT_BASE")
        PORT_BASE=$((PORT_BASE + 1024))
        XPORTS+=("$p")
        shape_port "$p"
        xfer_start "$name$i" "$p" -m 40 --speed-limit 1000 --speed-time 5
    done
}
all_established() {
    local p
    for p in "${XPORTS[@]}"; do xfer_established "$p" || return 1; done
}
# xfers_check NAME N WHAT: the N transfers NAME1..N completed intact
xfers_check() {
    local name=$1 n=$2 what=$3 i bad=0
    for i in $(seq "$n"); do
        xfer_wait "$name$i" 40
        xfer_intact "$name$i" || {
            bad=$((bad + 1))
            xfer_diag "$name$i"
        }
    done
    check "$what: all $n transfers complete with /big's sha256 ($bad failed)" test "$bad" -eq 0
}
PORT_BASE=20000

# ---- scale out: node4 joins, the actives go from 2 to 3 ----
map0=$(map_buckets)
pcap_start fwl-client so-cli "tcp portrange 20000-32000 and tcp[tcpflags] & tcp-rst != 0"
pcap_start fwl-server so-srv "tcp portrange 20000-32000 and tcp[tcpflags] & tcp-rst != 0"
xfers_start so 100 400 600 900
SO_PORTS=("${XPORTS[@]}")
check "scale out: 4 transfers established (ports ${SO_PORTS[*]})" wait_until 5 all_established
ab_start ab1 -s 30 -n 3000 -c 10 http://10.10.2.10/1b
sleep 1
check "lab/fwlab start node4: it joins" q "$FWLAB" start node4
check "node4 is a backup (a second one: actives are not missing)" wait_until 5 role_is node4 backup
T_SCALE=$(now_s)
check "lab/fwlab scale --actives 3 (emgr reload): the map settles on 3 actives" q "$FWLAB" scale --actives 3
map1=$(map_buckets)
diag "map before: $map0" "map after:  $map1 (epoch $(map_epoch), $(ms_between "$T_SCALE" "$(now_s)") ms for scale)"
check "3 actives now ($(actives))" test "$(echo "$(actives)" | wc -w)" -eq 3
moved=0
for p in "${SO_PORTS[@]}"; do
    b=$(bucket_of "$p")
    o0=$(map_owner "$b" "$map0") o1=$(map_owner "$b" "$map1")
    diag "port $p, bucket $b: $o0 -> $o1"
    [ "$o0" != "$o1" ] && moved=$((moved + 1))
done
check "the rebalance moved at least one running transfer to another worker ($moved of 4)" test "$moved" -ge 1
check "ab finished (60 s)" wait_until 60 ab_done ab1
ab_diag ab1
check "scale out: ab: 3000 requests, 'Failed requests: 0', no Non-2xx" ab_clean ab1 3000
xfers_check so 4 "scale out"
grep -h 'reload\|map epoch' "$STATE/emgr1.log" | tail -n 3 | sed 's/^/# emgr1: /'
for n in node1 node2 node3 node4; do
    grep -h 'map epoch' "$STATE/$n.log" | tail -n 1 | sed "s/^/# $n: /"
done

# ---- drain: emgr drain nodeK --wait, then stop ----
map=$(map_buckets)
victim=$(actives | awk '{print $1}')
xfers_start dr "$(awk -F'[=-]' -v n="$victim" 'BEGIN {RS = ";"} $1 == n {print $2 + 3}' <<<"$map")"
DR_PORT=${XPORTS[0]}
diag "drain: $victim owns $(owned "$victim") buckets; transfer from port $DR_PORT (bucket $(bucket_of "$DR_PORT"), owner $(map_owner "$(bucket_of "$DR_PORT")" "$map"))"
check "drain: the transfer through $victim is established" wait_until 5 all_established
sleep 2
out=$(emgr_cmd drain "$victim" --wait)
rc=$?
diag "emgr drain $victim --wait: $out"
check "emgr drain $victim --wait succeeds (exit $rc)" test "$rc" -eq 0
check "... and $victim owns no bucket when it returns ($(owned "$victim"))" test "$(owned "$victim")" -eq 0
check "lab/fwlab stop $victim" q "$FWLAB" stop "$victim"
xfers_check dr 1 "drain"
diag "map after the drain: $(map_buckets)"

# ---- SIGTERM: the worker drains itself ----
map=$(map_buckets)
victim=$(actives | awk '{print $1}')
xfers_start st "$(awk -F'[=-]' -v n="$victim" 'BEGIN {RS = ";"} $1 == n {print $2 + 5}' <<<"$map")"
ST_PORT=${XPORTS[0]}
diag "SIGTERM: $victim owns $(owned "$victim") buckets; transfer from port $ST_PORT (bucket $(bucket_of "$ST_PORT"), owner $(map_owner "$(bucket_of "$ST_PORT")" "$map"))"
check "SIGTERM: the transfer through $victim is established" wait_until 5 all_established
sleep 2
T_TERM=$(now_s)
check "lab/fwlab stop $victim (SIGTERM)" q "$FWLAB" stop "$victim"
diag "$victim stopped $(ms_between "$T_TERM" "$(now_s)") ms after SIGTERM"
check "$victim drained itself before it exited (its log)" \
    bash -c 'grep -q "draining [0-9]* buckets before stopping" "$1" && grep -q "drained: stopping" "$1"' _ "$STATE/$victim.log"
check "$victim owns no bucket ($(owned "$victim"))" test "$(owned "$victim")" -eq 0
xfers_check st 1 "SIGTERM"
pcap_stop so-cli
pcap_stop so-srv
r=$(($(pcap_rsts so-cli) + $(pcap_rsts so-srv)))
check "no RST on any of the 6 transfers, at the client or the server ($r)" test "$r" -eq 0
diag "map at the end: $(map_buckets)"

for n in node1 node2 node3 node4; do node_stats_diag "$n"; done
check "no sanitizer report in the workers' and emgr's logs" cluster_logs_clean
