"""``/api/v1/cases/{id}/assists`` and ``/api/v1/assists``: assistance requests (协催) from a case's holder
to the field, skip-trace, legal or verification team. The rules are :mod:`recoup.cases.assists`
(docs/stops-assists.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.assists import (
    LIVE,
    AssistKind,
    AssistResult,
    assists_for,
    case_assists,
    do_accept_assist,
    do_cancel_assist,
    do_finish_assist,
    do_request_assist,
    get_assist,
    visible_assists,
)
from recoup.cases.models import Team
from recoup.cases.views import Viewer, VisibleCase, Worker
from recoup.cases.work_models import AssistRequest
from recoup.config import Settings
from recoup.db import utcnow
from recoup.web.deps import DbId, DbSession

router = APIRouter(tags=["assists"])


def _visible_assist(assist_id: DbId, user: Worker, session: DbSession) -> AssistRequest:
    """The path's request if the caller sees its case or is its target; 404 before the body is read."""
    return get_assist(assist_id, user, session=session)


VisibleAssist = Annotated[AssistRequest, Depends(_visible_assist)]


class AssistIn(BaseModel):
    kind: AssistKind
    team: str | None = Field(default=None, max_length=80, description="the target team's name")
    assignee: str | None = Field(default=None, max_length=64, description="or the target person's username")
    deadline: dt.date = Field(description="today at the earliest, at most 30 days ahead / 截止日期")
    note: str = Field(default="", max_length=1000)


class DoneIn(BaseModel):
    result: AssistResult
    note: str = Field(default="", max_length=1000)


class CancelIn(BaseModel):
    note: str = Field(default="", max_length=1000)


class AssistOut(BaseModel):
    id: int
    case_id: DbId
    kind: str
    team: str | None
    assignee: str | None
    requested_by: str
    note: str
    deadline: dt.date
    overdue: bool = Field(description="past its deadline and not done / 已逾期")
    status: str
    result: str | None
    result_note: str | None
    created_at: dt.datetime
    done_at: dt.datetime | None = Field(description="when it was done or cancelled")


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _outs(rows: list[AssistRequest], request: Request, session: Session) -> list[AssistOut]:
    today = utcnow().astimezone(_settings(request).tz).date()
    team_rows = session.execute(
        select(Team.id, Team.name).where(Team.id.in_({r.team_id for r in rows if r.team_id}))
    ).all()
    teams: dict[int, str] = {tid: name for tid, name in team_rows}
    user_rows = session.execute(
        select(AppUser.id, AppUser.username).where(
            AppUser.id.in_({r.assignee_id for r in rows if r.assignee_id})
        )
    ).all()
    users: dict[int, str] = {uid: name for uid, name in user_rows}
    return [
        AssistOut(
            id=r.id,
            case_id=r.case_id,
            kind=r.kind,
            team=teams.get(r.team_id) if r.team_id else None,
            assignee=users.get(r.assignee_id) if r.assignee_id else None,
            requested_by=r.requested_by,
            note=r.note,
            deadline=r.deadline,
            overdue=r.status in LIVE and r.deadline < today,
            status=r.status,
            result=r.result,
            result_note=r.result_note,
            created_at=r.created_at,
            done_at=r.done_at,
        )
        for r in rows
    ]


@router.get("/assists", response_model=list[AssistOut])
def list_assists(
    request: Request,
    user: Worker,
    session: DbSession,
    mine: Annotated[bool, Query(description="assigned to me, or open for my team")] = True,
    status: Annotated[str | None, Query(pattern="^(open|accepted|done|cancelled)$")] = None,
) -> list[AssistOut]:
    """``mine=true`` (the default): the caller's work — live requests assigned to them and open ones for
    their team, by deadline. ``mine=false``: the requests on the cases the caller sees, newest first."""
    if mine:
        rows = [r for r in assists_for(user, session=session) if status is None or r.status == status]
    else:
        rows = visible_assists(user, session=session, status=status)
    return _outs(rows, request, session)


@router.get("/cases/{case_id}/assists", response_model=list[AssistOut])
def list_case_assists(
    request: Request, user: Viewer, case: VisibleCase, session: DbSession
) -> list[AssistOut]:
    """A case's assistance requests, oldest first."""
    return _outs(case_assists(case.id, session=session), request, session)


@router.post("/cases/{case_id}/assists", response_model=AssistOut, status_code=201)
def request_assist(
    request: Request, user: Worker, case: VisibleCase, body: AssistIn, session: DbSession
) -> AssistOut:
    """Ask a team (by name) or a person (by username) for help on the case by a deadline; the case stays
    with its holder."""
    row = do_request_assist(
        case,
        session=session,
        actor=user.username,
        kind=body.kind.value,
        deadline=body.deadline,
        team=body.team,
        assignee=body.assignee,
        note=body.note,
        settings=_settings(request),
    )
    return _outs([row], request, session)[0]


@router.post("/assists/{assist_id}/accept", response_model=AssistOut)
def accept_assist(request: Request, user: Worker, found: VisibleAssist, session: DbSession) -> AssistOut:
    """Take an open request (its named assignee, or a member of its target team)."""
    row = do_accept_assist(found.id, user, session=session, settings=_settings(request))
    return _outs([row], request, session)[0]


@router.post("/assists/{assist_id}/done", response_model=AssistOut)
def finish_assist(
    request: Request, user: Worker, found: VisibleAssist, body: DoneIn, session: DbSession
) -> AssistOut:
    """Report an accepted request done (its assignee) with a result and a note."""
    row = do_finish_assist(
        found.id, user, session=session, result=body.result.value, note=body.note, settings=_settings(request)
    )
    return _outs([row], request, session)[0]


@router.post("/assists/{assist_id}/cancel", response_model=AssistOut)
def cancel_assist(
    request: Request, user: Worker, found: VisibleAssist, session: DbSession, body: CancelIn | None = None
) -> AssistOut:
    """Cancel an open or accepted request (its requester, or someone who assigns cases)."""
    row = do_cancel_assist(
        found.id, user, session=session, note=body.note if body else "", settings=_settings(request)
    )
    return _outs([row], request, session)[0]
