"""cases/queues.py: the work-queue kernel, coverage (覆盖率), the dialer export and its CSV.

Frames are small and hand-made; every expected order and figure is worked out next to it. No database.
"""

from __future__ import annotations

import copy
import csv
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from recoup.cases.queues import (
    QueueInputError,
    build_queues,
    coverage,
    dialer_export,
    write_dialer_csv,
)
from recoup.cases.tables import MUST_DO
from recoup.errors import RecoupError
from recoup.rules import RuleTableError, load_table

# ---------------------------------------------------------------------------------------------- fixtures

# Per case: contacted_ever, promise_due_today, broken_yesterday, callback_due, days_untouched → expected kind.
FACTS_ROWS: list[tuple[int, bool, bool, bool, bool, int | None, str | None]] = [
    (1, False, True, True, True, 30, "first-contact"),  # never contacted beats everything below
    (2, True, True, True, True, 30, "promise-due"),
    (3, True, False, True, True, 30, "broken-yesterday"),
    (4, True, False, False, True, 30, "callback"),
    (5, True, False, False, False, 7, "untouched"),  # the boundary: 7 days counts
    (6, True, False, False, False, 6, None),  # 6 days does not
    (7, True, False, False, False, None, "untouched"),  # never touched counts as untouched
    (8, True, False, False, False, 0, None),
]
KIND = {"first-contact": 1, "promise-due": 2, "broken-yesterday": 3, "callback": 4, "untouched": 5}


def facts_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [r[:6] for r in FACTS_ROWS],
        schema={
            "case_id": pl.Int64,
            "contacted_ever": pl.Boolean,
            "promise_due_today": pl.Boolean,
            "broken_yesterday": pl.Boolean,
            "callback_due": pl.Boolean,
            "days_untouched": pl.Int64,
        },
        orient="row",
    )


TASK_SCHEMA = {
    "task_id": pl.Int64,
    "assignee_id": pl.Int64,
    "case_id": pl.Int64,
    "treatment": pl.String,
    "priority": pl.Int64,
    "expected_value": pl.Float64,
    "balance": pl.Int64,
    "dpd": pl.Int64,
    "status": pl.String,
    "phone_ref": pl.String,
}


def task(
    task_id: int,
    assignee: int,
    case: int,
    *,
    priority: int = 0,
    ev: float | None = None,
    balance: int = 100,
    status: str = "open",
    treatment: str = "agent_call",
    dpd: int = 10,
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "assignee_id": assignee,
        "case_id": case,
        "treatment": treatment,
        "priority": priority,
        "expected_value": ev,
        "balance": balance,
        "dpd": dpd,
        "status": status,
        "phone_ref": f"P{task_id}",
    }


def tasks_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=TASK_SCHEMA)


# Assignee 3: every kind of ordering. Assignee 7 (listed first in the input): in-progress tasks among
# themselves follow the same rule (must-do first).
BOOK = [
    task(101, 7, 6, status="in_progress", ev=10.0),
    task(102, 7, 1, status="in_progress"),
    task(103, 7, 3, priority=9, ev=1e6),
    task(1, 3, 6, priority=1, ev=100.0, balance=300),
    task(2, 3, 5, priority=9),  # untouched, priority 9
    task(3, 3, 1, priority=0),  # first contact
    task(4, 3, 8, status="in_progress"),  # not must-do, no EV — still first of all
    task(5, 3, 2, priority=1),  # promise due, priority 1
    task(6, 3, 2, priority=5),  # promise due, priority 5 → before task 5
    task(7, 3, 3),  # broken yesterday
    task(8, 3, 4, ev=1e9),  # callback: EV does not lift it over rank 3
    task(9, 3, 7, priority=2),  # untouched (never touched), priority 2 → after task 2
    task(10, 3, 6, priority=9, balance=100),  # no EV → after every task with one
    task(11, 3, 8, priority=1, ev=100.0, balance=500),  # EV tie with 1 and 12; balance 500 > 300
    task(12, 3, 8, priority=1, ev=100.0, balance=500),  # full tie with 11 → task_id
    task(13, 3, 6, priority=9, ev=50.0),
    task(14, 3, 8, priority=9, balance=1000),  # no EV, priority 9, balance 1000 → before task 10
    task(15, 3, 8, priority=3),  # no EV, priority 3
    task(16, 3, 6, priority=0, ev=100.0, balance=9999),  # EV 100 but priority 0 → after 11, 12, 1
]
EXPECTED = {
    3: [4, 3, 6, 5, 7, 8, 2, 9, 11, 12, 1, 16, 13, 14, 10, 15],
    7: [102, 101, 103],
}


