#!/usr/bin/env python3
"""compare.py - Sluice side by side with HAProxy (and nginx), same origin,
same pinning, same configuration file.

Layout on a 2-core machine: the proxy alone on CPU 0; wrk and the origin
share CPU 1. Each case (object size) starts every peer once, warms each up,
then interleaves the runs (run 1 of every peer, then run 2, ...) so that a
noisy neighbour hurts every peer alike; the figures are medians.

The primary efficiency figure is the proxy's own CPU time (utime+stime from
/proc/PID/stat, read before and after each run) per request completed.

Usage: compare.py [--quick] [--head] [--runs N] [--duration S] [--out FILE.md]
                  [--json FILE] [--build DIR] [--no-nginx] [--sizes 1024,65536]
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = ("direct", "sluice", "haproxy", "nginx")
LABEL = {"direct": "origin direct (ceiling)", "sluice": "Sluice", "haproxy": "HAProxy 2.6",
         "nginx": "nginx"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 3 s per peer and case")
    ap.add_argument("--runs", type=int, help="runs per peer and case (default 3, quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per run (default 8, quick 3)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up seconds per peer (default 2)")
    ap.add_argument("--conns", type=int, default=50, help="wrk connections (default 50)")
    ap.add_argument("--sizes", default="1024,65536", help="object sizes in bytes")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--head", action="store_true",
                    help="build and measure a clean export of the committed HEAD instead")
    ap.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    ap.add_argument("--out", help="write the tables in Markdown to this file")
    ap.add_argument("--json", help="write every run's figures to this file")
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.duration = a.duration or (3 if a.quick else 8)
    a.sizes = [int(s) for s in a.sizes.split(",")]
    return a


def start_peers(a, procs, sluice_bin, origin_bin, tmp, origin_port, peers):
    """Starts every proxy of <peers> on its own port. Returns {peer: (Proc|None, port)}."""
    ports = bl.free_ports(len(peers))
    started = {}
    for peer, port in zip(peers, ports):
        if peer == "direct":
            started[peer] = (None, origin_port)
            continue
        cfg = bl.write(os.path.join(tmp, peer + ".cfg"), bl.haproxy_cfg(port, origin_port))
        if peer == "sluice":
            p = bl.start_sluice(procs, sluice_bin, cfg, tmp, port)
        elif peer == "haproxy":
            p = bl.start_haproxy(procs, cfg, tmp, port)
        else:
            rundir = os.path.join(tmp, "nginx-run")
            conf = bl.write(os.path.join(tmp, "nginx.conf"),
                            bl.nginx_conf(port, origin_port, rundir))
            p = bl.start_nginx(procs, conf, rundir, tmp, port)
        started[peer] = (p, port)
    return started


def one_run(proc, port, size, a, seconds):
    """Runs wrk once against <port>; adds the proxy's CPU figures."""
    url = "http://127.0.0.1:%d/size/%d" % (port, size)
    cpu0 = proc.cpu_seconds() if proc else None
    busy0, t0 = bl.cpu_busy(bl.CPU_PROXY), time.monotonic()
    r = bl.run_wrk(url, a.conns, seconds)
    busy = bl.cpu_busy(bl.CPU_PROXY) - busy0
    r["load1"] = bl.loadavg()
    # noise: CPU time on the proxy's core that the proxy did not use
    cpu = proc.cpu_seconds() - cpu0 if proc else 0.0
    r["foreign_cpu"] = max(0.0, busy - cpu) / (time.monotonic() - t0)
    if proc:
        r["cpu_s"] = cpu
        r["cpu_us_per_req"] = cpu * 1e6 / r["requests"] if r["requests"] else None
        r["cpu_s_per_100k"] = cpu * 1e5 / r["requests"] if r["requests"] else None
        r["cpu_util"] = cpu / r["seconds"] if r["seconds"] else None
        if not proc.alive():
            raise RuntimeError("%s died during the run:\n%s" % (proc.name, proc.log_tail()))
    return r


