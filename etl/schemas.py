"""What a valid row of each raw source looks like: every column's type and range, checked by the ETL.

The CSV is read with every column as a string (an explicit schema, no inference), so a value that does not
coerce to its type is caught and quarantined with the original text instead of silently becoming null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from etl import sources

Kind = Literal["id", "text", "email", "phone", "money", "number", "count", "flag", "timestamp", "choice"]

TIMESTAMP_FORMAT: Final = "yyyy-MM-dd HH:mm:ss"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    minimum: float | None = None
    maximum: float | None = None
    # Reason code for a value outside [minimum, maximum]; below a minimum of 0 is "negative_value".
    range_reason: str = "out_of_range"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSchema:
    source: sources.Source
    columns: tuple[Column, ...]
    # Duplicates of this key are resolved by keeping the row with the latest `latest_by` value.
    key: str
    latest_by: str

    def __post_init__(self) -> None:
        if tuple(c.name for c in self.columns) != self.source.columns:
            raise ValueError(f"schema of {self.source.name} does not list the source's columns in order")


def _money(name: str) -> Column:
    return Column(name, "money", minimum=0)


def _count(name: str, maximum: float | None = None) -> Column:
    return Column(name, "count", minimum=0, maximum=maximum)


CUSTOMERS: Final = SourceSchema(
    sources.CUSTOMERS,
    (
        Column("national_id", "id"),
        Column("full_name", "text"),
        Column("email", "email"),
        Column("phone_number", "phone"),
        _money("income"),
        _money("savings"),
        _money("debt"),
        Column("has_dependents", "flag"),
        Column("has_mortgage", "flag"),
        Column("has_savings_account", "flag"),
        Column("has_credit_card", "flag"),
        Column("age", "count", minimum=18, maximum=100, range_reason="impossible_age"),
        Column("employment_years", "number", minimum=0, maximum=80),
        _count("num_past_due_30_59"),
        _count("num_past_due_60_89"),
        _count("num_past_due_90_plus"),
        Column("credit_utilization", "number", minimum=0, maximum=10),
        _count("open_credit_lines"),
        _count("num_credit_inquiries_6m"),
        _count("months_since_oldest_account", maximum=1200),
        Column("default_24m", "count", maximum=1),
        Column("updated_at", "timestamp"),
    ),
    key="national_id",
    latest_by="updated_at",
)

TRANSACTIONS: Final = SourceSchema(
    sources.TRANSACTIONS,
    (
        Column("transaction_id", "text"),
        Column("national_id", "id"),
        Column("timestamp", "timestamp"),
        _money("amount"),
        Column("direction", "choice", choices=sources.DIRECTIONS),
        Column("category", "choice", choices=sources.CREDIT_CATEGORIES + sources.DEBIT_CATEGORIES),
        # An overdraft is a negative balance, so no lower bound here.
        Column("balance_after", "number"),
    ),
    key="transaction_id",
    latest_by="timestamp",
)

SOCIAL: Final = SourceSchema(
    sources.SOCIAL,
    (
        Column("national_id", "id"),
        _count("account_age_months", maximum=1200),
        _count("num_connections"),
        Column("posts_per_month", "number", minimum=0),
        Column("share_defaulted_connections", "number", minimum=0, maximum=1),
        Column("avg_sentiment", "number", minimum=-1, maximum=1),
        Column("verified_profile", "flag"),
        Column("updated_at", "timestamp"),
    ),
    key="national_id",
    latest_by="updated_at",
)

SCHEMAS: Final = (CUSTOMERS, TRANSACTIONS, SOCIAL)
