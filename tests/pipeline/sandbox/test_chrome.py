import http.client
import io
from collections import Counter

import pyarrow.parquet as pq
from PIL import Image

from openwit.pipeline.sandbox import chrome
from openwit.pipeline.sandbox.server import SandboxServer
from openwit.queries.match import Matcher


def _chrome(sandbox_dir):
    rows = pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()
    return rows, [r for r in rows if r["group"] == "chrome"]


def test_pages_carry_chrome_with_head_alts(sandbox_dir, query_list):
    rows, ch = _chrome(sandbox_dir)
    kinds = Counter(r["chrome"].split(":")[0] for r in ch)
    assert set(kinds) == set(chrome.DEFAULT_CHROME)
    assert 0.1 < len(ch) / len(rows) < 0.35  # beside the content, not instead of it
    # a few contents under many URLs: the floods dedup removes
    assert len({r["content_id"] for r in ch}) < len(ch) / 4
    assert len({r["url"] for r in ch}) == len(ch)
    # their texts match a handful of very common entries: the head balancing flattens
    entries = query_list[0].entries
    matcher = Matcher(entries)
    per_entry = Counter(entries[e] for r in ch for e in matcher.match(r["caption"]))
    top = per_entry.most_common(3)
    assert top[0][0] in ("logo", "icon", "image") and top[0][1] > len(ch) / 5, top
    assert all(r["lang"] in ("en", "und") and r["caption_kind"] == "chrome" for r in ch)


def test_same_content_is_served_as_the_same_pixels(sandbox_dir):
    images = pq.read_table(sandbox_dir / "truth" / "images.parquet").to_pylist()
    ok = [r for r in images if r["asset_kind"] == "chrome" and r["expected_status"] == "success"]
    by_content: dict[tuple, list[dict]] = {}
    for r in ok:
        if r["transform"] == "none":  # an icon comes in three sizes: one of them
            by_content.setdefault((r["chrome"], r["width"]), []).append(r)
    rows = max(by_content.values(), key=len)
    assert len(rows) >= 5
    with SandboxServer(sandbox_dir) as info:
        pixels = []
        for r in rows[:3] + [next(r for r in ok if r["transform"] == "resize")]:
            conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
            conn.request("GET", r["path"], headers={"Host": r["host"]})
            resp = conn.getresponse()
            assert resp.status == 200, r["url"]
            img = Image.open(io.BytesIO(resp.read())).convert("RGB")
            assert img.size == (r["width"], r["height"])
            pixels.append(img.tobytes())
    assert pixels[0] == pixels[1] == pixels[2]  # one logo, three URLs
    assert pixels[3] != pixels[0]  # a resized copy: a near duplicate


def test_render_is_pure():
    for content in ("logo:Site07", "icon:rss", "ad:3", "avatar:default", "placeholder:default"):
        a, b = chrome.render(content, 120, 90), chrome.render(content, 120, 90)
        assert a.tobytes() == b.tobytes() and a.size == (120, 90)
    assert chrome.render("ad:3", 300, 250).tobytes() != chrome.render("ad:4", 300, 250).tobytes()
