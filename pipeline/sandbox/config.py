"""The sandbox's knobs: its size and the share of each planted property."""

from __future__ import annotations

from dataclasses import dataclass, field

from openwit.pipeline.sandbox.chrome import DEFAULT_CHROME
from openwit.pipeline.sandbox.clipart import DEFAULT_CLIPART_DIR

# What a correct crawler should record for an image URL with each planted fault.
FAULT_STATUS = {
    "none": "success",
    "http_404": "http_404",
    "http_500": "http_500",
    "slow": "timeout",
    "reset": "connection_reset",
    "truncated": "decode_error",
    "corrupt": "decode_error",
    "not_image": "not_an_image",
    "bomb": "too_large",
    "redirect_chain": "success",
    "redirect_loop": "redirect_loop",
    "redirect_ssrf": "blocked_address",
    "noai": "noai_header",
    "noimageai": "noai_header",
    "retry_429": "success",
    "retry_503": "success",
}

DEFAULT_FAULT_SHARES = {
    "http_404": 0.02,
    "http_500": 0.01,
    "slow": 0.002,
    "reset": 0.004,
    "truncated": 0.004,
    "corrupt": 0.004,
    "not_image": 0.004,
    "bomb": 0.001,
    "redirect_chain": 0.01,
    "redirect_loop": 0.002,
    "redirect_ssrf": 0.002,
    "noai": 0.004,
    "noimageai": 0.004,
    "retry_429": 0.004,
    "retry_503": 0.002,
}

DEFAULT_CAPTION_SHARES = {
    "dup_caption": 0.03,
    "filename": 0.012,
    "click_here": 0.012,
    "empty": 0.012,
    "very_long": 0.006,
    "url_only": 0.006,
    "foreign": 0.02,
    "mojibake": 0.006,
}

DEFAULT_IMAGE_SHARES = {
    "exact_dup": 0.04,
    "near_dup": 0.05,
    "semantic_dup": 0.02,  # an emoji scene again, in the other served style (SemDeDup's target)
    "url_dup": 0.03,
    "tiny": 0.015,
    "extreme_aspect": 0.015,
    "contaminated": 0.01,
}

DEFAULT_PAGE_SHARES = {
    "foreign": 0.05,
    "malformed": 0.04,
    "non_html": 0.03,
    "garbage": 0.01,
    "http_error": 0.01,
    "base_href": 0.08,
}


@dataclass(frozen=True)
class SandboxConfig:
    seed: int = 0
    n_sites: int = 60  # site00 … site59.sandbox.test, plus the cdn hosts
    n_cdn: int = 4
    n_pages: int = 3000
    imgs_per_page: tuple[int, int] = (4, 16)  # inclusive range
    n_warc_files: int = 8
    clipart_share: float = 0.15  # of original images, when openclipart is installed
    emoji_share: float = 0.3  # of original images, when the emoji sources are installed
    clipart_dir: str = str(DEFAULT_CLIPART_DIR)
    robots_blocked_hosts: int = 3  # Disallow: / for every agent
    robots_agent_blocked_hosts: int = 1  # Disallow: / for OpenWIT only
    robots_private_hosts: int = 6  # Disallow: /private/
    fault_shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULT_SHARES))
    caption_shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CAPTION_SHARES))
    image_shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_IMAGE_SHARES))
    page_shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PAGE_SHARES))
    chrome: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CHROME))  # per page
    min_planted: int = 3  # every planted property occurs at least this often
    eval_per_class: int = 50  # 500 images per set: accuracy to about ±0.02 (1 s.d.)
    eval_clipart_per_class: int = 12
    eval_retrieval: int = 200
    eval_emoji_classes: int = 256  # the most popular concepts: K-way zero-shot
    eval_emoji_per_class: int = 10  # per style set: 2,560 images each; probes up to 8 shots
    eval_animals_per_class: int = 50  # animal-shape-mnist: 500 of its 10,000

    @classmethod
    def from_json(cls, d: dict) -> SandboxConfig:
        """The config a sandbox.json recorded (JSON turned the page range into a list)."""
        return cls(**{**d, "imgs_per_page": tuple(d["imgs_per_page"])})
