"""Disposal of collateral (处置: auction 拍卖, sale 变卖, transfer to an asset-management company 转让给AMC)
with four-eyes approval, and the net recovery applied to the account.

1. A ``legal.manage`` holder **requests** a disposal of a held or repossessed item (method, why, a
   reserve price): :func:`do_request_disposal`.
2. A ``plan.approve`` holder **other than the requester** approves or rejects it
   (:func:`do_approve_disposal`, :func:`do_reject_disposal`; the requester gets 403 ``legal.four_eyes``).
3. Once sold, a ``legal.manage`` holder **completes** it with the date, proceeds, costs and buyer
   (:func:`do_complete_disposal`): the item is ``disposed`` and the **net recovery** — proceeds less the
   disposal's costs and the repossession's costs, never below zero — is applied to the account as a
   manual receipt (:func:`do_apply_recovery`): an ``account_payment`` row (``COLL-<disposal id>``, channel
   ``other``) that the waterfall applies to the mirrored schedule (penalty → fee → interest → principal,
   oldest instalment first). :func:`applied_recovery` describes that receipt for the write-back to the
   core system: its payment id is stable, so when the core system reports the receipt back in its
   extract under the same id the mirror does not count it twice.

Ledger: ``collateral.disposal_requested|approved|rejected|cancelled``, ``collateral.disposed``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.collateral.models import CollateralDisposal, CollateralItem
from recoup.collateral.service import CollateralStateError, get_item, refuse, repossession_of
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.ledger.service import do_append
from recoup.legal.common import check_four_eyes
from recoup.money import DEFAULT_ORDER, Due, allocate_payment
from recoup.portfolio.models import AccountInstallment, AccountPayment, CollectionAccount

__all__ = [
    "METHODS",
    "AppliedRecovery",
    "applied_recovery",
    "do_apply_recovery",
    "do_approve_disposal",
    "do_cancel_disposal",
    "do_complete_disposal",
    "do_reject_disposal",
    "do_request_disposal",
    "get_disposal",
    "item_disposals",
    "list_disposals",
]

METHODS: Final = ("auction", "sale", "amc_transfer")
LIVE: Final = ("requested", "approved")


@dataclass(frozen=True)
class AppliedRecovery:
    """A completed disposal's net recovery as a manual receipt on the loan: what the write-back sends."""

    disposal_id: int
    loan_id: str
    account_id: int
    payment_id: str  # stable: COLL-<disposal id, 8 digits>
    received_date: dt.date
    amount: int  # minor units
    currency: str
    channel: str
    reference: str


def payment_id_of(disposal_id: int) -> str:
    return f"COLL-{disposal_id:08d}"


