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

# fast and bounded: no DNS, no ping, one retry, short RTT timeouts, a minimum rate
NMAP_OPTS=(-n -Pn --max-retries 1 -T4 --initial-rtt-timeout 100ms --max-rtt-timeout 400ms
    --min-rate 1000 --host-timeout 60s)

# scan DESC NS TOTAL OPEN OTHER_RE NMAP_ARGS...: run nmap -oG in NS and check that the open
# ports are exactly OPEN (comma list, "" for none), every other port's state matches OTHER_RE
# (an anchored ERE), and the scan accounted for TOTAL ports.
scan() {
    local desc=$1 ns=$2 total=$3 open=$4 re=$5
    shift 5
    local out line res
    out=$(timeout 90 ip netns exec "$ns" nmap "${NMAP_OPTS[@]}" -oG - "$@" 2>&1)
    line=$(printf '%s\n' "$out" | grep -m1 'Ports:' || true)
    res=$(printf '%s\n' "$line" | RE="^($re)\$" awk -v total="$total" -v open="$open" '
        BEGIN { n = 0; bad = ""; got = ""; re = ENVIRON["RE"] }
        {
            nf = split($0, f, "\t")
            for (i = 1; i <= nf; i++) {
                if (f[i] ~ /^Ports: /) {
                    s = substr(f[i], 8)
                    np = split(s, p, ", ")
                    for (j = 1; j <= np; j++) {
                        if (p[j] == "") continue
                        split(p[j], q, "/")
                        n++
                        if (q[2] == "open") got = got (got == "" ? "" : ",") q[1]
                        else if (q[2] !~ re) bad = bad " " q[1] "/" q[2]
                    }
                } else if (f[i] ~ /^Ignored State: /) {
                    st = f[i]; sub(/^Ignored State: /, "", st)
                    cnt = st; sub(/^.*\(/, "", cnt); sub(/\).*$/, "", cnt)
                    sub(/ \(.*$/, "", st)
                    n += cnt
                    if (st !~ re) bad = bad " " cnt "x" st
                }
            }
        }
        END {
            err = ""
            if (n != total) err = err " ports accounted " n " != " total ";"
            if (got != open) err = err " open [" got "] != [" open "];"
            if (bad != "") err = err " unexpected states:" bad ";"
            print (err == "" ? "OK" : err)
        }')
    if [ "$res" = OK ]; then
        ok "$desc"
    else
        notok "$desc"
        diag "nmap $*:$res"
        printf '%s\n' "$out" | grep -v '^# Nmap' | sed 's/^/#   /'
    fi
}

lab_start --no-redis # the data plane alone (issue 2): no Redis, level none; fast

SRV4=10.10.2.10 SRV6=fd00:10:2::10 CLI4=10.10.1.10 CLI6=fd00:10:1::10
FULL=1-1024,8080 # 1025 ports
SMALL=1-300,443,8080 # 302 ports

# --- client -> server ---
scan "SYN scan client -> server (IPv4): only 80, 443 open; rest filtered/closed" fwl-client 1025 \
    80,443 'filtered|closed' -sS -p "$FULL" "$SRV4"
scan "SYN scan client -> server (IPv6): only 80, 443 open; rest filtered/closed" fwl-client 1025 \
    80,443 'filtered|closed' -6 -sS -p "$FULL" "$SRV6"
for fam in 4 6; do
    if [ $fam = 4 ]; then dst=$SRV4 f6=(); else dst=$SRV6 f6=(-6); fi
    stats_refresh || true
    d0=$(stat_get pkts_drop)
    scan "ACK scan client -> server (IPv$fam): every port filtered" fwl-client 302 "" 'filtered' \
        "${f6[@]}" -sA -p "$SMALL" "$dst"
    stats_refresh || true
    d1=$(stat_get pkts_drop)
    check "worker dropped the ACK probes (IPv$fam: pkts_drop +$((d1 - d0)) >= 302)" test $((d1 - d0)) -ge 302
    for t in F N X; do
        scan "-s$t scan client -> server (IPv$fam): no answer from any port (open|filtered)" \
            fwl-client 302 "" 'open\|filtered' "${f6[@]}" -s$t -p "$SMALL" "$dst"
    done
done

# --- server -> client (the client listens on TCP 22 and 80) ---
scan "SYN scan server -> client (IPv4): every port filtered" fwl-server 1025 "" 'filtered' \
    -sS -p "$FULL" "$CLI4"
scan "SYN scan server -> client (IPv6): every port filtered" fwl-server 1025 "" 'filtered' \
    -6 -sS -p "$FULL" "$CLI6"
scan "ACK scan server -> client (IPv4): every port filtered" fwl-server 302 "" 'filtered' \
    -sA -p "$SMALL" "$CLI4"
for t in F N X; do
    scan "-s$t scan server -> client (IPv4): no answer from any port (open|filtered)" \
        fwl-server 302 "" 'open\|filtered' -s$t -p "$SMALL" "$CLI4"
done

stats_refresh || true
stats_diag
worker_final_checks
