"""CLIP's evaluations: zero-shot classification with prompt ensembles (§3.1.4), image↔text
retrieval, a linear probe on frozen image features, and accuracy on All / Clean / Overlap
with a one-sided binomial test (§5).

Evaluation sets are folders `<root>/<set>/<label>/*.jpg`. Optional files beside them:
`classes.json` ({set: {folder: class name, or a list of names to ensemble}}), `templates.json`
({set: [prompt templates]}),
`<set>/labels.parquet` with a `caption` column (a retrieval set).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

FEW_SHOT_SETS = ("emoji", "animals")  # few-shot vs zero-shot (CLIP Fig. 6) on these
TEMPLATES = [
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a drawing of a {}.",
    "a {} on a background.",
]


def _sets(root: Path) -> dict[str, list[tuple[str, str, Path]]]:
    """set -> [(eval_id, label, path)], sorted."""
    out: dict[str, list] = {}
    for p in sorted(root.glob("*/*/*")):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
            s, label = p.parent.parent.name, p.parent.name
            out.setdefault(s, []).append((f"{s}/{label}/{p.stem}", label, p))
    return out


@torch.no_grad()
def encode_images(model, transform, paths: list[Path], device, batch: int = 128) -> torch.Tensor:
    feats = []
    for i in range(0, len(paths), batch):
        ims = []
        for p in paths[i : i + batch]:
            with Image.open(p) as im:
                ims.append(transform(im.convert("RGB")))
        f = model.encode_image(torch.stack(ims).to(device))
        feats.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
    return torch.cat(feats)


@torch.no_grad()
def encode_texts(model, tokenizer, texts: list[str], device, batch: int = 256) -> torch.Tensor:
    feats = []
    for i in range(0, len(texts), batch):
        f = model.encode_text(tokenizer(texts[i : i + batch]).to(device))
        feats.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
    return torch.cat(feats)


def classifier(
    model, tokenizer, names: list[str | list[str]], templates: list[str], device
) -> torch.Tensor:
    """One weight per class: the mean of its normalised prompt embeddings, normalised.

    A class may have several names (synonyms, or a folder's name beside a plainer noun): every
    name goes through every template and all of them are averaged, as CLIP averages templates."""
    per_class = [[n] if isinstance(n, str) else list(n) for n in names]
    texts = [t.format(n) for ns in per_class for n in ns for t in templates]
    f = encode_texts(model, tokenizer, texts, device)
    weights, start = [], 0
    for ns in per_class:
        end = start + len(ns) * len(templates)
        weights.append(f[start:end].mean(0))
        start = end
    return torch.nn.functional.normalize(torch.stack(weights), dim=-1)


def zero_shot(image_feats, labels: list[int], weights) -> tuple[dict, np.ndarray]:
    """Top-1/top-5, and the confusion matrix: `confusion[i][j]` counts images of class i that
    the model named class j (rows sum to the class sizes), which says *where* the misses go."""
    logits = image_feats @ weights.T
    top = logits.topk(min(5, weights.shape[0]), dim=1).indices.numpy()
    y = np.array(labels)
    correct = top[:, 0] == y
    k = weights.shape[0]
    confusion = np.bincount(y * k + top[:, 0], minlength=k * k).reshape(k, k)
    return {
        "top1": float(correct.mean()),
        "top5": float((top == y[:, None]).any(1).mean()),
        "chance": 1 / k,
        "n": len(y),
        "confusion": confusion.tolist(),
    }, correct


def retrieval(image_feats, text_feats) -> dict:
    sims = image_feats @ text_feats.T
    n = len(sims)
    out = {}
    for name, s in (("image_to_text", sims), ("text_to_image", sims.T)):
        rank = (s > s.diag()[:, None]).sum(1)  # how many beat the true match
        out[name] = {f"R@{k}": float((rank < k).float().mean()) for k in (1, 5, 10)}
    out["n"] = n
    return out


def linear_probe(feats: np.ndarray, labels: list[int], seed: int = 0) -> dict:
    """Logistic regression on frozen features; half of each class to train, half to test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(
        feats, labels, test_size=0.5, random_state=seed, stratify=labels
    )
    clf = LogisticRegression(max_iter=2000, C=10.0).fit(x_tr, y_tr)
    return {
        "top1": float(clf.score(x_te, y_te)),
        "train": len(y_tr),
        "test": len(y_te),
        "chance": 1 / len(set(labels)),
    }


SHOTS = (1, 2, 4, 8, 16)


def few_shot(feats: np.ndarray, labels: list[int], zero_shot_top1: float, seed: int = 0) -> dict:
    """Linear probes on k labelled images per class against zero-shot (CLIP Fig. 6): for each
    k that leaves a class at least one image to test on, k per class to train, the rest to
    test, averaged over 3 draws. `matches_zero_shot`: the fewest shots whose probe reaches
    zero-shot's top-1 (None if none does)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels)
    classes = np.unique(y)
    smallest = min(int((y == c).sum()) for c in classes)
    out: dict = {"zero_shot": zero_shot_top1, "shots": {}, "chance": 1 / len(classes)}
    for k in (k for k in SHOTS if k < smallest):
        scores = []
        for draw in range(3):
            rng = np.random.default_rng([seed, k, draw])
            train = np.concatenate(
                [rng.choice(np.flatnonzero(y == c), k, replace=False) for c in classes]
            )
            test = np.setdiff1d(np.arange(len(y)), train)
            clf = LogisticRegression(max_iter=1000, C=10.0).fit(feats[train], y[train])
            scores.append(clf.score(feats[test], y[test]))
        out["shots"][str(k)] = float(np.mean(scores))
    reached = [int(k) for k, v in out["shots"].items() if v >= zero_shot_top1]
    out["matches_zero_shot"] = min(reached) if reached else None
    return out


def overlap_accuracy(ids: list[str], correct: np.ndarray, overlap_ids: set[str]) -> dict:
    """Accuracy on All, Clean and Overlap, and whether Overlap beats Clean by chance alone."""
    from scipy.stats import binomtest

    is_overlap = np.array([i in overlap_ids for i in ids])
    clean, over = correct[~is_overlap], correct[is_overlap]
    out = {
        "all": float(correct.mean()),
        "n_all": len(correct),
        "clean": float(clean.mean()) if len(clean) else None,
        "n_clean": len(clean),
        "overlap": float(over.mean()) if len(over) else None,
        "n_overlap": len(over),
    }
    out["delta"] = (out["all"] - out["clean"]) if out["clean"] is not None else None
    if len(over) and len(clean):
        p0 = min(max(float(clean.mean()), 1e-9), 1 - 1e-9)
        out["p_value"] = float(binomtest(int(over.sum()), len(over), p0, "greater").pvalue)
    return out


def load_contamination(path: str | Path | None) -> dict[str, set[str]] | None:
    """{evaluation set: ids of its images found in the training data} from the shards job's
    contamination.parquet, or None without one."""
    if not path or not Path(path).is_file():
        return None
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    return {r["set"]: set(r["overlap_ids"] or []) for r in rows}


def evaluate(
    model,
    tokenizer,
    transform,
    root: str | Path,
    device="cpu",
    contamination: dict[str, set[str]] | None = None,
    probes: bool = True,
) -> dict:
    """The `eval.json` dict: zero_shot, retrieval, linear_probe (fractions in 0-1), overlap;
    `probes=False` leaves out the linear and few-shot probes (their fits cost the most)."""
    root = Path(root)
    classes = (
        json.loads((root / "classes.json").read_text()) if (root / "classes.json").is_file() else {}
    )
    templates = (
        json.loads((root / "templates.json").read_text())
        if (root / "templates.json").is_file()
        else {}
    )
    model.eval()
    result: dict = {"zero_shot": {}, "retrieval": {}, "linear_probe": {}, "overlap": {}}
    for name, items in _sets(root).items():
        feats = encode_images(model, transform, [p for *_, p in items], device)
        labels_path = root / name / "labels.parquet"
        captions = None
        if labels_path.is_file():
            import pyarrow.parquet as pq

            t = pq.read_table(labels_path).to_pydict()
            if any(t.get("caption") or []):
                by_id = dict(zip(t["eval_id"], t["caption"], strict=True))
                captions = [by_id[i] for i, *_ in items]
        if captions is not None:
            result["retrieval"][name] = retrieval(
                feats, encode_texts(model, tokenizer, captions, device)
            )
            continue
        folders = sorted({label for _, label, _ in items})
        names = [classes.get(name, {}).get(f, f.replace("_", " ")) for f in folders]
        labels = [folders.index(label) for _, label, _ in items]
        weights = classifier(model, tokenizer, names, templates.get(name, TEMPLATES), device)
        result["zero_shot"][name], correct = zero_shot(feats, labels, weights)
        result["zero_shot"][name]["classes"] = folders
        if probes:
            result["linear_probe"][name] = linear_probe(feats.numpy(), labels)
        if probes and name in FEW_SHOT_SETS:
            top1 = result["zero_shot"][name]["top1"]
            result.setdefault("few_shot", {})[name] = few_shot(feats.numpy(), labels, top1)
        if contamination is not None and name in contamination:
            ids = [i for i, *_ in items]
            result["overlap"][name] = overlap_accuracy(ids, correct, contamination[name])
    return result
