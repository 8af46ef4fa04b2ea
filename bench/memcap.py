#!/usr/bin/env python3
"""memcap.py - Sluice under a hard cap on buffers, HAProxy 2.6 beside it.

1. Sweep: a fixed load (wrk -t1 -c200, /size/16384, server maxconn 1000).
   An unconstrained Sluice run gives the need (pool_peak_in_use); then
   tune.buffers.limit goes from none down to well under half of it,
   including the seeds' ratio 27/58, with reserve = limit/4 rounded
   (at least 1, below the limit). Per point: req/s, p99, errors, stream
   calls per stream against the unconstrained run, hand-offs, passes-on,
   failed allocations. HAProxy runs the same configuration with a hard time
   cap; when it freezes the table says "stalled" and how much it served.
   HAProxy runs with `profiling.tasks on` so that `show profiling tasks`
   counts its process_stream calls: calls per request is then comparable
   to Sluice's stream calls per stream (the profiling costs HAProxy a few
   per cent of throughput).
2. Deadlock scenario: server maxconn 1, limit 5, reserve 2, wrk -c300 for
   10 s as five 2-second windows; a window with 0 requests is a stall.
3. Mixed deadlock scenario (Sluice): the same server maxconn 1, limit 5,
   reserve 2, with HTTP/1.1 clients (wrk -c200) on one listener and HTTP/2
   clients (h2load -c4 -m25) on a `bind ... proto h2` listener of the same
   Sluice, until --mixed-sessions sessions completed or --mixed-seconds
   passed. Completions are read every second from Sluice's counters; a
   stall is a one-second window with no completion while clients run.
4. 1 MiB objects (runs first): wrk -t1 -c50 on /size/1048576 with no limit,
   limit 16 and limit 6, each with and without `option splice-auto`:
   throughput, proxy CPU per request, peak buffers, share spliced.
   --large-only runs just these.

Pinning as in compare.py: proxy on CPU 0, wrk and origin on CPU 1.

Usage: memcap.py [--quick] [--head] [--runs N] [--duration S] [--out FILE.md] [--json FILE]
                 [--build DIR] [--no-haproxy] [--mixed-sessions N] [--mixed-seconds S]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SIZE = 16384
CONNS = 200
SEED_RATIO = 27 / 58
FRACTIONS = (1.0, 0.75, 0.5, SEED_RATIO, 0.35, 0.25, 0.15, 0.1)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 s per point instead of 8")
    ap.add_argument("--duration", type=int, help="seconds per point (default 8, quick 3)")
    ap.add_argument("--runs", type=int, help="Sluice runs per point, medians (default 3, quick 1)")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--head", action="store_true",
                    help="build and measure a clean export of the committed HEAD instead")
    ap.add_argument("--no-haproxy", action="store_true", help="Sluice only")
    ap.add_argument("--out", help="write the tables in Markdown to this file")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--mixed-sessions", type=int,
                    help="mixed scenario: sessions to complete (default 1000000, quick 100000)")
    ap.add_argument("--large-only", action="store_true",
                    help="only the 1 MiB-object runs with and without splicing")
    ap.add_argument("--mixed-seconds", type=int,
                    help="mixed scenario: time bound (default 600, quick 30)")
    a = ap.parse_args()
    a.duration = a.duration or (3 if a.quick else 8)
    a.runs = a.runs or (1 if a.quick else 3)
    a.mixed_sessions = a.mixed_sessions or (100000 if a.quick else 1000000)
    a.mixed_seconds = a.mixed_seconds or (30 if a.quick else 600)
    return a


def reserve_for(limit):
    """Returns the reserve of a limit: a quarter, rounded, in [1, limit-1]."""
    return max(1, min(limit - 1, int(limit / 4 + 0.5)))


def limits_for(need):
    """Returns the sweep's (label, limit) points, None first (no limit)."""
    pts, seen = [("none", None)], set()
    for f in FRACTIONS:
        lim = max(2, int(round(need * f)))
        if lim in seen:
            continue
        seen.add(lim)
        label = "27/58 of need" if f == SEED_RATIO else "%.0f%% of need" % (f * 100)
        pts.append((label, lim))
    return pts


