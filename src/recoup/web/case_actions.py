"""What a collector asks for from the case page (``case.work``, the permission of the equivalent API
routes): a callback at a date and time (a callback task for the case's holder, as the contact log leaves
for "call back later"), assistance (协催: field, skip-trace, legal, verification) and a field visit (外访),
each through the service the API uses, with its checks. Sending a templated message is
:mod:`recoup.web.case_message` (its routes are served with these). Another holder's case is a 404 before
anything is read or written; a refusal is a form error on the page, never a traceback."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup.cases.access import get_visible_case
from recoup.cases.assists import do_request_assist
from recoup.cases.contact_log import _callback
from recoup.cases.models import Case
from recoup.cases.visits import do_request_visit
from recoup.config import Settings
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.portfolio.models import Borrower
from recoup.strategy.models import WorkTask
from recoup.web.case_message import router as message_router
from recoup.web.case_view import local_time, refused, render_case, worst_loan
from recoup.web.deps import DbSession
from recoup.web.pages import Worker, settings_of, tr

router = APIRouter(include_in_schema=False)
router.include_router(message_router)

#: How far ahead a callback may be scheduled.
MAX_CALLBACK_DAYS: Final = 60
_LIVE: Final = ("open", "in_progress")


class CallbackError(RecoupError):
    """A callback that cannot be scheduled; ``details["field"]`` names the field."""

    code = "callback.invalid"
    http_status = 422
    exit_code = 65


def do_schedule_callback(
    case: Case, *, session: DbSession, actor: str, at: dt.datetime, settings: Settings, now: dt.datetime
) -> WorkTask:
    """A callback task for the case's holder due at ``at``: the contact log's callback (one call task
    per loan and day) at the agreed time. Scheduling the same day again moves it; a call task the
    strategy planned for that day becomes the callback. :class:`CallbackError` when ``at`` is past or too
    far ahead, the case is closed, or that day's call on the loan is already done."""
    if case.status != "open":
        raise CallbackError("the case is closed / 案件已结案", details={"field": "case"})
    if at.tzinfo is None or at <= now:
        raise CallbackError("a callback must be in the future / 回拨时间须晚于现在", details={"field": "at"})
    if at > now + dt.timedelta(days=MAX_CALLBACK_DAYS):
        raise CallbackError(
            f"a callback is at most {MAX_CALLBACK_DAYS} days ahead / 回拨时间最多为 {MAX_CALLBACK_DAYS} 天后",
            details={"field": "at"},
        )
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    loan = worst_loan(case, session=session)
    on = at.astimezone(settings.tz).date()
    _callback(case, borrower, loan, on, settings=settings, session=session, now=now, why="case page")
    session.flush()
    task = session.scalars(
        select(WorkTask).where(
            WorkTask.as_of == on, WorkTask.debt_key == (loan or ""), WorkTask.treatment == "agent_call"
        )
    ).one()
    if task.status not in _LIVE:
        raise CallbackError(
            f"the call on this loan for {on} is already {task.status}; choose another day"
            f" / 该借款 {on} 的电话任务已完成，请选择其他日期",
            details={"field": "at", "task_id": task.id},
        )
    task.queue, task.due_at, task.updated_at = "callback", at.astimezone(dt.UTC), now
    if task.case_id is None:
        task.case_id = case.id
    task.assignee_id = task.assignee_id or case.holder_id
    do_append(
        "case.callback_scheduled",
        {"case_id": case.id, "task_id": task.id, "due_at": task.due_at.isoformat()},
        session=session,
        actor=actor,
        settings=settings,
    )
    session.flush()
    return task


@router.post("/cases/{case_id}/callback")
def schedule_callback(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    on: Annotated[dt.date, Form()],
    at: Annotated[dt.time, Form()],
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Call the borrower back on ``on`` at ``at`` (the installation's timezone)."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    now = utcnow()
    when = dt.datetime.combine(on, at.replace(tzinfo=None), tzinfo=s.tz)
    try:
        task = do_schedule_callback(case, session=session, actor=user.username, at=when, settings=s, now=now)
    except RecoupError as exc:
        return refused(request, user, case, session, exc, "callback")
    if note.strip():
        task.note = note.strip()[:1000]
    shown = local_time(when, request, user, now)
    done = tr(request, user, "Callback scheduled")
    return render_case(request, user, case, session, flash=f"{done}: {shown}")


def _blank(value: str) -> str | None:
    return value.strip() or None


@router.post("/cases/{case_id}/assist")
def request_assist(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    kind: Annotated[str, Form(max_length=20)],
    deadline: Annotated[dt.date, Form()],
    team: Annotated[str, Form(max_length=80)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Ask a team (or one person) for help on the case by a deadline (协催); the case stays here."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    try:
        do_request_assist(
            case,
            session=session,
            actor=user.username,
            kind=kind,
            deadline=deadline,
            team=_blank(team),
            assignee=_blank(assignee),
            note=note.strip(),
            settings=s,
        )
    except RecoupError as exc:
        return refused(request, user, case, session, exc, "assist")
    return render_case(request, user, case, session, flash=tr(request, user, "Assistance requested."))


@router.post("/cases/{case_id}/visit")
def request_visit(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    planned_on: Annotated[dt.date, Form()],
    address_lat: Annotated[float, Form(ge=-90, le=90)],
    address_lon: Annotated[float, Form(ge=-180, le=180)],
    agent1: Annotated[str, Form(max_length=64)],
    agent2: Annotated[str, Form(max_length=64)],
    address_point_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Request a field visit by two registered field agents; it waits for approval (外访申请)."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    try:
        point = int(address_point_id) if address_point_id.strip() else None
    except ValueError:
        point = -1  # not one of the borrower's addresses: the service says so
    try:
        do_request_visit(
            case,
            session=session,
            actor=user.username,
            settings=s,
            planned_on=planned_on,
            address_point_id=point,
            address_lat=address_lat,
            address_lon=address_lon,
            agent1=agent1.strip(),
            agent2=agent2.strip(),
        )
    except RecoupError as exc:
        return refused(request, user, case, session, exc, "visit")
    done = tr(request, user, "Field visit requested; it waits for approval.")
    return render_case(request, user, case, session, flash=done)
