"""harness.py - helpers and a tiny runner for Sluice's integration tests.

Python 3.11 standard library only. A test module looks like this::

    import harness

    def setup_module(ctx):                    # optional, runs first
        ctx.origin, ctx.port = harness.start_origin(ctx.build_dir, name="o1")

    @harness.timeout(20)                      # optional, default cap 60 s
    def test_root(ctx):
        r = harness.curl([f"http://127.0.0.1:{ctx.port}/"])
        assert r.status == 200, r

    def teardown_module(ctx):                 # optional, always runs last
        assert ctx.origin.stop() == 0

    if __name__ == "__main__":
        raise SystemExit(harness.main())

and runs as ``python3 tests/integration/test_x.py --build-dir BUILD [-k SUBSTR]``.

Pieces, each documented where it is defined:

- the runner: main(), timeout(), Skip, TestContext, require_tool();
- processes: Proc (log files, wait_port, wait_stderr, stop), stop_all(),
  free_port(), start_with_free_port(), start_origin(), origin_path();
- the origin's body pattern: pattern_bytes(), pattern_sha256();
- HTTP over raw sockets: RawConn, raw_request(), build_request(),
  chunk_encode(), parse_response(), parse_responses(), Response, Headers;
- tools: curl(), run_wrk().

Every process started through Proc is registered: the runner stops those a
test started when the test ends (and fails the test when one of them exits
with a non-zero status nobody looked at, which is how sanitizer reports
surface), and an atexit hook plus a SIGTERM handler stop whatever is left.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

__all__ = [
    "HarnessError", "ProcExited", "RecvTimeout", "Skip", "TestTimeout", "TestContext", "timeout", "main",
    "require_tool", "Proc", "stop_all", "free_port", "start_with_free_port",
    "origin_path", "start_origin", "pattern_bytes", "pattern_sha256", "Headers",
    "Response", "parse_response", "parse_responses", "build_request", "chunk_encode", "RawConn",
    "raw_request", "CurlResult", "curl", "run_wrk", "wait_until", "log_dir",
]


class HarnessError(Exception):
    """A helper could not do its job (bad output, tool failure, timeout)."""


class ProcExited(HarnessError):
    """A process ended while the harness was waiting for it to be ready."""


class Skip(Exception):
    """Raise from a test to report it as skipped ("skip name: reason")."""


class TestTimeout(Exception):
    """Raised inside a test that ran past its time cap."""


class RecvTimeout(HarnessError):
    """A RawConn read found no (complete) data before its deadline."""


# ---------------------------------------------------------------------------
# Temporary directories and the process registry

_state = {
    "session_dir": None,   # root temp dir of this run
    "log_dir": None,       # where new Procs put their files (current test)
}
_registry: list["Proc"] = []


def _session_dir() -> str:
    if _state["session_dir"] is None:
        _state["session_dir"] = tempfile.mkdtemp(prefix="sluice-it-")
    return _state["session_dir"]


def log_dir() -> str:
    """Returns the directory for the current test's files (process logs,
    curl bodies); the session's temp dir outside of a test."""
    d = _state["log_dir"] or _session_dir()
    os.makedirs(d, exist_ok=True)
    return d


_current_log_dir = log_dir  # for code where a parameter shadows the name


def stop_all(timeout_s: float = 5.0) -> None:
    """Stops every registered process still running (SIGTERM, then SIGKILL
    after timeout_s). Runs at exit and on SIGTERM; safe to call any time."""
    for p in list(_registry):
        try:
            p.stop(timeout_s)
        except Exception:  # best effort: never mask the original failure
            pass


atexit.register(stop_all)


# ---------------------------------------------------------------------------
# Processes