def delta(after, before, key):
    if not after or not before:
        return None
    return after.get(key, 0) - before.get(key, 0)


def log_run(a, i, r):
    """Prints the figures of Sluice's run <i> at one point."""
    bl.log("    run %d of %d: %.0f req/s, p99 %s ms, %.3f calls/stream, load %.1f, "
           "others on CPU %s: %.0f%%" % (i + 1, a.runs, r["rps"], fmt(r["p99_ms"], 1),
                                         r["calls_per_stream"] or 0, r["load1"],
                                         bl.CPU_PROXY, r["foreign_cpu"] * 100))


def sluice_point(a, procs, sluice_bin, tmp, origin_port, limit):
    """Runs one Sluice point a.runs times, each in a fresh process. Returns
    the medians of the figures (see point_medians)."""
    rs = []
    for i in range(a.runs):
        rs.append(sluice_run(a, procs, sluice_bin, tmp, origin_port, limit))
        log_run(a, i, rs[-1])
    return point_medians(rs)


def sluice_sweep(a, procs, sluice_bin, tmp, origin_port, pts):
    """Runs every point of <pts> (label, limit) a.runs times, one fresh
    process per run, the points interleaved (run 1 of every point, then
    run 2 of every point...): a noisy neighbour of a few seconds then hurts
    one run of several points, not every run of one point, and the medians
    compare points measured at the same times. Returns the medians per
    point, in the order of <pts>."""
    runs = [[] for _ in pts]
    for i in range(a.runs):
        for j, (label, limit) in enumerate(pts):
            bl.log("round %d of %d, point %d of %d: limit %s (%s): Sluice" % (
                i + 1, a.runs, j + 1, len(pts), limit if limit else "none", label))
            runs[j].append(sluice_run(a, procs, sluice_bin, tmp, origin_port, limit))
            log_run(a, i, runs[j][-1])
    return [point_medians(rs) for rs in runs]


def point_medians(rs):
    """Returns the medians of the figures of runs <rs> at one point (errors
    summed, peak in use the largest)."""
    out = dict(rs[0])
    for k in ("rps", "p50_ms", "p99_ms", "calls_per_stream", "pool_handoffs", "pool_passes_on",
              "pool_failed", "pool_waits_total", "rss_kb", "cpu_us_per_req", "foreign_cpu"):
        out[k] = bl.median([r.get(k) for r in rs])
    for k in ("requests", "sock_errors", "timeouts", "non2xx", "rsp_errors", "rsp_5xx",
              "req_aborted", "queue_timeouts"):
        out[k] = sum(r.get(k) or 0 for r in rs)
    out["pool_peak_in_use"] = max(r.get("pool_peak_in_use") or 0 for r in rs)
    out["alive"] = all(r["alive"] for r in rs)
    out["load1_max"] = max(r["load1"] for r in rs)
    out["all_rps"] = [round(r["rps"]) for r in rs]
    return out


def sluice_run(a, procs, sluice_bin, tmp, origin_port, limit, srv_maxconn=1000,
               conns=CONNS, name="sluice", size=SIZE, splice=False):
    """Runs Sluice once at one point (objects of <size> bytes, `option
    splice-auto` when <splice>). Returns its figures."""
    port = bl.free_ports(1)[0]
    res = None if limit is None else reserve_for(limit)
    cfg = bl.write(os.path.join(tmp, name + ".cfg"),
                   bl.haproxy_cfg(port, origin_port, srv_maxconn, limit, res, splice=splice))
    p = bl.start_sluice(procs, sluice_bin, cfg, tmp, port, name)
    try:
        before = bl.sluice_stats(port)
        cpu0 = p.cpu_seconds()
        busy0, t0 = bl.cpu_busy(bl.CPU_PROXY), time.monotonic()
        r = bl.run_wrk("http://127.0.0.1:%d/size/%d" % (port, size), conns, a.duration)
        cpu = p.cpu_seconds() - cpu0
        r["foreign_cpu"] = max(0.0, bl.cpu_busy(bl.CPU_PROXY) - busy0 - cpu) / (
            time.monotonic() - t0)
        r["load1"] = bl.loadavg()
        after = bl.sluice_stats(port)
        alive = p.alive()
        rss = p.peak_rss_kb()
    finally:
        procs.stop(p)
    d = {k: delta(after, before, k) for k in (
        "streams", "stream_calls", "rsp_sent", "rsp_errors", "rsp_5xx", "req_aborted",
        "pool_handoffs", "pool_passes_on", "pool_failed", "pool_waits_total", "pool_notifies",
        "buf_waits", "queue_timeouts", "spliced_bytes", "pipes_failed")}
    r.pop("raw", None)
    r.update(d)
    r["limit"], r["reserve"] = limit, res
    r["alive"] = alive
    r["rss_kb"] = rss
    r["pool_peak_in_use"] = after.get("pool_peak_in_use") if after else None
    r["cpu_us_per_req"] = cpu * 1e6 / r["requests"] if r["requests"] else None
    r["calls_per_stream"] = (d["stream_calls"] / d["streams"]) if d["streams"] else None
    return r


