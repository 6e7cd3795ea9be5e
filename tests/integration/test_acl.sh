#!/usr/bin/env bash
# Least privilege in Redis: the ACL users of redis/users.acl.in against a real redis-server (in a
# namespace of its own, on loopback). The worker's user may write connection entries, indexes,
# statistics and heartbeats, only read the configuration and the map, and run none of the
# administrative commands; the default user is off.
set -u
. "$(dirname "$0")/lib.sh"
ns=fwacl-$$
work=$(mktemp -d)
cleanup() {
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
grep -v '^#' "$TOP/redis/users.acl.in" |
    sed 's/@FWNODE_PASSWORD@/nodepw/; s/@[A-Z_]*_PASSWORD@/otherpw/g' >"$work/users.acl"
(cd "$TOP/redis" && ip netns exec "$ns" redis-server redis.conf --port 6379 --bind 127.0.0.1 \
    --dir "$work" --aclfile "$work/users.acl" --daemonize yes --logfile "$work/redis.log")
for _ in $(seq 50); do
    ip netns exec "$ns" redis-cli --user admin --pass otherpw --no-auth-warning ping 2>/dev/null |
        grep -q PONG && break
    sleep 0.1
done
as() { # as USER PASSWORD CMD...: the reply's first line
    local u=$1 p=$2
    shift 2
    ip netns exec "$ns" redis-cli --user "$u" --pass "$p" --no-auth-warning "$@" 2>&1 | head -n 1
}
node() { as fwnode nodepw "$@"; }
admin() { as admin otherpw "$@"; }

check "redis-server starts with the project's ACL file" test "$(admin ping)" = PONG
admin HSET fw:config version 1 rules "allow any" >/dev/null
admin HSET fw:map epoch 1 buckets "node1=0-1023" >/dev/null

check "the default user is off" bash -c \
    "ip netns exec $ns redis-cli ping 2>&1 | grep -q 'NOAUTH\|WRONGPASS\|NOPERM\|disabled'"
check "the worker writes a connection entry" test "$(node SET fw:conn:tcp:1.1.1.1:1:2.2.2.2:2 x PX 9000)" = OK
check "the worker writes a bucket index" test "$(node SADD fw:bucket:7 fw:conn:x)" = 1
check "the worker writes its statistics" test "$(node HSET fw:stats:node1 pkts_in 1)" = 1
check "the worker writes its heartbeat" test "$(node SET fw:node:node1 state=ready PX 60)" = OK
check "the worker reads the configuration" test "$(node HGETALL fw:config)" = version
check "the worker reads the map" test "$(node HGETALL fw:map)" = epoch
for cmd in "HSET fw:config rules allow_everything" "DEL fw:config" "HSET fw:map buckets node9=0-1023" \
    "SET fw:emgr:leader node1" "SET other:key x"; do
    check "the worker gets NOPERM for: $cmd" bash -c "[[ \"\$(ip netns exec $ns redis-cli --user fwnode --pass nodepw --no-auth-warning $cmd 2>&1)\" == NOPERM* ]]"
done
for cmd in FLUSHALL "CONFIG SET save x" "KEYS fw:x" "SCAN 0" "EVAL return 1 0" SHUTDOWN; do
    check "the worker may not run: $cmd" bash -c "[[ \"\$(ip netns exec $ns redis-cli --user fwnode --pass nodepw --no-auth-warning $cmd 2>&1)\" == NOPERM* ]]"
done
check "the rules are unchanged" test "$(admin HGET fw:config rules)" = "allow any"
check "the worker may not publish configuration events" bash -c \
    "[[ \"\$(ip netns exec $ns redis-cli --user fwnode --pass nodepw --no-auth-warning PUBLISH fw:events map:99 2>&1)\" == NOPERM* ]]"
