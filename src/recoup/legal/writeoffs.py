"""Write-offs (核销) with four-eyes approval; written-off accounts stay collectable (账销案存).

- A ``legal.manage`` holder **requests** the write-off of a case: every open account of it, with the
  balance written off (the unpaid parts of the mirrored schedule). The case must be in a state the case
  lifecycle lets close as ``written_off`` (collection tried: not from intake or allocated).
- A ``plan.approve`` holder **other than the requester** approves or rejects it. Approval closes the case
  as ``written_off`` through the lifecycle (:func:`recoup.cases.service.do_transition`) with the authority
  of the two together (the table asks ``case.close`` and ``legal.manage``: the manager brings the one,
  the legal officer the other). The case keeps ``status = "open"``: the daily cycle, queues and strategy
  keep working it (账销案存), and the lender's core system gets the write-off through its write-back.
- **Recoveries after write-off** are reported apart: :func:`write_off_facts` gives each written-off loan
  and its date, and :func:`recoveries` labels every payment with
  :func:`recoup.legal.kernel.classify_recoveries` (``collections`` / ``after_write_off`` / ``buyer``) —
  the flag the reports split on (METRICS.md, 核销后回收).

Every decision records who, when, why and the version of the lifecycle table that allowed it, and goes
to the audit ledger (``writeoff.requested``, ``writeoff.approved``, ``writeoff.rejected``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases import lifecycle
from recoup.cases.lifecycle import CaseState, CloseReason
from recoup.cases.models import Case
from recoup.cases.service import do_transition
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.legal.common import (
    LIFECYCLE_VERSION,
    LegalStateError,
    balances,
    business_day,
    check_four_eyes,
    combined_permissions,
    missing,
    text,
)
from recoup.legal.kernel import classify_recoveries
from recoup.legal.limitation import payments_frame
from recoup.legal.models import DebtSale, DebtSaleAccount, WriteOff, WriteOffAccount
from recoup.portfolio.models import CollectionAccount

__all__ = [
    "do_approve_write_off",
    "do_reject_write_off",
    "do_request_write_off",
    "get_write_off",
    "list_write_offs",
    "recoveries",
    "write_off_accounts",
    "write_off_facts",
]


def _check_closable(case: Case) -> None:
    """The lifecycle must allow closing the case as written off from where it is."""
    if case.status != "open":
        raise LegalStateError(
            f"case {case.id} is closed / 案件 {case.id} 已结案",
            details={"case_id": case.id, "state": case.state},
        )
    if case.close_reason == CloseReason.WRITTEN_OFF:
        raise LegalStateError(
            f"case {case.id} is written off already / 案件 {case.id} 已核销", details={"case_id": case.id}
        )
    allowed = lifecycle.allowed_from(case.state, case.close_reason)
    edge = lifecycle.TRANSITIONS.get((CaseState(case.state), CaseState.CLOSED))
    if CaseState.CLOSED not in allowed or edge is None or CloseReason.WRITTEN_OFF not in edge.close_reasons:
        raise LegalStateError(
            f"a case in {case.state} cannot be written off: collection must be tried first / "
            f"案件处于 {case.state}，尚不能核销",
            details={"case_id": case.id, "state": case.state},
        )


def do_request_write_off(
    case: Case,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    evidence_ref: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> WriteOff:
    """Ask for the write-off of ``case``'s open accounts; another person decides it."""
    s = settings or get_settings()
    at = now or utcnow()
    why = text(reason, "reason")
    evidence = text(evidence_ref, "evidence_ref", high=300) if evidence_ref else None
    _check_closable(case)
    pending = session.scalar(
        select(WriteOff.id).where(WriteOff.case_id == case.id, WriteOff.status == "requested").limit(1)
    )
    if pending is not None:
        raise LegalStateError(
            f"write-off {pending} of case {case.id} awaits a decision / 案件已有待审批的核销申请 {pending}",
            details={"case_id": case.id, "write_off_id": pending},
        )
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id == case.id, CollectionAccount.status == "open")
            .order_by(CollectionAccount.id)
        )
    )
    if not accounts:
        raise LegalStateError(
            f"case {case.id} has no open account / 案件没有在催账户", details={"case_id": case.id}
        )
    bal = balances([a.id for a in accounts], session=session)
    wo = WriteOff(
        case_id=case.id,
        status="requested",
        amount=sum(b for b, _ in bal.values()),
        currency=accounts[0].currency or s.currency,
        reason=why,
        evidence_ref=evidence,
        requested_by_id=actor.id,
        requested_by=actor.username,
        requested_at=at,
    )
    session.add(wo)
    session.flush()
    session.add_all(
        WriteOffAccount(
            write_off_id=wo.id,
            account_id=a.id,
            loan_id=a.external_id,
            amount=bal[a.id][0],
            principal=bal[a.id][1],
        )
        for a in accounts
    )
    session.flush()
    do_append(
        "writeoff.requested",
        {
            "write_off_id": wo.id,
            "case_id": case.id,
            "accounts": [a.id for a in accounts],
            "amount": wo.amount,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return wo


def get_write_off(write_off_id: int, *, session: Session) -> WriteOff:
    wo = session.get(WriteOff, write_off_id)
    if wo is None:
        raise missing("write_off", write_off_id)
    return wo


def _lock(write_off_id: int, *, session: Session) -> WriteOff:
    wo = session.scalars(
        select(WriteOff)
        .where(WriteOff.id == write_off_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if wo is None:
        raise missing("write_off", write_off_id)
    return wo


def _undecided(wo: WriteOff, move: str) -> None:
    if wo.status != "requested":
        raise LegalStateError(
            f"write-off {wo.id} is {wo.status}: it cannot be {move} / 核销 {wo.id} 状态为 {wo.status}",
            details={"write_off_id": wo.id, "status": wo.status},
        )


def do_approve_write_off(
    write_off_id: int,
    *,
    session: Session,
    actor: AppUser,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> WriteOff:
    """Approve another person's write-off: the case is closed as ``written_off`` and stays collectable."""
    s = settings or get_settings()
    at = now or utcnow()
    wo = _lock(write_off_id, session=session)
    _undecided(wo, "approved")
    check_four_eyes(wo.requested_by_id, actor, "write-off", wo.id)
    case = session.get(Case, wo.case_id)
    if case is None:
        raise missing("case", wo.case_id)
    _check_closable(case)
    requester = session.get(AppUser, wo.requested_by_id)
    do_transition(
        case.id,
        CaseState.CLOSED,
        session=session,
        actor=actor.username,
        permissions=combined_permissions([requester, actor]),
        reason=f"write-off {wo.id} approved: {wo.reason}"[:500],
        close_reason=CloseReason.WRITTEN_OFF.value,
        now=at,
        settings=s,
    )
    wo.status, wo.decided_by, wo.decided_at = "approved", actor.username, at
    wo.decision_note = note.strip()[:500] or None
    wo.written_off_on = business_day(at, s)
    wo.rule_version = LIFECYCLE_VERSION
    session.flush()
    do_append(
        "writeoff.approved",
        {
            "write_off_id": wo.id,
            "case_id": wo.case_id,
            "amount": wo.amount,
            "written_off_on": wo.written_off_on.isoformat(),
            "requested_by": wo.requested_by,
            "rule_version": LIFECYCLE_VERSION,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    from recoup.writeback.emit import emit_write_off  # the core system books it (docs/writeback.md)

    emit_write_off(wo, session=session, actor=actor.username, settings=s)
    return wo


def do_reject_write_off(
    write_off_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> WriteOff:
    """Reject another person's write-off request, saying why."""
    s = settings or get_settings()
    at = now or utcnow()
    why = text(reason, "reason")
    wo = _lock(write_off_id, session=session)
    _undecided(wo, "rejected")
    check_four_eyes(wo.requested_by_id, actor, "write-off", wo.id)
    wo.status, wo.decided_by, wo.decided_at, wo.decision_note = "rejected", actor.username, at, why
    session.flush()
    do_append(
        "writeoff.rejected",
        {"write_off_id": wo.id, "case_id": wo.case_id},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return wo


def list_write_offs(*, session: Session, status: str | None = None, limit: int = 200) -> list[WriteOff]:
    q = select(WriteOff).order_by(WriteOff.requested_at.desc(), WriteOff.id.desc()).limit(limit)
    if status:
        q = q.where(WriteOff.status == status)
    return list(session.scalars(q))


def write_off_accounts(write_off_id: int, *, session: Session) -> list[WriteOffAccount]:
    return list(
        session.scalars(
            select(WriteOffAccount)
            .where(WriteOffAccount.write_off_id == write_off_id)
            .order_by(WriteOffAccount.id)
        )
    )


def write_off_facts(*, session: Session) -> pl.DataFrame:
    """Every written-off loan and its write-off date (``loan_id``, ``written_off_on``): what reports join to
    split recoveries after write-off (核销后回收) from the rest."""
    rows = session.execute(
        select(WriteOffAccount.loan_id, WriteOff.written_off_on)
        .join(WriteOff, WriteOff.id == WriteOffAccount.write_off_id)
        .where(WriteOff.status == "approved")
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={"loan_id": pl.String, "written_off_on": pl.Date}, orient="row"
    )


def _sold(*, session: Session) -> pl.DataFrame:
    rows = session.execute(
        select(DebtSaleAccount.loan_id, DebtSale.cutoff_date)
        .join(DebtSale, DebtSale.id == DebtSaleAccount.sale_id)
        .where(DebtSale.status == "transferred")
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={"loan_id": pl.String, "cutoff_date": pl.Date}, orient="row"
    )


def recoveries(
    *,
    session: Session,
    start: dt.date,
    end: dt.date,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """The payments received on [start, end] with their ``recovery`` label (reversals negative): split on
    it to report recoveries after write-off apart, and what belongs to a debt's buyer."""
    pays = payments_frame(session=session, lake_payments=lake_payments).filter(
        pl.col("received_date").is_between(start, end)
    )
    signed = pays.with_columns(
        amount=pl.when(pl.col("reverses").is_not_null()).then(-pl.col("amount")).otherwise(pl.col("amount"))
    )
    return classify_recoveries(signed, write_off_facts(session=session), _sold(session=session))
