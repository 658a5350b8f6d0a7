"""One training run as ``creditscore train`` and the demo make it: the table, the fit, the report and
charts, (when asked) the version itself beside them (:mod:`plugins.version_dir`, what ``creditscore models
publish DIR`` uploads), and (when asked) the version published through the registry's quality gate.

SageMaker's entry point (:mod:`training.sagemaker`) runs this same run on a job's channel, and publishes
through the same gate when the job asks it to.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from creditscore.config import Settings
from creditscore.domain.scores import Scaling
from plugins.manager import scorer as find_scorer
from plugins.registry import Gate, Published, Registry
from plugins.version_dir import write_version
from training import data, pipeline
from training.mapping import ColumnMapping


@dataclass(frozen=True)
class TrainingRun:
    result: pipeline.TrainingResult
    #: ``report.json`` and the charts.
    written: list[Path]
    #: Where the version went and whether the gate made it current; None when not published.
    published: Published | None
    #: The version's files and ``manifest.json``, when it was written beside the report.
    version_files: list[Path] = field(default_factory=list)


def train_scorer(
    settings: Settings,
    model: str,
    data_uri: str | None,
    mapping: ColumnMapping | None,
    overrides: dict[str, Any],
    *,
    publish: bool,
    out_dir: Path,
    progress: bool = True,
    keep_version: bool = False,
    challenge: bool = False,
) -> TrainingRun:
    """Train ``model`` on ``data_uri`` (default: the latest snapshot) with the host's score scaling, which
    the manifest records so the service scores the version with it whatever its own settings say.

    ``keep_version`` writes the version into ``out_dir`` too, the very files and manifest publishing
    uploads, before anything is published. ``challenge`` publishes a version the gate lets in as the
    model's shadow challenger rather than making it current (:meth:`Registry.publish`)."""
    scorer = find_scorer(model)
    features = mapping.feature_names if mapping else scorer.features
    table = data.load_table(settings, data_uri, features, mapping)
    print(f"Training {scorer.name} on {len(table.labels):,} rows of {table.source}")
    for rejected in table.rejected:
        print(f"Left out of training: {rejected.describe()}", file=sys.stderr)
    params = {**(mapping.params if mapping else {}), **overrides}
    result = pipeline.train(scorer, table, params, scaling=Scaling.from_settings(settings), progress=progress)
    written = pipeline.write_outputs(result, out_dir)
    version_files = write_version(out_dir, result.manifest, result.files) if keep_version else []
    published = None
    if publish:
        registry = Registry.from_settings(settings)
        # The run's report and charts go beside the version, so a reviewer of a gated version has them.
        report = {path.name: path.read_bytes() for path in written}
        gate = Gate.from_settings(settings)
        published = registry.publish(result.manifest, result.files, gate, report, challenge=challenge)
    return TrainingRun(result, written, published, version_files)
