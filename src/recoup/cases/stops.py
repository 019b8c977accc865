"""Stopping collection on a case (停催) and resuming it (复催).

The case's holder (or someone who sees it through their team or every case) requests a stop with a reason
(:class:`StopReason`), an evidence reference, a note and an expiry date (required except for ``death``; at
most :data:`MAX_DAYS` days ahead; the stop holds through that whole day in the lender's timezone). A
``case.stop`` holder other than the requester approves or rejects it (four eyes); a ``case.stop`` holder
lifts an active stop with a reason (复催); :func:`do_expire_stops` ends stops past their expiry.

``status``: ``requested`` → ``active`` (approved) | ``rejected``; ``active`` → ``lifted`` | ``expired``.

**Safety first:** a stop for ``death`` or ``suicide_risk`` takes effect at once, on request — it is
``active`` with no approver yet (:func:`awaiting_approval`). Approving it records the approver; rejecting
it ends its effect (status ``rejected``), exactly like a lift.

While a stop is active:

- ``Case.stopped`` is true (the case leaves queues, strategy and placement);
- an open-ended ``HOLD-STOP`` contact hold on the borrower, on every channel, whose id is the stop's
  ``hold_id``: the contact policy **blocks** every attempt. The hold gets its end only when the stop ends
  (lift, rejection, expiry): a hold with an end would make the policy *defer* attempts to that end, and the
  dispatcher would then send the messages queued before the stop, stale, the moment it expires — and the
  hold would stop blocking before :func:`do_expire_stops` clears ``Case.stopped``;
- the case's open and in-progress work tasks were cancelled with ``status_reason`` "stopped: <reason>"
  (they are not restored when the stop ends: the next day's decisions plan the case again).

Ending a stop ends its hold (``end_at`` = now; for an expiry, the end of the expiry day in the lender's
timezone, or now if expiry runs late, so the past is never rewritten) and clears ``Case.stopped`` unless
another stop on the case is still active. An ``identity_theft`` request also opens a ``verification``
assistance request (协催: a fraud check, :data:`FRAUD_CHECK_DAYS` days) for the first team of kind
``verification`` (unrouted when there is none). Every state change writes an audit-ledger entry
(``stop.requested``, ``stop.approved``, ``stop.rejected``, ``stop.lifted``, ``stop.expired``: ids and
codes only). Services take ``session`` as a keyword and never commit.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.access import get_visible_case
from recoup.cases.assists import AssistKind, do_open_assist
from recoup.cases.models import Case, Team
from recoup.cases.work_models import CaseStop
from recoup.config import Settings, get_settings
from recoup.contact.models import ContactHold
from recoup.contact.policy.model import HoldKind
from recoup.contact.service import do_add_hold
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.portfolio.models import Borrower
from recoup.strategy.models import WorkTask

__all__ = [
    "FRAUD_CHECK_DAYS",
    "IMMEDIATE",
    "MAX_DAYS",
    "NO_EXPIRY",
    "StopError",
    "StopFourEyesError",
    "StopNotHolderError",
    "StopReason",
    "StopRefusedError",
    "StopStateError",
    "StopStatus",
    "awaiting_approval",
    "check_stop",
    "do_approve_stop",
    "do_expire_stops",
    "do_lift_stop",
    "do_reject_stop",
    "do_request_stop",
    "get_stop",
    "list_stops",
]


class StopReason(StrEnum):
    DEATH = "death"  # 死亡
    SERIOUS_ILLNESS = "serious_illness"  # 重病
    CUSTODY = "custody"  # 羁押
    IDENTITY_THEFT = "identity_theft"  # 冒名 / 身份盗用
    SUICIDE_RISK = "suicide_risk"  # 自杀风险
    LITIGATION = "litigation"  # 诉讼中
    COMPLAINT = "complaint"  # 投诉处理中
    DISASTER_RELIEF = "disaster_relief"  # 灾害救助


class StopStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    REJECTED = "rejected"
    LIFTED = "lifted"
    EXPIRED = "expired"


#: Reasons whose stop takes effect on request, before approval (safety first).
IMMEDIATE: Final = frozenset({StopReason.DEATH, StopReason.SUICIDE_RISK})
#: Reasons that need no expiry date.
NO_EXPIRY: Final = frozenset({StopReason.DEATH})
#: The latest expiry, in days after today.
MAX_DAYS: Final = 366
#: The deadline of the fraud check opened with an ``identity_theft`` stop, in days.
FRAUD_CHECK_DAYS: Final = 7


class StopError(RecoupError):
    code = "stop.error"


class StopRefusedError(StopError):
    """A stop request breaks a rule; ``details["field"]`` names the field."""

    code = "stop.refused"
    http_status = 422
    exit_code = 65


class StopStateError(StopError):
    """The move is not possible from the stop's status; ``details["status"]`` names it."""

    code = "stop.invalid"
    http_status = 409


