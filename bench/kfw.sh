# The kernel firewall of the benchmarks (issue 6, the Linux peer baseline), sourced by the bench
# scripts: a router namespace fwl-kfw plugged into the lab's switch on both sides, owning the
# virtual gateways (10.10.1.1 / 10.10.2.1 with the MACs 02:f0:00:00:00:0a / 0b), forwarding on,
# and nftables with conntrack applying the rules of conf/fwnode.conf (IPv4): TCP 80 and 443, UDP 53
# and ICMP echo from side A to side B, established and related both ways, everything else dropped.
#
#   . bench/kfw.sh
#   kfw_up      # builds fwl-kfw (stop the lab's workers first: only one may answer for the gateways)
#   kfw_down    # removes it (safe when it is not there)
#
# kfw_up announces the gateways with a gratuitous ARP per side, so that the switch's bridges learn
# where the virtual MACs are now (a worker never uses them as a source).

KFW_NS=fwl-kfw

kfw_down() {
    # the switch ports first: a deleted namespace's veths go away asynchronously
    ip -n fwl-sw link del kfwp-a 2>/dev/null || true
    ip -n fwl-sw link del kfwp-b 2>/dev/null || true
    ip netns del "$KFW_NS" 2>/dev/null || true
}

kfw_up() {
    local side i
    kfw_down
    ip netns add "$KFW_NS"
    for side in a b; do
        ip link add "kfw-$side" type veth peer name "kfwp-$side"
        ip link set "kfw-$side" netns "$KFW_NS"
        ip link set "kfwp-$side" netns fwl-sw
        ip -n fwl-sw link set "kfwp-$side" master "br-$side"
        ip -n fwl-sw link set "kfwp-$side" up
        ip netns exec fwl-sw ethtool -K "kfwp-$side" gro off gso off tso off tx off rx off >/dev/null 2>&1 || true
    done
    ip -n "$KFW_NS" link set kfw-a address 02:f0:00:00:00:0a
    ip -n "$KFW_NS" link set kfw-b address 02:f0:00:00:00:0b
    ip -n "$KFW_NS" addr add 10.10.1.1/24 dev kfw-a
    ip -n "$KFW_NS" addr add 10.10.2.1/24 dev kfw-b
    for i in lo kfw-a kfw-b; do ip -n "$KFW_NS" link set "$i" up; done
    for i in kfw-a kfw-b; do
        ip netns exec "$KFW_NS" ethtool -K "$i" gro off gso off tso off tx off rx off >/dev/null 2>&1 || true
    done
    ip netns exec "$KFW_NS" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$KFW_NS" nft -f - <<'NFT'
table inet fw {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "kfw-a" ip saddr 10.10.1.0/24 ip daddr 10.10.2.0/24 tcp dport { 80, 443 } ct state new accept
        iifname "kfw-a" ip saddr 10.10.1.0/24 ip daddr 10.10.2.0/24 udp dport 53 ct state new accept
        iifname "kfw-a" ip saddr 10.10.1.0/24 ip daddr 10.10.2.0/24 icmp type echo-request accept
    }
}
NFT
    if command -v arping >/dev/null; then
        ip netns exec "$KFW_NS" arping -q -U -c 1 -w 1 -I kfw-a 10.10.1.1 >/dev/null 2>&1 || true
        ip netns exec "$KFW_NS" arping -q -U -c 1 -w 1 -I kfw-b 10.10.2.1 >/dev/null 2>&1 || true
    fi
}
