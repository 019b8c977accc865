"""``/api/v1/complaints`` (the complaints register) and ``/api/v1/holds`` (contact holds: list, place,
lift with a reason, approve or reject a lift). Every route needs ``complaint.handle``. The rules are
:mod:`recoup.complaints.service` and :mod:`recoup.complaints.holds` (docs/complaints.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.complaints import holds, kernel, register, service
from recoup.complaints.models import Complaint, HoldLift
from recoup.complaints.schemas import (
    AssignIn,
    AttemptsIn,
    ComplaintDetail,
    ComplaintIn,
    ComplaintOut,
    DecideIn,
    EventOut,
    ExtendIn,
    HoldIn,
    HoldOut,
    LiftIn,
    LiftOut,
    ResolveIn,
    SubjectIn,
)
from recoup.complaints.vocab import RULE_OF
from recoup.config import Settings
from recoup.contact.models import ContactHold
from recoup.db import utcnow
from recoup.web.deps import DbId, DbSession, require

router = APIRouter(tags=["complaints"])

Handler = Annotated[AppUser, require("complaint.handle")]


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _today(request: Request) -> dt.date:
    return utcnow().astimezone(_settings(request).tz).date()


def _names(ids: set[int | None], *, session: Session) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(wanted))).all())


def complaint_out(
    c: Complaint, *, session: Session, today: dt.date, names: dict[int, str] | None = None
) -> ComplaintOut:
    """One register entry as the API shows it (deadline figures from the kernel)."""
    users = names if names is not None else _names({c.collector_id, c.handler_id}, session=session)
    hold = session.get(ContactHold, c.hold_id) if c.hold_id is not None else None
    closed = c.closed_on is not None
    return ComplaintOut(
        id=c.id,
        kind=c.kind,
        source=c.source,
        reference=c.reference,
        category=c.category,
        borrower_key=c.borrower_key,
        case_id=c.case_id,
        summary=c.summary,
        collector_id=c.collector_id,
        collector=users.get(c.collector_id) if c.collector_id else None,
        agency=c.agency,
        received_on=c.received_on,
        deadline=c.deadline,
        days_left=None if closed else kernel.days_left(c.deadline, today),
        overdue=kernel.is_overdue(c.deadline, today, closed=closed),
        extended_on=c.extended_on,
        extension_reason=c.extension_reason,
        extended_by=c.extended_by,
        handler_id=c.handler_id,
        handler=users.get(c.handler_id) if c.handler_id else None,
        status=c.status,
        outcome=c.outcome,
        root_cause=c.root_cause,
        root_cause_note=c.root_cause_note,
        resolution=c.resolution,
        closed_on=c.closed_on,
        closed_by=c.closed_by,
        closed_late=closed and c.closed_on is not None and c.closed_on > c.deadline,
        hold_id=c.hold_id,
        hold_rule=RULE_OF.get(hold.kind) if hold is not None else None,
        hold_active=hold is not None and holds.is_active(hold, utcnow()),
        attempt_ids=register.attempt_ids_of(c.id, session=session),
        created_by=c.created_by,
        created_at=c.created_at,
    )


def _detail(c: Complaint, *, session: Session, today: dt.date) -> ComplaintDetail:
    base = complaint_out(c, session=session, today=today)
    events = [
        EventOut(at=e.at, actor=e.actor, kind=e.kind, note=e.note, data=e.data or {})
        for e in register.timeline(c.id, session=session)
    ]
    return ComplaintDetail(**base.model_dump(), timeline=events)


@router.get("/complaints", response_model=list[ComplaintOut])
def list_complaints(
    request: Request,
    user: Handler,
    session: DbSession,
    status: Literal["open", "overdue", "closed", "all"] = "open",
    borrower_key: Annotated[str | None, Query(max_length=64)] = None,
    case_id: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[ComplaintOut]:
    """The register: open complaints by deadline (``overdue``: past it; ``closed``; ``all``)."""
    today = _today(request)
    rows = register.list_complaints(
        session=session, today=today, status=status, borrower_key=borrower_key, case_id=case_id, limit=limit
    )
    names = _names({i for c in rows for i in (c.collector_id, c.handler_id)}, session=session)
    return [complaint_out(c, session=session, today=today, names=names) for c in rows]


@router.post("/complaints", response_model=ComplaintDetail, status_code=201)
def open_complaint(request: Request, user: Handler, body: ComplaintIn, session: DbSession) -> ComplaintDetail:
    """Register a complaint (``HOLD-STOP`` on the borrower) or a dispute (``HOLD-DISPUTE``), every channel,
    until it is closed; its deadline is 15 calendar days after receipt."""
    row = service.do_open_complaint(
        session=session,
        actor=user.username,
        kind=body.kind.value,
        source=body.source.value,
        category=body.category.value,
        borrower_key=body.borrower_key,
        case_id=body.case_id,
        reference=body.reference,
        summary=body.summary,
        received_on=body.received_on,
        collector_id=body.collector_id,
        agency=body.agency,
        attempt_ids=body.attempt_ids,
        handler_id=body.handler_id,
        settings=_settings(request),
    )
    return _detail(row, session=session, today=_today(request))


@router.get("/complaints/{complaint_id}", response_model=ComplaintDetail)
def show_complaint(
    request: Request, complaint_id: DbId, user: Handler, session: DbSession
) -> ComplaintDetail:
    """One complaint with its timeline."""
    row = register.get_complaint(complaint_id, session=session)
    return _detail(row, session=session, today=_today(request))


@router.post("/complaints/{complaint_id}/assign", response_model=ComplaintDetail)
def assign(
    request: Request, complaint_id: DbId, user: Handler, body: AssignIn, session: DbSession
) -> ComplaintDetail:
    """Give the complaint a handler — never the person (or agency) complained about."""
    row = service.do_assign(
        complaint_id, session=session, actor=user, handler_id=body.handler_id, settings=_settings(request)
    )
    return _detail(row, session=session, today=_today(request))


@router.post("/complaints/{complaint_id}/extend", response_model=ComplaintDetail)
def extend(
    request: Request, complaint_id: DbId, user: Handler, body: ExtendIn, session: DbSession
) -> ComplaintDetail:
    """Extend the deadline once to 30 days after receipt, with a reason, before the 15 days run out."""
    row = service.do_extend(
        complaint_id, session=session, actor=user, reason=body.reason, settings=_settings(request)
    )
    return _detail(row, session=session, today=_today(request))


@router.post("/complaints/{complaint_id}/subject", response_model=ComplaintDetail)
def set_subject(
    request: Request, complaint_id: DbId, user: Handler, body: SubjectIn, session: DbSession
) -> ComplaintDetail:
    """Say who and which agency the complaint is about, and its category."""
    row = service.do_set_subject(
        complaint_id,
        session=session,
        actor=user,
        collector_id=body.collector_id,
        agency=body.agency,
        category=body.category.value if body.category else None,
        settings=_settings(request),
    )
    return _detail(row, session=session, today=_today(request))


@router.post("/complaints/{complaint_id}/attempts", response_model=ComplaintDetail)
def link_attempts(
    request: Request, complaint_id: DbId, user: Handler, body: AttemptsIn, session: DbSession
) -> ComplaintDetail:
    """Link contact attempts with the borrower to the complaint."""
    service.do_link_attempts(
        complaint_id, body.attempt_ids, session=session, actor=user.username, settings=_settings(request)
    )
    row = register.get_complaint(complaint_id, session=session)
    return _detail(row, session=session, today=_today(request))


@router.post("/complaints/{complaint_id}/resolve", response_model=ComplaintDetail)
def resolve(
    request: Request, complaint_id: DbId, user: Handler, body: ResolveIn, session: DbSession
) -> ComplaintDetail:
    """Close the complaint (its handler): outcome, root cause, resolution; its hold ends now."""
    row = service.do_resolve(
        complaint_id,
        session=session,
        actor=user,
        outcome=body.outcome.value,
        root_cause=body.root_cause.value,
        resolution=body.resolution,
        root_cause_note=body.root_cause_note,
        settings=_settings(request),
    )
    return _detail(row, session=session, today=_today(request))


# --- holds ------------------------------------------------------------------------------------


def lift_out(lift: HoldLift) -> LiftOut:
    return LiftOut(
        id=lift.id,
        hold_id=lift.hold_id,
        status=lift.status,
        reason=lift.reason,
        requested_by=lift.requested_by,
        requested_at=lift.requested_at,
        decided_by=lift.decided_by,
        decided_at=lift.decided_at,
        decision_note=lift.decision_note,
    )


def hold_out(h: ContactHold, *, session: Session, now: dt.datetime) -> HoldOut:
    origin = holds.origin_of(h, session=session)
    return HoldOut(
        id=h.id,
        borrower_key=h.borrower_key,
        kind=h.kind,
        rule=RULE_OF.get(h.kind, h.kind),
        channels=h.channels,
        start_at=h.start_at,
        end_at=h.end_at,
        active=holds.is_active(h, now),
        reason=h.reason,
        evidence=h.evidence,
        approved_by=h.approved_by,
        created_by=h.created_by,
        created_at=h.created_at,
        origin=origin.kind,
        origin_id=origin.ref,
        four_eyes=origin.four_eyes,
        lifts=[lift_out(x) for x in holds.lifts_of(h.id, session=session)],
    )


@router.get("/holds", response_model=list[HoldOut])
def list_holds(
    user: Handler,
    session: DbSession,
    borrower_key: Annotated[str | None, Query(max_length=64)] = None,
    include_ended: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[HoldOut]:
    """Contact holds not yet ended (with ``include_ended``, all), newest first, with where each came
    from and its lift history."""
    now = utcnow()
    rows = holds.list_holds(
        session=session, now=now, borrower_key=borrower_key, include_ended=include_ended, limit=limit
    )
    return [hold_out(h, session=session, now=now) for h in rows]


@router.post("/holds", response_model=HoldOut, status_code=201)
def place_hold(request: Request, user: Handler, body: HoldIn, session: DbSession) -> HoldOut:
    """Place a hold by hand (the caller approves it): open-ended blocks, with an end it defers."""
    h = holds.do_place_hold(
        session=session,
        actor=user.username,
        borrower_key=body.borrower_key,
        kind=body.kind,
        reason=body.reason,
        channels=body.channels,
        start=body.start,
        end=body.end,
        evidence=body.evidence,
        settings=_settings(request),
    )
    return hold_out(h, session=session, now=utcnow())


@router.get("/holds/{hold_id}", response_model=HoldOut)
def show_hold(hold_id: DbId, user: Handler, session: DbSession) -> HoldOut:
    """One hold with its origin and lift history."""
    return hold_out(holds.get_hold(hold_id, session=session), session=session, now=utcnow())


@router.post("/holds/{hold_id}/lift", response_model=HoldOut)
def lift_hold(request: Request, hold_id: DbId, user: Handler, body: LiftIn, session: DbSession) -> HoldOut:
    """Lift a hold with a reason: now, or — an open complaint's hold — once another person approves.
    A case stop's hold is lifted with the stop (复催)."""
    holds.do_request_lift(
        hold_id, session=session, actor=user.username, reason=body.reason, settings=_settings(request)
    )
    return hold_out(holds.get_hold(hold_id, session=session), session=session, now=utcnow())


@router.post("/holds/{hold_id}/lift/approve", response_model=HoldOut)
def approve_lift(
    request: Request, hold_id: DbId, user: Handler, session: DbSession, body: DecideIn | None = None
) -> HoldOut:
    """Approve another person's lift request: the hold ends now."""
    holds.do_decide_lift(
        hold_id,
        session=session,
        actor=user.username,
        approve=True,
        note=body.note if body else "",
        settings=_settings(request),
    )
    return hold_out(holds.get_hold(hold_id, session=session), session=session, now=utcnow())


@router.post("/holds/{hold_id}/lift/reject", response_model=HoldOut)
def reject_lift(
    request: Request, hold_id: DbId, user: Handler, session: DbSession, body: DecideIn | None = None
) -> HoldOut:
    """Reject another person's lift request: the hold stays."""
    holds.do_decide_lift(
        hold_id,
        session=session,
        actor=user.username,
        approve=False,
        note=body.note if body else "",
        settings=_settings(request),
    )
    return hold_out(holds.get_hold(hold_id, session=session), session=session, now=utcnow())
