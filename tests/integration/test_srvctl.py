"""test_srvctl.py - servers changed from the host while traffic flows.

examples/srvctl.c embeds the engine and takes commands on stdin; it calls
sluice.h's sluice_server_add / _set_state / _del from its main thread while
the workers serve wrk. A server is drained and put back, another is added,
put in maintenance and removed, and the command socket does the same with
`add server` / `del server`. wrk must see only 2xx answers and no socket
error; the access log (one line per request, naming the server) shows the
added server served while present and was given no request once in
maintenance, and the drained server served again once back."""

from __future__ import annotations

import calendar
import os
import re
import select
import socket
import subprocess
import threading
import time

import harness

LINE = re.compile(r"^\S+ \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d)\.(\d{3})\] \S+ (\S+)/(\S+) ")
MONTHS = {m: i + 1 for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])}


def setup_module(ctx):
    ctx.o1, ctx.p1 = harness.start_origin(ctx.build_dir, name="s1")
    ctx.o2, ctx.p2 = harness.start_origin(ctx.build_dir, name="s2")
    ctx.o3, ctx.p3 = harness.start_origin(ctx.build_dir, name="s3")
    ctx.port = harness.free_port()
    ctx.log = os.path.join(ctx.tmpdir, "access.log")
    ctx.sock = os.path.join(ctx.tmpdir, "cli.sock")
    cfg = os.path.join(ctx.tmpdir, "srvctl.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    nbthread 2
    log {ctx.log}
    stats socket {ctx.sock} level admin
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 2s
frontend web
    bind 127.0.0.1:{ctx.port}
    default_backend app
backend app
    server s1 127.0.0.1:{ctx.p1}
    server s2 127.0.0.1:{ctx.p2}
""")
    exe = os.path.join(ctx.build_dir, "examples", "sluice-srvctl")
    ctx.host = subprocess.Popen([exe, cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1)
    assert read_line(ctx, 10) == "ready", ctx.host.stderr.read()
    harness.wait_until(lambda: connectable(ctx.port), timeout=10)


def teardown_module(ctx):
    if ctx.host.poll() is None:
        ctx.host.stdin.write("quit\n")
        ctx.host.stdin.flush()
        try:
            ctx.host.wait(timeout=15)
        except subprocess.TimeoutExpired:
            ctx.host.kill()
            ctx.host.wait(timeout=5)
    assert ctx.host.returncode == 0, ctx.host.stderr.read()
    for o in (ctx.o1, ctx.o2, ctx.o3):
        o.stop()


def connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def read_line(ctx, timeout):
    r, _, _ = select.select([ctx.host.stdout], [], [], timeout)
    assert r, "the host did not answer"
    return ctx.host.stdout.readline().strip()


def cmd(ctx, line):
    ctx.host.stdin.write(line + "\n")
    ctx.host.stdin.flush()
    return read_line(ctx, 10)


def cli(ctx, line):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(ctx.sock)
        s.sendall(line.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out.decode()
            out += chunk


def log_lines(ctx):
    """(start time in s, server name) of every logged request."""
    out = []
    with open(ctx.log) as f:
        for line in f:
            m = LINE.match(line)
            if m and m.group(8) == "app":
                d, mon, y, hh, mm, ss, ms = m.group(1, 2, 3, 4, 5, 6, 7)
                t = calendar.timegm((int(y), MONTHS[mon], int(d), int(hh), int(mm), int(ss)))
                out.append((t + int(ms) / 1000, m.group(9)))
    return out


def test_servers_from_the_host_under_load(ctx):
    res = {}
    url = f"http://127.0.0.1:{ctx.port}/size/512"
    wrk = threading.Thread(target=lambda: res.update(harness.run_wrk(url, connections=16, duration_s=7)))
    wrk.start()
    marks = {}
    try:
        time.sleep(0.7)
        assert cmd(ctx, f"add app s3 127.0.0.1:{ctx.p3} 2") == "ok"
        assert cmd(ctx, f"add app s3 127.0.0.1:{ctx.p3}").startswith("error: cannot add server 'app/s3': a server")
        time.sleep(1.2)
        assert cmd(ctx, "state app s1 drain") == "ok"
        marks["drained"] = time.time()
        time.sleep(1.0)
        assert cmd(ctx, "state app s1 ready") == "ok"
        marks["back"] = time.time()
        time.sleep(1.0)
        # removal is refused while the server works, as in HAProxy
        assert cmd(ctx, "del app s3").startswith("error: cannot remove server 'app/s3': only a server in maint")
        assert cmd(ctx, "state app s3 maint") == "ok"
        marks["maint"] = time.time()
        deadline = time.monotonic() + 5
        while True:
            answer = cmd(ctx, "del app s3")
            if answer == "ok" or time.monotonic() > deadline:
                break
            assert "holds or queues streams" in answer, answer
            time.sleep(0.02)
        assert answer == "ok", answer
        # nothing may reach it any more: its origin goes away
        ctx.o3.stop()
        assert cmd(ctx, "state app s3 ready").startswith("error: no such server 'app/s3'")
        # the command socket: added in maintenance, removed at once
        assert cli(ctx, f"add server app s4 127.0.0.1:{ctx.p3}").startswith("Usage: add server")
        out = cli(ctx, f"add server app/s4 127.0.0.1:{ctx.p3} weight 3 maxconn 10")
        assert out.strip() == "New server registered.", out
        assert "app s4 UP maint 3 0 10" in cli(ctx, "show servers state app")
        assert cli(ctx, "del server app/s4").strip() == "Server deleted."
        assert "s4" not in cli(ctx, "show servers state app")
    finally:
        wrk.join(timeout=30)
    assert res, "wrk did not run"
    assert res["requests"] > 100, res["output"]
    assert res["non2xx"] == 0 and res["errors_total"] == 0, res["output"]

    harness.wait_until(lambda: len(log_lines(ctx)) >= res["requests"], timeout=10)
    lines = log_lines(ctx)
    by_srv = {}
    for _, srv in lines:
        by_srv[srv] = by_srv.get(srv, 0) + 1
    assert by_srv.get("s3", 0) > 0, by_srv
    # log times are wall-clock milliseconds: 20 ms of slack for rounding
    late = [t for t, srv in lines if srv == "s3" and t > marks["maint"] + 0.02]
    assert not late, f"{len(late)} requests reached s3 after its maintenance"
    assert any(srv == "s1" and t > marks["back"] + 0.02 for t, srv in lines), "s1 never came back"
    drained = [t for t, srv in lines if srv == "s1" and marks["drained"] + 0.02 < t < marks["back"] - 0.02]
    assert not drained, f"{len(drained)} requests reached s1 while drained"


if __name__ == "__main__":
    raise SystemExit(harness.main())
