"""test_hardening.py - defects found by review that a misbehaving origin or
client turns into a security problem: a server connection reused with
bytes left in it, a 101 nobody asked for, interim answers that leak
hop-by-hop headers or reach HTTP/1.0 clients, CONNECT."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import harness
import proxylib as pl
import scripted
from test_h2 import frame, hpack_get, read_frames

BIG = 3 << 20


def start_proxy(ctx, origin_port: int, name: str, extra_srv: str = ""):
    """One worker thread, so that every request reuses the same idle
    server connection when it can."""
    return pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{origin_port} maxconn 10{extra_srv}"],
                                      nbthread=1), name=name)


def leaky_handler(conn, head, pending):
    """GET /big: a 3 MiB body, then 0.2 s later a whole second response
    nobody asked for. Anything else: "GOOD"."""
    path = head.split(b" ")[1]
    if path == b"/big":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG + b"a" * BIG)
        time.sleep(0.2)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        return True
    if path == b"/small":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"s" * 1000)
        time.sleep(0.2)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        return True
    if path == b"/head-body" or path == b"/204":
        status = b"204 No Content" if path == b"/204" else b"200 OK"
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 4\r\n\r\n")
        time.sleep(0.2)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        return True
    if path == b"/trickle":
        # a response head trickled in pieces, one of them an interim answer
        msg = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Pad: " + b"q" * 1500
               + b"\r\nContent-Length: 4\r\n\r\nGOOD")
        for i in range(0, len(msg), 7):
            conn.sendall(msg[i:i + 7])
            time.sleep(0.001)
        return True
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nGOOD")
    return True


@harness.timeout(60)
def test_server_bytes_past_response_never_reach_next_client(ctx):
    """A slow reader keeps the transaction open while the origin writes a
    second, unsolicited response on the same connection: the next client
    must get its own answer, never those bytes."""
    origin = scripted.ScriptedOrigin(leaky_handler)
    try:
        proxy, port = start_proxy(ctx, origin.port, "leak")
        with harness.RawConn(port, timeout=10) as c:
            c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.8)  # the extra bytes reach the proxy meanwhile
            r = c.read_response()
            assert r.status == 200 and len(r.body) == BIG, r.status
        for _ in range(3):
            with harness.RawConn(port, timeout=10) as c:
                r = c.request("GET", "/next")
                assert r.status == 200 and r.body == b"GOOD", (r.status, r.body)
        assert proxy.stop() == 0
    finally:
        origin.close()


@harness.timeout(60)
def test_h2_client_withholding_window_no_leak(ctx):
    """The reproduction of the review: an HTTP/2 client opens with an
    initial window of 0, so its response sits in the proxy while the
    origin writes a second, unsolicited response; the window opens 0.8 s
    later. The next client, on a new connection, must get its own answer."""
    origin = scripted.ScriptedOrigin(leaky_handler)
    try:
        proxy, port = start_proxy(ctx, origin.port, "leakh2")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                      + frame(4, 0, 0, b"\x00\x04\x00\x00\x00\x00")  # INITIAL_WINDOW_SIZE 0
                      + frame(1, 5, 1, hpack_get("/small")))
            time.sleep(0.8)
            s.sendall(frame(4, 1, 0) + frame(8, 0, 1, (65535).to_bytes(4, "big")))
            frames = read_frames(s, 2)
        data = b"".join(p for t, _f, sid, p in frames if t == 0 and sid == 1)
        assert data == b"s" * 1000, (len(data), frames[:5])
        for _ in range(3):
            with harness.RawConn(port, timeout=10) as c:
                r = c.request("GET", "/next")
                assert r.status == 200 and r.body == b"GOOD", (r.status, r.body)
        assert pl.stats(port)["srv_conn_unclean"] >= 1
        assert proxy.stop() == 0
    finally:
        origin.close()


@harness.timeout(60)
def test_body_after_bodiless_response_never_reused(ctx):
    """An origin that writes a body after answering HEAD, or after a 204:
    the bytes must not become the answer of a later request, even when
    that request comes at once on the same proxy thread."""
    origin = scripted.ScriptedOrigin(leaky_handler)
    try:
        proxy, port = start_proxy(ctx, origin.port, "headbody")
        for method, path in (("HEAD", "/head-body"), ("GET", "/204")):
            with harness.RawConn(port, timeout=10) as c:
                r = c.request(method, path)
                assert r.status in (200, 204), r.status
                time.sleep(0.4)  # the unsolicited bytes arrive
                r = c.request("GET", "/next")
                assert r.status == 200 and r.body == b"GOOD", (method, r.status, r.body)
        assert proxy.stop() == 0
    finally:
        origin.close()


def upgrade_handler(conn, head, pending):
    """Answers 101 whatever the request said, then echoes raw bytes."""
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
    conn.settimeout(2)
    try:
        data = conn.recv(4096)
        if data:
            conn.sendall(b"ECHO:" + data)
    except OSError:
        pass
    return False


@harness.timeout(60)
def test_unrequested_101_is_502(ctx):
    """A 101 to a request that did not ask to upgrade, or that names a
    protocol the request did not offer, is a bad answer (502), never a
    tunnel; a real upgrade still tunnels."""
    origin = scripted.ScriptedOrigin(upgrade_handler)
    try:
        proxy, port = start_proxy(ctx, origin.port, "up")
        with harness.RawConn(port, timeout=10) as c:
            r = c.request("GET", "/x")
            assert r.status == 502, r.status
        with harness.RawConn(port, timeout=10) as c:
            r = c.request("GET", "/x", headers=[("Connection", "upgrade"), ("Upgrade", "h2c")])
            assert r.status == 502, r.status
        with harness.RawConn(port, timeout=10) as c:
            c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n")
            r = c.read_response(skip_interim=False)
            assert r.status == 101, r.status
            c.send(b"hello")
            deadline = time.monotonic() + 5
            while b"ECHO:hello" not in c.buf and not c.eof:
                c._recv(deadline)
            assert b"ECHO:hello" in c.buf, c.buf
        assert proxy.stop() == 0
    finally:
        origin.close()


def interim_handler(conn, head, pending):
    """Sends a 103 carrying a hop-by-hop header named by its Connection
    header, then the final answer."""
    conn.sendall(b"HTTP/1.1 103 Early Hints\r\nConnection: X-Secret\r\nX-Secret: s3cr3t\r\n"
                 b"Link: </a.css>; rel=preload\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nGOOD")
    return True


@harness.timeout(60)
def test_interim_answers_clean_and_not_to_http10(ctx):
    origin = scripted.ScriptedOrigin(interim_handler)
    try:
        proxy, port = start_proxy(ctx, origin.port, "interim")
        got = harness.raw_request(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"103 Early Hints" in got, got
        assert b"s3cr3t" not in got and b"X-Secret" not in got, got
        assert b"Link: </a.css>" in got, got
        assert got.endswith(b"GOOD"), got
        got = harness.raw_request(port, b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
        assert b" 103 " not in got, got
        assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"GOOD"), got
        assert proxy.stop() == 0
    finally:
        origin.close()


@harness.timeout(60)
def test_connect_refused_not_forwarded(ctx):
    origin = scripted.ScriptedOrigin(leaky_handler)
    try:
        proxy, port = start_proxy(ctx, origin.port, "connect")
        got = harness.raw_request(port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                                        b"Content-Length: 5\r\n\r\nhello", read_until_close=True)
        assert got.startswith(b"HTTP/1.1 501"), got
        # the origin never saw it
        assert not any(h.startswith(b"CONNECT") for h in origin.heads), origin.heads
        assert proxy.stop() == 0
    finally:
        origin.close()


@harness.timeout(60)
def test_maxstreams_refuses_streams_over_the_cap(ctx):
    """maxconn counts connections; maxstreams bounds HTTP/2 streams across
    the process: one connection opening 40 slow streams with maxstreams 10
    gets at most 10 served at once, the rest refused (REFUSED_STREAM, safe
    to retry), and every counted stream is given back."""
    harness.require_tool("h2load")
    origin, oport = harness.start_origin(ctx.build_dir, name="o", threads=2)
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{oport} maxconn 100"],
                                      global_extra="    maxstreams 10"), name="maxstreams")
    ok, failed, errored, s2xx, out = pl.h2load(f"http://127.0.0.1:{port}/delay/300", 40, 1, 40)
    st = pl.stats(port)
    assert 10 <= ok <= 30 and s2xx == ok, out
    assert st["h2_streams_refused"] == 40 - ok, (st["h2_streams_refused"], out)
    # the count came back: a second run is served the same way
    ok2, *_ = pl.h2load(f"http://127.0.0.1:{port}/size/10", 10, 1, 10)
    assert ok2 == 10
    assert proxy.stop() == 0
    origin.stop()


@harness.timeout(60)
def test_rejected_request_logged_with_its_request_line(ctx):
    """A rejected head is logged with what could be read of its request
    line (escaped), not as "- -"; a head trickled in pieces (request
    or response) is parsed once complete."""
    origin = scripted.ScriptedOrigin(leaky_handler)
    log = os.path.join(ctx.tmpdir, "access.log")
    try:
        proxy, port = pl.start_sluice(
            ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{origin.port}"],
                                          global_extra=f"    log {log}", nbthread=1), name="rejlog")
        got = harness.raw_request(port, b"GET /bad\x01path HTTP/1.1\r\nHost: t\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400"), got
        head = b"GET /next HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 2000 + b"\r\n\r\n"
        with harness.RawConn(port, timeout=10) as c:
            for i in range(0, len(head), 7):
                c.send(head[i:i + 7])
            r = c.read_response()
            assert r.status == 200 and r.body == b"GOOD", r.status
        # the same for a response head trickled by the server
        with harness.RawConn(port, timeout=10) as c:
            c.send(b"GET /trickle HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and r.body == b"GOOD", r.status
            assert r.headers.get("x-pad") == "q" * 1500, r.headers
        def two_lines():
            lines = open(log).read().splitlines() if os.path.exists(log) else []
            return lines if len(lines) >= 2 else None
        lines = harness.wait_until(two_lines, timeout=5, what="two log lines")
        assert any(" 400 " in ln and '"GET /bad\\x01path"' in ln for ln in lines), lines
        assert proxy.stop() == 0
    finally:
        origin.close()


if __name__ == "__main__":
    raise SystemExit(harness.main())
