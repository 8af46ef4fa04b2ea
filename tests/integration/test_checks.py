"""test_checks.py - health checks, access logs and the stats page formats,
end to end: the sluice binary in front of demo origins that are stopped and
started again.

What is checked:
- a server whose origin stops goes DOWN after `fall` failed checks and
  comes back UP after `rise` passed ones; traffic avoids it meanwhile;
- `option httpchk` with `http-check expect status`, and plain TCP checks;
- streams queued while a server was down are served by it as soon as it
  comes back, not when another server frees a slot;
- a check that cannot get a buffer waits for one with its timeout still
  running: at its deadline it is deferred on time, neither passed nor
  failed, so a buffer shortage never marks a healthy server DOWN (nor do
  the plain requests sent meanwhile get a 503), and every buffer it took
  goes back to the pool;
- access log lines (format, termination states, truncation);
- the stats page as JSON, Prometheus text and HTML, over several buffers.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time

import harness
import proxylib as pl

CHECK = "check inter 100 rise 2 fall 2"


def start_origin_at(ctx, name: str, port: int) -> harness.Proc:
    """Starts an origin on a given port (to bring a stopped one back)."""
    argv = [harness.origin_path(ctx.build_dir), "-q", "-n", name, "-l", f"127.0.0.1:{port}"]
    deadline = time.monotonic() + 10
    while True:
        p = harness.Proc(argv, name=f"origin-{name}")
        try:
            p.wait_stderr(r"^listening on ", 5)
            p.wait_port("127.0.0.1", port, 5)
            return p
        except harness.ProcExited:
            p.stop()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the port may still be held for a moment


def config(port: int, backends: str, global_extra: str = "", defaults_extra: str = "") -> str:
    """Returns a config with one frontend (stats on) using backend 'app',
    plus the backend sections given as text."""
    return f"""global
    nbthread 2
    maxconn 1000
{global_extra}
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 1s
    timeout queue 10s
    timeout http-request 10s
    retries 1
{defaults_extra}
frontend web
    bind 127.0.0.1:{port}
    stats uri {pl.STATS_URI}
    default_backend app
{backends}
"""


def servers(port: int) -> dict:
    """Returns {name: server row} from the stats JSON."""
    s = pl.stats(port)
    return {srv["name"]: srv for be in s["backends"] for srv in be["servers"]}


def wait_state(port: int, name: str, state: str, timeout: float = 5.0) -> dict:
    """Waits until server <name> shows <state> on the stats page."""
    last = {}

    def ok():
        nonlocal last
        last = servers(port).get(name, {})
        return last if last.get("state") == state else None

    try:
        return harness.wait_until(ok, timeout=timeout, interval=0.05, what=f"{name} {state}")
    except harness.HarnessError:
        raise AssertionError(f"{name} never became {state}: {last}")


def origin_of(port: int, path: str = "/size/10") -> str:
    r = harness.curl([f"http://127.0.0.1:{port}{path}"], timeout=10)
    assert r.status == 200, r
    return r.headers.get("X-Origin")


def setup_module(ctx):
    ctx.o1, ctx.p1 = harness.start_origin(ctx.build_dir, name="o1", threads=1)


def teardown_module(ctx):
    ctx.o1.stop()


@harness.timeout(60)
def test_down_up_and_traffic_avoids_down(ctx):
    o2, p2 = harness.start_origin(ctx.build_dir, name="o2")
    backends = f"""backend app
    balance roundrobin
    option httpchk GET /
    server s1 127.0.0.1:{ctx.p1} {CHECK}
    server s2 127.0.0.1:{p2} {CHECK}
