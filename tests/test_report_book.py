"""Kernels of the report on the lender's book and the formatted output, on hand-made frames whose expected
values are worked out here (issue 16 item 6, Why 7 and 8)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from recoup.reporting.book import (
    breakdown,
    cure_rate_window,
    entry_rate_window,
    fpd_by_vintage,
    roll_rate_report,
)
from recoup.reporting.book_cli import _ranges, definitions
from recoup.reporting.metrics import markov_projection, roll_rate_matrix
from recoup.reporting.rollrates_cli import first_reportable_month, rollrate_sheets
from recoup.reporting.sheets import Col, Sheet, cell_text, write_csv, write_xlsx

D = dt.date


def _positions() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "loan_id": ["P1", "P2", "P3"],
            "borrower_id": ["b1", "b1", "b2"],
            "product_type": ["cash_loan", "installment", "cash_loan"],
            "bucket": ["C", "M1", "M1"],
            "bucket_rank": [0, 1, 1],
            "loan_class": ["normal", "special_mention", "special_mention"],
            "class_rank": [1, 2, 2],
            "outstanding_principal": [10_000, 30_000, 60_000],
            "overdue_amount": [0, 500, 1_500],
            "vintage": ["2026-09", "2026-10", "2026-10"],
        }
    )


def test_breakdown_by_product_and_bucket_with_total() -> None:
    by_product = breakdown(_positions(), "product_type")
    assert by_product.drop("share").rows() == [
        ("cash_loan", 2, 2, 70_000, 1_500),
        ("installment", 1, 1, 30_000, 500),
        (None, 3, 2, 100_000, 2_000),  # the total counts borrower b1 once
    ]
    assert by_product.get_column("share").to_list() == pytest.approx([0.7, 0.3, 1.0])
    by_bucket = breakdown(_positions(), "bucket", order="bucket_rank")
    assert by_bucket.get_column("bucket").to_list() == ["C", "M1", None]
    assert by_bucket.drop("share").row(1) == ("M1", 2, 2, 90_000, 2_000)
    assert by_bucket.get_column("share")[1] == pytest.approx(0.9)
    empty = breakdown(_positions().head(0), "bucket", order="bucket_rank")
    assert empty.rows() == [(None, 0, 0, 0, 0, None)]


def _installments() -> pl.DataFrame:
    z = [0, 0, 0, 0, 0]
    return pl.DataFrame(
        {
            "loan_id": ["A", "B", "C", "D", "E"],
            "seq": [1, 1, 1, 2, 1],
            "due_date": [D(2026, 11, 10), D(2026, 11, 15), D(2026, 11, 30), D(2026, 11, 20), D(2026, 10, 10)],
            "last_paid_date": [D(2026, 11, 10), None, None, D(2026, 11, 20), D(2026, 11, 5)],
            "principal_due": [10_000, 20_000, 7_000, 5_000, 8_000],
            "interest_due": [500, 1_000, 0, 0, 0],
            "fee_due": z,
            "penalty_due": z,
            "principal_paid": [10_000, 0, 0, 4_950, 8_000],
            "interest_paid": [500, 0, 0, 0, 0],
            "fee_paid": z,
            "penalty_paid": z,
        }
    )


def test_entry_rate_window() -> None:
    # Window 11-01 … 11-29 (E fell due in October, C on the 30th). A paid on time; B paid nothing
    # (21,000 unpaid); D is 50 short, within the 100 tolerance, so not counted.
    got = entry_rate_window(
        _installments().filter(pl.col("loan_id") != "E"), start=D(2026, 11, 1), end=D(2026, 11, 29)
    ).row(0, named=True)
    assert (got["amount_due"], got["amount_unpaid"], got["count_due"], got["count_unpaid"]) == (
        36_500,
        21_000,
        3,
        1,
    )
    assert got["rate"] == pytest.approx(21_000 / 36_500) and got["count_rate"] == pytest.approx(1 / 3)
    nothing = entry_rate_window(_installments(), start=D(2025, 1, 1), end=D(2025, 1, 31)).row(0, named=True)
    assert nothing["amount_due"] == 0 and nothing["rate"] is None


def test_fpd_by_vintage() -> None:
    positions = pl.DataFrame({"loan_id": ["A", "B", "E"], "vintage": ["2026-10", "2026-10", "2026-09"]})
    got = fpd_by_vintage(positions, _installments(), as_of=D(2026, 11, 30))
    # FPD7 observes first installments due by 11-22, FPD30 those due by 10-31.
    # A: paid on its due date → not FPD7. B: unpaid → FPD7. Neither is 30 days old.
    # E: due 10-10, paid 11-05 — after 10-17 (FPD7) but before 11-09 (not FPD30).
    assert got.rows() == [
        ("2026-09", 1, 1, 1, 1.0, 1, 0, 0.0),
        ("2026-10", 2, 2, 1, 0.5, 0, 0, None),
    ]


def test_cure_rate_window() -> None:
    rows = [
        # as_of, loan, dpd, status, transition, principal
        (D(2026, 10, 5), "X", 1, "active", "entered", 1_000),
        (D(2026, 10, 20), "X", 0, "active", "cured", 1_000),  # cured on day 15
        (D(2026, 10, 10), "Y", 1, "active", "entered", 3_000),
        (D(2026, 11, 20), "Y", 0, "active", "cured", 3_000),  # cured on day 41: too late
        (D(2026, 11, 5), "Z", 1, "active", "entered", 500),  # entered after the cohort window
        (D(2026, 9, 30), "W", 1, "active", "entered", 700),  # before it
        (D(2026, 10, 6), "V", 200, "active", "entered", 900),  # first seen long past due: no M1 entry
    ]
    daily = pl.DataFrame(
        rows,
        schema=["as_of", "loan_id", "dpd", "status", "transition", "outstanding_principal"],
        orient="row",
    )
    got = cure_rate_window(daily, as_of=D(2026, 11, 30)).row(0, named=True)
    assert (got["cohort_start"], got["cohort_end"]) == (D(2026, 10, 2), D(2026, 10, 31))
    assert (got["loans"], got["cured_loans"], got["balance"], got["cured_balance"]) == (2, 1, 4_000, 1_000)
    assert got["rate"] == pytest.approx(0.25)


def _snapshots() -> tuple[pl.DataFrame, pl.DataFrame]:
    start = pl.DataFrame(
        {
            "as_of": [D(2026, 10, 31)] * 4,
            "loan_id": ["L1", "L2", "L3", "L4"],
            "bucket": ["C", "C", "M1", "M1"],
            "status": ["active"] * 4,
            "written_off": [False] * 4,
            "outstanding_principal": [1_000, 100, 500, 100],
        }
    )
    end = pl.DataFrame(
        {
            "as_of": [D(2026, 11, 30)] * 4,
            "loan_id": ["L1", "L2", "L3", "L4"],
            "bucket": ["C", "M1", "C", "M2"],
            "status": ["active", "active", "paid_off", "written_off"],
            "written_off": [False, False, False, True],
        }
    )
    return start, end


def test_count_weighted_projection_uses_the_count_matrix() -> None:
    """Why 8. By count, half of M1 is written off and every C loan reaches M1: C and M1 lose 50 %. By
    balance only 100 of M1's 600 is written off: both lose 1/6."""
    start, end = _snapshots()
    sheets, thin, note = rollrate_sheets(start, end, weight="count", min_accounts=30, locale="en")
    assert note == ""
    proj = {r["bucket"]: r["eventual_loss"] for r in sheets[1].frame.iter_rows(named=True)}
    assert proj["C"] == pytest.approx(0.5) and proj["M1"] == pytest.approx(0.5)
    assert proj == markov_projection(roll_rate_matrix(start, end, weight="count")).pipe(
        lambda f: dict(zip(f["bucket"], f["eventual_loss"], strict=True))
    )
    by_balance, _, _ = rollrate_sheets(start, end, weight="balance", min_accounts=30, locale="en")
    loss = {r["bucket"]: r["eventual_loss"] for r in by_balance[1].frame.iter_rows(named=True)}
    assert loss["C"] == pytest.approx(1 / 6) and loss["M1"] == pytest.approx(1 / 6)
    # Both rows rest on two accounts: thin below 30 (and below 3), not below 2.
    assert thin == ["C", "M1"] and "fewer than 30 accounts: C (2), M1 (2)" in sheets[0].notes[0]
    assert roll_rate_report(start, end, min_accounts=2).get_column("thin").to_list() == [False, False]
    report = roll_rate_report(start, end, weight="balance", min_accounts=3)
    assert report.select("from_bucket", "base", "accounts", "thin").rows() == [
        ("C", 1_100, 2, True),
        ("M1", 600, 2, True),
    ]


