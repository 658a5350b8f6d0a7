"""Mapping files: train a scorer on a table whose columns are named and coded the bank's own way.

A YAML (or JSON) file::

    label: SeriousDlqin2yrs        # the outcome column
    label_positive: 1              # value(s) meaning "defaulted"; every other value is 0
    features:                      # model feature (or input): source column, in the model's order
      revolving_utilization: RevolvingUtilizationOfUnsecuredLines
      monthly_income:
        column: MonthlyIncome      # optional: the column named as the key when left out
        transform: [{fillna: 0}, log1p]   # log1p, fillna, clip: [lo, hi], replace: {old: new}
      Thu nhập: {number: {thousands: ".", decimal: ","}}   # numbers written as text: 12.500.000,5
      Có thẻ tín dụng:             # text codes to numbers, any number of them
        codes: {"Có": 1, "Không": 0}
        unknown: refuse            # an unseen code: refuse the row (default), or count it as missing
        missing: refuse            # a missing value: keep (default, NaN), refuse the row, or a number
      Nghề nghiệp: {onehot: [Công nhân, Văn phòng, Kinh doanh], unknown: missing}
      Học vấn: {ordinal: [Phổ thông, Đại học, Sau đại học]}   # 0, 1, 2 in this order
    derived:                       # optional features computed from the features' inputs, after them
      Tỷ lệ nợ: {ratio: [Dư nợ, Thu nhập], zero: 0}     # a / b; zero: the result where b is 0 (or null)
      Chênh lệch: {difference: [Thu nhập, Chi tiêu]}   # a - b; also product: [a, b]
      Tổng quá hạn: {sum: [Quá hạn 30, Quá hạn 60, Quá hạn 90]}   # two or more inputs
      Log thu nhập: {log1p: Thu nhập, transform: [{clip: [0, 20]}]}   # a negative value is missing
    params: {max_depth: 3}         # optional training parameters (the command line's --params win)
    csv: {sep: ';', thousands: '.', decimal: ','}   # optional pandas.read_csv options (also: header, names,
                                   # na_values); thousands/decimal also read the numeric inputs' text

Each key of ``features`` is an *input* of the model: a row to score (a line of ``creditscore score``'s file,
a row of ``POST /api/v1/score``) holds it under that name, raw — codes as text, numbers as the column writes
them. Name the key as the column (or leave ``column`` out) and the table itself can be scored. An input is
one model feature of its name, except ``onehot``, which makes one feature per label, named ``KEY=LABEL``
(1 where the row holds the label, else 0; all missing where the value is missing). Codes are text: quote
``"Yes"``/``"No"`` in YAML, which otherwise reads them as true/false (the mapping is refused, saying so).
Codes compare after trimming spaces; a code given as a number (``1: 0``) matches the text ``1``. The
labels of ``onehot`` and ``ordinal`` are codes numbered 0, 1, ... in order, so ``missing: 0`` there means
the first label.

Rows whose value cannot be read (an unknown code under ``unknown: refuse``, a missing value under
``missing: refuse``, text that is not a number in the column's format) are left out of training, counted
by column and reason with an example value in the report (``rows.rejected``) and printed; a column none
of whose values can be read stops training, naming the column and a value.

When the mapping's features are not the scorer's own, training runs ``scorer.with_features(...)``. The
inputs, codes, derived features and transforms are recorded in the manifest and applied by the loaded
model (:mod:`plugins.encoding`, :mod:`plugins.artifacts`), so batch scoring and the service pass raw
values and codes and get what training computed.
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
from plugins.encoding import Derived, Encoding, EncodingError, InputSpec, NumberFormat, build_input

# The pandas.read_csv options a mapping may set; anything else (converters, engines) stays out of a data file.
CSV_OPTIONS: Final = frozenset({"sep", "header", "names", "na_values", "decimal", "thousands"})
_KEYS: Final = frozenset({"label", "label_positive", "features", "derived", "params", "csv"})
_FEATURE_KEYS: Final = frozenset(
    {"column", "transform", "codes", "onehot", "ordinal", "unknown", "missing", "number"}
)


class MappingError(JobError):
    """A mapping file cannot be read or is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class FeatureSource:
    """One input: the column it is read from, how its values become numbers, and its transforms."""

    column: str
    transforms: tuple[Transform, ...] = ()
    #: How raw values become numbers; None: numbers, as pandas reads them.
    spec: InputSpec | None = None
    #: The labels of a one-hot input, in order (its features are ``KEY=LABEL``); empty otherwise.
    onehot: tuple[str, ...] = ()


