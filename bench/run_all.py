#!/usr/bin/env python3
"""run_all.py - the whole benchmark suite in one command.

    python3 bench/run_all.py [--quick] [--head] [--out-dir DIR] [--skip STEP,...]
                             [--threads 1,2,4,...]

Installs what it needs from Debian packages when missing and running as
root (haproxy nginx-light h2o wrk nghttp2-client gnuplot-nox), builds Sluice
in release mode (with --head: a clean export of the committed HEAD), then
runs each step as its own script, printing their progress as they go:

  micro    bench/run_micro.sh       pool and hand-off micro-benchmarks, thread sweep
  h1       bench/compare.py         HTTP/1.1 vs HAProxy and nginx (keep-alive,
                                    connection per request, 1 and 2 threads)
  h2       bench/compare_h2.py      HTTP/2 vs HAProxy and h2o (1 and 2 threads)
  threads  bench/compare.py --layout auto
                                    thread sweep: HTTP/1.1 1 KiB keep-alive, Sluice,
                                    HAProxy (nbthread) and nginx (worker_processes) at
                                    each count of --threads; with 8 or more CPUs the
                                    proxy, origin and wrk on disjoint CPU sets; and
                                    Sluice under tune.buffers.limit 2x its need
  idle     bench/idle.py            RSS per idle connection (10,000 connections)
  memcap   bench/memcap.py          memory-cap sweep, deadlock scenarios
  plots    bench/plots.py           PNGs into bench/plots/ (threads.png: req/s and
                                    proxy CPU per request against threads)

and ends with one summary: per case, Sluice / HAProxy, Sluice / nginx and
Sluice / h2o for req/s, p50, p99, proxy CPU per request (in microseconds of
CPU per request; x 0.1 gives CPU seconds per 100k requests) and peak RSS,
then the idle memory and memory-cap figures, and each target judged.

Quick mode takes a few minutes (1 short run per peer and case); full mode
about 25-35 minutes on the 2-core machine. Every step's Markdown and JSON go
to --out-dir (default bench/results-YYYYmmdd-HHMM).
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

STEPS = ("micro", "h1", "h2", "threads", "idle", "memcap", "plots")
TOOLS = ("haproxy", "nginx", "h2o", "wrk", "h2load", "gnuplot", "curl")
PEER_LABEL = {"haproxy": "HAProxy", "nginx": "nginx", "h2o": "h2o"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few minutes instead of ~30")
    ap.add_argument("--head", action="store_true",
                    help="measure a clean export of the committed HEAD (recommended)")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--out-dir", help="where results go (default bench/results-DATE)")
    ap.add_argument("--plots-dir", default=os.path.join(bl.BENCH_DIR, "plots"),
                    help="where the PNGs go (default bench/plots)")
    ap.add_argument("--skip", default="", help="comma-separated steps to leave out: "
                    + ",".join(STEPS))
    ap.add_argument("--threads", help="proxy thread counts of the thread sweep (default: "
                    "powers of two up to what the CPUs allow, see benchlib.placement)")
    a = ap.parse_args()
    a.skip = {s for s in a.skip.split(",") if s}
    a.layout = bl.placement()
    a.threads, a.threads_note = sweep_points(a.threads, a.layout)
    a.out_dir = a.out_dir or os.path.join(bl.BENCH_DIR, time.strftime("results-%Y%m%d-%H%M"))
    return a


def sweep_points(text, layout):
    """Returns (thread counts, note) of the thread sweep: those of <text>
    ("1,2,4"; default benchlib.sweep_threads(<layout>)) that <layout> has
    CPUs for, and a line saying why the sweep stops where it does."""
    asked = [int(x) for x in text.split(",") if x.strip()] if text else bl.sweep_threads(layout)
    pts = [t for t in asked if 1 <= t <= layout["max_threads"]] or [1]
    dropped = [t for t in asked if t not in pts]
    note = "thread sweep %s: %s" % (",".join(map(str, pts)), layout["why"])
    if dropped:
        note += "; left out: %s" % ",".join(map(str, dropped))
    return pts, note


def step_commands(a, out):
    """Returns [(step, argv, expected seconds)] of the steps to run."""
    py = [sys.executable]
    q = ["--quick"] if a.quick else []
    b = ["--build", a.build]

    def files(name):
        return ["--out", os.path.join(out, name + ".md"), "--json", os.path.join(out, name + ".json")]
    cmds = [
        # the micro-benchmarks build from the working tree (build-bench-rel):
        # an export of HEAD would lack uncommitted changes to bench/*.c
        ("micro", [os.path.join(bl.BENCH_DIR, "run_micro.sh"), bl.DEFAULT_BUILD,
                   os.path.join(out, "micro.txt")], 180),
        ("h1", py + [os.path.join(bl.BENCH_DIR, "compare.py")] + q + b + files("h1"),
         120 if a.quick else 480),
        ("h2", py + [os.path.join(bl.BENCH_DIR, "compare_h2.py")] + q + b + files("h2"),
         60 if a.quick else 280),
        ("threads", py + [os.path.join(bl.BENCH_DIR, "compare.py")] + q + b + [
            "--layout", "auto", "--threads", ",".join(map(str, a.threads)), "--sizes", "1024",
            "--close-sizes", "", "--limit-factor", "2"] + files("threads"),
         (25 if a.quick else 70) * len(a.threads)),
        ("idle", py + [os.path.join(bl.BENCH_DIR, "idle.py")] + q + b + files("idle"),
         30 if a.quick else 60),
        ("memcap", py + [os.path.join(bl.BENCH_DIR, "memcap.py")] + q + b + files("memcap"),
         150 if a.quick else 480),
        ("plots", py + [os.path.join(bl.BENCH_DIR, "plots.py"), "--memcap",
                        os.path.join(out, "memcap.json"), "--idle",
                        os.path.join(out, "idle.json"), "--out-dir", a.plots_dir]
         + ([] if "threads" in a.skip else ["--threads", os.path.join(out, "threads.json")]),
         5),
    ]
    return [c for c in cmds if c[0] not in a.skip]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- summary

def ratio_rows(doc, title_of):
    """Returns Markdown rows: one per case and peer, the Sluice / peer
    ratios, and the targets judged on that case."""
    rows = []
    for res in doc["results"]:
        ps = res["peers"]
        sl = ps.get("sluice")
        if not sl:
            continue
        peers = [p for p in ("haproxy", "nginx", "h2o") if p in ps]
        for p in peers:
            r = bl.ratios(sl, ps[p])
            rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                title_of(res["case"]), PEER_LABEL[p], bl.fmt(r["rps"], 2), bl.fmt(r["p50_ms"], 2),
                bl.fmt(r["p99_ms"], 2), bl.fmt(r["cpu_us_per_req"], 2), bl.fmt(r["rss_kb"], 2)))
    return rows


def case_targets(doc, title_of):
    """Returns Markdown rows judging, per case: CPU/request <= 0.9x the best
    peer, req/s ahead of every peer, p99 not behind any peer."""
    out = []
    for res in doc["results"]:
        ps = res["peers"]
        sl = ps.get("sluice")
        others = [ps[p] for p in ("haproxy", "nginx", "h2o") if p in ps]
        if not sl or not others:
            continue
        best_cpu = min(o["cpu_us_per_req"] for o in others if o["cpu_us_per_req"])
        cpu = bl.ratio(sl["cpu_us_per_req"], best_cpu)
        rps = min(bl.ratio(sl["rps"], o["rps"]) or 0 for o in others)
        p99 = max(bl.ratio(sl["p99_ms"], o["p99_ms"]) or 0 for o in others)
        out.append("| %s | %s %s | %s %s | %s %s |" % (
            title_of(res["case"]), bl.fmt(cpu, 2), "met" if cpu and cpu <= 0.9 else "**missed**",
            bl.fmt(rps, 2), "met" if rps >= 1.0 else "**missed**",
            bl.fmt(p99, 2), "met" if p99 <= 1.0 else "**missed**"))
    return out


def h1_title(c):
    return "H1 %s %s %dT" % (bl.size_label(c["size"]), "close" if c["close"] else "keep-alive",
                             c["threads"])


def h2_title(c):
    return "H2 %s %dT" % (bl.size_label(c["size"]), c["threads"])


def thread_rows(doc):
    """Returns the Markdown lines of the thread sweep: per thread count and
    peer, req/s and proxy CPU per request."""
    L = ["### Thread sweep (HTTP/1.1 1 KiB keep-alive; medians)", "",
         "| threads | peer | req/s | proxy CPU us/req | others on proxy CPUs |",
         "|---:|---|---:|---:|---:|"]
    label = dict(PEER_LABEL, sluice="Sluice", sluice_limit="Sluice, limit 2x need")
    for res in doc["results"]:
        for p in ("sluice", "sluice_limit", "haproxy", "nginx"):
            s = res["peers"].get(p)
            if s:
                L.append("| %d | %s | %s | %s | %s |" % (
                    res["case"]["threads"], label[p],
                    bl.fmt(s["rps"]), bl.fmt(s["cpu_us_per_req"], 2), bl.pct(s["foreign_cpu"])))
    L.append("")
    return L


def summary(out):
    """Returns the suite's summary in Markdown from the JSON of the steps."""
    L = ["## Summary", ""]
    h1, h2 = load(os.path.join(out, "h1.json")), load(os.path.join(out, "h2.json"))
    if h1 or h2:
        L += ["### Sluice / peer ratios (medians; < 1 is better for Sluice except req/s)",
              "", "CPU per request is the proxy's own CPU time (utime+stime, all threads) "
              "per completed request.", "",
              "| case | peer | req/s | p50 | p99 | CPU per request | peak RSS |",
              "|---|---|---:|---:|---:|---:|---:|"]
        if h1:
            L += ratio_rows(h1, h1_title)
        if h2:
            L += ratio_rows(h2, h2_title)
        L += ["", "### Targets per case", "",
              "| case | CPU/request vs best peer (<= 0.9) | req/s vs peers, worst ratio "
              "(>= 1.0) | p99 vs peers, worst ratio (<= 1.0) |", "|---|---|---|---|"]
        if h1:
            L += case_targets(h1, h1_title)
        if h2:
            L += case_targets(h2, h2_title)
        L.append("")
    th = load(os.path.join(out, "threads.json"))
    if th:
        L += thread_rows(th)
    idle = load(os.path.join(out, "idle.json"))
    if idle:
        L += ["### Memory at rest (KiB of RSS per idle connection)", "",
              "| protocol | peer | held | KiB per connection |", "|---|---|---:|---:|"]
        for r in idle["rows"]:
            L.append("| %s | %s | %d | %s |" % (r["proto"], r["peer"], r["held"],
                                                bl.fmt(r["kib_per_conn"], 2)))
        L.append("")
    m = load(os.path.join(out, "memcap.json"))
    if m:
        base = m["sweep"][0][1]
        L += ["### Memory cap", "",
              "| limit | Sluice req/s (x unconstrained) | Sluice calls/stream (x unconstrained)"
              " | HAProxy req/s |", "|---|---:|---:|---|"]
        for label, s, h in m["sweep"]:
            hs = "-" if not h or "error" in h else ("stalled (%d requests)" % h["requests"]
                                                    if h["stalled"] else bl.fmt(h["rps"]))
            L.append("| %s (%s) | %s (x%s) | %s (x%s) | %s |" % (
                label, "none" if s["limit"] is None else s["limit"], bl.fmt(s["rps"]),
                bl.fmt(bl.ratio(s["rps"], base["rps"]), 2), bl.fmt(s["calls_per_stream"], 3),
                bl.fmt(bl.ratio(s["calls_per_stream"], base["calls_per_stream"]), 2), hs))
        seed = [s for label, s, _ in m["sweep"] if label.startswith("27/58")]
        if seed:
            r = bl.ratio(seed[0]["rps"], base["rps"])
            L.append("")
            L.append("- Target: throughput at the 27/58 cap >= unconstrained: %s (x%s)" % (
                "met" if r and r >= 1.0 else "**missed**", bl.fmt(r, 2)))
        worst = max((bl.ratio(s["calls_per_stream"], base["calls_per_stream"]) or 0
                     for _, s, _ in m["sweep"] if s["limit"] is not None
                     and s["limit"] >= seed[0]["limit"]), default=None) if seed else None
        if worst is not None:
            L.append("- Target: calls/session under contention <= 1.05x, down to the 27/58 cap: "
                     "%s (worst x%s)" % ("met" if worst <= 1.05 else "**missed**",
                                          bl.fmt(worst, 2)))
        for d in m.get("deadlock", []):
            L.append("- Deadlock scenario (H1), %s: %d requests in 10 s, %d stalled windows" % (
                d["peer"], d["requests"], d["stalled_windows"]))
        mx = m.get("mixed")
        if mx:
            L.append("- Mixed H1+H2 deadlock scenario, Sluice: %s sessions (H1 %d) in %.0f s, %d "
                     "stalled seconds, probe after the clients stopped: %s" % (
                         mx.get("sessions", mx["rsp_sent"]), mx["wrk_requests"], mx["elapsed_s"],
                         mx["stalled_seconds"], mx["probe"] or "no answer"))
        L.append("")
    return "\n".join(L)


