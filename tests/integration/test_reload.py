"""test_reload.py - reloading the configuration (SIGHUP) under load without
losing a request: wrk (HTTP/1.1 keep-alive) and h2load (h2c, prior
knowledge) run while the proxy switches ten times between two valid
configurations, which differ by a response header (X-Gen: a|b, proving each
switch) and by a second listening address (bound by b, closed by a); an
invalid configuration in between is refused with its file:line while the
proxy keeps serving; the counters never go backwards."""

from __future__ import annotations

import json
import os
import socket
import re
import signal
import subprocess
import threading
import time

import harness
import proxylib as pl

RELOADS = 10
# counters that must never go backwards across a reload (sluice_stats JSON)
MONOTONIC = ("conn_accepted", "req_received", "rsp_sent", "streams", "bytes_in", "bytes_out",
             "h2_conn_accepted", "h2_streams", "pool_allocs", "sched_loops", "reloads")


def setup_module(ctx):
    harness.require_tool("wrk")
    harness.require_tool("h2load")
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=1)


def teardown_module(ctx):
    assert ctx.origin.stop() == 0


def config(port: int, port2: int, oport: int, gen: str, sock: str | None = None) -> str:
    """Config <gen> ('a' or 'b'): both listen on <port>; 'b' also on <port2>;
    with <sock>, a command socket there."""
    extra = f"    http-response set-header X-Gen {gen}\n"
    if gen == "b":
        extra += f"    bind 127.0.0.1:{port2}\n"
    glob = "    grace 10s\n" + (f"    stats socket {sock} level admin\n" if sock else "")
    return pl.make_config(port, [f"server s1 127.0.0.1:{oport}"], frontend_extra=extra,
                          global_extra=glob)


def write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def count(proxy: harness.Proc, what: str) -> int:
    with open(proxy.stderr_path, errors="replace") as f:
        return f.read().count(what)


def reload(proxy: harness.Proc, what: str) -> None:
    """Sends SIGHUP and waits for the proxy to say <what> once more."""
    before = count(proxy, what)
    proxy.send_signal(signal.SIGHUP)
    harness.wait_until(lambda: count(proxy, what) > before, timeout=10, interval=0.02,
                       what=f"'{what}' after SIGHUP")


def get(port: int, path: str) -> harness.Response:
    """One GET over a new connection (raw socket: cheaper than a curl
    process on a loaded machine)."""
    raw = harness.raw_request(port, harness.build_request("GET", path, headers=[("Connection", "close")]),
                              timeout=10)
    parsed = harness.parse_response(raw, eof=True)
    assert parsed, raw
    return parsed[0]


def gen_of(port: int) -> str:
    r = get(port, "/size/10")
    assert r.status == 200, r
    return r.headers.get("X-Gen")


def stats(port: int) -> dict:
    r = get(port, pl.STATS_URI + ";json")
    assert r.status == 200, r
    return json.loads(r.body)


def check_monotonic(prev: dict, cur: dict) -> None:
    for k in MONOTONIC:
        assert cur[k] >= prev[k], f"{k} went backwards: {prev[k]} -> {cur[k]}"


