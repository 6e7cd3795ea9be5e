#!/usr/bin/python3
"""A bounded flood for the lab's flood tests (run inside a lab namespace, e.g.
ip netns exec fwl-client /usr/bin/python3 flood.py syn --dst 10.10.2.10 --dport 80 ...).

Sends COUNT frames (at most 200,000) at PPS frames per second (at most 50,000), for at most
SECONDS (at most 30), as raw Ethernet frames to the firewall's virtual MAC on IFACE. The source
addresses are spoofed: taken at random from --src-net (a /24 of the lab: 10.10.X.0/24), or one
fixed --src; source ports at random. The destination must be a lab address (10.10.0.0/16).
Frames are built by hand (IPv4 + TCP SYN or UDP, real checksums) so that Python keeps up with
the rate. Prints one line of JSON: frames sent, seconds taken.

  flood.py syn --dst D --dport P (--src-net 10.10.1.0/24 | --src S) --count N --pps R
  flood.py udp --dst D --dport P (--src-net 10.10.1.0/24 | --src S) --count N --pps R
"""
import argparse
import ipaddress
import json
import random
import socket
import struct
import sys
import time

MAX_COUNT = 200000
MAX_PPS = 50000
MAX_SECONDS = 30
LAB = ipaddress.ip_network("10.10.0.0/16")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(kind, dmac, smac, src, dst, sport, dport):
    if kind == "syn":
        seq = random.getrandbits(32)
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
        proto = 6
    else:
        payload = b"flood"
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        proto = 17
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    c = csum(pseudo + l4)
    if kind == "syn":
        l4 = l4[:16] + struct.pack("!H", c) + l4[18:]
    else:
        l4 = l4[:6] + struct.pack("!H", c or 0xFFFF) + l4[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), random.getrandbits(16), 0, 64, proto,
                     0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dmac + smac + b"\x08\x00" + ip + l4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["syn", "udp"])
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--vmac", default="02:f0:00:00:00:0a")
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--src-net")
    ap.add_argument("--src")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--pps", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=MAX_SECONDS)
    a = ap.parse_args()
    if not 0 < a.count <= MAX_COUNT or not 0 < a.pps <= MAX_PPS or not 0 < a.seconds <= MAX_SECONDS:
        print(json.dumps({"error": "count, pps or seconds out of bounds"}))
        return 2
    dst = ipaddress.ip_address(a.dst)
    if dst not in LAB:
        print(json.dumps({"error": "destination outside the lab"}))
        return 2
    if a.src:
        srcs = [ipaddress.ip_address(a.src)]
    else:
        net = ipaddress.ip_network(a.src_net or "10.10.1.0/24")
        # hosts of the /24 other than the gateway (.1) and the real client (.10)
        srcs = [h for h in net.hosts() if int(h) & 0xFF not in (1, 10)]
    if any(s not in LAB for s in srcs):
        print(json.dumps({"error": "source outside the lab"}))
        return 2
    srcs = [s.packed for s in srcs]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    smac = s.getsockname()[4]
    dmac = bytes.fromhex(a.vmac.replace(":", ""))
    sent = 0
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    batch = max(1, a.pps // 100)  # paced in steps of 10 ms
    while sent < a.count and time.monotonic() < deadline:
        for _ in range(min(batch, a.count - sent)):
            f = frame(a.kind, dmac, smac, random.choice(srcs), dst.packed,
                      random.randint(1024, 65535), a.dport)
            try:
                s.send(f)
                sent += 1
            except BlockingIOError:
                pass
        ahead = t0 + sent / a.pps - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    print(json.dumps({"kind": a.kind, "sent": sent, "seconds": round(time.monotonic() - t0, 3),
                      "sources": len(srcs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
