#!/usr/bin/env python3
"""plots.py - PNG plots (gnuplot) from the JSON the benchmark scripts write.

  memcap_throughput.png  req/s against the buffer limit, Sluice and HAProxy
                         (a stalled HAProxy point is plotted at its req/s, 0)
  memcap_calls.png       stream calls per session against the limit (Sluice:
                         stream_calls/streams; HAProxy: process_stream calls
                         per request, from `show profiling tasks`)
  idle_rss.png           RSS growth per idle connection, per proxy and
                         protocol
  threads.png            req/s and proxy CPU per request against the proxy's
                         threads (run_all.py's thread sweep: compare.py JSON)

Usage: plots.py [--memcap memcap.json] [--idle idle.json] [--threads threads.json]
                [--out-dir bench/plots]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DEFAULT_OUT = os.path.join(bl.BENCH_DIR, "plots")


def gnuplot(script, data):
    """Runs gnuplot on <script>, with <data> in a file named by $data.
    Returns True when gnuplot succeeded."""
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        p = subprocess.run([bl.tool("gnuplot")], input=script.replace("$data", path).encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode:
            bl.log("gnuplot failed: " + p.stdout.decode(errors="replace")[-500:])
        return p.returncode == 0
    finally:
        os.unlink(path)


def memcap_rows(m):
    """Returns rows (limit, label, Sluice req/s, HAProxy req/s, Sluice calls,
    HAProxy calls) of a memcap.py JSON, sorted by limit."""
    rows = []
    for label, s, h in m["sweep"]:
        # no limit: plotted a little right of the need, labelled "none"
        limit = s["limit"] if s["limit"] is not None else int(m["need"] * 1.15) + 1
        hr = h.get("rps") if h and "error" not in h else None
        hc = h.get("calls_per_stream") if h and "error" not in h and not h.get("stalled") else None
        rows.append((limit, "none" if s["limit"] is None else str(s["limit"]), s["rps"], hr,
                     s.get("calls_per_stream"), hc))
    return sorted(rows, key=lambda r: r[0])


def plot_memcap(m, out_dir):
    """Writes the two memcap plots. Returns their paths."""
    rows = memcap_rows(m)
    data = "\n".join("%d %s %s %s %s %s" % (
        r[0], r[1], bl.fmt(r[2]), "NaN" if r[3] is None else "%.0f" % r[3],
        "NaN" if r[4] is None else "%.4f" % r[4], "NaN" if r[5] is None else "%.4f" % r[5])
        for r in rows) + "\n"
    common = ("set terminal pngcairo size 900,540 font 'DejaVu Sans,11'\n"
              "set grid\nset key top left\nset xtics rotate by -45\n"
              "set xlabel 'tune.buffers.limit (16 KiB buffers; Sluice needs %d unconstrained; "
              "none = no limit)'\n" % m["need"])
    t = os.path.join(out_dir, "memcap_throughput.png")
    gnuplot(common + "set output '%s'\nset ylabel 'requests/s'\nset yrange [0:*]\n"
            "set title 'Throughput under a buffer cap (wrk -c200, 16 KiB objects, "
            "server maxconn 1000)'\n"
            "plot '$data' using 1:3 with linespoints lw 2 pt 7 title 'Sluice', "
            "'' using 1:4:xtic(2) with linespoints lw 2 pt 5 title 'HAProxy 2.6 (0 = stalled)'\n" % t,
            data)
    c = os.path.join(out_dir, "memcap_calls.png")
    gnuplot(common + "set output '%s'\nset ylabel 'stream calls per session'\n"
            "set yrange [0:*]\n"
            "set title 'Stream calls per session under a buffer cap'\n"
            "plot '$data' using 1:5 with linespoints lw 2 pt 7 title 'Sluice', "
            "'' using 1:6:xtic(2) with linespoints lw 2 pt 5 "
            "title 'HAProxy 2.6 process\\_stream calls/request (missing = stalled)'\n" % c,
            data)
    return [t, c]


def plot_idle(rows, out_dir):
    """Writes the RSS-per-idle-connection bar chart. Returns its path."""
    label = {"sluice": "Sluice", "haproxy": "HAProxy", "nginx": "nginx", "h2o": "h2o"}
    peers = [p for p in ("sluice", "haproxy", "nginx", "h2o") if any(r["peer"] == p for r in rows)]
    val = {(r["proto"], r["peer"]): r["kib_per_conn"] for r in rows}
    data = "".join('"%s" %s %s\n' % (label[p], bl.fmt(val.get(("h1", p)), 3)
                                     if val.get(("h1", p)) is not None else "NaN",
                                     bl.fmt(val.get(("h2", p)), 3)
                                     if val.get(("h2", p)) is not None else "NaN")
                   for p in peers)
    out = os.path.join(out_dir, "idle_rss.png")
    gnuplot("set terminal pngcairo size 800,500 font 'DejaVu Sans,11'\n"
            "set output '%s'\nset style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid ytics\n"
            "set yrange [0:*]\nset ylabel 'KiB of RSS per idle connection'\n"
            "set title 'Memory at rest: RSS growth per idle keep-alive connection (%d asked)'\n"
            "plot '$data' using 2:xtic(1) title 'HTTP/1.1', '' using 3 title 'HTTP/2 (h2c)'\n"
            % (out, max(r["asked"] for r in rows)), data)
    return out


THREAD_PEERS = (("sluice", "Sluice"), ("sluice_limit", "Sluice, tune.buffers.limit 2x need"),
                ("haproxy", "HAProxy 2.6 (nbthread)"), ("nginx", "nginx (worker\\_processes)"))


def thread_data(doc):
    """Returns the gnuplot data of a thread sweep (compare.py JSON): one row
    per thread count, req/s then CPU us/request of each of THREAD_PEERS
    (NaN where a peer is missing)."""
    rows = []
    for res in sorted(doc["results"], key=lambda r: r["case"]["threads"]):
        ps = res["peers"]
        rps = [ps[p]["rps"] if p in ps and ps[p]["rps"] else None for p, _ in THREAD_PEERS]
        cpu = [ps[p]["cpu_us_per_req"] if p in ps else None for p, _ in THREAD_PEERS]
        rows.append("%d %s" % (res["case"]["threads"], " ".join(
            "NaN" if v is None else "%.4f" % v for v in rps + cpu)))
    return "\n".join(rows) + "\n"


def plot_threads(doc, out_dir):
    """Writes threads.png: req/s (left) and proxy CPU per request (right)
    against proxy threads, one line per peer. Returns its path."""
    out = os.path.join(out_dir, "threads.png")
    n = len(THREAD_PEERS)
    cpus = doc.get("versions", {}).get("nproc", "?")

    def lines(first):
        return ", ".join("'$data' using 1:%d with linespoints lw 2 pt %d title '%s'" % (
            first + i, (7, 6, 5, 9)[i], label) for i, (_, label) in enumerate(THREAD_PEERS))
    gnuplot("set terminal pngcairo size 1200,500 font 'DejaVu Sans,11'\n"
            "set output '%s'\nset grid\nset key bottom right\nset xtics 2\n"
            "set logscale x 2\nset xlabel 'proxy threads (nginx: worker processes)'\n"
            "set multiplot layout 1,2 title 'Thread sweep: HTTP/1.1 1 KiB keep-alive "
            "(%s CPUs; see bench/RESULTS.md for the placement)'\n"
            "set yrange [0:*]\nset ylabel 'requests/s'\nset title 'Throughput'\nplot %s\n"
            "set ylabel 'proxy CPU us per request'\nset title 'Proxy CPU per request "
            "(lower is better)'\nplot %s\nunset multiplot\n" % (
                out, cpus, lines(2), lines(2 + n)), thread_data(doc))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memcap", help="memcap.py --json file")
    ap.add_argument("--idle", help="idle.py --json file")
    ap.add_argument("--threads", help="compare.py --json file of run_all.py's thread sweep")
    ap.add_argument("--out-dir", default=DEFAULT_OUT, help="where the PNGs go")
    a = ap.parse_args()
    if not bl.tool("gnuplot") and bl.ensure_tools(("gnuplot",)):
        sys.exit("gnuplot is required (Debian package gnuplot-nox)")
    os.makedirs(a.out_dir, exist_ok=True)
    made = []
    # run_all.py passes every step's JSON; a step left out (--skip) wrote none
    docs = {}
    for key in ("memcap", "idle", "threads"):
        path = getattr(a, key)
        if path and not os.path.exists(path):
            bl.log("plots: no %s (step not run?): its plot is left out" % path)
        elif path:
            with open(path) as f:
                docs[key] = json.load(f)
    if "memcap" in docs:
        made += plot_memcap(docs["memcap"], a.out_dir)
    if "idle" in docs:
        made.append(plot_idle(docs["idle"]["rows"], a.out_dir))
    if "threads" in docs:
        made.append(plot_threads(docs["threads"], a.out_dir))
    for p in made:
        bl.log("plot: " + p)


if __name__ == "__main__":
    main()
