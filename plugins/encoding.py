"""A model's inputs as the bank's table holds them, and how its features are made from them.

Part of the model's input contract, recorded in the manifest beside the transforms (``inputs`` and
``derived``) and applied by the loaded model, so training, batch scoring and the service read a row alike:

- an **input** is a column of raw values under its name: numbers, numbers written as text in a declared
  format (``{"thousands": ".", "decimal": ","}``: ``12.500.000,5``), or text codes mapped to numbers
  (``{"Có": 1, "Không": 0}``), with a declared handling of unknown codes (``refuse`` the row, or count the
  value as ``missing``) and of missing values (``keep`` them missing, ``refuse`` the row, or a number);
- a **feature** (a column the model was fitted on) is an input by the same name, or **derived** from
  inputs by one of a fixed set of operations: ``onehot`` (1 where the input holds one code's number, else
  0), ``ratio`` (a / b, with a declared result where b is 0), ``difference`` (a - b), ``product`` (a · b),
  ``log1p`` (of a non-negative input; a negative value counts as missing). Nothing is evaluated or executed.

:func:`decode_value` turns one raw value into the input's number, or says why it cannot (``non_numeric``,
``unknown_code``, ``missing_value``); :class:`EncodedModel` takes the decoded inputs and computes the
features before the model sees them. A manifest without ``inputs`` (every version published before them)
takes its features as inputs, numbers only, as it always did.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

import numpy as np

from creditscore.errors import JobError
from creditscore.plugin import Matrix, Model, Vector

NON_NUMERIC: Final = "non_numeric"
UNKNOWN_CODE: Final = "unknown_code"
MISSING_VALUE: Final = "missing_value"
OK: Final = ""
Unknown = Literal["refuse", "missing"]
UNKNOWN_RULES: Final[tuple[Unknown, ...]] = ("refuse", "missing")
DerivedOp = Literal["onehot", "ratio", "difference", "product", "sum", "log1p"]
DERIVED_OPS: Final[tuple[DerivedOp, ...]] = ("onehot", "ratio", "difference", "product", "sum", "log1p")
_BINARY: Final = ("ratio", "difference", "product")
#: The characters a number format may use as separators.
_SEPARATORS: Final = frozenset({".", ",", " ", "'", "\u00a0", "_"})


class EncodingError(JobError):
    """A declared input or derived feature is malformed; the message names it."""


# --- numbers written as text -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberFormat:
    """How a column writes numbers as text: ``thousands`` separator (none: ``""``) and ``decimal`` mark."""

    thousands: str = ""
    decimal: str = "."

    def __post_init__(self) -> None:
        if self.decimal not in _SEPARATORS or (self.thousands and self.thousands not in _SEPARATORS):
            raise EncodingError(
                f"a number format's separators are one of {sorted(_SEPARATORS)!r}; "
                f"got thousands {self.thousands!r}, decimal {self.decimal!r}"
            )
        if self.thousands == self.decimal:
            raise EncodingError(f"thousands and decimal separators must differ; both are {self.decimal!r}")

    @property
    def pattern(self) -> re.Pattern[str]:
        digits = r"\d+"
        if self.thousands:
            digits = rf"(?:\d{{1,3}}(?:{re.escape(self.thousands)}\d{{3}})+|\d+)"
        return re.compile(rf"^[+-]?{digits}(?:{re.escape(self.decimal)}\d+)?$")

    def parse(self, text: str) -> float:
        """``text`` as a number; :class:`ValueError` when it is not one written in this format."""
        stripped = text.strip()
        if not self.pattern.match(stripped):
            raise ValueError(
                f"not a number written with thousands {self.thousands!r}, decimal {self.decimal!r}"
            )
        if self.thousands:
            stripped = stripped.replace(self.thousands, "")
        return float(stripped.replace(self.decimal, "."))

    def to_json(self) -> dict[str, str]:
        return {"thousands": self.thousands, "decimal": self.decimal}

    @classmethod
    def from_json(cls, document: object, where: str) -> NumberFormat:
        if not isinstance(document, Mapping) or not set(document) <= {"thousands", "decimal"}:
            raise EncodingError(
                f"{where}: a number format is {{thousands: SEP, decimal: SEP}}; got {document!r}"
            )
        thousands, decimal = document.get("thousands") or "", document.get("decimal", ".")
        if not isinstance(thousands, str) or not isinstance(decimal, str):
            raise EncodingError(f"{where}: number format separators must be text; got {document!r}")
        try:
            return cls(thousands, decimal)
        except EncodingError as error:
            raise EncodingError(f"{where}: {error}") from None


# --- inputs ----------------------------------------------------------------------------------------------


def code_text(value: object) -> str:
    """A raw value as a code is written: text stripped, whole numbers without ``.0``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_missing(value: object) -> bool:
    """None, NaN or blank text."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return False


@dataclass(frozen=True)
class InputSpec:
    """One input column: its name and how its raw values become numbers."""

    name: str
    #: Text code → number; empty for a numeric column.
    codes: tuple[tuple[str, float], ...] = ()
    unknown: Unknown = "refuse"
    #: Missing values: ``keep`` (NaN), ``refuse`` (the row), or the number to use.
    missing: Literal["keep", "refuse"] | float = "keep"
    #: How the column writes numbers as text; None: as Python's ``float`` reads them.
    number: NumberFormat | None = None

    @property
    def takes_text(self) -> bool:
        """Whether text values are this input's to read (codes, or numbers in a declared format)."""
        return bool(self.codes) or self.number is not None

    @property
    def is_plain(self) -> bool:
        return not self.codes and self.number is None and self.missing == "keep"

    def missing_rule(self) -> tuple[float, str]:
        if self.missing == "refuse":
            return math.nan, MISSING_VALUE
        return (math.nan if self.missing == "keep" else float(self.missing)), OK

    def decode(self, value: object) -> tuple[float, str]:
        """The number a raw value stands for, and ``""`` or why the row cannot be read."""
        if is_missing(value):
            return self.missing_rule()
        if self.codes:
            number = dict(self.codes).get(code_text(value))
            if number is not None:
                return number, OK
            return self.missing_rule() if self.unknown == "missing" else (math.nan, UNKNOWN_CODE)
        if isinstance(value, bool | np.bool_):
            return float(value), OK
        if isinstance(value, int | float | np.integer | np.floating):
            return float(value), OK
        if not isinstance(value, str):
            return math.nan, NON_NUMERIC
        try:
            return (self.number.parse(value) if self.number else float(value)), OK
        except ValueError:
            return math.nan, NON_NUMERIC

    def decode_all(self, values: Sequence[object]) -> tuple[Vector, list[str]]:
        """Every value decoded: the numbers (NaN where missing or unreadable) and each one's reason."""
        lookup = dict(self.codes)
        numbers = np.empty(len(values), dtype=np.float64)
        reasons: list[str] = []
        for i, value in enumerate(values):
            if lookup and isinstance(value, str) and (hit := lookup.get(value.strip())) is not None:
                numbers[i], reason = hit, OK
            else:
                numbers[i], reason = self.decode(value)
            reasons.append(reason)
        return numbers, reasons

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name}
        if self.codes:
            document["codes"] = {code: _or_none(number) for code, number in self.codes}
            document["unknown"] = self.unknown
        if self.missing != "keep":
            document["missing"] = self.missing
        if self.number is not None:
            document["number"] = self.number.to_json()
        return document

    @classmethod
    def from_json(cls, document: object, where: str) -> InputSpec:
        if not (isinstance(document, Mapping) and isinstance(document.get("name"), str)):
            raise EncodingError(f"{where}: an input is {{name: NAME, ...}}; got {document!r}")
        name = document["name"]
        extra = sorted(set(document) - {"name", "codes", "unknown", "missing", "number"})
        if extra:
            raise EncodingError(f"{where}: input {name!r}: unknown keys {extra}")
        return build_input(
            name,
            codes=document.get("codes"),
            unknown=document.get("unknown", "refuse"),
            missing=document.get("missing", "keep"),
            number=document.get("number"),
            where=f"{where}: input {name!r}",
        )


