"""Model artifacts as published: the manifest, the current-version pointer, and loading with verification.

Shared by training (which writes them) and the scoring service (which reads them). A version folder
``s3://{models}/{model}/{version}/`` holds the scorer's files, ``calibration.json`` and ``manifest.json``;
``s3://{models}/{model}/current.json`` names the version to serve. The manifest records who made the
model from what (plugin, code version, a fingerprint of the training table), what it takes (features,
and the declarative per-feature transforms of the mapping it was trained through; with a mapping that
declares them, the raw inputs, their codes and number formats and the features derived from them, see
:mod:`plugins.encoding`), how good it was, and
a sha256 per file. :func:`load_verified` refuses any file whose bytes differ, is missing or is not listed,
and rebuilds the model through the scorer's own ``load`` — nothing in the bucket is ever executed.

Transforms live here because they are part of the model's input contract: a model trained on
``log1p(income)`` is served raw income and applies ``log1p`` itself, so training and serving cannot drift.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, cast

import numpy as np

from creditscore.domain.calibration import CALIBRATION_FILE, Calibration
from creditscore.domain.scores import Scaling
from creditscore.domain.stability import Reference, StabilityError
from creditscore.errors import JobError
from creditscore.plugin import SEGMENTS, Labels, Matrix, Model, Scorer, Vector
from plugins.calibration import CalibratedModel
from plugins.encoding import EncodedModel, Encoding, EncodingError

MANIFEST_FILE: Final = "manifest.json"
POINTER_FILE: Final = "current.json"
DISTRIBUTION: Final = "creditscore"
MODEL_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Time first, so versions sort by creation; the fingerprint's start tells apart runs on other data.
VERSION_RE: Final = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
_FILE_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_RESERVED_FILES: Final = frozenset({MANIFEST_FILE, POINTER_FILE})

TransformOp = Literal["log1p", "fillna", "clip", "replace"]
TRANSFORM_OPS: Final[tuple[TransformOp, ...]] = ("log1p", "fillna", "clip", "replace")


class ArtifactError(JobError):
    """An artifact, manifest or pointer is missing, malformed or does not match its recorded sha256."""


# --- transforms ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transform:
    """One step applied to a feature column: ``log1p``, ``fillna: v``, ``clip: [lo, hi]``, ``replace``.

    ``replace`` maps special codes to values (``null`` = missing), all at once, e.g. a bureau's
    ``-9 = no record`` to missing so trees learn it as such.
    """

    op: TransformOp
    value: float = math.nan
    low: float = -math.inf
    high: float = math.inf
    replacements: tuple[tuple[float, float], ...] = ()

    def apply(self, values: Vector, *, strict: bool = False) -> Vector:
        """The column transformed; ``strict`` (training) refuses log1p of values ≤ -1 instead of NaN."""
        if self.op == "log1p":
            invalid = values <= -1
            if strict and invalid.any():
                raise ValueError(f"log1p needs values above -1; {int(invalid.sum())} rows are not")
            return cast(Vector, np.log1p(np.where(invalid, np.nan, values)))
        if self.op == "fillna":
            return np.where(np.isnan(values), self.value, values)
        if self.op == "clip":
            return np.clip(values, self.low, self.high)
        result = values.copy()
        for old, new in self.replacements:
            result[values == old] = new
        return result

    def to_spec(self) -> str | dict[str, Any]:
        """The YAML/JSON form (as written in a mapping file; ``null`` for a missing value)."""
        if self.op == "log1p":
            return "log1p"
        if self.op == "fillna":
            return {"fillna": self.value}
        if self.op == "clip":
            return {"clip": [_or_none(self.low), _or_none(self.high)]}
        return {"replace": {_number_key(old): _or_none(new) for old, new in self.replacements}}

    @classmethod
    def from_spec(cls, spec: object, where: str) -> Transform:
        """Parse ``log1p``, ``{fillna: 0}``, ``{clip: [0, null]}`` or ``{replace: {96: null}}``."""
        if spec == "log1p":
            return cls("log1p")
        if not (isinstance(spec, Mapping) and len(spec) == 1):
            raise ArtifactError(f"{where}: a transform is one of {', '.join(TRANSFORM_OPS)}; got {spec!r}")
        ((op, arg),) = spec.items()
        if op == "fillna":
            return cls("fillna", value=_number(arg, f"{where}: fillna", missing_ok=False))
        if op == "clip":
            if not (isinstance(arg, Sequence) and not isinstance(arg, str) and len(arg) == 2):
                raise ArtifactError(f"{where}: clip takes [low, high] (null for no bound); got {arg!r}")
            low = _number(arg[0], f"{where}: clip low", missing_ok=True)
            high = _number(arg[1], f"{where}: clip high", missing_ok=True)
            return cls(
                "clip", low=-math.inf if math.isnan(low) else low, high=math.inf if math.isnan(high) else high
            )
        if op == "replace":
            if not (isinstance(arg, Mapping) and arg):
                raise ArtifactError(
                    f"{where}: replace takes a mapping of old value to new value; got {arg!r}"
                )
            pairs = tuple(
                (
                    _number(old, f"{where}: replace key", missing_ok=False),
                    _number(new, f"{where}: replace value", missing_ok=True),
                )
                for old, new in arg.items()
            )
            return cls("replace", replacements=pairs)
        raise ArtifactError(f"{where}: unknown transform {op!r}; known: {', '.join(TRANSFORM_OPS)}")


Transforms = Mapping[str, tuple[Transform, ...]]


def _number(value: object, where: str, *, missing_ok: bool) -> float:
    if value is None and missing_ok:
        return math.nan
    try:
        number = float(cast(str, value))
    except (TypeError, ValueError):
        number = math.nan
    # Finite only: an infinity could not be written back to the manifest's strict JSON.
    if not math.isfinite(number):
        raise ArtifactError(
            f"{where}: expected a finite number{' or null' if missing_ok else ''}, got {value!r}"
        )
    return number


def _or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _number_key(value: float) -> str:
    # JSON keys are strings; whole codes read better as "96" than "96.0".
    return str(int(value)) if value.is_integer() else repr(value)


def transform_rows(rows: Matrix, features: Sequence[str], transforms: Transforms) -> Matrix:
    """``rows`` (columns in ``features`` order) with each feature's steps applied in turn."""
    if not transforms:
        return rows
    result = np.array(rows, dtype=np.float64, copy=True)
    for column, name in enumerate(features):
        for step in transforms.get(name, ()):
            result[:, column] = step.apply(result[:, column])
    return result


