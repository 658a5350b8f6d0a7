"""Mapping files: train a scorer on a table whose columns are named and coded the bank's own way.

A YAML (or JSON) file::

    label: SeriousDlqin2yrs        # the outcome column
    label_positive: 1              # value(s) meaning "defaulted"; every other value is 0
    features:                      # model feature: source column, in the model's order
      revolving_utilization: RevolvingUtilizationOfUnsecuredLines
      monthly_income:
        column: MonthlyIncome
        transform: [{fillna: 0}, log1p]   # log1p, fillna, clip: [lo, hi], replace: {old: new}
    params: {max_depth: 3}         # optional training parameters (the command line's --params win)
    csv: {sep: '\\s+', header: null, names: [a, b, c]}   # optional, for CSV sources without a header

When the mapping's features are not the scorer's own, training runs ``scorer.with_features(...)``. The
transforms are recorded in the manifest and applied by the loaded model, so the service passes raw values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

from creditscore.errors import JobError
from plugins.artifacts import ArtifactError, Transform

# The pandas.read_csv options a mapping may set; anything else (converters, engines) stays out of a data file.
CSV_OPTIONS: Final = frozenset({"sep", "header", "names", "na_values", "decimal", "thousands"})
_KEYS: Final = frozenset({"label", "label_positive", "features", "params", "csv"})


class MappingError(JobError):
    """A mapping file cannot be read or is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class FeatureSource:
    column: str
    transforms: tuple[Transform, ...] = ()


@dataclass(frozen=True)
class ColumnMapping:
    label: str
    label_positive: tuple[object, ...]
    features: dict[str, FeatureSource]
    params: dict[str, Any] = field(default_factory=dict)
    csv: dict[str, Any] = field(default_factory=dict)
    source: str = "<mapping>"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.features)

    @property
    def transforms(self) -> dict[str, tuple[Transform, ...]]:
        return {name: source.transforms for name, source in self.features.items() if source.transforms}


def load_mapping(path: Path) -> ColumnMapping:
    """Read and validate a mapping file (.yaml, .yml or .json)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise MappingError(f"cannot read mapping file {path}: {error.strerror or error}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise MappingError(
            f"mapping file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {error}"
        ) from None
    return parse_mapping(document, str(path))


def parse_mapping(document: object, source: str) -> ColumnMapping:
    if not isinstance(document, MappingABC):
        raise MappingError(f"mapping {source}: expected a mapping with keys label, label_positive, features")
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise MappingError(f"mapping {source}: unknown keys {unknown}; known: {sorted(_KEYS)}")
    label = document.get("label")
    if not isinstance(label, str) or not label:
        raise MappingError(f"mapping {source}: 'label' must name the outcome column")
    if "label_positive" not in document:
        raise MappingError(f"mapping {source}: 'label_positive' must give the value(s) meaning default")
    positive = document["label_positive"]
    positives = tuple(positive) if isinstance(positive, list) else (positive,)
    if not positives or any(isinstance(value, (dict, list)) or value is None for value in positives):
        raise MappingError(f"mapping {source}: 'label_positive' must be a value or a list of values")
    features = document.get("features")
    if not isinstance(features, MappingABC) or not features:
        raise MappingError(f"mapping {source}: 'features' must map model feature names to source columns")
    params = document.get("params", {})
    csv = document.get("csv", {})
    if not isinstance(params, MappingABC) or not isinstance(csv, MappingABC):
        raise MappingError(f"mapping {source}: 'params' and 'csv' must be mappings")
    bad_csv = sorted(set(csv) - CSV_OPTIONS)
    if bad_csv:
        raise MappingError(
            f"mapping {source}: csv options {bad_csv} are not allowed; allowed: {sorted(CSV_OPTIONS)}"
        )
    return ColumnMapping(
        label=label,
        label_positive=positives,
        features={str(name): _feature(name, spec, source) for name, spec in features.items()},
        params=dict(params),
        csv=dict(csv),
        source=source,
    )


def _feature(name: object, spec: object, source: str) -> FeatureSource:
    where = f"mapping {source}: feature {name!r}"
    if not isinstance(name, str) or not name:
        raise MappingError(f"{where}: feature names must be non-empty strings")
    if isinstance(spec, str) and spec:
        return FeatureSource(spec)
    if not (isinstance(spec, MappingABC) and isinstance(spec.get("column"), str)):
        raise MappingError(f"{where}: expected a column name or {{column: NAME, transform: [...]}}")
    extra = sorted(set(spec) - {"column", "transform"})
    steps = spec.get("transform", [])
    if extra or not isinstance(steps, list):
        raise MappingError(f"{where}: only 'column' and a list 'transform' are allowed")
    try:
        return FeatureSource(spec["column"], tuple(Transform.from_spec(step, where) for step in steps))
    except ArtifactError as error:
        raise MappingError(str(error)) from None
