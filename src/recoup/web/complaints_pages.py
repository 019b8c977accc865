"""The complaints register's pages: ``/complaints`` (the register with deadlines, overdue ones highlighted,
filtered by status, and the form to register one), ``/complaints/{id}`` (its timeline; assign a handler,
say who it is about, extend the deadline, resolve); ``/holds`` is :mod:`recoup.web.complaints_holds`.

Permission: ``complaint.handle`` (the API's, one table). The rules are the services'
(:mod:`recoup.complaints.service`, :mod:`recoup.complaints.holds`); a refusal comes back as a flash
message on the page it came from.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup import labels_domain
from recoup.auth.models import AppUser
from recoup.auth.service import get_user
from recoup.complaints import holds, kernel, register, service
from recoup.complaints.models import Complaint
from recoup.complaints.vocab import HOLD_OF, RULE_OF, Category, ComplaintKind, Outcome, RootCause, Source
from recoup.contact.models import ContactAttempt, ContactHold
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.pii import mask_name
from recoup.portfolio.models import Borrower
from recoup.web.deps import DbId, DbSession
from recoup.web.labels import N_
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Handler = Annotated[AppUser, require_page("complaint.handle")]

KIND_LABELS: Final = labels_domain.COMPLAINT_KIND
SOURCE_LABELS: Final = {
    Source.REGULATOR_12378.value: N_("12378 referral (financial regulator)"),
    Source.REGULATOR_12363.value: N_("12363 referral (central bank)"),
    Source.HOTLINE.value: N_("our hotline"),
    Source.PLATFORM.value: N_("complaint platform"),
    Source.PORTAL.value: N_("borrower portal"),
    Source.IN_CALL.value: N_("raised in a call"),
    Source.OTHER.value: N_("other"),
}
CATEGORY_LABELS: Final = {
    Category.COLLECTION_CONDUCT.value: N_("collection conduct"),
    Category.FREQUENCY.value: N_("frequency or time of contact"),
    Category.THIRD_PARTY.value: N_("third parties contacted"),
    Category.THREATS_ABUSE.value: N_("threats or abuse"),
    Category.AMOUNT.value: N_("amount or fees"),
    Category.NOT_MY_DEBT.value: N_("not my debt"),
    Category.PRIVACY.value: N_("personal data"),
    Category.REPAYMENT.value: N_("repayment and arrangements"),
    Category.OTHER.value: N_("other"),
}
ROOT_CAUSE_LABELS: Final = {
    RootCause.COLLECTOR_CONDUCT.value: N_("collector's conduct"),
    RootCause.AGENCY_CONDUCT.value: N_("agency's conduct"),
    RootCause.POLICY_GAP.value: N_("policy gap"),
    RootCause.SYSTEM_ERROR.value: N_("system error"),
    RootCause.DATA_ERROR.value: N_("data error"),
    RootCause.PRODUCT_TERMS.value: N_("product terms"),
    RootCause.MISUNDERSTANDING.value: N_("misunderstanding"),
    RootCause.NO_FAULT.value: N_("no fault found"),
    RootCause.OTHER.value: N_("other"),
}
OUTCOME_LABELS: Final = {
    Outcome.UPHELD.value: N_("upheld"),
    Outcome.PARTLY_UPHELD.value: N_("partly upheld"),
    Outcome.NOT_UPHELD.value: N_("not upheld"),
    Outcome.WITHDRAWN.value: N_("withdrawn"),
}
TAB_LABELS: Final = {
    "open": N_("Open"),
    "overdue": N_("Past deadline"),
    "closed": N_("Closed"),
    "all": N_("All"),
}
STATUS_LABELS: Final = labels_domain.COMPLAINT_STATUS
EVENT_LABELS: Final = {
    "opened": N_("registered"),
    "assigned": N_("handler assigned"),
    "subject": N_("subject changed"),
    "extended": N_("deadline extended"),
    "attempts_linked": N_("contacts linked"),
    "hold_lift_requested": N_("lift of the hold requested"),
    "hold_lifted": N_("hold lifted"),
    "hold_lift_rejected": N_("lift of the hold rejected"),
    "resolved": N_("resolved"),
}
ORIGIN_LABELS: Final = labels_domain.HOLD_ORIGIN
LIFT_LABELS: Final = {
    "requested": N_("awaiting approval"),
    "approved": N_("lifted"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
}
_FLASH: Final = "flash"


def set_flash(request: Request, message: str, *, error: bool = False) -> None:
    request.session[_FLASH] = [message, error]


def take_flash(request: Request) -> tuple[str | None, bool]:
    flash = request.session.pop(_FLASH, None)
    return (flash[0], bool(flash[1])) if flash else (None, False)


def _today(request: Request) -> dt.date:
    return utcnow().astimezone(settings_of(request).tz).date()


def page_labels() -> dict[str, Any]:
    return {
        "kinds": KIND_LABELS,
        "sources": SOURCE_LABELS,
        "categories": CATEGORY_LABELS,
        "root_causes": ROOT_CAUSE_LABELS,
        "outcomes": OUTCOME_LABELS,
        "statuses": STATUS_LABELS,
        "tabs": TAB_LABELS,
        "events": EVENT_LABELS,
        "origins": ORIGIN_LABELS,
        "lift_labels": LIFT_LABELS,
        "rules": RULE_OF,
    }


def _names(ids: set[int | None], *, session: DbSession) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(wanted))).all())


def masked_names(keys: set[str], *, session: DbSession) -> dict[str, str]:
    if not keys:
        return {}
    rows = session.execute(select(Borrower.external_id, Borrower.name).where(Borrower.external_id.in_(keys)))
    return {k: mask_name(n or "") for k, n in rows}


def _row(c: Complaint, today: dt.date, users: dict[int, str], names: dict[str, str]) -> dict[str, Any]:
    closed = c.closed_on is not None
    return {
        "c": c,
        "collector": users.get(c.collector_id) if c.collector_id else None,
        "handler": users.get(c.handler_id) if c.handler_id else None,
        "borrower": names.get(c.borrower_key, ""),
        "days_left": None if closed else kernel.days_left(c.deadline, today),
        "overdue": kernel.is_overdue(c.deadline, today, closed=closed),
        "late": closed and c.closed_on is not None and c.closed_on > c.deadline,
    }


# --- the register -----------------------------------------------------------------------------


@router.get("/complaints")
def register_page(
    request: Request,
    user: Handler,
    session: DbSession,
    status: Annotated[str, Query(max_length=10)] = "open",
) -> Response:
    """The register: deadlines, overdue ones highlighted; filter by status; register a complaint."""
    today = _today(request)
    chosen = status if status in register.STATUS_FILTERS else "open"
    rows = register.list_complaints(session=session, today=today, status=chosen, limit=500)
    users = _names({i for c in rows for i in (c.collector_id, c.handler_id)}, session=session)
    names = masked_names({c.borrower_key for c in rows}, session=session)
    counts = {
        s: register.count_complaints(session=session, today=today, status=s) for s in ("open", "overdue")
    }
    flash, flash_error = take_flash(request)
    ctx = {
        "rows": [_row(c, today, users, names) for c in rows],
        "status": chosen,
        "counts": counts,
        "today": today,
        "base_days": kernel.BASE_DAYS,
        "extended_days": kernel.EXTENDED_DAYS,
        "flash": flash,
        "flash_error": flash_error,
        "watermark": True,
        **page_labels(),
    }
    return render(request, "complaints_list.html", ctx, user=user)


@router.post("/complaints")
def open_complaint(
    request: Request,
    user: Handler,
    session: DbSession,
    kind: Annotated[str, Form(max_length=20)] = "complaint",
    source: Annotated[str, Form(max_length=30)] = "",
    category: Annotated[str, Form(max_length=30)] = "",
    reference: Annotated[str, Form(max_length=100)] = "",
    borrower_key: Annotated[str, Form(max_length=64)] = "",
    case_id: Annotated[str, Form(max_length=12)] = "",
    received_on: Annotated[str, Form(max_length=10)] = "",
    collector: Annotated[str, Form(max_length=64)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
    summary: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Register a complaint (or dispute) from the form; back to the register with what went wrong."""
    try:
        collector_id = None
        if collector.strip():
            found = get_user(collector.strip(), session=session)
            if found is None:
                raise register.bad("collector", f"no user {collector.strip()!r}", "用户不存在")
            collector_id = found.id
        case = int(case_id) if case_id.strip().isdigit() else None
        if case_id.strip() and (case is None or not 1 <= case <= 2**31 - 1):
            raise register.bad("case_id", f"no case {case_id.strip()!r}", "案件不存在")
        try:
            received = dt.date.fromisoformat(received_on) if received_on.strip() else None
        except ValueError:
            raise register.bad(
                "received_on", "the date is not YYYY-MM-DD", "日期格式应为 YYYY-MM-DD"
            ) from None
        row = service.do_open_complaint(
            session=session,
            actor=user.username,
            kind=kind,
            source=source,
            category=category,
            reference=reference or None,
            borrower_key=borrower_key.strip() or None,
            case_id=case,
            received_on=received,
            collector_id=collector_id,
            agency=agency or None,
            summary=summary,
            settings=settings_of(request),
        )
    except RecoupError as exc:
        set_flash(request, exc.message, error=True)
        return redirect(request, "/complaints")
    rule = RULE_OF[HOLD_OF[ComplaintKind(row.kind)].value]
    note = tr(request, user, "Complaint registered; contact with the borrower is on hold until it is closed.")
    set_flash(request, f"#{row.id} · {note} ({rule})")
    return redirect(request, f"/complaints/{row.id}")


