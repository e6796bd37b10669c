import io

import numpy as np
from PIL import Image

from openwit.pipeline.sandbox.scenes import render, scene_from_seed
from openwit.pipeline.shards.dedup.images import (
    components,
    dedup,
    fingerprint,
    near_duplicate_pairs,
    normalised_thumbs,
)


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_fingerprints_see_pixels_and_perception():
    img = render(scene_from_seed(11), 320, 240)
    a, b = fingerprint(jpeg(img)), fingerprint(jpeg(img))
    assert a.pixels == b.pixels and (a.phash == b.phash).all()  # same pixels, same prints
    png = io.BytesIO()
    img.save(png, "PNG")
    assert fingerprint(png.getvalue()).pixels != a.pixels  # JPEG changed the pixels
    assert len(a.phash) == 10 and len(a.thumbs) == 10 * 12 * 12 * 3


def matches(images: list[bytes]) -> set[tuple[int, int]]:
    prints = [fingerprint(x) for x in images]
    pairs = near_duplicate_pairs(
        np.stack([p.phash for p in prints]), normalised_thumbs([p.thumbs for p in prints])
    )
    return {tuple(p) for p in pairs.tolist()}


def test_near_duplicates_survive_the_edits_of_the_web_and_others_do_not():
    img = render(scene_from_seed(21), 400, 300)
    w, h = img.size
    edits = [
        jpeg(img),
        jpeg(img.resize((240, 180)), quality=70),  # smaller and recompressed
        jpeg(img.crop((20, 12, w - 10, h - 6))),  # ~8% cropped off
        jpeg(Image.eval(img, lambda v: min(255, int(v * 1.12)))),  # brighter
    ]
    others = [jpeg(render(scene_from_seed(s), 400, 300)) for s in range(100, 120)]
    got = matches(edits + others)
    assert {(0, 1), (0, 2), (0, 3)} <= got
    assert all(i < 4 and j < 4 for i, j in got), got  # no unrelated scene matched


def test_dedup_reasons_and_the_survivor_rule():
    img = render(scene_from_seed(3), 320, 240)
    same = jpeg(img)
    keys = ["k3", "k1", "k2", "k0", "k4"]
    urls = ["http://a/1.jpg", "http://a/1.jpg", "http://b/2.jpg", "http://c/3.jpg", "http://d/4"]
    images = [
        same,
        same,
        same,
        jpeg(img.resize((160, 120))),
        jpeg(render(scene_from_seed(4), 320, 240)),
    ]
    area = [320 * 240, 320 * 240, 320 * 240, 160 * 120, 320 * 240]
    rank = [(False, -a, k) for a, k in zip(area, keys, strict=True)]
    out = dedup(keys, urls, [fingerprint(x) for x in images], rank)
    assert out[0] == ("exact_url", "k1")  # same URL, same size: the lower key survives
    assert out[1] == (None, None)
    assert out[2] == ("exact_pixels", "k1")
    assert out[3] == ("near_image", "k1")  # the smaller copy goes
    assert out[4] == (None, None)
    # A row that fails a filter never survives at the cost of one that passes.
    rank[1] = (True, *rank[1][1:])
    out = dedup(keys, urls, [fingerprint(x) for x in images], rank)
    # k1 and k3 share a URL, k2 the pixels: one group, whose survivor is now k2, and every
    # copy names it (none points at a row that is itself dropped).
    assert out[:3] == [("exact_pixels", "k2"), ("exact_pixels", "k2"), (None, None)]
    assert out[3] == ("near_image", "k2")


def test_an_exact_copy_of_a_near_duplicate_names_the_row_that_stays():
    # k1 and k2 are the same URL; k1 is also a smaller copy of k0, so k0 stays and both go.
    img = render(scene_from_seed(5), 320, 240)
    small = jpeg(img.resize((200, 150)))
    keys = ["k0", "k1", "k2"]
    urls = ["http://a/big.jpg", "http://b/small.jpg", "http://b/small.jpg"]
    area = [320 * 240, 200 * 150, 200 * 150]
    rank = [(False, -a, k) for a, k in zip(area, keys, strict=True)]
    out = dedup(keys, urls, [fingerprint(x) for x in (jpeg(img), small, small)], rank)
    assert out == [(None, None), ("near_image", "k0"), ("near_image", "k0")]


def test_components_join_chains():
    assert components(5, np.array([[0, 1], [1, 2], [3, 4]])) == [[0, 1, 2], [3, 4]]
