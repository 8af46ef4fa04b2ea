"""test_cli.py - the command socket (`stats socket`), driven with socat as
operators do: show commands, draining a server while a request to it
finishes, weights, maintenance, levels, and the idle timeout and client
cap that keep stalled clients from holding the socket."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time

import harness
import proxylib as pl


def setup_module(ctx):
    ctx.o1, ctx.p1 = harness.start_origin(ctx.build_dir, name="o1", threads=1)
    ctx.o2, ctx.p2 = harness.start_origin(ctx.build_dir, name="o2", threads=1)


def teardown_module(ctx):
    ctx.o1.stop()
    ctx.o2.stop()


def start(ctx, name, level="admin", extra=""):
    sock = os.path.join(ctx.tmpdir, f"{name}.sock")
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.p1}", f"server s2 127.0.0.1:{ctx.p2}"],
                                      global_extra=f"    stats socket {sock} mode 600 level {level}" + extra),
        name=name)
    wait_socket(sock)
    return proxy, port, sock


def wait_socket(sock, seconds=10.0):
    """The TCP port answers as soon as the listeners are bound; the command
    socket is opened by worker thread 0 a moment later, so wait until it
    accepts a connection (bounded) before the first command."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(sock)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def cli(sock, cmd):
    harness.require_tool("socat")
    cp = subprocess.run(["socat", "-t", "5", "stdio", f"unix-connect:{sock}"], input=(cmd + "\n").encode(),
                        capture_output=True, timeout=15)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.decode()


def origins(port, n):
    seen = []
    for _ in range(n):
        r = harness.curl([f"http://127.0.0.1:{port}/size/10"])
        seen.append(r.headers.get("X-Origin") if r.status == 200 else r.status)
    return seen


@harness.timeout(90)
def test_show_commands(ctx):
    proxy, port, sock = start(ctx, "show")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    origins(port, 4)
    info = cli(sock, "show info")
    assert "Name: Sluice" in info and "CumReq: " in info and "pool_handoffs: " in info, info
    st = cli(sock, "show stat")
    assert st.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,"), st
    assert "\napp,s1," in st and "\napp,BACKEND," in st, st
    srv = cli(sock, "show servers state")
    assert "app s1 UP ready 1 " in srv and "app s2 UP ready 1 " in srv, srv
    assert "Buffer pool:" in cli(sock, "show pools")
    assert "show servers state" in cli(sock, "help")
    assert "Unknown command" in cli(sock, "frobnicate")
    # several commands on one line, each answer ends with an empty line
    two = cli(sock, "show pools; show servers state app")
    assert "Buffer pool:" in two and "app s2" in two, two
    assert proxy.stop() == 0
    assert not os.path.exists(sock), "the socket file outlived the proxy"


@harness.timeout(90)
def test_drain_weight_and_maintenance(ctx):
    proxy, port, sock = start(ctx, "drain")
    assert set(origins(port, 6)) == {"o1", "o2"}
    # a slow request that lands on s1 keeps running through the drain
    slow = {}

    def run():
        with harness.RawConn(port, timeout=20) as c:
            for _ in range(4):   # round robin: one of them reaches o1
                r = c.request("GET", "/delay/50")
                slow.setdefault("origins", []).append(r.headers.get("X-Origin"))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert cli(sock, "set server app/s1 state drain").strip() == ""
    assert "app s1 UP drain" in cli(sock, "show servers state")
    assert set(origins(port, 6)) == {"o2"}
    t.join(20)
    assert len(slow.get("origins", [])) == 4, slow
    cli(sock, "set server app/s1 state ready")
    assert set(origins(port, 6)) == {"o1", "o2"}
    cli(sock, "set server app/s2 weight 0")
    assert set(origins(port, 6)) == {"o1"}
    cli(sock, "set server app/s2 weight 1")
    cli(sock, "disable server app/s1")
    cli(sock, "disable server app/s2")
    assert set(origins(port, 3)) == {503}
    cli(sock, "enable server app/s1")
    assert set(origins(port, 3)) == {"o1"}
    page = pl.stats(port)
    assert page["rsp_5xx"] >= 3
    assert "No such server" in cli(sock, "set server app/nope state drain")
    assert "No such backend" in cli(sock, "set server nope/s1 state drain")
    assert "expects" in cli(sock, "set server app/s1 state sleepy")
    assert proxy.stop() == 0


@harness.timeout(60)
def test_levels(ctx):
    proxy, port, sock = start(ctx, "levels", level="operator")
    assert "Permission denied" in cli(sock, "disable server app/s1")
    assert "Permission denied" in cli(sock, "set server app/s1 state maint")
    assert cli(sock, "set server app/s1 state drain").strip() == ""
    assert "disable server" not in cli(sock, "help")
    assert proxy.stop() == 0
    proxy, port, sock = start(ctx, "levels-user", level="user")
    assert "Permission denied" in cli(sock, "set server app/s1 weight 3")
    assert "Name: Sluice" in cli(sock, "show info")
    assert proxy.stop() == 0


@harness.timeout(60)
def test_stalled_clients_time_out_and_the_cap_holds(ctx):
    """Two clients that connect and send nothing fill `stats maxconn 2`: a
    third one's command waits in the backlog until `stats timeout 1s` closes
    them, then gets its answer. Without the cap the answer would come at
    once; without the timeout, never."""
    proxy, port, sock = start(ctx, "stalled", extra="\n    stats timeout 1s\n    stats maxconn 2")
    stalled = []
    for _ in range(2):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.settimeout(10)
        stalled.append(s)
    t0 = time.monotonic()
    out = cli(sock, "show info")
    waited = time.monotonic() - t0
    assert "Name: Sluice" in out
    assert 0.7 <= waited < 6, f"the answer came after {waited:.2f} s"
    for s in stalled:
        assert s.recv(64) == b"", "a stalled client is closed, with no answer"
        s.close()
    # a client that talks gets its answer at once again
    t0 = time.monotonic()
    assert "Name: Sluice" in cli(sock, "show info")
    assert time.monotonic() - t0 < 0.7
    assert proxy.stop() == 0


if __name__ == "__main__":
    raise SystemExit(harness.main())