class Proc:
    """A child process with its stdout/stderr in files.

    Proc(argv, name=None, env=None, cwd=None, log_dir=None) starts argv (a
    list) at once, in its own session, with stdout and stderr going to
    <log_dir>/<name>.stdout / .stderr (log_dir defaults to the current
    test's temp dir). env entries are added to (not substituted for) the
    inherited environment, so sanitizer options set by meson reach the
    child. Attributes: pid, argv, name, stdout_path, stderr_path,
    check_exit (True: the runner fails the test if it finds this process
    exited non-zero without anyone having called stop()/wait_exit()).

    Use as a context manager to stop it on exit from the block.

    A process that dies of the SIGTERM the runner sends it counts as a
    non-zero exit (-15): Sluice and sluice-origin exit 0 on SIGTERM, and a
    regression there must show. Pass check_exit=False for tools that do
    not handle SIGTERM, or stop() them yourself.
    """

    _counter = 0

    def __init__(self, argv: Sequence[str], name: str | None = None,
                 env: dict | None = None, cwd: str | None = None,
                 log_dir: str | None = None, check_exit: bool = True):
        Proc._counter += 1
        self.argv = [str(a) for a in argv]
        base = name or os.path.basename(self.argv[0])
        self.name = f"{base}-{Proc._counter}"
        d = log_dir or _current_log_dir()
        self.stdout_path = os.path.join(d, self.name + ".stdout")
        self.stderr_path = os.path.join(d, self.name + ".stderr")
        self.check_exit = check_exit
        self.reaped_by_user = False
        full_env = os.environ.copy()
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self._popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=err, env=full_env, cwd=cwd,
                                           start_new_session=True)
        self.pid = self._popen.pid
        _registry.append(self)

    def __repr__(self) -> str:
        return f"<Proc {self.name} pid={self.pid} rc={self.returncode}>"

    def __enter__(self) -> "Proc":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        """Exit status once the process ended (negative: killed by that
        signal), None while it runs."""
        return self._popen.poll()

    def alive(self) -> bool:
        """Returns True while the process runs."""
        return self._popen.poll() is None

    def stdout_text(self) -> str:
        """Returns everything the process wrote to stdout so far."""
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self) -> str:
        """Returns everything the process wrote to stderr so far."""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_tail(self, lines: int = 30) -> str:
        """Returns the last lines of stderr (for error messages)."""
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def send_signal(self, sig: int) -> None:
        """Sends sig to this process (only this PID) if it still runs."""
        if self.alive():
            os.kill(self.pid, sig)

    def _exited_error(self, what: str) -> ProcExited:
        return ProcExited(f"{self.name} exited with {self.returncode} while {what};"
                          f" stderr:\n{self.stderr_tail()}")

    def wait_port(self, host: str, port: int, timeout: float = 10.0) -> None:
        """Returns once host:port accepts TCP connections. Raises ProcExited
        if the process ends first, HarnessError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise self._exited_error(f"waiting for {host}:{port}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: {host}:{port} not accepting after {timeout}s;"
                                   f" stderr:\n{self.stderr_tail()}")
            time.sleep(0.02)

    def wait_stderr(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """Returns the first match of the regex pattern (re.MULTILINE) in
        stderr once it appears. Raises ProcExited if the process ends
        without printing it, HarnessError after timeout seconds."""
        rx = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            running = self.alive()
            m = rx.search(self.stderr_text())
            if m:
                return m
            if not running:
                raise self._exited_error(f"waiting for /{pattern}/ on stderr")
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: no /{pattern}/ on stderr after {timeout}s;"
                                   f" stderr:\n{self.stderr_tail()}")
            time.sleep(0.02)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Waits for the process to end by itself; returns its exit status.
        Raises HarnessError (process left running) after timeout."""
        try:
            rc = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{self.name} still running after {timeout}s") from None
        self.reaped_by_user = True
        return rc

    def stop(self, timeout: float = 5.0, sig: int = signal.SIGTERM) -> int:
        """Sends sig (SIGTERM) to this PID, waits up to timeout seconds,
        then SIGKILLs it. Returns the exit status (0 for a clean stop,
        negative for death by a signal). Idempotent."""
        self.reaped_by_user = True
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._popen.wait()
        if self in _registry:
            _registry.remove(self)
        return self._popen.returncode


