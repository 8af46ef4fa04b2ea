"""test_tls_batch.py - many records read at once over TLS (OpenSSL reads
ahead: one read() takes every record the socket holds, and Sluice stops
reading when the socket and OpenSSL are both drained).

- Requests sent in the same TCP segment as the client's handshake Finished
  (HTTP/1.1 pipelined, and HTTP/2 preface + SETTINGS + HEADERS): the
  handshake reads them ahead into OpenSSL, where no poller reports them;
  they must still be answered without the client sending anything more.
- Many HTTP/2 streams multiplexed over one TLS connection (curl --parallel),
  every body checked by SHA-256, on one connection by Sluice's counters.
The client's flights are built with ssl.MemoryBIO so that the bytes leave
in one send, deterministically."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import struct
import subprocess
import time

import harness
import proxylib as pl


def setup_module(ctx):
    for tool in ("openssl", "curl"):
        harness.require_tool(tool)
    pem = os.path.join(ctx.tmpdir, "site.pem")
    k, c = pem + ".key", pem + ".crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", k, "-out", c, "-days", "2",
                    "-subj", "/CN=batch.test"], check=True, capture_output=True)
    with open(pem, "w") as out:
        for p in (c, k):
            with open(p) as f:
                out.write(f.read())
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=1)
    ctx.tport = harness.free_port()
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 100"],
            frontend_extra=f"    bind 127.0.0.1:{ctx.tport} ssl crt {pem} alpn h2,http/1.1\n"),
        name="tlsbatch")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    ctx.origin.stop()


class Tls:
    """A TLS 1.3 client over a blocking socket whose records we send
    ourselves (ssl.MemoryBIO), so that several flights leave in one send."""

    def __init__(self, port: int, alpn: str):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        c.minimum_version = ssl.TLSVersion.TLSv1_3
        c.set_alpn_protocols([alpn])
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = c.wrap_bio(self.inc, self.out, server_hostname="batch.test")
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def handshake_holding_finished(self):
        """Runs the handshake up to the client's Finished, which stays in
        the outgoing BIO (not sent)."""
        while True:
            try:
                self.obj.do_handshake()
                return
            except ssl.SSLWantReadError:
                pending = self.out.read()
                if pending:
                    self.sock.sendall(pending)
                data = self.sock.recv(65536)
                assert data, "server closed during the handshake"
                self.inc.write(data)

    def send_with_finished(self, payload: bytes):
        """Sends the held Finished and <payload> (as TLS records) in one send."""
        self.obj.write(payload)
        self.sock.sendall(self.out.read())

    def recv(self) -> bytes:
        """Returns the next decrypted bytes (b"" at the end)."""
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.inc.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def close(self):
        self.sock.close()


def read_h1_response(t: Tls, buf: bytes) -> tuple[bytes, bytes]:
    """Reads one HTTP/1.1 response with Content-Length from <t> (after the
    bytes already in <buf>). Returns (body, what follows it)."""
    while b"\r\n\r\n" not in buf:
        more = t.recv()
        assert more, buf[:300]
        buf += more
    head, _, rest = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    clen = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
            if l.lower().startswith(b"content-length:")]
    assert clen, head
    while len(rest) < clen[0]:
        more = t.recv()
        assert more, (len(rest), clen)
        rest += more
    return rest[:clen[0]], rest[clen[0]:]


@harness.timeout(30)
def test_h1_pipelined_requests_in_finished_flight(ctx):
    """Three pipelined GETs ride with the Finished: the handshake reads them
    ahead; all three are answered, bodies checked, and the client sends
    nothing more until they are."""
    sizes = (5, 20000, 1)
    t = Tls(ctx.tport, "http/1.1")
    try:
        t.handshake_holding_finished()
        reqs = b"".join(b"GET /size/%d HTTP/1.1\r\nHost: batch.test\r\n\r\n" % n for n in sizes)
        t.send_with_finished(reqs)
        assert t.obj.selected_alpn_protocol() == "http/1.1"
        buf = b""
        for n in sizes:
            body, buf = read_h1_response(t, buf)
            assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(n), n
    finally:
        t.close()


def h2_frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def hpack_literal(index: int, value: bytes) -> bytes:
    """A header field without indexing, name from static table <index>
    (< 15), value as a plain string (< 127 bytes)."""
    return bytes([index, len(value)]) + value


@harness.timeout(30)
def test_h2_request_in_finished_flight(ctx):
    """Preface, SETTINGS and two GETs ride with the Finished: the mux starts
    on bytes the handshake read ahead and answers both streams."""
    sizes = {1: 3000, 3: 70000}
    t = Tls(ctx.tport, "h2")
    try:
        t.handshake_holding_finished()
        out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0, b"")
        # a large window: 70000 bytes must flow without WINDOW_UPDATEs
        out += h2_frame(8, 0, 0, struct.pack(">I", 1 << 20))
        for sid, n in sizes.items():
            block = (b"\x82\x87" + hpack_literal(4, b"/size/%d" % n) +
                     hpack_literal(1, b"batch.test"))
            out += h2_frame(1, 0x5, sid, block)  # END_STREAM | END_HEADERS
        t.send_with_finished(out)
        assert t.obj.selected_alpn_protocol() == "h2"
        bodies = {sid: b"" for sid in sizes}
        done, buf, acked = set(), b"", False
        deadline = time.monotonic() + 20
        while len(done) < len(sizes) and time.monotonic() < deadline:
            while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                ln = int.from_bytes(buf[:3], "big")
                ftype, flags = buf[3], buf[4]
                sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                payload, buf = buf[9:9 + ln], buf[9 + ln:]
                if ftype == 4 and not flags & 1 and not acked:
                    t.obj.write(h2_frame(4, 1, 0, b""))  # SETTINGS ack
                    t.sock.sendall(t.out.read())
                    acked = True
                if ftype == 0 and sid in bodies:
                    bodies[sid] += payload
                    if payload:  # give the stream its window back
                        t.obj.write(h2_frame(8, 0, sid, struct.pack(">I", len(payload))))
                        t.sock.sendall(t.out.read())
                if ftype in (0, 1) and flags & 1 and sid in bodies:
                    done.add(sid)
                assert ftype not in (3, 7), (ftype, payload)  # RST_STREAM, GOAWAY
            if len(done) < len(sizes):
                more = t.recv()
                assert more, (done, {s: len(b) for s, b in bodies.items()})
                buf += more
        assert done == set(sizes), done
        for sid, n in sizes.items():
            assert hashlib.sha256(bodies[sid]).hexdigest() == harness.pattern_sha256(n), sid
    finally:
        t.close()


@harness.timeout(90)
def test_many_h2_streams_over_one_tls_connection(ctx):
    """80 streams multiplexed over one TLS connection by curl --parallel,
    sizes from 0 to 200 KB: every body matches by SHA-256, one connection."""
    sizes = [(i * 7919) % 200000 if i % 4 else i for i in range(80)]
    before = pl.stats(ctx.port)
    args = ["curl", "-sSk", "--noproxy", "*", "--max-time", "60", "--http2", "--parallel",
            "--parallel-max", "80"]
    paths = []
    for i, n in enumerate(sizes):
        p = os.path.join(ctx.tmpdir, "b%d" % i)
        paths.append(p)
        args += ["-o", p, f"https://127.0.0.1:{ctx.tport}/size/{n}"]
    cp = subprocess.run(args, capture_output=True, timeout=80)
    assert cp.returncode == 0, cp.stderr[-1000:]
    for p, n in zip(paths, sizes):
        with open(p, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == harness.pattern_sha256(n), (p, n)
    after = pl.stats(ctx.port)
    assert after["h2_streams"] - before["h2_streams"] == len(sizes), (before, after)
    assert after["h2_conn_accepted"] - before["h2_conn_accepted"] == 1, (before, after)


if __name__ == "__main__":
    raise SystemExit(harness.main())
