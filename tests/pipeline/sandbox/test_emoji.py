"""Real concepts: the emoji and animal sources, the emoji sandbox and its evaluation sets."""

import io
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from openwit.pipeline.sandbox import emoji, sources
from tests.conftest import SMALL

pytestmark = pytest.mark.skipif(
    not (emoji.available() and sources.animals_available()),
    reason="the emoji sources are not installed here (make install fetches them)",
)
EMOJI = replace(
    SMALL,
    emoji_share=0.3,
    eval_emoji_classes=24,
    eval_emoji_per_class=2,
    eval_animals_per_class=4,
)


def test_pickled_arrays_are_read_as_data_only():
    class Evil:
        def __reduce__(self):
            return (print, ("this ran",))

    with pytest.raises(pickle.UnpicklingError, match="refused"):
        sources.load_arrays(pickle.dumps(Evil()))
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert (sources.load_arrays(pickle.dumps(a)) == a).all()


def test_the_animals_as_the_wheel_ships_them():
    x, y = sources.load_animals()
    assert x.shape == (10_000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10 and len(sources.ANIMAL_NAMES) == 10


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path):
    fake = tmp_path / "x.tgz"
    fake.write_bytes(b"not the package")
    with pytest.raises(ValueError, match="pinned"):
        sources._check(fake, sources.NPM["openmoji"].integrity)


def test_the_catalogue_names_real_concepts_in_every_style():
    cat = emoji.catalogue()
    assert len(cat) >= 256 and len({c.label for c in cat}) == len(cat)
    giraffe = next(c for c in cat if c.name == "giraffe")
    assert giraffe.name_in("de") == "Giraffe" and giraffe.name_in("fr") == "girafe"
    for style in (*emoji.SERVED_STYLES, emoji.SHIFT_STYLE):
        g = emoji.glyph(giraffe, style)
        assert g.mode == "RGBA" and min(g.size) >= 64 and np.asarray(g)[..., 3].max() == 255


@pytest.fixture(scope="module")
def emoji_sandbox(tmp_path_factory):
    from openwit.pipeline.sandbox.build import build

    out = tmp_path_factory.mktemp("emoji") / "sandbox"
    return out, build(out, EMOJI)


def test_pages_serve_emoji_named_by_cldr(emoji_sandbox):
    out, summary = emoji_sandbox
    assert summary["asset_kinds"]["emoji"] > 100
    truth = pq.read_table(out / "truth" / "candidates.parquet").to_pylist()
    names = {c.name for c in emoji.catalogue()}
    em = [c for c in truth if c["asset_kind"] == "emoji" and c["caption_kind"] == "natural"]
    named = [c for c in em if c["lang"] == "en"]
    assert named and all(any(n in c["caption"] for n in names) for c in named)
    counts = np.bincount([k for c in em for k in c["emoji_concepts"]])
    assert counts.max() > 10 * np.median(counts[counts > 0])  # a head for balancing to flatten


def test_eval_sets_never_overlap_served_images_but_the_planted_ones(emoji_sandbox):
    from openwit.pipeline.sandbox.config import SandboxConfig  # noqa: F401
    from openwit.pipeline.sandbox.evalset import make_items

    out, summary = emoji_sandbox
    assert summary["eval"]["emoji"] == summary["eval"]["emoji_shift"] == 24 * 2
    assert summary["eval"]["animals"] == 40
    images = pq.read_table(out / "truth" / "images.parquet").to_pylist()
    served_eval = {r["eval_id"] for r in images if r["asset_kind"] == "eval"}
    assert served_eval and all(
        e.split("/")[0] not in ("emoji_shift", "animals") for e in served_eval
    )
    served = {(r["emoji_seed"], tuple(r["emoji_concepts"])) for r in images if r["emoji_seed"]}
    items, _ = make_items(EMOJI, [])
    evals = {(i.seed, (i.concept,)) for i in items if i.set == "emoji"}
    assert evals and not evals & served  # no eval composition is a served one
    # The planted contamination is the eval image itself, and the truth names each copy.
    contaminated = [r for r in images if r["asset_kind"] == "eval"]
    assert all(
        r["group"] in ("contaminated", "near_dup", "exact_dup", "url_dup") for r in contaminated
    )


@pytest.mark.slow
def test_two_builds_with_one_seed_are_identical(emoji_sandbox, tmp_path):
    from openwit.pipeline.sandbox.build import build

    first, _ = emoji_sandbox
    second = tmp_path / "again"
    build(second, EMOJI)
    for rel in ("truth/candidates.parquet", "truth/images.parquet", "eval/classes.json"):
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    for p in sorted((first / "crawl-data").rglob("*.gz")):
        assert p.read_bytes() == (second / p.relative_to(first)).read_bytes(), p
    for p in sorted((first / "eval").rglob("*.jpg"))[::7]:
        assert p.read_bytes() == (second / p.relative_to(first)).read_bytes(), p


def test_the_server_draws_an_emoji_row(emoji_sandbox):
    from PIL import Image

    from openwit.pipeline.sandbox.assets import encode, image

    out, _ = emoji_sandbox
    row = next(
        r
        for r in pq.read_table(out / "truth" / "images.parquet").to_pylist()
        if r["asset_kind"] == "emoji"
    )
    im = image(row, out, Path("/nonexistent"))
    assert im.size == (row["width"], row["height"])
    with Image.open(io.BytesIO(encode(im, row["fmt"], row["quality"]))) as back:
        assert back.size == im.size


def test_semantic_duplicates_redraw_a_served_scene_in_the_other_style(emoji_sandbox):
    out, summary = emoji_sandbox
    assert summary["image_groups"]["semantic_dup"] >= EMOJI.min_planted
    rows = pq.read_table(out / "truth" / "candidates.parquet").to_pylist()
    by_url = {r["url"]: r for r in rows}
    for c in (r for r in rows if r["group"] == "semantic_dup"):
        src = by_url[c["dup_of"]]
        assert (c["emoji_seed"], c["emoji_concepts"]) == (src["emoji_seed"], src["emoji_concepts"])
        a = emoji.scene_from_seed(src["emoji_seed"], tuple(src["emoji_concepts"]))
        b = emoji.scene_from_seed(c["emoji_seed"], tuple(c["emoji_concepts"]), c["emoji_style"])
        assert a.items == b.items and a.background == b.background  # the same composition
        assert {a.style, b.style} == set(emoji.SERVED_STYLES)  # drawn by the other hand
        assert c["content_id"] != src["content_id"]  # not a copy: near-dedup must not see one


def test_the_audit_calls_the_same_art_on_the_same_backdrop_one_look():
    from openwit.pipeline.sandbox.audit_shards import _look

    def row(seed, concepts, style=None):
        return {"emoji_seed": seed, "emoji_concepts": concepts, "emoji_style": style}

    a = row(1, [5])
    same = next(
        row(s, [5])
        for s in range(2, 500)
        if _look(row(s, [5]))[::2] == _look(a)[::2]  # the same style and backdrop
    )
    assert _look(same) == _look(a)
    assert _look(row(1, [6])) != _look(a)  # another concept
    other = "twitter" if _look(a)[0] == "google" else "google"
    assert _look(row(1, [5], other)) != _look(a)  # the other style: a semantic duplicate
    assert _look({"emoji_seed": None}) is None