def free_port(host: str = "127.0.0.1") -> int:
    """Returns a TCP port that was free on host a moment ago (bound to port
    0, read, closed). Another process may take it before you bind it: start
    servers through start_with_free_port() to retry on such a race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_with_free_port(make_argv: Callable[[int], Sequence[str]], host: str = "127.0.0.1",
                         attempts: int = 5, timeout: float = 10.0, name: str | None = None,
                         env: dict | None = None, ready: Callable[["Proc", int], None] | None = None,
                         ) -> tuple["Proc", int]:
    """Starts Proc(make_argv(port)) on a port from free_port() and waits
    until it is ready: ready(proc, port) if given, else proc.wait_port.
    When the process dies complaining the address is in use (another
    process took the port in between), retries with a new port, up to
    attempts times. Returns (proc, port)."""
    last: Exception | None = None
    for _ in range(attempts):
        port = free_port(host)
        p = Proc(make_argv(port), name=name, env=env)
        try:
            if ready:
                ready(p, port)
            else:
                p.wait_port(host, port, timeout)
            # a connect may have reached whoever stole the port just before
            # our process failed to bind: give it a moment to die
            time.sleep(0.05)
            if p.alive():
                return p, port
            raise p._exited_error("starting")
        except ProcExited as e:
            p.stop()
            text = p.stderr_text().lower()
            if "in use" not in text and "eaddrinuse" not in text:
                raise
            last = e
    raise HarnessError(f"no free port after {attempts} attempts: {last}")


def origin_path(build_dir: str) -> str:
    """Returns the path of sluice-origin in build_dir (raises HarnessError
    when it was not built)."""
    path = os.path.join(build_dir, "tests", "origin", "sluice-origin")
    if not os.access(path, os.X_OK):
        raise HarnessError(f"{path} not found: build the sluice-origin target")
    return path


def start_origin(build_dir: str, name: str = "origin", threads: int = 1,
                 host: str = "127.0.0.1", extra_args: Sequence[str] = (),
                 timeout: float = 10.0) -> tuple[Proc, int]:
    """Starts <build_dir>/tests/origin/sluice-origin -n name -t threads on
    a port the kernel picks (-l host:0) and returns (proc, port) once it
    printed "listening on host:port" and accepts connections. Race-free:
    no port is guessed. Every answer carries "X-Origin: <name>"."""
    listen = f"[{host}]:0" if ":" in host else f"{host}:0"
    argv = [origin_path(build_dir), "-q", "-n", name, "-t", str(threads), "-l", listen,
            *extra_args]
    p = Proc(argv, name=f"origin-{name}")
    try:
        m = p.wait_stderr(r"^listening on (\S+):(\d+)$", timeout)
        port = int(m.group(2))
        p.wait_port(host, port, timeout)
    except BaseException:
        p.stop()
        raise
    return p, port


def wait_until(pred: Callable[[], object], timeout: float = 5.0, interval: float = 0.02,
               what: str = "condition") -> object:
    """Polls pred() until it returns a true value, which it returns.
    Raises HarnessError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise HarnessError(f"{what} not met after {timeout}s")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The origin's body pattern (see tests/origin/opattern.h)

PATTERN_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"
PATTERN_PERIOD = len(PATTERN_ALPHABET)          # 61, prime
_PATTERN_BLOCK = PATTERN_ALPHABET * 1075        # ~64 KiB, whole periods


def pattern_bytes(n: int, offset: int = 0) -> bytes:
    """Returns bytes offset..offset+n-1 of the origin's generated bodies
    (/size/N, /chunked/N): byte i is PATTERN_ALPHABET[i % 61]."""
    phase = offset % PATTERN_PERIOD
    reps = (phase + n) // PATTERN_PERIOD + 1
    return (PATTERN_ALPHABET * reps)[phase:phase + n]


@functools.lru_cache(maxsize=64)
def pattern_sha256(n: int) -> str:
    """Returns the hex SHA-256 of the first n pattern bytes, i.e. of the
    body of /size/n (10 MB in a few tens of milliseconds; cached)."""
    h = hashlib.sha256()
    full, rest = divmod(n, len(_PATTERN_BLOCK))
    for _ in range(full):
        h.update(_PATTERN_BLOCK)
    h.update(_PATTERN_BLOCK[:rest])
    return h.hexdigest()


