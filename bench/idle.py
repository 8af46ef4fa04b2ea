#!/usr/bin/env python3
"""idle.py - memory at rest: RSS growth per idle keep-alive connection.

For each proxy and protocol, one process is started, its RSS (VmRSS; nginx:
master + workers) read, then a client opens N connections, does one request
on each (GET /size/16), reads the response, and leaves every connection
open and idle. After a settling pause the RSS is read again; the growth
divided by the connections still open is the cost of an idle connection.

HTTP/1.1: Sluice, HAProxy 2.6, nginx, h2o. HTTP/2 (h2c prior knowledge: the
client sends the preface, an empty SETTINGS, acknowledges the server's, and
one HEADERS request on stream 1): Sluice, HAProxy, h2o. Idle timeouts are
raised to 5 minutes so that nobody closes a connection during the test.

The hard limit on open files here is 20000 (ulimit -Hn). Every proxy needs
a descriptor per client connection plus those of its server connections;
HAProxy derives its own descriptor need from maxconn (about 2 x maxconn),
so its maxconn is the largest that fits; if a proxy takes fewer
connections than asked, the table says how many it held.

Pinning: proxy on CPU 0, client and origin on CPU 1.

--tls: the same over TLS 1.3 (ECDSA P-256 certificate, X25519; HTTP/2 by
ALPN) for Sluice, HAProxy and nginx; the TLS handshake is done before the
request, so an idle connection holds its TLS state. For Sluice the bytes
OpenSSL itself holds per connection (tls_heap_bytes) are reported too.

Usage: idle.py [--quick] [--head] [--tls] [--peers LIST] [--conns N]
               [--out FILE.md] [--json FILE] [--build DIR]
               [--cases h1:sluice,h2:haproxy,...]
"""
import argparse
import json
import os
import selectors
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

LABEL = {"sluice": "Sluice", "haproxy": "HAProxy 2.6", "nginx": "nginx", "h2o": "h2o"}
CASES = (("h1", "sluice"), ("h1", "haproxy"), ("h1", "nginx"), ("h1", "h2o"),
         ("h2", "sluice"), ("h2", "haproxy"), ("h2", "h2o"))
TLS_CASES = (("h1", "sluice"), ("h1", "haproxy"), ("h1", "nginx"),
             ("h2", "sluice"), ("h2", "haproxy"), ("h2", "nginx"))
PATH = "/size/16"
IN_FLIGHT = 200          # connections being set up at once
IDLE_TIMEOUT_S = 300


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2000 connections instead of 10000")
    ap.add_argument("--conns", type=int, help="idle connections (default 10000, quick 2000)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS")
    ap.add_argument("--build", default=bl.DEFAULT_BUILD, help="Sluice release build directory")
    ap.add_argument("--head", action="store_true",
                    help="build and measure a clean export of the committed HEAD instead")
    ap.add_argument("--tls", action="store_true", help="HTTPS connections (see above)")
    ap.add_argument("--peers", help="comma-separated subset of the proxies (e.g. sluice)")
    ap.add_argument("--out", help="write the table in Markdown to this file")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--cases", help="only these PROTO:PEER cases, comma-separated "
                    "(e.g. h1:sluice,h2:sluice); default all")
    a = ap.parse_args()
    a.conns = a.conns or (2000 if a.quick else 10000)
    return a


# ---------------------------------------------------------------- HTTP/2 bytes

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
F_DATA, F_HEADERS, F_SETTINGS, F_GOAWAY, F_RST = 0, 1, 4, 7, 3
FL_END_STREAM, FL_ACK, FL_END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    """Returns one HTTP/2 frame."""
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags])
            + stream.to_bytes(4, "big") + payload)


def hpack_literal(index, value):
    """Returns a header field, literal without indexing, with the name taken
    from static-table entry <index> (value short, no Huffman)."""
    v = value.encode()
    return bytes([index, len(v)]) + v


