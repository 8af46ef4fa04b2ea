#!/usr/bin/env python3
"""tls.py - HTTPS side by side: Sluice, HAProxy 2.6 and nginx, same certificate.

Every proxy serves the same self-signed ECDSA P-256 certificate with TLS 1.3
and X25519 only (Sluice and HAProxy run the very same HAProxy-format file,
ssl-default-bind-options and ssl-default-bind-curves included), one thread
(nginx: one worker) pinned on CPU 0; the load generator and the origin share
CPU 1. Cases:

  handshake   openssl s_time -new (two at once): a new TLS connection with a
              full handshake (s_time -new never resumes; wrk would: it
              keeps the session across its reconnects) and one HTTP/1.0
              GET of 16 bytes per connection
  h1 1k/64k   wrk over HTTPS keep-alive, 50 connections
  h2 1k/64k   h2load over TLS (ALPN h2), 10 connections x 10 streams

The figure is the proxy's own CPU time per request (utime+stime from /proc,
nginx master and worker summed), and its inverse for handshakes: full
handshakes per second of one core. req/s are printed too, but on this
2-core machine the load core is the bottleneck: judge by CPU. Runs are
interleaved across proxies, case by case (--runs, median reported, and the
median of the run-by-run ratios).

Usage: tls.py [--quick] [--runs N] [--duration S] [--out FILE.md] [--build DIR]
              [--cases h2|h2-1024,h1-65536|...]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = ("sluice", "haproxy", "nginx")
LABEL = {"sluice": "Sluice", "haproxy": "HAProxy 2.6", "nginx": "nginx"}
CASES = (("handshake", 16), ("h1", 1024), ("h1", 65536), ("h2", 1024), ("h2", 65536))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 3 s per case")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per run")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--out", help="write the table in Markdown to this file")
    ap.add_argument("--cases", default="",
                    help="comma-separated subset, e.g. h2 or h2-1024,h1-65536 (default: all)")
    a = ap.parse_args()
    a.cases = pick_cases(a.cases)
    if a.quick:
        a.runs, a.duration = 1, 3
    return a


def pick_cases(spec):
    """Returns the CASES named by <spec> ("h2", "h2-1024", "handshake", ...;
    empty: all of them), in their usual order."""
    want = [w for w in spec.split(",") if w]
    got = [c for c in CASES if not want or c[0] in want or "%s-%d" % c in want]
    if not got:
        sys.exit("--cases %r names no case of %s" % (spec, ", ".join("%s-%d" % c for c in CASES)))
    return got


def one_run(proc, kind, size, port, seconds):
    """Runs one load of <kind> against <port>; returns requests, errors and
    the proxy's CPU seconds over the run."""
    url = "https://127.0.0.1:%d/size/%d" % (port, size)
    c0 = proc.cpu_seconds()
    if kind == "handshake":
        argv = ["taskset", "-c", bl.CPU_LOAD, "openssl", "s_time", "-connect",
                "127.0.0.1:%d" % port, "-new", "-time", str(seconds), "-www", "/size/%d" % size]
        ps = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
              for _ in range(2)]
        outs = [p.communicate(timeout=seconds + 30)[0].decode(errors="replace") for p in ps]
        reqs = sum(int(m.group(1)) for o in outs
                   for m in re.finditer(r"(\d+) connections in [\d.]+ real seconds", o))
        errs = sum(1 for o in outs if ":error:" in o or "connections in" not in o)
        cpu = proc.cpu_seconds() - c0
        return {"requests": reqs, "errors": errs, "cpu_s": cpu, "rps": reqs / seconds,
                "killed": False}
    if kind == "h2":
        r = bl.run_h2load(url, 10, 10, seconds, os.path.join(tempfile.gettempdir(),
                                                              "tls-h2load-%d.log" % os.getpid()))
        reqs, errs = r["requests"], r["failed"] + r["errored"] + r["timeout"] + r["s5xx"] + r["s4xx"]
        if "h2" not in r["raw"]:
            errs += 1
    else:
        r = bl.run_wrk(url, 50, seconds)
        reqs = r.get("requests", 0)
        errs = r.get("errors_total", 0) + r.get("non2xx", 0)
    cpu = proc.cpu_seconds() - c0
    return {"requests": reqs, "errors": errs, "cpu_s": cpu, "rps": r.get("rps", 0.0),
            "killed": r["killed"]}


