"""proxylib.py - starting the sluice binary and loading it, for the
integration tests (standard library only, on top of harness.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import socket
import threading
import time

import harness

STATS_URI = "/sluice-stats"


def sanitized() -> bool:
    """Returns True when the binaries under test carry a sanitizer: loads
    are then scaled down, never the assertions."""
    return os.environ.get("SLUICE_SANITIZE", "none") not in ("", "none")


def scale(n: int, sanitizer_n: int) -> int:
    """Returns n, or sanitizer_n under a sanitizer build."""
    return sanitizer_n if sanitized() else n


def sluice_path(build_dir: str) -> str:
    """Returns the path of the sluice binary in build_dir."""
    path = os.path.join(build_dir, "engine", "sluice")
    if not os.access(path, os.X_OK):
        raise harness.HarnessError(f"{path} not found: build the sluice target")
    return path


def make_config(port: int, servers: list[str], global_extra: str = "", defaults_extra: str = "",
                backend_extra: str = "", frontend_extra: str = "", nbthread: int = 2) -> str:
    """Returns a config text: one frontend on 127.0.0.1:<port> with the
    stats URI, one backend 'app' with the given server lines."""
    srv = "\n".join(f"    {s}" for s in servers)
    return f"""global
    nbthread {nbthread}
    maxconn 20000
{global_extra}
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
    timeout queue 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    retries 3
    option redispatch
{defaults_extra}
frontend web
    bind 127.0.0.1:{port}
    stats uri {STATS_URI}
    default_backend app
{frontend_extra}
backend app
{backend_extra}
{srv}
"""


def start_sluice(ctx, make_cfg, name: str = "sluice", extra_args=()) -> tuple[harness.Proc, int]:
    """Starts sluice on a free port with the config make_cfg(port) (written
    to the test's temp dir) and waits until it accepts. Returns (proc, port)."""
    exe = sluice_path(ctx.build_dir)

    def argv(port: int):
        path = os.path.join(ctx.tmpdir, f"{name}-{port}.cfg")
        with open(path, "w") as f:
            f.write(make_cfg(port))
        return [exe, "-f", path, *extra_args]

    return harness.start_with_free_port(argv, name=name)


def stats(port: int) -> dict:
    """Returns the proxy's counters, read from its stats URI."""
    r = harness.curl([f"http://127.0.0.1:{port}{STATS_URI};json"], timeout=10)
    assert r.status == 200, r
    return json.loads(r.body)


def wait_quiet(port: int, timeout: float = 10.0) -> dict:
    """Waits until only our own stats request is in flight and no buffer is
    held, then returns the counters. Raises when it never happens."""
    last = {}

    def quiet():
        nonlocal last
        last = stats(port)
        inflight = last["req_received"] - last["rsp_sent"] - last["rsp_errors"] - last["req_aborted"]
        return last if inflight == 1 and last["pool_in_use"] == 0 and last["pool_waiting"] == 0 else None

    try:
        return harness.wait_until(quiet, timeout=timeout, interval=0.1, what="proxy at rest")
    except harness.HarnessError:
        raise AssertionError(f"proxy never came to rest: {last}")


def keepalive_load(port: int, conns: int, reqs_per_conn: int, path: str,
                   expect_len: int | None = None, timeout: float = 60.0) -> dict:
    """Opens <conns> keep-alive connections at once, each sending
    <reqs_per_conn> GET <path> one after the other and checking every
    answer (status 200, body length). Returns counts: ok, bad (list of the
    first problems), elapsed. Bounded by <timeout> per connection."""
    results = {"ok": 0, "bad": []}
    lock = threading.Lock()
    start = threading.Barrier(conns + 1)

    def worker():
        ok, bad = 0, None
        try:
            start.wait(timeout)
            with harness.RawConn(port, timeout=timeout) as c:
                for _ in range(reqs_per_conn):
                    r = c.request("GET", path)
                    if r.status != 200 or (expect_len is not None and len(r.body) != expect_len):
                        bad = f"status {r.status} len {len(r.body)}"
                        break
                    ok += 1
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            bad = f"{type(e).__name__}: {e}"
        with lock:
            results["ok"] += ok
            if bad and len(results["bad"]) < 10:
                results["bad"].append(bad)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    start.wait(timeout)
    for t in threads:
        t.join(timeout + 5)
    results["elapsed"] = time.monotonic() - t0
    results["stuck"] = sum(t.is_alive() for t in threads)
    return results


def open_idle(port: int, n: int, path: str = "/size/100") -> list[socket.socket]:
    """Opens n connections that each complete one request and then stay
    open, idle. Returns the sockets (close them when done)."""
    socks = []
    req = f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        socks.append(s)
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + 100:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("idle connection closed early")
            data += chunk
    return socks


def h2load(url, n, c, m, timeout=120, extra=()):
    """Runs h2load and returns (succeeded, failed, errored, 2xx, output)."""
    cp = subprocess.run(["h2load", "-n", str(n), "-c", str(c), "-m", str(m), *extra, url],
                        capture_output=True, timeout=timeout)
    out = cp.stdout.decode(errors="replace")
    m_req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored", out)
    m_st = re.search(r"status codes: (\d+) 2xx", out)
    assert m_req and m_st, out
    return int(m_req.group(4)), int(m_req.group(5)), int(m_req.group(6)), int(m_st.group(1)), out


def h2load_tiny_limit(ctx, server_line: str, n: int) -> dict:
    """Starts a sluice with 8 buffers (reserve 2) in front of <server_line>,
    runs h2load -c 50 -m 100 for <n> requests (HTTP/2 preface detected on
    its listener), asserts that all of them got a 2xx and that every buffer
    went back, stops it and returns its final counters."""
    proxy, port = start_sluice(
        ctx, lambda p: make_config(p, [server_line],
                                   global_extra="    tune.buffers.limit 8\n    tune.buffers.reserve 2",
                                   defaults_extra="    timeout queue 60s"), name="h2cap")
    ok, failed, errored, s2xx, out = h2load(f"http://127.0.0.1:{port}/size/2000", n, 50, 100, timeout=170)
    assert ok == n and s2xx == n and failed == 0 and errored == 0, out
    s = wait_quiet(port, timeout=20)
    assert s["pool_in_use"] == 0 and s["pool_waiting"] == 0, s
    assert s["pool_peak_allocated"] <= 8, s
    assert s["pool_notifies"] == s["pool_handoffs"], s
    # the cap must really bite, or this run proved nothing about waiting
    assert s["pool_failed"] > 0 and s["pool_handoffs"] > 0, s
    assert proxy.stop() == 0
    return s
