"""Benchmark: test AUC of the three built-in scorers on the public credit data sets, over ten seeded splits.

    nice -n 10 .venv/bin/python -m bench.model_quality      # every data set, every scorer, ten splits
    .venv/bin/python -m bench.model_quality --dataset taiwan --scorer extratrees-social --seeds 3
    .venv/bin/python -m bench.model_quality --dataset german --scorer xgboost-new-customer --seeds 3 \\
        --params '{"max_depth": 2}'

Reads each data set from ``../shared/data/`` beside the repository (``--data-dir`` to point elsewhere; each
folder's SOURCE.md gives provenance, the label and the published results), maps its columns with
``bench/mappings/{dataset}.yaml`` and trains every scorer through the same pipeline as ``creditscore
train`` (``with_features`` on the data set's own columns; split, fit, Platt calibration, the model reloaded
from its verified files, evaluation). Parameters per data set: the mapping's ``params`` for XGBoost (the
ones ``creditscore train --mapping`` uses), ``bench/mappings/scorers/{dataset}.yaml`` for each scorer
(:mod:`bench.quality_params`).

Protocol: ten repeated stratified 80/20 splits, seeds 42..51 (the pipeline's own split: 10 % of the rows
carved from the 80 % for early stopping and calibration), every scorer on the same ten splits. Ten seeds
rather than 5×2-fold CV because each run then trains as ``creditscore train`` does (on 70 % of the rows, not
the 40 % left to a 2-fold half once validation is carved from it), so the means are the figures a
trained model has and compare with the published 80/20 ones; and each test set is as large as it can
be while training keeps 70 % (2,000 to 30,000 rows; German's 200 leave its AUCs ±0.03 apart whatever the
protocol). Differences between scorers are paired by split, with
the Nadeau–Bengio correction for the overlap of repeated training sets (:mod:`bench.quality_report`).

Progress goes to stderr; the JSON (every run and the summary, rewritten after each run) and the PNG (mean
test AUC per scorer per data set, error bars one standard deviation) go to ``--out`` (default
``.bench/model_quality.json``) and beside it; the table is printed last. Not a test: run it by hand and
quote the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from functools import cache
from pathlib import Path
from typing import Any, Final

from tqdm import tqdm

from bench import quality_params, quality_report
from creditscore.cli.args import json_object
from creditscore.config import load_settings
from creditscore.console import print_table
from creditscore.errors import JobError
from plugins.manager import scorer
from training import data, pipeline
from training.mapping import load_mapping
from training.split import Shares

ROOT: Final = Path(__file__).resolve().parent.parent
DATA_DIR: Final = ROOT.parent / "shared" / "data"
MAPPINGS: Final = ROOT / "bench" / "mappings"
# Data set → (file under the data directory, published test AUC to compare with, from its SOURCE.md).
DATASETS: Final = {
    "gmsc": (
        "give_me_some_credit/cs-training.csv",
        "XGBoost 0.853 (Financial Innovation 2022); Kaggle ≈ 0.87",
    ),
    "heloc": ("heloc_fico/heloc_dataset_v1.csv", "≈ 0.79–0.80 for LR/GBM (unconfirmed)"),
    "taiwan": ("taiwan_default_credit_card/default_of_credit_card_clients.csv", "gradient boosting 0.783"),
    "german": ("statlog_german_credit/german.data-numeric", "0.70–0.80 depending on the split"),
}
SCORERS: Final = ("xgboost-new-customer", "pytorch-traditional", "extratrees-social")
SHARES: Final = Shares(validation=0.10, test=0.20)
FIRST_SEED: Final = 42
SEEDS: Final = 10
DEFAULT_OUT: Final = ROOT / ".bench" / "model_quality.json"


def data_path(data_dir: Path, dataset: str) -> Path:
    return data_dir / DATASETS[dataset][0]


@cache
def _table(data_dir: Path, dataset: str) -> data.TrainingTable:
    """The data set as a training table, read once per process."""
    mapping = load_mapping(MAPPINGS / f"{dataset}.yaml")
    frame, source = data.read_frame(str(data_path(data_dir, dataset)), load_settings(), mapping.csv)
    return data.table_from_frame(frame, source, mapping.feature_names, mapping)


def run_one(data_dir: Path, dataset: str, name: str, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """One scorer on one split: the test AUC and what it cost. Runs in a worker process."""
    started = time.perf_counter()
    where = {"dataset": dataset, "scorer": name, "seed": seed}
    try:
        table = _table(data_dir, dataset)
        result = pipeline.train(scorer(name), table, {**params, "seed": seed}, shares=SHARES, progress=False)
    except Exception as error:  # one failed fit is reported, the others still run
        return {**where, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    test = result.manifest.metrics["test"]
    return {
        **where,
        "auc": test["auc"],
        # What tuning should look at: the test AUC is the figure reported.
        "validation_auc": result.manifest.metrics["validation"]["auc"],
        "brier": test["brier"],
        "test_rows": test["rows"],
        "fit_seconds": result.report["seconds"]["fit"],
        "seconds": round(time.perf_counter() - started, 2),
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--dataset", choices=sorted(DATASETS), action="append", help="default: every one present"
    )
    parser.add_argument("--scorer", choices=SCORERS, action="append", help="default: all three")
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"splits per data set (default {SEEDS})")
    parser.add_argument(
        "--dataset-seeds",
        action="append",
        default=[],
        metavar="DATASET=N",
        help="fewer (or more) splits for one data set, e.g. gmsc=5 when time is short",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"default: {DATA_DIR}")
    parser.add_argument(
        "--params",
        type=json_object,
        default={},
        help="JSON object of parameters; wins over the files' for every scorer run (so: with one --scorer)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each (default 2)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="the JSON (default .bench/model_quality.json); the PNG goes beside it",
    )
    return parser.parse_args()


def _seeds(args: argparse.Namespace, dataset: str) -> list[int]:
    counts = dict(item.split("=", 1) for item in args.dataset_seeds)
    return list(range(FIRST_SEED, FIRST_SEED + int(counts.get(dataset, args.seeds))))


def main() -> int:
    args = _arguments()
    wanted = args.dataset or list(DATASETS)
    datasets = [name for name in wanted if data_path(args.data_dir, name).is_file()]
    for name in sorted(set(wanted) - set(datasets)):
        print(f"{data_path(args.data_dir, name)} is absent: skipping {name}", file=sys.stderr)
    if not datasets:
        print(
            "no data set found: the public data sets live in ../shared/data (see its README.md)",
            file=sys.stderr,
        )
        return 1
    scorers = args.scorer or list(SCORERS)
    try:
        tasks = [
            (dataset, name, seed, quality_params.params(MAPPINGS, dataset, name, args.params))
            for dataset in datasets
            for seed in _seeds(args, dataset)
            for name in scorers
        ]
        rows = {dataset: len(_table(args.data_dir, dataset).labels) for dataset in datasets}
    except JobError as error:
        print(f"model_quality: {error}", file=sys.stderr)
        return 1
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    # spawn: fresh workers, not forks of a process whose XGBoost/torch thread pools may already exist.
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(args.jobs, mp_context=context) as pool,
        tqdm(total=len(tasks), unit="fit", desc="model quality", file=sys.stderr) as bar,
    ):
        futures: list[Future[dict[str, Any]]] = [
            pool.submit(run_one, args.data_dir, dataset, name, seed, {**params, "threads": 1})
            for dataset, name, seed, params in tasks
        ]
        for future in as_completed(futures):
            run = future.result()
            runs.append(run)
            outcome = f"AUC {run['auc']:.4f}" if "auc" in run else "failed"
            bar.set_postfix_str(f"{run['dataset']} {run['scorer']} seed {run['seed']}: {outcome}")
            bar.update()
            _write_json(args.out, runs, tasks, rows, time.perf_counter() - started, args)
    failed = [run for run in runs if "error" in run]
    for run in sorted(failed, key=lambda run: (run["dataset"], run["scorer"], run["seed"])):
        print(f"{run['dataset']} {run['scorer']} seed {run['seed']} failed: {run['error']}", file=sys.stderr)
    summary = quality_report.summarise(runs, SHARES)
    chart = quality_report.chart(summary, args.out.with_suffix(".png"))
    print_table(*quality_report.table_rows(summary, rows, {k: v[1] for k, v in DATASETS.items()}))
    minutes = (time.perf_counter() - started) / 60
    print(f"{len(runs)} fits ({len(failed)} failed) in {minutes:.1f} min; JSON {args.out}, chart {chart}")
    return 1 if failed else 0


def _write_json(
    out: Path,
    runs: list[dict[str, Any]],
    tasks: list[tuple[str, str, int, dict[str, Any]]],
    rows: dict[str, int],
    seconds: float,
    args: argparse.Namespace,
) -> None:
    params = {f"{dataset}/{name}": values for dataset, name, _, values in tasks}
    document = {
        "protocol": {
            "splits": "repeated stratified train/validation/test",
            "validation_share": SHARES.validation,
            "test_share": SHARES.test,
            "seeds": {dataset: _seeds(args, dataset) for dataset in rows},
        },
        "rows": rows,
        "params": params,
        "summary": quality_report.summarise(runs, SHARES),
        "runs": sorted(runs, key=lambda run: (run["dataset"], run["scorer"], run["seed"])),
        "done": f"{len(runs)}/{len(tasks)}",
        "seconds": round(seconds, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    partial.replace(out)


if __name__ == "__main__":
    sys.exit(main())
