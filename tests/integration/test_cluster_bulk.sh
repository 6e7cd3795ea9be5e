#!/usr/bin/env bash
# A takeover of a large table (issues 3 and 4): the lab's cluster of 3 workers (node1, node2
# active, node3 the backup), level full, with 200,000 stored connections in node1's buckets
# (written straight into Redis by scripts of 2,000 writes). node1 is SIGKILLed:
#   - node3 takes node1's buckets and loads every stored entry of them (its log: "loaded 200000
#     stored entries"; conns_adopted), while it keeps heartbeating: the load's commands share
#     the heartbeat's connection, and Redis answers a connection in order;
#   - emgr fails node1 and no other worker, and the map ends with node2 and node3 active: a
#     new owner failed for its load would hand the buckets on to a worker that fails the same way;
#   - the scripts stall Redis for a few tens of milliseconds each: no worker fails then.
# (With the optimized worker and the default heartbeat TTL, 60 ms, the loader of before, which
# sent every index read and MGET at once, had node3 failed 330 ms after it took over.)
set -u
. "$(dirname "$0")/lib.sh"

N=${BULK_N:-200000}
export FW_CONN_MAX=$((N + N / 2)) # the workers' table holds them all
lab_start --nodes 3 --backups 1 --level full --strategy sync --access transaction
check "node1 owns buckets 0-511 (the entries go there)" \
    grep -q 'node1=0-511\(;\|$\)' <<<"$(map_buckets)"

# N entries 10.10.1.(20 + i / 60000):(1024 + i % 60000) -> 10.10.2.10:80, ESTABLISHED, owner node1,
# in the index of bucket i % 512 (the loader takes an index's members as they are)
gen='local from, n, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = from, from + n - 1 do
  local key = "fw:conn:tcp:10.10.1." .. (20 + math.floor(i / 60000)) .. ":" .. (1024 + i % 60000) .. ":10.10.2.10:80"
  redis.call("SET", key, "ESTABLISHED owner=node1 orig=a side=a rank=3 v=1 t=" .. now, "PX", 600000)
  redis.call("SADD", "fw:bucket:" .. (i % 512), key)
end
return n'
T_GEN=$(now_s)
now=$(date +%s%3N)
for ((s = 0; s < N; s += 2000)); do rcli EVAL "$gen" 0 "$s" 2000 "$now" >/dev/null; done
stored=$(rcli EVAL "local c = 0 for b = 0, 511 do c = c + redis.call('SCARD', 'fw:bucket:' .. b) end return c" 0)
check "$N entries in the indexes of buckets 0-511 ($stored)" test "$stored" -ge "$N"
gen_fails=$(log_after "$STATE/emgr1.log" "$T_GEN" | grep -c 'failed (no heartbeat)')
check "writing them ($((N / 2000)) scripts of 2,000 writes) fails no worker ($gen_fails)" \
    test "$gen_fails" -eq 0
diag "late membership reads meanwhile: $(log_after "$STATE/emgr1.log" "$T_GEN" | grep -c 'reading again')"

T_KILL=$(now_s)
q "$FWLAB" kill node1
check "node3 becomes active" wait_until 10 role_is node3 active
loaded() { log_first_after "$STATE/node3.log" "$T_KILL" "loaded [0-9]+ stored entries" >/dev/null; }
check "node3 finished loading (20 s)" wait_until 20 loaded
line=$(log_first_after "$STATE/node3.log" "$T_KILL" "loaded [0-9]+ stored entries")
diag "node3: ${line#* info: }"
got=$(sed -n 's/.*loaded \([0-9]*\) stored entries.*/\1/p' <<<"$line")
check "... all $N of node1's entries (${got:-none})" test "${got:-0}" -ge "$N"
sleep 2 # several heartbeat TTLs after the load
stats_refresh node3 || true
ad=$(stat_get conns_adopted node3)
check "node3's table has them (conns_adopted $ad)" test "$ad" -ge "$N"
fails=$(log_after "$STATE/emgr1.log" "$T_KILL" | grep 'failed (no heartbeat)')
if ! check "emgr failed node1 and no other worker" test "$(grep -c . <<<"$fails")" -eq 1 -a \
    "$(grep -c 'worker node1 ' <<<"$fails")" -eq 1; then
    log_after "$STATE/emgr1.log" "$T_KILL" | grep -E 'failed|map epoch|membership' | sed 's/^/# /'
    grep -h 'heartbeat [0-9]* ms after' "$STATE"/node[23].log | sed 's/^/# /' | tail -n 10
fi
check "node2 and node3 are the actives" test "$(actives)" = "node2 node3"
check "node3 owns node1's 512 buckets ($(owned node3))" test "$(owned node3)" -eq 512
check "traffic passes (curl)" test "$(inc curl -sS -m 5 http://10.10.2.10/1b 2>/dev/null)" = x
check "no sanitizer report in the workers' and emgr's logs" cluster_logs_clean