@harness.timeout(60)
def test_reload_under_load(ctx):
    port2 = harness.free_port()
    path = os.path.join(ctx.tmpdir, "reload.cfg")

    def make_argv(port):
        write(path, config(port, port2, ctx.oport, "a"))
        return [pl.sluice_path(ctx.build_dir), "-f", path]

    proxy, port = harness.start_with_free_port(make_argv, name="reload")
    assert gen_of(port) == "a"
    url = f"http://127.0.0.1:{port}/size/100"
    dur = 8 if not pl.sanitized() else 10
    res = {}

    def run_wrk():
        res["wrk"] = harness.run_wrk(url, connections=20, threads=1, duration_s=dur)

    def run_h2load():
        res["h2"] = pl.h2load(url, 0, 8, 4, timeout=dur + 30, extra=("-D", str(dur)))

    loads = [threading.Thread(target=run_wrk), threading.Thread(target=run_h2load)]
    for t in loads:
        t.start()
    time.sleep(0.5)
    prev = first = stats(port)
    gens = []
    t_loop = time.monotonic()
    for i in range(RELOADS):
        gen = "b" if i % 2 == 0 else "a"
        write(path, config(port, port2, ctx.oport, gen))
        reload(proxy, "configuration reloaded")
        gens.append(gen_of(port))
        # the address only b has is served by b and closed by a
        if gen == "b":
            assert gen_of(port2) == "b"
        else:
            try:
                socket.create_connection(("127.0.0.1", port2), timeout=5).close()
                raise AssertionError(f"port {port2} still accepts after a reload to a")
            except ConnectionRefusedError:
                pass
        cur = stats(port)
        check_monotonic(prev, cur)
        prev = cur
        if i == RELOADS // 2:
            # an invalid file: refused with file:line, the running one stays
            write(path, config(port, port2, ctx.oport, gen) + "    bogus-keyword 1\n")
            reload(proxy, "reload refused")
            with open(proxy.stderr_path, errors="replace") as f:
                err = f.read()
            assert re.search(re.escape(path) + r":\d+: .*bogus-keyword", err), err[-2000:]
            assert gen_of(port) == gen
        time.sleep(0.1)
    t_loop = time.monotonic() - t_loop
    # errors of our own during the reloads (the load tools abort what is in
    # flight when their time is up, which the proxy answers 400 to nobody:
    # count only while they still run)
    mid = stats(port)
    if all(t.is_alive() for t in loads):
        assert mid["rsp_errors"] == first["rsp_errors"] and mid["req_aborted"] == first["req_aborted"], mid
    else:
        print("note: the loads ended before the reloads did (loaded machine)")
    for t in loads:
        t.join(timeout=dur + 40)
    print(f"{RELOADS} reloads in {t_loop:.1f}s")
    assert gens == ["b" if i % 2 == 0 else "a" for i in range(RELOADS)], gens
    w = res["wrk"]
    assert w["requests"] > 0 and w["errors_total"] == 0 and w["non2xx"] == 0, w["output"]
    ok, failed, errored, s2xx, out = res["h2"]
    assert ok > 0 and failed == 0 and errored == 0 and s2xx == ok, out
    final = stats(port)
    check_monotonic(prev, final)
    assert final["reloads"] == RELOADS and final["reload_failures"] == 1, final
    assert proxy.stop() == 0


def cli(sock: str, cmd: str) -> str:
    cp = subprocess.run(["socat", "-t", "5", "stdio", f"unix-connect:{sock}"], input=(cmd + "\n").encode(),
                        capture_output=True, timeout=15)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.decode()


@harness.timeout(30)
def test_cli_reload(ctx):
    """The command socket's `reload`: switches, refuses a bad file with its
    file:line, and the socket's path still answers once the generation that
    ran the command is gone (the new one owns the path)."""
    harness.require_tool("socat")
    port2 = harness.free_port()
    path = os.path.join(ctx.tmpdir, "cli.cfg")
    sock = os.path.join(ctx.tmpdir, "cli.sock")

    def make_argv(port):
        write(path, config(port, port2, ctx.oport, "a", sock))
        return [pl.sluice_path(ctx.build_dir), "-f", path]

    proxy, port = harness.start_with_free_port(make_argv, name="cli-reload")
    assert gen_of(port) == "a"
    write(path, config(port, port2, ctx.oport, "b", sock))
    out = cli(sock, "reload")
    assert out.startswith("Success=1"), out
    assert gen_of(port) == "b" and gen_of(port2) == "b"
    write(path, config(port, port2, ctx.oport, "a", sock) + "    bogus-keyword 1\n")
    out = cli(sock, "reload")
    assert out.startswith("Success=0\n--\n") and re.search(re.escape(path) + r":\d+: ", out), out
    assert gen_of(port) == "b"
    # the first generation ended (no connection left): the path is the
    # live one's, and it answers
    time.sleep(0.3)
    info = cli(sock, "show info")
    assert "Name: Sluice" in info, info
    assert stats(port)["reloads"] == 1 and stats(port)["reload_failures"] == 1
    assert proxy.stop() == 0
    assert not os.path.exists(sock)


if __name__ == "__main__":
    raise SystemExit(harness.main())
