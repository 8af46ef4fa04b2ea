"""test_hostapi.py - libsluice's host API through its two examples, driven
by curl over HTTP/1.1 and HTTP/2 (prior knowledge):

- examples/router: routing decided by the request hook, seen at the origins
  (their /headers route echoes the head they received), its direct 403, an
  edit beyond tune.maxrewrite answered 500, and the completion hook's
  records (one stderr line per transaction);
- examples/hello_service: a service streaming a 10 MB body (checked by
  SHA-256), reading request bodies in chunks, next to the engine's own
  prometheus-exporter service on /metrics (`http-request use-service`);
- the cap case: under tune.buffers.limit 3 / reserve 2, 200 concurrent
  clients download the service's body; every body arrives whole, nothing
  times out, and no buffer is left in use;
- an embedding program keeping the C library's malloc(): HTTPS with
  HTTP/2 through the router, whose counted heaps (OpenSSL's, HTTP/2's)
  must not mix that malloc with jemalloc's.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time

import harness
import proxylib as pl

DONE = re.compile(r"^done (-?\d+) (\S+) (\S+) (\S+) (\d+) (\d+) (-?\d+) (\S\S) (\S+) (\S+)$", re.M)

BIG = 10_000_000


def example(ctx, name: str) -> str:
    path = os.path.join(ctx.build_dir, "examples", name)
    if not os.access(path, os.X_OK):
        raise harness.HarnessError(f"{path} not built")
    return path


def start_example(ctx, name: str, make_cfg) -> tuple[harness.Proc, int]:
    """Starts examples/<name> with the config make_cfg(port) on a free port."""
    exe = example(ctx, name)

    def argv(port: int):
        path = os.path.join(ctx.tmpdir, f"{name}-{port}.cfg")
        with open(path, "w") as f:
            f.write(make_cfg(port))
        return [exe, path]

    return harness.start_with_free_port(argv, name=name)


def router_cfg(ctx, port: int) -> str:
    return f"""global
    nbthread 2
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 5s
frontend web
    bind 127.0.0.1:{port}
    stats uri {pl.STATS_URI}
    default_backend web
backend web
    server w1 127.0.0.1:{ctx.p_web}
backend api
    server a1 127.0.0.1:{ctx.p_api}
backend static
    server s1 127.0.0.1:{ctx.p_static}
"""


def hello_cfg(port: int, extra_global: str = "", extra_defaults: str = "") -> str:
    return f"""global
    nbthread 2
{extra_global}
defaults
    mode http
    timeout client 30s
    timeout server 10s
    timeout connect 5s
{extra_defaults}
frontend web
    bind 127.0.0.1:{port}
    stats uri {pl.STATS_URI}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request use-service hello
