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


# The standards: WHATWG URLs, the HTML srcset algorithm, lazy patterns, charsets, opt-outs.


@pytest.mark.parametrize(
    "raw, want",
    [
        ("http://BÜCHER.example/a", "http://xn--bcher-kva.example/a"),  # IDNA
        ("http://x.test/a/./b/../c", "http://x.test/a/c"),  # dot segments, absolute too
        ("http://x.test/a b", "http://x.test/a%20b"),
        ("http://x.test/%7e%7E", "http://x.test/%7e%7E"),  # escapes kept as written
        ("http://x.test/ä?q=ä", "http://x.test/%C3%A4?q=%C3%A4"),
        ("http:\\\\x.test\\a", "http://x.test/a"),  # backslashes, as browsers read them
        ("  http://x.test/\tp\n ", "http://x.test/p"),
        ("../up.jpg", "http://site1.sandbox.test/a/up.jpg"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
    ],
)
def test_urls_by_the_whatwg_standard(raw, want):
    assert normalize_url(raw, PAGE)[0] == want


@pytest.mark.parametrize(
    "srcset, want",
    [
        (
            "https://res.cdn.test/image/upload/c_fill,w_400/a.jpg 400w, "
            "https://res.cdn.test/image/upload/c_fill,w_800/a.jpg 800w",
            "https://res.cdn.test/image/upload/c_fill,w_800/a.jpg",
        ),
        ("a.jpg,b.jpg 2x", "a.jpg,b.jpg"),  # a URL runs to whitespace, commas and all
        ("a.jpg, b.jpg 2x", "b.jpg"),  # a URL ending in a comma ends its candidate
        ("a.jpg 1x,b.jpg 3x, c.jpg 2x", "b.jpg"),
        ("a.jpg 10w 2x, b.jpg 5w", "b.jpg"),  # w and x together: invalid, skipped
        ("a.jpg 100w, b.jpg foo", "a.jpg"),
        # Parentheses keep their comma inside one token, which is no descriptor: invalid.
        ("a.jpg (a, b) 300w, c.jpg 200w", "c.jpg"),
        ("", None),
    ],
)
def test_srcset_by_the_html_algorithm(srcset, want):
    assert best_srcset(srcset) == want


def test_lazy_picture_noscript_and_base():
    html = """<html><head><base href="https://cdn.test/base/"></head><body>
    <img src="data:image/gif;base64,R0" data-srcset="s.jpg 300w, l.jpg 900w" alt="lazy set">
    <picture><source srcset="big.avif 1600w, med.avif 800w" type="image/avif">
      <source srcset="x.jxl 3000w" type="image/jxl"><img src="fallback.jpg" alt="pic"></picture>
    <img class="lazy" src="data:image/gif;base64,R0" data-src="real.jpg">
    <noscript><img src="real.jpg" alt="the real text"></noscript>
    </body></html>"""
    assert pairs(html) == [
        ("https://cdn.test/base/l.jpg", "lazy set"),
        ("https://cdn.test/base/big.avif", "pic"),  # JPEG XL is not decoded here: skipped
        ("https://cdn.test/base/real.jpg", "the real text"),  # the <noscript> twin's text
    ]


@pytest.mark.parametrize(
    "body, ctype, text",
    [
        ("Größe".encode("cp1252"), "text/html; charset=ISO-8859-1", "Größe"),
        ("Größe €".encode("cp1252"), "text/html; charset=latin1", "Größe €"),  # as browsers
        (b"\xef\xbb\xbf" + "Größe".encode(), "text/html; charset=iso-8859-1", "Größe"),  # BOM wins
        ('<meta charset="windows-1251">Привет'.encode("cp1251"), "text/html", "Привет"),
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">日本語'.encode(
                "shift_jis"
            ),
            "text/html",
            "日本語",
        ),
        ("Größe und Äpfel".encode(), "text/html", "Größe und Äpfel"),  # valid UTF-8
        (
            ("Съешь же ещё этих мягких французских булок, да выпей чаю. " * 20).encode("cp1251"),
            "text/html",
            "Съешь же ещё",
        ),  # no label anywhere: detected
    ],
)
def test_charset_by_header_bom_meta_then_detection(body, ctype, text):
    from openwit.pipeline.crawl.html import decode_html

    got, _ = decode_html(body, ctype)
    assert text in got and "\ufffd" not in got


@pytest.mark.parametrize(
    "head, headers, optout",
    [
        ('<meta name="robots" content="noai, noimageai">', {}, "page_meta_robots"),
        ('<meta name="robots" content="none">', {}, "page_meta_robots"),
        ('<meta name="openwit" content="noimageindex">', {}, "page_meta_robots"),
        ('<meta name="otherbot" content="noai">', {}, None),
        ('<meta name="robots" content="noindex">', {}, None),  # the page, not its images
        ('<meta name="tdm-reservation" content="1">', {}, "page_tdm_reserved"),
        ("", {"x-robots-tag": "noimageai"}, "page_x_robots_tag"),
        ("", {"tdm-reservation": "1"}, "page_tdm_reserved"),
        ("", {}, None),
    ],
)
def test_pages_that_say_no(head, headers, optout):
    html = f"<html><head>{head}</head><body><img src=a.jpg alt=cat></body></html>"
    rows = extract_pairs(html, PAGE, HarvestConfig(), Counter(), headers)
    assert [r["optout"] for r in rows] == [optout]


