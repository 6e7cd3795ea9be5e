#!/usr/bin/env bash
# Installs every package that building, testing, the lab and the benchmarks need (Debian 12).
# Idempotent: apt-get skips what is already there.
set -euo pipefail
pkgs=(
    build-essential pkg-config clang clang-format
    libpcap-dev libev-dev libhiredis-dev libconfig-dev libcmocka-dev
    iproute2 ethtool iputils-ping procps psmisc tcpdump nftables
    nginx-light curl apache2-utils nmap socat iperf3 python3-scapy
    redis-server redis-tools redis-sentinel valgrind
    conntrackd conntrack iputils-arping netsniff-ng gnuplot-nox
    docker.io docker-compose debootstrap
)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#pkgs[@]} packages present"
    exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The lab runs its own nginx, redis and conntrackd instances; the packaged services stay off.
for s in nginx redis-server redis-sentinel conntrackd; do
    systemctl disable --now "$s" >/dev/null 2>&1 || service "$s" stop >/dev/null 2>&1 || true
done