def main():
    a = parse_args()
    missing = bl.ensure_tools(("haproxy", "nginx", "wrk", "h2load"))
    peers = [p for p in PEERS if p not in missing]
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    ver = bl.versions(sluice_bin)
    ver["openssl"] = bl.cmd_output(["openssl", "version"])
    procs = bl.ProcSet()
    res = {}
    extra = {}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-tls-") as tmp:
        pem = bl.make_tls_cert(tmp)
        try:
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            # every peer runs a case back to back, each from a fresh start:
            # the machine's speed drifts over minutes, so a case's figures
            # are compared within seconds of each other. The peers take
            # turns at going first, so that whatever the first of a case
            # pays or is spared (the origin's state, the cache's) is spread
            # over all of them rather than charged to one
            for run in range(a.runs):
                turn = peers[run % len(peers):] + peers[:run % len(peers)]
                for (kind, size), peer in [(c, p) for c in a.cases for p in turn]:
                    port = bl.free_ports(1)[0]
                    p = bl.start_peer(procs, peer, tmp, port, origin_port, sluice_bin,
                                      tls_crt=pem, maxconn=4096)
                    try:
                        st0 = bl.sluice_stats_tls(port) if peer == "sluice" else None
                        r = one_run(p, kind, size, port, a.duration)
                        if st0 and kind == "handshake":
                            # checks that the handshakes were full ones
                            st1 = bl.sluice_stats_tls(port) or {}
                            r["full"] = st1.get("tls_full_handshakes", 0) - \
                                st0["tls_full_handshakes"] - 1
                            r["resumed"] = st1.get("tls_resumed", 0) - st0["tls_resumed"]
                        res.setdefault((kind, size, peer), []).append(r)
                        bl.log("run %d %s %s %d: %d requests, %d errors, %.2f s CPU, "
                               "%.1f us CPU per request (%.0f s elapsed)" % (
                                   run + 1, LABEL[peer], kind, size, r["requests"],
                                   r["errors"], r["cpu_s"],
                                   1e6 * r["cpu_s"] / max(1, r["requests"]),
                                   time.monotonic() - t0))
                        if peer == "sluice":
                            st = bl.sluice_stats_tls(port)
                            if st:
                                extra = st
                    finally:
                        procs.stop(p)
        finally:
            procs.stop_all()
    text = table(res, peers, a, extra)
    print()
    print(text)
    if a.out:
        bl.write(a.out, bl.header("tls.py", ver) + text)


def ratio_cell(res, kind, size, per, other):
    """Returns "Sluice / <other>" for a case: the ratio of the medians, and
    the median of the ratios run by run (the two peers ran seconds apart
    in each run, so the drift of the machine cancels out)."""
    if not per.get("sluice") or not per.get(other):
        return "n/a"
    pairs = [(a, b) for a, b in zip(res.get((kind, size, "sluice"), []),
                                    res.get((kind, size, other), []))
             if a["requests"] and b["requests"]]
    paired = bl.median([(a["cpu_s"] / a["requests"]) / (b["cpu_s"] / b["requests"])
                        for a, b in pairs])
    cell = "%.2f" % (per["sluice"] / per[other])
    return cell + (" (paired %.2f)" % paired if paired is not None else "")


def table(res, peers, a, extra):
    L = ["### HTTPS, TLS 1.3, ECDSA P-256, X25519: proxy CPU per request, median of %d "
         "run(s) of %d s" % (a.runs, a.duration), "",
         "| case | " + " | ".join(LABEL[p] for p in peers) + " | Sluice / HAProxy | Sluice / nginx |",
         "|---|" + "---:|" * (len(peers) + 2)]
    for kind, size in a.cases:
        cells, per = [], {}
        for p in peers:
            rs = res.get((kind, size, p), [])
            us = bl.median([1e6 * r["cpu_s"] / r["requests"] for r in rs if r["requests"]])
            errs = sum(r["errors"] for r in rs)
            per[p] = us
            if us is None:
                cells.append("n/a")
                continue
            cell = "%.1f us" % us
            if kind == "handshake":
                cell += " (%.0f/s per core)" % (1e6 / us)
            cell += ", %.0f req/s" % bl.median([r["rps"] for r in rs])
            if errs:
                cell += ", %d errors" % errs
            if p == "sluice" and kind == "handshake" and rs and "full" in rs[-1]:
                cell += " (last run: %d full handshakes, %d resumed)" % (
                    rs[-1]["full"], rs[-1]["resumed"])
            cells.append(cell)
        name = "full handshake + 16 B" if kind == "handshake" else "%s %s keep-alive" % (
            "HTTP/1.1" if kind == "h1" else "HTTP/2", bl.size_label(size))
        rat = [ratio_cell(res, kind, size, per, o) for o in ("haproxy", "nginx")]
        L.append("| %s | %s | %s |" % (name, " | ".join(cells), " | ".join(rat)))
    L.append("")
    if extra:
        L.append("Sluice's counters after its last run: %s." % ", ".join(
            "%s %s" % (k, v) for k, v in sorted(extra.items())))
        L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    main()