class StopFourEyesError(StopError):
    """The requester of a stop may not decide it."""

    code = "stop.four_eyes"
    http_status = 403


class StopNotHolderError(StopError):
    """Only the holder, or someone who sees the case through their team or every case, requests a stop."""

    code = "stop.not_holder"
    http_status = 403


def _refuse(field: str, english: str, chinese: str, **details: object) -> StopRefusedError:
    return StopRefusedError(f"{english} / {chinese}", details={"field": field, **details})


def awaiting_approval(stop: CaseStop) -> bool:
    """Whether a stop is in force without an approver yet (an immediate stop)."""
    return stop.status == StopStatus.ACTIVE and stop.approved_by is None


def check_stop(case: Case, *, reason: str, expires_on: dt.date | None, today: dt.date) -> StopReason:
    """Validate a stop request; :class:`StopRefusedError` names the first problem."""
    if reason not in {r.value for r in StopReason}:
        raise _refuse(
            "reason", f"unknown reason {reason!r}", "未知的停催原因", allowed=[r.value for r in StopReason]
        )
    r = StopReason(reason)
    if case.status == "closed":
        raise _refuse("case", f"case {case.id} is closed", f"案件 {case.id} 已结案", case_id=case.id)
    if expires_on is None:
        if r not in NO_EXPIRY:
            raise _refuse("expires_on", f"a {r.value} stop needs an expiry date", "请填写停催到期日")
        return r
    if expires_on < today:
        raise _refuse(
            "expires_on",
            f"the expiry date {expires_on} is in the past",
            "到期日不能早于今天",
            expires_on=str(expires_on),
        )
    if (expires_on - today).days > MAX_DAYS:
        raise _refuse(
            "expires_on",
            f"the expiry date is at most {MAX_DAYS} days ahead",
            f"到期日最多为 {MAX_DAYS} 天后",
            expires_on=str(expires_on),
        )
    return r


