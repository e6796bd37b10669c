"""Decontamination inside each scan task: the copies a partition of the training rows finds
are the copies the whole set finds, resized and re-encoded copies included."""

import io

from PIL import Image

from openwit.pipeline.sandbox.scenes import render, scene_from_seed
from openwit.pipeline.shards import decontaminate as D
from openwit.pipeline.shards.dedup.images import fingerprint


def _jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_each_partition_finds_what_the_whole_set_finds(sandbox_dir):
    images = D.eval_images(sandbox_dir / "eval")[::7]
    evals = D.EvalSet.of(images, D.fingerprint_evals(images))
    rows, truth = [], []
    for k, e in enumerate(images[:12]):  # copies: as served, resized, re-encoded
        with Image.open(e.path) as im:
            copy = [im.copy(), im.resize((im.width * 3 // 4, im.height * 3 // 4)), im][k % 3]
        rows.append(fingerprint(_jpeg(copy, 95 if k % 3 == 1 else 70)))
        truth.append(e.eval_id)
    for seed in range(30):  # unrelated scenes
        rows.append(fingerprint(_jpeg(render(scene_from_seed(10_000 + seed), 160, 120))))
        truth.append(None)
    rows.insert(5, None)  # a row without an image (a failed download)
    truth.insert(5, None)
    whole = D.contaminated_by(rows, evals)
    for t, c in zip(truth, whole, strict=True):  # every copy found, nothing else
        assert (c is None) if t is None else (t in c)
    parts = [rows[0:7], rows[7:20], rows[20:]]
    assert [c for p in parts for c in D.contaminated_by(p, evals)] == whole
    report = D.overlap_report(images, {e for c in whole if c for e in c})
    assert sum(r["overlap"] for r in report) == len({t for t in truth if t})
