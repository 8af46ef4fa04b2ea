"""test_tls.py - TLS towards clients (`bind ... ssl crt`): curl over HTTPS
with HTTP/1.1 and HTTP/2 (ALPN), nghttp, SNI picking a certificate, session
resumption, plain HTTP and silent clients on the TLS port, h2load over TLS
under a tiny buffer limit, and configuration errors. Certificates are made
by the test (openssl req) in its temp dir: nothing secret is committed."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import harness
import proxylib as pl


def make_certs(d: str) -> str:
    """Creates in <d>/certs two PEMs holding certificate and key: 1-a.pem
    (RSA 2048, a.test, the default one) and 2-b.pem (ECDSA P-256,
    *.b.test). Returns the directory."""
    cdir = os.path.join(d, "certs")
    os.makedirs(cdir, exist_ok=True)
    specs = [("1-a", ["-newkey", "rsa:2048"], "a.test", "DNS:a.test"),
             ("2-b", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "b.test",
              "DNS:*.b.test")]
    for name, key, cn, san in specs:
        k, c = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
        subprocess.run(["openssl", "req", "-x509", *key, "-nodes", "-keyout", k, "-out", c,
                        "-days", "2", "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}"],
                       check=True, capture_output=True)
        with open(os.path.join(cdir, name + ".pem"), "w") as out:
            for p in (c, k):
                with open(p) as f:
                    out.write(f.read())
    return cdir


def setup_module(ctx):
    for tool in ("openssl", "curl", "nghttp", "h2load"):
        harness.require_tool(tool)
    ctx.keydir = ctx.tmpdir
    ctx.certs = make_certs(ctx.tmpdir)
    ctx.origin, ctx.oport = harness.start_origin(ctx.build_dir, name="o1", threads=2)
    ctx.tport = harness.free_port()
    ctx.proxy, ctx.port = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 200"],
            frontend_extra=f"    bind 127.0.0.1:{ctx.tport} ssl crt {ctx.certs} alpn h2,http/1.1\n"
                           "    timeout http-request 1s"),
        name="tls")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    ctx.origin.stop()


def url(ctx, path, host="127.0.0.1"):
    return f"https://{host}:{ctx.tport}{path}"


def curl_version(args):
    """Runs curl -k and returns (http_version, body)."""
    cp = subprocess.run(["curl", "-sSk", "--noproxy", "*", "--max-time", "60",
                         "-w", "\n%{http_version}", *args], capture_output=True, timeout=70)
    assert cp.returncode == 0, cp.stderr
    body, _, ver = cp.stdout.rpartition(b"\n")
    return ver.decode(), body


def start_tls_proxy(ctx, bind: str, name: str):
    """Starts a Sluice in front of the module's origin with one TLS bind,
    `bind 127.0.0.1:PORT ssl <bind>`. Returns (proc, stats port, PORT)."""
    tport = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport}"],
            frontend_extra=f"    bind 127.0.0.1:{tport} ssl {bind}"),
        name=name)
    return proxy, port, tport


def tls_stats(ctx):
    return {k: v for k, v in pl.stats(ctx.port).items() if k.startswith("tls_")}


@harness.timeout(90)
def test_https_h1_sizes_checksums(ctx):
    for n in (0, 1, 16383, 16385, 65536, 1 << 20, 10 << 20):
        ver, body = curl_version(["--http1.1", url(ctx, f"/size/{n}")])
        assert ver == "1.1", ver
        assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(n), n
    path = os.path.join(ctx.tmpdir, "up")
    with open(path, "wb") as f:
        f.write(harness.pattern_bytes(3 << 20))
    ver, body = curl_version(["--http1.1", "--data-binary", f"@{path}", url(ctx, "/sha256")])
    assert body.split()[0].decode() == harness.pattern_sha256(3 << 20)


@harness.timeout(90)
def test_https_h2_alpn_sizes_checksums(ctx):
    for n in (0, 1, 16384, 65536, 1 << 20, 10 << 20):
        ver, body = curl_version(["--http2", url(ctx, f"/size/{n}")])
        assert ver == "2", ver
        assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(n), n
    path = os.path.join(ctx.tmpdir, "up")
    with open(path, "wb") as f:
        f.write(harness.pattern_bytes(5 << 20))
    ver, body = curl_version(["--http2", "--data-binary", f"@{path}", url(ctx, "/sha256")])
    assert ver == "2" and body.split()[0].decode() == harness.pattern_sha256(5 << 20)


@harness.timeout(60)
def test_closing_answers_leave_at_once(ctx):
    """The last answer of a connection that closes is sent marked "more
    follows" so that it leaves in one segment with the FIN (and, over TLS,
    the close_notify). Held by the kernel without that FIN, it would wait
    for the 200 ms cork timer: each answer here must end (EOF) well before,
    over plain TCP and TLS, small and multi-record, HTTP/1.0 and
    Connection: close. Answers kept alive must not carry the mark. The
    fastest of five tries is judged: a held answer is late every time, a
    slow machine (a sanitizer build) only now and then."""
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    for port, wrap in ((ctx.port, False),
                       (ctx.tport, True)):
        for n in (16, 100000):
            for req in (f"GET /size/{n} HTTP/1.0\r\n\r\n",
                        f"GET /size/{n} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"):
                best = 1e9
                for _ in range(5):
                    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                    sock = tls.wrap_socket(raw) if wrap else raw
                    t0 = time.monotonic()
                    sock.sendall(req.encode())
                    with sock.makefile("rb") as f:
                        data = f.read()  # to EOF
                    best = min(best, time.monotonic() - t0)
                    sock.close()
                    head, _, body = data.partition(b"\r\n\r\n")
                    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head
                    assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(n), (port, n)
                assert best < 0.15, (port, wrap, n, req.split("\r\n")[0], best)
        # answers on a connection kept alive carry no mark: nothing
        # follows them at once
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock = tls.wrap_socket(raw) if wrap else raw
        f = sock.makefile("rb")
        best = 1e9
        for _ in range(5):
            t0 = time.monotonic()
            sock.sendall(b"GET /size/16 HTTP/1.1\r\nHost: a\r\n\r\n")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += f.readline()
            assert hashlib.sha256(f.read(16)).hexdigest() == harness.pattern_sha256(16)
            best = min(best, time.monotonic() - t0)
        assert best < 0.15, (port, wrap, "keep-alive", best)
        sock.close()


@harness.timeout(60)
def test_nghttp_over_tls(ctx):
    cp = subprocess.run(["nghttp", "-nv", url(ctx, "/size/300000"), url(ctx, "/size/5")],
                        capture_output=True, timeout=50)
    out = cp.stdout.decode(errors="replace")
    assert cp.returncode == 0, out[-2000:]
    assert "The negotiated protocol: h2" in out, out[:2000]
    assert out.count(":status: 200") == 2, out[-2000:]


@harness.timeout(30)
def test_h2_preface_on_tls_http1(ctx):
    """A client that chose http/1.1 by ALPN and then sends the HTTP/2
    preface is handed to the HTTP/2 mux with the same TLS session."""
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.set_alpn_protocols(["http/1.1"])
    with cctx.wrap_socket(socket.create_connection(("127.0.0.1", ctx.tport), timeout=5),
                          server_hostname="a.test") as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        data = b""
        while len(data) < 9:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        assert data[3] == 4, data  # the server's SETTINGS, over TLS


def served_cn(ctx, servername):
    """Returns the subject CN of the certificate sluice shows for SNI
    <servername> (None: no SNI)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{ctx.tport}"]
    args += ["-servername", servername] if servername else ["-noservername"]
    cp = subprocess.run(args, input=b"", capture_output=True, timeout=20)
    m = re.search(rb"subject=.*?CN\s*=\s*([^\s,/]+)", cp.stdout)
    assert m, cp.stdout[-1500:]
    return m.group(1).decode()


