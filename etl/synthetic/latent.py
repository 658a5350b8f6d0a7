"""The latent-risk process: one hidden creditworthiness per customer, the outcome, and noisy readings of it.

Everything here is a pure function of a numpy Generator and earlier draws, so each source can be drawn
from its own stream (see ``generator``) and the package docstring can describe the whole process.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# How strongly each source's reading follows z: reading = loading * z + sqrt(1 - loading**2) * noise.
APPLICATION_LOADING = 0.6
BUREAU_LOADING = 0.7
TRANSACTIONS_LOADING = 0.6
SOCIAL_LOADING = 0.55

MEDIAN_INCOME = 12_000_000  # VND per month
TARGET_DEFAULT_RATE = 0.075
RISK_SLOPE = 2.0  # log-odds of default per standard deviation of z
DEPENDENTS_EFFECT = 0.2  # log-odds; centred on roughly half the customers having dependents
AGE_EFFECT = -0.015  # log-odds per year around 40: the young default a little more often

SECONDS_PER_DAY = 86_400


def sigmoid(x: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return result


def _intercept(rate: float, slope: float) -> float:
    """The c0 for which E[sigmoid(c0 - slope * z)] = rate with z ~ N(0, 1), by Gauss-Hermite quadrature.

    Solving for it, rather than hard-coding it, keeps the base rate on target when the slope is tuned.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    low, high = -20.0, 20.0
    for _ in range(100):
        mid = (low + high) / 2
        if float(weights @ sigmoid(mid - slope * nodes)) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


BASE_LOGIT = _intercept(TARGET_DEFAULT_RATE, RISK_SLOPE)


def reading(rng: np.random.Generator, z: FloatArray, loading: float) -> FloatArray:
    """A source's noisy, unit-variance view of z: the only way z reaches that source."""
    result: FloatArray = loading * z + np.sqrt(1.0 - loading**2) * rng.standard_normal(z.size)
    return result


def round_to(values: FloatArray, unit: int) -> IntArray:
    """Whole VND rounded to ``unit``, as banks and application forms quote amounts."""
    return (np.rint(values / unit) * unit).astype(np.int64)


def as_of_seconds(as_of: datetime.date) -> np.datetime64:
    """Midnight at the start of ``as_of``: every clean timestamp lies strictly before it."""
    return np.datetime64(as_of, "s")


def timestamps_before(
    rng: np.random.Generator, as_of: datetime.date, n: int, min_days: float, max_days: float
) -> NDArray[np.datetime64]:
    seconds = rng.integers(int(min_days * SECONDS_PER_DAY), int(max_days * SECONDS_PER_DAY), size=n)
    return as_of_seconds(as_of) - seconds.astype("timedelta64[s]")


@dataclass(frozen=True)
class People:
    """What every source may depend on: the latent z and the person's sex and age."""

    z: FloatArray
    female: BoolArray
    age: IntArray
    birth_year: IntArray


def draw_people(rng: np.random.Generator, n: int, as_of: datetime.date) -> People:
    z = rng.standard_normal(n)
    female = rng.random(n) < 0.5
    age = (18 + np.floor(58 * rng.beta(2.2, 3.5, size=n))).astype(np.int64)
    # Whether this year's birthday is still to come decides the birth year for a given age.
    share_of_year_left = 1.0 - as_of.timetuple().tm_yday / 365.25
    birth_year = as_of.year - age - (rng.random(n) < share_of_year_left)
    return People(z=z, female=female, age=age, birth_year=birth_year)


@dataclass(frozen=True)
class Customers:
    """The application-form and bureau fields, the outcome, and the record's timestamp."""

    income: IntArray
    savings: IntArray
    debt: IntArray
    has_dependents: BoolArray
    has_mortgage: BoolArray
    has_savings_account: BoolArray
    has_credit_card: BoolArray
    employment_years: IntArray
    num_past_due_30_59: IntArray
    num_past_due_60_89: IntArray
    num_past_due_90_plus: IntArray
    credit_utilization: FloatArray
    open_credit_lines: IntArray
    num_credit_inquiries_6m: IntArray
    months_since_oldest_account: IntArray
    default_24m: IntArray
    updated_at: NDArray[np.datetime64]


