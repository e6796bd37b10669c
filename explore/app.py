"""`openwit explore`: the web app over one OpenWIT output (a shards folder).

A JSON API (`/api/...`) the page in `static/` calls, and the page itself. Every request value
is either bound as a SQL parameter or looked up in a fixed table (catalog.py); the only files
served are the three static ones by name and images found through the catalog, so no request
can name a path.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from openwit.explore.catalog import FACETS, BadRequest, Catalog, Sources
from openwit.explore.images import Images, media_type
from openwit.explore.index import Searcher

STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
_PAIR_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass
class Filters:
    """What a page filters the candidates by, as query parameters; empty means unset."""

    outcome: str = ""
    entry: str = ""
    lang: str = ""
    host: str = ""
    contaminated_by: str = ""
    shard: str = ""
    text: str = ""

    def given(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class ExploreConfig:
    shards: str
    crawl: str | None = None
    queries: str | None = None
    index: str | None = None  # default: <shards>/_index when it is there


def _static(name: str) -> bytes:
    return resources.files("openwit.explore").joinpath("static", name).read_bytes()


def create_app(cfg: ExploreConfig) -> FastAPI:
    catalog = Catalog(Sources.find(cfg.shards, crawl=cfg.crawl, queries=cfg.queries))
    images = Images(catalog)
    index_dir = Path(cfg.index) if cfg.index else Path(cfg.shards) / "_index"
    searcher = Searcher(index_dir) if (index_dir / "meta.json").is_file() else None
    encoder: dict = {}
    lock = threading.Lock()
    app = FastAPI(title="OpenWIT explore", docs_url=None, redoc_url=None)

    def text_vector(q: str):
        with lock:  # one model, loaded on the first search
            if "m" not in encoder:
                from openwit.pipeline.shards.model_score import ModelScorer

                encoder["m"] = ModelScorer(searcher.meta["checkpoint"])
            return encoder["m"].text_embeddings([q])[0]

    def pair_id_or_404(pair_id: str) -> str:
        if not _PAIR_ID.fullmatch(pair_id):
            raise HTTPException(404, "no such sample")
        return pair_id

    def hits(found: list[tuple[str, float]]) -> list[dict]:
        rows = catalog.by_pair_ids([p for p, _ in found])
        return [{**rows[p], "score": round(s, 4)} for p, s in found if p in rows]

    @app.exception_handler(BadRequest)
    async def bad_request(_request, exc: BadRequest):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "not found")
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/api/info")
    def info() -> dict:
        return {
            "shards": cfg.shards,
            **catalog.counts(),
            "search": searcher is not None,
            "index": searcher.meta if searcher else None,
            "balance_t": catalog.src.t,
            "facets": list(FACETS),
        }

    @app.get("/api/facets")
    def facets(filters: Annotated[Filters, Depends()]) -> dict:
        return catalog.facets(filters.given())

    @app.get("/api/samples")
    def samples(
        filters: Annotated[Filters, Depends()],
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 60,
    ) -> dict:
        return catalog.samples(filters.given(), offset, limit)

    @app.get("/api/sample/{pair_id}")
    def sample(pair_id: str) -> dict:
        row = catalog.sample(pair_id_or_404(pair_id))
        if row is None:
            raise HTTPException(404, "no such sample")
        row["indexed"] = searcher is not None and pair_id in searcher.position
        return row

    @app.get("/api/image/{pair_id}")
    def image(pair_id: str) -> Response:
        data = images.get(pair_id_or_404(pair_id))
        if not data:
            raise HTTPException(404, "no image for this sample (never downloaded)")
        return Response(
            data, media_type=media_type(data), headers={"Cache-Control": "max-age=3600"}
        )

    @app.get("/api/search")
    def search(q: Annotated[str, Query(min_length=1, max_length=500)], k: int = 40) -> dict:
        if searcher is None:
            raise HTTPException(404, "no index: run `openwit index --shards DIR --checkpoint C`")
        return {"query": q, "rows": hits(searcher.search(text_vector(q), min(k, 200)))}

    @app.get("/api/neighbours/{pair_id}")
    def neighbours(pair_id: str, k: int = 40) -> dict:
        if searcher is None:
            raise HTTPException(404, "no index: run `openwit index --shards DIR --checkpoint C`")
        found = searcher.neighbours(pair_id_or_404(pair_id), min(k, 200))
        if found is None:
            raise HTTPException(404, "not in the index (only kept samples are embedded)")
        return {"pair_id": pair_id, "rows": hits(found)}

    @app.get("/api/entries")
    def entries(
        sort: str = "matched",
        order: str = "desc",
        q: str = "",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict:
        return catalog.entry_table(sort, order, offset, limit, q)

    return app


def serve(cfg: ExploreConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")


@contextmanager
def running(cfg: ExploreConfig) -> Iterator[str]:
    """The app on 127.0.0.1 at a free port in a background thread; yields its base URL and
    stops it on exit (tests, benchmarks, notebooks)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(cfg), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"openwit explore on {cfg.shards} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