@harness.timeout(60)
def test_sni_picks_certificate(ctx):
    assert served_cn(ctx, "a.test") == "a.test"
    assert served_cn(ctx, "x.b.test") == "b.test"      # wildcard, ECDSA
    assert served_cn(ctx, "A.TEST") == "a.test"        # names are case-insensitive
    assert served_cn(ctx, "unknown.test") == "a.test"  # the first is the default
    assert served_cn(ctx, "y.x.b.test") == "a.test"    # a wildcard covers one label
    assert served_cn(ctx, None) == "a.test"
    # and curl verifies each against its own certificate
    for host, crt in (("a.test", "1-a"), ("www.b.test", "2-b")):
        cp = subprocess.run(["curl", "-sS", "--noproxy", "*", "--cacert",
                             os.path.join(ctx.keydir, crt + ".crt"), "--resolve",
                             f"{host}:{ctx.tport}:127.0.0.1", "-o", "/dev/null", "-w",
                             "%{http_code}", f"https://{host}:{ctx.tport}/size/10"],
                            capture_output=True, timeout=20)
        assert cp.stdout == b"200", (host, cp.stderr)


@harness.timeout(60)
def test_plain_http_on_tls_port_closed_counted(ctx):
    before = tls_stats(ctx)
    with socket.create_connection(("127.0.0.1", ctx.tport), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    assert b"HTTP/1.1 200" not in data
    # a bad record after a valid-looking header
    with socket.create_connection(("127.0.0.1", ctx.tport), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello")
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    after = harness.wait_until(
        lambda: (lambda a: a if a["tls_fail_plain_http"] > before["tls_fail_plain_http"] and
                 a["tls_fail_protocol"] > before["tls_fail_protocol"] else None)(tls_stats(ctx)),
        timeout=5, what="failures counted")
    assert after["tls_full_handshakes"] == before["tls_full_handshakes"], after
    assert ctx.proxy.alive
    ver, body = curl_version(["--http1.1", url(ctx, "/size/100")])
    assert len(body) == 100


@harness.timeout(60)
def test_silent_client_timed_out(ctx):
    before = tls_stats(ctx)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", ctx.tport), timeout=10) as s:
        assert s.recv(10) == b""
    took = time.monotonic() - t0
    assert 0.8 <= took < 5, took  # timeout http-request 1s
    # and one that stops mid-handshake (a ClientHello cut short)
    with socket.create_connection(("127.0.0.1", ctx.tport), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert s.recv(10) == b""
    after = tls_stats(ctx)
    assert after["tls_fail_timeout"] >= before["tls_fail_timeout"] + 2, after


@harness.timeout(60)
def test_client_closing_mid_handshake_counted(ctx):
    before = tls_stats(ctx)
    with socket.create_connection(("127.0.0.1", ctx.tport), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    harness.wait_until(lambda: tls_stats(ctx)["tls_fail_closed"] > before["tls_fail_closed"],
                       timeout=5, what="closed handshake counted")


@harness.timeout(60)
def test_session_resumption_tls13(ctx):
    sess = os.path.join(ctx.tmpdir, "sess.pem")
    req = b"GET /size/10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    before = tls_stats(ctx)
    outs = []
    for opt in ("-sess_out", "-sess_in", "-sess_in"):
        cp = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{ctx.tport}",
                             "-tls1_3", "-ign_eof", opt, sess],
                            input=req, capture_output=True, timeout=20)
        outs.append(cp.stdout.decode(errors="replace"))
    assert re.search(r"^New, TLSv1.3", outs[0], re.M), outs[0][-1500:]
    # the ticket is sealed with our rotating keys, named "sluicetk" + period
    cp = subprocess.run(["openssl", "sess_id", "-in", sess, "-text", "-noout"],
                        capture_output=True, timeout=10)
    assert b"sluicetk" in cp.stdout, cp.stdout
    for o in outs[1:]:
        assert re.search(r"^Reused, TLSv1.3", o, re.M), o[-1500:]
        assert "HTTP/1.1 200" in o
    after = tls_stats(ctx)
    assert after["tls_resumed"] == before["tls_resumed"] + 2, after
    assert after["tls_full_handshakes"] == before["tls_full_handshakes"] + 1, after


@harness.timeout(60)
def test_session_resumption_tls12(ctx):
    sess = os.path.join(ctx.tmpdir, "sess12.pem")
    req = b"GET /size/10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    outs = []
    for opt in ("-sess_out", "-sess_in"):
        cp = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{ctx.tport}",
                             "-tls1_2", "-ign_eof", opt, sess],
                            input=req, capture_output=True, timeout=20)
        outs.append(cp.stdout.decode(errors="replace"))
    assert re.search(r"^New, TLSv1.2", outs[0], re.M), outs[0][-1500:]
    assert re.search(r"^Reused, TLSv1.2", outs[1], re.M), outs[1][-1500:]


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def parked(ctx) -> int:
    return pl.stats(ctx.port)["conn_idle_parked"]


@harness.timeout(120)
def test_idle_tls_connections_memory(ctx):
    """Idle keep-alive HTTPS connections hold no pool buffer, and their
    RSS per connection is printed (SSL_MODE_RELEASE_BUFFERS)."""
    n = pl.scale(1000, 200)
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    pid = ctx.proxy.pid
    pl.wait_quiet(ctx.port)
    parked0 = parked(ctx)
    # the same number of plain idle connections first, for comparison
    rss0 = vm_rss_kb(pid)
    socks = pl.open_idle(ctx.port, n)
    pl.wait_quiet(ctx.port)
    rssp = vm_rss_kb(pid)
    for s in socks:
        s.close()
    print(f"idle plain connections: {n}, {(rssp - rss0) * 1024 / n:.0f} bytes per connection")
    harness.wait_until(lambda: parked(ctx) <= parked0, timeout=20, what="plain ones closed")
    pl.wait_quiet(ctx.port)
    rss0 = vm_rss_kb(pid)
    socks = []
    try:
        for _ in range(n):
            s = cctx.wrap_socket(socket.create_connection(("127.0.0.1", ctx.tport), timeout=10),
                                 server_hostname="a.test")
            s.sendall(b"GET /size/100 HTTP/1.1\r\nHost: a\r\n\r\n")
            socks.append(s)
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 104:
                chunk = s.recv(65536)
                assert chunk, "idle TLS connection closed early"
                data += chunk
        st = pl.wait_quiet(ctx.port)
        assert st["pool_in_use"] == 0, st
        rss1 = vm_rss_kb(pid)
        print(f"idle TLS connections: {n}, RSS {rss0} KiB -> {rss1} KiB, "
              f"{(rss1 - rss0) * 1024 / n:.0f} bytes per connection")
    finally:
        for s in socks:
            s.close()
    # the next test counts parked connections from a gauge at rest
    harness.wait_until(lambda: parked(ctx) <= parked0, timeout=20, what="TLS ones closed")


