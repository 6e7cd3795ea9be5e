# shellcheck shell=bash
# TAP lines for the test scripts (sourced): "ok - what", "not ok - what".
TAP_FAILED=0 # "not ok" lines printed by this shell
ok() { echo "ok - $*"; }
notok() {
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok - $*"
}
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
# diag LINE...: diagnostics, as "# ..." lines
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
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