def build_input(
    name: str, *, codes: object, unknown: object, missing: object, number: object, where: str
) -> InputSpec:
    """An :class:`InputSpec` from its written form (a mapping's or a manifest's); errors name ``where``."""
    pairs: tuple[tuple[str, float], ...] = ()
    if codes is not None:
        if not (isinstance(codes, Mapping) and codes):
            raise EncodingError(f"{where}: codes map each text code to a number; got {codes!r}")
        # Sorted: the manifest's JSON sorts its keys, and a version must read back equal to itself.
        pairs = tuple(
            sorted((_code_key(code, where), _code_number(code, v, where)) for code, v in codes.items())
        )
        if len({code for code, _ in pairs}) != len(pairs):
            raise EncodingError(f"{where}: codes list a code twice (after trimming spaces): {list(codes)!r}")
    if unknown not in UNKNOWN_RULES:
        raise EncodingError(f"{where}: unknown must be one of {', '.join(UNKNOWN_RULES)}; got {unknown!r}")
    if not (missing in ("keep", "refuse") or _is_number(missing)):
        raise EncodingError(f"{where}: missing must be keep, refuse or a number; got {missing!r}")
    fmt = None if number is None else NumberFormat.from_json(number, where)
    if fmt is not None and pairs:
        raise EncodingError(f"{where}: an input has codes or a number format, not both")
    return InputSpec(
        name,
        pairs,
        cast(Unknown, unknown),
        cast(Literal["keep", "refuse"], missing) if isinstance(missing, str) else float(cast(float, missing)),
        fmt,
    )


