"""The ONNX image tower: written by the trainer, the same embeddings as open_clip's, never
used for weights other than its own checkpoint's."""

import json
import shutil
import tarfile

import numpy as np
import pytest
import torch

from openwit.core import image_tower
from openwit.core.image_tower import OnnxTower, path_for
from openwit.pipeline.shards import model_score
from openwit.pipeline.shards.model_score import ModelScorer, image_embedder


@pytest.fixture(scope="module")
def crawl_images(sharded) -> list[bytes]:
    """The shards' images, as the crawl delivered them."""
    images = []
    for path in sorted(sharded[0].glob("**/*.tar")):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.name.endswith((".jpg", ".png", ".webp")):
                    images.append(tar.extractfile(m).read())
    return images


def test_the_trainer_exports_the_tower_beside_its_last_checkpoint(tiny_checkpoint):
    assert path_for(tiny_checkpoint) == tiny_checkpoint.with_name(
        tiny_checkpoint.stem + ".image.onnx"
    )
    tower = OnnxTower.beside(tiny_checkpoint)
    assert tower is not None
    assert tower.pixels == ModelScorer.cached(str(tiny_checkpoint)).pixels
    assert tower.dim == 96 and tower.load_seconds < 5


def test_the_tower_embeds_as_open_clip_does(tiny_checkpoint, crawl_images):
    assert len(crawl_images) % 16  # batches of 16, the last one partial
    ours = OnnxTower.beside(tiny_checkpoint).image_embeddings(crawl_images, batch_size=16)
    theirs = ModelScorer.cached(str(tiny_checkpoint)).image_embeddings(crawl_images)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert OnnxTower.beside(tiny_checkpoint).image_embeddings([]).shape == (0, 96)


def test_a_tower_is_only_used_for_its_own_weights(tiny_checkpoint, tmp_path, monkeypatch):
    other = tmp_path / "step-0000009.pt"
    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)
    state["model"]["visual.head.proj.weight"] += 0.5  # other weights, same architecture
    torch.save(state, other)
    assert OnnxTower.beside(other) is None  # no tower beside it
    shutil.copy(path_for(tiny_checkpoint), path_for(other))
    assert OnnxTower.beside(other) is None  # a tower, but of the other checkpoint's weights
    monkeypatch.setattr(model_score, "_TOWERS", {})
    assert isinstance(image_embedder(str(other)), ModelScorer)  # open_clip rebuilds it
    assert isinstance(image_embedder(str(tiny_checkpoint)), OnnxTower)


def test_export_a_checkpoint_trained_without_one(tiny_checkpoint, tmp_path, crawl_images):
    old = tmp_path / tiny_checkpoint.name
    shutil.copy(tiny_checkpoint, old)
    image_tower.main([str(old)])
    tower = OnnxTower.beside(old)
    assert tower is not None
    theirs = ModelScorer.cached(str(tiny_checkpoint)).image_embeddings(crawl_images[:20])
    assert np.abs(tower.image_embeddings(crawl_images[:20]) - theirs).max() < 1e-5
    with pytest.raises(SystemExit, match="no checkpoint at"):
        image_tower.main([str(tmp_path / "missing.pt")])


def test_a_tower_of_another_format_is_not_used(tiny_checkpoint, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    ckpt = tmp_path / tiny_checkpoint.name
    shutil.copy(tiny_checkpoint, ckpt)
    # float input, as a tower that leaves normalisation to the caller would take
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64, 64, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 64, 64, 3])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    )
    meta = {
        "openwit.checkpoint_sha256": image_tower.file_sha256(ckpt),
        "openwit.pixels": json.dumps(OnnxTower.beside(tiny_checkpoint).pixels.to_dict()),
    }
    onnx.helper.set_model_props(model, meta)
    path_for(ckpt).write_bytes(model.SerializeToString())
    assert OnnxTower.beside(ckpt) is None