@pytest.fixture(scope="module")
def queue() -> pl.DataFrame:
    return build_queues(tasks_frame(BOOK), facts_frame())


# ---------------------------------------------------------------------------------------------- queues


def test_must_do_kinds_follow_the_table(queue: pl.DataFrame) -> None:
    by_case = {r[0]: r[6] for r in FACTS_ROWS}
    got = queue.select("case_id", "must_rule", "must_rank", "must_do").unique().sort("case_id").rows()
    for case, rule, rank, kind in got:
        assert rule == by_case[case], case
        assert rank == (KIND[rule] if rule else None)
        assert (kind is None) == (rule is None)
    assert queue.filter(pl.col("case_id") == 1).item(0, "must_do") == "first_contact"
    assert queue.schema["must_do"] == pl.String and queue.schema["must_rank"] == pl.Int64


def test_order_within_each_assignee(queue: pl.DataFrame) -> None:
    assert queue.get_column("assignee_id").to_list() == [3] * 16 + [7] * 3
    for assignee, order in EXPECTED.items():
        mine = queue.filter(pl.col("assignee_id") == assignee)
        assert mine.get_column("task_id").to_list() == order
        assert mine.get_column("position").to_list() == list(range(1, len(order) + 1))
    assert queue.schema["position"] == pl.Int64


def test_output_keeps_every_task_column_and_passes_others_through(queue: pl.DataFrame) -> None:
    assert queue.columns == [*TASK_SCHEMA, "must_do", "must_rank", "must_rule", "position"]
    assert queue.filter(pl.col("task_id") == 13).item(0, "phone_ref") == "P13"
    assert queue.height == len(BOOK)


def test_same_queue_whatever_the_input_order() -> None:
    shuffled = tasks_frame(BOOK).sample(fraction=1.0, shuffle=True, seed=7)
    facts = facts_frame().reverse()
    assert build_queues(shuffled, facts).equals(build_queues(tasks_frame(BOOK), facts_frame()))


def test_threshold_is_table_data() -> None:
    table = copy.deepcopy(MUST_DO)
    table["rows"][-1]["when"] = {"days_untouched": {"ge": 6}}
    out = build_queues(tasks_frame([task(1, 1, 6), task(2, 1, 8, ev=5.0)]), facts_frame(), must_do=table)
    # Case 6 (6 days) is now untouched and goes first; case 8 (0 days) still is not must-do.
    assert out.select("task_id", "must_rule").rows() == [(1, "untouched"), (2, None)]
    assert build_queues(tasks_frame([task(1, 1, 6)]), facts_frame(), must_do=load_table(table)).item(
        0, "must_rule"
    ) == ("untouched")


def test_table_may_read_task_columns() -> None:
    table: dict[str, Any] = {
        "name": "late",
        "mode": "first",
        "inputs": {"dpd": "int"},
        "outputs": {"must_do": "str", "must_rank": "int"},
        "rows": [
            {"id": "very-late", "when": {"dpd": {"ge": 90}}, "then": {"must_do": "late", "must_rank": 1}}
        ],
    }
    rows = [task(1, 1, 6, dpd=30, ev=9.0), task(2, 1, 8, dpd=120)]
    out = build_queues(tasks_frame(rows), facts_frame().select("case_id"), must_do=table)
    assert out.select("task_id", "must_do", "must_rule", "position").rows() == [
        (2, "late", "very-late", 1),
        (1, None, None, 2),
    ]


def test_empty_tasks_give_an_empty_queue() -> None:
    out = build_queues(tasks_frame([]), facts_frame())
    assert out.is_empty()
    assert out.columns[-4:] == ["must_do", "must_rank", "must_rule", "position"]


# ---------------------------------------------------------------------------------------------- coverage


