"""``/api/v1/legal/write-offs`` and ``/api/v1/legal/sales``: write-offs (核销) and debt sales
(个贷不良批量转让) with four-eyes approval. Asking and transferring need ``legal.manage``; deciding needs
``plan.approve`` (and another person than the one who asked); the recoveries split needs ``report.view``.
The rules are :mod:`recoup.legal.writeoffs`, :mod:`recoup.legal.sales` and :mod:`recoup.legal.pack`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select

from recoup.auth.models import AppUser
from recoup.config import Settings
from recoup.db import utcnow
from recoup.legal import pack, sales, writeoffs
from recoup.legal.common import business_day, refuse
from recoup.legal.kernel import RecoveryKind
from recoup.legal.limitation import lake_payments
from recoup.legal.models import DebtSale, DebtSaleAccount, WriteOff
from recoup.legal.schemas import (
    BuyerPaymentOut,
    BuyerPaymentsOut,
    DecisionIn,
    PackOut,
    RecoveriesOut,
    RejectIn,
    SaleAccountOut,
    SaleDetailOut,
    SaleIn,
    SaleOut,
    TransferOut,
    WriteOffAccountOut,
    WriteOffIn,
    WriteOffOut,
)
from recoup.legal.views import Lawyer, LegalCase, amount_in, amount_out, settings_of
from recoup.web.deps import DbId, DbSession, cipher_of, require

router = APIRouter(tags=["legal"])

Approver = Annotated[AppUser, require("plan.approve")]
Reporter = Annotated[AppUser, require("report.view")]


def write_off_out(wo: WriteOff, s: Settings, session: DbSession) -> WriteOffOut:
    return WriteOffOut(
        id=wo.id,
        case_id=wo.case_id,
        status=wo.status,
        amount=amount_out(wo.amount, s),
        currency=wo.currency,
        reason=wo.reason,
        evidence_ref=wo.evidence_ref,
        requested_by=wo.requested_by,
        requested_at=wo.requested_at,
        decided_by=wo.decided_by,
        decided_at=wo.decided_at,
        decision_note=wo.decision_note,
        written_off_on=wo.written_off_on,
        rule_version=wo.rule_version,
        accounts=[
            WriteOffAccountOut(
                loan_id=a.loan_id, amount=amount_out(a.amount, s), principal=amount_out(a.principal, s)
            )
            for a in writeoffs.write_off_accounts(wo.id, session=session)
        ],
    )


@router.get("/legal/write-offs", response_model=list[WriteOffOut])
def list_write_offs(
    request: Request,
    user: Lawyer,
    session: DbSession,
    status: Annotated[str | None, Query(pattern="^(requested|approved|rejected)$")] = None,
) -> list[WriteOffOut]:
    """Write-offs, newest first (of one status when given)."""
    s = settings_of(request)
    return [write_off_out(w, s, session) for w in writeoffs.list_write_offs(session=session, status=status)]


@router.post("/cases/{case_id}/write-offs", response_model=WriteOffOut, status_code=201)
def request_write_off(
    request: Request, user: Lawyer, case: LegalCase, body: WriteOffIn, session: DbSession
) -> WriteOffOut:
    """Ask for the write-off of the case's open accounts (another person with ``plan.approve`` decides)."""
    s = settings_of(request)
    wo = writeoffs.do_request_write_off(
        case, session=session, actor=user, reason=body.reason, evidence_ref=body.evidence_ref, settings=s
    )
    return write_off_out(wo, s, session)


@router.post("/legal/write-offs/{write_off_id}/approve", response_model=WriteOffOut)
def approve_write_off(
    request: Request, user: Approver, write_off_id: DbId, session: DbSession, body: DecisionIn | None = None
) -> WriteOffOut:
    """Approve a write-off someone else asked for: the case is closed as written off and stays collectable
    (账销案存). Your own request: 403 ``legal.four_eyes``."""
    s = settings_of(request)
    wo = writeoffs.do_approve_write_off(
        write_off_id, session=session, actor=user, note=body.note if body else "", settings=s
    )
    return write_off_out(wo, s, session)


@router.post("/legal/write-offs/{write_off_id}/reject", response_model=WriteOffOut)
def reject_write_off(
    request: Request, user: Approver, write_off_id: DbId, body: RejectIn, session: DbSession
) -> WriteOffOut:
    """Reject a write-off someone else asked for, saying why."""
    s = settings_of(request)
    wo = writeoffs.do_reject_write_off(
        write_off_id, session=session, actor=user, reason=body.reason, settings=s
    )
    return write_off_out(wo, s, session)


