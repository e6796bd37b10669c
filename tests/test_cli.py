"""The command line, called the way a user calls it (typer's runner, real files)."""

import json
import threading
import time
import urllib.request

from typer.testing import CliRunner

from openwit.cli import app

runner = CliRunner()


def test_help_lists_every_stage():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("sandbox", "queries", "crawl", "shards", "train"):
        assert cmd in result.output


def test_missing_inputs_get_one_line_errors_naming_the_fix(tmp_path):
    for args, words in (
        (["shards", "--crawl", str(tmp_path / "nothing")], "make crawl"),
        (["train", "--shards", str(tmp_path / "nothing")], "make shards"),
        (["sql", "SELECT 1", "--shards", str(tmp_path / "nothing")], "make shards"),
        (["eval", str(tmp_path / "nothing.pt")], "no checkpoint"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and str(tmp_path / "nothing") in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_bad_crawl_options_get_one_line_errors(tmp_path):
    arc = tmp_path / "old.arc.gz"
    arc.write_bytes(b"")
    queries = tmp_path / "metadata.json"
    queries.write_text(json.dumps(["dog"]))
    for args, words in (
        (["--allow", "10.0.0.7:80"], "--allow-private-network"),
        (["--resolve", "mirror.test:80"], "HOST:PORT:ADDR"),
        (["--ca-bundle", str(tmp_path / "none.pem")], "no such file"),
        (["--urls", "--list-preset", "flickr"], "list preset"),
        ([str(arc)], "ARC file"),
    ):
        inputs = [] if args[0].endswith(".gz") else [str(tmp_path / "l.parquet")]
        out = ["--out", str(tmp_path / "c"), "--queries", str(queries)]
        result = runner.invoke(app, ["crawl", *inputs, *args, *out])
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and len(result.output.strip().splitlines()) <= 3, (
            result.output
        )


def test_sandbox_build_skips_an_identical_build(tmp_path):
    out = tmp_path / "sb"
    args = ["sandbox", "build", "--out", str(out), "--pages", "60", "--seed", "3"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads((out / "sandbox.json").read_text())["summary"]["pages"] == 60
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "nothing to do" in second.output


def test_sandbox_serve_writes_resolve_map_and_stops(sandbox_dir):
    result = {}

    def serve():
        result["r"] = runner.invoke(
            app, ["sandbox", "serve", "--root", str(sandbox_dir), "--duration", "3"]
        )

    t = threading.Thread(target=serve)
    t.start()
    info_path = sandbox_dir / "serve.json"
    for _ in range(50):
        if info_path.exists():
            break
        time.sleep(0.05)
    info = json.loads(info_path.read_text())
    host = next(iter(info["resolve"])).split(":")[0]
    req = urllib.request.Request(f"{info['url']}/robots.txt", headers={"Host": host})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status in (200,)
    t.join(10)
    assert result["r"].exit_code == 0 and not info_path.exists()


def test_queries_match_reads_a_metaclip_list(tmp_path):
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(["dog", "hot dog", "Gas"]))
    result = runner.invoke(app, ["queries", "match", "a hot dog.", "--queries", str(meta)])
    assert result.exit_code == 0
    assert json.loads(result.stdout.strip())["entries"] == ["dog", "hot dog"]


def test_queries_build_names_a_missing_corpus_file(tmp_path):
    result = runner.invoke(app, ["queries", "build", "--corpus", str(tmp_path / "nope.txt")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_crawl_and_shards_commands_default_to_their_jobs_schemas(monkeypatch, tmp_path):
    """The option blocks repeat no default of their own: a bare command builds the job's
    default config (for the crawl, the sandbox preset's)."""
    from openwit.cli import crawl as crawl_cli
    from openwit.pipeline.crawl import job as crawl_job
    from openwit.pipeline.shards import job as shards_job

    seen = {}
    monkeypatch.setattr(crawl_cli, "ensure_sandbox", lambda root: "v")
    monkeypatch.setattr(crawl_cli, "ensure_queries", lambda path, default: None)
    monkeypatch.setattr(crawl_job, "run", lambda cfg, *a, **k: seen.setdefault("crawl", cfg))
    monkeypatch.setattr(shards_job, "run", lambda cfg, *a, **k: seen.setdefault("shards", cfg))
    runner.invoke(app, ["crawl", "--executor", "local"])  # printing the fake summary fails
    runner.invoke(app, ["shards", "--executor", "local"])
    assert seen["crawl"] == crawl_job.make_config(None, inputs_version="v")
    assert seen["crawl"].preset == "sandbox" and seen["crawl"].sandbox == "data/sandbox"
    assert seen["shards"] == shards_job.ShardsConfig()


def test_shards_says_how_to_export_a_missing_image_tower(tmp_path):
    from openwit.cli.shards import _note_without_tower
    from openwit.cli.ui import console
    from openwit.pipeline.shards.dedup.semantic import SemDedupConfig

    ckpt = tmp_path / "step-0000009.pt"
    ckpt.write_bytes(b"weights")
    sem = SemDedupConfig(threshold=0.99, checkpoint=str(ckpt))
    with console.capture() as said:
        _note_without_tower(sem, None)
    assert f"python -m openwit.core.image_tower {ckpt}" in said.get()
    with console.capture() as said:
        _note_without_tower(sem, ckpt)  # the scan's embeddings serve: nothing to say
        ckpt.with_suffix(".image.onnx").write_bytes(b"tower")
        _note_without_tower(sem, None)
        _note_without_tower(SemDedupConfig(), None)
    assert said.get() == ""
