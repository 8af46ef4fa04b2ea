"""test_tls.py - TLS towards clients (`bind ... ssl crt`): curl over HTTPS
with HTTP/1.1 and HTTP/2 (ALPN), nghttp, SNI picking a certificate, session
resumption, plain HTTP and silent clients on the TLS port, h2load over TLS
under a tiny buffer limit, and configuration errors. Certificates are made
by the test (openssl req) in its temp dir: nothing secret is committed."""

from __future__ import annotations

import hashlib
import os
import re
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
    # the same number of plain idle connections first, for comparison
    rss0 = vm_rss_kb(pid)
    socks = pl.open_idle(ctx.port, n)
    pl.wait_quiet(ctx.port)
    rssp = vm_rss_kb(pid)
    for s in socks:
        s.close()
    print(f"idle plain connections: {n}, {(rssp - rss0) * 1024 / n:.0f} bytes per connection")
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


if __name__ == "__main__":
    raise SystemExit(harness.main())
