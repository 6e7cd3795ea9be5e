# shellcheck shell=bash
# TAP lines for the test scripts (sourced): "ok - what", "not ok - what".
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
