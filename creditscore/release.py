"""What Terraform deploys besides itself, built from this checkout into ``dist/``.

* the service's wheel, which the hosts' user_data installs from ``s3://{artifacts}/releases/`` (and the
  Glue score-book job from modules/ml's code prefix, through ``--additional-python-modules``);
* ``requirements.txt``, what the hosts install the wheel with, in pip's hash-checking mode
  (``pip install --require-hashes``): every package ``pip install`` of the wheel resolves under
  ``constraints.txt`` (the versions the tests ran with), pinned, with the sha256 of every file of that version
  the package index serves that the hosts (CPython 3.11 on Amazon Linux 2023, x86_64) can install. That is
  the base install, the scoring service's dependencies only: no extra of the package (``etl``, ``train``,
  ``local``, ``dev``: PySpark, matplotlib, moto, ...) is resolved, so none reaches a host;
* ``glue-libs.zip``, the ``etl`` and ``creditscore`` packages the Glue jobs import (``--extra-py-files``);
* ``training-source.tar.gz``, the SageMaker training jobs' source directory (``sagemaker_submit_directory``):
  the wheel, ``train.py`` (the entry point, ``training.sagemaker`` of the installed wheel) and a
  ``requirements.txt`` that the SageMaker training toolkit installs before the run, pinned and hashed the
  same way but for ``creditscore[train]`` (pandas, matplotlib, ... besides the service's packages), with the
  wheel itself pinned by its sha256; hash-checking mode is on because every line has a hash.

The hashes come from the package index pip is configured with (PyPI unless ``PIP_INDEX_URL`` or pip's
``index-url`` says otherwise), read through its JSON simple API the way pip reads it, and are kept in
``.cache/release/`` (the files of a released version do not change). A package the index does not serve at
that version (torch's ``+cpu`` build, which comes from the PyTorch index) is pinned by the sha256 of the file
pip resolved here (as ``pip hash`` gives it). ``setuptools`` is always pinned: the hosts install it first and
build any dependency that has no wheel for them against it (the header of the file names them, if any),
without build isolation, because pip does not hash-check what an isolated build fetches.

``python -m creditscore.release DIR`` (``make dist``) writes all four and prints their paths; the Terraform
environments upload them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

ROOT: Final = Path(__file__).resolve().parent.parent
GLUE_PACKAGES: Final = ("etl", "creditscore")
GLUE_LIBS: Final = "glue-libs.zip"
TRAINING_SOURCE: Final = "training-source.tar.gz"
TRAINING_EXTRA: Final = "train"
#: Where torch's CPU build comes from (PyPI's torch is the CUDA one); modules/compute's torch_index_url too.
TORCH_INDEX: Final = "https://download.pytorch.org/whl/cpu"
#: The training source's entry point: a script at the top of the folder, so that nothing of the folder
#: shadows a module (the toolkit puts the script's folder first on sys.path); the code is the wheel's.
TRAINING_ENTRY: Final = "train.py"
_TRAINING_ENTRY_SOURCE: Final = (
    '"""SageMaker script mode entry point: training.sagemaker of the installed creditscore wheel."""\n\n'
    "import sys\n\nfrom training.sagemaker import main\n\nsys.exit(main())\n"
)
DISTRIBUTION: Final = "creditscore"
CONSTRAINTS: Final = "constraints.txt"
REQUIREMENTS: Final = "requirements.txt"
CACHE: Final = ROOT / ".cache" / "release"
DEFAULT_INDEX: Final = "https://pypi.org/simple"
#: The build backend of the dependencies the hosts must build from source.
BUILD_BACKEND: Final = canonicalize_name("setuptools")

#: The hosts: CPython 3.11 (Amazon Linux 2023's python3.11) on glibc 2.34, x86_64.
HOST_PYTHON: Final = (3, 11)
HOST_GLIBC_MINOR: Final = 34
HOST_ARCH: Final = "x86_64"
_LEGACY_MANYLINUX: Final = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
_HREF: Final = re.compile(r"""href=["']([^"'#]*/)?([^/"'#]+)#sha256=([0-9a-f]{64})["']""")


class ReleaseError(Exception):
    """``make dist`` cannot write a requirements file the hosts could install."""


@dataclass(frozen=True)
class Pin:
    """One resolved package: its name and version, and the sha256 of each file the hosts may install."""

    name: str
    version: str
    hashes: tuple[str, ...]
    #: No wheel for the hosts: pip builds it from source there.
    source_only: bool

    def line(self) -> str:
        return " ".join([f"{self.name}=={self.version}", *(f"--hash=sha256:{h}" for h in self.hashes)])


@dataclass(frozen=True)
class Resolved:
    """A package as pip resolved it here: version, and the sha256 and name of the file it chose."""

    name: str
    version: str
    #: Empty for a package added here rather than resolved (the build backend).
    sha256: str
    filename: str


def host_tags() -> frozenset[Tag]:
    """The wheel tags pip on a host accepts: CPython 3.11, manylinux up to glibc 2.34, x86_64."""
    platforms = [f"manylinux_2_{minor}_{HOST_ARCH}" for minor in range(HOST_GLIBC_MINOR, 4, -1)]
    platforms += [f"{alias}_{HOST_ARCH}" for alias in _LEGACY_MANYLINUX]
    platforms.append(f"linux_{HOST_ARCH}")
    return frozenset(cpython_tags(HOST_PYTHON, platforms=platforms)) | frozenset(
        compatible_tags(HOST_PYTHON, interpreter="cp311", platforms=platforms)
    )


def installable(filename: str, version: Version, supported: frozenset[Tag]) -> bool | None:
    """True for a wheel of ``version`` the hosts can install, False for an sdist of it, None otherwise."""
    try:
        if filename.endswith(".whl"):
            _, file_version, _, tags = parse_wheel_filename(filename)
            return True if file_version == version and tags & supported else None
        _, file_version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return False if file_version == version else None


# --- resolving ---------------------------------------------------------------------------------------------


def _wheel_requirements(wheel_path: Path) -> bytes:
    """The wheel's name, version and Requires-Dist lines: what decides the resolution besides the pins."""
    with zipfile.ZipFile(wheel_path) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    wanted = ("Name:", "Version:", "Requires-Dist:", "Requires-Python:")
    return "\n".join(line for line in lines if line.startswith(wanted)).encode()


def resolve(wheel_path: Path, constraints: Path, extras: tuple[str, ...] = ()) -> list[Resolved]:
    """Every package ``pip install`` of the wheel (with ``extras``) installs under the constraints, as pip's
    own resolver decides it (``pip install --dry-run --report``), the wheel itself left out. Cached by what
    decides it."""
    decides = [_wheel_requirements(wheel_path), constraints.read_bytes(), sys.version.encode()]
    key = hashlib.sha256(b"\0".join([*decides, ",".join(extras).encode()] if extras else decides)).hexdigest()
    cached = CACHE / f"resolution-{key[:24]}.json"
    if cached.is_file():
        return [Resolved(**item) for item in json.loads(cached.read_text())]
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-qq"]
        command += ["--disable-pip-version-check", "--report", str(report_path), "-c", str(constraints)]
        target = f"{wheel_path}[{','.join(extras)}]" if extras else str(wheel_path)
        subprocess.run([*command, target], check=True)
        report = json.loads(report_path.read_text())
    resolved = []
    for item in report["install"]:
        name = item["metadata"]["name"]
        if canonicalize_name(name) == DISTRIBUTION:
            continue
        archive = item["download_info"].get("archive_info", {})
        sha256 = archive.get("hashes", {}).get("sha256") or archive.get("hash", "").partition("=")[2]
        if not _SHA256.match(sha256 or ""):
            raise ReleaseError(f"pip resolved {name} to {item['download_info']['url']}, which has no sha256")
        filename = item["download_info"]["url"].rsplit("/", 1)[-1].replace("%2B", "+")
        resolved.append(Resolved(name, item["metadata"]["version"], sha256, filename))
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps([vars(r) for r in resolved], indent=1))
    return resolved


