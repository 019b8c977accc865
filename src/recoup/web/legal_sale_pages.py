"""Write-offs and debt sales in the pages: ``/legal/write-offs`` (asking for a write-off, the list),
``/legal/sales`` and ``/legal/sales/{id}`` (selecting cases for sale, the transfer with its hard stop,
payments after the cut-off, the buyer's data pack) and ``/legal/approvals`` (what awaits a
``plan.approve`` holder's decision: four eyes). Mounted on :data:`recoup.web.legal_pages.router`.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Final

import polars as pl
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from recoup import labels_domain
from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.access import get_visible_case
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.legal import pack, sales, writeoffs
from recoup.legal.common import refuse
from recoup.legal.kernel import RecoveryKind
from recoup.legal.limitation import lake_payments
from recoup.legal.models import DebtSale, DebtSaleAccount, WriteOff
from recoup.web.deps import DbId, DbSession, cipher_of, writes
from recoup.web.labels import N_
from recoup.web.legal_common import borrower_names, flash, minor, take_flash, today_of
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Lawyer = Annotated[AppUser, require_page("legal.manage")]
Approver = Annotated[AppUser, require_page("plan.approve")]

STATUS_LABELS: Final = labels_domain.SALE_STATUS
NOTICE_LABELS: Final = labels_domain.SALE_NOTICE
RECOVERY_LABELS: Final = {
    RecoveryKind.COLLECTIONS.value: N_("collections"),
    RecoveryKind.AFTER_WRITE_OFF.value: N_("recovered after write-off"),
    RecoveryKind.BUYER.value: N_("after a sale's cut-off (the buyer's)"),
}
_IDS = re.compile(r"[\s,，、;；]+")


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "notice_labels": NOTICE_LABELS,
        "recovery_labels": RECOVERY_LABELS,
    }


def _count(session: DbSession, sale_id: int) -> tuple[int, int, int]:
    n, cases, balance = session.execute(
        select(
            func.count(DebtSaleAccount.id),
            func.count(func.distinct(DebtSaleAccount.case_id)),
            func.coalesce(func.sum(DebtSaleAccount.balance), 0),
        ).where(DebtSaleAccount.sale_id == sale_id)
    ).one()
    return int(n), int(cases), int(balance)


# ------------------------------------------------------------------------------------------------ write-offs


@router.get("/legal/write-offs")
def write_offs_page(request: Request, user: Lawyer, session: DbSession) -> Response:
    """Write-offs (the newest first) and the form to ask for one; recoveries after write-off this month
    are shown apart from ordinary collections (账销案存)."""
    today = today_of(request)
    start = today.replace(day=1)
    frame = writeoffs.recoveries(
        session=session,
        start=start,
        end=today,
        lake_payments=lake_payments(session=session, settings=settings_of(request), as_of=today),
    )
    sums = dict(frame.group_by("recovery").agg(pl.col("amount").sum()).iter_rows()) if frame.height else {}
    rows = writeoffs.list_write_offs(session=session)
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "rows": rows,
        "names": borrower_names({w.case_id for w in rows}, session=session),
        "recovered": {k.value: int(sums.get(k.value, 0) or 0) for k in RecoveryKind},
        "month_start": start,
        "today": today,
        "flash": message,
        "flash_error": error,
        "section": "write-offs",
        "watermark": True,
    }
    return render(request, "legal_writeoffs.html", ctx, user=user)


@router.post("/legal/write-offs")
def ask_write_off(
    request: Request,
    user: Lawyer,
    session: DbSession,
    case_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    evidence_ref: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        if not case_id.strip().isdigit():
            raise refuse("case_id", "give the case number", "请填写案件编号")
        case = get_visible_case(int(case_id.strip()), user, session=session)
        with session.begin_nested():
            wo = writeoffs.do_request_write_off(
                case,
                session=session,
                actor=user,
                reason=reason,
                evidence_ref=evidence_ref.strip() or None,
                settings=settings_of(request),
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/legal/write-offs")
    flash(request, f"#{wo.id} · " + tr(request, user, "Write-off requested; another user approves it."))
    return redirect(request, "/legal/write-offs")


# ---------------------------------------------------------------------------------------------------- sales


@router.get("/legal/sales")
def sales_page(request: Request, user: Lawyer, session: DbSession) -> Response:
    """Debt sales (the newest first) and the form to select cases for one."""
    rows = sales.list_sales(session=session)
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "rows": rows,
        "counts": {s.id: _count(session, s.id) for s in rows},
        "today": today_of(request),
        "flash": message,
        "flash_error": error,
        "section": "sales",
        "watermark": True,
    }
    return render(request, "legal_sales.html", ctx, user=user)


def _ids(text: str) -> list[str]:
    return [x for x in _IDS.split(text.strip()) if x]


@router.post("/legal/sales")
def create_sale(
    request: Request,
    user: Lawyer,
    session: DbSession,
    buyer: Annotated[str, Form(max_length=200)] = "",
    buyer_contact: Annotated[str, Form(max_length=200)] = "",
    cutoff_date: Annotated[str, Form(max_length=10)] = "",
    transfer_date: Annotated[str, Form(max_length=10)] = "",
    case_ids: Annotated[str, Form(max_length=20_000)] = "",
    loan_ids: Annotated[str, Form(max_length=200_000)] = "",
    price: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        try:
            cutoff, transfer = dt.date.fromisoformat(cutoff_date), dt.date.fromisoformat(transfer_date)
        except ValueError:
            raise refuse("cutoff_date", "give both dates (YYYY-MM-DD)", "请填写基准日与转让日") from None
        cases = _ids(case_ids)
        if any(not c.isdigit() or len(c) > 10 for c in cases):
            raise refuse("case_ids", "case numbers are digits", "案件编号应为数字")
        with session.begin_nested():
            sale = sales.do_create_sale(
                session=session,
                actor=user,
                buyer=buyer,
                buyer_contact=buyer_contact,
                cutoff_date=cutoff,
                transfer_date=transfer,
                case_ids=[int(c) for c in cases],
                loan_ids=_ids(loan_ids),
                price=minor(request, price, "price"),
                note=note,
                settings=settings_of(request),
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/legal/sales")
    flash(request, f"#{sale.id} · " + tr(request, user, "Sale prepared; another user approves it."))
    return redirect(request, f"/legal/sales/{sale.id}")


def _sale(sale_id: int, session: DbSession) -> DebtSale:
    return sales.get_sale(sale_id, session=session)


@router.get("/legal/sales/{sale_id}")
def sale_page(sale_id: DbId, request: Request, user: Lawyer, session: DbSession) -> Response:
    """A sale: its cases and loans, the notices of transfer, the payments after the cut-off, the pack."""
    s = settings_of(request)
    sale = _sale(sale_id, session)
    items = sales.sale_accounts(sale.id, session=session)
    loans = [a.loan_id for a in items]
    today = today_of(request)
    payments = sales.buyer_payments(
        sale,
        session=session,
        lake_payments=lake_payments(session=session, settings=s, as_of=today, loan_ids=loans),
    )
    manifest, manifest_at = None, None
    if sale.pack_path:
        try:
            manifest = pack.read_manifest(Path(sale.pack_path))
            manifest_at = dt.datetime.fromisoformat(str(manifest.get("created_at")))
        except (OSError, ValueError):
            manifest, manifest_at = None, None
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "sale": sale,
        "items": items,
        "names": borrower_names({a.case_id for a in items}, session=session),
        "count": _count(session, sale.id),
        "payments": payments.to_dicts(),
        "payments_total": int(payments.get_column("amount").sum() or 0),
        "manifest": manifest,
        "manifest_at": manifest_at,
        "can_transfer": sale.status == "approved" and today >= sale.transfer_date,
        "today": today,
        "flash": message,
        "flash_error": error,
        "section": "sales",
        "watermark": True,
    }
    return render(request, "legal_sale.html", ctx, user=user)


def _sale_move(
    request: Request, session: DbSession, sale_id: int, run: Any, done: str, back: str
) -> Response:
    try:
        with session.begin_nested():
            run()
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        flash(request, exc.message, error=True)
    else:
        flash(request, done)
    return redirect(request, back)


@router.post("/legal/sales/{sale_id}/transfer")
def transfer(sale_id: DbId, request: Request, user: Lawyer, session: DbSession) -> Response:
    """Transfer the sale now: the hard stop on collection and the notices of transfer."""
    _sale(sale_id, session)
    out: dict[str, Any] = {}

    def run() -> None:
        out["r"] = sales.do_transfer_sale(
            sale_id, session=session, actor=user, settings=settings_of(request), cipher=cipher_of(request)
        )

    done = tr(request, user, "Transferred: collection stopped on every case, notices of transfer queued.")
    return _sale_move(request, session, sale_id, run, done, f"/legal/sales/{sale_id}")


@router.post("/legal/sales/{sale_id}/cancel")
def cancel(
    sale_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _sale(sale_id, session)

    def run() -> None:
        sales.do_cancel_sale(
            sale_id, session=session, actor=user, reason=reason, settings=settings_of(request)
        )

    return _sale_move(
        request, session, sale_id, run, tr(request, user, "Sale cancelled."), f"/legal/sales/{sale_id}"
    )


@router.post("/legal/sales/{sale_id}/pack")
def build_pack(sale_id: DbId, request: Request, user: Lawyer, session: DbSession) -> Response:
    """Write the buyer's data pack (its manifest's hash goes to the audit ledger)."""
    s = settings_of(request)
    sale = _sale(sale_id, session)
    loans = [a.loan_id for a in sales.sale_accounts(sale.id, session=session)]

    def run() -> None:
        pack.do_build_pack(
            sale_id,
            session=session,
            actor=user,
            settings=s,
            cipher=cipher_of(request),
            lake_payments=lake_payments(session=session, settings=s, as_of=today_of(request), loan_ids=loans),
        )

    return _sale_move(
        request, session, sale_id, run, tr(request, user, "Data pack written."), f"/legal/sales/{sale_id}"
    )


@router.get("/legal/sales/{sale_id}/pack/{name}")
@writes
def download(sale_id: DbId, name: str, request: Request, user: Lawyer, session: DbSession) -> Response:
    """One file of the sale's latest data pack (personal data in clear: the download is audited)."""
    sale = _sale(sale_id, session)
    if not sale.pack_path:
        raise NotFoundError("no data pack yet")
    directory = Path(sale.pack_path)
    try:
        manifest = pack.read_manifest(directory)
    except (OSError, ValueError):
        raise NotFoundError("the data pack is not there any more") from None
    names = {f["name"] for f in manifest["files"]} | {"manifest.json"}
    if name not in names:
        raise NotFoundError(f"no file {name[:60]!r} in the data pack")
    data = (directory / name).read_bytes()
    do_append(
        "sale.pack_downloaded",
        {"sale_id": sale.id, "file": name, "manifest_sha256": sale.pack_manifest_sha256},
        session=session,
        actor=user.username,
        settings=settings_of(request),
    )
    media = {
        ".csv": "text/csv; charset=utf-8",
        ".json": "application/json",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    return Response(
        data,
        media_type=media.get(Path(name).suffix, "application/octet-stream"),
        headers={
            "Content-Disposition": f'attachment; filename="sale-{sale.id}-{name}"',
            "Cache-Control": "no-store",
        },
    )


# ------------------------------------------------------------------------------------------------ approvals


@router.get("/legal/approvals")
def approvals(request: Request, user: Approver, session: DbSession) -> Response:
    """Write-offs and sales awaiting a decision (one's own requests are shown, decided by another)."""
    pending_wo = writeoffs.list_write_offs(session=session, status="requested")
    pending_sales = sales.list_sales(session=session, status="requested")
    both: list[WriteOff | DebtSale] = [
        *writeoffs.list_write_offs(session=session, limit=20),
        *sales.list_sales(session=session, limit=20),
    ]
    decided = sorted(
        (x for x in both if x.decided_at is not None),
        key=lambda x: x.decided_at or x.requested_at,
        reverse=True,
    )[:20]
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "write_offs": pending_wo,
        "sales": pending_sales,
        "decided": decided,
        "counts": {s.id: _count(session, s.id) for s in pending_sales},
        "names": borrower_names({w.case_id for w in pending_wo}, session=session),
        "legal": has_permission(user, "legal.manage"),
        "flash": message,
        "flash_error": error,
        "section": "approvals",
        "watermark": True,
    }
    return render(request, "legal_approvals.html", ctx, user=user)