def _expiry_end(expires_on: dt.date | None, tz: ZoneInfo) -> dt.datetime | None:
    """The end of the expiry day in the lender's timezone (UTC), or None."""
    if expires_on is None:
        return None
    return dt.datetime.combine(expires_on + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _lock_case(case_id: int, *, session: Session) -> Case:
    """The case, locked for the rest of the transaction (so two moves on its stops never interleave)."""
    case = session.scalars(
        select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {case_id} / 案件 {case_id} 不存在", details={"case_id": case_id})
    return case


def _lock_stop(stop_id: int, *, session: Session) -> CaseStop:
    stop = session.scalars(
        select(CaseStop)
        .where(CaseStop.id == stop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if stop is None:
        raise _missing(stop_id)
    return stop


def _missing(stop_id: int) -> NotFoundError:
    return NotFoundError(f"no stop {stop_id} / 停催 {stop_id} 不存在", details={"stop_id": stop_id})


def get_stop(stop_id: int, user: AppUser, *, session: Session) -> CaseStop:
    """Stop ``stop_id`` if ``user`` may see its case; :class:`NotFoundError` (404) otherwise."""
    stop = session.get(CaseStop, stop_id)
    if stop is None:
        raise _missing(stop_id)
    try:
        get_visible_case(stop.case_id, user, session=session)
    except NotFoundError:
        raise _missing(stop_id) from None
    return stop


def list_stops(case_id: int, *, session: Session) -> list[CaseStop]:
    """A case's stops, oldest first."""
    return list(session.scalars(select(CaseStop).where(CaseStop.case_id == case_id).order_by(CaseStop.id)))


def _audit(
    kind: str, stop: CaseStop, *, session: Session, actor: str, settings: Settings, **extra: object
) -> None:
    do_append(
        kind,
        {
            "stop_id": stop.id,
            "case_id": stop.case_id,
            "reason": stop.reason,
            "status": stop.status,
            "hold_id": stop.hold_id,
            **extra,
        },
        session=session,
        actor=actor,
        settings=settings,
    )


def _start_effect(stop: CaseStop, case: Case, *, session: Session, actor: str, now: dt.datetime) -> list[int]:
    """Put the stop in force: the case stopped, a HOLD-STOP hold on the borrower, live tasks cancelled.
    Returns the ids of the cancelled tasks."""
    borrower_key = session.scalar(select(Borrower.external_id).where(Borrower.id == case.borrower_id))
    assert borrower_key is not None
    hold = do_add_hold(
        session=session,
        borrower_key=borrower_key,
        kind=HoldKind.STOP,
        start=now,
        end=None,  # blocks (an end would defer); set when the stop ends
        reason=f"case stop {stop.id}: {stop.reason}",
        evidence=stop.evidence_ref,
        approved_by=stop.approved_by,
        created_by=actor,
        recorded_at=now,
    )
    stop.hold_id = hold.id
    case.stopped = True
    tasks = list(
        session.scalars(
            select(WorkTask)
            .where(WorkTask.case_id == case.id, WorkTask.status.in_(("open", "in_progress")))
            .order_by(WorkTask.id)
        )
    )
    for t in tasks:
        t.status, t.status_reason, t.updated_at = "cancelled", f"stopped: {stop.reason}", now
    session.flush()
    return [t.id for t in tasks]


def _end_effect(stop: CaseStop, case: Case, *, session: Session, now: dt.datetime) -> None:
    """Take the stop out of force: its hold ends now (if it has not ended already) and the case is no
    longer stopped unless another of its stops is still active."""
    hold = session.get(ContactHold, stop.hold_id) if stop.hold_id is not None else None
    if hold is not None and (hold.end_at is None or hold.end_at > now):
        hold.end_at = max(now, hold.start_at)
    others = session.scalar(
        select(CaseStop.id)
        .where(
            CaseStop.case_id == case.id, CaseStop.id != stop.id, CaseStop.status == StopStatus.ACTIVE.value
        )
        .limit(1)
    )
    case.stopped = others is not None
    session.flush()


def do_request_stop(
    case: Case,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    expires_on: dt.date | None = None,
    evidence_ref: str | None = None,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> tuple[CaseStop, list[int], int | None]:
    """Request a stop on ``case``; ``death`` and ``suicide_risk`` take effect at once.

    Returns the stop, the ids of the tasks it cancelled (immediate stops) and the id of the fraud-check
    assistance request it opened (``identity_theft``)."""
    s = settings or get_settings()
    at = now or utcnow()
    today = at.astimezone(s.tz).date()
    r = check_stop(case, reason=reason, expires_on=expires_on, today=today)
    if not (
        case.holder_id == actor.id
        or has_permission(actor, "case.view_all")
        or has_permission(actor, "case.view_team")
    ):
        raise StopNotHolderError(
            "only the case's holder or a supervisor requests a stop / 只有案件持有人或主管可以申请停催",
            details={"case_id": case.id},
        )
    case = _lock_case(case.id, session=session)
    stop = CaseStop(
        case_id=case.id,
        reason=r.value,
        note=note[:500],
        evidence_ref=evidence_ref,
        status=StopStatus.REQUESTED.value,
        requested_by=actor.username,
        requested_at=at,
        expires_on=expires_on,
    )
    session.add(stop)
    session.flush()
    cancelled: list[int] = []
    if r in IMMEDIATE:
        stop.status = StopStatus.ACTIVE.value
        cancelled = _start_effect(stop, case, session=session, actor=actor.username, now=at)
    assist_id = None
    if r == StopReason.IDENTITY_THEFT:
        team_id = session.scalar(
            select(Team.id).where(Team.kind == "verification").order_by(Team.id).limit(1)
        )
        assist = do_open_assist(
            case,
            session=session,
            actor=actor.username,
            kind=AssistKind.VERIFICATION,
            deadline=today + dt.timedelta(days=FRAUD_CHECK_DAYS),
            team_id=team_id,
            note=f"fraud check for stop {stop.id} (identity theft) / 停催 {stop.id} 冒名核查",
            settings=s,
            now=at,
        )
        assist_id = assist.id
    _audit(
        "stop.requested",
        stop,
        session=session,
        actor=actor.username,
        settings=s,
        immediate=r in IMMEDIATE,
        cancelled_tasks=cancelled,
        assist_id=assist_id,
    )
    return stop, cancelled, assist_id


def _invalid(stop: CaseStop, move: str) -> StopStateError:
    return StopStateError(
        f"stop {stop.id} is {stop.status}: it cannot be {move} / "
        f"停催 {stop.id} 状态为 {stop.status}，不能{move}",
        details={"stop_id": stop.id, "status": stop.status, "move": move},
    )


def _four_eyes(stop: CaseStop, actor: AppUser) -> None:
    if stop.requested_by == actor.username:
        raise StopFourEyesError(
            "the requester of a stop cannot decide it / 停催申请人不能自行审批",
            details={"stop_id": stop.id},
        )


def do_approve_stop(
    stop_id: int,
    *,
    session: Session,
    actor: AppUser,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> tuple[CaseStop, list[int]]:
    """Approve a requested stop (it takes effect now) or an immediate one awaiting approval (it stays in
    force). Returns the stop and the ids of the tasks it cancelled."""
    s = settings or get_settings()
    at = now or utcnow()
    case_id = session.scalar(select(CaseStop.case_id).where(CaseStop.id == stop_id))
    if case_id is None:
        raise _missing(stop_id)
    case = _lock_case(case_id, session=session)
    stop = _lock_stop(stop_id, session=session)
    if not (stop.status == StopStatus.REQUESTED or awaiting_approval(stop)):
        raise _invalid(stop, "approved")
    _four_eyes(stop, actor)
    expired = stop.expires_on is not None and stop.expires_on < at.astimezone(s.tz).date()
    if stop.status == StopStatus.REQUESTED and expired:
        raise StopStateError(
            f"stop {stop.id} expired on {stop.expires_on} before it was approved / "
            f"停催 {stop.id} 未获批准已过期",
            details={"stop_id": stop.id, "status": stop.status, "expires_on": str(stop.expires_on)},
        )
    stop.approved_by, stop.approved_at = actor.username, at
    cancelled: list[int] = []
    if stop.status == StopStatus.REQUESTED:
        stop.status = StopStatus.ACTIVE.value
        cancelled = _start_effect(stop, case, session=session, actor=actor.username, now=at)
    elif stop.hold_id is not None:
        hold = session.get(ContactHold, stop.hold_id)
        if hold is not None:
            hold.approved_by = actor.username
    session.flush()
    _audit(
        "stop.approved", stop, session=session, actor=actor.username, settings=s, cancelled_tasks=cancelled
    )
    return stop, cancelled


def do_reject_stop(
    stop_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> CaseStop:
    """Reject a requested stop, or an immediate one awaiting approval (its effect ends now).

    The decider goes in ``approved_by`` / ``approved_at`` (the stop's status says what they decided) and
    ``reason`` in ``lift_reason``."""
    s = settings or get_settings()
    at = now or utcnow()
    case_id = session.scalar(select(CaseStop.case_id).where(CaseStop.id == stop_id))
    if case_id is None:
        raise _missing(stop_id)
    case = _lock_case(case_id, session=session)
    stop = _lock_stop(stop_id, session=session)
    if not (stop.status == StopStatus.REQUESTED or awaiting_approval(stop)):
        raise _invalid(stop, "rejected")
    _four_eyes(stop, actor)
    was_active = stop.status == StopStatus.ACTIVE
    stop.status = StopStatus.REJECTED.value
    stop.approved_by, stop.approved_at, stop.lift_reason = actor.username, at, reason[:500] or None
    if was_active:
        stop.lifted_by, stop.lifted_at = actor.username, at
        _end_effect(stop, case, session=session, now=at)
    session.flush()
    _audit("stop.rejected", stop, session=session, actor=actor.username, settings=s, was_active=was_active)
    return stop


def do_lift_stop(
    stop_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> CaseStop:
    """Lift an active stop (复催) with a reason: its hold ends now, the case resumes unless another stop
    is still active."""
    s = settings or get_settings()
    at = now or utcnow()
    if not reason.strip():
        raise _refuse("reason", "say why collection resumes", "请填写复催原因")
    case_id = session.scalar(select(CaseStop.case_id).where(CaseStop.id == stop_id))
    if case_id is None:
        raise _missing(stop_id)
    case = _lock_case(case_id, session=session)
    stop = _lock_stop(stop_id, session=session)
    if stop.status != StopStatus.ACTIVE:
        raise _invalid(stop, "lifted")
    stop.status = StopStatus.LIFTED.value
    stop.lifted_by, stop.lifted_at, stop.lift_reason = actor.username, at, reason.strip()[:500]
    _end_effect(stop, case, session=session, now=at)
    _audit("stop.lifted", stop, session=session, actor=actor.username, settings=s)
    return stop


def do_expire_stops(
    today: dt.date,
    *,
    session: Session,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    actor: str = "system",
) -> list[CaseStop]:
    """End every active stop whose expiry date is before ``today`` (status ``expired``); returns them.

    Each hold ends at the end of the expiry day (or now, when that is already past); each case resumes
    unless another of its stops is still active. Idempotent: a second run for the same day finds nothing."""
    s = settings or get_settings()
    at = now or utcnow()
    ids = list(
        session.scalars(
            select(CaseStop.id)
            .where(
                CaseStop.status == StopStatus.ACTIVE.value,
                CaseStop.expires_on.is_not(None),
                CaseStop.expires_on < today,
            )
            .order_by(CaseStop.case_id, CaseStop.id)
        )
    )
    out = []
    for stop_id in ids:
        case_id = session.scalar(select(CaseStop.case_id).where(CaseStop.id == stop_id))
        assert case_id is not None
        case = _lock_case(case_id, session=session)
        stop = _lock_stop(stop_id, session=session)
        if stop.status != StopStatus.ACTIVE:  # moved meanwhile
            continue
        stop.status = StopStatus.EXPIRED.value
        stop.lifted_by, stop.lifted_at, stop.lift_reason = actor, at, "expired"
        end = _expiry_end(stop.expires_on, s.tz)
        _end_effect(stop, case, session=session, now=max(at, end) if end is not None else at)
        _audit(
            "stop.expired", stop, session=session, actor=actor, settings=s, expires_on=str(stop.expires_on)
        )
        out.append(stop)
    return out
