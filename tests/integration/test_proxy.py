"""test_proxy.py - the sluice binary proxying HTTP/1.1 to the demo origin."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time

import harness
import proxylib as pl


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)
    ctx.origin2, ctx.oport2 = harness.start_origin(ctx.build_dir, name="o2", threads=1)
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 100"],
                                      defaults_extra="    option forwardfor"), name="main")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    ctx.origin.stop()
    ctx.origin2.stop()


def url(ctx, path):
    return f"http://127.0.0.1:{ctx.port}{path}"


@harness.timeout(60)
def test_get_sizes_checksums(ctx):
    for n in (0, 1, 1000, 16384, 65536, 1 << 20, 10 << 20):
        r = harness.curl([url(ctx, f"/size/{n}")])
        assert r.status == 200, (n, r)
        assert len(r.body) == n, (n, len(r.body))
        assert hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), n
        assert r.headers.get("X-Origin") == "o1"


@harness.timeout(60)
def test_chunked_response(ctx):
    for n in (0, 5, 4096, 100000, 3 << 20):
        r = harness.curl([url(ctx, f"/chunked/{n}")])
        assert r.status == 200, r
        assert hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), n


@harness.timeout(90)
def test_post_bodies_end_to_end(ctx):
    for n in (0, 1, 70000, 10 << 20):
        path = os.path.join(ctx.tmpdir, f"body-{n}")
        with open(path, "wb") as f:
            f.write(harness.pattern_bytes(n))
        want = harness.pattern_sha256(n)
        # Content-Length upload, digest computed by the origin
        r = harness.curl(["-X", "POST", "--data-binary", f"@{path}", url(ctx, "/sha256")])
        assert r.status == 200, r
        assert r.body.split()[0].decode() == want, (n, r.body)
        # chunked upload echoed back
        r = harness.curl(["-X", "POST", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", f"@{path}", url(ctx, "/echo")])
        assert r.status == 200, r
        assert hashlib.sha256(r.body).hexdigest() == want, n
        # Content-Length upload echoed back
        r = harness.curl(["-X", "PUT", "--data-binary", f"@{path}", url(ctx, "/echo")])
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == want, n


def test_expect_100_continue(ctx):
    body = harness.pattern_bytes(200000)
    path = os.path.join(ctx.tmpdir, "b")
    with open(path, "wb") as f:
        f.write(body)
    r = harness.curl(["-H", "Expect: 100-continue", "--data-binary", f"@{path}", url(ctx, "/echo")])
    assert r.status == 200 and r.body == body, r


def test_keepalive_both_sides(ctx):
    before = pl.stats(ctx.port)
    with harness.RawConn(ctx.port) as c:
        for i in range(5):
            r = c.request("GET", f"/size/{100 + i}")
            assert r.status == 200 and len(r.body) == 100 + i
        assert not c.is_closed(0.2)
    after = pl.stats(ctx.port)
    # one client connection for five requests, and server connections reused
    assert after["conn_accepted"] - before["conn_accepted"] == 2  # ours + the stats request
    assert after["srv_reuses"] > before["srv_reuses"]


def test_pipelined_requests(ctx):
    reqs = b"".join(harness.build_request("GET", f"/size/{n}") for n in (10, 20, 30))
    with harness.RawConn(ctx.port) as c:
        c.send(reqs)
        lens = [len(c.read_response().body) for _ in range(3)]
    assert lens == [10, 20, 30]


def test_http10_client(ctx):
    r = harness.curl(["--http1.0", url(ctx, "/size/5000")])
    assert r.status == 200 and len(r.body) == 5000, r
    data = harness.raw_request(ctx.port, b"GET /size/10 HTTP/1.0\r\n\r\n", read_until_close=True)
    assert data.startswith(b"HTTP/1.") and data.endswith(harness.pattern_bytes(10)), data


def test_hop_by_hop_and_xff(ctx):
    r = harness.curl(["-H", "Connection: X-Secret", "-H", "X-Secret: 1", "-H", "Keep-Alive: 5",
                      url(ctx, "/headers")])
    assert r.status == 200, r
    text = r.body.decode().lower()
    assert "x-secret" not in text and "keep-alive:" not in text, text
    assert "x-forwarded-for: 127.0.0.1" in text, text


def test_half_closed_client_gets_answer(ctx):
    with harness.RawConn(ctx.port) as c:
        c.send(harness.build_request("GET", "/size/300"))
        c.shutdown_write()
        data = c.read_until_close()
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(harness.pattern_bytes(300))


@harness.timeout(60)
def test_malformed_requests_get_400(ctx):
    cases = {
        b"GARBAGE\r\n\r\n": 400,
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd": 400,
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n": 400,
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n": 431,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n": 400,
        b"GET / HTTP/1.1\r\n\r\n": 400,  # no Host
    }
    before = pl.stats(ctx.port)
    for req, want in cases.items():
        data = harness.raw_request(ctx.port, req, read_until_close=True)
        assert data.startswith(f"HTTP/1.1 {want}".encode()), (req[:60], data[:100])
    # the process still serves others
    r = harness.curl([url(ctx, "/size/10")])
    assert r.status == 200
    after = pl.wait_quiet(ctx.port)
    assert after["bad_requests"] - before["bad_requests"] >= len(cases)
    assert ctx.proxy.alive()


def test_stats_counters_consistent(ctx):
    s = pl.wait_quiet(ctx.port)
    assert s["req_received"] == s["rsp_sent"] + s["rsp_errors"] + s["req_aborted"] + 1, s
    assert s["pool_in_use"] == 0 and s["pool_waiting"] == 0
    assert s["pool_notifies"] == s["pool_handoffs"]


@harness.timeout(90)
def test_maxconn1_200_clients_queue(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 1"]), name="mc1")
    conns = pl.scale(200, 100)
    res = pl.keepalive_load(port, conns, 3, "/size/2000", expect_len=2000, timeout=60)
    assert res["stuck"] == 0 and not res["bad"], res
    assert res["ok"] == conns * 3
    s = pl.wait_quiet(port)
    assert s["queued_total"] > 0, s
    assert s["rsp_errors"] == 0 and s["req_aborted"] == 0, s
    assert proxy.stop() == 0


def test_all_servers_down_503(ctx):
    dead = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{dead}", f"server s2 127.0.0.1:{dead}"]),
        name="down")
    r = harness.curl([f"http://127.0.0.1:{port}/"])
    assert r.status == 503, r
    s = pl.stats(port)
    assert s["srv_connect_errors"] >= 1 and s["retries"] >= 1, s
    assert proxy.stop() == 0


def test_server_never_answers_504(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    timeout server 1s"), name="never")
    t0 = time.monotonic()
    r = harness.curl([f"http://127.0.0.1:{port}/never"])
    assert r.status == 504, r
    assert 0.8 < time.monotonic() - t0 < 5
    assert pl.stats(port)["timeouts_server"] == 1
    assert proxy.stop() == 0


def test_client_never_finishes_408(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    timeout http-request 1s"), name="slowcli")
    with harness.RawConn(port, timeout=5) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
        t0 = time.monotonic()
        data = c.read_until_close()
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.8 < time.monotonic() - t0 < 4
    assert proxy.stop() == 0


def test_roundrobin_and_leastconn(ctx):
    for balance in ("roundrobin", "leastconn"):
        proxy, port = pl.start_sluice(
            ctx, lambda p: pl.make_config(p, [f"server a 127.0.0.1:{ctx.oport}",
                                              f"server b 127.0.0.1:{ctx.oport2}"],
                                          backend_extra=f"    balance {balance}"), name=balance)
        seen = {}
        for _ in range(10):
            r = harness.curl([f"http://127.0.0.1:{port}/size/1"])
            seen[r.headers.get("X-Origin")] = seen.get(r.headers.get("X-Origin"), 0) + 1
        assert set(seen) == {"o1", "o2"}, (balance, seen)
        assert proxy.stop() == 0


def test_redispatch_to_live_server(ctx):
    dead = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server dead 127.0.0.1:{dead}",
                                          f"server live 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    retries 1"), name="redisp")
    for _ in range(6):
        r = harness.curl([f"http://127.0.0.1:{port}/size/3"])
        assert r.status == 200, r
    assert pl.stats(port)["redispatches"] >= 1
    assert proxy.stop() == 0


@harness.timeout(60)
def test_idle_keepalive_connections_hold_no_buffer(ctx):
    n = pl.scale(1000, 300)
    socks = pl.open_idle(ctx.port, n)
    try:
        s = pl.stats(ctx.port)
        assert s["conn_current"] >= n, s
        assert s["pool_in_use"] == 0, s
    finally:
        for so in socks:
            so.close()


def test_config_errors_name_file_and_line(ctx):
    exe = pl.sluice_path(ctx.build_dir)
    path = os.path.join(ctx.tmpdir, "bad.cfg")
    with open(path, "w") as f:
        f.write("global\n    nbthread 2\n    tune.bufsize banana\n")
    cp = subprocess.run([exe, "-c", "-f", path], capture_output=True, timeout=10)
    assert cp.returncode != 0
    assert f"{path}:3:".encode() in cp.stderr and b"tune.bufsize" in cp.stderr, cp.stderr
    with open(path, "w") as f:
        f.write("frontend x\n    bind 127.0.0.1:1\n    frobnicate\n")
    cp = subprocess.run([exe, "-c", "-f", path], capture_output=True, timeout=10)
    assert cp.returncode != 0 and f"{path}:3:".encode() in cp.stderr, cp.stderr
    with open(path, "w") as f:
        f.write("frontend x\n    bind 127.0.0.1:1\n    default_backend b\n"
                "backend b\n    server s 127.0.0.1:2 proto h3\n")
    cp = subprocess.run([exe, "-c", "-f", path], capture_output=True, timeout=10)
    assert cp.returncode != 0 and f"{path}:5:".encode() in cp.stderr, cp.stderr
    cp = subprocess.run([exe, "-c"], capture_output=True, timeout=10)
    assert cp.returncode == 0, cp.stderr
    cp = subprocess.run([exe, "-v"], capture_output=True, timeout=10)
    assert cp.returncode == 0 and cp.stdout.startswith(b"sluice ")


@harness.timeout(60)
def test_graceful_stop_finishes_inflight(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"]), name="graceful")
    # The request is on the wire before the signal (a curl process could
    # still be starting 0.3 s later on a loaded machine, and a connection
    # that sent nothing is not in flight).
    with harness.RawConn(port, timeout=10) as c:
        c.send(harness.build_request("GET", "/delay/1000"))
        time.sleep(0.3)
        proxy.send_signal(signal.SIGTERM)
        r = c.read_response()
    assert r.status == 200, r
    assert proxy.wait_exit(10) == 0
    # no longer accepting
    with socket.socket() as so:
        so.settimeout(1)
        assert so.connect_ex(("127.0.0.1", port)) != 0


def test_ipv6_bind(ctx):
    p6 = harness.free_port("::1")
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      frontend_extra=f"    bind [::1]:{p6}"), name="v6")
    r = harness.curl([f"http://[::1]:{p6}/size/77"])
    assert r.status == 200 and len(r.body) == 77, r
    assert proxy.stop() == 0


@harness.timeout(30)
def test_frontend_maxconn_pauses_and_resumes(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      frontend_extra="    maxconn 4", nbthread=1), name="maxconn")
    idle = pl.open_idle(port, 4)
    try:
        with harness.RawConn(port, timeout=5) as c:
            c.send(harness.build_request("GET", "/size/5"))
            # nothing may come back while four connections hold the frontend
            assert not c.is_closed(0.5), "closed instead of waiting in the backlog"
            idle.pop().close()  # a slot frees: the waiting connection is accepted
            r = c.read_response()
            assert r.status == 200 and r.body == harness.pattern_bytes(5)
    finally:
        for so in idle:
            so.close()
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