def _decide(request: Request, session: DbSession, run: Any, done: str) -> Response:
    try:
        with session.begin_nested():
            run()
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        flash(request, exc.message, error=True)
    else:
        flash(request, done)
    return redirect(request, "/legal/approvals")


@router.post("/legal/write-offs/{write_off_id}/approve")
def approve_write_off(
    write_off_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    writeoffs.get_write_off(write_off_id, session=session)

    def run() -> None:
        writeoffs.do_approve_write_off(
            write_off_id, session=session, actor=user, note=note, settings=settings_of(request)
        )

    return _decide(request, session, run, f"#{write_off_id} · " + tr(request, user, "Write-off approved."))


@router.post("/legal/write-offs/{write_off_id}/reject")
def reject_write_off(
    write_off_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    writeoffs.get_write_off(write_off_id, session=session)

    def run() -> None:
        writeoffs.do_reject_write_off(
            write_off_id, session=session, actor=user, reason=note, settings=settings_of(request)
        )

    return _decide(request, session, run, f"#{write_off_id} · " + tr(request, user, "Write-off rejected."))


@router.post("/legal/sales/{sale_id}/approve")
def approve_sale(
    sale_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _sale(sale_id, session)

    def run() -> None:
        sales.do_approve_sale(sale_id, session=session, actor=user, note=note, settings=settings_of(request))

    return _decide(request, session, run, f"#{sale_id} · " + tr(request, user, "Sale approved."))


@router.post("/legal/sales/{sale_id}/reject")
def reject_sale(
    sale_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _sale(sale_id, session)

    def run() -> None:
        sales.do_reject_sale(sale_id, session=session, actor=user, reason=note, settings=settings_of(request))

    return _decide(request, session, run, f"#{sale_id} · " + tr(request, user, "Sale rejected."))
