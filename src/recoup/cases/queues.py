"""The collectors' work queues (作业队列): a pure, vectorised kernel over every collector's open tasks.

:func:`build_queues` ranks each assignee's open tasks. Must-do work (必做) is classified per task by the
decision table ``MUST_DO`` (``recoup.cases.tables``; any table with outputs ``must_do`` str and ``must_rank``
int may replace it) through the one evaluator, :func:`recoup.rules.evaluate`. Order within an assignee:

1. tasks ``in_progress`` first of all (the collector already started them);
2. then must-do tasks, by ``must_rank`` (1 first), then ``priority`` descending;
3. then the rest, by ``expected_value`` descending (tasks without one after those with one), then
   ``priority`` descending, then ``balance`` descending; ``task_id`` ascending settles the last ties.

The in-progress tasks are ordered among themselves by the same rule as the others (must-do by rank and
priority, then the rest), and every must-do tie after ``priority`` is broken like the rest
(``expected_value``, ``balance``, ``task_id``), so the order is total and a rerun gives the same queue.

:func:`coverage` is METRICS.md's coverage (覆盖率) over cases, :func:`dialer_export` the ranked call list for
a dialer, and :func:`write_dialer_csv` writes it as a spreadsheet-safe CSV (the only I/O in this module).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from recoup import cellsafe
from recoup.cases.tables import MUST_DO
from recoup.contact.vocab import Treatment
from recoup.errors import RecoupError, StorageError
from recoup.rules import DecisionTable, evaluate, load_table

__all__ = [
    "DIALER_COLUMNS",
    "FACT_COLUMNS",
    "QUEUE_COLUMNS",
    "STATUSES",
    "TASK_COLUMNS",
    "QueueInputError",
    "build_queues",
    "coverage",
    "dialer_export",
    "write_dialer_csv",
]


class QueueInputError(RecoupError):
    """A queue, coverage or dialer frame or a must-do table is invalid; ``details`` names column and value."""

    code = "queue.bad_input"
    http_status = 422
    exit_code = 65  # EX_DATAERR


#: Task statuses a queue holds: ``in_progress`` tasks come first of all.
STATUSES: tuple[str, ...] = ("open", "in_progress")
#: The columns :func:`build_queues` needs in ``tasks`` (others pass through to the output).
TASK_COLUMNS: dict[str, str] = {
    "task_id": "int",
    "assignee_id": "int",
    "case_id": "int",
    "treatment": "str",
    "priority": "int",
    "expected_value": "float",
    "balance": "int",
    "dpd": "int",
    "status": "str",
}
#: The per-case facts the default ``MUST_DO`` table reads (``days_untouched`` null = never touched).
FACT_COLUMNS: dict[str, str] = {
    "case_id": "int",
    "contacted_ever": "bool",
    "promise_due_today": "bool",
    "broken_yesterday": "bool",
    "callback_due": "bool",
    "days_untouched": "int",
}
#: Columns :func:`build_queues` adds to the tasks.
QUEUE_COLUMNS: tuple[str, ...] = ("must_do", "must_rank", "must_rule", "position")
#: The dialer file's leading columns, in order; passthrough columns follow.
DIALER_COLUMNS: tuple[str, ...] = ("assignee_id", "position", "task_id", "case_id")
#: The treatment a dialer calls.
CALL_TREATMENT = Treatment.AGENT_CALL.value
#: Work that is not a contact with the borrower: a team lead's review of a case past its state's deadline.
REVIEW_KINDS: tuple[str, ...] = ("case_review",)

_NULLABLE_TASK_COLUMNS = frozenset({"expected_value"})
_NEVER_TOUCHED = 1_000_000_000  # days_untouched for a case never touched: untouched by any threshold
_KINDS_ZH = {"int": "整数", "float": "数值", "str": "字符串", "bool": "布尔", "date": "日期"}


# ---------------------------------------------------------------------------------------------- validation


def _bad(english: str, chinese: str, **details: Any) -> QueueInputError:
    return QueueInputError(f"{english} / {chinese}", details=details)


def _require(frame: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        names = ", ".join(missing)
        raise _bad(
            f"{what} frame lacks column(s) {names}",
            f"{what} 表缺少列：{names}",
            frame=what,
            missing=missing,
        )


def _fits(kind: str, dtype: pl.DataType) -> bool:
    if dtype == pl.Null:
        return True
    if kind == "int":
        return dtype.is_integer()
    if kind == "float":
        return dtype.is_float() or dtype.is_integer()
    if kind == "str":
        return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
    if kind == "bool":
        return dtype == pl.Boolean
    return dtype == pl.Date


def _check_types(frame: pl.DataFrame, kinds: Mapping[str, str], what: str) -> None:
    for column, kind in kinds.items():
        if column in frame.columns and not _fits(kind, frame.schema[column]):
            dtype = str(frame.schema[column])
            raise _bad(
                f"{what} column {column!r} has dtype {dtype}; it must be {kind}",
                f"{what} 表的列 {column!r} 类型为 {dtype}，应为{_KINDS_ZH[kind]}",
                frame=what,
                column=column,
                dtype=dtype,
                expected=kind,
            )


def _check_not_null(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    if not columns or frame.is_empty():
        return
    # Series.null_count reads the columns' metadata: no query plan per page for a handful of rows.
    counts = [frame.get_column(c).null_count() for c in columns]
    for column, count in zip(columns, counts, strict=True):
        if count:
            raise _bad(
                f"{what} column {column!r} has {count} null value(s); it must not be null",
                f"{what} 表的列 {column!r} 有 {count} 个空值，不允许为空",
                frame=what,
                column=column,
                value=None,
                nulls=count,
            )


def _check_unique(frame: pl.DataFrame, column: str, what: str) -> None:
    dup = frame.get_column(column).filter(frame.get_column(column).is_duplicated())
    if dup.len():
        value = dup.item(0)
        raise _bad(
            f"{what} column {column!r} repeats the value {value!r}; each must appear once",
            f"{what} 表的列 {column!r} 中 {value!r} 重复出现，每个值只能出现一次",
            frame=what,
            column=column,
            value=value,
        )


def _check_values(frame: pl.DataFrame, column: str, allowed: Sequence[str], what: str) -> None:
    bad = frame.get_column(column).cast(pl.String).filter(~frame.get_column(column).is_in(list(allowed)))
    if bad.len():
        value = bad.item(0)
        words = ", ".join(allowed)
        raise _bad(
            f"{what} column {column!r} has the value {value!r}; allowed: {words}",
            f"{what} 表的列 {column!r} 的值 {value!r} 无效，可用值：{words}",
            frame=what,
            column=column,
            value=value,
            allowed=list(allowed),
        )


def _fresh(base: str, taken: Iterable[str]) -> str:
    names = set(taken)
    name = base
    while name in names:
        name = "_" + name
    return name


def _must_do_table(must_do: DecisionTable | Mapping[str, Any] | None) -> DecisionTable:
    """Load the must-do table (default ``MUST_DO``) and check it can rank a queue."""
    if must_do is None:
        return _default_must_do()
    return _checked_must_do(load_table(must_do))


@functools.cache
def _default_must_do() -> DecisionTable:
    # The shipped table never changes while the process runs; the queue page ranks on every request.
    return _checked_must_do(load_table(MUST_DO))


def _checked_must_do(table: DecisionTable) -> DecisionTable:
    if table.mode != "first":
        raise _bad(
            f"must-do table {table.name!r} has mode {table.mode!r}; it must be 'first'",
            f"必做规则表 {table.name!r} 的模式为 {table.mode!r}，应为 'first'",
            table=table.name,
            field="mode",
            value=table.mode,
        )
    wanted = {"must_do": "str", "must_rank": "int"}
    if dict(table.outputs) != wanted:
        raise _bad(
            f"must-do table {table.name!r} has outputs {dict(table.outputs)}; it must have exactly {wanted}",
            f"必做规则表 {table.name!r} 的输出为 {dict(table.outputs)}，应恰为 {wanted}",
            table=table.name,
            field="outputs",
            value=dict(table.outputs),
        )
    outcomes = [(row.id, row.then) for row in table.rows] + [("default", table.default or {})]
    for rid, then in outcomes:
        if (then.get("must_do") is None) != (then.get("must_rank") is None):
            raise _bad(
                f"must-do table {table.name!r} row {rid!r}: set both must_do and must_rank, or neither",
                f"必做规则表 {table.name!r} 的行 {rid!r}：must_do 与 must_rank 须同时有值或同时为空",
                table=table.name,
                row_id=rid,
                value=dict(then),
            )
    return table


def _check_tasks(tasks: pl.DataFrame) -> None:
    _require(tasks, TASK_COLUMNS, "tasks")
    _check_types(tasks, TASK_COLUMNS, "tasks")
    clash = [c for c in QUEUE_COLUMNS if c in tasks.columns]
    if clash:
        raise _bad(
            f"tasks frame already has column(s) {', '.join(clash)}, which the queue adds",
            f"tasks 表已含队列要添加的列：{', '.join(clash)}",
            frame="tasks",
            column=clash[0],
        )
    _check_not_null(tasks, [c for c in TASK_COLUMNS if c not in _NULLABLE_TASK_COLUMNS], "tasks")
    _check_values(tasks, "status", STATUSES, "tasks")
    _check_values(tasks, "treatment", [*(t.value for t in Treatment), *REVIEW_KINDS], "tasks")
    _check_unique(tasks, "task_id", "tasks")
    ev = tasks.get_column("expected_value")
    if ev.dtype.is_float() and (~ev.is_finite() & ev.is_not_null()).any():
        bad = tasks.filter(~ev.is_finite() & ev.is_not_null())
        if bad.height:
            value = bad.item(0, "expected_value")
            raise _bad(
                f"tasks column 'expected_value' is {value} for task {bad.item(0, 'task_id')}; "
                "it must be a finite number or null",
                f"任务 {bad.item(0, 'task_id')} 的 expected_value 为 {value}，应为有限数值或空",
                frame="tasks",
                column="expected_value",
                value=str(value),
                task_id=bad.item(0, "task_id"),
            )


def _check_facts(facts: pl.DataFrame, used: Sequence[str]) -> None:
    _require(facts, ["case_id", *used], "facts")
    _check_types(facts, FACT_COLUMNS, "facts")
    strict = [c for c in ("case_id", *FACT_COLUMNS) if c in facts.columns and c != "days_untouched"]
    _check_not_null(facts, list(dict.fromkeys(strict)), "facts")
    _check_unique(facts, "case_id", "facts")
    if "days_untouched" in facts.columns and (facts.get_column("days_untouched") < 0).any():
        negative = facts.filter(pl.col("days_untouched") < 0)
        if negative.height:
            low = negative.item(0, "days_untouched")
            raise _bad(
                f"facts column 'days_untouched' has the value {low} for case {negative.item(0, 'case_id')};"
                " it must be 0 or more (or null)",
                f"facts 表中案件 {negative.item(0, 'case_id')} 的 days_untouched 为 {low}，"
                "应为 0 或以上（或为空）",
                frame="facts",
                column="days_untouched",
                value=low,
            )


# ---------------------------------------------------------------------------------------------- queues


def build_queues(
    tasks: pl.DataFrame,
    facts: pl.DataFrame,
    *,
    must_do: DecisionTable | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Rank every assignee's open tasks (see the module docstring for the order).

    ``tasks``: task_id, assignee_id, case_id, priority, balance (minor units), dpd — integers, not null;
    treatment (a :class:`~recoup.contact.vocab.Treatment` value or a :data:`REVIEW_KINDS` kind); status
    (``open`` / ``in_progress``);
    expected_value (Float64, null when the strategy gave none). Other columns pass through.
    ``facts``: one row per case — case_id, contacted_ever, promise_due_today, broken_yesterday,
    callback_due (Boolean, not null), days_untouched (Int64, null = never touched, counted as untouched).
    Every task's case needs a facts row. ``must_do``: the decision table (default ``MUST_DO``); its inputs
    are read from ``facts`` when it has the column, else from ``tasks`` (so a table may use ``dpd``).

    Returns the tasks with ``must_do`` (String, null = not must-do), ``must_rank`` (Int64), ``must_rule``
    (the matching row id) and ``position`` (Int64, 1… within the assignee), ordered by assignee_id, position.
    """
    table = _must_do_table(must_do)
    _check_tasks(tasks)
    from_facts = [c for c in table.inputs if c in facts.columns and c != "case_id"]
    from_tasks = [c for c in table.inputs if c not in from_facts]
    unknown = [c for c in from_tasks if c not in tasks.columns]
    if unknown:
        raise _bad(
            f"must-do table {table.name!r} reads column(s) {', '.join(unknown)}, in neither facts nor tasks",
            f"必做规则表 {table.name!r} 需要的列 {', '.join(unknown)} 在 facts 和 tasks 中均不存在",
            frame="facts",
            missing=unknown,
        )
    _check_facts(facts, from_facts)

    key = _fresh("__queue_case", [*tasks.columns, *facts.columns])
    seen = _fresh("__queue_seen", [*tasks.columns, *facts.columns, key])
    fact_cols = [
        pl.col(c).fill_null(_NEVER_TOUCHED) if c == "days_untouched" else pl.col(c) for c in from_facts
    ]
    left = tasks.lazy().select(pl.col("case_id").cast(pl.Int64).alias(key), *from_tasks)
    right = facts.lazy().select(
        pl.col("case_id").cast(pl.Int64).alias(key), *fact_cols, pl.lit(True).alias(seen)
    )
    joined = left.join(right, on=key, how="left", validate="m:1", maintain_order="left")
    judged = evaluate(joined, table, rule_column="must_rule").select(seen, *QUEUE_COLUMNS[:3]).collect()

    lost = tasks.filter(judged.get_column(seen).is_null()) if judged.get_column(seen).null_count() else None
    if lost is not None and lost.height:
        case = lost.item(0, "case_id")
        raise _bad(
            f"facts frame has no row for case {case} (of task {lost.item(0, 'task_id')}); "
            f"{lost.height} task(s) lack facts",
            f"facts 表缺少案件 {case} 的行（任务 {lost.item(0, 'task_id')}），"
            f"共 {lost.height} 个任务缺少事实数据",
            frame="facts",
            column="case_id",
            value=case,
            tasks=lost.height,
        )

    must = pl.col("must_rank")
    return (
        tasks.hstack(judged.drop(seen))
        .sort(
            [
                pl.col("assignee_id"),
                pl.col("status") != "in_progress",
                must,
                pl.when(must.is_not_null()).then(pl.col("priority")),
                pl.col("expected_value"),
                pl.col("priority"),
                pl.col("balance"),
                pl.col("task_id"),
            ],
            descending=[False, False, False, True, True, True, True, False],
            nulls_last=True,
        )
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("assignee_id").alias("position"))
    )


