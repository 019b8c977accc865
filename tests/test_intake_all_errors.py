"""All errors of all files in one run (items 2–4 of the import report).

- A lender's day directory (dated Chinese file names, GBK, Chinese headers) with mistakes in three
  files is refused in one run listing every mistake, and nothing is written; fixed, it imports.
- A broken CSV structure names the line and shows it (personal data masked), with the likely cause:
  an unquoted thousands separator, or a stray quote — never the CSV library's own words.
- Money in messages is in yuan (or the lender's currency), both sides of a comparison alike.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.errors import ImportError_, ImportFileError, ImportRowsError
from recoup.lake import Lake, book_as_of
from recoup.lake.models import LakeImport
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.flows import import_dir
from recoup.portfolio.readers import Mapping, read_table
from recoup.portfolio.report import sensitive_headers
from recoup.portfolio.spec import DATASETS
from recoup.portfolio.validate import Context, validate

RECOUP = str(Path(sys.executable).parent / "recoup")
AS_OF = dt.date(2026, 11, 20)

MAPPING = """
[borrowers]
"客户号" = "borrower_id"
"客户姓名" = "name"
"身份证号" = "national_id"
"客户类型" = "customer_type"

[loans]
"借据号" = "loan_id"
"客户号" = "borrower_id"
"产品代码" = "product_code"
"产品类型" = "product_type"
"还款方式" = "repayment_method"
"放款金额" = "principal"
"年化利率" = "annual_rate"
"期数" = "term_months"
"放款日期" = "disbursement_date"
"借据状态" = "status"

[installments]
"借据号" = "loan_id"
"期次" = "seq"
"应还日期" = "due_date"
"应还本金" = "principal_due"
"应还利息" = "interest_due"
"已还本金" = "principal_paid"
"已还利息" = "interest_paid"