# ---------------------------------------------------------------------------
# HTTP/1.x over raw sockets

class Headers:
    """Ordered header fields with case-insensitive lookup.

    h.get(name, default=None) -> first value; h.get_all(name) -> list;
    name in h; h[name] (KeyError when absent); iterating yields (name,
    value) pairs in received order; len(h)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self.items = list(items)

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self.items:
            if k.lower() == low:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.items if k.lower() == low]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Headers({self.items!r})"


@dataclass
class Response:
    """One parsed HTTP/1.x response. chunk_sizes lists the sizes of the
    data chunks of a chunked body (to check framing); raw is the exact
    bytes it was parsed from."""
    version: str
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    trailers: Headers = field(default_factory=Headers)
    chunked: bool = False
    chunk_sizes: list = field(default_factory=list)
    raw: bytes = b""

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 80 else self.body[:80] + b"..."
        return (f"<Response {self.version} {self.status} {self.reason!r} headers={self.headers.items!r}"
                f" body[{len(self.body)}]={body!r}>")


def _parse_fields(lines: list[bytes]) -> Headers:
    items = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise HarnessError(f"malformed header line {line!r}")
        items.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return Headers(items)


def _parse_chunked(buf: bytes, pos: int):
    """Returns (body, chunk_sizes, trailers, end) or None when incomplete."""
    body, sizes = [], []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = buf[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HarnessError(f"bad chunk size line {buf[pos:eol]!r}") from None
        pos = eol + 2
        if size == 0:
            break
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise HarnessError("chunk data not followed by CRLF")
        body.append(buf[pos:pos + size])
        sizes.append(size)
        pos += size + 2
    trailer_lines = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        line = buf[pos:eol]
        pos = eol + 2
        if not line:
            break
        trailer_lines.append(line)
    return b"".join(body), sizes, _parse_fields(trailer_lines), pos


def parse_response(buf: bytes, head: bool = False, eof: bool = False):
    """Parses the response at the start of buf. Returns (Response,
    bytes_consumed), or None when more bytes are needed. head=True: the
    request was HEAD (no body whatever the headers say). eof=True: the
    peer closed, so a body without length ends at the end of buf. Raises
    HarnessError on malformed input."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].split(b"\r\n")
    m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise HarnessError(f"bad status line {lines[0]!r}")
    version, status = m.group(1).decode(), int(m.group(2))
    reason = (m.group(3) or b"").decode("latin-1")
    headers = _parse_fields(lines[1:])
    pos = end + 4
    resp = Response(version, status, reason, headers)
    te = (headers.get("Transfer-Encoding") or "").lower()
    if head or status < 200 or status in (204, 304):
        end_pos = pos
    elif "chunked" in te:
        parsed = _parse_chunked(buf, pos)
        if parsed is None:
            return None
        resp.body, resp.chunk_sizes, resp.trailers, end_pos = parsed
        resp.chunked = True
    elif headers.get("Content-Length") is not None:
        length = int(headers["Content-Length"])
        if len(buf) < pos + length:
            return None
        resp.body, end_pos = buf[pos:pos + length], pos + length
    else:
        if not eof:
            return None
        resp.body, end_pos = buf[pos:], len(buf)
    resp.raw = buf[:end_pos]
    return resp, end_pos


def parse_responses(data: bytes, head: bool = False, eof: bool = True) -> list[Response]:
    """Returns every complete response in data, in order (1xx interim
    responses included). Incomplete trailing bytes are ignored."""
    out = []
    while data:
        parsed = parse_response(data, head=head, eof=eof)
        if parsed is None:
            break
        resp, used = parsed
        out.append(resp)
        data = data[used:]
    return out


def build_request(method: str, path: str, headers: Iterable[tuple[str, str]] = (),
                  body: bytes | None = None, version: str = "1.1",
                  host: str | None = "localhost") -> bytes:
    """Returns the bytes of a request. Adds Host (unless host is None) and,
    when body is given and no framing header is, Content-Length; the body
    is appended as is (pass already chunk-encoded bytes with your own
    Transfer-Encoding header)."""
    hdrs = list(headers)
    names = {k.lower() for k, _ in hdrs}
    if host is not None and "host" not in names:
        hdrs.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs)
    return head.encode("latin-1") + b"\r\n" + (body or b"")