# --- the index ---------------------------------------------------------------------------------------------


def index_url() -> str:
    """The index pip installs from: ``PIP_INDEX_URL``, else pip's configured ``index-url``, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    command = [sys.executable, "-m", "pip", "config", "list"]
    listing = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".index-url"):
            return value.strip().strip("'\"").rstrip("/")
    return DEFAULT_INDEX


def _fetch(url: str) -> tuple[str, str]:
    if not url.startswith("https://"):
        raise ReleaseError(f"the package index must be reached over https, not {url}")
    request = urllib.request.Request(  # noqa: S310 - https only, checked above
        url, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - https only
        return response.headers.get_content_type(), response.read().decode()


def index_files(index: str, name: str, version: str) -> list[tuple[str, str]]:
    """(filename, sha256) of every file the index serves for ``name`` at ``version``; cached."""
    normalized = canonicalize_name(name)
    index_dir = CACHE / "index" / hashlib.sha256(index.encode()).hexdigest()[:12]
    cached = index_dir / f"{normalized}-{version}.json"
    if cached.is_file():
        return [(f, h) for f, h in json.loads(cached.read_text())]
    content_type, body = _fetch(f"{index}/{normalized}/")
    if content_type == "application/vnd.pypi.simple.v1+json":
        listed = [(f["filename"], f.get("hashes", {}).get("sha256", "")) for f in json.loads(body)["files"]]
    else:
        listed = [(match.group(2), match.group(3)) for match in _HREF.finditer(body)]
    wanted = Version(version)
    files = sorted((f, h) for f, h in listed if _SHA256.match(h) and _version_of(f) == wanted)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(files))
    return files


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


# --- the requirements file ---------------------------------------------------------------------------------


def pin(resolved: Resolved, index: str, supported: frozenset[Tag]) -> tuple[Pin, str | None]:
    """The package's pin, and a warning when the file tested here is not one the index serves."""
    version = Version(resolved.version)
    served = index_files(index, resolved.name, resolved.version)
    usable = [(f, h, kind) for f, h in served if (kind := installable(f, version, supported)) is not None]
    hashes = {h for _, h, _ in usable}
    warning = None
    if not usable:
        # Not on the index at this version (a local build such as torch's +cpu): the file pip chose here.
        if not resolved.sha256 or installable(resolved.filename, version, supported) is None:
            raise ReleaseError(
                f"{resolved.name}=={resolved.version}: the index serves no file the hosts (CPython 3.11, "
                f"glibc 2.{HOST_GLIBC_MINOR}, {HOST_ARCH}) can install, and the one resolved here "
                f"({resolved.filename}) is not for them either"
            )
        hashes = {resolved.sha256}
        usable = [(resolved.filename, resolved.sha256, resolved.filename.endswith(".whl"))]
    elif resolved.sha256 and resolved.sha256 not in {h for _, h in served}:
        warning = (
            f"{resolved.name}=={resolved.version}: the file tested here ({resolved.filename}) is not one "
            f"the index serves; the hosts install the index's"
        )
    source_only = not any(kind for _, _, kind in usable)
    name = canonicalize_name(resolved.name)
    return Pin(name, resolved.version, tuple(sorted(hashes)), source_only), warning