@dataclass(frozen=True)
class DerivedFeature:
    how: Derived
    transforms: tuple[Transform, ...] = ()


@dataclass(frozen=True)
class ColumnMapping:
    label: str
    label_positive: tuple[object, ...]
    features: dict[str, FeatureSource]
    params: dict[str, Any] = field(default_factory=dict)
    csv: dict[str, Any] = field(default_factory=dict)
    source: str = "<mapping>"
    derived: dict[str, DerivedFeature] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's features, in order: each input's (a one-hot input's labels), then the derived."""
        names: list[str] = []
        for name, source in self.features.items():
            names += [f"{name}={label}" for label in source.onehot] if source.onehot else [name]
        return (*names, *self.derived)

    @property
    def transforms(self) -> dict[str, tuple[Transform, ...]]:
        steps = {name: source.transforms for name, source in self.features.items() if source.transforms}
        return steps | {name: d.transforms for name, d in self.derived.items() if d.transforms}

    def input_spec(self, name: str) -> InputSpec:
        return self.features[name].spec or InputSpec(name, number=_csv_number(self.csv))

    @property
    def text_columns(self) -> list[str]:
        """The source columns read as text: those of inputs with codes or a number format."""
        return [source.column for name, source in self.features.items() if self.input_spec(name).takes_text]

    @property
    def read_options(self) -> dict[str, Any]:
        """The ``pandas.read_csv`` options to read the table with: the mapping's ``csv``, and the columns
        of declared inputs as text, so the mapping's format decides ("12.500" is twelve thousand five
        hundred when the column writes dots between thousands)."""
        options = dict(self.csv)
        if text := self.text_columns:
            options["dtype"] = dict.fromkeys(text, str)
        return options

    @property
    def encoding(self) -> Encoding | None:
        """How the model's features come from its inputs; None when they are the inputs, plain numbers."""
        derived = {name: d.how for name, d in self.derived.items()}
        for name, source in self.features.items():
            for index, label in enumerate(source.onehot):
                derived[f"{name}={label}"] = Derived("onehot", (name,), float(index))
        encoding = Encoding(tuple(self.input_spec(name) for name in self.features), derived)
        return None if encoding.is_plain(self.feature_names) else encoding


def _csv_number(csv: MappingABC[str, Any]) -> NumberFormat | None:
    if "thousands" not in csv and "decimal" not in csv:
        return None
    return NumberFormat(str(csv.get("thousands") or ""), str(csv.get("decimal", ".")))


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
    derived = document.get("derived", {})
    if not isinstance(params, MappingABC) or not isinstance(csv, MappingABC):
        raise MappingError(f"mapping {source}: 'params' and 'csv' must be mappings")
    if not isinstance(derived, MappingABC):
        raise MappingError(f"mapping {source}: 'derived' must map feature names to {{ratio: [a, b], ...}}")
    bad_csv = sorted(set(csv) - CSV_OPTIONS)
    if bad_csv:
        raise MappingError(
            f"mapping {source}: csv options {bad_csv} are not allowed; allowed: {sorted(CSV_OPTIONS)}"
        )
    try:
        _csv_number(csv)
    except EncodingError as error:
        raise MappingError(f"mapping {source}: csv: {error}") from None
    mapping = ColumnMapping(
        label=label,
        label_positive=positives,
        features={str(name): _feature(name, spec, source) for name, spec in features.items()},
        params=dict(params),
        csv=dict(csv),
        source=source,
        derived={str(name): _derived(name, spec, source) for name, spec in derived.items()},
    )
    _check_names(mapping)
    return mapping


def _check_names(mapping: ColumnMapping) -> None:
    names = mapping.feature_names
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise MappingError(f"mapping {mapping.source}: features named twice: {twice}")
    for name, feature in mapping.derived.items():
        for operand in feature.how.operands:
            if operand not in mapping.features:
                raise MappingError(
                    f"mapping {mapping.source}: derived feature {name!r} uses {operand!r}, which is not "
                    f"a key of 'features' (it has: {', '.join(mapping.features)})"
                )
            if mapping.features[operand].onehot:
                raise MappingError(
                    f"mapping {mapping.source}: derived feature {name!r} uses {operand!r}, a one-hot input"
                )


def _feature(name: object, spec: object, source: str) -> FeatureSource:
    where = f"mapping {source}: feature {name!r}"
    if not isinstance(name, str) or not name:
        raise MappingError(f"{where}: feature names must be non-empty strings")
    if isinstance(spec, str) and spec:
        return FeatureSource(spec)
    if spec is None:
        return FeatureSource(name)
    if not isinstance(spec, MappingABC) or not isinstance(spec.get("column", name), str):
        raise MappingError(f"{where}: expected a column name or {{column: NAME, transform: [...]}}")
    extra = sorted(set(spec) - _FEATURE_KEYS)
    steps = spec.get("transform", [])
    if extra or not isinstance(steps, list):
        raise MappingError(
            f"{where}: expected a column name or {{column: NAME, transform: [...], ...}}: unknown keys "
            f"{extra}; allowed: {', '.join(sorted(_FEATURE_KEYS))}, with 'transform' a list"
        )
    labels = _labels(spec, where)
    if labels and "onehot" in spec and steps:
        raise MappingError(f"{where}: a one-hot input takes no transform")
    try:
        transforms = tuple(Transform.from_spec(step, where) for step in steps)
        coding = _coding(name, spec, labels, where)
    except (ArtifactError, EncodingError) as error:
        raise MappingError(str(error)) from None
    onehot = labels if "onehot" in spec else ()
    return FeatureSource(spec.get("column", name), transforms, coding, onehot)


def _labels(spec: MappingABC[str, Any], where: str) -> tuple[str, ...]:
    kinds = [kind for kind in ("codes", "onehot", "ordinal", "number") if kind in spec]
    if len(kinds) > 1:
        raise MappingError(f"{where}: give one of codes, onehot, ordinal, number; got {', '.join(kinds)}")
    kind = kinds[0] if kinds else None
    if kind not in ("onehot", "ordinal"):
        return ()
    labels = spec[kind]
    if not (isinstance(labels, list) and labels):
        raise MappingError(f"{where}: {kind} takes a list of labels; got {labels!r}")
    for label in labels:
        if isinstance(label, bool) or not isinstance(label, str | int | float) or not str(label).strip():
            raise MappingError(
                f"{where}: {kind} label {label!r} is not text "
                "(quote 'Yes'/'No': YAML reads them as true/false)"
            )
    texts = tuple(str(label).strip() for label in labels)
    if len(set(texts)) != len(texts):
        raise MappingError(f"{where}: {kind} lists a label twice: {list(texts)}")
    return texts


def _coding(name: str, spec: MappingABC[str, Any], labels: tuple[str, ...], where: str) -> InputSpec | None:
    codes = spec.get("codes")
    if labels:
        codes = {label: index for index, label in enumerate(labels)}
    declared = {"codes", "onehot", "ordinal", "number", "unknown", "missing"} & set(spec)
    if not declared:
        return None
    if ("unknown" in spec) and codes is None:
        raise EncodingError(f"{where}: 'unknown' applies to codes, onehot or ordinal")
    return build_input(
        name,
        codes=codes,
        unknown=spec.get("unknown", "refuse"),
        missing=spec.get("missing", "keep"),
        number=spec.get("number"),
        where=where,
    )


def _derived(name: object, spec: object, source: str) -> DerivedFeature:
    where = f"mapping {source}: derived feature {name!r}"
    if not isinstance(name, str) or not name:
        raise MappingError(f"{where}: feature names must be non-empty strings")
    if not isinstance(spec, MappingABC):
        raise MappingError(f"{where}: expected {{ratio: [a, b], zero: 0}}, difference, product, sum or log1p")
    steps = spec.get("transform", [])
    if not isinstance(steps, list):
        raise MappingError(f"{where}: 'transform' must be a list")
    try:
        how = Derived.from_json({k: v for k, v in spec.items() if k != "transform"}, where)
        if how.op == "onehot":
            raise EncodingError(f"{where}: onehot is declared on an input (features: KEY: {{onehot: [...]}})")
        return DerivedFeature(how, tuple(Transform.from_spec(step, where) for step in steps))
    except (ArtifactError, EncodingError) as error:
        raise MappingError(str(error)) from None