"""
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, backends), name="updown")
    wait_state(port, "s2", "UP")
    harness.wait_until(lambda: servers(port)["s2"]["checks_ok"] >= 2, what="checks pass")
    assert {origin_of(port) for _ in range(6)} == {"o1", "o2"}

    t0 = time.monotonic()
    o2.stop()
    m = proxy.wait_stderr(r"server app/s2 is DOWN \((.*)\), (\d+) active servers left", 5)
    went_down = time.monotonic() - t0
    assert "Layer4 connection problem" in m.group(1), m.group(0)
    assert m.group(2) == "1", m.group(0)
    row = wait_state(port, "s2", "DOWN")
    assert row["checks_failed"] >= 2 and row["up"] == 0, row
    s = pl.stats(port)
    assert s["backends"][0]["servers_active"] == 1, s["backends"][0]
    # traffic avoids the down server: no error, no retry towards it
    before = s["srv_connect_errors"]
    assert all(origin_of(port) == "o1" for _ in range(20))
    assert pl.stats(port)["srv_connect_errors"] == before

    o2 = start_origin_at(ctx, "o2", p2)
    m = proxy.wait_stderr(r"server app/s2 is UP \((.*)\), (\d+) active servers online", 5)
    assert "Layer7 check passed, code: 200" in m.group(1), m.group(0)
    assert m.group(2) == "2", m.group(0)
    wait_state(port, "s2", "UP")
    assert "o2" in {origin_of(port) for _ in range(6)}
    # every buffer a check took went back (a check holds one only while sending)
    harness.wait_until(lambda: all(r["check_bufs_taken"] == r["check_bufs_released"] > 0
                                   for r in servers(port).values()), what="check buffers back")
    print(f"    DOWN detected {went_down * 1000:.0f} ms after the origin stopped"
          f" (inter 100 ms, fall 2)")
    assert proxy.stop() == 0
    o2.stop()


@harness.timeout(60)
def test_expect_status_and_tcp_checks(ctx):
    closed = harness.free_port()
    backends = f"""backend app
    option httpchk GET /status/503
    server bad 127.0.0.1:{ctx.p1} check inter 100 rise 1 fall 1
backend expect503
    option httpchk GET /status/503
    http-check expect status 503
    server good 127.0.0.1:{ctx.p1} check inter 100 rise 1 fall 1
backend tcp
    server tcpup 127.0.0.1:{ctx.p1} check inter 100 rise 1 fall 1
    server tcpdown 127.0.0.1:{closed} check inter 100 rise 1 fall 1
"""
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, backends), name="expect")
    m = proxy.wait_stderr(r"server app/bad is DOWN \((.*)\), 0 active servers left", 5)
    assert m.group(1) == "Layer7 wrong status, code: 503", m.group(0)
    proxy.wait_stderr(r"server tcp/tcpdown is DOWN \(Layer4 connection problem: Connection refused\)", 5)
    rows = harness.wait_until(lambda: (lambda r: r if r["good"]["checks_ok"] >= 2 and
                                       r["tcpup"]["checks_ok"] >= 2 else None)(servers(port)),
                              what="checks passing")
    assert rows["good"]["state"] == "UP" and rows["good"]["check_status"] == 503, rows["good"]
    assert rows["tcpup"]["state"] == "UP" and rows["tcpup"]["check_reason"] == "Layer4 check passed"
    assert rows["tcpdown"]["state"] == "DOWN" and rows["tcpdown"]["checks_ok"] == 0
    # a TCP check takes no buffer at all; an HTTP one gives back all it took
    assert rows["tcpup"]["check_bufs_taken"] == 0, rows["tcpup"]
    assert rows["bad"]["state"] == "DOWN", rows["bad"]
    # the only server of 'app' is down: an immediate 503 of ours
    r = harness.curl([f"http://127.0.0.1:{port}/size/10"])
    assert r.status == 503, r
    assert "server app/good" not in proxy.stderr_text()
    assert proxy.stop() == 0


@harness.timeout(60)
def test_queued_streams_served_when_server_comes_up(ctx):
    o2, p2 = harness.start_origin(ctx.build_dir, name="o2")
    o2.stop()
    backends = f"""backend app
    balance roundrobin
    option httpchk GET /
    server s1 127.0.0.1:{ctx.p1} maxconn 1 check inter 100 rise 1 fall 1
    server s2 127.0.0.1:{p2} maxconn 1 check inter 100 rise 1 fall 1