@router.get("/legal/recoveries", response_model=RecoveriesOut)
def recoveries(
    request: Request,
    user: Reporter,
    session: DbSession,
    start: dt.date,
    end: dt.date,
) -> RecoveriesOut:
    """Payments received on [start, end] split into ordinary collections, recoveries after write-off
    (核销后回收, reported apart) and the buyers' (after a sale's cut-off)."""
    s = settings_of(request)
    if end < start or (end - start).days > 3660:
        raise refuse("end", "end must be on or after start, within 10 years", "结束日期须不早于开始日期")
    frame = writeoffs.recoveries(
        session=session,
        start=start,
        end=end,
        lake_payments=lake_payments(session=session, settings=s, as_of=end),
    )
    sums = dict(frame.group_by("recovery").agg(pl.col("amount").sum()).iter_rows()) if frame.height else {}
    return RecoveriesOut(
        start=start,
        end=end,
        payments=frame.height,
        totals={k.value: amount_out(int(sums.get(k.value, 0) or 0), s) for k in RecoveryKind},
    )


# ------------------------------------------------------------------------------------------------ sales


def sale_out(sale: DebtSale, s: Settings, session: DbSession) -> SaleOut:
    n, cases, balance = session.execute(
        select(
            func.count(DebtSaleAccount.id),
            func.count(func.distinct(DebtSaleAccount.case_id)),
            func.coalesce(func.sum(DebtSaleAccount.balance), 0),
        ).where(DebtSaleAccount.sale_id == sale.id)
    ).one()
    return SaleOut(
        id=sale.id,
        buyer=sale.buyer,
        buyer_contact=sale.buyer_contact,
        cutoff_date=sale.cutoff_date,
        transfer_date=sale.transfer_date,
        price=amount_out(sale.price, s) if sale.price is not None else None,
        currency=sale.currency,
        status=sale.status,
        note=sale.note,
        requested_by=sale.requested_by,
        requested_at=sale.requested_at,
        decided_by=sale.decided_by,
        decided_at=sale.decided_at,
        decision_note=sale.decision_note,
        transferred_by=sale.transferred_by,
        transferred_at=sale.transferred_at,
        rule_version=sale.rule_version,
        cases=int(cases),
        accounts=int(n),
        balance=amount_out(int(balance), s),
        pack_manifest_sha256=sale.pack_manifest_sha256,
    )


def _detail(sale: DebtSale, s: Settings, session: DbSession) -> SaleDetailOut:
    return SaleDetailOut(
        **sale_out(sale, s, session).model_dump(),
        items=[
            SaleAccountOut(
                case_id=a.case_id,
                loan_id=a.loan_id,
                balance=amount_out(a.balance, s),
                principal=amount_out(a.principal, s),
                hold_id=a.hold_id,
                notice_status=a.notice_status,
                notice_message_id=a.notice_message_id,
            )
            for a in sales.sale_accounts(sale.id, session=session)
        ],
    )


@router.get("/legal/sales", response_model=list[SaleOut])
def list_sales(
    request: Request,
    user: Lawyer,
    session: DbSession,
    status: Annotated[
        str | None, Query(pattern="^(requested|approved|rejected|cancelled|transferred)$")
    ] = None,
) -> list[SaleOut]:
    """Debt sales, newest first."""
    s = settings_of(request)
    return [sale_out(x, s, session) for x in sales.list_sales(session=session, status=status)]


@router.post("/legal/sales", response_model=SaleDetailOut, status_code=201)
def create_sale(request: Request, user: Lawyer, body: SaleIn, session: DbSession) -> SaleDetailOut:
    """Select whole cases (by case id or loan id) for sale to a buyer at a cut-off date (基准日)."""
    s = settings_of(request)
    sale = sales.do_create_sale(
        session=session,
        actor=user,
        buyer=body.buyer,
        buyer_contact=body.buyer_contact,
        cutoff_date=body.cutoff_date,
        transfer_date=body.transfer_date,
        case_ids=list(body.case_ids),
        loan_ids=list(body.loan_ids),
        price=amount_in(body.price, "price", s),
        note=body.note,
        settings=s,
    )
    return _detail(sale, s, session)


@router.get("/legal/sales/{sale_id}", response_model=SaleDetailOut)
def one_sale(request: Request, user: Lawyer, sale_id: DbId, session: DbSession) -> SaleDetailOut:
    """A sale with its accounts, holds and notices."""
    return _detail(sales.get_sale(sale_id, session=session), settings_of(request), session)


