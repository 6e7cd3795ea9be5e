#!/usr/bin/env bash
# The shared store, all 12 combinations of level (none, established, full) x strategy (sync, async)
# x access (transaction, dirty), against the lab's real Redis (a master, 2 replicas, 3 Sentinels).
# For each one node1 is restarted with the combination's FW_SYNC_* settings on an emptied store
# (FLUSHALL + CONFIG RESETSTAT), HTTP traffic passes (curl, ab -n 200 -c 10), and every command
# the master executes is recorded with MONITOR (it shows the values, also those written inside
# FCALL / Lua and MULTI / EXEC):
#   none         no fw:conn: key is ever written
#   established  only ESTABLISHED values are written (never SYN_SENT / SYN_RECV)
#   full         SYN_SENT and SYN_RECV values are written too
#   transaction  INFO commandstats shows MULTI and EXEC (and FCALL fw_put); dirty: none of them
#   sync         WAIT is sent; async: no WAIT
#   TTLs         every entry written with its state's default timeout (from MONITOR's SETs)
#   deletes      no fw:conn: entry is left once the connections closed
# First, with the lab's defaults (full, sync, transaction), the readable layout of DESIGN.md
# section 6 during a slow download: key names, values, TTL, the bucket index; then, with a 4 s
# ESTABLISHED timeout, a paced download that outlives it keeps its entry (TTL refreshes).
set -u
. "$(dirname "$0")/lib.sh"

lab_start --replicas 2 --level full --strategy sync --access transaction
check "node1 is connected to the Redis master" wait_until 10 worker_connected node1

