"""Intake for real file names (issue: item 1 of the import report). A dataset is recognised by its
Chinese or English name with any date or suffix, or by a glob in the mapping's ``[files]``; a
``[files]`` entry that matches nothing is an error; the "no dataset files found" error lists the
Chinese and English names and every file it ignored, and so does any refused day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.errors import ImportFileError, ImportRowsError
from recoup.lake import Lake, book_as_of
from recoup.lake.models import LakeImport
from recoup.portfolio.flows import import_dir
from recoup.portfolio.intake import dataset_by_name
from recoup.portfolio.spec import DATASETS

AS_OF = dt.date(2026, 11, 20)
BORROWERS = "borrower_id,name,customer_type\nC1,张伟,个人\nC2,李娜,individual\n"
LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常\n'
    "L2,C2,BNPL3,bnpl,bullet,500,0.24,3,2026-08-15,active\n"
)
INSTALLMENTS = (
    "loan_id,seq,due_date,principal_due,interest_due\nL1,1,2026-09-01,985.15,45.00\nL2,1,2026-11-15,500,30\n"
)


def _day(root: Path, files: dict[str, str], mapping: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    if mapping is not None:
        (root / "mapping.toml").write_text(mapping, encoding="utf-8")
    return root


def _manifests(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LakeImport)) or 0


@pytest.mark.parametrize(
    ("name", "dataset"),
    [
        ("借据_20261120.csv", "loans"),
        ("借据-2026-11-20.csv", "loans"),
        ("借据20261120.csv", "loans"),
        ("20261120_借据.xlsx", "loans"),
        ("借据.csv", "loans"),
        ("loans-2026-11-20.xlsx", "loans"),
        ("loans_20261120.csv", "loans"),
        ("Loan_20261120.CSV", "loans"),
        ("ＬＯＡＮＳ_20261120.csv", "loans"),
        ("还款计划_20261120.csv", "installments"),
        ("还款流水 2026.11.20.csv", "payments"),
        ("借款人_20261120_全量.csv", "borrowers"),
        ("Contact-Points 2026-11-20.parquet", "contact_points"),
        ("联系方式_20261120.csv", "contact_points"),
        ("抵质押物_20261120.xlsx", "collateral"),
        ("征信更新_20261120.csv", "bureau_updates"),
        ("bureau-updates-20261120.csv", "bureau_updates"),
        # not a dataset's name: a word run on, a lock file, another prefix
        ("loansheet.csv", None),
        ("借据信息.csv", None),
        ("~$借据.xlsx", None),
        ("old_loans.csv", None),
    ],
)
def test_names_with_dates_and_suffixes_in_chinese_and_english(name: str, dataset: str | None) -> None:
    assert dataset_by_name(name) == dataset


def test_a_day_of_dated_chinese_file_names_imports(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Item 1: `借据_20261120.csv` and the other dated Chinese names gave `no dataset files found`."""
    day = _day(
        tmp_path / "day",
        {"借款人_20261120.csv": BORROWERS, "借据_20261120.csv": LOANS, "还款计划_20261120.csv": INSTALLMENTS},
    )
    lake = Lake(str(tmp_path / "lake"))
    out = import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    assert [(f.dataset, f.path.name) for f in out.files] == [
        ("borrowers", "借款人_20261120.csv"),
        ("loans", "借据_20261120.csv"),
        ("installments", "还款计划_20261120.csv"),
    ]
    assert out.published and not out.warnings
    assert book_as_of(AS_OF, session=session, lake=lake).frame("installments").height == 2


def test_no_dataset_files_lists_chinese_and_english_names_and_every_ignored_file(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = _day(tmp_path / "day", {"借据信息_20261120.csv": LOANS, "客户表.xlsx": "x", "说明.txt": "readme"})
    with pytest.raises(ImportFileError) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=Lake(str(tmp_path / "lake")), session=session)
    msg = err.value.message
    assert "no dataset files found" in msg
    for name, ds in DATASETS.items():
        assert name in msg and ds.title_zh in msg
    assert "借据_20261120.csv" in msg  # how a dated name is written
    for ignored in ("借据信息_20261120.csv", "客户表.xlsx", "说明.txt"):
        assert f"{ignored}: not a known dataset file name; ignored" in msg
    assert err.value.details["ignored"] and _manifests(session) == 0