@router.post("/legal/sales/{sale_id}/approve", response_model=SaleDetailOut)
def approve_sale(
    request: Request, user: Approver, sale_id: DbId, session: DbSession, body: DecisionIn | None = None
) -> SaleDetailOut:
    """Approve a sale someone else selected (its cases are checked again)."""
    s = settings_of(request)
    sale = sales.do_approve_sale(
        sale_id, session=session, actor=user, note=body.note if body else "", settings=s
    )
    return _detail(sale, s, session)


@router.post("/legal/sales/{sale_id}/reject", response_model=SaleDetailOut)
def reject_sale(
    request: Request, user: Approver, sale_id: DbId, body: RejectIn, session: DbSession
) -> SaleDetailOut:
    """Reject a sale someone else selected, saying why."""
    s = settings_of(request)
    sale = sales.do_reject_sale(sale_id, session=session, actor=user, reason=body.reason, settings=s)
    return _detail(sale, s, session)


@router.post("/legal/sales/{sale_id}/cancel", response_model=SaleDetailOut)
def cancel_sale(
    request: Request, user: Lawyer, sale_id: DbId, body: RejectIn, session: DbSession
) -> SaleDetailOut:
    """Cancel a sale not yet transferred."""
    s = settings_of(request)
    sale = sales.do_cancel_sale(sale_id, session=session, actor=user, reason=body.reason, settings=s)
    return _detail(sale, s, session)


@router.post("/legal/sales/{sale_id}/transfer", response_model=TransferOut)
def transfer_sale(request: Request, user: Lawyer, sale_id: DbId, session: DbSession) -> TransferOut:
    """Transfer an approved sale on or after its transfer date: the hard stop on collection (cases closed
    as sold, HOLD-STOP on each borrower, tasks cancelled, pending messages blocked) and the notice of
    transfer queued to each borrower (民法典 §546)."""
    s = settings_of(request)
    r = sales.do_transfer_sale(sale_id, session=session, actor=user, settings=s, cipher=cipher_of(request))
    return TransferOut(
        sale=sale_out(r.sale, s, session),
        cases=r.cases,
        holds=r.holds,
        tasks_cancelled=r.tasks_cancelled,
        messages_blocked=len(r.messages_blocked),
        notices=r.notices,
        no_address=r.no_address,
        placements_recalled=r.placements_recalled,
    )


@router.get("/legal/sales/{sale_id}/payments", response_model=BuyerPaymentsOut)
def buyer_payments(request: Request, user: Lawyer, sale_id: DbId, session: DbSession) -> BuyerPaymentsOut:
    """Payments on the sold loans received after the cut-off date: the buyer's, to pass on."""
    s = settings_of(request)
    sale = sales.get_sale(sale_id, session=session)
    loans = [a.loan_id for a in sales.sale_accounts(sale.id, session=session)]
    today = business_day(utcnow(), s)
    frame = sales.buyer_payments(
        sale,
        session=session,
        lake_payments=lake_payments(session=session, settings=s, as_of=today, loan_ids=loans),
    )
    return BuyerPaymentsOut(
        sale_id=sale.id,
        cutoff_date=sale.cutoff_date,
        total=amount_out(int(frame.get_column("amount").sum() or 0), s),
        payments=[
            BuyerPaymentOut(
                loan_id=r["loan_id"],
                payment_id=r["payment_id"],
                received_date=r["received_date"],
                amount=amount_out(r["amount"], s),
            )
            for r in frame.iter_rows(named=True)
        ],
    )


@router.post("/legal/sales/{sale_id}/pack", response_model=PackOut, status_code=201)
def build_pack(request: Request, user: Lawyer, sale_id: DbId, session: DbSession) -> PackOut:
    """Write the buyer's data pack (accounts CSV and XLSX, payments after the cut-off, notices, manifest
    with sha256 of each file) under the data directory; the manifest's hash goes to the audit ledger."""
    s = settings_of(request)
    sale = sales.get_sale(sale_id, session=session)
    loans = [a.loan_id for a in sales.sale_accounts(sale.id, session=session)]
    today = business_day(utcnow(), s)
    r = pack.do_build_pack(
        sale.id,
        session=session,
        actor=user,
        settings=s,
        cipher=cipher_of(request),
        lake_payments=lake_payments(session=session, settings=s, as_of=today, loan_ids=loans),
    )
    return PackOut(sale_id=sale.id, manifest_sha256=r.manifest_sha256, manifest=r.manifest)
