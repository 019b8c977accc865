"""Collector KPIs and incentive pay, exactly as defined in ``METRICS.md`` (people, contact and promises).

Pure functions, frames in → frames out, vectorised Polars; no I/O. Money is Int64 minor units (fen); rates
are Float64 and null where their denominator is 0. Re-exported by :mod:`recoup.reporting.metrics`, so
every metric is still reached from one module.

Conventions (choices METRICS.md leaves open)
--------------------------------------------
- **Period**: every dated row counts when its date is in ``[start, end]``, both ends included.
- **Grouping**: ``by`` (default ``("collector_id",)``) names the group columns. Every input frame carries
  ``collector_id`` and every ``by`` column; one row per group appearing in *any* input (dated or not, in
  the period or not), counts 0 where the group has none.
- **Attempts**: channel ``portal`` is the borrower coming to us, not a contact attempt (``contact/vocab``),
  and is ignored. A *blocked* attempt (the contact policy stopped it) never reached anyone: it is counted in
  ``blocked_attempts`` only, and neither in ``attempts`` (the right-party-contact denominator) nor in
  coverage. ``rpc`` = attempts not blocked whose ``right_party`` is true (the debtor or a guarantor was
  reached — the contact log sets it from the disposition).
- **Coverage (覆盖率)**: a held case is covered when the *holder* (same ``collector_id`` and group) made
  at least one non-blocked attempt on it in the period.
- **Promises**: statuses are those of :mod:`recoup.cases.promises`, judged at T+1 — callers pass statuses
  judged as of ``end`` + 1 day. ``not_counted`` (third-party) promises count nowhere. ``promises_made``
  counts every other promise made in the period, ``rescheduled`` ones included (the debtor did make it).
  Promises *due* in the period are the judged ones (``kept``, ``partially_kept``, ``broken``); ``pending``
  (judged too early), ``rescheduled`` and ``not_counted`` are not due. Kept = status ``kept``; by amount
  Σ min(kept_amount, amount) ÷ Σ amount.
- **Recovery rate (催回率)**: credited collections in the period ÷ Σ ``allocated_amount`` of the cases held.
  It is METRICS.md's allocation-cohort figure when ``[start, end]`` runs from the cohort's allocation and
  the credit rules (回款归属) credit the holder only between allocation and exit.
- **Collections per head (人均回款)**: Int64 minor units, collected ÷ FTE rounded half away from zero (as
  :func:`recoup.money.round_half_up`); null when the FTE is 0.
- **QA**: ``qa_major`` counts findings of severity ``major``, ``critical`` or ``red_line`` (the project's
  most severe level).
- **Totals**: the overall row (every ``by`` column null) is computed from the pooled counts and amounts,
  never as a mean of the groups' rates.
- **Incentive pay**: integer arithmetic in minor units; each component is ``amount × bp // 10000``,
  rounded *down* separately (base, bonus, penalty), then pay = max(base + bonus − penalty, 0). A net
  negative ``collected`` (reversals) earns nothing. A vetoed collector's components are still shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recoup.reporting.metrics import BUCKET_ORDER, MetricsError, _rate, _require

__all__ = [
    "DEFAULT_INCENTIVE",
    "JUDGED_STATUSES",
    "KPI_COLUMNS",
    "MAJOR_SEVERITIES",
    "PROMISE_STATUSES",
    "IncentiveRules",
    "IncentiveTier",
    "collections_per_head_by_bucket",
    "collector_kpis",
    "incentive_pay",
    "load_incentive_rules",
]

#: Every promise status of ``cases/promises.py``.
PROMISE_STATUSES = ("pending", "kept", "partially_kept", "broken", "rescheduled", "not_counted")
#: Statuses of promises that fell due and were judged (the 兑现率 denominator).
JUDGED_STATUSES = ("kept", "partially_kept", "broken")
#: QA severities that count as major findings.
MAJOR_SEVERITIES = ("major", "critical", "red_line")
#: Channels that are not contact attempts.
_NOT_ATTEMPTS = ("portal",)
_BP = 10_000

#: Int64 counts and amounts of :func:`collector_kpis` (summed for the overall row).
_SUMS = [
    "attempts",
    "blocked_attempts",
    "rpc",
    "cases_held",
    "cases_covered",
    "promises_made",
    "promises_due",
    "promises_kept",
    "promised_amount_due",
    "kept_amount_due",
    "collected",
    "allocated_amount",
    "complaints",
    "qa_findings",
    "qa_major",
]
#: Columns of :func:`collector_kpis` after the ``by`` columns, in order.
KPI_COLUMNS = [
    "attempts",
    "blocked_attempts",
    "rpc",
    "rpc_rate",
    "cases_held",
    "cases_covered",
    "coverage",
    "promises_made",
    "promise_rate",
    "promises_due",
    "promises_kept",
    "kept_rate",
    "promised_amount_due",
    "kept_amount_due",
    "kept_rate_amount",
    "collected",
    "fte",
    "collections_per_head",
    "allocated_amount",
    "recovery_rate",
    "complaints",
    "complaints_per_10k",
    "qa_findings",
    "qa_major",
]


# --------------------------------------------------------------------------------------------- checks


def _check(
    frame: pl.DataFrame,
    columns: Iterable[str],
    what: tuple[str, str],
    *,
    money: Iterable[str] = (),
    nullable: Iterable[str] = (),
) -> None:
    """``metrics._require`` with a Chinese half: columns present, money integer, no nulls (but ``nullable``).

    ``what`` is (English, 简体中文) naming the frame.
    """
    cols, money, nullable = list(columns), list(money), list(nullable)
    en, zh = what
    try:  # presence and money types (an empty frame has no nulls)
        _require(frame.head(0), [*cols, *nullable, *money], en, money=money)
    except MetricsError as exc:
        if "missing" in exc.details:
            zh_msg = f"{zh}缺少列：{', '.join(exc.details['missing'])}"
        else:
            zh_msg = f"{zh}的金额列 {', '.join(exc.details['columns'])} 必须是整数（最小货币单位）"
        raise MetricsError(f"{exc.message} / {zh_msg}", details=exc.details) from None
    try:
        _require(frame, [*cols, *money], en)
    except MetricsError as exc:
        zh_msg = f"{zh}的列 {', '.join(exc.details['columns'])} 含空值"
        raise MetricsError(f"{exc.message} / {zh_msg}", details=exc.details) from None


def _typed(
    frame: pl.DataFrame, columns: Iterable[str], dtype: type[pl.DataType], what: tuple[str, str]
) -> None:
    bad = [c for c in columns if frame.schema[c] != dtype]
    if bad:
        got = ", ".join(f"{c}: {frame.schema[c]}" for c in bad)
        raise MetricsError(
            f"{what[0]}: column(s) must be {dtype} ({got}) / {what[1]}的列必须是 {dtype} 类型（{got}）",
            details={"columns": bad},
        )


def _period(start: date, end: date) -> None:
    if start > end:
        raise MetricsError(
            f"start {start} is after end {end} / 开始日期 {start} 晚于结束日期 {end}",
            details={"start": str(start), "end": str(end)},
        )


def _in(column: str, start: date, end: date) -> pl.Expr:
    return pl.col(column).is_between(pl.lit(start, dtype=pl.Date), pl.lit(end, dtype=pl.Date))


def _keys(by: Sequence[str]) -> tuple[list[str], list[str]]:
    """(group columns, member columns = collector_id plus the group columns)."""
    if isinstance(by, str):
        by = (by,)
    keys = list(dict.fromkeys(by))
    if not keys or len(keys) != len(by):
        raise MetricsError(
            f"by must name one or more distinct columns, got {list(by)} / by 必须是一个或多个不重复的列名",
            details={"by": list(by)},
        )
    return keys, list(dict.fromkeys(["collector_id", *keys]))


def _same_key_types(frames: Sequence[tuple[pl.DataFrame, str]], keys: Sequence[str]) -> None:
    for k in keys:
        types = {what: frame.schema[k] for frame, what in frames}
        if len(set(types.values())) > 1:
            shown = ", ".join(f"{w}: {t}" for w, t in types.items())
            raise MetricsError(
                f"column {k} has different types across the frames ({shown}) / 列 {k} 在各表中类型不一致",
                details={"column": k, "types": {w: str(t) for w, t in types.items()}},
            )


def _unique(frame: pl.DataFrame, columns: list[str], what: tuple[str, str]) -> None:
    dup = frame.filter(pl.struct(columns).is_duplicated()).select(columns).unique().head(5)
    if not dup.is_empty():
        rows = dup.rows()
        raise MetricsError(
            f"{what[0]} has more than one row for {columns} = {rows} / "
            f"{what[1]}中 {columns} 有重复行：{rows}",
            details={"columns": columns, "rows": [list(r) for r in rows]},
        )


def _not_negative(frame: pl.DataFrame, columns: Iterable[str], what: tuple[str, str]) -> None:
    bad = [c for c in columns if frame.filter(pl.col(c) < 0).height]
    if bad:
        raise MetricsError(
            f"{what[0]}: column(s) {', '.join(bad)} must not be negative / {what[1]}的列 {', '.join(bad)} "
            "不能为负数",
            details={"columns": bad},
        )


def _fte_check(fte: pl.DataFrame, members: list[str]) -> None:
    what = ("fte", "人力（FTE）表")
    _check(fte, [*members, "fte"], what)
    if not fte.schema["fte"].is_numeric():
        raise MetricsError(
            f"fte: column fte must be numeric, not {fte.schema['fte']} / 人力表的 fte 列必须是数值",
            details={"columns": ["fte"]},
        )
    _not_negative(fte, ["fte"], what)
    _unique(fte, members, what)


def _missing_fte(frame: pl.DataFrame, members: list[str]) -> None:
    lacking = frame.filter(pl.col("fte").is_null()).select(members).unique().sort(members).head(5).rows()
    if lacking:
        raise MetricsError(
            f"fte has no row for {members} = {lacking} / 人力表缺少这些人员的 FTE：{lacking}",
            details={"columns": members, "rows": [list(r) for r in lacking]},
        )


def _per_head(amount: str, fte: str) -> pl.Expr:
    """Money per FTE as Int64 minor units, rounded half away from zero; null when the FTE is 0."""
    return (
        pl.when(pl.col(fte) > 0)
        .then((pl.col(amount) / pl.col(fte)).round(0, mode="half_away_from_zero"))
        .otherwise(None)
        .cast(pl.Int64)
    )


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
    keys, members = _keys(by)
    _period(start, end)
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
        _check(frame, [*members, *cols, *dated.get(name, [])], what, money=money.get(name, ()))
        _typed(frame, dated.get(name, []), pl.Date, what)
    _typed(attempts, ["right_party", "blocked"], pl.Boolean, frames["attempts"][1])
    if fte is not None:
        _fte_check(fte, members)
    keyed = [(frame, what[0]) for frame, what, _ in frames.values()]
    _same_key_types([*keyed, *([(fte, "fte")] if fte is not None else [])], members)
    _same_key_types(
        [(attempts, "attempts"), (held, "held cases")],
        ["case_id"],
    )
    _unique(held, [*members, "case_id"], frames["held"][1])
    _unique(promises, ["promise_id"], frames["promises"][1])
    _not_negative(held, ["allocated_amount"], frames["held"][1])
    _not_negative(promises, ["kept_amount"], frames["promises"][1])
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
    tried = attempts.filter(_in("at_date", start, end) & ~pl.col("channel").is_in(_NOT_ATTEMPTS))
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
        promises.filter(_in("made_on", start, end) & (pl.col("status") != "not_counted"))
        .group_by(keys)
        .agg(promises_made=pl.len().cast(pl.Int64))
    )
    due = (
        promises.filter(_in("due_date", start, end) & pl.col("status").is_in(JUDGED_STATUSES))
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
        credited.filter(_in("received_date", start, end))
        .group_by(keys)
        .agg(collected=count(pl.col("amount")))
    )
    complained = (
        complaints.filter(_in("received_on", start, end))
        .group_by(keys)
        .agg(complaints=pl.len().cast(pl.Int64))
    )
    qa = qa_findings.filter(_in("found_on", start, end)) if dated["qa_findings"] else qa_findings
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
        _missing_fte(roster, members)
    out = roster.group_by(keys).agg(pl.col("fte").sum())
    for part in (contact, holding, made, due, collected, complained, quality):
        out = out.join(part, on=keys, how="left", nulls_equal=True)
    out = out.with_columns(pl.col(_SUMS).fill_null(0).cast(pl.Int64)).sort(keys, nulls_last=True)
    if with_total:
        total = out.select(
            *(pl.lit(None, dtype=out.schema[k]).alias(k) for k in keys),
            pl.col("fte").sum(),
            *(pl.col(c).sum().cast(pl.Int64) for c in _SUMS),
        )
        out = pl.concat([out, total.select(out.columns)], how="vertical")
    return out.with_columns(
        rpc_rate=_rate("rpc", "attempts"),
        coverage=_rate("cases_covered", "cases_held"),
        promise_rate=_rate("promises_made", "rpc"),
        kept_rate=_rate("promises_kept", "promises_due"),
        kept_rate_amount=_rate("kept_amount_due", "promised_amount_due"),
        collections_per_head=_per_head("collected", "fte"),
        recovery_rate=_rate("collected", "allocated_amount"),
        complaints_per_10k=_rate("complaints", "cases_held") * _BP,
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
    _period(start, end)
    what = ("credited collections", "回款归属表")
    _check(credited, ["collector_id", "bucket", "amount", "received_date"], what, money=["amount"])
    _typed(credited, ["received_date"], pl.Date, what)
    keys = ["bucket", "collector_id"]
    sums = (
        credited.filter(_in("received_date", start, end))
        .group_by(keys)
        .agg(collected=pl.col("amount").sum().cast(pl.Int64))
    )
    if fte is None:
        frame = sums.with_columns(fte=pl.lit(1.0, dtype=pl.Float64))
    else:
        on = keys if "bucket" in fte.columns else ["collector_id"]
        _fte_check(fte, on)
        _same_key_types([(credited, "credited collections"), (fte, "fte")], on)
        people = fte.select(*on, pl.col("fte").cast(pl.Float64))
        if "bucket" in fte.columns:
            frame = sums.join(people, on=keys, how="full", coalesce=True).with_columns(
                pl.col("collected").fill_null(0)
            )
        else:
            frame = sums.join(people, on=on, how="left")
        _missing_fte(frame, ["collector_id"])
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
            collections_per_head=_per_head("collected", "fte"),
            rank=pl.col("_raw").rank("min", descending=True).over("bucket").cast(pl.Int64),
            index=pl.when(pl.col("_pool") != 0).then(pl.col("_raw") / pl.col("_pool")).otherwise(None),
            bucket_per_head=_per_head("bucket_collected", "bucket_fte"),
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


# ------------------------------------------------------------------------------------------ incentive pay


class IncentiveTier(BaseModel):
    """A bonus tier: met when the recovery rate is ≥ ``min_recovery_rate``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_recovery_rate: float = Field(ge=0, allow_inf_nan=False)
    bonus_bp: int = Field(ge=0, le=_BP)


