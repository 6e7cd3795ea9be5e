#!/usr/bin/env bash
# Real traffic through one worker: HTTP (curl, ab) over IPv4 and IPv6, UDP 53, ping; and the
# denied direction: the server cannot reach the client (TCP, ping, UDP).
set -u
. "$(dirname "$0")/lib.sh"

lab_start --no-redis # the data plane alone (issue 2): no Redis, level none; fast
stats_refresh || true
fwd0=$(stat_get pkts_fwd)

# --- allowed: client -> server ---
check "curl http://10.10.2.10/1b from the client" \
    bash -c '[ "$(ip netns exec fwl-client curl -sS -m 10 http://10.10.2.10/1b)" = x ]'
check "curl http://[fd00:10:2::10]/1b from the client" \
    bash -c '[ "$(ip netns exec fwl-client curl -sS -m 10 "http://[fd00:10:2::10]/1b")" = x ]'
check "curl http://10.10.2.10:443/1b (port 443) from the client" \
    bash -c '[ "$(ip netns exec fwl-client curl -sS -m 10 http://10.10.2.10:443/1b)" = x ]'

want=$(cat "$STATE/www/big.sha256")
big_ok() { # big_ok URL: download /big, compare its sha256
    local got
    got=$(inc curl -sS -m 60 "$1" | sha256sum | awk '{print $1}')
    [ "$got" = "$want" ] || {
        diag "sha256 of $1: $got, want $want"
        return 1
    }
}
t0=$(date +%s%N)
check "/big (32 MiB) over IPv4 arrives with the right sha256" big_ok http://10.10.2.10/big
diag "IPv4 /big took $((($(date +%s%N) - t0) / 1000000)) ms"
check "/big (32 MiB) over IPv6 arrives with the right sha256" big_ok "http://[fd00:10:2::10]/big"

ab_ok() { # ab_ok N C URL: all N requests complete, none failed, no non-2xx
    local out
    out=$(inc ab -q -s 10 -n "$1" -c "$2" "$3" 2>&1)
    local rc=$?
    printf '%s\n' "$out" | grep -E '^(Complete|Failed) requests|Non-2xx|Requests per second|apr_' | sed 's/^/# /'
    [ $rc -eq 0 ] &&
        printf '%s\n' "$out" | grep -Eq "^Complete requests: +$1\$" &&
        printf '%s\n' "$out" | grep -Eq '^Failed requests: +0$' &&
        ! printf '%s\n' "$out" | grep -q 'Non-2xx'
}
check "ab -n 2000 -c 20 over IPv4: 0 failed" ab_ok 2000 20 http://10.10.2.10/1b
check "ab -n 500 -c 10 over IPv6: 0 failed" ab_ok 500 10 "http://[fd00:10:2::10]/1b"

udp_ok() { # udp_ok ADDR: the server's responder answers
    local tok="q$RANDOM$RANDOM" ans
    ans=$(echo "$tok" | inc socat -T 3 - "$1" 2>&1)
    [ "$ans" = "answer:$tok" ] || {
        diag "UDP answer via $1: '$ans'"
        return 1
    }
}
check "UDP 53 query over IPv4 is answered" udp_ok UDP4:10.10.2.10:53
check "UDP 53 query over IPv6 is answered" udp_ok "UDP6:[fd00:10:2::10]:53"

check "ping client -> server (IPv4)" q inc ping -n -q -c 3 -i 0.2 -W 2 10.10.2.10
check "ping -6 client -> server" q inc ping -6 -n -q -c 3 -i 0.2 -W 2 fd00:10:2::10

# --- denied: server -> client ---
stats_refresh || true
rule0=$(stat_get drop_rule)
# connect_times_out URL: curl from the server must time out (exit 28): no connection, no RST
connect_times_out() {
    local rc
    ins curl -sS --http0.9 -m 3 "$1" >/dev/null 2>&1
    rc=$?
    [ $rc -eq 28 ] || {
        diag "curl $1 from the server: exit $rc (want 28, timeout)"
        return 1
    }
}
check "server cannot connect to client TCP 80 (times out)" connect_times_out http://10.10.1.10:80/
check "server cannot connect to client TCP 22 (times out)" connect_times_out http://10.10.1.10:22/
check "server cannot connect to client TCP 80 over IPv6 (times out)" connect_times_out "http://[fd00:10:1::10]:80/"
check_fails "ping server -> client (IPv4) fails" q ins ping -n -q -c 2 -i 0.2 -W 1 10.10.1.10
check_fails "ping -6 server -> client fails" q ins ping -6 -n -q -c 2 -i 0.2 -W 1 fd00:10:1::10