def haproxy_point(a, procs, tmp, origin_port, limit, srv_maxconn=1000, conns=CONNS):
    """Runs one HAProxy point with a hard time cap (wrk's duration plus a
    3 s probe afterwards). Returns its figures, with 'stalled' set when it
    served nothing in the run or did not answer the probe."""
    port = bl.free_ports(1)[0]
    res = None if limit is None else reserve_for(limit)
    sock = os.path.join(tmp, "haproxy.sock")
    cfg = bl.write(os.path.join(tmp, "haproxy.cfg"),
                   bl.haproxy_cfg(port, origin_port, srv_maxconn, limit, res, stats=False,
                                  extra_global=["stats socket %s level admin" % sock,
                                                "profiling.tasks on"]))
    try:
        p = bl.start_haproxy(procs, cfg, tmp, port)
    except RuntimeError as e:
        return {"limit": limit, "reserve": res, "error": str(e).splitlines()[0]}
    # HAProxy has no peak counter: sample its buffer pool during the run
    samples, done = [], threading.Event()

    def sample():
        while not done.wait(0.25):
            b = bl.haproxy_buffers(sock)
            if b:
                samples.append(b)
    sampler = threading.Thread(target=sample, daemon=True)
    try:
        calls0, req0 = bl.haproxy_stream_calls(sock)
        cpu0 = p.cpu_seconds()
        sampler.start()
        r = bl.run_wrk("http://127.0.0.1:%d/size/%d" % (port, SIZE), conns, a.duration)
        done.set()
        sampler.join()
        cpu = p.cpu_seconds() - cpu0
        calls1, req1 = bl.haproxy_stream_calls(sock)
        if None not in (calls0, req0, calls1, req1) and req1 > req0 and r["requests"]:
            r["calls_per_stream"] = (calls1 - calls0) / (req1 - req0)
        # in use by streams = used minus what sits in the thread caches
        r["buf_peak_in_use"] = max((u - c for _, u, c in samples), default=None)
        r["buf_peak_allocated"] = max((al for al, _, _ in samples), default=None)
        # wrk's connections are gone now: a healthy proxy answers at once
        r["probe"] = bl.probe(port, "/size/%d" % SIZE, timeout=3.0)
        r["rss_kb"] = p.peak_rss_kb()
    finally:
        done.set()
        procs.stop(p)
    r.pop("raw", None)
    r["limit"], r["reserve"] = limit, res
    r["cpu_us_per_req"] = cpu * 1e6 / r["requests"] if r["requests"] else None
    r["stalled"] = r["requests"] == 0 or r["probe"] is None
    return r


def windows(a, procs, port, conns, count, seconds):
    """Runs wrk <count> times for <seconds> each. Returns the list of results."""
    out = []
    for i in range(count):
        r = bl.run_wrk("http://127.0.0.1:%d/size/%d" % (port, SIZE), conns, seconds)
        r.pop("raw", None)
        bl.log("      window %d of %d: %d requests, %d socket errors (%d timeouts), %d non-2xx"
               % (i + 1, count, r["requests"], r["sock_errors"], r["timeouts"], r["non2xx"]))
        out.append(r)
    return out