def run_case(a, procs, sluice_bin, origin_bin, tmp, origin_port, size, peers):
    """Runs one object size for every peer. Returns {peer: summary}."""
    started = start_peers(a, procs, sluice_bin, origin_bin, tmp, origin_port, peers)
    runs = {p: [] for p in peers}
    try:
        for peer in peers:
            proc, port = started[peer]
            bl.log("  [%d B] warm-up %s (%d s)" % (size, LABEL[peer], a.warmup))
            one_run(proc, port, size, a, a.warmup)
        for i in range(a.runs):
            for peer in peers:
                proc, port = started[peer]
                bl.log("  [%d B] run %d of %d: %s (%d s)" % (size, i + 1, a.runs, LABEL[peer],
                                                           a.duration))
                r = one_run(proc, port, size, a, a.duration)
                bl.log("      %.0f req/s, p99 %s ms, cpu %s us/req, non-2xx %d, sock err %d, "
                       "load %.1f, others on CPU %s: %s%%" % (
                           r["rps"], fmt(r["p99_ms"], 2), fmt(r.get("cpu_us_per_req"), 2),
                           r["non2xx"], r["sock_errors"], r["load1"], bl.CPU_PROXY,
                           fmt(r["foreign_cpu"] * 100 if "foreign_cpu" in r else None)))
                runs[peer].append(r)
        out = {}
        for peer in peers:
            proc, _ = started[peer]
            rs = runs[peer]
            s = {k: bl.median([r.get(k) for r in rs]) for k in
                 ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "cpu_s_per_100k", "cpu_util",
                  "foreign_cpu")}
            s["load1_max"] = max(r["load1"] for r in rs)
            s["non2xx"] = sum(r["non2xx"] for r in rs)
            s["sock_errors"] = sum(r["sock_errors"] for r in rs)
            s["requests"] = sum(r["requests"] for r in rs)
            s["rss_kb"] = proc.peak_rss_kb() if proc else None
            s["runs"] = [{k: v for k, v in r.items() if k != "raw"} for r in rs]
            if peer == "sluice":
                s["stats"] = bl.sluice_stats(started[peer][1])
            out[peer] = s
        return out
    finally:
        for peer in peers:
            proc, _ = started[peer]
            if proc:
                procs.stop(proc)