def h2_request(port):
    """Returns the bytes a client sends: preface, empty SETTINGS, and a GET
    of PATH on stream 1 that ends the stream."""
    block = (b"\x82\x86" + hpack_literal(4, PATH)            # GET, http, :path
             + hpack_literal(1, "127.0.0.1:%d" % port))     # :authority
    return (PREFACE + frame(F_SETTINGS, 0, 0)
            + frame(F_HEADERS, FL_END_STREAM | FL_END_HEADERS, 1, block))


def h1_request(port):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (PATH, port)).encode()


# ---------------------------------------------------------------- client

class Conn:
    """One client connection: sends its request, reads until the response
    is complete, then stays open and idle."""

    def __init__(self, proto, port, tls=None):
        self.proto = proto
        self.out = h2_request(port) if proto == "h2" else h1_request(port)
        self.inbuf = b""
        self.done = False
        self.failed = None
        self.handshaking = tls is not None
        if tls:
            # the kernel completes a loopback connect at once, accepted or
            # not: connect blocking, then drive the handshake from the loop
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            self.sock = tls[proto].wrap_socket(s, server_hostname="bench.test",
                                               do_handshake_on_connect=False)
            return
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))

    def _handshake(self):
        """Advances the TLS handshake; returns True once it is done."""
        try:
            self.sock.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        self.handshaking = False
        return True

    def on_writable(self):
        if self.handshaking and not self._handshake():
            return
        try:
            n = self.sock.send(self.out)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        self.out = self.out[n:]

    def on_readable(self):
        if self.handshaking and not self._handshake():
            return
        while True:
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            if not data:
                self.failed = "closed by the proxy"
                return
            self.inbuf += data
            if self.proto == "h1":
                self._h1_check()
            else:
                self._h2_frames()
            # a TLS record may hold more than one recv() returned
            if not isinstance(self.sock, ssl.SSLSocket) or not self.sock.pending():
                return

    def _h1_check(self):
        head, sep, body = self.inbuf.partition(b"\r\n\r\n")
        if not sep:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if not head.startswith(b"HTTP/1.1 200"):
            self.failed = head.split(b"\r\n")[0].decode(errors="replace")
        elif len(body) >= length:
            self.done = True

    def _h2_frames(self):
        while len(self.inbuf) >= 9:
            length = int.from_bytes(self.inbuf[:3], "big")
            if len(self.inbuf) < 9 + length:
                return
            ftype, flags = self.inbuf[3], self.inbuf[4]
            stream = int.from_bytes(self.inbuf[5:9], "big") & 0x7FFFFFFF
            self.inbuf = self.inbuf[9 + length:]
            if ftype == F_SETTINGS and not flags & FL_ACK:
                self.out += frame(F_SETTINGS, FL_ACK, 0)
            elif ftype in (F_GOAWAY, F_RST):
                self.failed = "GOAWAY" if ftype == F_GOAWAY else "RST_STREAM"
            elif stream == 1 and ftype in (F_DATA, F_HEADERS) and flags & FL_END_STREAM:
                self.done = True


def tls_contexts():
    """Returns the client TLS contexts by protocol (ALPN), no verification."""
    out = {}
    for proto, alpn in (("h1", "http/1.1"), ("h2", "h2")):
        c = ssl.create_default_context()
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        c.set_alpn_protocols([alpn])
        out[proto] = c
    return out