"""
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, backends), name="queue")
    proxy.wait_stderr(r"server app/s2 is DOWN", 5)
    results = {}

    def get(key, path):
        t = time.monotonic()
        with harness.RawConn(port, timeout=15) as c:
            r = c.request("GET", path)
        results[key] = (r.status, r.headers.get("X-Origin"), time.monotonic() - t)

    # A holds the only usable slot for 3 s; B must queue behind it
    ta = threading.Thread(target=get, args=("A", "/delay/3000"))
    ta.start()
    harness.wait_until(lambda: servers(port)["s1"]["cur"] == 1, what="A holds s1")
    tb = threading.Thread(target=get, args=("B", "/size/10"))
    tb.start()
    harness.wait_until(lambda: pl.stats(port)["queued_now"] == 1, what="B queued")
    o2 = start_origin_at(ctx, "o2", p2)
    tb.join(15)
    ta.join(15)
    assert results["A"][:2] == (200, "o1"), results
    status, origin, took = results["B"]
    # served by s2 as soon as it came back, long before A ended
    assert (status, origin) == (200, "o2"), results
    assert took < 2.0, results
    s = pl.stats(port)
    assert s["queue_timeouts"] == 0 and s["rsp_errors"] == 0, s
    print(f"    queued request served by the returning server after {took * 1000:.0f} ms")
    assert proxy.stop() == 0
    o2.stop()


@harness.timeout(60)
def test_check_waiting_for_buffer_is_deferred(ctx):
    """Two half-sent request heads hold the two buffers that levels below
    the reserve may use: the check's allocation (request level, never the
    reserve) fails and it waits for a buffer. Its own timeout (300 ms) still
    ends the wait, long before the clients' 10 s http-request timeout, but
    a check that could not send its request learnt nothing about the server:
    it is deferred, neither passed nor failed, and the server stays UP."""
    backends = f"""backend app
    option httpchk GET /
    timeout check 300ms
    server s1 127.0.0.1:{ctx.p1} check inter 200 rise 1 fall 2
"""
    glob = "    tune.buffers.limit 4\n    tune.buffers.reserve 2"
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, backends, global_extra=glob),
                                  name="bufwait")
    harness.wait_until(lambda: servers(port)["s1"]["checks_ok"] >= 2, what="checks pass")
    before = pl.wait_quiet(port)
    ok_before = servers(port)["s1"]["checks_ok"]
    holders = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /size/10 HTTP/1.1\r\nHost: x\r\n")  # no final CRLF
        holders.append(s)
    # long enough for several checks (fall 2) to wait and reach their deadline
    time.sleep(1.5)
    for s in holders:
        s.close()
    row = harness.wait_until(lambda: (lambda r: r if r["checks_ok"] >= ok_before + 2 else None)(
        servers(port)["s1"]), what="checks pass again")
    rest = pl.wait_quiet(port)
    assert "is DOWN" not in proxy.stderr_text(), proxy.stderr_text()
    assert row["state"] == "UP" and row["checks_failed"] == 0, row
    # at least two checks met their deadline while waiting: each was
    # deferred on time, none counted toward fall
    assert row["check_buf_timeouts"] >= 2, row
    assert row["check_buf_waits"] >= row["check_buf_timeouts"], row
    assert row["check_bufs_taken"] == row["check_bufs_released"], row
    assert rest["pool_in_use"] == 0 and rest["pool_waiting"] == 0, rest
    assert rest["pool_peak_allocated"] <= 4, rest
    assert before["pool_in_use"] == 0, before
    print(f"    {row['check_buf_timeouts']} checks deferred waiting for a buffer,"
          f" {row['check_buf_waits']} waited; server stayed UP")
    assert proxy.stop() == 0


@harness.timeout(60)
def test_buffer_shortage_does_not_mark_server_down(ctx):
    """Regression: a check that cannot get a buffer has not failed. With
    limit 3 / reserve 2, one buffer is all that request levels may use: two
    half-sent heads (one holds it, one waits for it) and a slow reader of a
    large download (holding response buffers from the reserve) leave the
    checks nothing for longer than several `fall 2` intervals. The checks
    are deferred, the server stays UP, and the plain GETs sent meanwhile are
    all served by it once buffers come back, none answered 503."""
    backends = f"""backend app
    option httpchk GET /
    server s1 127.0.0.1:{ctx.p1} check inter 200ms rise 1 fall 2
