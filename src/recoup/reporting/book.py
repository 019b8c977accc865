"""Kernels of the report on the lender's book (``recoup report portfolio``): frames in, frames out.

Each one applies a METRICS.md definition through :mod:`recoup.reporting.metrics` (the one place the
definitions are computed) to the day's ``account_daily`` snapshot, its history and the book's installments:

- :func:`breakdown` — loans, borrowers, outstanding principal, overdue amount and share of principal by
  product, bucket or five-category class (五级分类), with a total row (key null);
- :func:`entry_rate_window` — 入催率 over the due dates of a window (Σ unpaid ÷ Σ due, by amount and count);
- :func:`entries` / :func:`cure_rate_window` — M1 出催率 of the accounts that entered collections in the
  window of ``days`` days that closed ``days`` days before the as-of day (so each had its full ``days``);
- :func:`fpd_by_vintage` — 首逾率 FPD7 and FPD30 by disbursement month;
- :func:`roll_rate_report` — the roll-rate matrix with the number of accounts behind each row and a
  ``thin`` flag where that number is below ``min_accounts``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from recoup.portfolio.kernel import summary_by
from recoup.reporting.metrics import cure_rate, entry_rate_series, fpd, roll_rate_matrix

__all__ = [
    "breakdown",
    "cure_rate_window",
    "entries",
    "entry_rate_window",
    "fpd_by_vintage",
    "roll_rate_report",
]

_SUMS = ["loans", "borrowers", "outstanding_principal", "overdue_amount"]


def breakdown(positions: pl.DataFrame, key: str, *, order: str | None = None) -> pl.DataFrame:
    """Balances and counts by ``key`` (sorted by ``order``), then a total row whose ``key`` is null.

    Columns: key, loans, borrowers, outstanding_principal, overdue_amount (Int64 minor units), share
    (Float64: the group's outstanding principal ÷ the book's; null when the book has none). The total's
    borrowers counts each borrower once.
    """
    groups = summary_by(positions, key, order=order)
    groups = groups.select(pl.col(key).cast(pl.String), *(pl.col(c).cast(pl.Int64) for c in _SUMS))
    total = positions.select(
        pl.lit(None, dtype=pl.String).alias(key),
        pl.len().cast(pl.Int64).alias("loans"),
        pl.col("borrower_id").n_unique().cast(pl.Int64).alias("borrowers"),
        pl.col("outstanding_principal").sum().cast(pl.Int64),
        pl.col("overdue_amount").sum().cast(pl.Int64),
    )
    book = int(total.get_column("outstanding_principal")[0] or 0)
    share = (pl.col("outstanding_principal") / book) if book else pl.lit(None)
    return pl.concat([groups, total]).with_columns(share=share.cast(pl.Float64))


def entry_rate_window(
    installments: pl.DataFrame, *, start: dt.date, end: dt.date, grace_days: int = 0, tolerance: int = 100
) -> pl.DataFrame:
    """入催率 over every due date in [start, end]: one row ``start, end, amount_due, amount_unpaid, rate,
    count_due, count_unpaid, count_rate`` (rates null when nothing fell due)."""
    series = entry_rate_series(installments, start=start, end=end, grace_days=grace_days, tolerance=tolerance)
    sums = series.select(
        pl.col("amount_due", "amount_unpaid", "count_due", "count_unpaid").sum().cast(pl.Int64)
    )
    return sums.select(
        pl.lit(start).alias("start"),
        pl.lit(end).alias("end"),
        "amount_due",
        "amount_unpaid",
        rate=_ratio("amount_unpaid", "amount_due"),
        count_due="count_due",
        count_unpaid="count_unpaid",
        count_rate=_ratio("count_unpaid", "count_due"),
    )


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None).cast(pl.Float64)


def entries(daily: pl.DataFrame, *, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Entries into collections between ``start`` and ``end`` from ``account_daily`` history: the rows
    whose ``transition`` is ``entered`` at 1–30 days past due (an M1 entry; on the first day of a book's
    history every loan already late is marked entered, and one long past due is no M1 entry), as
    ``loan_id, allocated_on, entry_balance`` (outstanding principal that day) — the cohort shape
    :func:`recoup.reporting.metrics.cure_rate` takes."""
    return daily.filter(
        (pl.col("transition") == "entered")
        & pl.col("dpd").is_between(1, 30)
        & pl.col("as_of").is_between(pl.lit(start), pl.lit(end))
    ).select(
        "loan_id",
        allocated_on=pl.col("as_of"),
        entry_balance=pl.col("outstanding_principal").cast(pl.Int64),
    )


def cure_rate_window(daily: pl.DataFrame, *, as_of: dt.date, days: int = 30) -> pl.DataFrame:
    """M1 出催率 for the accounts that entered collections in [as_of − 2·days + 1, as_of − days], each
    judged over its first ``days`` days (all inside the history up to ``as_of``). One row: cohort_start,
    cohort_end, loans, cured_loans, balance, cured_balance, rate (null for an empty cohort)."""
    start, end = as_of - dt.timedelta(days=2 * days - 1), as_of - dt.timedelta(days=days)
    cohort = entries(daily, start=start, end=end)
    history = daily.filter(pl.col("as_of") <= as_of)
    return cure_rate(cohort, history, days=days).select(
        pl.lit(start).alias("cohort_start"), pl.lit(end).alias("cohort_end"), pl.all()
    )


def fpd_by_vintage(
    positions: pl.DataFrame, installments: pl.DataFrame, *, as_of: dt.date, tolerance: int = 100
) -> pl.DataFrame:
    """首逾率 FPD7 and FPD30 by vintage (disbursement month) of the loans in ``positions``.

    Columns: vintage, loans, fpd7_observed, fpd7_loans, fpd7_rate, fpd30_observed, fpd30_loans, fpd30_rate.
    """
    loans = positions.select("loan_id", "vintage").unique("loan_id")
    first = installments.join(loans.select("loan_id"), on="loan_id", how="semi")
    out = loans.group_by("vintage").agg(loans=pl.len().cast(pl.Int64))
    for days in (7, 30):
        f = fpd(loans, first, as_of=as_of, days=days, tolerance=tolerance).select(
            "vintage",
            pl.col("loans_observed").alias(f"fpd{days}_observed"),
            pl.col("fpd_loans").alias(f"fpd{days}_loans"),
            pl.col("fpd_rate").alias(f"fpd{days}_rate"),
        )
        out = out.join(f, on="vintage", how="left")
    return out.sort("vintage")


def roll_rate_report(
    start: pl.DataFrame,
    end: pl.DataFrame,
    *,
    weight: Literal["balance", "count"] = "balance",
    min_accounts: int = 30,
) -> pl.DataFrame:
    """:func:`~recoup.reporting.metrics.roll_rate_matrix` (in ``weight``) with ``accounts`` (the number
    of loans behind each row) and ``thin`` (true when fewer than ``min_accounts``)."""
    matrix = roll_rate_matrix(start, end, weight=weight)
    counts = matrix if weight == "count" else roll_rate_matrix(start, end, weight="count")
    return matrix.join(
        counts.select("from_bucket", accounts="base"), on="from_bucket", how="left", maintain_order="left"
    ).with_columns(thin=pl.col("accounts") < min_accounts)
