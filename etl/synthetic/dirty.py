"""Dirty rows: extra, deliberately bad copies of clean rows, for the ETL to catch and quarantine.

Each dirty row starts from the text of a clean row of the same chunk (clean rows are written unquoted and
hold no commas, so splitting on ``,`` recovers their fields exactly) and is corrupted in one way. It is
spliced in at a random position of the chunk; a duplicate always lands after the row it copies.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from etl.sources import CUSTOMERS, SOCIAL, TRANSACTIONS, Source
from etl.synthetic.identity import ID_CAPACITY, national_ids
from etl.synthetic.transactions import DIRTY_ID_OFFSET, transaction_ids
from etl.synthetic.writer import Block, DirtyLine

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

KINDS: dict[str, tuple[str, ...]] = {
    CUSTOMERS.name: (
        "malformed_id",
        "negative_value",
        "non_numeric",
        "impossible_age",
        "duplicate",
        "malformed_record",
    ),
    TRANSACTIONS.name: (
        "malformed_id",
        "negative_value",
        "non_numeric",
        "future_date",
        "unknown_customer",
        "duplicate",
        "malformed_record",
    ),
    SOCIAL.name: (
        "malformed_id",
        "negative_value",
        "non_numeric",
        "unknown_customer",
        "duplicate",
        "malformed_record",
    ),
}

# Fields in which each source's amounts (and, for social, its counts) are corrupted.
AMOUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS.name: ("income", "savings", "debt"),
    TRANSACTIONS.name: ("amount",),
    SOCIAL.name: ("account_age_months", "num_connections", "posts_per_month"),
}
# Fields that get an opening quote and no closing one: never the key, which must stay readable.
QUOTED_COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS.name: ("full_name", "email"),
    TRANSACTIONS.name: ("category",),
    SOCIAL.name: ("posts_per_month", "avg_sentiment"),
}
IMPOSSIBLE_AGES = (-3, 0, 3, 7, 12, 130, 150, 200, 999)
# What people type into number fields, besides Vietnamese shorthand for millions (tr, triệu) and dotted
# thousands: placeholders and spreadsheet errors. None of them parses as a number, in Python or in Spark.
_WORDS = ("N/A", "abc", "#VALUE!", "không rõ", "nhiều", "?")


@dataclass
class _Context:
    rng: np.random.Generator
    source: Source
    as_of: datetime.date
    unknown_ids: Iterator[str]

    def column(self, name: str) -> int:
        return self.source.columns.index(name)

    def pick(self, names: tuple[str, ...]) -> int:
        return self.column(names[int(self.rng.integers(len(names)))])


def _malformed_id(ctx: _Context, fields: list[str]) -> None:
    col = ctx.column("national_id")
    value, rng = fields[col], ctx.rng
    at = int(rng.integers(1, len(value) - 1))
    variants = (
        value[:at] + value[at + 1 :],  # 11 digits
        value[:at] + str(rng.integers(10)) + value[at:],  # 13 digits
        value[2:],  # 10 digits
        value[:at] + "OISB"[int(rng.integers(4))] + value[at + 1 :],  # a letter typed for a digit
        f"{value[:3]}-{value[3:6]}-{value[6:]}",
        "CCCD" + value,
    )
    fields[col] = variants[int(rng.integers(len(variants)))]


def _negative_value(ctx: _Context, fields: list[str]) -> None:
    col = ctx.pick(AMOUNT_COLUMNS[ctx.source.name])
    # A zero would stay zero when negated; a small negative count is as wrong as a negative balance.
    positive = fields[col] if float(fields[col]) > 0 else str(ctx.rng.integers(1, 100))
    fields[col] = "-" + positive


def _non_numeric(ctx: _Context, fields: list[str]) -> None:
    col = ctx.pick(AMOUNT_COLUMNS[ctx.source.name])
    value, rng = float(fields[col]), ctx.rng
    variants = [*_WORDS, f"~{fields[col]}"]
    # Below a million, dotted thousands ("12.500") would read as a decimal number, not as garbage.
    if value >= 1_000_000:
        millions = round(value / 1e6)
        variants += [f"{millions}tr", f"{millions} triệu", f"{round(value):,}".replace(",", ".")]
    fields[col] = variants[int(rng.integers(len(variants)))]


def _impossible_age(ctx: _Context, fields: list[str]) -> None:
    fields[ctx.column("age")] = str(IMPOSSIBLE_AGES[int(ctx.rng.integers(len(IMPOSSIBLE_AGES)))])


def _future_date(ctx: _Context, fields: list[str]) -> None:
    # Years after as_of: the ETL checks dates against its own run, which may come long after as_of.
    after = datetime.timedelta(seconds=int(ctx.rng.integers(86_400 * 366 * 5, 86_400 * 366 * 30)))
    written = datetime.datetime.combine(ctx.as_of, datetime.time()) + after
    fields[ctx.column("timestamp")] = written.strftime(TIMESTAMP_FORMAT)


def _unknown_customer(ctx: _Context, fields: list[str]) -> None:
    fields[ctx.column("national_id")] = next(ctx.unknown_ids)


def _malformed_record(ctx: _Context, fields: list[str]) -> None:
    col = ctx.pick(QUOTED_COLUMNS[ctx.source.name])
    fields[col] = '"' + fields[col]


def _earlier(ctx: _Context, fields: list[str]) -> datetime.timedelta:
    """Move updated_at back by one week to a year; return by how much."""
    col = ctx.column("updated_at")
    shift = datetime.timedelta(seconds=int(ctx.rng.integers(7 * 86_400, 365 * 86_400)))
    fields[col] = (datetime.datetime.strptime(fields[col], TIMESTAMP_FORMAT) - shift).strftime(
        TIMESTAMP_FORMAT
    )
    return shift


def _older_customer(ctx: _Context, fields: list[str]) -> None:
    _earlier(ctx, fields)
    rng = ctx.rng
    for name, low, high in (("income", 0.8, 1.0), ("savings", 0.5, 1.1), ("debt", 0.8, 1.3)):
        col = ctx.column(name)
        fields[col] = str(int(round(int(fields[col]) * rng.uniform(low, high), -5)))
    col = ctx.column("num_credit_inquiries_6m")
    fields[col] = str(rng.integers(0, 4))


def _older_social(ctx: _Context, fields: list[str]) -> None:
    months_back = _earlier(ctx, fields).days // 30
    rng = ctx.rng
    col = ctx.column("account_age_months")
    fields[col] = str(max(1, int(fields[col]) - months_back))
    col = ctx.column("num_connections")
    fields[col] = str(round(int(fields[col]) * rng.uniform(0.7, 1.0)))
    col = ctx.column("posts_per_month")
    fields[col] = str(round(float(fields[col]) * rng.uniform(0.5, 1.5), 2))


def _exact_copy(ctx: _Context, fields: list[str]) -> None:
    """A transaction delivered twice: the same row, transaction_id included."""


_MUTATIONS: dict[str, Callable[[_Context, list[str]], None]] = {
    "malformed_id": _malformed_id,
    "negative_value": _negative_value,
    "non_numeric": _non_numeric,
    "impossible_age": _impossible_age,
    "future_date": _future_date,
    "unknown_customer": _unknown_customer,
    "malformed_record": _malformed_record,
}
_DUPLICATES: dict[str, Callable[[_Context, list[str]], None]] = {
    CUSTOMERS.name: _older_customer,
    TRANSACTIONS.name: _exact_copy,
    SOCIAL.name: _older_social,
}


def _unknown_ids(rng: np.random.Generator, count: int, customers: int, seed: int) -> Iterator[str]:
    """Well-formed IDs of people who are not customers: the ID of an index no customer has."""
    index = rng.integers(customers, ID_CAPACITY, size=count)
    female = rng.random(count) < 0.5
    birth_year = rng.integers(1951, 2009, size=count)
    return iter(national_ids(index, female, birth_year, seed).to_pylist())


def dirty_lines(
    source: Source,
    rng: np.random.Generator,
    block: Block,
    share: float,
    as_of: datetime.date,
    customers: int,
    seed: int,
    first_dirty_id: int,
) -> list[DirtyLine]:
    """Draw about ``share * len(block)`` dirty rows for this block of ``source``.

    ``first_dirty_id`` numbers the fresh transaction IDs of dirty transactions (other than duplicates,
    which keep the ID they copy); the caller advances it by the number of rows returned.
    """
    n = len(block)
    count = int(rng.binomial(n, share)) if n else 0
    kinds = KINDS[source.name]
    kind_index = rng.integers(0, len(kinds), size=count)
    templates = rng.integers(0, max(n, 1), size=count)
    ctx = _Context(rng=rng, source=source, as_of=as_of, unknown_ids=_unknown_ids(rng, count, customers, seed))
    fresh_ids: Iterator[str] = iter(())
    if source is TRANSACTIONS:
        fresh_ids = iter(transaction_ids(DIRTY_ID_OFFSET + first_dirty_id, count, seed).to_pylist())
    lines = []
    for k, template in zip(kind_index, templates, strict=True):
        kind = kinds[k]
        fields = block.line(int(template)).split(",")
        if kind == "duplicate":
            gap = int(rng.integers(template + 1, n + 1))
            _DUPLICATES[source.name](ctx, fields)
        else:
            gap = int(rng.integers(0, n + 1))
            _MUTATIONS[kind](ctx, fields)
        fresh_id = next(fresh_ids, None)
        if fresh_id is not None and kind != "duplicate":
            fields[0] = fresh_id
        lines.append(DirtyLine(gap=gap, text=",".join(fields), key=fields[0], kind=kind))
    return lines