"""
    glob = "    tune.buffers.limit 3\n    tune.buffers.reserve 2"
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, backends, global_extra=glob),
                                  name="shortage")
    harness.wait_until(lambda: servers(port)["s1"]["checks_ok"] >= 2, what="checks pass")
    pl.wait_quiet(port)

    # the slow reader: a 1 MiB body read a few bytes at a time
    dl = socket.create_connection(("127.0.0.1", port), timeout=10)
    dl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    dl.sendall(b"GET /size/1048576 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = dl.recv(1024)
    assert got.startswith(b"HTTP/1.1 200"), got
    holders = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /size/10 HTTP/1.1\r\nHost: x\r\n")  # no final CRLF
        holders.append(s)
    results = []

    def get():
        r = harness.curl([f"http://127.0.0.1:{port}/size/10"], timeout=20)
        results.append(r.status)

    getters = [threading.Thread(target=get) for _ in range(4)]
    for t in getters:
        t.start()
        time.sleep(0.1)
    # several check intervals (inter 200 ms, fall 2) under the shortage
    time.sleep(1.6)
    assert "is DOWN" not in proxy.stderr_text(), proxy.stderr_text()
    for s in holders:
        s.close()
    dl.settimeout(10)
    total = len(got)
    while b := dl.recv(65536):
        total += len(b)
    dl.close()
    assert total > 1048576, total
    for t in getters:
        t.join(30)
    assert results == [200] * 4, results
    assert "is DOWN" not in proxy.stderr_text(), proxy.stderr_text()
    rest = pl.wait_quiet(port)
    row = servers(port)["s1"]
    assert row["state"] == "UP", row
    # the shortage did show: checks waited, and those the timer caught
    # waiting were deferred, not failed
    assert row["check_buf_waits"] >= 1 and row["check_buf_timeouts"] >= 1, row
    assert row["checks_failed"] == 0, row
    assert row["check_bufs_taken"] == row["check_bufs_released"], row
    assert rest["pool_in_use"] == 0 and rest["pool_waiting"] == 0, rest
    print(f"    {row['check_buf_timeouts']} checks deferred for lack of a buffer,"
          f" server stayed UP, {len(results)} GETs answered 200")
    assert proxy.stop() == 0


LOG_LINE = re.compile(
    r"^(?P<addr>[\d.]+):(?P<port>\d+) \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] "
    r"(?P<fe>\S+) (?P<be>\S+)/(?P<srv>\S+) "
    r"(?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<tt>-?\d+) "
    r"(?P<status>-?\d+) (?P<bin>\d+) (?P<bout>\d+) (?P<ts>\S\S) \"(?P<req>[^\"]*)\"$")


@harness.timeout(60)
def test_access_log(ctx):
    log = os.path.join(ctx.tmpdir, "access.log")
    closed = harness.free_port()
    backends = f"""backend app
    server s1 127.0.0.1:{ctx.p1}
backend dead
    server d1 127.0.0.1:{closed}
"""
    frontends = f"""frontend deadfe
    bind 127.0.0.1:{{dport}}
    timeout http-request 500ms
    default_backend dead
