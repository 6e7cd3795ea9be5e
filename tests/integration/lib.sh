# shellcheck shell=bash disable=SC2034
# Shared helpers of the lab integration tests (sourced). Each test prints TAP lines:
# "ok - what" or "not ok - what", and "# ..." for diagnostics.
FWLAB=${FWLAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/lab/fwlab}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3 # Debian's python: python3-scapy is installed for it

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
# check "description" command...: ok when the command succeeds (returns 1 after "not ok")
check() {
    local d=$1
    shift
    if "$@"; then ok "$d"; else notok "$d"; return 1; fi
}
# check_fails "description" command...: ok when the command fails
check_fails() {
    local d=$1
    shift
    if "$@"; then notok "$d"; return 1; else ok "$d"; fi
}

# ---- lab helpers (shared by the test_*.sh scripts) ----
# The tests run the worker built with ASan + UBSan unless FWLAB_FWNODE says otherwise.
export FWLAB_FWNODE=${FWLAB_FWNODE:-$TOP/build/fwnode-san}
export FWLAB_STATE=${FWLAB_STATE:-/run/fwlab}
STATE=$FWLAB_STATE
# ASan: report to stderr (the worker's log), abort on the first error.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
VMAC_A=02:f0:00:00:00:0a
VMAC_B=02:f0:00:00:00:0b

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
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
    "$FWLAB" down >/dev/null 2>&1 || true
    exit $rc
}

# wait_until TIMEOUT_S CMD...: poll (every 0.1 s) until CMD succeeds; bounded
wait_until() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
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
