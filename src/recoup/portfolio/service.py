"""Mirror accounts in collections from the lake into the operational database.

Services take ``session`` and never commit: the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from recoup.lake import Book
from recoup.portfolio.models import (
    AccountInstallment,
    AccountPayment,
    Borrower,
    CollectionAccount,
    ContactPoint,
)

_BORROWER_COLS = (
    "name",
    "national_id_enc",
    "national_id_hash",
    "customer_type",
    "timezone",
    "locale",
    "city",
)
_CONTACT_COLS = (
    "kind",
    "value",
    "role",
    "contact_name",
    "relation",
    "consent_channels",
    "consent_source",
    "consent_date",
    "is_valid",
)
_INST_COLS = (
    "due_date",
    "principal_due",
    "interest_due",
    "fee_due",
    "penalty_due",
    "principal_paid",
    "interest_paid",
    "fee_paid",
    "penalty_paid",
    "last_paid_date",
)


def _by_ext(session: Session, model: Any, ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chunk in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        part = ids[chunk : chunk + 900]
        out.update(
            {r.external_id: r for r in session.scalars(select(model).where(model.external_id.in_(part)))}
        )
    return out


def do_sync_accounts(positions: pl.DataFrame, book: Book, *, session: Session) -> int:
    """Upsert every loan of ``positions`` in collections (``in_collections``, else days past due > 0)
    as an open account in collections,
    with its borrower, contact points, schedule and payments; close accounts that have cured.
    Returns the number of open accounts."""
    in_collections = pl.col("in_collections") if "in_collections" in positions.columns else pl.col("dpd") > 0
    delinquent = positions.filter(in_collections)
    loan_ids = delinquent.get_column("loan_id").to_list()
    borrower_ids = delinquent.get_column("borrower_id").unique().to_list()
    borrowers = book.scan("borrowers").filter(pl.col("borrower_id").is_in(borrower_ids)).collect()
    existing_b = _by_ext(session, Borrower, borrower_ids)
    for row in borrowers.iter_rows(named=True):
        b = existing_b.get(row["borrower_id"]) or Borrower(external_id=row["borrower_id"])
        for c in _BORROWER_COLS:
            setattr(b, c, row[c])
        session.add(b)
        existing_b[row["borrower_id"]] = b
    session.flush()

    contacts = book.scan("contact_points").filter(pl.col("borrower_id").is_in(borrower_ids)).collect()
    existing_c = _by_ext(session, ContactPoint, contacts.get_column("contact_id").to_list())
    for row in contacts.iter_rows(named=True):
        cp = existing_c.get(row["contact_id"]) or ContactPoint(external_id=row["contact_id"])
        cp.borrower_id = existing_b[row["borrower_id"]].id
        for c in _CONTACT_COLS:
            setattr(cp, c, row[c] if c != "is_valid" else row[c] is not False)
        session.add(cp)

    loans = book.scan("loans").filter(pl.col("loan_id").is_in(loan_ids)).collect()
    pos = {r["loan_id"]: r for r in delinquent.iter_rows(named=True)}
    existing_a = _by_ext(session, CollectionAccount, loan_ids)
    for row in loans.iter_rows(named=True):
        a = existing_a.get(row["loan_id"])
        if a is None:
            a = CollectionAccount(external_id=row["loan_id"], opened_on=book.as_of)
        p = pos[row["loan_id"]]
        a.borrower_id = existing_b[row["borrower_id"]].id
        for c in (
            "product_code",
            "product_type",
            "repayment_method",
            "currency",
            "principal",
            "annual_rate_bp",
            "term_months",
            "disbursement_date",
            "funding_partner",
        ):
            setattr(a, c, row[c])
        a.loan_status = row["status"]
        a.status, a.closed_on, a.as_of = "open", None, book.as_of
        a.outstanding_principal, a.overdue_amount, a.dpd = (
            p["outstanding_principal"],
            p["overdue_amount"],
            p["dpd"],
        )
        session.add(a)
        existing_a[row["loan_id"]] = a
    session.flush()

    account_ids = [existing_a[lid].id for lid in loan_ids if lid in existing_a]
    for chunk in range(0, len(account_ids), 900):
        part = account_ids[chunk : chunk + 900]
        session.execute(delete(AccountInstallment).where(AccountInstallment.account_id.in_(part)))
    inst = book.scan("installments").filter(pl.col("loan_id").is_in(loan_ids)).collect()
    session.add_all(
        AccountInstallment(
            account_id=existing_a[r["loan_id"]].id, seq=r["seq"], **{c: r[c] for c in _INST_COLS}
        )
        for r in inst.iter_rows(named=True)
    )
    pays = book.scan("payments").filter(pl.col("loan_id").is_in(loan_ids)).collect()
    known = _by_ext(session, AccountPayment, pays.get_column("payment_id").to_list())
    session.add_all(
        AccountPayment(
            external_id=r["payment_id"],
            account_id=existing_a[r["loan_id"]].id,
            received_date=r["received_date"],
            amount=r["amount"],
            channel=r["channel"],
            reference=r["reference"],
            reverses=r["reverses"],
        )
        for r in pays.iter_rows(named=True)
        if r["payment_id"] not in known
    )
    # Accounts no longer delinquent leave collections (kept, closed, for history).
    cured = session.scalars(
        select(CollectionAccount).where(
            CollectionAccount.status == "open", CollectionAccount.external_id.not_in(loan_ids or [""])
        )
    ).all()
    for a in cured:
        a.status, a.closed_on, a.dpd, a.overdue_amount = "closed", book.as_of, 0, 0
    session.flush()
    return int(session.scalar(select(func.count()).where(CollectionAccount.status == "open")) or 0)


def open_accounts(*, session: Session, as_of: dt.date | None = None) -> list[CollectionAccount]:
    stmt = (
        select(CollectionAccount)
        .where(CollectionAccount.status == "open")
        .order_by(CollectionAccount.dpd.desc())
    )
    return list(session.scalars(stmt))