"""
    dport = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: config(p, backends + frontends.format(dport=dport),
                              global_extra=f"    log {log}",
                              defaults_extra="    timeout server 1s"), name="log")
    assert harness.curl([f"http://127.0.0.1:{port}/size/100"]).status == 200
    long_uri = "/size/1?" + "x" * 5000
    assert harness.curl([f"http://127.0.0.1:{port}{long_uri}"]).status == 200
    assert harness.curl([f"http://127.0.0.1:{dport}/size/5"]).status == 503
    with socket.create_connection(("127.0.0.1", dport), timeout=5) as s:
        s.sendall(b"GET /slow HTTP/1.1\r\n")
        assert b" 408 " in s.recv(4096)
    # a client that leaves in the middle of its request body
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        time.sleep(0.3)
    # a server that never answers within `timeout server`
    assert harness.curl([f"http://127.0.0.1:{port}/never"]).status == 504
    time.sleep(1.0)
    assert proxy.stop() == 0
    with open(log) as f:
        lines = f.read().splitlines()
    parsed = [LOG_LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed) if not m]
    by_req = {m["req"][:20]: m for m in parsed}
    ok = by_req["GET /size/100"]
    assert (ok["fe"], ok["be"], ok["srv"], ok["status"], ok["ts"]) == ("web", "app", "s1", "200", "--"), ok
    assert int(ok["bout"]) > 100 and int(ok["tc"]) >= 0 and int(ok["tr"]) >= 0, ok
    cut = [m for m in parsed if m["req"].startswith("GET /size/1?xxx")][0]
    assert cut["req"].endswith("...") and len(cut.group(0)) < 2048, len(cut.group(0))
    dead = by_req["GET /size/5"]
    assert (dead["be"], dead["status"], dead["ts"]) == ("dead", "503", "SC"), dead.group(0)
    slow = [m for m in parsed if m["status"] == "408"][0]
    assert slow["ts"] == "cR" and slow["be"] == "-", slow.group(0)
    gone = by_req["POST /sha256"]
    assert gone["ts"][0] == "C", gone.group(0)
    never = by_req["GET /never"]
    assert (never["status"], never["ts"][0]) == ("504", "s"), never.group(0)
    print(f"    {len(lines)} log lines, e.g.: {ok.group(0)}")


PROM_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                         r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+)$')


@harness.timeout(60)
def test_stats_formats(ctx):
    backends = "backend app\n    option httpchk GET /\n" + "".join(
        f"    server s{i} 127.0.0.1:{ctx.p1} check inter 200\n" for i in range(12))
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, backends), name="formats")
    harness.wait_until(lambda: all(r["checks_ok"] > 0 for r in servers(port).values()),
                       what="checks ran")
    base = f"http://127.0.0.1:{port}{pl.STATS_URI}"
    # JSON (also the default): parses, flat members kept
    r = harness.curl([base + "?json"])
    assert r.status == 200 and r.headers["Content-Type"] == "application/json", r
    j = json.loads(r.body)
    assert j["nbthread"] == 2 and "req_received" in j and "pool" in j, j.keys()
    assert len(j["backends"][0]["servers"]) == 12 and len(j["threads"]) == 2
    # Prometheus, larger than one 16 KiB buffer: sent in pieces
    r = harness.curl([base + "?prom"])
    assert r.status == 200 and "version=0.0.4" in r.headers["Content-Type"], r
    text = r.body.decode()
    assert len(r.body) > 16384, len(r.body)
    helps, types, seen = {}, {}, []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name = line.split()[2]
            d = helps if line[2] == "H" else types
            assert name not in d, f"twice: {line}"
            d[name] = line
            continue
        m = PROM_SAMPLE.match(line)
        assert m, f"bad line: {line!r}"
        name = m.group(1)
        assert name in helps and name in types, f"no HELP/TYPE before {line}"
        assert not seen or seen[-1] == name or name not in seen, f"family split: {name}"
        seen.append(name)
    assert set(helps) == set(types)
    for name in ("sluice_stream_calls_total", "sluice_streams_total", "sluice_pool_handoffs_total",
                 "sluice_pool_passes_on_total", "sluice_pool_waiters", "sluice_server_up",
                 "sluice_server_checks_passed_total", "sluice_sched_loops_total"):
        assert name in types, name
    assert 'sluice_pool_waiters{crit="emit"} 0' in text
    assert len(re.findall(r'^sluice_server_up\{backend="app",server="s\d+"\} 1$', text, re.M)) == 12
    # the same page read by an HTTP/1.0 client (close-delimited)
    r10 = harness.curl(["--http1.0", base + "?prom"])
    assert r10.status == 200 and len(r10.body) > 16384, r10
    # HTML
    r = harness.curl([base + "?html"])
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), r
    h = r.body.decode()
    assert h.startswith("<!DOCTYPE html>") and h.endswith("</html>\n")
    assert h.count("<td class=UP>UP</td>") == 12 and "<h3>Backend app" in h
    assert h.count("<table>") == h.count("</table>")
    s = pl.wait_quiet(port)
    assert s["pool_in_use"] == 0, s
    print(f"    JSON {len(json.dumps(j))} B, Prometheus {len(r10.body)} B"
          f" ({len(types)} families), HTML {len(r.body)} B")
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
