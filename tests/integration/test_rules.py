"""test_rules.py - request rules in the real binary: routing by path and by
Host through a 100,000-line map, deny / return / redirect answered by the
proxy, header and path edits seen by the origin (its /headers route echoes
the request head it received), response edits, and the access log naming
the backend each request went to."""

from __future__ import annotations

import os
import re
import time

import harness
import proxylib as pl

LOG_LINE = re.compile(
    r"^(?P<addr>[\d.]+):(?P<port>\d+) \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] "
    r"(?P<fe>\S+) (?P<be>\S+)/(?P<srv>\S+) "
    r"(?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<tt>-?\d+) "
    r"(?P<status>-?\d+) (?P<bin>\d+) (?P<bout>\d+) (?P<ts>\S\S) \"(?P<req>[^\"]*)\"$")

MAP_LINES = 100_000


def config(ctx, port: int) -> str:
    return f"""global
    nbthread 2
    log {ctx.log}
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 5s
frontend web
    bind 127.0.0.1:{port}
    bind 127.0.0.1:{ctx.h2port} proto h2
    acl is_api path_beg /api
    acl blocked hdr(x-block) -m found
    acl local src 127.0.0.0/8 ::1
    http-request deny deny_status 429 if blocked local
    http-request return status 203 content-type text/plain lf-string "hello %[method] %[path]" if {{ path /ret }}
    http-request redirect location https://example.org/new code 301 if {{ path /old }}
    http-request redirect prefix /v2 if {{ path_beg /v1 }}
    http-request set-header X-Client %[src] if {{ path_beg /headers }}
    http-request add-header X-Added "a b" if {{ path_beg /headers }}
    http-request del-header X-Drop
    http-request replace-header X-Rep (.*)-old \\1-new
    http-request set-path /headers if {{ path /rewrite-me }}
    http-request set-header X-Copy1 %[hdr(x-big)] if {{ hdr(x-big) -m found }}
    http-request set-header X-Copy2 %[hdr(x-big)] if {{ hdr(x-big) -m found }}
    http-request set-query from=%[method] if {{ path /headers-q }}
    http-request set-method PUT if {{ path /headers-q }}
    http-request set-path /headers if {{ path /headers-q }}
    http-request redirect scheme https code 308 if {{ path /secure }}
    http-request deny if {{ path /forbidden }}
    errorfile 403 {ctx.errorfile}
    http-response set-header X-Rules on
    http-response set-status 299 reason Fine if {{ hdr(x-origin) web }} {{ hdr(content-length) 7 }}
    http-response del-header X-Origin-Secret
    use_backend api if is_api
    use_backend %[req.hdr(host),lower,map({ctx.map})]
    default_backend web_be
backend web_be
    option forwardfor except 127.0.0.0/8
    server w1 127.0.0.1:{ctx.p_web}
backend api
    server a1 127.0.0.1:{ctx.p_api}
backend hosted
    option forwardfor header X-Client-IP
    server h1 127.0.0.1:{ctx.p_host}
"""


def setup_module(ctx):
    ctx.o_web, ctx.p_web = harness.start_origin(ctx.build_dir, name="web")
    ctx.o_api, ctx.p_api = harness.start_origin(ctx.build_dir, name="api")
    ctx.o_host, ctx.p_host = harness.start_origin(ctx.build_dir, name="hosted")
    ctx.map = os.path.join(ctx.tmpdir, "hosts.map")
    ctx.log = os.path.join(ctx.tmpdir, "access.log")
    ctx.h2port = harness.free_port()
    ctx.errorfile = os.path.join(ctx.tmpdir, "403.http")
    with open(ctx.errorfile, "w") as f:
        f.write("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n"
                "Connection: close\r\n\r\nno, sir\n")
    with open(ctx.map, "w") as f:
        f.write("# host -> backend\n")
        for i in range(MAP_LINES):
            f.write(f"site{i}.example.com {'hosted' if i % 2 else 'api'}\n")
    t0 = time.monotonic()
    ctx.proxy, ctx.port = pl.start_sluice(ctx, lambda p: config(ctx, p), name="rules")
    print(f"    proxy with a {MAP_LINES}-line map up in {time.monotonic() - t0:.2f} s")


def teardown_module(ctx):
    # non-zero when a sanitizer found a leak or an error in the proxy
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    for o in (ctx.o_web, ctx.o_api, ctx.o_host):
        o.stop()


def url(ctx, path):
    return f"http://127.0.0.1:{ctx.port}{path}"


def test_route_by_path(ctx):
    r = harness.curl([url(ctx, "/api/x")])
    assert r.headers.get("X-Origin") == "api", r
    r = harness.curl([url(ctx, "/size/10")])
    assert r.status == 200 and r.headers.get("X-Origin") == "web", r
    assert r.headers.get("X-Rules") == "on", "http-response set-header"


def test_route_by_host_map(ctx):
    r = harness.curl(["-H", "Host: SITE99999.example.com", url(ctx, "/size/1")])
    assert r.status == 200 and r.headers.get("X-Origin") == "hosted", r
    r = harness.curl(["-H", "Host: site4.example.com", url(ctx, "/size/1")])
    assert r.headers.get("X-Origin") == "api", r
    r = harness.curl(["-H", "Host: unknown.example.com", url(ctx, "/size/1")])
    assert r.status == 200 and r.headers.get("X-Origin") == "web", "a miss falls to the default"


def test_deny(ctx):
    r = harness.curl(["-H", "X-Block: 1", url(ctx, "/size/1")])
    assert r.status == 429, r
    # the next request on a fresh connection goes through
    assert harness.curl([url(ctx, "/size/1")]).status == 200