def deadlock(a, procs, sluice_bin, tmp, origin_port, peer):
    """The maxconn 1 scenario for <peer>. Returns its figures."""
    port = bl.free_ports(1)[0]
    limit, res, conns = 5, 2, 300
    cfg = bl.write(os.path.join(tmp, "deadlock-%s.cfg" % peer),
                   bl.haproxy_cfg(port, origin_port, 1, limit, res, stats=(peer == "sluice")))
    if peer == "sluice":
        p = bl.start_sluice(procs, sluice_bin, cfg, tmp, port, "sluice-deadlock")
    else:
        p = bl.start_haproxy(procs, cfg, tmp, port, "haproxy-deadlock")
    try:
        before = bl.sluice_stats(port) if peer == "sluice" else None
        ws = windows(a, procs, port, conns, 5, 2)
        probe = bl.probe(port, "/size/%d" % SIZE, timeout=3.0)
        after = bl.sluice_stats(port) if peer == "sluice" else None
        alive = p.alive()
    finally:
        procs.stop(p)
    r = {"peer": peer, "windows": [w["requests"] for w in ws],
         "requests": sum(w["requests"] for w in ws),
         "sock_errors": sum(w["sock_errors"] for w in ws),
         "timeouts": sum(w["timeouts"] for w in ws),
         "non2xx": sum(w["non2xx"] for w in ws),
         "stalled_windows": sum(1 for w in ws if w["requests"] == 0),
         "probe": probe, "alive": alive}
    if after:
        for k in ("rsp_sent", "rsp_2xx", "rsp_errors", "rsp_5xx", "req_aborted", "queue_timeouts",
                  "queued_total", "pool_handoffs", "pool_passes_on", "pool_failed",
                  "pool_waits_total", "streams", "stream_calls"):
            r[k] = delta(after, before, k)
        r["pool_peak_in_use"] = after.get("pool_peak_in_use")
        r["conn_current_after"] = after.get("conn_current")
    return r


