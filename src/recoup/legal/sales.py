"""Debt sales (个贷不良批量转让): a selection of whole cases sold to a buyer at a cut-off date (基准日).

- A ``legal.manage`` holder **selects** cases (by case id or by loan id: a loan brings its whole case —
  one borrower, one case, and the stop on collection below is per borrower) with the buyer, the cut-off
  date and the transfer date. A case must be open, not stopped (停催), without an open legal matter and
  in no other sale still under way.
- A ``plan.approve`` holder **other than the requester** approves or rejects it (four eyes).
- On or after the transfer date a ``legal.manage`` holder **transfers** it: the hard stop on collection,
  all in one transaction — the 停催 mechanism of :mod:`recoup.cases.stops`, made permanent:

  * every case is closed as ``sold`` through the case lifecycle (the authority of requester, approver and
    executor together), and its accounts leave collections (``collection_account.status = "closed"``;
    :func:`without_sold` keeps the daily cycle from taking them back in, so the strategy never decides
    for them again);
  * an open-ended ``HOLD-STOP`` contact hold on each borrower — the contact policy blocks every attempt
    the dispatcher judges, on every channel but ``letter``: the one letter queued for the borrower is the
    notice of transfer below (collection letters are people's tasks, never outbox messages);
  * the case's live tasks are cancelled ("sold: debt sale N"): it leaves every queue; an agency placement
    is recalled at once (reason ``closed``: the agency's access ends);
  * the borrower's pending outbox messages are ``blocked`` (HOLD-STOP) before any dispatcher claims them;
  * **the notice of transfer** (民法典 §546: the transfer binds the debtor once notified) is queued to the
    borrower's own valid address by letter through the outbox, in the borrower's language (a borrower
    without an address is listed ``no_address``: notify by announcement, 公告).

- **Payments after the cut-off** (:func:`buyer_payments`) — in the lake's extracts and the mirrored
  payments — are the buyer's and are listed for them; the buyer's data pack is :mod:`recoup.legal.pack`.

Audit: ``sale.requested``, ``sale.approved``, ``sale.rejected``, ``sale.cancelled``, ``sale.transferred``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recoup.agencies.models import Placement
from recoup.agencies.placement import LIVE as PLACEMENT_LIVE
from recoup.agencies.recall import do_recall
from recoup.auth.models import AppUser
from recoup.cases import lifecycle
from recoup.cases.lifecycle import CaseState, CloseReason
from recoup.cases.models import Case
from recoup.cases.service import do_transition
from recoup.config import Settings, get_settings
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import OutboxStatus, do_enqueue
from recoup.contact.policy.model import HoldKind
from recoup.contact.service import do_add_hold
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.legal.common import (
    LIFECYCLE_VERSION,
    LegalStateError,
    TooEarlyError,
    balances,
    business_day,
    check_four_eyes,
    combined_permissions,
    missing,
    refuse,
    text,
)
from recoup.legal.kernel import payments_after_cutoff
from recoup.legal.limitation import payments_frame
from recoup.legal.models import DebtSale, DebtSaleAccount, LegalMatter
from recoup.legal.notice import NOTICE_TEMPLATE, notice_text
from recoup.pii import PiiCipher
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask

__all__ = [
    "LIVE_SALES",
    "SaleStatus",
    "TransferResult",
    "buyer_payments",
    "do_approve_sale",
    "do_cancel_sale",
    "do_create_sale",
    "do_reject_sale",
    "do_transfer_sale",
    "get_sale",
    "list_sales",
    "sale_accounts",
    "sold_loans",
    "without_sold",
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


def _problems(case: Case | None, case_id: int, *, session: Session, sale_id: int | None) -> list[str]:
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


def _refuse_cases(problems: dict[int, list[str]]) -> LegalStateError:
    listed = "; ".join(f"case {cid}: {', '.join(p)}" for cid, p in sorted(problems.items()))
    return LegalStateError(
        f"these cases cannot be sold: {listed} / 以下案件不能转让",
        details={"problems": [{"case_id": cid, "problems": p} for cid, p in sorted(problems.items())]},
    )


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
        if (p := _problems(cases.get(cid), cid, session=session, sale_id=None))
    }
    if problems:
        raise _refuse_cases(problems)
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id.in_(sorted(wanted)), CollectionAccount.status == "open")
            .order_by(CollectionAccount.case_id, CollectionAccount.id)
        )
    )
    empty = sorted(wanted - {a.case_id for a in accounts if a.case_id is not None})
    if empty:
        raise _refuse_cases({cid: ["no open account / 没有在催账户"] for cid in empty})
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


def get_sale(sale_id: int, *, session: Session) -> DebtSale:
    sale = session.get(DebtSale, sale_id)
    if sale is None:
        raise missing("sale", sale_id)
    return sale


def _lock(sale_id: int, *, session: Session) -> DebtSale:
    sale = session.scalars(
        select(DebtSale)
        .where(DebtSale.id == sale_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if sale is None:
        raise missing("sale", sale_id)
    return sale


def _status(sale: DebtSale, allowed: tuple[str, ...], move: str) -> None:
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


def _recheck(sale: DebtSale, *, session: Session) -> None:
    case_ids = sorted({a.case_id for a in sale_accounts(sale.id, session=session)})
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    problems = {
        cid: p for cid in case_ids if (p := _problems(cases.get(cid), cid, session=session, sale_id=sale.id))
    }
    if problems:
        raise _refuse_cases(problems)


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
    sale = _lock(sale_id, session=session)
    _status(sale, (SaleStatus.REQUESTED.value,), "approved")
    check_four_eyes(sale.requested_by_id, actor, "sale", sale.id)
    _recheck(sale, session=session)
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
    sale = _lock(sale_id, session=session)
    _status(sale, (SaleStatus.REQUESTED.value,), "rejected")
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
    sale = _lock(sale_id, session=session)
    _status(sale, LIVE_SALES, "cancelled")
    sale.status, sale.decision_note = SaleStatus.CANCELLED.value, why
    if sale.decided_by is None:
        sale.decided_by, sale.decided_at = actor.username, utcnow()
    session.flush()
    do_append("sale.cancelled", {"sale_id": sale.id}, session=session, actor=actor.username, settings=s)
    return sale


@dataclass
class TransferResult:
    sale: DebtSale
    cases: list[int] = field(default_factory=list)
    holds: list[int] = field(default_factory=list)
    tasks_cancelled: list[int] = field(default_factory=list)
    messages_blocked: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # outbox message ids
    no_address: list[int] = field(default_factory=list)  # case ids
    placements_recalled: list[int] = field(default_factory=list)


def _address(borrower_id: int, *, session: Session) -> str | None:
    value = session.scalar(
        select(ContactPoint.value)
        .where(
            ContactPoint.borrower_id == borrower_id,
            ContactPoint.kind == "address",
            ContactPoint.role.in_(("self", "debtor")),
            ContactPoint.is_valid.is_(True),
        )
        .order_by(ContactPoint.id)
        .limit(1)
    )
    return value.strip() if value and value.strip() else None


def do_transfer_sale(
    sale_id: int,
    *,
    session: Session,
    actor: AppUser,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
    now: dt.datetime | None = None,
) -> TransferResult:
    """Transfer an approved sale on or after its transfer date: the hard stop on collection (see the
    module docstring) and the notice of transfer to each borrower, in one transaction."""
    s = settings or get_settings()
    at = now or utcnow()
    today = business_day(at, s)
    sale = _lock(sale_id, session=session)
    _status(sale, (SaleStatus.APPROVED.value,), "transferred")
    if today < sale.transfer_date:
        raise TooEarlyError(
            f"debt sale {sale.id} transfers on {sale.transfer_date}, not before / "
            f"转让日为 {sale.transfer_date}",
            details={"sale_id": sale.id, "transfer_date": sale.transfer_date.isoformat()},
        )
    rows = sale_accounts(sale.id, session=session)
    by_case: dict[int, list[DebtSaleAccount]] = defaultdict(list)
    for r in rows:
        by_case[r.case_id].append(r)
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(sorted(by_case))))}
    closed = {
        cid: ["closed / 已结案"] for cid in by_case if cases.get(cid) is None or cases[cid].status != "open"
    }
    if closed:
        raise _refuse_cases(closed)
    perms = combined_permissions(
        [session.get(AppUser, sale.requested_by_id), _user(sale.decided_by, session=session), actor]
    )
    result = TransferResult(sale)
    reason = f"sold to {sale.buyer} in debt sale {sale.id} (cut-off {sale.cutoff_date})"[:500]
    for cid, accounts in sorted(by_case.items()):
        case = cases[cid]
        do_transition(
            cid,
            CaseState.CLOSED,
            session=session,
            actor=actor.username,
            permissions=perms,
            reason=reason,
            close_reason=CloseReason.SOLD.value,
            now=at,
            settings=s,
        )
        borrower = session.get(Borrower, case.borrower_id)
        assert borrower is not None
        hold = do_add_hold(
            session=session,
            borrower_key=borrower.external_id,
            kind=HoldKind.STOP,
            start=at,
            end=None,
            channels=list(HOLD_CHANNELS),
            reason=f"debt sale {sale.id}: sold to the buyer (民法典 §546) · 债权已转让",
            evidence=f"debt sale {sale.id}",
            approved_by=sale.decided_by,
            created_by=actor.username,
            recorded_at=at,
        )
        result.holds.append(hold.id)
        tasks = list(
            session.scalars(
                select(WorkTask)
                .where(WorkTask.case_id == cid, WorkTask.status.in_(LIVE_TASKS))
                .order_by(WorkTask.id)
            )
        )
        for t in tasks:
            t.status, t.status_reason, t.updated_at = "cancelled", f"sold: debt sale {sale.id}", at
        result.tasks_cancelled += [t.id for t in tasks]
        # An agency's placement ends now (its access with it): the debt is the buyer's.
        for placement in session.scalars(
            select(Placement).where(Placement.case_id == cid, Placement.status.in_(PLACEMENT_LIVE))
        ):
            do_recall(
                placement,
                reason="closed",
                on=today,
                session=session,
                actor=actor.username,
                note=f"sold in debt sale {sale.id}",
            )
            result.placements_recalled.append(placement.id)
        blocked = session.scalars(
            update(OutboxMessage)
            .where(
                OutboxMessage.borrower_key == borrower.external_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(
                status=OutboxStatus.BLOCKED.value,
                verdict="blocked",
                verdict_rules=["HOLD-STOP"],
                claimed_until=None,
                next_try_at=None,
                last_error=f"debt sold (debt sale {sale.id}): never sent · 债权已转让，不发送",
            )
            .returning(OutboxMessage.message_id)
            .execution_options(synchronize_session=False)
        ).all()
        result.messages_blocked += sorted(str(m) for m in blocked)
        for acc_row in accounts:
            acc = session.get(CollectionAccount, acc_row.account_id)
            if acc is not None:
                acc.status, acc.closed_on = "closed", today
            acc_row.hold_id = hold.id
        address = _address(case.borrower_id, session=session)
        if address is None:
            for acc_row in accounts:
                acc_row.notice_status = "no_address"
            result.no_address.append(cid)
        else:
            locale = borrower.locale or s.locale
            subject, body = notice_text(
                locale,
                borrower_name=borrower.name or "",
                lender=s.lender_name or "",
                hotline=s.hotline or "",
                buyer=sale.buyer,
                buyer_contact=sale.buyer_contact,
                cutoff=sale.cutoff_date,
                transfer=today,
                loans=[a.loan_id for a in accounts],
            )
            msg = do_enqueue(
                session=session,
                as_of=today,
                borrower_key=borrower.external_id,
                debt_key=None,
                slot=f"sale:{sale.id}:notice",
                channel=Channel.LETTER,
                party=Party.DEBTOR,
                destination=address,
                destination_kind=DestinationKind.ADDRESS,
                subject=subject,
                body=body,
                locale="en" if locale.startswith("en") else "zh_CN",
                template=NOTICE_TEMPLATE,
                decision=f"debt sale {sale.id} · 民法典 §546 notice of transfer",
                due_at=at,
                expires_at=None,
                settings=s,
                cipher=cipher,
            )
            for acc_row in accounts:
                acc_row.notice_message_id, acc_row.notice_status = msg.message_id, "queued"
            result.notices.append(msg.message_id)
        result.cases.append(cid)
    sale.status, sale.transferred_by, sale.transferred_at = SaleStatus.TRANSFERRED.value, actor.username, at
    sale.rule_version = LIFECYCLE_VERSION
    session.flush()
    do_append(
        "sale.transferred",
        {
            "sale_id": sale.id,
            "cases": result.cases,
            "accounts": len(rows),
            "holds": result.holds,
            "tasks_cancelled": len(result.tasks_cancelled),
            "messages_blocked": len(result.messages_blocked),
            "notices": result.notices,
            "no_address": result.no_address,
            "placements_recalled": result.placements_recalled,
            "rule_version": LIFECYCLE_VERSION,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return result


def _user(username: str | None, *, session: Session) -> AppUser | None:
    if not username:
        return None
    return session.scalars(select(AppUser).where(AppUser.username == username)).one_or_none()


def list_sales(*, session: Session, status: str | None = None, limit: int = 200) -> list[DebtSale]:
    q = select(DebtSale).order_by(DebtSale.requested_at.desc(), DebtSale.id.desc()).limit(limit)
    if status:
        q = q.where(DebtSale.status == status)
    return list(session.scalars(q))


def sold_loans(*, session: Session, as_of: dt.date) -> list[str]:
    """The loans of the sales transferred with a transfer date on or before ``as_of``."""
    return list(
        session.scalars(
            select(DebtSaleAccount.loan_id)
            .join(DebtSale, DebtSale.id == DebtSaleAccount.sale_id)
            .where(DebtSale.status == SaleStatus.TRANSFERRED.value, DebtSale.transfer_date <= as_of)
            .order_by(DebtSaleAccount.loan_id)
        )
    )


def without_sold(daily: pl.DataFrame, *, session: Session, as_of: dt.date) -> pl.DataFrame:
    """``daily`` (the cycle's ``account_daily``) without the loans sold by ``as_of``: they are the buyer's,
    so the cycle neither takes them back into collections nor decides anything for them."""
    sold = sold_loans(session=session, as_of=as_of)
    if not sold or not daily.height:
        return daily
    return daily.filter(~pl.col("loan_id").cast(pl.String).is_in(pl.Series(sold, dtype=pl.String).implode()))


def buyer_payments(
    sale: DebtSale, *, session: Session, lake_payments: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """The payments on the sale's loans received after its cut-off date (reversals negative), oldest
    first: the buyer's money (``sale_id``, ``loan_id``, ``payment_id``, ``received_date``, ``amount``,
    ``cutoff_date``)."""
    loans = [a.loan_id for a in sale_accounts(sale.id, session=session)]
    pays = payments_frame(session=session, loan_ids=loans, lake_payments=lake_payments).with_columns(
        amount=pl.when(pl.col("reverses").is_not_null()).then(-pl.col("amount")).otherwise(pl.col("amount"))
    )
    sold = pl.DataFrame(
        {"loan_id": loans, "sale_id": [sale.id] * len(loans), "cutoff_date": [sale.cutoff_date] * len(loans)},
        schema={"loan_id": pl.String, "sale_id": pl.Int64, "cutoff_date": pl.Date},
    )
    return payments_after_cutoff(pays, sold)
