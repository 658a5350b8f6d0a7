"""Seeded synthetic bank data: customers, their transactions and their social signals, with known risk.

No public data set joins an application form, a credit bureau, a bank account and a social profile, so
the platform's default data comes from this generator. It writes the three raw sources of
``etl.sources`` (``customers.csv``, ``transactions.csv``, ``social.csv``), a ledger of the dirty rows it
planted (``_dirty_rows.csv``) and the run's metadata and file hashes (``_generation.json``)::

    from etl.synthetic import generate
    summary = generate(Path("data/raw"), customers=100_000, seed=7)

The same arguments give byte-identical files on any machine and any day: the reference date ``as_of``
is an argument (default 2026-09-30), never today.

The generative process
----------------------
Every customer has a hidden creditworthiness ``z ~ N(0, 1)``. Nothing is written from ``z`` directly.
Each source sees it through its own noisy *reading*, ``r = a * z + sqrt(1 - a^2) * e`` with fresh
standard-normal noise ``e`` per source, and turns that reading into fields through monotone but noisy
links (log-normal amounts, Poisson counts, logistic probabilities). The loadings ``a`` are 0.6 for the
application form, 0.7 for the credit bureau, 0.6 for the transactions and 0.55 for the social profile,
so each source carries real but partial signal and combining them helps.

*Customers.* Age is 18 to 75 (a scaled Beta distribution, mean about 40); sex is a coin flip. Monthly
income is log-normal around 12 million VND, rising with the application reading and peaking in mid
career. Savings (an outstanding balance) are a log-normal number of months of income, much lower for
those without a savings account; debt is a mortgage (about 50 months of income, for a minority that
grows with age and income) plus consumer debt that is likelier and larger for weak readings. Whether
one has a savings account or a credit card follows the reading and income; dependents follow age.
Bureau history follows the bureau reading: past-due counts at 30-59, 60-89 and 90+ days are Poisson
with rates that fall as the reading rises, credit utilisation (0 to 1.5) and recent inquiries rise as
it falls, and employment years and the age of the oldest account are shares of the working life that
grow with it.

*The outcome.* ``default_24m ~ Bernoulli(sigmoid(c0 - 2.0 z + 0.2 (dependents - 0.5) - 0.015 (age - 40)))``.
``c0`` is solved by quadrature so that the base rate is 7.5 %. The label depends on ``z`` itself, not on
any reading, so no written column is a copy of it.

*Transactions.* For each of the ``months`` calendar months before ``as_of``: the salaried (most
customers, more of the strong) are paid a net salary on a fixed day, which for weak readings is more
often a few days late or missing, and a few weak customers lose their job part-way and are paid no
more; everyone else lives on irregular incoming transfers. Bills come once a month: rent for some of
those without a mortgage, utilities for all, and loan repayments (about 1.2 % of the debt, capped at
45 % of income) for those with debt, skipped more often by weak customers. Everyday debits
(groceries, dining, transport, shopping, healthcare, education, entertainment, transfers out) are
Poisson in number, about 4.5 a month, with log-normal amounts; gambling and cash advances take a
share of them that rises as the reading falls. Each customer spends a share of what they can expect
to receive, about 90 % for an average reading and more than all of it for the weakest, so weak balances
drift down. The running balance starts from an opening balance tied to savings and income and may go
negative (an overdraft), which happens more often to weak customers. About 8 transactions a
customer-month in all.

*Social.* Account age, connections and posting rate vary mostly by chance; the share of connections
who have defaulted falls, and the average sentiment and the chance of a verified profile rise, with
the social reading.

*Identities.* Vietnamese names with realistic family-name frequencies and gendered middle and given
names; 12-digit CCCD numbers (province code, a gender-and-century digit consistent with the person,
the two-digit birth year, six more digits); email addresses folded to ASCII from the name plus a
number; mobile numbers on real carrier prefixes. The identifiers are keyed permutations of the
customer's index, so they are unique by construction.

Dirty rows
----------
``dirty_share`` adds that share of extra, bad rows to each source, at random positions among the clean
ones, drawn from a random stream of their own so the clean rows do not change with it. Their kinds are
``etl.sources.DIRTY_KINDS``: malformed IDs, negative or non-numeric amounts, impossible ages, future
dates, unknown customers, duplicates (an older version of a customer or social row placed after the
current one; an exact copy of a transaction) and broken quoting (a field that opens a quote and never
closes it). Each is listed in ``_dirty_rows.csv`` with its 1-based line number (the header is line 1),
the key written in it (national_id, or transaction_id for transactions) and its kind.

Generation streams through fixed chunks of customers, each with its own random streams spawned from
``numpy.random.SeedSequence(seed)``, so memory stays bounded whatever the number of customers.
"""

from etl.synthetic.generator import DEFAULT_AS_OF, GenerationSummary, generate

__all__ = ["DEFAULT_AS_OF", "GenerationSummary", "generate"]