def main():
    a = parse_args()
    t0 = time.monotonic()
    missing = bl.ensure_tools(TOOLS)
    if missing:
        bl.log("warning: still missing after installation: %s (their peers are left out)"
               % ", ".join(sorted(missing)))
    if a.head:
        a.build = bl.export_head()
    bl.ensure_build(a.build)
    os.makedirs(a.out_dir, exist_ok=True)
    cmds = step_commands(a, a.out_dir)
    total = sum(c[2] for c in cmds)
    bl.log("run_all: %s mode, %d steps, about %.0f minutes; results in %s" % (
        "quick" if a.quick else "full", len(cmds), total / 60, a.out_dir))
    if "threads" not in a.skip:
        bl.log("run_all: " + a.threads_note)
    failed = []
    done_expected = 0
    for i, (name, argv, expect) in enumerate(cmds):
        el = time.monotonic() - t0
        bl.log("\n=== step %d of %d: %s (%.0f s elapsed, about %.0f s left in total)" % (
            i + 1, len(cmds), name, el, max(0, total - done_expected)))
        bl.log("    " + " ".join(argv))
        if subprocess.run(argv).returncode != 0:
            failed.append(name)
            bl.log("=== step %s FAILED (continuing)" % name)
        done_expected += expect
    text = summary(a.out_dir)
    if "threads" not in a.skip:
        text += "\n- " + a.threads_note + "\n"
    bl.write(os.path.join(a.out_dir, "summary.md"), text)
    print()
    print(text)
    bl.log("run_all: done in %.0f s; results in %s%s" % (
        time.monotonic() - t0, a.out_dir, "; FAILED steps: " + ", ".join(failed) if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
