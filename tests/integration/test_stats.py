"""test_stats.py - the stats applet: JSON, Prometheus and HTML checked
against known traffic, the HTML page rendered by a real browser (headless
Chromium, with its rates and history charts, screenshot kept), the page
still answering under a tiny buffer limit while hundreds of clients load
the proxy, OpenMetrics negotiated by Accept, and `stats admin` changing
server states from the page's form."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import struct
import tempfile
import threading
import time
import zlib

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


CHARTS = ("Buffers", "Waiting for a buffer, by criticality",
          "Hand-offs and failed allocations per second")


@harness.timeout(120)
def test_html_page_in_headless_chromium(ctx):
    """The page as a browser builds it after a few seconds of traffic: the
    rate columns hold numbers, each history chart is an inline <svg> with
    drawn lines, and the screenshot (kept in the test's log directory) is
    far from a blank page's."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise harness.Skip("chromium is not installed")
    proxy, port = fresh_proxy(ctx, "browser")
    # traffic spread over a few samplings (one per second), so that every
    # chart has several points and the 10 s window holds requests
    for _ in range(2):
        send_known_traffic(port)
        time.sleep(1.2)
    rates = json.loads(harness.curl([f"http://127.0.0.1:{port}{pl.STATS_URI}?json"]).body)["rates"]
    assert rates["window_ms"]["1s"] >= 500 and rates["window_ms"]["10s"] >= 1000, rates["window_ms"]
    assert rates["req_received"]["10s"] > 0 and rates["bytes_out"]["10s"] > 0, rates["req_received"]
    url = f"http://127.0.0.1:{port}{pl.STATS_URI}?html"
    shot = os.path.join(harness.log_dir(), "stats-page.png")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=ctx.tmpdir)
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", f"--user-data-dir={profile}"]
    cp = subprocess.run(common + ["--dump-dom", url], capture_output=True, timeout=60)
    dom = cp.stdout.decode(errors="replace")
    assert "<title>Sluice statistics</title>" in dom, dom[:500]
    assert "Buffer pool" in dom and "s1" in dom and "UP" in dom, dom[:2000]
    # the DOM the browser built shows the traffic we sent, with its rates
    m = re.search(r"Requests received</td><td>(\d+)</td><td class=\"r\">([^<]*)</td>"
                  r"<td class=\"r\">([^<]*)</td>", dom)
    assert m and int(m.group(1)) >= 2 * KNOWN, (m and m.group(0))
    rates = re.findall(r'<td class="r">([^<]*)</td>', dom)
    assert len(rates) > 100 and all(re.fullmatch(r"\d+\.\d", r) for r in rates), rates[:20]
    # three charts, each with every series drawn (a polyline of >= 2 points)
    svgs = re.findall(r"<svg[^>]*>(.*?)</svg>", dom, re.S)
    assert len(svgs) == len(CHARTS), len(svgs)
    for title, svg in zip(CHARTS, svgs):
        assert f">{title}</text>" in svg and ">now</text>" in svg, svg[:300]
        lines = re.findall(r'points="([^"]*)"', svg)
        assert lines and all(len(pts.split()) >= 2 for pts in lines), (title, lines)
    assert "<script" not in dom
    cp = subprocess.run(common + ["--window-size=1300,3400", f"--screenshot={shot}", url],
                        capture_output=True, timeout=60)
    assert os.path.exists(shot), cp.stderr[-500:]
    with open(shot, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1300, 3400), head
    # a blank page of that size, as PNG: Chromium's own is ~19 KB, the
    # page ~290 KB here; a third Chromium run to measure it costs 15 s on a
    # loaded machine, so zlib's encoding of white rows stands in for it
    row = b"\x00" + b"\xff" * (1300 * 4)
    blank_size = len(zlib.compress(row * 3400, 6)) + 100
    size = os.path.getsize(shot)
    assert size > 5 * blank_size, (size, blank_size)
    # the log dir goes with a passing run (unless --keep-tmp): a copy stays
    # in the build directory as evidence
    outdir = os.path.join(ctx.build_dir, "test-artifacts")
    os.makedirs(outdir, exist_ok=True)
    kept = shutil.copy(shot, os.path.join(outdir, "stats-page.png"))
    print(f"    screenshot: {shot} ({size} bytes; blank page {blank_size}), kept as {kept}")
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


OM_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
             "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")  # Prometheus 2.x


def check_exposition(text, om):
    """The grammar points of text 0.0.4 and OpenMetrics 1.0.0 (promtool is
    not on these machines): HELP and TYPE once per family before its
    samples; counters named with _total in 0.0.4 families and in every
    sample, without it in OpenMetrics families; '# EOF' last in OpenMetrics
    only. Returns {family: type}."""
    lines = text.split("\n")
    assert lines[-1] == "", "ends with a newline"
    lines = lines[:-1]
    if om:
        assert lines[-1] == "# EOF" and lines.count("# EOF") == 1, lines[-3:]
        lines = lines[:-1]
    else:
        assert "# EOF" not in lines
    types, helps, cur = {}, set(), None
    for ln in lines:
        if ln.startswith("# HELP "):
            name = ln.split(" ")[2]
            assert name not in helps, ln
            helps.add(name)
        elif ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ")
            assert name not in types and typ in ("counter", "gauge"), ln
            assert name.endswith("_total") == (typ == "counter" and not om), ln
            types[name], cur = typ, name
        else:
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+)$', ln)
            assert m, ln
            want = cur + "_total" if om and types[cur] == "counter" else cur
            assert m.group(1) == want, (ln, cur)
    assert helps == set(types) and len(types) > 50, len(types)
    return types


