"""A table's column decoded as one model input: numbers, and why each row that cannot be read cannot.

Shared by training (:mod:`training.data`) and batch scoring (:mod:`training.batch.values`), so a value is
read the same way by both, and by the service (which decodes a row's values with the same
:meth:`plugins.encoding.InputSpec.decode`).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from plugins.encoding import MISSING_VALUE, NON_NUMERIC, OK, UNKNOWN_CODE, InputSpec

#: What a reason means, for messages a person reads.
MEANINGS: Final = {
    NON_NUMERIC: "is not numeric",
    UNKNOWN_CODE: "holds a code the mapping does not list",
    MISSING_VALUE: "is missing, which the mapping refuses",
}

ObjectVector = npt.NDArray[np.object_]


def decode_column(column: pd.Series[Any], spec: InputSpec) -> tuple[npt.NDArray[np.float64], ObjectVector]:
    """The column as float64 (NaN where missing or unreadable) and each row's reason (``""``: read)."""
    reasons = np.full(len(column), OK, dtype=object)
    numeric = pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype)
    if numeric and not spec.codes:
        numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(numbers)
        if missing.any():
            value, reason = spec.missing_rule()
            numbers[missing] = value
            reasons[missing] = reason
        return numbers, reasons
    raw = column.astype(object).where(column.notna(), None).to_numpy(dtype=object)
    numbers, found = spec.decode_all(list(raw))
    return numbers, np.array(found, dtype=object)
