"""Orchestration: validate the arguments, draw the data chunk by chunk, write the files and the metadata."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from etl.sources import (
    CUSTOMERS,
    DIRTY_ROWS_FILE,
    GENERATION_FILE,
    SOCIAL,
    SOURCES,
    TRANSACTIONS,
    Source,
)
from etl.synthetic.dirty import dirty_lines
from etl.synthetic.identity import ID_CAPACITY, identities
from etl.synthetic.latent import Customers, Social, draw_customers, draw_people, draw_social
from etl.synthetic.transactions import draw_transactions
from etl.synthetic.writer import DirtyLedger, SourceFile, render

DEFAULT_AS_OF = datetime.date(2026, 9, 30)
# Customers per chunk. Each chunk has its own random streams, so this is part of what a seed means:
# changing it changes the data (it is not tied to dirty_share or progress for that reason).
CHUNK_SIZE = 10_000
MAX_MONTHS = 24
MAX_DIRTY_SHARE = 0.5
# One block of national IDs is kept free, to draw IDs that belong to no customer.
MAX_CUSTOMERS = ID_CAPACITY - 1_000_000


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate`` wrote: rows per source (dirty included), dirty rows, files and their hashes."""

    out_dir: Path
    seed: int
    customers: int
    months: int
    as_of: datetime.date
    dirty_share: float
    rows: dict[str, int]
    dirty_rows: dict[str, int]
    files: dict[str, Path]
    sha256: dict[str, str]
    seconds: float


class _Streams(NamedTuple):
    people: np.random.Generator
    identity: np.random.Generator
    customers: np.random.Generator
    social: np.random.Generator
    transactions: np.random.Generator
    dirty: np.random.Generator


def _streams(seed: int, chunk: int) -> _Streams:
    """The chunk's generators: the same as ``SeedSequence(seed).spawn(...)[chunk]``, without spawning all.

    Dirty rows draw from a stream of their own, so the clean rows do not depend on dirty_share.
    """
    chunk_sequence = np.random.SeedSequence(seed, spawn_key=(chunk,))
    clean, dirty = chunk_sequence.spawn(2)
    people, identity, customers, social, transactions = (np.random.default_rng(s) for s in clean.spawn(5))
    return _Streams(people, identity, customers, social, transactions, np.random.default_rng(dirty))


def _check_arguments(customers: int, seed: int, months: int, dirty_share: float) -> None:
    if isinstance(customers, bool) or not isinstance(customers, int) or customers <= 0:
        raise ValueError(f"customers must be a positive integer, got {customers!r}")
    if customers > MAX_CUSTOMERS:
        raise ValueError(f"customers must be at most {MAX_CUSTOMERS:,}, got {customers:,}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be an integer from 1 to {MAX_MONTHS}, got {months!r}")
    if not isinstance(dirty_share, int | float) or not 0 <= dirty_share <= MAX_DIRTY_SHARE:
        raise ValueError(f"dirty_share must be between 0 and {MAX_DIRTY_SHARE}, got {dirty_share!r}")


def _table(source: Source, columns: Mapping[str, pa.Array]) -> pa.Table:
    if set(columns) != set(source.columns):
        # A bug in the generator, not in its arguments.
        raise RuntimeError(f"{source.name}: columns {sorted(columns)} do not match {source.columns}")
    return pa.table([columns[name] for name in source.columns], names=list(source.columns))


def _arrays(draw: Customers | Social) -> dict[str, pa.Array]:
    return {field.name: pa.array(getattr(draw, field.name)) for field in dataclasses.fields(draw)}


