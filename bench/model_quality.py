"""Benchmark: test AUC of the training pipeline on a public credit data set, against published figures.

    .venv/bin/python -m bench.model_quality --dataset gmsc      # or heloc, taiwan, german
    .venv/bin/python -m bench.model_quality --dataset german --params '{"max_depth": 2}'

Reads the data set from ``../shared/data/`` beside the repository (``--data-dir`` to point elsewhere; each
folder's SOURCE.md gives provenance, the label and the published results), maps its columns with
``bench/mappings/{dataset}.yaml`` (whose ``params`` tune XGBoost for that data) and trains through the
same pipeline as ``creditscore train``: the ``xgboost-new-customer`` algorithm on the data set's own
columns via ``with_features``, a stratified 80/20 split seeded 42 for test, 10 % of the rows carved from
the 80 % for early stopping and calibration. Prints the summary table, then the test AUC as its last
line: ``AUC=0.8xxx``. Not a test: run it by hand and quote the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Final

from creditscore.cli.args import json_object
from creditscore.config import load_settings
from creditscore.console import print_table
from creditscore.errors import JobError
from plugins.manager import scorer
from training import data, pipeline, report
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
SCORER: Final = "xgboost-new-customer"
SHARES: Final = Shares(validation=0.10, test=0.20)


def data_path(data_dir: Path, dataset: str) -> Path:
    return data_dir / DATASETS[dataset][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"default: {DATA_DIR}")
    parser.add_argument("--params", type=json_object, default={}, help="JSON object; wins over the mapping's")
    parser.add_argument("--out", type=Path, default=None, help="also write report.json and the charts here")
    args = parser.parse_args()

    path = data_path(args.data_dir, args.dataset)
    if not path.is_file():
        print(
            f"{path} is absent: the public data sets live in ../shared/data (see its README.md)",
            file=sys.stderr,
        )
        return 1
    try:
        mapping = load_mapping(MAPPINGS / f"{args.dataset}.yaml")
        frame, source = data.read_frame(str(path), load_settings(), mapping.csv)
        table = data.table_from_frame(frame, source, mapping.feature_names, mapping)
        result = pipeline.train(scorer(SCORER), table, {**mapping.params, **args.params}, shares=SHARES)
    except JobError as error:
        print(f"model_quality: {error}", file=sys.stderr)
        return 1
    if args.out:
        pipeline.write_outputs(result, args.out)
    print_table(*report.summary_rows(result.report))
    print(f"{args.dataset}: {len(table.labels):,} rows, published: {DATASETS[args.dataset][1]}")
    print(f"fit {result.report['seconds']['fit']:.1f}s, params {json.dumps(result.manifest.params)}")
    print(f"AUC={result.manifest.metrics['test']['auc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
