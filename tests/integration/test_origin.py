"""test_origin.py - checks sluice-origin, the origin server of the tests.

Run: python3 tests/integration/test_origin.py --build-dir BUILD [-k NAME]
"""

import hashlib
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import RawConn, build_request, chunk_encode, curl, pattern_bytes, pattern_sha256  # noqa: E402

MB = 1000 * 1000


def setup_module(ctx):
    # one thread: /delay must not block the other clients of that thread
    ctx.origin, ctx.port = harness.start_origin(ctx.build_dir, name="o1", threads=1)
    ctx.base = f"http://127.0.0.1:{ctx.port}"


def teardown_module(ctx):
    rc = ctx.origin.stop()
    assert rc == 0, f"origin exit status {rc}: {ctx.origin.stderr_tail()}"


def _file(ctx, name, data):
    path = os.path.join(ctx.tmpdir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_root(ctx):
    r = curl([ctx.base + "/"])
    assert r.exit_code == 0 and r.status == 200, r
    assert b"Sluice demo origin" in r.body, r
    assert r.headers.get("X-Origin") == "o1", r
    assert int(r.headers["Content-Length"]) == len(r.body), r


def test_size_digests(ctx):
    for n in (0, 1, 65536, 10 * MB):
        r = curl([f"{ctx.base}/size/{n}"])
        assert r.exit_code == 0 and r.status == 200, r
        assert r.headers.get("Content-Length") == str(n), r
        assert len(r.body) == n, (n, len(r.body))
        assert hashlib.sha256(r.body).hexdigest() == pattern_sha256(n), f"digest of /size/{n}"


def test_size_exact_bytes_and_head(ctx):
    with RawConn(ctx.port) as c:
        r = c.request("GET", "/size/200")
        assert r.status == 200 and r.body == pattern_bytes(200), r
        assert pattern_bytes(200)[:3] == b"abc" and pattern_bytes(3, offset=60) == b"8ab"
        r = c.request("HEAD", "/size/12345")
        assert r.status == 200 and r.headers.get("Content-Length") == "12345" and r.body == b"", r
        # the HEAD answer carried no body: the next answer starts right there
        r = c.request("GET", "/size/7")
        assert r.body == b"abcdefg", r
    r = curl([f"{ctx.base}/size/abc"])
    assert r.status == 400, r


def test_chunked(ctx):
    r = curl([f"{ctx.base}/chunked/100000"])
    assert r.exit_code == 0 and r.status == 200, r
    assert r.headers.get("Transfer-Encoding") == "chunked", r
    assert r.body == pattern_bytes(100000)
    with RawConn(ctx.port) as c:
        r = c.request("GET", "/chunked/10000")
        assert r.chunked and r.body == pattern_bytes(10000), r
        assert r.chunk_sizes == [4096, 4096, 1808], r.chunk_sizes
        r = c.request("GET", "/chunked/2500?chunk=1000")
        assert r.chunk_sizes == [1000, 1000, 500] and r.body == pattern_bytes(2500), r.chunk_sizes
        r = c.request("GET", "/chunked/3000000?chunk=1048576")
        assert r.chunk_sizes == [1048576, 1048576, 902848], r.chunk_sizes
        assert hashlib.sha256(r.body).hexdigest() == pattern_sha256(3000000)
        r = c.request("GET", "/chunked/0")
        assert r.chunked and r.body == b"" and r.chunk_sizes == [], r
        r = c.request("HEAD", "/chunked/10")
        assert r.status == 200 and r.body == b"", r
        r = c.request("GET", "/chunked/5?chunk=0")
        assert r.status == 400, r


@harness.timeout(30)
def test_echo_content_length_1mb(ctx):
    data = os.urandom(1 << 20)
    path = _file(ctx, "body.bin", data)
    r = curl(["--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream",
              ctx.base + "/echo"])
    assert r.exit_code == 0 and r.status == 200, r
    assert r.headers.get("Content-Length") == str(len(data)), r
    assert r.headers.get("X-Request-Body-Length") == str(len(data)), r
    assert r.body == data, "echoed body differs"
    r = curl(["-X", "PUT", "--data-binary", "abc", ctx.base + "/echo"])
    assert r.status == 200 and r.body == b"abc", r


@harness.timeout(30)
def test_echo_chunked(ctx):
    data = os.urandom(1 << 20)
    path = _file(ctx, "body.bin", data)
    r = curl(["--data-binary", "@" + path, "-H", "Transfer-Encoding: chunked", ctx.base + "/echo"])
    assert r.exit_code == 0 and r.status == 200, r
    assert r.headers.get("Transfer-Encoding") == "chunked", r
    assert r.body == data, "echoed body differs"
    assert r.trailers.get("X-Request-Body-Length") == str(len(data)), r.trailers
    # odd chunk sizes, extensions and request trailers, on a raw socket
    body = bytes(range(256)) * 40
    wire = chunk_encode(body, chunk=777, trailers=[("X-Sum", "1")]).replace(b"\r\n", b";ext=1\r\n", 1)
    with RawConn(ctx.port) as c:
        c.send(build_request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + wire)
        r = c.read_response()
        assert r.status == 200 and r.body == body, r
        assert r.trailers.get("X-Request-Body-Length") == str(len(body)), r
        r = c.request("GET", "/size/3")
        assert r.body == b"abc", r


def test_echo_needs_post(ctx):
    r = curl([ctx.base + "/echo"])
    assert r.status == 405 and r.headers.get("Allow") == "POST, PUT", r
    r = curl([ctx.base + "/sha256"])
    assert r.status == 405, r


@harness.timeout(30)
def test_sha256_upload_10mb(ctx):
    data = os.urandom(10 * MB)
    path = _file(ctx, "upload.bin", data)
    r = curl(["--data-binary", "@" + path, ctx.base + "/sha256"])
    assert r.exit_code == 0 and r.status == 200, r
    assert r.body == f"{hashlib.sha256(data).hexdigest()} {len(data)}\n".encode(), r
    r = curl(["--data-binary", "@" + path, "-H", "Transfer-Encoding: chunked", ctx.base + "/sha256"])
    assert r.body == f"{hashlib.sha256(data).hexdigest()} {len(data)}\n".encode(), r
    r = curl(["-X", "POST", ctx.base + "/sha256"])
    assert r.body == f"{hashlib.sha256(b'').hexdigest()} 0\n".encode(), r


def test_expect_100_continue(ctx):
    body = b"x" * 5000
    with RawConn(ctx.port) as c:
        c.send(build_request("POST", "/sha256", [("Expect", "100-continue"),
                                                 ("Content-Length", str(len(body)))]))
        interim = c.read_response(skip_interim=False)
        assert interim.status == 100, interim
        c.send(body)
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == f"{hashlib.sha256(body).hexdigest()} {len(body)}\n".encode(), r
    r = curl(["--data-binary", "@" + _file(ctx, "b", body), "-H", "Expect: 100-continue",
              ctx.base + "/echo"])
    assert [s for s, _ in r.heads] == [100, 200] and r.body == body, r


def test_http10(ctx):
    # HTTP/1.0 without keep-alive: answer, then close
    data = harness.raw_request(ctx.port, b"GET /size/10 HTTP/1.0\r\n\r\n", read_until_close=True)
    (r,) = harness.parse_responses(data)
    assert r.status == 200 and r.body == pattern_bytes(10), r
    assert r.headers.get("Connection") == "close", r
    # HTTP/1.0 asking for keep-alive keeps the connection
    with RawConn(ctx.port) as c:
        r = c.request("GET", "/", [("Connection", "keep-alive")], version="1.0")
        assert r.status == 200 and r.headers.get("Connection") == "keep-alive", r
        r = c.request("GET", "/size/5", [("Connection", "keep-alive")], version="1.0")
        assert r.body == b"abcde", r
        # chunked is not HTTP/1.0: the length is given by the close
        c.send(build_request("GET", "/chunked/3000", [("Connection", "keep-alive")], version="1.0"))
        (r,) = harness.parse_responses(c.read_until_close())
        assert r.body == pattern_bytes(3000) and "Transfer-Encoding" not in r.headers, r
    r = curl(["--http1.0", ctx.base + "/size/100"])
    assert r.status == 200 and r.body == pattern_bytes(100), r


def test_keep_alive_reuse(ctx):
    with RawConn(ctx.port) as c:
        local = c.sock.getsockname()
        r1 = c.request("GET", "/size/10")
        r2 = c.request("GET", "/headers")
        assert r1.status == 200 and r2.status == 200, (r1, r2)
        assert "Connection" not in r1.headers, r1
        assert c.sock.getsockname() == local and not c.is_closed(0.2)
    # curl reusing one connection for two URLs
    r = curl(["-v", f"{ctx.base}/size/1", f"{ctx.base}/size/2"])
    assert r.exit_code == 0 and "Re-using existing connection" in r.stderr, r.stderr


def test_pipelining(ctx):
    reqs = (build_request("GET", "/size/10") + build_request("HEAD", "/size/99")
            + build_request("POST", "/echo", body=b"hello") + build_request("GET", "/status/404")
            + build_request("GET", "/chunked/5000?chunk=999"))
    with RawConn(ctx.port) as c:
        c.send(reqs)
        rs = [c.read_response(), c.read_response(head=True), c.read_response(),
              c.read_response(), c.read_response()]
    assert rs[0].body == pattern_bytes(10), rs[0]
    assert rs[1].headers.get("Content-Length") == "99" and rs[1].body == b"", rs[1]
    assert rs[2].body == b"hello", rs[2]
    assert rs[3].status == 404, rs[3]
    assert rs[4].body == pattern_bytes(5000) and max(rs[4].chunk_sizes) == 999, rs[4]
    # many small pipelined requests in one write
    n = 200
    with RawConn(ctx.port) as c:
        c.send(build_request("GET", "/size/3") * n)
        for _ in range(n):
            assert c.read_response().body == b"abc"


@harness.timeout(20)
def test_delay_does_not_block(ctx):
    with RawConn(ctx.port, timeout=10) as slow:
        t0 = time.monotonic()
        slow.send(build_request("GET", "/delay/1000"))
        time.sleep(0.05)
        r = curl([ctx.base + "/size/5"])
        fast = time.monotonic() - t0
        assert r.status == 200 and fast < 0.9, f"other client waited {fast:.2f}s"
        d = slow.read_response()
        took = time.monotonic() - t0
        assert d.status == 200 and d.body == b"delayed 1000 ms\n", d
        assert 0.95 <= took < 5, f"/delay/1000 took {took:.2f}s"
        r = slow.request("GET", "/delay/0")
        assert r.status == 200, r


def test_never(ctx):
    with RawConn(ctx.port) as c:
        c.send(build_request("GET", "/never"))
        assert not c.is_closed(0.5), "/never answered or closed"
        c.send(b"more bytes are dropped")
        assert not c.is_closed(0.2)
    assert curl([ctx.base + "/"]).status == 200


def test_close(ctx):
    with RawConn(ctx.port) as c:
        r = c.request("GET", "/close")
        assert r.status == 200 and r.headers.get("Connection") == "close", r
        assert c.is_closed(2.0), "not closed after /close"
    # a request with Connection: close gets the same treatment
    with RawConn(ctx.port) as c:
        r = c.request("GET", "/size/4", [("Connection", "close")])
        assert r.headers.get("Connection") == "close" and c.is_closed(2.0), r


def test_status(ctx):
    for code in (200, 201, 302, 404, 418, 500, 502, 503, 599):
        r = curl([f"{ctx.base}/status/{code}"])
        assert r.status == code and r.body == f"status {code}\n".encode(), r
        assert r.headers.get("X-Origin") == "o1", r
    with RawConn(ctx.port) as c:
        r = c.request("GET", "/status/204")
        assert r.status == 204 and "Content-Length" not in r.headers, r
        r = c.request("GET", "/status/304")
        assert r.status == 304, r
        assert c.request("GET", "/size/2").body == b"ab"
    for bad in ("/status/99", "/status/600", "/status/x", "/status/"):
        assert curl([ctx.base + bad]).status == 400, bad


def test_headers_echo(ctx):
    r = curl(["-H", "X-Test: some value", "-H", "Connection: keep-alive",
              ctx.base + "/headers?q=1"])
    assert r.status == 200 and r.headers.get("Content-Type") == "text/plain", r
    lines = r.body.decode().split("\r\n")
    assert lines[0] == "GET /headers?q=1 HTTP/1.1", lines
    assert "X-Test: some value" in lines and "Connection: keep-alive" in lines, lines
    assert r.body.endswith(b"\r\n\r\n"), r


def test_not_found(ctx):
    for path in ("/nothing", "/size", "/echo/x", "/SIZE/1"):
        r = curl([ctx.base + path])
        assert r.status == 404 and r.headers.get("X-Origin") == "o1", (path, r)


def test_bad_requests(ctx):
    cases = [
        (b"garbage\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 431),
    ]
    for wire, status in cases:
        data = harness.raw_request(ctx.port, wire, read_until_close=True)
        rs = harness.parse_responses(data)
        assert len(rs) == 1 and rs[0].status == status, (wire[:40], data[:200])
        assert rs[0].headers.get("Connection") == "close", rs[0]
    # a broken chunked body closes the connection
    with RawConn(ctx.port) as c:
        c.send(build_request("POST", "/sha256", [("Transfer-Encoding", "chunked")]) + b"zz\r\n")
        assert c.is_closed(2.0)
    assert curl([ctx.base + "/"]).status == 200


def test_blank_lines_and_bare_lf(ctx):
    with RawConn(ctx.port) as c:
        c.send(b"\r\n\r\nGET /size/3 HTTP/1.1\nHost: x\n\n")
        r = c.read_response()
        assert r.body == b"abc", r


def test_half_close(ctx):
    # the client sends its request then its FIN: the answer still comes
    with RawConn(ctx.port) as c:
        c.send(build_request("GET", "/delay/100") + build_request("GET", "/size/4"))
        c.shutdown_write()
        rs = harness.parse_responses(c.read_until_close())
        assert [r.status for r in rs] == [200, 200] and rs[1].body == b"abcd", rs


@harness.timeout(30)
def test_slow_reader(ctx):
    n = 10 * MB
    sock = socket.create_connection(("127.0.0.1", ctx.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    try:
        sock.sendall(build_request("GET", f"/size/{n}"))
        time.sleep(0.5)
        # the origin's only thread is blocked on nothing: others are served
        assert curl([ctx.base + "/size/10"], timeout=5).status == 200
        buf = bytearray()
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf[:4096]:
                head_len = buf.index(b"\r\n\r\n") + 4
                if len(buf) >= head_len + n:
                    break
            if len(buf) < 4 * MB:
                time.sleep(0.0005)  # read slowly at first
    finally:
        sock.close()
    head_len = buf.index(b"\r\n\r\n") + 4
    body = bytes(buf[head_len:])
    assert len(body) == n and hashlib.sha256(body).hexdigest() == pattern_sha256(n)


@harness.timeout(40)
def test_wrk(ctx):
    harness.require_tool("wrk")
    # a long per-request timeout: a loaded machine must not make it flaky
    res = harness.run_wrk(ctx.base + "/", connections=50, threads=2, duration_s=2,
                          extra_args=["--timeout", "10s"])
    assert res["requests"] > 100, res["output"]
    assert res["errors_total"] == 0 and res["non2xx"] == 0, res["output"]
    assert res["p99_ms"] is not None and res["rps"] > 0, res["output"]
    print(f"    wrk /: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms")


def test_sigusr1_counters(ctx):
    before = ctx.origin.stderr_text().count("counters")
    ctx.origin.send_signal(signal.SIGUSR1)
    harness.wait_until(lambda: ctx.origin.stderr_text().count("counters") > before, 5,
                       what="counters on stderr")
    line = [ln for ln in ctx.origin.stderr_text().splitlines() if "counters" in ln][-1]
    assert "origin o1: counters requests=" in line and "connections=" in line, line


def test_threads_several_listeners_sigint(ctx):
    exe = harness.origin_path(ctx.build_dir)
    p = harness.Proc([exe, "-n", "multi", "-t", "2", "-l", "127.0.0.1:0", "-l", "127.0.0.1:0"])
    p.wait_stderr(r"^listening on .*\n^listening on ")
    lines = [ln for ln in p.stderr_text().splitlines() if ln.startswith("listening on")]
    ports = [int(ln.rsplit(":", 1)[1]) for ln in lines]
    assert len(set(ports)) == 2, lines
    for port in ports:
        for _ in range(4):  # spread over both threads' sockets
            r = curl([f"http://127.0.0.1:{port}/size/3"])
            assert r.status == 200 and r.headers.get("X-Origin") == "multi", r
    # a taken port is refused, not shared through SO_REUSEPORT
    q = harness.Proc([exe, "-q", "-t", "2", "-l", f"127.0.0.1:{ports[0]}"], check_exit=False)
    assert q.wait_exit(5) == 1 and "in use" in q.stderr_text(), q.stderr_text()
    assert p.stop(sig=signal.SIGINT) == 0, p.stderr_tail()
    assert "stopped: requests=" in p.stderr_text(), p.stderr_tail()


def test_ipv6(ctx):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        raise harness.Skip("no IPv6 loopback")
    p, port = harness.start_origin(ctx.build_dir, name="v6", host="::1")
    r = curl([f"http://[::1]:{port}/size/5"])
    assert r.status == 200 and r.body == b"abcde" and r.headers.get("X-Origin") == "v6", r
    assert p.stop() == 0


def test_bad_options(ctx):
    exe = harness.origin_path(ctx.build_dir)
    for args in (["-t", "0"], ["-l", "nonsense"], ["-l", "1.2.3.4:99999"], ["extra"]):
        p = harness.Proc([exe, *args], check_exit=False)
        assert p.wait_exit(5) == 2, (args, p.stderr_text())


if __name__ == "__main__":
    raise SystemExit(harness.main())