def fmt(v, nd=0):
    if v is None:
        return "-"
    return "%.*f" % (nd, v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def tables(results, a, peers):
    """Returns the Markdown text of the result tables and ratios."""
    lines = []
    for size, res in results.items():
        lines.append("### %s objects, HTTP/1.1 keep-alive, wrk -t1 -c%d, %d x %d s, medians"
                     % ("%d KiB" % (size // 1024) if size >= 1024 else "%d B" % size,
                        a.conns, a.runs, a.duration))
        lines.append("")
        lines.append("| peer | req/s | p50 ms | p99 ms | proxy CPU us/req | CPU s per 100k req"
                     " | proxy CPU use | non-2xx/3xx | socket errors | peak RSS KiB"
                     " | others on proxy CPU | max load avg |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for peer in peers:
            s = res.get(peer)
            if not s:
                continue
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %.1f |" % (
                LABEL[peer], fmt(s["rps"]), fmt(s["p50_ms"], 3), fmt(s["p99_ms"], 2),
                fmt(s["cpu_us_per_req"], 2), fmt(s["cpu_s_per_100k"], 3),
                fmt(s["cpu_util"] * 100 if s["cpu_util"] is not None else None) + ("%" if s["cpu_util"] is not None else ""),
                s["non2xx"], s["sock_errors"], fmt(s["rss_kb"]),
                fmt(s["foreign_cpu"] * 100 if s["foreign_cpu"] is not None else None)
                + ("%" if s["foreign_cpu"] is not None else ""), s["load1_max"]))
        lines.append("")
        sl = res.get("sluice")
        for peer in ("haproxy", "nginx"):
            o = res.get(peer)
            if not sl or not o:
                continue
            lines.append("- Sluice / %s: req/s %s, p99 %s, CPU per request %s, peak RSS %s" % (
                LABEL[peer], fmt(ratio(sl["rps"], o["rps"]), 2),
                fmt(ratio(sl["p99_ms"], o["p99_ms"]), 2),
                fmt(ratio(sl["cpu_us_per_req"], o["cpu_us_per_req"]), 2),
                fmt(ratio(sl["rss_kb"], o["rss_kb"]), 2)))
        if sl and sl.get("stats"):
            st = sl["stats"]
            streams = st.get("streams") or 0
            lines.append("- Sluice counters: %d streams, %.3f stream calls per stream, "
                         "pool peak in use %d buffers, %d failed allocations"
                         % (streams, (st.get("stream_calls", 0) / streams) if streams else 0,
                            st.get("pool_peak_in_use", 0), st.get("pool_failed", 0)))
        lines.append("")
    return "\n".join(lines)


def targets(results):
    """Returns Markdown lines judging the two proxy targets per case."""
    lines = []
    for size, res in results.items():
        sl, ha, ng = res.get("sluice"), res.get("haproxy"), res.get("nginx")
        if not sl or not ha:
            continue
        peers_cpu = [p["cpu_us_per_req"] for p in (ha, ng) if p and p["cpu_us_per_req"]]
        best = min(peers_cpu) if peers_cpu else None
        r1 = ratio(sl["rps"], ha["rps"])
        r2 = ratio(sl["cpu_us_per_req"], best)
        lines.append("- %d B: Sluice req/s >= HAProxy: %s (ratio %s); CPU/request <= 0.9x best "
                     "peer: %s (ratio %s)" % (
                         size, "met" if r1 is not None and r1 >= 1.0 else "NOT met", fmt(r1, 2),
                         "met" if r2 is not None and r2 <= 0.9 else "NOT met", fmt(r2, 2)))
    return "\n".join(lines)


def main():
    a = parse_args()
    missing = bl.ensure_tools(("haproxy", "nginx", "wrk"))
    if "haproxy" in missing or "wrk" in missing:
        sys.exit("haproxy and wrk are required (missing: %s)" % ", ".join(sorted(missing)))
    if a.head:
        a.build = bl.export_head()
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    peers = [p for p in PEERS if not (p == "nginx" and (a.no_nginx or "nginx" in missing))]
    ver = bl.versions(sluice_bin)
    bl.log("compare: peers %s, sizes %s, %d run(s) of %d s, warm-up %d s, wrk -t1 -c%d" % (
        ", ".join(peers), a.sizes, a.runs, a.duration, a.warmup, a.conns))
    bl.log("pinning: proxy on CPU %s; wrk and origin share CPU %s" % (bl.CPU_PROXY, bl.CPU_LOAD))

    procs = bl.ProcSet()
    results = {}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-compare-") as tmp:
        try:
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            for size in a.sizes:
                bl.log("case %d B objects" % size)
                results[size] = run_case(a, procs, sluice_bin, origin_bin, tmp, origin_port,
                                         size, peers)
        finally:
            procs.stop_all()
    elapsed = time.monotonic() - t0

    text = tables(results, a, peers) + "\nTargets:\n\n" + targets(results) + "\n"
    print()
    print(text)
    print("elapsed %.0f s" % elapsed)
    if a.out:
        hdr = ("<!-- written by bench/compare.py on %s -->\n\n" % time.strftime("%Y-%m-%d %H:%M"))
        hdr += "Versions: " + "; ".join("%s: %s" % kv for kv in sorted(ver.items())) + "\n\n"
        bl.write(a.out, hdr + text)
    if a.json:
        bl.write(a.json, json.dumps({"args": vars(a), "versions": ver, "results": results},
                                    indent=1, default=str))


if __name__ == "__main__":
    main()
