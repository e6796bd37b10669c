import hashlib
import json

import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from openwit.pipeline.sandbox.build import build
from openwit.pipeline.sandbox.config import FAULT_STATUS
from tests.conftest import SMALL


def _digests(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files(sandbox_dir, tmp_path):
    again = tmp_path / "again"
    build(again, SMALL)
    assert _digests(again) == _digests(sandbox_dir)


def test_other_seed_gives_other_web(sandbox_dir, tmp_path):
    from dataclasses import replace

    other = tmp_path / "other"
    build(other, replace(SMALL, seed=8))
    a, b = _digests(sandbox_dir), _digests(other)
    assert a.keys() == b.keys()
    assert a["truth/candidates.parquet"] != b["truth/candidates.parquet"]


def test_ground_truth_counts_every_planted_property(sandbox_dir):
    summary = json.loads((sandbox_dir / "truth" / "summary.json").read_text())
    cands = pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()
    images = pq.read_table(sandbox_dir / "truth" / "images.parquet").to_pylist()
    assert summary["hosts"] >= 50 and summary["candidates"] == len(cands)
    for fault in FAULT_STATUS:
        assert summary["faults"].get(fault, 0) >= SMALL.min_planted, fault
    for group in SMALL.image_shares:
        if group == "semantic_dup" and not SMALL.emoji_share:
            continue  # a redrawn emoji scene: test_emoji.py
        assert summary["image_groups"][group] >= SMALL.min_planted, group
    for kind in SMALL.caption_shares:
        assert summary["caption_kinds"][kind] >= SMALL.min_planted, kind
    for kind in ("malformed", "non_html", "garbage", "http_error"):
        assert summary["page_kinds"][kind] >= SMALL.min_planted, kind
    assert set(summary["robots_rules"]) >= {"disallow_all", "disallow_openwit", "disallow_private"}
    assert set(summary["formats"]) == {"jpeg", "png", "webp"}
    # each planted property is consistent in the tables themselves
    by_url = {i["url"]: i for i in images}
    for c in cands:
        if c["group"] in ("exact_dup", "near_dup"):
            src = by_url[c["dup_of"]]
            assert src["content_id"] == c["content_id"]
            if c["group"] == "exact_dup":
                assert (src["width"], src["height"], src["fmt"]) == (
                    c["width"],
                    c["height"],
                    c["fmt"],
                )
        if c["group"] == "url_dup":
            assert c["url_dup_of"] == c["url"] and c["url"] in by_url
        if c["group"] == "tiny":
            assert max(c["width"], c["height"]) < 40
        if c["group"] == "extreme_aspect":
            assert max(c["width"], c["height"]) / min(c["width"], c["height"]) > 3
        if c["group"] == "contaminated":
            assert (sandbox_dir / "eval" / f"{c['eval_id']}.jpg").is_file()
        if c["caption_kind"] == "very_long":
            assert len(c["caption"]) >= 4900
        if c["caption_kind"] == "foreign":
            assert c["lang"] not in ("en", "junk", "und")
        if not c["robots_disallowed"]:
            assert c["expected_status"] == FAULT_STATUS[c["fault"]]


def test_warc_pages_hold_every_candidate(sandbox_dir):
    meta = json.loads((sandbox_dir / "sandbox.json").read_text())
    cands = pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()
    pages = {}
    types = set()
    for p in (sandbox_dir / "crawl-data").rglob("*.warc.gz"):
        with open(p, "rb") as f:
            for rec in ArchiveIterator(f):
                types.add(rec.rec_type)
                if rec.rec_type == "response":
                    pages[rec.rec_headers.get_header("WARC-Target-URI")] = (
                        rec.content_stream().read()
                    )
    assert types == {"warcinfo", "request", "response"}
    assert len(pages) == meta["summary"]["pages"]
    for c in cands:
        assert c["src"].replace("&", "&amp;").encode() in pages[c["page_url"]], c["cand_id"]
    langs = {json.dumps(c["lang"]) for c in cands}
    assert len(langs) >= 5


def test_eval_sets_are_image_folders(sandbox_dir):
    classes = json.loads((sandbox_dir / "eval" / "classes.json").read_text())
    for set_name in ("shapes", "colours"):
        labels = pq.read_table(sandbox_dir / "eval" / set_name / "labels.parquet").to_pylist()
        assert {r["label"] for r in labels} == set(classes[set_name])
        assert all((sandbox_dir / "eval" / r["path"]).is_file() for r in labels)
    retrieval = pq.read_table(sandbox_dir / "eval" / "retrieval" / "labels.parquet").to_pylist()
    assert len(retrieval) == SMALL.eval_retrieval and all(r["caption"] for r in retrieval)


def test_planted_broken_bytes_never_decode_in_any_format():
    import io

    import pytest
    from PIL import Image

    from openwit.pipeline.sandbox import assets
    from openwit.pipeline.sandbox.scenes import render, scene_from_seed

    for seed in range(40):
        img = render(scene_from_seed(seed), 24 + seed * 7, 24 + seed * 5)
        for fmt in ("jpeg", "png", "webp"):
            data = assets.encode(img, fmt, 85)
            for broken in (assets.corrupt(data, seed), assets.truncate(data)):
                with pytest.raises(OSError), Image.open(io.BytesIO(broken)) as im:
                    im.load()


def test_templates_take_one_class_name_and_shapes_average_over_colours(sandbox_dir):
    from openwit.pipeline.sandbox.scenes import COLOURS

    templates = json.loads((sandbox_dir / "eval" / "templates.json").read_text())
    for name, ts in templates.items():
        for t in ts:
            filled = t.format("zyx")
            assert filled.count("zyx") == 1 and "{" not in filled, (name, t)
    shapes = templates["shapes"]
    per_colour = {c: sum(f"{c} {{}}" in t for t in shapes) for c in COLOURS}
    assert set(per_colour.values()) == {len(shapes) // len(COLOURS)} and len(shapes) >= 10