def transforms_to_json(transforms: Transforms) -> dict[str, list[str | dict[str, Any]]]:
    return {name: [step.to_spec() for step in steps] for name, steps in transforms.items() if steps}


def transforms_from_json(
    document: object, features: Sequence[str], where: str
) -> dict[str, tuple[Transform, ...]]:
    if not isinstance(document, Mapping):
        raise ArtifactError(f"{where}: transforms must be a mapping of feature to steps")
    unknown = sorted(set(document) - set(features))
    if unknown:
        raise ArtifactError(f"{where}: transforms name features the model does not take: {unknown}")
    parsed: dict[str, tuple[Transform, ...]] = {}
    for name, steps in document.items():
        if not isinstance(steps, list):
            raise ArtifactError(f"{where}: the transforms of {name!r} must be a list of steps")
        parsed[name] = tuple(Transform.from_spec(step, f"{where}: feature {name!r}") for step in steps)
    return parsed


class TransformedModel:
    """A model fed raw feature values: it applies the training-time transforms before predicting."""

    def __init__(self, model: Model, features: Sequence[str], transforms: Transforms) -> None:
        self.model = model
        self.features = tuple(features)
        self.transforms = transforms

    def predict_pd(self, rows: Matrix) -> Vector:
        return self.model.predict_pd(transform_rows(rows, self.features, self.transforms))

    def explain(self, rows: Matrix) -> Matrix:
        return self.model.explain(transform_rows(rows, self.features, self.transforms))


def model_over_inputs(
    model: Model, features: Sequence[str], transforms: Transforms, encoding: Encoding | None
) -> Model:
    """``model`` fed raw inputs: the encoding's features computed from them, then the transforms."""
    if transforms:
        model = TransformedModel(model, features, transforms)
    if encoding is not None:
        model = EncodedModel(model, features, encoding)
    return model


# --- the manifest ----------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(features: Matrix, labels: Labels, names: Sequence[str]) -> str:
    """sha256 of the training table's canonical bytes: a header naming the columns and the row count,
    then the features as little-endian float64 in row order, then the labels as little-endian int64.

    NaN and -0.0 are normalised first, so equal tables hash equally whatever produced them.
    """
    values = np.ascontiguousarray(features, dtype="<f8") + 0.0
    values[np.isnan(values)] = np.nan
    header = json.dumps({"columns": list(names), "label": "label", "rows": len(labels)}).encode()
    digest = hashlib.sha256(header + b"\n")
    digest.update(values.tobytes())
    digest.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def version_id(created_at: datetime, training_data_fingerprint: str) -> str:
    return f"{created_at.strftime('%Y%m%dT%H%M%SZ')}-{training_data_fingerprint[:8]}"


