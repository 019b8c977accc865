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
from recoup.cases.access import get_visible_case
from recoup.cases.contact_log import do_log_contact, precheck_contact
from recoup.cases.models import Case
from recoup.cases.promise_service import do_make_promise
from recoup.contact.policy.engine import Policy
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.portfolio.models import CollectionAccount, ContactPoint
from recoup.web.case_view import case_context, policy_for, refused, render_case
from recoup.web.deps import DbSession, cipher_of, writes
from recoup.web.pages import Viewer, Worker, settings_of, tr
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)


def _policy(request: Request, session: DbSession) -> Policy:
    return policy_for(request, session)


def _case_context(request: Request, user: AppUser, case: Case, session: DbSession) -> dict[str, Any]:
    return case_context(request, user, case, session)


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, user: Viewer, session: DbSession) -> Response:
    case = get_visible_case(case_id, user, session=session)
    return render(request, "case.html", _case_context(request, user, case, session), user=user)


def _case_with_flash(
    request: Request,
    user: AppUser,
    case: Case,
    session: DbSession,
    flash: str,
    *,
    error: bool = False,
    form: str | None = None,
) -> Response:
    return render_case(request, user, case, session, flash=flash, error=error, form=form)


@router.post("/cases/{case_id}/log")
def log_call(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    result: Annotated[str, Form(max_length=30)],
    contact_point_id: Annotated[int, Form()],
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Two clicks: the number (preselected) and the result; a note (催记备注) is optional."""
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
            cipher=cipher_of(request),
            note=note.strip() or None,
        )
    except RecoupError as exc:
        return refused(request, user, case, session, exc, "log")
    done = tr(request, user, "Call logged.")
    if logged.verdict.verdict != "allowed":
        why = tr(request, user, "The contact policy would not have allowed it")
        done += f" {why}: {', '.join(logged.verdict.rules)}"
    if logged.complaint_id is not None:
        opened = tr(
            request, user, "Entered in the complaints register as #{n}; contact is on hold until closed."
        )
        done += " · " + opened.format(n=logged.complaint_id)
    return _case_with_flash(request, user, case, session, done)


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
        return refused(request, user, case, session, exc, "promise")
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
    verdict = precheck_contact(
        case,
        point=point,
        channel="call",
        at=utcnow(),
        policy=_policy(request, session),
        session=session,
        cipher=cipher_of(request),
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
