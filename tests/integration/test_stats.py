"""test_stats.py - the stats applet: JSON, Prometheus and HTML checked
against known traffic, the HTML page rendered by a real browser (headless
Chromium), and the page still answering under a tiny buffer limit while
hundreds of clients load the proxy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

import harness
import proxylib as pl

KNOWN = 37  # requests the tests send before reading the counters


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)


def teardown_module(ctx):
    ctx.origin.stop()


def fresh_proxy(ctx, name, **kw):
    return pl.start_sluice(ctx, lambda p: pl.make_config(
        p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 10"], **kw), name=name)


def send_known_traffic(port):
    for i in range(KNOWN - 2):
        r = harness.curl([f"http://127.0.0.1:{port}/size/{100 + i}"])
        assert r.status == 200
    assert harness.curl([f"http://127.0.0.1:{port}/status/404"]).status == 404
    assert harness.raw_request(port, b"BAD\r\n\r\n", read_until_close=True).startswith(b"HTTP/1.1 400")


def prom_value(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} missing"
    return float(m.group(1))


def test_json_and_prometheus_match_traffic(ctx):
    proxy, port = fresh_proxy(ctx, "counts")
    send_known_traffic(port)
    s = pl.wait_quiet(port)
    # KNOWN requests plus the stats request being answered
    assert s["req_received"] == KNOWN + 1, s
    assert s["rsp_sent"] == KNOWN - 1 and s["rsp_errors"] == 1, s
    assert s["rsp_2xx"] == KNOWN - 2 + 0 and s["rsp_4xx"] == 2, s  # 404 forwarded + our 400
    assert s["bad_requests"] == 1 and s["pool_in_use"] == 0, s
    full = json.loads(harness.curl([f"http://127.0.0.1:{port}{pl.STATS_URI}?json"]).body)
    assert full["backends"] and full["pool"], full.keys()
    prom = harness.curl([f"http://127.0.0.1:{port}{pl.STATS_URI}?prom"])
    assert prom.status == 200, prom
    text = prom.body.decode()
    assert prom_value(text, "sluice_requests_total") == KNOWN + 3  # two stats reads more
    assert prom_value(text, "sluice_streams_total") == KNOWN + 3
    assert prom_value(text, "sluice_stream_calls_total") >= KNOWN
    # the exposition grammar, and one HELP and one TYPE per family
    helps = re.findall(r"^# HELP (\S+) ", text, re.M)
    types = re.findall(r"^# TYPE (\S+) (counter|gauge|untyped|histogram|summary)$", text, re.M)
    assert len(helps) == len(set(helps)) == len(types), (len(helps), len(types))
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+$', line), line
            assert line.startswith("sluice_"), line
    assert proxy.stop() == 0


@harness.timeout(90)
def test_html_page_in_headless_chromium(ctx):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise harness.Skip("chromium is not installed")
    proxy, port = fresh_proxy(ctx, "browser")
    send_known_traffic(port)
    url = f"http://127.0.0.1:{port}{pl.STATS_URI}?html"
    # kept in the build directory as evidence, whatever the outcome
    outdir = os.path.join(ctx.build_dir, "test-artifacts")
    os.makedirs(outdir, exist_ok=True)
    shot = os.path.join(outdir, "stats-page.png")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=ctx.tmpdir)
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", f"--user-data-dir={profile}"]
    cp = subprocess.run(common + ["--dump-dom", url], capture_output=True, timeout=60)
    dom = cp.stdout.decode(errors="replace")
    assert "<title>Sluice statistics</title>" in dom, dom[:500]
    assert "Buffer pool" in dom and "s1" in dom and "UP" in dom, dom[:2000]
    # the DOM the browser built shows the traffic we sent
    m = re.search(r"Requests received</td><td>(\d+)</td>", dom)
    assert m and int(m.group(1)) >= KNOWN, (m and m.group(0))
    cp = subprocess.run(common + ["--window-size=1200,1400", f"--screenshot={shot}", url],
                        capture_output=True, timeout=60)
    assert os.path.getsize(shot) > 10000, cp.stderr[-500:]
    print(f"    screenshot: {shot}")
    assert proxy.stop() == 0


@harness.timeout(120)
def test_stats_answers_under_tiny_limit_and_load(ctx):
    proxy, port = fresh_proxy(ctx, "statsload",
                              global_extra="    tune.buffers.limit 6\n    tune.buffers.reserve 2",
                              defaults_extra="    timeout queue 60s")
    done = {}

    def load():
        done["res"] = pl.keepalive_load(port, pl.scale(300, 100), 5, "/size/20000",
                                        expect_len=20000, timeout=90)

    t = threading.Thread(target=load)
    t.start()
    answered = 0
    try:
        for fmt in ("json", "prom", "html", "json", "prom"):
            r = harness.curl([f"http://127.0.0.1:{port}{pl.STATS_URI}?{fmt}"], timeout=30)
            assert r.status == 200 and len(r.body) > 500, (fmt, r)
            answered += 1
    finally:
        t.join(100)
    assert answered == 5
    res = done["res"]
    assert not res["bad"] and res["stuck"] == 0, res
    s = pl.wait_quiet(port, timeout=20)
    assert s["pool_in_use"] == 0 and s["req_aborted"] == 0, s
    assert proxy.stop() == 0


def test_conventional_endpoints_and_auth(ctx):
    """What operators expect from HAProxy: the stats URI answers HTML by
    default, JSON with ;json, ?json or Accept: application/json, CSV with
    ;csv in HAProxy's column order; Prometheus scrapes its own path; stats
    auth asks for credentials (401 with a realm) and accepts the right ones."""
    proxy, port = fresh_proxy(ctx, "endpoints",
                              frontend_extra="    stats prometheus-uri /metrics\n"
                                             "    stats auth admin:s3cret\n"
                                             "    stats auth ops:other")
    base = f"http://127.0.0.1:{port}{pl.STATS_URI}"
    r = harness.curl([base])
    assert r.status == 401 and "Basic realm=" in r.headers.get("WWW-Authenticate", ""), r
    assert harness.curl(["-u", "admin:wrong", base]).status == 401
    r = harness.curl(["-u", "admin:s3cret", base])
    assert r.status == 200 and r.headers.get("Content-Type", "").startswith("text/html"), r
    assert b"<html" in r.body.lower()
    for args in (["-u", "ops:other", base + ";json"], ["-u", "admin:s3cret", base + "?json"],
                 ["-u", "admin:s3cret", "-H", "Accept: application/json", base]):
        r = harness.curl(args)
        assert r.status == 200 and r.headers.get("Content-Type") == "application/json", (args, r)
        assert "req_received" in json.loads(r.body)
    r = harness.curl(["-u", "admin:s3cret", base + ";csv"])
    assert r.status == 200 and r.headers.get("Content-Type", "").startswith("text/csv"), r
    lines = r.body.decode().splitlines()
    assert lines[0].startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"), lines[0]
    assert any(ln.startswith("web,FRONTEND,") for ln in lines), lines
    assert any(ln.startswith("app,s1,") for ln in lines) and any(ln.startswith("app,BACKEND,") for ln in lines)
    assert all(ln.count(",") == lines[0].count(",") for ln in lines[1:]), lines
    r = harness.curl(["-u", "admin:s3cret", f"http://127.0.0.1:{port}/metrics"])
    assert r.status == 200 and "version=0.0.4" in r.headers.get("Content-Type", ""), r
    assert "# TYPE sluice_requests_total counter" in r.body.decode() or "sluice_" in r.body.decode()
    assert harness.curl([f"http://127.0.0.1:{port}/metrics"]).status == 401
    # other paths still go to the backend, untouched by the auth
    assert harness.curl([f"http://127.0.0.1:{port}/size/10"]).status == 200
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
