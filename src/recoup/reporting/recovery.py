"""Recovery of the allocation cohort (METRICS.md "Recovery"), for the morning view: cash collected by day,
the M2+ 催回率 daily curve against the same day of the previous period, and recovery by segment against
the source documents' targets (overall 60 %, mild 70 %, severe 40 %; MISSION.md S1).

Pure functions, frames in → frames out, vectorised Polars; money is Int64 minor units, rates Float64 and
null where the denominator is 0. Conventions (choices METRICS.md leaves open):

- **Allocation** = one ``CaseHolding``: a case given to a holder on ``start_date`` with the amount
  allocated (``allocated_amount``); a holding covers ``start_date <= d < end_date`` (``end_date`` null:
  still held), as in the payment-credit rules (回款归属, ``cases/credit.py``).
- **Period** = the calendar month (月初分案 … 月末): the period's cohort is every allocation starting in
  it; a payment counts for an allocation from its start until the earlier of its exit (``end_date``,
  excluded) or the period end. Reversals are negative amounts and count on their own date.
- **Segment targets** (METRICS.md: "recovery rates of the allocation cohort over a stated window"): the
  cohort is each case's first allocation in the cohort window; cash counts from that allocation for
  ``window_days`` days (default 90), whoever holds the case meanwhile (the department's figure).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from recoup.reporting.metrics import MetricsError, _rate, _require

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "RECOVERY_TARGETS",
    "SEGMENT_ORDER",
    "case_segments",
    "collections_by_day",
    "curve_against_previous",
    "recovery_curve",
    "segment_recovery",
]

#: The source documents' recovery targets (MISSION.md S1) by segment; ``overall`` is the whole cohort.
RECOVERY_TARGETS: Mapping[str, float] = {"overall": 0.60, "mild": 0.70, "severe": 0.40}
#: METRICS.md: the targets' window, from allocation.
DEFAULT_WINDOW_DAYS = 90
#: Segments in display order (``scoring/segments.py``); others follow by name, ``overall`` last.
SEGMENT_ORDER = ("mild", "severe", "extremely_severe", "current", "unknown")
OVERALL = "overall"

_DAY = dt.timedelta(days=1)


def _period(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise MetricsError(f"start {start} is after end {end} / 开始日期 {start} 晚于结束日期 {end}")


def _days(start: dt.date, end: dt.date) -> pl.DataFrame:
    return pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})


def collections_by_day(payments: pl.DataFrame, *, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Cash collected on each calendar day of [start, end] and cumulated (the M2+ 催回率 numerator's cash).

    ``payments``: received_date (Date), amount (Int64, reversals negative) — the payments on accounts in
    collections (the caller selects them). Columns: date, amount, cumulative (Int64; 0 on days with none).
    """
    _period(start, end)
    _require(payments, ["received_date", "amount"], "payments", money=["amount"])
    cash = (
        payments.filter(pl.col("received_date").is_between(start, end))
        .group_by(pl.col("received_date").alias("date"))
        .agg(pl.col("amount").sum().cast(pl.Int64))
    )
    return (
        _days(start, end)
        .join(cash, on="date", how="left")
        .with_columns(pl.col("amount").fill_null(0))
        .with_columns(cumulative=pl.col("amount").cum_sum().cast(pl.Int64))
    )


