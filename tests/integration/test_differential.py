"""test_differential.py - differential HTTP/1 testing: every request of
tests/differential/corpus.txt (ambiguous and malformed framing, header
syntax, targets, Host, HTTP/1.0, pipelining) is sent through Sluice and
through HAProxy, each in front of its own recording origin (a raw socket
server that keeps exactly the bytes it receives and answers each request
it can frame with a fixed small response). What each origin received is
normalized (request line, framing headers, decoded body bytes, in order)
and compared.

A finding is a case where Sluice forwards something HAProxy rejects, or
where both forward but the normalized requests differ. Findings explained
in ALLOWED (with the reason) pass; any other fails the test. Cases where
Sluice rejects what HAProxy forwards are reported, not failed (stricter
is allowed). Skipped when haproxy is not installed.

Set SLUICE_DIFF_TABLE=FILE to write the full per-case table (Markdown)
to FILE (docs/DIFFERENTIAL.md embeds one).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time

import harness
import proxylib as pl

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "differential", "corpus.txt")
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# case name -> why the difference is understood and acceptable. Every
# entry must still be a difference (a stale entry fails the test, so the
# list cannot rot). See docs/DIFFERENTIAL.md.
ALLOWED: dict[str, str] = {
    "te_gzip_chunked": "RFC 9112 6.1: a coding list ending in chunked frames the body"
                       " unambiguously; Sluice forwards it unchanged, the origin decodes (or"
                       " refuses) gzip. HAProxy refuses codings it cannot apply (422).",
    "te_two_headers": "as te_gzip_chunked: two Transfer-Encoding fields form one list"
                      " (RFC 9110 5.3) that ends in chunked; forwarded as received.",
    "absolute_form_other_host": "RFC 9112 3.2.2: a proxy receiving an absolute-form target"
                                " MUST ignore the Host field and replace it with the target's"
                                " authority: Sluice forwards Host: other and nothing else;"
                                " HAProxy refuses the disagreement (400). Both are safe: the"
                                " next hop sees one consistent authority.",
}

# Differences that are Sluice bugs not fixed yet: listed so the test passes,
# and so it fails ("no longer differing") once fixed, to have the entry
# removed. The five target-validation bugs this corpus found are fixed
# (docs/DIFFERENTIAL.md).
KNOWN_BUGS: dict[str, str] = {}


def load_corpus(path: str = CORPUS) -> list[tuple[str, bytes]]:
    """Returns [(name, bytes)] from the corpus file (NAME<TAB>ESCAPED)."""
    out = []
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, _, text = line.partition("\t")
            data = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
            out.append((name, data))
    names = [n for n, _ in out]
    assert len(names) == len(set(names)), "duplicate case names in the corpus"
    return out


# ---------------------------------------------------------------------------
# Framing of what the origin receives (lenient: it reads a proxy's output)

def _split_head(buf: bytes):
    """Returns (head, rest) or None when no complete head is in buf."""
    m = re.search(rb"\r?\n\r?\n", buf)
    if not m:
        return None
    return buf[:m.start()], buf[m.end():]


def _parse_chunked(buf: bytes):
    """Returns (body, used) or None (incomplete); raises ValueError when
    it cannot be chunked framing."""
    pos, body = 0, b""
    while True:
        m = re.match(rb"([0-9A-Fa-f]+)[^\r\n]*\r?\n", buf[pos:])
        if not m:
            if b"\n" in buf[pos:]:
                raise ValueError("bad chunk size line")
            return None
        size = int(m.group(1), 16)
        pos += m.end()
        if size == 0:
            while True:  # trailer section up to an empty line
                m = re.match(rb"([^\r\n]*)\r?\n", buf[pos:])
                if not m:
                    return None
                pos += m.end()
                if not m.group(1):
                    return body, pos
        if len(buf) < pos + size + 1:
            return None
        body += buf[pos:pos + size]
        pos += size
        m = re.match(rb"\r?\n", buf[pos:])
        if not m:
            if len(buf) < pos + 2:
                return None
            raise ValueError("no CRLF after chunk data")
        pos += m.end()


def parse_stream(buf: bytes):
    """Splits the bytes one server connection received into requests.
    Returns (requests, rest): requests as dicts with line, framing (list of
    (name, value) for Content-Length / Transfer-Encoding, in order), body,
    host (list of Host values), head (raw); rest = unframed bytes."""
    reqs = []
    while buf:
        sp = _split_head(buf)
        if sp is None:
            break
        head, rest = sp
        lines = re.split(rb"\r?\n", head)
        framing, host = [], []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            key = k.strip().lower()
            if key in (b"content-length", b"transfer-encoding"):
                framing.append((key.decode("latin-1"), v.strip().decode("latin-1")))
            elif key == b"host":
                host.append(v.strip().decode("latin-1"))
        te = ",".join(v for k, v in framing if k == "transfer-encoding").lower()
        cl = [v for k, v in framing if k == "content-length"]
        if te:
            try:
                parsed = _parse_chunked(rest) if te.split(",")[-1].strip() == "chunked" else None
            except ValueError:
                break
            if parsed is None:
                break
            body, used = parsed
        elif cl:
            try:
                n = int(cl[0])
            except ValueError:
                break
            if len(rest) < n:
                break
            body, used = rest[:n], n
        else:
            body, used = b"", 0
        reqs.append({"line": lines[0].decode("latin-1"), "framing": framing, "body": body,
                     "host": host, "head": head})
        buf = rest[used:]
    return reqs, buf


class RecordingOrigin:
    """A raw loopback origin: records every chunk it receives as (conn id,
    bytes) in arrival order and answers ANSWER to each request it can
    frame (never to a HEAD's body, which has none)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.chunks: list[tuple[int, bytes]] = []
        self.conns: list[socket.socket] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        cid = 0
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            cid += 1
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c: socket.socket, cid: int):
        buf, answered = b"", 0
        c.settimeout(30)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    with self.lock:
                        self.chunks.append((cid, b""))  # EOF: the proxy closed
                    return
                with self.lock:
                    self.chunks.append((cid, data))
                buf += data
                reqs, _ = parse_stream(buf)
                for _ in reqs[answered:]:
                    c.sendall(ANSWER)
                answered = len(reqs)
        except OSError:
            return
        finally:
            c.close()

    def mark(self) -> int:
        with self.lock:
            return len(self.chunks)

    def since(self, mark: int) -> tuple[dict[int, bytes], set[int]]:
        """Returns ({conn id: bytes} received after mark, conns in order;
        the set of those conns the proxy closed)."""
        out: dict[int, bytes] = {}
        closed = set()
        with self.lock:
            for cid, data in self.chunks[mark:]:
                out[cid] = out.get(cid, b"") + data
                if not data:
                    closed.add(cid)
        return out, closed

    def close(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


# ---------------------------------------------------------------------------
# Running one case through one proxy

def exchange(port: int, data: bytes, idle: float = 0.5, first: float = 2.5,
             cap: float = 4.0) -> bytes:
    """Sends data on a fresh connection and returns what came back until
    the proxy closed, or nothing arrived for idle seconds once something
    did (first seconds before the first byte: a loaded machine or a
    sanitizer build may be slow), cap in total."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=cap) as s:
        try:
            s.sendall(data)
        except OSError:
            return got
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline:
            s.settimeout(idle if got else first)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got


def statuses(data: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]


def run_case(port: int, origin: RecordingOrigin, data: bytes) -> dict:
    """Returns {"status": [client statuses], "fwd": [normalized requests],
    "rest": unframed origin bytes, "raw": {cid: bytes}}."""
    mark = origin.mark()
    answer = exchange(port, data)
    # whatever the proxy still forwards after our close belongs to this
    # case: wait until the origin has received nothing for 0.3 s
    last, quiet_since, end = origin.mark(), time.monotonic(), time.monotonic() + 3.0
    while time.monotonic() - quiet_since < 0.3 and time.monotonic() < end:
        time.sleep(0.05)
        now = origin.mark()
        if now != last:
            last, quiet_since = now, time.monotonic()
    # A server connection left holding a partial request must be closed
    # by the proxy (else its next request would be read as that body):
    # give it a moment, then record which were and which were not.
    deadline = time.monotonic() + 2.0
    while True:
        raw, closed = origin.since(mark)
        partial = [cid for cid, buf in raw.items() if parse_stream(buf)[1]]
        if all(cid in closed for cid in partial) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    fwd, rest, aborted = [], b"", b""
    for cid, buf in raw.items():
        reqs, left = parse_stream(buf)
        fwd += reqs
        if left and cid in closed:
            aborted += left
        else:
            rest += left
    return {"status": statuses(answer), "fwd": fwd, "rest": rest, "aborted": aborted, "raw": raw}


def normalize(res: dict) -> list:
    out = [(r["line"], tuple(r["framing"]), r["body"]) for r in res["fwd"]]
    if res["rest"]:
        out.append(("<unframed>", res["rest"]))
    return out


def describe(res: dict) -> str:
    parts = []
    for r in res["fwd"]:
        fr = ",".join(f"{k[0].upper()}{k[1:2]}={v}" for k, v in r["framing"]) or "-"
        hosts = ",".join(r["host"]) if r["host"] else "none"
        parts.append(f"`{r['line']}` [{fr}] host={hosts} body={r['body']!r}")
    if res["rest"]:
        parts.append(f"unframed, server connection left open: {res['rest'][:60]!r}")
    if res["aborted"]:
        nbody = len(res["aborted"]) - res["aborted"].find(b"\r\n\r\n") - 4
        parts.append(f"head and {nbody} body bytes, then the server connection closed")
    st = "/".join(map(str, res["status"])) or "none"
    return f"answer {st}; " + ("; ".join(parts) if parts else "nothing forwarded")


def classify(s: dict, h: dict) -> str:
    """same / sluice-forwards-rejected / framing-differs / sluice-stricter."""
    ns, nh = normalize(s), normalize(h)
    if not ns and s["aborted"] and not nh:
        return "same (Sluice aborted mid-body)"
    if ns == nh:
        return "same"
    if not ns and s["aborted"]:
        return "sluice-stricter (aborted mid-body)"
    if ns and not nh:
        return "sluice-forwards-rejected"
    if nh and not ns:
        return "sluice-stricter"
    return "framing-differs"


# ---------------------------------------------------------------------------

def haproxy_cfg(port: int, oport: int) -> str:
    return f"""global
    maxconn 1000
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 2s
    timeout http-request 2s
    timeout http-keep-alive 2s
frontend web
    bind 127.0.0.1:{port}
    default_backend app
backend app
    server s1 127.0.0.1:{oport}
"""


def setup_module(ctx):
    ctx.haproxy_bin = shutil.which("haproxy")
    if ctx.haproxy_bin is None:
        return
    ctx.o_sl, ctx.o_ha = RecordingOrigin(), RecordingOrigin()
    ctx.sluice, ctx.sport = pl.start_sluice(
        ctx, lambda p: pl.make_config(
            p, [f"server s1 127.0.0.1:{ctx.o_sl.port}"], nbthread=1,
            defaults_extra="    timeout http-request 2s\n    timeout http-keep-alive 2s"),
        name="sluice-diff")

    def argv(port):
        path = os.path.join(ctx.tmpdir, f"haproxy-{port}.cfg")
        with open(path, "w") as f:
            f.write(haproxy_cfg(port, ctx.o_ha.port))
        return [ctx.haproxy_bin, "-db", "-f", path]

    ctx.haproxy, ctx.hport = harness.start_with_free_port(argv, name="haproxy")
    ctx.haproxy.check_exit = False  # HAProxy's exit status on SIGTERM is not ours to judge


def teardown_module(ctx):
    if getattr(ctx, "haproxy_bin", None) is None:
        return
    assert ctx.sluice.stop() == 0, ctx.sluice.stderr_tail()
    ctx.haproxy.stop()
    ctx.o_sl.close()
    ctx.o_ha.close()


def _both(ctx, data):
    res = {}

    def one(key, port, origin):
        res[key] = run_case(port, origin, data)

    ts = [threading.Thread(target=one, args=("s", ctx.sport, ctx.o_sl), daemon=True),
          threading.Thread(target=one, args=("h", ctx.hport, ctx.o_ha), daemon=True)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert "s" in res and "h" in res, "a case did not finish"
    return res["s"], res["h"]


def write_table(path: str, rows: list) -> None:
    with open(path, "w") as f:
        f.write("| case | verdict | Sluice | HAProxy |\n|---|---|---|---|\n")
        for name, verdict, s, h in rows:
            cells = [c.replace("|", "\\|") for c in (name, verdict, describe(s), describe(h))]
            f.write("| " + " | ".join(cells) + " |\n")


@harness.timeout(280)
def test_corpus_against_haproxy(ctx):
    if ctx.haproxy_bin is None:
        raise harness.Skip("haproxy is not installed (scripts/setup.sh installs it)")
    corpus = load_corpus()
    unknown = (set(ALLOWED) | set(KNOWN_BUGS)) - {n for n, _ in corpus}
    assert not unknown, f"allow-list entries for cases not in the corpus: {unknown}"
    rows, unexplained, stale = [], [], []
    for name, data in corpus:
        s, h = _both(ctx, data)
        verdict = classify(s, h)
        if verdict in ("sluice-forwards-rejected", "framing-differs"):
            if name in ALLOWED:
                verdict += " (allowed)"
            elif name in KNOWN_BUGS:
                verdict += " (BUG, reported)"
            else:
                unexplained.append(f"{name}: {verdict}\n      sluice:  {describe(s)}\n"
                                   f"      haproxy: {describe(h)}")
        elif name in ALLOWED or name in KNOWN_BUGS:
            stale.append(name)
        rows.append((name, verdict, s, h))
        # both proxies must survive every case
        assert ctx.sluice.alive(), f"sluice died after {name}: {ctx.sluice.stderr_tail()}"
        assert ctx.haproxy.alive(), f"haproxy died after {name}"
    table = os.environ.get("SLUICE_DIFF_TABLE")
    if table:
        write_table(table, rows)
    counts: dict[str, int] = {}
    for _, v, _, _ in rows:
        counts[v] = counts.get(v, 0) + 1
    print(f"    {len(rows)} cases: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    for name, v, s, h in rows:
        if v == "sluice-stricter":
            print(f"    stricter {name}: sluice {describe(s)} | haproxy {describe(h)}")
    assert not unexplained, "unexplained differences:\n  " + "\n  ".join(unexplained)
    assert not stale, f"allow-list entries no longer differing: {stale}"
    # both proxies still serve a plain request
    for port in (ctx.sport, ctx.hport):
        got = exchange(port, b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        assert statuses(got) == [200], got


if __name__ == "__main__":
    raise SystemExit(harness.main())
