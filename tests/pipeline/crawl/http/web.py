"""A loopback web of the tests' own: any host name, any path, any bytes on the wire.

Routes map (host, path) to a function of the request that returns the raw response as a
list of (bytes, seconds to wait before sending them), so a test can drip headers, send a
chunked gzip body or hang. Requests are logged, so a test can assert what was never asked.
"""

from __future__ import annotations

import gzip
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    host: str
    headers: dict[str, str]
    t: float


def response(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    reason: str = "X",
) -> list[tuple[bytes, float]]:
    head = [f"HTTP/1.1 {status} {reason}"]
    hdrs = {"Content-Type": "application/octet-stream", **(headers or {})}
    if chunked:
        hdrs["Transfer-Encoding"] = "chunked"
        half = len(body) // 2
        payload = b"".join(
            f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:]) if p
        )
        payload += b"0\r\n\r\n"
    else:
        hdrs.setdefault("Content-Length", str(len(body)))
        payload = body
    head += [f"{k}: {v}" for k, v in hdrs.items()]
    return [("\r\n".join(head).encode() + b"\r\n\r\n" + payload, 0.0)]


def drip(data: bytes, every: float) -> list[tuple[bytes, float]]:
    return [(data[i : i + 1], every) for i in range(len(data))]


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


@dataclass
class Web:
    routes: dict[tuple[str, str], object] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, host: str, path: str, fn) -> None:
        """fn(request) -> [(bytes, delay)], or a fixed list; unrouted paths answer 404."""
        self.routes[(host.lower(), path)] = fn

    def resolve(self, *hosts: str, port: int = 80) -> dict[str, str]:
        return {f"{h}:{port}": f"127.0.0.1:{self.port}" for h in hosts}

    @property
    def allow(self) -> tuple[str, ...]:
        return (f"127.0.0.1:{self.port}",)

    def asked(self, host: str, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.log if r.host == host and r.path == path)

    def answer(self, req: Request) -> list[tuple[bytes, float]]:
        fn = self.routes.get((req.host, req.path))
        if fn is None:
            return response(404, b"not here")
        return fn(req) if callable(fn) else fn


class _Handler(socketserver.BaseRequestHandler):
    web: Web

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    got = sock.recv(65536)
                except OSError:
                    return
                if not got:
                    return
                buf += got
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            host = headers.get("host", "").rsplit(":", 1)[0].lower()
            req = Request(method, path, host, headers, time.monotonic())
            with self.web.lock:
                self.web.log.append(req)
            try:
                for data, delay in self.web.answer(req):
                    if delay:
                        time.sleep(delay)
                    sock.sendall(data)
            except OSError:
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class serve:
    """`with serve() as web:` a Web on 127.0.0.1 and a free port, stopped on exit."""

    def __enter__(self) -> Web:
        self.web = Web()
        handler = type("H", (_Handler,), {"web": self.web})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.web.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()
        return self.web

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