def tls_read_responses(so, n: int) -> list:
    """Reads <n> responses (Content-Length framed) from the TLS socket <so>."""
    data, out = b"", []
    while len(out) < n:
        r = harness.parse_response(data)
        if r is None:
            chunk = so.recv(65536)
            assert chunk, f"connection closed after {len(out)} answers"
            data += chunk
            continue
        out.append(r[0])
        data = data[r[1]:]
    assert not data, data[:200]
    return out


@harness.timeout(120)
def test_idle_tls_connections_parked_and_serve_again(ctx):
    """Idle keep-alive HTTPS/1.1 connections are parked like plain ones
    (their stream freed, the SSL object kept with the connection): the
    parked gauge reaches N; then every one of them answers two pipelined
    requests sent in ONE TLS record, byte-checked: a POST whose 12,000-byte
    body comes back from /echo, and a GET of a size of its own. The second
    request arrives decrypted together with the first, so it may sit in
    the stream's buffer or still inside OpenSSL (SSL_pending) when the
    first answer ends: either way it is answered, not parked as silence.
    Closing the clients brings the gauge back."""
    n = pl.scale(200, 50)
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    before = pl.wait_quiet(ctx.port)
    socks = []
    try:
        for i in range(n):
            s = cctx.wrap_socket(socket.create_connection(("127.0.0.1", ctx.tport), timeout=20),
                                 server_hostname="a.test")
            s.sendall(f"GET /size/{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
            socks.append(s)
        for i, s in enumerate(socks):
            r = tls_read_responses(s, 1)[0]
            assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == \
                harness.pattern_sha256(i), i
        harness.wait_until(lambda: parked(ctx) >= before["conn_idle_parked"] + n, timeout=20,
                           what="TLS connections parked")
        mid = pl.stats(ctx.port)
        assert mid["pool_in_use"] == 0, mid
        assert mid["streams_parked"] - before["streams_parked"] >= n, (before, mid)
        body = hashlib.sha256(b"tlsidle").digest() * 375  # 12,000 bytes
        for i, s in enumerate(socks):
            both = (f"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n"
                    .encode() + body +
                    f"GET /size/{1000 + i} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
            assert len(both) < 16384  # one record: Python's sendall writes it at once
            s.sendall(both)
        for i, s in enumerate(socks):
            echo, get = tls_read_responses(s, 2)
            assert echo.status == 200 and echo.body == body, (i, echo)
            assert get.status == 200 and hashlib.sha256(get.body).hexdigest() == \
                harness.pattern_sha256(1000 + i), (i, get)
        harness.wait_until(lambda: parked(ctx) >= before["conn_idle_parked"] + n, timeout=20,
                           what="TLS connections parked again")
        after = pl.wait_quiet(ctx.port)
        assert after["req_received"] - before["req_received"] >= 3 * n, (before, after)
        assert after["rsp_sent"] - before["rsp_sent"] >= 3 * n, (before, after)
        assert after["req_aborted"] == before["req_aborted"], (before, after)
        assert after["streams_parked"] - before["streams_parked"] >= 2 * n, (before, after)
        assert after["pool_in_use"] == 0, after
    finally:
        for s in socks:
            s.close()
    harness.wait_until(lambda: parked(ctx) <= before["conn_idle_parked"], timeout=20,
                       what="parked TLS connections closed")


@harness.timeout(240)
def test_tls_clients_under_tiny_buffer_limit(ctx):
    """tune.buffers.limit 3 / reserve 2 and a maxconn 1 server: 200 HTTPS
    clients (h2load with ALPN h2, h2load over HTTP/1.1, wrk) all complete,
    and every buffer is back afterwards."""
    tport = harness.free_port()
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport} maxconn 1"],
            global_extra="    tune.buffers.limit 3\n    tune.buffers.reserve 2",
            defaults_extra="    timeout queue 60s",
            frontend_extra=f"    bind 127.0.0.1:{tport} ssl crt {ctx.certs}"),
        name="tlscap")
    u = f"https://127.0.0.1:{tport}/size/20000"
    n = pl.scale(4000, 800)
    ok, failed, errored, s2xx, out = pl.h2load(u, n, 200, 10, timeout=170)
    assert "Application protocol: h2" in out, out
    assert ok == n and s2xx == n and failed == 0 and errored == 0, out
    n1 = pl.scale(2000, 400)
    ok, failed, errored, s2xx, out = pl.h2load(u, n1, 200, 1, timeout=170, extra=["--h1"])
    assert ok == n1 and s2xx == n1 and failed == 0 and errored == 0, out
    w = harness.run_wrk(u, connections=200, threads=2, duration_s=3)
    assert w["requests"] > 0 and w["non2xx"] == 0 and w["errors_total"] == 0, w["output"]
    s = pl.wait_quiet(port, timeout=20)
    assert s["pool_in_use"] == 0 and s["pool_waiting"] == 0, s
    assert s["pool_peak_allocated"] <= 3, s
    assert s["pool_notifies"] == s["pool_handoffs"], s
    assert s["tls_full_handshakes"] >= 400, s
    assert proxy.stop() == 0


def servers(port):
    return {srv["name"]: srv for be in pl.stats(port)["backends"] for srv in be["servers"]}


