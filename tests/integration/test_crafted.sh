#!/usr/bin/env bash
# Crafted packets (scapy, tests/integration/craft.py) against one worker: blind RSTs into a live
# connection, SYN+FIN, a mid-stream ACK with no state, an unsolicited UDP datagram from side B,
# malformed IPv4 / TCP headers. Each must be dropped and counted, and the worker must survive.
set -u
. "$(dirname "$0")/lib.sh"

CRAFT=$TOP/tests/integration/craft.py
craft() { # craft NS ARGS...: the scapy helper in a namespace; prints its JSON line
    local ns=$1
    shift
    timeout 30 ip netns exec "$ns" "$PY" "$CRAFT" "$@" 2>&1 | tail -n 1
}
json() { # json 'JSON' KEY: one field of a JSON object
    "$PY" -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(json.dumps(v) if isinstance(v, list) else v)' "$1" "$2" 2>/dev/null
}

# tcpdump_start NS NAME FILTER: capture what NS's eth0 receives into $STATE/NAME.pcap; sets TD_PID
tcpdump_start() {
    local ns=$1 name=$2
    shift 2
    rm -f "$STATE/$name.pcap" "$STATE/$name.tcpdump"
    ip netns exec "$ns" tcpdump -i eth0 -Q in -n -U -w "$STATE/$name.pcap" "$@" \
        >"$STATE/$name.tcpdump" 2>&1 &
    TD_PID=$!
    wait_until 5 grep -q 'listening on' "$STATE/$name.tcpdump"
}
tcpdump_stop() {
    kill -INT "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
pcap_count() { tcpdump -r "$STATE/$1.pcap" -n 2>/dev/null | wc -l; }
pcap_diag() { tcpdump -r "$STATE/$1.pcap" -n 2>/dev/null | head -n 5 | sed 's/^/#   /'; }

# counters after a short settle and a forced stats write
stats_now() {
    sleep 0.3
    stats_refresh || diag "stats file not refreshed after SIGUSR1"
}

lab_start --no-redis # the data plane alone (issue 2): no Redis, level none; fast

# ---- (1) blind RSTs into a live connection ----
want=$(cat "$STATE/www/big.sha256")
rm -f "$STATE/crafted-big"
# a rate-limited curl reads its socket buffer in bursts and then pauses, so the connection can be
# silent for a while (buffer / rate): the helpers wait up to 6 s for a packet of it, and the
# client's receive buffer is capped (256 KiB, not the host's 32 MiB, which could take in the
# whole file at once and leave the server nothing more to send)
inc sysctl -qw net.ipv4.tcp_rmem="4096 131072 262144"
inc curl -sS -m 60 --limit-rate 2M -o "$STATE/crafted-big" http://10.10.2.10/big &
curl_pid=$!
established() { inc ss -Htn state established dst 10.10.2.10 dport = :80 | grep -q .; }
check "a slow /big download is established" wait_until 5 established
sleep 1
stats_now
rst0=$(stat_sum drop_tcp_bad_rst drop_tcp_out_of_window)
tcpdump_start fwl-server rst-at-server 'tcp[tcpflags] & tcp-rst != 0' && td_srv=$TD_PID
tcpdump_start fwl-client rst-at-client 'tcp[tcpflags] & tcp-rst != 0' && td_cli=$TD_PID
out=$(craft fwl-client rst --src 10.10.1.10 --dst 10.10.2.10 --dport 80 --count 3 --timeout 6)
diag "client-side RST: $out"
check "3 out-of-window RSTs sent client -> server (seq 2^31 off)" test "$(json "$out" sent)" = 3
out=$(craft fwl-server rst --vmac "$VMAC_B" --src 10.10.2.10 --dst 10.10.1.10 --dport 80 --reverse --count 3 --timeout 6)
diag "server-side RST: $out"
check "3 out-of-window RSTs sent server -> client (seq 2^31 off)" test "$(json "$out" sent)" = 3
check "the download was still running after the injection" pid_alive "$curl_pid"
wait "$curl_pid"
curl_rc=$?
sleep 0.2
tcpdump_stop "$td_srv"
tcpdump_stop "$td_cli"
check "the download completed (curl exit $curl_rc)" test "$curl_rc" -eq 0
got=$(sha256sum <"$STATE/crafted-big" | awk '{print $1}')
check "the downloaded /big has the right sha256" test "$got" = "$want"
n=$(pcap_count rst-at-server)
check "no RST reached the server ($n seen)" test "$n" -eq 0 || pcap_diag rst-at-server
n=$(pcap_count rst-at-client)
check "no RST reached the client ($n seen)" test "$n" -eq 0 || pcap_diag rst-at-client
stats_now
rst1=$(stat_sum drop_tcp_bad_rst drop_tcp_out_of_window)
check "the 6 RSTs were counted (drop_tcp_bad_rst + drop_tcp_out_of_window $rst0 -> $rst1)" \
    test $((rst1 - rst0)) -ge 6
rm -f "$STATE/crafted-big"

# ---- (2), (3) TCP probes with no state ----
# probe DESC FAM FLAGS COUNTER: a segment to server:80 gets no answer and COUNTER grows
probe() {
    local desc=$1 fam=$2 flags=$3 counter=$4 src dst out c0 c1
    if [ "$fam" = 6 ]; then src=fd00:10:1::10 dst=fd00:10:2::10; else src=10.10.1.10 dst=10.10.2.10; fi
    stats_now
    c0=$(stat_get "$counter")
    out=$(craft fwl-client probe --src $src --dst $dst --dport 80 --flags "$flags" --timeout 1.5)
    stats_now
    c1=$(stat_get "$counter")
    if [ "$(json "$out" answers)" = "[]" ]; then ok "$desc: no answer"; else
        notok "$desc: no answer"
        diag "$out"
    fi
    check "$desc: $counter grows ($c0 -> $c1)" test $((c1 - c0)) -ge 1
}
# Control: the same probe as a plain SYN is answered (SYN+ACK), so "no answer" means dropped.
out=$(craft fwl-client probe --src 10.10.1.10 --dst 10.10.2.10 --dport 80 --flags S --timeout 1.5)
check "control: a plain SYN to server:80 is answered with SYN+ACK" \
    bash -c '[[ $1 == *\"SA\"* ]]' _ "$(json "$out" answers)" || diag "$out"
probe "SYN+FIN client -> server:80 (IPv4)" 4 SF drop_tcp_bad_flags
probe "SYN+FIN client -> server:80 (IPv6)" 6 SF drop_tcp_bad_flags
probe "mid-stream ACK with no state -> server:80 (IPv4)" 4 A drop_tcp_not_syn
probe "mid-stream ACK with no state -> server:80 (IPv6)" 6 A drop_tcp_not_syn

# ---- (4) unsolicited UDP from side B to the client's port 53 ----
udp_unsolicited() { # FAM
    local fam=$1 src dst sport out d0 d1 n
    if [ "$fam" = 6 ]; then src=fd00:10:2::10 dst=fd00:10:1::10; else src=10.10.2.10 dst=10.10.1.10; fi
    sport=$((40000 + RANDOM % 20000))
    stats_now
    d0=$(stat_get drop_rule)
    tcpdump_start fwl-client udp-at-client "udp and src host $src"
    out=$(craft fwl-server udp --vmac "$VMAC_B" --src $src --dst $dst --sport $sport --dport 53 --count 2)
    sleep 1
    tcpdump_stop "$TD_PID"
    n=$(pcap_count udp-at-client)
    check "unsolicited UDP server -> client:53 (IPv$fam) not on the client's wire ($n seen)" \
        test "$n" -eq 0 || pcap_diag udp-at-client
    check_fails "unsolicited UDP server -> client:53 (IPv$fam): the client's listener got nothing" \
        grep -q "^from $src $sport " "$STATE/client-udp53.log"
    stats_now
    d1=$(stat_get drop_rule)
    check "unsolicited UDP (IPv$fam) counted in drop_rule ($d0 -> $d1)" test $((d1 - d0)) -ge 2
    [ "$(json "$out" sent)" = 2 ] || diag "craft udp: $out"
}
udp_unsolicited 4
udp_unsolicited 6

# ---- (5) malformed headers, raw frames to the side A virtual MAC ----
tcpdump_start fwl-server bad-at-server "host 10.10.1.10"
td_bad=$TD_PID
stats_now
fwd0=$(stat_get pkts_fwd)
malformed() { # KIND COUNTER...: one frame of KIND; one of the COUNTERs must grow
    local kind=$1 out c0 c1
    shift
    stats_now
    c0=$(stat_sum "$@")
    out=$(craft fwl-client bad --src 10.10.1.10 --dst 10.10.2.10 --kind "$kind")
    stats_now
    c1=$(stat_sum "$@")
    check "malformed $kind ($(json "$out" ip_bytes) IP bytes) counted in ${*// /|} ($c0 -> $c1)" \
        test $((c1 - c0)) -ge 1 || diag "craft: $out"
}
malformed ip4_truncated drop_parse_ip4_short
malformed ip4_ihl3 drop_parse_ip4_ihl
malformed ip4_ihl_big drop_parse_ip4_ihl drop_parse_ip4_short
malformed tcp_doff2 drop_parse_tcp_doff
malformed tcp_doff_big drop_parse_tcp_doff drop_parse_tcp_short
malformed tcp_truncated drop_parse_tcp_short
fwd1=$(stat_get pkts_fwd)
tcpdump_stop "$td_bad"
n=$(pcap_count bad-at-server)
check "no malformed packet reached the server ($n seen, pkts_fwd $fwd0 -> $fwd1)" \
    test "$n" -eq 0 -a "$fwd1" -eq "$fwd0" || pcap_diag bad-at-server

# ---- (6) the worker survived all of it; a clean stop ----
stats_diag
worker_final_checks
stop_out=$("$FWLAB" stop node1 2>&1)
diag "$stop_out"
check "worker stops on SIGTERM within 5 s" bash -c '! grep -q "did not exit" <<<"$1"' _ "$stop_out"
check "worker log has no sanitizer report after the stop (incl. LeakSanitizer)" sanitizer_clean
