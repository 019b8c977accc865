"""One day, one publication (item 5 of the import report): `recoup import installments FILE` alone
printed "the book as of 2026-11-21 is now readable" before that day's payments were in.

A single-file import adds its file to the day; the day is published (its manifest row written, the
book as of the day readable) only when every dataset the lender's mapping declares is there, or with
``--publish``, or when the day was published before. ``recoup import DIR`` still publishes at once.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.lake import Lake, book_as_of
from recoup.lake.models import LakeImport
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.flows import import_dir, import_file

RECOUP = str(Path(sys.executable).parent / "recoup")
D1, D2, D3 = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)
DAY = '[day]\ndatasets = ["loans", "installments", "payments"]\n'

BORROWERS = "borrower_id,name\nC1,张伟\nC2,李娜\n"
LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    "L1,C1,CASH3,cash_loan,equal_principal,300,18%,3,2026-08-01,active\n"
    "L2,C2,CASH3,cash_loan,equal_principal,300,18%,3,2026-08-01,active\n"
)
INSTALLMENTS = (
    "loan_id,seq,due_date,principal_due,interest_due,principal_paid,interest_paid\n"
    "L1,1,2026-09-01,100,4.5,100,4.5\nL1,2,2026-10-01,100,3,0,0\nL1,3,2026-11-01,100,1.5,0,0\n"
)
PAYMENTS = "payment_id,loan_id,received_date,amount,channel\nY1,L1,2026-09-01,104.5,代扣\n"
# Day 2: installment 2 of L1 is paid, and the payment that paid it arrives.
INSTALLMENTS_2 = INSTALLMENTS.replace("L1,2,2026-10-01,100,3,0,0", "L1,2,2026-10-01,100,3,100,3")
PAYMENTS_2 = "payment_id,loan_id,received_date,amount,channel\nY2,L1,2026-11-21,103,代扣\n"
LOANS_2 = LOANS.replace("L2,C2,CASH3", "L2,C2,CASH6")


def _write(directory: Path, files: dict[str, str], mapping: str | None = DAY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    if mapping is not None:
        (directory / "mapping.toml").write_text(mapping, encoding="utf-8")
    return directory


def _first_day(tmp_path: Path, settings: Settings, lake: Lake, session: Session) -> None:
    d1 = _write(
        tmp_path / "d1",
        {
            "borrowers.csv": BORROWERS,
            "loans.csv": LOANS,
            "installments.csv": INSTALLMENTS,
            "payments.csv": PAYMENTS,
        },
    )
    assert import_dir(d1, as_of=D1, settings=settings, lake=lake, session=session).published


def _paid(session: Session, lake: Lake, day: dt.date) -> int:
    return int(
        book_as_of(day, session=session, lake=lake).frame("installments").get_column("principal_paid").sum()
    )


def _manifest_days(session: Session) -> list[dt.date]:
    return list(session.scalars(select(LakeImport.as_of).order_by(LakeImport.id)))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def test_a_single_file_waits_for_the_days_declared_datasets(
    session: Session, settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    _first_day(tmp_path, settings, lake, session)
    d2 = _write(
        tmp_path / "d2",
        {
            "还款计划_20261121.csv": INSTALLMENTS_2,
            "还款流水_20261121.csv": PAYMENTS_2,
            "借据_20261121.csv": LOANS_2,
        },
    )
    common = {"as_of": D2, "settings": settings, "lake": lake, "session": session}
    out = import_file("installments", d2 / "还款计划_20261121.csv", **common)  # type: ignore[arg-type]
    assert not out.published and out.manifest_id is None
    assert out.present == ("installments",) and out.missing == ["loans", "payments"]
    assert out.mapping.endswith("mapping.toml")  # the mapping beside the file declares the day
    book = book_as_of(D2, session=session, lake=lake)
    assert book.manifest_as_of == D1 and _paid(session, lake, D2) == 10000  # day 2 is not readable yet
    # The file is in the lake and the ledger, but no manifest row publishes it.
    assert _manifest_days(session) == [D1]
    pending = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "import.file")).all()[-1]
    assert pending.payload["manifest_id"] is None and pending.payload["published"] is False

    out = import_file("payments", d2 / "还款流水_20261121.csv", **common)  # type: ignore[arg-type]
    assert not out.published and out.missing == ["loans"]
    assert book_as_of(D2, session=session, lake=lake).manifest_as_of == D1

    out = import_file("loans", d2 / "借据_20261121.csv", **common)  # type: ignore[arg-type]
    assert out.published and out.missing == [] and out.manifest_id is not None
    assert _manifest_days(session) == [D1, D2]
    assert _paid(session, lake, D2) == 20000 and _paid(session, lake, D1) == 10000
    assert book_as_of(D2, session=session, lake=lake).frame("payments").height == 2
    row = session.get(LakeImport, out.manifest_id)
    assert row is not None and row.kind == "file"
    assert sorted(f["dataset"] for f in row.files) == ["installments", "loans", "payments"]
    assert sum(bool(f.get("added_earlier")) for f in row.files) == 2


def test_publish_publishes_an_incomplete_day_and_reimporting_a_waiting_file_is_a_noop(
    session: Session, settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    _first_day(tmp_path, settings, lake, session)
    d2 = _write(tmp_path / "d2", {"installments.csv": INSTALLMENTS_2})
    common = {"as_of": D2, "settings": settings, "lake": lake, "session": session}
    assert not import_file("installments", d2 / "installments.csv", **common).published  # type: ignore[arg-type]
    again = import_file("installments", d2 / "installments.csv", **common)  # type: ignore[arg-type]
    assert again.noop and not again.published and _manifest_days(session) == [D1]
    out = import_file("installments", d2 / "installments.csv", publish=True, **common)  # type: ignore[arg-type]
    assert out.published and out.missing == ["loans", "payments"]
    assert _manifest_days(session) == [D1, D2] and _paid(session, lake, D2) == 20000


def test_without_a_declaration_a_single_file_publishes_only_on_request(
    session: Session, settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    _first_day(tmp_path, settings, lake, session)
    d2 = _write(tmp_path / "d2", {"installments.csv": INSTALLMENTS_2}, mapping=None)
    common = {"as_of": D2, "settings": settings, "lake": lake, "session": session}
    out = import_file("installments", d2 / "installments.csv", **common)  # type: ignore[arg-type]
    assert not out.published and out.declared == () and out.missing == []
    assert book_as_of(D2, session=session, lake=lake).manifest_as_of == D1
    out = import_file("installments", d2 / "installments.csv", publish=True, **common)  # type: ignore[arg-type]
    assert out.published and book_as_of(D2, session=session, lake=lake).manifest_as_of == D2


def test_a_correction_to_a_published_day_is_published_again(
    session: Session, settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    _first_day(tmp_path, settings, lake, session)
    fix = _write(tmp_path / "fix", {"installments.csv": INSTALLMENTS_2}, mapping=None)
    out = import_file(
        "installments", fix / "installments.csv", as_of=D1, settings=settings, lake=lake, session=session
    )
    assert out.published and _manifest_days(session) == [D1, D1] and _paid(session, lake, D1) == 20000


def test_a_directory_still_publishes_its_day_at_once(
    session: Session, settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    _first_day(tmp_path, settings, lake, session)
    d2 = _write(tmp_path / "d2", {"installments.csv": INSTALLMENTS_2})  # loans and payments declared, absent
    out = import_dir(d2, as_of=D2, settings=settings, lake=lake, session=session)
    assert out.published and _manifest_days(session) == [D1, D2]
    assert any("declares loans, payments for a complete day" in w for w in out.warnings)


def test_a_day_left_unpublished_joins_the_next_days_book_with_a_warning(
    session: Session, settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    _first_day(tmp_path, settings, lake, session)
    d2 = _write(tmp_path / "d2", {"installments.csv": INSTALLMENTS_2})
    import_file(
        "installments", d2 / "installments.csv", as_of=D2, settings=settings, lake=lake, session=session
    )
    d3 = _write(
        tmp_path / "d3",
        {"payments.csv": PAYMENTS_2, "loans.csv": LOANS_2, "installments.csv": INSTALLMENTS_2},
    )
    out = import_dir(d3, as_of=D3, settings=settings, lake=lake, session=session)
    assert out.published and any("2026-11-21 were never published" in w for w in out.warnings)
    assert _manifest_days(session) == [D1, D3]
    assert _paid(session, lake, D2) == 10000 and _paid(session, lake, D3) == 20000


def test_the_cli_says_whether_the_day_is_readable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "250"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, timeout=120)

    d1 = _write(
        tmp_path / "d1",
        {
            "borrowers.csv": BORROWERS,
            "loans.csv": LOANS,
            "installments.csv": INSTALLMENTS,
            "payments.csv": PAYMENTS,
        },
    )
    assert run("import", str(d1), "--as-of", "2026-11-20").returncode == 0
    d2 = _write(tmp_path / "d2", {"installments.csv": INSTALLMENTS_2})
    proc = run("import", "installments", str(d2 / "installments.csv"), "--as-of", "2026-11-21")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "is now readable" not in out
    assert "the book as of 2026-11-21 is NOT readable yet: waiting for loans, payments" in out
    assert "--publish" in out
    proc = run("import", "installments", str(d2 / "installments.csv"), "--as-of", "2026-11-21", "--publish")
    assert proc.returncode == 0, proc.stderr
    assert "the book as of 2026-11-21 is now readable" in " ".join(proc.stdout.split())
