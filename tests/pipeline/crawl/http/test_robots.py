"""robots.txt as RFC 9309 reads it: the rules, and what each answer for the file means."""

import time

import pytest

from openwit.pipeline.crawl.http.fetch import FetchConfig, Fetcher
from openwit.pipeline.crawl.http.robots import RobotsCache, origin

from .web import response, serve

AGENT = "OpenWIT/0.1 (+https://example.test/bot)"


def rules(body: str) -> RobotsCache:
    return RobotsCache(AGENT, {"http://site.test": body})


def allowed(cache: RobotsCache, path: str) -> bool:
    return cache.allowed("http://site.test" + path)


@pytest.mark.parametrize(
    "body, path, expected",
    [
        # Longest match wins, whatever the order of the lines (RFC 9309 2.2.2).
        ("User-agent: *\nAllow: /p\nDisallow: /", "/page", True),
        ("User-agent: *\nDisallow: /\nAllow: /p", "/page", True),
        ("User-agent: *\nAllow: /folder\nDisallow: /folder/private", "/folder/private/x", False),
        # An Allow and a Disallow of the same length: Allow wins.
        ("User-agent: *\nDisallow: /folder\nAllow: /folder", "/folder/page", True),
        # `*` matches any sequence, `$` the end of the path.
        ("User-agent: *\nDisallow: /*.gif$", "/images/a.gif", False),
        ("User-agent: *\nDisallow: /*.gif$", "/images/a.gif?size=2", True),
        ("User-agent: *\nDisallow: /*/private/", "/a/b/private/c", False),
        ("User-agent: *\nDisallow: /path/fish.php$", "/path/fish.php", False),
        ("User-agent: *\nDisallow: /path/fish.php$", "/path/fish.php5", True),
        # Percent-encoded and literal UTF-8 octets are the same path (2.2.2).
        ("User-agent: *\nDisallow: /%E3%83%84", "/ツ", False),
        ("User-agent: *\nDisallow: /ツ", "/%E3%83%84", False),
        ("User-agent: *\nDisallow: /a%3cd", "/a%3Cd", False),
        # Our product token, case-insensitively, over `*`; the groups for it merged.
        ("User-agent: *\nDisallow: /\n\nUser-agent: openwit\nAllow: /", "/x", True),
        ("User-agent: *\nAllow: /\n\nUser-agent: OPENWIT\nDisallow: /x", "/x/y", False),
        (
            "User-agent: openwit\nDisallow: /a\n\nUser-agent: other\nDisallow: /b\n\n"
            "User-agent: openwit\nDisallow: /c",
            "/c/1",
            False,
        ),
        ("User-agent: other\nUser-agent: openwit\nDisallow: /shared", "/shared", False),
        # Another agent's group says nothing to us; an empty Disallow allows everything.
        ("User-agent: otherbot\nDisallow: /", "/x", True),
        ("User-agent: *\nDisallow:", "/anything", True),
        # Unknown lines and comments are ignored; /robots.txt itself is always allowed.
        ("# hi\nUser-agent: *\nFoo: bar\nDisallow: /x # no", "/x", False),
        ("User-agent: *\nDisallow: /", "/robots.txt", True),
    ],
)
def test_rfc9309_rules(body, path, expected):
    assert allowed(rules(body), path) is expected


def test_origin_is_scheme_host_port_without_userinfo():
    assert origin("http://user:pw@Site.Test:80/a") == "http://site.test"
    assert origin("https://site.test:443/") == "https://site.test"
    assert origin("https://site.test:8443/") == "https://site.test:8443"
    assert origin("http://[::1]:8080/") == "http://[::1]:8080"


def _fetcher(web, *hosts, **kw) -> Fetcher:
    cfg = FetchConfig(
        user_agent=AGENT,
        resolve=web.resolve(*hosts),
        allow=web.allow,
        resolve_only=True,
        timeout=2.0,
        backoff=0.01,
        max_retries=0,
        **kw,
    )
    f = Fetcher(cfg)
    f.robots = RobotsCache(AGENT, fetcher=f)
    return f


@pytest.mark.parametrize(
    "answer, fetched",
    [
        (response(200, b"User-agent: *\nDisallow: /no\n"), True),
        (response(404), True),  # unavailable: no rules
        (response(410), True),
        (response(403), True),  # any 4xx, 401/403 included (RFC 9309 2.3.1.3)
        (response(500), False),  # unreachable: disallow all
        (response(503), False),
        (response(429), False),  # overloaded, as Google reads it
        ([(b"garbage that is no HTTP\r\n\r\n", 0.0)], False),
    ],
)
def test_robots_answers(answer, fetched):
    with serve() as web:
        web.route("site.test", "/robots.txt", answer)
        web.route("site.test", "/yes.png", response(200, b"img"))
        f = _fetcher(web, "site.test")
        status = f.get("http://site.test/yes.png").status
        assert status == ("success" if fetched else "robots_disallowed")
        assert web.asked("site.test", "/yes.png") == int(fetched)


def test_robots_redirects_are_followed_and_the_file_is_fetched_once_per_origin():
    with serve() as web:
        web.route("site.test", "/robots.txt", response(301, headers={"Location": "/r2.txt"}))
        web.route("site.test", "/r2.txt", response(200, b"User-agent: *\nDisallow: /no\n"))
        web.route("site.test", "/a.png", response(200, b"img"))
        f = _fetcher(web, "site.test")
        assert f.get("http://site.test/no/x.png").status == "robots_disallowed"
        assert f.get("http://user:pw@site.test:80/a.png").status == "success"
        assert web.asked("site.test", "/no/x.png") == 0
        assert web.asked("site.test", "/robots.txt") == 1


def test_the_first_512_kib_are_parsed():
    filler = "# " + "x" * 1000 + "\n"
    body = "User-agent: *\n" + filler * 505 + "Disallow: /late\n"  # past 500,000 bytes
    assert len(body.encode()) > 505_000
    with serve() as web:
        web.route("site.test", "/robots.txt", response(200, body.encode()))
        web.route("site.test", "/late", response(200, b"img"))
        assert _fetcher(web, "site.test").get("http://site.test/late").status == "robots_disallowed"


def test_crawl_delay_is_a_lower_bound_on_the_interval():
    with serve() as web:
        web.route("site.test", "/robots.txt", response(200, b"User-agent: *\nCrawl-delay: 0.5\n"))
        web.route("slow.test", "/robots.txt", response(200, b"User-agent: *\nCrawl-delay: 600\n"))
        for i in range(3):
            web.route("site.test", f"/{i}.png", response(200, b"img"))
        f = _fetcher(web, "site.test", "slow.test", host_rps=1000.0)
        for i in range(3):
            assert f.get(f"http://site.test/{i}.png").status == "success"
        times = sorted(r.t for r in web.log if r.path.endswith(".png"))
        assert all(b - a >= 0.45 for a, b in zip(times, times[1:], strict=False))
        t0 = time.monotonic()
        assert f.get("http://slow.test/a.png").status == "crawl_delay_too_long"
        assert time.monotonic() - t0 < 1.0