def draw_customers(rng: np.random.Generator, people: People, as_of: datetime.date) -> Customers:
    n, age = people.z.size, people.age
    working_years = (age - 18).astype(np.float64)

    application = reading(rng, people.z, APPLICATION_LOADING)
    mid_career = (age - 45) / 15
    log_income = (
        np.log(MEDIAN_INCOME) + 0.3 * application + 0.45 * rng.standard_normal(n) - 0.2 * mid_career**2 + 0.12
    )
    income = np.maximum(round_to(np.exp(log_income), 100_000), 3_000_000)
    relative_income = np.log(income / MEDIAN_INCOME)

    has_savings_account = rng.random(n) < sigmoid(0.5 + 0.9 * application)
    savings_months = np.exp(np.log(3.0) + 0.8 * application + 0.9 * rng.standard_normal(n))
    savings = round_to(income * savings_months * np.where(has_savings_account, 1.0, 0.2), 100_000)
    has_mortgage = rng.random(n) < sigmoid(-1.8 + 0.05 * (age - 35) + 0.6 * relative_income)
    has_credit_card = rng.random(n) < sigmoid(-0.2 + 0.5 * application + 0.7 * relative_income)
    mortgage = has_mortgage * income * np.exp(np.log(50.0) + 0.5 * rng.standard_normal(n))
    has_consumer_debt = rng.random(n) < sigmoid(0.2 - 0.5 * application)
    consumer = (
        has_consumer_debt * income * np.exp(np.log(4.0) - 0.5 * application + 0.8 * rng.standard_normal(n))
    )
    debt = round_to(mortgage + consumer, 100_000)
    has_dependents = rng.random(n) < sigmoid(-2.2 + 0.09 * working_years)

    bureau = reading(rng, people.z, BUREAU_LOADING)
    employment_years = np.floor(
        working_years * sigmoid(0.4 + 0.6 * bureau + 0.8 * rng.standard_normal(n))
    ).astype(np.int64)
    past_due_30 = rng.poisson(np.exp(-1.3 - 0.9 * bureau))
    past_due_60 = rng.poisson(np.exp(-2.3 - 1.0 * bureau))
    past_due_90 = rng.poisson(np.exp(-3.0 - 1.2 * bureau))
    open_lines = (
        has_credit_card.astype(np.int64) + has_mortgage + has_consumer_debt + rng.poisson(0.8, size=n)
    )
    utilization = 1.5 * sigmoid(-1.2 - 0.8 * bureau + 0.7 * rng.standard_normal(n))
    credit_utilization = np.where(open_lines > 0, np.round(utilization, 4), 0.0)
    inquiries = rng.poisson(np.exp(-0.1 - 0.5 * bureau))
    history_share = sigmoid(0.6 + 0.4 * bureau + rng.standard_normal(n))
    months_since_oldest = np.floor(12 * working_years * history_share).astype(np.int64)

    logit = (
        BASE_LOGIT
        - RISK_SLOPE * people.z
        + DEPENDENTS_EFFECT * (has_dependents - 0.5)
        + AGE_EFFECT * (age - 40)
    )
    default_24m = (rng.random(n) < sigmoid(logit)).astype(np.int64)

    return Customers(
        income=income,
        savings=savings,
        debt=debt,
        has_dependents=has_dependents,
        has_mortgage=has_mortgage,
        has_savings_account=has_savings_account,
        has_credit_card=has_credit_card,
        employment_years=employment_years,
        num_past_due_30_59=past_due_30,
        num_past_due_60_89=past_due_60,
        num_past_due_90_plus=past_due_90,
        credit_utilization=credit_utilization,
        open_credit_lines=open_lines,
        num_credit_inquiries_6m=inquiries,
        months_since_oldest_account=months_since_oldest,
        default_24m=default_24m,
        updated_at=timestamps_before(rng, as_of, n, 1, 365),
    )


@dataclass(frozen=True)
class Social:
    account_age_months: IntArray
    num_connections: IntArray
    posts_per_month: FloatArray
    share_defaulted_connections: FloatArray
    avg_sentiment: FloatArray
    verified_profile: BoolArray
    updated_at: NDArray[np.datetime64]


def draw_social(rng: np.random.Generator, people: People, as_of: datetime.date) -> Social:
    n = people.z.size
    social = reading(rng, people.z, SOCIAL_LOADING)
    # Networks admit members from 13, and the big ones reached Vietnam around 2008: both bound an
    # account's age.
    max_account_age = np.minimum((people.age - 13) * 12, 216)
    account_age = np.exp(np.log(55.0) + 0.15 * social + 0.6 * rng.standard_normal(n))
    connections = np.exp(np.log(250.0) + 0.2 * social + 0.8 * rng.standard_normal(n))
    posts = np.exp(np.log(5.0) - 0.15 * social + 1.0 * rng.standard_normal(n))
    defaulted = sigmoid(-2.9 - 0.6 * social + 0.45 * rng.standard_normal(n))
    sentiment = np.tanh(0.1 + 0.3 * social + 0.35 * rng.standard_normal(n))
    return Social(
        account_age_months=np.clip(np.rint(account_age), 1, max_account_age).astype(np.int64),
        num_connections=np.rint(connections).astype(np.int64),
        posts_per_month=np.round(posts, 2),
        share_defaulted_connections=np.round(defaulted, 4),
        # Adding 0.0 turns -0.0 into 0.0, which would otherwise be written as "-0".
        avg_sentiment=np.round(sentiment, 4) + 0.0,
        verified_profile=rng.random(n) < sigmoid(0.3 + 0.5 * social),
        updated_at=timestamps_before(rng, as_of, n, 1 / 24, 60),
    )
