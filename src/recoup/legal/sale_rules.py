"""Debt sales' vocabulary and shared rules: statuses, the checks a case must pass to be sold, locking a
sale and its status moves, and reading sales (split from :mod:`recoup.legal.sales`)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases import lifecycle
from recoup.cases.lifecycle import CaseState, CloseReason
from recoup.cases.models import Case
from recoup.contact.vocab import Channel
from recoup.legal.common import (
    LegalStateError,
    missing,
)
from recoup.legal.models import DebtSale, DebtSaleAccount, LegalMatter

__all__ = [
    "HOLD_CHANNELS",
    "LIVE_SALES",
    "LIVE_TASKS",
    "MAX_CASES",
    "MAX_PRICE",
    "SaleStatus",
    "case_problems",
    "check_status",
    "get_sale",
    "list_sales",
    "lock_sale",
    "recheck_cases",
    "refuse_cases",
    "sale_accounts",
    "user_named",
]


class SaleStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"


#: Sales still under way: their cases may not join another sale.
LIVE_SALES = (SaleStatus.REQUESTED.value, SaleStatus.APPROVED.value)
LIVE_TASKS = ("open", "in_progress")
#: The channels a sold borrower's hold blocks: all but the letter that carries the notice of transfer.
HOLD_CHANNELS = tuple(c for c in Channel if c is not Channel.LETTER)
MAX_CASES = 100_000
MAX_PRICE = 10**15


def case_problems(case: Case | None, case_id: int, *, session: Session, sale_id: int | None) -> list[str]:
    if case is None:
        return ["no such case / 案件不存在"]
    out = []
    if case.status != "open":
        out.append("closed / 已结案")
    if case.stopped:
        out.append("collection stopped (停催) / 已停催")
    if session.scalar(
        select(LegalMatter.id).where(LegalMatter.case_id == case_id, LegalMatter.status == "open").limit(1)
    ):
        out.append("open legal matter / 有进行中的法律案件")
    other = session.scalar(
        select(DebtSale.id)
        .join(DebtSaleAccount, DebtSaleAccount.sale_id == DebtSale.id)
        .where(
            DebtSaleAccount.case_id == case_id,
            DebtSale.status.in_(LIVE_SALES),
            DebtSale.id != (sale_id or -1),
        )
        .limit(1)
    )
    if other is not None:
        out.append(f"in debt sale {other} / 已在转让 {other} 中")
    edge = lifecycle.TRANSITIONS.get((CaseState(case.state), CaseState.CLOSED))
    allowed = lifecycle.allowed_from(case.state, case.close_reason)
    if edge is None or CaseState.CLOSED not in allowed or CloseReason.SOLD not in edge.close_reasons:
        out.append(f"cannot be closed as sold from {case.state} / 当前状态不能转让")
    return out


def refuse_cases(problems: dict[int, list[str]]) -> LegalStateError:
    listed = "; ".join(f"case {cid}: {', '.join(p)}" for cid, p in sorted(problems.items()))
    return LegalStateError(
        f"these cases cannot be sold: {listed} / 以下案件不能转让",
        details={"problems": [{"case_id": cid, "problems": p} for cid, p in sorted(problems.items())]},
    )


def get_sale(sale_id: int, *, session: Session) -> DebtSale:
    sale = session.get(DebtSale, sale_id)
    if sale is None:
        raise missing("sale", sale_id)
    return sale


def lock_sale(sale_id: int, *, session: Session) -> DebtSale:
    sale = session.scalars(
        select(DebtSale)
        .where(DebtSale.id == sale_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if sale is None:
        raise missing("sale", sale_id)
    return sale


def check_status(sale: DebtSale, allowed: tuple[str, ...], move: str) -> None:
    if sale.status not in allowed:
        raise LegalStateError(
            f"debt sale {sale.id} is {sale.status}: it cannot be {move} / "
            f"转让 {sale.id} 状态为 {sale.status}",
            details={"sale_id": sale.id, "status": sale.status},
        )


def sale_accounts(sale_id: int, *, session: Session) -> list[DebtSaleAccount]:
    return list(
        session.scalars(
            select(DebtSaleAccount)
            .where(DebtSaleAccount.sale_id == sale_id)
            .order_by(DebtSaleAccount.case_id, DebtSaleAccount.id)
        )
    )


def recheck_cases(sale: DebtSale, *, session: Session) -> None:
    case_ids = sorted({a.case_id for a in sale_accounts(sale.id, session=session)})
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    problems = {
        cid: p
        for cid in case_ids
        if (p := case_problems(cases.get(cid), cid, session=session, sale_id=sale.id))
    }
    if problems:
        raise refuse_cases(problems)


def user_named(username: str | None, *, session: Session) -> AppUser | None:
    if not username:
        return None
    return session.scalars(select(AppUser).where(AppUser.username == username)).one_or_none()


def list_sales(*, session: Session, status: str | None = None, limit: int = 200) -> list[DebtSale]:
    q = select(DebtSale).order_by(DebtSale.requested_at.desc(), DebtSale.id.desc()).limit(limit)
    if status:
        q = q.where(DebtSale.status == status)
    return list(session.scalars(q))
