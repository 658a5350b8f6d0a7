"""A model version in a local directory: what ``creditscore train --out DIR`` writes, and what
``creditscore models publish DIR`` uploads and ``creditscore score --model DIR`` scores with.

The registry's layout of one version (:mod:`plugins.registry`), flat in one directory: the scorer's files and
``calibration.json``, ``manifest.json`` (written last), and beside them the training run's report —
``report.json`` and the charts (``*.png``) — which publishing uploads to the version's ``report/`` folder.
SageMaker's model directory (:mod:`training.sagemaker`) holds the same.

Reading verifies every file against the manifest before anything uses one: a listed file that is missing
or whose sha256 differs, and any file that is neither listed nor part of the report, is refused by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from plugins.artifacts import MANIFEST_FILE, ArtifactError, Manifest, verify

#: The training run's report files, kept beside a version: ``report.json`` and the charts.
REPORT_FILE: Final = "report.json"
CHART_SUFFIX: Final = ".png"


@dataclass(frozen=True)
class LocalVersion:
    directory: Path
    manifest: Manifest
    #: Every file of the version but the manifest, verified.
    files: dict[str, bytes]
    #: ``report.json`` and the charts, when present (not verified: what a reviewer reads beside the files).
    report: dict[str, bytes]


def is_report(name: str) -> bool:
    return name == REPORT_FILE or name.endswith(CHART_SUFFIX)


def write_version(directory: Path, manifest: Manifest, files: Mapping[str, bytes]) -> list[Path]:
    """Write the version's ``files`` and then its manifest into ``directory``; the paths written.

    The files of a version written there before and not part of this one are removed, so the directory
    always holds one version that verifies (the report and charts are the training run's to overwrite).
    """
    verify(manifest, files)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST_FILE
    stale = _listed_files(manifest_path) - set(files)
    # No manifest while the files change: an interrupted write leaves a directory that fails to read
    # instead of one whose manifest describes other files.
    manifest_path.unlink(missing_ok=True)
    for name in sorted(stale):
        (directory / name).unlink(missing_ok=True)
    written = []
    for name, data in sorted(files.items()):
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    manifest_path.write_bytes(manifest.to_json())
    return [*written, manifest_path]


def _listed_files(manifest_path: Path) -> set[str]:
    """The files a manifest already in the directory lists (none when there is none, or it is unreadable)."""
    with contextlib.suppress(OSError, ArtifactError):
        return set(Manifest.from_json(manifest_path.read_bytes(), str(manifest_path)).files)
    return set()


def read_version(directory: Path) -> LocalVersion:
    """The version in ``directory``, every file verified against its manifest; :class:`ArtifactError`
    names the directory and each file that is missing, changed or not listed."""
    if not directory.is_dir():
        raise ArtifactError(f"no such directory: {directory}")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ArtifactError(
            f"{directory} holds no {MANIFEST_FILE}: not a model version (creditscore train --out DIR "
            "writes one)"
        )
    manifest = Manifest.from_json(manifest_path.read_bytes(), str(manifest_path))
    files: dict[str, bytes] = {}
    report: dict[str, bytes] = {}
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name == MANIFEST_FILE:
            continue
        if not entry.is_file():
            raise ArtifactError(f"{directory}: {name} is not a file of a model version (a directory?)")
        if name not in manifest.files and is_report(name):
            report[name] = entry.read_bytes()
        else:
            # Unlisted files too, so that verification names them.
            files[name] = entry.read_bytes()
    try:
        verify(manifest, files)
    except ArtifactError as error:
        raise ArtifactError(f"{directory}: {error}") from None
    return LocalVersion(directory, manifest, files, report)
