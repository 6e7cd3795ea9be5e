# shellcheck shell=bash
# The host profiles of the benchmarks (sourced): how the data path shares this host's CPUs with
# the load. `shared`: every process at normal priority, veth delivery inline in the sender (the
# lab's default). `dedicated`: the data path as deployed on CPUs of its own: the worker with
# FW_RT_PRIORITY=50 (SCHED_FIFO), the Redis servers under SCHED_FIFO above it (the worker waits for
# them), and the switch ports a firewall sends into received in NAPI threads of their own under
# SCHED_FIFO, as a NIC hands packets to the wire instead of running the next host's stack.
# `pinned`: dedicated, and the worker and the store on CPUs apart: the worker on CPU 0
# (FW_CPUS=0), the Redis master and replicas on the others, as when the store runs on hosts of
# its own (here three servers share what is left); the load still runs anywhere.

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
# redis_sched PROFILE: the lab's Redis master and replicas under SCHED_FIFO (dedicated, pinned;
# above the worker, which waits for them) or not; pinned: on CPUs 1.. (every thread), else on any
redis_sched() {
    local pid last cpus
    last=$(($(nproc --all) - 1))
    cpus=0-$last
    [ "$1" = pinned ] && [ "$last" -ge 1 ] && cpus=1-$last
    for pid in $(pgrep -x redis-server || true); do
        case $1 in
        dedicated | pinned) chrt -f -p 60 "$pid" ;;
        *) chrt -o -p 0 "$pid" ;;
        esac
        taskset -a -p -c "$cpus" "$pid" >/dev/null
    done
}
