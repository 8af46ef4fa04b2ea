#!/usr/bin/env python3
"""tls_srv_resume.py - what TLS session resumption towards servers saves.

A Sluice (one thread, CPU 0) takes plain HTTP/1.1 keep-alive requests (wrk,
10 connections, CPU 1) and sends each over a NEW TLS 1.3 connection
(`option httpclose`) to its server: a second Sluice terminating TLS (one
thread, CPU 1, the same ECDSA P-256 certificate, verified with ca-file and
sni) in front of the origin (CPU 1). Two configurations, run after one
another in each round: the default (each thread resumes with the last
session the server gave it) and `no-ssl-reuse` (a full handshake every
time). Figures: the front proxy's CPU per request (its client side is plain,
so the difference is the server-side handshake), the TLS terminator's CPU
per request (the server's view), and the share of resumed handshakes
(tls_srv_resumed / tls_srv_handshakes). Medians over --runs.

Usage: tls_srv_resume.py [--runs N] [--duration S] [--build DIR] [--out FILE.md]
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

CASES = (("resume", ""), ("no-ssl-reuse", " no-ssl-reuse"))


def configs(tmp, pem, port, tls_port, origin_port, extra):
    """Writes the front proxy's and the terminator's configurations;
    returns their paths."""
    front = bl.write(os.path.join(tmp, "front.cfg"), f"""global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
    option httpclose
frontend f
    bind 127.0.0.1:{port}
    stats uri {bl.STATS_URI}
    default_backend b
backend b
    server s 127.0.0.1:{tls_port} ssl verify required ca-file {pem} sni str(bench.test){extra}
""")
    term = bl.write(os.path.join(tmp, "term.cfg"), f"""global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
frontend f
    bind 127.0.0.1:{tls_port} ssl crt {pem} alpn http/1.1 ssl-min-ver TLSv1.3
    default_backend b
backend b
    server o 127.0.0.1:{origin_port}
""")
    return front, term


def one_run(procs, sluice_bin, tmp, pem, origin_port, extra, seconds):
    port, tls_port, stats_port = bl.free_ports(3)
    front_cfg, term_cfg = configs(tmp, pem, port, tls_port, origin_port, extra)
    term = bl.start_sluice(procs, sluice_bin, term_cfg, tmp, tls_port, name="term",
                           cpu=bl.CPU_LOAD)
    front = bl.start_sluice(procs, sluice_bin, front_cfg, tmp, port, name="front")
    try:
        st0 = bl.sluice_stats(port)
        c0, t0 = front.cpu_seconds(), term.cpu_seconds()
        r = bl.run_wrk("http://127.0.0.1:%d/size/1024" % port, 10, seconds)
        c1, t1 = front.cpu_seconds(), term.cpu_seconds()
        st1 = bl.sluice_stats(port)
    finally:
        procs.stop(front)
        procs.stop(term)
    reqs = max(1, r.get("requests", 0))
    shakes = st1["tls_srv_handshakes"] - st0["tls_srv_handshakes"]
    return {"requests": r.get("requests", 0),
            "errors": r.get("errors_total", 0) + r.get("non2xx", 0),
            "front_us": 1e6 * (c1 - c0) / reqs, "term_us": 1e6 * (t1 - t0) / reqs,
            "resumed": (st1["tls_srv_resumed"] - st0["tls_srv_resumed"]) / max(1, shakes),
            "shakes_per_req": shakes / reqs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per run")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--out", help="write the table in Markdown to this file")
    a = ap.parse_args()
    bl.ensure_tools(("wrk",))
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    ver = bl.versions(sluice_bin)
    ver["openssl"] = bl.cmd_output(["openssl", "version"])
    procs = bl.ProcSet()
    res = {}
    with tempfile.TemporaryDirectory(prefix="sluice-tlsres-") as tmp:
        pem = bl.make_tls_cert(tmp)
        try:
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            for run in range(a.runs):
                for name, extra in CASES:
                    r = one_run(procs, sluice_bin, tmp, pem, origin_port, extra, a.duration)
                    res.setdefault(name, []).append(r)
                    bl.log("run %d %s: %d requests, %d errors, front %.1f us CPU/req, "
                           "terminator %.1f us CPU/req, %.0f %% resumed, %.2f handshakes/req" % (
                               run + 1, name, r["requests"], r["errors"], r["front_us"],
                               r["term_us"], 100 * r["resumed"], r["shakes_per_req"]))
        finally:
            procs.stop_all()
    lines = ["| server line | front proxy CPU / request | TLS server CPU / request "
             "| handshakes resumed | requests (last run) | errors |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, _ in CASES:
        rs = res[name]
        lines.append("| %s | %.1f us | %.1f us | %.0f %% | %d | %d |" % (
            name, bl.median([r["front_us"] for r in rs]), bl.median([r["term_us"] for r in rs]),
            100 * bl.median([r["resumed"] for r in rs]), rs[-1]["requests"],
            sum(r["errors"] for r in rs)))
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if a.out:
        bl.write(a.out, bl.header("tls_srv_resume.py", ver) + text)


if __name__ == "__main__":
    main()
