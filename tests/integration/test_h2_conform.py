"""test_h2_conform.py - RFC 9113 conformance of the HTTP/2 client side of
the sluice binary, with raw frames over a socket: host against :authority,
stream identifiers that go down, and what keeps an idle connection open."""

from __future__ import annotations

import socket
import struct
import time

import harness
import proxylib as pl

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 1, 3, 4, 6, 7
END_STREAM, END_HEADERS = 0x1, 0x4
PROTOCOL_ERROR = 1


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1")
    ctx.h2port = harness.free_port()
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    timeout client 1s",
                                      frontend_extra=f"    bind 127.0.0.1:{ctx.h2port} proto h2"),
        name="h2conf")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    ctx.origin.stop()


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def literal(name: bytes, value: bytes) -> bytes:
    """A header field as a literal without indexing, new name (short strings only)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def get(sid, path="/size/10", authority=b"a.test", host=None):
    """HEADERS (END_STREAM | END_HEADERS) for GET <path> on stream <sid>."""
    p = path.encode()
    block = b"\x82\x86" + b"\x04" + bytes([len(p)]) + p  # GET, http, :path literal
    block += b"\x01" + bytes([len(authority)]) + authority  # :authority literal
    if host is not None:
        block += literal(b"host", host)
    return frame(HEADERS, END_STREAM | END_HEADERS, sid, block)


class Conn:
    """A raw HTTP/2 client connection that collects the frames it reads."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.frames = []
        self.closed = False
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            self.closed = True

    def read(self, seconds):
        """Reads for up to <seconds> (less if the server closes)."""
        end = time.monotonic() + seconds
        while not self.closed and time.monotonic() < end:
            self.s.settimeout(max(0.01, end - time.monotonic()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            while len(self.buf) >= 9:
                ln = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + ln:
                    break
                self.frames.append((self.buf[3], self.buf[4],
                                    int.from_bytes(self.buf[5:9], "big") & 0x7fffffff,
                                    self.buf[9:9 + ln]))
                self.buf = self.buf[9 + ln:]

    def goaway(self):
        for t, _f, _s, p in self.frames:
            if t == GOAWAY and len(p) >= 8:
                return int.from_bytes(p[4:8], "big")
        return None

    def rst(self, sid):
        for t, _f, s, p in self.frames:
            if t == RST_STREAM and s == sid and len(p) >= 4:
                return int.from_bytes(p[:4], "big")
        return None

    def status(self, sid):
        """The first field's byte of the response HEADERS block on <sid>
        (0x88 is :status 200 from the static table), or None. Dynamic
        table size updates before it are skipped (RFC 7541 6.3: Sluice's
        encoder announces the table it uses, none by default, in its first
        block)."""
        for t, _f, s, p in self.frames:
            if t == HEADERS and s == sid and p:
                i = 0
                while i < len(p) and p[i] & 0xE0 == 0x20:
                    i += 1
                    if p[i - 1] & 0x1F == 0x1F:  # the size goes on in more bytes
                        while i < len(p) and p[i] & 0x80:
                            i += 1
                        i += 1
                return p[i] if i < len(p) else None
        return None

    def close(self):
        self.s.close()


def test_host_differs_from_authority(ctx):
    c = Conn(ctx.h2port)
    try:
        c.send(get(1, authority=b"a.test", host=b"b.test"))
        c.send(get(3, authority=b"a.test", host=b"A.TEST"))
        c.read(1.0)
        assert c.rst(1) == PROTOCOL_ERROR or c.status(1) == 0x8c, c.frames  # reset or 400
        assert c.status(3) == 0x88, c.frames  # agreeing host: served
        assert c.goaway() is None and not c.closed, c.frames
    finally:
        c.close()


def test_lower_stream_id_is_connection_error(ctx):
    c = Conn(ctx.h2port)
    try:
        c.send(get(5))
        c.read(0.5)
        assert c.status(5) == 0x88, c.frames
        c.send(get(3))
        c.read(2.0)
        assert c.goaway() == PROTOCOL_ERROR, c.frames
        assert c.status(3) is None, c.frames
    finally:
        c.close()


@harness.timeout(30)
def test_idle_pings_do_not_hold_connection(ctx):
    """With `timeout client 1s`, a client that only PINGs (no stream) is
    asked to go away within two periods; it used to be kept forever."""
    c = Conn(ctx.h2port)
    try:
        t0 = time.monotonic()
        while not c.closed and c.goaway() is None and time.monotonic() - t0 < 6:
            c.send(frame(PING, 0, 0, b"12345678"))
            c.read(0.25)
        elapsed = time.monotonic() - t0
        assert c.goaway() is not None or c.closed, "a PINGing client without streams kept the connection"
        assert elapsed < 3.5, f"closed only after {elapsed:.1f}s"
    finally:
        c.close()


@harness.timeout(30)
def test_idle_streams_keep_connection(ctx):
    """Requests every 0.4 s for 3 s (three client timeouts) keep the
    connection; once they stop, it goes within about two periods."""
    c = Conn(ctx.h2port)
    try:
        sid = 1
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            c.send(get(sid))
            c.read(0.4)
            sid += 2
        assert c.goaway() is None and not c.closed, "closed while streams came"
        assert all(c.status(s) == 0x88 for s in range(1, sid, 2)), c.frames
        t1 = time.monotonic()
        while not c.closed and c.goaway() is None and time.monotonic() - t1 < 6:
            c.read(0.25)
        assert c.goaway() is not None or c.closed, "an idle connection was kept"
        assert time.monotonic() - t1 < 3.5
    finally:
        c.close()


if __name__ == "__main__":
    raise SystemExit(harness.main())