def test_coverage_by_hand() -> None:
    start, end = date(2024, 3, 1), date(2024, 3, 31)
    held = pl.DataFrame(
        {
            "case_id": [1, 2, 3, 1, 4, 5, 5, 6, 7],
            "holder_id": [1, 1, 1, 1, 2, 2, 3, 3, 4],  # case 1 listed twice; case 5 under holders 2 and 3
        }
    )
    attempts = pl.DataFrame(
        {
            "case_id": [1, 1, 2, 3, 4, 5, 99],
            "on": [
                date(2024, 3, 1),  # case 1 on the first day
                date(2024, 3, 15),  # case 1 again: still one case
                date(2024, 2, 29),  # case 2 the day before: outside
                date(2024, 3, 31),  # case 3 on the last day: inside
                date(2024, 4, 1),  # case 4 the day after: outside
                date(2024, 3, 10),  # case 5
                date(2024, 3, 10),  # case 99 is not held: ignored
            ],
        }
    )
    out = coverage(held, attempts, start=start, end=end)
    # holder 1: cases 1, 2, 3 → 1 and 3 covered = 2/3; holder 2: 4, 5 → 5 = 1/2; holder 3: 5, 6 → 5 = 1/2;
    # holder 4: case 7, no attempt at all = 0/1; overall: cases 1–7 → 1, 3, 5 = 3/7.
    assert out.rows() == [
        (1, 3, 2, pytest.approx(2 / 3)),
        (2, 2, 1, 0.5),
        (3, 2, 1, 0.5),
        (4, 1, 0, 0.0),
        (None, 7, 3, pytest.approx(3 / 7)),
    ]
    assert out.schema == pl.Schema(
        {"holder_id": pl.Int64, "held": pl.Int64, "covered": pl.Int64, "coverage": pl.Float64}
    )


def test_coverage_of_nothing_held_is_null() -> None:
    held = pl.DataFrame({"case_id": [], "holder_id": []}, schema={"case_id": pl.Int64, "holder_id": pl.Int64})
    attempts = pl.DataFrame({"case_id": [1], "on": [date(2024, 3, 1)]})
    out = coverage(held, attempts, start=date(2024, 3, 1), end=date(2024, 3, 1))
    assert out.rows() == [(None, 0, 0, None)]


@pytest.mark.parametrize(
    ("attempts", "start", "end", "column"),
    [
        (
            pl.DataFrame({"case_id": [1], "at": [datetime(2024, 3, 1)]}),
            date(2024, 3, 1),
            date(2024, 3, 2),
            "on",
        ),
        (
            pl.DataFrame({"case_id": [1], "on": [datetime(2024, 3, 1)]}),
            date(2024, 3, 1),
            date(2024, 3, 2),
            "on",
        ),
        (
            pl.DataFrame({"case_id": [1], "on": [None]}, schema={"case_id": pl.Int64, "on": pl.Date}),
            None,
            None,
            "on",
        ),
        (pl.DataFrame({"case_id": [1], "on": [date(2024, 3, 1)]}), date(2024, 3, 2), date(2024, 3, 1), None),
    ],
)
def test_coverage_bad_input(
    attempts: pl.DataFrame, start: date | None, end: date | None, column: str | None
) -> None:
    held = pl.DataFrame({"case_id": [1], "holder_id": [1]})
    with pytest.raises(QueueInputError) as err:
        coverage(held, attempts, start=start or date(2024, 3, 1), end=end or date(2024, 3, 2))
    if column:
        assert column in (err.value.details.get("missing") or [err.value.details.get("column")])


# ---------------------------------------------------------------------------------------------- dialer


def test_dialer_export_keeps_calls_in_queue_order() -> None:
    rows = [
        task(1, 2, 6, ev=5.0),
        task(2, 2, 1, treatment="sms"),  # first contact by SMS: in the queue, not in the dialer file
        task(3, 2, 8, ev=9.0),
        task(4, 1, 6, treatment="field_visit"),
        task(5, 1, 8, treatment="robot_call"),  # a robot call is not the dialer's: agents dial agent_call
        task(6, 1, 7),
    ]
    out = dialer_export(build_queues(tasks_frame(rows), facts_frame()), passthrough=["phone_ref"])
    # assignee 1: 6 (untouched, position 1); assignee 2: 2 (sms, position 1), 3 (EV 9), 1 (EV 5).
    assert out.columns == ["assignee_id", "position", "task_id", "case_id", "phone_ref"]
    assert out.rows() == [(1, 1, 6, 7, "P6"), (2, 2, 3, 8, "P3"), (2, 3, 1, 6, "P1")]
    assert dialer_export(build_queues(tasks_frame(rows), facts_frame())).columns == [
        "assignee_id",
        "position",
        "task_id",
        "case_id",
    ]


@pytest.mark.parametrize("passthrough", [["phone"], ["task_id"], ["phone_ref", "phone_ref"]])
def test_dialer_export_bad_passthrough(queue: pl.DataFrame, passthrough: list[str]) -> None:
    with pytest.raises(QueueInputError):
        dialer_export(queue, passthrough=passthrough)


