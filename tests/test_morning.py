"""The morning view's kernels on small hand-made frames (answers worked out here), its SVG charts and the
table model's CSV and XLSX. The page itself: ``test_morning_page.py``."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import polars as pl
import pytest
from openpyxl import load_workbook

from recoup.reporting.arms import arm_results
from recoup.reporting.compliance_figures import by_rule, experiment_accounts
from recoup.reporting.floor_figures import contact_funnel, promise_funnel, talk_time, workload
from recoup.reporting.metrics import END_STATES, roll_rate_matrix
from recoup.reporting.recovery import (
    case_segments,
    collections_by_day,
    curve_against_previous,
    recovery_curve,
    segment_recovery,
)
from recoup.web.charts import Bar, Series, Stage, bars, funnel, heatmap, line_chart, nice_ticks
from recoup.web.i18n import translations
from recoup.web.tables import Column, Formats, Table, to_csv, to_xlsx

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

D = dt.date
NOV = [D(2026, 11, d) for d in range(1, 31)]


def _approx(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-9)


# ------------------------------------------------------------------------------------------ recovery


def _holdings() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "case_id": [1, 2, 3],
            "start_date": [D(2026, 11, 1), D(2026, 11, 3), D(2026, 10, 20)],
            "end_date": [None, D(2026, 11, 5), None],
            "allocated_amount": [1000, 500, 700],
        },
        schema={
            "case_id": pl.Int64,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "allocated_amount": pl.Int64,
        },
    )


def _payments() -> pl.DataFrame:
    rows = [
        (1, D(2026, 11, 1), 100),
        (1, D(2026, 11, 4), 50),
        (1, D(2026, 11, 6), 999),  # after `through`
        (2, D(2026, 11, 2), 30),  # before its allocation
        (2, D(2026, 11, 4), 200),
        (2, D(2026, 11, 5), 80),  # the exit day: the holding ended
        (3, D(2026, 10, 25), 140),
        (3, D(2026, 11, 2), 70),  # after the October period's end
    ]
    return pl.DataFrame(
        rows, schema={"case_id": pl.Int64, "received_date": pl.Date, "amount": pl.Int64}, orient="row"
    )


def test_recovery_curve_day_by_day_against_the_previous_month() -> None:
    now = recovery_curve(_holdings(), _payments(), start=NOV[0], end=NOV[-1], through=NOV[4])
    # Day 1: case 1 allocated 1,000 and paid 100. Day 3: case 2 adds 500. Day 4: 50 + 200 more.
    # Day 5: case 2's 80 came on its exit day; case 1's 999 came after `through`; case 2's 30 before.
    assert now.get_column("allocated").to_list() == [1000, 1000, 1500, 1500, 1500]
    assert now.get_column("collected").to_list() == [100, 100, 100, 350, 350]
    expected = [0.1, 0.1, 100 / 1500, 350 / 1500, 350 / 1500]
    assert all(_approx(a, b) for a, b in zip(now.get_column("rate").to_list(), expected, strict=True))
    prev = recovery_curve(_holdings(), _payments(), start=D(2026, 10, 1), end=D(2026, 10, 31), through=NOV[4])
    assert prev.height == 31  # the whole previous month; only case 3 (from the 20th) is its cohort
    assert prev.filter(pl.col("day") == 19).get_column("rate").item() is None  # nothing allocated yet
    assert _approx(prev.filter(pl.col("day") == 25).get_column("rate").item(), 140 / 700)
    both = curve_against_previous(now, prev)
    assert both.height == 31
    day4 = both.filter(pl.col("day") == 4).row(0, named=True)
    assert _approx(day4["rate"], 350 / 1500) and day4["prev_rate"] is None and day4["change"] is None
    day25 = both.filter(pl.col("day") == 25).row(0, named=True)
    assert day25["rate"] is None and day25["date"] is None and _approx(day25["prev_rate"], 0.2)
    assert day25["prev_date"] == D(2026, 10, 25)


def test_collections_by_day_fills_every_day_and_cumulates() -> None:
    out = collections_by_day(_payments(), start=NOV[0], end=NOV[5])
    assert out.get_column("amount").to_list() == [100, 100, 0, 250, 80, 999]
    assert out.get_column("cumulative").to_list() == [100, 200, 200, 450, 530, 1529]


def test_segment_recovery_against_the_targets() -> None:
    cohort = pl.DataFrame(
        {
            "case_id": [1, 2, 3],
            "segment": ["mild", "severe", "extremely_severe"],
            "start_date": [D(2026, 11, 1), D(2026, 11, 3), D(2026, 10, 1)],
            "allocated_amount": [1000, 500, 200],
        }
    )
    pay = pl.DataFrame(
        [
            (1, D(2026, 11, 1), 100),
            (1, D(2026, 11, 4), 50),
            (2, D(2026, 11, 4), 200),
            (2, D(2026, 11, 5), 80),
            (3, D(2026, 10, 10), 20),
            (3, D(2026, 10, 31), 30),  # day 30 from 1 October: outside a 30-day window
            (3, D(2026, 11, 1), 5),
        ],
        schema={"case_id": pl.Int64, "received_date": pl.Date, "amount": pl.Int64},
        orient="row",
    )
    out = segment_recovery(cohort, pay, through=NOV[4], window_days=30)
    rows = {r["segment"]: r for r in out.iter_rows(named=True)}
    assert out.get_column("segment").to_list() == ["mild", "severe", "extremely_severe", "overall"]
    assert (rows["mild"]["collected"], rows["mild"]["days_elapsed"]) == (150, 5)
    assert _approx(rows["mild"]["rate"], 0.15) and _approx(rows["mild"]["gap"], 0.15 - 0.70)
    assert rows["severe"]["collected"] == 280 and _approx(rows["severe"]["gap"], 0.56 - 0.40)
    assert rows["extremely_severe"]["collected"] == 20 and rows["extremely_severe"]["target"] is None
    assert rows["extremely_severe"]["days_elapsed"] == 30
    overall = rows["overall"]
    assert (overall["cases"], overall["allocated"], overall["collected"]) == (3, 1700, 450)
    assert _approx(overall["rate"], 450 / 1700) and _approx(overall["target"], 0.60)
    assert overall["days_elapsed"] == 13  # (5 + 3 + 30) / 3 rounded


def test_a_case_takes_the_segment_of_its_largest_account_at_allocation() -> None:
    cohort = pl.DataFrame({"case_id": [1, 2], "start_date": [D(2026, 11, 1), D(2026, 11, 3)]})
    accounts = pl.DataFrame({"case_id": [1, 1, 2], "loan_id": ["L1", "L2", "L3"]})
    decisions = pl.DataFrame(
        {
            "as_of": [D(2026, 10, 31), D(2026, 10, 31), D(2026, 11, 2)],
            "loan_id": ["L1", "L2", "L2"],
            "segment": ["mild", "severe", "extremely_severe"],  # the 2 November decision came later
            "overdue_amount": [100, 900, 5000],
        }
    )
    out = case_segments(cohort, accounts, decisions).sort("case_id")
    assert out.get_column("segment").to_list() == ["severe", "unknown"]


# -------------------------------------------------------------------------------------- the floor


def test_contact_funnel_counts_and_conversions() -> None:
    attempts = pl.DataFrame(
        {
            "channel": ["call", "call", "call", "call", "portal", "call"],
            "outcome": [
                "conversation",
                "conversation",
                "no_answer",
                "conversation",
                "conversation",
                "conversation",
            ],
            "right_party": [True, False, False, True, True, True],
            "blocked": [
                False,
                False,
                False,
                False,
                False,
                True,
            ],  # the portal and the blocked one: not attempts
        }
    )
    promises = pl.DataFrame({"status": ["kept", "broken", "pending", "not_counted"]})
    out = contact_funnel(attempts, promises)
    assert out.get_column("count").to_list() == [4, 3, 2, 3, 1]
    prev = out.get_column("of_previous").to_list()
    assert prev[0] is None and _approx(prev[1], 3 / 4) and _approx(prev[2], 2 / 3)
    assert _approx(prev[3], 3 / 2) and _approx(prev[4], 1 / 3)  # promises ÷ right-party contacts = 承诺率
    assert _approx(out.get_column("of_first").to_list()[2], 0.5)  # the right-party-contact rate


def test_promise_funnel_by_count_and_amount() -> None:
    promises = pl.DataFrame(
        {
            "status": ["kept", "partially_kept", "broken", "pending", "rescheduled", "not_counted"],
            "amount": [100, 200, 300, 400, 500, 600],
            "kept_amount": [100, 50, 0, 0, 0, 0],
        }
    )
    out = promise_funnel(promises)
    assert out.get_column("stage").to_list() == ["due", "judged", "paid", "kept"]
    assert out.get_column("count").to_list() == [4, 3, 2, 1]
    assert out.get_column("amount").to_list() == [1000, 600, 150, 100]
    assert _approx(out.get_column("of_previous").to_list()[3], 1 / 2)


def test_workload_and_talk_time() -> None:
    held = pl.DataFrame(
        {"collector_id": [1, 1, 2], "case_id": [10, 11, 12], "overdue_amount": [100, 200, 50]}
    )
    tasks = pl.DataFrame({"collector_id": [1, 1, 1, 3]})
    people = pl.DataFrame({"collector_id": [1, 2, 3], "name": ["a", "b", "c"], "cap": [4, 2, 10]})
    out = workload(held, tasks, people)
    assert out.get_column("name").to_list() == ["a", "b", "c", None]
    assert out.get_column("cases").to_list() == [2, 1, 0, 3]
    assert out.get_column("overdue_amount").to_list() == [300, 50, 0, 350]
    assert out.get_column("open_tasks").to_list() == [3, 0, 1, 4]
    assert all(
        _approx(a, b) for a, b in zip(out.get_column("load").to_list(), [0.5, 0.5, 0.0, 3 / 16], strict=True)
    )
    calls = pl.DataFrame({"collector_id": [1, 1, 1, 2], "seconds": [120.0, 60.0, None, 300.0]})
    talk = talk_time(calls).row(0, named=True)
    assert (talk["calls"], talk["timed_calls"], talk["collectors"]) == (4, 3, 2)
    assert _approx(talk["per_head"], 240.0)


def test_counts_by_rule_and_the_experiment_cohort() -> None:
    events = pl.DataFrame(
        {"rules": [["CN-TIME"], ["CN-TIME", "CN-FREQ"], [], None]}, schema={"rules": pl.List(pl.String)}
    )
    out = by_rule(events)
    assert out.select("rule", "count").rows() == [("(none)", 2), ("CN-TIME", 2), ("CN-FREQ", 1)]
    assert _approx(out.filter(pl.col("rule") == "CN-FREQ").get_column("share").item(), 0.25)
    entries = pl.DataFrame(
        {
            "loan_id": ["L1", "L2"],
            "arm": ["champion", "gentle"],
            "entry_date": [NOV[0], NOV[1]],
            "allocated": [1000, 500],
        }
    )
    payments = pl.DataFrame(
        {
            "loan_id": ["L1", "L1", "L2"],
            "received_date": [D(2026, 10, 30), NOV[2], NOV[9]],
            "amount": [10, 300, 50],
        }
    )
    exits = pl.DataFrame(
        {"loan_id": ["L1", "L2"], "closed_on": [NOV[19], None]},
        schema={"loan_id": pl.String, "closed_on": pl.Date},
    )
    violations = pl.DataFrame({"loan_id": ["L2", "L2"]})
    acc = experiment_accounts(entries, payments, exits, violations, through=NOV[4]).sort("loan_id")
    assert acc.select("collected", "cured", "violations").rows() == [(300, True, 0), (0, False, 2)]
    results = {r["arm"]: r for r in arm_results(acc).iter_rows(named=True)}
    assert _approx(results["champion"]["recovery_rate"], 0.3) and results["gentle"]["violations"] == 2


# --------------------------------------------------------------------------------- charts and tables


def test_the_roll_rate_heatmap_shows_the_matrix() -> None:
    start = pl.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3"],
            "bucket": ["C", "C", "M1"],
            "status": ["active"] * 3,
            "written_off": [False] * 3,
            "outstanding_principal": [100, 300, 200],
        }
    )
    end = pl.DataFrame(
        {"loan_id": ["L1", "L2"], "bucket": ["C", "M1"], "status": ["active"] * 2, "written_off": [False] * 2}
    )
    matrix = roll_rate_matrix(start, end)  # C: 100 stays, 300 rolls to M1; M1: L3 left the book (paid off)
    assert _approx(matrix.row(0, named=True)["M1"], 0.75) and _approx(
        matrix.row(1, named=True)["paid_off"], 1.0
    )
    fmt = Formats("en", currency="CNY", digits=2, gettext=str)
    svg = str(
        heatmap(
            "hm",
            matrix.get_column("from_bucket").to_list(),
            END_STATES,
            [[r[s] for s in END_STATES] for r in matrix.iter_rows(named=True)],
            title="Roll rates",
            row_title="From",
            col_title="To",
            cell_format=fmt.pct,
        )
    )
    assert svg.count('class="cell"') == 2 * len(END_STATES)
    assert "C → M1: 75.0%" in svg and "M1 → paid_off: 100.0%" in svg and "C → M2: ·" in svg
    assert svg.startswith('<svg id="hm"') and "<title" in svg


def test_charts_draw_their_elements() -> None:
    line = str(
        line_chart(
            "l",
            [
                Series("now", [(1, 0.1), (2, None), (3, 0.3), (4, 0.35)]),
                Series("then", [(1, 0.2)], dashed=True),
            ],
            title="t",
            x_label="day",
            y_label="rate",
            y_format=lambda v: f"{v:.0%}",
            x_ticks=[(1, "1")],
        )
    )
    assert line.count("<polyline") == 1 and 'stroke-dasharray="6 4"' in line  # a gap splits the line
    assert ">35%<" in line  # the last value is labelled
    assert "No data" in str(
        line_chart("e", [], title="t", x_label="", y_label="", y_format=str, empty="No data")
    )
    bar = str(bars("b", [Bar("M1", 5, "5", target=10, target_text="cap")], title="t"))
    assert 'class="bar"' in bar and 'class="target"' in bar and 'class="track"' in bar
    fun = str(funnel("f", [Stage("a", 10, "10"), Stage("b", 5, "5", "50%")], title="t"))
    assert fun.count('class="stage"') == 2
    assert nice_ticks(0, 0.061, 4) == [0.0, 0.02, 0.04, 0.06, 0.08]


def _table() -> Table:
    cols = [
        Column("day", "Date", "date"),
        Column("figure", "Figure", "label"),
        Column("amount", "Collected", "money"),
        Column("rate", "Recovery rate", "pct"),
        Column("count", "Count", "int"),
    ]
    rows: list[dict[str, Any]] = [
        {"day": NOV[0], "figure": "Entry rate", "amount": 123456, "rate": 0.25, "count": 1200},
        {"day": None, "figure": "=HYPERLINK(1)", "amount": -5, "rate": None, "count": 3},
    ]
    return Table("t", "Collections by day this month", cols, rows, start=NOV[0], end=NOV[4], total_key="day")


def test_csv_and_xlsx_from_one_table_model() -> None:
    zh = Formats("zh_CN", currency="CNY", digits=2, gettext=translations("zh_CN").gettext)
    text = to_csv(_table(), zh).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert lines[0] == ["日期", "指标", "回款", "回收率", "数量"]
    assert lines[1] == ["2026-11-01", "入催率", "1234.56", "0.2500", "1200"]
    assert lines[2] == ["", "'=HYPERLINK(1)", "-0.05", "", "3"]  # a formula is neutralised
    book = load_workbook(io.BytesIO(to_xlsx(_table(), zh)))
    sheet = book.worksheets[0]
    assert sheet.title == "本月每日回款"
    assert [c.value for c in sheet[1]] == ["日期", "指标", "回款", "回收率", "数量"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet["C2"].value == 1234.56 and sheet["C2"].number_format == "#,##0.00"
    assert sheet["D2"].value == 0.25 and sheet["D2"].number_format == "0.0%"
    assert sheet["E2"].number_format == "#,##0" and sheet["A2"].number_format == "yyyy-mm-dd"
    assert sheet["A3"].font.bold  # the total row
    assert sheet.column_dimensions["B"].width >= 8 and sheet.freeze_panes == "A2"
    about = book.worksheets[1]
    assert about["A1"].value == "表" and about["B1"].value == "本月每日回款"
    en = Formats("en", currency="CNY", digits=2, gettext=translations("en").gettext)
    assert (
        to_csv(_table(), en)
        .decode("utf-8")
        .lstrip("\ufeff")
        .startswith("Date,Figure,Collected,Recovery rate")
    )
