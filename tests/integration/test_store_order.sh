#!/usr/bin/env bash
# The order and the verdicts of the packets the store holds (fwnode/store.c) against a real Redis,
# without the lab: build/san/store-tests/store_order (ASan + UBSan; tests/store/store_order.c
# lists its checks) runs its scenarios, then a randomized stress for each of a few fixed seeds.
# The test starts its own redis-server master and one replica on 127.0.0.1 (free ports, a
# temporary directory, no persistence): a WAIT for the replica succeeds, one for more times out.
# Both servers are stopped when the test ends, however it ends. Well under a minute.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/tap.sh"

BIN=${STORE_ORDER_BIN:-$TOP/build/san/store-tests/store_order}
SEEDS=(1 2 3)
ROUNDS=1500
LIMIT_S=45 # the program's whole run

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ ! -x "$BIN" ]; then
    notok "test program $BIN exists (run make test, or make build/san/store-tests/store_order)"
    exit 1
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    notok "redis-server and redis-cli are installed (run make deps)"
    exit 1
fi

TMP=$(mktemp -d /tmp/fw-store-order.XXXXXX)
PIDS=() # the program (while it runs) and the servers, stopped in this order
cleanup() {
    local rc=$? pid i
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null | tr -d '\r'; }
pong() { [ "$(rcli "$1" PING)" = PONG ]; }
# free_port: a port below the ephemeral range that nothing listens on
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 10000))
        if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
# start_redis NAME [ARGS...]: a redis-server on 127.0.0.1 with its files in $TMP/NAME; its port in
# PORT. Tries another port when the one picked was taken meanwhile.
start_redis() {
    local name=$1 try pid
    shift
    mkdir -p "$TMP/$name"
    for try in 1 2 3 4 5; do
        PORT=$(free_port) || return 1
        redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes --daemonize no \
            --save '' --appendonly no --hz 50 --repl-diskless-sync yes --repl-diskless-sync-delay 0 \
            --dir "$TMP/$name" --logfile "$TMP/$name/redis.log" "$@" >/dev/null 2>&1 &
        pid=$!
        PIDS+=("$pid")
        if wait_until 5 pong "$PORT"; then
            return 0
        fi
        kill -KILL "$pid" 2>/dev/null
        diag "$name did not start on port $PORT (try $try):" "$(tail -n 3 "$TMP/$name/redis.log" 2>/dev/null)"
    done
    return 1
}
replica_online() { rcli "$MASTER" INFO replication | grep -q '^slave0:.*state=online'; }

if ! start_redis master; then
    notok "a redis-server master starts on 127.0.0.1"
    exit 1
fi
MASTER=$PORT
ok "redis-server master on 127.0.0.1:$MASTER (no persistence)"
if ! start_redis replica --replicaof 127.0.0.1 "$MASTER"; then
    notok "a redis-server replica starts on 127.0.0.1"
    exit 1
fi
check "replica on 127.0.0.1:$PORT in sync with the master" wait_until 15 replica_online || exit 1

args=(-p "$MASTER" -R 1 -n "$ROUNDS")
for s in "${SEEDS[@]}"; do args+=(-s "$s"); done
T0=$(date +%s%N)
# in the background, so that a signal to this script stops it at once (cleanup)
timeout -k 5 "$LIMIT_S" "$BIN" "${args[@]}" 2>"$TMP/stderr" &
PIDS=("$!" "${PIDS[@]}")
wait "${PIDS[0]}"
rc=$?
diag "store_order ${args[*]}: exit $rc after $((($(date +%s%N) - T0) / 1000000)) ms"
sanitizer_clean() {
    ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined)' \
        "$TMP/stderr"
}
if ! sanitizer_clean; then # the first report
    diag "$(sed -n -E '/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/,$p' "$TMP/stderr" | head -n 30)"
elif [ "$rc" -ne 0 ]; then
    diag "stderr:" "$(tail -n 20 "$TMP/stderr")"
fi
check "store_order has no sanitizer report (ASan, LSan, UBSan)" sanitizer_clean
check "store_order exits 0 within $LIMIT_S s (exit $rc)" test "$rc" = 0
