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
2. Deadlock scenario: server maxconn 1, limit 5, reserve 2, wrk -c300 for
   10 s as five 2-second windows; a window with 0 requests is a stall.

Pinning as in compare.py: proxy on CPU 0, wrk and origin on CPU 1.

Usage: memcap.py [--quick] [--head] [--runs N] [--duration S] [--out FILE.md] [--json FILE]
                 [--build DIR] [--no-haproxy]
"""
import argparse
import json
import os
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
    a = ap.parse_args()
    a.duration = a.duration or (3 if a.quick else 8)
    a.runs = a.runs or (1 if a.quick else 3)
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


def sluice_point(a, procs, sluice_bin, tmp, origin_port, limit):
    """Runs one Sluice point a.runs times, each in a fresh process. Returns
    the medians of the figures (errors summed, peak in use the largest)."""
    rs = []
    for i in range(a.runs):
        r = sluice_run(a, procs, sluice_bin, tmp, origin_port, limit)
        bl.log("    run %d of %d: %.0f req/s, p99 %s ms, %.3f calls/stream, load %.1f, "
               "others on CPU %s: %.0f%%" % (i + 1, a.runs, r["rps"], fmt(r["p99_ms"], 1),
                                             r["calls_per_stream"] or 0, r["load1"],
                                             bl.CPU_PROXY, r["foreign_cpu"] * 100))
        rs.append(r)
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
               conns=CONNS, name="sluice"):
    """Runs Sluice once at one point. Returns its figures."""
    port = bl.free_ports(1)[0]
    res = None if limit is None else reserve_for(limit)
    cfg = bl.write(os.path.join(tmp, name + ".cfg"),
                   bl.haproxy_cfg(port, origin_port, srv_maxconn, limit, res))
    p = bl.start_sluice(procs, sluice_bin, cfg, tmp, port, name)
    try:
        before = bl.sluice_stats(port)
        cpu0 = p.cpu_seconds()
        busy0, t0 = bl.cpu_busy(bl.CPU_PROXY), time.monotonic()
        r = bl.run_wrk("http://127.0.0.1:%d/size/%d" % (port, SIZE), conns, a.duration)
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
        "buf_waits", "queue_timeouts")}
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
                                  extra_global=["stats socket %s level admin" % sock]))
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
        cpu0 = p.cpu_seconds()
        sampler.start()
        r = bl.run_wrk("http://127.0.0.1:%d/size/%d" % (port, SIZE), conns, a.duration)
        done.set()
        sampler.join()
        cpu = p.cpu_seconds() - cpu0
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


def fmt(v, nd=0):
    return "-" if v is None else "%.*f" % (nd, v)


def hcols_of(h):
    """Returns the HAProxy cells of a sweep row."""
    if h is None:
        return "- | - | -"
    if "error" in h:
        return "refused: %s | - | -" % h["error"]
    if h["stalled"]:
        return "**stalled: served %d requests** (probe %s) | %s | %d / %d" % (
            h["requests"], "no answer" if h["probe"] is None else h["probe"],
            fmt(h["p99_ms"], 1), h["sock_errors"], h["non2xx"])
    return "%s | %s | %d / %d" % (fmt(h["rps"]), fmt(h["p99_ms"], 1), h["sock_errors"],
                                  h["non2xx"])


def tables(a, need, base, sweep, dl, extra=None):
    L = []
    L.append("### Memory-cap sweep: wrk -t1 -c%d, %d s per point, /size/%d, server maxconn 1000"
             % (CONNS, a.duration, SIZE))
    L.append("")
    L.append("Unconstrained need (Sluice pool_peak_in_use, largest of %d runs): **%d buffers** "
             "of 16 KiB. Reserve = limit/4 rounded (>= 1). Sluice: %d fresh process(es) per "
             "point, medians; HAProxy: one run per point. Max load average seen during Sluice "
             "runs: %.1f." % (a.runs, need, a.runs, max(s["load1_max"] for _, s, _ in sweep)))
    h0 = sweep[0][2] if sweep else None
    if h0 and h0.get("buf_peak_in_use") is not None:
        L.append("HAProxy's own unconstrained use, sampled every 0.25 s from `show pools`: at most "
                 "%d buffers in use by streams (%d allocated with thread caches). The limits below "
                 "are fractions of Sluice's need, applied to both." % (
                     h0["buf_peak_in_use"], h0["buf_peak_allocated"]))
    L.append("")
    L.append("| point | limit / reserve | Sluice req/s (median; runs) | p99 ms | errors (sock / non-2xx / 5xx)"
             " | calls/stream (x unconstr.) | handoffs | passes_on | failed allocs | peak RSS KiB"
             " | others on CPU 0 | HAProxy req/s | HAProxy p99 ms | HAProxy errors (sock / non-2xx) |")
    L.append("|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
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
    missing = bl.ensure_tools(("haproxy", "wrk"))
    if "wrk" in missing:
        sys.exit("wrk is required")
    with_haproxy = not a.no_haproxy and "haproxy" not in missing
    if a.head:
        a.build = bl.export_head()
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    ver = bl.versions(sluice_bin)
    procs = bl.ProcSet()
    sweep, dl, extra = [], [], None
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-memcap-") as tmp:
        try:
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            bl.log("memcap: unconstrained Sluice run (%d s, -c%d, /size/%d)" % (
                a.duration, CONNS, SIZE))
            base = sluice_point(a, procs, sluice_bin, tmp, origin_port, None)
            need = base["pool_peak_in_use"] or 0
            bl.log("  %.0f req/s, need %d buffers, %.3f stream calls per stream" % (
                base["rps"], need, base["calls_per_stream"] or 0))
            if need < 2:
                sys.exit("could not read pool_peak_in_use from Sluice's stats")
            pts = limits_for(need)
            for i, (label, limit) in enumerate(pts):
                s = base if limit is None else None
                if s is None:
                    bl.log("point %d of %d: limit %d reserve %d (%s): Sluice" % (
                        i + 1, len(pts), limit, reserve_for(limit), label))
                    s = sluice_point(a, procs, sluice_bin, tmp, origin_port, limit)
                    bl.log("  %.0f req/s, p99 %s ms, %.3f calls/stream, %s handoffs, %s failed" % (
                        s["rps"], fmt(s["p99_ms"], 1), s["calls_per_stream"] or 0,
                        s["pool_handoffs"], s["pool_failed"]))
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
        finally:
            procs.stop_all()
    text = tables(a, need, base, sweep, dl, extra)
    print()
    print(text)
    print("elapsed %.0f s" % (time.monotonic() - t0))
    if a.out:
        hdr = "<!-- written by bench/memcap.py on %s -->\n\n" % time.strftime("%Y-%m-%d %H:%M")
        bl.write(a.out, hdr + text)
    if a.json:
        bl.write(a.json, json.dumps({"versions": ver, "need": need, "sweep": sweep,
                                     "deadlock": dl, "haproxy_extra": extra}, indent=1, default=str))


if __name__ == "__main__":
    main()