"""


def setup_module(ctx):
    ctx.o_web, ctx.p_web = harness.start_origin(ctx.build_dir, name="web")
    ctx.o_api, ctx.p_api = harness.start_origin(ctx.build_dir, name="api")
    ctx.o_static, ctx.p_static = harness.start_origin(ctx.build_dir, name="static")
    ctx.router, ctx.rport = start_example(ctx, "router", lambda p: router_cfg(ctx, p))
    ctx.router.wait_stderr(r"^router: ready", 10)
    ctx.hello, ctx.hport = start_example(ctx, "hello_service", hello_cfg)
    ctx.hello.wait_stderr(r"^hello_service: ready", 10)


def teardown_module(ctx):
    # non-zero when a sanitizer found a leak or an error
    assert ctx.router.stop() == 0, ctx.router.stderr_tail()
    assert ctx.hello.stop() == 0, ctx.hello.stderr_tail()
    for o in (ctx.o_web, ctx.o_api, ctx.o_static):
        o.stop()


def rurl(ctx, path):
    return f"http://127.0.0.1:{ctx.rport}{path}"


def hurl(ctx, path):
    return f"http://127.0.0.1:{ctx.hport}{path}"


def done_records(proc) -> list:
    return DONE.findall(proc.stderr_text())


H2 = ["--http2-prior-knowledge"]


def test_router_decisions_seen_at_origin(ctx):
    for proto in ([], H2):
        # the origins know no /api path: their 404 carries their name
        r = harness.curl([*proto, rurl(ctx, "/api/headers")])
        assert r.status == 404 and r.headers.get("X-Origin") == "api", r
        r = harness.curl([*proto, "-H", "Host: static.example", rurl(ctx, "/headers")])
        assert r.status == 200 and r.headers.get("X-Origin") == "static", r
        assert "x-router: static\r\n" in r.body.decode().lower(), r.body
        r = harness.curl([*proto, rurl(ctx, "/headers")])
        assert r.status == 200 and r.headers.get("X-Origin") == "web", r
        assert "x-router: default\r\n" in r.body.decode().lower(), r.body
        # a client's own X-Router does not get through: set replaces it
        r = harness.curl([*proto, "-H", "X-Router: forged", rurl(ctx, "/headers")])
        assert r.body.decode().lower().count("x-router:") == 1, r.body


def test_router_answers_itself(ctx):
    for proto in ([], H2):
        r = harness.curl([*proto, rurl(ctx, "/admin/users")])
        assert r.status == 403 and r.body == b"forbidden by the router\n", r
        assert r.headers.get("X-Router") == "denied", r


def test_edit_beyond_maxrewrite_is_a_clean_500(ctx):
    r = harness.curl(["-H", "X-Grow: 20000", rurl(ctx, "/headers")])
    assert r.status == 500, r
    # the connection paid, not the process: the next request goes through
    assert harness.curl([rurl(ctx, "/size/10")]).status == 200


def test_completion_records(ctx):
    before = len(done_records(ctx.router))
    assert harness.curl(["-H", "Host: static.example", rurl(ctx, "/size/1000")]).status == 200
    assert harness.curl([*H2, rurl(ctx, "/admin/x")]).status == 403
    assert harness.curl(["-H", "X-Grow: 20000", rurl(ctx, "/grow")]).status == 500
    recs = harness.wait_until(lambda: (lambda r: r if len(r) >= before + 3 else None)(done_records(ctx.router)),
                              timeout=5, what="three completion records")[before:]
    assert len(recs) == 3, recs
    ok, denied, grown = recs
    assert ok[0] == "200" and ok[1:4] == ("web", "static", "s1") and ok[7] == "--", ok
    assert ok[8:] == ("GET", "/size/1000") and int(ok[5]) > 1000 and int(ok[4]) > 0, ok
    assert denied[0] == "403" and denied[2] == "-" and denied[9] == "/admin/x", denied
    # the edit that did not fit: answered by the proxy ('P') while the
    # request head was being processed ('R')
    assert grown[0] == "500" and grown[7] == "PR", grown


def test_service_streams_10mb(ctx):
    want = harness.pattern_sha256(BIG)
    for args in ([], H2, ["--http1.0"]):
        r = harness.curl([*args, hurl(ctx, "/big")], timeout=60)
        assert r.status == 200 and len(r.body) == BIG, (args, r.status, len(r.body))
        assert hashlib.sha256(r.body).hexdigest() == want, args
    r = harness.curl([hurl(ctx, "/big?length")], timeout=60)
    assert r.headers.get("Content-Length") == str(BIG), r
    assert hashlib.sha256(r.body).hexdigest() == want
    r = harness.curl([hurl(ctx, "/big")], timeout=60)
    assert r.headers.get("Transfer-Encoding") == "chunked", r
    # HEAD: the head of the streamed answer, and no byte after it
    data = harness.raw_request(ctx.hport, b"HEAD /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               read_until_close=True)
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\n"), data


def test_service_reads_body(ctx):
    body = os.urandom(300_000)
    path = os.path.join(ctx.tmpdir, "up.bin")
    with open(path, "wb") as f:
        f.write(body)
    for args in ([], ["-H", "Transfer-Encoding: chunked"], H2):
        r = harness.curl([*args, "--data-binary", f"@{path}", hurl(ctx, "/count")])
        assert r.status == 200 and r.body == b'{"method":"POST","bytes":300000}\n', (args, r)
    # keep-alive after a service, a body it did not read included: three
    # pipelined requests on one connection get three answers in order
    data = harness.raw_request(ctx.hport, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                               b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                               b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               read_until_close=True)
    rs = harness.parse_responses(data)
    assert [r.status for r in rs] == [200, 200, 200], data
    assert [b'"path":"/%s"' % p in r.body for r, p in zip(rs, (b"a", b"b", b"c"))] == [True] * 3, data


def test_metrics_via_use_service(ctx):
    for proto in ([], H2):
        r = harness.curl([*proto, hurl(ctx, "/metrics")])
        assert r.status == 200, r
        assert r.headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), r
        assert b"\nsluice_requests_total " in r.body and b"sluice_pool_buffers_in_use" in r.body, r.body[:200]
    # the service negotiates as the stats applet does (one function): OpenMetrics when asked
    r = harness.curl(["-H", "Accept: application/openmetrics-text; version=1.0.0", hurl(ctx, "/metrics")])
    assert r.headers.get("Content-Type", "").startswith("application/openmetrics-text; version=1.0.0"), r
    assert b"\n# TYPE sluice_requests counter\n" in r.body and r.body.endswith(b"\n# EOF\n"), r.body[-200:]


def test_unknown_service_is_a_config_error(ctx):
    path = os.path.join(ctx.tmpdir, "bad.cfg")
    with open(path, "w") as f:
        f.write(hello_cfg(harness.free_port()).replace("use-service hello", "use-service nope"))
    line = next(i for i, l in enumerate(open(path).read().split("\n"), 1) if "nope" in l)
    cp = subprocess.run([pl.sluice_path(ctx.build_dir), "-c", "-f", path], capture_output=True, timeout=30)
    err = cp.stderr.decode()
    assert cp.returncode != 0 and f"bad.cfg:{line}: 'http-request use-service' unknown service 'nope'" in err, err
    # the example registers "hello", not "nope": refused at start the same way
    cp = subprocess.run([example(ctx, "hello_service"), path], capture_output=True, timeout=30)
    assert cp.returncode != 0 and "unknown service 'nope'" in cp.stderr.decode(), cp.stderr


@harness.timeout(280)
def test_cap_200_clients(ctx):
    # 10 MB each in the plain build; 1 MB each under a sanitizer, whose
    # runtime makes every byte moved several times dearer (SLUICE_SANITIZE)
    size = pl.scale(BIG, 1_000_000)
    clients = 200
    # new request heads wait behind responses (memory-freeing work first):
    # timeout queue bounds that wait and must cover the whole run
    proc, port = start_example(ctx, "hello_service",
                               lambda p: hello_cfg(p, "    tune.buffers.limit 3\n    tune.buffers.reserve 2",
                                                   "    timeout queue 120s"))
    try:
        proc.wait_stderr(r"^hello_service: ready", 10)
        t0 = time.monotonic()
        url = f"http://127.0.0.1:{port}/big?size={size}"
        jobs = [subprocess.Popen(["sh", "-c", f"curl -s -S --noproxy '*' --max-time 240 '{url}' | sha256sum"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(clients)]
        sums = []
        for j in jobs:
            out, err = j.communicate(timeout=260)
            sums.append(out.split()[0].decode() if out else err.decode())
        elapsed = time.monotonic() - t0
        want = harness.pattern_sha256(size)
        bad = [s for s in sums if s != want]
        assert not bad, f"{len(bad)} of {clients} bodies wrong or incomplete: {bad[:3]}"
        st = pl.wait_quiet(port)
        print(f"    {clients} x {size} bytes under limit 3 / reserve 2 in {elapsed:.1f} s, "
              f"{st['pool_handoffs']} hand-offs, peak {st['pool_peak_in_use']} buffers")
        assert st["pool_in_use"] == 0 and st["pool_waiting"] == 0, st
        assert st["pool_peak_in_use"] <= 3, st
        assert st["buf_wait_timeouts"] == 0 and st["req_aborted"] == 0, st
        assert st["timeouts_client"] == 0 and st["timeouts_http_request"] == 0, st
        assert st["rsp_sent"] >= clients, st
        # no stampede: a hand-off wakes one stream, which moves bytes
        # without running its processing function each time
        assert st["stream_calls"] <= 20 * st["req_received"], st
    finally:
        assert proc.stop() == 0, proc.stderr_tail()


@harness.timeout(120)
def test_embedder_keeping_the_c_librarys_malloc(ctx):
    """examples/router links libsluice and the C library only, so the loader
    binds its malloc(), free() and malloc_usable_size() to the C library's,
    while libsluice reaches jemalloc by jemalloc's own names. OpenSSL's heap
    and the HTTP/2 heap, counted at usable sizes, must size and free each
    block with the allocator that made it: mixed, the counts go wrong and
    the heaps corrupt. HTTPS with HTTP/2 (ALPN) through the router: every
    body checked, OpenSSL's count sane and falling back once the clients
    leave, the HTTP/2 heap gauge back at zero, and a clean stop."""
    from test_tls import make_certs
    harness.require_tool("h2load")
    certs = make_certs(ctx.tmpdir)
    tport = harness.free_port()

    def cfg(port):
        return router_cfg(ctx, port) + f"""frontend tls
    bind 127.0.0.1:{tport} ssl crt {certs} alpn h2,http/1.1
    default_backend web
