# shellcheck shell=bash
# The host profiles of the benchmarks (sourced): how the data path shares this host's CPUs with
# the load. `shared`: every process at normal priority, veth delivery inline in the sender (the
# lab's default). `dedicated`: the data path as deployed on CPUs of its own: the worker with
# FW_RT_PRIORITY=50 (SCHED_FIFO), the Redis servers under SCHED_FIFO above it (the worker waits for
# them), and the switch ports a firewall sends into received in NAPI threads of their own under
# SCHED_FIFO, as a NIC hands packets to the wire instead of running the next host's stack.
# `pinned`: dedicated, and the worker and the store on CPUs apart: the worker on the first CPU
# allowed (FW_CPUS), the Redis master and replicas on the others, as when the store runs on hosts
# of its own (here three servers share what is left); the load still runs anywhere.

# wire on|off PORT...: the switch ports (in fwl-sw) a firewall sends into receive in a NAPI
# thread of their own (GRO on, threaded NAPI), or inline in the sender's context (the default)
wire() {
    local mode=$1 p t
    shift
    for p in "$@"; do
        if [ "$mode" = on ]; then
            ip netns exec fwl-sw ethtool -K "$p" gro on >/dev/null 2>&1 || true
            ip netns exec fwl-sw sh -c "echo 1 >/sys/class/net/$p/threaded" 2>/dev/null || true
            # a wire does not wait for a scheduler: the port's NAPI thread under SCHED_FIFO
            for t in $(pgrep "^napi/$p-" || true); do chrt -f -p 50 "$t" || true; done
        else
            ip netns exec fwl-sw sh -c "echo 0 >/sys/class/net/$p/threaded" 2>/dev/null || true
            ip netns exec fwl-sw ethtool -K "$p" gro off >/dev/null 2>&1 || true
        fi
    done
}
# cpus_allowed: the CPUs this host lets the benchmark use (a container may be given only some),
# one per line
cpus_allowed() {
    sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' '\n' |
        awk -F- '{for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c}'
}
# pinned_cpus: sets WORKER_CPU (the first CPU allowed) and STORE_CPUS (the others, a list);
# fails where fewer than two are allowed
pinned_cpus() {
    local all
    all=$(cpus_allowed)
    WORKER_CPU=$(sed -n 1p <<<"$all")
    STORE_CPUS=$(sed -n '2,$p' <<<"$all" | paste -sd, -)
    [ -n "$STORE_CPUS" ]
}
# redis_sched PROFILE: the lab's Redis master and replicas under SCHED_FIFO (dedicated, pinned;
# above the worker, which waits for them) or not; pinned: on STORE_CPUS (every thread), else on
# every CPU allowed
redis_sched() {
    local pid cpus
    cpus=$(cpus_allowed | paste -sd, -)
    if [ "$1" = pinned ]; then
        pinned_cpus || { echo "profile pinned needs two CPUs" >&2; return 1; }
        cpus=$STORE_CPUS
    fi
    for pid in $(pgrep -x redis-server || true); do
        case $1 in
        dedicated | pinned) chrt -f -p 60 "$pid" ;;
        *) chrt -o -p 0 "$pid" ;;
        esac
        taskset -a -p -c "$cpus" "$pid" >/dev/null
    done
}
