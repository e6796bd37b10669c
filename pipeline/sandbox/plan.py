"""Decide, from one seed, every host, page, image URL and planted property of the sandbox.

The plan is pure data: the builder writes it to WARC files and ground-truth Parquet, and the
server answers each image URL from the same rows. Every random choice draws from its own
seeded stream, so one seed gives one sandbox, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openwit.pipeline.sandbox import captions, chrome, clipart, emoji
from openwit.pipeline.sandbox.assets import clip_size, png_dims, transform_params
from openwit.pipeline.sandbox.clipart import Clip
from openwit.pipeline.sandbox.config import FAULT_STATUS, SandboxConfig
from openwit.pipeline.sandbox.evalset import EVAL_SIZE, NEVER_SERVED, EvalItem
from openwit.pipeline.sandbox.scenes import scene_from_seed

EXT = {"jpeg": "jpg", "png": "png", "webp": "webp"}
FORMS = ("img_abs", "img_rel", "img_root", "srcset", "data_src", "figure", "picture", "title_only")
_FORM_P = (0.25, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05, 0.05)
_SIZES = ((320, 240), (256, 256), (400, 300), (300, 400), (512, 384), (480, 360), (360, 480))
TRANSFORMS = ("reencode", "resize", "crop", "colour")
ROBOTS_RULES = ("allow_all", "disallow_all", "disallow_openwit", "disallow_private", "missing")


@dataclass
class Plan:
    hosts: list[dict] = field(default_factory=list)
    pages: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)  # one row per served image URL
    candidates: list[dict] = field(default_factory=list)  # one row per <img> on a page


def _allocate(
    rng: np.random.Generator,
    idx: np.ndarray,
    shares: dict[str, float],
    minimum: int,
    default: str = "none",
) -> dict[int, str]:
    """Give disjoint random subsets of `idx` each label: max(minimum, share * n) items."""
    order = rng.permutation(idx)
    out, pos = {}, 0
    for label, share in shares.items():
        k = max(minimum, round(share * len(idx))) if share > 0 else 0
        for i in order[pos : pos + k]:
            out[int(i)] = label
        pos += k
    if pos > len(idx):
        raise ValueError("the planted shares add up to more than the candidates; lower them")
    return {int(i): out.get(int(i), default) for i in idx}


def _hosts(cfg: SandboxConfig, rng: np.random.Generator) -> list[dict]:
    sites = [f"site{i:02d}.sandbox.test" for i in range(cfg.n_sites)]
    cdns = [f"cdn{i}.sandbox.test" for i in range(cfg.n_cdn)]
    rules = {h: "allow_all" for h in sites + cdns}
    order = [sites[i] for i in rng.permutation(len(sites))]
    plan = (
        ["disallow_all"] * cfg.robots_blocked_hosts
        + ["disallow_openwit"] * cfg.robots_agent_blocked_hosts
        + ["disallow_private"] * cfg.robots_private_hosts
        + ["missing"] * 3
    )
    for host, rule in zip(order, plan, strict=False):
        rules[host] = rule
    return [
        {"host": h, "kind": "cdn" if h in cdns else "site", "robots": rules[h]}
        for h in sites + cdns
    ]


def robots_blocks(rule: str, path: str) -> bool:
    """Whether OpenWIT's user agent may not fetch `path` on a host with this rule."""
    return rule in ("disallow_all", "disallow_openwit") or (
        rule == "disallow_private" and path.startswith("/private/")
    )


def _pages(cfg: SandboxConfig, rng: np.random.Generator, sites: list[str]) -> list[dict]:
    n = cfg.n_pages
    idx = np.arange(n)
    kind = _allocate(
        rng,
        idx,
        {k: cfg.page_shares[k] for k in ("malformed", "non_html", "garbage", "http_error")},
        cfg.min_planted,
        "html",
    )
    htmlish = np.array([i for i in idx if kind[i] in ("html", "malformed")])
    foreign = _allocate(rng, htmlish, {"foreign": cfg.page_shares["foreign"]}, cfg.min_planted)
    base = _allocate(rng, htmlish, {"base": cfg.page_shares["base_href"]}, cfg.min_planted)
    pages = []
    for i in range(n):
        host = sites[int(rng.integers(len(sites)))]
        style = int(rng.integers(3))
        path = (
            f"/articles/{i:05d}-{rng.integers(10**6):06d}.html",
            f"/gallery/{i:05d}/",
            f"/{2015 + i % 10}/{1 + i % 12:02d}/post-{i:05d}.html",
        )[style]
        lang = "en"
        if foreign.get(i) == "foreign":
            lang = captions.LANGS[int(rng.integers(len(captions.LANGS)))]
        pages.append(
            {
                "page_id": i,
                "url": f"http://{host}{path}",
                "host": host,
                "path": path,
                "kind": kind[i],
                "lang": lang,
                "base_href": base.get(i) == "base",
                "n_images": int(rng.integers(cfg.imgs_per_page[0], cfg.imgs_per_page[1] + 1))
                if kind[i] in ("html", "malformed")
                else 0,
            }
        )
    return pages


