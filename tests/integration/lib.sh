# shellcheck shell=bash disable=SC2034
# Shared helpers of the lab integration tests (sourced). Each test prints TAP lines:
# "ok - what" or "not ok - what", and "# ..." for diagnostics.
FWLAB=${FWLAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/lab/fwlab}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3 # Debian's python: python3-scapy is installed for it

. "$TOP/tests/tap.sh"

# ---- lab helpers (shared by the test_*.sh scripts) ----
# The tests run the worker built with ASan + UBSan unless FWLAB_FWNODE says otherwise.
export FWLAB_FWNODE=${FWLAB_FWNODE:-$TOP/build/fwnode-san}
# The workers and emgr built with ASan run about 3x slower, and the tests' load (ab, nmap,
# transfers, several workers and Redis servers starting) keeps this 2-core host busy: with the
# default 20 ms x 3 heartbeat a worker that waits 60 ms for a CPU is taken for dead, and even 5
# misses (100 ms) gave a false detection about once in 15 runs of a cluster test, 8 (160 ms)
# still now and then (a worker under test_cluster_failover's load logged a heartbeat 221 ms
# after the one before). The tests allow 12 misses (240 ms; no test asserts a detection time);
# bench/failover measures the defaults.
export FW_HEARTBEAT_MISSES=${FW_HEARTBEAT_MISSES:-12}
export FWLAB_STATE=${FWLAB_STATE:-/run/fwlab}
STATE=$FWLAB_STATE
# ASan: report to stderr (the worker's log), abort on the first error.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
VMAC_A=02:f0:00:00:00:0a
VMAC_B=02:f0:00:00:00:0b

inc() { ip netns exec fwl-client "$@"; }   # run in the client namespace
ins() { ip netns exec fwl-server "$@"; }   # run in the server namespace

