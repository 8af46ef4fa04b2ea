#!/usr/bin/env python3
"""compare_h2.py - Sluice side by side with HAProxy (and h2o) over HTTP/2
cleartext with prior knowledge; every proxy forwards HTTP/1.1 to the same
demo origin.

Same layout as compare.py: the proxy alone on CPU 0; h2load and the origin
share CPU 1; nbthread 1 (h2o: num-threads 1). Each case (object size)
starts every peer once, warms each up, then interleaves the runs so that a
noisy neighbour hurts every peer alike; figures are medians. Latency
percentiles come from h2load's --log-file (one line per request, its
duration in microseconds), so p50/p99 are exact, not estimated.

The primary efficiency figure is the proxy's own CPU time (utime+stime from
/proc/PID/stat, before and after each run) per request completed.

Usage: compare_h2.py [--quick] [--head] [--runs N] [--duration S] [--conns C]
                     [--streams M] [--sizes 1024,65536] [--no-h2o]
                     [--out FILE.md] [--json FILE] [--build DIR]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = ("sluice", "haproxy", "h2o")
LABEL = {"sluice": "Sluice", "haproxy": "HAProxy 2.6", "h2o": "h2o"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 3 s per peer and case")
    ap.add_argument("--runs", type=int, help="runs per peer and case (default 3, quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per run (default 8, quick 3)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up seconds per peer (default 2)")
    ap.add_argument("--conns", type=int, default=8, help="h2load connections (default 8)")
    ap.add_argument("--streams", type=int, default=32,
                    help="h2load concurrent streams per connection (default 32)")
    ap.add_argument("--sizes", default="1024,65536", help="object sizes in bytes")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--head", action="store_true",
                    help="build and measure a clean export of the committed HEAD instead")
    ap.add_argument("--no-h2o", action="store_true", help="leave h2o out")
    ap.add_argument("--out", help="write the tables in Markdown to this file")
    ap.add_argument("--json", help="write every run's figures to this file")
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.duration = a.duration or (3 if a.quick else 8)
    a.sizes = [int(s) for s in a.sizes.split(",")]
    return a


# ---------------------------------------------------------------- configs

def h2_cfg(port, origin_port):
    """Returns the HAProxy-format file Sluice and HAProxy both run: the one
    compare.py uses, with the listener speaking HTTP/2 prior knowledge."""
    text = bl.haproxy_cfg(port, origin_port)
    bind = "    bind 127.0.0.1:%d\n" % port
    if bind not in text:
        raise RuntimeError("unexpected configuration text from benchlib.haproxy_cfg()")
    return text.replace(bind, "    bind 127.0.0.1:%d proto h2\n" % port)


def h2o_conf(port, origin_port, rundir):
    """Returns an h2o configuration: one thread, reverse proxy to the origin,
    no access log (none is configured). No pid or error-log file: h2o started
    as root drops to 'nobody' and could not write under our private temporary
    directory; errors go to stderr, that is the peer's log; we stop it by PID."""
    del rundir
    return """num-threads: 1
listen:
  host: 127.0.0.1
  port: %(p)d
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:%(o)d/
""" % {"p": port, "o": origin_port}


def start_h2o(procs, conf_path, logdir, port):
    p = procs.add(bl.Proc("h2o", [bl.tool("h2o"), "-c", conf_path], bl.CPU_PROXY, logdir, port))
    p.wait_ready()
    return p


def start_peers(procs, sluice_bin, tmp, origin_port, peers):
    """Starts every proxy of <peers> on its own port. Returns {peer: (Proc, port)}."""
    ports = bl.free_ports(len(peers))
    started = {}
    for peer, port in zip(peers, ports):
        if peer == "h2o":
            rundir = os.path.join(tmp, "h2o-run")
            os.makedirs(rundir, exist_ok=True)
            conf = bl.write(os.path.join(tmp, "h2o.conf"), h2o_conf(port, origin_port, rundir))
            p = start_h2o(procs, conf, tmp, port)
        else:
            cfg = bl.write(os.path.join(tmp, peer + "-h2.cfg"), h2_cfg(port, origin_port))
            if peer == "sluice":
                p = bl.start_sluice(procs, sluice_bin, cfg, tmp, port)
            else:
                p = bl.start_haproxy(procs, cfg, tmp, port)
        started[peer] = (p, port)
    return started


# ---------------------------------------------------------------- h2load

