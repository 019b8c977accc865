"""``/api/v1/tasks`` and ``/api/v1/cases/{id}/contacts``: a person's ranked queue, taking a task, the
dialer list, and the contact log (催记)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from recoup import cellsafe
from recoup.auth.models import AppUser
from recoup.cases.contact_log import do_log_contact
from recoup.cases.queues import dialer_export
from recoup.cases.skiptrace import do_add_contact, do_mark_lost, repair_rate
from recoup.cases.tasks import do_start_task, queue_for
from recoup.cases.views import Viewer, VisibleCase, Worker
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.db import utcnow
from recoup.pii import PII_KINDS, cipher_from_settings, mask
from recoup.portfolio.models import Borrower, ContactPoint
from recoup.web.deps import DbId, DbSession, require

router = APIRouter(tags=["work"])


class QueueItem(BaseModel):
    position: int
    task_id: DbId
    case_id: DbId
    treatment: str
    queue: str
    status: str
    must_do: str | None
    priority: int
    expected_value: float | None
    overdue_amount_minor: int
    dpd: int
    as_of: dt.date
    due_at: dt.datetime | None


class TaskState(BaseModel):
    id: int
    status: str
    started_at: dt.datetime | None


class ContactIn(BaseModel):
    channel: str = Field(default="call", pattern="^(call|visit)$")
    result: str = Field(max_length=30)
    contact_point_id: DbId
    at: dt.datetime | None = None
    note: str | None = Field(default=None, max_length=1000)
    next_action_on: dt.date | None = None
    recording_ref: str | None = Field(default=None, max_length=300)
    task_id: DbId | None = None
    preferred_channel: str | None = Field(default=None, max_length=20)
    preferred_hour: int | None = Field(default=None, ge=0, le=23)


class ContactOut(BaseModel):
    id: int
    at: dt.datetime
    channel: str
    party: str
    destination: str = Field(description="masked / 已脱敏")
    outcome: str
    disposition: str | None
    made_by: str
    note: str | None
    recording_ref: str | None


class LoggedOut(ContactOut):
    policy_verdict: str
    policy_rules: list[str]
    number_invalidated: bool
    task_done: int | None
    complaint_id: int | None = Field(
        default=None,
        description="the complaints-register entry a complaint or dispute result opened or joined",
    )


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _today(s: Settings) -> dt.date:
    return utcnow().astimezone(s.tz).date()


def _contact_out(a: ContactAttempt) -> ContactOut:
    return ContactOut(
        id=a.id,
        at=a.at,
        channel=a.channel,
        party=a.party,
        destination=a.destination_masked,
        outcome=a.outcome,
        disposition=a.disposition,
        made_by=a.made_by,
        note=a.content,
        recording_ref=a.recording_ref,
    )


class ContactPointIn(BaseModel):
    kind: str = Field(pattern="^(phone|address|email)$")
    value: str = Field(min_length=1, max_length=200)
    source: str = Field(max_length=30, description="borrower_update, lender_product or court_order")
    legal_basis: str = Field(min_length=3, max_length=200)


class ContactPointOut(BaseModel):
    id: int
    kind: str
    role: str
    value: str = Field(description="masked / 已脱敏")
    is_valid: bool
    source: str | None
    legal_basis: str | None
    added_by: str | None
    added_at: dt.datetime | None


class ContactStatusOut(BaseModel):
    case_id: DbId
    contact_status: str
    lost_since: dt.date | None
    repaired: bool = False


class RepairRateOut(BaseModel):
    start: dt.date
    end: dt.date
    lost: int
    repaired: int
    rate: float | None


def _point_out(p: ContactPoint) -> ContactPointOut:
    return ContactPointOut(
        id=p.id,
        kind=p.kind,
        role=p.role,
        value=mask(p.kind if p.kind in PII_KINDS else "phone", p.value),
        is_valid=p.is_valid,
        source=p.source,
        legal_basis=p.legal_basis,
        added_by=p.added_by,
        added_at=p.added_at,
    )


@router.get("/tasks", response_model=list[QueueItem])
def my_queue(request: Request, user: Worker, session: DbSession) -> list[QueueItem]:
    """The caller's open tasks in working order: started first, then must-do, then by expected value."""
    q = queue_for(user, session=session, today=_today(_settings(request)))
    return [
        QueueItem(
            position=r["position"],
            task_id=r["task_id"],
            case_id=r["case_id"],
            treatment=r["treatment"],
            queue=r["queue"],
            status=r["status"],
            must_do=r["must_do"],
            priority=r["priority"],
            expected_value=r["expected_value"],
            overdue_amount_minor=r["balance"],
            dpd=r["dpd"],
            as_of=r["as_of"],
            due_at=r["due_at"],
        )
        for r in q.iter_rows(named=True)
    ]


