"""``/api/v1/cases/{id}/stops`` and ``/api/v1/stops/{id}/…``: stopping collection on a case (停催), its
approval and lifting (复催). The rules are :mod:`recoup.cases.stops` (docs/stops-assists.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from recoup.auth.models import AppUser
from recoup.cases.stops import (
    IMMEDIATE,
    StopReason,
    awaiting_approval,
    do_approve_stop,
    do_lift_stop,
    do_reject_stop,
    do_request_stop,
    get_stop,
    list_stops,
)
from recoup.cases.views import Viewer, VisibleCase, Worker
from recoup.cases.work_models import CaseStop
from recoup.config import Settings
from recoup.web.deps import DbId, DbSession, require

router = APIRouter(tags=["stops"])

Stopper = Annotated[AppUser, require("case.stop")]


def _visible_stop(stop_id: DbId, user: Stopper, session: DbSession) -> CaseStop:
    """The path's stop if the caller sees its case; 404 before the body is read."""
    return get_stop(stop_id, user, session=session)


VisibleStop = Annotated[CaseStop, Depends(_visible_stop)]


class StopIn(BaseModel):
    reason: StopReason
    evidence_ref: str | None = Field(
        default=None, max_length=300, description="a reference, not the document"
    )
    note: str = Field(default="", max_length=500)
    expires_on: dt.date | None = Field(
        default=None, description="required except for death; at most 366 days ahead / 到期日"
    )


class DecisionIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class LiftIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why collection resumes / 复催原因")


class StopOut(BaseModel):
    id: int
    case_id: DbId
    reason: str
    status: str
    immediate: bool = Field(description="took effect on request (death, suicide risk) / 申请即生效")
    awaiting_approval: bool = Field(description="in force without an approver yet / 已生效待审批")
    note: str
    evidence_ref: str | None
    expires_on: dt.date | None
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None = Field(description="who approved or rejected it")
    decided_at: dt.datetime | None
    lifted_by: str | None
    lifted_at: dt.datetime | None
    lift_reason: str | None
    hold_id: DbId | None
    cancelled_tasks: list[int] = Field(default_factory=list, description="tasks this move cancelled")
    fraud_check_assist_id: DbId | None = None


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _out(s: CaseStop, cancelled: list[int] | None = None, assist_id: DbId | None = None) -> StopOut:
    return StopOut(
        id=s.id,
        case_id=s.case_id,
        reason=s.reason,
        status=s.status,
        immediate=s.reason in IMMEDIATE,
        awaiting_approval=awaiting_approval(s),
        note=s.note,
        evidence_ref=s.evidence_ref,
        expires_on=s.expires_on,
        requested_by=s.requested_by,
        requested_at=s.requested_at,
        decided_by=s.approved_by,
        decided_at=s.approved_at,
        lifted_by=s.lifted_by,
        lifted_at=s.lifted_at,
        lift_reason=s.lift_reason,
        hold_id=s.hold_id,
        cancelled_tasks=cancelled or [],
        fraud_check_assist_id=assist_id,
    )


@router.get("/cases/{case_id}/stops", response_model=list[StopOut])
def case_stops(user: Viewer, case: VisibleCase, session: DbSession) -> list[StopOut]:
    """A case's stops, oldest first."""
    return [_out(s) for s in list_stops(case.id, session=session)]


@router.post("/cases/{case_id}/stops", response_model=StopOut, status_code=201)
def request_stop(
    request: Request, user: Worker, case: VisibleCase, body: StopIn, session: DbSession
) -> StopOut:
    """Request a stop of collection (停催). It waits for a ``case.stop`` holder's approval, except for
    ``death`` and ``suicide_risk``, which take effect at once (``status: active``, ``awaiting_approval``)."""
    stop, cancelled, assist_id = do_request_stop(
        case,
        session=session,
        actor=user,
        reason=body.reason.value,
        expires_on=body.expires_on,
        evidence_ref=body.evidence_ref,
        note=body.note,
        settings=_settings(request),
    )
    return _out(stop, cancelled, assist_id)


@router.post("/stops/{stop_id}/approve", response_model=StopOut)
def approve_stop(request: Request, user: Stopper, found: VisibleStop, session: DbSession) -> StopOut:
    """Approve a stop (not one's own request): a requested stop takes effect now."""
    stop, cancelled = do_approve_stop(found.id, session=session, actor=user, settings=_settings(request))
    return _out(stop, cancelled)


@router.post("/stops/{stop_id}/reject", response_model=StopOut)
def reject_stop(
    request: Request, user: Stopper, found: VisibleStop, session: DbSession, body: DecisionIn | None = None
) -> StopOut:
    """Reject a stop (not one's own request); an immediate stop awaiting approval ends now."""
    stop = do_reject_stop(
        found.id,
        session=session,
        actor=user,
        reason=body.reason if body else "",
        settings=_settings(request),
    )
    return _out(stop)


@router.post("/stops/{stop_id}/lift", response_model=StopOut)
def lift_stop(
    request: Request, user: Stopper, found: VisibleStop, body: LiftIn, session: DbSession
) -> StopOut:
    """Lift an active stop with a reason (复催): the contact hold ends now and collection resumes."""
    stop = do_lift_stop(
        found.id, session=session, actor=user, reason=body.reason, settings=_settings(request)
    )
    return _out(stop)
