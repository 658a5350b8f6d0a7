"""Benchmark the synthetic-data generator: wall time, rows per second, bytes written and peak memory.

    .venv/bin/python -m bench.generate --customers 1000000 --months 12

Writes into a temporary directory (``--dir`` to choose where it is created) and deletes it afterwards,
unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from etl.synthetic import generate


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dirty-share", type=float, default=0.01)
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary output directory")
    parser.add_argument("--keep", action="store_true", help="keep the output instead of deleting it")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    out_dir = Path(tempfile.mkdtemp(prefix="creditscore-bench-", dir=args.dir))
    try:
        started = time.perf_counter()
        summary = generate(
            out_dir,
            customers=args.customers,
            seed=args.seed,
            months=args.months,
            dirty_share=args.dirty_share,
            progress=not args.no_progress,
        )
        seconds = time.perf_counter() - started
        written = sum(path.stat().st_size for path in out_dir.iterdir())
    finally:
        if not args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    rows = sum(summary.rows.values())
    # ru_maxrss is in KiB on Linux.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"customers      {args.customers:,} x {args.months} months, dirty share {args.dirty_share}",
        *(
            f"rows {name:<13} {count:,} ({summary.dirty_rows[name]:,} dirty)"
            for name, count in summary.rows.items()
        ),
        f"rows total     {rows:,}",
        f"wall time      {seconds:,.1f} s",
        f"rows/s         {rows / seconds:,.0f}",
        f"customers/s    {args.customers / seconds:,.0f}",
        f"bytes written  {written:,} ({written / 2**30:.2f} GiB, {written / 2**20 / seconds:,.0f} MiB/s)",
        f"peak RSS       {peak_mib:,.0f} MiB",
        f"output         {out_dir}{'' if args.keep else ' (deleted)'}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