# ---- readable state: a live connection's entry, as redis-cli shows it ----
inc curl -sS -m 30 --limit-rate 8M -o /dev/null http://10.10.2.10/big &
dl_pid=$!
established() { inc ss -Htn state established dst 10.10.2.10 dport = :80 | grep -q .; }
check "a slow /big download is established" wait_until 5 established
cport=$(inc ss -Htn state established dst 10.10.2.10 dport = :80 | awk '{print $3}' | head -n 1)
cport=${cport##*:}
key="fw:conn:tcp:10.10.1.10:$cport:10.10.2.10:80"
has_est() { [[ "$(rcli GET "$key")" == ESTABLISHED* ]]; }
wait_until 3 has_est
keys=$(rcli --scan --pattern 'fw:*')
diag "redis-cli --scan --pattern 'fw:*' during the download:" "$keys"
check "the download's key is named fw:conn:<proto>:<addr>:<port>:<addr>:<port> ($key)" \
    grep -qx "$key" <<<"$keys"
check "every fw:conn: key names protocol, addresses and ports" \
    bash -c '! grep "^fw:conn:" <<<"$1" | grep -Evq "^fw:conn:(tcp|udp|icmp|icmpv6):[0-9a-f.:]+:[0-9]+:[0-9a-f.:]+:[0-9]+$"' _ "$keys"
val=$(rcli GET "$key")
ttl=$(rcli PTTL "$key")
diag "GET $key -> $val" "PTTL -> $ttl ms"
check "its value shows the state word and the owner ($val)" \
    bash -c '[[ $1 =~ ^ESTABLISHED\ owner=node1\  ]]' _ "$val"
check "its TTL is the ESTABLISHED timeout (432000 s; PTTL $ttl)" \
    test "${ttl:-0}" -gt 400000000 -a "${ttl:-0}" -le 432000000
idx=$(rcli --scan --pattern 'fw:bucket:*' | while read -r b; do
    [ "$(rcli SISMEMBER "$b" "$key")" = 1 ] && echo "$b"
done)
check "the entry is in a bucket index (${idx:-none})" test -n "$idx"
on_replicas=0
for k in 1 2; do [ "$(rcli_at "$k" GET "$key")" = "$val" ] && on_replicas=$((on_replicas + 1)); done
check "both replicas hold the same entry" test "$on_replicas" -eq 2
wait "$dl_pid"
check "the download completed (curl exit $?)" test $? -eq 0
gone() { [ "$(rcli EXISTS "$key")" = 0 ]; }
check "the entry is deleted after the connection closed" wait_until 5 gone

# ---- a long-lived connection's TTL is refreshed while it runs ----
# With a 4 s ESTABLISHED timeout an entry written once would expire 4 s after the handshake; a
# download running for longer must keep its entry, refreshed (at most once per half timeout), with
# a TTL of at most 4 s.
"$FWLAB" stop node1 >/dev/null 2>&1
env FW_TIMEOUT_ESTABLISHED=4 "$FWLAB" start node1 >/dev/null 2>&1
check "node1 restarted with FW_TIMEOUT_ESTABLISHED=4" wait_until 10 worker_connected node1
# paced by htb at the server, packet by packet (curl --limit-rate pauses the wire for seconds)
check "htb on the server's eth0 (to pace the download)" shape_init
shape_port 41111 16mbit
xfer_start refresh 41111
check "a download paced to 16 Mbit/s (17 s) is established" wait_until 5 xfer_established 41111
key=$(conn_key 41111)
sleep 6
check "6 s into it, the download still runs" test ! -s "$STATE/refresh.rc"
ex=$(rcli EXISTS "$key")
ttl=$(rcli PTTL "$key")
stats_refresh || true
refreshes=$(stat_get ttl_refreshes)
diag "6 s into the download: EXISTS $ex, PTTL $ttl ms, ttl_refreshes $refreshes"
check "6 s into it, past its 4 s timeout, its entry is still there (EXISTS $ex)" test "$ex" = 1
check "with a TTL of at most the 4 s timeout (PTTL $ttl ms)" test "${ttl:--2}" -gt 0 -a "${ttl:--2}" -le 4000
check "the worker refreshed it, once per half timeout (ttl_refreshes $refreshes >= 2)" test "$refreshes" -ge 2
xfer_wait refresh 30
check "the download completed intact" xfer_intact refresh || xfer_diag refresh
check "its entry is deleted after it closed" wait_until 5 gone
ins tc qdisc del dev eth0 root 2>/dev/null
"$FWLAB" stop node1 >/dev/null 2>&1
"$FWLAB" start node1 >/dev/null 2>&1
check "node1 restarted with the default timeouts" wait_until 10 worker_connected node1

# ---- the 12 combinations ----
curl_ok() { [ "$(inc curl -sS -m 10 http://10.10.2.10/1b 2>/dev/null)" = x ]; }
ab_ok() { # all 200 requests complete, none failed
    local out
    out=$(inc ab -q -s 10 -n 200 -c 10 http://10.10.2.10/1b 2>&1)
    local rc=$?
    [ $rc -eq 0 ] && grep -Eq '^Complete requests: +200$' <<<"$out" && grep -Eq '^Failed requests: +0$' <<<"$out" || {
        diag "$(grep -E '^(Complete|Failed) requests|apr_|Non-2xx' <<<"$out")"
        return 1
    }
}
# writes MONFILE: the MONITOR lines of commands that change a fw:conn: key or put one in an index
# (reads, GET / EXISTS / PTTL / SMEMBERS / SCAN, are left out)
writes() {
    awk 'match($0, /\] "[A-Za-z]+"/) {
        cmd = toupper(substr($0, RSTART + 3, RLENGTH - 4))
        if (index($0, "\"fw:conn:") && cmd !~ /^(GET|MGET|EXISTS|PTTL|TTL|SMEMBERS|SISMEMBER|SCAN|TYPE)$/) print
    }' "$1"
}
# no_entries: the master answers and holds no fw:conn: key
no_entries() { [ "$(rcli PING)" = PONG ] && [ -z "$(rcli --scan --pattern 'fw:conn:*')" ]; }
# ttls MONFILE: "STATE PX" of every SET of an entry (by the worker or inside fw_put), sorted, unique
ttls() {
    writes "$1" | awk 'match($0, /"SET" "fw:conn:[^"]*" "[A-Z_]+ owner=[^"]*" "PX" "[0-9]+"/) {
        n = split(substr($0, RSTART, RLENGTH), f, "\"")
        split(f[6], w, " ")
        print w[1], f[10]
    }' | sort -u
}
# ttl_wrong MONFILE: the pairs whose TTL is not the state's default timeout (ms)
ttl_wrong() {
    ttls "$1" | awk '{
        split("SYN_SENT 120 SYN_RECV 60 ESTABLISHED 432000 FIN_WAIT 120 CLOSE_WAIT 60 LAST_ACK 30 TIME_WAIT 120 CLOSE 10", d, " ")
        for (i = 1; i < 16; i += 2) want[d[i]] = d[i + 1] * 1000
        if (!($1 in want) || $2 != want[$1]) print
    }'
}
# states MONFILE: the state words of the values written (sorted, unique)
states() { writes "$1" | grep -o '"[A-Z_]* owner=' | tr -d '"' | awk '{print $1}' | sort -u | tr '\n' ' '; }