@router.get("/tasks/dialer.csv", response_class=Response)
def dialer_csv(request: Request, user: Worker, session: DbSession) -> Response:
    """The caller's ranked call list for a dialer (CSV; loan references only, never phone numbers)."""
    q = queue_for(user, session=session, today=_today(_settings(request)))
    out = dialer_export(q, passthrough=["debt_key"]) if q.height else pl.DataFrame()
    buf = io.BytesIO()
    cellsafe.frame(out).write_csv(buf)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="dialer.csv"'},
    )


@router.post("/tasks/{task_id}/start", response_model=TaskState)
def start_task(task_id: DbId, user: Worker, session: DbSession) -> TaskState:
    """Take one of the caller's tasks (a started task is never cancelled by a later day's decisions)."""
    t = do_start_task(task_id, user, session=session)
    return TaskState(id=t.id, status=t.status, started_at=t.started_at)


@router.get("/cases/{case_id}/contacts", response_model=list[ContactOut])
def case_contacts(user: Viewer, case: VisibleCase, session: DbSession) -> list[ContactOut]:
    """Every contact attempt with the case's borrower, newest first (destinations masked)."""
    key = session.scalar(select(Borrower.external_id).where(Borrower.id == case.borrower_id))
    rows = session.scalars(
        select(ContactAttempt)
        .where(ContactAttempt.borrower_key == key)
        .order_by(ContactAttempt.at.desc())
        .limit(500)
    )
    return [_contact_out(a) for a in rows]


@router.post("/cases/{case_id}/contacts", response_model=LoggedOut, status_code=201)
def log_contact(
    request: Request, user: Worker, case: VisibleCase, body: ContactIn, session: DbSession
) -> LoggedOut:
    """Log one call or visit (催记) with its result; the contact policy judges it like every attempt."""
    s = _settings(request)
    policy = Policy(
        resolve(s.jurisdiction, session=session), domains=s.link_domains, signatures=s.sms_signatures
    )
    logged = do_log_contact(
        case,
        session=session,
        actor=user.username,
        channel=body.channel,
        result=body.result,
        contact_point_id=body.contact_point_id,
        policy=policy,
        settings=s,
        cipher=cipher_from_settings(s),
        at=body.at,
        note=body.note,
        next_action_on=body.next_action_on,
        recording_ref=body.recording_ref,
        task_id=body.task_id,
        preferred_channel=body.preferred_channel,
        preferred_hour=body.preferred_hour,
    )
    return LoggedOut(
        **_contact_out(logged.attempt).model_dump(),
        policy_verdict=logged.verdict.verdict,
        policy_rules=list(logged.verdict.rules),
        number_invalidated=logged.invalidated,
        task_done=logged.task.id if logged.task else None,
        complaint_id=logged.complaint_id,
    )


@router.get("/cases/{case_id}/contact-points", response_model=list[ContactPointOut])
def case_contact_points(user: Viewer, case: VisibleCase, session: DbSession) -> list[ContactPointOut]:
    """The borrower's numbers and addresses (masked), with where each added one came from."""
    rows = session.scalars(
        select(ContactPoint).where(ContactPoint.borrower_id == case.borrower_id).order_by(ContactPoint.id)
    )
    return [_point_out(p) for p in rows]


@router.post("/cases/{case_id}/contact-points", response_model=ContactStatusOut, status_code=201)
def add_contact_point(
    request: Request, user: Worker, case: VisibleCase, body: ContactPointIn, session: DbSession
) -> ContactStatusOut:
    """Add a number or address with its lawful source and legal basis (失联修复); a phone repairs a
    lost case."""
    _point, repaired = do_add_contact(
        case,
        session=session,
        actor=user.username,
        kind=body.kind,
        value=body.value,
        source=body.source,
        legal_basis=body.legal_basis,
        on=_today(_settings(request)),
    )
    return ContactStatusOut(
        case_id=case.id, contact_status=case.contact_status, lost_since=case.lost_since, repaired=repaired
    )


@router.post("/cases/{case_id}/lost", response_model=ContactStatusOut)
def mark_lost(request: Request, user: Worker, case: VisibleCase, session: DbSession) -> ContactStatusOut:
    """Mark the case lost (失联): none of the borrower's numbers reaches them."""
    do_mark_lost(
        case, session=session, actor=user.username, on=_today(_settings(request)), reason="collector"
    )
    return ContactStatusOut(case_id=case.id, contact_status=case.contact_status, lost_since=case.lost_since)


@router.get("/reports/repair-rate", response_model=RepairRateOut)
def repair_rate_report(
    user: Annotated[AppUser, require("report.view")], session: DbSession, start: dt.date, end: dt.date
) -> RepairRateOut:
    """失联修复率: of the cases lost in the period, the share repaired (a lawful new own number) by its
    end."""
    r = repair_rate(start, end, session=session)
    return RepairRateOut(start=r.start, end=r.end, lost=r.lost, repaired=r.repaired, rate=r.rate)