def mixed_deadlock(a, procs, sluice_bin, tmp, origin_port):
    """The maxconn 1 scenario with HTTP/1.1 and HTTP/2 clients at once on
    one Sluice. Returns its figures, with the per-second completions."""
    h1_port, h2_port = bl.free_ports(2)
    limit, res = 5, 2
    cfg = bl.write(os.path.join(tmp, "mixed.cfg"), bl.haproxy_cfg(
        h1_port, origin_port, 1, limit, res, h2_port=h2_port))
    p = bl.start_sluice(procs, sluice_bin, cfg, tmp, h1_port, "sluice-mixed")
    bound = a.mixed_seconds
    url = "/size/%d" % SIZE
    clients = []
    per_second, stalls, polls_failed = [], 0, 0
    try:
        before = bl.sluice_stats(h1_port)
        clients.append(subprocess.Popen(
            bl.wrk_argv("http://127.0.0.1:%d%s" % (h1_port, url), 200, bound, timeout_s=15),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        clients.append(subprocess.Popen(
            bl.h2load_argv("http://127.0.0.1:%d%s" % (h2_port, url), 4, 25, bound),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        t0 = time.monotonic()
        last, last_t, done = before["rsp_sent"], t0, 0
        last_h2 = before["h2_streams"]
        while time.monotonic() - t0 < bound + 5:
            time.sleep(1.0)
            st = bl.sluice_stats(h1_port, timeout=2.0)
            now = time.monotonic()
            active = all(c.poll() is None for c in clients)
            if st is None:
                polls_failed += 1
                continue
            n = st["rsp_sent"] - last
            per_second.append({"t": round(now - t0, 2), "completed": n,
                               "h2_streams": st["h2_streams"] - last_h2,
                               "seconds": round(now - last_t, 3), "clients_active": active})
            if n == 0 and active:
                stalls += 1
            last, last_t, last_h2 = st["rsp_sent"], now, st["h2_streams"]
            done = st["rsp_sent"] - before["rsp_sent"]
            if len(per_second) % 10 == 0:
                bl.log("    %.0f s: %d sessions completed, last second %d" % (
                    now - t0, done, n))
            if done >= a.mixed_sessions or not active:
                break
        elapsed = time.monotonic() - t0
        for c in clients:
            if c.poll() is None:
                c.send_signal(signal.SIGINT)   # wrk prints its summary on SIGINT
        outs = []
        for c in clients:
            try:
                out, _ = c.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                c.kill()
                out, _ = c.communicate()
            outs.append(out.decode(errors="replace"))
        time.sleep(0.5)
        probe = bl.probe(h1_port, url, timeout=3.0)
        after = bl.sluice_stats(h1_port)
        alive = p.alive()
        rss = p.peak_rss_kb()
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
        procs.stop(p)
    w = bl.parse_wrk(outs[0])
    r = {"limit": limit, "reserve": res, "elapsed_s": elapsed, "target": a.mixed_sessions,
         "bound_s": bound, "per_second": per_second, "stalled_seconds": stalls,
         "polls_failed": polls_failed, "probe": probe, "alive": alive, "rss_kb": rss,
         "wrk_requests": w["requests"], "wrk_sock_errors": w["sock_errors"],
         "wrk_non2xx": w["non2xx"], "wrk_timeouts": w["timeouts"],
         "h2load_tail": outs[1][-600:]}
    for k in ("rsp_sent", "rsp_2xx", "rsp_errors", "rsp_5xx", "req_aborted", "queue_timeouts",
              "streams", "stream_calls", "h2_streams", "h2_resets", "pool_handoffs",
              "pool_passes_on", "pool_failed"):
        r[k] = delta(after, before, k)
    r["pool_peak_in_use"] = after.get("pool_peak_in_use") if after else None
    # counted from the per-second polls when the counters after the run are missing
    r["sessions"] = r["rsp_sent"] if r["rsp_sent"] is not None else sum(
        x["completed"] for x in per_second)
    r["h2_stalled_seconds"] = sum(1 for x in per_second
                                  if x["clients_active"] and x["h2_streams"] == 0)
    r["after_stats_answered"] = after is not None
    r["min_per_second"] = min((x["completed"] / x["seconds"] for x in per_second
                               if x["clients_active"]), default=None)
    return r


def mixed_table(m):
    L = ["", "### Mixed deadlock scenario: HTTP/1.1 (wrk -c200) and HTTP/2 (h2load -c4 -m25) "
         "at once, server maxconn 1, limit %d, reserve %d" % (m["limit"], m["reserve"]), "",
         "| target | ran | sessions completed (H1 / H2) | responses 2xx / 5xx / errors"
         " | aborted / queue timeouts | stalled seconds | slowest second | stats polls failed"
         " | calls/stream | hand-offs / passes_on | probe after |",
         "|---|---:|---|---|---|---:|---:|---:|---:|---|---|"]
    # H1 = what wrk completed; H2 = the rest (h2load is interrupted, it
    # prints no summary)
    sent = m["sessions"]
    h2 = max(0, sent - m["wrk_requests"])
    calls = (m["stream_calls"] / m["streams"]) if m["streams"] else None
    L.append("| %d sessions or %d s | %.0f s | %d (%d / %d) | %s / %s / %s | %s / %s | %d | %s/s"
             " | %d | %s | %s / %s | %s |" % (
                 m["target"], m["bound_s"], m["elapsed_s"], sent, sent - h2, h2, m["rsp_2xx"],
                 m["rsp_5xx"], m["rsp_errors"], m["req_aborted"], m["queue_timeouts"],
                 m["stalled_seconds"], fmt(m["min_per_second"]), m["polls_failed"],
                 fmt(calls, 3), m["pool_handoffs"], m["pool_passes_on"],
                 "no answer in 3 s" if m["probe"] is None else m["probe"]))
    L.append("")
    L.append("wrk: %d requests, %d socket errors (%d timeouts), %d non-2xx; h2 streams reset "
             "by Sluice: %s; Sluice peak RSS %s KiB. Completions per second: %s." % (
                 m["wrk_requests"], m["wrk_sock_errors"], m["wrk_timeouts"], m["wrk_non2xx"],
                 m["h2_resets"], fmt(m["rss_kb"]),
                 " ".join("%d" % x["completed"] for x in m["per_second"][:90])))
    if not m["after_stats_answered"]:
        L.append("")
        L.append("**After the clients stopped, Sluice answered neither the stats URI nor the "
                 "probe** (process alive: %s): the counters after the run are missing." % (
                     m["alive"]))
    L.append("")
    return "\n".join(L)


def fmt(v, nd=0):
    return "-" if v is None else "%.*f" % (nd, v)


def hcols_of(h):
    """Returns the HAProxy cells of a sweep row."""
    if h is None:
        return "- | - | - | -"
    if "error" in h:
        return "refused: %s | - | - | -" % h["error"]
    calls = fmt(h.get("calls_per_stream"), 3)
    if h["stalled"]:
        return "**stalled: served %d requests** (probe %s) | %s | %d / %d | %s" % (
            h["requests"], "no answer" if h["probe"] is None else h["probe"],
            fmt(h["p99_ms"], 1), h["sock_errors"], h["non2xx"], calls)
    return "%s | %s | %d / %d | %s" % (fmt(h["rps"]), fmt(h["p99_ms"], 1), h["sock_errors"],
                                       h["non2xx"], calls)


LARGE = 1 << 20
LARGE_CONNS = 50
LARGE_LIMITS = (None, 16, 6)


def large_runs(a, procs, sluice_bin, tmp, origin_port):
    """The 1 MiB-object runs: wrk -c50 on /size/1048576 at a few limits,
    with and without `option splice-auto`, the runs interleaved like the
    sweep's. Returns [(splice, limit, medians)]."""
    pts = [(sp, lim) for lim in LARGE_LIMITS for sp in (False, True)]
    runs = [[] for _ in pts]
    for i in range(a.runs):
        for j, (sp, lim) in enumerate(pts):
            bl.log("1 MiB round %d of %d: limit %s, splice %s" % (
                i + 1, a.runs, lim if lim else "none", "on" if sp else "off"))
            runs[j].append(sluice_run(a, procs, sluice_bin, tmp, origin_port, lim,
                                      conns=LARGE_CONNS, size=LARGE, splice=sp))
            log_run(a, i, runs[j][-1])
    out = []
    for (sp, lim), rs in zip(pts, runs):
        m = point_medians(rs)
        m["spliced_share"] = bl.median([(r.get("spliced_bytes") or 0) / (r["requests"] * LARGE)
                                        for r in rs if r.get("requests")])
        m["pipes_failed"] = sum(r.get("pipes_failed") or 0 for r in rs)
        out.append((sp, lim, m))
    return out


def large_table(a, large):
    L = ["### 1 MiB objects with and without splicing: wrk -t1 -c%d, %d s per point, /size/%d, "
         "server maxconn 1000" % (LARGE_CONNS, a.duration, LARGE), "",
         "Sluice only (%d fresh process(es) per point, interleaved, medians). Spliced: the "
         "share of the body bytes sent that went through pipes." % a.runs, "",
         "| limit / reserve | splice-auto | req/s (runs) | p99 ms | proxy CPU us/req "
         "| errors (sock / non-2xx / 5xx) | peak buffers in use | failed allocs | spliced "
         "| pipe failures |",
         "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for sp, lim, s in large:
        share = s.get("spliced_share") or 0
        L.append("| %s | %s | %s (%s) | %s | %s | %d / %d / %s | %s | %s | %.0f%% | %s |" % (
            "none" if lim is None else "%d / %d" % (lim, reserve_for(lim)), "on" if sp else "off",
            fmt(s["rps"]), " ".join(str(x) for x in s["all_rps"]), fmt(s["p99_ms"], 1),
            fmt(s["cpu_us_per_req"], 1), s["sock_errors"], s["non2xx"], fmt(s["rsp_5xx"]),
            fmt(s["pool_peak_in_use"]), fmt(s["pool_failed"]), share * 100,
            fmt(s["pipes_failed"])))
    L.append("")
    return "\n".join(L)


def tables(a, need, base, sweep, dl, extra=None):
    L = []
    L.append("### Memory-cap sweep: wrk -t1 -c%d, %d s per point, /size/%d, server maxconn 1000"
             % (CONNS, a.duration, SIZE))
    L.append("")
    L.append("Unconstrained need (Sluice pool_peak_in_use, largest of %d calibration runs): "
             "**%d buffers** of 16 KiB. Reserve = limit/4 rounded (>= 1). Sluice: %d fresh "
             "process(es) per point, the points interleaved (round 1 of every point, then round "
             "2...), medians; HAProxy: one run per point, after Sluice's. Max load average seen "
             "during Sluice runs: %.1f." % (a.runs, need, a.runs,
                                           max(s["load1_max"] for _, s, _ in sweep)))
    h0 = sweep[0][2] if sweep else None
    if h0 and h0.get("buf_peak_in_use") is not None:
        L.append("HAProxy's own unconstrained use, sampled every 0.25 s from `show pools`: at most "
                 "%d buffers in use by streams (%d allocated with thread caches). The limits below "
                 "are fractions of Sluice's need, applied to both." % (
                     h0["buf_peak_in_use"], h0["buf_peak_allocated"]))
    L.append("")
    L.append("| point | limit / reserve | Sluice req/s (median; runs) | p99 ms | errors (sock / non-2xx / 5xx)"
             " | calls/stream (x unconstr.) | handoffs | passes_on | failed allocs | peak RSS KiB"
             " | others on CPU 0 | HAProxy req/s | HAProxy p99 ms | HAProxy errors (sock / non-2xx)"
             " | HAProxy process_stream calls/request |")
    L.append("|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    base_cps = base["calls_per_stream"]
    for label, s, h in sweep:
        lim = "none" if s["limit"] is None else "%d / %d" % (s["limit"], s["reserve"])
        cps = s["calls_per_stream"]
        rel = "%.3f (x%.2f)" % (cps, cps / base_cps) if cps and base_cps else "-"
        hcols = hcols_of(h)
        L.append("| %s | %s | %s | %s | %d / %d / %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, lim, "%s (%s)" % (fmt(s["rps"]), " ".join(str(x) for x in s["all_rps"])),
            fmt(s["p99_ms"], 1), s["sock_errors"], s["non2xx"],
            fmt(s["rsp_5xx"]), rel, fmt(s["pool_handoffs"]), fmt(s["pool_passes_on"]),
            fmt(s["pool_failed"]), fmt(s["rss_kb"]),
            fmt(s["foreign_cpu"] * 100 if s.get("foreign_cpu") is not None else None) + "%", hcols))
    if extra:
        L.append("| HAProxy only: 2x its own sampled peak | %d / %d | - | - | - | - | - | - | - | - | - | %s |"
                 % (extra["limit"], extra["reserve"], hcols_of(extra)))
    L.append("")
    L.append("### Deadlock scenario: server maxconn 1, limit 5, reserve 2, wrk -t1 -c300, "
             "5 windows of 2 s")
    L.append("")
    L.append("| peer | requests per 2 s window | total | stalled windows | socket errors (timeouts)"
             " | non-2xx | responses sent / 5xx / queue timeouts | handoffs / passes_on / failed"
             " | probe after |")
    L.append("|---|---|---:|---:|---|---:|---|---|---|")
    for r in dl:
        extra = "-"
        pool = "-"
        if "rsp_sent" in r:
            extra = "%s / %s / %s" % (r["rsp_sent"], r["rsp_5xx"], r["queue_timeouts"])
            pool = "%s / %s / %s" % (r["pool_handoffs"], r["pool_passes_on"], r["pool_failed"])
        L.append("| %s | %s | %d | %d | %d (%d) | %d | %s | %s | %s |" % (
            "Sluice" if r["peer"] == "sluice" else "HAProxy 2.6",
            " ".join(str(x) for x in r["windows"]), r["requests"], r["stalled_windows"],
            r["sock_errors"], r["timeouts"], r["non2xx"], extra, pool,
            "no answer in 3 s" if r["probe"] is None else r["probe"]))
    L.append("")
    return "\n".join(L)


def main():
    a = parse_args()
    missing = bl.ensure_tools(("haproxy", "wrk", "h2load"))
    if "wrk" in missing:
        sys.exit("wrk is required")
    with_haproxy = not a.no_haproxy and "haproxy" not in missing
    if a.head:
        a.build = bl.export_head()
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    ver = bl.versions(sluice_bin)
    procs = bl.ProcSet()
    sweep, dl, extra, mixed, large = [], [], None, None, []
    need, base = 0, None
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-memcap-") as tmp:
        try:
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            large = large_runs(a, procs, sluice_bin, tmp, origin_port)
            if a.large_only:
                raise StopIteration
            bl.log("memcap: unconstrained Sluice run (%d s, -c%d, /size/%d)" % (
                a.duration, CONNS, SIZE))
            calib = sluice_point(a, procs, sluice_bin, tmp, origin_port, None)
            need = calib["pool_peak_in_use"] or 0
            bl.log("  %.0f req/s, need %d buffers, %.3f stream calls per stream" % (
                calib["rps"], need, calib["calls_per_stream"] or 0))
            if need < 2:
                sys.exit("could not read pool_peak_in_use from Sluice's stats")
            pts = limits_for(need)
            # the calibration runs only measure the need: the unconstrained
            # point is measured again, interleaved with the capped ones
            medians = sluice_sweep(a, procs, sluice_bin, tmp, origin_port, pts)
            base = medians[[limit for _, limit in pts].index(None)]
            base["pool_peak_in_use"] = max(need, base["pool_peak_in_use"] or 0)
            for i, (label, limit) in enumerate(pts):
                s = medians[i]
                bl.log("point %d of %d (%s): %.0f req/s, p99 %s ms, %.3f calls/stream, "
                       "%s handoffs, %s failed" % (
                           i + 1, len(pts), label, s["rps"], fmt(s["p99_ms"], 1),
                           s["calls_per_stream"] or 0, s["pool_handoffs"], s["pool_failed"]))
                h = None
                if with_haproxy:
                    bl.log("point %d of %d: limit %s (%s): HAProxy (hard cap %d s)" % (
                        i + 1, len(pts), limit, label, a.duration + 18))
                    h = haproxy_point(a, procs, tmp, origin_port, limit)
                    if "error" in h:
                        bl.log("  refused: " + h["error"])
                    else:
                        bl.log("  %.0f req/s, %d requests%s" % (
                            h["rps"], h["requests"], " STALLED" if h["stalled"] else ""))
                sweep.append((label, s, h))
            h0 = sweep[0][2]
            if h0 and h0.get("buf_peak_allocated"):
                # is a freeze only a matter of a cap below HAProxy's own need?
                lim = 2 * h0["buf_peak_allocated"]
                bl.log("extra point: HAProxy at limit %d (2x its own sampled peak)" % lim)
                h = haproxy_point(a, procs, tmp, origin_port, lim)
                bl.log("  %.0f req/s, %d requests%s" % (
                    h.get("rps", 0), h.get("requests", 0), " STALLED" if h.get("stalled") else ""))
                extra = h
            for peer in ("sluice", "haproxy") if with_haproxy else ("sluice",):
                bl.log("deadlock scenario: %s, maxconn 1, limit 5 reserve 2, -c300, 5 x 2 s" % peer)
                dl.append(deadlock(a, procs, sluice_bin, tmp, origin_port, peer))
            if bl.tool("h2load"):
                bl.log("mixed deadlock scenario: Sluice, H1 + H2 clients, maxconn 1, limit 5 "
                       "reserve 2, until %d sessions or %d s" % (a.mixed_sessions,
                                                                 a.mixed_seconds))
                mixed = mixed_deadlock(a, procs, sluice_bin, tmp, origin_port)
                bl.log("  %d sessions in %.0f s, %d stalled seconds" % (
                    mixed["rsp_sent"] or 0, mixed["elapsed_s"], mixed["stalled_seconds"]))
        except StopIteration:
            pass
        finally:
            procs.stop_all()
    text = "" if a.large_only else tables(a, need, base, sweep, dl, extra) + (
        mixed_table(mixed) if mixed else "")
    text += large_table(a, large)
    print()
    print(text)
    print("elapsed %.0f s" % (time.monotonic() - t0))
    if a.out:
        bl.write(a.out, bl.header("memcap.py", ver) + text)
    if a.json:
        bl.write(a.json, json.dumps({"args": vars(a), "versions": ver, "need": need,
                                     "sweep": sweep, "deadlock": dl, "haproxy_extra": extra,
                                     "mixed": mixed, "large": large}, indent=1, default=str))


if __name__ == "__main__":
    main()