def code_version() -> str:
    """The creditscore package version, plus ``+g<commit>`` (and ``.dirty``) when run from a git clone."""
    version = importlib.metadata.version(DISTRIBUTION)
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if changes else ''}"


def plugin_origin(scorer: Scorer) -> dict[str, str | None]:
    """The module defining the scorer and the installed distribution that ships it (None if none does)."""
    module = type(scorer).__module__
    distributions = importlib.metadata.packages_distributions().get(module.split(".")[0], [])
    distribution = distributions[0] if distributions else None
    version = importlib.metadata.version(distribution) if distribution else None
    return {"distribution": distribution, "module": module, "version": version}


@dataclass(frozen=True)
class Manifest:
    model: str
    plugin: dict[str, str | None]
    version: str
    features: tuple[str, ...]
    groups: tuple[str, ...]
    segment: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    training_data_fingerprint: str
    files: dict[str, str]
    created_at: str
    code_version: str
    transforms: dict[str, tuple[Transform, ...]] = field(default_factory=dict)
    #: The scaling the model was trained and measured with; None in versions published before it was
    #: recorded (served with the host's configured scaling).
    scaling: Scaling | None = None
    #: The inputs the model takes and how its features come from them (``inputs`` and ``derived`` in
    #: the JSON); None when its inputs are its features, plain numbers (every version published before).
    encoding: Encoding | None = None
    #: The training population's score and input distributions, which the service compares the live ones
    #: with (PSI and CSI, :mod:`creditscore.domain.stability`); None in versions published before it was
    #: recorded (no stability figures for them).
    reference: Reference | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """What a row to score holds, by name: the encoding's inputs, else the features."""
        return self.encoding.names if self.encoding else self.features

    def to_json(self) -> bytes:
        document = asdict(replace(self, encoding=None, reference=None))
        del document["encoding"]
        del document["reference"]
        document["features"] = list(self.features)
        document["groups"] = list(self.groups)
        document["transforms"] = transforms_to_json(self.transforms)
        if self.scaling is None:
            del document["scaling"]
        if self.encoding is not None:
            document |= self.encoding.to_json()
        if self.reference is not None:
            document["reference"] = self.reference.to_json()
        return json.dumps(document, indent=2, sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = MANIFEST_FILE) -> Manifest:
        """Parse and validate; :class:`ArtifactError` names the field that is wrong."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise ArtifactError(f"{where} is not valid JSON: {error}") from None
        if not isinstance(document, dict):
            raise ArtifactError(f"{where} is not a JSON object")

        def get(name: str, kind: type | tuple[type, ...]) -> Any:
            if not isinstance(document.get(name), kind):
                raise ArtifactError(f"{where}: field {name!r} is missing or not a {kind}")
            return document[name]

        model = get("model", str)
        version = get("version", str)
        if not MODEL_NAME_RE.match(model) or not VERSION_RE.match(version):
            raise ArtifactError(f"{where}: model {model!r} or version {version!r} is malformed")
        features = tuple(get("features", list))
        if not features or not all(isinstance(name, str) for name in features):
            raise ArtifactError(f"{where}: field 'features' must list feature names")
        segment = get("segment", str)
        if segment not in SEGMENTS:
            raise ArtifactError(f"{where}: segment {segment!r} is not one of {SEGMENTS}")
        files = get("files", dict)
        check_file_names(files, where)
        if not all(isinstance(digest, str) and _SHA256_RE.match(digest) for digest in files.values()):
            raise ArtifactError(f"{where}: every file needs a sha256 as 64 lowercase hex digits")
        encoding = _encoding_from_json(document, features, where)
        return cls(
            model=model,
            plugin=get("plugin", dict),
            version=version,
            features=features,
            groups=tuple(get("groups", list)),
            segment=segment,
            params=get("params", dict),
            metrics=get("metrics", dict),
            training_data_fingerprint=get("training_data_fingerprint", str),
            files=files,
            created_at=get("created_at", str),
            code_version=get("code_version", str),
            transforms=transforms_from_json(document.get("transforms", {}), features, where),
            scaling=_scaling_from_json(document.get("scaling"), where),
            encoding=encoding,
            reference=_reference_from_json(
                document.get("reference"), encoding.names if encoding else features, where
            ),
        )


def _reference_from_json(value: object, inputs: Sequence[str], where: str) -> Reference | None:
    if value is None:
        return None
    try:
        return Reference.from_json(value, inputs, f"{where}: field 'reference'")
    except StabilityError as error:
        raise ArtifactError(str(error)) from None


def _encoding_from_json(document: Mapping[str, Any], features: Sequence[str], where: str) -> Encoding | None:
    if "inputs" not in document:
        return None
    try:
        return Encoding.from_json(document["inputs"], document.get("derived", {}), features, where)
    except EncodingError as error:
        raise ArtifactError(str(error)) from None


def _scaling_from_json(value: object, where: str) -> Scaling | None:
    if value is None:
        return None
    names = ("target", "target_odds", "pdo")
    if not isinstance(value, dict) or set(value) != set(names):
        raise ArtifactError(f"{where}: field 'scaling' must hold exactly {', '.join(names)}")
    numbers = [value[name] for name in names]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        raise ArtifactError(f"{where}: field 'scaling' must hold numbers")
    try:
        return Scaling(*(float(n) for n in numbers))
    except ValueError as error:
        raise ArtifactError(f"{where}: field 'scaling': {error}") from None


def check_file_names(names: Sequence[str] | Mapping[str, object], where: str) -> None:
    """Plain names only: a manifest must not point outside its version folder or shadow the metadata."""
    for name in names:
        if not _FILE_NAME_RE.match(name) or name in _RESERVED_FILES or ".." in name:
            raise ArtifactError(f"{where}: {name!r} is not an acceptable artifact file name")


def verify(manifest: Manifest, files: Mapping[str, bytes]) -> None:
    """Raise :class:`ArtifactError` naming every file that is missing, not listed, or whose sha256 differs."""
    problems = [f"{name}: missing" for name in sorted(set(manifest.files) - set(files))]
    problems += [f"{name}: not listed in the manifest" for name in sorted(set(files) - set(manifest.files))]
    problems += [
        f"{name}: sha256 {sha256(files[name])} differs from the manifest's {expected}"
        for name, expected in sorted(manifest.files.items())
        if name in files and sha256(files[name]) != expected
    ]
    if problems:
        raise ArtifactError(
            f"{manifest.model} version {manifest.version} failed verification: " + "; ".join(problems)
        )


def load_verified(scorer: Scorer, manifest: Manifest, files: Mapping[str, bytes]) -> Model:
    """The served model: files verified, the scorer rebuilt on the manifest's features, then the
    scorer's ``load``, the mapping's encoding and transforms in front and the calibration (when present)
    behind."""
    if manifest.model != scorer.name:
        raise ArtifactError(f"the manifest is for model {manifest.model!r}, not {scorer.name!r}")
    verify(manifest, files)
    if manifest.features != scorer.features:
        scorer = scorer.with_features(manifest.features)
    model: Model = scorer.load({name: data for name, data in files.items() if name != CALIBRATION_FILE})
    model = model_over_inputs(model, manifest.features, manifest.transforms, manifest.encoding)
    if CALIBRATION_FILE in files:
        model = CalibratedModel(model, Calibration.from_json(files[CALIBRATION_FILE]))
    return model


# --- the current-version pointer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    """``{model}/current.json``: the version to serve and the ones served before it, newest first."""

    version: str
    previous: tuple[str, ...]
    updated_at: str

    def to_json(self) -> bytes:
        document = {"version": self.version, "previous": list(self.previous), "updated_at": self.updated_at}
        return json.dumps(document, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = POINTER_FILE) -> Pointer:
        try:
            document = json.loads(data)
            version, previous, updated_at = document["version"], document["previous"], document["updated_at"]
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
            raise ArtifactError(f"{where} is malformed: {error!r}") from None
        versions = [version, *previous] if isinstance(previous, list) else [None]
        if not all(isinstance(v, str) and VERSION_RE.match(v) for v in versions):
            raise ArtifactError(f"{where} names a malformed version: {document!r}")
        return cls(version, tuple(previous), str(updated_at))


def version_prefix(model: str, version: str) -> str:
    return f"{model}/{version}/"


def pointer_key(model: str) -> str:
    return f"{model}/{POINTER_FILE}"