def _constraint_version(constraints: Path, name: NormalizedName) -> str:
    for line in constraints.read_text().splitlines():
        left, _, version = line.split("#")[0].strip().partition("==")
        if canonicalize_name(left) == name and version:
            return version.strip()
    raise ReleaseError(f"{constraints} pins no {name}, the build backend the hosts need")


def pins(wheel_path: Path, constraints: Path, extras: tuple[str, ...] = ()) -> tuple[list[Pin], list[str]]:
    """Every pin of the requirements file, sorted by name, and the warnings about them."""
    index = index_url()
    supported = host_tags()
    resolved = resolve(wheel_path, constraints, extras)
    if not any(canonicalize_name(r.name) == BUILD_BACKEND for r in resolved):
        version = _constraint_version(constraints, BUILD_BACKEND)
        resolved.append(Resolved(BUILD_BACKEND, version, "", ""))
    results = [pin(r, index, supported) for r in resolved]
    warnings = [w for _, w in results if w is not None]
    return sorted((p for p, _ in results), key=lambda p: p.name), warnings


def requirements_text(wheel_name: str, pinned: Iterable[Pin], index: str) -> str:
    pinned = list(pinned)
    from_source = ", ".join(p.name for p in pinned if p.source_only) or "none"
    header = [
        f"# {wheel_name}: every package `pip install` of it resolves under constraints.txt, pinned, with the",
        "# sha256 of each file of that version that CPython 3.11 on Amazon Linux 2023 (x86_64) can install",
        f"# ({index}, or the file resolved by `make dist` where the index has none). Written by `make dist`",
        "# (creditscore/release.py); one line per package. The hosts (modules/compute user data) install",
        f"# {BUILD_BACKEND} first, then everything with `pip install --require-hashes --no-build-isolation`.",
        f"# Built from source on the hosts (no wheel for them): {from_source}.",
    ]
    return "\n".join([*header, *(p.line() for p in pinned)]) + "\n"


