#!/usr/bin/env bash
# nmap through the worker. From the client: a SYN scan of the server shows exactly 80 and 443
# open (the server also listens on 22 and 8080: those must not be open); ACK, FIN, NULL and XMAS
# scans get no answer at all. From the server toward the client (which listens on 22 and 80)
# every scan gets no answer.
#
# nmap's words: a port that gives no answer is "filtered" for SYN and ACK scans, and
# "open|filtered" for FIN, NULL and XMAS scans (RFC 793 says open ports ignore those probes, so
# nmap cannot tell "open" from "dropped"). What the firewall must prevent there is "closed" (a
# RST came back: the probe got through) and, for ACK scans, "unfiltered" (the same).
set -u
. "$(dirname "$0")/lib.sh"

lab_start --no-redis # the data plane alone (issue 2): no Redis, level none; fast

SRV4=10.10.2.10 SRV6=fd00:10:2::10 CLI4=10.10.1.10 CLI6=fd00:10:1::10
FULL=1-1024,8080 # 1025 ports
SMALL=1-300,443,8080 # 302 ports

# --- client -> server ---
nmap_scan "SYN scan client -> server (IPv4): only 80, 443 open; rest filtered/closed" fwl-client 1025 \
    80,443 'filtered|closed' -sS -p "$FULL" "$SRV4"
nmap_scan "SYN scan client -> server (IPv6): only 80, 443 open; rest filtered/closed" fwl-client 1025 \
    80,443 'filtered|closed' -6 -sS -p "$FULL" "$SRV6"
for fam in 4 6; do
    if [ $fam = 4 ]; then dst=$SRV4 f6=(); else dst=$SRV6 f6=(-6); fi
    stats_refresh || true
    d0=$(stat_get pkts_drop)
    nmap_scan "ACK scan client -> server (IPv$fam): every port filtered" fwl-client 302 "" 'filtered' \
        "${f6[@]}" -sA -p "$SMALL" "$dst"
    stats_refresh || true
    d1=$(stat_get pkts_drop)
    check "worker dropped the ACK probes (IPv$fam: pkts_drop +$((d1 - d0)) >= 302)" test $((d1 - d0)) -ge 302
    for t in F N X; do
        nmap_scan "-s$t scan client -> server (IPv$fam): no answer from any port (open|filtered)" \
            fwl-client 302 "" 'open\|filtered' "${f6[@]}" -s$t -p "$SMALL" "$dst"
    done
done

# --- server -> client (the client listens on TCP 22 and 80) ---
nmap_scan "SYN scan server -> client (IPv4): every port filtered" fwl-server 1025 "" 'filtered' \
    -sS -p "$FULL" "$CLI4"
nmap_scan "SYN scan server -> client (IPv6): every port filtered" fwl-server 1025 "" 'filtered' \
    -6 -sS -p "$FULL" "$CLI6"
nmap_scan "ACK scan server -> client (IPv4): every port filtered" fwl-server 302 "" 'filtered' \
    -sA -p "$SMALL" "$CLI4"
for t in F N X; do
    nmap_scan "-s$t scan server -> client (IPv4): no answer from any port (open|filtered)" \
        fwl-server 302 "" 'open\|filtered' -s$t -p "$SMALL" "$CLI4"
done

stats_refresh || true
stats_diag
worker_final_checks
