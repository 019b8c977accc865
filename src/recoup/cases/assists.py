"""Assistance requests (协催): the holder asks the field, skip-trace, legal or verification team (or one
named person) for help on a case, by a deadline; the case stays with its holder.

``status``: ``open`` → ``accepted`` → ``done`` | ``cancelled`` (``cancelled`` from ``open`` or
``accepted``). A request names a team (any active member of it — a worker profile with that team — may
accept it, and becomes its assignee) or one person (only they may accept it). Only the assignee reports it
done, with a result (``success``, ``failed``, ``not_needed``); the requester or a ``case.assign`` holder
may cancel it. While a request is open or accepted its assignee sees the case
(:func:`recoup.cases.access.visible_cases`). Creating, accepting, finishing and cancelling each write an
audit-ledger entry (ids and codes only).

Services take ``session`` as a keyword and never commit.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import get_user, has_permission
from recoup.cases.access import visible_cases
from recoup.cases.models import Case, Team, WorkerProfile
from recoup.cases.work_models import AssistRequest
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.service import do_append

__all__ = [
    "LIVE",
    "MAX_DEADLINE_DAYS",
    "AssistError",
    "AssistKind",
    "AssistNotYoursError",
    "AssistRefusedError",
    "AssistResult",
    "AssistStateError",
    "AssistStatus",
    "assists_for",
    "case_assists",
    "check_assist",
    "do_accept_assist",
    "do_cancel_assist",
    "do_finish_assist",
    "do_open_assist",
    "do_request_assist",
    "get_assist",
    "overdue_assists",
    "visible_assists",
]


class AssistKind(StrEnum):
    FIELD = "field"  # 外访协催
    SKIP_TRACE = "skip_trace"  # 失联修复
    LEGAL = "legal"  # 法务协催
    VERIFICATION = "verification"  # 核实 (e.g. a fraud check)


class AssistStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DONE = "done"
    CANCELLED = "cancelled"


class AssistResult(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    NOT_NEEDED = "not_needed"


#: Statuses in which a request is still to be worked (and its assignee sees the case).
LIVE: Final = (AssistStatus.OPEN.value, AssistStatus.ACCEPTED.value)
#: The latest deadline, in days after today.
MAX_DEADLINE_DAYS: Final = 30
#: Case statuses that take no new request.
_CLOSED: Final = "closed"


class AssistError(RecoupError):
    code = "assist.error"


class AssistRefusedError(AssistError):
    """A new request breaks a rule; ``details["field"]`` names the field."""

    code = "assist.refused"
    http_status = 422
    exit_code = 65


class AssistStateError(AssistError):
    """The move is not possible from the request's status; ``details["status"]`` names it."""

    code = "assist.invalid"
    http_status = 409


class AssistNotYoursError(AssistError):
    """The caller may see the request but may not make this move on it (not the assignee, not in the
    target team, not the requester)."""

    code = "assist.not_yours"
    http_status = 403


def _refuse(field: str, english: str, chinese: str, **details: object) -> AssistRefusedError:
    return AssistRefusedError(f"{english} / {chinese}", details={"field": field, **details})


def _today(now: dt.datetime, settings: Settings) -> dt.date:
    return now.astimezone(settings.tz).date()


def check_assist(
    case: Case,
    *,
    kind: str,
    team: str | None,
    assignee: str | None,
    deadline: dt.date,
    today: dt.date,
) -> AssistKind:
    """Validate a new request (everything but the database look-ups); :class:`AssistRefusedError` names
    the first problem."""
    if kind not in {k.value for k in AssistKind}:
        raise _refuse(
            "kind", f"unknown kind {kind!r}", "未知的协催类型", allowed=[k.value for k in AssistKind]
        )
    if case.status == _CLOSED:
        raise _refuse("case", f"case {case.id} is closed", f"案件 {case.id} 已结案", case_id=case.id)
    if (team is None) == (assignee is None):
        raise _refuse("target", "name either a team or an assignee", "请指定协催团队或协催人（二选一）")
    if deadline < today:
        raise _refuse(
            "deadline",
            f"the deadline {deadline} is in the past",
            "截止日期不能早于今天",
            deadline=str(deadline),
        )
    if (deadline - today).days > MAX_DEADLINE_DAYS:
        raise _refuse(
            "deadline",
            f"the deadline is at most {MAX_DEADLINE_DAYS} days ahead",
            f"截止日期最多为 {MAX_DEADLINE_DAYS} 天后",
            deadline=str(deadline),
        )
    return AssistKind(kind)


