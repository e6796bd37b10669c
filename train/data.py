"""Stream (image, text) batches from WebDataset shards: local folder, brace pattern or fsspec URL.

Each data-loader worker of each rank owns a slot; every pass over the data, the shards are
dealt to slots in a seeded order, so the stream never ends (resampling) and an epoch is a
number of samples, not a pass. A seeded shuffle buffer mixes samples, and each sample's
augmentation is seeded by (seed, epoch, key): the stream depends on nothing but its settings.
That makes resuming exact: batch i of an epoch always comes from worker i % workers, so a
resumed epoch skips the raw bytes of the batches already trained on, before any decoding.
Corrupt samples are skipped and counted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from openwit.train import tar_stream
from openwit.train.augment import CropResize
from openwit.train.config import DataConfig
from openwit.train.text import FastTokenizer

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


def _expand_braces(pattern: str) -> list[str]:
    import braceexpand

    return list(braceexpand.braceexpand(pattern))


def shard_list(spec: str) -> list[str]:
    """The shards named by a folder, a brace pattern (`dir/{00000..00009}.tar`), a glob, or
    the same as an fsspec URL (s3://…)."""
    if "{" in spec:
        return _expand_braces(spec)
    if "://" in spec:
        import fsspec

        fs, root = fsspec.core.url_to_fs(spec)
        proto = spec.split("://", 1)[0]
        pattern = root if root.endswith(".tar") or "*" in root else f"{root.rstrip('/')}/*.tar"
        return [f"{proto}://{p}" for p in sorted(fs.glob(pattern))]
    path = Path(spec)
    found = sorted(str(p) for p in (path.glob("*.tar") if path.is_dir() else Path().glob(spec)))
    if not found:
        raise FileNotFoundError(f"no .tar shards at {spec}; run `make shards` first")
    return found


def fingerprint(shards: list[str], samples: int) -> str:
    """Names what a run reads: shards rebuilt with the same names differ in their bytes."""
    h = hashlib.blake2b(digest_size=4)
    for s in shards:
        size = os.path.getsize(s) if "://" not in s and os.path.isfile(s) else -1
        h.update(f"{s.rsplit('/', 1)[-1]}:{size}\n".encode())
    return f"{len(shards)} shards, {samples} samples, {h.hexdigest()}"


def dataset_size(shards: list[str]) -> int:
    """Samples in `shards`, from the sizes.json beside them (written by `make shards`)."""
    from openwit.core.storage import open_input

    folder = shards[0].rsplit("/", 1)[0]
    try:
        with open_input(f"{folder}/sizes.json") as f:
            sizes = json.load(f)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{folder}/sizes.json not found: give --train-samples, or shards made by make shards"
        ) from e
    return sum(int(sizes[s.rsplit("/", 1)[1]]) for s in shards)


def _samples(url: str) -> Iterator[dict]:
    """Raw samples of one tar: {"__key__", ext: bytes, …}; a broken tar ends its stream."""
    from openwit.core.storage import open_input

    current: dict = {}
    try:
        with open_input(url) as f:
            for name, data in tar_stream.members(f):
                if "." not in name.rsplit("/", 1)[-1]:
                    continue
                key, ext = name.split(".", 1)
                if current and current["__key__"] != key:
                    yield current
                    current = {}
                current["__key__"] = key
                current[ext.lower()] = data
    except (OSError, ValueError):
        current["__broken__"] = True
    if current:
        yield current


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


class ShardStream(torch.utils.data.IterableDataset):
    """Endless batches for one epoch of one rank; the trainer decides when the epoch ends."""

    def __init__(
        self,
        shards,
        cfg: DataConfig,
        transform,
        tokenizer,
        epoch: int = 0,
        skip_batches: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        self.shards, self.cfg, self.transform, self.tokenizer = shards, cfg, transform, tokenizer
        self.epoch, self.skip_batches, self.rank, self.world = epoch, skip_batches, rank, world
        self.fast = CropResize.from_transform(transform)
        self.tokenizer = FastTokenizer.wrap(tokenizer)

    def _raw(self, slot: int, slots: int) -> Iterator[dict]:
        for cycle in range(1 << 30):
            order = np.random.default_rng([self.cfg.seed, self.epoch, cycle]).permutation(
                len(self.shards)
            )
            dealt = np.resize(order, max(slots, len(order)))  # fewer shards than slots: reuse
            for i in dealt[slot::slots]:
                yield from _samples(self.shards[i])

    def _shuffled(self, raw: Iterator[dict], slot: int) -> Iterator[dict]:
        rng = np.random.default_rng([self.cfg.seed, self.epoch, slot, 7])  # per stream
        buf: list[dict] = []
        for s in raw:
            if len(buf) < self.cfg.shuffle_buffer:
                buf.append(s)
                continue
            i = int(rng.integers(len(buf)))
            buf[i], s = s, buf[i]
            yield s

    def _decode(self, s: dict):
        ext = next((e for e in IMAGE_EXTS if e in s), None)
        if ext is None or "txt" not in s or s.get("__broken__"):
            return None
        try:
            with Image.open(io.BytesIO(s[ext])) as im:
                if self.cfg.decode_size:  # JPEG's DCT scaling: decode 1/2, 1/4 size for free
                    im.draft("RGB", (self.cfg.decode_size, self.cfg.decode_size))
                im = im.convert("RGB")
            seed = _seed(self.cfg.seed, self.epoch, s["__key__"])
            if self.fast is not None:
                image = self.fast(im, np.random.default_rng(seed))
            else:  # the CPU generator alone: torch.manual_seed also walks every device
                torch.default_generator.manual_seed(seed % (1 << 63))
                image = self.transform(im)
            text = self.tokenizer([s["txt"].decode("utf-8")])[0]
        except Exception:  # noqa: BLE001 - one bad sample must not stop training
            return None
        return image, text

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        # The loader asks worker 0 first; after skipping k batches, the next one belongs to
        # the stream of worker k % workers, so each worker takes over that stream's role.
        role = (worker + self.skip_batches) % workers
        slot, slots = self.rank * workers + role, self.world * workers
        skip = len(range(role, self.skip_batches, workers)) * self.cfg.batch_size
        stream = self._shuffled(self._raw(slot, slots), slot)
        for _ in range(skip):  # resume: the batches already trained on, never decoded
            next(stream)
        skipped = 0
        images, texts = [], []
        for s in stream:
            item = self._decode(s)
            if item is None:
                skipped += 1
                continue
            images.append(item[0])
            texts.append(item[1])
            if len(images) == self.cfg.batch_size:
                batch = torch.stack(images)
                if self.fast is not None:
                    batch = self.fast.normalize(batch)
                yield batch, torch.stack(texts), role, skipped
                images, texts = [], []


def loader(
    shards,
    cfg: DataConfig,
    transform,
    tokenizer,
    epoch: int,
    skip_batches: int,
    rank: int = 0,
    world: int = 1,
) -> torch.utils.data.DataLoader:
    ds = ShardStream(shards, cfg, transform, tokenizer, epoch, skip_batches, rank, world)
    return torch.utils.data.DataLoader(
        ds,
        batch_size=None,
        num_workers=cfg.workers,
        persistent_workers=False,
        prefetch_factor=4 if cfg.workers else None,
    )
