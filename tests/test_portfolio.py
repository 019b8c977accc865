"""Per-loan positions (hand-worked), and mirroring accounts in collections into the database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import load_settings
from recoup.delinquency.kernel import delinquency
from recoup.lake import Lake, book_as_of
from recoup.portfolio.flows import import_dir
from recoup.portfolio.kernel import summary_by
from recoup.portfolio.models import CollectionAccount
from recoup.portfolio.service import do_sync_accounts

AS_OF = dt.date(2026, 11, 20)


def test_summary_by_orders_by_rank() -> None:
    pos = pl.DataFrame(
        {
            "borrower_id": ["X", "X", "Y", "Z"],
            "bucket": ["M2", "C", "M2", "M10"],
            "bucket_rank": [2, 0, 2, 10],
            "outstanding_principal": [100, 200, 300, 400],
            "overdue_amount": [10, 0, 30, 40],
        }
    )
    s = summary_by(pos, "bucket", order="bucket_rank")
    # By rank, not alphabetically (M10 after M2).
    assert s.get_column("bucket").to_list() == ["C", "M2", "M10"]
    m2 = s.row(1, named=True)
    assert (m2["loans"], m2["borrowers"], m2["outstanding_principal"], m2["overdue_amount"]) == (
        2,
        2,
        400,
        40,
    )


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
    pos = delinquency(book.frame("loans"), book.frame("installments"), as_of=AS_OF)
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
    cured = pos.with_columns(pl.lit(0, pl.Int64).alias("dpd"), pl.lit(False).alias("in_collections"))
    assert do_sync_accounts(cured, book, session=session) == 0
    session.refresh(acc)
    assert acc.status == "closed" and acc.closed_on == AS_OF