udp_denied() { # udp_denied ADDR: no answer, and the client's responder logged nothing from the server
    local tok="d$RANDOM$RANDOM" ans before after
    before=$(grep -c '^from fd00:10:2::10 \|^from 10.10.2.10 ' "$STATE/client-udp53.log")
    ans=$(echo "$tok" | ins socat -T 2 - "$1" 2>/dev/null)
    sleep 0.3
    after=$(grep -c '^from fd00:10:2::10 \|^from 10.10.2.10 ' "$STATE/client-udp53.log")
    [ -z "$ans" ] && [ "$before" = "$after" ] || {
        diag "UDP via $1: answer '$ans', client log lines from the server $before -> $after"
        return 1
    }
}
check "UDP server -> client 53 (IPv4) is not delivered" udp_denied UDP4:10.10.1.10:53
check "UDP server -> client 53 (IPv6) is not delivered" udp_denied "UDP6:[fd00:10:1::10]:53"

stats_refresh || diag "stats file was not refreshed after SIGUSR1"
fwd1=$(stat_get pkts_fwd)
rule1=$(stat_get drop_rule)
check "worker counted forwarded packets (pkts_fwd $fwd0 -> $fwd1)" test "$fwd1" -gt "$fwd0"
# 3 TCP connects (>= 1 SYN each), 4 pings, 2 datagrams were denied
check "worker counted the denied attempts (drop_rule $rule0 -> $rule1, >= 9)" \
    test "$((rule1 - rule0))" -ge 9

# ---- FW_CPUS: the worker runs on the CPUs it is given, or does not start ----
# cpus_of PID|self: the CPUs that process may run on, as the kernel lists them ("0-1")
cpus_of() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/status"; }
mine=$(cpus_of self) # the CPUs this test may use (a container may be given only some)
allowed=$(tr ',' '\n' <<<"$mine" | awk -F- '{for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c}')
one=$(sed -n 2p <<<"$allowed") # a CPU of them other than the first (none on a 1-CPU host)
first=$(sed -n 1p <<<"$allowed")
worker_cpus() { cpus_of "$(worker_pid node1)"; }
"$FWLAB" stop node1 >/dev/null 2>&1
if [ -n "$one" ]; then
    FW_CPUS=$one "$FWLAB" start node1 >/dev/null 2>&1
    check "FW_CPUS=$one: the worker runs on CPU $one only ($(worker_cpus))" test "$(worker_cpus)" = "$one"
    check "... and forwards (curl)" curl_1b
    "$FWLAB" stop node1 >/dev/null 2>&1
else
    diag "one CPU allowed here ($first): a worker pinned to it could not be told from one that is not"
fi
absent=$(getconf _NPROCESSORS_CONF) # CPUs are numbered from 0: this one is not there
check_fails "FW_CPUS=$absent (no such CPU here): the worker does not start" \
    env FW_CPUS="$absent" "$FWLAB" start node1
check "... and says why" grep -q "cpus '$absent': CPU $absent is not available here" "$STATE/node1.log"
check_fails "FW_CPUS=$first,$absent (one of them not here): the worker does not start either" \
    env FW_CPUS="$first,$absent" "$FWLAB" start node1
check "... and says which" grep -q "cpus '$first,$absent': CPU $absent is not available here" "$STATE/node1.log"
check_fails "FW_CPUS=0-x (not a CPU list): the worker does not start" \
    env FW_CPUS=0-x "$FWLAB" start node1
check "... and says why" grep -q "FW_CPUS: '0-x': not a CPU list" "$STATE/node1.log"
env -u FW_CPUS "$FWLAB" start node1 >/dev/null 2>&1
check "without FW_CPUS the worker runs wherever this test may ($(worker_cpus))" \
    test "$(worker_cpus)" = "$mine"

# ---- a write of the stats file that hangs holds no packet ----
# The temporary file the counters go to is made a FIFO nobody reads: the worker's writer thread
# blocks in open() on it (seen in /proc: a thread of the worker in openat), the event loop must
# not; reading the FIFO lets the write through.
tmpf="$STATE/node1.stats.tmp"
case $(uname -m) in aarch64) SYS_OPENAT=56 ;; *) SYS_OPENAT=257 ;; esac
in_open() {
    local t
    for t in /proc/"$(worker_pid node1)"/task/*; do
        [ "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" = "$SYS_OPENAT" ] && return 0
    done
    return 1
}
hung=no
for _ in 1 2 3; do # a write in progress may rename the FIFO away: try again
    rm -f "$tmpf"
    mkfifo "$tmpf"
    kill -USR1 "$(worker_pid node1)"
    if wait_until 2 in_open && [ -p "$tmpf" ]; then hung=yes && break; fi
done
check "a thread of the worker is blocked opening the stats file's FIFO" test "$hung" = yes
check "... while traffic passes (curl)" test "$(inc curl -sS -m 3 http://10.10.2.10/1b 2>/dev/null)" = x
check "... and ab -n 200 -c 10: 0 failed" ab_ok 200 10 http://10.10.2.10/1b
got=$(timeout 5 cat "$tmpf" 2>/dev/null)
check "reading the FIFO lets the write through: the counters come out (pkts_in)" \
    grep -q '^pkts_in [0-9]' <<<"$got"
stats_regular() { [ -f "$STATE/node1.stats" ] && ! [ -p "$STATE/node1.stats" ]; }
check "the next write replaces the renamed FIFO with the counters (3 s)" wait_until 3 stats_regular
rm -f "$tmpf"
stats_diag
worker_final_checks
