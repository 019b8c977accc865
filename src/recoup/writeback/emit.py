"""Where instructions come from: the resolution, write-off and command-line events that change what the
core system must book. Each function runs in the caller's unit of work (called from
:func:`recoup.resolutions.decide.activate`, :func:`recoup.resolutions.judge.do_judge_resolutions` and
:func:`recoup.legal.writeoffs.do_approve_write_off`, or from ``recoup writeback freeze|receipt``).

- a **plan** is sent when it is approved: the core system restructures the schedule into its instalments;
- a **waiver** is sent when it takes effect (先还后减: the resolution is ``honoured``), for a waiver, a
  settlement or a plan that waives anything: the waived amount per component;
- a **write-off** is sent per loan when the write-off is approved;
- an **interest freeze** (停息) and a **manual receipt** (money received outside the core system: cash at a
  visit, a court's transfer) are recorded with ``recoup writeback freeze|receipt``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.legal.models import WriteOff, WriteOffAccount
from recoup.resolutions.models import Resolution, ResolutionInstalment
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.service import Kind, WritebackError, do_emit

__all__ = ["do_freeze", "do_manual_receipt", "emit_plan", "emit_waiver", "emit_write_off"]

COMPONENTS = ("penalty", "fee", "interest", "principal")


def _loans(res: Resolution) -> list[str]:
    loans = [str(x) for x in (res.loans or [])]
    if not loans:
        raise WritebackError(
            f"resolution {res.id} covers no loan · 方案未关联借据", details={"resolution_id": res.id}
        )
    return loans


def emit_plan(
    res: Resolution, *, session: Session, on: dt.date, actor: str, settings: Settings | None = None
) -> WritebackInstruction:
    """The approved plan: restructure the loans' balance into its instalments."""
    instalments = session.execute(
        select(ResolutionInstalment.seq, ResolutionInstalment.due_date, ResolutionInstalment.amount)
        .where(ResolutionInstalment.resolution_id == res.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    loans = _loans(res)
    return do_emit(
        Kind.PLAN,
        session=session,
        source_ref=f"resolution:{res.id}",
        loan_id=loans[0],
        case_id=res.case_id,
        business_date=on,
        effective_date=res.first_due,
        amount=res.total_due,
        currency=res.currency,
        payload={
            "resolution_id": res.id,
            "loans": loans,
            "base": res.base,
            "agreed": res.agreed_amount,
            "total_due": res.total_due,
            # For information only: a plan's waiver is applied once, on the `waiver` instruction sent
            # when the plan is honoured (先还后减), so the plan carries no waive_* amounts itself.
            "waiver_on_honour": res.waived,
            "instalments": [
                {"seq": int(s), "due_date": d.isoformat(), "amount": int(a)} for s, d, a in instalments
            ],
        },
        actor=actor,
        settings=settings,
    )


def emit_waiver(
    res: Resolution, *, session: Session, on: dt.date, actor: str, settings: Settings | None = None
) -> WritebackInstruction | None:
    """The waiver that took effect (the resolution is honoured); None when nothing is waived."""
    if not res.waived_total:
        return None
    loans = _loans(res)
    return do_emit(
        Kind.WAIVER,
        session=session,
        source_ref=f"resolution:{res.id}",
        loan_id=loans[0],
        case_id=res.case_id,
        business_date=on,
        effective_date=res.ended_on or on,
        amount=res.waived_total,
        currency=res.currency,
        payload={
            "resolution_id": res.id,
            "resolution_kind": res.kind,
            "loans": loans,
            "waive": res.waived,
            "paid": res.paid_amount,
        },
        actor=actor,
        settings=settings,
    )


def emit_write_off(
    wo: WriteOff, *, session: Session, actor: str, settings: Settings | None = None
) -> list[WritebackInstruction]:
    """The approved write-off: one instruction per loan (its balance and principal written off)."""
    on = wo.written_off_on
    assert on is not None
    accounts = session.scalars(
        select(WriteOffAccount).where(WriteOffAccount.write_off_id == wo.id).order_by(WriteOffAccount.id)
    ).all()
    return [
        do_emit(
            Kind.WRITE_OFF,
            session=session,
            source_ref=f"write_off:{wo.id}",
            loan_id=a.loan_id,
            case_id=wo.case_id,
            business_date=on,
            amount=a.amount,
            currency=wo.currency,
            payload={"write_off_id": wo.id, "amount": a.amount, "principal": a.principal},
            actor=actor,
            settings=settings,
        )
        for a in accounts
    ]


def _reason(text: str) -> str:
    why = (text or "").strip()
    if not 1 <= len(why) <= 300:
        raise WritebackError("--reason: 1–300 characters · 须填写原因", details={"field": "reason"})
    return why


def do_freeze(
    loan_id: str,
    *,
    session: Session,
    start: dt.date,
    reason: str,
    actor: str,
    on: dt.date | None = None,
    settings: Settings | None = None,
) -> WritebackInstruction:
    """An interest freeze (停息) on ``loan_id`` from ``start``: no interest or penalty accrues after it."""
    s = settings or get_settings()
    return do_emit(
        Kind.INTEREST_FREEZE,
        session=session,
        source_ref=f"freeze:{start.isoformat()}",
        loan_id=loan_id.strip(),
        business_date=on or start,
        effective_date=start,
        payload={"from": start.isoformat(), "reason": _reason(reason)},
        actor=actor,
        settings=s,
    )


def do_manual_receipt(
    loan_id: str,
    *,
    session: Session,
    amount: int,
    received: dt.date,
    reference: str,
    reason: str,
    actor: str,
    on: dt.date | None = None,
    settings: Settings | None = None,
) -> WritebackInstruction:
    """Money received outside the core system, for it to post as a payment on ``loan_id``."""
    ref = (reference or "").strip()
    if amount <= 0:
        raise WritebackError("--amount must be positive · 金额须为正数", details={"field": "amount"})
    if not 1 <= len(ref) <= 100:
        raise WritebackError("--ref: 1–100 characters · 须填写凭证号", details={"field": "reference"})
    return do_emit(
        Kind.MANUAL_RECEIPT,
        session=session,
        source_ref=f"receipt:{ref}",
        loan_id=loan_id.strip(),
        business_date=on or received,
        effective_date=received,
        amount=amount,
        payload={
            "amount": amount,
            "received_date": received.isoformat(),
            "reference": ref,
            "reason": _reason(reason),
        },
        actor=actor,
        settings=settings,
    )
