from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from openwit.core.storage import expand_inputs
from openwit.pipeline.crawl.harvest import HarvestConfig, extract_pairs, harvest_warc
from openwit.pipeline.crawl.urllist import harvest_url_list
from openwit.pipeline.crawl.urls import best_srcset, normalize_url

PAGE = "http://site1.sandbox.test/a/b/page.html"


def pairs(html, page=PAGE):
    return [(r["url"], r["caption"]) for r in extract_pairs(html, page, HarvestConfig(), Counter())]


def test_every_way_a_page_embeds_an_image():
    html = """<html lang="de"><body>
    <img src="x.jpg" alt="  Relative   one ">
    <img src="/root.png" alt="Root &amp; co">
    <img src="//cdn.sandbox.test/p.webp" alt="proto relative">
    <img src="t-320w.jpg" srcset="t-320w.jpg 320w, t.jpg 1024w" alt="srcset">
    <img src="data:image/gif;base64,R0lG" data-src="lazy.jpg" alt="lazy">
    <figure><img src="fig.jpg" alt=""><figcaption>The <b>caption</b></figcaption></figure>
    <picture><source srcset="pic.webp" type="image/webp"><img src="pic.jpg" alt="picture"></picture>
    <img src="title.jpg" title="only a title">
    <img src="data:image/gif;base64,R0lG" alt="spacer"><img src="javascript:void(0)" alt="js">
    <IMG SRC=shout.jpg ALT=shouted>
    </body></html>"""
    assert pairs(html) == [
        ("http://site1.sandbox.test/a/b/x.jpg", "Relative one"),
        ("http://site1.sandbox.test/root.png", "Root & co"),
        ("http://cdn.sandbox.test/p.webp", "proto relative"),
        ("http://site1.sandbox.test/a/b/t.jpg", "srcset"),
        ("http://site1.sandbox.test/a/b/lazy.jpg", "lazy"),
        ("http://site1.sandbox.test/a/b/fig.jpg", "The caption"),
        ("http://site1.sandbox.test/a/b/pic.jpg", "picture"),
        ("http://site1.sandbox.test/a/b/title.jpg", "only a title"),
        ("http://site1.sandbox.test/a/b/shout.jpg", "shouted"),
    ]


def test_base_href_and_mojibake():
    html = (
        '<head><base href="http://site2.sandbox.test/"></head><img src="images/x.jpg" alt="cafÃ©">'
    )
    assert pairs(html) == [("http://site2.sandbox.test/images/x.jpg", "café")]


@pytest.mark.parametrize(
    "raw,want",
    [
        ("HTTP://Site.Sandbox.TEST:80/a?b=1#frag", "http://site.sandbox.test/a?b=1"),
        ("https://x.test:443", "https://x.test/"),
        ("http://x.test:8080/p", "http://x.test:8080/p"),
        ("ftp://x.test/p", None),
        ("mailto:a@b", None),
        ("http://x.test:99999/", None),
        ("", None),
    ],
)
def test_normalize_url(raw, want):
    assert normalize_url(raw, PAGE)[0] == want


def test_best_srcset():
    assert best_srcset("a.jpg 1x, b.jpg 2x") == "b.jpg"
    assert best_srcset("a.jpg 100w, b.jpg 50w") == "a.jpg"
    assert best_srcset("only.jpg") == "only.jpg"


def test_sandbox_warcs_give_exactly_the_planted_pairs(sandbox_dir):
    rows, stats = [], Counter()
    for f in expand_inputs([str(sandbox_dir / "crawl-data")]):
        table, s = harvest_warc(f)
        rows += table.to_pylist()
        stats.update(s)
    truth = pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()
    got = Counter((r["page_url"], r["url"], r["caption"]) for r in rows)
    want = Counter((t["page_url"], t["url"], t["caption"]) for t in truth)
    assert got == want
    pages = pq.read_table(sandbox_dir / "truth" / "pages.parquet").to_pylist()
    kinds = Counter(p["kind"] for p in pages)
    assert stats["html_pages"] == kinds["html"] + kinds["malformed"] + kinds["garbage"]
    assert stats["skipped_not_200"] == kinds["http_error"]
    assert stats["skipped_not_html"] == kinds["non_html"]


def test_truncated_archive_keeps_what_was_read(sandbox_dir, tmp_path):
    src = expand_inputs([str(sandbox_dir / "crawl-data")])[0]
    data = Path(src).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    table, stats = harvest_warc(str(cut))
    full, _ = harvest_warc(src)
    assert 0 < table.num_rows < full.num_rows


def test_url_lists_in_three_formats(tmp_path):
    t = pa.table(
        {
            "url": ["http://a.test/1.jpg", "data:xx", "http://a.test/2.jpg"],
            "caption": ["one", "two", None],
        }
    )
    pq.write_table(t, tmp_path / "l.parquet")
    pcsv.write_csv(t, tmp_path / "l.csv")
    (tmp_path / "l.jsonl").write_text(
        "\n".join(
            f'{{"url": "{u}", "caption": "{c}"}}'
            for u, c in zip(t["url"].to_pylist(), ["one", "two", ""], strict=True)
        )
    )
    for name in ("l.parquet", "l.csv", "l.jsonl"):
        table, stats = harvest_url_list(str(tmp_path / name))
        assert table.column("url").to_pylist() == ["http://a.test/1.jpg", "http://a.test/2.jpg"]
        assert stats["dropped_data_url"] == 1
    with pytest.raises(ValueError, match="--url-col"):
        harvest_url_list(str(tmp_path / "l.parquet"), url_col="link")
