"""Selecting cases for a debt sale and deciding on it: the request, approval or rejection by someone
other than the requester (four eyes), and cancellation (split from :mod:`recoup.legal.sales`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.legal.common import (
    LIFECYCLE_VERSION,
    balances,
    business_day,
    check_four_eyes,
    refuse,
    text,
)
from recoup.legal.models import DebtSale, DebtSaleAccount
from recoup.legal.sale_rules import (
    LIVE_SALES,
    MAX_CASES,
    MAX_PRICE,
    SaleStatus,
    case_problems,
    check_status,
    lock_sale,
    recheck_cases,
    refuse_cases,
)
from recoup.portfolio.models import Borrower, CollectionAccount

__all__ = ["do_approve_sale", "do_cancel_sale", "do_create_sale", "do_reject_sale"]


def do_create_sale(
    *,
    session: Session,
    actor: AppUser,
    buyer: str,
    cutoff_date: dt.date,
    transfer_date: dt.date,
    case_ids: list[int] | None = None,
    loan_ids: list[str] | None = None,
    buyer_contact: str = "",
    price: int | None = None,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> DebtSale:
    """Select whole cases for sale; another person approves it."""
    s = settings or get_settings()
    at = now or utcnow()
    name = text(buyer, "buyer", high=200)
    contact = buyer_contact.strip()[:200]
    if cutoff_date > transfer_date:
        raise refuse(
            "cutoff_date",
            f"the cut-off date {cutoff_date} is after the transfer date {transfer_date}",
            "基准日不能晚于转让日",
        )
    if transfer_date < business_day(at, s):
        raise refuse(
            "transfer_date", f"the transfer date {transfer_date} is in the past", "转让日不能早于今天"
        )
    if price is not None and not 0 <= price <= MAX_PRICE:
        raise refuse("price", "the price must be an amount of 0 or more", "价格须为非负金额")
    wanted: set[int] = set(case_ids or [])
    loans = sorted(set(loan_ids or []))
    if loans:
        found = dict(
            session.execute(
                select(CollectionAccount.external_id, CollectionAccount.case_id).where(
                    CollectionAccount.external_id.in_(loans)
                )
            ).all()
        )
        unknown = [x for x in loans if found.get(x) is None]
        if unknown:
            raise refuse(
                "loan_ids", f"unknown loans: {', '.join(unknown[:20])}", "借据不存在", loan_ids=unknown[:100]
            )
        wanted |= {int(c) for c in found.values() if c is not None}
    if not wanted:
        raise refuse("case_ids", "select at least one case or loan", "请至少选择一个案件或借据")
    if len(wanted) > MAX_CASES:
        raise refuse("case_ids", f"at most {MAX_CASES} cases in one sale", f"单次最多 {MAX_CASES} 个案件")
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(sorted(wanted))))}
    problems = {
        cid: p
        for cid in sorted(wanted)
        if (p := case_problems(cases.get(cid), cid, session=session, sale_id=None))
    }
    if problems:
        raise refuse_cases(problems)
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id.in_(sorted(wanted)), CollectionAccount.status == "open")
            .order_by(CollectionAccount.case_id, CollectionAccount.id)
        )
    )
    empty = sorted(wanted - {a.case_id for a in accounts if a.case_id is not None})
    if empty:
        raise refuse_cases({cid: ["no open account / 没有在催账户"] for cid in empty})
    keys = dict(
        session.execute(
            select(Borrower.id, Borrower.external_id).where(
                Borrower.id.in_(sorted({a.borrower_id for a in accounts}))
            )
        ).all()
    )
    bal = balances([a.id for a in accounts], session=session)
    sale = DebtSale(
        buyer=name,
        buyer_contact=contact,
        cutoff_date=cutoff_date,
        transfer_date=transfer_date,
        price=price,
        currency=accounts[0].currency or s.currency,
        status=SaleStatus.REQUESTED.value,
        note=note.strip()[:500],
        requested_by_id=actor.id,
        requested_by=actor.username,
        requested_at=at,
    )
    session.add(sale)
    session.flush()
    session.add_all(
        DebtSaleAccount(
            sale_id=sale.id,
            case_id=a.case_id,
            account_id=a.id,
            loan_id=a.external_id,
            borrower_key=keys[a.borrower_id],
            balance=bal[a.id][0],
            principal=bal[a.id][1],
        )
        for a in accounts
    )
    session.flush()
    do_append(
        "sale.requested",
        {
            "sale_id": sale.id,
            "cases": sorted(wanted),
            "accounts": len(accounts),
            "balance": sum(b for b, _ in bal.values()),
            "cutoff_date": cutoff_date.isoformat(),
            "transfer_date": transfer_date.isoformat(),
            "price": price,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return sale


def do_approve_sale(
    sale_id: int,
    *,
    session: Session,
    actor: AppUser,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> DebtSale:
    """Approve another person's sale (its cases are checked again)."""
    s = settings or get_settings()
    at = now or utcnow()
    sale = lock_sale(sale_id, session=session)
    check_status(sale, (SaleStatus.REQUESTED.value,), "approved")
    check_four_eyes(sale.requested_by_id, actor, "sale", sale.id)
    recheck_cases(sale, session=session)
    sale.status, sale.decided_by, sale.decided_at = SaleStatus.APPROVED.value, actor.username, at
    sale.decision_note = note.strip()[:500] or None
    sale.rule_version = LIFECYCLE_VERSION
    session.flush()
    do_append(
        "sale.approved",
        {"sale_id": sale.id, "requested_by": sale.requested_by, "rule_version": LIFECYCLE_VERSION},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return sale


def do_reject_sale(
    sale_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> DebtSale:
    s = settings or get_settings()
    at = now or utcnow()
    why = text(reason, "reason")
    sale = lock_sale(sale_id, session=session)
    check_status(sale, (SaleStatus.REQUESTED.value,), "rejected")
    check_four_eyes(sale.requested_by_id, actor, "sale", sale.id)
    sale.status, sale.decided_by, sale.decided_at, sale.decision_note = (
        SaleStatus.REJECTED.value,
        actor.username,
        at,
        why,
    )
    session.flush()
    do_append("sale.rejected", {"sale_id": sale.id}, session=session, actor=actor.username, settings=s)
    return sale


def do_cancel_sale(
    sale_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    settings: Settings | None = None,
) -> DebtSale:
    """Cancel a sale not yet transferred (its cases are free again)."""
    s = settings or get_settings()
    why = text(reason, "reason")
    sale = lock_sale(sale_id, session=session)
    check_status(sale, LIVE_SALES, "cancelled")
    sale.status, sale.decision_note = SaleStatus.CANCELLED.value, why
    if sale.decided_by is None:
        sale.decided_by, sale.decided_at = actor.username, utcnow()
    session.flush()
    do_append("sale.cancelled", {"sale_id": sale.id}, session=session, actor=actor.username, settings=s)
    return sale
