"""Benchmark batch scoring end to end: ``creditscore score`` over a file of N rows, its wall time, rows/s
and peak memory.

    .venv/bin/python -m bench.batch_score [--rows 1000000] [--format csv|parquet] [--reasons 0]
                                          [--trees 200] [--bad-share 0.001] [--threads N]
                                          [--engine pandas|spark|both]

Run it as a module from the repository root (it imports ``tests.factories``).

1. Generates the rows with the test factories' ``customers()`` (``national_id`` and the ten application
   features of the new-customer model), a ``--bad-share`` of them spoiled in turn with a value that is not
   a number, a missing value and an infinite one, and writes them as ``--format``.
2. Trains ``xgboost-new-customer`` on 20,000 other rows with ``creditscore train --out DIR``: ``--trees``
   boosting rounds without early stopping (200: the model docs/DESIGN measure the service with).
3. Runs ``creditscore score --model DIR --data FILE --out FILE`` as a child process and times it from start
   to exit (imports, model load and writing included); peak RSS is the child's own (``wait4``). Steps 1 and
   2 run in a process of their own, so that this one stays small: a child's peak RSS counts its parent's
   memory from before the child's ``exec``.
4. ``--engine spark`` times ``creditscore score --engine spark`` the same way (Spark local mode on every
   core; its outputs are directories of part files); ``both`` runs the two engines one after the other on
   the same file and model and prints their ratio, since figures are only comparable within one run. The
   Spark command's peak RSS is its Python driver's: the JVM and the Python workers are not its waited
   children.

Writes into a temporary directory (``--dir`` to choose where it is created), deleted afterwards unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

MODEL: Final = "xgboost-new-customer"
TRAINING_ROWS: Final = 20_000
CLI: Final = [sys.executable, "-m", "creditscore.cli"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--reasons", type=int, default=0, help="reasons per row (creditscore score --reasons)"
    )
    parser.add_argument("--trees", type=int, default=200, help="boosting rounds of the model scored")
    parser.add_argument("--bad-share", type=float, default=0.001, help="share of rows that cannot be scored")
    parser.add_argument("--threads", type=int, default=None, help="creditscore score --threads")
    parser.add_argument("--engine", choices=("pandas", "spark", "both"), default="pandas")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the files instead of deleting them")
    return parser.parse_args(argv)


def write_rows(path: Path, rows: int, bad_share: float, seed: int) -> int:
    """``rows`` rows to score, as CSV or Parquet by the suffix; the number of spoiled rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from creditscore.domain.features import names
    from tests.factories import customers

    frame = customers(rows, seed=seed)[["national_id", *names("application")]]
    rng = np.random.default_rng(seed)
    bad = rng.choice(rows, size=int(rows * bad_share), replace=False)
    # One spoiled value each: text in debt, a missing savings, an infinite income.
    debt = frame["debt"].map(repr).to_numpy(dtype=object)
    debt[bad[0::3]] = "unknown"
    frame["debt"] = debt
    for column, value, spoiled in (("savings", np.nan, bad[1::3]), ("income", np.inf, bad[2::3])):
        values = frame[column].to_numpy(dtype=np.float64, copy=True)
        values[spoiled] = value
        frame[column] = values
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix == ".parquet":
        pq.write_table(table, path, row_group_size=100_000)
    else:
        pa_csv.write_csv(table, path)
    return len(bad)


def train(directory: Path, trees: int, seed: int) -> None:
    from creditscore.domain.features import LABEL, names
    from tests.factories import customers

    training = directory / "train.parquet"
    frame = customers(TRAINING_ROWS, seed=seed + 1)[["national_id", *names("application"), LABEL]]
    frame.to_parquet(training, index=False)
    params = json.dumps({"num_boost_round": trees, "early_stopping_rounds": trees})
    command = [*CLI, "train", "--model", MODEL, "--data", str(training), "--params", params]
    subprocess.run([*command, "--out", str(directory / "model")], check=True, capture_output=True)


def prepare(directory: Path, data: Path, args: argparse.Namespace, spoiled: Any) -> None:
    """Steps 1 and 2: the rows in ``data``, their number of spoiled rows in ``spoiled``, the model in
    ``directory / "model"``."""
    spoiled.value = write_rows(data, args.rows, args.bad_share, args.seed)
    train(directory, args.trees, args.seed)


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and standard output of ``command``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        printed = out.read().decode()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}:\n{printed}")
    # ru_maxrss is in KiB on Linux.
    return seconds, usage.ru_maxrss / 1024, printed


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    directory = Path(tempfile.mkdtemp(prefix="creditscore-bench-", dir=args.dir))
    try:
        data = directory / f"rows.{args.format}"
        spawn = multiprocessing.get_context("spawn")
        count = spawn.Value("q", 0)
        preparing = spawn.Process(target=prepare, args=(directory, data, args, count))
        preparing.start()
        preparing.join()
        if preparing.exitcode != 0:
            raise SystemExit(f"preparing the rows and the model failed (exit code {preparing.exitcode})")
        spoiled = int(count.value)
        engines = ["pandas", "spark"] if args.engine == "both" else [args.engine]
        runs = {engine: timed(score_command(directory, data, args, engine)) for engine in engines}
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    print(
        f"rows           {args.rows:,} {args.format} ({spoiled:,} unscorable), {MODEL} with {args.trees} "
        f"trees, {args.reasons} reasons, {args.threads or os.cpu_count()} threads on {os.cpu_count()} cores"
    )
    print(f"files          {directory}{'' if args.keep else ' (deleted)'}")
    for engine, (seconds, peak_mib, printed) in runs.items():
        command = score_command(directory, data, args, engine)
        lines = [
            "",
            f"engine         {engine}",
            f"command        {' '.join(['creditscore', *command[len(CLI) :]])}",
            f"wall time      {seconds:,.1f} s (the whole command: start, imports, model load, read, score, "
            "write)",
            f"rows/s         {args.rows / seconds:,.0f}",
            f"peak RSS       {peak_mib:,.0f} MiB",
            "",
            printed.rstrip(),
        ]
        print("\n".join(lines))
    if len(runs) == 2:
        print(f"\nspark / pandas wall time: {runs['spark'][0] / runs['pandas'][0]:.2f}")


def score_command(directory: Path, data: Path, args: argparse.Namespace, engine: str) -> list[str]:
    out = directory / engine / f"scores.{args.format}"
    command = [*CLI, "score", "--model", str(directory / "model"), "--data", str(data), "--out", str(out)]
    command += ["--reasons", str(args.reasons)]
    if engine == "spark":
        # Spark runs a Python worker per core; --threads is the pandas engine's.
        return [*command, "--engine", "spark"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    return command


if __name__ == "__main__":
    main(sys.argv[1:])
