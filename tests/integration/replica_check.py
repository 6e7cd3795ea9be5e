#!/usr/bin/python3
"""replica_check.py: is a connection's entry on every replica when connect() returns?

Run in the management namespace (ip netns exec fwl-mgmt): it logs in to every replica (user
admin, password from a file), then moves itself into the client's network namespace (setns) and,
COUNT times, opens a TCP connection to HOST:PORT through the firewall and at once asks every
replica for the connection's entry (GET fw:conn:tcp:<client>:<port>:<server>:<port>; the client
knows its own port). connect() returns when the SYN+ACK arrived: at level full with the sync
strategy the worker let it leave only after SYN_RECV was on the replicas.
Prints one JSON line: {"count", "replicas", "found": {replica: n}, "states": {state: n},
"missing": [[i, replica, key], ...], "connect_ms_max"}.
"""
import argparse
import ctypes
import json
import os
import socket
import time

CLONE_NEWNET = 0x40000000


class Resp:
    """A minimal RESP client: enough for AUTH and GET."""

    def __init__(self, host, port, timeout=5.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.reply()

    def reply(self):
        line = self.f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", required=True, help="ip,ip,...")
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--netns", required=True, help="/run/netns/fwl-client")
    ap.add_argument("--src", default="10.10.1.10")
    ap.add_argument("--dst", default="10.10.2.10")
    ap.add_argument("--dport", type=int, default=80)
    ap.add_argument("--count", type=int, default=50)
    a = ap.parse_args()
    pw = open(a.password_file).read().strip()
    reps = {}
    for ip in a.replicas.split(","):
        r = Resp(ip, 6379)
        r.cmd("AUTH", "admin", pw)
        reps[ip] = r
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(a.netns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)
    found = {ip: 0 for ip in reps}
    states, missing, cmax = {}, [], 0.0
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.bind((a.src, 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        s.connect((a.dst, a.dport))
        cmax = max(cmax, (time.monotonic() - t0) * 1000)
        key = "fw:conn:tcp:%s:%d:%s:%d" % (a.src, port, a.dst, a.dport)
        # every replica at once: the requests go out before any reply is read
        vals = {}
        for ip, r in reps.items():
            r.s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key.encode()))
        for ip, r in reps.items():
            vals[ip] = r.reply()
        for ip, v in vals.items():
            if v is None:
                missing.append([i, ip, key])
            else:
                found[ip] += 1
                w = v.split(" ", 1)[0]
                states[w] = states.get(w, 0) + 1
        s.close()
    print(json.dumps({"count": a.count, "replicas": list(reps), "found": found, "states": states,
                      "missing": missing[:10], "connect_ms_max": round(cmax, 2)}))


if __name__ == "__main__":
    main()
