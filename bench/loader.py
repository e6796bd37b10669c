"""Loader: samples/s of the trainer's data loader (read shards, shuffle, decode, augment,
tokenize, batch, hand over between processes) vs the raw decode limit: the same JPEGs, already
in memory, decoded (same JPEG draft scale) and resized to the model's input size in a tight loop,
one process per core. Same cores, same model transform size. Writes bench/results/loader.json.
    python -m bench.loader [--shards data/shards] [--batches 40]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tarfile
import time
from multiprocessing import Pool
from pathlib import Path

from PIL import Image

from bench import common
from openwit.train import augment, data
from openwit.train import model as models

MODEL = Path(__file__).resolve().parents[1] / "train" / "configs" / "openwit-tiny.json"


def jpegs(shards: list[str], n: int) -> list[bytes]:
    out = []
    for path in shards:
        with tarfile.open(path) as tar:
            for m in tar:
                if m.name.endswith(".jpg"):
                    out.append(tar.extractfile(m).read())
                    if len(out) == n:
                        return out
    return out


def _decode_resize(args: tuple[list[bytes], int, int]) -> int:
    chunk, draft, size = args
    for b in chunk:
        with Image.open(io.BytesIO(b)) as im:
            im.draft("RGB", (draft, draft))
            im.convert("RGB").resize((size, size), Image.BICUBIC)
    return len(chunk)


def raw_rate(blobs: list[bytes], draft: int, size: int, procs: int) -> float:
    chunks = [(blobs[i::procs], draft, size) for i in range(procs)]
    with Pool(procs) as pool:
        pool.map(_decode_resize, [(c[:20], draft, size) for c, _, _ in chunks])  # warm
        t = time.perf_counter()
        n = sum(pool.map(_decode_resize, chunks))
        return n / (time.perf_counter() - t)


def loader_rate(shards: list[str], batch: int, batches: int, workers: int, warm: int) -> float:
    _, train_tf, _, tok = models.create(str(MODEL))
    train_tf = augment.square_crop(train_tf)  # the trainer's default crop
    size = train_tf.transforms[0].size[0]
    cfg = data.DataConfig(batch_size=batch, workers=workers, decode_size=2 * size)
    it = iter(data.loader(shards, cfg, train_tf, tok, epoch=0, skip_batches=0))
    for _ in range(warm):
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", default="data/shards")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--warm", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default="bench/results/loader.json")
    args = ap.parse_args()
    shards = data.shard_list(args.shards)
    _, train_tf, _, _ = models.create(str(MODEL))
    size = train_tf.transforms[0].size[0]
    n = (args.batches + args.warm) * args.batch_size
    blobs = jpegs(shards, min(n, data.dataset_size(shards)))
    ours, raw = [], []
    for _ in range(args.repeats):
        ours.append(loader_rate(shards, args.batch_size, args.batches, args.workers, args.warm))
        raw.append(raw_rate(blobs, 2 * size, size, args.workers))
    ours_r, raw_r = statistics.median(ours), statistics.median(raw)
    result = {
        "benchmark": "training data loader vs raw decode + resize",
        **common.stamp(),
        "model_input": size,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "samples_per_s": {"loader": round(ours_r, 1), "raw_decode_resize": round(raw_r, 1)},
        "runs": {"loader": [round(x, 1) for x in ours], "raw": [round(x, 1) for x in raw]},
        "ratio": round(ours_r / raw_r, 3),
        "goal": 0.9,
        "met": ours_r >= 0.9 * raw_r,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