[payments]
"流水号" = "payment_id"
"借据号" = "loan_id"
"还款日期" = "received_date"
"还款金额" = "amount"
"还款渠道" = "channel"
"""

BORROWERS = (
    "客户号,客户姓名,身份证号,客户类型\nC1,张伟,110101199003071234,个人\nC2,李娜,,个人\nC3,王芳,,个人\n"
)
LOANS = (
    "借据号,客户号,产品代码,产品类型,还款方式,放款金额,年化利率,期数,放款日期,借据状态\n"
    'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常\n'
    "L2,C2,BNPL3,先买后付,到期一次还本付息,500,0.24,3,2026-08-15,正常\n"
    'L3,C3,CASH12,现金贷,等额本金,"12,345.67",18%,12,2026-09-01,正常\n'
)
INSTALLMENTS = (
    "借据号,期次,应还日期,应还本金,应还利息,已还本金,已还利息\n"
    "L1,1,2026-09-01,985.15,45.00,985.15,45.00\n"
    'L3,1,2026-10-01,"1,028.81",185.18,0,0\n'
    "L2,1,2026-11-15,500,30,0,0\n"
)
PAYMENTS = (
    "流水号,借据号,还款日期,还款金额,还款渠道\n"
    "P1,L1,2026-09-01,1030.15,支付宝\n"
    "P2,L2,2026-11-15,100.00,代扣\n"
    "P3,L3,2026-10-01,50.00,代扣\n"
)

# Five planted mistakes in three files (the report took four runs to see them).
BAD = {
    "借据_20261120.csv": LOANS.replace(",0.24,", ",24,").replace(  # rate.ambiguous, row 3
        "2026-09-01,正常", "2026-13-01,正常"
    ),  # date.unparseable, row 4
    "还款计划_20261120.csv": INSTALLMENTS.replace('"1,028.81"', "1,028.81"),  # unquoted, line 3
    "还款流水_20261120.csv": PAYMENTS.replace("P2,L2", "P2,L9").replace(  # ref.unknown, row 3
        "50.00,代扣", "5O.00,代扣"
    ),  # amount.unparseable (a letter O), row 4
}


def _write_day(day: Path, files: dict[str, str]) -> Path:
    day.mkdir(parents=True, exist_ok=True)
    (day / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    for name, text in files.items():
        (day / name).write_bytes(text.encode("gbk"))
    return day


def _good_files() -> dict[str, str]:
    return {
        "借款人_20261120.csv": BORROWERS,
        "借据_20261120.csv": LOANS,
        "还款计划_20261120.csv": INSTALLMENTS,
        "还款流水_20261120.csv": PAYMENTS,
    }


def _state(session: Session, lake: Lake) -> tuple[dict[str, int | None], int, int]:
    versions = {n: lake.version(n) for n in DATASETS}
    manifests = session.scalar(select(func.count()).select_from(LakeImport)) or 0
    entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    return versions, manifests, entries


def _assert_every_mistake(message: str) -> None:
    fragments = [
        # loans: two bad rows, with the lender's own headers
        "借据_20261120.csv: 2 invalid row(s) in loans",
        "row 3, column '年化利率', value '24'",
        "rate.ambiguous",
        "row 4, column '放款日期', value '2026-13-01'",
        "date.unparseable",
        # installments: the broken line, shown, with its cause
        "还款计划_20261120.csv: not a table as it stands: line 3 has 8 fields but the header line has 7",
        "the amount 1,028.81 in column '应还本金' is not in quotes",
        "line 3: L3,1,2026-10-01,1,028.81,185.18,0,0",
        # payments: an unknown loan and a bad amount
        "还款流水_20261120.csv: 2 invalid row(s) in payments",
        "row 3, column '借据号', value 'L9'",
        "ref.unknown",
        "row 4, column '还款金额', value '5O.00'",
        "amount.unparseable",
    ]
    for frag in fragments:
        assert frag in message, (frag, message)
    assert "found more fields than defined" not in message
    # L3's loan row is bad, but its payment and installment are not reported as orphans as well.
    assert message.count("ref.unknown") == 1


def test_a_day_with_mistakes_in_three_files_is_refused_in_one_run_then_imports_when_fixed(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    files = {**_good_files(), **BAD}
    day = _write_day(tmp_path / "20261120", files)
    before = _state(session, lake)
    with pytest.raises(ImportError_) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    exc = err.value
    # One file cannot be read at all: the day's error has the code of the earliest stage that failed.
    assert isinstance(exc, ImportFileError) and exc.code == "import.bad_file"
    _assert_every_mistake(exc.message)
    assert exc.details["error_count"] == 5
    assert [f["file"] for f in exc.details["files"]] == [
        "借据_20261120.csv",
        "还款计划_20261120.csv",
        "还款流水_20261120.csv",
    ]
    assert {(e["file"], e["rule"]) for e in exc.details["errors"]} == {
        ("借据_20261120.csv", "rate.ambiguous"),
        ("借据_20261120.csv", "date.unparseable"),
        ("还款流水_20261120.csv", "ref.unknown"),
        ("还款流水_20261120.csv", "amount.unparseable"),
    }
    assert _state(session, lake) == before  # nothing written: lake, manifest, ledger
    # Fixed, the same directory imports in one go.
    _write_day(day, _good_files())
    out = import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    assert out.published and [f.dataset for f in out.files] == [
        "borrowers",
        "loans",
        "installments",
        "payments",
    ]
    book = book_as_of(AS_OF, session=session, lake=lake)
    assert book.frame("installments").get_column("principal_due").sort().to_list() == [50000, 98515, 102881]
    assert book.frame("payments").height == 3


def test_the_cli_lists_every_mistake_in_one_run_with_exit_status_65(tmp_path: Path) -> None:
    day = _write_day(tmp_path / "20261120", {**_good_files(), **BAD})
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.run(
        [RECOUP, "import", str(day), "--as-of", "2026-11-20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 65, proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_every_mistake(" ".join(proc.stderr.split()))
    with sqlite3.connect(tmp_path / "data" / "recoup.db") as db:
        assert db.execute("select count(*) from lake_import").fetchone()[0] == 0
    fixed = _write_day(day, _good_files())
    proc = subprocess.run(
        [RECOUP, "import", str(fixed), "--as-of", "2026-11-20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "the book as of 2026-11-20 is now readable" in proc.stdout


# ------------------------------------------------------------------------ item 3: broken CSV lines


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unquoted_thousands_separator_names_the_line_shows_it_and_says_why(tmp_path: Path) -> None:
    """Item 3: `1,234.56` unquoted gave "found more fields than defined in 'Schema'", no row."""
    path = _csv(
        tmp_path,
        "loans.csv",
        'loan_id,borrower_id,principal,annual_rate\nL1,C1,"3,000.00",18%\nL2,C2,500,18%\nL3,C3,1,234.56,18%\n',
    )
    with pytest.raises(ImportFileError) as err:
        read_table(path)
    msg = err.value.message
    assert "Schema" not in msg and "truncate_ragged_lines" not in msg
    assert "line 4 has 5 fields but the header line has 4" in msg
    assert "the amount 1,234.56 in column 'principal' is not in quotes" in msg
    assert 'write "1,234.56" (in quotes) or 1234.56' in msg
    assert "line 4: L3,C3,1,234.56,18%" in msg
    assert err.value.details["line"] == 4 and err.value.details["cause"] == "thousands_separator"


def test_a_stray_quote_names_its_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "loans.csv", 'loan_id,product_code,status\nL1,CASH3,active\nL2,CA"SH3,active\n')
    with pytest.raises(ImportFileError) as err:
        read_table(path)
    assert "line 3 has a stray quote" in err.value.message
    assert 'line 3: L2,CA"SH3,active' in err.value.message


def test_an_unclosed_quote_names_the_line_that_opens_it(tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "loans.csv", 'loan_id,product_code,status\nL1,CASH3,active\nL2,"CASH3,active\nL3,X,active\n'
    )
    with pytest.raises(ImportFileError) as err:
        read_table(path)
    assert "line 3 opens a quoted cell that is never closed" in err.value.message


def test_a_shown_line_masks_personal_data(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "借款人.csv",
        "客户号,客户姓名,身份证号,月收入\nC1,张伟,110101199003071234,8000\nC2,欧阳娜娜,110101199003071255,8,500.00\n",
    )
    mapping = Mapping(columns={"borrowers": {"客户姓名": "name", "身份证号": "national_id"}})
    with pytest.raises(ImportFileError) as err:
        read_table(path, sensitive=sensitive_headers("borrowers", mapping))
    msg = err.value.message
    assert "the amount 8,500.00 in column '月收入'" in msg
    assert "欧阳娜娜" not in msg and "110101199003071255" not in msg
    assert "line 3: C2,欧**娜," in msg
    # Without knowing the headers, id numbers are still masked.
    with pytest.raises(ImportFileError) as err:
        read_table(path)
    assert "110101199003071255" not in err.value.message


# ------------------------------------------------------------------------ item 4: money in yuan


def test_paid_more_than_due_compares_yuan_with_yuan(tmp_path: Path) -> None:
    """Item 4: `value 'paid 2943.02 > due 123456'` put yuan against fen."""
    path = _csv(
        tmp_path,
        "installments.csv",
        "loan_id,seq,due_date,principal_due,interest_due,principal_paid\nL1,1,2026-09-01,1234.56,0,2943.02\n",
    )
    v = validate(read_table(path), DATASETS["installments"], Mapping(), Context())
    assert v.errors.select("rule", "value").rows() == [("paid.exceeds_due", "paid ¥2,943.02 > due ¥1,234.56")]
    usd = validate(read_table(path), DATASETS["installments"], Mapping(), Context(currency="USD"))
    assert usd.errors.get_column("value").to_list() == ["paid US$2,943.02 > due US$1,234.56"]


def test_too_large_amounts_are_explained_in_yuan(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "payments.csv",
        "payment_id,loan_id,received_date,amount,channel\nP1,L1,2026-11-01,9E+15,代扣\n",
    )
    v = validate(read_table(path), DATASETS["payments"], Mapping(), Context())
    message = v.errors.filter(pl.col("rule") == "amount.too_large").get_column("message").item()
    assert "¥1,000,000,000,000.00" in message and "minor units" not in message


def test_a_single_bad_file_keeps_its_own_error(session: Session, settings: Settings, tmp_path: Path) -> None:
    """One problem is reported exactly as before: its own code, message and details."""
    day = _write_day(tmp_path / "day", {**_good_files(), "借据_20261120.csv": BAD["借据_20261120.csv"]})
    with pytest.raises(ImportRowsError) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=Lake(str(tmp_path / "lake")), session=session)
    assert err.value.message.startswith("借据_20261120.csv: 2 invalid row(s) in loans")
    assert {e["rule"] for e in err.value.details["errors"]} == {"rate.ambiguous", "date.unparseable"}
