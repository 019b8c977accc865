"""Collector KPIs (contact, coverage, promises, recovery, complaints, QA) and collections per head by
bucket, as defined in ``METRICS.md`` (split from :mod:`recoup.reporting.metrics_people`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from recoup.reporting.metrics import BUCKET_ORDER, MetricsError, _rate
from recoup.reporting.metrics_people_checks import (
    BP,
    JUDGED_STATUSES,
    KPI_COLUMNS,
    MAJOR_SEVERITIES,
    NOT_ATTEMPTS,
    PROMISE_STATUSES,
    SUMS,
    by_keys,
    check_frame,
    check_not_negative,
    check_period,
    check_unique,
    fte_check,
    in_period,
    missing_fte,
    per_head,
    same_key_types,
    typed_frame,
)

__all__ = ["collections_per_head_by_bucket", "collector_kpis"]

# ---------------------------------------------------------------------------------------- collector KPIs


def collector_kpis(
    attempts: pl.DataFrame,
    promises: pl.DataFrame,
    held: pl.DataFrame,
    credited: pl.DataFrame,
    complaints: pl.DataFrame,
    qa_findings: pl.DataFrame,
    *,
    start: date,
    end: date,
    by: Sequence[str] = ("collector_id",),
    fte: pl.DataFrame | None = None,
    with_total: bool = True,
) -> pl.DataFrame:
    """METRICS.md contact, promise, recovery and people metrics per group over the period [start, end].

    Every frame carries ``collector_id`` and the ``by`` columns (same types everywhere, no nulls) besides:

    - ``attempts``: case_id, at_date (Date), channel (Str), right_party (Bool: debtor or guarantor
      reached), blocked (Bool: stopped by the contact policy); ``outcome`` may be present and is not used.
    - ``promises``: promise_id (unique), made_on, due_date (Date), status (one of
      :data:`PROMISE_STATUSES`, judged as of end + 1 day), amount (Int64 > 0), kept_amount (Int64 ≥ 0).
    - ``held``: case_id, allocated_amount (Int64 ≥ 0, the amount allocated at allocation) — the cases held
      in the period, one row per holder and case.
    - ``credited``: amount (Int64), received_date (Date) — collections credited to the collector under
      the payment-credit rules (回款归属); ``bucket`` is used by :func:`collections_per_head_by_bucket`.
    - ``complaints``: received_on (Date); ``case_id`` is informational.
    - ``qa_findings``: severity (Str); when a ``found_on`` Date column is present only findings in the
      period count, otherwise every row counts.
    - ``fte`` (optional): ``fte`` (Float64 ≥ 0) per collector_id and ``by`` columns; every collector in
      the inputs needs a row. When absent every collector counts 1.0.

    Columns: the ``by`` columns, then :data:`KPI_COLUMNS` — counts and amounts Int64 (0 where a group has
    none), ``fte`` Float64, ``collections_per_head`` Int64 (null when the FTE is 0), rates Float64 (null
    when the denominator is 0): ``rpc_rate`` = rpc ÷ attempts, ``coverage`` = cases_covered ÷ cases_held,
    ``promise_rate`` = promises_made ÷ rpc, ``kept_rate`` = promises_kept ÷ promises_due,
    ``kept_rate_amount`` = kept_amount_due ÷ promised_amount_due, ``recovery_rate`` = collected ÷
    allocated_amount, ``complaints_per_10k`` = complaints ÷ cases_held × 10,000. Sorted by ``by``; with
    ``with_total`` a last row with every ``by`` column null holds the pooled figures. The module docstring
    lists the definitional choices.
    """
    keys, members = by_keys(by)
    check_period(start, end)
    frames = {
        "attempts": (attempts, ("attempts", "催收记录"), ["case_id", "channel", "right_party", "blocked"]),
        "promises": (
            promises,
            ("promises", "承诺还款表"),
            ["promise_id", "status", "amount", "kept_amount"],
        ),
        "held": (held, ("held cases", "在手案件表"), ["case_id", "allocated_amount"]),
        "credited": (credited, ("credited collections", "回款归属表"), ["amount"]),
        "complaints": (complaints, ("complaints", "投诉表"), []),
        "qa_findings": (qa_findings, ("QA findings", "质检结果表"), ["severity"]),
    }
    dated = {
        "attempts": ["at_date"],
        "promises": ["made_on", "due_date"],
        "credited": ["received_date"],
        "complaints": ["received_on"],
        "qa_findings": ["found_on"] if "found_on" in qa_findings.columns else [],
    }
    money = {
        "promises": ["amount", "kept_amount"],
        "held": ["allocated_amount"],
        "credited": ["amount"],
    }
    for name, (frame, what, cols) in frames.items():
        check_frame(frame, [*members, *cols, *dated.get(name, [])], what, money=money.get(name, ()))
        typed_frame(frame, dated.get(name, []), pl.Date, what)
    typed_frame(attempts, ["right_party", "blocked"], pl.Boolean, frames["attempts"][1])
    if fte is not None:
        fte_check(fte, members)
    keyed = [(frame, what[0]) for frame, what, _ in frames.values()]
    same_key_types([*keyed, *([(fte, "fte")] if fte is not None else [])], members)
    same_key_types(
        [(attempts, "attempts"), (held, "held cases")],
        ["case_id"],
    )
    check_unique(held, [*members, "case_id"], frames["held"][1])
    check_unique(promises, ["promise_id"], frames["promises"][1])
    check_not_negative(held, ["allocated_amount"], frames["held"][1])
    check_not_negative(promises, ["kept_amount"], frames["promises"][1])
    if promises.filter(pl.col("amount") <= 0).height:
        raise MetricsError(
            "promises: amount must be positive / 承诺还款表的 amount 必须大于 0",
            details={"columns": ["amount"]},
        )
    bad_status = promises.filter(~pl.col("status").is_in(PROMISE_STATUSES))["status"].unique().sort()
    if bad_status.len():
        raise MetricsError(
            f"promises have unknown status(es) {bad_status.to_list()}; expected one of "
            f"{list(PROMISE_STATUSES)} / 承诺还款表中有未知状态 {bad_status.to_list()}",
            details={"statuses": bad_status.to_list()},
        )

    def count(expr: pl.Expr) -> pl.Expr:
        return expr.sum().cast(pl.Int64)

    # contact
    tried = attempts.filter(in_period("at_date", start, end) & ~pl.col("channel").is_in(NOT_ATTEMPTS))
    reached = ~pl.col("blocked")
    contact = tried.group_by(keys).agg(
        attempts=count(reached),
        blocked_attempts=count(pl.col("blocked")),
        rpc=count(pl.col("right_party") & reached),
    )
    touched = tried.filter(reached).select(*members, "case_id").unique().with_columns(_hit=pl.lit(True))
    holding = (
        held.select(*members, "case_id", "allocated_amount")
        .join(touched, on=[*members, "case_id"], how="left")
        .group_by(keys)
        .agg(
            cases_held=pl.len().cast(pl.Int64),
            cases_covered=count(pl.col("_hit").fill_null(False)),
            allocated_amount=count(pl.col("allocated_amount")),
        )
    )
    # promises
    made = (
        promises.filter(in_period("made_on", start, end) & (pl.col("status") != "not_counted"))
        .group_by(keys)
        .agg(promises_made=pl.len().cast(pl.Int64))
    )
    due = (
        promises.filter(in_period("due_date", start, end) & pl.col("status").is_in(JUDGED_STATUSES))
        .group_by(keys)
        .agg(
            promises_due=pl.len().cast(pl.Int64),
            promises_kept=count(pl.col("status") == "kept"),
            promised_amount_due=count(pl.col("amount")),
            kept_amount_due=count(pl.min_horizontal("kept_amount", "amount")),
        )
    )
    # money, complaints, quality
    collected = (
        credited.filter(in_period("received_date", start, end))
        .group_by(keys)
        .agg(collected=count(pl.col("amount")))
    )
    complained = (
        complaints.filter(in_period("received_on", start, end))
        .group_by(keys)
        .agg(complaints=pl.len().cast(pl.Int64))
    )
    qa = qa_findings.filter(in_period("found_on", start, end)) if dated["qa_findings"] else qa_findings
    quality = qa.group_by(keys).agg(
        qa_findings=pl.len().cast(pl.Int64),
        qa_major=count(pl.col("severity").is_in(MAJOR_SEVERITIES)),
    )

    # roster: every collector (member) in any input, with its FTE
    sources = [attempts, promises, held, credited, complaints, qa_findings]
    if fte is not None:
        sources.append(fte)
    roster = pl.concat([f.select(members) for f in sources], how="vertical").unique()
    if fte is None:
        roster = roster.with_columns(fte=pl.lit(1.0, dtype=pl.Float64))
    else:
        roster = roster.join(
            fte.select(*members, pl.col("fte").cast(pl.Float64)), on=members, how="left", nulls_equal=True
        )
        missing_fte(roster, members)
    out = roster.group_by(keys).agg(pl.col("fte").sum())
    for part in (contact, holding, made, due, collected, complained, quality):
        out = out.join(part, on=keys, how="left", nulls_equal=True)
    out = out.with_columns(pl.col(SUMS).fill_null(0).cast(pl.Int64)).sort(keys, nulls_last=True)
    if with_total:
        total = out.select(
            *(pl.lit(None, dtype=out.schema[k]).alias(k) for k in keys),
            pl.col("fte").sum(),
            *(pl.col(c).sum().cast(pl.Int64) for c in SUMS),
        )
        out = pl.concat([out, total.select(out.columns)], how="vertical")
    return out.with_columns(
        rpc_rate=_rate("rpc", "attempts"),
        coverage=_rate("cases_covered", "cases_held"),
        promise_rate=_rate("promises_made", "rpc"),
        kept_rate=_rate("promises_kept", "promises_due"),
        kept_rate_amount=_rate("kept_amount_due", "promised_amount_due"),
        collections_per_head=per_head("collected", "fte"),
        recovery_rate=_rate("collected", "allocated_amount"),
        complaints_per_10k=_rate("complaints", "cases_held") * BP,
    ).select(*keys, *KPI_COLUMNS)


def collections_per_head_by_bucket(
    credited: pl.DataFrame, fte: pl.DataFrame | None = None, *, start: date, end: date
) -> pl.DataFrame:
    """METRICS.md 人均回款 per (bucket, collector), compared only within the same bucket.

    ``credited``: collector_id, bucket (Str), amount (Int64), received_date (Date); rows received in
    [start, end] count. ``fte``: collector_id, fte (≥ 0) and optionally bucket. With a ``bucket`` column
    the FTE is per (bucket, collector) and every such row appears (collected 0 when nothing was credited);
    without one a collector's whole FTE counts in every bucket where they have credited collections. When
    ``fte`` is None every collector counts 1.0.

    Columns: bucket, collector_id, collected (Int64), fte (Float64), collections_per_head (Int64, rounded
    half away from zero; null when the FTE is 0), rank (Int64, 1 = highest per head within the bucket, ties
    share the lowest rank; null when per head is null), index (Float64, the collector's per head ÷ the
    bucket's, null when that is 0 or null), bucket_collectors (Int64), bucket_per_head (Int64, the bucket's
    pooled Σ collected ÷ Σ FTE — not a mean of the collectors' figures). Sorted by bucket (C … M7+ first,
    then other buckets by name), rank, collector_id.
    """
    check_period(start, end)
    what = ("credited collections", "回款归属表")
    check_frame(credited, ["collector_id", "bucket", "amount", "received_date"], what, money=["amount"])
    typed_frame(credited, ["received_date"], pl.Date, what)
    keys = ["bucket", "collector_id"]
    sums = (
        credited.filter(in_period("received_date", start, end))
        .group_by(keys)
        .agg(collected=pl.col("amount").sum().cast(pl.Int64))
    )
    if fte is None:
        frame = sums.with_columns(fte=pl.lit(1.0, dtype=pl.Float64))
    else:
        on = keys if "bucket" in fte.columns else ["collector_id"]
        fte_check(fte, on)
        same_key_types([(credited, "credited collections"), (fte, "fte")], on)
        people = fte.select(*on, pl.col("fte").cast(pl.Float64))
        if "bucket" in fte.columns:
            frame = sums.join(people, on=keys, how="full", coalesce=True).with_columns(
                pl.col("collected").fill_null(0)
            )
        else:
            frame = sums.join(people, on=on, how="left")
        missing_fte(frame, ["collector_id"])
    raw = pl.when(pl.col("fte") > 0).then(pl.col("collected") / pl.col("fte")).otherwise(None)
    pooled = pl.col("collected").sum().over("bucket") / pl.col("fte").sum().over("bucket")
    order = {b: i for i, b in enumerate(BUCKET_ORDER)}
    return (
        frame.with_columns(
            _raw=raw,
            _pool=pl.when(pl.col("fte").sum().over("bucket") > 0).then(pooled).otherwise(None),
            bucket_collectors=pl.len().over("bucket").cast(pl.Int64),
            bucket_collected=pl.col("collected").sum().over("bucket"),
            bucket_fte=pl.col("fte").sum().over("bucket"),
        )
        .with_columns(
            collections_per_head=per_head("collected", "fte"),
            rank=pl.col("_raw").rank("min", descending=True).over("bucket").cast(pl.Int64),
            index=pl.when(pl.col("_pool") != 0).then(pl.col("_raw") / pl.col("_pool")).otherwise(None),
            bucket_per_head=per_head("bucket_collected", "bucket_fte"),
        )
        .sort(
            pl.col("bucket").replace_strict(order, default=len(order), return_dtype=pl.Int64),
            "bucket",
            "rank",
            "collector_id",
            nulls_last=True,
        )
        .select(
            *keys,
            "collected",
            "fte",
            "collections_per_head",
            "rank",
            "index",
            "bucket_collectors",
            "bucket_per_head",
        )
    )
