"""The case page: borrower, accounts, contact history, promises, the next action and the contact
policy's verdict per channel right now; logging a call in two clicks, recording a promise, click-to-call.
Another holder's case is a 404 page (the visibility rule of :mod:`recoup.cases.access`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from recoup import money
from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.access import get_visible_case
from recoup.cases.contact_log import do_log_contact, precheck_contact
from recoup.cases.models import Case, PromiseToPay
from recoup.cases.promise_service import do_make_promise
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.pii import cipher_from_settings, mask, mask_name
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask
from recoup.web.deps import DbSession, writes
from recoup.web.labels import (
    CHANNEL_LABELS,
    OUTCOME_LABELS,
    PROMISE_LABELS,
    RESULT_LABELS,
    ROLE_LABELS,
    STATE_LABELS,
    TREATMENT_LABELS,
)
from recoup.web.pages import Viewer, Worker, settings_of, tr
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)


def _policy(request: Request, session: DbSession) -> Policy:
    s = settings_of(request)
    return Policy(
        resolve(s.jurisdiction, session=session), domains=s.link_domains, signatures=s.sms_signatures
    )


def _case_context(request: Request, user: AppUser, case: Case, session: DbSession) -> dict[str, Any]:
    s = settings_of(request)
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id == case.id)
            .order_by(CollectionAccount.id)
        )
    )
    points = list(
        session.scalars(
            select(ContactPoint)
            .where(ContactPoint.borrower_id == case.borrower_id, ContactPoint.is_valid)
            .order_by(ContactPoint.id)
        )
    )
    phones = [
        {"id": p.id, "masked": mask("phone", p.value), "role": ROLE_LABELS.get(p.role, p.role)}
        for p in points
        if p.kind in ("phone", "mobile")
    ]
    now = utcnow()
    verdicts = []
    policy = _policy(request, session)
    cipher = cipher_from_settings(s)
    first_phone = next(
        (p for p in points if p.kind in ("phone", "mobile") and p.role in ("self", "debtor")), None
    )
    if first_phone is not None:
        for channel, label in (("call", "call"), ("sms", "text message")):
            v = precheck_contact(
                case,
                point=first_phone,
                channel=channel,
                at=now,
                policy=policy,
                session=session,
                cipher=cipher,
            )
            verdicts.append(
                {"channel_label": label, "verdict": v.verdict, "rules": v.rules, "defer_until": v.defer_until}
            )
    tasks = list(
        session.scalars(
            select(WorkTask)
            .where(WorkTask.case_id == case.id, WorkTask.status.in_(("open", "in_progress")))
            .order_by(WorkTask.priority.desc(), WorkTask.id)
        )
    )
    holder = session.get(AppUser, case.holder_id) if case.holder_id else None
    today = now.astimezone(s.tz).date()
    return {
        "case": case,
        "borrower_name": mask_name(borrower.name),
        "accounts": accounts,
        "overdue": sum(a.overdue_amount for a in accounts if a.status == "open"),
        "max_dpd": max((a.dpd for a in accounts if a.status == "open"), default=0),
        "holder": holder.display_name or holder.username if holder else None,
        "phones": phones,
        "verdicts": verdicts,
        "next_task": tasks[0] if tasks else None,
        "promises": list(
            session.scalars(
                select(PromiseToPay).where(PromiseToPay.case_id == case.id).order_by(PromiseToPay.id)
            )
        ),
        "contacts": list(
            session.scalars(
                select(ContactAttempt)
                .where(ContactAttempt.borrower_key == borrower.external_id)
                .order_by(ContactAttempt.at.desc())
                .limit(50)
            )
        ),
        "can_work": has_permission(user, "case.work") and case.status == "open",
        "results": RESULT_LABELS,
        "treatment_labels": TREATMENT_LABELS,
        "state_labels": STATE_LABELS,
        "promise_labels": PROMISE_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "default_due": (today + dt.timedelta(days=2)).isoformat(),
        "watermark": True,
    }


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, user: Viewer, session: DbSession) -> Response:
    case = get_visible_case(case_id, user, session=session)
    return render(request, "case.html", _case_context(request, user, case, session), user=user)


def _case_with_flash(
    request: Request, user: AppUser, case: Case, session: DbSession, flash: str, *, error: bool = False
) -> Response:
    ctx = _case_context(request, user, case, session)
    ctx.update(flash=flash, flash_error=error)
    return render(request, "case.html", ctx, user=user, status=422 if error else 200)


@router.post("/cases/{case_id}/log")
def log_call(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    result: Annotated[str, Form(max_length=30)],
    contact_point_id: Annotated[int, Form()],
) -> Response:
    """Two clicks: the number (preselected) and the result."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    try:
        logged = do_log_contact(
            case,
            session=session,
            actor=user.username,
            channel="call",
            result=result,
            contact_point_id=contact_point_id,
            policy=_policy(request, session),
            settings=s,
            cipher=cipher_from_settings(s),
        )
    except RecoupError as exc:
        return _case_with_flash(request, user, case, session, exc.message, error=True)
    note = tr(request, user, "Call logged.")
    if logged.verdict.verdict != "allowed":
        why = tr(request, user, "The contact policy would not have allowed it")
        note += f" {why}: {', '.join(logged.verdict.rules)}"
    return _case_with_flash(request, user, case, session, note)


@router.post("/cases/{case_id}/promise")
def make_promise(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    amount: Annotated[str, Form(max_length=30)],
    due_date: Annotated[dt.date, Form()],
) -> Response:
    """Record the debtor's promise (the promise rules decide; a refusal says which rule)."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    try:
        minor = money.parse_amount(amount, minor_digits=s.minor_digits)
        dpd = session.scalar(
            select(func.max(CollectionAccount.dpd)).where(
                CollectionAccount.case_id == case.id, CollectionAccount.status == "open"
            )
        )
        do_make_promise(
            case.id,
            session=session,
            actor=user.username,
            by="debtor",
            amount=minor,
            due_date=due_date,
            made_at=utcnow(),
            tz=s.tz,
            bucket="M1" if (dpd or 0) <= 30 else "M2+",
            period_end=case.period_end,
        )
    except RecoupError as exc:
        return _case_with_flash(request, user, case, session, exc.message, error=True)
    shown = money.to_decimal_string(minor, s.minor_digits)
    recorded = tr(request, user, "Promise recorded")
    return _case_with_flash(request, user, case, session, f"{recorded}: {shown}")


@router.get("/dial/{case_id}/{point_id}")
@writes
def dial(case_id: int, point_id: int, request: Request, user: Worker, session: DbSession) -> Response:
    """Click-to-call: the policy is asked first; an allowed call is audited and handed to the phone
    (``tel:``) without the number ever being in the page."""
    case = get_visible_case(case_id, user, session=session)
    point = session.get(ContactPoint, point_id)
    if point is None or point.borrower_id != case.borrower_id:
        return render(request, "error.html", {"status": 404, "code": "not_found"}, user=user, status=404)
    s = settings_of(request)
    verdict = precheck_contact(
        case,
        point=point,
        channel="call",
        at=utcnow(),
        policy=_policy(request, session),
        session=session,
        cipher=cipher_from_settings(s),
    )
    if verdict.verdict != "allowed":
        msg = f"{verdict.verdict}: {', '.join(verdict.rules)}"
        return _case_with_flash(request, user, case, session, msg, error=True)
    do_append(
        "contact.dial",
        {"case_id": case.id, "contact_point_id": point.id},
        session=session,
        actor=user.username,
    )
    return RedirectResponse("tel:" + quote(point.value, safe="+"), status_code=303)
