#!/usr/bin/env python3
"""tls_ab.py - two Sluice builds and HAProxy in turn on one HTTPS case:
proxy CPU per request, to tell a change's effect from the machine's drift.

bench/tls.py compares the peers; on a loaded machine their figures move
between rounds more than a change moves Sluice's. Here builds A ("before")
and B ("after") and HAProxy run one after the other in each round, taking
turns at going first; same origin, same certificate and configuration as
tls.py (ECDSA P-256, TLS 1.3, X25519, proxy pinned on CPU 0, h2load and the
origin on CPU 1), h2load -c10 -m10 with ALPN h2 (or -m1 --h1). Prints each
run, the medians, and the medians of the ratios round by round.

--handshake measures tls.py's handshake case instead: two openssl s_time
-new loops, a full handshake and a 16-byte response per connection.

Usage: tls_ab.py --a BUILD --b BUILD [--rounds N] [--duration S]
                 [--size BYTES] [--h1 | --handshake]
BUILD: a release build directory (engine/sluice inside); the origin comes
from --b's. A committed revision can be built with
  git archive REV | tar -x -C /tmp/x && cd /tmp/x && meson setup B -Dbuildtype=release
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import tls as tlsbench  # noqa: E402


def one_run(port, a, tmp):
    """Runs h2load against <port>; returns (requests, errors)."""
    argv = ["taskset", "-c", bl.CPU_LOAD, bl.tool("h2load"), "-t1", "-c10",
            "-m%d" % (1 if a.h1 else 10), "-D", str(a.duration)]
    if a.h1:
        argv.append("--h1")
    argv.append("https://127.0.0.1:%d/size/%d" % (port, a.size))
    out = subprocess.run(argv, capture_output=True, timeout=a.duration + 60).stdout.decode()
    r = bl.parse_h2load(out)
    return r["requests"], r["failed"] + r["errored"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="build directory of A (before)")
    ap.add_argument("--b", required=True, help="build directory of B (after)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--h1", action="store_true", help="HTTP/1.1 over TLS instead of HTTP/2")
    ap.add_argument("--handshake", action="store_true",
                    help="full handshakes (openssl s_time -new) instead of keep-alive")
    a = ap.parse_args()
    if bl.ensure_tools(("h2load", "haproxy")):
        sys.exit("h2load and haproxy are needed")
    bins = {"A": bl.ensure_build(a.a)[0], "B": bl.ensure_build(a.b)[0], "HAProxy": None}
    origin = bl.ensure_build(a.b)[1]
    res = {k: [] for k in bins}
    procs = bl.ProcSet()
    with tempfile.TemporaryDirectory(prefix="sluice-tls-ab-") as tmp:
        pem = bl.make_tls_cert(tmp)
        try:
            oport = bl.free_ports(1)[0]
            bl.start_origin(procs, origin, tmp, oport)
            names = list(bins)
            for rnd in range(a.rounds):
                # who goes first changes every round (see tls.py)
                turn = names[rnd % len(names):] + names[:rnd % len(names)]
                for name in turn:
                    binpath = bins[name]
                    port = bl.free_ports(1)[0]
                    p = bl.start_peer(procs, "haproxy" if binpath is None else "sluice", tmp,
                                      port, oport, binpath, tls_crt=pem, maxconn=4096)
                    try:
                        if a.handshake:
                            r = tlsbench.one_run(p, "handshake", 16, port, a.duration)
                            reqs, errs, cpu = r["requests"], r["errors"], r["cpu_s"]
                        else:
                            c0 = p.cpu_seconds()
                            reqs, errs = one_run(port, a, tmp)
                            cpu = p.cpu_seconds() - c0
                    finally:
                        procs.stop(p)
                    us = 1e6 * cpu / max(1, reqs)
                    res[name].append(us)
                    bl.log("round %d %s: %d requests, %d errors, %.2f s CPU, %.1f us per request"
                           % (rnd + 1, name, reqs, errs, cpu, us))
        finally:
            procs.stop_all()
    med = {k: statistics.median(v) for k, v in res.items()}
    for k, v in res.items():
        print("%-8s median %.1f us per request (%s)" % (k, med[k], " ".join("%.1f" % u for u in v)))
    # the median of the ratios round by round: the machine's drift between
    # rounds cancels out
    paired = {(x, y): statistics.median(u / v for u, v in zip(res[x], res[y]))
              for x, y in (("B", "A"), ("A", "HAProxy"), ("B", "HAProxy"))}
    print("B / A %.2f (paired %.2f); A / HAProxy %.2f (paired %.2f); "
          "B / HAProxy %.2f (paired %.2f)" % (
              med["B"] / med["A"], paired["B", "A"], med["A"] / med["HAProxy"],
              paired["A", "HAProxy"], med["B"] / med["HAProxy"], paired["B", "HAProxy"]))


if __name__ == "__main__":
    main()
