"""Connections for many hosts with bounded resources, and one deadline per response.

`Connections` keeps idle keep-alive connections in one LRU across every origin, capped as a
whole (`max_idle`), so a crawl of 400k hosts holds as many sockets as it has threads plus
the cap, never one per origin. `Reaper` is one thread that shuts a response's socket down at
its deadline: per-read timeouts alone let a server that drips a byte a second hold a thread
for as long as it likes, while a shutdown ends any blocked read (headers, body, TLS) at once.
A socket the process could not open (EMFILE, ENFILE, ENOBUFS) raises `ResourceExhausted`:
that is this machine's failure, never a site's answer.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import socket
import threading
import time
from collections import OrderedDict

from urllib3.connection import HTTPConnection, HTTPSConnection

RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class ResourceExhausted(RuntimeError):
    """The crawler ran out of file descriptors or buffers: fail the task, retry it elsewhere."""


def resource_error(exc: BaseException | None) -> OSError | None:
    """The EMFILE-like OSError somewhere in an exception's chain, if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class _Watch:
    """One response's deadline; the socket is attached once it exists."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.fired = False
        self.done = False
        self.lock = threading.Lock()

    def attach(self, sock: socket.socket) -> None:
        with self.lock:
            self.sock = sock
            if self.fired:
                _shutdown(sock)

    def fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            if self.sock is not None:
                _shutdown(self.sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Reaper:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._cond = threading.Condition()
        self._ids = itertools.count()
        threading.Thread(target=self._loop, name="openwit-reaper", daemon=True).start()

    def watch(self, deadline: float) -> _Watch:
        w = _Watch(deadline)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._ids), w))
            self._cond.notify()
        return w

    @staticmethod
    def done(w: _Watch) -> None:
        with w.lock:
            w.done = True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if not self._heap:
                    self._cond.wait()
                    continue
                if self._heap[0][0] > now:
                    self._cond.wait(self._heap[0][0] - now)
                    continue
                w = heapq.heappop(self._heap)[2]
            w.fire()


_REAPER: Reaper | None = None
_REAPER_LOCK = threading.Lock()


def reaper() -> Reaper:
    """The process's one reaper thread, started on first use."""
    global _REAPER
    with _REAPER_LOCK:
        if _REAPER is None:
            _REAPER = Reaper()
        return _REAPER


class _Watched:
    """Registers the raw socket with the response's watch as soon as it is created."""

    watch: _Watch | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        if self.watch is not None:
            self.watch.attach(sock)
        return sock


class WatchedHTTP(_Watched, HTTPConnection):
    pass


class WatchedHTTPS(_Watched, HTTPSConnection):
    pass


class Connections:
    """Idle connections keyed by (scheme, ip, port, host), least recently used evicted."""

    def __init__(self, max_idle: int = 256, per_key: int = 4, ca_bundle: str | None = None):
        self.max_idle = max(0, max_idle)
        self.per_key = per_key
        self.ca_bundle = ca_bundle
        self._idle: OrderedDict[tuple, list[HTTPConnection]] = OrderedDict()
        self._n = 0
        self._lock = threading.Lock()

    def take(self, key: tuple, timeout: float) -> HTTPConnection:
        with self._lock:
            conns = self._idle.get(key)
            conn = conns.pop() if conns else None
            if conn is not None:
                self._n -= 1
                if not conns:
                    del self._idle[key]
        if conn is not None and conn.is_connected:
            conn.timeout = timeout
            return conn
        if conn is not None:
            conn.close()
        scheme, ip, port, host = key
        if scheme == "https":
            # Connect to the checked IP, verify the certificate for the name.
            return WatchedHTTPS(
                ip,
                port,
                timeout=timeout,
                server_hostname=host,
                assert_hostname=host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_bundle,
            )
        return WatchedHTTP(ip, port, timeout=timeout)

    def give(self, key: tuple, conn: HTTPConnection) -> None:
        """Keep a connection whose response was read to the end; close what does not fit."""
        conn.watch = None  # type: ignore[attr-defined]
        evicted: list[HTTPConnection] = []
        with self._lock:
            conns = self._idle.get(key, [])
            if len(conns) >= self.per_key or self.max_idle == 0:
                evicted.append(conn)
            else:
                conns.append(conn)
                self._idle[key] = conns
                self._idle.move_to_end(key)
                self._n += 1
            while self._n > self.max_idle:
                old_key, old = next(iter(self._idle.items()))
                evicted.append(old.pop(0))
                self._n -= 1
                if not old:
                    del self._idle[old_key]
        for c in evicted:
            c.close()

    def idle(self) -> int:
        return self._n

    def close(self) -> None:
        with self._lock:
            conns = [c for cs in self._idle.values() for c in cs]
            self._idle.clear()
            self._n = 0
        for c in conns:
            c.close()


def fd_limit() -> int:
    """This process's open-file limit, its soft limit first raised as far as allowed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def idle_budget(max_idle: int, threads: int) -> int:
    """How many idle connections fit beside the files already open and one socket per
    thread, with a margin for the rest of the process; at least 0."""
    import os

    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    free = fd_limit() - in_use - threads - 32
    if free < 0:
        raise ResourceExhausted(
            f"{fd_limit()} open files allowed, {in_use} open, {threads} threads wanted: "
            "raise the limit (ulimit -n) or lower --threads"
        )
    return max(0, min(max_idle, free // 2))
