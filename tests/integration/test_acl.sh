#!/usr/bin/env bash
# Least privilege in Redis: the ACL users of redis/users.acl.in against a real redis-server (in a
# namespace of its own, on loopback). The worker's user may write connection entries, indexes,
# statistics and heartbeats, only read the configuration and the map, and run none of the
# administrative commands; the default user is off. The manager's user (emgr) may write the
# configuration, the map, its lease and the membership sets, only read heartbeats, statistics and
# connection entries, and run no administrative command (FLUSHALL, CONFIG SET requirepass, ...).
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
check "the worker may send commands without replies (CLIENT REPLY: ON answers OK)" \
    test "$(node CLIENT REPLY ON)" = OK
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

# ---- the manager's user (emgr): its keys and channels, no administration ----
mgr() { as emgr otherpw "$@"; }
mgr_noperm() { [[ "$(timeout 3 ip netns exec "$ns" redis-cli --user emgr --pass otherpw --no-auth-warning "$@" 2>&1)" == NOPERM* ]]; }
admin SET fw:node:node1 "state=ready epoch=1" PX 60000 >/dev/null
admin HSET fw:stats:node1 pkts_in 1 >/dev/null
admin SET fw:conn:tcp:1.1.1.1:1:2.2.2.2:2 "ESTABLISHED owner=node1" >/dev/null
check "emgr publishes the configuration (HSET fw:config)" test "$(mgr HSET fw:config version 2)" = 0
check "emgr writes the map (HSET fw:map)" test "$(mgr HSET fw:map epoch 2)" = 0
check "emgr takes its lease (SET fw:emgr:leader NX PX)" test "$(mgr SET fw:emgr:leader emgr1 NX PX 1000)" = OK
check "emgr renews it (the lease script: GET + PEXPIRE in EVAL)" test "$(mgr EVAL \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end" \
    1 fw:emgr:leader emgr1 1000)" = 1
check "emgr reads the membership (SMEMBERS fw:nodes, GET fw:node:*, in EVAL)" test "$(mgr EVAL \
    "redis.call('SMEMBERS', KEYS[1]) return redis.call('GET', ARGV[1] .. 'node1')" 1 fw:nodes fw:node:)" = "state=ready epoch=1"
check "emgr prunes the membership sets (SREM fw:nodes, fw:drain)" test "$(mgr SREM fw:nodes node9)$(mgr SREM fw:drain node9)" = 00
check "emgr status reads statistics and heartbeat ages (HGETALL fw:stats:*, PTTL fw:node:*)" \
    test "$(mgr HGETALL fw:stats:node1)" = pkts_in -a "$(mgr PTTL fw:node:node1)" -gt 0
check "emgr conns reads connection entries (SCAN + GET in EVAL)" test "$(mgr EVAL \
    "local r = redis.call('SCAN', '0', 'MATCH', 'fw:conn:*', 'COUNT', 1000) return redis.call('GET', r[2][1])" 0)" = "ESTABLISHED owner=node1"
check "emgr drain: SADD fw:drain and PUBLISH fw:emgr" test "$(mgr SADD fw:drain node2)$(mgr PUBLISH fw:emgr drain:node2)" = 10
check "emgr announces a map on fw:events" test "$(mgr PUBLISH fw:events map:2)" = 0
# sub_ok CMD CHANNEL: redis-cli's first line is "subscribe" / "psubscribe" (an error otherwise)
sub_ok() {
    timeout 1 ip netns exec "$ns" redis-cli --user emgr --pass otherpw --no-auth-warning "$@" 2>&1 |
        head -n 1 | grep -qx 'p\{0,1\}subscribe'
}
check "emgr listens to the heartbeats' keyspace events (PSUBSCRIBE __keyspace@0__:fw:node:*)" \
    sub_ok PSUBSCRIBE '__keyspace@0__:fw:node:*'
check "emgr listens on fw:emgr (SUBSCRIBE)" sub_ok SUBSCRIBE fw:emgr
for cmd in FLUSHALL FLUSHDB "CONFIG SET requirepass x" "CONFIG SET notify-keyspace-events KEA" \
    "CONFIG GET *" "ACL SETUSER emgr +@all" "ACL LIST" SHUTDOWN "REPLICAOF 10.0.0.1 6379" \
    "CLIENT KILL TYPE normal" "FUNCTION FLUSH" "KEYS *" MONITOR "SCRIPT FLUSH"; do
    read -ra argv <<<"$cmd" # no globbing of "KEYS *"
    check "emgr may not run: $cmd" mgr_noperm "${argv[@]}"
done
for cmd in "SET fw:conn:tcp:1.1.1.1:1:2.2.2.2:2 forged" "DEL fw:conn:tcp:1.1.1.1:1:2.2.2.2:2" \
    "SADD fw:bucket:7 fw:conn:x" "SET fw:node:node1 forged" "HSET fw:stats:node1 pkts_in 0" "SET other:key x"; do
    read -ra argv <<<"$cmd"
    check "emgr gets NOPERM for: $cmd" mgr_noperm "${argv[@]}"
done
script_refused() {
    [[ "$(ip netns exec "$ns" redis-cli --user emgr --pass otherpw --no-auth-warning EVAL \
        "return redis.call('SET', 'fw:conn:x', 'y')" 0 2>&1)" == *"can't access"* ]] &&
        [ -z "$(admin GET fw:conn:x)" ]
}
check "emgr may not write a connection entry inside a script either" script_refused
check "emgr may not publish on other channels" mgr_noperm PUBLISH other hello
check "the connection entry is unchanged" test "$(admin GET fw:conn:tcp:1.1.1.1:1:2.2.2.2:2)" = "ESTABLISHED owner=node1"
check "requirepass is unchanged (admin: CONFIG GET requirepass empty)" test -z "$(admin CONFIG GET requirepass | sed -n 2p)"
