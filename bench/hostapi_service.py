#!/usr/bin/env python3
"""hostapi_service.py - what a host service costs the proxy, with and
without a memory cap.

Runs examples/hello_service (nbthread 1, pinned on CPU 0) twice per round,
interleaved: with no buffer limit, then under tune.buffers.limit 3 /
reserve 2. Each run, C curl processes (CPU 1) download SIZE bytes of its
streamed /big body at once, every body checked by SHA-256 against the
pattern. Printed per run: the proxy's user+system CPU time (from /proc)
per request and per MB, stream processing calls and buffer hand-offs per
request, buffers in use afterwards; the median of the rounds last.

    python3 bench/hostapi_service.py [--build build] [--rounds 3] [--clients 200] [--size 10000000]
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rules_cost import cpu_seconds, free_port, wait_port  # noqa: E402

ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"


def pattern_sha256(n):
    block = ALPHABET * 1075
    h = hashlib.sha256()
    full, rest = divmod(n, len(block))
    for _ in range(full):
        h.update(block)
    h.update(block[:rest])
    return h.hexdigest()


def config(port, capped):
    cap = "    tune.buffers.limit 3\n    tune.buffers.reserve 2\n" if capped else ""
    return f"""global
    nbthread 1
{cap}defaults
    mode http
    timeout client 60s
    timeout server 60s
    timeout connect 5s
    timeout queue 300s
frontend web
    bind 127.0.0.1:{port}
    stats uri /stats
    http-request use-service hello
"""


def run(build, capped, clients, size, tmp):
    port = free_port()
    cfg = os.path.join(tmp, f"hello-{port}.cfg")
    with open(cfg, "w") as f:
        f.write(config(port, capped))
    exe = os.path.join(build, "examples", "hello_service")
    p = subprocess.Popen(["taskset", "-c", "0", exe, cfg], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        cpu0 = cpu_seconds(p.pid)
        t0 = time.monotonic()
        url = f"http://127.0.0.1:{port}/big?size={size}"
        jobs = [subprocess.Popen(["taskset", "-c", "1", "sh", "-c", f"curl -s '{url}' | sha256sum"],
                                 stdout=subprocess.PIPE) for _ in range(clients)]
        sums = [j.communicate()[0].split()[0].decode() for j in jobs]
        wall = time.monotonic() - t0
        cpu = cpu_seconds(p.pid) - cpu0
        st = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats;json"))
    finally:
        p.terminate()
        p.wait()
    good = sum(s == pattern_sha256(size) for s in sums)
    return {"capped": capped, "ok": good, "wall_s": wall, "cpu_ms_per_req": cpu * 1000 / clients,
            "cpu_ms_per_mb": cpu * 1000 / (clients * size / 1e6),
            "calls_per_req": st["stream_calls"] / max(1, st["req_received"]),
            "handoffs_per_req": st["pool_handoffs"] / clients, "in_use": st["pool_in_use"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--size", type=int, default=10_000_000)
    a = ap.parse_args()
    tmp = os.environ.get("TMPDIR", "/tmp")
    res = {False: [], True: []}
    for _ in range(a.rounds):
        for capped in (False, True):
            r = run(a.build, capped, a.clients, a.size, tmp)
            res[capped].append(r)
            print(json.dumps(r))
    for capped in (False, True):
        rs = res[capped]
        print(f"{'limit 3/reserve 2' if capped else 'no limit':18s} median proxy CPU "
              f"{statistics.median(r['cpu_ms_per_req'] for r in rs):.2f} ms/request "
              f"({statistics.median(r['cpu_ms_per_mb'] for r in rs):.3f} ms/MB), "
              f"{statistics.median(r['calls_per_req'] for r in rs):.1f} stream calls/request, "
              f"bodies ok {min(r['ok'] for r in rs)}/{a.clients}")


if __name__ == "__main__":
    main()
