# shellcheck shell=bash disable=SC2034
# Shared helpers of the container tests (sourced). Each test brings the compose cluster up under
# its own project name, prints TAP lines ("ok - what" / "not ok - what", "# ..." diagnostics),
# and takes the cluster down again (down -v) when it exits.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export COMPOSE_PROJECT_NAME=${FWC_PROJECT:-fwctest}
export COMPOSE_FILE=$TOP/compose.yaml
# compose would read .env from the project directory: the tests use their own (empty) file
# and set what they need in the environment
ENVFILE=$TOP/tests/containers/test.env
export COMPOSE_HTTP_TIMEOUT=${COMPOSE_HTTP_TIMEOUT:-300}
P=$COMPOSE_PROJECT_NAME

. "$TOP/tests/tap.sh"

compose() { (cd "$TOP" && docker/compose --env-file "$ENVFILE" "$@"); }
# cid SERVICE: the container id (running or not)
cid() { docker ps -aq --filter "label=com.docker.compose.project=$P" --filter "label=com.docker.compose.service=$1" | head -n 1; }
# on SERVICE CMD...: run CMD in the service's container (docker exec: fast, no TTY)
on() {
    local s=$1 c
    shift
    c=$(cid "$s")
    [ -n "$c" ] || { echo "no container for $s" >&2; return 1; }
    docker exec "$c" "$@"
}
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(cid "$1")" 2>/dev/null; }
SERVICES="redis redis-replica1 redis-replica2 sentinel1 sentinel2 sentinel3 emgr worker1 worker2 worker3 server client"
all_healthy() {
    local s
    for s in $SERVICES; do [ "$(health "$s")" = healthy ] || return 1; done
}
unhealthy_list() {
    local s
    for s in $SERVICES; do [ "$(health "$s")" = healthy ] || printf '%s(%s) ' "$s" "$(health "$s")"; done
}
emgr_status() { on emgr emgr status 2>&1; }
# role NODE: the node's role in emgr status (active, backup, ...; nothing when not listed)
role() { emgr_status | awk -v n="$1" '$1 == n {print $2}'; }
nodes_with() { emgr_status | awk -v r="$1" '$2 == r {print $1}' | sort | tr '\n' ' ' | sed 's/ $//'; }
roles_are() { [ "$(nodes_with active | wc -w)" = "$1" ] && [ "$(nodes_with backup | wc -w)" = "$2" ]; }
# service of a node id: nodeK runs in workerK
svc_of() { echo "worker${1#node}"; }

# project_leftovers: containers, networks and volumes of the project that still exist
project_leftovers() {
    {
        docker ps -aq --filter "label=com.docker.compose.project=$P" | sed 's/^/container /'
        docker network ls -q --filter "label=com.docker.compose.project=$P" | sed 's/^/network /'
        docker volume ls -q --filter "label=com.docker.compose.project=$P" | sed 's/^/volume /'
    } 2>/dev/null
}

# cluster_up [VAR=VALUE...]: a fresh cluster (whatever the project left is removed first) with
# the given settings in the environment; bails out (exit 1) when it does not converge.
# Everything is removed when the test exits.
cluster_up() {
    local v out t0
    for v in "$@"; do export "${v?}"; done
    if ! "$TOP/docker/engine" >/dev/null; then
        notok "a Docker engine runs"
        exit 1
    fi
    if ! out=$("$TOP/docker/build" 2>&1); then
        diag "$out"
        notok "images build"
        exit 1
    fi
    diag "$(grep '^build:' <<<"$out" | tr '\n' ';')"
    compose down -v --remove-orphans -t 2 >/dev/null 2>&1 || true
    trap cluster_cleanup EXIT
    t0=$(date +%s)
    if ! out=$(cd "$TOP" && timeout 300 docker/compose --env-file "$ENVFILE" up -d 2>&1); then
        diag "$out" "$(compose ps 2>&1)"
        for v in $SERVICES; do [ "$(health "$v")" = healthy ] || diag "$(docker logs --tail 15 "$(cid "$v")" 2>&1)"; done
        notok "compose up converges"
        exit 1
    fi
    if ! wait_until 120 all_healthy; then
        diag "not healthy: $(unhealthy_list)" "$(compose ps 2>&1)"
        notok "every service healthy within 120 s"
        exit 1
    fi
    UP_SECONDS=$(($(date +%s) - t0))
}
cluster_cleanup() {
    local rc=$?
    if [ -n "${FWC_KEEP:-}" ]; then
        diag "FWC_KEEP: the cluster stays up (project $P)"
        exit $rc
    fi
    compose down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
    exit $rc
}
# dump logs of services (diagnostics after a failure)
logs() {
    local s
    for s in "$@"; do diag "--- $s" "$(docker logs --tail "${LOG_LINES:-20}" "$(cid "$s")" 2>&1)"; done
}

# client / server helpers
curl_ok() { on client curl -fsS -m "${2:-5}" -o /dev/null "$1"; }
tcp_connects() { # tcp_connects FROM HOST PORT: a TCP connection from FROM's container succeeds
    on "$1" python3 -c "
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.close()" "$2" "$3" 2>/dev/null
}
udp_answered() { # udp_answered FROM HOST PORT
    on "$1" python3 -c "
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b'ping', (sys.argv[1], int(sys.argv[2])))
d, _ = s.recvfrom(100)
sys.exit(0 if d == b'answer:ping' else 1)" "$2" "$3" 2>/dev/null
}