class _Builder:
    """Holds the streams and counters while candidates are made; `plan()` runs it."""

    def __init__(
        self, cfg: SandboxConfig, clips: list[Clip], held: set[str], eval_items: list[EvalItem]
    ):
        self.cfg = cfg
        self.rng = {k: np.random.default_rng([cfg.seed, k]) for k in range(1, 15)}
        self.plan = Plan()
        self.plan.hosts = _hosts(cfg, self.rng[1])
        self.rules = {h["host"]: h["robots"] for h in self.plan.hosts}
        sites = [h["host"] for h in self.plan.hosts if h["kind"] == "site"]
        self.cdns = [h["host"] for h in self.plan.hosts if h["kind"] == "cdn"]
        self.plan.pages = _pages(cfg, self.rng[2], sites)
        served = [c for c in clips if c.path not in held]
        order = self.rng[3].permutation(len(served))
        self.clips = [served[i] for i in order]
        self.held = [c for c in clips if c.path in held]
        self.eval_items = [i for i in eval_items if i.set not in NEVER_SERVED]
        n = len(emoji.catalogue()) if cfg.emoji_share > 0 and emoji.available() else 0
        self.emoji_order = emoji.concept_order(cfg.seed, n) if n else None
        self.tokens: set[str] = set()

    def token(self) -> str:
        while True:
            t = f"{self.rng[4].integers(2**48):012x}"
            if t not in self.tokens:
                self.tokens.add(t)
                return t

    def new_url(self, page_host: str, fmt: str) -> tuple[str, str]:
        rng = self.rng[4]
        host = page_host if rng.random() < 0.7 else self.cdns[int(rng.integers(len(self.cdns)))]
        token = self.token()
        r = rng.random()
        if self.rules[host] == "disallow_private" and r < 0.35:
            path = f"/private/{token}.{EXT[fmt]}"
        elif r < 0.05:
            path = f"/img.php?id={token}"
        elif r < 0.25:
            path = f"/media/{2016 + int(rng.integers(9))}/{token}.{EXT[fmt]}"
        else:
            path = f"/images/{token}.{EXT[fmt]}"
        return host, path

    # -- assets ------------------------------------------------------------------------
    def scene_asset(self, rng: np.random.Generator, group: str) -> dict:
        if group == "tiny":
            w = h = int(rng.integers(12, 40))
        elif group == "extreme_aspect":
            long, ratio = int(rng.integers(500, 900)), rng.uniform(4, 8)
            w, h = (long, max(8, round(long / ratio)))
            if rng.random() < 0.5:
                w, h = h, w
        else:
            w, h = _SIZES[int(rng.integers(len(_SIZES)))]
        seed = int(rng.integers(2**30))
        return {
            "asset_kind": "scene",
            "content_id": f"scene:{seed}",
            "scene_seed": seed,
            "base_width": w,
            "base_height": h,
        }

    def clip_asset(self, clip: Clip) -> dict:
        w, h = clip_size(*png_dims(Path(self.cfg.clipart_dir) / "png" / clip.path))
        return {
            "asset_kind": "clip",
            "content_id": f"clip:{clip.path}",
            "clip_path": clip.path,
            "base_width": w,
            "base_height": h,
            "_clip": clip,
        }

    def emoji_asset(self, rng: np.random.Generator) -> dict:
        seed = int(rng.integers(2**30))
        w, h = _SIZES[int(rng.integers(len(_SIZES)))]
        return {
            "asset_kind": "emoji",
            "content_id": f"emoji:{seed}",
            "emoji_seed": seed,
            "emoji_concepts": list(emoji.draw_concepts(rng, self.emoji_order)),
            "base_width": w,
            "base_height": h,
        }

    def restyled(self, src: dict) -> dict:
        scene = emoji.scene_from_seed(src["emoji_seed"], tuple(src["emoji_concepts"]))
        style = next(s for s in emoji.SERVED_STYLES if s != scene.style)
        keys = ("asset_kind", "emoji_seed", "emoji_concepts", "base_width", "base_height")
        return {
            **{k: src[k] for k in keys},
            "content_id": f"{src['content_id']}:{style}",
            "emoji_style": style,
        }

    def eval_asset(self, item: EvalItem) -> dict:
        return {
            "asset_kind": "eval",
            "content_id": f"eval:{item.eval_id}",
            "eval_id": item.eval_id,
            "base_width": EVAL_SIZE,
            "base_height": EVAL_SIZE,
            "_eval": item,
        }

    def finish_asset(
        self, asset: dict, rng: np.random.Generator, transform: str = "none", fmt: str | None = None
    ) -> dict:
        if fmt is None:
            fmt = (
                "png"
                if asset["asset_kind"] in ("clip", "emoji") and rng.random() < 0.5
                else str(rng.choice(["jpeg", "jpeg", "jpeg", "png", "webp"]))
            )
        tseed = int(rng.integers(2**31))
        size = transform_params(transform, tseed, asset["base_width"], asset["base_height"])["size"]
        return {
            **asset,
            "fmt": fmt,
            "quality": int(rng.integers(75, 96)),
            "transform": transform,
            "transform_seed": tseed,
            "width": int(size[0]),
            "height": int(size[1]),
        }

    # -- candidates --------------------------------------------------------------------
    def run(self) -> Plan:
        cfg, rng = self.cfg, self.rng
        slots = [(p, k) for p in self.plan.pages for k in range(p["n_images"])]
        idx = np.arange(len(slots))
        group = _allocate(rng[5], idx, cfg.image_shares, cfg.min_planted, "original")
        if not self.eval_items:
            group = {i: ("original" if g == "contaminated" else g) for i, g in group.items()}
        if self.emoji_order is None:  # a semantic duplicate is an emoji scene redrawn
            group = {i: ("original" if g == "semantic_dup" else g) for i, g in group.items()}
        faultable = np.array([i for i in idx if group[i] not in ("url_dup", "contaminated")])
        fault = _allocate(rng[6], faultable, cfg.fault_shares, cfg.min_planted)
        capkind = _allocate(rng[7], idx, cfg.caption_shares, cfg.min_planted, "natural")
        forms = rng[8].choice(len(FORMS), size=len(slots), p=_FORM_P)
        root = Path(cfg.clipart_dir)
        wanted = round(cfg.clipart_share * len(slots))
        self.clips = clipart.distinct(self.clips, wanted, self.held, root) if wanted else []
        n_clips = len(self.clips)
        clip_slots = (
            set(rng[9].choice(len(slots), n_clips, replace=False).tolist()) if n_clips else set()
        )
        clips = iter(self.clips)
        n_emoji = round(cfg.emoji_share * len(slots)) if self.emoji_order is not None else 0
        free = np.array([i for i in range(len(slots)) if i not in clip_slots])
        emoji_slots = (
            set(rng[12].choice(free, min(n_emoji, len(free)), replace=False).tolist())
            if n_emoji
            else set()
        )
        cands: list[dict | None] = [None] * len(slots)
        originals: list[int] = []
        a_rng = rng[10]
        # Pass 1: every image that is new content; pass 2: the copies of pass-1 images.
        for i, (page, _k) in enumerate(slots):
            g = group[i]
            if g in COPIES:
                continue
            if g == "contaminated":
                asset = self.eval_asset(self.eval_items[int(a_rng.integers(len(self.eval_items)))])
                t = str(a_rng.choice(["none", "resize", "reencode"]))
                asset = self.finish_asset(asset, a_rng, t, "jpeg")
            elif i in clip_slots and g == "original":
                asset = self.finish_asset(self.clip_asset(next(clips)), a_rng)
            elif i in emoji_slots and g == "original":
                asset = self.finish_asset(self.emoji_asset(rng[13]), a_rng)
            else:
                asset = self.finish_asset(self.scene_asset(a_rng, g), a_rng)
            cands[i] = self.new_image(page, asset, g, fault.get(i, "none"))
            if g == "original" and cands[i]["fault"] == "none":
                originals.append(i)
        drawn = [i for i in originals if cands[i]["asset_kind"] == "emoji"]
        for i, (page, _k) in enumerate(slots):
            g = group[i]
            if cands[i] is not None:
                continue
            if g == "semantic_dup":  # the same concepts and composition, the other style
                src = cands[drawn[int(a_rng.integers(len(drawn)))]]
                asset = self.finish_asset(self.restyled(src), a_rng)
                cands[i] = self.new_image(page, asset, g, fault.get(i, "none"))
                cands[i]["dup_of"] = src["url"]
                continue
            src = cands[originals[int(a_rng.integers(len(originals)))]]
            if g == "url_dup":
                cands[i] = {**src, "group": g, "url_dup_of": src["url"]}
                continue
            asset = {k: v for k, v in src.items() if k in _ASSET_KEYS + ("_clip", "_eval")}
            if g == "near_dup":
                t = TRANSFORMS[int(a_rng.integers(len(TRANSFORMS)))]
                fmt = str(a_rng.choice(["jpeg", "webp", "png"])) if t == "reencode" else None
                asset = self.finish_asset(asset, a_rng, t, fmt)
            cands[i] = self.new_image(page, asset, g, fault.get(i, "none"))
            cands[i]["dup_of"] = src["url"]
        for i, (page, _k) in enumerate(slots):
            self.place(cands[i], page, FORMS[forms[i]], rng[11])
            self.caption(cands[i], page, capkind[i], rng[11])
        self.fill_dup_captions(cands, rng[11])
        cands += self.chrome(rng[14])
        self.plan.candidates = [{"cand_id": i, **c} for i, c in enumerate(cands)]
        return self.plan

    def chrome(self, rng: np.random.Generator) -> list[dict]:
        """Every HTML page's logo, icons, ad, avatar and placeholder (`chrome.py` says why)."""
        out = []
        for page in self.plan.pages:
            if page["kind"] not in ("html", "malformed"):
                continue
            for item in chrome.for_page(page["host"], rng, self.cfg.chrome):
                asset = {
                    "asset_kind": "chrome",
                    "content_id": f"chrome:{item.content}",
                    "chrome": item.content,
                    "base_width": item.width,
                    "base_height": item.height,
                }
                fmt = "jpeg" if item.kind == "ad" else "png"
                asset = self.finish_asset(asset, rng, "resize" if item.resized else "none", fmt)
                asset["quality"] = 85  # one ad's bytes wherever it runs
                host = self.cdns[int(rng.integers(len(self.cdns)))] if item.kind == "ad" else None
                host = host or page["host"]
                token = self.token()
                path = {
                    "logo": f"/static/logo.png?v={token}",  # a cache-buster per page
                    "icon": f"/static/icons/{item.content[5:]}-{token}.png",
                    "ad": f"/ads/{token}.jpg",
                    "avatar": f"/avatars/{token}.png",
                    "placeholder": f"/static/placeholder-{token}.png",
                }[item.kind]
                c = self.new_image(page, asset, "chrome", "none", (host, path))
                self.place(c, page, "img_root" if host == page["host"] else "img_abs", rng)
                # "logo", "Site07", "rss": a word or two of chrome has no language to detect
                lang = "en" if len(item.alt.split()) >= 3 else "und"
                c["caption_kind"], c["lang"], c["caption"] = "chrome", lang, item.alt
                out.append(c)
        return out

    def new_image(
        self,
        page: dict,
        asset: dict,
        group: str,
        fault: str,
        where: tuple[str, str] | None = None,
    ) -> dict:
        host, path = where or self.new_url(page["host"], asset["fmt"])
        blocked = robots_blocks(self.rules[host], path)
        row = {
            **{k: asset.get(k) for k in _ASSET_KEYS},
            "url": f"http://{host}{path}",
            "host": host,
            "path": path,
            "group": group,
            "fault": fault,
            "robots_disallowed": blocked,
            "expected_status": "robots_disallowed" if blocked else FAULT_STATUS[fault],
            "dup_of": None,
            "url_dup_of": None,
            "_clip": asset.get("_clip"),
            "_eval": asset.get("_eval"),
        }
        self.plan.images.append(row)
        return dict(row)

    def place(self, c: dict, page: dict, form: str, rng: np.random.Generator) -> None:
        """How the page refers to the image: `src` as written, resolved later by the harvester."""
        c["page_id"], c["page_url"] = page["page_id"], page["url"]
        if c["group"] == "url_dup":
            form = "img_abs"
            variant = int(rng.integers(4))
            host = c["host"]
            c["src"] = (
                c["url"],
                f"http://{host.upper()}{c['path']}",
                f"http://{host}:80{c['path']}",
                f"{c['url']}#main",
            )[variant]
        elif form in ("img_rel", "img_root", "srcset", "picture") and c["host"] == page["host"]:
            if page["base_href"]:  # <base href="http://host/">: relative to the root, not the page
                c["src"] = c["path"].lstrip("/")
            elif form == "img_rel" and not c["path"].startswith("/img.php"):
                c["src"] = _relative(page["path"], c["path"])
            else:
                c["src"] = c["path"]
        elif rng.random() < 0.2 and c["host"] != page["host"]:
            c["src"] = f"//{c['host']}{c['path']}"  # protocol-relative
        else:
            c["src"] = c["url"]
        if form in ("srcset", "picture") and c["path"].startswith("/img.php"):
            form = "img_abs"
        c["html_form"] = form

    def caption(self, c: dict, page: dict, kind: str, rng: np.random.Generator) -> None:
        scene, art = None, _emoji_scene(c)
        if art is not None:
            text = emoji.caption(art, rng)
        elif c["_clip"] is not None:
            text = clipart.caption(c["_clip"], int(rng.integers(3)))
        elif c["_eval"] is not None and c["_eval"].clip is not None:
            text = clipart.caption(c["_eval"].clip, 0)
        else:
            scene = c["_eval"].scene if c["_eval"] is not None else scene_from_seed(c["scene_seed"])
            assert c["scene_seed"] is not None or c["_eval"] is not None
            text = captions.english(scene, rng)
        # A drawing's title was written by a person in some language we do not know.
        lang = "und" if scene is None and art is None else "en"
        if kind == "foreign" or (page["lang"] != "en" and kind == "natural"):
            lang = (
                page["lang"]
                if page["lang"] != "en"
                else captions.LANGS[int(rng.integers(len(captions.LANGS)))]
            )
            title = c["_clip"].title if c["_clip"] is not None else text
            if art is not None:  # CLDR's names in the page's language
                text = emoji.caption(art, rng, lang)
            elif scene:
                text = captions.foreign(scene, lang, rng)
            else:
                text = captions.foreign_title(title, lang, rng)
            kind = "foreign"
        elif kind in captions.JUNK_KINDS:
            text = captions.junk(kind, rng, _FILLER)
            lang = "junk"
        elif kind == "mojibake":
            text = f"“{text}” — free clip art"
        c["caption_kind"], c["lang"], c["caption"] = kind, lang, text

    def fill_dup_captions(self, cands: list[dict], rng: np.random.Generator) -> None:
        natural = [c for c in cands if c["caption_kind"] == "natural"]
        for c in cands:
            if c["caption_kind"] == "dup_caption":
                while True:
                    other = natural[int(rng.integers(len(natural)))]
                    if other["content_id"] != c["content_id"]:
                        break
                c["caption"], c["lang"], c["dup_caption_of"] = (
                    other["caption"],
                    other["lang"],
                    other["page_url"],
                )