def open_idle(proto, port, n, timeout=120.0, stall_s=10.0, tls=None):
    """Opens <n> connections to <port>, IN_FLIGHT at a time, each doing one
    request. Gives up after <timeout> s, or when no request completed for
    <stall_s> s. Returns (connections that completed their request and are
    still open, number that failed, first failure text)."""
    sel = selectors.DefaultSelector()
    pending, idle, failed, first_err = 0, [], 0, None
    started = 0
    deadline = time.monotonic() + timeout
    progress = time.monotonic()
    while (started < n or pending) and time.monotonic() < min(deadline, progress + stall_s):
        while started < n and pending < IN_FLIGHT:
            try:
                c = Conn(proto, port, tls)
            except OSError as e:
                failed += 1
                first_err = first_err or str(e)
                started += 1
                continue
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            started += 1
            pending += 1
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            try:
                if ev & selectors.EVENT_WRITE and (c.out or c.handshaking):
                    c.on_writable()
                if ev & selectors.EVENT_READ:
                    c.on_readable()
            except OSError as e:
                c.failed = str(e)
            if c.failed:
                failed += 1
                first_err = first_err or c.failed
                sel.unregister(c.sock)
                c.sock.close()
                pending -= 1
            elif c.done and not c.out:
                sel.unregister(c.sock)
                idle.append(c)
                pending -= 1
                progress = time.monotonic()
            else:  # write only while something is left to send (a SETTINGS ACK)
                sel.modify(c.sock, selectors.EVENT_READ | (
                    selectors.EVENT_WRITE if c.out or c.handshaking else 0), c)
    for key in list(sel.get_map().values()):
        failed += 1
        first_err = first_err or "no response in time"
        key.fileobj.close()
    sel.close()
    return idle, failed, first_err


def still_open(conns):
    """Returns how many of <conns> the proxy has not closed (a peek reads
    nothing and no end of stream)."""
    n = 0
    for c in conns:
        try:
            raw = socket.socket(fileno=os.dup(c.sock.fileno()))  # below TLS
            try:
                data = raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            finally:
                raw.close()
            if data:
                n += 1   # unexpected bytes (e.g. a PING), but open
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


# ---------------------------------------------------------------- per proxy

