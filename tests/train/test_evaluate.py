import numpy as np
import torch

from openwit.train import evaluate
from openwit.train import model as models


def test_a_class_with_several_names_averages_every_name_through_every_template():
    torch.manual_seed(0)
    model, _, _, tok = models.create("openwit-tiny")
    model.eval()
    templates = ["a drawing of a {}.", "{}"]
    with torch.no_grad():
        w = evaluate.classifier(model, tok, ["animal", ["person", "people"]], templates, "cpu")
        texts = ["a drawing of a person.", "person", "a drawing of a people.", "people"]
        prompts = evaluate.encode_texts(model, tok, texts, "cpu")
        single = evaluate.classifier(model, tok, ["animal"], templates, "cpu")
    assert w.shape == (2, model.text_projection.shape[1])
    assert torch.allclose(w.norm(dim=-1), torch.ones(2), atol=1e-6)
    expected = torch.nn.functional.normalize(prompts.mean(0), dim=0)
    assert torch.allclose(w[1], expected, atol=1e-6)
    assert torch.allclose(w[0], single[0], atol=1e-6)  # a plain string is a one-name class


def test_the_confusion_matrix_counts_true_class_against_the_class_named():
    # Three classes on the axes; images 0-1 are class 0, 2-4 class 1, 5 class 2.
    weights = torch.eye(3)
    feats = torch.tensor(
        [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float
    )
    labels = [0, 0, 1, 1, 1, 2]
    result, correct = evaluate.zero_shot(feats, labels, weights)
    assert result["confusion"] == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]
    assert correct.tolist() == [True, False, True, True, False, False]
    m = np.array(result["confusion"])
    assert m.sum(1).tolist() == [2, 3, 1]  # rows are the class sizes
    assert np.trace(m) / m.sum() == result["top1"] == 0.5


def test_few_shot_probes_against_zero_shot():
    # Three well-separated classes of 20 points: one shot already separates them.
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    labels = [c for c in range(3) for _ in range(20)]
    feats = np.stack([centres[c] + rng.normal(0, 0.5, 3) for c in labels])
    out = evaluate.few_shot(feats, labels, zero_shot_top1=0.5)
    assert list(out["shots"]) == ["1", "2", "4", "8", "16"]  # 16 < 20 leaves some to test
    assert out["shots"]["1"] > 0.9 and out["matches_zero_shot"] == 1
    unreachable = evaluate.few_shot(feats, labels, zero_shot_top1=1.01)
    assert unreachable["matches_zero_shot"] is None and unreachable["chance"] == 1 / 3
    small = evaluate.few_shot(feats[::5], labels[::5], zero_shot_top1=0.5)  # 4 per class
    assert list(small["shots"]) == ["1", "2"]


def test_the_report_draws_few_shot_and_robustness(tmp_path):
    import json

    from openwit.train import report

    rows = [
        {"step": 10, "epoch": 5, "eval": {"emoji": 0.2, "emoji_shift": 0.02}},
        {"step": 20, "epoch": 9, "eval": {"emoji": 0.3, "emoji_shift": 0.03}},
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    few = {
        "zero_shot": 0.3,
        "chance": 0.004,
        "shots": {"1": 0.2, "2": 0.35},
        "matches_zero_shot": 2,
    }
    result = {
        "zero_shot": {"emoji": {"top1": 0.3, "top5": 0.5, "chance": 0.004}},
        "retrieval": {},
        "linear_probe": {},
        "overlap": {},
        "few_shot": {"emoji": few},
    }
    (tmp_path / "eval.json").write_text(json.dumps(result))
    page = report.write(tmp_path).read_text()
    assert "Few-shot linear probes vs zero-shot" in page
    assert "Robustness to a style never served" in page
    assert page.count("<img") >= 3