# --- one complaint ----------------------------------------------------------------------------


@router.get("/complaints/{complaint_id}")
def complaint_page(complaint_id: DbId, request: Request, user: Handler, session: DbSession) -> Response:
    """One complaint: its facts, deadline, hold, timeline, the contacts it concerns, and the moves."""
    today = _today(request)
    c = register.get_complaint(complaint_id, session=session)
    users = _names({c.collector_id, c.handler_id}, session=session)
    names = masked_names({c.borrower_key}, session=session)
    hold = session.get(ContactHold, c.hold_id) if c.hold_id is not None else None
    now = utcnow()
    attempt_ids = register.attempt_ids_of(c.id, session=session)
    attempts = (
        list(
            session.scalars(
                select(ContactAttempt).where(ContactAttempt.id.in_(attempt_ids)).order_by(ContactAttempt.at)
            )
        )
        if attempt_ids
        else []
    )
    flash, flash_error = take_flash(request)
    ctx = {
        "r": _row(c, today, users, names),
        "c": c,
        "timeline": [
            {
                "e": e,
                "after": dt.date.fromisoformat(str(e.data["after"]))
                if e.data and e.data.get("after")
                else None,
                "handler": _names({e.data.get("handler_id")}, session=session).get(e.data["handler_id"])
                if e.kind == "assigned" and e.data and e.data.get("handler_id")
                else None,
            }
            for e in register.timeline(c.id, session=session)
        ],
        "attempts": attempts,
        "hold": hold,
        "hold_active": hold is not None and holds.is_active(hold, now),
        "pending": holds.pending_lift(hold.id, session=session) if hold is not None else None,
        "handlers": register.handlers(session=session, complaint=c),
        "in_conflict": register.conflict(c, user, session=session) is not None,
        "can_extend": c.status == "open"
        and c.extended_on is None
        and kernel.extension_allowed(c.received_on, today),
        "extended_deadline": kernel.deadline(c.received_on, extended=True),
        "today": today,
        "flash": flash,
        "flash_error": flash_error,
        "watermark": True,
        **page_labels(),
    }
    return render(request, "complaints_detail.html", ctx, user=user)