@harness.timeout(120)
def test_server_side_tls_to_sluice_origin(ctx):
    """A second sluice speaks TLS to the first one's TLS port: verified
    against the right CA (with SNI and name check), unverified, and against
    a wrong CA (503, counted); connections are reused; checks run over
    TLS (the wrong CA's server goes DOWN)."""
    crt = os.path.join(ctx.keydir, "1-a.crt")
    wrong = os.path.join(ctx.keydir, "2-b.crt")
    t = f"127.0.0.1:{ctx.tport}"
    backends = f"""
backend good
    option httpchk GET /size/1
    server g {t} ssl verify required ca-file {crt} sni str(a.test) check inter 500ms
backend none
    server n {t} ssl verify none alpn http/1.1
backend wrongca
    option httpchk GET /size/1
    server w {t} ssl verify required ca-file {wrong} sni str(a.test) check inter 500ms fall 1
backend wrongname
    server wn {t} ssl verify required ca-file {crt} sni str(nota.test)
backend h2tls
    option httpchk GET /
    server h {t} proto h2 ssl verify required ca-file {crt} sni str(a.test) check inter 500ms
backend h2wrongca
    server hw {t} proto h2 ssl verify required ca-file {wrong} sni str(a.test)
"""
    # one frontend per backend
    ports = {b: harness.free_port() for b in ("good", "none", "wrongca", "wrongname", "h2tls",
                                              "h2wrongca")}
    fes = "".join(f"""
frontend fe_{b}
    bind 127.0.0.1:{ports[b]}
    default_backend {b}
""" for b in ports)
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    retries 1") + fes + backends,
        name="tlscli")
    before = tls_stats(ctx)
    for n in (0, 100000, 10 << 20):
        r = harness.curl([f"http://127.0.0.1:{ports['good']}/size/{n}"])
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), r
    path = os.path.join(ctx.tmpdir, "up")
    with open(path, "wb") as f:
        f.write(harness.pattern_bytes(2 << 20))
    r = harness.curl(["--data-binary", f"@{path}", f"http://127.0.0.1:{ports['good']}/sha256"])
    assert r.status == 200 and r.body.split()[0].decode() == harness.pattern_sha256(2 << 20), r
    r = harness.curl([f"http://127.0.0.1:{ports['none']}/size/1000"])
    assert r.status == 200 and len(r.body) == 1000, r
    # HTTP/2 over TLS to the server (ALPN h2), from an HTTP/1.1 and an HTTP/2 client
    h2before = pl.stats(port)["h2_srv_conn_opened"]
    for n in (0, 70000, 10 << 20):
        r = harness.curl([f"http://127.0.0.1:{ports['h2tls']}/size/{n}"])
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(n), r
    r = harness.curl(["--data-binary", f"@{path}", f"http://127.0.0.1:{ports['h2tls']}/sha256"])
    assert r.status == 200 and r.body.split()[0].decode() == harness.pattern_sha256(2 << 20), r
    r = harness.curl(["--http2-prior-knowledge", f"http://127.0.0.1:{ports['h2tls']}/size/5000"])
    assert r.status == 200 and len(r.body) == 5000, r
    assert pl.stats(port)["h2_srv_conn_opened"] > h2before
    for b in ("wrongca", "wrongname", "h2wrongca"):
        r = harness.curl([f"http://127.0.0.1:{ports[b]}/size/10"])
        assert r.status == 503, (b, r)
    st = pl.stats(port)
    assert st["tls_srv_handshakes"] >= 2, st
    assert st["tls_srv_fail_verify"] >= 2, st
    assert st["srv_reuses"] >= 2, st  # the good server's TLS connection was reused
    rows = harness.wait_until(
        lambda: (lambda r: r if r["g"]["state"] == "UP" and r["w"]["state"] == "DOWN" and
                 r["h"]["state"] == "UP" else None)(servers(port)),
        timeout=10, what="checks over TLS")
    assert rows["g"]["check_status"] == 200, rows["g"]
    assert rows["w"]["check_reason"].startswith("Layer6 invalid response"), rows["w"]
    m = proxy.wait_stderr(r"server wrongca/w is DOWN \((.*)\)", 5)
    assert "SSL certificate verification failed" in m.group(1), m.group(0)
    # the origin side saw our handshakes
    assert tls_stats(ctx)["tls_full_handshakes"] > before["tls_full_handshakes"]
    assert proxy.stop() == 0


@harness.timeout(90)
def test_server_side_session_resumption(ctx):
    """`option httpclose` makes every request open a new TLS connection to
    the server (the first sluice's TLS port). With the default, each
    thread keeps the last session the server gave it, so all but each
    thread's first handshake resume (TLS 1.3 tickets, and TLS 1.2); with
    `no-ssl-reuse` none does. A session kept for one server line is never
    offered by another: a line naming another server (sni) still fails
    verification after the first line's sessions exist."""
    crt = os.path.join(ctx.keydir, "1-a.crt")
    t = f"127.0.0.1:{ctx.tport}"
    backends = f"""
backend reuse13
    option httpclose
    server r {t} ssl verify required ca-file {crt} sni str(a.test)
backend reuse12
    option httpclose
    server r12 {t} ssl verify required ca-file {crt} sni str(a.test) ssl-max-ver TLSv1.2
backend noreuse
    option httpclose
    server nr {t} ssl verify required ca-file {crt} sni str(a.test) no-ssl-reuse
backend wrongname
    option httpclose
    server wn {t} ssl verify required ca-file {crt} sni str(nota.test)
"""
    ports = {b: harness.free_port() for b in ("reuse13", "reuse12", "noreuse", "wrongname")}
    fes = "".join(f"""
frontend fe_{b}
    bind 127.0.0.1:{ports[b]}
    default_backend {b}
""" for b in ports)
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{ctx.oport}"],
                                      defaults_extra="    retries 1") + fes + backends,
        name="tlsresume")
    n = 10  # sequential requests per backend, each on a new server connection
    try:
        for b, min_resumed in (("reuse13", n - 2), ("reuse12", n - 2), ("noreuse", 0)):
            before, obefore = pl.stats(port), tls_stats(ctx)
            for i in range(n):
                size = 1000 + i
                r = harness.curl([f"http://127.0.0.1:{ports[b]}/size/{size}"])
                assert r.status == 200 and \
                    hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(size), (b, r)
            after, oafter = pl.stats(port), tls_stats(ctx)
            shakes = after["tls_srv_handshakes"] - before["tls_srv_handshakes"]
            resumed = after["tls_srv_resumed"] - before["tls_srv_resumed"]
            assert shakes == n, (b, shakes)  # a new server connection per request
            if min_resumed:
                assert resumed >= min_resumed, (b, resumed)
                # the origin agrees: it resumed as many (it serves the tests' other
                # clients too, but none runs meanwhile)
                assert oafter["tls_resumed"] - obefore["tls_resumed"] >= min_resumed, (b, oafter)
            else:
                assert resumed == 0, (b, resumed)
        # reuse13's sessions (verified for a.test) do not let nota.test through
        before = pl.stats(port)
        for _ in range(2):
            r = harness.curl([f"http://127.0.0.1:{ports['wrongname']}/size/10"])
            assert r.status == 503, r
        after = pl.stats(port)
        assert after["tls_srv_fail_verify"] - before["tls_srv_fail_verify"] >= 2, after
        assert after["tls_srv_resumed"] == before["tls_srv_resumed"], after
    finally:
        assert proxy.stop() == 0, proxy.stderr_tail()


@harness.timeout(60)
def test_config_errors_name_file_and_line(ctx):
    exe = pl.sluice_path(ctx.build_dir)
    cases = [
        ("ssl crt /nonexistent/x.pem", r"cannot open certificate '/nonexistent/x.pem'"),
        (f"ssl crt {ctx.keydir}/1-a.key", r"certificate chain"),
        ("ssl", r"'ssl' needs 'crt"),
        (f"crt {ctx.certs}", r"without 'ssl'"),
        (f"ssl crt {ctx.certs} ssl-min-ver SSLv3", r"ssl-min-ver"),
        (f"ssl crt {ctx.certs} ciphers NOPE-NOTHING", r"ciphers"),
    ]
    srv_cases = [
        ("ssl", r"needs 'ca-file FILE', or 'verify none'"),
        ("ssl ca-file /nonexistent/ca.pem", r"cannot load CA file '/nonexistent/ca.pem'"),
        ("verify none", r"without 'ssl'"),
        ("ssl verify maybe", r"invalid verify 'maybe'"),
        ("ssl verify none alpn ,", r"invalid alpn list"),
    ]
    for opts, want in cases + [(None, None)] + srv_cases:
        if opts is None:
            continue
        path = os.path.join(ctx.tmpdir, "bad.cfg")
        if (opts, want) in srv_cases:
            bad = f"    server s1 127.0.0.1:1 {opts}"
            text = pl.make_config(1, [bad.strip()])
        else:
            bad = f"    bind 127.0.0.1:2 {opts}"
            text = pl.make_config(1, ["server s1 127.0.0.1:1"], frontend_extra=bad)
        with open(path, "w") as f:
            f.write(text)
        line = 1 + text.split("\n").index(bad)
        cp = subprocess.run([exe, "-c", "-f", path], capture_output=True, timeout=20)
        err = cp.stderr.decode(errors="replace")
        assert cp.returncode != 0, (opts, err)
        assert f"{path}:{line}:" in err and re.search(want, err), (opts, err)