def _code_key(code: object, where: str) -> str:
    if isinstance(code, bool):
        raise EncodingError(
            f"{where}: code {code!r} is not text: quote it ('Yes', 'No') — YAML reads unquoted "
            "yes/no/on/off/true/false as true or false"
        )
    if isinstance(code, int | float):
        return code_text(code)
    if not isinstance(code, str) or not code.strip():
        raise EncodingError(f"{where}: codes must be non-empty text; got {code!r}")
    return code.strip()


def _code_number(code: object, value: object, where: str) -> float:
    if value is None:
        return math.nan
    if not _is_number(value):
        raise EncodingError(f"{where}: code {code!r} must map to a finite number or null; got {value!r}")
    return float(cast(float, value))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


# --- derived features ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """A feature computed from inputs: ``onehot`` (``value`` is the code's number), ``ratio`` (``value``
    is the result where the divisor is 0; NaN: missing), ``difference``, ``product``, ``sum`` (of two or
    more inputs) or ``log1p``. A missing operand makes the result missing."""

    op: DerivedOp
    operands: tuple[str, ...]
    value: float = math.nan

    def compute(self, columns: Mapping[str, Vector]) -> Vector:
        a = columns[self.operands[0]]
        if self.op == "onehot":
            return np.where(np.isnan(a), np.nan, (a == self.value).astype(np.float64))
        if self.op == "log1p":
            return cast(Vector, np.log1p(np.where(a >= 0, a, np.nan)))
        if self.op == "sum":
            return cast(Vector, np.sum([columns[name] for name in self.operands], axis=0))
        b = columns[self.operands[1]]
        if self.op == "difference":
            return a - b
        if self.op == "product":
            return a * b
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b == 0, self.value, a / np.where(b == 0, 1.0, b))

    def to_json(self) -> dict[str, Any]:
        if self.op == "onehot":
            return {"onehot": self.operands[0], "value": self.value}
        if self.op == "log1p":
            return {"log1p": self.operands[0]}
        document: dict[str, Any] = {self.op: list(self.operands)}
        if self.op == "ratio":
            document["zero"] = _or_none(self.value)
        return document

    @classmethod
    def from_json(cls, document: object, where: str) -> Derived:
        """Parse ``{ratio: [a, b], zero: 0}``, ``{difference: [a, b]}``, ``{product: [a, b]}``,
        ``{sum: [a, b, ...]}``, ``{log1p: a}`` or ``{onehot: a, value: 1}``."""
        ops = [op for op in DERIVED_OPS if isinstance(document, Mapping) and op in document]
        if len(ops) != 1:
            raise EncodingError(f"{where}: expected one of {', '.join(DERIVED_OPS)}; got {document!r}")
        assert isinstance(document, Mapping)
        op = ops[0]
        allowed = {op, "zero"} if op == "ratio" else {op, "value"} if op == "onehot" else {op}
        if extra := sorted(set(document) - allowed):
            raise EncodingError(f"{where}: {op} takes no {extra}")
        arg = document[op]
        if op in _BINARY:
            if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) and a for a in arg)):
                raise EncodingError(f"{where}: {op} takes [a, b], two input names; got {arg!r}")
            operands = tuple(arg)
        elif op == "sum":
            if not (isinstance(arg, list) and len(arg) >= 2 and all(isinstance(a, str) and a for a in arg)):
                raise EncodingError(f"{where}: sum takes [a, b, ...], two or more input names; got {arg!r}")
            operands = tuple(arg)
        elif isinstance(arg, str) and arg:
            operands = (arg,)
        else:
            raise EncodingError(f"{where}: {op} takes one input name; got {arg!r}")
        if op == "ratio":
            if "zero" not in document or not (document["zero"] is None or _is_number(document["zero"])):
                raise EncodingError(
                    f"{where}: ratio needs 'zero', the result where {operands[1]!r} is 0 (a number or null)"
                )
            return cls(op, operands, math.nan if document["zero"] is None else float(document["zero"]))
        if op == "onehot":
            if not _is_number(document.get("value")):
                raise EncodingError(f"{where}: onehot needs 'value', the code's number")
            return cls(op, operands, float(document["value"]))
        return cls(op, operands)


# --- the encoding of a model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """The inputs a model takes and how its features come from them (see the module's doc)."""

    inputs: tuple[InputSpec, ...]
    #: Feature → how it is computed; a feature not named here is the input of its name.
    derived: Mapping[str, Derived] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    def spec(self, name: str) -> InputSpec:
        return next(spec for spec in self.inputs if spec.name == name)

    def check(self, features: Sequence[str], where: str) -> None:
        """Every feature is an input or derived from inputs; :class:`EncodingError` names one that is not."""
        names = self.names
        if len(set(names)) != len(names):
            raise EncodingError(
                f"{where}: inputs are named twice: {sorted(n for n in names if names.count(n) > 1)}"
            )
        for feature in features:
            how = self.derived.get(feature)
            if how is None and feature not in names:
                raise EncodingError(
                    f"{where}: feature {feature!r} is neither an input nor derived from inputs"
                )
            for operand in how.operands if how else ():
                if operand not in names:
                    raise EncodingError(
                        f"{where}: feature {feature!r} is derived from {operand!r}, not an input"
                    )
        if unknown := sorted(set(self.derived) - set(features)):
            raise EncodingError(f"{where}: derived features the model does not take: {unknown}")

    def features_of(self, rows: Matrix, features: Sequence[str]) -> Matrix:
        """The model's features (columns in ``features`` order) from decoded input rows."""
        rows = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.inputs))
        columns = {name: rows[:, i] for i, name in enumerate(self.names)}
        result = np.empty((len(rows), len(features)), dtype=np.float64)
        for j, feature in enumerate(features):
            how = self.derived.get(feature)
            result[:, j] = how.compute(columns) if how else columns[feature]
        return result

    def attribution(self, features: Sequence[str]) -> Matrix:
        """(features, inputs): how each feature's contribution is shared among the inputs it comes from
        (equally among a derived feature's operands)."""
        index = {name: i for i, name in enumerate(self.names)}
        shares = np.zeros((len(features), len(self.inputs)), dtype=np.float64)
        for j, feature in enumerate(features):
            how = self.derived.get(feature)
            operands = how.operands if how else (feature,)
            for operand in operands:
                shares[j, index[operand]] += 1.0 / len(operands)
        return shares

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [spec.to_json() for spec in self.inputs],
            "derived": {name: how.to_json() for name, how in self.derived.items()},
        }

    @classmethod
    def from_json(cls, inputs: object, derived: object, features: Sequence[str], where: str) -> Encoding:
        if not (isinstance(inputs, list) and inputs):
            raise EncodingError(f"{where}: 'inputs' must list the model's inputs")
        if not isinstance(derived, Mapping):
            raise EncodingError(f"{where}: 'derived' must map features to how they are computed")
        encoding = cls(
            tuple(InputSpec.from_json(spec, where) for spec in inputs),
            {
                str(name): Derived.from_json(how, f"{where}: derived {name!r}")
                for name, how in derived.items()
            },
        )
        encoding.check(features, where)
        return encoding

    def is_plain(self, features: Sequence[str]) -> bool:
        """Whether the inputs are the features themselves, plain numbers: nothing to record."""
        return not self.derived and self.names == tuple(features) and all(s.is_plain for s in self.inputs)


