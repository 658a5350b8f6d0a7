"""The training report: ``report.json`` (everything measured) and the rows of the printed summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

REPORT_FILE: Final = "report.json"
SPLITS: Final = ("train", "validation", "test")
SUMMARY_HEADERS: Final = ("split", "rows", "default rate", "AUC", "Gini", "KS", "Brier", "Brier before cal.")


def write(out_dir: Path, report: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_FILE
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return path


def summary_rows(report: dict[str, Any]) -> tuple[Sequence[str], list[Sequence[str]]]:
    """Headers and one row per split, for :func:`creditscore.console.print_table`."""
    rows: list[Sequence[str]] = []
    for split in SPLITS:
        m = report["metrics"][split]
        rows.append(
            (
                split,
                f"{m['rows']:,}",
                f"{m['default_rate']:.2%}",
                f"{m['auc']:.4f}",
                f"{m['gini']:.4f}",
                f"{m['ks']:.4f}",
                f"{m['brier']:.4f}",
                f"{m['brier_uncalibrated']:.4f}",
            )
        )
    return SUMMARY_HEADERS, rows
