"""Argument types of the command line: each turns a string into a value or says what is wrong (exit 2)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditscore.config import KEY_NAME_RE

if TYPE_CHECKING:
    from training.mapping import ColumnMapping

#: What `creditscore demo` writes its API key to, beside its data directory, and `creditscore smoke` reads.
DEMO_KEY_FILE = "api-key"


def bounded(
    parse: Callable[[str], float], low: float, high: float | None, expected: str
) -> Callable[[str], Any]:
    """An argparse type: ``parse`` the text and require low <= value <= high, saying which rule failed."""

    def convert(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"greater than {low - 1:g}" if high is None else f"from {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value:g}")
        return value

    return convert


positive_int = bounded(int, 1, None, "a whole number")
port_number = bounded(int, 1, 65535, "a port number")
worker_processes = bounded(int, 1, 256, "a whole number of worker processes")
month_count = bounded(int, 1, 24, "a whole number of months")
reason_count = bounded(int, 0, 64, "a whole number of reasons")
thread_count = bounded(int, 1, 256, "a whole number of threads")
#: What ``creditscore score`` writes, by the suffix of ``--out``.
SCORES_SUFFIXES = (".csv", ".parquet")
share_of_rows = bounded(float, 0.0, 0.5, "a number from 0 to 0.5")


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def key_name(text: str) -> str:
    if not KEY_NAME_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected up to 32 lowercase letters, digits, '.', '_' or '-', got {text!r}"
        )
    return text


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return path


def scores_file(text: str) -> Path:
    path = Path(text)
    if path.suffix not in SCORES_SUFFIXES:
        raise argparse.ArgumentTypeError(f"expected a file ending in .csv or .parquet, got {text!r}")
    return path


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object such as {{"max_depth": 3}}, got {text!r}')
    return value


def scorer_name(text: str) -> str:
    # Imported here: discovery imports every installed scorer (XGBoost, torch, ...).
    from plugins.manager import PluginError, scorer

    try:
        scorer(text)
    except PluginError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def mapping_file(text: str) -> ColumnMapping:
    from training.mapping import MappingError, load_mapping

    try:
        return load_mapping(Path(text))
    except MappingError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