class EncodedModel:
    """A model fed decoded inputs: it computes its features from them before predicting, and gives each
    input its share of the features' contributions."""

    def __init__(self, model: Model, features: Sequence[str], encoding: Encoding) -> None:
        self.model = model
        self.features = tuple(features)
        self.encoding = encoding
        self._shares = encoding.attribution(self.features)

    def predict_pd(self, rows: Matrix) -> Vector:
        return self.model.predict_pd(self.encoding.features_of(rows, self.features))

    def explain(self, rows: Matrix) -> Matrix:
        contributions = self.model.explain(self.encoding.features_of(rows, self.features))
        return np.asarray(contributions, dtype=np.float64) @ self._shares


def decode_rows(
    rows: Sequence[Mapping[str, object]], inputs: Sequence[str], encoding: Encoding | None
) -> tuple[Matrix, list[tuple[int, str, str]]]:
    """Rows of values by name (as a request gives them) as the model's input matrix, and the values that
    cannot be read: (row, input, reason). Text is read only where the input takes text (codes, or numbers
    in a declared format); a value that decodes to missing cannot be scored."""
    specs = {name: encoding.spec(name) if encoding else InputSpec(name) for name in inputs}
    result = np.empty((len(rows), len(inputs)), dtype=np.float64)
    problems: list[tuple[int, str, str]] = []
    for i, row in enumerate(rows):
        for j, name in enumerate(inputs):
            spec, value = specs[name], row[name]
            if isinstance(value, str) and not spec.takes_text:
                number, reason = math.nan, NON_NUMERIC
            else:
                number, reason = spec.decode(value)
            if not reason and math.isnan(number):
                reason = MISSING_VALUE
            if reason:
                problems.append((i, name, reason))
            result[i, j] = number
    return result, problems
