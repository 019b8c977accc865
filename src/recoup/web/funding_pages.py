"""The funding page ``/funding``: the funding-partner register, guarantor payouts (代偿), a loan's creditor
history, and the month's collections split by the creditor on each payment's date.

Permissions (one table): reading is ``report.view``; registering a partner ``config.edit``; recording a
payout ``legal.manage``. The rules are :mod:`recoup.funding.service`'s; a refusal comes back as a flash.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from recoup import labels_domain
from recoup.auth.models import AppUser
from recoup.errors import MoneyError, RecoupError, parse_day
from recoup.funding import service as funding
from recoup.funding.service import FundingInputError
from recoup.legal.limitation import lake_payments
from recoup.money import parse_rate_bp
from recoup.web.deps import DbSession
from recoup.web.legal_common import flash, minor, take_flash, today_of
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Reader = Annotated[AppUser, require_page("report.view")]
Editor = Annotated[AppUser, require_page("config.edit")]
Lawyer = Annotated[AppUser, require_page("legal.manage")]

KIND_LABELS: Final = labels_domain.FUNDER_KIND
SOURCE_LABELS: Final = labels_domain.CREDITOR_SOURCE


def _month(text: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    from recoup.reporting.collectors import parse_month

    if text:
        try:
            start, end = parse_month(text)
            return start, min(end, today) if start <= today else end
        except RecoupError:
            pass
    return today.replace(day=1), today


@router.get("/funding")
def funding_page(
    request: Request,
    user: Reader,
    session: DbSession,
    month: Annotated[str | None, Query(max_length=7)] = None,
    loan: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Partners, the month's collections by creditor, recent payouts, and one loan's creditor history."""
    today = today_of(request)
    start, end = _month(month, today)
    frame = funding.recoveries_by_creditor(
        session=session,
        start=start,
        end=end,
        lake_payments=lake_payments(session=session, settings=settings_of(request), as_of=end),
    )
    history = None
    if loan and loan.strip():
        hist = funding.history_frame(session=session, loan_ids=[loan.strip()])
        history = {
            "loan": loan.strip(),
            "rows": list(hist.iter_rows(named=True)),
            "now": funding.creditor_on(loan.strip(), today, session=session) if not hist.is_empty() else None,
            "payouts": funding.list_payouts(session=session, loan_id=loan.strip()),
        }
    message, error = take_flash(request)
    ctx = {
        "kind_labels": KIND_LABELS,
        "source_labels": SOURCE_LABELS,
        "partners": funding.list_partners(session=session),
        "split": list(frame.iter_rows(named=True)),
        "total": int(frame.get_column("collected").sum() or 0) if frame.height else 0,
        "start": start,
        "end": end,
        "month": start.strftime("%Y-%m"),
        "payouts": funding.list_payouts(session=session, limit=20),
        "history": history,
        "today": today,
        "flash": message,
        "flash_error": error,
        "section": "funding",
    }
    return render(request, "funding.html", ctx, user=user)


def _pct(text: str, field: str) -> int | None:
    t = text.strip()
    if not t:
        return None
    try:
        return parse_rate_bp(t if t.endswith("%") else f"{t}%")
    except MoneyError:
        raise FundingInputError(
            f"{field}: {t!r} is not a percentage / {field} 比例无效", details={"field": field}
        ) from None


@router.post("/funding/partners")
def add_partner(
    request: Request,
    user: Editor,
    session: DbSession,
    code: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    permits_waivers: Annotated[str, Form(max_length=5)] = "",
    waiver_limit: Annotated[str, Form(max_length=40)] = "",
    waiver_max: Annotated[str, Form(max_length=10)] = "",
    share: Annotated[str, Form(max_length=10)] = "",
    update: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        with session.begin_nested():
            p = funding.do_save_partner(
                code,
                session=session,
                actor=user.username,
                name=name.strip() or None,
                kind=kind or None,
                permits_waivers=bool(permits_waivers),
                waiver_limit=minor(request, waiver_limit, "waiver_limit") or 0,
                waiver_max_bp=_pct(waiver_max, "waiver_max") or 0,
                recovery_share_bp=_pct(share, "share"),
                update=bool(update),
                settings=settings_of(request),
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/funding")
    flash(request, tr(request, user, "Funding partner {code} saved.").format(code=p.code))
    return redirect(request, "/funding")


@router.post("/funding/payouts")
def record_payout(
    request: Request,
    user: Lawyer,
    session: DbSession,
    loan_id: Annotated[str, Form(max_length=64)] = "",
    guarantor: Annotated[str, Form(max_length=100)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    paid_on: Annotated[str, Form(max_length=10)] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    loan = loan_id.strip()
    try:
        value = minor(request, amount, "amount")
        if value is None:
            raise FundingInputError("give the amount / 请填写金额", details={"field": "amount"})
        with session.begin_nested():
            funding.do_record_payout(
                loan,
                guarantor=guarantor.strip(),
                amount=value,
                paid_on=parse_day(paid_on or "", "paid_on"),
                reference=reference,
                session=session,
                actor=user.username,
                settings=settings_of(request),
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/funding")
    flash(request, tr(request, user, "Payout recorded: the guarantor is now the loan's creditor."))
    return redirect(request, f"/funding?loan={quote(loan)}")
