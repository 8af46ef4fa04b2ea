#!/usr/bin/env python3
"""compare.py - Sluice side by side with HAProxy (and nginx) over HTTP/1.1,
same origin, same pinning, same configuration file.

Cases: every object size of --sizes over keep-alive connections, every size
of --close-sizes with a new connection per request (wrk -H 'Connection:
close'), each for every thread count of --threads (Sluice and HAProxy
nbthread N, nginx worker_processes N).

Layout on a 2-core machine: with 1 thread the proxy alone on CPU 0; wrk and
the origin share CPU 1. With 2 threads the proxy gets both CPUs (see
benchlib.CPU_PROXY_2T for why); wrk and the origin stay on CPU 1. Each case
starts every peer once, warms each up, then interleaves the runs (run 1 of
every peer, then run 2, ...) so that a noisy neighbour hurts every peer
alike; the figures are medians. The origin-direct row (wrk straight to the
origin: the ceiling of CPU 1) is measured in the 1-thread cases; the origin
does not change with the proxy's threads.

The primary efficiency figure is the proxy's own CPU time (utime+stime from
/proc/PID/stat, all threads and processes, read before and after each run)
per request completed.

With --layout auto the CPUs come from benchlib.placement() instead: on a
machine with 8 or more usable CPUs, proxy, origin and load generators on
disjoint sets (wrk with one thread per load CPU, the origin with one per
origin CPU); thread counts the layout has no CPUs for are left out, and
the output says why. On the 2-core machine it is the layout above.

With --limit-factor F, every case runs a second Sluice beside the first,
"Sluice, limit Fx need": the same configuration with tune.buffers.limit F
times the need, and a reserve of a quarter of that. The need is
--limit-need, else the buffers the first (unlimited) Sluice had in use at
its peak during a run before the measured ones. It shows what the limit's
accounting costs per request when the limit is not reached (the table
says when it was).

--splice adds `option splice-auto` to the configuration Sluice and HAProxy
share (nginx has no splicing: it copies through its buffers).

Usage: compare.py [--quick] [--head] [--runs N] [--duration S] [--out FILE.md]
                  [--json FILE] [--build DIR] [--no-nginx] [--splice] [--sizes 1024,65536]
                  [--close-sizes 1024] [--threads 1,2] [--layout fixed|auto]
                  [--limit-factor F [--limit-need N]]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = ("direct", "sluice", "sluice_limit", "haproxy", "nginx")
LABEL = {"direct": "origin direct (ceiling)", "sluice": "Sluice", "haproxy": "HAProxy 2.6",
         "nginx": "nginx", "sluice_limit": "Sluice, limit 2x need"}
MEDIANS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "cpu_s_per_100k", "cpu_util",
           "foreign_cpu")
SUMS = ("non2xx", "sock_errors", "requests")


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 3 s per peer and case")
    ap.add_argument("--runs", type=int, help="runs per peer and case (default 3, quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per run (default 6, quick 3)")
    ap.add_argument("--warmup", type=int, help="warm-up seconds per peer (default 2, quick 1)")
    ap.add_argument("--conns", type=int, default=50, help="wrk connections (default 50)")
    ap.add_argument("--sizes", default="1024,65536", help="keep-alive object sizes in bytes")
    ap.add_argument("--close-sizes", default="1024",
                    help="object sizes with a new connection per request ('' for none)")
    ap.add_argument("--threads", default="1,2", help="proxy thread counts (default 1,2)")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--head", action="store_true",
                    help="build and measure a clean export of the committed HEAD instead")
    ap.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    ap.add_argument("--splice", action="store_true",
                    help="`option splice-auto` in the configuration Sluice and HAProxy share")
    ap.add_argument("--no-haproxy", action="store_true", help="leave HAProxy out")
    ap.add_argument("--layout", choices=("fixed", "auto"), default="fixed",
                    help="CPU placement: fixed (the 2-core layout) or auto (disjoint "
                    "sets from the CPUs usable, see benchlib.placement)")
    ap.add_argument("--limit-factor", type=float,
                    help="also run Sluice under tune.buffers.limit = F x its unlimited peak")
    ap.add_argument("--limit-need", type=int,
                    help="the need in buffers for --limit-factor, instead of measuring it "
                    "(the peak in use varies with how starved the proxy is: 26 to 50 "
                    "buffers for wrk -c50 on the loaded 2-core machine)")
    ap.add_argument("--out", help="write the tables in Markdown to this file")
    ap.add_argument("--json", help="write every run's figures to this file")
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.duration = a.duration or (3 if a.quick else 6)
    a.warmup = a.warmup or (1 if a.quick else 2)
    a.sizes = int_list(a.sizes)
    a.close_sizes = int_list(a.close_sizes)
    a.threads = int_list(a.threads)
    a.cpus = bl.placement() if a.layout == "auto" else None
    if a.cpus:
        over = [t for t in a.threads if t > a.cpus["max_threads"]]
        if over:
            bl.log("compare: leaving out %s thread(s): %s" % (
                ",".join(map(str, over)), a.cpus["why"]))
            a.threads = [t for t in a.threads if t not in over] or [1]
    return a


def cases_of(a):
    """Returns the cases to run: dicts of size, close and threads."""
    out = []
    for threads in a.threads:
        out += [{"size": s, "close": False, "threads": threads, "splice": a.splice} for s in a.sizes]
        out += [{"size": s, "close": True, "threads": threads, "splice": a.splice}
                for s in a.close_sizes]
    return out


def case_title(c):
    return "%s, HTTP/1.1 %s, %d proxy thread%s%s" % (
        bl.size_label(c["size"]), "connection per request" if c["close"] else "keep-alive",
        c["threads"], "" if c["threads"] == 1 else "s",
        ", option splice-auto (Sluice, HAProxy)" if c.get("splice") else "")


def case_tag(c):
    return "%s %s %dT" % (bl.size_label(c["size"]), "close" if c["close"] else "ka", c["threads"])


def load_cpus(a):
    """Returns the taskset list of the load generator's CPUs."""
    return bl.cpu_text(a.cpus["load"]) if a.cpus else bl.CPU_LOAD