def recovery_curve(
    holdings: pl.DataFrame, payments: pl.DataFrame, *, start: dt.date, end: dt.date, through: dt.date
) -> pl.DataFrame:
    """METRICS.md M2+ 催回率 of the period [start, end]'s allocation cohort, day by day up to ``through``.

    ``holdings``: case_id, start_date, end_date (Date, null = still held), allocated_amount (Int64).
    ``payments``: case_id, received_date, amount. On day d (1 = ``start``): ``allocated`` = Σ allocated
    of the allocations started by d; ``collected`` = cash received by d within those allocations (from
    the start until the earlier of exit or the period end); ``rate`` = collected ÷ allocated. Columns: day
    (Int64), date, allocated, collected (Int64), rate (Float64). No rows when ``through`` < ``start``.
    """
    _period(start, end)
    _require(holdings, ["case_id", "start_date", "allocated_amount"], "holdings", money=["allocated_amount"])
    _require(payments, ["case_id", "received_date", "amount"], "payments", money=["amount"])
    last = min(end, through)
    if last < start:
        return pl.DataFrame(
            schema={
                "day": pl.Int64,
                "date": pl.Date,
                "allocated": pl.Int64,
                "collected": pl.Int64,
                "rate": pl.Float64,
            }
        )
    cohort = holdings.filter(pl.col("start_date").is_between(start, last)).with_row_index("_h")
    ends = pl.col("end_date").is_null() | (pl.col("received_date") < pl.col("end_date"))
    cash = (
        cohort.select("_h", "case_id", "start_date", "end_date")
        .join(payments.select("case_id", "received_date", "amount"), on="case_id", how="inner")
        .filter(pl.col("received_date").is_between(pl.col("start_date"), pl.lit(last)) & ends)
        .group_by(pl.col("received_date").alias("date"))
        .agg(cash=pl.col("amount").sum().cast(pl.Int64))
    )
    alloc = cohort.group_by(pl.col("start_date").alias("date")).agg(
        added=pl.col("allocated_amount").sum().cast(pl.Int64)
    )
    return (
        _days(start, last)
        .join(cash, on="date", how="left")
        .join(alloc, on="date", how="left")
        .with_columns(pl.col("cash", "added").fill_null(0))
        .with_columns(
            day=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
            allocated=pl.col("added").cum_sum().cast(pl.Int64),
            collected=pl.col("cash").cum_sum().cast(pl.Int64),
        )
        .with_columns(rate=_rate("collected", "allocated"))
        .select("day", "date", "allocated", "collected", "rate")
    )


