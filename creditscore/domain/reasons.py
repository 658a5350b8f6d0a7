"""Reason codes: which features raised a row's risk most, from a model's per-feature contributions.

A model's ``explain`` gives each feature's contribution to the log-odds of default (positive: it raises the
risk). A row's reasons are its largest positive contributions, largest first; a feature that lowered the
risk (or did nothing) is never a reason, so a row may have fewer reasons than asked for.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def top_reasons(
    contributions: npt.NDArray[np.float64], count: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For each row of ``contributions`` (n, features): the column indices of its ``count`` largest
    contributions, largest first (n, count), and whether each is a reason, i.e. positive (n, count).

    Ranked as the scoring service ranks one row (``np.argsort`` of the negated contributions), so a row gets
    the same reasons in a batch as alone.
    """
    count = min(count, contributions.shape[1])
    order = np.argsort(-contributions, axis=1)[:, :count]
    raised = np.take_along_axis(contributions, order, axis=1) > 0
    return order, raised
