"""SageMaker script mode: ``python -m training.sagemaker`` as a training job's entry point.

Follows the SageMaker training toolkit's conventions, each path overridable by its variable:

- ``SM_CHANNEL_TRAIN`` (``/opt/ml/input/data/train``): the training table, as parquet parts or CSV files;
  it may also hold the mapping file.
- ``SM_HPS`` (set by the toolkit, already decoded) or else ``$SM_INPUT_CONFIG_DIR/hyperparameters.json``
  (``/opt/ml/input/config``), whose values the SageMaker SDK writes as JSON-encoded strings.
  ``model`` names the scorer (required); ``mapping`` names a mapping file in the channel; ``params`` is a
  JSON object of training parameters; ``publish`` (``true``/``false``, default false) publishes the version
  through the models registry and its quality gate, as ``creditscore train --publish`` does (the registry is
  ``CREDITSCORE_MODELS_BUCKET``, the job's environment), and ``challenger`` does so as ``--publish
  --as-challenger``: a version the gate lets in becomes the model's shadow challenger, the current version
  staying current; every other hyperparameter is a training parameter.
- ``SM_MODEL_DIR`` (``/opt/ml/model``, uploaded as model.tar.gz): the version's files, ``manifest.json``
  and ``report.json`` — the registry's layout, ready to publish.
- ``SM_OUTPUT_DATA_DIR`` (``/opt/ml/output/data``): the charts.
- ``SM_OUTPUT_DIR`` (``/opt/ml/output``): on failure, ``failure`` holds the reason, which SageMaker shows
  as the job's FailureReason; the exit code is then 1. A published version the gate keeps from being current
  is a failure too (``gated: ...``): it stays in the registry for review, and the job's failure raises the
  pipeline's alarm (modules/ml).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from creditscore.config import ConfigError, load_settings
from creditscore.console import print_table
from creditscore.errors import JobError
from plugins.manager import PluginError
from plugins.version_dir import write_version
from training import report
from training.mapping import load_mapping
from training.run import TrainingRun, train_scorer

HYPERPARAMETERS_FILE: Final = "hyperparameters.json"
FAILURE_FILE: Final = "failure"
_RESERVED: Final = frozenset({"model", "mapping", "params", "publish"})
PUBLISH_CHOICES: Final = ("true", "false", "challenger")


@dataclass(frozen=True)
class Paths:
    channel: Path
    model_dir: Path
    config_dir: Path
    output_data: Path
    output: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Paths:
        return cls(
            channel=Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
            model_dir=Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            config_dir=Path(env.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")),
            output_data=Path(env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
            output=Path(env.get("SM_OUTPUT_DIR", "/opt/ml/output")),
        )


def _decoded(value: Any) -> Any:
    """The SDK JSON-encodes each value (``"\\"abc\\""``, ``"25"``); a plain string stays itself."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def hyperparameters(env: Mapping[str, str], config_dir: Path) -> dict[str, Any]:
    if "SM_HPS" in env:
        document = json.loads(env["SM_HPS"])
    else:
        document = json.loads((config_dir / HYPERPARAMETERS_FILE).read_text())
    if not isinstance(document, dict):
        raise JobError("the hyperparameters are not a JSON object")
    return {str(key): _decoded(value) for key, value in document.items()}


def _publish(value: Any) -> tuple[bool, bool]:
    """The ``publish`` hyperparameter as (publish, as the challenger)."""
    text = str(value).lower() if isinstance(value, (bool, str)) else None
    if text not in PUBLISH_CHOICES:
        raise JobError(f"the hyperparameter 'publish' must be true, false or challenger, got {value!r}")
    return text != "false", text == "challenger"


def train(paths: Paths, hps: Mapping[str, Any]) -> TrainingRun:
    if not isinstance(hps.get("model"), str):
        raise JobError("the hyperparameter 'model' must name the scorer to train, e.g. xgboost-new-customer")
    params = hps.get("params", {})
    if not isinstance(params, dict):
        raise JobError(f"the hyperparameter 'params' must be a JSON object, got {params!r}")
    params = {**params, **{key: value for key, value in hps.items() if key not in _RESERVED}}
    publish, challenge = _publish(hps.get("publish", False))
    mapping = load_mapping(paths.channel / str(hps["mapping"])) if "mapping" in hps else None
    # No progress bars: CloudWatch keeps every redraw as a line.
    return train_scorer(
        load_settings(),
        hps["model"],
        str(paths.channel),
        mapping,
        params,
        publish=publish,
        out_dir=paths.output_data,
        progress=False,
        challenge=challenge,
    )


def write(model_dir: Path, run: TrainingRun) -> None:
    """The version as the registry lays it out, for SageMaker's model.tar.gz."""
    write_version(model_dir, run.result.manifest, run.result.files)
    report.write(model_dir, run.result.report)


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    paths = Paths.from_env(env)
    hps_file = paths.config_dir / HYPERPARAMETERS_FILE
    if not (paths.channel.is_dir() and paths.model_dir.is_dir() and ("SM_HPS" in env or hps_file.is_file())):
        print(
            f"not a SageMaker training job: expected the train channel {paths.channel}, the model directory "
            f"{paths.model_dir} and {hps_file} (or SM_HPS); set SM_CHANNEL_TRAIN, SM_MODEL_DIR and "
            "SM_INPUT_CONFIG_DIR to run it elsewhere",
            file=sys.stderr,
        )
        return 2
    try:
        run = train(paths, hyperparameters(env, paths.config_dir))
        write(paths.model_dir, run)
    except (JobError, PluginError, ConfigError, ValueError, OSError) as error:
        return _failed(paths, f"{type(error).__name__}: {error}")
    manifest = run.result.manifest
    named = f"{manifest.model} version {manifest.version}"
    print_table(*report.summary_rows(run.result.report))
    print(f"{named} written to {paths.model_dir}")
    if run.published is None:
        return 0
    if run.published.challenger:
        print(f"{named} published as the shadow challenger: {run.published.reason}")
        return 0
    if not run.published.promoted:
        return _failed(
            paths,
            f"gated: {named} published but not current: {run.published.reason}",
        )
    print(f"{named} published and current: {run.published.reason}")
    return 0


def _failed(paths: Paths, reason: str) -> int:
    paths.output.mkdir(parents=True, exist_ok=True)
    (paths.output / FAILURE_FILE).write_text(reason + "\n")
    print(f"training failed: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
