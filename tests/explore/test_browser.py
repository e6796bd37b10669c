"""The explorer in a real browser (Debian's chromium, headless, through chromium-driver).

On the small sandbox crawled without balancing (so every red circle it serves is there to
find) and a model the project trains on it for three minutes: text search, a sample's
provenance, the near-duplicate drops beside their survivors, and refused attacks. The
screenshots it takes are docs/explore.md's (OPENWIT_SCREENSHOTS=docs/img/explore writes them
there)."""

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.explore.app import ExploreConfig, running
from openwit.explore.index import IndexConfig, build_index
from openwit.pipeline.sandbox.scenes import scene_from_seed
from tests.conftest import crawl_args, shards_args, train_run
from tests.explore.test_explore import get

pytestmark = pytest.mark.slow
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# Of the ~1,600 kept pairs 1.4% show a red circle and ~13% something red. The tiny model,
# trained 30 epochs (~50k samples, 3 minutes), ranks red first and mostly red circles within
# that (measured: docs/explore.md); 10 epochs found 4 in 10, 20 epochs 5, 30 epochs 7. The
# floors: 8 of the top 10 red and 5 of them red circles (35x chance).
MIN_RED_AT_10, MIN_RED_CIRCLE_AT_10 = 0.8, 0.5


@pytest.fixture(scope="module")
def corpus(sandbox_dir, query_list, ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("explore-e2e")
    runner = CliRunner()
    args = crawl_args(sandbox_dir, query_list[1], root / "crawl")
    args[args.index("--t") + 1] = "1000000"  # no balancing: keep every matched pair
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*shards_args(root / "crawl", root / "shards")])
    assert result.exit_code == 0, result.output
    ckpt = train_run(
        root / "shards", root / "run", "--epochs", "30", "--batch-size", "64", "--seed", "0"
    )
    build_index(IndexConfig(str(root / "shards"), str(ckpt), crawl=str(root / "crawl")), False)
    return root


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromium-driver are not installed (make install adds them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1400,1000")
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _wait_ready(driver, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.dataset.ready === location.hash")
    )
    WebDriverWait(driver, timeout).until(  # every image in view decoded (or failed)
        lambda d: d.execute_script(
            """return [...document.images]
                .filter(i => i.getBoundingClientRect().top < innerHeight)
                .every(i => i.complete)"""
        )
    )


def _shot(driver, name: str) -> None:
    folder = Path(os.environ.get("OPENWIT_SCREENSHOTS", "data/screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def _truth(corpus: Path, sandbox_dir: Path) -> dict[str, tuple[bool, bool]]:
    """Per kept pair: (shows something red, shows a red circle), from the scene's spec."""
    rows = duckdb.sql(
        f"""SELECT c.pair_id, t.scene_seed FROM '{corpus}/shards/candidates.parquet' c
            JOIN '{sandbox_dir}/truth/images.parquet' t USING (url) WHERE c.status = 'kept'"""
    ).fetchall()

    def look(seed) -> tuple[bool, bool]:
        red = [o for o in scene_from_seed(seed).objects if o.colour == "red"] if seed else []
        return bool(red), any(o.shape == "circle" for o in red)

    return {p: look(s) for p, s in rows}


def test_search_sample_duplicates_and_attacks(corpus, sandbox_dir, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    truth = _truth(corpus, sandbox_dir)
    crawl = str(corpus / "crawl")
    with running(ExploreConfig(str(corpus / "shards"), crawl=crawl)) as base:
        d = browser
        d.get(f"{base}/#/browse?outcome=kept")
        _wait_ready(d)
        _shot(d, "browse")

        # text -> image search
        box = d.find_element(By.ID, "search")
        box.send_keys("a red circle", Keys.ENTER)
        _wait_ready(d)
        cards = d.find_elements(By.CSS_SELECTOR, "#results .card")
        top = [c.get_attribute("data-pair-id") for c in cards[:10]]
        red, circle = (sum(truth.get(p, (False, False))[i] for p in top) / 10 for i in (0, 1))
        rates = [sum(t[i] for t in truth.values()) / len(truth) for i in (0, 1)]
        print(f"precision@10: red {red:.2f}, red circle {circle:.2f} (base rates {rates})")
        assert red >= MIN_RED_AT_10 and circle >= MIN_RED_CIRCLE_AT_10, (red, circle, rates)
        assert all(
            i.get_property("naturalWidth") > 0
            for i in d.find_elements(By.CSS_SELECTOR, "#results img")[:10]
        )
        _shot(d, "search")

        # a sample's provenance
        cards[0].click()
        _wait_ready(d)
        sample = d.find_element(By.ID, "sample")
        pair_id = sample.get_attribute("data-pair-id")
        page_url, key = duckdb.sql(
            f"""SELECT page_url, key FROM '{corpus}/shards/candidates.parquet'
                WHERE pair_id = '{pair_id}'"""
        ).fetchall()[0]
        assert d.find_element(By.CSS_SELECTOR, ".prov-page-url").text == page_url
        assert key in d.find_element(By.CSS_SELECTOR, ".prov-shard").text
        assert d.find_element(By.CSS_SELECTOR, ".stage.kept")
        assert d.find_elements(By.CSS_SELECTOR, "table.entries tr")  # the entries it matched
        _shot(d, "sample")

        # the dropped side: near duplicates beside the image that stayed
        d.execute_script("location.hash = '#/browse'")  # the same page: a route change
        _wait_ready(d)
        facet = d.find_element(
            By.CSS_SELECTOR, '.facet-value[data-facet="outcome"][data-value="dedup: near_image"]'
        )
        facet.click()
        _wait_ready(d)
        assert "near_image" in d.find_element(By.CSS_SELECTOR, ".chips").text
        d.find_elements(By.CSS_SELECTOR, "#results .card")[0].click()
        _wait_ready(d)
        figures = d.find_elements(By.CSS_SELECTOR, "#dups figure")
        assert len(figures) >= 2
        labels = [f.text for f in figures]
        assert "this" in labels[0] and "survivor" in labels[1] and "kept" in labels[1]
        for img in d.find_elements(By.CSS_SELECTOR, "#dups img")[:2]:
            assert img.get_property("naturalWidth") > 0
        d.execute_script("document.getElementById('dups').scrollIntoView({block: 'center'})")
        _shot(d, "duplicates")

        d.execute_script("location.hash = '#/entries?sort=kept&order=desc'")
        _wait_ready(d)
        _shot(d, "entries")

        # attacks, through the browser's own requests
        for path in ("/api/image/..%2F..%2F..%2Fetc%2Fpasswd", "/static/..%2F_config.json"):
            d.get(base + path)
            assert "root:" not in d.page_source and '"config"' not in d.page_source
        status, hits = get(base, "/api/samples", outcome="kept' OR '1'='1")
        assert status == 200 and hits["total"] == 0
        assert get(base, "/api/entries", sort="kept; DROP TABLE entry_stats")[0] == 400
