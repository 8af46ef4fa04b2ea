"""test_splice.py - HTTP/1.1 bodies through kernel pipes (`option
splice-auto`, `tune.pipes.limit`): checksummed transfers both ways, the
close-delimited and chunked cases, the fallback to buffers when no pipe is
left, and what splicing buys: bodies in flight hold no pool buffer."""

from __future__ import annotations

import hashlib
import os
import re
import selectors
import socket
import subprocess
import threading
import time

import harness
import proxylib as pl

MIB = 1 << 20


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)
    ctx.log = os.path.join(ctx.tmpdir, "access.log")
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      global_extra=f"    log {ctx.log}",
                                      defaults_extra="    option splice-auto"), name="splice")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0  # a sanitizer report makes it non-zero
    ctx.origin.stop()


def get_sha(port: int, path: str, extra=()) -> tuple[int, str, int]:
    """GETs <path> with curl; returns (status, sha256 of the body, length)."""
    r = harness.curl([*extra, f"http://127.0.0.1:{port}{path}"], timeout=60)
    return r.status, hashlib.sha256(r.body).hexdigest(), len(r.body)


def pipes_at_rest(port: int) -> dict:
    """Waits until the proxy is at rest, pipes included, and returns the
    counters."""
    s = pl.wait_quiet(port, timeout=20)
    s = harness.wait_until(lambda: (lambda x: x if x["pipes_in_use"] == 0 else None)(pl.stats(port)),
                           timeout=10, what="pipes back")
    assert s["pipes_allocated"] <= s["pipes_in_use"] + 2 * 16, s  # the two threads' caches at most
    return s


@harness.timeout(120)
def test_downloads_checksummed(ctx):
    before = pl.stats(ctx.port)
    for n in (MIB, 8 * MIB):
        st, sha, ln = get_sha(ctx.port, f"/size/{n}")
        assert (st, ln, sha) == (200, n, harness.pattern_sha256(n)), (n, st, ln)
    s = pipes_at_rest(ctx.port)
    # the bodies went through pipes (all but what came with each head)
    moved = s["spliced_bytes"] - before["spliced_bytes"]
    assert moved >= 9 * MIB - 2 * 16384, (moved, s)
    assert s["pipes_failed"] == before["pipes_failed"], s
    assert s["pool_in_use"] == 0 and s["pipes_in_use"] == 0, s
    # the access log counts the spliced bytes (status, bytes received,
    # bytes sent)

    def logged():
        lines = open(ctx.log).read().splitlines() if os.path.exists(ctx.log) else []
        return [ln for ln in lines if '"GET /size/8388608"' in ln]
    line = harness.wait_until(logged, timeout=5, what="log line")[0]
    m = re.search(r" 200 \d+ (\d+) ", line)
    assert m and int(m.group(1)) >= 8 * MIB, line


@harness.timeout(120)
def test_uploads_checksummed(ctx):
    before = pl.stats(ctx.port)
    for n in (MIB, 8 * MIB):
        path = os.path.join(ctx.tmpdir, f"up{n}")
        with open(path, "wb") as f:
            f.write(harness.pattern_bytes(n))
        r = harness.curl(["--data-binary", f"@{path}", "-H", "Content-Type: application/octet-stream",
                          f"http://127.0.0.1:{ctx.port}/sha256"], timeout=60)
        assert r.status == 200, r
        assert r.body.decode().split() == [harness.pattern_sha256(n), str(n)], r.body
    s = pipes_at_rest(ctx.port)
    moved = s["spliced_bytes"] - before["spliced_bytes"]
    assert moved >= 9 * MIB - 2 * 16384, (moved, s)
    # the access log's byte count includes spliced request bytes
    assert s["bytes_in"] - before["bytes_in"] >= 9 * MIB, s


