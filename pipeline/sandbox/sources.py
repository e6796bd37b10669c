"""Real content with real names, from registries, pinned and checked, cached outside the repo.

| source | version | licence | what the sandbox takes |
|---|---|---|---|
| npm emoji-datasource | 16.0.0 | MIT | each emoji's name, category, subcategory, image name |
| npm emoji-datasource-google | 16.0.0 | Apache-2.0 (Noto Emoji) | 64×64 PNGs, served |
| npm emoji-datasource-twitter | 16.0.0 | CC-BY-4.0 (Twemoji graphics) | 64×64 PNGs, served |
| npm openmoji | 17.0.0 | CC-BY-SA-4.0 | SVGs, never served: the distribution-shift set |
| npm cldr-annotations-full | 48.2.0 | Unicode-3.0 | names and keywords in ~100 languages |
| PyPI animal-shape-mnist | 0.39 | MIT | 10,000 28×28 animal silhouettes, never served |

Each npm tarball is fetched with `npm pack` and checked against the registry's integrity hash
pinned here; the wheel against its pinned sha256. Nothing is fetched at run time: `make
install` runs `python -m openwit.pipeline.sandbox.sources fetch`, and a build without the
files falls back (as for openclipart) and says so. The cache is `$OPENWIT_CACHE`, else
`~/.cache/openwit`. The wheel's arrays are pickled: they are read with an unpickler that admits
only NumPy's array reconstruction.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's dist.integrity (sha512, base64) or "sha256:<hex>" for a wheel
    licence: str
    keep: tuple[str, ...]  # members kept from the archive (prefixes)


NPM = {
    p.name: p
    for p in (
        Package(
            "emoji-datasource",
            "16.0.0",
            "sha512-/qHKqK5Nr3+8zhgO6kHmF43Fm5C8HNn0AaFRIpgw8HF3+uF0Vfc8jgLI1ZQS5ba1vBzksS8NBCjHejwLb2D/Sg==",
            "MIT",
            ("package/emoji.json", "package/LICENSE"),
        ),
        Package(
            "emoji-datasource-google",
            "16.0.0",
            "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
            "Apache-2.0",
            ("package/img/google/64/", "package/LICENSE"),
        ),
        Package(
            "emoji-datasource-twitter",
            "16.0.0",
            "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
            "CC-BY-4.0",
            ("package/img/twitter/64/", "package/LICENSE"),
        ),
        Package(
            "openmoji",
            "17.0.0",
            "sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w==",
            "CC-BY-SA-4.0",
            ("package/color/svg/", "package/LICENSE", "package/data/openmoji.json"),
        ),
        Package(
            "cldr-annotations-full",
            "48.2.0",
            "sha512-DV7A+rEcgUSNTRsVGNGqBZRmAkGfwhGHO5Q1dRwzBoBnVrHWp804JP7/QJdEc66iHmx3+zLWVIMCFLm0lW7PUQ==",
            "Unicode-3.0",
            ("package/annotations/", "package/LICENSE"),
        ),
    )
}
ANIMALS = Package(
    "animal-shape-mnist",
    "0.39",
    "sha256:e97143ae2d7aa6e320af430c9a5ca78fa9fda58b015e6937499e90f127bc95d1",
    "MIT",
    ("animal_shape_mnist/data/",),
)
# The order of the wheel's labels 0..9: the classes as its description lists them.
ANIMAL_NAMES = (
    "bear",
    "bird",
    "cat",
    "cow",
    "dog",
    "elephant",
    "giraffe",
    "horse",
    "sheep",
    "zebra",
)


class SourceMissing(FileNotFoundError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("OPENWIT_CACHE") or Path.home() / ".cache" / "openwit")


def package_dir(p: Package) -> Path:
    """Where a package's kept members lie once fetched (`…/package/...`)."""
    return cache_dir() / "sources" / f"{p.name}-{p.version}"


def _check(path: Path, integrity: str) -> None:
    algo, _, want = integrity.partition("-") if integrity.startswith("sha512-") else ("", "", "")
    data = path.read_bytes()
    if algo == "sha512":
        got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    else:
        algo, _, want = integrity.partition(":")
        got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise ValueError(f"{path}: {algo} {got[:16]}… is not the pinned {want[:16]}…; delete it")


