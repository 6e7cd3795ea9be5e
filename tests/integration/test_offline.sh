#!/usr/bin/env bash
# Offline mode: the pipeline over capture files, deterministic, under ASan + UBSan.
set -u
. "$(dirname "$0")/lib.sh"
FWNODE=${FWNODE:-$TOP/build/fwnode-san}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$TOP"

counter() { sed -n "s/^$1 //p" "$2"; }

$PY tests/tools/genpcap.py "$work/v4.pcap" --flows 20 --data 30
$PY tests/tools/genpcap.py "$work/v6.pcap" --flows 10 --data 10 --v6
n4=$(tcpdump -nr "$work/v4.pcap" 2>/dev/null | wc -l)

"$FWNODE" -c conf/fwnode.conf -r "$work/v4.pcap" -w "$work/out4.pcap" >"$work/c4" 2>"$work/e4"
check "offline run over an IPv4 capture succeeds" test $? -eq 0
check "every packet of 20 allowed connections is forwarded ($n4)" \
    test "$(counter pkts_fwd "$work/c4")" = "$n4"
check "20 connections, 20 setup times measured" \
    test "$(counter conns_new "$work/c4")" = 20 -a "$(counter setup_count "$work/c4")" = 20
check "the written capture holds the forwarded packets" \
    test "$(tcpdump -nr "$work/out4.pcap" 2>/dev/null | wc -l)" = "$n4"
check "forwarded packets have their TTL decremented and checksums still right" \
    bash -c "tcpdump -vvnr '$work/out4.pcap' 2>/dev/null | grep -q 'ttl 63' &&
             ! tcpdump -vvnr '$work/out4.pcap' 2>/dev/null | grep -qi 'incorrect'"

"$FWNODE" -c conf/fwnode.conf -r "$work/v4.pcap" -w "$work/out4b.pcap" >"$work/c4b" 2>&1
check "two runs over the same capture give identical counters and output" \
    bash -c "cmp -s '$work/c4' '$work/c4b' && cmp -s '$work/out4.pcap' '$work/out4b.pcap'"

"$FWNODE" -c conf/fwnode.conf -r "$work/v6.pcap" >"$work/c6" 2>&1
n6=$(tcpdump -nr "$work/v6.pcap" 2>/dev/null | wc -l)
check "IPv6 connections are forwarded ($n6 packets)" test "$(counter pkts_fwd "$work/c6")" = "$n6"

# The same capture with rules that deny port 80: nothing passes, every first packet is counted.
FW_RULES="allow tcp on a to 10.10.2.0/24 port 443" \
    "$FWNODE" -c conf/fwnode.conf -r "$work/v4.pcap" >"$work/cd" 2>&1
check "with port 80 not allowed nothing is forwarded" test "$(counter pkts_fwd "$work/cd")" = 0
check "denied first packets are counted as drop_rule" test "$(counter drop_rule "$work/cd")" -ge 20

# Strict mode: the capture without its handshakes is all mid-stream traffic.
$PY - "$work/v4.pcap" "$work/mid.pcap" <<'PY'
import sys
from scapy.all import rdpcap, wrpcap, TCP
pk = [p for p in rdpcap(sys.argv[1]) if not (p[TCP].flags & 0x02)]
wrpcap(sys.argv[2], pk)
PY
"$FWNODE" -c conf/fwnode.conf -r "$work/mid.pcap" >"$work/cm" 2>&1
check "strict: mid-stream packets with no state are dropped" test "$(counter pkts_fwd "$work/cm")" = 0
check "strict: they are counted as drop_tcp_not_syn" test "$(counter drop_tcp_not_syn "$work/cm")" -gt 0
FW_TCP_LOOSE=1 "$FWNODE" -c conf/fwnode.conf -r "$work/mid.pcap" >"$work/cl" 2>&1
check "loose: mid-stream pickup forwards them" test "$(counter pkts_fwd "$work/cl")" -gt 0

# A table of 5 connections: 5 pass, the other 15 are dropped and counted.
FW_CONN_MAX=5 "$FWNODE" -c conf/fwnode.conf -r "$work/v4.pcap" >"$work/cf" 2>&1
check "at the table maximum new connections are dropped and counted" \
    test "$(counter conns_new "$work/cf")" = 5 -a "$(counter drop_table_full "$work/cf")" -ge 15

# A per-source limit of 5 new connections a second: the capture's 20 connections from one client
# come within milliseconds, so 5 pass (the burst) and the rest are dropped and counted.
FW_RATE_PER_SOURCE=5 "$FWNODE" -c conf/fwnode.conf -r "$work/v4.pcap" >"$work/cr" 2>&1
check "a source over its rate limit opens no more connections" \
    test "$(counter conns_new "$work/cr")" = 5 -a "$(counter drop_rate "$work/cr")" -ge 15

# Not a capture file: a clear error, no crash.
head -c 4096 /dev/urandom >"$work/junk.pcap"
"$FWNODE" -c conf/fwnode.conf -r "$work/junk.pcap" >"$work/cj" 2>&1
rc=$?
check "a file that is no capture is refused with status 1" test "$rc" = 1
check_fails "and no sanitizer report" grep -q "Sanitizer\|runtime error" "$work/cj"