# ---------------------------------------------------------------------------------------------- coverage


def coverage(held: pl.DataFrame, attempts: pl.DataFrame, *, start: date, end: date) -> pl.DataFrame:
    """METRICS.md coverage (覆盖率) = cases with at least one attempt in the period ÷ cases held.

    ``held``: case_id, holder_id (not null) — the cases each holder (collector, team, agency) held in the
    period; a case under two holders counts for each of them, and once overall. ``attempts``: case_id, on
    (Date — the attempt's business date in the lender's timezone; convert a UTC ``at`` before calling).
    The period is ``start`` … ``end`` inclusive; attempts outside it or on cases not held are ignored, and
    an attempt counts whoever made it.

    Returns one row per holder (ascending holder_id) and last an overall row with holder_id null: held,
    covered (Int64 counts of distinct cases) and coverage (Float64, null when held is 0).
    """
    if start > end:
        raise _bad(
            f"coverage period starts {start} after it ends {end}",
            f"覆盖率统计期的开始日 {start} 晚于结束日 {end}",
            field="start",
            value=start.isoformat(),
        )
    _require(held, ["case_id", "holder_id"], "held")
    _require(attempts, ["case_id", "on"], "attempts")
    _check_types(held, {"case_id": "int"}, "held")
    _check_types(attempts, {"case_id": "int", "on": "date"}, "attempts")
    _check_not_null(held, ["case_id", "holder_id"], "held")
    _check_not_null(attempts, ["case_id", "on"], "attempts")

    hit = (
        attempts.lazy()
        .filter(pl.col("on").is_between(start, end, closed="both"))
        .select(pl.col("case_id").cast(pl.Int64))
        .unique()
        .with_columns(pl.lit(True).alias("_covered"))
    )
    cases = (
        held.lazy()
        .select(pl.col("case_id").cast(pl.Int64), "holder_id")
        .unique()
        .join(hit, on="case_id", how="left")
        .with_columns(pl.col("_covered").fill_null(False))
    )
    counts = [pl.len().cast(pl.Int64).alias("held"), pl.col("_covered").sum().cast(pl.Int64).alias("covered")]
    per = cases.group_by("holder_id").agg(counts).sort("holder_id")
    overall = (
        cases.unique("case_id")
        .select(counts)
        .select(pl.lit(None, dtype=held.schema["holder_id"]).alias("holder_id"), "held", "covered")
    )
    rate = (
        pl.when(pl.col("held") > 0)
        .then(pl.col("covered") / pl.col("held"))
        .cast(pl.Float64)
        .alias("coverage")
    )
    return pl.concat([per, overall]).with_columns(rate).collect()