def _draw_chunk(
    streams: _Streams,
    seed: int,
    start: int,
    n: int,
    months: int,
    as_of: datetime.date,
    first_transaction: int,
) -> dict[str, pa.Table]:
    people = draw_people(streams.people, n, as_of)
    index = np.arange(start, start + n, dtype=np.int64)
    ident = identities(streams.identity, index, people.female, people.birth_year, seed)
    customer = draw_customers(streams.customers, people, as_of)
    social = draw_social(streams.social, people, as_of)
    customers_table = _table(
        CUSTOMERS,
        {
            "national_id": ident.national_id,
            "full_name": ident.full_name,
            "email": ident.email,
            "phone_number": ident.phone_number,
            "age": pa.array(people.age),
            **_arrays(customer),
        },
    )
    social_table = _table(
        SOCIAL,
        {
            "national_id": ident.national_id,
            **_arrays(social),
        },
    )
    transactions_table = draw_transactions(
        streams.transactions,
        people,
        customer,
        ident.national_id,
        months,
        as_of,
        first_transaction,
        seed,
    )
    return {
        CUSTOMERS.name: customers_table,
        TRANSACTIONS.name: transactions_table,
        SOCIAL.name: social_table,
    }


def generate(
    out_dir: Path,
    customers: int,
    seed: int,
    months: int = 12,
    dirty_share: float = 0.01,
    as_of: datetime.date = DEFAULT_AS_OF,
    progress: bool = True,
) -> GenerationSummary:
    """Write the three raw sources, the dirty-row ledger and the generation metadata into ``out_dir``.

    The same arguments always give byte-identical files. Memory is bounded by one chunk of customers.
    """
    _check_arguments(customers, seed, months, dirty_share)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chunk_size = CHUNK_SIZE
    transactions_written = 0
    dirty_transactions = 0
    with ExitStack() as stack:
        files = {
            source.name: stack.enter_context(SourceFile(out_dir / source.file_name, source.header))
            for source in SOURCES
        }
        ledger = stack.enter_context(DirtyLedger(source.name for source in SOURCES))
        bar = stack.enter_context(
            tqdm(total=customers, unit="customer", disable=not progress, file=sys.stderr, desc="generate")
        )
        for chunk in range(math.ceil(customers / chunk_size)):
            start = chunk * chunk_size
            n = min(chunk_size, customers - start)
            streams = _streams(seed, chunk)
            tables = _draw_chunk(streams, seed, start, n, months, as_of, transactions_written)
            transactions_written += tables[TRANSACTIONS.name].num_rows
            for source in SOURCES:
                block = render(tables[source.name])
                dirty = dirty_lines(
                    source, streams.dirty, block, dirty_share, as_of, customers, seed, dirty_transactions
                )
                if source is TRANSACTIONS:
                    dirty_transactions += len(dirty)
                ledger.record(source.name, files[source.name].append(block, dirty))
            bar.update(n)
        ledger_sha256 = ledger.write(out_dir / DIRTY_ROWS_FILE)

    rows = {name: file.rows for name, file in files.items()}
    dirty_rows = {name: file.dirty_rows for name, file in files.items()}
    sha256 = {file.path.name: file.sha256 for file in files.values()}
    sha256[DIRTY_ROWS_FILE] = ledger_sha256
    metadata = {
        "seed": seed,
        "customers": customers,
        "months": months,
        "as_of": as_of.isoformat(),
        "dirty_share": dirty_share,
        "chunk_size": chunk_size,
        "rows": rows,
        "dirty_rows": dirty_rows,
        "sha256": sha256,
    }
    (out_dir / GENERATION_FILE).write_text(
        json.dumps(metadata, indent=2) + "\n", encoding="utf-8", newline="\n"
    )
    return GenerationSummary(
        out_dir=out_dir,
        seed=seed,
        customers=customers,
        months=months,
        as_of=as_of,
        dirty_share=dirty_share,
        rows=rows,
        dirty_rows=dirty_rows,
        files={
            **{name: file.path for name, file in files.items()},
            "dirty_rows": out_dir / DIRTY_ROWS_FILE,
            "generation": out_dir / GENERATION_FILE,
        },
        sha256=sha256,
        seconds=time.perf_counter() - started,
    )