def do_open_assist(
    case: Case,
    *,
    session: Session,
    actor: str,
    kind: AssistKind,
    deadline: dt.date,
    team_id: int | None = None,
    assignee_id: int | None = None,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> AssistRequest:
    """Store an ``open`` request as given (no checks: :func:`do_request_assist` checks a person's request;
    the stop of :mod:`recoup.cases.stops` opens its fraud check through here) and audit it."""
    at = now or utcnow()
    row = AssistRequest(
        case_id=case.id,
        kind=kind.value,
        team_id=team_id,
        assignee_id=assignee_id,
        requested_by=actor,
        note=note[:1000],
        deadline=deadline,
        status=AssistStatus.OPEN.value,
        created_at=at,
    )
    session.add(row)
    session.flush()
    do_append(
        "assist.created",
        {
            "assist_id": row.id,
            "case_id": case.id,
            "kind": row.kind,
            "team_id": team_id,
            "assignee_id": assignee_id,
            "deadline": deadline.isoformat(),
        },
        session=session,
        actor=actor,
        settings=settings,
    )
    return row


def do_request_assist(
    case: Case,
    *,
    session: Session,
    actor: str,
    kind: str,
    deadline: dt.date,
    team: str | None = None,
    assignee: str | None = None,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> AssistRequest:
    """Ask ``team`` (a team name) or ``assignee`` (a username) for help on ``case`` by ``deadline``."""
    s = settings or get_settings()
    at = now or utcnow()
    k = check_assist(case, kind=kind, team=team, assignee=assignee, deadline=deadline, today=_today(at, s))
    team_id = assignee_id = None
    if team is not None:
        team_id = session.scalar(select(Team.id).where(Team.name == team))
        if team_id is None:
            raise _refuse("team", f"no team {team!r}", "团队不存在", team=team)
    if assignee is not None:
        person = get_user(assignee, session=session)
        if person is None or not person.is_active or not has_permission(person, "case.work"):
            raise _refuse(
                "assignee", f"{assignee!r} is not an active user who works cases", "协催人不存在或无作业权限"
            )
        if person.username == actor:
            raise _refuse("assignee", "you cannot ask yourself for help", "不能向自己发起协催")
        assignee_id = person.id
    return do_open_assist(
        case,
        session=session,
        actor=actor,
        kind=k,
        deadline=deadline,
        team_id=team_id,
        assignee_id=assignee_id,
        note=note,
        settings=s,
        now=at,
    )


def _team_of(user: AppUser, *, session: Session) -> int | None:
    """The team of ``user``'s active worker profile, if any."""
    return session.scalar(
        select(WorkerProfile.team_id).where(WorkerProfile.user_id == user.id, WorkerProfile.active.is_(True))
    )


def _is_target(row: AssistRequest, user: AppUser, *, session: Session) -> bool:
    """Whether ``user`` is the request's assignee or (while no one is) a member of its team."""
    if row.assignee_id is not None:
        return row.assignee_id == user.id
    return row.team_id is not None and row.team_id == _team_of(user, session=session)


def get_assist(assist_id: int, user: AppUser, *, session: Session, lock: bool = False) -> AssistRequest:
    """Request ``assist_id`` if ``user`` sees its case or is its target; :class:`NotFoundError` (404)
    otherwise, exactly as for a missing one."""
    query = select(AssistRequest).where(AssistRequest.id == assist_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = session.scalars(query).one_or_none()
    if row is not None and not _is_target(row, user, session=session):
        seen = session.scalar(visible_cases(user).with_only_columns(Case.id).where(Case.id == row.case_id))
        if seen is None:
            row = None
    if row is None:
        raise NotFoundError(
            f"no assistance request {assist_id} / 协催 {assist_id} 不存在", details={"assist_id": assist_id}
        )
    return row


def _invalid(row: AssistRequest, move: str) -> AssistStateError:
    return AssistStateError(
        f"assistance request {row.id} is {row.status}: it cannot be {move} / "
        f"协催 {row.id} 状态为 {row.status}，不能{move}",
        details={"assist_id": row.id, "status": row.status, "move": move},
    )


def do_accept_assist(
    assist_id: int,
    user: AppUser,
    *,
    session: Session,
    settings: Settings | None = None,
) -> AssistRequest:
    """Take an open request: its named assignee, or a member of its target team (who becomes assignee)."""
    row = get_assist(assist_id, user, session=session, lock=True)
    if row.status != AssistStatus.OPEN:
        raise _invalid(row, "accepted")
    if not _is_target(row, user, session=session):
        raise AssistNotYoursError(
            "only the named assignee or a member of the target team may accept it / "
            "只有指定协催人或目标团队成员可以接受",
            details={"assist_id": row.id},
        )
    row.status, row.assignee_id = AssistStatus.ACCEPTED.value, user.id
    session.flush()
    do_append(
        "assist.accepted",
        {"assist_id": row.id, "case_id": row.case_id, "assignee_id": user.id},
        session=session,
        actor=user.username,
        settings=settings,
    )
    return row


def do_finish_assist(
    assist_id: int,
    user: AppUser,
    *,
    session: Session,
    result: str,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> AssistRequest:
    """Report an accepted request done (its assignee only) with ``result`` and a note."""
    if result not in {r.value for r in AssistResult}:
        raise _refuse(
            "result", f"unknown result {result!r}", "未知的协催结果", allowed=[r.value for r in AssistResult]
        )
    row = get_assist(assist_id, user, session=session, lock=True)
    if row.status != AssistStatus.ACCEPTED:
        raise _invalid(row, "done")
    if row.assignee_id != user.id:
        raise AssistNotYoursError(
            "only the assignee reports it done / 只有协催人可以完成", details={"assist_id": row.id}
        )
    row.status, row.result, row.result_note = AssistStatus.DONE.value, result, note[:1000]
    row.done_at = now or utcnow()
    session.flush()
    do_append(
        "assist.done",
        {"assist_id": row.id, "case_id": row.case_id, "assignee_id": user.id, "result": result},
        session=session,
        actor=user.username,
        settings=settings,
    )
    return row


def do_cancel_assist(
    assist_id: int,
    user: AppUser,
    *,
    session: Session,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> AssistRequest:
    """Cancel an open or accepted request (its requester, or a ``case.assign`` holder)."""
    row = get_assist(assist_id, user, session=session, lock=True)
    if row.status not in LIVE:
        raise _invalid(row, "cancelled")
    if row.requested_by != user.username and not has_permission(user, "case.assign"):
        raise AssistNotYoursError(
            "only the requester or someone who assigns cases may cancel it / 只有发起人或分案人员可以撤销",
            details={"assist_id": row.id},
        )
    row.status, row.result_note, row.done_at = AssistStatus.CANCELLED.value, note[:1000], now or utcnow()
    session.flush()
    do_append(
        "assist.cancelled",
        {"assist_id": row.id, "case_id": row.case_id},
        session=session,
        actor=user.username,
        settings=settings,
    )
    return row


def assists_for(user: AppUser, *, session: Session, limit: int = 500) -> list[AssistRequest]:
    """``user``'s work: live requests assigned to them, and open ones for their team that nobody has
    taken yet; by deadline."""
    team_id = _team_of(user, session=session)
    mine = and_(AssistRequest.assignee_id == user.id, AssistRequest.status.in_(LIVE))
    team = and_(
        AssistRequest.team_id == team_id,
        AssistRequest.assignee_id.is_(None),
        AssistRequest.status == AssistStatus.OPEN.value,
    )
    cond = or_(mine, team) if team_id is not None else mine
    query = select(AssistRequest).where(cond).order_by(AssistRequest.deadline, AssistRequest.id)
    return list(session.scalars(query.limit(limit)))


def visible_assists(
    user: AppUser, *, session: Session, status: str | None = None, limit: int = 500
) -> list[AssistRequest]:
    """Requests on the cases ``user`` sees (newest first), optionally of one ``status``."""
    cases = visible_cases(user).with_only_columns(Case.id)
    query = select(AssistRequest).where(AssistRequest.case_id.in_(cases.scalar_subquery()))
    if status is not None:
        query = query.where(AssistRequest.status == status)
    return list(session.scalars(query.order_by(AssistRequest.id.desc()).limit(limit)))


def case_assists(case_id: int, *, session: Session) -> list[AssistRequest]:
    """Every request on a case, oldest first."""
    return list(
        session.scalars(
            select(AssistRequest).where(AssistRequest.case_id == case_id).order_by(AssistRequest.id)
        )
    )


def overdue_assists(today: dt.date, *, session: Session) -> list[AssistRequest]:
    """Requests past their deadline (``deadline < today``) and still open or accepted, by deadline."""
    return list(
        session.scalars(
            select(AssistRequest)
            .where(AssistRequest.status.in_(LIVE), AssistRequest.deadline < today)
            .order_by(AssistRequest.deadline, AssistRequest.id)
        )
    )