def chunk_encode(body: bytes, chunk: int = 4096, trailers: Iterable[tuple[str, str]] = ()) -> bytes:
    """Returns body in chunked transfer coding, chunks of at most chunk bytes."""
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
             for i in range(0, len(body), chunk)]
    tail = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in trailers)
    return b"".join(parts) + b"0\r\n" + tail + b"\r\n"


class RawConn:
    """A client TCP connection for exact control over the bytes.

    RawConn(port, host="127.0.0.1", timeout=5.0) connects. send(bytes);
    request(method, path, ...) sends and returns the final Response;
    read_response(head=False, skip_interim=True) returns the next response
    (skip_interim=False also returns 1xx ones); read_until_close() returns
    the remaining bytes up to EOF; is_closed(wait) tells whether the server
    closed; shutdown_write() sends our FIN. Every read is bounded by the
    timeout (RecvTimeout, a HarnessError, on expiry). Context manager."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the socket."""
        self.sock.close()

    def send(self, data: bytes) -> None:
        """Sends all of data."""
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        """Half-closes: the server reads EOF, we can still read."""
        self.sock.shutdown(socket.SHUT_WR)

    def _recv(self, deadline: float) -> bool:
        """Receives more bytes into buf. Returns False on EOF."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise RecvTimeout(f"timed out; received so far: {self.buf[:200]!r}")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise RecvTimeout(f"timed out; received so far: {self.buf[:200]!r}") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_response(self, head: bool = False, skip_interim: bool = True,
                      timeout: float | None = None) -> Response:
        """Returns the next response read from the connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            parsed = parse_response(self.buf, head=head, eof=self.eof)
            if parsed:
                resp, used = parsed
                self.buf = self.buf[used:]
                if skip_interim and 100 <= resp.status < 200:
                    continue
                return resp
            if self.eof:
                raise HarnessError(f"connection closed before a complete response: {self.buf[:200]!r}")
            self._recv(deadline)

    def request(self, method: str, path: str, headers: Iterable[tuple[str, str]] = (),
                body: bytes | None = None, version: str = "1.1") -> Response:
        """Sends build_request(...) and returns the final response."""
        self.send(build_request(method, path, headers, body, version))
        return self.read_response(head=(method == "HEAD"))

    def read_until_close(self, timeout: float | None = None) -> bytes:
        """Returns the buffered bytes plus everything up to EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eof:
            self._recv(deadline)
        data, self.buf = self.buf, b""
        return data

    def is_closed(self, wait: float = 1.0) -> bool:
        """Returns True when the server closed the connection within wait
        seconds with no more data, False when it is still open then.
        Raises HarnessError when unexpected data arrives."""
        if self.eof:
            return True
        deadline = time.monotonic() + wait
        try:
            if self._recv(deadline):
                raise HarnessError(f"unexpected data: {self.buf[:200]!r}")
        except RecvTimeout:
            return False
        return True


def raw_request(port: int, data: bytes, timeout: float = 5.0, read_until_close: bool = False,
                host: str = "127.0.0.1", head: bool = False) -> bytes:
    """Connects, sends data as is and returns the bytes received: up to EOF
    when read_until_close, else up to the end of the first final (non-1xx)
    response (head=True: that response answers a HEAD)."""
    with RawConn(port, host, timeout) as c:
        c.send(data)
        if read_until_close:
            return c.read_until_close()
        deadline = time.monotonic() + timeout
        while True:
            rest = c.buf
            done = False
            while True:
                parsed = parse_response(rest, head=head, eof=c.eof)
                if parsed is None:
                    break
                resp, used = parsed
                rest = rest[used:]
                if resp.status >= 200:
                    done = True
                    break
            if done:
                return c.buf[:len(c.buf) - len(rest)]
            if c.eof:
                return c.buf
            c._recv(deadline)


# ---------------------------------------------------------------------------
# curl and wrk

class CurlResult:
    """What curl() returns. Unpacks as (exit_code, status, headers, body);
    also has .trailers (Headers), .heads (list of (status, Headers) of
    every response head received, 1xx ones included), .stderr (str).
    status is 0 when no response was received."""

    def __init__(self, exit_code, status, headers, body, trailers, heads, stderr):
        self.exit_code, self.status, self.headers, self.body = exit_code, status, headers, body
        self.trailers, self.heads, self.stderr = trailers, heads, stderr

    def __iter__(self):
        return iter((self.exit_code, self.status, self.headers, self.body))

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 80 else self.body[:80] + b"..."
        return (f"<CurlResult exit={self.exit_code} status={self.status} headers={self.headers.items!r}"
                f" body[{len(self.body)}]={body!r} stderr={self.stderr.strip()!r}>")


def _parse_header_dump(text: bytes):
    """Parses curl's -D output: (heads, trailers)."""
    heads, trailers = [], Headers()
    block: list[bytes] = []
    blocks = []
    for line in text.split(b"\n"):
        line = line.rstrip(b"\r")
        if line:
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    if block:
        blocks.append(block)
    for b in blocks:
        m = re.match(rb"HTTP/[\d.]+ (\d{3})", b[0])
        if m:
            heads.append((int(m.group(1)), _parse_fields(b[1:])))
        else:
            trailers = _parse_fields(b)
    return heads, trailers


