"""The server-rendered pages of the collector's workbench: sign-in, the queue, the case page, logging a
call in two clicks, recording a promise, click-to-call. Permissions and visibility are those of the API
(:mod:`recoup.web.session` declares them the same way); another holder's case is a 404 page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from recoup import money
from recoup.auth.models import AppUser
from recoup.auth.service import AuthenticationError, authenticate, has_permission
from recoup.cases.access import get_visible_case
from recoup.cases.contact_log import LogResult, do_log_contact, precheck_contact
from recoup.cases.models import Case, PromiseToPay
from recoup.cases.promise_service import do_make_promise
from recoup.cases.tasks import queue_for
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.pii import cipher_from_settings, mask, mask_name
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask
from recoup.web.deps import DbSession
from recoup.web.i18n import LOCALES, translations
from recoup.web.session import LoginThrottle, PageUser, require_page, sign_in, sign_out
from recoup.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)
THROTTLE = LoginThrottle()

Worker = Annotated[AppUser, require_page("case.work")]
Viewer = Annotated[AppUser, require_page("case.view")]


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs; the templates translate it when they show it."""
    return message


#: Labels the templates translate (English source strings of the catalogs).
MUST_LABELS = {
    "first_contact": N_("first contact"),
    "promise_due": N_("promise due today"),
    "broken_promise": N_("promise broken"),
    "callback": N_("callback due"),
    "untouched": N_("untouched"),
}
TREATMENT_LABELS = {
    "agent_call": N_("call"),
    "field_visit": N_("field visit"),
    "sms": N_("text message"),
    "email": N_("email"),
    "robot_call": N_("robot call"),
    "lawyer_letter": N_("lawyer's letter"),
    "legal_review": N_("legal review"),
    "agency_placement": N_("agency placement"),
    "plan_offer": N_("plan offer"),
    "settlement_offer": N_("settlement offer"),
    "case_review": N_("deadline review"),
    "no_action": N_("wait"),
}
STATE_LABELS = {
    "intake": N_("intake"),
    "allocated": N_("allocated"),
    "early_collection": N_("early collection"),
    "negotiation": N_("negotiation"),
    "promise": N_("promise"),
    "plan": N_("plan"),
    "settlement": N_("settlement"),
    "legal": N_("legal"),
    "asset_disposal": N_("asset disposal"),
    "closed": N_("closed"),
    "archived": N_("archived"),
}
PROMISE_LABELS = {
    "pending": N_("pending"),
    "kept": N_("kept"),
    "partially_kept": N_("partially kept"),
    "broken": N_("broken"),
    "rescheduled": N_("rescheduled"),
    "not_counted": N_("not counted"),
}
ROLE_LABELS = {
    "self": N_("borrower"),
    "debtor": N_("borrower"),
    "guarantor": N_("guarantor"),
    "emergency_contact": N_("emergency contact"),
}
CHANNEL_LABELS = {
    "call": N_("call"),
    "robot_call": N_("robot call"),
    "sms": N_("text message"),
    "email": N_("email"),
    "im": N_("instant message"),
    "voicemail": N_("voicemail"),
    "letter": N_("letter"),
    "visit": N_("field visit"),
    "portal": N_("portal"),
}
OUTCOME_LABELS = {
    "right_party_contact": N_("reached the borrower"),
    "third_party_contact": N_("someone else answered"),
    "no_answer": N_("no answer"),
    "busy": N_("busy"),
    "voicemail": N_("voicemail"),
    "wrong_number": N_("wrong number"),
    "disconnected": N_("disconnected"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "bounced": N_("bounced"),
    "refused": N_("refused"),
    "promise_to_pay": N_("promised to pay"),
    "complaint": N_("complaint"),
    "dispute": N_("dispute"),
    "hardship": N_("hardship"),
    "callback_requested": N_("call back later"),
    "conversation": N_("conversation"),
    "connected": N_("connected"),
    "invalid_number": N_("wrong number"),
}
RESULT_LABELS = [
    (LogResult.RIGHT_PARTY.value, N_("reached the borrower")),
    (LogResult.PROMISE.value, N_("promised to pay")),
    (LogResult.NO_ANSWER.value, N_("no answer")),
    (LogResult.WRONG_PARTY.value, N_("someone else answered")),
    (LogResult.REFUSED.value, N_("refused")),
    (LogResult.CALLBACK_REQUESTED.value, N_("call back later")),
    (LogResult.HARDSHIP.value, N_("hardship")),
    (LogResult.DISPUTE.value, N_("dispute")),
    (LogResult.WRONG_NUMBER.value, N_("wrong number")),
]


def _t(request: Request, user: AppUser | None, text: str) -> str:
    """``text`` in the request's language (for messages built in code, not in a template)."""
    return translations(request_locale(request, user)).gettext(text)


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _safe_next(value: str | None) -> str:
    """Only a local path (never another site) after signing in."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def _redirect(request: Request, to: str) -> Response:
    """A redirect that also works for htmx requests (HX-Redirect)."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password (throttled per username and client address) and start a session."""
    client = request.client.host if request.client else "?"
    keys = (f"user:{username}", f"ip:{client}")
    try:
        THROTTLE.check(*keys)
        user = authenticate(username, password, session=session)
    except AuthenticationError as exc:
        THROTTLE.failed(*keys)
        ctx = {"error": exc.message, "username": username, "next": _safe_next(next)}
        return render(request, "login.html", ctx, status=401)
    except RecoupError as exc:  # throttled
        ctx = {"error": exc.message, "username": username, "next": _safe_next(next)}
        return render(request, "login.html", ctx, status=exc.http_status)
    THROTTLE.succeeded(f"user:{username}")
    sign_in(request, user, minutes=_settings(request).web_session_minutes)
    do_append("auth.web_sign_in", {"user_id": user.id}, session=session, actor=user.username)
    return _redirect(request, _safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    sign_out(request)
    return _redirect(request, "/login")


@router.get("/lang/{locale}")
def switch_language(locale: str, request: Request, session: DbSession, next: str | None = None) -> Response:
    """Switch the pages' language (remembered for the user, and in a cookie for the sign-in page)."""
    target = locale if locale in LOCALES else "zh_CN"
    uid = request.session.get("uid")
    if isinstance(uid, int):
        user = session.get(AppUser, uid)
        if user is not None:
            user.locale = target
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie("lang", target, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


@router.get("/")
def home(user: PageUser) -> Response:
    """Directors start with the morning view, everyone else with their queue."""
    start = "/morning" if has_permission(user, "report.view") else "/queue"
    return RedirectResponse(start, status_code=303)


@router.get("/queue")
def queue_page(request: Request, user: Worker, session: DbSession) -> Response:
    """The collector's workbench: must-do first, then by expected value."""
    s = _settings(request)
    today = utcnow().astimezone(s.tz).date()
    q = queue_for(user, session=session, today=today)
    rows: list[dict[str, Any]] = []
    if q.height:
        case_ids = q.get_column("case_id").unique().to_list()
        names = dict(
            session.execute(
                select(Case.id, Borrower.name)
                .join(Borrower, Borrower.id == Case.borrower_id)
                .where(Case.id.in_(case_ids))
            ).all()
        )
        phones: dict[int, ContactPoint] = {}
        for cid, point in session.execute(
            select(Case.id, ContactPoint)
            .join(ContactPoint, ContactPoint.borrower_id == Case.borrower_id)
            .where(Case.id.in_(case_ids), ContactPoint.kind.in_(("phone", "mobile")), ContactPoint.is_valid)
            .order_by(ContactPoint.id)
        ).all():
            phones.setdefault(cid, point)
        last = dict(
            session.execute(
                select(Case.id, func.max(ContactAttempt.at))
                .join(Borrower, Borrower.id == Case.borrower_id)
                .join(ContactAttempt, ContactAttempt.borrower_key == Borrower.external_id)
                .where(Case.id.in_(case_ids))
                .group_by(Case.id)
            ).all()
        )
        for r in q.iter_rows(named=True):
            first = phones.get(r["case_id"])
            rows.append(
                {
                    **r,
                    "borrower": mask_name(names.get(r["case_id"], "")),
                    "overdue": r["balance"],
                    "phone": mask("phone", first.value) if first else None,
                    "phone_dial": f"/dial/{r['case_id']}/{first.id}" if first else None,
                    "last_contact": last.get(r["case_id"]),
                }
            )
    ctx = {
        "rows": rows,
        "today": today,
        "must_labels": MUST_LABELS,
        "treatment_labels": TREATMENT_LABELS,
        "watermark": True,
    }
    return render(request, "queue.html", ctx, user=user)


def _policy(request: Request, session: DbSession) -> Policy:
    s = _settings(request)
    return Policy(
        resolve(s.jurisdiction, session=session), domains=s.link_domains, signatures=s.sms_signatures
    )


def _case_context(request: Request, user: AppUser, case: Case, session: DbSession) -> dict[str, Any]:
    s = _settings(request)
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
    s = _settings(request)
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
    note = _t(request, user, "Call logged.")
    if logged.verdict.verdict != "allowed":
        why = _t(request, user, "The contact policy would not have allowed it")
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
    s = _settings(request)
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
    recorded = _t(request, user, "Promise recorded")
    return _case_with_flash(request, user, case, session, f"{recorded}: {shown}")


@router.get("/dial/{case_id}/{point_id}")
def dial(case_id: int, point_id: int, request: Request, user: Worker, session: DbSession) -> Response:
    """Click-to-call: the policy is asked first; an allowed call is audited and handed to the phone
    (``tel:``) without the number ever being in the page."""
    case = get_visible_case(case_id, user, session=session)
    point = session.get(ContactPoint, point_id)
    if point is None or point.borrower_id != case.borrower_id:
        return render(request, "error.html", {"status": 404, "code": "not_found"}, user=user, status=404)
    s = _settings(request)
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