# ---- mutual TLS to an nginx origin, layers of defaults, crt-list, curves ----

def make_pki(d: str) -> dict:
    """Creates in <d>/pki a CA, an nginx certificate for origin.test and a
    client certificate (PEM with key) signed by it, and a second,
    unrelated CA. Returns their paths."""
    pki = os.path.join(d, "pki")
    os.makedirs(pki, exist_ok=True)
    f = {k: os.path.join(pki, k) for k in ("ca.crt", "ca.key", "wrong.crt", "wrong.key",
                                             "srv.crt", "srv.key", "cli.crt", "cli.key",
                                             "cli.pem", "ext")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca, cn in (("ca", "Sluice Test CA"), ("wrong", "Wrong CA")):
        subprocess.run(["openssl", "req", "-x509", *ec, "-keyout", f[ca + ".key"], "-out",
                        f[ca + ".crt"], "-days", "2", "-subj", f"/CN={cn}"],
                       check=True, capture_output=True)
    with open(f["ext"], "w") as out:
        out.write("subjectAltName=DNS:origin.test\n")
    for who, cn in (("srv", "origin.test"), ("cli", "sluice-client")):
        csr = os.path.join(pki, who + ".csr")
        subprocess.run(["openssl", "req", *ec, "-keyout", f[who + ".key"], "-out", csr,
                        "-subj", f"/CN={cn}"], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", f["ca.crt"], "-CAkey",
                        f["ca.key"], "-CAcreateserial", "-out", f[who + ".crt"], "-days", "2",
                        *(["-extfile", f["ext"]] if who == "srv" else [])],
                       check=True, capture_output=True)
    with open(f["cli.pem"], "w") as out:
        for k in ("cli.crt", "cli.key"):
            with open(f[k]) as i:
                out.write(i.read())
    return f


def start_nginx_mtls(ctx, pki: dict) -> tuple[harness.Proc, int]:
    """Starts nginx (one process, in the foreground) on a free port with TLS
    and `ssl_verify_client on` against the test CA. Its answers name the
    client certificate, the protocol and the cipher it saw; /f/ serves a
    1 MiB pattern file."""
    run = os.path.join(ctx.tmpdir, "nginx")
    os.makedirs(os.path.join(run, "www", "f"), exist_ok=True)
    with open(os.path.join(run, "www", "f", "blob"), "wb") as out:
        out.write(harness.pattern_bytes(1 << 20))

    def argv(port):
        conf = os.path.join(run, "nginx.conf")
        with open(conf, "w") as out:
            out.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {run}/cb;
    proxy_temp_path {run}/px;
    fastcgi_temp_path {run}/fc;
    uwsgi_temp_path {run}/uw;
    scgi_temp_path {run}/sc;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki["srv.crt"]};
        ssl_certificate_key {pki["srv.key"]};
        ssl_client_certificate {pki["ca.crt"]};
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        location /f/ {{ root {run}/www; }}
        location / {{
            default_type text/plain;
            return 200 "dn=$ssl_client_s_dn verify=$ssl_client_verify proto=$ssl_protocol cipher=$ssl_cipher\n";
        }}
    }}
}}
""")
        return ["nginx", "-p", run, "-c", conf]

    return harness.start_with_free_port(argv, name="nginx-mtls")


@harness.timeout(120)
def test_mutual_tls_to_nginx_origin(ctx):
    """nginx requires a client certificate: `crt` on the server line (or
    from default-server) gets through, verified against the right CA;
    without it nginx answers 400; a wrong CA fails verification (503,
    counted). Global ssl-default-server-* words apply, the line overrides."""
    harness.require_tool("nginx")
    pki = make_pki(ctx.tmpdir)
    nginx, nport = start_nginx_mtls(ctx, pki)
    o = f"127.0.0.1:{nport}"
    ca, crt = pki["ca.crt"], pki["cli.pem"]
    backends = f"""
backend mtls
    server o {o} ssl verify required ca-file {ca} sni str(origin.test) crt {crt}
backend nocrt
    server o {o} ssl verify required ca-file {ca} sni str(origin.test)
backend wrongca
    server o {o} ssl verify required ca-file {pki["wrong.crt"]} sni str(origin.test) crt {crt}
backend layered
    default-server ssl verify required ca-file {ca} crt {crt} sni str(origin.test)
    server o {o} ciphersuites TLS_AES_128_GCM_SHA256
backend plain
    default-server ssl verify required ca-file {ca} crt {crt}
    server p 127.0.0.1:{ctx.oport} no-ssl
backend tls12
    server o {o} ssl verify required ca-file {ca} sni str(origin.test) crt {crt} ssl-min-ver TLSv1.2 no-tlsv13 ciphers ECDHE-ECDSA-CHACHA20-POLY1305
"""
    ports = {b: harness.free_port() for b in ("mtls", "nocrt", "wrongca", "layered", "plain", "tls12")}
    fes = "".join(f"""
frontend fe_{b}
    bind 127.0.0.1:{ports[b]}
    default_backend {b}