def curl(args: Sequence[str], timeout: float = 30.0) -> CurlResult:
    """Runs curl -s -S --noproxy '*' -o BODY -D HEADERS -w '%{http_code}'
    --max-time timeout <args> (args include the URL and any -X, -H,
    --data-binary @file, --http1.0, ...). Returns a CurlResult; a non-zero
    exit_code is returned, not raised, so tests can expect failures."""
    d = log_dir()
    fd, body_path = tempfile.mkstemp(prefix="curl-body-", dir=d)
    os.close(fd)
    fd, head_path = tempfile.mkstemp(prefix="curl-head-", dir=d)
    os.close(fd)
    argv = ["curl", "-s", "-S", "--noproxy", "*", "-o", body_path, "-D", head_path,
            "-w", "%{http_code}", "--max-time", str(timeout), *map(str, args)]
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout + 10)
    except FileNotFoundError:
        raise HarnessError("curl is not installed (apt-get install -y curl)") from None
    except subprocess.TimeoutExpired:
        raise HarnessError(f"curl did not finish: {argv}") from None
    try:
        with open(body_path, "rb") as f:
            body = f.read()
        with open(head_path, "rb") as f:
            heads, trailers = _parse_header_dump(f.read())
    finally:
        os.unlink(body_path)
        os.unlink(head_path)
    out = cp.stdout.decode().strip()
    status = int(out) if out.isdigit() else 0
    headers = heads[-1][1] if heads else Headers()
    return CurlResult(cp.returncode, status, headers, body, trailers, heads,
                      cp.stderr.decode("utf-8", "replace"))


_WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def run_wrk(url: str, connections: int = 50, threads: int = 2, duration_s: float = 2,
            timeout: float | None = None, extra_args: Sequence[str] = ()) -> dict:
    """Runs wrk -tTHREADS -cCONNECTIONS -dDURATIONs --latency URL and
    returns a dict:
      requests (int), duration_s (float), rps (float), non2xx (int: wrk's
      "Non-2xx or 3xx responses"), errors (dict connect/read/write/timeout),
      errors_total (int), latency_ms (dict 50/75/90/99 -> float), p50_ms,
      p99_ms, output (str: wrk's full output).
    Raises HarnessError when wrk fails or prints something unparsable."""
    if shutil.which("wrk") is None:
        raise HarnessError("wrk is not installed (apt-get install -y wrk)")
    threads = max(1, min(threads, connections))
    dur = max(1, int(round(duration_s)))
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{dur}s", "--latency",
            *map(str, extra_args), url]
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout or dur + 30)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"wrk did not finish: {argv}") from None
    out = cp.stdout.decode("utf-8", "replace")
    if cp.returncode != 0:
        raise HarnessError(f"wrk failed ({cp.returncode}): {out}{cp.stderr.decode(errors='replace')}")
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not rps:
        raise HarnessError(f"cannot parse wrk output:\n{out}")
    res = {
        "requests": int(m.group(1)),
        "duration_s": float(m.group(2)) * _WRK_UNITS_MS.get(m.group(3), 1e3) / 1e3,
        "rps": float(rps.group(1)),
        "non2xx": 0,
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "latency_ms": {},
        "output": out,
    }
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if se:
        res["errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, se.groups())))
    res["errors_total"] = sum(res["errors"].values())
    nx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if nx:
        res["non2xx"] = int(nx.group(1))
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M):
        res["latency_ms"][int(pct)] = float(value) * _WRK_UNITS_MS[unit]
    res["p50_ms"] = res["latency_ms"].get(50)
    res["p99_ms"] = res["latency_ms"].get(99)
    return res


# ---------------------------------------------------------------------------
# The runner

def require_tool(name: str) -> str:
    """Returns the path of the program name; raises Skip when missing."""
    path = shutil.which(name)
    if path is None:
        raise Skip(f"{name} is not installed")
    return path


def timeout(seconds: float):
    """Decorator: caps the test's run time at seconds (default 60). The
    test is interrupted with TestTimeout, which fails it."""
    def deco(fn):
        fn.harness_timeout = seconds
        return fn
    return deco


class TestContext:
    """Passed to setup_module, every test and teardown_module.

    build_dir: absolute build directory (--build-dir); tmpdir: a fresh temp
    dir for the current test (process logs go there too); args: the parsed
    command line. Set any attribute you like in setup_module to share
    state (ports, processes) with the tests."""

    def __init__(self, build_dir: str, args: argparse.Namespace):
        self.build_dir = build_dir
        self.args = args
        self.tmpdir = _session_dir()


def _on_alarm(signum, frame):
    raise TestTimeout("time cap exceeded")


def _collect(module) -> list:
    return [fn for name, fn in vars(module).items()
            if name.startswith("test_") and callable(fn)
            and getattr(fn, "__module__", None) == module.__name__]


def _reap(procs: list, failures: list) -> None:
    """Stops the processes a scope left running; records the ones that
    ended with a non-zero status nobody checked."""
    for p in procs:
        if p.reaped_by_user:
            continue
        was_running = p.alive()
        rc = p.stop()
        if p.check_exit and rc != 0:
            how = "was stopped" if was_running else "had exited"
            failures.append(f"{p.name} {how} with status {rc} (stderr tail below)\n"
                            f"{p.stderr_tail()}")


def _run_scoped(fn: Callable, ctx: TestContext, cap: float, tmpdir: str,
                reap: bool) -> tuple[str, str]:
    """Runs fn(ctx) under a time cap. Returns (outcome, reason) with
    outcome one of ok / FAIL / skip."""
    os.makedirs(tmpdir, exist_ok=True)
    ctx.tmpdir = tmpdir
    _state["log_dir"] = tmpdir
    before = set(id(p) for p in _registry)
    outcome, reason, tb = "ok", "", ""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, cap)
    try:
        fn(ctx)
    except Skip as e:
        outcome, reason = "skip", str(e)
    except TestTimeout:
        outcome, reason, tb = "FAIL", f"timed out after {cap}s", traceback.format_exc()
    except Exception as e:
        first = (str(e).splitlines() or [""])[0]
        outcome, reason, tb = "FAIL", f"{type(e).__name__}: {first}", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    started = [p for p in _registry if id(p) not in before]
    if outcome == "FAIL":
        for p in started:
            tb += f"--- {p.name} ({' '.join(p.argv)}) stderr tail:\n{p.stderr_tail()}\n"
    if reap:
        problems: list[str] = []
        _reap(started, problems)
        if problems and outcome != "FAIL":
            outcome, reason = "FAIL", problems[0].splitlines()[0]
            tb += "\n".join(problems) + "\n"
    if tb:
        print("\n".join("    " + line for line in tb.rstrip().splitlines()), flush=True)
    _state["log_dir"] = None
    return outcome, reason