def _pinned(wheel_path: Path, extras: tuple[str, ...] = ()) -> list[Pin]:
    pinned, warnings = pins(wheel_path, ROOT / CONSTRAINTS, extras)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return pinned


def requirements(out_dir: Path, wheel_path: Path) -> Path:
    """``requirements.txt`` for the wheel, beside it."""
    path = out_dir / REQUIREMENTS
    path.write_text(requirements_text(wheel_path.name, _pinned(wheel_path), index_url()))
    return path


def training_requirements_text(wheel_path: Path, pinned: Iterable[Pin]) -> str:
    pinned = list(pinned)
    if built := [p.name for p in pinned if p.source_only]:
        # The toolkit installs with build isolation, whose downloads pip does not hash-check.
        raise ReleaseError(
            f"the training image would build {', '.join(built)} from source; pin a version with wheels"
        )
    header = [
        f"# {wheel_path.name}[{TRAINING_EXTRA}] for a SageMaker training job (modules/ml): the SageMaker",
        "# training toolkit runs `pip install -r requirements.txt` in the source folder before train.py.",
        "# Every line has a sha256, so pip checks every file. Written by `make dist` (creditscore.release).",
        f"--extra-index-url {TORCH_INDEX}",
    ]
    own = f"./{wheel_path.name} --hash=sha256:{hashlib.sha256(wheel_path.read_bytes()).hexdigest()}"
    return "\n".join([*header, *(p.line() for p in pinned), own]) + "\n"


def training_source(out_dir: Path, wheel_path: Path) -> Path:
    """The training jobs' source folder as a tar.gz with fixed times and owners, so that an unchanged
    release gives the same bytes."""
    members = {
        REQUIREMENTS: training_requirements_text(wheel_path, _pinned(wheel_path, (TRAINING_EXTRA,))).encode(),
        TRAINING_ENTRY: _TRAINING_ENTRY_SOURCE.encode(),
        wheel_path.name: wheel_path.read_bytes(),
    }
    path = out_dir / TRAINING_SOURCE
    # gzip's header would carry the time: written through GzipFile with mtime 0.
    with gzip.GzipFile(path, "wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return path


# --- the other artifacts -----------------------------------------------------------------------------------


def glue_libs(out_dir: Path) -> Path:
    """The packages' Python sources in a zip, in sorted order with fixed times, so an unchanged tree
    gives the same bytes (and Terraform, comparing etags, uploads nothing new)."""
    path = out_dir / GLUE_LIBS
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for package in GLUE_PACKAGES:
            for source in sorted((ROOT / package).rglob("*.py")):
                info = zipfile.ZipInfo(str(source.relative_to(ROOT)), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, source.read_bytes())
    return path


def wheel(out_dir: Path) -> Path:
    """The project's wheel; older ones are removed, so ``dist/`` holds exactly one for Terraform to find."""
    for old in out_dir.glob(f"{DISTRIBUTION}-*.whl"):
        old.unlink()
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out_dir)]
    subprocess.run([*command, str(ROOT)], check=True)
    return next(out_dir.glob(f"{DISTRIBUTION}-*.whl"))


def _paths(out_dir: Path) -> Iterator[Path]:
    built = wheel(out_dir)
    yield built
    yield requirements(out_dir, built)
    yield glue_libs(out_dir)
    yield training_source(out_dir, built)


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0] if argv else "dist")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Hosts no longer install under a plain constraints file: an old copy must not look current.
    (out_dir / CONSTRAINTS).unlink(missing_ok=True)
    try:
        for path in _paths(out_dir):
            print(path)
    except ReleaseError as error:
        print(f"make dist: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
