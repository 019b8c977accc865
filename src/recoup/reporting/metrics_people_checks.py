"""The people metrics' vocabulary (statuses, severities, KPI columns) and the input checks they share:
column types, the period, keys, uniqueness, FTE (split from :mod:`recoup.reporting.metrics_people`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import polars as pl

from recoup.reporting.metrics import MetricsError, _require

__all__ = [
    "BP",
    "JUDGED_STATUSES",
    "KPI_COLUMNS",
    "MAJOR_SEVERITIES",
    "NOT_ATTEMPTS",
    "PROMISE_STATUSES",
    "SUMS",
    "by_keys",
    "check_frame",
    "check_not_negative",
    "check_period",
    "check_unique",
    "fte_check",
    "in_period",
    "missing_fte",
    "per_head",
    "same_key_types",
    "typed_frame",
]


#: Every promise status of ``cases/promises.py``.
PROMISE_STATUSES = ("pending", "kept", "partially_kept", "broken", "rescheduled", "not_counted")
#: Statuses of promises that fell due and were judged (the 兑现率 denominator).
JUDGED_STATUSES = ("kept", "partially_kept", "broken")
#: QA severities that count as major findings.
MAJOR_SEVERITIES = ("major", "critical", "red_line")
#: Channels that are not contact attempts.
NOT_ATTEMPTS = ("portal",)
BP = 10_000

#: Int64 counts and amounts of :func:`collector_kpis` (summed for the overall row).
SUMS = [
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


def check_frame(
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


def typed_frame(
    frame: pl.DataFrame, columns: Iterable[str], dtype: type[pl.DataType], what: tuple[str, str]
) -> None:
    bad = [c for c in columns if frame.schema[c] != dtype]
    if bad:
        got = ", ".join(f"{c}: {frame.schema[c]}" for c in bad)
        raise MetricsError(
            f"{what[0]}: column(s) must be {dtype} ({got}) / {what[1]}的列必须是 {dtype} 类型（{got}）",
            details={"columns": bad},
        )


def check_period(start: date, end: date) -> None:
    if start > end:
        raise MetricsError(
            f"start {start} is after end {end} / 开始日期 {start} 晚于结束日期 {end}",
            details={"start": str(start), "end": str(end)},
        )


def in_period(column: str, start: date, end: date) -> pl.Expr:
    return pl.col(column).is_between(pl.lit(start, dtype=pl.Date), pl.lit(end, dtype=pl.Date))


def by_keys(by: Sequence[str]) -> tuple[list[str], list[str]]:
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


def same_key_types(frames: Sequence[tuple[pl.DataFrame, str]], keys: Sequence[str]) -> None:
    for k in keys:
        types = {what: frame.schema[k] for frame, what in frames}
        if len(set(types.values())) > 1:
            shown = ", ".join(f"{w}: {t}" for w, t in types.items())
            raise MetricsError(
                f"column {k} has different types across the frames ({shown}) / 列 {k} 在各表中类型不一致",
                details={"column": k, "types": {w: str(t) for w, t in types.items()}},
            )


def check_unique(frame: pl.DataFrame, columns: list[str], what: tuple[str, str]) -> None:
    dup = frame.filter(pl.struct(columns).is_duplicated()).select(columns).unique().head(5)
    if not dup.is_empty():
        rows = dup.rows()
        raise MetricsError(
            f"{what[0]} has more than one row for {columns} = {rows} / "
            f"{what[1]}中 {columns} 有重复行：{rows}",
            details={"columns": columns, "rows": [list(r) for r in rows]},
        )


def check_not_negative(frame: pl.DataFrame, columns: Iterable[str], what: tuple[str, str]) -> None:
    bad = [c for c in columns if frame.filter(pl.col(c) < 0).height]
    if bad:
        raise MetricsError(
            f"{what[0]}: column(s) {', '.join(bad)} must not be negative / {what[1]}的列 {', '.join(bad)} "
            "不能为负数",
            details={"columns": bad},
        )


def fte_check(fte: pl.DataFrame, members: list[str]) -> None:
    what = ("fte", "人力（FTE）表")
    check_frame(fte, [*members, "fte"], what)
    if not fte.schema["fte"].is_numeric():
        raise MetricsError(
            f"fte: column fte must be numeric, not {fte.schema['fte']} / 人力表的 fte 列必须是数值",
            details={"columns": ["fte"]},
        )
    check_not_negative(fte, ["fte"], what)
    check_unique(fte, members, what)


def missing_fte(frame: pl.DataFrame, members: list[str]) -> None:
    lacking = frame.filter(pl.col("fte").is_null()).select(members).unique().sort(members).head(5).rows()
    if lacking:
        raise MetricsError(
            f"fte has no row for {members} = {lacking} / 人力表缺少这些人员的 FTE：{lacking}",
            details={"columns": members, "rows": [list(r) for r in lacking]},
        )


def per_head(amount: str, fte: str) -> pl.Expr:
    """Money per FTE as Int64 minor units, rounded half away from zero; null when the FTE is 0."""
    return (
        pl.when(pl.col(fte) > 0)
        .then((pl.col(amount) / pl.col(fte)).round(0, mode="half_away_from_zero"))
        .otherwise(None)
        .cast(pl.Int64)
    )
