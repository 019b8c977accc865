"""Compliance and strategy figures for the morning view: counts by contact-policy rule, and the per-account
frame behind the experiment results (:func:`recoup.reporting.arms.arm_results`). Pure Polars kernels.

- A **blocked attempt** is one the contact policy stopped (the dispatcher at send time); an **audit
  violation** is a recorded attempt the independent replay (``recoup policy audit``) would not have
  allowed — DESIGN.md: violations are measured by the replay, never by a counter kept by the sender.
  One attempt can break several rules: it counts once under each rule, and once in the total.
- **Experiment accounts** follow :mod:`recoup.reporting.arms`: the allocation cohort of an experiment is
  every account the strategy decided while the experiment ran, from its first decision in it (entry);
  ``allocated`` is the overdue amount at entry, ``collected`` the cash received from entry on, ``cured``
  (METRICS.md M1 出催率) that the account left collections within 30 days of entry.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from recoup.reporting.metrics import _require

__all__ = ["by_rule", "experiment_accounts"]

#: METRICS.md M1 出催率: fully cured by day 30.
CURE_DAYS = 30


def by_rule(events: pl.DataFrame, *, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Count events per contact-policy rule (and the ``by`` columns).

    ``events``: rules (List[String]; an empty or null list counts under ``(none)``) and the ``by``
    columns, one row per attempt. Columns: rule, the ``by`` columns, count (Int64), share (Float64: of all
    the events given, so shares can add up to more than 1 when an attempt breaks several rules). Sorted
    by count (most first), then rule.
    """
    _require(events.head(0), ["rules", *by], "events")
    total = events.height
    exploded = (
        events.select(*by, rule=pl.col("rules").fill_null([]))
        .with_columns(
            rule=pl.when(pl.col("rule").list.len() > 0).then(pl.col("rule")).otherwise(pl.lit(["(none)"]))
        )
        .explode("rule")
    )
    return (
        exploded.group_by("rule", *by)
        .agg(count=pl.len().cast(pl.Int64))
        .with_columns(share=(pl.col("count") / total if total else pl.lit(None)).cast(pl.Float64))
        .sort(["count", "rule", *by], descending=[True, False, *(False for _ in by)])
    )


def experiment_accounts(
    entries: pl.DataFrame,
    payments: pl.DataFrame,
    exits: pl.DataFrame,
    violations: pl.DataFrame,
    *,
    through: dt.date,
) -> pl.DataFrame:
    """One row per account of the experiment's cohort, as :func:`~recoup.reporting.arms.arm_results` needs.

    ``entries``: loan_id, arm, entry_date (Date), allocated (Int64) — one row per account (its first
    decision in the experiment). ``payments``: loan_id, received_date, amount. ``exits``: loan_id,
    closed_on (Date, null while in collections). ``violations``: loan_id, one row per audit violation.
    A payment counts when ``entry_date <= received_date <= through``; ``cured`` when ``closed_on`` is
    within :data:`CURE_DAYS` of entry. ``cost`` is 0 (recoup records no cost per account yet) and
    ``complaints`` 0 (no complaints register yet). Columns: loan_id, arm, allocated, collected, cost,
    cured, complaints, violations.
    """
    _require(entries, ["loan_id", "arm", "entry_date", "allocated"], "entries", money=["allocated"])
    _require(payments, ["loan_id", "received_date", "amount"], "payments", money=["amount"])
    _require(exits.head(0), ["loan_id", "closed_on"], "exits")
    _require(violations, ["loan_id"], "violations")
    cash = (
        entries.select("loan_id", "entry_date")
        .join(payments.select("loan_id", "received_date", "amount"), on="loan_id", how="inner")
        .filter(pl.col("received_date").is_between(pl.col("entry_date"), pl.lit(through)))
        .group_by("loan_id")
        .agg(collected=pl.col("amount").sum().cast(pl.Int64))
    )
    broke = violations.group_by("loan_id").agg(violations=pl.len().cast(pl.Int64))
    cured = pl.col("closed_on").is_not_null() & (
        pl.col("closed_on") <= pl.col("entry_date").dt.offset_by(f"{CURE_DAYS}d")
    )
    return (
        entries.join(cash, on="loan_id", how="left")
        .join(exits.select("loan_id", "closed_on").unique("loan_id"), on="loan_id", how="left")
        .join(broke, on="loan_id", how="left")
        .with_columns(
            pl.col("collected", "violations").fill_null(0),
            cost=pl.lit(0, pl.Int64),
            complaints=pl.lit(0, pl.Int64),
            cured=cured.fill_null(False),
        )
        .select("loan_id", "arm", "allocated", "collected", "cost", "cured", "complaints", "violations")
    )
