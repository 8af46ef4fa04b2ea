#!/usr/bin/env python3
"""compare_h2.py - Sluice side by side with HAProxy (and h2o) over HTTP/2
cleartext with prior knowledge; every proxy forwards HTTP/1.1 to the same
demo origin.

Same layout as compare.py: with 1 thread the proxy alone on CPU 0, with 2
threads on CPUs 0 and 1; h2load and the origin share CPU 1. Cases: every
object size of --sizes for every thread count of --threads (Sluice and
HAProxy nbthread N, h2o num-threads N). Each case starts every peer once,
warms each up, then interleaves the runs so that a noisy neighbour hurts
every peer alike; figures are medians. No origin-direct row: the origin
speaks only HTTP/1.1, so no h2load ceiling exists for it. Latency
percentiles come from h2load's --log-file (one line per request, its
duration in microseconds), so p50/p99 are exact, not estimated.

The primary efficiency figure is the proxy's own CPU time (utime+stime from
/proc/PID/stat, before and after each run) per request completed.

Usage: compare_h2.py [--quick] [--head] [--runs N] [--duration S] [--conns C]
                     [--streams M] [--sizes 1024,65536] [--threads 1,2] [--no-h2o]
                     [--out FILE.md] [--json FILE] [--build DIR]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = ("sluice", "haproxy", "h2o")
LABEL = {"sluice": "Sluice", "haproxy": "HAProxy 2.6", "h2o": "h2o"}
MEDIANS = ("rps", "p50_ms", "p99_ms", "mean_ms", "max_ms", "cpu_us_per_req", "cpu_s_per_100k",
           "cpu_util", "foreign_cpu")
SUMS = ("errors", "requests")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 3 s per peer and case")
    ap.add_argument("--runs", type=int, help="runs per peer and case (default 3, quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per run (default 6, quick 3)")
    ap.add_argument("--warmup", type=int, help="warm-up seconds per peer (default 2, quick 1)")
    ap.add_argument("--conns", type=int, default=8, help="h2load connections (default 8)")
    ap.add_argument("--streams", type=int, default=32,
                    help="h2load concurrent streams per connection (default 32)")
    ap.add_argument("--sizes", default="1024,65536", help="object sizes in bytes")
    ap.add_argument("--threads", default="1,2", help="proxy thread counts (default 1,2)")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--head", action="store_true",
                    help="build and measure a clean export of the committed HEAD instead")
    ap.add_argument("--no-h2o", action="store_true", help="leave h2o out")
    ap.add_argument("--out", help="write the tables in Markdown to this file")
    ap.add_argument("--json", help="write every run's figures to this file")
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.duration = a.duration or (3 if a.quick else 6)
    a.warmup = a.warmup or (1 if a.quick else 2)
    a.sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    a.threads = [int(x) for x in a.threads.split(",") if x.strip()]
    return a


def sluice_stats_h2(port, timeout=3.0):
    """Returns Sluice's counters from its stats URI over h2c prior knowledge
    (the listener speaks only HTTP/2), via curl; None when that fails."""
    try:
        p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-m", str(timeout),
                            "http://127.0.0.1:%d%s;json" % (port, bl.STATS_URI)],
                           stdout=subprocess.PIPE, timeout=timeout + 2)
        return json.loads(p.stdout.decode())
    except Exception:
        return None


def one_run(proc, port, c, a, seconds, tmp, origin):
    """Runs h2load once against <port>; adds the proxy's CPU figures."""
    url = "http://127.0.0.1:%d/size/%d" % (port, c["size"])
    r = bl.measure_run(proc, bl.proxy_cpus(c["threads"]), [origin], lambda: bl.run_h2load(
        url, a.conns, a.streams, seconds, os.path.join(tmp, "h2load.log")))
    r["errors"] = (r["failed"] + r["errored"] + r["timeout"] + r["s4xx"] + r["s5xx"]
                   + (1 if r["killed"] else 0))
    if r["errors"] or r["requests"] == 0:
        bl.log("      h2load said:\n" + r["raw"][-1500:])
    return r


def describe(r):
    return ("%.0f req/s, p50 %s ms, p99 %s ms, mean %s, max %s, cpu %s us/req, errors %d, "
            "load %.1f, others on the proxy's CPUs %s" % (
                r["rps"], bl.fmt(r["p50_ms"], 2), bl.fmt(r["p99_ms"], 2), bl.fmt(r["mean_ms"], 2),
                bl.fmt(r["max_ms"], 2), bl.fmt(r.get("cpu_us_per_req"), 2), r["errors"],
                r["load1"], bl.pct(r["foreign_cpu"])))