@harness.timeout(120)
def test_close_delimited_response(ctx):
    # an HTTP/1.0 request gets the origin's close-delimited answer
    n = 3 * MIB + 7
    before = pl.stats(ctx.port)
    st, sha, ln = get_sha(ctx.port, f"/chunked/{n}", extra=["--http1.0"])
    assert (st, ln, sha) == (200, n, harness.pattern_sha256(n)), (st, ln)
    s = pipes_at_rest(ctx.port)
    assert s["spliced_bytes"] - before["spliced_bytes"] >= n - 16384, s


@harness.timeout(120)
def test_chunked_uses_buffers(ctx):
    n = 2 * MIB
    before = pl.stats(ctx.port)
    st, sha, ln = get_sha(ctx.port, f"/chunked/{n}")
    assert (st, ln, sha) == (200, n, harness.pattern_sha256(n)), (st, ln)
    s = pipes_at_rest(ctx.port)
    # no pipe asked for, none refused: chunked framing is parsed in buffers
    assert s["spliced_bytes"] == before["spliced_bytes"], s
    assert s["pipes_failed"] == before["pipes_failed"], s


@harness.timeout(120)
def test_http2_client_uses_buffers(ctx):
    # an HTTP/2 client's stream is no socket of its own: its bodies are
    # framed by the mux, never spliced (the listener sees the preface)
    n = 2 * MIB
    before = pl.stats(ctx.port)
    st, sha, ln = get_sha(ctx.port, f"/size/{n}", extra=["--http2-prior-knowledge"])
    assert (st, ln, sha) == (200, n, harness.pattern_sha256(n)), (st, ln)
    s = pipes_at_rest(ctx.port)
    assert s["h2_streams"] > before["h2_streams"], s
    assert s["spliced_bytes"] == before["spliced_bytes"], s


@harness.timeout(120)
def test_tls_client_uses_buffers(ctx):
    # the kernel would move ciphertext: a TLS connection never splices,
    # with `option splice-auto` or not
    harness.require_tool("openssl")
    from test_tls import make_certs
    certs = make_certs(ctx.tmpdir)
    tport = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    option splice-auto",
                                      frontend_extra=f"    bind 127.0.0.1:{tport} ssl crt {certs}"),
        name="tls")
    n = 2 * MIB
    r = harness.curl(["-k", "--http1.1", f"https://127.0.0.1:{tport}/size/{n}"], timeout=60)
    assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), r
    s = pipes_at_rest(port)
    assert s["spliced_bytes"] == 0 and s["pipes_failed"] == 0, s
    assert s["tls_full_handshakes"] >= 1, s
    assert proxy.stop() == 0


@harness.timeout(120)
def test_keepalive_mixed(ctx):
    # spliced, small and chunked answers one after the other on one
    # connection: a spliced body never eats the next message
    sizes = [2 * MIB, 100, 1 * MIB + 1, 0, 70000]
    with harness.RawConn(ctx.port, timeout=30) as c:
        for n in sizes:
            r = c.request("GET", f"/size/{n}")
            assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), n
        r = c.request("GET", "/chunked/100000")
        assert r.status == 200 and r.body == harness.pattern_bytes(100000)
        body = harness.pattern_bytes(3 * MIB)
        r = c.request("POST", "/sha256", body=body)
        assert r.body.decode().split() == [harness.pattern_sha256(3 * MIB), str(3 * MIB)], r.body
    pipes_at_rest(ctx.port)


