"""Reject files of ``--accept-partial`` (item 6 of the import report): they used the format's field
names rather than the lender's headers, were written into the input folder, and the exit status was 0
although rows were rejected. Now: the lender's own headers and cells, a folder under the data directory
named in the output, and exit status 3 (documented in docs/reliability.md)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.lake import Lake, book_as_of
from recoup.portfolio.flows import import_dir, import_file
from recoup.portfolio.rejects import EXIT_REJECTED

RECOUP = str(Path(sys.executable).parent / "recoup")
AS_OF = dt.date(2026, 11, 20)
MAPPING = (
    '[borrowers]\n"客户号" = "borrower_id"\n"客户姓名" = "name"\n'
    '[loans]\n"借据号" = "loan_id"\n"客户号" = "borrower_id"\n"产品代码" = "product_code"\n'
    '"产品类型" = "product_type"\n"还款方式" = "repayment_method"\n"放款金额" = "principal"\n'
    '"年化利率" = "annual_rate"\n"期数" = "term_months"\n"放款日期" = "disbursement_date"\n'
    '"借据状态" = "status"\n'
    'ignore = ["备注"]\n'
)
BORROWERS = "客户号,客户姓名\nC1,张伟\nC2,李娜\n"
LOANS = (
    "借据号,客户号,产品代码,产品类型,还款方式,放款金额,年化利率,期数,放款日期,借据状态,备注\n"
    'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常,\n'
    "L2,C2,BNPL3,房贷,到期一次还本付息,500,0.24,3,2026-08-15,正常,客户要求延期\n"
    'L3,C9,CASH3,现金贷,等额本息,"1,000.00",18,3,2026-08-01,正常,=1+1\n'
)


def _day(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    (root / "借款人_20261120.csv").write_bytes(BORROWERS.encode("gbk"))
    (root / "借据_20261120.csv").write_bytes(LOANS.encode("gbk"))
    return root


def test_rejects_keep_the_lenders_headers_and_go_under_the_data_directory(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = _day(tmp_path / "in" / "20261120")
    before = sorted(p.name for p in day.iterdir())
    lake = Lake(str(tmp_path / "lake"))
    out = import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session, accept_partial=True)
    assert out.published and out.rejected == 2
    assert out.rejects_dir == settings.data_dir / "rejects" / "2026-11-20"
    assert sorted(p.name for p in day.iterdir()) == before  # nothing written into the input folder
    rejects = next(f.reject_file for f in out.files if f.reject_file)
    assert rejects == out.rejects_dir / "借据_20261120.rejects.csv"
    assert stat.S_IMODE(os.stat(rejects).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out.rejects_dir).st_mode) == 0o700
    frame = pl.read_csv(rejects, infer_schema=False)
    # The lender's own headers, in the file's order, after the row number and the reasons.
    assert frame.columns == [
        "row",
        "reject_reason",
        "借据号",
        "客户号",
        "产品代码",
        "产品类型",
        "还款方式",
        "放款金额",
        "年化利率",
        "期数",
        "放款日期",
        "借据状态",
        "备注",
    ]
    assert frame.get_column("row").to_list() == ["3", "4"]
    assert frame.get_column("借据号").to_list() == ["L2", "L3"]
    assert frame.get_column("产品类型").to_list() == ["房贷", "现金贷"]  # the cell as sent
    assert frame.get_column("备注").to_list() == ["客户要求延期", "'=1+1"]  # a formula stays inert
    reasons = frame.get_column("reject_reason").to_list()
    assert "产品类型: unknown value" in reasons[0] and "[enum.unknown]" in reasons[0]
    assert "客户号: refers to a borrower id" in reasons[1] and "年化利率:" in reasons[1]
    loans = book_as_of(AS_OF, session=session, lake=lake).frame("loans")
    assert loans.get_column("loan_id").to_list() == ["L1"]


def test_a_single_file_with_rejects_reports_them_too(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = _day(tmp_path / "in")
    lake = Lake(str(tmp_path / "lake"))
    import_file(
        "borrowers", day / "借款人_20261120.csv", as_of=AS_OF, settings=settings, lake=lake, session=session
    )
    out = import_file(
        "loans",
        day / "借据_20261120.csv",
        as_of=AS_OF,
        settings=settings,
        lake=lake,
        session=session,
        accept_partial=True,
    )
    assert out.rejected == 2 and out.rejects_dir is not None
    assert (out.rejects_dir / "借据_20261120.rejects.csv").exists()


def test_the_cli_names_the_folder_and_exits_with_the_rejected_status(tmp_path: Path) -> None:
    day = _day(tmp_path / "in" / "20261120")
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(data), "COLUMNS": "250", "RECOUP_LOCALE": "en"}
    proc = subprocess.run(
        [RECOUP, "import", str(day), "--as-of", "2026-11-20", "--accept-partial"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert EXIT_REJECTED == 3
    assert proc.returncode == EXIT_REJECTED, proc.stderr
    out = " ".join(proc.stdout.split())
    folder = data / "rejects" / "2026-11-20"
    assert f"2 row(s) of 借据_20261120.csv rejected; reasons in {folder / '借据_20261120.rejects.csv'}" in out
    assert f"reject files (your own headers, with row numbers and reasons) are in {folder}" in out
    assert "the book as of 2026-11-20 is now readable" in out
    # Without rejects the same command exits 0.
    clean = _day(tmp_path / "in2")
    header, first_loan = LOANS.splitlines(keepends=True)[:2]
    (clean / "借据_20261120.csv").write_bytes((header + first_loan).encode("gbk"))
    proc = subprocess.run(
        [RECOUP, "import", str(clean), "--as-of", "2026-11-21", "--accept-partial"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
