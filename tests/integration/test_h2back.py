"""test_h2back.py - HTTP/2 towards servers (`server ... proto h2`).

Two HTTP/2 origins stand behind the proxy under test:
- an independent one, nghttpd (nghttp2's server) serving files, for GET;
- an "inner" Sluice with `bind ... proto h2` in front of the demo origin,
  which answers /echo and /sha256, for bodies both ways.
The "outer" Sluice under test speaks HTTP/2 to them, and HTTP/1.1 and
HTTP/2 to its clients: H1 -> H2 and H2 -> H2. Everything is checksummed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import harness
import proxylib as pl

SIZES = (0, 1, 16384, 65536, 1 << 20, 10 << 20)


def setup_module(ctx):
    harness.require_tool("h2load")
    nghttpd = harness.require_tool("nghttpd")
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)
    # the inner proxy: an HTTP/2 server made of our own server role
    ctx.inner_h2 = harness.free_port()
    ctx.inner, _ = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 400"],
                                      frontend_extra=f"    bind 127.0.0.1:{ctx.inner_h2} proto h2"),
        name="inner")
    # nghttpd serves pattern files from a document root
    ctx.docroot = os.path.join(ctx.tmpdir, "htdocs")
    os.makedirs(ctx.docroot)
    for n in SIZES:
        with open(os.path.join(ctx.docroot, f"f{n}"), "wb") as f:
            f.write(harness.pattern_bytes(n))
    ctx.nghttpd, ctx.nport = harness.start_with_free_port(
        lambda p: [nghttpd, "--no-tls", "-a", "127.0.0.1", "-d", ctx.docroot, str(p)],
        name="nghttpd")
    # the proxies under test: one towards each HTTP/2 origin
    ctx.h2port = harness.free_port()
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server in 127.0.0.1:{ctx.inner_h2} proto h2 maxconn 400"],
                                      frontend_extra=f"    bind 127.0.0.1:{ctx.h2port} proto h2"),
        name="outer")
    ctx.fproxy, ctx.fport = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server ng 127.0.0.1:{ctx.nport} proto h2"]),
        name="outer-ng")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    assert ctx.fproxy.stop() == 0, ctx.fproxy.stderr_tail()
    ctx.inner.stop()
    ctx.nghttpd.stop()
    ctx.origin.stop()


def url(port, path):
    return f"http://127.0.0.1:{port}{path}"


def sha(b):
    return hashlib.sha256(b).hexdigest()


@harness.timeout(90)
def test_h1_and_h2_clients_get_from_nghttpd(ctx):
    for n in SIZES:
        for h2 in (False, True):
            r = harness.curl((["--http2-prior-knowledge"] if h2 else []) + [url(ctx.fport, f"/f{n}")])
            assert r.status == 200, (n, h2, r)
            assert sha(r.body) == harness.pattern_sha256(n), (n, h2, len(r.body))
    r = harness.curl([url(ctx.fport, "/missing")])
    assert r.status == 404, r
    r = harness.curl(["-I", url(ctx.fport, f"/f{1 << 20}")])
    assert r.status == 200 and r.headers.get("content-length") == str(1 << 20), r


@harness.timeout(120)
def test_bodies_both_ways_h1_to_h2(ctx):
    for n in (0, 1, 100000, 10 << 20):
        path = os.path.join(ctx.tmpdir, f"b{n}")
        with open(path, "wb") as f:
            f.write(harness.pattern_bytes(n))
        for h2 in (False, True):
            pre = ["--http2-prior-knowledge"] if h2 else []
            port = ctx.h2port if h2 else ctx.port
            r = harness.curl(pre + ["-X", "POST", "--data-binary", f"@{path}", url(port, "/sha256")])
            assert r.status == 200 and r.body.split()[0].decode() == harness.pattern_sha256(n), (n, h2, r)
            r = harness.curl(pre + ["-X", "POST", "--data-binary", f"@{path}", url(port, "/echo")])
            assert r.status == 200 and sha(r.body) == harness.pattern_sha256(n), (n, h2, len(r.body))
    # a chunked upload from an HTTP/1.1 client becomes DATA frames
    path = os.path.join(ctx.tmpdir, "b300000")
    with open(path, "wb") as f:
        f.write(harness.pattern_bytes(300000))
    r = harness.curl(["-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}",
                      url(ctx.port, "/sha256")])
    assert r.status == 200 and r.body.split()[0].decode() == harness.pattern_sha256(300000), r


@harness.timeout(60)
def test_responses_without_length_and_without_body(ctx):
    # the demo origin answers /chunked/N chunked; the inner proxy turns it
    # into DATA frames without a length, which we must frame again
    for h2 in (False, True):
        pre = ["--http2-prior-knowledge"] if h2 else []
        port = ctx.h2port if h2 else ctx.port
        r = harness.curl(pre + [url(port, "/chunked/300000")])
        assert r.status == 200 and sha(r.body) == harness.pattern_sha256(300000), (h2, r)
        r = harness.curl(pre + [url(port, "/status/204")])
        assert r.status == 204 and r.body == b"", (h2, r)
        r = harness.curl(pre + ["-I", url(port, "/size/5000")])
        assert r.status == 200 and r.headers.get("content-length") == "5000", (h2, r)
    # keep-alive on the client side survives all of this
    with harness.RawConn(ctx.port) as c:
        for path in ("/chunked/10000", "/status/204", "/size/100"):
            r = c.request("GET", path)
            assert r.status in (200, 204), (path, r)


@harness.timeout(120)
def test_streams_multiplexed_over_few_connections(ctx):
    before = pl.stats(ctx.port)
    n = pl.scale(4000, 800)
    ok, failed, errored, s2xx, out = pl.h2load(url(ctx.h2port, "/size/2000"), n, 8, 32)
    assert ok == n and s2xx == n and failed == 0 and errored == 0, out
    r = harness.run_wrk(url(ctx.port, "/size/1000"), connections=20, threads=1, duration_s=2)
    assert r["errors_total"] == 0 and r["non2xx"] == 0 and r["requests"] > 0, r
    s = pl.wait_quiet(ctx.port, timeout=20)
    connects = s["srv_connects"] - before["srv_connects"]
    reuses = s["srv_reuses"] - before["srv_reuses"]
    print(f"    {n} h2 + {r['requests']} h1 requests: {connects} server connections, {reuses} reuses")
    # 2 threads, 100 streams per connection at most: a handful of
    # connections carry thousands of streams
    assert connects <= 40, s
    assert reuses >= n, s
    assert s["pool_in_use"] == 0, s


@harness.timeout(60)
def test_quiet_server_connection_gives_pages_back(ctx):
    # HTTP/1.1 clients: the only HTTP/2 connection of this proxy is the one
    # towards the server, whose pages go back after a second of quiet
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server in 127.0.0.1:{ctx.inner_h2} proto h2"]),
        name="h2btrim")
    try:
        before = pl.stats(port)
        for n in (100, 20000):
            r = harness.curl([url(port, f"/size/{n}")])
            assert r.status == 200 and sha(r.body) == harness.pattern_sha256(n), (n, r)
        # at least the output buffer's page and the emptied stream map's
        harness.wait_until(
            lambda: pl.stats(port)["h2_trimmed_bytes"] - before["h2_trimmed_bytes"] >= 2 * 4096,
            timeout=10, what="server connection pages given back")
        # the same connection serves on, its pages faulted back in
        r = harness.curl([url(port, "/size/30000")])
        assert r.status == 200 and sha(r.body) == harness.pattern_sha256(30000), r
        s = pl.stats(port)
        # one connection per worker thread at most: reused, not reopened
        connects = s["srv_connects"] - before["srv_connects"]
        assert 1 <= connects <= s["nbthread"], connects
        assert s["pool_in_use"] == 0, s["pool_in_use"]
    finally:
        assert proxy.stop() == 0, proxy.stderr_tail()


@harness.timeout(180)
def test_tiny_buffer_limit_h2_to_h2(ctx):
    pl.h2load_tiny_limit(ctx, f"server in 127.0.0.1:{ctx.inner_h2} proto h2 maxconn 4",
                         pl.scale(5000, 1000))


@harness.timeout(60)
def test_unreachable_h2_server_answers_503(ctx):
    dead = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server gone 127.0.0.1:{dead} proto h2"]), name="h2dead")
    for h2 in (False, True):
        r = harness.curl((["--http2-prior-knowledge"] if h2 else []) + [url(port, "/size/10")])
        assert r.status == 503, r
    s = pl.wait_quiet(port)
    assert s["srv_connect_errors"] >= 2 and s["pool_in_use"] == 0, s
    assert proxy.stop() == 0


@harness.timeout(60)
def test_server_timeout_on_one_stream_spares_others(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server in 127.0.0.1:{ctx.inner_h2} proto h2"],
                                      defaults_extra="    timeout server 1s"), name="h2to")
    stuck = subprocess.Popen(["curl", "-s", "-o", os.devnull, "-w", "%{http_code}", url(port, "/never")],
                             stdout=subprocess.PIPE)
    try:
        for _ in range(5):
            r = harness.curl([url(port, "/size/3000")], timeout=5)
            assert r.status == 200 and len(r.body) == 3000, r
        out, _ = stuck.communicate(timeout=10)
        assert out == b"504", out
    finally:
        if stuck.poll() is None:
            stuck.kill()
            stuck.wait(5)
    s = pl.wait_quiet(port)
    assert s["timeouts_server"] >= 1 and s["pool_in_use"] == 0, s
    assert proxy.stop() == 0


@harness.timeout(60)
def test_h2_health_check_is_the_handshake(ctx):
    """`option httpchk` towards a `proto h2` server checks the HTTP/2
    handshake: nghttpd passes, an HTTP/1.1-only origin declared h2 fails."""
    chk = "check inter 100 rise 1 fall 1"
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server ng 127.0.0.1:{ctx.nport} proto h2 {chk}",
                                          f"server h1only 127.0.0.1:{ctx.oport} proto h2 {chk}"],
                                      backend_extra="    option httpchk GET /"),
        name="h2chk")
    m = proxy.wait_stderr(r"server app/h1only is DOWN \((.*)\)", 10)
    assert "ng is DOWN" not in proxy.stderr_text(), proxy.stderr_tail()
    # traffic now goes to nghttpd only
    for _ in range(4):
        r = harness.curl([url(port, "/f16384")])
        assert r.status == 200 and sha(r.body) == harness.pattern_sha256(16384), (m.group(1), r)
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
