"""`openwit sandbox build|serve`: the local sandbox web that stands in for the internet."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openwit.cli.ui import console
from openwit.cli.ui import fail as _fail
from openwit.cli.ui import table as _table

if TYPE_CHECKING:
    from openwit.pipeline.sandbox.config import SandboxConfig

sandbox_app = typer.Typer(
    help="The local sandbox web that stands in for the internet.", no_args_is_help=True
)


@sandbox_app.command("build")
def sandbox_build(
    out: Annotated[Path, typer.Option(help="Where to write the sandbox.")] = Path("data/sandbox"),
    seed: Annotated[int, typer.Option(help="One seed, one sandbox, byte for byte.")] = 0,
    pages: Annotated[int, typer.Option(help="Number of web pages (~9.5 images each).")] = 3000,
    clipart_dir: Annotated[
        Path | None, typer.Option(help="Debian openclipart root (default: Debian's folder).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if an identical build exists.")] = False,
) -> None:
    """Generate the sandbox web: WARC pages, image plan, evaluation sets, ground truth."""
    from openwit.pipeline.sandbox.build import is_built
    from openwit.pipeline.sandbox.config import SandboxConfig

    cfg = SandboxConfig(seed=seed, n_pages=pages)
    if clipart_dir is not None:
        cfg = replace(cfg, clipart_dir=str(clipart_dir))
    if not force and is_built(out, cfg):
        console.print(f"{out} is already built with this config; nothing to do (--force rebuilds)")
        return
    build_sandbox(out, cfg)


def build_sandbox(out: Path, cfg: SandboxConfig) -> None:
    from openwit.pipeline.sandbox.build import build

    clipart_dir = Path(cfg.clipart_dir)
    if not (clipart_dir / "png").is_dir():
        console.print(
            f"[yellow]note:[/yellow] no openclipart at {clipart_dir}: procedural images "
            "only (`make install` adds Debian's openclipart-png/-svg)"
        )
    started = time.time()
    with console.status("building the sandbox web…"):
        summary = build(out, cfg)
    console.print(
        _table(
            f"sandbox built in {time.time() - started:.1f}s → {out}",
            {
                "hosts": summary["hosts"],
                "pages": summary["pages"],
                "candidate pairs": summary["candidates"],
                "image URLs": summary["image_urls"],
                **{f"eval/{k}": v for k, v in summary["eval"].items()},
            },
        )
    )
    console.print(f"ground truth: {out}/truth/summary.json")


@sandbox_app.command("serve")
def sandbox_serve(
    root: Annotated[Path, typer.Option(help="A built sandbox.")] = Path("data/sandbox"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    slow_seconds: Annotated[
        float, typer.Option(help="Delay of the planted slow responses.")
    ] = 15.0,
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds; 0 = until Ctrl-C.")
    ] = 0.0,
) -> None:
    """Serve the sandbox on loopback; writes the resolve map to <root>/serve.json."""
    from openwit.pipeline.sandbox.server import SandboxServer

    try:
        server = SandboxServer(root, port=port, slow_seconds=slow_seconds)
    except FileNotFoundError as e:
        _fail(str(e))
    info = server.start()
    info_path = server.write_info()
    console.print(
        f"serving {len(info['resolve'])} hosts at {info['url']} "
        f"(resolve map: {info_path}; log: {info['log']}); Ctrl-C stops"
    )
    try:
        deadline = time.time() + duration if duration > 0 else float("inf")
        while time.time() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        info_path.unlink(missing_ok=True)
        console.print("sandbox server stopped")


@sandbox_app.command("fingerprints")
def sandbox_fingerprints(
    rows: Annotated[str, typer.Option(help="How many rows: 1M, 10M, 250000…")],
    out: Annotated[Path, typer.Option(help="Folder to write _scan/ and _truth/ into.")] = Path(
        "data/fingerprints"
    ),
    part_rows: Annotated[int, typer.Option(help="Rows per scan part.")] = 50_000,
    seed: Annotated[int, typer.Option(help="One seed, one set of rows.")] = 0,
) -> None:
    """Synthetic scan-format rows with planted duplicates, to run the shards job's decision at
    millions of rows without a crawl (python -m bench.shards_scale uses them)."""
    from tqdm import tqdm

    from openwit.infra.plan import parse_count
    from openwit.pipeline.sandbox.fingerprints import FingerprintsConfig, parts, write_part

    try:
        cfg = FingerprintsConfig(rows=parse_count(rows), part_rows=part_rows, seed=seed)
    except ValueError as e:
        _fail(f"--rows {e}")
    for p in tqdm(range(parts(cfg)), desc="fingerprints", unit="part"):
        write_part(cfg, out, p)
    console.print(f"{cfg.rows:,} rows in {parts(cfg)} parts under {out}/_scan (truth: _truth/)")


def ensure_sandbox(root: Path) -> str:
    """Build the sandbox if it is missing or of an older format; returns its build's digest."""
    from openwit.pipeline.sandbox.build import FORMAT_VERSION
    from openwit.pipeline.sandbox.config import SandboxConfig

    meta = root / "sandbox.json"
    if not meta.is_file():
        console.print(f"no sandbox at {root}: building it first")
        build_sandbox(root, SandboxConfig())
    elif (saved := json.loads(meta.read_text())).get("format_version") != FORMAT_VERSION:
        console.print(
            f"{root} is sandbox format {saved.get('format_version')} and this OpenWIT serves "
            f"format {FORMAT_VERSION}: rebuilding it with its own settings"
        )
        build_sandbox(root, SandboxConfig.from_json(saved["config"]))
    return hashlib.sha256(meta.read_bytes()).hexdigest()[:16]


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