@harness.timeout(120)
def test_abort_and_timeout_close_pipes(ctx):
    # a client that stops reading mid-body meets its client timeout, one
    # that leaves mid-body aborts: either way the pipe, full of data, is
    # closed (never cached) and nothing stays in use
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    option splice-auto\n    timeout client 1s"),
        name="abort")
    req = f"GET /size/{64 * MIB} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    socks = []
    for _ in range(2):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.settimeout(10)
        c.connect(("127.0.0.1", port))
        c.sendall(req)
        got = 0
        while got < 200000:
            got += len(c.recv(65536))
        socks.append(c)
    harness.wait_until(lambda: pl.stats(port)["pipes_in_use"] == 2, timeout=5, what="two pipes in use")
    socks[1].close()   # leaves mid-body
    s = harness.wait_until(lambda: (lambda x: x if x["pipes_in_use"] == 1 else None)(pl.stats(port)),
                           timeout=10, what="the aborted one's pipe gone")
    # the other one stopped reading: its client timeout (1 s) ends it
    s = harness.wait_until(lambda: (lambda x: x if x["pipes_in_use"] == 0 else None)(pl.stats(port)),
                           timeout=10, what="the stalled one's pipe gone")
    assert s["timeouts_client"] >= 1, s
    assert s["pipes_allocated"] <= 2 * 16, s
    socks[0].close()
    s = pl.wait_quiet(port, timeout=20)
    assert s["pool_in_use"] == 0 and s["pipes_in_use"] == 0, s
    assert proxy.stop() == 0


def curl_parallel(port: int, n: int, path: str, timeout: float, extra=()) -> list[tuple[int, int]]:
    """Runs <n> GETs of <path> at once in one curl (-Z). Returns (status,
    length) per transfer."""
    args = ["curl", "-s", "-Z", "--parallel-max", str(n), "--parallel-immediate",
            "--max-time", str(int(timeout)), "-w", "%{http_code} %{size_download}\\n", *extra]
    for _ in range(n):
        args += ["-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]
    cp = subprocess.run(args, capture_output=True, timeout=timeout + 10)
    return [tuple(int(x) for x in line.split()) for line in cp.stdout.decode().split("\n") if line]


@harness.timeout(120)
def test_pipe_limit_falls_back(ctx):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      global_extra="    tune.pipes.limit 1",
                                      defaults_extra="    option splice-response"), name="pipes1")
    # throttled so that the downloads overlap and compete for the one pipe
    res = curl_parallel(port, 20, f"/size/{MIB}", 60, extra=["--limit-rate", "8M"])
    assert res == [(200, MIB)] * 20, res
    s = pipes_at_rest(port)
    assert s["pipes_failed"] > 0, s           # some found no pipe ...
    assert s["spliced_bytes"] > 0, s          # ... while one did splice
    assert s["pipes_allocated"] <= 1, s       # the cap holds
    assert s["rsp_errors"] == 0 and s["req_aborted"] == 0, s
    assert proxy.stop() == 0


@harness.timeout(180)
def test_tiny_buffer_limit_many_downloads(ctx):
    # 3 buffers, 2 of them reserved: one buffer for new requests. The bodies
    # go through pipes, so buffers only carry heads and turn over fast.
    # Fewer clients under a sanitizer (SLUICE_SANITIZE), same assertions.
    n = pl.scale(200, 50)
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      global_extra="    tune.buffers.limit 3\n    tune.buffers.reserve 2",
                                      defaults_extra="    option splice-auto"), name="cap3")
    t0 = time.monotonic()
    res = curl_parallel(port, n, f"/size/{MIB}", 90)
    elapsed = time.monotonic() - t0
    assert res == [(200, MIB)] * n, [r for r in res if r != (200, MIB)][:5]
    s = pipes_at_rest(port)
    # zero stalls: no wait ran out, no timeout, nothing answered by us
    assert s["buf_wait_timeouts"] == 0 and s["rsp_errors"] == 0, s
    assert s["timeouts_client"] == 0 and s["timeouts_server"] == 0, s
    assert s["pool_peak_allocated"] <= 3, s
    assert s["spliced_bytes"] >= n * (MIB - 16384), s
    print(f"    {n} x 1 MiB under 3 buffers: {elapsed:.1f}s, buffer waits {s['buf_waits']}, "
          f"peak in use {s['pool_peak_in_use']}")
    assert proxy.stop() == 0


