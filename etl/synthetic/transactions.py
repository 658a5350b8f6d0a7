"""Account activity: each customer's salary, other credits, bills and spending over the trailing months.

All events of a chunk are drawn as flat arrays (one entry per transaction), then sorted by customer and
time; the running balance is one cumulative sum with a per-customer offset.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from etl.sources import CREDIT_CATEGORIES, DEBIT_CATEGORIES, DIRECTIONS, TRANSACTIONS
from etl.synthetic.ids import Purpose, fixed_width, permute, weighted_choice
from etl.synthetic.latent import (
    SECONDS_PER_DAY,
    TRANSACTIONS_LOADING,
    BoolArray,
    Customers,
    FloatArray,
    IntArray,
    People,
    reading,
    round_to,
    sigmoid,
)

_CATEGORIES = CREDIT_CATEGORIES + DEBIT_CATEGORIES
_CODE = {name: code for code, name in enumerate(_CATEGORIES)}

# Everyday spending: (category, share of debits, median amount in VND before the per-customer scaling).
# Rent, utilities and loan repayments are bills instead: one a month, of a steady amount.
_EVERYDAY: tuple[tuple[str, float, int], ...] = (
    ("groceries", 0.30, 250_000),
    ("dining", 0.18, 150_000),
    ("transport", 0.15, 80_000),
    ("shopping", 0.13, 600_000),
    ("healthcare", 0.05, 500_000),
    ("education", 0.03, 2_000_000),
    ("entertainment", 0.07, 300_000),
    ("transfer_out", 0.09, 1_500_000),
)
# Spending that signals distress; its share of a customer's debits rises as creditworthiness falls.
_RISKY: tuple[tuple[str, float, int], ...] = (
    ("gambling", 0.5, 500_000),
    ("cash_advance", 0.5, 2_000_000),
)
_AMOUNT_SIGMA = 0.45


def _lognormal_mean(sigma: float) -> float:
    return float(np.exp(sigma**2 / 2))


def _spec(spec: tuple[tuple[str, float, int], ...]) -> tuple[IntArray, FloatArray, FloatArray, float]:
    """Codes, shares and medians of a spending table, and the mean amount of one of its debits."""
    codes = np.array([_CODE[name] for name, _, _ in spec], dtype=np.int64)
    shares = np.array([share for _, share, _ in spec])
    medians = np.array([median for _, _, median in spec], dtype=np.float64)
    mean = float(shares @ medians / shares.sum()) * _lognormal_mean(_AMOUNT_SIGMA)
    return codes, shares, medians, mean


_EVERYDAY_CODES, _EVERYDAY_SHARES, _EVERYDAY_MEDIANS, _EVERYDAY_MEAN = _spec(_EVERYDAY)
_RISKY_CODES, _RISKY_SHARES, _RISKY_MEDIANS, _RISKY_MEAN = _spec(_RISKY)
_MEDIAN_BY_CODE = np.zeros(len(_CATEGORIES))
_MEDIAN_BY_CODE[_EVERYDAY_CODES] = _EVERYDAY_MEDIANS
_MEDIAN_BY_CODE[_RISKY_CODES] = _RISKY_MEDIANS

# Clean transaction IDs number rows from 0; dirty rows count from here, so the two never meet.
DIRTY_ID_OFFSET = 1 << 47
_ID_SPACE = 1 << 48


def transaction_ids(first: int, count: int, seed: int) -> pa.Array:
    """``t`` and 12 hex digits: a keyed permutation of the row counter, unique without bookkeeping."""
    counter = np.arange(first, first + count, dtype=np.int64)
    return fixed_width(permute(counter, _ID_SPACE, (seed, Purpose.TRANSACTION_ID)), 12, 16, b"t")


def _shift_months(day: datetime.date, months: int) -> datetime.date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    month = month0 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Months:
    """The trailing months as epoch-second bounds, oldest first, the last one ending at as_of.

    They are calendar months counted back from as_of, so each is 28 to 31 days long.
    """

    starts: IntArray
    ends: IntArray

    @classmethod
    def trailing(cls, as_of: datetime.date, months: int) -> Months:
        bounds = [_shift_months(as_of, k) for k in range(months, -1, -1)]
        seconds = np.array([np.datetime64(b, "s").astype(np.int64) for b in bounds], dtype=np.int64)
        return cls(starts=seconds[:-1], ends=seconds[1:])

    @property
    def count(self) -> int:
        return int(self.starts.size)

    def uniform(self, rng: np.random.Generator, month: IntArray) -> IntArray:
        """A time anywhere in each given month."""
        length = self.ends[month] - self.starts[month]
        result: IntArray = self.starts[month] + np.floor(rng.random(month.size) * length).astype(np.int64)
        return result

    def on_day(
        self, rng: np.random.Generator, month: IntArray, day: IntArray, hours: tuple[int, int]
    ) -> IntArray:
        """A time on a given day (0-based, below 28) of each month, between the given hours."""
        seconds = rng.integers(hours[0] * 3600, hours[1] * 3600, size=month.size)
        result: IntArray = self.starts[month] + day * SECONDS_PER_DAY + seconds
        return result


def _cells(counts: IntArray) -> tuple[IntArray, IntArray]:
    """Customer and month of each event, from a (customers, months) grid of event counts."""
    n, months = counts.shape
    cell = np.repeat(np.arange(n * months, dtype=np.int64), counts.ravel())
    return cell // months, cell % months


@dataclass(frozen=True)
class _Events:
    customer: IntArray
    time: IntArray
    amount: IntArray
    code: IntArray

    @classmethod
    def of(cls, customer: IntArray, time: IntArray, amount: IntArray, code: int | IntArray) -> _Events:
        return cls(customer, time, amount, np.broadcast_to(np.asarray(code, dtype=np.int64), customer.shape))


def _salaries(
    rng: np.random.Generator,
    months: Months,
    activity: FloatArray,
    income: FloatArray,
    salaried: BoolArray,
    last_paid_month: IntArray,
) -> tuple[_Events, FloatArray]:
    """Salary on a fixed day of the month, sometimes late or missing, more so for weak customers.

    Returns the events and each customer's expected monthly salary.
    """
    n = income.size
    net_salary = round_to(income * rng.uniform(0.88, 0.97, size=n), 1_000)
    pay_day = rng.integers(0, 21, size=n)
    p_missing = sigmoid(-3.8 - 1.2 * activity)
    p_late = sigmoid(-2.2 - 0.9 * activity)
    u = rng.random((n, months.count))
    month_index = np.arange(months.count)[None, :]
    paid = salaried[:, None] & (u >= p_missing[:, None]) & (month_index < last_paid_month[:, None])
    late = u < (p_missing + p_late)[:, None]
    customer, month = np.nonzero(paid)
    delay = np.where(late[customer, month], rng.integers(2, 8, size=customer.size), 0)
    time = months.on_day(rng, month, pay_day[customer] + delay, (7, 11))
    expected: FloatArray = salaried * net_salary * (1 - p_missing)
    return _Events.of(customer, time, net_salary[customer], _CODE["salary"]), expected


def _transfers_in(
    rng: np.random.Generator, months: Months, income: FloatArray, salaried: BoolArray
) -> tuple[_Events, FloatArray]:
    """Occasional transfers for the salaried; the main income of everyone else (the self-employed).

    Returns the events and each customer's monthly average of what they actually received: people whose
    income comes irregularly spend what comes in, not what might.
    """
    n = income.size
    rate = np.where(salaried, 0.5, 2.5)
    median = income * np.where(salaried, 0.15, 0.35)
    customer, month = _cells(rng.poisson(rate[:, None], size=(n, months.count)))
    noise = np.exp(0.5 * rng.standard_normal(customer.size))
    amount = np.maximum(round_to(median[customer] * noise, 1_000), 1_000)
    received: FloatArray = np.bincount(customer, weights=amount, minlength=n) / months.count
    return _Events.of(customer, months.uniform(rng, month), amount, _CODE["transfer_in"]), received


def _bills(
    rng: np.random.Generator, months: Months, activity: FloatArray, income: FloatArray, customer: Customers
) -> tuple[_Events, FloatArray]:
    """Rent (for some of those without a mortgage), utilities, and loan repayments for those with debt.

    Weak customers skip repayments more often. Returns the events and each customer's expected monthly
    bills.
    """
    n = income.size
    grid = np.ones((n, months.count), dtype=bool)
    renter = ~customer.has_mortgage & (rng.random(n) < 0.45)
    rent = round_to(income * rng.uniform(0.15, 0.3, size=n), 100_000)
    utilities = income * rng.uniform(0.03, 0.06, size=n)
    # Roughly an annuity: a 20-year mortgage costs ~1 % of the balance a month, a consumer loan more;
    # lenders cap repayments at about half the income.
    repayment = np.minimum(
        round_to(customer.debt.astype(np.float64) * 0.012, 1_000), round_to(income * 0.45, 1_000)
    )
    p_skip = sigmoid(-3.5 - 1.1 * activity)
    repays = (repayment > 0)[:, None] & (rng.random((n, months.count)) >= p_skip[:, None])

    rent_customer, rent_month = np.nonzero(renter[:, None] & grid)
    utility_customer, utility_month = np.nonzero(grid)
    loan_customer, loan_month = np.nonzero(repays)
    utility_amount = round_to(
        utilities[utility_customer] * np.exp(0.15 * rng.standard_normal(utility_customer.size)), 1_000
    )
    events = [
        _Events.of(
            rent_customer,
            months.on_day(rng, rent_month, rng.integers(0, 5, size=rent_customer.size), (8, 20)),
            rent[rent_customer],
            _CODE["rent"],
        ),
        _Events.of(
            utility_customer,
            months.on_day(rng, utility_month, rng.integers(5, 16, size=utility_customer.size), (8, 22)),
            np.maximum(utility_amount, 1_000),
            _CODE["utilities"],
        ),
        _Events.of(
            loan_customer,
            months.on_day(rng, loan_month, rng.integers(10, 26, size=loan_customer.size), (8, 17)),
            repayment[loan_customer],
            _CODE["loan_repayment"],
        ),
    ]
    expected: FloatArray = renter * rent + utilities * _lognormal_mean(0.15) + repayment * (1 - p_skip)
    return _concat(events), expected


def _spending(
    rng: np.random.Generator,
    months: Months,
    activity: FloatArray,
    budget: FloatArray,
    last_paid_month: IntArray,
) -> _Events:
    """Everyday debits, plus gambling and cash advances whose share rises as the reading falls.

    Amounts are scaled so that each customer's expected monthly spending meets their budget.
    """
    n = budget.size
    rate = np.exp(np.log(4.3) + 0.3 * rng.standard_normal(n))
    p_risky = sigmoid(-3.4 - 1.1 * activity + 0.3 * rng.standard_normal(n))
    customer, month = _cells(rng.poisson(rate[:, None], size=(n, months.count)))
    risky = rng.random(customer.size) < p_risky[customer]
    code = np.where(
        risky,
        _RISKY_CODES[weighted_choice(rng.random(customer.size), _RISKY_SHARES)],
        _EVERYDAY_CODES[weighted_choice(rng.random(customer.size), _EVERYDAY_SHARES)],
    )
    expected_raw = rate * ((1 - p_risky) * _EVERYDAY_MEAN + p_risky * _RISKY_MEAN)
    scale = budget / expected_raw
    raw = _MEDIAN_BY_CODE[code] * np.exp(_AMOUNT_SIGMA * rng.standard_normal(customer.size))
    # Someone who has lost their job cuts spending, though not to nothing.
    cut_back = np.where(month >= last_paid_month[customer], 0.5, 1.0)
    amount = np.maximum(round_to(raw * scale[customer] * cut_back, 1_000), 1_000)
    return _Events.of(customer, months.uniform(rng, month), amount, code)


def _concat(parts: list[_Events]) -> _Events:
    return _Events(
        customer=np.concatenate([p.customer for p in parts]),
        time=np.concatenate([p.time for p in parts]),
        amount=np.concatenate([p.amount for p in parts]),
        code=np.concatenate([p.code for p in parts]),
    )


def draw_transactions(
    rng: np.random.Generator,
    people: People,
    customer: Customers,
    national_id: pa.Array,
    months: int,
    as_of: datetime.date,
    first_row: int,
    seed: int,
) -> pa.Table:
    """The transactions of one chunk of customers, ordered by customer then time."""
    n = people.z.size
    window = Months.trailing(as_of, months)
    activity = reading(rng, people.z, TRANSACTIONS_LOADING)
    income = customer.income.astype(np.float64)

    salaried = rng.random(n) < sigmoid(1.2 + 0.5 * activity)
    # Some weak customers lose their job part-way through and are paid no more.
    job_lost = rng.random(n) < sigmoid(-3.8 - 1.0 * activity)
    last_paid_month = np.where(job_lost, rng.integers(0, months, size=n), months)
    salary, salary_inflow = _salaries(rng, window, activity, income, salaried, last_paid_month)
    transfers, transfer_inflow = _transfers_in(rng, window, income, salaried)
    bills, bills_outflow = _bills(rng, window, activity, income, customer)
    # Each customer spends a share of the inflow they can expect: weak customers spend more than comes
    # in, so their balance drifts down and into overdraft.
    inflow = salary_inflow + transfer_inflow
    spend_ratio = np.exp(np.log(0.9) - 0.08 * activity + 0.04 * rng.standard_normal(n))
    budget = np.maximum(spend_ratio * inflow - bills_outflow, 0.2 * inflow)
    spending = _spending(rng, window, activity, budget, last_paid_month)
    opening = round_to(
        0.5 * customer.savings * rng.uniform(0.5, 1.5, size=n) + income * rng.uniform(0.5, 1.5, size=n), 1_000
    )

    events = _concat([salary, transfers, bills, spending])
    order = np.lexsort((events.time, events.customer))
    who, amount, code = events.customer[order], events.amount[order], events.code[order]
    credit: BoolArray = code < len(CREDIT_CATEGORIES)
    running = np.cumsum(np.where(credit, amount, -amount))
    per_customer = np.bincount(who, minlength=n)
    before_customer = np.concatenate([[0], running])[np.cumsum(per_customer) - per_customer]
    balance = opening[who] + running - before_customer[who]

    columns = {
        "transaction_id": transaction_ids(first_row, who.size, seed),
        "national_id": national_id.take(pa.array(who)),
        "timestamp": pa.array(events.time[order].astype("datetime64[s]")),
        "amount": pa.array(amount),
        "direction": pa.DictionaryArray.from_arrays(
            pa.array((~credit).astype(np.int8)), pa.array(DIRECTIONS, type=pa.string())
        ),
        "category": pa.DictionaryArray.from_arrays(
            pa.array(code.astype(np.int8)), pa.array(_CATEGORIES, type=pa.string())
        ),
        "balance_after": pa.array(balance),
    }
    return pa.table([columns[name] for name in TRANSACTIONS.columns], names=list(TRANSACTIONS.columns))