def _emoji_scene(c: dict) -> emoji.EmojiScene | None:
    if c.get("emoji_seed") is not None:
        return emoji.scene_from_seed(
            c["emoji_seed"], tuple(c["emoji_concepts"]), c.get("emoji_style")
        )
    if c["_eval"] is not None and c["_eval"].set == "emoji":
        return c["_eval"].emoji_scene
    return None


COPIES = ("exact_dup", "near_dup", "url_dup", "semantic_dup")  # drawn from pass-1 originals
_ASSET_KEYS = (
    "asset_kind",
    "content_id",
    "scene_seed",
    "emoji_seed",
    "emoji_concepts",
    "emoji_style",  # a semantic duplicate's style; None: the scene's own draw
    "chrome",  # site chrome's content ("logo:Site07", "icon:rss"); None: page content
    "clip_path",
    "eval_id",
    "base_width",
    "base_height",
    "fmt",
    "quality",
    "transform",
    "transform_seed",
    "width",
    "height",
)
_FILLER = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "as",
    "by",
    "this",
    "that",
    "from",
    "at",
    "are",
    "was",
    "image",
    "photo",
    "free",
    "download",
    "best",
    "new",
    "top",
    "gallery",
    "picture",
]


def _relative(page_path: str, target: str) -> str:
    import posixpath

    start = page_path if page_path.endswith("/") else posixpath.dirname(page_path) + "/"
    return posixpath.relpath(target, start)


def make_plan(
    cfg: SandboxConfig, clips: list[Clip], held: set[str], eval_items: list[EvalItem]
) -> Plan:
    return _Builder(cfg, clips, held, eval_items).run()