def _back(request: Request, complaint_id: int, done: str | Exception) -> Response:
    if isinstance(done, RecoupError):
        set_flash(request, done.message, error=True)
    else:
        set_flash(request, str(done))
    return redirect(request, f"/complaints/{complaint_id}")


@router.post("/complaints/{complaint_id}/assign")
def assign(
    complaint_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    handler_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Give the complaint a handler (never the person complained about)."""
    register.get_complaint(complaint_id, session=session)
    try:
        if not handler_id.strip().isdigit() or not 1 <= int(handler_id) <= 2**31 - 1:
            raise register.bad("handler_id", "choose a handler", "请选择处理人")
        service.do_assign(
            complaint_id,
            session=session,
            actor=user,
            handler_id=int(handler_id),
            settings=settings_of(request),
        )
    except RecoupError as exc:
        return _back(request, complaint_id, exc)
    return _back(request, complaint_id, tr(request, user, "Handler assigned."))


@router.post("/complaints/{complaint_id}/subject")
def subject(
    complaint_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    collector: Annotated[str, Form(max_length=64)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
    category: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Say who (and which agency) the complaint is about, and its category."""
    register.get_complaint(complaint_id, session=session)
    try:
        collector_id = None
        if collector.strip():
            found = get_user(collector.strip(), session=session)
            if found is None:
                raise register.bad("collector", f"no user {collector.strip()!r}", "用户不存在")
            collector_id = found.id
        service.do_set_subject(
            complaint_id,
            session=session,
            actor=user,
            collector_id=collector_id,
            agency=agency or None,
            category=category or None,
            settings=settings_of(request),
        )
    except RecoupError as exc:
        return _back(request, complaint_id, exc)
    return _back(request, complaint_id, tr(request, user, "Saved."))


@router.post("/complaints/{complaint_id}/extend")
def extend(
    complaint_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Extend the deadline once, to 30 days after receipt, with a reason."""
    register.get_complaint(complaint_id, session=session)
    try:
        service.do_extend(
            complaint_id, session=session, actor=user, reason=reason, settings=settings_of(request)
        )
    except RecoupError as exc:
        return _back(request, complaint_id, exc)
    return _back(request, complaint_id, tr(request, user, "Deadline extended."))


@router.post("/complaints/{complaint_id}/resolve")
def resolve(
    complaint_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    outcome: Annotated[str, Form(max_length=20)] = "",
    root_cause: Annotated[str, Form(max_length=30)] = "",
    root_cause_note: Annotated[str, Form(max_length=1000)] = "",
    resolution: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Close the complaint with its outcome, root cause and resolution; its hold ends now."""
    register.get_complaint(complaint_id, session=session)
    try:
        service.do_resolve(
            complaint_id,
            session=session,
            actor=user,
            outcome=outcome,
            root_cause=root_cause,
            resolution=resolution,
            root_cause_note=root_cause_note or None,
            settings=settings_of(request),
        )
    except RecoupError as exc:
        return _back(request, complaint_id, exc)
    return _back(request, complaint_id, tr(request, user, "Complaint closed; the hold on contact has ended."))
