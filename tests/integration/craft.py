#!/usr/bin/python3
"""Crafted packets for the lab's integration tests (run with Debian's /usr/bin/python3, which has
scapy, inside a lab namespace: ip netns exec fwl-client /usr/bin/python3 craft.py ...).

Every packet is sent as a raw Ethernet frame to the firewall's virtual MAC (--vmac) on --iface, so
no routing or ARP of the host gets in the way. Prints one line of JSON with what it did and saw.

  craft.py rst    --src A --dst B --dport P [--sport-of-dst]    blind RST far outside the window
  craft.py probe  --src A --dst B --dport P --flags SF          one TCP segment; any answer?
  craft.py udp    --src A --dst B --sport S --dport P           one datagram
  craft.py bad    --src A --dst B --kind KIND                   a malformed frame (see KINDS)
"""
import argparse
import json
import random
import sys
import time

from scapy.all import (IP, IPv6, TCP, UDP, AsyncSniffer, Ether, Raw, conf, get_if_hwaddr, sendp,
                       sniff)

conf.verb = 0


def l3(src, dst, **kw):
    return IPv6(src=src, dst=dst, **kw) if ":" in dst else IP(src=src, dst=dst, **kw)


def ether(a):
    return Ether(src=get_if_hwaddr(a.iface), dst=a.vmac)


def cmd_rst(a):
    """Learn the live connection's sequence number from one packet that src sends to dst:dport
    (the sender's own outbound traffic), then send a RST with the same addresses and ports and a
    sequence number 2^31 away from it: far outside any window."""
    if a.reverse:  # we are the server: our packets go from src:dport to dst
        flt = "tcp and src host %s and dst host %s and src port %d" % (a.src, a.dst, a.dport)
    else:
        flt = "tcp and src host %s and dst host %s and dst port %d" % (a.src, a.dst, a.dport)
    pkts = sniff(iface=a.iface, filter=flt, count=1, timeout=a.timeout)
    if not pkts:
        print(json.dumps({"error": "no packet of the connection seen", "filter": flt}))
        return 1
    t = pkts[0][TCP]
    seq = (t.seq + 0x80000000) & 0xFFFFFFFF
    rst = ether(a) / l3(a.src, a.dst) / TCP(sport=t.sport, dport=t.dport, flags="R", seq=seq)
    sendp(rst, iface=a.iface, count=a.count)
    print(json.dumps({"sport": t.sport, "dport": t.dport, "seen_seq": t.seq, "rst_seq": seq,
                      "sent": a.count}))
    return 0


def cmd_probe(a):
    """One TCP segment with the given flags from a random port; report any answer from dst."""
    sport = a.sport or random.randint(20000, 60000)
    seq = random.randint(1, 0xFFFFFFF0)
    ack = random.randint(1, 0xFFFFFFF0) if "A" in a.flags else 0
    flt = "tcp and src host %s and src port %d and dst port %d" % (a.dst, a.dport, sport)
    sn = AsyncSniffer(iface=a.iface, filter=flt)
    sn.start()
    time.sleep(0.3)
    pkt = ether(a) / l3(a.src, a.dst) / TCP(sport=sport, dport=a.dport, flags=a.flags, seq=seq,
                                            ack=ack, window=8192)
    sendp(pkt, iface=a.iface, count=a.count)
    time.sleep(a.timeout)
    got = sn.stop() or []
    print(json.dumps({"sport": sport, "flags": a.flags, "sent": a.count,
                      "answers": [str(p[TCP].flags) for p in got]}))
    return 0


def cmd_udp(a):
    pkt = ether(a) / l3(a.src, a.dst) / UDP(sport=a.sport, dport=a.dport) / Raw(a.payload.encode())
    sendp(pkt, iface=a.iface, count=a.count)
    print(json.dumps({"sport": a.sport, "dport": a.dport, "sent": a.count}))
    return 0


# Malformed frames: name -> (builder, the drop_parse_* counters that may count it)
def _ip(a, **kw):
    return IP(src=a.src, dst=a.dst, **kw)


def _tcp(**kw):
    return TCP(sport=random.randint(20000, 60000), dport=80, flags="S", **kw)


KINDS = {
    # 12 bytes of an IPv4 header: shorter than the minimum 20
    "ip4_truncated": lambda a: bytes(_ip(a) / _tcp())[:12],
    # IHL 3 (12 bytes): less than the minimum 5
    "ip4_ihl3": lambda a: bytes(_ip(a, ihl=3) / _tcp()),
    # IHL 15 (60 bytes) but the whole packet is 40 bytes
    "ip4_ihl_big": lambda a: bytes(_ip(a, ihl=15) / _tcp()),
    # TCP data offset 2 (8 bytes): less than the minimum 5
    "tcp_doff2": lambda a: bytes(_ip(a) / _tcp(dataofs=2)),
    # TCP data offset 15 (60 bytes) but the segment is 20 bytes
    "tcp_doff_big": lambda a: bytes(_ip(a) / _tcp(dataofs=15)),
    # a consistent IPv4 packet (total length 28) with only 8 bytes of TCP header
    "tcp_truncated": lambda a: bytes(_ip(a, len=28) / _tcp())[:28],
}


def cmd_bad(a):
    raw = KINDS[a.kind](a)
    frame = ether(a) / Raw(raw)
    frame.type = 0x0800
    sendp(frame, iface=a.iface, count=a.count)
    print(json.dumps({"kind": a.kind, "ip_bytes": len(raw), "sent": a.count}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("cmd", choices=["rst", "probe", "udp", "bad"])
    p.add_argument("--iface", default="eth0")
    p.add_argument("--vmac", default="02:f0:00:00:00:0a")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--dport", type=int, default=80)
    p.add_argument("--flags", default="S")
    p.add_argument("--payload", default="crafted")
    p.add_argument("--kind", choices=sorted(KINDS))
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--reverse", action="store_true",
                   help="rst: we are the server side of the connection (dport is our port)")
    a = p.parse_args()
    if a.cmd == "bad" and not a.kind:
        p.error("bad needs --kind")
    return {"rst": cmd_rst, "probe": cmd_probe, "udp": cmd_udp, "bad": cmd_bad}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
