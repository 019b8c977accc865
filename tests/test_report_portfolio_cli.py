"""``recoup report portfolio`` and the fixed ``report rollrates`` end to end (issue 16, Why 7 and 8).

One synthetic book is imported on 2026-10-31 and the cycle runs on 10-31 and (on the same book) 11-30.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from recoup.lake import Lake
from recoup.lake.store import Outputs
from recoup.portfolio.synth import generate, write_extract
from recoup.reporting.metrics import MetricsError, markov_projection, roll_rate_matrix

RECOUP = str(Path(sys.executable).parent / "recoup")
Run = Callable[..., subprocess.CompletedProcess[str]]


def _runner(data: Path, **extra: str) -> Run:
    env = {**os.environ, "RECOUP_DATA_DIR": str(data), "COLUMNS": "200", **extra}
    env.pop("RECOUP_DATABASE_URL", None)
    env.pop("RECOUP_LOCALE", None)
    env.update(extra)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True)
        if ok:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    return run


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("book")
    run = _runner(root / "data")
    d = write_extract(generate(500, as_of=dt.date(2026, 10, 31), seed=9), root / "extract")
    run("import", str(d), "--as-of", "2026-10-31")
    run("cycle", "run", "--as-of", "2026-10-31")
    run("cycle", "run", "--as-of", "2026-11-30", "--allow-stale-book")
    return root / "data"


def test_portfolio_report_table_csv_xlsx_json(book: Path, tmp_path: Path) -> None:
    run = _runner(book)
    out = run(
        "report", "portfolio", "--as-of", "2026-11-30", "--csv", str(tmp_path / "p.csv"),
        "--xlsx", str(tmp_path / "p.xlsx"),
    )  # fmt: skip
    # Chinese by default: headings and the five classes in Chinese.
    assert "按五级分类" in out.stdout and "入催率" in out.stdout and "合计" in out.stdout
    positions = Outputs(Lake(str(book / "lake"))).read("account_daily", dt.date(2026, 11, 30))
    assert positions is not None
    by_bucket = pl.read_csv(tmp_path / "p-bucket.csv")
    total = by_bucket.filter(pl.col("bucket") == "合计").row(0, named=True)
    assert total["loans"] == positions.height
    expected = Decimal(int(positions.get_column("outstanding_principal").sum())).scaleb(-2)
    assert Decimal(str(total["outstanding_principal"])) == expected
    for name in ("product", "class", "entry", "cure", "fpd"):
        assert (tmp_path / f"p-{name}.csv").exists()

    wb = load_workbook(tmp_path / "p.xlsx")
    assert wb.sheetnames == ["product", "bucket", "class", "entry", "cure", "fpd", "定义"]
    ws = wb["bucket"]
    headers = [c.value for c in ws[2]]
    assert headers[:2] == ["账龄", "借据数"] and ws["A2"].font.b
    assert ws["D3"].number_format == "#,##0.00" and ws["F3"].number_format == "0.0%"
    assert isinstance(ws["D3"].value, (int, float, Decimal)) and ws.column_dimensions["D"].width >= 10
    defs = [r[0].value for r in wb["定义"].iter_rows(min_row=2)]
    assert "入催率" in defs and "迁徙率" in defs

    # English on request, and one JSON object with money as decimal strings.
    en = _runner(book, RECOUP_LOCALE="en")
    doc = json.loads(en("report", "portfolio", "--as-of", "2026-11-30", "--json").stdout)
    assert doc["report"] == "portfolio" and set(doc["tables"]) >= {"bucket", "class", "fpd"}
    classes = {r["loan_class"] for r in doc["tables"]["class"]}
    assert "Total" in classes and not any("合计" in c for c in classes)
    assert isinstance(doc["tables"]["bucket"][-1]["outstanding_principal"], str)
    text = en("report", "portfolio", "--as-of", "2026-11-30").stdout
    assert "By five-category class" in text and "按五级分类" not in text


def test_portfolio_day_without_data_names_the_days(book: Path) -> None:
    proc = _runner(book)("report", "portfolio", "--as-of", "2026-11-15", ok=False)
    assert proc.returncode == 66, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert "2026-11-15" in said and "2026-10-31" in said and "2026-11-30" in said
    bad = _runner(book)("report", "portfolio", "--as-of", "2026-13-40", ok=False)
    assert bad.returncode == 64


def test_rollrates_count_weight_and_thin_rows(book: Path, tmp_path: Path) -> None:
    """Why 8: ``--weight count`` reports (and projects) the count-weighted matrix (the projection itself is
    checked on hand-made frames in test_report_book.py); thin rows are marked everywhere."""
    run = _runner(book)
    args = ("report", "rollrates", "--month", "2026-11", "--out", str(tmp_path), "--json")
    doc = json.loads(run(*args, "--weight", "count").stdout)
    out = Outputs(Lake(str(book / "lake")))
    start, end = (
        out.read("account_daily", dt.date(2026, 10, 31)),
        out.read("account_daily", dt.date(2026, 11, 30)),
    )
    assert start is not None and end is not None
    counts = roll_rate_matrix(start, end, weight="count")
    assert [r["base"] for r in doc["tables"]["rollrates"]] == counts.get_column("base").to_list()
    try:
        want = markov_projection(counts)
    except MetricsError as exc:  # one stale-book month: some bucket has no rates of its own
        assert exc.message in doc["projection_error"] and "projection" not in doc["tables"]
    else:
        got = [r["eventual_loss"] for r in doc["tables"]["projection"]]
        assert got == pytest.approx(want.get_column("eventual_loss").to_list(), nan_ok=True)

    # Rows on fewer than --min-accounts accounts: warned, flagged in the CSV and shaded in the workbook.
    few = counts.filter(pl.col("base") < 30).get_column("from_bucket").to_list()
    assert few, "the synthetic book has thin late buckets"
    assert sorted(doc["thin"]) == sorted(few)
    text = run("report", "rollrates", "--month", "2026-11", "--out", str(tmp_path)).stdout
    assert "警告" in text and "样本不足" in text
    csv = pl.read_csv(tmp_path / "rollrates-2026-11-balance.csv")
    assert csv.filter(pl.col("thin")).get_column("from_bucket").to_list() == few
    wb = load_workbook(tmp_path / "rollrates-2026-11-balance.xlsx")
    ws = wb["rollrates"]
    assert [c.value for c in ws[2]][:3] == ["起始账龄", "C", "M1"]
    assert ws["B3"].number_format == "0.0%" and ws["L3"].number_format == "#,##0.00"
    assert all(
        not isinstance(c.value, float) or c.number_format != "General"
        for row in ws.iter_rows(min_row=3)
        for c in row
    )
    assert ("projection" in wb.sheetnames) == (doc["projection_error"] is None) and "定义" in wb.sheetnames
    fewer = json.loads(run(*args, "--min-accounts", "1").stdout)
    assert fewer["thin"] == []


def test_new_lender_rollrates_says_what_is_missing(tmp_path: Path) -> None:
    """Why 7: a lender whose history starts on 2026-11-20 asks for November's roll rates."""
    run = _runner(tmp_path / "data")
    d = write_extract(generate(200, as_of=dt.date(2026, 11, 20), seed=3), tmp_path / "extract")
    run("import", str(d), "--as-of", "2026-11-20")
    run("cycle", "run", "--as-of", "2026-11-20")
    proc = run("report", "rollrates", "--month", "2026-11", ok=False)
    assert proc.returncode == 66, proc.stdout + proc.stderr
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "2026-10-31" in said and "2026-11-20" in said and "2026-12" in said
    assert "recoup cycle run --as-of 2026-10-31" not in said
    # Nothing ran: no half-finished cycle run, and no report written.
    status = run("cycle", "status").stdout
    assert "2026-10-31" not in status and "running" not in status and "failed" not in status
    assert not (tmp_path / "data" / "reports").exists()