""" for b in ports)
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport}"], defaults_extra="    retries 1",
            global_extra="    ssl-default-server-options ssl-min-ver TLSv1.3\n"
                         "    ssl-default-server-ciphersuites TLS_CHACHA20_POLY1305_SHA256") + fes + backends,
        name="mtls")
    try:
        r = harness.curl([f"http://127.0.0.1:{ports['mtls']}/"])
        assert r.status == 200, r
        body = r.body.decode()
        assert "CN=sluice-client" in body and "verify=SUCCESS" in body, body
        # the global defaults: TLS 1.3 only, ChaCha20 suite
        assert "proto=TLSv1.3" in body and "cipher=TLS_CHACHA20_POLY1305_SHA256" in body, body
        r = harness.curl([f"http://127.0.0.1:{ports['mtls']}/f/blob"])
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == harness.pattern_sha256(1 << 20)
        r = harness.curl([f"http://127.0.0.1:{ports['nocrt']}/"])
        assert r.status == 400 and b"No required SSL certificate" in r.body, r
        before = pl.stats(port)["tls_srv_fail_verify"]
        r = harness.curl([f"http://127.0.0.1:{ports['wrongca']}/"])
        assert r.status == 503, r
        assert pl.stats(port)["tls_srv_fail_verify"] > before
        # default-server's words plus the line's own suite (overriding the global one)
        r = harness.curl([f"http://127.0.0.1:{ports['layered']}/"])
        assert r.status == 200 and "verify=SUCCESS" in r.body.decode(), r
        assert "cipher=TLS_AES_128_GCM_SHA256" in r.body.decode(), r.body
        # no-ssl undoes default-server's ssl: plain HTTP to the sluice origin
        r = harness.curl([f"http://127.0.0.1:{ports['plain']}/size/1000"])
        assert r.status == 200 and len(r.body) == 1000, r
        # a line's ssl-min-ver replaces the global one; no-tlsv13 leaves TLS 1.2
        r = harness.curl([f"http://127.0.0.1:{ports['tls12']}/"])
        assert r.status == 200, r
        assert "proto=TLSv1.2" in r.body.decode() and "CHACHA20" in r.body.decode(), r.body
    finally:
        nginx.stop()
    assert proxy.stop() == 0


def s_client(port, *args, req=b"", timeout=20):
    """Runs openssl s_client against <port> with <args>; returns its output."""
    cp = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                        input=req, capture_output=True, timeout=timeout)
    return cp.stdout.decode(errors="replace") + cp.stderr.decode(errors="replace")


@harness.timeout(90)
def test_crt_list_curves_and_bind_defaults(ctx):
    """crt-list with SNI filters; curves on a bind; ssl-default-bind-*
    apply to every bind line and a line's own words override them."""
    lst = os.path.join(ctx.tmpdir, "certs.lst")
    with open(lst, "w") as f:
        f.write(f"# default first\n{ctx.certs}/1-a.pem\n\n"
                f"{ctx.certs}/2-b.pem alias.test *.wild.test !x.b.test  # filters replace *.b.test\n")
    ports = [harness.free_port() for _ in range(3)]
    proxy, port = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport}"],
            global_extra="    ssl-default-bind-options ssl-max-ver TLSv1.2 no-tls-tickets\n"
                         "    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n"
                         "    ssl-default-bind-curves X25519",
            frontend_extra=f"    bind 127.0.0.1:{ports[0]} ssl crt-list {lst}\n"
                           f"    bind 127.0.0.1:{ports[1]} ssl crt {ctx.certs}/2-b.pem curves P-384 "
                           "ciphers ECDHE-ECDSA-CHACHA20-POLY1305\n"
                           f"    bind 127.0.0.1:{ports[2]} ssl crt {ctx.certs}/1-a.pem ssl-max-ver TLSv1.3"),
        name="crtlist")
    req = b"GET /size/10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

    def cn(out):
        m = re.search(r"subject=.*?CN\s*=\s*([^\s,/]+)", out)
        assert m, out[-1500:]
        return m.group(1)

    # crt-list: the filters replace the certificate's names
    assert cn(s_client(ports[0], "-servername", "alias.test")) == "b.test"
    assert cn(s_client(ports[0], "-servername", "y.wild.test")) == "b.test"
    assert cn(s_client(ports[0], "-servername", "x.b.test")) == "a.test"
    assert cn(s_client(ports[0], "-servername", "a.test")) == "a.test"
    # the global defaults: TLS 1.2 at most, AES128-GCM, X25519, no ticket
    out = s_client(ports[0], "-servername", "a.test", "-ign_eof", req=req)
    assert "Protocol  : TLSv1.2" in out and "ECDHE-RSA-AES128-GCM-SHA256" in out, out[-2000:]
    assert "X25519" in out and "TLS session ticket:" not in out, out[-2000:]
    assert "HTTP/1.1 200" in out
    # a line's curves and ciphers override the defaults; X25519 alone fails
    out = s_client(ports[1], "-ign_eof", req=req)
    assert "ECDHE-ECDSA-CHACHA20-POLY1305" in out and "secp384r1" in out, out[-2000:]
    assert "HTTP/1.1 200" in out
    out = s_client(ports[1], "-groups", "X25519", req=req)
    assert "HTTP/1.1 200" not in out and "Cipher is (NONE)" in out, out[-2000:]
    # ssl-max-ver on the line wins over the default's
    out = s_client(ports[2], "-ign_eof", req=req)
    assert "Protocol  : TLSv1.3" in out and "HTTP/1.1 200" in out, out[-2000:]
    assert proxy.stop() == 0
    assert proxy.stop() == 0


def test_crt_base_relative_paths(ctx):
    """HAProxy's crt-base: relative paths after crt and crt-list, and inside
    the list, are read from it; an absolute path as written."""
    based = os.path.join(ctx.tmpdir, "based")
    os.makedirs(based, exist_ok=True)
    for name in ("1-a.pem", "2-b.pem"):
        shutil.copy(os.path.join(ctx.certs, name), based)
    with open(os.path.join(based, "b.lst"), "w") as f:
        f.write("2-b.pem alias.test\n1-a.pem\n")
    ports = [harness.free_port() for _ in range(3)]
    proxy, _ = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.oport}"],
            global_extra=f"    crt-base {based}/",
            frontend_extra=f"    bind 127.0.0.1:{ports[0]} ssl crt 1-a.pem\n"
                           f"    bind 127.0.0.1:{ports[1]} ssl crt-list b.lst\n"
                           f"    bind 127.0.0.1:{ports[2]} ssl crt {ctx.certs}/2-b.pem"),
        name="crtbase")

    def cn(port, host):
        out = s_client(port, "-servername", host)
        m = re.search(r"subject=.*?CN\s*=\s*([^\s,/]+)", out)
        assert m, out[-1500:]
        return m.group(1)

    assert cn(ports[0], "a.test") == "a.test"
    assert cn(ports[1], "alias.test") == "b.test"
    assert cn(ports[1], "other.test") == "b.test"      # the list's first, default
    assert cn(ports[2], "x.b.test") == "b.test"
    assert proxy.stop() == 0


