"""The model a scoring run uses: ``NAME`` (its current version in the models bucket), ``NAME@VERSION``, or
a directory ``creditscore train --out`` wrote. An existing directory, or anything written as a path (with a
``/`` or starting with ``.``), is a directory.

Either way the model is rebuilt by :func:`plugins.artifacts.load_verified`, as the service rebuilds it:
every file verified against the manifest, the scorer's ``load``, the manifest's transforms in front and
the calibration behind. Scores use the scaling the manifest records (the host's only for a version that
recorded none), as the service does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from creditscore.config import Settings
from creditscore.domain.scores import Scaling
from creditscore.plugin import Model, Scorer
from plugins.artifacts import MODEL_NAME_RE, VERSION_RE, Manifest, load_verified
from plugins.manager import PluginError, scorer
from plugins.registry import Registry
from plugins.version_dir import read_version
from training.batch import BatchScoringError


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    model: Model
    scaling: Scaling
    #: Where the version came from: its directory, or its folder in the models bucket.
    origin: str
    #: The version's files but the manifest, as verified against it (what a Spark job ships to executors).
    files: Mapping[str, bytes]


def load_model(spec: str, settings: Settings) -> LoadedModel:
    if Path(spec).is_dir() or "/" in spec or spec.startswith("."):
        version = read_version(Path(spec))
        manifest, files = version.manifest, version.files
        model = load_verified(_scorer(manifest.model), manifest, files)
        origin = str(version.directory)
    else:
        name, at, wanted = spec.partition("@")
        if not MODEL_NAME_RE.match(name) or (at and not VERSION_RE.match(wanted)):
            raise BatchScoringError(
                f"--model {spec!r} is neither a directory nor NAME[@VERSION] (e.g. xgboost-new-customer or "
                "xgboost-new-customer@20260101T000000Z-0123abcd)"
            )
        found = _scorer(name)
        registry = Registry.from_settings(settings)
        manifest = registry.manifest(name, wanted or registry.current_version(name))
        files = registry.files(manifest)
        model = load_verified(found, manifest, files)
        origin = f"s3://{registry.bucket}/{manifest.model}/{manifest.version}/"
    return LoadedModel(manifest, model, manifest.scaling or Scaling.from_settings(settings), origin, files)


def _scorer(name: str) -> Scorer:
    try:
        return scorer(name)
    except PluginError as error:
        raise BatchScoringError(f"cannot load model {name!r}: {error}") from None