def parse_h2load(out):
    """Returns a dict from h2load's summary: requests (succeeded), seconds,
    rps, done, failed, errored, timeout, status counts, and the 'time for
    request' mean/sd/max in ms."""
    r = {"requests": 0, "seconds": 0.0, "rps": 0.0, "done": 0, "failed": 0, "errored": 0,
         "timeout": 0, "s2xx": 0, "s3xx": 0, "s4xx": 0, "s5xx": 0,
         "mean_ms": None, "sd_ms": None, "max_ms": None}
    m = re.search(r"finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", out)
    if m:
        r["seconds"] = bl._ms(m.group(1) + m.group(2)) / 1000.0
        r["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        g = [int(x) for x in m.groups()]
        r["done"], r["requests"], r["failed"], r["errored"], r["timeout"] = g[2], g[3], g[4], g[5], g[6]
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["s2xx"], r["s3xx"], r["s4xx"], r["s5xx"] = (int(x) for x in m.groups())
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if m:
        r["max_ms"], r["mean_ms"], r["sd_ms"] = bl._ms(m.group(2)), bl._ms(m.group(3)), \
            bl._ms(m.group(4))
    return r


def log_percentiles(path):
    """Returns (p50_ms, p99_ms, count) over the request durations in an
    h2load --log-file (start_us, status, duration_us per line), nearest rank."""
    durs = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    durs.append(int(parts[2]))
    except OSError:
        return None, None, 0
    if not durs:
        return None, None, 0
    durs.sort()

    def rank(q):
        i = max(0, min(len(durs) - 1, int(-(-q * len(durs) // 1)) - 1))
        return durs[i] / 1000.0
    return rank(0.50), rank(0.99), len(durs)


def run_h2load(url, conns, streams, seconds, logpath, cpu=bl.CPU_LOAD):
    """Runs h2load (prior knowledge h2c, one thread) pinned on <cpu> for
    <seconds>; returns parse_h2load() plus exact p50/p99 from its log file.
    An h2load that outlives seconds+15 is killed; the result says so."""
    argv = ["taskset", "-c", cpu, bl.tool("h2load"), "-t1", "-c%d" % conns, "-m%d" % streams,
            "-D", str(seconds), "--log-file", logpath, url]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=seconds + 15)
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        killed = True
    out = out.decode(errors="replace")
    r = parse_h2load(out)
    r["p50_ms"], r["p99_ms"], r["logged"] = log_percentiles(logpath)
    try:
        os.unlink(logpath)
    except OSError:
        pass
    r["raw"] = out
    r["killed"] = killed
    return r


def sluice_stats_h2(port, timeout=3.0):
    """Returns Sluice's counters from its stats URI over h2c prior knowledge
    (the listener speaks only HTTP/2), via curl; None when that fails."""
    try:
        p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-m", str(timeout),
                            "http://127.0.0.1:%d%s" % (port, bl.STATS_URI)],
                           stdout=subprocess.PIPE, timeout=timeout + 2)
        return json.loads(p.stdout.decode())
    except Exception:
        return None


def one_run(proc, port, size, a, seconds, tmp):
    """Runs h2load once against <port>; adds the proxy's CPU figures."""
    url = "http://127.0.0.1:%d/size/%d" % (port, size)
    cpu0 = proc.cpu_seconds()
    busy0, t0 = bl.cpu_busy(bl.CPU_PROXY), time.monotonic()
    r = run_h2load(url, a.conns, a.streams, seconds, os.path.join(tmp, "h2load.log"))
    busy = bl.cpu_busy(bl.CPU_PROXY) - busy0
    r["load1"] = bl.loadavg()
    cpu = proc.cpu_seconds() - cpu0
    r["foreign_cpu"] = max(0.0, busy - cpu) / (time.monotonic() - t0)
    r["cpu_s"] = cpu
    r["cpu_us_per_req"] = cpu * 1e6 / r["requests"] if r["requests"] else None
    r["cpu_util"] = cpu / r["seconds"] if r["seconds"] else None
    r["errors"] = (r["failed"] + r["errored"] + r["timeout"] + r["s4xx"] + r["s5xx"]
                   + (1 if r["killed"] else 0))
    if not proc.alive():
        raise RuntimeError("%s died during the run:\n%s" % (proc.name, proc.log_tail()))
    return r


def run_case(a, procs, sluice_bin, tmp, origin_port, size, peers):
    """Runs one object size for every peer. Returns {peer: summary}."""
    started = start_peers(procs, sluice_bin, tmp, origin_port, peers)
    runs = {p: [] for p in peers}
    try:
        for peer in peers:
            proc, port = started[peer]
            bl.log("  [%d B] warm-up %s (%d s)" % (size, LABEL[peer], a.warmup))
            one_run(proc, port, size, a, a.warmup, tmp)
        for i in range(a.runs):
            for peer in peers:
                proc, port = started[peer]
                bl.log("  [%d B] run %d of %d: %s (%d s)" % (size, i + 1, a.runs, LABEL[peer],
                                                           a.duration))
                r = one_run(proc, port, size, a, a.duration, tmp)
                bl.log("      %.0f req/s, p50 %s ms, p99 %s ms, mean %s, max %s, cpu %s us/req, "
                       "errors %d, load %.1f, others on CPU %s: %s%%" % (
                           r["rps"], fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2),
                           fmt(r["mean_ms"], 2), fmt(r["max_ms"], 2),
                           fmt(r.get("cpu_us_per_req"), 2), r["errors"], r["load1"],
                           bl.CPU_PROXY, fmt(r["foreign_cpu"] * 100)))
                if r["errors"] or r["requests"] == 0:
                    bl.log("      h2load said:\n" + r["raw"][-1500:])
                runs[peer].append(r)
        out = {}
        for peer in peers:
            proc, port = started[peer]
            rs = runs[peer]
            s = {k: bl.median([r.get(k) for r in rs]) for k in
                 ("rps", "p50_ms", "p99_ms", "mean_ms", "max_ms", "cpu_us_per_req", "cpu_util",
                  "foreign_cpu")}
            s["load1_max"] = max(r["load1"] for r in rs)
            s["errors"] = sum(r["errors"] for r in rs)
            s["requests"] = sum(r["requests"] for r in rs)
            s["rss_kb"] = proc.peak_rss_kb()
            s["runs"] = [{k: v for k, v in r.items() if k != "raw"} for r in rs]
            if peer == "sluice":
                s["stats"] = sluice_stats_h2(port)
            out[peer] = s
        return out
    finally:
        for peer in peers:
            proc, _ = started[peer]
            procs.stop(proc)


def fmt(v, nd=0):
    if v is None:
        return "-"
    return "%.*f" % (nd, v)


def ratio(x, y):
    if x is None or y is None or y == 0:
        return None
    return x / y


def pct(v):
    return "-" if v is None else "%.0f%%" % (v * 100)


def tables(results, a, peers):
    """Returns the Markdown text of the result tables and ratios."""
    lines = []
    for size, res in results.items():
        lines.append("### %s objects, HTTP/2 h2c prior knowledge, h2load -t1 -c%d -m%d, "
                     "%d x %d s, medians" % (
                         "%d KiB" % (size // 1024) if size >= 1024 else "%d B" % size,
                         a.conns, a.streams, a.runs, a.duration))
        lines.append("")
        lines.append("| peer | req/s | p50 ms | p99 ms | mean ms | max ms | proxy CPU us/req"
                     " | proxy CPU use | errors | peak RSS KiB | others on proxy CPU"
                     " | max load avg |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for peer in peers:
            s = res.get(peer)
            if not s:
                continue
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %.1f |" % (
                LABEL[peer], fmt(s["rps"]), fmt(s["p50_ms"], 2), fmt(s["p99_ms"], 2),
                fmt(s["mean_ms"], 2), fmt(s["max_ms"], 2), fmt(s["cpu_us_per_req"], 2),
                pct(s["cpu_util"]), s["errors"], fmt(s["rss_kb"]), pct(s["foreign_cpu"]),
                s["load1_max"]))
        lines.append("")
        sl = res.get("sluice")
        for peer in ("haproxy", "h2o"):
            o = res.get(peer)
            if not sl or not o:
                continue
            lines.append("- Sluice / %s: req/s %s, p50 %s, p99 %s, CPU per request %s, "
                         "peak RSS %s" % (
                             LABEL[peer], fmt(ratio(sl["rps"], o["rps"]), 2),
                             fmt(ratio(sl["p50_ms"], o["p50_ms"]), 2),
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


def main():
    a = parse_args()
    need = ("haproxy", "h2load") + (() if a.no_h2o else ("h2o",))
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
    bl.log("compare_h2: peers %s, sizes %s, %d run(s) of %d s, warm-up %d s, "
           "h2load -t1 -c%d -m%d" % (", ".join(peers), a.sizes, a.runs, a.duration, a.warmup,
                                     a.conns, a.streams))
    bl.log("pinning: proxy on CPU %s; h2load and origin share CPU %s" % (bl.CPU_PROXY,
                                                                       bl.CPU_LOAD))
    procs = bl.ProcSet()
    results = {}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-compare-h2-") as tmp:
        try:
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            for size in a.sizes:
                bl.log("case %d B objects" % size)
                results[size] = run_case(a, procs, sluice_bin, tmp, origin_port, size, peers)
        finally:
            procs.stop_all()
    elapsed = time.monotonic() - t0

    text = tables(results, a, peers)
    print()
    print(text)
    print("elapsed %.0f s" % elapsed)
    if a.out:
        hdr = ("<!-- written by bench/compare_h2.py on %s -->\n\n" % time.strftime("%Y-%m-%d %H:%M"))
        hdr += "Versions: " + "; ".join("%s: %s" % kv for kv in sorted(ver.items())) + "\n\n"
        bl.write(a.out, hdr + text)
    if a.json:
        bl.write(a.json, json.dumps({"args": vars(a), "versions": ver, "results": results},
                                    indent=1, default=str))


if __name__ == "__main__":
    main()