for level in none established full; do
    for strategy in sync async; do
        for access in transaction dirty; do
            c="$level/$strategy/$access"
            "$FWLAB" stop node1 >/dev/null 2>&1
            if ! redis_reset; then
                notok "$c: FLUSHALL + CONFIG RESETSTAT as admin"
                continue
            fi
            mon=$STATE/monitor-${level}-${strategy}-${access}.log
            check "$c: MONITOR runs on the master" monitor_start "$mon" || continue
            logline=$(($(wc -l <"$STATE/node1.log") + 1))
            env FW_SYNC_LEVEL=$level FW_SYNC_STRATEGY=$strategy FW_SYNC_ACCESS=$access \
                "$FWLAB" start node1 >/dev/null 2>&1
            if ! wait_until 10 worker_connected node1; then
                notok "$c: node1 restarted and connected to Redis"
                tail -n 5 "$STATE/node1.log" | sed 's/^/# /'
                monitor_stop
                continue
            fi
            check "$c: the worker runs with it" grep -q "sync: level $level, strategy $strategy, access $access" \
                <(tail -n +"$logline" "$STATE/node1.log")
            check "$c: curl http://10.10.2.10/1b" curl_ok
            check "$c: ab -n 200 -c 10: 200 complete, 0 failed" ab_ok
            sleep 1 # the last connections' closing writes
            monitor_stop
            check "$c: no fw:conn: entry is left once the connections closed" wait_until 5 no_entries ||
                diag "$c: left: $(rcli --scan --pattern 'fw:conn:*' | head -n 3)"
            # the recording works: it holds the worker's statistics (HSET fw:stats:node1, each second)
            check "$c: MONITOR recorded the worker's commands (HSET fw:stats:node1)" \
                grep -q '"HSET" "fw:stats:node1"' "$mon"
            nw=$(writes "$mon" | wc -l)
            st=$(states "$mon")
            multi=$(cmdstat multi)
            exec_=$(cmdstat exec)
            fcall=$(cmdstat fcall)
            waits=$(cmdstat wait)
            diag "$c: $nw fw:conn: writes, states written: ${st:-none}; calls: multi $multi exec $exec_ fcall $fcall wait $waits set $(cmdstat set) sadd $(cmdstat sadd) del $(cmdstat del)"
            case $level in
            none)
                check "$c: no fw:conn: key is ever written ($nw writes)" test "$nw" -eq 0 ||
                    writes "$mon" | head -n 3 | sed 's/^/#   /'
                ;;
            established)
                check "$c: ESTABLISHED entries are written" grep -qw ESTABLISHED <<<"$st"
                check "$c: only ESTABLISHED values are written (${st:-none})" test "$st" = "ESTABLISHED " ||
                    writes "$mon" | grep -v '"ESTABLISHED owner=' | grep ' owner=' | head -n 3 | sed 's/^/#   /'
                ;;
            full)
                check "$c: SYN_SENT values are written" grep -qw SYN_SENT <<<"$st"
                check "$c: SYN_RECV values are written" grep -qw SYN_RECV <<<"$st"
                check "$c: ESTABLISHED values are written" grep -qw ESTABLISHED <<<"$st"
                ;;
            esac
            if [ "$level" != none ]; then
                tw=$(ttl_wrong "$mon")
                check "$c: each entry's TTL is its state's timeout ($(ttls "$mon" | tr '\n' ',' | sed 's/,$//'))" \
                    test -n "$(ttls "$mon")" -a -z "$tw" || diag "$c: wrong TTLs: $tw"
            fi
            if [ "$level" != none ]; then
                if [ "$access" = transaction ]; then
                    check "$c: INFO commandstats shows MULTI ($multi) and EXEC ($exec_)" \
                        test "$multi" -gt 0 -a "$exec_" -gt 0
                    check "$c: entries are written by FCALL fw_put ($fcall)" test "$fcall" -gt 0
                else
                    check "$c: INFO commandstats shows no MULTI ($multi) and no EXEC ($exec_)" \
                        test "$multi" -eq 0 -a "$exec_" -eq 0
                    check "$c: entries are written by plain SET ($(cmdstat set)), no FCALL ($fcall)" \
                        test "$(cmdstat set)" -gt 0 -a "$fcall" -eq 0
                fi
                if [ "$strategy" = sync ]; then
                    check "$c: WAIT is sent ($waits calls)" test "$waits" -gt 0
                else
                    check "$c: no WAIT is sent ($waits calls)" test "$waits" -eq 0
                fi
            fi
        done
    done
done

stats_refresh || true
stats_diag
worker_final_checks
