"""Every feature, defined once: name, feature group, meaning, window and unit.

The feature groups are also the attribute names of a customer's item in DynamoDB. docs/features.md is
generated from :data:`FEATURES` (``python -m creditscore.domain.features > docs/features.md``) and a test
keeps it current.

Application-form features are derived by :func:`application_features`, a vectorised function of numpy
arrays that the Spark job runs through ``mapInPandas`` and the scoring service runs on one request's
fields, so training and serving compute them with the same code.

Each feature also says how it may be given as a reason for a score (:mod:`creditscore.domain.reasons`):

- ``risk``: which way its value normally moves the risk of default: :data:`HIGHER` (more of it, more risk:
  debt, missed payments), :data:`LOWER` (more of it, less risk: income, savings, a savings account) or
  :data:`UNKNOWN`;
- ``wording``: the reason in plain words when the feature raised the risk ("Debt is high relative to
  income"), phrased for the risky side of ``risk``;
- ``best``: the value at which the feature is as good as it gets, where one exists (0 missed payments,
  1 for "has a savings account"): an applicant holding it cannot have been hurt by it;
- ``citable``: the applicant can act on it and the bank may cite it; only a feature with a known ``risk``
  and a wording can be;
- ``protected``: a protected attribute (age, family status): never cited, whatever a model did with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt

# The application form: what an applicant declares (monthly income; savings and debt outstanding).
FORM_FIELDS: Final[tuple[str, ...]] = (
    "income",
    "savings",
    "debt",
    "has_dependents",
    "has_mortgage",
    "has_savings_account",
    "has_credit_card",
)

APPLICATION: Final = "application"
TRADITIONAL: Final = "traditional_features"
TRANSACTION: Final = "transaction_features"
SOCIAL: Final = "social_features"
GROUPS: Final = (APPLICATION, TRADITIONAL, TRANSACTION, SOCIAL)

LABEL: Final = "default_24m"
WINDOWS_MONTHS: Final = (3, 6, 12)

Risk = Literal["higher", "lower", "unknown"]
#: More of the feature, more risk.
HIGHER: Final = "higher"
#: More of the feature, less risk.
LOWER: Final = "lower"
UNKNOWN: Final = "unknown"


@dataclass(frozen=True)
class Feature:
    name: str
    group: str
    meaning: str
    unit: str
    window_months: int | None = None
    risk: Risk = UNKNOWN
    wording: str | None = None
    best: float | None = None
    citable: bool = False
    protected: bool = False

    def __post_init__(self) -> None:
        if self.citable and (self.protected or self.risk == UNKNOWN or not self.wording):
            raise ValueError(f"{self.name}: a citable feature has a known risk and a wording, unprotected")


def _windowed(
    stem: str,
    meaning: str,
    unit: str,
    risk: Risk = UNKNOWN,
    wording: str | None = None,
    best: float | None = None,
) -> list[Feature]:
    return [
        Feature(
            f"{stem}_{w}m",
            TRANSACTION,
            meaning,
            unit,
            window_months=w,
            risk=risk,
            wording=wording and f"{wording} (last {w} months)",
            best=best,
            citable=risk != UNKNOWN and wording is not None,
        )
        for w in WINDOWS_MONTHS
    ]


class _Citation(TypedDict):
    risk: Risk
    wording: str
    best: float | None
    citable: bool


def _cited(risk: Risk, wording: str, best: float | None = None) -> _Citation:
    return {"risk": risk, "wording": wording, "best": best, "citable": True}


FEATURES: Final[tuple[Feature, ...]] = (
    # The seed's ten application-form features, in the new-customer model's order.
    Feature("income", APPLICATION, "Declared monthly income", "VND/month", **_cited(LOWER, "Income is low")),
    Feature("savings", APPLICATION, "Declared savings", "VND", **_cited(LOWER, "Savings are low")),
    Feature("debt", APPLICATION, "Declared outstanding debt", "VND", **_cited(HIGHER, "Debt is high", 0)),
    Feature("has_dependents", APPLICATION, "Has dependents", "0/1", protected=True),
    Feature("has_mortgage", APPLICATION, "Has a mortgage", "0/1"),
    Feature(
        "has_savings_account",
        APPLICATION,
        "Has a savings account",
        "0/1",
        **_cited(LOWER, "No savings account", 1),
    ),
    Feature("has_credit_card", APPLICATION, "Has a credit card", "0/1"),
    Feature(
        "savings_to_income",
        APPLICATION,
        "savings / income; 0 when income ≤ 0",
        "ratio",
        **_cited(LOWER, "Savings are low relative to income"),
    ),
    Feature(
        "debt_to_income",
        APPLICATION,
        "debt / income; 0 when income ≤ 0",
        "ratio",
        **_cited(HIGHER, "Debt is high relative to income", 0),
    ),
    Feature(
        "net_worth",
        APPLICATION,
        "income − debt (the seed's definition)",
        "VND",
        **_cited(LOWER, "Income is low relative to debt"),
    ),
    # Bureau-style history, as cleaned.
    Feature("age", TRADITIONAL, "Age", "years", protected=True),
    Feature(
        "employment_years",
        TRADITIONAL,
        "Years with the current employer",
        "years",
        **_cited(LOWER, "Short time with the current employer"),
    ),
    Feature(
        "num_past_due_30_59",
        TRADITIONAL,
        "Times 30–59 days past due",
        "count",
        **_cited(HIGHER, "Recent missed payments (30–59 days late)", 0),
    ),
    Feature(
        "num_past_due_60_89",
        TRADITIONAL,
        "Times 60–89 days past due",
        "count",
        **_cited(HIGHER, "Missed payments 60–89 days late", 0),
    ),
    Feature(
        "num_past_due_90_plus",
        TRADITIONAL,
        "Times 90 or more days past due",
        "count",
        **_cited(HIGHER, "Missed payments 90 or more days late", 0),
    ),
    Feature(
        "credit_utilization",
        TRADITIONAL,
        "Revolving balance / credit limit",
        "ratio",
        **_cited(HIGHER, "Credit balances are high relative to limits", 0),
    ),
    Feature("open_credit_lines", TRADITIONAL, "Open credit lines", "count"),
    Feature(
        "num_credit_inquiries_6m",
        TRADITIONAL,
        "Credit inquiries in the last 6 months",
        "count",
        **_cited(HIGHER, "Many recent applications for credit", 0),
    ),
    Feature(
        "months_since_oldest_account",
        TRADITIONAL,
        "Age of the oldest credit account",
        "months",
        **_cited(LOWER, "Short credit history"),
    ),
    # Transaction behaviour over trailing windows ending at the snapshot's features_as_of.
    *_windowed(
        "inflow_mean",
        "Credits per month, averaged over the window",
        "VND/month",
        LOWER,
        "Little money coming in",
    ),
    *_windowed("outflow_mean", "Debits per month, averaged over the window", "VND/month"),
    *_windowed(
        "salary_regularity",
        "Share of the window's months with a salary credit",
        "ratio",
        LOWER,
        "Salary not received every month",
        1,
    ),
    *_windowed("balance_mean", "Mean balance after each transaction", "VND", LOWER, "Account balance is low"),
    *_windowed(
        "balance_volatility",
        "Standard deviation of the balance after each transaction",
        "VND",
        HIGHER,
        "Account balance swings widely",
        0,
    ),
    *_windowed("balance_min", "Lowest balance after a transaction", "VND", LOWER, "Account balance ran low"),
    *_windowed(
        "overdraft_days",
        "Days ending a transaction with a negative balance",
        "days",
        HIGHER,
        "Account overdrawn",
        0,
    ),
    *_windowed(
        "gambling_share", "Gambling debits / all debits (amounts)", "ratio", HIGHER, "Spending on gambling", 0
    ),
    *_windowed(
        "cash_advance_share",
        "Cash-advance debits / all debits (amounts)",
        "ratio",
        HIGHER,
        "Reliance on cash advances",
        0,
    ),
    *_windowed("txn_count", "Transactions in the window", "count"),
    # Social signals, as cleaned: never cited (an applicant cannot be told their connections or posts
    # lowered their score), though their expected direction is recorded where known.
    Feature("account_age_months", SOCIAL, "Age of the social account", "months", risk=LOWER),
    Feature("num_connections", SOCIAL, "Connections", "count"),
    Feature("posts_per_month", SOCIAL, "Posts per month", "count/month"),
    Feature(
        "share_defaulted_connections",
        SOCIAL,
        "Share of connections known to have defaulted",
        "ratio",
        risk=HIGHER,
        best=0,
    ),
    Feature("avg_sentiment", SOCIAL, "Mean sentiment of posts, −1 to 1", "score"),
    Feature("verified_profile", SOCIAL, "Profile verified", "0/1", risk=LOWER, best=1),
)


def names(group: str) -> list[str]:
    """The ordered feature names of one group."""
    return [f.name for f in FEATURES if f.group == group]


FloatArray = npt.NDArray[np.float64]


def _ratio(numerator: FloatArray, income: FloatArray) -> FloatArray:
    safe = np.where(income > 0, income, 1.0)
    return np.where(income > 0, numerator / safe, 0.0)


def application_features(form: Mapping[str, npt.ArrayLike]) -> dict[str, FloatArray]:
    """The ten application features from the form's fields (income, savings, debt and the four flags).

    Works on columns of any length, a single applicant being a column of one.
    """
    income = np.asarray(form["income"], dtype=np.float64)
    savings = np.asarray(form["savings"], dtype=np.float64)
    debt = np.asarray(form["debt"], dtype=np.float64)
    flags = {name: np.asarray(form[name], dtype=np.float64) for name in FORM_FIELDS[3:]}
    return {
        "income": income,
        "savings": savings,
        "debt": debt,
        **flags,
        "savings_to_income": _ratio(savings, income),
        "debt_to_income": _ratio(debt, income),
        "net_worth": income - debt,
    }


def markdown() -> str:
    """docs/features.md."""
    lines = [
        "# Features",
        "",
        "Generated from `creditscore/domain/features.py` by "
        "`python -m creditscore.domain.features > docs/features.md`; do not edit.",
        "",
        "| name | group | meaning | window | unit | risk rises when | reason given |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in FEATURES:
        window = f"trailing {f.window_months} months" if f.window_months else "—"
        rises = {HIGHER: "higher", LOWER: "lower", UNKNOWN: "—"}[f.risk]
        cited = (
            "never (protected)" if f.protected else f"“{f.wording}”" if f.citable else "never (not citable)"
        )
        lines.append(f"| `{f.name}` | `{f.group}` | {f.meaning} | {window} | {f.unit} | {rises} | {cited} |")
    lines += [
        "",
        "A reason is given only for a citable feature that raised the applicant's risk, never for a "
        "protected one, and never when the applicant already holds the feature's best value "
        "(see docs/api.md).",
        "",
        f"The training label, kept beside the features, is `{LABEL}` (1 = default within 24 months).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
