"""test_lean.py - what a connection keeps while nothing is in flight.

HTTP/1.1: between two keep-alive transactions the stream is freed and only
the connection stays, parked with its keep-alive timer; the next request
makes a new stream on it. These tests check that every idle connection is
parked, that all of them then serve another request with the right bytes,
that the counters add up, and that parked connections still close on the
keep-alive timeout and on a stop.

HTTP/2: a connection quiet for a second gives nghttp2's output buffer pages
back to the system; the next answers fault them back in, byte-exact.
"""

from __future__ import annotations

import hashlib
import signal
import socket
import time

import harness
import proxylib as pl


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=1)


def teardown_module(ctx):
    ctx.origin.stop()


def read_response(so: socket.socket) -> harness.Response:
    """Reads one response with a Content-Length from a blocking socket."""
    data = b""
    while True:
        r = harness.parse_response(data)
        if r is not None:
            return r[0]
        chunk = so.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} bytes")
        data += chunk


def parked(port: int) -> int:
    return pl.stats(port)["conn_idle_parked"]


@harness.timeout(120)
def test_idle_connections_release_their_stream(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"]), name="park")
    n = pl.scale(1000, 300)
    before = pl.stats(port)
    socks = pl.open_idle(port, n)
    try:
        # every idle connection is parked: its stream is gone (the stats
        # request's own connection may be parked too, or not yet)
        harness.wait_until(lambda: parked(port) >= n, timeout=20, what="connections parked")
        s = pl.stats(port)
        assert s["conn_current"] >= n, s
        assert s["pool_in_use"] == 0, s
        assert s["streams_parked"] - before["streams_parked"] >= n, (before, s)
        # a second request on every one of them, each a different size
        for i, so in enumerate(socks):
            so.sendall(f"GET /size/{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        for i, so in enumerate(socks):
            r = read_response(so)
            assert r.status == 200, (i, r)
            assert hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(i), i
        harness.wait_until(lambda: parked(port) >= n, timeout=20, what="parked again")
        after = pl.wait_quiet(port)
        # 2 requests per connection plus our stats requests, all answered
        got = after["req_received"] - before["req_received"]
        assert got >= 2 * n, (before, after)
        assert after["rsp_sent"] - before["rsp_sent"] >= 2 * n, (before, after)
        assert after["req_aborted"] == before["req_aborted"], (before, after)
        assert after["streams_parked"] - before["streams_parked"] >= 2 * n, (before, after)
        assert after["pool_in_use"] == 0 and after["conn_current"] >= n, after
    finally:
        for so in socks:
            so.close()
    # closing the clients frees the parked connections
    harness.wait_until(lambda: parked(port) <= 1, timeout=20, what="parked connections closed")
    assert proxy.stop() == 0, proxy.stderr_tail()


@harness.timeout(60)
def test_parked_connections_time_out_and_stop(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    timeout http-keep-alive 1s"),
        name="parkto")
    n = 50
    socks = pl.open_idle(port, n)
    try:
        harness.wait_until(lambda: parked(port) >= n, timeout=10, what="connections parked")
        # the keep-alive timeout closes them quietly: each client reads EOF
        for so in socks:
            so.settimeout(10)
            assert so.recv(1) == b""
        harness.wait_until(lambda: pl.stats(port)["conn_current"] <= 1, timeout=10,
                           what="connections closed")
        assert parked(port) <= 1
    finally:
        for so in socks:
            so.close()
    # a stop closes parked connections at once (graceful: nothing in flight)
    socks = pl.open_idle(port, n)
    try:
        harness.wait_until(lambda: parked(port) >= n, timeout=10, what="connections parked")
        t0 = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait_exit(10) == 0, proxy.stderr_tail()
        assert time.monotonic() - t0 < 5
        for so in socks:
            so.settimeout(5)
            assert so.recv(1) == b""
    finally:
        for so in socks:
            so.close()


# ---- HTTP/2: nghttp2's output buffer given back while the connection is quiet

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def h2_get(sid: int, path: str) -> bytes:
    """HEADERS (END_STREAM | END_HEADERS) of a GET, literal fields, no Huffman."""
    block = b"\x82\x86" + bytes([0x04, len(path)]) + path.encode() + b"\x01\x01t"
    return h2_frame(1, 0x5, sid, block)


class H2Conn:
    """A minimal HTTP/2 client over one socket: sends GETs, collects each
    stream's DATA until END_STREAM, acknowledges SETTINGS."""

    def __init__(self, port: int):
        self.so = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.so.sendall(PREFACE + h2_frame(4, 0, 0))
        self.buf = b""

    def get(self, sid: int, path: str) -> bytes:
        """Sends GET <path> on stream <sid> and returns its body."""
        self.so.sendall(h2_get(sid, path))
        body, status_seen = b"", False
        while True:
            while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
                chunk = self.so.recv(65536)
                if not chunk:
                    raise AssertionError("connection closed")
                self.buf += chunk
            n = int.from_bytes(self.buf[:3], "big")
            ftype, flags = self.buf[3], self.buf[4]
            fsid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            if ftype == 4 and not flags & 1:
                self.so.sendall(h2_frame(4, 1, 0))
            elif ftype in (3, 7):
                raise AssertionError(f"frame type {ftype} on stream {fsid}: {payload!r}")
            elif fsid == sid and ftype == 1:
                status_seen = True
            elif fsid == sid and ftype == 0:
                body += payload
            if fsid == sid and ftype in (0, 1) and flags & 1:
                assert status_seen
                return body


@harness.timeout(60)
def test_h2_idle_buffer_given_back_and_reused(ctx):
    # the HTTP/1 bind takes a connection that opens with the HTTP/2 preface
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"]), name="h2trim")
    n = 20
    before = pl.stats(port)
    conns = [H2Conn(port) for _ in range(n)]
    try:
        for i, c in enumerate(conns):
            body = c.get(1, f"/size/{100 + i}")
            assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(100 + i), i
        # quiet for a second: each connection gives back at least the page
        # its frames were written to and its stream map's page (nghttp2
        # forgets closed streams: the map is all zeros again)
        harness.wait_until(
            lambda: pl.stats(port)["h2_trimmed_bytes"] - before["h2_trimmed_bytes"] >= n * 2 * 4096,
            timeout=10, what="output buffers given back")
        # the pages come back on use: larger answers, checked byte for byte
        for i, c in enumerate(conns):
            size = 20000 + 1000 * i
            body = c.get(3, f"/size/{size}")
            assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(size), i
        s = pl.stats(port)
        assert s["h2_streams"] - before["h2_streams"] == 2 * n, (before, s)
        assert s["pool_in_use"] == 0, s
    finally:
        for c in conns:
            c.so.close()
    assert proxy.stop() == 0, proxy.stderr_tail()


if __name__ == "__main__":
    raise SystemExit(harness.main())