def main(module=None, argv: Sequence[str] | None = None) -> int:
    """Runs the test_* functions of module (default: __main__) in the
    order they are defined, after setup_module(ctx) and before
    teardown_module(ctx) when defined. Prints "ok name (1.2s)",
    "FAIL name: reason" (plus the traceback and the stderr tail of the
    processes the test started) or "skip name: reason" per test, then a
    summary. Options: --build-dir DIR (default $SLUICE_BUILD_DIR or
    ./build), -k SUBSTR (repeatable: run tests whose name contains one of
    them), --timeout S (cap for tests without @timeout), --keep-tmp, -x
    (stop at the first failure), --list. Returns the exit status: 0 when
    nothing failed, 1 otherwise."""
    module = module or sys.modules["__main__"]
    ap = argparse.ArgumentParser(description=(module.__doc__ or "").strip().splitlines()[0]
                                 if module.__doc__ else None)
    ap.add_argument("--build-dir", default=os.environ.get("SLUICE_BUILD_DIR", "build"))
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("-x", "--exitfirst", action="store_true")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)

    tests = [t for t in _collect(module) if not args.k or any(k in t.__name__ for k in args.k)]
    if args.list:
        for t in tests:
            print(t.__name__)
        return 0
    # meson (or a user) stopping us must still stop our children: SIGTERM
    # becomes SystemExit, which unwinds through the cleanup below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    build_dir = os.path.abspath(args.build_dir)
    ctx = TestContext(build_dir, args)
    root = _session_dir()
    counts = {"ok": 0, "FAIL": 0, "skip": 0}
    t_start = time.monotonic()
    setup = getattr(module, "setup_module", None)
    teardown = getattr(module, "teardown_module", None)
    print(f"# {os.path.basename(getattr(module, '__file__', 'tests'))}: {len(tests)} test(s),"
          f" build dir {build_dir}, temp {root}", flush=True)
    try:
        if setup:
            outcome, reason = _run_scoped(setup, ctx, args.timeout,
                                          os.path.join(root, "setup_module"), False)
            if outcome != "ok":
                print(f"FAIL setup_module: {reason}", flush=True)
                for t in tests:
                    print(f"FAIL {t.__name__}: setup_module failed", flush=True)
                counts["FAIL"] += len(tests) + 1
                tests = []
        for t in tests:
            cap = getattr(t, "harness_timeout", args.timeout)
            t0 = time.monotonic()
            try:
                outcome, reason = _run_scoped(t, ctx, cap, os.path.join(root, t.__name__), True)
            except (KeyboardInterrupt, SystemExit) as e:
                counts["FAIL"] += 1
                print(f"FAIL {t.__name__}: interrupted ({type(e).__name__})", flush=True)
                break
            counts[outcome] += 1
            if outcome == "ok":
                print(f"ok {t.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
            else:
                print(f"{outcome} {t.__name__}: {reason}", flush=True)
            if outcome == "FAIL" and args.exitfirst:
                break
    finally:
        if teardown:
            outcome, reason = _run_scoped(teardown, ctx, args.timeout,
                                          os.path.join(root, "teardown_module"), False)
            if outcome == "FAIL":
                counts["FAIL"] += 1
                print(f"FAIL teardown_module: {reason}", flush=True)
        leftovers: list[str] = []
        _reap(list(_registry), leftovers)
        for problem in leftovers:
            counts["FAIL"] += 1
            print(f"FAIL cleanup: {problem.splitlines()[0]}", flush=True)
            print("\n".join("    " + line for line in problem.splitlines()[1:]), flush=True)
    elapsed = time.monotonic() - t_start
    print(f"# {counts['ok']} passed, {counts['FAIL']} failed, {counts['skip']} skipped"
          f" in {elapsed:.1f}s", flush=True)
    if counts["FAIL"] == 0 and not args.keep_tmp:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"# files kept in {root}", flush=True)
    return 1 if counts["FAIL"] else 0