def test_a_glob_in_files_names_the_lenders_own_file_names(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = _day(
        tmp_path / "day",
        {"KH_20261120.csv": BORROWERS, "JJ_20261120.csv": LOANS, "HKJH_20261120.csv": INSTALLMENTS},
        '[files]\n"KH_*.csv" = "borrowers"\n"jj_2026????.CSV" = "loans"\n'
        '"HKJH_[0-9]*.csv" = "installments"\n',
    )
    lake = Lake(str(tmp_path / "lake"))
    out = import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    assert {f.dataset: f.path.name for f in out.files} == {
        "borrowers": "KH_20261120.csv",
        "loans": "JJ_20261120.csv",
        "installments": "HKJH_20261120.csv",
    }
    assert out.published


def test_a_files_pattern_that_matches_nothing_is_an_error_and_nothing_is_written(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Item 1: a glob in `[files]` was accepted silently and matched nothing."""
    day = _day(
        tmp_path / "day",
        {"借款人_20261120.csv": BORROWERS, "JJ-20261120.csv": LOANS},
        '[files]\n"JJ_*.csv" = "loans"\n',  # the lender's files use "-", not "_"
    )
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ImportFileError) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    msg = err.value.message
    assert "[files] pattern 'JJ_*.csv' (→ loans) matches no file" in msg
    assert "JJ-20261120.csv: not a known dataset file name; ignored" in msg  # the warning is not hidden
    assert lake.version("borrowers") is None and _manifests(session) == 0


def test_a_file_two_patterns_claim_for_different_datasets_is_an_error(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = _day(
        tmp_path / "day",
        {"借款人.csv": BORROWERS, "JJ_20261120.csv": LOANS},
        '[files]\n"JJ_*.csv" = "loans"\n"*_20261120.csv" = "installments"\n',
    )
    with pytest.raises(ImportFileError) as err:
        import_dir(day, as_of=AS_OF, settings=settings, lake=Lake(str(tmp_path / "lake")), session=session)
    assert (
        "JJ_20261120.csv: the mapping's [files] entries claim it for different datasets" in err.value.message
    )


def test_two_files_for_one_dataset_are_reported_with_the_other_files_problems(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = _day(
        tmp_path / "day",
        {
            "借款人.csv": BORROWERS.replace("个人", "nobody"),
            "借据_20261120.csv": LOANS,
            "loans-2026-11-20.csv": LOANS,
        },
    )
    with pytest.raises(ImportFileError) as err:  # the day's error has the code of the earliest stage
        import_dir(day, as_of=AS_OF, settings=settings, lake=Lake(str(tmp_path / "lake")), session=session)
    msg = err.value.message
    assert "2 files for loans: loans-2026-11-20.csv, 借据_20261120.csv" in msg
    assert "借款人.csv: 1 invalid row(s)" in msg and "enum.unknown" in msg


def test_a_refused_day_lists_the_files_it_ignored(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Item 1: the error hid the per-file 'ignored' warnings."""
    day = _day(tmp_path / "day", {"借据_20261120.csv": LOANS, "借据明细.csv": LOANS})
    with pytest.raises(ImportRowsError) as err:  # the loans' borrowers are unknown
        import_dir(day, as_of=AS_OF, settings=settings, lake=Lake(str(tmp_path / "lake")), session=session)
    assert "ref.unknown" in err.value.message
    assert "also: 借据明细.csv: not a known dataset file name; ignored" in err.value.message
    assert err.value.details["warnings"] == [
        "借据明细.csv: not a known dataset file name; ignored / 文件名无法识别，已忽略"
    ]


def test_day_declaration_in_the_mapping_is_checked(tmp_path: Path) -> None:
    from recoup.portfolio.mapping import load_mapping

    path = tmp_path / "mapping.toml"
    path.write_text('[day]\ndatasets = ["loans", "instalments"]\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match="did you mean 'installments'"):
        load_mapping(path)
    path.write_text(
        '[day]\ndatasets = ["payments", "loans"]\n[files]\n"X*.csv" = "borrowers"\n', encoding="utf-8"
    )
    assert load_mapping(path).declared == ("loans", "payments")
    path.write_text('[files]\n"X*.csv" = "borrowers"\n"Y*.csv" = "loans"\n', encoding="utf-8")
    assert load_mapping(path).declared == ("borrowers", "loans")
