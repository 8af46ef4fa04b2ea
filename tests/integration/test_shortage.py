"""test_shortage.py - a buffer shortage is not the client's fault: a client
whose bytes Sluice could not read for lack of a buffer waits (bounded by
the timeout of what it waits for) instead of meeting its client timeout,
and a stream that ends while the client is still sending answers with a
status and closes gracefully (lingering close), never with a reset."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import harness
import proxylib as pl

BODY = 3 << 20


def config(port, oport, log, limit=True, client="3s", queue="10s", srv_extra="", be_extra="",
           server="30s", maxconn=1, caps=None):
    if caps is None:
        caps = "    tune.buffers.limit 4\n    tune.buffers.reserve 2\n" if limit else ""
    return f"""global
    nbthread 2
    maxconn 1000
{caps}    log {log}
defaults
    mode http
    timeout client {client}
    timeout server {server}
    timeout connect 5s
    timeout queue {queue}
    retries 3
frontend web
    bind 127.0.0.1:{port}
    stats uri {pl.STATS_URI}
    default_backend app
backend app
{be_extra}
    server s1 127.0.0.1:{oport} maxconn {maxconn}{srv_extra}
"""


def start(ctx, name, **kw):
    log = os.path.join(ctx.tmpdir, f"{name}.log")
    proxy, port = pl.start_sluice(ctx, lambda p: config(p, ctx.oport, log, **kw), name=name)
    return proxy, port, log


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o", threads=2)


def teardown_module(ctx):
    ctx.origin.stop()


def hold_slot(port, ms):
    """Starts a request that keeps the server's one slot for <ms> ms;
    returns the thread (its result lands in the returned dict)."""
    out = {}

    def run():
        with harness.RawConn(port, timeout=ms / 1000 + 20) as c:
            out["status"] = c.request("GET", f"/delay/{ms}").status

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def upload(port, n, results, idx, timeout=40):
    """POSTs n pattern bytes to /sha256 and records (status, digest ok) or
    the error; a reset or an early close is recorded as such."""
    body = harness.pattern_bytes(n)
    want = hashlib.sha256(body).hexdigest()
    try:
        with harness.RawConn(port, timeout=timeout) as c:
            c.send(b"POST /sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % n)
            sent = 0
            try:
                while sent < n:
                    c.sock.sendall(body[sent:sent + 65536])
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                pass  # the proxy answered early: read what it said
            r = c.read_response()
            results[idx] = (r.status, r.body.decode(errors="replace").split(" ")[0] == want)
    except Exception as e:  # noqa: BLE001 - the test asserts on it
        results[idx] = (type(e).__name__, str(e)[:120])


def log_lines(path, want, timeout=5):
    def enough():
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= want else None
    return harness.wait_until(enough, timeout=timeout, what=f"{want} log lines")


@harness.timeout(90)
def test_uploads_wait_for_buffers_instead_of_reset(ctx):
    """The reproduction: limit 4 / reserve 2, timeout client 3s, queue 10s,
    the server's one slot held 6 s, four clients POSTing 3 MB. Without a
    limit all four get 200 after the slow request; with it they must too."""
    proxy, port, log = start(ctx, "up4")
    holder, held = hold_slot(port, 6000)
    time.sleep(0.3)
    results = [None] * 4
    threads = [threading.Thread(target=upload, args=(port, BODY, results, i), daemon=True)
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    holder.join(30)
    assert held.get("status") == 200, held
    assert results == [(200, True)] * 4, results
    s = pl.wait_quiet(port)
    assert s["pool_failed"] > 0 and s["buf_waits"] > 0, s  # the cap did bite
    assert s["pool_handoffs"] == s["pool_notifies"], s
    # waiting for buffers is not an ending: each upload logs a normal end
    ups = [ln for ln in log_lines(log, 5) if '"POST /sha256"' in ln]
    assert len(ups) == 4 and all(" 200 " in ln and " -- " in ln for ln in ups), ups
    assert proxy.stop() == 0


@harness.timeout(90)
def test_queue_timeout_503_reaches_uploading_client(ctx):
    """A queue timeout while the client is still sending a 3 MB body: the
    client reads the 503, under a limit and without one."""
    for limit in (True, False):
        proxy, port, log = start(ctx, f"q503-{limit}", limit=limit, queue="1s", client="5s")
        holder, held = hold_slot(port, 4000)
        time.sleep(0.3)
        results = [None]
        upload(port, BODY, results, 0)
        assert results[0][0] == 503, (limit, results)
        holder.join(30)
        lines = log_lines(log, 2)
        mine = [ln for ln in lines if '"POST /sha256"' in ln]
        assert mine and " 503 " in mine[0] and " sQ " in mine[0], (limit, lines)
        assert pl.stats(port)["lingering_closes"] >= 1
        assert proxy.stop() == 0


@harness.timeout(60)
def test_400_after_the_head_reaches_sending_client(ctx):
    """A request refused after its head (a bad chunk size in its body)
    while the client still sends: the client reads the 400, and the proxy
    keeps reading and discarding what follows (lingering close), so the
    client's next 1 MiB goes out without a reset; the log says proxy
    decision during data ('PD'). Closing at once resets those sends."""
    proxy, port, log = start(ctx, "bad400", limit=False)
    with harness.RawConn(port, timeout=20) as c:
        c.send(b"POST /sha256 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\nzz\r\n" + b"x" * 65536)
        r = c.read_response()
        assert r.status == 400, r.status
        sent = 0
        try:
            for _ in range(16):
                c.sock.sendall(b"x" * 65536)
                sent += 65536
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError) as e:
            sent = e
        assert sent == 16 * 65536, sent
    lines = log_lines(log, 1)
    assert any('"POST /sha256"' in ln and " 400 " in ln and " PD " in ln for ln in lines), lines
    assert pl.stats(port)["lingering_closes"] >= 1
    assert proxy.stop() == 0


@harness.timeout(90)
def test_h2_queue_timeout_503_ends_the_stream_not_the_connection(ctx):
    """The HTTP/2 form of the same end: a queue timeout while an HTTP/2
    client is still sending a 3 MB body answers 503 on that stream (a
    RST_STREAM may follow to stop the body), never on the connection: no
    GOAWAY, the connection stays open, and its next stream is served.
    Under a limit and without one."""
    from test_h2_conform import (Conn, END_HEADERS, GOAWAY, HEADERS, frame, get,
                                 literal)
    for limit in (True, False):
        proxy, port, log = start(ctx, f"h2q503-{limit}", limit=limit, queue="1s", client="5s")
        holder, held = hold_slot(port, 2500)
        time.sleep(0.3)
        c = Conn(port)
        try:
            # POST (static 3), http, :path /sha256, :authority t, content-length
            block = (b"\x83\x86\x04\x07/sha256\x01\x01t"
                     + literal(b"content-length", str(BODY).encode()))
            c.send(frame(HEADERS, END_HEADERS, 1, block))
            # as much body as the initial windows allow: the rest would
            # wait for WINDOW_UPDATEs, i.e. the client is still sending
            for n in (16384, 16384, 16384, 16383):
                c.send(frame(0, 0, 1, b"u" * n))

            def answered(sid):
                c.read(0.2)
                return any(t == HEADERS and s == sid for t, _f, s, _p in c.frames) or c.closed

            harness.wait_until(lambda: answered(1), timeout=8, what="an answer on stream 1")
            heads = [p for t, _f, s, p in c.frames if t == HEADERS and s == 1]
            assert heads and b"503" in heads[0], (limit, c.frames[:6])
            holder.join(30)
            assert held.get("status") == 200, held
            c.send(get(3, "/size/10", authority=b"t"))
            harness.wait_until(lambda: answered(3), timeout=8, what="an answer on stream 3")
            assert c.status(3) == 0x88, (limit, c.frames)  # :status 200, static entry
            assert not c.closed and c.goaway() is None, (limit, c.frames)
        finally:
            c.close()
        lines = log_lines(log, 3)
        mine = [ln for ln in lines if '"POST /sha256"' in ln]
        assert mine and " 503 " in mine[0] and " sQ " in mine[0], (limit, lines)
        assert proxy.stop() == 0


@harness.timeout(60)
def test_response_waiting_for_buffer_is_not_a_server_timeout(ctx):
    """A response the proxy cannot read for lack of a buffer is not a
    silent server: limit 2 (no reserve), a request whose answer comes
    after 0.3 s while two slow readers hold both buffers for 2 s, and
    timeout server 1s. The server answered in time, so the request gets
    its 200 once a buffer comes back, not a 504 blamed on the server."""
    caps = "    tune.buffers.limit 2\n    tune.buffers.reserve 0\n"
    proxy, port, log = start(ctx, "resw", caps=caps, server="1s", queue="5s", client="30s",
                             maxconn=10)
    out = {}

    def waiter():
        with harness.RawConn(port, timeout=20) as c:
            r = c.request("GET", "/delay/300")
            out["r"] = (r.status, r.body)
    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.1)  # its request is forwarded and its buffer back
    readers = []
    for _ in range(2):
        rd = socket.create_connection(("127.0.0.1", port), timeout=10)
        rd.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        rd.sendall(b"GET /size/8388608 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        readers.append(rd)
    # (the stats page needs a buffer too: nothing to poll meanwhile)
    time.sleep(1.9)  # past timeout server, counted from the request
    for rd in readers:
        rd.close()
    t.join(20)
    assert out.get("r", (None,))[0] == 200, out
    lines = [ln for ln in log_lines(log, 3) if '"GET /delay/300"' in ln]
    assert lines and " 200 " in lines[0] and " -- " in lines[0], lines
    tw = int(lines[0].split()[4].split("/")[1])
    assert tw >= 1000, lines  # it did wait for a buffer, past timeout server
    # the slow readers' servers were not silent either: we stopped reading
    # them, and their clients' closing ended those transfers
    assert pl.stats(port)["timeouts_server"] == 0
    assert proxy.stop() == 0


@harness.timeout(60)
def test_client_stopping_mid_body_still_times_out(ctx):
    """A client that really stops sending mid-body gets its client timeout:
    a 408, and the log says client timeout while transferring data."""
    proxy, port, log = start(ctx, "stall", client="1s")
    with harness.RawConn(port, timeout=10) as c:
        c.send(b"POST /sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100000)
        t0 = time.monotonic()
        r = c.read_response()
        assert r.status == 408, r.status
        assert time.monotonic() - t0 < 5
    lines = log_lines(log, 1)
    assert any('"POST /sha256"' in ln and " 408 " in ln and " cD " in ln for ln in lines), lines
    assert proxy.stop() == 0


@harness.timeout(60)
def test_head_waiting_for_buffer_is_not_idle(ctx):
    """A client whose request head cannot be read for lack of a buffer is
    neither idle (closed silently) nor slow (408): when the wait outlasts
    its bound (timeout queue) it gets a 503 and the log says the resource
    ran short ('R'). Four clients hold the four buffers with half-sent
    heads... of which two only get one: the limit leaves two for heads."""
    proxy, port, log = start(ctx, "headwait", client="30s", queue="1s")
    holders = []
    for _ in range(2):
        h = socket.create_connection(("127.0.0.1", port), timeout=10)
        h.sendall(b"GET /size/10 HTTP/1.1\r\nHost: t\r\n")  # unfinished head: holds a buffer
        holders.append(h)
    time.sleep(0.3)
    with harness.RawConn(port, timeout=10) as c:
        c.send(b"GET /size/10 HTTP/1.1\r\nHost: t\r\n\r\n")
        t0 = time.monotonic()
        r = c.read_response()
        assert r.status == 503, r.status
        assert time.monotonic() - t0 < 5
    for h in holders:
        h.close()
    lines = log_lines(log, 1)
    assert any(" 503 " in ln and " RR " in ln for ln in lines), lines
    assert pl.stats(port)["buf_wait_timeouts"] == 1
    assert proxy.stop() == 0


@harness.timeout(60)
def test_maxqueue_turns_away_with_503(ctx):
    """maxqueue 2 on the backend of one busy server (maxconn 1, held): two
    requests queue, the next ones get a 503 at once (termination cause R:
    a queued stream holds a request buffer, so the queue's bound is a
    memory bound), and the queued ones are served once the slot frees."""
    proxy, port, log = start(ctx, "maxq", limit=False, be_extra="    maxqueue 2")
    holder, held = hold_slot(port, 1500)
    time.sleep(0.3)
    results = [None] * 2

    def get(i):
        with harness.RawConn(port, timeout=20) as c:
            results[i] = c.request("GET", "/size/10").status
    queued = [threading.Thread(target=get, args=(i,), daemon=True) for i in range(2)]
    for t in queued:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for _ in range(3):
        with harness.RawConn(port, timeout=10) as c:
            assert c.request("GET", "/size/10").status == 503
    assert time.monotonic() - t0 < 1.0
    for t in queued:
        t.join(20)
    holder.join(20)
    assert results == [200, 200] and held.get("status") == 200, (results, held)
    assert pl.stats(port)["queue_full"] == 3
    lines = log_lines(log, 6)
    assert sum(1 for ln in lines if " 503 " in ln and " R" in ln) == 3, lines
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
