"""test_memcap.py - the memory-cap scenario of the seeds: a server at
maxconn 1, a handful of buffers, hundreds of concurrent keep-alive clients.
HAProxy 2.6 freezes for good here; Sluice must serve every request."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time

import harness
import proxylib as pl


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)


def teardown_module(ctx):
    ctx.origin.stop()


def run_capped(ctx, name, global_extra, conns, per_conn, size):
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 1"],
                                      global_extra=global_extra,
                                      defaults_extra="    timeout queue 60s"), name=name)
    res = pl.keepalive_load(port, conns, per_conn, f"/size/{size}", expect_len=size, timeout=120)
    assert res["stuck"] == 0, res
    assert not res["bad"], res
    assert res["ok"] == conns * per_conn, res
    s = pl.wait_quiet(port, timeout=20)
    # nothing lost: every accepted request got its response, none was ours
    assert s["rsp_errors"] == 0 and s["req_aborted"] == 0, s
    assert s["req_received"] == s["rsp_sent"] + 1, s
    assert s["pool_in_use"] == 0 and s["pool_waiting"] == 0, s
    assert s["pool_notifies"] == s["pool_handoffs"], s
    assert proxy.stop() == 0
    print(f"    {name}: {res['ok']} requests in {res['elapsed']:.1f}s, "
          f"failed allocs {s['pool_failed']}, hand-offs {s['pool_handoffs']}, "
          f"passes-on {s['pool_passes_on']}, peak in use {s['pool_peak_in_use']}, "
          f"stream calls/request {s['stream_calls'] / max(1, s['streams']):.2f}")
    return s


@harness.timeout(180)
def test_tiny_buffer_limit_maxconn1(ctx):
    conns = pl.scale(300, 100)
    s = run_capped(ctx, "cap6", "    tune.buffers.limit 6\n    tune.buffers.reserve 2",
                   conns, pl.scale(10, 5), 20000)
    assert s["pool_peak_allocated"] <= 6, s
    assert s["pool_failed"] > 0, s  # the cap really bit


@harness.timeout(180)
def test_fault_injection_fifth_of_allocations(ctx):
    conns = pl.scale(300, 100)
    s = run_capped(ctx, "fail20", "    tune.fail-alloc 20", conns, pl.scale(10, 5), 20000)
    assert s["pool_injected"] > 0, s


@harness.timeout(60)
def test_waiter_wait_is_bounded(ctx):
    """A connection waiting for a buffer keeps a timer, but not its client's:
    the pool's shortage is not the client being idle. Two clients hold the
    only two buffers a request may take (partial heads); a third, kept
    alive after a first request, sends its next request and must wait. Its
    keep-alive timeout (1 s) does not close it silently (that would leave
    its request unanswered); the buffer wait is bounded by timeout queue
    (1 s): it gets a 503, long before the holders' request timeout (20 s),
    and its wait entry leaves the queue."""
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      global_extra="    tune.buffers.limit 3\n    tune.buffers.reserve 1",
                                      defaults_extra="    timeout http-keep-alive 1s\n"
                                                     "    timeout queue 2s\n"
                                                     "    timeout http-request 20s",
                                      nbthread=1), name="r4")
    with harness.RawConn(port, timeout=10) as waiter:
        r = waiter.request("GET", "/size/10")
        assert r.status == 200
        holders = [harness.RawConn(port, timeout=10) for _ in range(2)]
        for h in holders:
            h.send(b"GET /size/10 HTTP/1.1\r\nHost: a\r\n")  # head left unfinished
        time.sleep(0.3)  # (no stats request here: it would have to wait too)
        waiter.send(harness.build_request("GET", "/size/10"))
        t0 = time.monotonic()
        r = waiter.read_response()
        assert r.status == 503, r.status
        assert 1.5 < time.monotonic() - t0 < 4
        assert waiter.is_closed(5)
    # the holders finish their heads and are served normally
    for h in holders:
        h.send(b"\r\n")
        r = h.read_response()
        assert r.status == 200 and len(r.body) == 10
        h.close()
    s = pl.wait_quiet(port)
    assert s["pool_in_use"] == 0 and s["pool_waiting"] == 0, s
    assert s["pool_waits_total"] >= 1, s
    assert proxy.stop() == 0


@harness.timeout(120)
def test_post_bodies_under_tiny_limit(ctx):
    """Request bodies under a cap: queued streams hold request buffers, so
    the body of the stream holding the server slot must still get one
    (it is what frees the slot). HTTP/1.1 and HTTP/2 clients."""
    harness.require_tool("h2load")
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 4"],
                                      global_extra="    tune.buffers.limit 8\n    tune.buffers.reserve 2",
                                      defaults_extra="    timeout queue 60s"), name="postcap")
    big, small = os.path.join(ctx.tmpdir, "big"), os.path.join(ctx.tmpdir, "small")
    with open(big, "wb") as f:
        f.write(harness.pattern_bytes(60000))
    with open(small, "wb") as f:
        f.write(harness.pattern_bytes(3000))
    for args, n, body in ((["--h1", "-c", "8"], 400, big), (["-c", "4", "-m", "4"], 400, big),
                          (["-c", "20", "-m", "50"], pl.scale(3000, 1000), small)):
        cp = subprocess.run(["h2load", "-n", str(n), "-d", body, *args,
                             f"http://127.0.0.1:{port}/echo"], capture_output=True, timeout=100)
        out = cp.stdout.decode(errors="replace")
        assert f"{n} succeeded" in out and f"{n} 2xx" in out, out
    s = pl.wait_quiet(port, timeout=20)
    assert s["pool_in_use"] == 0 and s["pool_peak_allocated"] <= 8, s
    assert s["req_aborted"] == 0 and s["rsp_errors"] == 0, s
    assert proxy.stop() == 0


@harness.timeout(120)
def test_uploads_leave_a_buffer_for_answers(ctx):
    """Uploads to a server that answers while it reads (/echo streams the
    body back) with maxconn above the reserve: the slot holders' request
    bodies may use the reserve, but never its last buffer, or every
    reserved buffer ends up holding a request that waits for an answer
    that can get none (504s after timeout server)."""
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 6"],
                                      global_extra="    tune.buffers.limit 5\n    tune.buffers.reserve 3",
                                      defaults_extra="    timeout server 3s\n    timeout queue 60s"),
        name="echocap")
    n = 8 << 20
    path = os.path.join(ctx.tmpdir, "up")
    with open(path, "wb") as f:
        f.write(harness.pattern_bytes(n))
    want = harness.pattern_sha256(n)
    results = [None] * 6

    def up(i):
        # curl reads the echo while it sends, as a streaming client must
        r = harness.curl(["--data-binary", f"@{path}", "-H", "Content-Type: application/octet-stream",
                          f"http://127.0.0.1:{port}/echo"], timeout=60)
        results[i] = (r.status, hashlib.sha256(r.body).hexdigest() == want)
    threads = [threading.Thread(target=up, args=(i,), daemon=True) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(70)
    assert results == [(200, True)] * 6, results
    s = pl.wait_quiet(port, timeout=20)
    assert s["pool_in_use"] == 0 and s["pool_peak_allocated"] <= 5, s
    assert s["timeouts_server"] == 0 and s["rsp_errors"] == 0, s
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
