"""Checkpoint files: atomic, the newest `keep` kept, each with its exported tower."""

from openwit.core.image_tower import path_for
from openwit.train import checkpoint


def test_save_keeps_the_newest_and_deletes_an_old_checkpoints_tower_with_it(tmp_path):
    for step in (1, 2, 3):
        path = tmp_path / f"step-{step:07d}.pt"
        checkpoint.save(path, {"step": step}, keep=2)
        path_for(path).write_bytes(b"tower")  # as the trainer's export would leave it
    assert sorted(p.name for p in tmp_path.glob("step-*")) == [
        "step-0000002.image.onnx",
        "step-0000002.pt",
        "step-0000003.image.onnx",
        "step-0000003.pt",
    ]
    assert checkpoint.latest(tmp_path) == tmp_path / "step-0000003.pt"
    assert checkpoint.load(tmp_path / "step-0000003.pt") == {"step": 3}
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary left behind