def _extract(archive: Path, p: Package, dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(p.keep)]
            tar.extractall(tmp, members=members, filter="data")
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fetch_npm(p: Package) -> Path:
    """The package's kept files, fetched with `npm pack` and checked, once."""
    dest = package_dir(p)
    if dest.is_dir():
        return dest
    if shutil.which("npm") is None:
        raise SourceMissing(f"{p.name}@{p.version}: npm is not installed (apt install npm)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        subprocess.run(
            ["npm", "pack", f"{p.name}@{p.version}", "--pack-destination", tmp, "--silent"],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        archive = next(Path(tmp).glob("*.tgz"))
        _check(archive, p.integrity)
        _extract(archive, p, dest)
    return dest


def fetch_animals() -> Path:
    """The animal-shape-mnist wheel, fetched with pip and kept as it is."""
    dest = package_dir(ANIMALS) / f"animal_shape_mnist-{ANIMALS.version}-py3-none-any.whl"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-q",
                "-d",
                tmp,
                f"{ANIMALS.name}=={ANIMALS.version}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        _check(wheel, ANIMALS.integrity)
        wheel.rename(dest)
    return dest


class _ArraysOnly(pickle.Unpickler):
    """Admits NumPy's array reconstruction and nothing else: a pickle is code, this one data."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not an array part: refused")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def load_arrays(data: bytes):
    return _ArraysOnly(io.BytesIO(data)).load()


def load_animals(wheel: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N] indexing ANIMAL_NAMES)."""
    wheel = wheel or package_dir(ANIMALS) / f"animal_shape_mnist-{ANIMALS.version}-py3-none-any.whl"
    if not wheel.is_file():
        raise SourceMissing(f"{wheel}: run `make install` (or `python -m {__name__} fetch`)")
    with zipfile.ZipFile(wheel) as z:
        base = "animal_shape_mnist/data/Animal Shape/"
        x = load_arrays(gzip.decompress(z.read(base + "animal_data_version_3.gz")))
        y = load_arrays(gzip.decompress(z.read(base + "animal_label_version_3.gz")))
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and len(x) == len(y)):
        raise ValueError(f"{wheel}: not the arrays animal-shape-mnist {ANIMALS.version} ships")
    return x, y.astype(np.int64)


def animals_available() -> bool:
    return (
        package_dir(ANIMALS) / f"animal_shape_mnist-{ANIMALS.version}-py3-none-any.whl"
    ).is_file()


@functools.lru_cache(maxsize=1)
def load_animals_cached() -> tuple[np.ndarray, np.ndarray]:
    return load_animals()


def fetch_all(log=print) -> dict[str, str]:
    """Fetch every source; {name: "ok" | why it is missing}. Never raises for a missing one."""
    out = {}
    for p in NPM.values():
        try:
            fetch_npm(p)
            out[p.name] = "ok"
        except (SourceMissing, subprocess.SubprocessError, OSError, ValueError) as e:
            out[p.name] = str(e).splitlines()[0][:200]
        log(f"{p.name}@{p.version}: {out[p.name]}")
    try:
        fetch_animals()
        out[ANIMALS.name] = "ok"
    except (subprocess.SubprocessError, OSError, ValueError) as e:
        out[ANIMALS.name] = str(e).splitlines()[0][:200]
    log(f"{ANIMALS.name}=={ANIMALS.version}: {out[ANIMALS.name]}")
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["fetch"]:
        sys.exit(f"usage: python -m {__name__} fetch")
    fetch_all()


def attribution(clipart: bool, emoji: bool, animals: bool) -> str:
    """ATTRIBUTION.md for a sandbox build: every third-party source it holds, its licence."""
    lines = [
        "# Sources of this sandbox's content",
        "",
        "Procedural scenes, pages and captions: generated by OpenWIT (Apache-2.0).",
    ]
    if clipart:
        lines.append(
            "- Clip art: Debian's openclipart-png / openclipart-svg, Openclipart "
            "(public domain, CC0), https://openclipart.org"
        )
    if emoji:
        for p in NPM.values():
            lines.append(f"- npm {p.name}@{p.version}: {p.licence}")
        lines += [
            "  - Noto Emoji (emoji-datasource-google): Copyright Google Inc., Apache-2.0",
            "  - Twemoji graphics (emoji-datasource-twitter): Copyright Twitter, Inc. and other "
            "contributors, CC-BY-4.0, https://creativecommons.org/licenses/by/4.0/",
            "  - OpenMoji (openmoji): the open-source emoji and icon project, CC-BY-SA-4.0, "
            "https://openmoji.org (evaluation only, never served)",
            "  - CLDR annotations: Copyright Unicode, Inc., Unicode License v3",
        ]
    if animals:
        lines.append(
            f"- PyPI {ANIMALS.name}=={ANIMALS.version}: {ANIMALS.licence} "
            "(evaluation only, never served)"
        )
    return "\n".join(lines) + "\n"