def test_sheets_csv_and_xlsx_are_formatted(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "name": ["现金贷", None],
            "amount": [123_456, None],
            "rate": [0.8941441441, None],
            "thin": [True, False],
        }
    )
    cols = [
        Col("name", "Product", "产品"),
        Col("amount", "Outstanding (¥)", "剩余本金（元）", "money"),
        Col("rate", "Rate", "比率", "pct"),
    ]
    sheet = Sheet("t", "Title", cols, frame, ["a note"])
    assert [cell_text(c, frame.row(0, named=True)[c.key]) for c in cols] == ["现金贷", "1,234.56", "89.4%"]
    csv = pl.read_csv(write_csv(sheet, tmp_path / "t.csv"), schema_overrides={"amount": pl.String})
    assert csv.row(0) == ("现金贷", "1234.56", 0.894144, True)
    cases = (
        ("zh_CN", ["产品", "剩余本金（元）", "比率", "样本不足"], "定义"),
        ("en", ["Product", "Outstanding (¥)", "Rate", "few accounts"], "Definitions"),
    )
    for locale, headers, defs in cases:
        path = write_xlsx(
            [sheet], tmp_path / f"t-{locale}.xlsx", locale=locale, definitions=definitions(locale)
        )
        wb = load_workbook(path)
        ws = wb["t"]
        assert [c.value for c in ws[2]] == headers and all(c.font.b for c in ws[2])
        assert ws["B3"].value == pytest.approx(1234.56) and ws["B3"].number_format == "#,##0.00"
        assert ws["C3"].number_format == "0.0%"
        assert ws["D3"].value == "⚠" and ws["A3"].fill.fgColor.rgb.endswith("FFF2CC")
        assert ws.column_dimensions["B"].width >= len(headers[1])
        assert wb.sheetnames == ["t", defs]
        assert wb[defs].max_row == len(definitions(locale)) + 1


def test_helpers() -> None:
    days = [D(2026, 10, 1), D(2026, 10, 2), D(2026, 10, 3), D(2026, 11, 20)]
    assert _ranges(days) == "2026-10-01 – 2026-10-03, 2026-11-20"
    many = [D(2026, 1, 1) + dt.timedelta(days=2 * i) for i in range(10)]
    assert _ranges(many).count(",") == 6 and "…" in _ranges(many)
    assert first_reportable_month(D(2026, 11, 20)) == "2026-12"
    assert first_reportable_month(D(2026, 11, 30)) == "2026-12"
    assert first_reportable_month(D(2026, 12, 1)) == "2027-01"
