"""test_syslog.py - access logs sent to syslog: a UDP listener on a free
loopback port and an AF_UNIX datagram socket (as /dev/log is) stand in for
the syslog daemon; each request's line must arrive as one datagram with
HAProxy's RFC 3164 header (<134> = local0.info by default), the sluice
PID, and the usual line; a facility named after the target changes PRI."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile

import harness
import proxylib as pl

# <PRI>Mon DD HH:MM:SS sluice[PID]: then the line of engine/core/log.h
SYSLOG_LINE = re.compile(
    r"^<(?P<pri>\d+)>(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) \d\d:\d\d:\d\d "
    r"sluice\[(?P<pid>\d+)\]: "
    r"(?P<addr>[\d.]+):\d+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] "
    r"(?P<fe>\S+) (?P<be>\S+)/(?P<srv>\S+) -?\d+/-?\d+/-?\d+/-?\d+/-?\d+ "
    r"(?P<status>-?\d+) \d+ \d+ (?P<ts>\S\S) \"(?P<req>[^\"]*)\"\n$")


def setup_module(ctx):
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=1)


def teardown_module(ctx):
    ctx.origin.stop()


def receive(sock, want: int, timeout: float = 5.0) -> list[str]:
    """Returns the datagrams read from sock until <want> arrived or the
    timeout passed."""
    sock.settimeout(timeout)
    got = []
    while len(got) < want:
        try:
            got.append(sock.recv(65536).decode())
        except socket.timeout:
            break
    return got


def run(ctx, sock, target: str, name: str, pri: int) -> None:
    """Starts sluice logging to <target>, sends two requests and checks the
    two datagrams read from <sock>."""
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      global_extra=f"    log {target}"), name=name)
    assert harness.curl([f"http://127.0.0.1:{port}/size/100"]).status == 200
    assert harness.curl([f"http://127.0.0.1:{port}/size/7?syslog=1"]).status == 200
    got = receive(sock, 2)
    assert proxy.stop() == 0
    assert len(got) == 2, got
    parsed = [SYSLOG_LINE.match(d) for d in got]
    assert all(parsed), [d for d, m in zip(got, parsed) if not m]
    reqs = sorted(m["req"] for m in parsed)
    assert reqs == ["GET /size/100", "GET /size/7?syslog=1"], reqs
    for m in parsed:
        assert int(m["pri"]) == pri, m.group(0)
        assert int(m["pid"]) == proxy.pid, (m["pid"], proxy.pid)
        assert (m["fe"], m["be"], m["srv"], m["status"], m["ts"]) == ("web", "app", "s1", "200", "--"), m.group(0)
    print(f"    {target}: {got[0].rstrip()}")


@harness.timeout(60)
def test_udp(ctx):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        run(ctx, s, f"127.0.0.1:{port}", "udp", 134)
        run(ctx, s, f"udp@127.0.0.1:{port} local3 info", "udp_local3", 19 * 8 + 6)


@harness.timeout(60)
def test_unix_datagram(ctx):
    # sun_path holds 108 bytes: a short directory of our own, not ctx.tmpdir
    d = tempfile.mkdtemp(prefix="sluice-syslog-")
    path = os.path.join(d, "log")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.bind(path)
            run(ctx, s, path, "unix", 134)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(harness.main())