def _warc(tmp_path, body: bytes, headers: str) -> str:
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "page.warc.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        http = StatusAndHeaders(
            "200 OK", [tuple(h.split(": ", 1)) for h in headers.split("\n")], protocol="HTTP/1.1"
        )
        w.write_record(
            w.create_warc_record(PAGE, "response", payload=BytesIO(body), http_headers=http)
        )
    return str(path)


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate"])
@pytest.mark.parametrize("chunked", [False, True])
def test_warc_records_stored_with_a_content_coding(tmp_path, coding, chunked):
    import gzip
    import zlib

    import brotli

    page = b"<html><body><img src='/c.jpg' alt='coded'></body></html>"
    body = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}[coding](page)
    headers = f"Content-Type: text/html\nContent-Encoding: {coding}"
    if chunked:
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        headers += "\nTransfer-Encoding: chunked"
    table, stats = harvest_warc(_warc(tmp_path, body, headers))
    assert table.column("caption").to_pylist() == ["coded"], dict(stats)


REAL = Path(__file__).parents[4] / "shared" / "realdata" / "commoncrawl"


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is not beside this checkout")
def test_a_real_common_crawl_page():
    from openwit.pipeline.crawl.harvest import harvest_wat

    table, stats = harvest_warc(str(REAL / "whirlwind.warc.gz"))
    assert table.num_rows == 13 and stats["html_pages"] == 1
    assert sum(1 for a in table.column("alt").to_pylist() if a) == 7
    assert all(u.startswith("https://") for u in table.column("url").to_pylist())
    wat, stats = harvest_wat(str(REAL / "whirlwind.warc.wat.gz"))
    assert wat.num_rows == 0 and stats["skipped_unparseable"] == 0  # it describes the request


def test_the_sandbox_wats_give_the_pairs_of_its_warcs(sandbox_dir):
    from openwit.pipeline.crawl.harvest import harvest_wat
    from openwit.pipeline.crawl.listing import expand_listing

    listing = sandbox_dir / "crawl-data" / "SANDBOX-2024-18"
    warcs = expand_listing(str(listing / "warc.paths.gz"))
    wats = expand_listing(str(listing / "wat.paths.gz"))
    assert len(warcs) == len(wats) and all(Path(p).is_file() for p in warcs + wats)

    def cols(t):
        return Counter(
            zip(*(t.column(c).to_pylist() for c in ("page_url", "url", "caption")), strict=True)
        )

    got_warc = sum((cols(harvest_warc(p)[0]) for p in warcs), Counter())
    got_wat = sum((cols(harvest_wat(p)[0]) for p in wats), Counter())
    assert got_wat == got_warc and sum(got_wat.values()) > 100


def test_arc_files_are_refused_with_a_way_out(tmp_path):
    from openwit.pipeline.crawl.harvest import ArcRefused

    arc = tmp_path / "old.arc.gz"
    arc.write_bytes(b"")
    with pytest.raises(ArcRefused, match="convert it"):
        harvest_warc(str(arc))


def test_url_lists_as_published(tmp_path):
    import gzip
    import json

    laion = pa.table(
        {
            "URL": ["http://a.test/1.jpg", "http://a.test/2.jpg"],
            "TEXT": ["Can&oacute; <strong>river</strong><br />bank", "caf\ufffd au lait"],
            "WIDTH": [640, 800],
            "similarity": [0.31, 0.29],
        }
    )
    pq.write_table(laion, tmp_path / "laion.parquet")
    t, _ = harvest_url_list(str(tmp_path / "laion.parquet"), preset="laion")
    assert t.column("caption").to_pylist() == ["Canó river bank", "caf au lait"]
    assert json.loads(t.column("extra")[0].as_py()) == {"WIDTH": 640, "similarity": 0.31}
    (tmp_path / "cc3m.tsv.gz").write_bytes(
        gzip.compress(b"a dog on a sofa\thttp://b.test/d.jpg\nred car\thttp://b.test/c.jpg\n")
    )
    t, _ = harvest_url_list(str(tmp_path / "cc3m.tsv.gz"), preset="cc3m")
    assert t.column("url").to_pylist() == ["http://b.test/d.jpg", "http://b.test/c.jpg"]
    assert t.column("caption").to_pylist() == ["a dog on a sofa", "red car"]
    (tmp_path / "cc12m.tsv").write_text('http://c.test/x.jpg\ta "quoted" <PERSON> caption\n')
    t, _ = harvest_url_list(str(tmp_path / "cc12m.tsv"), preset="cc12m")
    assert t.column("caption").to_pylist() == ['a "quoted" <PERSON> caption']
    dc = pa.table(
        {"uid": ["u1"], "url": ["http://d.test/1.jpg"], "text": ["t"], "sha256": ["a" * 64]}
    )
    pq.write_table(dc, tmp_path / "dc.parquet")
    t, _ = harvest_url_list(str(tmp_path / "dc.parquet"), preset="datacomp")
    assert json.loads(t.column("extra")[0].as_py()) == {"uid": "u1", "sha256": "a" * 64}
    (tmp_path / "l.txt").write_text("http://e.test/1.jpg\n\nhttp://e.test/2.jpg\n")
    t, _ = harvest_url_list(str(tmp_path / "l.txt"))
    assert t.num_rows == 2 and t.column("caption").to_pylist() == ["", ""]
    t, _ = harvest_url_list(
        str(tmp_path / "laion.parquet"), preset="laion", keep_columns=("WIDTH",)
    )
    assert json.loads(t.column("extra")[1].as_py()) == {"WIDTH": 800}
