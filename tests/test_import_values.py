"""Import hardening of cell values (issue 17): NUL and control characters (F2), grouping separators
checked, not stripped (F3), bounded amounts (F4), invisible characters in ids (F7), formula cells
neutralised in every file written for people (F10), personal data masked in errors (F14). Each bad
file is refused whole and leaves the lake, the manifest and the ledger unchanged, on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup import cellsafe
from recoup.config import load_settings
from recoup.errors import ImportRowsError
from recoup.lake import Lake
from recoup.lake.models import LakeImport
from recoup.ledger.models import LedgerEntry
from recoup.portfolio import parse
from recoup.portfolio.flows import import_dir

AS_OF = dt.date(2026, 11, 20)
BORROWERS = (
    "borrower_id,name,national_id,customer_type\nC1,张伟,110101199003071234,个人\nC2,李娜,,individual\n"
)
LOANS_HEAD = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
)
LOAN_L1 = 'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常\n'


def _amounts(*cells: str) -> list[tuple[int | None, str | None]]:
    p = parse.amount(pl.Series("a", list(cells)), minor_digits=2)
    return list(zip(p.value.to_list(), p.reason.to_list(), strict=True))


def test_grouping_separators_are_checked_not_stripped() -> None:
    # Worked by hand: only groups of three before the point, one separator kind, are grouping.
    assert _amounts("12,34", "1,2,3.4,5", "1,234.56", "1,234,567", "12 34", "1 234.50", "1'000'000.5") == [
        (None, "amount.bad_grouping"),  # a decimal comma would be 12.34, not 1,234.00
        (None, "amount.bad_grouping"),
        (123_456, None),
        (123_456_700, None),
        (None, "amount.bad_grouping"),
        (123_450, None),
        (100_000_050, None),
    ]
    # Mixed separators, a group of two or four, a separator after the point.
    assert [r for _v, r in _amounts("1,000 000", "1,00,000", "10,0000", "1,000.000,5")] == [
        "amount.bad_grouping"
    ] * 4
    # What was accepted before still is: currency marks, brackets, exponents, full-width digits.
    assert _amounts("¥1,234.56", "(12.00)", "1E+05", "１，２３４．５６", "RMB 1,000", "-1,234") == [
        (123_456, None),
        (-1_200, None),
        (10_000_000, None),
        (123_456, None),
        (100_000, None),
        (-123_400, None),
    ]


def test_amounts_are_bounded_so_no_sum_wraps_around() -> None:
    assert _amounts("9E+15", "1000000000000.00", "1000000000000.01", "-1000000000000.01") == [
        (None, "amount.too_large"),
        (parse.MAX_AMOUNT_MINOR, None),
        (None, "amount.too_large"),
        (None, "amount.too_large"),
    ]
    # The bound leaves room: 90,000 maximal amounts still sum inside Int64.
    assert 90_000 * parse.MAX_AMOUNT_MINOR < 2**63 - 1


def test_text_keeps_line_breaks_and_refuses_control_and_invisible_characters() -> None:
    cells = ["a\x00b", "line 1\r\nline 2", "x\ry", "esc\x1b[31mred", "tab\there", "rtl\u202eevil", "张伟"]
    p = parse.text(pl.Series("t", cells))
    assert p.reason.to_list() == [
        "text.control_char",
        None,
        "text.control_char",
        "text.control_char",
        None,
        "text.control_char",
        None,
    ]
    assert p.value.to_list()[1] == "line 1\nline 2"


def test_ids_refuse_invisible_characters_that_make_two_ids_look_alike() -> None:
    cells = ["C00000001", "\ufeffC00000001", "C0000000\u200b1", "C0000000\u00a01", "C 01", "C\u20601"]
    assert parse.ident(pl.Series("i", cells)).reason.to_list() == [None] + ["id.invalid"] * 2 + [
        "id.invalid",
        None,
        "id.invalid",
    ]


def _state(session: Session, lake: Lake) -> tuple[dict[str, int | None], int, int]:
    versions = {n: lake.version(n) for n in ("borrowers", "loans", "installments")}
    manifests = session.scalar(select(func.count()).select_from(LakeImport)) or 0
    entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    return versions, manifests, entries


@pytest.fixture
def day(tmp_path: Path) -> Path:
    d = tmp_path / "day"
    d.mkdir()
    (d / "borrowers.csv").write_text(BORROWERS, encoding="utf-8")
    (d / "loans.csv").write_text(LOANS_HEAD + LOAN_L1, encoding="utf-8")
    return d


@pytest.mark.parametrize(
    ("file", "text", "column", "rule"),
    [
        ("borrowers.csv", BORROWERS + "C3,王五\x1b[2J,,个人\n", "name", "text.control_char"),
        ("borrowers.csv", BORROWERS + "\ufeffC1,张伟,,个人\n", "borrower_id", "id.invalid"),  # F7
        ("borrowers.csv", BORROWERS + "C\u200b1,张伟,,个人\n", "borrower_id", "id.invalid"),
        (
            "loans.csv",
            LOANS_HEAD + LOAN_L1.replace('"3,000.00"', '"12,34"'),
            "principal",
            "amount.bad_grouping",
        ),
        (
            "loans.csv",
            LOANS_HEAD + LOAN_L1.replace('"3,000.00"', '"1,2,3.4,5"'),
            "principal",
            "amount.bad_grouping",
        ),
        (
            "loans.csv",
            LOANS_HEAD + LOAN_L1.replace('"3,000.00"', "9E+15"),
            "principal",
            "amount.too_large",
        ),  # F4
    ],
    ids=["escape", "bom-id", "zero-width-id", "decimal-comma", "bad-groups", "overflow"],
)
def test_a_bad_cell_refuses_the_file_and_changes_nothing(
    session: Session, tmp_path: Path, day: Path, file: str, text: str, column: str, rule: str
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path / "data")
    import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    before = _state(session, lake)
    (day / file).write_text(text, encoding="utf-8")
    with pytest.raises(ImportRowsError) as err:
        import_dir(day, as_of=AS_OF + dt.timedelta(days=1), settings=settings, lake=lake, session=session)
    found = [(e["column"], e["rule"]) for e in err.value.details["errors"]]
    assert (column, rule) in found
    assert _state(session, lake) == before


def test_a_nul_in_a_text_cell_is_refused_before_it_reaches_the_database(
    session: Session, tmp_path: Path, day: Path
) -> None:
    """F2: PostgreSQL cannot store NUL in text, so the day's cycle failed on every rerun. A CSV with a
    NUL byte is refused as binary by the reader; a Parquet or XLSX cell reaches the value rules."""
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path / "data")
    (day / "borrowers.csv").unlink()
    pl.DataFrame(
        {"borrower_id": ["C1", "C2"], "name": ["张伟", "王\x00五"], "customer_type": ["个人", "个人"]}
    ).write_parquet(day / "borrowers.parquet")
    with pytest.raises(ImportRowsError) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    assert [(e["column"], e["rule"]) for e in err.value.details["errors"]] == [("name", "text.control_char")]
    assert "\x00" not in str(err.value)
    assert _state(session, lake) == ({"borrowers": None, "loans": None, "installments": None}, 0, 0)


def test_errors_never_echo_personal_data_or_huge_cells(session: Session, tmp_path: Path, day: Path) -> None:
    """F14 and F8: a bad national id is shown by its shape only; a long cell is cut."""
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path / "data")
    big = "x" * 3_000  # under the reader's cell bound, over the text rule's 1,000
    (day / "borrowers.csv").write_text(
        "borrower_id,name,national_id,customer_type,gender\n"
        "C1,张伟,110101199003071233\x1b,个人,男\n"
        f"C2,李娜,,个人,{big}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRowsError) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    message = str(err.value)
    values = {e["column"]: e["value"] for e in err.value.details["errors"]}
    assert "110101199003071233" not in message and "110101199003071233" not in str(values)
    assert values["national_id"] == "1" + "*" * 17 + "\x1b"
    assert len(values["gender"]) < 120 and values["gender"].endswith("(3,000 characters)")
    assert len(message) < 2_000


def test_reject_files_neutralise_formulas_replace_planted_symlinks_and_are_private(
    session: Session, tmp_path: Path, day: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path / "data")
    (day / "borrowers.csv").write_text(
        BORROWERS + 'C3,"=cmd|\' /C calc\'!A0",,nobody\nC4,=HYPERLINK("http://x"),,nobody\n', encoding="utf-8"
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me", encoding="utf-8")
    (day / "borrowers.rejects.csv").symlink_to(secret)
    out = import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session, accept_partial=True)
    rejects = next(f.reject_file for f in out.files if f.reject_file)
    assert rejects is not None and not rejects.is_symlink()
    assert secret.read_text(encoding="utf-8") == "keep me"
    assert stat.S_IMODE(os.stat(rejects).st_mode) == 0o600
    frame = pl.read_csv(rejects, encoding="utf8")
    names = frame.get_column("name").to_list()
    assert names == ["'=cmd|' /C calc'!A0", '\'=HYPERLINK("http://x")']


def test_cellsafe_leaves_numbers_and_phones_alone() -> None:
    assert cellsafe.cell("-12.50") == "-12.50"
    assert cellsafe.cell("+8613812345678") == "+8613812345678"
    assert cellsafe.cell("@SUM(A1)") == "'@SUM(A1)"
    assert cellsafe.cell("\t=1+1") == "'\t=1+1"
    assert cellsafe.cell("-1+2") == "'-1+2"
    df = cellsafe.frame(pl.DataFrame({"a": ["=1", "ok", None], "n": [1, 2, 3]}))
    assert df.get_column("a").to_list() == ["'=1", "ok", None] and df.get_column("n").to_list() == [1, 2, 3]
