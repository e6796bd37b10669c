"""The polite, safe client against the real sandbox server on loopback (never any other address)."""

import pyarrow.parquet as pq
import pytest

from openwit.pipeline.crawl.http.fetch import FetchConfig, Fetcher
from openwit.pipeline.crawl.http.guard import Blocked, Resolver, Unresolvable, is_public
from openwit.pipeline.crawl.http.robots import RobotsCache
from openwit.pipeline.sandbox.server import SandboxServer, read_log


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "240.0.0.1",
    ],
)
def test_guard_refuses_non_public_addresses(ip):
    assert not is_public(ip)  # a pure check: nothing is contacted


def test_guard_checks_ip_literals_and_the_allow_list_without_dns():
    r = Resolver(
        resolve={"site.sandbox.test:80": "127.0.0.1:8000"},
        allow=frozenset({"127.0.0.1:8000"}),
        resolve_only=True,
    )
    assert r.address("site.sandbox.test", 80) == ("127.0.0.1", 8000)
    with pytest.raises(Blocked):
        r.address("127.0.0.2", 8000)
    with pytest.raises(Blocked):
        r.address("127.0.0.1", 8001)  # allowed is ip:port, not the whole host
    with pytest.raises(Unresolvable):
        r.address("elsewhere.test", 80)  # resolve_only: no DNS query leaves the machine


@pytest.fixture(scope="module")
def images(sandbox_dir):
    rows = pq.read_table(sandbox_dir / "truth" / "images.parquet").to_pylist()
    out = {}
    for r in rows:
        out.setdefault((r["fault"], r["robots_disallowed"]), []).append(r)
    return out


def make_fetcher(info, **kw):
    cfg = FetchConfig(
        resolve=info["resolve"],
        allow=tuple(info["allow"]),
        resolve_only=True,
        timeout=3.0,
        backoff=0.05,
        **kw,
    )
    f = Fetcher(cfg)
    f.robots = RobotsCache(cfg.user_agent, fetcher=f)
    return f


def test_each_fault_gets_its_status_and_forbidden_urls_are_never_requested(sandbox_server, images):
    f = make_fetcher(sandbox_server)
    seen_before = len(read_log(sandbox_server["log"]))  # the log is shared with other tests
    fetch_level = {
        "none",
        "http_404",
        "http_500",
        "reset",
        "redirect_chain",
        "redirect_loop",
        "redirect_ssrf",
        "noai",
        "noimageai",
        "retry_429",
        "retry_503",
    }
    asked = []
    for (fault, blocked), rows in images.items():
        if fault in fetch_level or blocked:
            for r in rows[:2]:
                resp = f.get(r["url"])
                assert resp.status == r["expected_status"], (fault, blocked, r["url"], resp.error)
                asked.append(r)
    log = read_log(sandbox_server["log"])[seen_before:]
    requested = {(e["host"], e["path"]) for e in log}
    for r in asked:
        if r["robots_disallowed"]:
            assert (r["host"], r["path"]) not in requested
    assert not any(e["listener"] == "trap" for e in log)


def test_retry_after_is_honoured(sandbox_dir, images, tmp_path):
    r = images[("retry_503", False)][-1]
    log = tmp_path / "log.jsonl"
    with SandboxServer(sandbox_dir, log_path=log) as info:  # fresh: its 503 not yet spent
        assert make_fetcher(info).get(r["url"]).status == "success"
    hits = [e for e in read_log(log) if e["path"] == r["path"]]
    assert [e["status"] for e in hits] == [503, 200]
    assert hits[1]["t"] - hits[0]["t"] >= 0.9  # Retry-After: 1


def test_caps_on_redirects_and_bytes(sandbox_server, images):
    chain = images[("redirect_chain", False)][-1]["url"]
    assert make_fetcher(sandbox_server, max_redirects=2).get(chain).status == "too_many_redirects"
    big = images[("none", False)][-1]["url"]
    assert make_fetcher(sandbox_server, max_bytes=100).get(big).status == "too_large"


def test_offline_runs_reach_nothing_outside_the_map_ip_literals_included():
    r = Resolver(
        resolve={"mirror.test:80": "127.0.0.1:8000"},
        allow=frozenset({"127.0.0.1:8000"}),
        resolve_only=True,
    )
    with pytest.raises(Blocked, match="outside the resolve map"):
        r.address("127.0.0.1", 8000)  # allowed, but not through the map: a page's way out


@pytest.mark.parametrize(
    "spec, want",
    [
        ("example.com:443:127.0.0.1", ("example.com:443", "127.0.0.1:443")),
        ("Example.COM:80:127.0.0.1:8080", ("example.com:80", "127.0.0.1:8080")),
        ("v6.test:80:[::1]:9000", ("v6.test:80", "[::1]:9000")),
        ("v6.test:80:[::1]", ("v6.test:80", "[::1]:80")),
    ],
)
def test_resolve_specs_like_curl(spec, want):
    from openwit.pipeline.crawl.http.guard import parse_resolve

    assert parse_resolve(spec) == want


@pytest.mark.parametrize("spec", ["example.com:443", "x:y:127.0.0.1", "h:80:not-an-ip"])
def test_bad_resolve_specs_say_the_form(spec):
    from openwit.pipeline.crawl.http.guard import parse_resolve

    with pytest.raises(ValueError, match="--resolve"):
        parse_resolve(spec)


def test_private_ranges_must_be_asked_for_twice():
    from openwit.pipeline.crawl.http.guard import check_allow

    assert check_allow("127.0.0.1:8000") == "127.0.0.1:8000"
    assert check_allow("[::1]:8000") == "::1:8000"
    for private in ("10.0.0.5:80", "192.168.1.2:443", "169.254.169.254:80", "[fd00::1]:80"):
        with pytest.raises(ValueError, match="--allow-private-network"):
            check_allow(private)
        assert check_allow(private, private_network=True)
