"""test_accept.py - the accept path of a plain HTTP/1.1 client connection.

An accepted connection is read at once and registered with the poller only
when its stream must wait for the client (TCP_DEFER_ACCEPT on HTTP
listeners makes the request usually there already). These tests check
that a connection per request answered without waiting costs no
registration (counted: conn_polled_late, not timed), and that every client
that does make the proxy wait is still served: one that connects and
speaks later, past the listener's deferral too, one that sends its head in
pieces, and kept-alive connections asking again.
"""

from __future__ import annotations

import hashlib
import socket
import time

import harness
import proxylib as pl


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=1)
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 100"]),
        name="accept")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    ctx.origin.stop()


def request(size: int, close: bool = True) -> bytes:
    conn = "Connection: close\r\n" if close else ""
    return f"GET /size/{size} HTTP/1.1\r\nHost: t\r\n{conn}\r\n".encode()


def read_one(so: socket.socket, until_eof: bool) -> harness.Response:
    """Reads one response from blocking socket <so>; with <until_eof>, also
    checks that the proxy closes after it."""
    data = b""
    while True:
        r = harness.parse_response(data)
        if r is not None and not until_eof:
            return r[0]
        chunk = so.recv(65536)
        if not chunk:
            r = harness.parse_response(data, eof=True)
            assert r is not None, f"closed after {len(data)} bytes"
            return r[0]
        data += chunk


def check(r: harness.Response, size: int) -> None:
    assert r.status == 200, r
    assert hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(size), size


@harness.timeout(60)
def test_connection_per_request_never_polls_its_client(ctx):
    n = 50
    before = pl.stats(ctx.port)
    for i in range(n):
        size = 1024 + i
        with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as so:
            so.sendall(request(size))
            check(read_one(so, until_eof=True), size)
    after = pl.stats(ctx.port)
    assert after["conn_accepted"] - before["conn_accepted"] >= n, (before, after)
    assert after["rsp_sent"] - before["rsp_sent"] >= n, (before, after)
    # at most the stats requests' own kept-alive connections: none of the
    # n connections waited on its client (without the lazy registration
    # this is n or more)
    late = after["conn_polled_late"] - before["conn_polled_late"]
    assert late <= 2, (late, before, after)


@harness.timeout(60)
def test_kept_alive_connections_are_polled_and_served_again(ctx):
    n = 10
    before = pl.stats(ctx.port)
    socks = pl.open_idle(ctx.port, n)
    try:
        # each waits for its next request, so each is registered
        harness.wait_until(lambda: pl.stats(ctx.port)["conn_polled_late"] - before["conn_polled_late"] >= n,
                           timeout=10, what="idle connections polled")
        time.sleep(0.2)  # all quiet: the next bytes come only through the poller
        for i, so in enumerate(socks):
            so.sendall(request(2000 + i, close=False))
        for i, so in enumerate(socks):
            check(read_one(so, until_eof=False), 2000 + i)
    finally:
        for so in socks:
            so.close()


@harness.timeout(60)
def test_clients_that_make_the_proxy_wait_are_served(ctx):
    before = pl.stats(ctx.port)
    # speaks 0.3 s after connecting, then 1.5 s after (past the second
    # the kernel defers an accept for, so accepted with nothing to read)
    for delay in (0.3, 1.5):
        with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as so:
            time.sleep(delay)
            so.sendall(request(3000))
            check(read_one(so, until_eof=True), 3000)
    # a head in two pieces: the first read finds it incomplete
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as so:
        req = request(3001)
        so.sendall(req[:10])
        time.sleep(0.3)
        so.sendall(req[10:])
        check(read_one(so, until_eof=True), 3001)
    after = pl.stats(ctx.port)
    # the 1.5 s client at least was accepted before it spoke, the split
    # head waited for its second part: both had to be registered
    assert after["conn_polled_late"] - before["conn_polled_late"] >= 2, (before, after)


if __name__ == "__main__":
    raise SystemExit(harness.main())
