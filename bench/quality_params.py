"""Each scorer's training parameters for one public data set.

XGBoost takes the mapping's ``params`` (``bench/mappings/{dataset}.yaml``: the ones ``creditscore train
--mapping`` uses with its default scorer). The other scorers' parameters are in
``bench/mappings/scorers/{dataset}.yaml``, one section per scorer name; a section for XGBoost there wins
over the mapping's. A data set without that file trains the other scorers with their defaults.

    # bench/mappings/scorers/gmsc.yaml
    pytorch-traditional:
      log_features: [monthly_income, debt_ratio]
    extratrees-social:
      min_samples_leaf: 50
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

from creditscore.errors import JobError
from training.mapping import load_mapping

MAPPING_SCORER: Final = "xgboost-new-customer"


class ParamsError(JobError):
    """A scorer-parameters file cannot be read or is malformed."""


def scorer_file(mappings: Path, dataset: str) -> Path:
    return mappings / "scorers" / f"{dataset}.yaml"


def params(mappings: Path, dataset: str, name: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``name``'s parameters on ``dataset``; ``overrides`` (the command line's) win."""
    merged: dict[str, Any] = {}
    if name == MAPPING_SCORER:
        merged.update(load_mapping(mappings / f"{dataset}.yaml").params)
    merged.update(_sections(scorer_file(mappings, dataset)).get(name, {}))
    merged.update(overrides)
    return merged


def _sections(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ParamsError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise ParamsError(f"{path}: expected a mapping of scorer name to a mapping of parameters")
    return {str(name): dict(section) for name, section in document.items()}
