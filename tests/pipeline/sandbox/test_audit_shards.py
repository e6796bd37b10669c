"""The shards audit's semantic-duplicate score, on a hand-made truth of five rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from openwit.pipeline.sandbox.audit_shards import audit_shards


def _truth(url: str, content: str, seed: int, style: str) -> dict:
    return {
        "page_url": "http://127.0.0.1/p",
        "url": url,
        "content_id": content,
        "transform": "none",
        "transform_seed": None,
        "fmt": "png",
        "quality": None,
        "width": 64,
        "height": 64,
        "emoji_seed": seed,
        "emoji_concepts": ["cat"],
        "emoji_style": style,
        "group": "content",
        "eval_id": None,
        "caption_kind": "true",
        "lang": "en",
    }


def _row(key: str, url: str, status: str, reason: str | None, dup_of: str | None = None):
    kind = "semantic_dup" if reason == "semantic_dup" else None
    return {
        "key": key,
        "page_url": "http://127.0.0.1/p",
        "url": url,
        "pixels": key,
        "status": status,
        "drop_reason": reason,
        "dup_kind": kind,
        "dup_of": dup_of,
        "contaminated_by": None,
        "lang_score": 1.0,
    }


def test_planted_redraws_count_only_among_the_rows_semantic_dedup_sees(tmp_path):
    truth = [
        _truth("a1", "a1", 1, "noto"),  # scene 1 in both styles: both reach semantic dedup
        _truth("a2", "a2", 1, "twemoji"),
        _truth("b1", "b1", 2, "noto"),  # scene 2: its redraw went to a caption filter first
        _truth("b2", "b2", 2, "twemoji"),
        _truth("c1", "c1", 3, "noto"),  # scene 3, drawn once
    ]
    rows = [
        _row("k1", "a1", "kept", None),
        _row("k2", "a2", "dropped", "semantic_dup", dup_of="k1"),
        _row("k3", "b1", "kept", None),
        _row("k4", "b2", "dropped", "caption_too_short"),
        _row("k5", "c1", "dropped", "semantic_dup", dup_of="k3"),  # a wrong drop
    ]
    (tmp_path / "sandbox" / "truth").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(truth), tmp_path / "sandbox/truth/candidates.parquet")
    (tmp_path / "shards").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "shards/candidates.parquet")
    audit = audit_shards(tmp_path / "shards", tmp_path / "sandbox")
    assert audit["semantic_dups_removable"] == 1  # scene 2's pair never met the step
    assert audit["semantic_dup_recall"] == 1.0
    assert audit["semantic_dup_marked"] == 2
    assert audit["semantic_dup_precision"] == 0.5  # k5 points at another scene
    assert audit["semantic_dup_same_concepts"] == 1.0  # though of the same emoji