# ---------------------------------------------------------------------------------------------- dialer


def dialer_export(queue: pl.DataFrame, *, passthrough: Sequence[str] = ()) -> pl.DataFrame:
    """The ranked call list for a dialer: the ``agent_call`` tasks of a :func:`build_queues` output.

    Columns: assignee_id, position, task_id, case_id, then ``passthrough`` (e.g. ``phone_ref``) in the
    order given; rows by assignee_id, position. ``position`` stays the task's place in the collector's
    whole queue (gaps are where non-call tasks sit), so the dialer and the queue screen agree.
    """
    extra = list(passthrough)
    fixed = [c for c in extra if c in DIALER_COLUMNS]
    repeated = sorted({c for c in extra if extra.count(c) > 1})
    if fixed or repeated:
        column = (fixed or repeated)[0]
        raise _bad(
            f"passthrough column {column!r} is already in the dialer file or named twice",
            f"透传列 {column!r} 已在拨号文件中或重复指定",
            field="passthrough",
            column=column,
        )
    _require(queue, [*DIALER_COLUMNS, "treatment"], "queue")
    _require(queue, extra, "queue")
    return (
        queue.lazy()
        .filter(pl.col("treatment") == CALL_TREATMENT)
        .select(*DIALER_COLUMNS, *extra)
        .sort("assignee_id", "position")
        .collect()
    )


def write_dialer_csv(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as UTF-8 CSV with a header, text cells neutralised against spreadsheet formulas
    (:mod:`recoup.cellsafe`), atomically (temp file in the same directory, then ``os.replace``), mode 0600."""
    target = Path(path)
    text = [c for c, t in frame.schema.items() if isinstance(t, pl.Categorical | pl.Enum)]
    safe = cellsafe.frame(frame.with_columns(pl.col(text).cast(pl.String)) if text else frame)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise StorageError(
            f"cannot write the dialer file {target}: {exc.strerror}"
            f" / 无法写入拨号文件 {target}：{exc.strerror}",
            details={"path": str(target)},
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            safe.write_csv(fh, include_header=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