def test_dialer_csv_neutralises_formulas(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "assignee_id": [1, 1, 1],
            "position": [1, 2, 3],
            "task_id": [10, 11, 12],
            "case_id": [5, 6, 7],
            "phone_ref": ['=HYPERLINK("http://x","call")', "-12.50", "+86 138 0000"],
            "name": ["张三", "@SUM(A1)", "O'Brien"],
        }
    )
    path = tmp_path / "dialer.csv"
    path.write_text("old contents")
    write_dialer_csv(frame, path)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["assignee_id", "position", "task_id", "case_id", "phone_ref", "name"],
        ["1", "1", "10", "5", '\'=HYPERLINK("http://x","call")', "张三"],
        ["1", "2", "11", "6", "-12.50", "'@SUM(A1)"],
        ["1", "3", "12", "7", "'+86 138 0000", "O'Brien"],
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dialer.csv"]  # no temp file left behind


def test_dialer_csv_missing_directory_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(RecoupError) as err:
        write_dialer_csv(pl.DataFrame({"a": [1]}), tmp_path / "nope" / "dialer.csv")
    assert err.value.code == "storage.error"


# ---------------------------------------------------------------------------------------------- bad input


def _with(column: str, values: list[Any], dtype: Any = None) -> pl.DataFrame:
    frame = tasks_frame([task(1, 1, 6), task(2, 1, 8)])
    return frame.with_columns(pl.Series(column, values, dtype=dtype or frame.schema[column]))


@pytest.mark.parametrize(
    ("tasks", "facts", "column", "value"),
    [
        (tasks_frame([task(1, 1, 6)]).drop("status"), facts_frame(), None, None),
        (_with("status", ["open", "done"]), facts_frame(), "status", "done"),
        (_with("treatment", ["agent_call", "phone"]), facts_frame(), "treatment", "phone"),
        (_with("priority", [1, None]), facts_frame(), "priority", None),
        (_with("task_id", [4, 4]), facts_frame(), "task_id", 4),
        (_with("balance", [1.5, 2.0], pl.Float64), facts_frame(), "balance", None),
        (_with("expected_value", [float("nan"), 1.0]), facts_frame(), "expected_value", "nan"),
        (_with("must_rank", [1, 2], pl.Int64), facts_frame(), "must_rank", None),
        (_with("case_id", [6, 42]), facts_frame(), "case_id", 42),  # no facts for case 42
        (tasks_frame([task(1, 1, 6)]), pl.concat([facts_frame(), facts_frame().head(1)]), "case_id", 1),
        (
            tasks_frame([task(1, 1, 6)]),
            facts_frame().with_columns(pl.lit(None, pl.Boolean).alias("callback_due")),
            "callback_due",
            None,
        ),
        (
            tasks_frame([task(1, 1, 6)]),
            facts_frame().with_columns(pl.lit(-1, pl.Int64).alias("days_untouched")),
            "days_untouched",
            -1,
        ),
        (tasks_frame([task(1, 1, 6)]), facts_frame().drop("broken_yesterday"), None, None),
    ],
)
def test_bad_tasks_or_facts(tasks: pl.DataFrame, facts: pl.DataFrame, column: str | None, value: Any) -> None:
    with pytest.raises(QueueInputError) as err:
        build_queues(tasks, facts)
    exc = err.value
    assert (exc.code, exc.http_status, exc.exit_code) == ("queue.bad_input", 422, 65)
    english, chinese = exc.message.split(" / ", 1)
    assert english.isascii() and not chinese.isascii()
    if column is None:
        assert exc.details["missing"]
    else:
        assert exc.details["column"] == column
        if value is not None:
            assert exc.details["value"] == value


def _table(**changes: Any) -> dict[str, Any]:
    table = copy.deepcopy(MUST_DO)
    table.update(changes)
    return table


@pytest.mark.parametrize(
    "table",
    [
        _table(mode="all"),
        _table(outputs={"must_do": "str"}, rows=[{"id": "a", "when": {}, "then": {"must_do": "x"}}]),
        _table(rows=[{"id": "a", "when": {}, "then": {"must_do": "x", "must_rank": None}}]),
        _table(inputs={**MUST_DO["inputs"], "mood": "str"}),
    ],
)
def test_bad_must_do_table(table: dict[str, Any]) -> None:
    with pytest.raises(QueueInputError):
        build_queues(tasks_frame([task(1, 1, 6)]), facts_frame(), must_do=table)


def test_invalid_table_is_the_evaluators_error() -> None:
    table = _table(rows=[{"id": "a", "when": {"days_untouched": {"ge": "seven"}}, "then": {}}])
    with pytest.raises(RuleTableError):
        build_queues(tasks_frame([task(1, 1, 6)]), facts_frame(), must_do=table)
