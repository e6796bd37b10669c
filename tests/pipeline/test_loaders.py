"""The final shards load unchanged in the four loaders people use: webdataset, open_clip's
trainer, Hugging Face `datasets` and Ray Data."""

import json
import subprocess
import tarfile

import pytest

from bench import peer

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def total(out) -> int:
    return sum(json.loads((out / "sizes.json").read_text()).values())


def first_caption(out) -> str:
    with tarfile.open(sorted(out.glob("[0-9]*.tar"))[0]) as tar:
        return tar.extractfile(tar.getmembers()[1]).read().decode()


def test_webdataset(sharded):
    import webdataset as wds

    out, _ = sharded
    urls = [str(p) for p in sorted(out.glob("[0-9]*.tar"))]
    samples = list(
        wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("jpg", "txt", "json")
    )
    assert len(samples) == total(out)
    image, caption, meta = samples[0]
    assert image.size[0] > 0 and caption == first_caption(out) and meta["caption"] == caption


def test_hugging_face_datasets(sharded, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import load_dataset

    out, _ = sharded
    files = [str(p) for p in sorted(out.glob("[0-9]*.tar"))]
    ds = load_dataset(
        "webdataset", data_files={"train": files}, split="train", cache_dir=str(tmp_path / "cache")
    )
    assert ds.num_rows == total(out)
    assert {"jpg", "txt", "json"} <= set(ds.column_names)
    assert ds[0]["txt"] == first_caption(out)


def test_ray_data(sharded, ray_cluster):
    import ray

    out, _ = sharded
    ds = ray.data.read_webdataset([str(p) for p in sorted(out.glob("[0-9]*.tar"))])
    rows = ds.take_all()
    assert len(rows) == total(out)
    assert {"__key__", "jpg", "txt", "json"} <= set(rows[0])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_open_clip_trainer(sharded, tmp_path):
    """open_clip_train.main, --dataset-type webdataset, finds the sample count in sizes.json."""
    out, _ = sharded
    config = tmp_path / "loader-tiny.json"
    config.write_text(json.dumps(TINY_CLIP))
    cmd = peer.command(out, config, tmp_path / "logs", batch_size=16)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    epoch = peer.epoch_size(log)
    assert epoch is not None, log[-3000:]
    assert abs(epoch - total(out)) < 16  # one epoch = the count from sizes.json, in batches