def peer_cfg(peer, n):
    """Returns the start_peer() settings that let <peer> hold <n> idle
    connections with the descriptors the hard limit allows."""
    hard = bl.fd_hard_limit()
    if peer == "haproxy":
        # HAProxy wants about 2 x maxconn + a few descriptors
        return {"maxconn": min(n + 100, (hard - 40) // 2), "stats": False,
                "timeout_client": "%ds" % IDLE_TIMEOUT_S}
    if peer == "sluice":
        return {"maxconn": n + 100, "stats": False, "timeout_client": "%ds" % IDLE_TIMEOUT_S}
    if peer == "nginx":
        return {"worker_connections": min(2 * n + 100, hard - 100),
                "keepalive_timeout": "%ds" % IDLE_TIMEOUT_S}
    return {"max_connections": n + 100, "idle_timeout_s": IDLE_TIMEOUT_S}


def measure(a, procs, sluice_bin, tmp, origin_port, proto, peer):
    """Measures one proxy and protocol. Returns its figures."""
    port = bl.free_ports(1)[0]
    cfg = peer_cfg(peer, a.conns)
    if a.tls:
        cfg["tls_crt"] = a.pem
        if peer == "sluice":
            cfg["stats"] = True
    # a client beyond maxconn would wait in the listen backlog for ever
    asked = min(a.conns, cfg.get("maxconn") or a.conns)
    p = bl.start_peer(procs, peer, tmp, port, origin_port, sluice_bin,
                      h2=(proto == "h2" and not a.tls), **cfg)
    conns = []
    heap0 = heap1 = None
    try:
        time.sleep(0.5)
        if a.tls and peer == "sluice":
            heap0 = (bl.sluice_stats_tls(port) or {}).get("tls_heap_bytes")
        before = p.rss_kb()
        t0 = time.monotonic()
        conns, failed, err = open_idle(proto, port, asked, timeout=300.0 if a.tls else 120.0,
                                       tls=tls_contexts() if a.tls else None)
        setup_s = time.monotonic() - t0
        time.sleep(a.settle)
        after = p.rss_kb()
        if heap0 is not None:
            heap1 = (bl.sluice_stats_tls(port) or {}).get("tls_heap_bytes")
        held = still_open(conns)
        alive = p.alive()
    finally:
        for c in conns:
            c.sock.close()
        procs.stop(p)
    r = {"proto": proto, "peer": peer, "asked": asked, "completed": len(conns),
         "failed": failed, "first_error": err, "held": held, "rss_before_kb": before,
         "rss_after_kb": after, "setup_s": setup_s, "alive": alive,
         "maxconn": cfg.get("maxconn")}
    r["kib_per_conn"] = (after - before) / held if held else None
    r["openssl_b_per_conn"] = (heap1 - heap0) / held if held and heap1 is not None else None
    return r


def table(rows, a):
    L = ["### Memory at rest: %d idle keep-alive %sconnections asked, one request each "
         "(GET %s), RSS read %.0f s after the last one" % (
             a.conns, "HTTPS (TLS 1.3, ECDSA P-256, X25519) " if a.tls else "", PATH, a.settle), "",
         "| protocol | peer | connections held | failed | RSS before KiB | RSS after KiB"
         " | growth KiB per idle connection | notes |",
         "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        notes = []
        if r["asked"] < a.conns:
            notes.append("%d asked: maxconn %d is the most whose descriptor need fits under "
                         "%d" % (r["asked"], r["maxconn"], bl.fd_hard_limit()))
        if r["first_error"]:
            notes.append("first error: %s" % r["first_error"])
        if not r["alive"]:
            notes.append("proxy died")
        if r.get("openssl_b_per_conn") is not None:
            notes.append("of which OpenSSL's heap: %.0f bytes per connection (tls_heap_bytes)"
                         % r["openssl_b_per_conn"])
        L.append("| %s | %s | %d | %d | %d | %d | %s | %s |" % (
            ("HTTPS/1.1" if a.tls else "HTTP/1.1") if r["proto"] == "h1" else
            ("HTTPS/2" if a.tls else "HTTP/2"), LABEL[r["peer"]], r["held"],
            r["failed"], r["rss_before_kb"], r["rss_after_kb"], bl.fmt(r["kib_per_conn"], 2),
            "; ".join(notes)))
    L.append("")
    return "\n".join(L)


def main():
    a = parse_args()
    missing = bl.ensure_tools(("haproxy", "nginx") if a.tls else ("haproxy", "nginx", "h2o"))
    if a.head:
        a.build = bl.export_head()
    sluice_bin, origin_bin = bl.ensure_build(a.build)
    ver = bl.versions(sluice_bin)
    cases = [(pr, pe) for pr, pe in (TLS_CASES if a.tls else CASES) if pe not in missing and
             (not a.peers or pe in a.peers.split(","))]
    if a.cases:
        want = set(tuple(c.split(":", 1)) for c in a.cases.split(","))
        cases = [c for c in cases if c in want]
    procs = bl.ProcSet()
    rows = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-idle-") as tmp:
        try:
            a.pem = bl.make_tls_cert(tmp) if a.tls else None
            origin_port = bl.free_ports(1)[0]
            bl.start_origin(procs, origin_bin, tmp, origin_port)
            for i, (proto, peer) in enumerate(cases):
                bl.log("idle case %d of %d: %s over %s, %d connections (%.0f s elapsed)" % (
                    i + 1, len(cases), LABEL[peer], proto, a.conns, time.monotonic() - t0))
                r = measure(a, procs, sluice_bin, tmp, origin_port, proto, peer)
                bl.log("  held %d (failed %d%s), RSS %d -> %d KiB, %s KiB per connection, "
                       "set up in %.1f s" % (r["held"], r["failed"], ": " + r["first_error"]
                                             if r["first_error"] else "", r["rss_before_kb"],
                                             r["rss_after_kb"], bl.fmt(r["kib_per_conn"], 2),
                                             r["setup_s"]))
                rows.append(r)
        finally:
            procs.stop_all()
    text = table(rows, a)
    print()
    print(text)
    print("elapsed %.0f s" % (time.monotonic() - t0))
    if a.out:
        bl.write(a.out, bl.header("idle.py", ver) + text)
    if a.json:
        bl.write(a.json, json.dumps({"args": vars(a), "versions": ver, "rows": rows},
                                    indent=1, default=str))


if __name__ == "__main__":
    main()
