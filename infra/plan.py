"""The plan for a full corpus: work, core-hours, GPU-hours, storage, cost and wall-clock.

Work per stage follows from the target count backwards through the yields (what fraction of
each stage's input survives it). Speeds are the per-core rates `make bench` measured on this
machine (bench/results/*.json), else those of a reference `make bench` run shipped here. The
trainer's GPU time is FLOPs: (samples seen) x (training FLOPs per sample of the named model,
counted by torch on a forward pass, x3 for backward) / (GPU peak x utilisation). Every number
that is an assumption, not a measurement, is labelled so in the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

RESULTS = Path("bench/results")  # where `make bench` writes, from the working directory

# Per-core rates of a reference `make bench` on a 2-core x86_64 machine, for a plan made where
# no benchmark has run (an installed package, a laptop); `make bench` here replaces them.
REFERENCE_RATES = {
    "harvest_pages": 1928.0,  # WARC pages parsed, per core-second (bench/harvest.py)
    "match_texts": 74_340.0,  # captions matched against the default list (bench/match.py)
    "download_images": 77.2,  # fetch + validate + resize, CPU-bound on loopback (bench/download)
    "shards_images": 76.8,  # scan + dedup + filter + write (bench/end_to_end.py)
    "decide_rows": 9_460.0,  # the partitioned decision at 10M rows (bench/shards_scale.py)
}
# The partitioned decision's intermediate tables per scanned row (bench/shards_scale.py).
REFERENCE_DECIDE_BYTES_PER_ROW = 1020.0
YIELDS = {  # fraction of a stage's input that survives it: (value, where it comes from)
    "pairs_per_page": (9.5, "sandbox, measured (real pages: set yours)"),
    "matched": (0.5, "assumed: share of alt texts matching a query on the web"),
    "selected": (0.25, "MetaCLIP: 400M balanced from a 1.6B matched pool (t=20k)"),
    "downloaded": (0.7, "assumed: img2dataset-era success rates on old URL lists, 60-90%"),
    "kept": (0.73, "sandbox, measured: filters + dedup + decontamination"),
}
GPUS = {  # dense bf16 peak FLOP/s, from the vendors' data sheets
    "A100": 312e12,
    "H100": 989e12,
    "V100": 125e12,  # fp16 tensor cores (CLIP's hardware)
}
CLIP_PAPER = {
    "RN50x64": "592 V100 x 18 days = 255,744 V100-hours",
    "ViT-L/14": "256 V100 x 12 days = 73,728 V100-hours",
}


@dataclass
class PlanConfig:
    pairs: int = 400_000_000
    model: str = "ViT-B-32"
    epochs: float = 32.0  # CLIP: 32 epochs over 400M
    gpu: str = "A100"
    mfu: float = 0.2  # assumed model FLOP utilisation
    cpus: int = 512
    gpus: int = 64
    cpu_hour: float = 0.04  # $ per core-hour (assumed: cloud spot-ish)
    gpu_hour: float = 2.0  # $ per GPU-hour (assumed)
    gb_month: float = 0.023  # $ per GB-month of object storage (S3 standard list price)
    sample_bytes: float = 24_300.0  # shard bytes per sample: 256 px JPEG q95 + text (sandbox)
    page_bytes: float = 33_000.0  # compressed WARC bytes per page (CC: ~3B pages in ~100 TiB)
    yields: dict[str, float] = field(default_factory=dict)
    results: Path = RESULTS


def parse_count(text: str) -> int:
    """'400M', '1.6B', '20k' or a plain integer."""
    scale = {"k": 1e3, "m": 1e6, "b": 1e9}.get(text[-1:].lower())
    try:
        return int(float(text[:-1]) * scale) if scale else int(text)
    except ValueError as e:
        raise ValueError(f"{text!r} is not a count: write e.g. 400M, 1.6B, 20k or 400000000") from e


def measured_rates(results: Path) -> dict[str, tuple[float, str]]:
    """Per-core rates: from bench/results when `make bench` ran here, else the reference."""

    def load(name: str) -> dict | None:
        path = results / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    rates = {k: (v, "reference run") for k, v in REFERENCE_RATES.items()}
    if h := load("harvest"):
        rates["harvest_pages"] = (h["ours"]["pages_per_s"], f"bench {h['date'][:10]}")
    if m := load("match"):
        rates["match_texts"] = (m["texts_per_s"]["ours"], f"bench {m['date'][:10]}")
    if d := load("download"):
        per_core = d["images_per_s"]["ours"] / d["processes"]
        rates["download_images"] = (per_core, f"bench {d['date'][:10]}")
    if e := load("end_to_end"):
        s = e["stages"]["shards"]
        scanned = e.get("scanned_images")
        if scanned:
            per_core = scanned / s["seconds"] / e["machine"]["cores"]
            rates["shards_images"] = (per_core, f"bench {e['date'][:10]}")
    if d := load("shards_scale"):
        big = max(d["sizes"], key=lambda x: x["rows"])
        per_core = big["rows"] / big["seconds"] / d["machine"]["cores"]
        rates["decide_rows"] = (per_core, f"bench {d['date'][:10]}, {big['rows']:,} rows")
    return rates


def decide_bytes_per_row(results: Path) -> float:
    path = results / "shards_scale.json"
    if not path.is_file():
        return REFERENCE_DECIDE_BYTES_PER_ROW
    big = max(json.loads(path.read_text())["sizes"], key=lambda x: x["rows"])
    return big["intermediate_bytes"] / big["rows"]


@lru_cache
def train_flops_per_sample(model: str) -> float:
    """Forward FLOPs of one (image, text) pair, counted by torch, x3 for the backward pass."""
    import open_clip
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from openwit.train.model import register

    name = register(model)
    net = open_clip.create_model(name, pretrained=None)
    size = net.visual.image_size
    size = size if isinstance(size, tuple | list) else (size, size)
    image = torch.zeros(1, 3, *size)
    text = torch.zeros(1, open_clip.get_model_config(name)["text_cfg"].get("context_length", 77))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(image, text.long())
    return 3.0 * counter.get_total_flops()


def plan(cfg: PlanConfig) -> dict:
    y = {k: v for k, (v, _) in YIELDS.items()} | cfg.yields
    rates = measured_rates(cfg.results)
    kept = cfg.pairs
    scanned = kept / y["kept"]
    downloads = scanned / y["downloaded"]
    matched = downloads / y["selected"]
    candidates = matched / y["matched"]
    pages = candidates / y["pairs_per_page"]
    core_hours = {
        "harvest": pages / rates["harvest_pages"][0] / 3600,
        "match": candidates / rates["match_texts"][0] / 3600,
        "download": downloads / rates["download_images"][0] / 3600,
        "shards": scanned / rates["shards_images"][0] / 3600,
        # The decision over every scanned row (dedup, placement): linear in rows with the
        # two-band pHash search a run this size uses (docs/scale.md).
        "decide": scanned / rates["decide_rows"][0] / 3600,
    }
    flops = train_flops_per_sample(cfg.model)
    seen = kept * cfg.epochs
    gpu_hours = seen * flops / (GPUS[cfg.gpu] * cfg.mfu) / 3600
    storage_gb = {
        "warc_input": pages * cfg.page_bytes / 1e9,
        "shards": kept * cfg.sample_bytes / 1e9,
        "metadata": candidates * 250 / 1e9,  # ~250 B/candidate of Parquet (sandbox: 7.1 MB/28k)
    }
    # The decision's intermediate tables: local disk for the job's length, not kept.
    scratch_gb = scanned * decide_bytes_per_row(cfg.results) / 1e9
    cpu_total = sum(core_hours.values())
    return {
        "target_pairs": kept,
        "work": {
            "pages": pages,
            "candidates": candidates,
            "matched": matched,
            "downloads": downloads,
            "scanned": scanned,
            "samples_seen": seen,
        },
        "yields": {k: [v, "set by you" if k in cfg.yields else YIELDS[k][1]] for k, v in y.items()},
        "rates_per_core_s": {k: [round(v, 1), src] for k, (v, src) in rates.items()},
        "core_hours": core_hours,
        "train": {
            "model": cfg.model,
            "epochs": cfg.epochs,
            "train_gflops_per_sample": flops / 1e9,
            "gpu": cfg.gpu,
            "mfu": cfg.mfu,
            "gpu_hours": gpu_hours,
            "v100_hours_equivalent": seen * flops / (GPUS["V100"] * cfg.mfu) / 3600,
        },
        "storage_gb": storage_gb,
        "decide_scratch_gb": scratch_gb,
        "cluster": {"cpus": cfg.cpus, "gpus": cfg.gpus},
        "wall_hours": {
            **{k: v / cfg.cpus for k, v in core_hours.items()},
            "train": gpu_hours / cfg.gpus,
        },
        "cost_usd": {
            "cpu": cpu_total * cfg.cpu_hour,
            "gpu": gpu_hours * cfg.gpu_hour,
            "storage_per_month": sum(storage_gb.values()) * cfg.gb_month,
        },
        "clip_paper": CLIP_PAPER,
    }
