"""The shard stream: what a loader must promise for exact resumes and honest epochs."""

import io
import json
import tarfile

import torch

from openwit.train import data
from openwit.train import model as models


def setup(shards, workers=2, batch=8):
    _, tf, _, tok = models.create("openwit-tiny")
    cfg = data.DataConfig(batch_size=batch, workers=workers, shuffle_buffer=40, seed=3)
    return data.shard_list(str(shards)), cfg, tf, tok


def take(loader, n):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_lists_and_sizes(sharded):
    out, summary = sharded
    shards = data.shard_list(str(out))
    assert len(shards) == summary["shards"] and data.dataset_size(shards) == summary["kept"]
    brace = data.shard_list(f"{out}/{{00000..{len(shards) - 1:05d}}}.tar")
    assert brace == shards


def test_fingerprint_tells_rebuilt_shards_apart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, body in ((a, b"x" * 10), (b, b"x" * 11)):
        folder.mkdir()
        (folder / "00000.tar").write_bytes(body)
    fa, fb = (data.fingerprint(data.shard_list(str(f)), 5) for f in (a, b))
    assert fa.startswith("1 shards, 5 samples, ") and fa != fb
    assert data.fingerprint(data.shard_list(str(a)), 5) == fa
    assert data.fingerprint(data.shard_list(str(a)), 6) != fa


def test_same_settings_same_batches_and_resume_skips_exactly(sharded):
    shards, cfg, tf, tok = setup(sharded[0])
    first = take(data.loader(shards, cfg, tf, tok, epoch=1, skip_batches=0), 6)
    again = take(data.loader(shards, cfg, tf, tok, epoch=1, skip_batches=0), 6)
    resumed = take(data.loader(shards, cfg, tf, tok, epoch=1, skip_batches=3), 3)  # odd: rotates
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for a, b in zip(first[3:], resumed, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    other = take(data.loader(shards, cfg, tf, tok, epoch=2, skip_batches=0), 1)
    assert not torch.equal(first[0][1], other[0][1])  # each epoch is shuffled anew


def test_ranks_and_workers_read_disjoint_shards(sharded):
    shards, cfg, tf, tok = setup(sharded[0], workers=0)
    seen = []
    for rank in range(2):
        ds = data.ShardStream(shards, cfg, tf, tok, epoch=0, rank=rank, world=2)
        raw = ds._raw(rank, 2)
        seen.append({next(raw)["__key__"] for _ in range(200)})
    assert not seen[0] & seen[1]


def test_corrupt_samples_are_skipped_and_counted(tmp_path):
    def add(tar, name, payload):
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (80, 80), "red").save(buf, "JPEG")
    with tarfile.open(tmp_path / "00000.tar", "w") as tar:
        for i in range(10):
            add(tar, f"k{i:03d}.jpg", b"garbage" if i in (2, 5) else buf.getvalue())
            add(tar, f"k{i:03d}.txt", b"a red square")
    (tmp_path / "sizes.json").write_text(json.dumps({"00000.tar": 10}))
    shards, cfg, tf, tok = setup(tmp_path, workers=0, batch=4)
    cfg = data.DataConfig(batch_size=4, workers=0, shuffle_buffer=1, seed=0)
    images, texts, worker, skipped = take(data.loader(shards, cfg, tf, tok, 0, 0), 2)[-1]
    assert images.shape == (4, 3, 64, 64) and skipped == 2