def case_title(c):
    return "%s, HTTP/2 h2c prior knowledge, %d proxy thread%s" % (
        bl.size_label(c["size"]), c["threads"], "" if c["threads"] == 1 else "s")


def run_case(a, procs, sluice_bin, tmp, origin, origin_port, c, peers):
    """Runs one case for every peer. Returns {peer: summary}."""
    started = {}
    try:
        for peer, port in zip(peers, bl.free_ports(len(peers))):
            started[peer] = (bl.start_peer(procs, peer, tmp, port, origin_port, sluice_bin,
                                           threads=c["threads"], h2=True), port)
        tag = "h2 %s %dT" % (bl.size_label(c["size"]), c["threads"])
        runs = bl.interleave(tag, peers, LABEL, lambda peer, secs: one_run(
            started[peer][0], started[peer][1], c, a, secs, tmp, origin), a.runs, a.warmup,
            a.duration, describe)
        out = {}
        for peer in peers:
            proc, port = started[peer]
            s = bl.summarize(runs[peer], MEDIANS, SUMS)
            s["rss_kb"] = proc.peak_rss_kb()
            if peer == "sluice":
                s["stats"] = sluice_stats_h2(port)
            out[peer] = s
        return out
    finally:
        for proc, _ in started.values():
            procs.stop(proc)


def tables(results, a):
    """Returns the Markdown text of the result tables and ratios."""
    lines = []
    for res in results:
        lines.append("### %s, h2load -t1 -c%d -m%d, %d x %d s, medians" % (
            case_title(res["case"]), a.conns, a.streams, a.runs, a.duration))
        lines.append("")
        lines.append("| peer | req/s | p50 ms | p99 ms | mean ms | max ms | proxy CPU us/req"
                     " | proxy CPU use | errors | peak RSS KiB | others on proxy CPUs"
                     " | max load avg |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for peer in PEERS:
            s = res["peers"].get(peer)
            if not s:
                continue
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %.1f |" % (
                LABEL[peer], bl.fmt(s["rps"]), bl.fmt(s["p50_ms"], 2), bl.fmt(s["p99_ms"], 2),
                bl.fmt(s["mean_ms"], 2), bl.fmt(s["max_ms"], 2), bl.fmt(s["cpu_us_per_req"], 2),
                bl.pct(s["cpu_util"]), s["errors"], bl.fmt(s["rss_kb"]), bl.pct(s["foreign_cpu"]),
                s["load1_max"]))
        lines.append("")
        sl = res["peers"].get("sluice")
        for peer in ("haproxy", "h2o"):
            o = res["peers"].get(peer)
            if sl and o:
                lines.append(bl.ratio_line(sl, o, LABEL[peer]))
        if sl and sl.get("stats"):
            lines.append(bl.sluice_counters_line(sl["stats"]))
        lines.append("")
    return "\n".join(lines)


def main():
    a = parse_args()
    need = ("haproxy", "h2load", "curl") + (() if a.no_h2o else ("h2o",))
    missing = bl.ensure_tools(need)
    if "haproxy" in missing or "h2load" in missing:
        sys.exit("haproxy and h2load are required (missing: %s)" % ", ".join(sorted(missing)))
    if a.head:
        a.build = bl.export_head()
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    peers = [p for p in PEERS if not (p == "h2o" and (a.no_h2o or "h2o" in missing))]
    ver = bl.versions(sluice_bin)
    ver["h2load"] = bl.cmd_output([bl.tool("h2load"), "--version"])
    if "h2o" in peers:
        ver["h2o"] = bl.cmd_output([bl.tool("h2o"), "--version"]).splitlines()[0]
    cases = [{"size": s, "threads": t} for t in a.threads for s in a.sizes]
    bl.log("compare_h2: peers %s, %d cases, %d run(s) of %d s, warm-up %d s, "
           "h2load -t1 -c%d -m%d" % (", ".join(peers), len(cases), a.runs, a.duration, a.warmup,
                                     a.conns, a.streams))
    bl.log("pinning: 1 thread: proxy on CPU %s; 2 threads: proxy on CPUs %s; h2load and origin "
           "on CPU %s" % (bl.CPU_PROXY, bl.CPU_PROXY_2T, bl.CPU_LOAD))
    bl.run_compare(a, "compare_h2.py", "h2", ver, sluice_bin, origin_bin, cases, peers,
                   case_title, run_case, tables)


if __name__ == "__main__":
    main()
