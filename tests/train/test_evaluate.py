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
