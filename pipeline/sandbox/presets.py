"""The sandbox as a named preset: the settings a crawl of the sandbox web uses.

A crawl records its preset in `_config.json` (`preset`, `sandbox`), so the shards job knows
its input was the sandbox (and audits it against the ground truth) without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CrawlPreset:
    """Defaults a crawl takes from its preset; an option given explicitly wins."""

    t: int  # max pairs per query entry (balance)
    timeout: float  # seconds per response
    host_rps: float  # requests/s per host, whole crawl


# The sandbox's ~28k pairs need a small cap for balancing to bite; it serves from loopback,
# so it takes a higher rate, and its planted slow images need no long wait.
SANDBOX = CrawlPreset(t=700, timeout=5.0, host_rps=50.0)
SLOW_MARGIN = 3.0  # the served sandbox stalls its planted slow images this long past the timeout
