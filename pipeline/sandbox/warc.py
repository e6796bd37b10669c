"""A deterministic WARC/1.0 writer: one gzip member per record, as Common Crawl writes them.

warcio stamps the wall-clock date and random record ids; the sandbox must be byte-identical
for a seed, so the ids, dates and gzip headers here all come from the caller.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import uuid
from typing import BinaryIO


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


class WarcWriter:
    def __init__(self, f: BinaryIO, rng_bytes):
        self.f = f
        self._rng_bytes = rng_bytes  # a callable n -> n bytes, seeded by the caller

    def _id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(bytes=self._rng_bytes(16), version=4)}>"

    def record(self, warc_type: str, date: str, block: bytes, headers: dict[str, str]) -> str:
        rid = self._id()
        head = {
            "WARC-Type": warc_type,
            "WARC-Date": date,
            "WARC-Record-ID": rid,
            **headers,
            "WARC-Block-Digest": _digest(block),
            "Content-Length": str(len(block)),
        }
        text = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
        self.f.write(gzip.compress(text.encode() + block + b"\r\n\r\n", compresslevel=6, mtime=0))
        return rid

    def warcinfo(self, date: str, filename: str, info: dict[str, str]) -> None:
        block = "".join(f"{k}: {v}\r\n" for k, v in info.items()).encode()
        self.record(
            "warcinfo",
            date,
            block,
            {"WARC-Filename": filename, "Content-Type": "application/warc-fields"},
        )

    def exchange(
        self,
        date: str,
        url: str,
        status: str,
        content_type: str,
        body: bytes,
        ip: str = "127.0.0.1",
    ) -> None:
        """A request record and its response record, as a crawler would have stored them."""
        host = url.split("/")[2]
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: SandboxBot/1.0\r\n"
            "Accept: text/html\r\n\r\n"
        ).encode()
        req_id = self.record(
            "request",
            date,
            req,
            {"WARC-Target-URI": url, "Content-Type": "application/http; msgtype=request"},
        )
        http_head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nServer: sandbox\r\n\r\n"
        ).encode()
        self.record(
            "response",
            date,
            http_head + body,
            {
                "WARC-Target-URI": url,
                "WARC-Concurrent-To": req_id,
                "WARC-IP-Address": ip,
                "Content-Type": "application/http; msgtype=response",
                "WARC-Payload-Digest": _digest(body),
                "WARC-Identified-Payload-Type": content_type.split(";")[0],
            },
        )
