"""Contact holds and consents as people manage them: listed, placed, lifted with a reason and an approver,
granted and withdrawn — each step in the audit ledger.

The holds are the contact engine's own (:class:`recoup.contact.models.ContactHold`, judged by the
``HOLD-*`` rules of the one policy engine); lifting one ends it now (``end_at``), which never rewrites
what the policy said of earlier attempts. Where a hold came from decides how it is lifted
(:func:`origin_of`):

- a **case stop** (停催): not here — lifting the stop (复催) ends its hold and resumes the case;
- an **open complaint or dispute**: four eyes — a second person approves the lift (COMPLIANCE.md: the
  handler is not the person complained about, and an open complaint stops collection; lifting that stop
  early is a decision another person checks); neither may be the person complained about;
- anything else (placed by hand, an opt-out reply): one ``complaint.handle`` holder lifts it with a
  reason and is recorded as the approver.

Closing a complaint ends its hold through :func:`do_end_hold`. Consents are
:mod:`recoup.complaints.consents`. Services take ``session`` as a
keyword argument and never commit; ledger payloads hold ids, codes and hashes only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recoup.auth.service import get_user
from recoup.cases.work_models import CaseStop
from recoup.complaints.models import Complaint, ComplaintEvent, HoldLift
from recoup.complaints.vocab import RULE_OF
from recoup.config import Settings
from recoup.contact.models import ContactHold
from recoup.contact.policy.model import HoldKind
from recoup.contact.service import do_add_hold
from recoup.contact.vocab import Channel
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.portfolio.models import Borrower

__all__ = [
    "HoldError",
    "HoldFourEyesError",
    "HoldFromStopError",
    "HoldInputError",
    "HoldStateError",
    "Origin",
    "borrower_known",
    "do_decide_lift",
    "do_end_hold",
    "do_place_hold",
    "do_request_lift",
    "get_hold",
    "is_active",
    "lifts_of",
    "list_holds",
    "origin_of",
    "pending_lift",
    "reason_hash",
]

MAX_REASON: Final = 500


class HoldError(RecoupError):
    code = "hold.error"


class HoldInputError(HoldError):
    """A value is not acceptable; ``details["field"]`` names it."""

    code = "hold.invalid"
    http_status = 422
    exit_code = 65


class HoldStateError(HoldError):
    """The move is not possible now (the hold has ended, a lift is already pending …)."""

    code = "hold.invalid_state"
    http_status = 409


class HoldFromStopError(HoldStateError):
    """A case stop's hold ends when the stop is lifted (复催), not here."""

    code = "hold.from_stop"


class HoldFourEyesError(HoldError):
    """The lift of an open complaint's hold needs a second person (or the person is complained about)."""

    code = "hold.four_eyes"
    http_status = 403
    exit_code = 77  # EX_NOPERM


@dataclass(frozen=True)
class Origin:
    """Where a hold came from: ``complaint`` (``ref`` its id, ``open`` whether it is), ``stop`` (a case
    stop), ``opt_out`` (a reply to a message) or ``manual``."""

    kind: str
    ref: int | None = None
    open: bool = False

    @property
    def four_eyes(self) -> bool:
        return self.kind == "complaint" and self.open


def _bad(field: str, english: str, chinese: str, **details: object) -> HoldInputError:
    return HoldInputError(f"{english} / {chinese}", details={"field": field, **details})


def reason_hash(reason: str) -> str:
    """What the ledger keeps of a free-text reason (it may name people): its SHA-256."""
    return hashlib.sha256(reason.encode("utf-8")).hexdigest()


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise _bad("reason", "say why", "请填写原因")
    if len(text) > MAX_REASON:
        raise _bad("reason", f"at most {MAX_REASON} characters", f"最多 {MAX_REASON} 个字符")
    return text


def is_active(hold: ContactHold, now: dt.datetime) -> bool:
    """Whether ``hold`` is in force at ``now``."""
    return hold.start_at <= now and (hold.end_at is None or hold.end_at > now)


def _ended(hold: ContactHold, now: dt.datetime) -> bool:
    return hold.end_at is not None and hold.end_at <= now


def get_hold(hold_id: int, *, session: Session) -> ContactHold:
    hold = session.get(ContactHold, hold_id)
    if hold is None:
        raise NotFoundError(f"no hold {hold_id} / 暂停 {hold_id} 不存在", details={"hold_id": hold_id})
    return hold


