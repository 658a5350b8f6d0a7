"""The raw sources: file names and CSV columns, the contract between data producers, ingest and the ETL.

Every raw file is UTF-8 CSV with a header row, ``,`` as delimiter, ``"`` as quote, one record per line.
Money is in Vietnamese dong (VND), whole units. Timestamps are ``YYYY-MM-DD HH:MM:SS`` in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

from creditscore.domain.features import FORM_FIELDS


@dataclass(frozen=True)
class Source:
    """A raw source: its name (also its folder in the raw bucket), its file name and its header."""

    name: str
    file_name: str
    columns: tuple[str, ...]

    @property
    def header(self) -> str:
        return ",".join(self.columns)


CUSTOMERS = Source(
    name="customers",
    file_name="customers.csv",
    columns=(
        # identity
        "national_id",
        "full_name",
        "email",
        "phone_number",
        *FORM_FIELDS,
        # bureau-style history
        "age",
        "employment_years",
        "num_past_due_30_59",
        "num_past_due_60_89",
        "num_past_due_90_plus",
        "credit_utilization",
        "open_credit_lines",
        "num_credit_inquiries_6m",
        "months_since_oldest_account",
        # outcome, for training: 1 if the customer defaulted within 24 months
        "default_24m",
        # when this version of the record was written; the latest version of a national_id wins
        "updated_at",
    ),
)

TRANSACTIONS = Source(
    name="transactions",
    file_name="transactions.csv",
    columns=(
        "transaction_id",
        "national_id",
        "timestamp",
        "amount",
        "direction",
        "category",
        "balance_after",
    ),
)

SOCIAL = Source(
    name="social",
    file_name="social.csv",
    columns=(
        "national_id",
        "account_age_months",
        "num_connections",
        "posts_per_month",
        "share_defaulted_connections",
        "avg_sentiment",
        "verified_profile",
        "updated_at",
    ),
)

SOURCES: tuple[Source, ...] = (CUSTOMERS, TRANSACTIONS, SOCIAL)
SOURCES_BY_FILE: dict[str, Source] = {s.file_name: s for s in SOURCES}

# Transaction directions and categories the generator emits and the ETL accepts.
DIRECTIONS: tuple[str, ...] = ("credit", "debit")
CREDIT_CATEGORIES: tuple[str, ...] = ("salary", "transfer_in")
DEBIT_CATEGORIES: tuple[str, ...] = (
    "groceries",
    "utilities",
    "rent",
    "dining",
    "shopping",
    "transport",
    "healthcare",
    "education",
    "entertainment",
    "gambling",
    "cash_advance",
    "loan_repayment",
    "transfer_out",
)

# Files a data producer may leave beside the sources (generator metadata); ingest skips "_*" names.
METADATA_PREFIX = "_"
DIRTY_ROWS_FILE = "_dirty_rows.csv"
DIRTY_ROWS_COLUMNS: tuple[str, ...] = ("source", "line", "key", "kind")
GENERATION_FILE = "_generation.json"

# What can be wrong with a dirty row: the same words as the ETL quarantine's reason codes (etl/validate.py).
DIRTY_KINDS: tuple[str, ...] = (
    "malformed_id",
    "negative_value",
    "non_numeric",
    "impossible_age",
    "future_date",
    "unknown_customer",
    "duplicate",
    "malformed_record",
)