class SlowReader:
    """One download read at a fixed rate through a 16 KiB receive buffer
    (set before connecting, so the window stays small and the rest of the
    body waits in the proxy, not in the client's socket buffer)."""

    def __init__(self, port: int, path: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        self.sock.setblocking(False)
        self.head = b""
        self.status = self.length = None
        self.got = 0
        self.sha = hashlib.sha256()
        self.t0 = time.monotonic()
        self.done = False

    def feed(self, chunk: bytes) -> None:
        if self.status is None:
            self.head += chunk
            if b"\r\n\r\n" not in self.head:
                return
            head, chunk = self.head.split(b"\r\n\r\n", 1)
            self.status = int(head.split(b" ", 2)[1])
            self.length = int(next(ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                                   if ln.lower().startswith(b"content-length:")))
            self.t0 = time.monotonic()
        self.sha.update(chunk)
        self.got += len(chunk)
        self.done = self.got >= self.length

    def result(self) -> tuple:
        return (self.status, self.got, self.sha.hexdigest())


def slow_downloads(port: int, n: int, path: str, rate: float, spread: float, timeout: float) -> list:
    """Starts <n> downloads of <path> evenly over <spread> seconds, from
    one thread (threads would start in bursts), and reads each at <rate>
    bytes/s. Returns each one's (status, body length, sha256)."""
    sel = selectors.DefaultSelector()
    readers: list[SlowReader] = []
    t_start = time.monotonic()
    deadline = t_start + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        # one start per turn at most: a turn delayed by the loaded machine
        # stretches the spread instead of starting a burst
        if len(readers) < n and now >= t_start + spread * len(readers) / n:
            r = SlowReader(port, path)
            readers.append(r)
            sel.register(r.sock, selectors.EVENT_READ, r)
        live = [r for r in readers if not r.done]
        if not live and len(readers) == n:
            break
        for key, _ in sel.select(timeout=0.002):
            r = key.data
            # a reader ahead of its rate skips its turn
            if r.status is not None and r.got > rate * (now - r.t0):
                continue
            try:
                chunk = r.sock.recv(65536)
            except BlockingIOError:
                continue
            if chunk:
                r.feed(chunk)
            if not chunk or r.done:
                r.done = True
                sel.unregister(r.sock)
                r.sock.close()
    for r in readers:
        if not r.done:
            sel.unregister(r.sock)
            r.sock.close()
    return [r.result() for r in readers]


@harness.timeout(180)
def test_slow_readers_hold_no_buffers(ctx):
    # 100 downloads of 4 MiB read at 4 MB/s each (about a second) overlap;
    # spliced, their bodies wait in pipes and socket buffers, not in pool
    # buffers. The starts are spread evenly over a second: a burst of 100
    # new connections at the same instant would each hold its request
    # head's buffer until its server connection is up, which is the connect
    # path, not the body path this test measures. Full size, rate at most
    # 4 MB/s (the one reader thread falls behind on a loaded machine, which
    # only makes the downloads overlap longer); fewer clients under a
    # sanitizer (SLUICE_SANITIZE).
    n = pl.scale(100, 30)
    size = 4 * MIB
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    option splice-auto"), name="slow")
    seen = {"max_pipes": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                seen["max_pipes"] = max(seen["max_pipes"], pl.stats(port)["pipes_in_use"])
            except Exception:  # noqa: BLE001 - a missed sample is harmless
                pass
            stop.wait(0.1)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        res = slow_downloads(port, n, f"/size/{size}", 4e6, 1.0, 90)
    finally:
        stop.set()
        sampler.join(5)
    want = (200, size, harness.pattern_sha256(size))
    assert res == [want] * n, [r for r in res if r != want][:5]
    s = pipes_at_rest(port)
    print(f"    {n} slow 4 MiB downloads: peak buffers in use {s['pool_peak_in_use']}, "
          f"most pipes seen in use {seen['max_pipes']}")
    # they were in flight in the proxy together (sampled every 100 ms) ...
    assert seen["max_pipes"] >= n // 5, seen
    # ... and held at most 8 pool buffers between them
    assert s["pool_peak_in_use"] <= 8, s
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
