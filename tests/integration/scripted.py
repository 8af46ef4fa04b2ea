"""scripted.py - an origin whose every answer a test writes by hand, for
the misbehaving servers the demo origin will not imitate (bytes past a
response, a 101 nobody asked for, interim answers with hop-by-hop headers).

ScriptedOrigin(handler) listens on a free loopback port and runs
handler(conn, head, body_reader) in a thread per request; conn is the raw
socket, head the request head as bytes. It records every request head it
received, in order, so a test can check what the proxy forwarded."""

from __future__ import annotations

import socket
import threading


def read_head(sock: socket.socket, pending: bytearray) -> bytes | None:
    """Reads from sock until pending holds a complete head; returns it (and
    removes it from pending), or None at EOF."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        pending += chunk
    end = pending.index(b"\r\n\r\n") + 4
    head = bytes(pending[:end])
    del pending[:end]
    return head


def header(head: bytes, name: str) -> str | None:
    """Returns the value of the first header <name> of head, or None."""
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode(errors="replace")
    return None


class ScriptedOrigin:
    """A loopback HTTP/1.1 origin whose answers come from handler(conn,
    head, pending): the handler writes the answer on conn itself and
    returns True to keep the connection for another request."""

    def __init__(self, handler):
        self.handler = handler
        self.heads: list[bytes] = []
        self.conns = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.clients.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        pending = bytearray()
        try:
            while True:
                head = read_head(c, pending)
                if head is None:
                    return
                with self.lock:
                    self.heads.append(head)
                if not self.handler(c, head, pending):
                    return
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.clients:
                try:
                    c.close()
                except OSError:
                    pass