"""
    proc, port = start_example(ctx, "router", cfg)
    try:
        proc.wait_stderr(r"^router: ready", 10)
        base = pl.wait_quiet(port)
        assert base["tls_heap_counted"] == 1, base
        for size in (10, 100_000):
            cp = subprocess.run(["curl", "-sk", "--http2", "-o", "-", "-w", "%{http_version}",
                                 f"https://127.0.0.1:{tport}/size/{size}"],
                                capture_output=True, timeout=30)
            assert cp.returncode == 0, cp.stderr
            assert cp.stdout == harness.pattern_bytes(size) + b"2", cp.stdout[-40:]
        n = pl.scale(4000, 1000)
        ok, failed, errored, s2xx, out = pl.h2load(f"https://127.0.0.1:{tport}/size/1000", n, 10, 10)
        assert ok == n and s2xx == n and "h2" in out, out
        st = harness.wait_until(
            lambda: (lambda x: x if x["h2_heap_bytes"] == 0 else None)(pl.wait_quiet(port)),
            timeout=10, what="HTTP/2 heap back to zero")
        # the contexts and the session cache only: a garbage size read by
        # the wrong allocator would be far off either way
        assert 10_000 < st["tls_heap_bytes"] < base["tls_heap_bytes"] + 4 * 1024 * 1024, (base, st)
    finally:
        assert proc.stop() == 0, proc.stderr_tail()


if __name__ == "__main__":
    raise SystemExit(harness.main())