def get_disposal(disposal_id: int, *, session: Session, lock: bool = False) -> CollateralDisposal:
    q = select(CollateralDisposal).where(CollateralDisposal.id == disposal_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    d = session.scalars(q).one_or_none()
    if d is None:
        raise NotFoundError(
            f"no disposal {disposal_id} / 处置 {disposal_id} 不存在", details={"disposal_id": disposal_id}
        )
    return d


def item_disposals(item_id: int, *, session: Session) -> list[CollateralDisposal]:
    return list(
        session.scalars(
            select(CollateralDisposal)
            .where(CollateralDisposal.item_id == item_id)
            .order_by(CollateralDisposal.id.desc())
        )
    )


def list_disposals(
    *, session: Session, status: str | None = None, limit: int = 200
) -> list[CollateralDisposal]:
    q = select(CollateralDisposal).order_by(CollateralDisposal.id.desc()).limit(limit)
    if status:
        q = q.where(CollateralDisposal.status == status)
    return list(session.scalars(q))


def _state(d: CollateralDisposal, want: str, move: str) -> None:
    if d.status != want:
        raise CollateralStateError(
            f"disposal {d.id} is {d.status}: it cannot be {move} / 处置 {d.id} 状态为 {d.status}",
            details={"disposal_id": d.id, "status": d.status},
        )


def do_request_disposal(
    item_id: int,
    *,
    method: str,
    reason: str,
    session: Session,
    actor: AppUser,
    reserve_price: int | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> CollateralDisposal:
    """Ask to dispose of a held or repossessed item; another person decides it."""
    s = settings or get_settings()
    item = get_item(item_id, session=session, lock=True)
    if method not in METHODS:
        raise refuse("method", f"method is one of {', '.join(METHODS)}", "处置方式须为拍卖、变卖或转让给AMC")
    why = (reason or "").strip()
    if not 1 <= len(why) <= 500:
        raise refuse("reason", "say why (1 to 500 characters)", "请填写理由（1–500 个字符）")
    if reserve_price is not None and reserve_price < 0:
        raise refuse("reserve_price", "a reserve price cannot be negative", "保留价不能为负")
    if item.status not in ("held", "repossessed"):
        raise CollateralStateError(
            f"item {item.id} is {item.status}: nothing to dispose of / 押品状态为 {item.status}，不能处置",
            details={"item_id": item.id, "status": item.status},
        )
    live = session.scalar(
        select(CollateralDisposal.id).where(
            CollateralDisposal.item_id == item.id, CollateralDisposal.status.in_(LIVE)
        )
    )
    if live is not None:
        raise CollateralStateError(
            f"item {item.id} has disposal {live} under way / 押品已有进行中的处置 {live}",
            details={"item_id": item.id, "disposal_id": live},
        )
    d = CollateralDisposal(
        item_id=item.id,
        method=method,
        status="requested",
        reserve_price=reserve_price,
        reason=why,
        requested_by_id=actor.id,
        requested_by=actor.username,
        requested_at=now or utcnow(),
    )
    session.add(d)
    session.flush()
    do_append(
        "collateral.disposal_requested",
        {"disposal_id": d.id, "item_id": item.id, "loan_id": item.loan_id, "method": method},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return d


def _decide(
    disposal_id: int,
    status: str,
    *,
    session: Session,
    actor: AppUser,
    note: str,
    settings: Settings | None,
    now: dt.datetime | None,
) -> CollateralDisposal:
    s = settings or get_settings()
    d = get_disposal(disposal_id, session=session, lock=True)
    _state(d, "requested", status)
    check_four_eyes(d.requested_by_id, actor, "disposal", d.id)
    if status == "rejected" and not note.strip():
        raise refuse("reason", "say why it is rejected", "请填写驳回理由")
    d.status, d.decided_by, d.decided_at = status, actor.username, now or utcnow()
    d.decision_note = note.strip()[:500] or None
    session.flush()
    do_append(
        f"collateral.disposal_{status}",
        {"disposal_id": d.id, "item_id": d.item_id, "requested_by": d.requested_by},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return d


def do_approve_disposal(
    disposal_id: int,
    *,
    session: Session,
    actor: AppUser,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> CollateralDisposal:
    """Approve another person's disposal request (four eyes)."""
    return _decide(
        disposal_id, "approved", session=session, actor=actor, note=note, settings=settings, now=now
    )


def do_reject_disposal(
    disposal_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> CollateralDisposal:
    """Reject another person's disposal request, saying why."""
    return _decide(
        disposal_id, "rejected", session=session, actor=actor, note=reason, settings=settings, now=now
    )


def do_cancel_disposal(
    disposal_id: int, *, session: Session, actor: AppUser, reason: str, settings: Settings | None = None
) -> CollateralDisposal:
    """Cancel a requested or approved disposal that will not happen (no buyer, the borrower paid)."""
    s = settings or get_settings()
    d = get_disposal(disposal_id, session=session, lock=True)
    if d.status not in LIVE:
        _state(d, "approved", "cancelled")
    d.status, d.decision_note = "cancelled", (reason or "").strip()[:500] or d.decision_note
    session.flush()
    do_append(
        "collateral.disposal_cancelled",
        {"disposal_id": d.id, "item_id": d.item_id},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return d


def do_complete_disposal(
    disposal_id: int,
    *,
    disposed_on: dt.date,
    proceeds: int,
    costs: int,
    session: Session,
    actor: AppUser,
    buyer: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> CollateralDisposal:
    """Record an approved disposal's outcome; the net recovery is applied to the loan's account."""
    s = settings or get_settings()
    at = now or utcnow()
    d = get_disposal(disposal_id, session=session, lock=True)
    _state(d, "approved", "completed")
    if proceeds < 0 or costs < 0:
        raise refuse("proceeds", "proceeds and costs cannot be negative", "处置收入和费用不能为负")
    if disposed_on > at.astimezone(s.tz).date():
        raise refuse("date", "the disposal date cannot be in the future", "处置日期不能晚于今天")
    item = get_item(d.item_id, session=session, lock=True)
    rep = repossession_of(item.id, session=session)
    if rep is not None and disposed_on < rep.repossessed_on:
        raise refuse("date", "the disposal date is before the repossession", "处置日期早于收回日期")
    rep_costs = rep.costs if rep is not None else 0
    d.status, d.disposed_on, d.proceeds, d.costs = "completed", disposed_on, proceeds, costs
    d.buyer = (buyer or "").strip()[:200] or None
    d.net_recovered = max(proceeds - costs - rep_costs, 0)
    d.completed_by, d.completed_at = actor.username, at
    item.status = "disposed"
    session.flush()
    applied = do_apply_recovery(d, session=session) if d.net_recovered > 0 else None
    d.payment_id = applied.payment_id if applied is not None else None
    session.flush()
    if applied is not None:  # the core system posts the receipt (docs/writeback.md)
        from recoup.writeback.emit import do_manual_receipt

        do_manual_receipt(
            applied.loan_id,
            session=session,
            amount=applied.amount,
            received=applied.received_date,
            reference=applied.payment_id,
            reason=applied.reference,
            actor=actor.username,
            on=at.astimezone(s.tz).date(),
            settings=s,
        )
    do_append(
        "collateral.disposed",
        {
            "disposal_id": d.id,
            "item_id": item.id,
            "loan_id": item.loan_id,
            "method": d.method,
            "on": disposed_on.isoformat(),
            "proceeds": proceeds,
            "costs": costs,
            "repossession_costs": rep_costs,
            "net_recovered": d.net_recovered,
            "payment_id": d.payment_id,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return d


def applied_recovery(disposal: CollateralDisposal, *, session: Session) -> AppliedRecovery | None:
    """The manual receipt a completed disposal puts on its loan (None when nothing was recovered): what
    the write-back sends to the core system, with a stable payment id."""
    if disposal.status != "completed" or disposal.net_recovered <= 0 or disposal.disposed_on is None:
        return None
    item = session.get(CollateralItem, disposal.item_id)
    assert item is not None
    account = session.scalar(select(CollectionAccount).where(CollectionAccount.external_id == item.loan_id))
    if account is None:
        raise NotFoundError(
            f"no loan {item.loan_id} in collections / 借据 {item.loan_id} 不存在",
            details={"loan_id": item.loan_id},
        )
    return AppliedRecovery(
        disposal_id=disposal.id,
        loan_id=item.loan_id,
        account_id=account.id,
        payment_id=payment_id_of(disposal.id),
        received_date=disposal.disposed_on,
        amount=disposal.net_recovered,
        currency=account.currency or item.currency,
        channel="other",
        reference=f"collateral disposal {disposal.id} ({disposal.method})",
    )


def do_apply_recovery(disposal: CollateralDisposal, *, session: Session) -> AppliedRecovery | None:
    """Put the disposal's net recovery on the account: a payment row and its allocation over the mirrored
    schedule by the waterfall (what is left over stays a credit on the payment). Idempotent."""
    applied = applied_recovery(disposal, session=session)
    if applied is None:
        return None
    if session.scalar(select(AccountPayment.id).where(AccountPayment.external_id == applied.payment_id)):
        return applied
    session.add(
        AccountPayment(
            external_id=applied.payment_id,
            account_id=applied.account_id,
            received_date=applied.received_date,
            amount=applied.amount,
            channel=applied.channel,
            reference=applied.reference[:100],
        )
    )
    rows = {
        r.seq: r
        for r in session.scalars(
            select(AccountInstallment).where(AccountInstallment.account_id == applied.account_id)
        )
    }
    dues = [
        Due(
            seq=r.seq,
            penalty=max(int(r.penalty_due) - int(r.penalty_paid), 0),
            fee=max(int(r.fee_due) - int(r.fee_paid), 0),
            interest=max(int(r.interest_due) - int(r.interest_paid), 0),
            principal=max(int(r.principal_due) - int(r.principal_paid), 0),
        )
        for r in rows.values()
    ]
    account = session.get(CollectionAccount, applied.account_id)
    assert account is not None
    for line in allocate_payment(applied.amount, dues, order=DEFAULT_ORDER).lines:
        r = rows[line.seq]
        col = f"{line.component.value}_paid"
        setattr(r, col, int(getattr(r, col)) + line.amount)
        r.last_paid_date = applied.received_date
        # The account's own figures follow, so lists and the case page show the receipt at once.
        if r.due_date <= account.as_of:
            account.overdue_amount = max(int(account.overdue_amount) - line.amount, 0)
        if line.component.value == "principal":
            account.outstanding_principal = max(int(account.outstanding_principal) - line.amount, 0)
    session.flush()
    return applied