def _lock(hold_id: int, *, session: Session) -> ContactHold:
    hold = session.scalars(
        select(ContactHold)
        .where(ContactHold.id == hold_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if hold is None:
        raise NotFoundError(f"no hold {hold_id} / 暂停 {hold_id} 不存在", details={"hold_id": hold_id})
    return hold


def origin_of(hold: ContactHold, *, session: Session) -> Origin:
    """Where ``hold`` came from (see the module docstring)."""
    complaint = session.scalars(select(Complaint).where(Complaint.hold_id == hold.id).limit(1)).first()
    if complaint is not None:
        return Origin("complaint", complaint.id, complaint.status == "open")
    stop_id = session.scalar(select(CaseStop.id).where(CaseStop.hold_id == hold.id).limit(1))
    if stop_id is not None:
        return Origin("stop", stop_id)
    if hold.created_by == "inbound":
        return Origin("opt_out")
    return Origin("manual")


def list_holds(
    *,
    session: Session,
    now: dt.datetime,
    borrower_key: str | None = None,
    include_ended: bool = False,
    limit: int = 500,
) -> list[ContactHold]:
    """Holds, newest first: those not yet ended (in force or starting later) unless ``include_ended``."""
    q = select(ContactHold)
    if borrower_key:
        q = q.where(ContactHold.borrower_key == borrower_key)
    if not include_ended:
        q = q.where(or_(ContactHold.end_at.is_(None), ContactHold.end_at > now))
    return list(session.scalars(q.order_by(ContactHold.id.desc()).limit(limit)))


def lifts_of(hold_id: int, *, session: Session) -> list[HoldLift]:
    """A hold's lift requests and decisions, oldest first (its history with the ledger entries)."""
    return list(session.scalars(select(HoldLift).where(HoldLift.hold_id == hold_id).order_by(HoldLift.id)))


def pending_lift(hold_id: int, *, session: Session) -> HoldLift | None:
    return session.scalars(
        select(HoldLift).where(HoldLift.hold_id == hold_id, HoldLift.status == "requested").limit(1)
    ).first()


def borrower_known(borrower_key: str, *, session: Session) -> None:
    if not session.scalar(select(Borrower.id).where(Borrower.external_id == borrower_key)):
        raise _bad("borrower_key", f"no borrower {borrower_key!r}", "借款人不存在")


def do_place_hold(
    *,
    session: Session,
    actor: str,
    borrower_key: str,
    kind: HoldKind,
    reason: str,
    channels: Sequence[Channel] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    evidence: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> ContactHold:
    """Place a hold by hand (the placer is its approver): from ``start`` (default now) until ``end``
    (open-ended: the policy blocks; with an end it defers to it) on ``channels`` (all when None)."""
    at = now or utcnow()
    borrower_known(borrower_key, session=session)
    text = _reason(reason)
    if channels is not None and not channels:
        raise _bad("channels", "name at least one channel, or none for all", "请至少指定一个渠道")
    for name, value in (("start", start), ("end", end)):
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise _bad(name, "a time zone is required", "时间须带时区")
    begin = start or at
    if begin < at - dt.timedelta(minutes=1):
        raise _bad("start", "a hold cannot start in the past", "暂停开始时间不能早于当前时间")
    if end is not None and end <= max(begin, at):
        raise _bad("end", "the end must be later than the start and now", "结束时间须晚于开始时间和当前时间")
    hold = do_add_hold(
        session=session,
        borrower_key=borrower_key,
        kind=kind,
        start=begin,
        end=end,
        channels=channels,
        reason=text,
        evidence=evidence,
        approved_by=actor,
        created_by=actor,
        recorded_at=at,
    )
    do_append(
        "hold.placed",
        {"hold_id": hold.id, "kind": hold.kind, "rule": RULE_OF[hold.kind], "channels": hold.channels},
        session=session,
        actor=actor,
        settings=settings,
    )
    return hold


def _complaint_of(origin: Origin, *, session: Session) -> Complaint | None:
    return session.get(Complaint, origin.ref) if origin.kind == "complaint" and origin.ref else None


def _not_complained_about(complaint: Complaint | None, who: str, *, session: Session) -> None:
    if complaint is None or complaint.collector_id is None:
        return
    user = get_user(who, session=session)
    if user is not None and user.id == complaint.collector_id:
        raise HoldFourEyesError(
            "the person complained about cannot lift or approve lifting the complaint's hold / "
            "被投诉人不能申请或批准解除该投诉的暂停",
            details={"complaint_id": complaint.id},
        )


def _event(
    complaint: Complaint | None,
    kind: str,
    actor: str,
    at: dt.datetime,
    note: str,
    *,
    session: Session,
    **data: object,
) -> None:
    """A step on the timeline of the complaint a hold belongs to (nothing for other holds)."""
    if complaint is not None:
        session.add(
            ComplaintEvent(
                complaint_id=complaint.id, at=at, actor=actor, kind=kind, note=note[:1000], data=dict(data)
            )
        )


def _end(hold: ContactHold, now: dt.datetime) -> None:
    if hold.end_at is None or hold.end_at > now:
        hold.end_at = max(now, hold.start_at)


def do_request_lift(
    hold_id: int,
    *,
    session: Session,
    actor: str,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> HoldLift:
    """Ask to lift a hold with a reason. An open complaint's hold waits for a second person's approval
    (status ``requested``); any other hold ends now, the requester recorded as approver."""
    at = now or utcnow()
    text = _reason(reason)
    hold = _lock(hold_id, session=session)
    if _ended(hold, at):
        raise HoldStateError(
            f"hold {hold.id} has already ended / 暂停 {hold.id} 已结束",
            details={"hold_id": hold.id, "end_at": hold.end_at.isoformat() if hold.end_at else None},
        )
    origin = origin_of(hold, session=session)
    if origin.kind == "stop":
        raise HoldFromStopError(
            f"hold {hold.id} belongs to case stop {origin.ref}: lift the stop (复催) instead / "
            f"暂停 {hold.id} 属于停催 {origin.ref}，请通过复催解除",
            details={"hold_id": hold.id, "stop_id": origin.ref},
        )
    if pending_lift(hold.id, session=session) is not None:
        raise HoldStateError(
            f"a lift of hold {hold.id} already awaits approval / 暂停 {hold.id} 已有待批准的解除申请",
            details={"hold_id": hold.id},
        )
    complaint = _complaint_of(origin, session=session)
    _not_complained_about(complaint if origin.four_eyes else None, actor, session=session)
    lift = HoldLift(hold_id=hold.id, status="requested", reason=text, requested_by=actor, requested_at=at)
    session.add(lift)
    if not origin.four_eyes:
        lift.status, lift.decided_by, lift.decided_at = "approved", actor, at
        _end(hold, at)
    session.flush()
    do_append(
        "hold.lift_requested" if origin.four_eyes else "hold.lifted",
        {
            "hold_id": hold.id,
            "lift_id": lift.id,
            "kind": hold.kind,
            "origin": origin.kind,
            "origin_id": origin.ref,
            "reason_sha256": reason_hash(text),
            "approved_by": lift.decided_by,
        },
        session=session,
        actor=actor,
        settings=settings,
    )
    if origin.four_eyes:
        _event(
            complaint,
            "hold_lift_requested",
            actor,
            at,
            text,
            session=session,
            hold_id=hold.id,
            lift_id=lift.id,
        )
    return lift


def do_decide_lift(
    hold_id: int,
    *,
    session: Session,
    actor: str,
    approve: bool,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> HoldLift:
    """Approve (the hold ends now) or reject the pending lift of a hold; not the requester's own."""
    at = now or utcnow()
    hold = _lock(hold_id, session=session)
    lift = pending_lift(hold.id, session=session)
    if lift is None:
        raise HoldStateError(
            f"no lift of hold {hold.id} awaits a decision / 暂停 {hold.id} 没有待批准的解除申请",
            details={"hold_id": hold.id},
        )
    if lift.requested_by == actor:
        raise HoldFourEyesError(
            "the requester of a lift cannot decide it / 解除申请人不能自行审批",
            details={"hold_id": hold.id, "lift_id": lift.id},
        )
    origin = origin_of(hold, session=session)
    complaint = _complaint_of(origin, session=session)
    _not_complained_about(complaint, actor, session=session)
    lift.status = "approved" if approve else "rejected"
    lift.decided_by, lift.decided_at, lift.decision_note = actor, at, note.strip()[:500] or None
    if approve:
        _end(hold, at)
    session.flush()
    do_append(
        "hold.lifted" if approve else "hold.lift_rejected",
        {
            "hold_id": hold.id,
            "lift_id": lift.id,
            "kind": hold.kind,
            "origin": origin.kind,
            "origin_id": origin.ref,
            "requested_by": lift.requested_by,
        },
        session=session,
        actor=actor,
        settings=settings,
    )
    _event(
        complaint,
        "hold_lifted" if approve else "hold_lift_rejected",
        actor,
        at,
        lift.decision_note or "",
        session=session,
        hold_id=hold.id,
        lift_id=lift.id,
    )
    return lift


def do_end_hold(
    hold_id: int | None,
    *,
    session: Session,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> HoldLift | None:
    """End a hold because its cause ended (a complaint closed): recorded as a lift approved by ``actor``;
    a pending lift request is cancelled. None when the hold had already ended."""
    if hold_id is None:
        return None
    hold = _lock(hold_id, session=session)
    for pending in session.scalars(
        select(HoldLift).where(HoldLift.hold_id == hold.id, HoldLift.status == "requested")
    ):
        pending.status, pending.decided_by, pending.decided_at = "cancelled", actor, now
        pending.decision_note = reason[:500]
    if _ended(hold, now):
        session.flush()
        return None
    lift = HoldLift(
        hold_id=hold.id,
        status="approved",
        reason=reason[:500],
        requested_by=actor,
        requested_at=now,
        decided_by=actor,
        decided_at=now,
    )
    session.add(lift)
    _end(hold, now)
    session.flush()
    return lift
