#!/usr/bin/python3
"""Writes synthetic captures for offline mode: both directions of many TCP connections through the
virtual gateway (client frames to the side A virtual MAC, server frames to the side B one).

    genpcap.py OUT.pcap [--flows N] [--data N] [--v6]

Each flow: the three-way handshake, N data segments alternating direction, FIN/ACK teardown.
Deterministic: same arguments, same bytes (fixed timestamps)."""
import argparse
import struct

VMAC_A = "02:f0:00:00:00:0a"
VMAC_B = "02:f0:00:00:00:0b"
CLIENT_MAC = "02:00:00:00:01:10"
SERVER_MAC = "02:00:00:00:02:10"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--flows", type=int, default=100)
    ap.add_argument("--data", type=int, default=100, help="data segments per flow")
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--payload", type=int, default=64)
    a = ap.parse_args()

    from scapy.all import Ether, IP, IPv6, TCP, Raw  # noqa: E402 (slow import, after argparse)

    if a.v6:
        cli, srv, L3 = "fd00:10:1::10", "fd00:10:2::10", IPv6
    else:
        cli, srv, L3 = "10.10.1.10", "10.10.2.10", IP
    payload = b"x" * a.payload
    t = [1_700_000_000.0]

    out = open(a.out, "wb")
    # pcap global header, microsecond timestamps, Ethernet
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def emit(pkt):
        raw = bytes(pkt)
        t[0] += 0.00001
        sec = int(t[0])
        usec = int(round((t[0] - sec) * 1e6))
        if usec >= 1000000:
            sec, usec = sec + 1, usec - 1000000
        out.write(struct.pack("<IIII", sec, usec, len(raw), len(raw)))
        out.write(raw)

    def c2s(sport, flags, seq, ack, data=b""):
        emit(Ether(src=CLIENT_MAC, dst=VMAC_A) / L3(src=cli, dst=srv) /
             TCP(sport=sport, dport=80, flags=flags, seq=seq, ack=ack, window=65535) / Raw(data))

    def s2c(sport, flags, seq, ack, data=b""):
        emit(Ether(src=SERVER_MAC, dst=VMAC_B) / L3(src=srv, dst=cli) /
             TCP(sport=80, dport=sport, flags=flags, seq=seq, ack=ack, window=65535) / Raw(data))

    for f in range(a.flows):
        sport = 20000 + f
        cs, ss = 1000 + f * 7919, 5000000 + f * 104729
        c2s(sport, "S", cs, 0)
        s2c(sport, "SA", ss, cs + 1)
        c2s(sport, "A", cs + 1, ss + 1)
        cs += 1
        ss += 1
        for i in range(a.data):
            if i % 2 == 0:
                c2s(sport, "PA", cs, ss, payload)
                cs += len(payload)
            else:
                s2c(sport, "PA", ss, cs, payload)
                ss += len(payload)
        c2s(sport, "FA", cs, ss)
        s2c(sport, "FA", ss, cs + 1)
        c2s(sport, "A", cs + 1, ss + 1)
    out.close()


if __name__ == "__main__":
    main()
