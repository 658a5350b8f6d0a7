"""Training through any scorer plugin: split, fit, calibrate, evaluate, and assemble manifest and report.

The model evaluated is the model served: after fitting, the files go through
:func:`plugins.artifacts.load_verified` exactly as the service will load them (the scorer's ``load``, the
mapping's encoding and transforms, the calibration), and every metric is measured on that.

One ``seed`` parameter (default 42, overridable in the params) seeds the split and the scorer, so the same
table, scorer and params give the same files, predictions and metrics.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from tqdm import tqdm

from creditscore.domain.calibration import CALIBRATION_FILE
from creditscore.domain.scores import Scaling
from creditscore.domain.stability import Reference
from creditscore.errors import JobError
from creditscore.plugin import Artifacts, Labels, Model, Progress, Scorer, Vector
from plugins.artifacts import (
    ArtifactError,
    Manifest,
    check_file_names,
    code_version,
    fingerprint,
    load_verified,
    model_over_inputs,
    plugin_origin,
    sha256,
    version_id,
)
from plugins.calibration import fit_platt
from training import evaluate, plots, report
from training.data import TrainingTable
from training.split import Shares, Split, split

DEFAULT_SEED: Final = 42


class TrainingError(JobError):
    """The scorer could not be trained or its output is unusable; the message says why."""


@dataclass(frozen=True)
class Predictions:
    labels: Labels
    pd: Vector
    pd_uncalibrated: Vector


@dataclass(frozen=True)
class TrainingResult:
    scorer: Scorer
    manifest: Manifest
    #: Every file of the version except the manifest: the scorer's files and ``calibration.json``.
    files: Artifacts
    model: Model
    report: dict[str, Any]
    test: Predictions
    scaling: Scaling


def merged_params(scorer: Scorer, *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The scorer's defaults, the pipeline's seed, then each override in turn (later ones win)."""
    params: dict[str, Any] = {**scorer.default_params, "seed": DEFAULT_SEED}
    for override in overrides:
        params.update(override)
    return params


@contextmanager
def _progress_bar(name: str, enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    bars: list[tqdm[Any]] = []

    def advance(step: int, total: int) -> None:
        # Created on the first report: only the scorer knows its total (rounds, epochs, trees).
        if not bars:
            bars.append(tqdm(total=total, desc=f"fit {name}", unit="step", file=sys.stderr))
        bar = bars[0]
        bar.total = total
        bar.update(step - bar.n)

    try:
        yield advance
    finally:
        for bar in bars:
            bar.close()


def _fit(
    scorer: Scorer, table: TrainingTable, params: Mapping[str, Any], parts: Split, progress: bool
) -> Artifacts:
    rows = table.model_input()
    labels = table.labels
    with _progress_bar(scorer.name, progress) as advance:
        files = scorer.fit(
            rows[parts.train],
            labels[parts.train],
            params,
            validation=(rows[parts.validation], labels[parts.validation]),
            progress=advance,
        )
    if CALIBRATION_FILE in files:
        raise TrainingError(
            f"{scorer.name} returned a file named {CALIBRATION_FILE}, which the pipeline owns"
        )
    try:
        check_file_names(files, f"files returned by {scorer.name}")
    except ArtifactError as error:
        raise TrainingError(str(error)) from None
    return files


def train(
    scorer: Scorer,
    table: TrainingTable,
    params: Mapping[str, Any] | None = None,
    *,
    shares: Shares | None = None,
    scaling: Scaling | None = None,
    progress: bool = True,
    now: datetime | None = None,
) -> TrainingResult:
    """Fit ``scorer`` on ``table`` and measure it; publish nothing (see :mod:`plugins.registry`)."""
    started = time.perf_counter()
    shares = shares or Shares()
    scaling = scaling or Scaling()
    params = merged_params(scorer, params or {})
    seed = int(params["seed"])
    if table.names != scorer.features:
        scorer = scorer.with_features(table.names)
    data_fingerprint = fingerprint(table.features, table.labels, table.input_names)
    parts = split(table.labels, shares, seed)

    model_files = _fit(scorer, table, params, parts, progress)
    fitted_seconds = time.perf_counter() - started
    fitted = model_over_inputs(scorer.load(model_files), table.names, table.transforms, table.encoding)
    calibration = fit_platt(
        fitted.predict_pd(table.features[parts.validation]), table.labels[parts.validation]
    )
    files = {**model_files, CALIBRATION_FILE: calibration.to_json()}

    created = (now or datetime.now(UTC)).replace(microsecond=0)
    manifest = Manifest(
        model=scorer.name,
        plugin=plugin_origin(scorer),
        version=version_id(created, data_fingerprint),
        features=table.names,
        groups=tuple(scorer.groups),
        segment=scorer.segment,
        params=dict(params),
        metrics={},
        training_data_fingerprint=data_fingerprint,
        files={name: sha256(data) for name, data in sorted(files.items())},
        created_at=created.isoformat().replace("+00:00", "Z"),
        code_version=code_version(),
        transforms=dict(table.transforms),
        scaling=scaling,
        encoding=table.encoding,
    )
    model = load_verified(scorer, manifest, files)

    outcomes = {
        name: Predictions(
            table.labels[rows],
            model.predict_pd(table.features[rows]),
            fitted.predict_pd(table.features[rows]),
        )
        for name, rows in ((name, getattr(parts, name)) for name in report.SPLITS)
    }
    measured: dict[str, Any] = {
        name: {
            **evaluate.metrics(outcome.labels, outcome.pd),
            "brier_uncalibrated": evaluate.brier(outcome.labels, outcome.pd_uncalibrated),
        }
        for name, outcome in outcomes.items()
    }
    # The whole population the model learnt from, every part of the split, as the served model scores it.
    every_row = np.concatenate([getattr(parts, name) for name in report.SPLITS])
    reference = Reference.of(
        scaling.scores(np.concatenate([outcomes[name].pd for name in report.SPLITS])),
        table.features[every_row],
        table.input_names,
    )
    manifest = replace(manifest, metrics=measured, reference=reference)
    test = outcomes["test"]

    document: dict[str, Any] = {
        "model": manifest.model,
        "version": manifest.version,
        "created_at": manifest.created_at,
        "source": table.source,
        "training_data_fingerprint": data_fingerprint,
        "features": list(table.names),
        "inputs": list(table.input_names),
        "rows": table.rows_summary(),
        "params": manifest.params,
        "split": {"seed": seed, "validation_share": shares.validation, "test_share": shares.test},
        "metrics": measured,
        "calibration": {"method": "platt", "a": calibration.a, "b": calibration.b, "fitted_on": "validation"},
        "calibration_table": evaluate.calibration_table(test.labels, test.pd),
        "bands": evaluate.band_table(test.labels, test.pd, scaling),
        "scaling": {"target": scaling.target, "target_odds": scaling.target_odds, "pdo": scaling.pdo},
        "files": manifest.files,
        "seconds": {"fit": round(fitted_seconds, 2), "total": round(time.perf_counter() - started, 2)},
    }
    return TrainingResult(scorer, manifest, files, model, document, test, scaling)


def write_outputs(result: TrainingResult, out_dir: Path) -> list[Path]:
    """``report.json`` and the charts of the test rows into ``out_dir``."""
    test = result.test
    written = report.write(out_dir, result.report)
    charts = plots.write_all(
        out_dir, test.labels, test.pd, test.pd_uncalibrated, result.scaling, result.manifest.model
    )
    return [written, *charts]