@harness.timeout(90)
def test_flight_bigger_than_the_socket_buffer(ctx):
    """A handshake socket is polled for input only; a certificate of about
    59 KB, sent to a client whose receive window is tiny, fills the socket
    buffer mid-flight: the handshake then asks for output readiness and
    completes, and the response comes back intact."""
    d = os.path.join(ctx.tmpdir, "big")
    os.makedirs(d, exist_ok=True)
    san = ",".join(f"DNS:host{i:05d}.a-rather-long-name.big.test" for i in range(1500))
    k, c, pem = (os.path.join(d, n) for n in ("big.key", "big.crt", "big.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", k, "-out", c, "-days", "2",
                    "-subj", "/CN=big.test", "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True)
    with open(pem, "w") as out:
        for f in (c, k):
            with open(f) as src:
                out.write(src.read())
    assert os.path.getsize(c) > 70000  # PEM: about 59 KB of DER
    proxy, _, port = start_tls_proxy(ctx, f"crt {pem} alpn http/1.1", "bigcert")
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    raw = socket.socket()
    # a small window, and small segments so that the proxy's socket
    # buffer (sized from the segment size) stays small too
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    raw.settimeout(20)
    raw.connect(("127.0.0.1", port))
    with cctx.wrap_socket(raw, server_hostname="big.test") as so:
        assert len(so.getpeercert(binary_form=True)) > 50000
        so.sendall(b"GET /size/5000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b"".join(iter(lambda: so.recv(65536), b""))  # until the close
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(5000)
    assert proxy.stop() == 0


def curl_sni(port, host, *args):
    """curl -k over HTTP/2 if ALPN allows, to <host> (SNI; None: the IP,
    no SNI) on <port>: returns (http_version, body) of /size/1000."""
    target = f"https://{host or '127.0.0.1'}:{port}/size/1000"
    res = ["--resolve", f"{host}:{port}:127.0.0.1"] if host else []
    cp = subprocess.run(["curl", "-sSk", "--noproxy", "*", "--max-time", "20", "--http2", *res,
                         *args, "-w", "\n%{http_version}", target], capture_output=True, timeout=30)
    assert cp.returncode == 0, (host, cp.stderr)
    body, _, ver = cp.stdout.rpartition(b"\n")
    assert hashlib.sha256(body).hexdigest() == harness.pattern_sha256(1000), host
    return ver.decode()


@harness.timeout(90)
def test_crt_list_per_certificate_options(ctx):
    """HAProxy's `PEM [ssl options] [filters]`: each entry's options apply,
    over the bind line's, to the connections SNI gives it, including those
    that OpenSSL keeps on the connection rather than the context (versions,
    tickets, groups) and ALPN; the default certificate's own options apply
    to clients without SNI."""
    lst = os.path.join(ctx.tmpdir, "opts.lst")
    with open(lst, "w") as f:
        f.write(f"# the default certificate has options of its own\n"
                f"{ctx.certs}/1-a.pem [alpn http/1.1 ssl-min-ver TLSv1.3]\n"
                f"{ctx.certs}/2-b.pem h2.b.test\n"
                f"{ctx.certs}/2-b.pem [ ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-CHACHA20-POLY1305 ] v12.test\n"
                f"{ctx.certs}/2-b.pem[ciphersuites TLS_CHACHA20_POLY1305_SHA256 curves P-384 "
                f"no-tls-tickets]v13.test  # no blank needed around brackets\n")
    proxy, port, tport = start_tls_proxy(ctx, f"crt-list {lst} alpn h2,http/1.1", "crtopts")
    req = b"GET /size/10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

    def hs(host, *args):
        sni = ["-servername", host] if host else ["-noservername"]
        return s_client(tport, *sni, "-ign_eof", *args, req=req)

    def ok(out, *want):
        assert "HTTP/1.1 200" in out and all(w in out for w in want), (want, out[-2500:])

    def refused(out):
        assert "HTTP/1.1 200" not in out and "Cipher is (NONE)" in out, out[-2500:]

    # ALPN: the entry's http/1.1 against the bind line's h2,http/1.1
    assert curl_sni(tport, "a.test") == "1.1"
    assert curl_sni(tport, None) == "1.1"        # no SNI: the default entry's options
    assert curl_sni(tport, "h2.b.test") == "2"   # the bind line's
    assert curl_sni(tport, "v13.test") == "2"    # an entry without alpn keeps the bind line's
    # versions: the default entry wants TLS 1.3, with or without SNI
    refused(hs("a.test", "-tls1_2"))
    refused(hs(None, "-tls1_2"))
    ok(hs("a.test"), "Protocol  : TLSv1.3")
    ok(hs("h2.b.test", "-tls1_2"), "Protocol  : TLSv1.2", "TLS session ticket:")
    # ssl-max-ver, ciphers and no-tls-tickets of an entry
    ok(hs("v12.test"), "Protocol  : TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS session ticket:")
    out = hs("v13.test", "-tls1_2")
    ok(out, "Protocol  : TLSv1.2")
    assert "TLS session ticket:" not in out, out[-2500:]
    ok(hs("h2.b.test"), "Protocol  : TLSv1.3", "TLS_AES_256_GCM_SHA384")
    # a TLS 1.2 session resumes on the entry that issued it only: elsewhere
    # it would bring a cipher that entry refuses
    sess = os.path.join(ctx.tmpdir, "crtopts.sess")
    ok(hs("h2.b.test", "-tls1_2", "-sess_out", sess), "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES256")
    ok(hs("h2.b.test", "-tls1_2", "-sess_in", sess), "Reused, TLSv1.2")
    ok(hs("v12.test", "-tls1_2", "-sess_in", sess), "New, TLSv1.2, Cipher is ECDHE-ECDSA-CHACHA20")
    ok(hs("v12.test", "-tls1_2", "-sess_out", sess), "New, TLSv1.2")
    ok(hs("v12.test", "-tls1_2", "-sess_in", sess), "Reused, TLSv1.2, Cipher is ECDHE-ECDSA-CHACHA20")
    # ciphersuites and curves of an entry; X25519 alone then fails for it only
    ok(hs("v13.test"), "Protocol  : TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", "secp384r1")
    refused(hs("v13.test", "-groups", "X25519"))
    ok(hs("h2.b.test", "-groups", "X25519"), "X25519")
    assert proxy.alive
    assert proxy.stop() == 0


@harness.timeout(60)
def test_crt_list_option_errors(ctx):
    """Words a crt-list entry cannot take, and values that fail, are
    refused naming the config file:line, the list, its line and the word."""
    lst = os.path.join(ctx.tmpdir, "bad.lst")
    path = os.path.join(ctx.tmpdir, "crtlist-bad.cfg")
    bind = f"    bind 127.0.0.1:2 ssl crt-list {lst}"
    text = pl.make_config(1, ["server s1 127.0.0.1:1"], frontend_extra=bind)
    with open(path, "w") as f:
        f.write(text)
    line = 1 + text.split("\n").index(bind)
    pem = f"{ctx.certs}/2-b.pem"
    for entries, want in (
            ([f"{pem} [alpn h2 verify required] b.test"],
             "line 1: unsupported SSL option 'verify' in '[...]' (expected alpn, "),
            ([pem, f"{pem} [sni str(x)]"], "line 2: unsupported SSL option 'sni'"),
            ([f"{pem} [alpn]"], "line 1: missing value after 'alpn'"),
            ([f"{pem} [alpn h2"], "line 1: missing ']'"),
            ([f"{pem} b.test [alpn h2]"], "line 1: the SSL options '[...]' must come right after"),
            ([f"{pem} [ssl-min-ver TLSv1.3 no-tlsv13]"], "line 1: no TLS version left"),
            ([f"{pem} [ciphersuites NOPE]"], "line 1: invalid ciphersuites 'NOPE'"),
            ([pem, "", f"{pem} [curves NOPE] c.test"], "line 3: invalid curves 'NOPE'")):
        with open(lst, "w") as f:
            f.write("\n".join(entries) + "\n")
        cp = subprocess.run([pl.sluice_path(ctx.build_dir), "-c", "-f", path], capture_output=True,
                            timeout=20)
        err = cp.stderr.decode(errors="replace")
        assert cp.returncode != 0 and f"{path}:{line}: 'bind' crt-list '{lst}' {want}" in err, \
            (entries, err)


@harness.timeout(60)
def test_openssl_heap_counted(ctx):
    """OpenSSL's heap is counted (the functions were installed before its
    first allocation): it grows with idle TLS connections and falls back
    when they close. Prints the bytes OpenSSL holds per idle connection."""
    st = pl.wait_quiet(ctx.port)
    assert st["tls_heap_counted"] == 1, st
    assert st["tls_heap_bytes"] > 10000 and st["tls_heap_blocks"] > 100, st  # the contexts
    n = pl.scale(200, 50)
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    base = st["tls_heap_bytes"]
    socks = []
    try:
        for _ in range(n):
            s = cctx.wrap_socket(socket.create_connection(("127.0.0.1", ctx.tport), timeout=10),
                                 server_hostname="a.test")
            s.sendall(b"GET /size/10 HTTP/1.1\r\nHost: a\r\n\r\n")
            socks.append(s)
        for s in socks:
            data = b""
            while not data.endswith(b"\r\n\r\n" + harness.pattern_bytes(10)):
                chunk = s.recv(4096)
                assert chunk, "closed early"
                data += chunk
        st = pl.wait_quiet(ctx.port)
        per = (st["tls_heap_bytes"] - base) / n
        print(f"OpenSSL heap per idle TLS connection: {per:.0f} bytes "
              f"({st['tls_heap_blocks']} blocks in all)")
        assert 1000 < per < 64 * 1024, per  # an SSL object, no record buffer
    finally:
        for s in socks:
            s.close()
    st = harness.wait_until(
        lambda: (lambda x: x if x["tls_heap_bytes"] < base + n * 1000 else None)(pl.stats(ctx.port)),
        timeout=10, what="OpenSSL heap back down")
    assert st["tls_heap_counted"] == 1


def s_client_session(port, steps, done, tls="-tls1_3", timeout=20):
    """Drives an interactive openssl s_client (no -ign_eof, so that its
    command letters work). <steps> are (wait, line): once wait(output)
    holds, <line> is written (one at a time: s_client drops what follows a
    command letter in the same read). Stops when done(output) holds or the
    client exits. Returns the output."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", tls, "-crlf",
                          "-servername", "a.test"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    os.set_blocking(p.stdout.fileno(), False)
    deadline = time.monotonic() + timeout

    def pump(until):
        nonlocal out
        while time.monotonic() < deadline:
            chunk = p.stdout.read()
            if chunk:
                out += chunk
            if until(out) or p.poll() is not None:
                return
            time.sleep(0.05)

    try:
        for wait, line in steps:
            pump(wait)
            if p.poll() is not None:
                break
            try:
                p.stdin.write(line)
                p.stdin.flush()
            except BrokenPipeError:
                break
        pump(done)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        out += p.stdout.read() or b""
    return out.decode(errors="replace")


def answers(n, extra=b""):
    """A wait for s_client_session: <n> answers and <extra> seen."""
    return lambda o: o.count(b"HTTP/1.1 200") >= n and extra in o


@harness.timeout(90)
def test_key_update_and_renegotiation(ctx):
    """A TLS 1.3 KeyUpdate from the client (s_client's "K": update and ask
    ours to update; "k": update only) neither stalls nor loops: the next
    requests still answer on the same connection. A TLS 1.2 renegotiation
    attempt is refused (we never renegotiate): the client gives up at
    once, the proxy is unharmed."""
    get = b"GET /size/10 HTTP/1.1\nHost: a\n\n"
    out = s_client_session(ctx.tport, [(answers(0, b"---\n"), get), (answers(1), b"K\n"),
                                       (answers(1, b"KEYUPDATE"), get), (answers(2), b"k\n"),
                                       (lambda o: o.count(b"KEYUPDATE") >= 2, get)],
                           answers(3))
    assert out.count("KEYUPDATE") == 2, out[-2000:]
    assert out.count("HTTP/1.1 200") == 3, out[-3000:]
    t0 = time.monotonic()
    out = s_client_session(ctx.tport, [(answers(0, b"---\n"), get), (answers(1), b"R\n")],
                           lambda o: b"no renegotiation" in o, tls="-tls1_2")
    assert "RENEGOTIATING" in out and "no renegotiation" in out, out[-2000:]
    assert out.count("HTTP/1.1 200") == 1
    assert time.monotonic() - t0 < 15
    ver, body = curl_version(["--http1.1", url(ctx, "/size/100")])
    assert len(body) == 100 and ctx.proxy.alive


@harness.timeout(90)
def test_key_update_mid_large_response(ctx):
    """A TLS 1.3 KeyUpdate from the client (s_client "K": update and ask
    ours to update) arrives while an 8 MiB answer is being sent: the
    proxy takes the new read key, switches its write key between two
    records of the answer, and the answer arrives byte-exact (SHA-256);
    the same connection then answers again. s_client is made to stop
    reading (its stdout pipe is left full) so that the proxy's writes
    block, and "K" is typed once a quarter MiB has arrived, while the
    proxy's byte counter shows the answer still in progress."""
    size = 8 << 20
    errf = open(os.path.join(ctx.tmpdir, "s_client_ku.err"), "wb")
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{ctx.tport}",
                          "-tls1_3", "-servername", "a.test"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf)
    out = bytearray()
    deadline = time.monotonic() + 60

    def pump(nbytes):
        """Reads s_client's output until it holds <nbytes> bytes."""
        while len(out) < nbytes and time.monotonic() < deadline:
            chunk = os.read(p.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            out.extend(chunk)
        assert len(out) >= nbytes, (len(out), nbytes, bytes(out[-300:]))

    def answer_end(start):
        """Returns where the answer starting at <start> ends (its head is
        complete: s_client's info text precedes it, the body follows)."""
        while b"\r\n\r\n" not in out[start:]:
            pump(len(out) + 1)
        head_end = out.index(b"\r\n\r\n", start) + 4
        m = re.search(rb"Content-Length: (\d+)", bytes(out[start:head_end]))
        return head_end, head_end + int(m.group(1))

    before = pl.stats(ctx.port)
    try:
        p.stdin.write(f"GET /size/{size} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        p.stdin.flush()
        while b"HTTP/1.1 200" not in out:
            pump(len(out) + 1)
        start = out.index(b"HTTP/1.1 200")
        body, end = answer_end(start)
        pump(body + (256 << 10))
        time.sleep(0.3)  # the pipe fills, s_client stops reading, our writes block
        mid = pl.stats(ctx.port)
        # the key update must reach the proxy while it still sends the answer
        assert mid["bytes_out"] - before["bytes_out"] < size, (before, mid)
        p.stdin.write(b"K\n")
        p.stdin.flush()
        pump(end)
        assert hashlib.sha256(out[body:end]).hexdigest() == harness.pattern_sha256(size)
        with open(errf.name, "rb") as f:
            assert b"KEYUPDATE" in f.read()
        # the connection still works, both ways, with the new keys
        p.stdin.write(b"GET /size/100 HTTP/1.1\r\nHost: a\r\n\r\n")
        p.stdin.flush()
        while b"HTTP/1.1 200" not in out[end:]:
            pump(len(out) + 1)
        body2, end2 = answer_end(out.index(b"HTTP/1.1 200", end))
        pump(end2)
        assert bytes(out[body2:end2]) == harness.pattern_bytes(100)
    finally:
        p.kill()
        p.wait()
        errf.close()
    assert ctx.proxy.alive


@harness.timeout(90)
def test_stats_page_in_chromium_over_https_h2(ctx):
    """Headless Chromium loads the stats page over HTTPS; its net log shows
    the protocol it negotiated (h2) and our HTTP/2 counters moved."""
    import tempfile
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise harness.Skip("chromium is not installed")
    before = pl.stats(ctx.port)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=ctx.tmpdir)
    netlog = os.path.join(ctx.tmpdir, "netlog.json")
    cp = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--ignore-certificate-errors",
                         f"--user-data-dir={profile}", f"--log-net-log={netlog}",
                         "--dump-dom", url(ctx, f"{pl.STATS_URI}?html", host="127.0.0.1")],
                        capture_output=True, timeout=60)
    dom = cp.stdout.decode(errors="replace")
    assert "<title>Sluice statistics</title>" in dom, (dom[:500], cp.stderr[-800:])
    with open(netlog, errors="replace") as f:
        log = f.read()
    assert re.search(r'"negotiated_protocol"\s*:\s*"h2"', log), log[-1500:]
    after = pl.stats(ctx.port)
    assert after["h2_streams"] > before["h2_streams"], after
    assert after["tls_full_handshakes"] + after["tls_resumed"] > \
        before["tls_full_handshakes"] + before["tls_resumed"], after


if __name__ == "__main__":
    raise SystemExit(harness.main())
