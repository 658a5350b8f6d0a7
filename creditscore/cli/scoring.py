"""``score``: a file of rows scored with one model version (:mod:`training.batch`), told on the console."""

from __future__ import annotations

import argparse

from creditscore.config import Settings
from creditscore.console import print_table


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    from training.batch.run import ScoringJob, score_file

    job = ScoringJob(
        model=args.model,
        data=args.data,
        out=args.out,
        rejects=args.rejects,
        id_column=args.id_column,
        reasons=args.reasons,
        chunk_rows=args.chunk_rows,
        threads=args.threads,
    )
    if args.engine == "spark":
        # Imports pyspark: without the etl extra, the CLI names the extra to install.
        from training.batch.spark_scoring import score_with_spark

        summary = score_with_spark(settings, job)
    else:
        summary = score_file(settings, job)
    print(f"{summary.model} version {summary.version} (from {summary.origin}) on {summary.data}:")
    rows = [
        ("read", f"{summary.read:,}"),
        ("scored", f"{summary.scored:,}"),
        ("rejected", f"{summary.rejected.total():,}"),
        *((f"rejected: {reason}", f"{count:,}") for reason, count in sorted(summary.rejected.items())),
    ]
    print_table(["rows", "count"], rows)
    print(
        f"{summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s; scores: {summary.out}, "
        f"rejects: {summary.rejects}"
    )
    return 0
