"""A chunk's raw feature columns as the model's float64 matrix, and why each row that cannot be scored
cannot: the first feature, in the model's order, whose value is missing, not a number, or not finite in
float32 (what the models compute in; the scoring service refuses the same rows), or — for an input the
model reads codes of — a code the model does not know.

Numbers read from text are parsed as Python's ``float`` parses them (correctly rounded, as the service
parses JSON), so a row scores here exactly as it does through the API. True/false columns count as 1/0, as
in training. An input the manifest declares (codes, numbers written as text) is decoded as training
decoded it (:func:`training.decoding.decode_column`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditscore.plugin import Matrix
from plugins.encoding import MISSING_VALUE, NON_NUMERIC, UNKNOWN_CODE, Encoding
from training.decoding import decode_column

NOT_FINITE: Final = "not_finite"
#: In the order a row's checks go, for each feature in turn.
VALUE_REASONS: Final = (NON_NUMERIC, UNKNOWN_CODE, MISSING_VALUE, NOT_FINITE)
FLOAT32_MAX: Final = float(np.finfo(np.float32).max)
#: How much of a refused value the rejects file shows.
_SHOWN_CHARS: Final = 100

BoolVector = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Refused:
    """The rows of a chunk that cannot be scored (positions in the chunk, ascending) and, for each, why:
    the reason, the feature and the value as read."""

    positions: npt.NDArray[np.intp]
    reasons: list[str]
    columns: list[str]
    values: list[str]


@dataclass(frozen=True)
class Converted:
    #: (rows, features), in the model's feature order; a refused row's values are not to be used.
    values: Matrix
    refused: Refused

    @property
    def usable(self) -> BoolVector:
        usable = np.ones(len(self.values), dtype=np.bool_)
        usable[self.refused.positions] = False
        return usable


def convert(frame: pd.DataFrame, features: Sequence[str], encoding: Encoding | None = None) -> Converted:
    """``frame``'s ``features`` columns (the model's inputs) as a matrix, with the rows that cannot be
    scored and why; ``encoding`` says how its declared inputs are read."""
    rows = len(frame)
    values = np.empty((rows, len(features)), dtype=np.float64)
    why = np.full(rows, -1, dtype=np.int8)
    where = np.zeros(rows, dtype=np.intp)
    for column, name in enumerate(features):
        spec = encoding.spec(name) if encoding else None
        if spec is None or spec.is_plain:
            numbers, non_numeric = _numbers(frame[name])
            unknown = np.zeros(rows, dtype=np.bool_)
        else:
            numbers, reasons = decode_column(frame[name], spec)
            non_numeric, unknown = reasons == NON_NUMERIC, reasons == UNKNOWN_CODE
        values[:, column] = numbers
        missing = np.isnan(numbers) & ~non_numeric & ~unknown
        not_finite = ~(np.abs(numbers) <= FLOAT32_MAX) & ~np.isnan(numbers)
        for code, bad in enumerate((non_numeric, unknown, missing, not_finite)):
            first = bad & (why < 0)
            if first.any():
                why[first] = code
                where[first] = column
    positions = np.flatnonzero(why >= 0)
    refused = Refused(
        positions,
        [VALUE_REASONS[why[i]] for i in positions],
        [features[where[i]] for i in positions],
        [_shown(frame[features[where[i]]].iloc[i]) for i in positions],
    )
    return Converted(values, refused)


def _numbers(column: pd.Series[Any]) -> tuple[npt.NDArray[np.float64], BoolVector]:
    """The column as float64 (NaN where missing) and which of its values are not numbers."""
    none = np.zeros(len(column), dtype=np.bool_)
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), none
    raw = column.to_numpy(dtype=object)
    try:
        # float() of each object: the strings as Python parses them.
        return raw.astype(np.float64), none
    except (TypeError, ValueError):
        pass
    # Some values are not numbers: pandas finds the candidates at once, float() decides each of them.
    missing = column.isna().to_numpy()
    suspect = (
        np.isnan(pd.to_numeric(column, errors="coerce").to_numpy(np.float64, na_value=np.nan)) & ~missing
    )
    cleaned = raw.copy()
    cleaned[missing | suspect] = np.nan
    numbers: npt.NDArray[np.float64] = cleaned.astype(np.float64)
    non_numeric = none.copy()
    for i in np.flatnonzero(suspect):
        value = raw[i]
        if isinstance(value, str) and not value.strip():
            continue  # blank: missing
        try:
            numbers[i] = float(value)
        except (TypeError, ValueError):
            non_numeric[i] = True
    return numbers, non_numeric


def _shown(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)[:_SHOWN_CHARS]
