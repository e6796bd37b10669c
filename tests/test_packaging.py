"""One import namespace: every package folder is in pyproject's list, and a built wheel holds
`openwit` alone and runs from outside the repository."""

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed_under_openwit():
    cfg = _setuptools()
    dirs = cfg["package-dir"]
    found = set()
    for name, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found | set(cfg["package-data"]) == set(cfg["packages"])  # + data-only packages
    assert all(n == "openwit" or n.startswith("openwit.") for n in cfg["packages"])


@pytest.mark.slow
def test_a_wheel_holds_one_namespace_and_runs_outside_the_repository(tmp_path):
    dist, build = tmp_path / "dist", ROOT / "build"
    had_build = build.exists()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    if not had_build:  # setuptools builds in the source tree; leave it as it was
        shutil.rmtree(build, ignore_errors=True)
    (wheel,) = dist.glob("openwit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "openwit"
    }
    assert "openwit/train/configs/openwit-tiny-rn.json" in names
    for page in ("index.html", "app.js", "style.css"):  # the explorer ships its page
        assert f"openwit/explore/static/{page}" in names
    # A fresh environment with the wheel and, beside it, the dependencies this one has (a .pth
    # line adds a folder without running its .pth files, so no editable finder comes along).
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    (site,) = env.glob("lib/python3*/site-packages")
    zipfile.ZipFile(wheel).extractall(site)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    py, away = str(env / "bin" / "python"), tmp_path / "elsewhere"
    away.mkdir()

    def run(*args: str) -> str:
        res = subprocess.run([py, *args], cwd=away, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout + res.stderr

    where = run("-c", "import openwit.pipeline.crawl.job as m, sys; print(m.__file__)")
    assert str(site) in where
    assert (
        "No module named"
        in subprocess.run(
            [py, "-c", "import pipeline"], cwd=away, capture_output=True, text=True
        ).stderr
    )
    assert "crawl" in run("-m", "openwit.cli", "--help")
    assert "A100-hours" in run("-m", "openwit.cli", "plan", "--pairs", "400M")
