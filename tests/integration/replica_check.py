#!/usr/bin/python3
"""replica_check.py: is a connection's entry on every replica when connect() returns?

Run in the management namespace (ip netns exec fwl-mgmt): it logs in to every replica (user
admin, password from a file), then moves itself into the client's network namespace (setns) and,
COUNT times, opens a TCP connection to HOST:PORT through the firewall and at once asks every
replica for the connection's entry (GET fw:conn:tcp:<client>:<port>:<server>:<port>; the client
knows its own port). connect() returns when the SYN+ACK arrived: at level full with the sync
strategy the worker let it leave only after SYN_RECV was on the replicas.
Not only presence counts: each value seen must be this connection's (its t= not older than the
connect() call) and of a state the guarantee requires at that moment (--level):
  full         the state word SYN_RECV or later and rank >= 2 (store_rank: a TCP entry's rank is
               its state's number, SYN_SENT 1 < SYN_RECV 2 < ESTABLISHED 3 < FIN_WAIT ...): a
               SYN_SENT value means the SYN+ACK left before its own write reached the replica;
  established  only ESTABLISHED is written, and the worker holds the client's handshake-completing
               ACK (not the SYN+ACK) until it is on the replicas: so the check sends a request and
               waits for the first byte of the response (the server had the ACK) before it asks
               the replicas, and the state word must be ESTABLISHED.
Prints one JSON line: {"count", "replicas", "level", "want", "found": {replica: n},
"good": {replica: n}, "states": {state: n}, "ranks": {rank: n}, "missing": [[i, replica, key],
...], "bad": [[i, replica, value, why], ...], "connect_ms_max"}.
"""
import argparse
import ctypes
import json
import os
import socket
import time

CLONE_NEWNET = 0x40000000
# fwnode's TCP states in their order (fwnode/tcp_state.h; store_rank of a TCP entry is the index)
TCP_STATES = ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
              "TIME_WAIT", "CLOSE"]
RANK_SYN_RECV = TCP_STATES.index("SYN_RECV")


def parse(value):
    """An entry's state word and its name=value fields."""
    words = value.split(" ")
    return words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w)


def judge(level, state, fields, t0_ms):
    """Why the entry seen on a replica breaks the guarantee at level, or None when it does not."""
    try:
        rank, t = int(fields["rank"]), int(fields["t"])
    except (KeyError, ValueError):
        return "no rank= or t="
    if t < t0_ms - 1:  # the worker's clock is the same CLOCK_REALTIME (1 ms: rounding)
        return "written %d ms before connect(): not this connection's" % (t0_ms - t)
    if level == "established":
        return None if state == "ESTABLISHED" else "state %s, not ESTABLISHED" % state
    if state not in TCP_STATES or TCP_STATES.index(state) < RANK_SYN_RECV:
        return "state %s, before SYN_RECV" % state
    if rank < RANK_SYN_RECV:
        return "rank %d < %d (SYN_RECV)" % (rank, RANK_SYN_RECV)
    return None


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
    ap.add_argument("--level", choices=["full", "established"], default="full",
                    help="the worker's FW_SYNC_LEVEL: what state each entry must have")
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
    good = {ip: 0 for ip in reps}
    states, ranks, missing, bad, cmax = {}, {}, [], [], 0.0
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.bind((a.src, 0))
        port = s.getsockname()[1]
        t0_ms = int(time.time() * 1000)
        t0 = time.monotonic()
        s.connect((a.dst, a.dport))
        cmax = max(cmax, (time.monotonic() - t0) * 1000)
        if a.level == "established":
            # keep-alive: the server does not close, so the entry is not deleted meanwhile
            s.sendall(b"GET /1b HTTP/1.1\r\nHost: %s\r\n\r\n" % a.dst.encode())
            if not s.recv(1):
                raise RuntimeError("connection %d: closed without a response" % i)
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
                state, fields = parse(v)
                states[state] = states.get(state, 0) + 1
                rk = fields.get("rank", "?")
                ranks[rk] = ranks.get(rk, 0) + 1
                why = judge(a.level, state, fields, t0_ms)
                if why is None:
                    good[ip] += 1
                else:
                    bad.append([i, ip, v, why])
        s.close()
    want = ("ESTABLISHED" if a.level == "established"
            else "rank >= %d (SYN_RECV or later)" % RANK_SYN_RECV)
    print(json.dumps({"count": a.count, "replicas": list(reps), "level": a.level, "want": want,
                      "found": found, "good": good, "states": states, "ranks": ranks,
                      "missing": missing[:10], "bad": bad[:10], "connect_ms_max": round(cmax, 2)}))


if __name__ == "__main__":
    main()
