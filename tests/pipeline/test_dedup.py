import io

import numpy as np
from PIL import Image

from pipeline.dedup import components, dedup, hashes, near_pairs
from pipeline.sandbox.scenes import render, scene_from_seed


def brute_force(h: np.ndarray, k: int) -> set[tuple[int, int]]:
    d = np.bitwise_count(h[:, None] ^ h[None, :])
    i, j = np.nonzero(np.triu(d <= k, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def test_index_finds_exactly_the_brute_force_pairs():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 1500, dtype=np.uint64)
    near = base[:300].copy()
    for n in range(300):  # plant copies at every distance 0..12
        for bit in rng.choice(64, n % 13, replace=False):
            near[n] ^= np.uint64(1) << np.uint64(int(bit))
    h = np.concatenate([base, near])
    for k in (0, 4, 8, 10, 12):
        got = {tuple(p) for p in near_pairs(h, k).tolist()}
        assert got == brute_force(h, k), k


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def test_hashes_see_pixels_and_perception():
    img = render(scene_from_seed(11), 320, 240)
    a, b = hashes(jpeg(img)), hashes(jpeg(img))
    assert a == b  # the same pixels, the same hashes
    png = io.BytesIO()
    img.save(png, "PNG")
    assert hashes(png.getvalue())[0] != a[0]  # JPEG changed the pixels: not pixel-identical
    small = hashes(jpeg(img.resize((200, 150))))
    other = hashes(jpeg(render(scene_from_seed(12), 320, 240)))
    assert bin(a[1] ^ small[1]).count("1") <= 6
    assert bin(a[1] ^ other[1]).count("1") > bin(a[1] ^ small[1]).count("1")


def test_dedup_reasons_and_the_survivor_rule():
    img = render(scene_from_seed(3), 320, 240)
    same = jpeg(img)
    keys = ["k3", "k1", "k2", "k0"]
    urls = ["http://a/1.jpg", "http://a/1.jpg", "http://b/2.jpg", "http://c/3.jpg"]
    images = [same, same, same, jpeg(img.resize((160, 120)))]
    area = [320 * 240, 320 * 240, 320 * 240, 160 * 120]
    out = dedup(keys, urls, ["x"] * 4, images, area)
    assert out[0] == ("exact_url", "k1")  # same URL, same size: the lower key survives
    assert out[1] == (None, None)
    assert out[2] == ("exact_pixels", "k1")
    assert out[3] == ("near_image", "k1")  # the smaller copy goes


def test_components_join_chains():
    assert components(5, np.array([[0, 1], [1, 2], [3, 4]])) == [[0, 1, 2], [3, 4]]
