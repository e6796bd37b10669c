"""Serve the sandbox web on loopback: every host name, robots.txt, images and planted faults.

One threaded HTTP server on 127.0.0.1 answers all `*.sandbox.test` hosts (a crawler reaches
them through the resolve map in `serve.json`, like curl's --resolve). A second listener on
127.0.0.2, the target of the planted SSRF redirects, only logs and refuses: any request in
its log is a request that a crawler's address guard should have stopped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq

from openwit.core.io import atomic_write_text
from openwit.pipeline.sandbox import assets

_TOKEN = re.compile(r"([0-9a-f]{12})")
_ROBOTS = {
    "allow_all": "User-agent: *\nAllow: /\n",
    "disallow_all": "User-agent: *\nDisallow: /\n",
    "disallow_openwit": "User-agent: OpenWIT\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
    "disallow_private": "User-agent: *\nDisallow: /private/\n",
}
REDIRECT_HOPS = 3


class Sandbox:
    """What the handlers read: the plan's image rows, the host rules, the render cache."""

    def __init__(self, root: Path, clipart_dir: Path, slow_seconds: float, log_path: Path):
        self.root, self.clipart_dir, self.slow_seconds = root, clipart_dir, slow_seconds
        rows = pq.read_table(root / "truth" / "images.parquet").to_pylist()
        self.by_url = {(r["host"], r["path"]): r for r in rows}
        self.by_token = {_TOKEN.search(r["path"]).group(1): r for r in rows}
        self.robots = {
            r["host"]: r["robots"]
            for r in pq.read_table(root / "truth" / "hosts.parquet").to_pylist()
        }
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.port = 0

    def log(self, entry: dict) -> None:
        with self.lock:
            if self.log_file.closed:  # a kept-alive connection outlived the server
                return
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    def count_hit(self, url: str) -> int:
        with self.lock:
            self.hits[url] = self.hits.get(url, 0) + 1
            return self.hits[url]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Sandbox per server, lives as long
    def body(self, token: str, fmt: str, scale: float) -> bytes:
        row = self.by_token[token]
        img = assets.image(row, self.root, self.clipart_dir)
        if scale != 1.0:
            img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))))
        return assets.encode(img, fmt, row["quality"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxWeb/1.0"
    sandbox: Sandbox
    trap = False

    def log_message(self, format: str, *args) -> None:  # the JSONL log replaces stderr lines
        pass

    def _send(
        self,
        status: int,
        body: bytes = b"",
        ctype: str = "text/plain",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._log(status)  # before the client can see the answer, so a reader never misses it
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        self._log(0)
        # SO_LINGER with a zero timeout makes close() send RST: a connection reset by peer.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _log(self, status: int) -> None:
        self._logged = True
        self.sandbox.log(
            {
                "t": round(self._started, 3),
                "listener": "trap" if self.trap else "main",
                "client": self.client_address[0],
                "host": self._host,
                "path": self.path,
                "status": status,
            }
        )

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._started, self._logged = time.time(), False
        self._host = host = (self.headers.get("Host") or "").split(":")[0].lower()
        try:
            if self.trap:
                self._send(403, b"address not allowed\n")
            else:
                self._route(host)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except BaseException:
            if not self._logged:  # a crash still leaves its line (and handle_error the trace)
                self._log(0)
            raise

    def _route(self, host: str) -> None:
        sb = self.sandbox
        if host not in sb.robots:
            return self._send(404, b"unknown host\n")
        parts = urlsplit(self.path)
        if parts.path == "/robots.txt":
            rule = sb.robots[host]
            if rule == "missing":
                return self._send(404, b"no robots.txt\n")
            return self._send(200, _ROBOTS[rule].encode())
        m = re.fullmatch(r"/(redirect|loop)/([0-9a-f]{12})/(\w+)", parts.path)
        if m:
            return self._hop(host, m.group(1), m.group(2), m.group(3))
        row = sb.by_url.get((host, self.path))
        if row is not None:
            return self._image(row)
        return self._variant(host, parts)

    def _variant(self, host: str, parts) -> None:
        """A srcset thumbnail (`-320w`, `&w=320`) or a <picture> source in another format."""
        m = _TOKEN.search(self.path)
        row = self.sandbox.by_token.get(m.group(1)) if m else None
        if row is None or row["host"] != host:
            return self._send(404, b"not found\n")
        thumb = "-320w." in parts.path or parse_qs(parts.query).get("w") == ["320"]
        ext = parts.path.rsplit(".", 1)[-1] if "." in parts.path else ""
        fmt = {"jpg": "jpeg", "png": "png", "webp": "webp"}.get(ext, row["fmt"])
        body = self.sandbox.body(m.group(1), fmt, 320 / max(row["width"], 320) if thumb else 1.0)
        self._send(200, body, assets.MIME[fmt])

    def _hop(self, host: str, kind: str, token: str, step: str) -> None:
        row = self.sandbox.by_token.get(token)
        if row is None:
            return self._send(404, b"not found\n")
        if kind == "loop":
            nxt = "b" if step == "a" else "a"
            return self._send(302, headers={"Location": f"/loop/{token}/{nxt}"})
        n = int(step) if step.isdigit() else REDIRECT_HOPS
        if n < REDIRECT_HOPS:
            return self._send(
                307 if n % 2 else 302,
                headers={"Location": f"http://{host}/redirect/{token}/{n + 1}"},
            )
        self._send(200, self.sandbox.body(token, row["fmt"], 1.0), assets.MIME[row["fmt"]])

    def _image(self, row: dict) -> None:
        fault, token = row["fault"], _TOKEN.search(row["path"]).group(1)
        sb = self.sandbox
        if fault in ("http_404", "http_500"):
            return self._send(int(fault[-3:]), b"<html><body>error</body></html>", "text/html")
        if fault == "reset":
            return self._reset()
        if fault == "slow":
            time.sleep(sb.slow_seconds)
        if fault in ("retry_429", "retry_503") and sb.count_hit(row["url"]) == 1:
            return self._send(int(fault[-3:]), b"slow down\n", headers={"Retry-After": "1"})
        if fault == "redirect_chain":
            cdn = f"cdn{int(token, 16) % 4}.sandbox.test"
            return self._send(301, headers={"Location": f"http://{cdn}/redirect/{token}/1"})
        if fault == "redirect_loop":
            return self._send(302, headers={"Location": f"/loop/{token}/a"})
        if fault == "redirect_ssrf":
            return self._send(
                302, headers={"Location": f"http://127.0.0.2:{sb.port}/images/{token}.jpg"}
            )
        if fault == "not_image":
            return self._send(
                200, b"<html><body><p>This is a web page.</p></body></html>", "text/html"
            )
        if fault == "bomb":
            return self._send(200, assets.bomb_png(), "image/png")
        body = sb.body(token, row["fmt"], 1.0)
        if fault == "truncated":
            body = assets.truncate(body)
        elif fault == "corrupt":
            body = assets.corrupt(body, row["transform_seed"])
        headers = {"X-Robots-Tag": fault} if fault in ("noai", "noimageai") else {}
        self._send(200, body, assets.MIME[row["fmt"]], headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    sandbox: Sandbox

    def handle_error(self, request, client_address) -> None:
        # Into the request log, not stderr: a test can then assert the server never failed.
        import traceback

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        self.sandbox.log(
            {
                "t": round(time.time(), 3),
                "listener": "error",
                "client": client_address[0],
                "error": "".join(traceback.format_exception(exc))[-2000:],
            }
        )


class SandboxServer:
    """Start with `with SandboxServer(root) as info:`; `info` is what serve.json holds."""

    def __init__(
        self,
        root: str | Path,
        port: int = 0,
        slow_seconds: float = 15.0,
        log_path: str | Path | None = None,
        clipart_dir: str | Path | None = None,
        trap_host: str = "127.0.0.2",
    ):
        self.root = Path(root)
        meta_path = self.root / "sandbox.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"no sandbox at {self.root}: run `openwit sandbox build` first")
        meta = json.loads(meta_path.read_text())
        clipart_dir = Path(clipart_dir or meta["config"]["clipart_dir"])
        self.log_path = Path(log_path or self.root / "server_log.jsonl")
        self.sandbox = Sandbox(self.root, clipart_dir, slow_seconds, self.log_path)
        self.port, self.trap_host = port, trap_host
        self._servers: list[_Server] = []
        self.info: dict = {}

    def start(self) -> dict:
        main = _Server(
            ("127.0.0.1", self.port), type("Main", (Handler,), {"sandbox": self.sandbox})
        )
        main.sandbox = self.sandbox
        self.sandbox.port = port = main.server_address[1]
        self._servers.append(main)
        trap = None
        try:
            h = type("Trap", (Handler,), {"sandbox": self.sandbox, "trap": True})
            trap_server = _Server((self.trap_host, port), h)
            trap_server.sandbox = self.sandbox
            self._servers.append(trap_server)
            trap = f"{self.trap_host}:{port}"
        except OSError:  # that loopback alias is unavailable here; the guard tests still run
            pass
        for srv in self._servers:
            threading.Thread(
                target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
            ).start()
        hosts = sorted(self.sandbox.robots)
        self.info = {
            "url": f"http://127.0.0.1:{port}",
            "port": port,
            "resolve": {f"{h}:80": f"127.0.0.1:{port}" for h in hosts},
            "allow": [f"127.0.0.1:{port}"],
            "trap": trap,
            "log": str(self.log_path),
            "root": str(self.root),
            "slow_seconds": self.sandbox.slow_seconds,
        }
        return self.info

    def write_info(self, path: str | Path | None = None) -> Path:
        path = Path(path or self.root / "serve.json")
        atomic_write_text(path, json.dumps(self.info, indent=2) + "\n")
        return path

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers.clear()
        self.sandbox.log_file.close()

    def __enter__(self) -> dict:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def read_log(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def serve_in_subprocess(
    root: str | Path,
    slow_seconds: float = 15.0,
    log_path: str | Path | None = None,
    startup_timeout: float = 60.0,
):
    """The server in its own process (so it does not share a GIL with the crawler); yields
    the info that `serve.json` holds, and stops the process on exit."""
    info_path = Path(tempfile.mkdtemp(prefix="openwit-serve-")) / "serve.json"
    cmd = [
        sys.executable,
        "-m",
        "openwit.pipeline.sandbox.server",
        "--root",
        str(root),
        "--info",
        str(info_path),
        "--slow-seconds",
        str(slow_seconds),
    ] + (["--log", str(log_path)] if log_path else [])
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.time() + startup_timeout
        while not info_path.exists():
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the sandbox server did not start (exit code {proc.poll()})")
            time.sleep(0.05)
        yield json.loads(info_path.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(info_path.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Serve a built sandbox (see `openwit sandbox serve`).")
    ap.add_argument("--root", required=True)
    ap.add_argument("--info", help="where to write the resolve map (default <root>/serve.json)")
    ap.add_argument("--log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--slow-seconds", type=float, default=15.0)
    args = ap.parse_args(argv)
    server = SandboxServer(
        args.root, port=args.port, slow_seconds=args.slow_seconds, log_path=args.log
    )
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    info_path = server.write_info(args.info)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        info_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