def test_return(ctx):
    r = harness.curl([url(ctx, "/ret")])
    assert r.status == 203, r
    assert r.body == b"hello GET /ret", r.body
    assert r.headers.get("Content-Type") == "text/plain", r


def test_redirects(ctx):
    r = harness.curl([url(ctx, "/old")])
    assert r.status == 301 and r.headers.get("Location") == "https://example.org/new", r
    r = harness.curl([url(ctx, "/v1/a?b=c")])
    assert r.status == 302 and r.headers.get("Location") == "/v2/v1/a?b=c", r


def test_scheme_redirect_and_errorfile(ctx):
    r = harness.curl(["-H", "Host: www.example.net", url(ctx, "/secure?a=1")])
    assert r.status == 308 and r.headers.get("Location") == "https://www.example.net/secure?a=1", r
    r = harness.curl([url(ctx, "/forbidden")])
    assert r.status == 403 and r.body == b"no, sir\n", r


def test_query_method_and_status_edits(ctx):
    r = harness.curl([url(ctx, "/headers-q")])
    assert r.status == 200, r
    assert r.body.decode().startswith("PUT /headers?from=GET HTTP/1.1"), r.body
    # http-response rules see the response's headers: only a 7-byte answer
    # of origin "web" gets its status changed
    r = harness.curl([url(ctx, "/size/7")])
    assert r.status == 299 and r.body == harness.pattern_bytes(7), r
    data = harness.raw_request(ctx.port, b"GET /size/7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               read_until_close=True)
    assert data.startswith(b"HTTP/1.1 299 Fine\r\n"), data[:60]
    r = harness.curl([url(ctx, "/size/8")])
    assert r.status == 200, r


def test_header_edits_seen_by_origin(ctx):
    r = harness.curl(["-H", "X-Drop: secret", "-H", "X-Rep: value-old", url(ctx, "/headers")])
    assert r.status == 200 and r.headers.get("X-Origin") == "web", r
    text = r.body.decode()
    low = text.lower()
    assert "x-client: 127.0.0.1\r\n" in low, text
    assert "x-added: a b\r\n" in low, text
    assert "x-drop" not in low, text
    assert "x-rep: value-new\r\n" in low, text
    # set-path: the origin sees /headers although the client asked /rewrite-me
    r = harness.curl([url(ctx, "/rewrite-me")])
    assert r.status == 200 and r.body.decode().startswith("GET /headers HTTP/1.1"), r.body


def test_forwardfor_except_and_header(ctx):
    r = harness.curl([url(ctx, "/headers")])
    assert r.status == 200 and r.headers.get("X-Origin") == "web", r
    assert "x-forwarded-for" not in r.body.decode().lower(), "127.0.0.1 is in the except network"
    r = harness.curl(["-H", "Host: site1.example.com", url(ctx, "/headers")])
    assert r.status == 200 and r.headers.get("X-Origin") == "hosted", r
    low = r.body.decode().lower()
    assert "x-client-ip: 127.0.0.1\r\n" in low and "x-forwarded-for" not in low, low


def test_edit_that_does_not_fit_gets_500(ctx):
    # three copies of a 7000-byte value do not fit a 16 KiB buffer: the
    # request is refused whole, never forwarded with a truncated head
    big = "b" * 7000
    r = harness.curl(["-H", f"X-Big: {big}", url(ctx, "/headers")])
    assert r.status == 500, r
    r = harness.curl(["-H", "X-Big: small", url(ctx, "/headers")])
    assert r.status == 200 and "x-copy2: small\r\n" in r.body.decode().lower(), r


def test_forged_header_values_rejected(ctx):
    # a request header cannot smuggle CR/LF through %[...] values: the
    # parser refuses such heads before the rules see them
    data = harness.raw_request(ctx.port, b"GET /headers HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
                               read_until_close=True)
    assert data.startswith(b"HTTP/1.1 400"), data[:100]


def test_http2_requests_follow_the_rules(ctx):
    h2 = f"http://127.0.0.1:{ctx.h2port}"
    r = harness.curl(["--http2-prior-knowledge", h2 + "/api/x"])
    assert r.exit_code == 0 and r.headers.get("X-Origin") == "api", r
    r = harness.curl(["--http2-prior-knowledge", "-H", "X-Drop: 1", h2 + "/headers"])
    assert r.status == 200 and r.headers.get("X-Rules") == "on", r
    low = r.body.decode().lower()
    assert "x-client: 127.0.0.1\r\n" in low and "x-drop" not in low, low
    r = harness.curl(["--http2-prior-knowledge", h2 + "/ret"])
    assert r.status == 203 and r.body == b"hello GET /ret", r
    r = harness.curl(["--http2-prior-knowledge", "-H", "X-Block: 1", h2 + "/size/1"])
    assert r.status == 429, r


def test_access_log_names_backend(ctx):
    harness.curl([url(ctx, "/api/logged")])
    harness.curl(["-H", "Host: site1.example.com", url(ctx, "/size/2")])
    harness.curl(["-H", "X-Block: 1", url(ctx, "/size/3")])

    def lines():
        with open(ctx.log) as f:
            return [LOG_LINE.match(x) for x in f.read().splitlines()]

    harness.wait_until(lambda: any(m and "/size/3" in m["req"] for m in lines()), timeout=5)
    by_req = {m["req"]: m for m in lines() if m}
    assert by_req["GET /api/logged"]["be"] == "api", by_req["GET /api/logged"].group(0)
    assert by_req["GET /size/2"]["be"] == "hosted", by_req["GET /size/2"].group(0)
    denied = by_req["GET /size/3"]
    assert denied["be"] == "-" and denied["status"] == "429", denied.group(0)


if __name__ == "__main__":
    raise SystemExit(harness.main())
