"""test_rules2.py - the rule engine's second round in the real binary:
backend http-request / http-response rules and their order against the
frontend's, `http-request return ... file`, unique ids (header to the
server, the unique-id fetch, the access log), and ACL pattern files, over
HTTP/1.1 and HTTP/2."""

from __future__ import annotations

import os
import re
import time

import harness
import proxylib as pl

HOSTS = 5000


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
    unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    unique-id-header X-Unique-ID
    acl allowed hdr(host),lower -f {ctx.hosts} -f {ctx.hosts2} inline.example
    acl paths path_beg -f {ctx.paths}
    http-request deny deny_status 421 if !allowed
    http-request return status 200 content-type text/html file {ctx.page} if {{ path /page }}
    http-request set-header X-Order fe
    http-request set-header X-Id-Copy %[unique-id]
    http-response set-header X-Order-R %[hdr(x-order-r)]-fe
    use_backend ruled if paths
    default_backend plain
backend ruled
    acl secret path_beg /static/secret
    http-request deny deny_status 451 if secret
    http-request set-path /headers if {{ path /api/headers }}
    http-request set-header X-Order %[hdr(x-order)]-be
    http-response set-header X-Order-R be
    server r1 127.0.0.1:{ctx.p_r}
backend plain
    server p1 127.0.0.1:{ctx.p_p}
"""


def setup_module(ctx):
    ctx.o_r, ctx.p_r = harness.start_origin(ctx.build_dir, name="ruled")
    ctx.o_p, ctx.p_p = harness.start_origin(ctx.build_dir, name="plain")
    ctx.log = os.path.join(ctx.tmpdir, "access.log")
    ctx.hosts = os.path.join(ctx.tmpdir, "hosts.lst")
    ctx.hosts2 = os.path.join(ctx.tmpdir, "hosts2.lst")
    ctx.paths = os.path.join(ctx.tmpdir, "paths.lst")
    ctx.page = os.path.join(ctx.tmpdir, "page.html")
    with open(ctx.hosts, "w") as f:
        f.write("# hosts we serve\n\n")
        for i in range(HOSTS):
            f.write(f"  site{i}.example  \n")
        f.write("127.0.0.1\n")
    with open(ctx.hosts2, "w") as f:
        f.write("other.example\n")
    with open(ctx.paths, "w") as f:
        f.write("/api\n# comment\n/static/\n")
    ctx.page_bytes = b"<html>" + b"x" * 3000 + b" %[path] as is</html>\n"
    with open(ctx.page, "wb") as f:
        f.write(ctx.page_bytes)
    ctx.h2port = harness.free_port()
    ctx.proxy, ctx.port = pl.start_sluice(ctx, lambda p: config(ctx, p), name="rules2")


def teardown_module(ctx):
    assert ctx.proxy.stop() == 0, ctx.proxy.stderr_tail()
    for o in (ctx.o_r, ctx.o_p):
        o.stop()


def get(ctx, path, host="site42.example", h2=False, extra=()):
    if h2:
        args = ["--http2-prior-knowledge", f"http://127.0.0.1:{ctx.h2port}{path}"]
    else:
        args = [f"http://127.0.0.1:{ctx.port}{path}"]
    return harness.curl(["-H", f"Host: {host}", *extra, *args])


def test_pattern_files_allow_and_deny(ctx):
    for h2 in (False, True):
        assert get(ctx, "/size/1", "SITE4999.example", h2).status == 200, "last line of the file, -i via lower"
        assert get(ctx, "/size/1", "inline.example", h2).status == 200, "inline value mixed with -f"
        assert get(ctx, "/size/1", "other.example", h2).status == 200, "second -f file"
        assert get(ctx, "/size/1", "site5000.example", h2).status == 421, "not in any list"


def test_backend_rules_run_after_frontend_rules(ctx):
    for h2 in (False, True):
        r = get(ctx, "/api/headers", h2=h2)
        assert r.status == 200 and r.headers.get("X-Origin") == "ruled", r
        # http-request: the frontend's first, then (backend chosen) the backend's
        assert "x-order: fe-be\r\n" in r.body.decode().lower(), r.body
        # http-response: the backend's first, then the frontend's
        assert r.headers.get("X-Order-R") == "be-fe", r.headers
        # the default backend has no rules of its own
        r = get(ctx, "/headers", h2=h2)
        assert r.headers.get("X-Origin") == "plain", r
        assert "x-order: fe\r\n" in r.body.decode().lower(), r.body
        assert r.headers.get("X-Order-R") == "-fe", r.headers
        # a backend rule answers by itself
        assert get(ctx, "/static/secret/x", h2=h2).status == 451


def test_return_file_sent_as_is(ctx):
    for h2 in (False, True):
        r = get(ctx, "/page", h2=h2)
        assert r.status == 200 and r.body == ctx.page_bytes, (r.status, r.body[:80])
        assert r.headers.get("Content-Type") == "text/html", r.headers


UID = re.compile(r"^7F000001:[0-9A-F]{4}_7F000001:([0-9A-F]{4})_[0-9A-F]{8}_([0-9A-F]{4,}):[0-9A-F]{4,}$")


def test_unique_id_to_server_fetch_and_log(ctx):
    ids = []
    for h2 in (False, True):
        for _ in range(3):
            r = get(ctx, "/headers", h2=h2)
            assert r.status == 200, r
            fields = {}
            for line in r.body.decode().split("\r\n")[1:]:
                if ": " in line:
                    k, v = line.split(": ", 1)
                    fields[k.lower()] = v
            uid = fields.get("x-unique-id")
            assert uid and UID.match(uid), fields
            # %fp: the port of the listener the request came in on (an
            # HTTP/2 stream does not know its connection's local address
            # yet: it reports the frontend's first bind, like dst_port)
            if not h2:
                assert int(UID.match(uid).group(1), 16) == ctx.port, uid
            # the fetch saw the same id the header carries: generated once
            assert fields.get("x-id-copy") == uid, fields
            ids.append(uid)
    assert len(set(ids)) == len(ids), ids

    def logged():
        with open(ctx.log) as f:
            return f.read()

    harness.wait_until(lambda: all(i in logged() for i in ids), timeout=5)
    # each id ends exactly one line: the one of its request
    ends = [line.rsplit(" ", 1)[1] for line in logged().splitlines()]
    for i in ids:
        assert ends.count(i) == 1, (i, ends)


if __name__ == "__main__":
    raise SystemExit(harness.main())