# lab_start [lab/fwlab up ARGS: --nodes N, --no-redis, --replicas R, --level ...]: a fresh lab
# (whatever was left is removed first); the lab is torn down when the test exits. Bails out (exit 1, "not ok") when the lab cannot come up.
lab_start() {
    if [ ! -x "$FWLAB_FWNODE" ]; then
        notok "worker binary $FWLAB_FWNODE exists (run make)"
        exit 1
    fi
    "$FWLAB" down >/dev/null 2>&1 || true
    trap lab_cleanup EXIT
    local out
    if ! out=$("$FWLAB" up "$@" 2>&1); then
        diag "$out"
        notok "lab comes up with $FWLAB_FWNODE"
        exit 1
    fi
    ok "lab up (worker $(basename "$FWLAB_FWNODE"))"
    LOGSTART=$(wc -l <"$STATE/node1.log")
}
lab_cleanup() {
    local rc=$?
    # FWLAB_KEEP_LOGS=DIR: the lab's logs are kept there (for a failure's post-mortem)
    if [ -n "${FWLAB_KEEP_LOGS:-}" ]; then mkdir -p "$FWLAB_KEEP_LOGS" && cp "$STATE"/*.log "$FWLAB_KEEP_LOGS/" 2>/dev/null; fi
    # after a failure, the workers' and managers' last log lines go into the test's output (a CI
    # run keeps only that): what they saw of heartbeats, maps and Redis
    if [ "${TAP_FAILED:-0}" -gt 0 ]; then
        local f
        for f in "$STATE"/node*.log "$STATE"/emgr*.log; do
            [ -s "$f" ] || continue
            diag "--- $(basename "$f"), last 25 lines" "$(tail -n 25 "$f" | cut -c1-300)"
        done
    fi
    "$FWLAB" down >/dev/null 2>&1 || true
    exit $rc
}


# pid_alive PID: running and not a zombie
pid_alive() {
    local st
    [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
    st=$(awk '{sub(/^.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
worker_pid() { cat "$STATE/${1:-node1}.pid" 2>/dev/null; }
worker_alive() { pid_alive "$(worker_pid "${1:-node1}")"; }

# stats_refresh [nodeK]: SIGUSR1 the worker and wait (<= 3 s) until its stats file is rewritten
stats_sig() { stat -c '%i %.9Y %s' "$STATE/${1:-node1}.stats" 2>/dev/null; }
stats_refresh() {
    local n=${1:-node1} before pid
    before=$(stats_sig "$n")
    pid=$(worker_pid "$n")
    pid_alive "$pid" || return 1
    kill -USR1 "$pid" 2>/dev/null || return 1
    wait_until 3 stats_changed "$n" "$before"
}
stats_changed() { [ "$(stats_sig "$1")" != "$2" ]; }
# stat_get NAME [nodeK]: a counter from the last stats file (0 when absent)
stat_get() {
    awk -v k="$1" '$1 == k {v = $2} END {print (v == "" ? 0 : v)}' "$STATE/${2:-node1}.stats" 2>/dev/null || echo 0
}
# stat_sum NAME... : the sum of several counters
stat_sum() {
    local s=0 k
    for k in "$@"; do s=$((s + $(stat_get "$k"))); done
    echo "$s"
}
stats_diag() {
    [ -f "$STATE/node1.stats" ] || return 0
    diag "worker counters:" $(awk '$2 != 0 {printf "%s=%s\n", $1, $2}' "$STATE/node1.stats")
}

# sanitizer_clean: the worker's log (since this test's start) has no ASan / UBSan / LSan report
sanitizer_clean() {
    local bad
    bad=$(tail -n +"$((${LOGSTART:-0} + 1))" "$STATE/node1.log" |
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined)' | head -n 5 || true)
    if [ -n "$bad" ]; then
        printf '%s\n' "$bad" | sed 's/^/# /'
        return 1
    fi
}
# worker_final_checks: the worker lives and its log is clean (every test ends with this)
worker_final_checks() {
    check "worker node1 still alive (pid $(worker_pid))" worker_alive
    if ! worker_alive; then tail -n 30 "$STATE/node1.log" | sed 's/^/# /'; fi
    check "worker log has no sanitizer report" sanitizer_clean
}
# q CMD...: run CMD, its output shown as "# " diagnostics (keeps the TAP stream clean)
q() {
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | tail -n 4 | sed 's/^/#   /'
    return $rc
}

# ---- the lab's Redis (lab/fwlab up without --no-redis) ----
# rcli ARGS...: redis-cli as admin on the current master (the lab's wrapper in fwl-mgmt), bounded
rcli() { timeout 10 "$FWLAB" exec mgmt -- redis-cli "$@" 2>&1 | tr -d '\r'; }
# rcli_at K ARGS...: the same against instance redisK (10.10.0.(200+K)), e.g. a replica
rcli_at() {
    local k=$1
    shift
    rcli -h "10.10.0.$((200 + k))" -p 6379 "$@"
}
# cmdstat NAME: the calls of command NAME in the master's INFO commandstats (0 when absent)
cmdstat() {
    rcli INFO commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}
# redis_reset: an empty store with fresh command statistics (the function library stays: FLUSHALL
# does not remove functions)
redis_reset() { [ "$(rcli FLUSHALL)" = OK ] && [ "$(rcli CONFIG RESETSTAT)" = OK ]; }
# monitor_start FILE: MONITOR the master into FILE (background, pid in MON_PID); ready when the
# first "OK" came back
monitor_start() {
    rm -f "$1"
    timeout 600 "$FWLAB" exec mgmt -- redis-cli MONITOR >"$1" 2>&1 &
    MON_PID=$!
    wait_until 5 grep -q '^OK' "$1"
}
monitor_stop() {
    kill -TERM "$MON_PID" 2>/dev/null
    wait "$MON_PID" 2>/dev/null
    return 0
}
# worker_connected [nodeK]: the master lists the worker's connection (CLIENT SETNAME fwnode-nodeK)
worker_connected() { rcli CLIENT LIST | grep -q " name=fwnode-${1:-node1} "; }
# restart_node1 VAR=VALUE...: stop node1 and start it with these FW_* settings (env wins over the
# lab's saved ones); waits for its Redis connection (10 s)
restart_node1() {
    "$FWLAB" stop node1 >/dev/null 2>&1
    env "$@" "$FWLAB" start node1 >/dev/null 2>&1 || return 1
    wait_until 10 worker_connected node1
}
# node1_with POLICY [VAR=VALUE...]: restart node1 at level full, sync, transaction, replicas all,
# WAIT timeout $TO_MS, with fail-POLICY
node1_with() {
    local p=$1
    shift
    restart_node1 FW_SYNC_POLICY="$p" FW_SYNC_LEVEL=full FW_SYNC_STRATEGY=sync \
        FW_SYNC_ACCESS=transaction FW_SYNC_WAIT_TIMEOUT_MS="$TO_MS" FW_SYNC_REPLICAS=all "$@"
}
# curl_1b [TIMEOUT_S]: one request for /1b through the firewall succeeds (default 5 s)
curl_1b() { [ "$(inc curl -sS -m "${1:-5}" http://10.10.2.10/1b 2>/dev/null)" = x ]; }
# curl_t [TIMEOUT_S]: curl's exit status and time_connect of one request
curl_t() {
    local out rc
    out=$(inc curl -sS -o /dev/null -m "${1:-5}" -w '%{time_connect}' http://10.10.2.10/1b 2>/dev/null)
    rc=$?
    echo "$rc $out"
}
# conn_key PORT: the Redis key of the client's connection from PORT to the server's port 80
conn_key() { echo "fw:conn:tcp:10.10.1.10:$1:10.10.2.10:80"; }

# paced_download NAME PORT RATE MAX_S: a download of /big from client port PORT, paced to RATE
# by htb at the server, captured at the client into NAME-cli; checks that it is established
paced_download() {
    local name=$1 port=$2 rate=$3 max=$4
    check "htb on the server's eth0 (to pace the download)" shape_init
    shape_port "$port" "$rate"
    pcap_start fwl-client "$name-cli" "tcp port $port"
    xfer_start "$name" "$port" -m "$max" --speed-limit 1000 --speed-time 10
    check "the download is established" wait_until 5 xfer_established "$port"
}

# ---- captures, long transfers, buckets (test_store_restart, test_store_redis_down, test_cluster_*) ----
# pcap_start NS NAME FILTER...: capture NS's eth0 into $STATE/NAME.pcap (background; the pid is
# printed into $STATE/NAME.cap.pid); returns when tcpdump listens (5 s)
pcap_start() {
    local ns=$1 name=$2
    shift 2
    rm -f "$STATE/$name.pcap" "$STATE/$name.tcpdump"
    ip netns exec "$ns" tcpdump -i eth0 -n -U --immediate-mode -B 8192 -w "$STATE/$name.pcap" "$@" \
        >"$STATE/$name.tcpdump" 2>&1 &
    echo $! >"$STATE/$name.cap.pid"
    wait_until 5 grep -q 'listening on' "$STATE/$name.tcpdump"
}
pcap_stop() {
    local pid
    pid=$(cat "$STATE/$1.cap.pid" 2>/dev/null) || return 0
    sleep 0.2
    kill -INT "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$STATE/$1.cap.pid"
    return 0
}
# pcap_text NAME [FILTER...]: the capture as text with epoch timestamps (niced: reading tens of
# MB of capture must not starve the workers, whose heartbeats expire after 60 ms)
pcap_text() {
    local name=$1
    shift
    nice -n 19 tcpdump -r "$STATE/$name.pcap" -n -tt "$@" 2>/dev/null
}
# pcap_rsts NAME [T0 T1]: the RST segments in the capture (between epoch times T0 and T1)
pcap_rsts() {
    pcap_text "$1" 'tcp[tcpflags] & tcp-rst != 0' |
        awk -v a="${2:-0}" -v b="${3:-1e12}" '$1 >= a && $1 <= b' | wc -l
}
# pcap_max_gap NAME T0 T1 [FILTER...]: the largest gap (ms) between consecutive packets of the
# capture between epoch times T0 and T1, as "GAP_MS AT_EPOCH" (the gap starts at AT_EPOCH)
pcap_max_gap() {
    local name=$1 t0=$2 t1=$3
    shift 3
    pcap_text "$name" "$@" | awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b {
        if (n++ && $1 - p > g) { g = $1 - p; at = p } p = $1 }
        END { printf "%d %s\n", g * 1000, at }'
}
# fold_data T0: tcpdump text lines (stdin) as "+MS DIR flags seq ack win", runs of the server's data
# segments folded into one line; times relative to the epoch time T0
fold_data() {
    awk -v t="$1" '{
        ms = sprintf("%+d ms", ($1 - t) * 1000); dir = ($3 ~ /^10\.10\.2\.10\./) ? "server>client" : "client>server"
        seq = ""; ack = ""; win = ""; fl = ""
        for (i = 1; i < NF; i++) { if ($i == "seq") seq = $(i + 1); if ($i == "ack") ack = $(i + 1); if ($i == "win") win = $(i + 1); if ($i == "Flags") fl = $(i + 1) }
        data = (seq ~ /:/)
        if (data && prev) { n++; last = ms " seq " seq; next }
        if (n) { print "    ... " n " more data segments, the last " last; n = 0 }
        print ms, dir, fl, (seq != "" ? "seq " seq : ""), "ack " ack, "win " win
        prev = data
    } END { if (n) print "    ... " n " more data segments, the last " last }' | tr -s ' ' | sed 's/,$//; s/, / /g'
}
# after_kill T0: tcpdump text lines (stdin) from epoch time T0 on, and the 3 lines before
after_kill() {
    awk -v t="$1" '{ buf[NR % 4] = $0 } $1 >= t {
        if (!s) { for (i = NR - 3; i < NR; i++) if (i > 0) print buf[i % 4]; s = 1 }
        print }'
}
now_s() { date +%s.%N; }
t_plus() { awk -v t="$1" -v d="$2" 'BEGIN {printf "%.6f\n", t + d}'; } # epoch time T + D seconds
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%d", (b - a) * 1000}'; }

# shape_init: an htb qdisc on the server's eth0 (default: unshaped), so that shape_port can pace
# single flows; shape_port PORT [RATE]: what the server sends to client port PORT leaves at RATE
# (default 32mbit: /big, 32 MiB, in about 8.5 s), packet by packet, no bursts and no pauses
# (unlike curl --limit-rate, whose reads open and close the window in bursts)
SHAPE_N=1
shape_init() {
    ins tc qdisc del dev eth0 root 2>/dev/null
    SHAPE_N=1
    ins tc qdisc add dev eth0 root handle 1: htb default 1 r2q 1000 &&
        ins tc class add dev eth0 parent 1: classid 1:1 htb rate 10gbit 2>/dev/null
}
shape_port() {
    local p=$1 rate=${2:-32mbit}
    SHAPE_N=$((SHAPE_N + 1))
    ins tc class add dev eth0 parent 1: classid "1:$SHAPE_N" htb rate "$rate" ceil "$rate" 2>/dev/null &&
        ins tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport "$p" 0xffff \
            match ip sport 80 0xffff flowid "1:$SHAPE_N"
}

# xfer_start NAME PORT [CURL_ARGS...]: download /big from the client's port PORT in the background
# (curl -m 40 unless CURL_ARGS say otherwise); the body goes to $STATE/NAME.out, curl's exit
# status to $STATE/NAME.rc when it ends, its pid to $STATE/NAME.xpid
xfer_start() {
    local name=$1 port=$2
    shift 2
    rm -f "$STATE/$name.out" "$STATE/$name.rc" "$STATE/$name.err"
    (
        inc curl -sS -m 40 --local-port "$port" "$@" -o "$STATE/$name.out" http://10.10.2.10/big \
            2>"$STATE/$name.err" &
        echo $! >"$STATE/$name.xpid"
        wait $!
        echo $? >"$STATE/$name.rc"
    ) &
    wait_until 2 test -s "$STATE/$name.xpid"
}
# xfer_established PORT: the client has an established connection from PORT to the server's 80
xfer_established() { inc ss -Htn state established "( sport = :$1 and dport = :80 )" | grep -q .; }
xfer_done() { [ -s "$STATE/$1.rc" ]; }
# xfer_wait NAME SECONDS: until the transfer ended (bounded); then xfer_rc, xfer_bytes, xfer_sha
xfer_wait() { wait_until "$2" xfer_done "$1"; }
xfer_rc() { cat "$STATE/$1.rc" 2>/dev/null || echo none; }
xfer_bytes() { stat -c %s "$STATE/$1.out" 2>/dev/null || echo 0; }
xfer_sha_ok() { [ "$(nice -n 19 sha256sum <"$STATE/$1.out" | awk '{print $1}')" = "$(cat "$STATE/www/big.sha256")" ]; }
# xfer_intact NAME: curl succeeded and the body has /big's sha256
xfer_intact() { [ "$(xfer_rc "$1")" = 0 ] && xfer_sha_ok "$1"; }
xfer_kill() {
    local p
    p=$(cat "$STATE/$1.xpid" 2>/dev/null) || return 0
    pid_alive "$p" && kill -TERM "$p" 2>/dev/null
    return 0
}
xfer_diag() { diag "$1: curl exit $(xfer_rc "$1"), $(xfer_bytes "$1") of 33554432 bytes $(head -c 300 "$STATE/$1.err" 2>/dev/null)"; }
# kill_server_conns: the server forgets every connection to the client (ss -K), so that a stalled
# transfer of one step does not retransmit into the next
kill_server_conns() { ins ss -K dst 10.10.1.10 >/dev/null 2>&1 || true; }

# bucket_of SPORT [DPORT]: the bucket (of 1024) of a TCP connection 10.10.1.10:SPORT ->
# 10.10.2.10:DPORT, as the capture filter computes it: (saddr ^ daddr ^ sport ^ dport) & 1023 with
# the addresses as 32-bit big-endian numbers (10.10.1.10 ^ 10.10.2.10 = 0x00000300)
bucket_of() { echo $(((0x0a0a010a ^ 0x0a0a020a ^ $1 ^ ${2:-80}) & 1023)); }
# map_owner BUCKET MAP: the worker that owns BUCKET in MAP ("node1=0-511;node2=512-1023")
map_owner() {
    awk -v b="$1" -v m="$2" 'BEGIN {
        n = split(m, parts, ";")
        for (i = 1; i <= n; i++) {
            split(parts[i], kv, "=")
            r = split(kv[2], ranges, ",")
            for (j = 1; j <= r; j++) {
                if (split(ranges[j], lh, "-") == 1) lh[2] = lh[1]
                if (b + 0 >= lh[1] + 0 && b + 0 <= lh[2] + 0) { print kv[1]; exit }
            }
        }
    }'
}
# port_for NODE MAP FROM: the first client port >= FROM whose bucket NODE owns in MAP
port_for() {
    local p
    for ((p = $3; p < $3 + 4096; p++)); do
        [ "$(map_owner "$(bucket_of "$p")" "$2")" = "$1" ] && echo "$p" && return 0
    done
    return 1
}

# sanitizer_clean_log FILE [FROM_LINE]: FILE (a worker's or emgr's log) has no ASan / UBSan /
# LSan report after line FROM_LINE
sanitizer_clean_log() {
    local bad
    bad=$(tail -n +"$((${2:-0} + 1))" "$1" 2>/dev/null |
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined)' | head -n 5 || true)
    if [ -n "$bad" ]; then
        printf '%s\n' "$bad" | sed 's/^/# /'
        return 1
    fi
}
# node_stats NAME: the counters of worker NAME that are not zero, as a diagnostic
node_stats_diag() {
    [ -f "$STATE/$1.stats" ] || return 0
    diag "$1 counters:" "$(awk '$2 != 0 && $2 != "0.0" {printf "%s=%s ", $1, $2}' "$STATE/$1.stats")"
}

# ---- the cluster (lab/fwlab up --backups B ...: emgr and several workers) ----
# The tests run the manager built with ASan + UBSan unless FWLAB_EMGR says otherwise.
export FWLAB_EMGR=${FWLAB_EMGR:-$TOP/build/emgr-san}
# emgr_status [--json]: `emgr status` as the operator runs it (lab/fwlab exec mgmt -- emgr ...)
emgr_status() { timeout 15 "$FWLAB" exec mgmt -- emgr status "$@" 2>&1; }
emgr_cmd() { timeout 40 "$FWLAB" exec mgmt -- emgr "$@" 2>&1; }
# role_of NODE: its role in the table of `emgr status` (active, backup, draining, failed; none:
# not listed). The table, not --json: emgr status --json writes heartbeat_age_ms as "17ms" (not
# JSON; test_cluster_failover checks --json on its own).
role_of() {
    emgr_status | awk -v n="$1" 'f && $1 == n {print $2; found = 1; exit} $1 == "WORKER" {f = 1}
        END {if (!found) print "none"}'
}
# json_ok: stdin is one valid JSON document
json_ok() { "$PY" -c 'import json, sys; json.load(sys.stdin)' 2>/dev/null; }
role_is() { [ "$(role_of "$1")" = "$2" ]; }
map_buckets() { rcli HGET fw:map buckets; }
map_epoch() { rcli HGET fw:map epoch; }
leader() { rcli GET fw:emgr:leader; }
# owned NODE: how many buckets the current map gives NODE
owned() {
    map_buckets | tr ';' '\n' | awk -F= -v n="$1" '$1 == n {
        c = split($2, r, ","); for (i = 1; i <= c; i++) { if (split(r[i], lh, "-") == 1) lh[2] = lh[1]; t += lh[2] - lh[1] + 1 } }
        END { print t + 0 }'
}
# actives: the workers the map gives buckets, sorted, space separated
actives() { map_buckets | tr ';' '\n' | awk -F= '$2 != "" {print $1}' | sort | tr '\n' ' ' | sed 's/ $//'; }
# conn_owner PORT: the owner= of the connection 10.10.1.10:PORT -> 10.10.2.10:80 in Redis
conn_owner() { rcli GET "$(conn_key "$1")" | sed -n 's/.* owner=\([^ ]*\).*/\1/p'; }
# log_time LINE: the epoch time (s.ns) of a log line "2026-11-26T05:27:50.686Z ..."
log_time() { date -d "$(awk '{print $1}' <<<"$1")" +%s.%N 2>/dev/null; }
# log_after FILE T0: the lines of FILE logged at or after epoch T0 (their ISO times sort as text)
log_after() {
    awk -v t="$(date -u -d "@$2" +%Y-%m-%dT%H:%M:%S.%3NZ)" '$1 >= t' "$1" 2>/dev/null
}
# log_first_after FILE T0 REGEX: the first line of FILE matching REGEX logged at or after epoch T0
log_first_after() {
    local line t
    while IFS= read -r line; do
        t=$(log_time "$line") || continue
        [ -n "$t" ] || continue
        if awk -v a="$t" -v b="$2" 'BEGIN {exit !(a >= b)}'; then
            echo "$line"
            return 0
        fi
    done < <(grep -E -- "$3" "$1" 2>/dev/null)
    return 1
}
# cluster_logs_clean: no sanitizer report in any worker's or manager's log
cluster_logs_clean() {
    local f rc=0
    for f in "$STATE"/node*.log "$STATE"/emgr*.log; do
        [ -f "$f" ] || continue
        sanitizer_clean_log "$f" || { diag "in $(basename "$f")"; rc=1; }
    done
    return $rc
}
# ab_run NAME ARGS...: ab in the client namespace in the background, output in $STATE/NAME.ab,
# exit status in $STATE/NAME.abrc when it ends
ab_start() {
    local name=$1
    shift
    rm -f "$STATE/$name.ab" "$STATE/$name.abrc"
    (
        inc ab "$@" >"$STATE/$name.ab" 2>&1
        echo $? >"$STATE/$name.abrc"
    ) &
}
ab_done() { [ -s "$STATE/$1.abrc" ]; }
# ab_clean NAME N: ab exited 0, completed N requests, "Failed requests: 0", no "Non-2xx" line
ab_clean() {
    [ "$(cat "$STATE/$1.abrc" 2>/dev/null)" = 0 ] &&
        grep -Eq "^Complete requests: +$2\$" "$STATE/$1.ab" &&
        grep -Eq '^Failed requests: +0$' "$STATE/$1.ab" &&
        ! grep -q '^Non-2xx' "$STATE/$1.ab"
}
ab_diag() {
    diag "$1: ab exit $(cat "$STATE/$1.abrc" 2>/dev/null || echo none):" \
        "$(grep -E '^(Complete requests|Failed requests|Non-2xx|Requests per second)|apr_|Length:|Exceptions:|Connect:|Receive:' "$STATE/$1.ab" | sed 's/  */ /g')"
}

# ---- nmap (test_nmap, test_nmap_cluster) ----
# fast and bounded: no DNS, no ping, one retry, short RTT timeouts, a minimum rate
NMAP_OPTS=(-n -Pn --max-retries 1 -T4 --initial-rtt-timeout 100ms --max-rtt-timeout 400ms
    --min-rate 1000 --host-timeout 60s)

# nmap_scan DESC NS TOTAL OPEN OTHER_RE NMAP_ARGS...: run nmap -oG in NS and check that the open
# ports are exactly OPEN (comma list, "" for none), every other port's state matches OTHER_RE
# (an anchored ERE), and the scan accounted for TOTAL ports.
nmap_scan() {
    local desc=$1 ns=$2 total=$3 open=$4 re=$5
    shift 5
    local out line res
    out=$(timeout 90 ip netns exec "$ns" nmap "${NMAP_OPTS[@]}" -oG - "$@" 2>&1)
    line=$(printf '%s\n' "$out" | grep -m1 'Ports:' || true)
    res=$(printf '%s\n' "$line" | RE="^($re)\$" awk -v total="$total" -v open="$open" '
        BEGIN { n = 0; bad = ""; got = ""; re = ENVIRON["RE"] }
        {
            nf = split($0, f, "\t")
            for (i = 1; i <= nf; i++) {
                if (f[i] ~ /^Ports: /) {
                    s = substr(f[i], 8)
                    np = split(s, p, ", ")
                    for (j = 1; j <= np; j++) {
                        if (p[j] == "") continue
                        split(p[j], q, "/")
                        n++
                        if (q[2] == "open") got = got (got == "" ? "" : ",") q[1]
                        else if (q[2] !~ re) bad = bad " " q[1] "/" q[2]
                    }
                } else if (f[i] ~ /^Ignored State: /) {
                    st = f[i]; sub(/^Ignored State: /, "", st)
                    cnt = st; sub(/^.*\(/, "", cnt); sub(/\).*$/, "", cnt)
                    sub(/ \(.*$/, "", st)
                    n += cnt
                    if (st !~ re) bad = bad " " cnt "x" st
                }
            }
        }
        END {
            err = ""
            if (n != total) err = err " ports accounted " n " != " total ";"
            if (got != open) err = err " open [" got "] != [" open "];"
            if (bad != "") err = err " unexpected states:" bad ";"
            print (err == "" ? "OK" : err)
        }')
    diag "$(printf '%s\n' "$out" | sed -n 's/^# Nmap done at .*scanned in \([0-9.]*\) seconds.*/nmap: \1 s/p')"
    if [ "$res" = OK ]; then
        ok "$desc"
    else
        notok "$desc"
        diag "nmap $*:$res"
        printf '%s\n' "$out" | grep -v '^# Nmap' | sed 's/^/#   /'
    fi
}