class IncentiveRules(BaseModel):
    """Collector incentive rules, versioned data (DESIGN.md §3): commission, tiers, veto, QA penalty.

    - ``base_bp``: commission in basis points of ``collected``;
    - ``tiers``: the highest tier met (recovery_rate ≥ min_recovery_rate) adds its ``bonus_bp``; kept
      sorted by ``min_recovery_rate`` (tier numbers 1, 2, … in that order; 0 = none met);
    - ``max_complaints_per_10k``: above it pay is 0 with reason ``veto:complaints`` (None: no veto);
    - ``qa_major_penalty_bp``: basis points of ``collected`` deducted per major QA finding.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    base_bp: int = Field(ge=0, le=_BP)
    tiers: tuple[IncentiveTier, ...] = ()
    max_complaints_per_10k: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    qa_major_penalty_bp: int = Field(default=0, ge=0, le=_BP)

    @field_validator("tiers")
    @classmethod
    def _sorted_distinct(cls, tiers: tuple[IncentiveTier, ...]) -> tuple[IncentiveTier, ...]:
        ordered = tuple(sorted(tiers, key=lambda t: t.min_recovery_rate))
        floors = [t.min_recovery_rate for t in ordered]
        if len(set(floors)) != len(floors):
            raise ValueError(f"two tiers share a min_recovery_rate: {floors}")
        return ordered


def load_incentive_rules(data: Mapping[str, Any]) -> IncentiveRules:
    """Validate incentive rules from data (a parsed YAML/JSON document); MetricsError when invalid."""
    try:
        return IncentiveRules.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(rules)'}: {e['msg']}" for e in exc.errors()]
        raise MetricsError(
            "invalid incentive rules: " + "; ".join(problems) + " / 激励规则无效：" + "；".join(problems),
            details={"errors": problems},
        ) from None


#: The default rules: 1 % commission, bonus tiers at the source documents' recovery targets (40 / 60 /
#: 70 %), a veto above 10 complaints per 10,000 cases, 0.1 % of collected off per major QA finding.
DEFAULT_INCENTIVE = load_incentive_rules(
    {
        "name": "default",
        "version": 1,
        "base_bp": 100,
        "tiers": [
            {"min_recovery_rate": 0.40, "bonus_bp": 50},
            {"min_recovery_rate": 0.60, "bonus_bp": 100},
            {"min_recovery_rate": 0.70, "bonus_bp": 150},
        ],
        "max_complaints_per_10k": 10.0,
        "qa_major_penalty_bp": 10,
    }
)


def incentive_pay(kpis: pl.DataFrame, rules: IncentiveRules) -> pl.DataFrame:
    """Incentive pay per collector from :func:`collector_kpis` output under ``rules``.

    ``kpis``: collector_id (one row each), collected (Int64), qa_major (Int64), recovery_rate and
    complaints_per_10k (Float64, may be null). Rows with a null collector_id (the overall row) are dropped.
    With c = max(collected, 0): base_pay = c × base_bp // 10000; bonus_pay = c × bonus_bp(tier) // 10000;
    penalty = c × qa_major × qa_major_penalty_bp // 10000 (each rounded down); pay = 0 when vetoed
    (complaints_per_10k > max_complaints_per_10k; a null rate never vetoes), else max(base + bonus −
    penalty, 0). A null recovery rate meets no tier.

    Columns: collector_id, collected, tier (Int64, 0 = none), base_pay, bonus_pay, penalty, pay (Int64
    minor units), reason (``veto:complaints``, ``floor:qa_penalty`` when penalties exceed the pay,
    ``tier:<n>``, or ``base``), rules (``name@v<version>``). Input row order is kept.
    """
    what = ("KPIs", "考核指标表")
    rows = kpis.filter(pl.col("collector_id").is_not_null()) if "collector_id" in kpis.columns else kpis
    _check(
        rows,
        ["collector_id"],
        what,
        money=["collected"],
        nullable=["recovery_rate", "complaints_per_10k"],
    )
    _check(rows, ["qa_major"], what)
    if not rows.schema["qa_major"].is_integer():
        raise MetricsError(
            f"KPIs: qa_major must be an integer count, not {rows.schema['qa_major']} / "
            "考核指标表的 qa_major 必须是整数",
            details={"columns": ["qa_major"]},
        )
    _unique(rows, ["collector_id"], what)
    _not_negative(rows, ["qa_major"], what)

    rate = pl.col("recovery_rate")
    tier: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for n, t in enumerate(rules.tiers, start=1):  # ascending: the last (highest) met wins
        tier = pl.when(rate >= t.min_recovery_rate).then(pl.lit(n, dtype=pl.Int64)).otherwise(tier)
    bonus_bp = {0: 0, **{n: t.bonus_bp for n, t in enumerate(rules.tiers, start=1)}}
    cap = rules.max_complaints_per_10k
    vetoed = (pl.col("complaints_per_10k") > cap).fill_null(False) if cap is not None else pl.lit(False)
    c = pl.max_horizontal(pl.col("collected").cast(pl.Int64), pl.lit(0, dtype=pl.Int64))
    gross = pl.col("base_pay") + pl.col("bonus_pay") - pl.col("penalty")
    return (
        rows.select(
            "collector_id",
            pl.col("collected").cast(pl.Int64),
            tier.alias("tier"),
            _vetoed=vetoed,
            _c=c,
            _qa=pl.col("qa_major").cast(pl.Int64),
        )
        .with_columns(
            base_pay=pl.col("_c") * rules.base_bp // _BP,
            bonus_pay=pl.col("_c") * pl.col("tier").replace_strict(bonus_bp, return_dtype=pl.Int64) // _BP,
            penalty=pl.col("_c") * (pl.col("_qa") * rules.qa_major_penalty_bp) // _BP,
        )
        .with_columns(
            pay=pl.when(pl.col("_vetoed"))
            .then(pl.lit(0, dtype=pl.Int64))
            .otherwise(pl.max_horizontal(gross, pl.lit(0, dtype=pl.Int64))),
            reason=pl.when(pl.col("_vetoed"))
            .then(pl.lit("veto:complaints"))
            .when(gross < 0)
            .then(pl.lit("floor:qa_penalty"))
            .when(pl.col("tier") > 0)
            .then(pl.lit("tier:") + pl.col("tier").cast(pl.String))
            .otherwise(pl.lit("base")),
            rules=pl.lit(f"{rules.name}@v{rules.version}"),
        )
        .select(
            "collector_id", "collected", "tier", "base_pay", "bonus_pay", "penalty", "pay", "reason", "rules"
        )
    )