def test_openmetrics_by_accept(ctx):
    """The Prometheus endpoints negotiate: text 0.0.4 by default and for
    text/plain, OpenMetrics 1.0.0 for what Prometheus sends; both list the
    same families and samples."""
    proxy, port = fresh_proxy(ctx, "openmetrics", frontend_extra="    stats prometheus-uri /metrics")
    send_known_traffic(port)
    url = f"http://127.0.0.1:{port}/metrics"
    text = harness.curl([url])
    assert text.status == 200 and text.headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", text
    t_types = check_exposition(text.body.decode(), om=False)
    om = harness.curl(["-H", f"Accept: {OM_ACCEPT}", url])
    assert om.status == 200, om
    assert om.headers.get("Content-Type") == "application/openmetrics-text; version=1.0.0; charset=utf-8", om.headers
    o_types = check_exposition(om.body.decode(), om=True)
    assert {n + ("_total" if t == "counter" else ""): t for n, t in o_types.items()} == t_types
    assert re.search(r"^sluice_requests_total \d+$", om.body.decode(), re.M)
    # text/plain weighed above OpenMetrics keeps the text format; ?prom on the stats URI negotiates too
    r = harness.curl(["-H", "Accept: application/openmetrics-text;q=0.2, text/plain", url])
    assert "version=0.0.4" in r.headers.get("Content-Type", ""), r.headers
    r = harness.curl(["-H", "Accept: application/openmetrics-text; version=1.0.0",
                      f"http://127.0.0.1:{port}{pl.STATS_URI}?prom"])
    assert r.headers.get("Content-Type", "").startswith("application/openmetrics-text"), r.headers
    assert r.body.decode().endswith("# EOF\n")
    assert proxy.stop() == 0


def server_state(port, name):
    r = harness.curl([f"http://127.0.0.1:{port}{pl.STATS_URI};csv"])
    for ln in r.body.decode().splitlines():
        f = ln.split(",")
        if f[0] == "app" and f[1] == name:
            return f[17]
    raise AssertionError(f"no row for {name}")


def test_stats_admin_form(ctx):
    """`stats admin if COND`: the page offers HAProxy's form to requests
    COND holds for; a POST it allows changes the servers' states and
    answers 303 back to the page, which tells the result; a POST it refuses
    gets 403 and changes nothing."""
    proxy, port = pl.start_sluice(ctx, lambda p: pl.make_config(
        p, [f"server s1 127.0.0.1:{ctx.oport}", f"server s2 127.0.0.1:{ctx.oport}"],
        frontend_extra="    stats admin if LOCALHOST { hdr(x-ops) let-me-in }"), name="admin")
    base = f"http://127.0.0.1:{port}{pl.STATS_URI}"
    ops = ["-H", "X-Ops: let-me-in"]
    page = harness.curl([base]).body.decode()
    assert "<form" not in page and "type=checkbox" not in page
    page = harness.curl(ops + [base]).body.decode()
    assert '<form method=post action="/sluice-stats">' in page
    assert '<input type=checkbox name=s value="s1">' in page and "value=drain" in page
    # refused: COND does not hold, nothing changes
    r = harness.curl(["-d", "s=s1&action=maint&b=app", base])
    assert r.status == 403, r
    assert server_state(port, "s1") == "UP"
    # allowed: s1 drained, s2 to maintenance (backend by its #index), an unknown name
    r = harness.curl(ops + ["-d", "s=s1&s=ghost&action=drain&b=app", base])
    assert r.status == 303 and r.headers.get("Location") == f"{pl.STATS_URI};st=PART", r
    r = harness.curl(ops + ["-d", "s=s2&action=maint&b=%231", base])
    assert r.status == 303 and r.headers.get("Location") == f"{pl.STATS_URI};st=DONE", r
    assert server_state(port, "s1") == "DRAIN" and server_state(port, "s2") == "MAINT"
    states = {s["name"]: s["state"] for s in
              json.loads(harness.curl([base + "?json"]).body)["backends"][0]["servers"]}
    assert states == {"s1": "DRAIN", "s2": "MAINT"}, states
    page = harness.curl(ops + [base + ";st=DONE"]).body.decode()
    assert "Last action: DONE" in page
    # bad requests change nothing: unknown action, unknown backend
    for form in ("s=s1&action=explode&b=app", "s=s1&action=ready&b=nope"):
        r = harness.curl(ops + ["-d", form, base])
        assert r.status == 303 and r.headers.get("Location").endswith(";st=ERRP"), (form, r)
    assert server_state(port, "s1") == "DRAIN"
    # back to ready: traffic flows through both again
    r = harness.curl(ops + ["-d", "s=s1&s=s2&action=ready&b=app", base])
    assert r.status == 303 and server_state(port, "s1") == "UP" and server_state(port, "s2") == "UP"
    assert harness.curl([f"http://127.0.0.1:{port}/size/10"]).status == 200
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
