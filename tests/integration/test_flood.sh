#!/usr/bin/env bash
# Floods against one worker (issue 7, "Floods"): node1 with a small connection table
# (FW_CONN_MAX=$MAX), the per-source rate limit (FW_RATE_PER_SOURCE, FW_RATE_BURST) and short
# timeouts for embryonic and UDP entries, level full, strategy sync, access transaction. While a
# paced /big download (32 MiB at 16 Mbit/s: ~17 s) runs through node1, tests/integration/flood.py
# sends from the client's namespace, all to the server 10.10.2.10 and bounded in count and rate:
#   1. a SYN flood from one spoofed source (10.10.1.77, random ports): the rate limit drops all
#      but its burst and rate (drop_rate), so it cannot fill the table alone;
#   2. a SYN flood from spoofed sources all over side A's /24 (each within its own rate): the table
#      fills to at most FW_CONN_MAX (conns_active, sampled all along); beyond it each SYN drops an
#      older embryonic entry (early drop, conns_early_drop), whose Redis entry is deleted too, so a
#      new connection of the real client succeeds while the flood keeps the table full, and the
#      established download is never dropped;
#   3. the same with a UDP flood to port 53 after the SYN entries expired; a datagram of a flow
#      the full table cannot hold is not looked up in Redis (store_lookups stays within 2 x MAX),
#      and is dropped unread (drop_table_full): with a store, early drop is only for plain SYNs.
# Throughout: the download completes intact (sha256, no RST), the worker's RSS stays within
# $RSS_GROWTH_KB of its size before the floods, the worker and its log stay clean, and once the
# flood's entries expire a new connection passes again.
set -u
. "$(dirname "$0")/lib.sh"

MAX=1500         # FW_CONN_MAX of this run
RATE=20 BURST=40 # FW_RATE_PER_SOURCE, FW_RATE_BURST
EMB_S=4          # timeouts of embryonic TCP and of UDP entries (s)
RSS_GROWTH_KB=$((64 * 1024))
FLOOD=$TOP/tests/integration/flood.py
# ASan keeps freed memory in quarantine (256 MiB by default), which would be counted as the
# worker's RSS: a small quarantine keeps the sanitizers and makes RSS say what the worker holds.
export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=8:thread_local_quarantine_size_kb=256

FW_CONN_MAX=$MAX FW_RATE_PER_SOURCE=$RATE FW_RATE_BURST=$BURST \
    FW_TIMEOUT_SYN_SENT=$EMB_S FW_TIMEOUT_SYN_RECV=$EMB_S FW_TIMEOUT_UDP=$EMB_S \
    FW_TIMEOUT_UDP_STREAM=$EMB_S lab_start --level full --strategy sync --access transaction

flood() { # flood KIND ARGS...: flood.py in the client's namespace; its JSON line on stdout
    timeout 40 ip netns exec fwl-client "$PY" "$FLOOD" "$@" --dst 10.10.2.10 2>&1 | tail -n 1
}
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$(worker_pid)/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '$1 == "VmHWM:" {print $2}' "/proc/$(worker_pid)/status" 2>/dev/null || echo 0; }
# sampler: SIGUSR1 node1 every 0.2 s and keep the largest conns_active seen in $STATE/peak
sampler_start() {
    echo 0 >"$STATE/peak"
    (
        while [ ! -e "$STATE/sampler.stop" ]; do
            stats_refresh node1 >/dev/null 2>&1
            a=$(stat_get conns_active)
            [ "$a" -gt "$(cat "$STATE/peak")" ] && echo "$a" >"$STATE/peak"
            sleep 0.2
        done
    ) &
    SAMPLER=$!
}
sampler_stop() {
    touch "$STATE/sampler.stop"
    wait "$SAMPLER" 2>/dev/null
    rm -f "$STATE/sampler.stop"
}
peak() { cat "$STATE/peak"; }
snap() { stats_refresh node1 || diag "stats of node1 not refreshed"; }
# the flood's entries are gone: a handful of the real client's connections (TIME_WAIT) may remain
table_drained() { snap >/dev/null 2>&1; [ "$(stat_get conns_active)" -lt 10 ]; }

