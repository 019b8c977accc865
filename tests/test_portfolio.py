"""Per-loan positions (hand-worked), and mirroring accounts in collections into the database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import load_settings
from recoup.lake import Lake, book_as_of
from recoup.portfolio.flows import import_dir
from recoup.portfolio.kernel import loan_positions, summary_by
from recoup.portfolio.models import CollectionAccount
from recoup.portfolio.service import do_sync_accounts

AS_OF = dt.date(2026, 11, 20)


def _inst(
    loan: str, seq: int, due: dt.date, p_due: int, i_due: int, p_paid: int, i_paid: int
) -> dict[str, object]:
    return {
        "loan_id": loan,
        "seq": seq,
        "due_date": due,
        "principal_due": p_due,
        "interest_due": i_due,
        "fee_due": 0,
        "penalty_due": 0,
        "principal_paid": p_paid,
        "interest_paid": i_paid,
        "fee_paid": 0,
        "penalty_paid": 0,
    }


def test_loan_positions_by_hand() -> None:
    loans = pl.DataFrame(
        {
            "loan_id": ["A", "B", "C"],
            "borrower_id": ["X", "X", "Y"],
            "product_type": ["cash_loan"] * 3,
            "product_code": ["P"] * 3,
            "principal": [30000, 20000, 10000],
            "status": ["active"] * 3,
        }
    )
    inst = pl.DataFrame(
        [
            # A: installment 1 paid; 2 (due 10-01) unpaid → 50 days past due; 3 not yet due.
            _inst("A", 1, dt.date(2026, 9, 1), 10000, 500, 10000, 500),
            _inst("A", 2, dt.date(2026, 10, 1), 10000, 400, 0, 0),
            _inst("A", 3, dt.date(2026, 12, 1), 10000, 300, 0, 0),
            # B: short by 0.50 yuan (50 fen) — within the ¥1 tolerance, so current.
            _inst("B", 1, dt.date(2026, 11, 1), 20000, 200, 19950, 200),
            # C: due today is not yet overdue.
            _inst("C", 1, AS_OF, 10000, 100, 0, 0),
        ]
    )
    pos = loan_positions(loans, inst, as_of=AS_OF).sort("loan_id")
    assert pos.get_column("dpd").to_list() == [50, 0, 0]
    assert pos.get_column("bucket").to_list() == ["M2", "C", "C"]
    assert pos.get_column("outstanding_principal").to_list() == [20000, 50, 10000]
    assert pos.get_column("overdue_amount").to_list() == [10400, 0, 0]
    assert pos.get_column("missed_installments").to_list() == [1, 0, 0]
    by_product = summary_by(pos, "product_type").row(0, named=True)
    assert (by_product["loans"], by_product["borrowers"], by_product["outstanding_principal"]) == (
        3,
        2,
        30050,
    )


def test_bucket_edges() -> None:
    days = [0, 1, 30, 31, 60, 61, 180, 181]
    loans = pl.DataFrame(
        {
            "loan_id": [str(d) for d in days],
            "borrower_id": "X",
            "product_type": "bnpl",
            "product_code": "P",
            "principal": 100,
            "status": "active",
        }
    )
    inst = pl.DataFrame([_inst(str(d), 1, AS_OF - dt.timedelta(days=d), 1000, 0, 0, 0) for d in days])
    pos = loan_positions(loans, inst, as_of=AS_OF)
    got = dict(zip(pos.get_column("loan_id").to_list(), pos.get_column("bucket").to_list(), strict=True))
    assert [got[str(d)] for d in days] == ["C", "M1", "M1", "M2", "M2", "M3", "M6", "M7+"]


def test_sync_accounts_in_collections(session: Session, tmp_path: Path) -> None:
    d = tmp_path / "day"
    d.mkdir()
    (d / "borrowers.csv").write_text("borrower_id,name,national_id\nC1,张伟,110101199003071234\nC2,李娜,\n")
    (d / "contact_points.csv").write_text(
        "contact_id,borrower_id,kind,value,role\nP1,C1,phone,13812345678,本人\n"
    )
    (d / "loans.csv").write_text(
        "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
        "disbursement_date,status\nL1,C1,CASH3,cash_loan,equal_principal,300,18%,3,2026-08-01,active\n"
        "L2,C2,CASH3,cash_loan,equal_principal,300,18%,3,2026-08-01,active\n"
    )
    (d / "installments.csv").write_text(
        "loan_id,seq,due_date,principal_due,interest_due,principal_paid,interest_paid\n"
        "L1,1,2026-09-01,100,4.5,100,4.5\nL1,2,2026-10-01,100,3,0,0\nL1,3,2026-11-01,100,1.5,0,0\n"
        "L2,1,2026-09-01,100,4.5,100,4.5\nL2,2,2026-10-01,100,3,100,3\nL2,3,2026-11-01,100,1.5,100,1.5\n"
    )
    (d / "payments.csv").write_text(
        "payment_id,loan_id,received_date,amount,channel\nY1,L1,2026-09-01,104.5,代扣\n"
    )
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path / "data")
    import_dir(d, as_of=AS_OF, settings=settings, lake=lake, session=session)
    book = book_as_of(AS_OF, session=session, lake=lake)
    pos = loan_positions(book.frame("loans"), book.frame("installments"), as_of=AS_OF)
    assert do_sync_accounts(pos, book, session=session) == 1
    acc = session.scalars(select(CollectionAccount)).one()
    assert (acc.external_id, acc.dpd, acc.overdue_amount, acc.outstanding_principal) == (
        "L1",
        50,
        20450,
        20000,
    )
    assert [i.seq for i in acc.installments] == [1, 2, 3]
    assert [p.amount for p in acc.payments] == [10450]
    assert acc.borrower.name == "张伟" and acc.borrower.national_id_enc and acc.borrower.national_id_hash
    assert acc.borrower.contact_points[0].role == "self"
    # Syncing again is idempotent.
    assert do_sync_accounts(pos, book, session=session) == 1
    assert len(session.scalars(select(CollectionAccount)).all()) == 1
    # When L1 cures, its account closes.
    cured = pos.with_columns(pl.lit(0, pl.Int64).alias("dpd"))
    assert do_sync_accounts(cured, book, session=session) == 0
    session.refresh(acc)
    assert acc.status == "closed" and acc.closed_on == AS_OF