def one_run(proc, port, c, a, seconds, origin):
    """Runs wrk once against <port> (one wrk thread per load CPU); adds the
    proxy's CPU figures."""
    url = "http://127.0.0.1:%d/size/%d" % (port, c["size"])
    if proc:
        cpus = bl.proxy_cpus(c["threads"], a.cpus)
    else:
        cpus = bl.cpu_text(a.cpus["proxy"][:1]) if a.cpus else bl.CPU_PROXY
    wthreads = len(a.cpus["load"]) if a.cpus else 1
    return bl.measure_run(proc, cpus, [origin], lambda: bl.run_wrk(
        url, max(a.conns, wthreads), seconds, threads=wthreads, cpu=load_cpus(a),
        close=c["close"]), load_cpus(a))


def describe(r):
    return ("%.0f req/s, p99 %s ms, cpu %s us/req, non-2xx %d, sock err %d, load %.1f, "
            "others on the proxy's CPUs %s" % (
                r["rps"], bl.fmt(r["p99_ms"], 2), bl.fmt(r.get("cpu_us_per_req"), 2),
                r["non2xx"], r["sock_errors"], r["load1"], bl.pct(r["foreign_cpu"])))


def start_limited(a, procs, sluice_bin, tmp, port, origin_port, c, unlimited, origin):
    """Starts the "sluice_limit" peer: Sluice under tune.buffers.limit =
    --limit-factor x the need, the peak of buffers in use that the unlimited
    Sluice of <unlimited> (proc, port) reached during a warm-up run of its
    own, reserve a quarter of the limit. Returns the Proc; c["need"] and
    c["limit"] record the figures."""
    proc, sport = unlimited
    if a.limit_need:
        need = a.limit_need
    else:
        # a run as long as a measured one: a 2-s warm-up saw 26 buffers
        # where the measured runs then reached 31
        one_run(proc, sport, c, a, a.duration, origin)
        need = max(1, (bl.sluice_stats(sport) or {}).get("pool_peak_in_use", 0))
    limit = max(4, int(round(need * a.limit_factor)))
    c["need"], c["limit"] = need, limit
    bl.log("  [%s] need %d buffers (%s): limit %d, reserve %d" % (
        case_tag(c), need, "--limit-need" if a.limit_need else "unlimited Sluice's peak in use",
        limit, limit // 4))
    path = bl.write(os.path.join(tmp, "sluice-limit.cfg"), bl.haproxy_cfg(
        port, origin_port, nbthread=c["threads"], limit=limit, reserve=limit // 4,
        splice=a.splice))
    return bl.start_sluice(procs, sluice_bin, path, tmp, port, name="sluice_limit",
                           cpu=bl.proxy_cpus(c["threads"], a.cpus))


def run_case(a, procs, sluice_bin, tmp, origin, origin_port, c, peers):
    """Runs one case for every peer. Returns {peer: summary}."""
    peers = [p for p in peers if p != "direct" or c["threads"] == 1]
    started = {}
    try:
        for peer, port in zip(peers, bl.free_ports(len(peers))):
            if peer == "direct":
                started[peer] = (None, origin_port)
            elif peer == "sluice_limit":
                started[peer] = (start_limited(a, procs, sluice_bin, tmp, port, origin_port, c,
                                               started["sluice"], origin), port)
            else:
                started[peer] = (bl.start_peer(procs, peer, tmp, port, origin_port, sluice_bin,
                                               threads=c["threads"], splice=a.splice,
                                               cpu=bl.proxy_cpus(c["threads"], a.cpus)), port)
        runs = bl.interleave(case_tag(c), peers, LABEL, lambda peer, secs: one_run(
            started[peer][0], started[peer][1], c, a, secs, origin), a.runs, a.warmup,
            a.duration, describe)
        out = {}
        for peer in peers:
            proc, port = started[peer]
            s = bl.summarize(runs[peer], MEDIANS, SUMS)
            s["rss_kb"] = proc.peak_rss_kb() if proc else None
            if peer in ("sluice", "sluice_limit"):
                s["stats"] = bl.sluice_stats(port)
            out[peer] = s
        return out
    finally:
        for proc, _ in started.values():
            if proc:
                procs.stop(proc)


def tables(results, a):
    """Returns the Markdown text of the result tables and ratios."""
    lines = []
    for res in results:
        c = res["case"]
        lines.append("### %s, wrk -t%d -c%d, %d x %d s, medians" % (
            case_title(c), len(a.cpus["load"]) if a.cpus else 1, a.conns, a.runs, a.duration))
        lines.append("")
        lines.append("| peer | req/s | p50 ms | p99 ms | proxy CPU us/req | CPU s per 100k req"
                     " | proxy CPU use | non-2xx/3xx | socket errors | peak RSS KiB"
                     " | others on proxy CPUs | max load avg |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for peer in PEERS:
            s = res["peers"].get(peer)
            if not s:
                continue
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %.1f |" % (
                LABEL[peer], bl.fmt(s["rps"]), bl.fmt(s["p50_ms"], 3), bl.fmt(s["p99_ms"], 2),
                bl.fmt(s["cpu_us_per_req"], 2), bl.fmt(s["cpu_s_per_100k"], 3),
                bl.pct(s["cpu_util"]), s["non2xx"], s["sock_errors"], bl.fmt(s["rss_kb"]),
                bl.pct(s["foreign_cpu"]), s["load1_max"]))
        lines.append("")
        sl = res["peers"].get("sluice")
        for peer in ("haproxy", "nginx"):
            o = res["peers"].get(peer)
            if sl and o:
                lines.append(bl.ratio_line(sl, o, LABEL[peer]))
        if sl and sl.get("stats"):
            lines.append(bl.sluice_counters_line(sl["stats"]))
        lim = res["peers"].get("sluice_limit")
        if sl and lim:
            r = bl.ratio(lim["cpu_us_per_req"], sl["cpu_us_per_req"])
            lines.append("- Limit at %gx need (need %s buffers, limit %s, reserve %s): CPU per "
                         "request x%s of the unlimited run (%s), req/s x%s" % (
                             a.limit_factor, c.get("need"), c.get("limit"),
                             c["limit"] // 4 if c.get("limit") else "-", bl.fmt(r, 3),
                             "within 3 %" if r and abs(r - 1) <= 0.03 else "**not within 3 %**",
                             bl.fmt(bl.ratio(lim["rps"], sl["rps"]), 3)))
            if lim.get("stats"):
                lines.append(bl.sluice_counters_line(lim["stats"]).replace(
                    "Sluice counters", "Sluice (limited) counters"))
                st = lim["stats"]
                lines.append("- Limited run: %s pool lock acquisitions per stream (the "
                             "unlimited run: %s)" % (
                                 bl.fmt(bl.ratio(st.get("pool_lock_acquisitions"),
                                                 st.get("streams")), 3),
                                 bl.fmt(bl.ratio((sl.get("stats") or {}).get(
                                     "pool_lock_acquisitions"),
                                     (sl.get("stats") or {}).get("streams")), 3)))
                if lim["stats"].get("pool_failed"):
                    lines.append("- The limited run reached its limit (%d refused allocations, "
                                 "peak in use %d of %d): it measured waiting too, not only "
                                 "the accounting" % (lim["stats"]["pool_failed"],
                                                     lim["stats"].get("pool_peak_in_use", 0),
                                                     c["limit"]))
        lines.append("")
    return "\n".join(lines)


def main():
    a = parse_args()
    missing = bl.ensure_tools(("haproxy", "nginx", "wrk"))
    if "haproxy" in missing or "wrk" in missing:
        sys.exit("haproxy and wrk are required (missing: %s)" % ", ".join(sorted(missing)))
    if a.head:
        a.build = bl.export_head()
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    peers = [p for p in PEERS if not (p == "nginx" and (a.no_nginx or "nginx" in missing))
             and not (p == "haproxy" and a.no_haproxy)
             and not (p == "sluice_limit" and not a.limit_factor)]
    if a.limit_factor:
        LABEL["sluice_limit"] = "Sluice, limit %gx need" % a.limit_factor
    ver = bl.versions(sluice_bin)
    cases = cases_of(a)
    bl.log("compare: peers %s, %d cases, %d run(s) of %d s, warm-up %d s, wrk -t%d -c%d" % (
        ", ".join(peers), len(cases), a.runs, a.duration, a.warmup,
        len(a.cpus["load"]) if a.cpus else 1, a.conns))
    if a.cpus:
        bl.log("pinning (auto): proxy threads on CPUs %s in order, origin on %s, wrk on %s; %s" % (
            bl.cpu_text(a.cpus["proxy"]), bl.cpu_text(a.cpus["origin"]),
            bl.cpu_text(a.cpus["load"]), a.cpus["why"]))
    else:
        bl.log("pinning: 1 thread: proxy on CPU %s; 2 threads: proxy on CPUs %s; wrk and origin "
               "on CPU %s" % (bl.CPU_PROXY, bl.CPU_PROXY_2T, bl.CPU_LOAD))
    bl.run_compare(a, "compare.py", "h1", ver, sluice_bin, origin_bin, cases, peers,
                   case_title, run_case, tables,
                   origin_cpu=bl.cpu_text(a.cpus["origin"]) if a.cpus else bl.CPU_LOAD,
                   origin_threads=len(a.cpus["origin"]) if a.cpus else 1)


if __name__ == "__main__":
    main()