check "worker runs with table max $MAX (its log)" grep -q "table max $MAX\$" "$STATE/node1.log"
check "traffic passes (curl)" curl_1b 5
udp_ok() { [ -n "$(inc timeout 3 socat -T1 - UDP:10.10.2.10:53 <<<ping 2>/dev/null)" ]; }
check "UDP to port 53 passes (socat)" udp_ok
P=45000
paced_download dl "$P" 16mbit 60
sleep 0.5
rss0=$(rss_kb)
snap
rate0=$(stat_get drop_rate) full0=$(stat_get drop_table_full)
sampler_start

# ---- 1. one spoofed source: the rate limit ----
out=$(flood syn --src 10.10.1.77 --dport 80 --count 3000 --pps 3000)
diag "1 source SYN flood: $out"
sent=$(sed -n 's/.*"sent": \([0-9]*\).*/\1/p' <<<"$out")
secs=$(sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p' <<<"$out")
check "flood.py sent 3000 SYNs from 10.10.1.77 (${secs:-?} s)" test "${sent:-0}" = 3000
sleep 0.5
snap
rate1=$(stat_get drop_rate)
# at most BURST + RATE x (seconds + 1) of them may pass the limit
allowed=$(awk -v b="$BURST" -v r="$RATE" -v s="${secs:-0}" 'BEGIN {printf "%d", b + r * (s + 1)}')
check "the rate limit dropped all but at most $allowed of them (drop_rate +$((rate1 - rate0)))" \
    test $((rate1 - rate0)) -ge $((3000 - allowed))
check "... so one source did not fill the table (conns_active $(stat_get conns_active) < $MAX)" \
    test "$(stat_get conns_active)" -lt "$MAX"

# ---- 2. spoofed sources over the /24: the table maximum, and early drop ----
snap
ed0=$(stat_get conns_early_drop) del0=$(stat_get state_deletes) full0=$(stat_get drop_table_full)
flood syn --src-net 10.10.1.0/24 --dport 80 --count 20000 --pps 8000 >"$STATE/flood2.out" &
FLOOD_PID=$!
table_full() { snap >/dev/null 2>&1; [ "$(stat_get conns_active)" -ge "$MAX" ]; }
check "the spoofed SYN flood fills the table (conns_active = $MAX)" wait_until 10 table_full
# the flood goes on (20,000 SYNs at 8,000/s) and the SYNs that filled it stay 4 s: the real
# client's SYN finds the table full, and an embryonic entry makes room for it (early drop)
ed1=$(stat_get conns_early_drop)
t0=$(now_s)
check "a new connection of the real client succeeds while the table is full" curl_1b 3
t1=$(now_s)
running=no
kill -0 "$FLOOD_PID" 2>/dev/null && running=yes
snap
diag "the real client's connection took $(ms_between "$t0" "$t1") ms (the flood still running: $running);" \
    "conns_early_drop $ed1 -> $(stat_get conns_early_drop) during it"
check "... the table still full and not above it (conns_active $(stat_get conns_active) = $MAX)" \
    test "$(stat_get conns_active)" -eq "$MAX"
wait "$FLOOD_PID"
out=$(cat "$STATE/flood2.out")
diag "spoofed SYN flood: $out"
sent=$(sed -n 's/.*"sent": \([0-9]*\).*/\1/p' <<<"$out")
check "flood.py sent 20000 SYNs from 252 spoofed sources" test "${sent:-0}" = 20000
snap
ed2=$(stat_get conns_early_drop) del2=$(stat_get state_deletes) full2=$(stat_get drop_table_full)
active=$(stat_get conns_active)
check "the table is full right after the flood (conns_active $active = $MAX)" test "$active" -eq "$MAX"
check "the table was never above the maximum (largest conns_active sampled: $(peak))" test "$(peak)" -le "$MAX"
check "the SYNs beyond it dropped older embryonic entries: conns_early_drop +$((ed2 - ed0)) >= $((20000 - MAX - 252 * BURST))" \
    test $((ed2 - ed0)) -ge $((20000 - MAX - 252 * BURST))
diag "drop_table_full +$((full2 - full0)) (the server's SYN+ACKs of evicted connections, dropped unread at the full table, and SYNs that found no embryonic entry near their hash slot)"
check "the evicted entries were deleted from Redis too (state_deletes +$((del2 - del0)) >= conns_early_drop +$((ed2 - ed0)))" \
    test $((del2 - del0)) -ge $((ed2 - ed0))
keys=$(rcli --scan --pattern 'fw:conn:*' | grep -c .)
check "Redis holds no more entries than the table ($keys <= $MAX)" test "$keys" -le "$MAX"
check "the established download survived the flood" xfer_established "$P"
rss1=$(rss_kb)
diag "RSS after the SYN floods: $rss0 -> $rss1 kB"

# ---- recovery, then 3. the UDP flood ----
t0=$(now_s)
check "the flood's entries expire (conns_active < 10 within $((EMB_S + 15)) s)" wait_until $((EMB_S + 15)) table_drained
diag "table drained in $(ms_between "$t0" "$(now_s)") ms (conns_expired $(stat_get conns_expired))"
check "a new connection passes again" curl_1b 5
snap
full2=$(stat_get drop_table_full) look2=$(stat_get store_lookups)
out=$(flood udp --src-net 10.10.1.0/24 --dport 53 --count 20000 --pps 8000)
diag "spoofed UDP flood: $out"
sent=$(sed -n 's/.*"sent": \([0-9]*\).*/\1/p' <<<"$out")
check "flood.py sent 20000 datagrams from 252 spoofed sources" test "${sent:-0}" = 20000
snap
full3=$(stat_get drop_table_full) look3=$(stat_get store_lookups)
check "the table is full after the UDP flood (conns_active $(stat_get conns_active) = $MAX)" test "$(stat_get conns_active)" -eq "$MAX"
sampler_stop
check "the table was never above the maximum (largest conns_active sampled: $(peak))" test "$(peak)" -le "$MAX"
check "the datagrams beyond it were counted: drop_table_full +$((full3 - full2)) >= $((20000 - MAX - 252 * BURST))" \
    test $((full3 - full2)) -ge $((20000 - MAX - 252 * BURST))
check_fails "UDP of the real client is refused while the table is full" udp_ok
# a datagram of an unknown flow is first looked up in Redis (it may belong to a connection taken
# over); with the table full the read is skipped: the flood must not become a flood of reads
check "Redis reads for the UDP flood stay within twice the table (store_lookups +$((look3 - look2)) <= $((2 * MAX)))" \
    test $((look3 - look2)) -le $((2 * MAX))

# ---- the download and the worker ----
check "the download finished (40 s)" xfer_wait dl 40
pcap_stop dl-cli
xfer_diag dl
check "the download through the flooded worker completes intact (exit $(xfer_rc dl), sha256)" xfer_intact dl
r=$(pcap_rsts dl-cli)
check "no RST on the download ($r)" test "$r" -eq 0
rss2=$(rss_kb) hwm=$(hwm_kb)
diag "RSS of node1: before ${rss0} kB, after the SYN floods ${rss1} kB, after the UDP flood ${rss2} kB (peak VmHWM ${hwm} kB)"
check "the worker's RSS grew by less than $((RSS_GROWTH_KB / 1024)) MiB ($(((rss2 - rss0) / 1024)) MiB)" \
    test $((rss2 - rss0)) -lt "$RSS_GROWTH_KB"
check "... and its peak too ($(((hwm - rss0) / 1024)) MiB above the start)" test $((hwm - rss0)) -lt "$RSS_GROWTH_KB"
check "the flood's UDP entries expire too" wait_until $((EMB_S + 15)) table_drained
check "a new connection passes after the floods" curl_1b 5
snap
stats_diag
worker_final_checks
