#!/usr/bin/env bash
# An nmap audit through the cluster (issue 7): the lab's 3 workers (node1, node2 active, node3 the
# backup) with emgr, level full, strategy sync. Every probe is steered by its bucket to one of the
# actives, so a scan exercises both. Only the services the rules allow (conf/fwnode.conf: TCP 80
# and 443, UDP 53 from side A to side B) may answer:
#   client -> server: SYN scans (IPv4, IPv6) show exactly 80 and 443 open (the server also listens
#     on 22 and 8080); ACK scans: every port filtered; FIN, NULL, XMAS: no answer (open|filtered);
#     a UDP scan: 53 open (the server's responder answers), every other port open|filtered (no
#     ICMP port unreachable came back: the probes were dropped, not delivered).
#   bad checksums (--badsum): a SYN scan finds nothing open, and the workers count the probes as
#     drop_csum (the worker verifies TCP/UDP/ICMP checksums: FW_CHECKSUM, on by default).
#   fragments (-f: the probes split into 8-byte IPv4 fragments): nothing open, not even 80 and 443,
#     and the workers count every fragment as drop_parse_ip4_fragment (no reassembly).
#   server -> client: SYN, ACK and UDP scans get no answer at all.
set -u
. "$(dirname "$0")/lib.sh"

lab_start --nodes 3 --backups 1 --level full --strategy sync --access transaction
check "node1 and node2 active, node3 the backup" test "$(actives) $(role_of node3)" = "node1 node2 backup"

SRV4=10.10.2.10 SRV6=fd00:10:2::10 CLI4=10.10.1.10
FULL=1-1024,8080 # 1025 ports
SMALL=1-300,443,8080 # 302 ports
UDPP=1-200       # 200 ports, 53 among them

# sum NAME: counter NAME summed over the three workers (after a refresh)
sum() {
    local n s=0
    for n in node1 node2 node3; do
        stats_refresh "$n" >/dev/null 2>&1 || diag "stats of $n not refreshed"
        s=$((s + $(stat_get "$1" "$n")))
    done
    echo "$s"
}
# per NAME: the counter of each worker, for diagnostics
per() { echo "$1: node1 $(stat_get "$1" node1), node2 $(stat_get "$1" node2), node3 $(stat_get "$1" node3)"; }

# ---- client -> server ----
nmap_scan "SYN scan client -> server (IPv4): only 80, 443 open" fwl-client 1025 \
    80,443 'filtered|closed' -sS -p "$FULL" "$SRV4"
nmap_scan "SYN scan client -> server (IPv6): only 80, 443 open" fwl-client 1025 \
    80,443 'filtered|closed' -6 -sS -p "$FULL" "$SRV6"
f1=$(sum pkts_fwd)
# Every port's probes hash over all buckets, so both actives handle some; only the allowed ports'
# probes are forwarded, and 80 and 443 fall in the same half for a given source port, so the
# check counts what each received.
check "both actives handled probes (node1 $(stat_get pkts_in node1), node2 $(stat_get pkts_in node2) packets in)" \
    test "$(stat_get pkts_in node1)" -gt 100 -a "$(stat_get pkts_in node2)" -gt 100
d0=$(sum pkts_drop)
nmap_scan "ACK scan client -> server: every port filtered" fwl-client 302 "" 'filtered' -sA -p "$SMALL" "$SRV4"
d1=$(sum pkts_drop)
check "the workers dropped the ACK probes (pkts_drop +$((d1 - d0)) >= 302)" test $((d1 - d0)) -ge 302
for t in F N X; do
    nmap_scan "-s$t scan client -> server: no answer from any port (open|filtered)" fwl-client 302 "" \
        'open\|filtered' -s$t -p "$SMALL" "$SRV4"
done
nmap_scan "UDP scan client -> server: 53 open, every other port open|filtered (no ICMP came back)" \
    fwl-client 200 53 'open\|filtered' -sU -p "$UDPP" "$SRV4"

# ---- bad checksums ----
c0=$(sum drop_csum)
nmap_scan "SYN scan with bad TCP checksums (--badsum): nothing open" fwl-client 302 "" 'filtered' \
    --badsum -sS -p "$SMALL" "$SRV4"
c1=$(sum drop_csum)
diag "$(per drop_csum)"
check "the workers dropped them as drop_csum (+$((c1 - c0)) >= 302)" test $((c1 - c0)) -ge 302
c0=$c1
nmap_scan "UDP scan with bad checksums (--badsum): no port open" fwl-client 200 "" 'open\|filtered' \
    --badsum -sU -p "$UDPP" "$SRV4"
c1=$(sum drop_csum)
check "... dropped as drop_csum too (+$((c1 - c0)) >= 200)" test $((c1 - c0)) -ge 200

# ---- fragments ----
g0=$(sum drop_parse_ip4_fragment)
nmap_scan "fragmented SYN scan (-f): nothing open, not even 80 and 443" fwl-client 302 "" 'filtered' \
    -f -sS -p "$SMALL" "$SRV4"
g1=$(sum drop_parse_ip4_fragment)
diag "$(per drop_parse_ip4_fragment)"
check "the workers dropped the fragments (drop_parse_ip4_fragment +$((g1 - g0)) >= 302)" \
    test $((g1 - g0)) -ge 302

# ---- server -> client ----
nmap_scan "SYN scan server -> client: every port filtered" fwl-server 1025 "" 'filtered' \
    -sS -p "$FULL" "$CLI4"
nmap_scan "ACK scan server -> client: every port filtered" fwl-server 302 "" 'filtered' \
    -sA -p "$SMALL" "$CLI4"
nmap_scan "UDP scan server -> client: no answer" fwl-server 200 "" 'open\|filtered' \
    -sU -p "$UDPP" "$CLI4"

diag "forwarded by the workers: $(per pkts_fwd) (after the SYN scans: $f1 in all)"
for n in node1 node2 node3; do node_stats_diag "$n"; done
check "still node1, node2 active and node3 the backup" test "$(actives) $(role_of node3)" = "node1 node2 backup"
all_alive() { worker_alive node1 && worker_alive node2 && worker_alive node3; }
check "the three workers are alive" all_alive
check "no sanitizer report in the workers' and emgr's logs" cluster_logs_clean