def curve_against_previous(current: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Two :func:`recovery_curve` frames side by side on the same day of the period.

    Columns: day, date, rate, collected, allocated (this period; null past its last day) and prev_date,
    prev_rate, prev_collected, prev_allocated (the previous period; null past its last day), and
    ``change`` = rate − prev_rate. One row per day of either period.
    """
    cols = ["day", "date", "rate", "collected", "allocated"]
    for frame, what in ((current, "current curve"), (previous, "previous curve")):
        _require(frame.head(0), cols, what)
    prev = previous.select(cols).rename({c: f"prev_{c}" for c in cols if c != "day"})
    return (
        current.select(cols)
        .join(prev, on="day", how="full", coalesce=True)
        .sort("day")
        .with_columns(change=pl.col("rate") - pl.col("prev_rate"))
    )


def case_segments(cohort: pl.DataFrame, accounts: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """Each allocation's segment: the strategy's segment of the case's largest account at allocation.

    ``cohort``: case_id, start_date. ``accounts``: case_id, loan_id (the case's accounts). ``decisions``:
    as_of, loan_id, segment, overdue_amount (the cycle's ``out/decisions``). For each loan the latest
    decision on or before ``start_date`` counts; the case takes the segment of its loan with the largest
    overdue amount then (ties: smallest loan_id), else ``unknown``. Returns ``cohort`` with ``segment``.
    """
    _require(cohort.head(0), ["case_id", "start_date"], "cohort")
    _require(accounts, ["case_id", "loan_id"], "accounts")
    _require(decisions.head(0), ["as_of", "loan_id", "segment", "overdue_amount"], "decisions")
    keys = cohort.select("case_id", "start_date").unique()
    per_loan = (
        keys.join(accounts.select("case_id", "loan_id"), on="case_id", how="inner")
        .sort("start_date")
        .join_asof(
            decisions.select("as_of", "loan_id", "segment", "overdue_amount").sort("as_of"),
            left_on="start_date",
            right_on="as_of",
            by="loan_id",
            strategy="backward",
            check_sortedness=False,  # sorted by the key; polars cannot check it within groups
        )
        .filter(pl.col("segment").is_not_null())
        .sort(["case_id", "start_date", "overdue_amount", "loan_id"], descending=[False, False, True, False])
        .group_by("case_id", "start_date", maintain_order=True)
        .agg(pl.col("segment").first())
    )
    return cohort.join(per_loan, on=["case_id", "start_date"], how="left").with_columns(
        pl.col("segment").fill_null("unknown")
    )


def segment_recovery(
    cohort: pl.DataFrame,
    payments: pl.DataFrame,
    *,
    through: dt.date,
    window_days: int = DEFAULT_WINDOW_DAYS,
    targets: Mapping[str, float] = RECOVERY_TARGETS,
) -> pl.DataFrame:
    """METRICS.md recovery of the allocation cohort by segment over ``window_days`` from allocation,
    against ``targets`` (default the source documents' 60 / 70 / 40 %).

    ``cohort``: case_id, segment, start_date, allocated_amount — one row per allocation (the caller picks
    the cohort). ``payments``: case_id, received_date, amount; a payment counts when ``start_date <=
    received_date < start_date + window_days`` and ``received_date <= through``. Columns: segment,
    cases, allocated, collected (Int64), rate, target (Float64, null without one), gap = rate − target,
    days_elapsed (Int64: mean days of the window elapsed by ``through``). One row per segment
    (:data:`SEGMENT_ORDER` first, then by name), then the ``overall`` row from the pooled sums.
    """
    if window_days < 1:
        raise MetricsError("window_days must be at least 1 / 回收窗口至少 1 天")
    _require(
        cohort,
        ["case_id", "segment", "start_date", "allocated_amount"],
        "cohort",
        money=["allocated_amount"],
    )
    _require(payments, ["case_id", "received_date", "amount"], "payments", money=["amount"])
    alloc = cohort.with_row_index("_a")
    window_end = pl.col("start_date").dt.offset_by(f"{window_days}d")
    cash = (
        alloc.select("_a", "case_id", "start_date")
        .join(payments.select("case_id", "received_date", "amount"), on="case_id", how="inner")
        .filter(
            (pl.col("received_date") >= pl.col("start_date"))
            & (pl.col("received_date") < window_end)
            & (pl.col("received_date") <= pl.lit(through))
        )
        .group_by("_a")
        .agg(cash=pl.col("amount").sum().cast(pl.Int64))
    )
    elapsed = pl.min_horizontal(
        (pl.lit(through) - pl.col("start_date")).dt.total_days() + 1, pl.lit(window_days)
    ).clip(lower_bound=0)
    rows = alloc.join(cash, on="_a", how="left").with_columns(pl.col("cash").fill_null(0), _elapsed=elapsed)
    aggs = [
        pl.len().cast(pl.Int64).alias("cases"),
        pl.col("allocated_amount").sum().cast(pl.Int64).alias("allocated"),
        pl.col("cash").sum().cast(pl.Int64).alias("collected"),
        pl.col("_elapsed").mean().round(0).cast(pl.Int64).alias("days_elapsed"),
    ]
    order = {s: i for i, s in enumerate(SEGMENT_ORDER)}
    by_segment = (
        rows.group_by("segment")
        .agg(aggs)
        .sort(pl.col("segment").replace_strict(order, default=len(order), return_dtype=pl.Int64), "segment")
    )
    overall = rows.select(pl.lit(OVERALL).alias("segment"), *aggs)
    target = pl.col("segment").replace_strict(dict(targets), default=None, return_dtype=pl.Float64)
    return (
        pl.concat([by_segment, overall.select(by_segment.columns)], how="vertical")
        .with_columns(rate=_rate("collected", "allocated"), target=target)
        .with_columns(gap=pl.col("rate") - pl.col("target"))
        .select("segment", "cases", "allocated", "collected", "rate", "target", "gap", "days_elapsed")
    )
