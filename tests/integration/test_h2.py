"""test_h2.py - HTTP/2 clients (curl, nghttp, h2load, raw frames) through
the sluice binary to the HTTP/1.1 demo origin."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import time

import harness
import proxylib as pl

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def setup_module(ctx):
    harness.require_tool("h2load")
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)
    ctx.h2port = harness.free_port()
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 200"],
                                      frontend_extra=f"    bind 127.0.0.1:{ctx.h2port} proto h2"),
        name="h2")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    ctx.origin.stop()


def h2url(ctx, path, port=None):
    return f"http://127.0.0.1:{port or ctx.h2port}{path}"


def curl2(args, timeout=30):
    return harness.curl(["--http2-prior-knowledge", *args], timeout=timeout)


@harness.timeout(60)
def test_get_sizes_checksums(ctx):
    for n in (0, 1, 16384, 65536, 1 << 20, 10 << 20):
        r = curl2([h2url(ctx, f"/size/{n}")])
        assert r.status == 200, (n, r)
        assert hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), n
    r = curl2([h2url(ctx, "/chunked/300000")])
    assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(300000)


@harness.timeout(90)
def test_post_bodies(ctx):
    for n in (0, 1, 100000, 10 << 20):
        path = os.path.join(ctx.tmpdir, f"b{n}")
        with open(path, "wb") as f:
            f.write(harness.pattern_bytes(n))
        r = curl2(["-X", "POST", "--data-binary", f"@{path}", h2url(ctx, "/sha256")])
        assert r.status == 200 and r.body.split()[0].decode() == harness.pattern_sha256(n), (n, r)
        r = curl2(["-X", "POST", "--data-binary", f"@{path}", h2url(ctx, "/echo")])
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), n


def test_preface_detected_on_h1_listener(ctx):
    r = curl2([f"http://127.0.0.1:{ctx.port}/size/1000"])
    assert r.status == 200 and len(r.body) == 1000, r
    # the same listener still speaks HTTP/1.1
    r = harness.curl([f"http://127.0.0.1:{ctx.port}/size/10"])
    assert r.status == 200 and len(r.body) == 10


@harness.timeout(120)
def test_many_streams_many_connections(ctx):
    n = pl.scale(4000, 1000)
    ok, failed, errored, s2xx, out = pl.h2load(h2url(ctx, "/size/1024"), n, 8, 50)
    assert ok == n and failed == 0 and errored == 0 and s2xx == n, out
    s = pl.wait_quiet(ctx.port)
    assert s["pool_in_use"] == 0, s
    assert s["h2_conn_current"] == 0, s


@harness.timeout(180)
def test_tiny_buffer_limit_h2load(ctx):
    n = pl.scale(10000, 2000)
    s = pl.h2load_tiny_limit(ctx, f"server s1 127.0.0.1:{ctx.oport} maxconn 4", n)
    print(f"    h2 cap 8: {n} requests, failed allocs {s['pool_failed']}, hand-offs {s['pool_handoffs']}")


@harness.timeout(90)
def test_vanished_clients_release_buffers(ctx):
    """HTTP/2 clients killed in the middle of a capped load (5 buffers, a
    server at maxconn 1) leave streams waiting for buffers behind. Those
    streams must end with their connection, handing back what they were
    given: an HTTP/1.1 request right after is answered at once, not after
    the 30 s client timeout, and every buffer is back."""
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 1"],
                                      global_extra="    tune.buffers.limit 5\n"
                                                   "    tune.buffers.reserve 2"), name="h2gone")
    for _ in range(2):
        load = subprocess.Popen(["h2load", "-c", "4", "-m", "25", "-D", "20",
                                 f"http://127.0.0.1:{port}/size/16384"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_until(lambda: pl.stats(port)["h2_conn_current"] == 4, timeout=10,
                               what="h2load connected")
            # streams must be waiting for buffers when the clients vanish
            # (sampled until seen: a loaded machine may be between waits)
            harness.wait_until(lambda: pl.stats(port)["pool_waiting"] > 0, timeout=8, interval=0.05,
                               what="streams waiting for buffers (the cap biting)")
        finally:
            load.kill()
            load.wait(5)
        t0 = time.monotonic()
        r = harness.curl([f"http://127.0.0.1:{port}/size/100"], timeout=10)
        assert r.status == 200 and len(r.body) == 100, r
        assert time.monotonic() - t0 < 5, "served only after a timeout"
    s = pl.wait_quiet(port, timeout=10)
    assert s["pool_in_use"] == 0 and s["pool_waiting"] == 0, s
    assert s["pool_notifies"] == s["pool_handoffs"], s
    assert proxy.stop() == 0


@harness.timeout(60)
def test_slow_reader_bounded(ctx):
    """A client reading a 10 MB response at 200 KB/s must not make the
    proxy buffer it: buffers in use stay small while other streams flow."""
    slow = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "--limit-rate", "200K",
                             "-o", os.devnull, h2url(ctx, "/size/10000000")])
    try:
        time.sleep(1.0)
        peak = 0
        for _ in range(5):
            s = pl.stats(ctx.port)
            peak = max(peak, s["pool_in_use"])
            r = curl2([h2url(ctx, "/size/5000")], timeout=5)
            assert r.status == 200 and len(r.body) == 5000
            time.sleep(0.2)
        assert slow.poll() is None, "the slow download ended early"
        assert peak <= 6, f"slow reader held {peak} buffers"
    finally:
        slow.terminate()
        slow.wait(5)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_get(path="/"):
    # :method GET (idx 2), :scheme http (idx 6), :path literal (name idx 4), :authority literal (idx 1)
    p = path.encode()
    return b"\x82\x86" + b"\x04" + bytes([len(p)]) + p + b"\x01\x01a"


def read_frames(sock, timeout=3.0):
    """Reads frames until the peer closes or timeout; returns [(type, flags, sid, payload)]."""
    sock.settimeout(timeout)
    read_frames.closed = False
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            read_frames.closed = True
            break
        if not chunk:
            read_frames.closed = True
            break
        data += chunk
    frames = []
    while len(data) >= 9:
        ln = int.from_bytes(data[:3], "big")
        if len(data) < 9 + ln:
            break
        frames.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7fffffff, data[9:9 + ln]))
        data = data[9 + ln:]
    return frames


def goaway_code(frames):
    for t, _f, _s, p in frames:
        if t == 7 and len(p) >= 8:
            return int.from_bytes(p[4:8], "big")
    return None


def assert_still_serving(ctx):
    r = curl2([h2url(ctx, "/size/10")], timeout=5)
    assert r.status == 200


def test_hostile_bad_preface(ctx):
    with socket.create_connection(("127.0.0.1", ctx.h2port), timeout=5) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(4, 0, 0))
        frames = read_frames(s, 3)
    assert all(t != 1 for t, *_ in frames)  # no HEADERS answered
    assert_still_serving(ctx)


def test_hostile_stream_id_reuse(ctx):
    with socket.create_connection(("127.0.0.1", ctx.h2port), timeout=5) as s:
        s.sendall(PREFACE + frame(4, 0, 0) + frame(1, 0x5, 1, hpack_get("/size/1")))
        time.sleep(0.3)
        s.sendall(frame(1, 0x5, 1, hpack_get("/size/1")))
        frames = read_frames(s, 3)
    code = goaway_code(frames)
    assert code in (1, 5), frames  # PROTOCOL_ERROR or STREAM_CLOSED
    assert_still_serving(ctx)


def test_hostile_oversized_frame(ctx):
    with socket.create_connection(("127.0.0.1", ctx.h2port), timeout=5) as s:
        s.sendall(PREFACE + frame(4, 0, 0) + frame(0, 0, 1, b"x" * 20000))
        frames = read_frames(s, 3)
    assert goaway_code(frames) in (1, 6), frames  # FRAME_SIZE_ERROR (or PROTOCOL_ERROR)
    assert_still_serving(ctx)


def test_hostile_settings_flood(ctx):
    with socket.create_connection(("127.0.0.1", ctx.h2port), timeout=5) as s:
        s.sendall(PREFACE)
        try:
            for _ in range(200):
                s.sendall(frame(4, 0, 0) * 100)
        except OSError:
            pass  # the proxy may close mid-flood: that is fine
        frames = read_frames(s, 3)
    # nghttp2 refuses to queue unbounded SETTINGS ACKs: the flooder is cut off
    assert goaway_code(frames) is not None or read_frames.closed, [f[0] for f in frames][:20]
    assert ctx.proxy.alive()
    assert_still_serving(ctx)


@harness.timeout(60)
def test_hostile_unfinished_header_block(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    timeout client 1s\n    timeout http-request 1s",
                                      frontend_extra=""), name="h2hdr")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        # HEADERS without END_HEADERS, and no CONTINUATION ever
        s.sendall(PREFACE + frame(4, 0, 0) + frame(1, 0x1, 1, hpack_get("/")))
        t0 = time.monotonic()
        frames = read_frames(s, 8)
        elapsed = time.monotonic() - t0
    assert elapsed < 7.5, "connection never closed"
    assert all(t != 1 for t, *_ in frames)
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
