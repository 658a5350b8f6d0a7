"""``train`` and ``models list|show|publish|promote|rollback``: training runs and the model registry."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditscore.config import Settings
from creditscore.console import print_table
from creditscore.errors import JobError

if TYPE_CHECKING:
    from plugins.registry import Published
    from training.mapping import ColumnMapping

# Distinct from 1 (failed) so a retraining schedule can tell "published, not promoted" from a crash.
EXIT_GATE_REFUSED = 3
REPORTS_DIR = Path(".demo/reports")


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    if args.as_challenger and not args.publish:
        raise JobError("--as-challenger publishes: give --publish too")
    return train_and_report(
        settings,
        args.model,
        args.data,
        args.mapping,
        args.params,
        args.publish,
        args.out,
        challenge=args.as_challenger,
    )


def train_and_report(
    settings: Settings,
    model: str,
    data_uri: str | None,
    mapping: ColumnMapping | None,
    overrides: dict[str, Any],
    publish: bool,
    out_dir: Path | None,
    challenge: bool = False,
) -> int:
    """A training run (:func:`training.run.train_scorer`), told on the console; the command's exit code.

    ``out_dir`` receives the report, the charts and the version itself (its files and ``manifest.json``,
    what ``creditscore models publish`` uploads and ``creditscore score --model DIR`` scores with)."""
    from training import report
    from training.run import train_scorer

    out = out_dir or REPORTS_DIR / model
    run = train_scorer(
        settings,
        model,
        data_uri,
        mapping,
        overrides,
        publish=publish,
        out_dir=out,
        keep_version=True,
        challenge=challenge,
    )
    result = run.result
    print_table(*report.summary_rows(result.report))
    calibration = result.report["calibration"]
    print(
        f"{result.manifest.model} version {result.manifest.version}, calibrated (Platt "
        f"a={calibration['a']:.3f}, b={calibration['b']:.3f}); report and charts: "
        + ", ".join(str(path) for path in run.written)
    )
    print(
        f"The version: {', '.join(path.name for path in run.version_files)} in {out} (to publish it: "
        f"creditscore models publish {out}; to score a file with it: creditscore score --model {out} ...)"
    )
    if run.published is None:
        return 0
    return tell_published(settings, run.published)


def tell_published(settings: Settings, outcome: Published) -> int:
    """Where a published version went and whether the gate made it current, told on the console; the exit
    code: 0, or :data:`EXIT_GATE_REFUSED` when the pointer stayed."""
    where = f"s3://{settings.models_bucket}/{outcome.model}/{outcome.version}/"
    if outcome.promoted:
        print(f"Published {where} and made it current: {outcome.reason}")
        return 0
    if outcome.challenger:
        print(
            f"Published {where}; the current version stays {outcome.current}: {outcome.reason}. Compare them "
            f"with creditscore models compare {outcome.model}; promote it with creditscore models challenge "
            f"{outcome.model} --promote"
        )
        return 0
    print(
        f"Published {where} but the current version stays {outcome.current or 'unset'}: {outcome.reason}. "
        f"To serve it anyway: creditscore models promote {outcome.model} {outcome.version}",
        file=sys.stderr,
    )
    return EXIT_GATE_REFUSED


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry, auc_of

    registry = Registry.from_settings(settings)
    rows = [
        (
            "*" if info.current else "",
            model,
            info.version,
            f"{auc_of(info.manifest):.4f}" if info.manifest else "-",
            info.manifest.created_at if info.manifest else "incomplete: no manifest",
        )
        for model in registry.models()
        for info in registry.listing(model)
    ]
    if not rows:
        print(f"No models in s3://{settings.models_bucket}")
        return 0
    print_table(["current", "model", "version", "test AUC", "created"], rows)
    return 0


def cmd_models_show(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry
    from training import report

    registry = Registry.from_settings(settings)
    current = registry.pointer(args.model)
    version = args.version or registry.current_version(args.model)
    manifest, _ = registry.verified_files(args.model, version)
    plugin = manifest.plugin
    fields = [
        ("model", manifest.model),
        ("version", version + (" (current)" if current and current.version == version else "")),
        ("created_at", manifest.created_at),
        ("plugin", f"{plugin.get('module')} from {plugin.get('distribution')} {plugin.get('version')}"),
        ("code_version", manifest.code_version),
        ("segment", manifest.segment),
        ("training data", f"sha256 {manifest.training_data_fingerprint}"),
        ("features", ", ".join(manifest.features)),
        ("params", json.dumps(manifest.params, sort_keys=True)),
    ]
    for name, value in fields:
        print(f"{name + ':':<15}{value}")
    print()
    print_table(*report.summary_rows({"metrics": manifest.metrics}))
    print()
    print_table(["file", "sha256 (verified)"], sorted(manifest.files.items()))
    return 0


def cmd_models_publish(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Gate, Registry
    from plugins.version_dir import read_version

    # Verified before a byte is uploaded: a changed, missing or unknown file is named and nothing is written.
    version = read_version(args.directory)
    manifest = version.manifest
    print(f"Publishing {manifest.model} version {manifest.version} from {version.directory}")
    outcome = Registry.from_settings(settings).publish(
        manifest, version.files, Gate.from_settings(settings), version.report, challenge=args.as_challenger
    )
    return tell_published(settings, outcome)


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry

    pointer = Registry.from_settings(settings).promote(args.model, args.version)
    was = pointer.previous[0] if pointer.previous else "none"
    print(f"{args.model}: current version is {pointer.version} (before: {was})")
    return 0


def cmd_models_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry

    pointer = Registry.from_settings(settings).rollback(args.model)
    print(f"{args.model}: rolled back; current version is {pointer.version}")
    return 0
