"""Score the shards job on the sandbox against its ground truth (docs/shards.md quotes it).

Counted over the downloaded images the job scanned, row by row:
- exact duplicates: a row marked exact_url/exact_pixels is right when its survivor has the
  very same pixels; recall is the share of removable copies (a group of g identical
  images holds g - 1) that were marked as duplicates (an identical group whose survivor then
  went as a near duplicate is marked near_image throughout, pointing at the row that stayed);
- near duplicates: the same over the rows left after exact dedup, with "same content"
  (one drawing or scene, whatever edit was applied) in place of "same image"; a drop is also
  right when both are emoji scenes of the same art, concepts and backdrop (`_look`);
- semantic duplicates: one emoji scene drawn in both served styles, among the rows every
  other step kept; precision against the same scene (and, looser, the same concepts);
- contamination: planted copies of evaluation images marked with the right evaluation id;
- language: captions of known language, "non-English" against a language-filter drop.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from openwit.pipeline.shards.filters import LanguageFilter

EXACT = ("exact_url", "exact_pixels")  # the kinds pipeline.dedup gives an identical copy


def _pixels(t: dict) -> tuple:
    """What fixes a served image's pixels. A re-encode without loss (PNG to PNG), or to the
    same JPEG quality, gives the very same pixels, so it counts as an exact copy."""
    edit = (
        ("none",)
        if t["transform"] in ("none", "reencode")
        else (t["transform"], t["transform_seed"])
    )
    codec = ("png",) if t["fmt"] == "png" else (t["fmt"], t["quality"])
    return (t["content_id"], *edit, *codec, t["width"], t["height"])


def _look(t: dict) -> tuple | None:
    """What an emoji scene looks like: its style's art of the same concepts on the same
    backdrop. The web shows one icon on many pages and so does the sandbox, which draws a
    popular emoji on the same background many times at nearby sizes and places: two such
    images are near duplicates to any eye, though planted as different scenes."""
    if t.get("emoji_seed") is None:
        return None
    from openwit.pipeline.sandbox import emoji

    s = emoji.scene_from_seed(t["emoji_seed"], tuple(t["emoji_concepts"]), t.get("emoji_style"))
    return (s.style, tuple(sorted(s.concepts)), s.background)


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 1.0


def _removal(groups: dict, marked: set) -> tuple[int, int]:
    removable = sum(len(g) - 1 for g in groups.values() if len(g) > 1)
    removed = sum(min(len(g) - 1, sum(k in marked for k in g)) for g in groups.values())
    return removed, removable


def planted_truth(sandbox_dir: str | Path) -> dict[tuple, dict]:
    """(page URL, image URL) -> what the sandbox planted there."""
    truth: dict[tuple, dict] = {}
    for t in pq.read_table(Path(sandbox_dir) / "truth" / "candidates.parquet").to_pylist():
        truth.setdefault((t["page_url"], t["url"]), t)
    return truth


def seen_by_semdedup(r: dict) -> bool:
    """Whether semantic dedup saw this candidates.parquet row: every other step kept it."""
    return r["status"] == "kept" or r["drop_reason"] == "semantic_dup"


def audit_shards(shards_dir: str | Path, sandbox_dir: str | Path) -> dict:
    truth = planted_truth(sandbox_dir)
    rows = pq.read_table(Path(shards_dir) / "candidates.parquet").to_pylist()
    scanned = [r for r in rows if r["pixels"] is not None]
    of = {r["key"]: truth[(r["page_url"], r["url"])] for r in scanned}
    image = {k: _pixels(t) for k, t in of.items()}

    exact = [r for r in scanned if r["dup_kind"] in EXACT]
    exact_ok = sum(image[r["key"]] == image[r["dup_of"]] for r in exact)
    by_image: dict[tuple, list] = defaultdict(list)
    for r in scanned:
        by_image[image[r["key"]]].append(r["key"])
    image_dups = {r["key"] for r in scanned if r["dup_kind"] in (*EXACT, "near_image")}
    exact_removed, exact_removable = _removal(by_image, image_dups)

    survivors = [r for r in scanned if r["dup_kind"] not in EXACT]
    near = [r for r in survivors if r["dup_kind"] == "near_image"]
    near_ok = sum(
        of[r["key"]]["content_id"] == of[r["dup_of"]]["content_id"]
        or _look(of[r["key"]]) == _look(of[r["dup_of"]]) is not None
        for r in near
    )
    by_content: dict[str, list] = defaultdict(list)
    for r in survivors:
        by_content[of[r["key"]]["content_id"]].append(r["key"])
    near_removed, near_removable = _removal(by_content, {r["key"] for r in near})

    # Semantic duplicates: one emoji scene (seed) in either style, among the rows semantic
    # dedup sees (kept by every other step: filters, balancing, image and caption dedup,
    # decontamination); a drop is right when it points at the same scene, "same concepts"
    # when at a scene of the very same concepts (SemDeDup cannot tell where they stand).
    meaning = {k: t["emoji_seed"] for k, t in of.items() if t.get("emoji_seed") is not None}
    by_scene: dict[int, list] = defaultdict(list)
    for r in scanned:
        if seen_by_semdedup(r) and r["key"] in meaning:
            by_scene[meaning[r["key"]]].append(r["key"])
    semantic = [r for r in scanned if r["dup_kind"] == "semantic_dup"]
    sem_removed, sem_removable = _removal(by_scene, {r["key"] for r in semantic})
    sem_ok = sum(meaning.get(r["key"], -1) == meaning.get(r["dup_of"], -2) for r in semantic)
    concepts = {k: sorted(t["emoji_concepts"]) for k, t in of.items() if k in meaning}
    sem_same = sum(concepts.get(r["key"]) == concepts.get(r["dup_of"], 0) for r in semantic)

    planted = [r for r in scanned if of[r["key"]]["group"] == "contaminated"]
    caught = sum(of[r["key"]]["eval_id"] in (r["contaminated_by"] or []) for r in planted)
    flagged = [r for r in scanned if r["contaminated_by"]]
    flagged_ok = sum(of[r["key"]]["eval_id"] in r["contaminated_by"] for r in flagged)

    captions = [r for r in scanned if r["dup_kind"] == "near_caption"]
    planted_captions = sum(
        "dup_caption" in (of[r["key"]]["caption_kind"], of[r["dup_of"]]["caption_kind"])
        for r in captions
    )

    floor = LanguageFilter().min_score
    known = [r for r in scanned if of[r["key"]]["lang"] not in ("junk", "und")]
    tp = sum(of[r["key"]]["lang"] != "en" and r["lang_score"] < floor for r in known)
    fp = sum(of[r["key"]]["lang"] == "en" and r["lang_score"] < floor for r in known)
    fn = sum(of[r["key"]]["lang"] != "en" and r["lang_score"] >= floor for r in known)
    return {
        "scanned_images": len(scanned),
        "exact_dup_precision": _ratio(exact_ok, len(exact)),
        "exact_dup_recall": _ratio(exact_removed, exact_removable),
        "exact_dups_planted_removable": exact_removable,
        "near_dup_precision": _ratio(near_ok, len(near)),
        "near_dup_recall": _ratio(near_removed, near_removable),
        "near_dups_removable": near_removable,
        "semantic_dup_marked": len(semantic),
        "semantic_dup_precision": _ratio(sem_ok, len(semantic)),
        "semantic_dup_same_concepts": _ratio(sem_same, len(semantic)),
        "semantic_dup_recall": _ratio(sem_removed, sem_removable),
        "semantic_dups_removable": sem_removable,
        "contamination_recall": _ratio(caught, len(planted)),
        "contamination_precision": _ratio(flagged_ok, len(flagged)),
        "contaminated_planted": len(planted),
        "near_caption_marked": len(captions),
        "near_caption_planted": planted_captions,
        "language_f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "language_known_captions": len(known),
    }
