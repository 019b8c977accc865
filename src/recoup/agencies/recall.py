"""Recall (召回) and the agencies' day: activating notified placements, recalling at expiry or early
(complaint, death, lawsuit, stop, closed, delisted, manual) with access revoked at once, and the
agency's recorded confirmation that it deleted the data of recalled cases.

At recall the case goes back to its previous holder if they are still an active collector, else it waits
for allocation (which never returns it to the agency); the agency's open tasks on it follow, its started
ones are cancelled. Services take ``session`` and never commit; each recall goes to the audit ledger.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.agencies.errors import PlacementStateError, invalid
from recoup.agencies.holding import activate, end_holding, hold, return_to
from recoup.agencies.models import AgencyStaff, Placement
from recoup.agencies.placement import LIVE, RECALL_REASONS
from recoup.auth.models import AppUser
from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case
from recoup.cases.work_models import CaseStop
from recoup.contact.models import OutboxMessage
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.strategy.models import WorkTask

__all__ = [
    "DayResult",
    "do_activate_notified",
    "do_agency_day",
    "do_confirm_deletion",
    "do_recall",
    "do_recall_expired",
]

#: What a stop's reason means for a placement (any other stop recalls as ``stopped``).
_STOP_RECALL: Final = {"death": "death", "litigation": "lawsuit", "complaint": "complaint"}

#: Placements that keep the case with (or on its way to) the agency.


@dataclass
class DayResult:
    """What the agency step of a day did."""

    activated: int = 0
    cancelled: int = 0
    recalled: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        rec = ", ".join(f"{n} {r}" for r, n in sorted(self.recalled.items())) or "none"
        return f"placements: {self.activated} activated, {self.cancelled} cancelled, recalled: {rec}"


def do_recall(
    placement: Placement, *, reason: str, on: dt.date, session: Session, actor: str, note: str = ""
) -> Placement:
    """End a placement (see the module docstring): a pending one is cancelled, an active one recalled —
    the agency's access ends now and the case goes back to its previous holder or to allocation."""
    if reason not in RECALL_REASONS:
        raise invalid("reason", reason, f"must be one of {', '.join(RECALL_REASONS)}", "召回原因无效")
    if placement.status not in LIVE:
        raise PlacementStateError(
            f"placement {placement.id} is {placement.status}: nothing to recall / 该委外已结束",
            details={"placement_id": placement.id, "status": placement.status},
        )
    placement.ended_on, placement.end_reason, placement.ended_by = on, reason, actor
    placement.end_note = (note or "")[:500]
    if placement.status == "pending_notice":
        placement.status = "cancelled"
        session.flush()
        do_append(
            "agency.cancelled", {"placement_id": placement.id, "reason": reason}, session=session, actor=actor
        )
        return placement
    placement.status = "recalled"
    case = session.get(Case, placement.case_id)
    assert case is not None
    agency_users = set(
        session.scalars(select(AgencyStaff.user_id).where(AgencyStaff.agency_id == placement.agency_id))
    ) | ({placement.holder_id} if placement.holder_id else set())
    back = None
    if case.holder_id in agency_users:
        back = return_to(placement, session=session)
        end_holding(case, on=on, why="recalled", session=session)
        hold(
            case,
            back,
            on=on,
            reason="returned",
            rule=f"recall of placement {placement.id}",
            amount=placement.placed_amount,
            session=session,
        )
        case.period_end = None
    now = utcnow()
    for task in session.scalars(
        select(WorkTask).where(WorkTask.case_id == case.id, WorkTask.status.in_(("open", "in_progress")))
    ):
        if task.assignee_id not in agency_users:
            continue
        if task.status == "open":
            task.assignee_id = back
        else:
            task.status, task.status_reason, task.updated_at = (
                "cancelled",
                f"recalled from the agency ({reason})",
                now,
            )
    session.flush()
    do_append(
        "agency.recalled",
        {
            "placement_id": placement.id,
            "case_id": case.id,
            "agency_id": placement.agency_id,
            "reason": reason,
            "returned_to": back,
        },
        session=session,
        actor=actor,
    )
    return placement


def do_recall_expired(on: dt.date, *, session: Session, actor: str) -> list[int]:
    """Recall every live placement whose expiry is on or before ``on``; their ids."""
    due = list(
        session.scalars(
            select(Placement)
            .where(Placement.status.in_(LIVE), Placement.expires_on <= on)
            .order_by(Placement.id)
        )
    )
    for p in due:
        do_recall(p, reason="expired", on=on, session=session, actor=actor)
    return [p.id for p in due]


def do_activate_notified(on: dt.date, *, session: Session, actor: str) -> tuple[int, int]:
    """Activate the pending placements whose notice was sent; cancel those whose notice ended without
    being sent (blocked, failed, dead, expired). (activated, cancelled)."""
    activated = cancelled = 0
    pending = list(
        session.scalars(select(Placement).where(Placement.status == "pending_notice").order_by(Placement.id))
    )
    keys = [p.notice_key for p in pending if p.notice_key]
    status = (
        dict(
            session.execute(
                select(OutboxMessage.key, OutboxMessage.status).where(OutboxMessage.key.in_(keys))
            ).all()
        )
        if keys
        else {}
    )
    for p in pending:
        st = status.get(p.notice_key or "")
        if st == "sent":
            case = session.get(Case, p.case_id)
            assert case is not None
            if case.status != "open" or case.stopped:
                p.status, p.ended_on, p.end_reason = "cancelled", on, "stopped" if case.stopped else "closed"
                cancelled += 1
            elif activate(p, case, on=on, session=session, actor=actor):
                activated += 1
            else:
                cancelled += 1
        elif st in ("blocked", "failed", "dead", "expired") or st is None:
            p.status, p.ended_on, p.end_reason = "cancelled", on, "notice"
            p.end_note = f"the notice was not sent ({st or 'missing'}) / 告知未发送"
            cancelled += 1
    session.flush()
    return activated, cancelled


def _open_complaint(case_id: int, *, session: Session) -> bool:
    """Whether an open complaint (the complaints register, when there is one) concerns the case."""
    try:
        models = importlib.import_module("recoup.complaints.models")
    except ModuleNotFoundError:
        return False
    c = models.Complaint
    found = session.scalar(
        select(c.id).where(c.case_id == case_id, c.kind == "complaint", c.status == "open").limit(1)
    )
    return found is not None


def _early_reason(case: Case, *, session: Session) -> str | None:
    """Why a placed case must come back before its expiry, if it must."""
    if case.status != "open":
        return "death" if case.close_reason == "deceased" else "closed"
    if case.state == CaseState.LEGAL:
        return "lawsuit"
    if _open_complaint(case.id, session=session):
        return "complaint"
    if case.stopped:
        stop = session.scalars(
            select(CaseStop.reason)
            .where(CaseStop.case_id == case.id, CaseStop.status == "active")
            .order_by(CaseStop.id.desc())
        ).first()
        return _STOP_RECALL.get(stop or "", "stopped")
    return None


def do_agency_day(on: dt.date, *, session: Session, actor: str = "cycle") -> DayResult:
    """The agencies' part of the day (the cycle's intake step): activate the notified placements, recall
    the expired ones, and recall early the placed cases that closed, went to legal, got an open complaint
    or were stopped."""
    out = DayResult()
    out.activated, out.cancelled = do_activate_notified(on, session=session, actor=actor)
    for _pid in do_recall_expired(on, session=session, actor=actor):
        out.recalled["expired"] = out.recalled.get("expired", 0) + 1
    for p in list(
        session.scalars(select(Placement).where(Placement.status == "active").order_by(Placement.id))
    ):
        case = session.get(Case, p.case_id)
        assert case is not None
        why = _early_reason(case, session=session)
        if why is not None:
            do_recall(p, reason=why, on=on, session=session, actor=actor, note="recalled by the daily cycle")
            out.recalled[why] = out.recalled.get(why, 0) + 1
    return out


def do_confirm_deletion(
    placements: Sequence[Placement], *, by: AppUser, ref: str, session: Session
) -> list[Placement]:
    """Record the agency's confirmation that it deleted the data of recalled placements (who, when, its
    reference). ``by`` is one of the agency's staff, or a lender's user recording it on their behalf."""
    clean = (ref or "").strip()
    if not clean or len(clean) > 200:
        raise invalid(
            "ref",
            ref,
            "the agency's reference for the deletion is required (≤ 200 characters)",
            "须填写删除确认编号",
        )
    now = utcnow()
    for p in placements:
        if p.status not in ("recalled", "cancelled") or p.start_date is None:
            raise PlacementStateError(
                f"placement {p.id} is {p.status}: only a recalled placement's data is deleted"
                " / 仅已召回的委外可确认删除",
                details={"placement_id": p.id, "status": p.status},
            )
        if p.deletion_confirmed_at is not None:
            raise PlacementStateError(
                f"placement {p.id}: deletion confirmed already / 已确认删除", details={"placement_id": p.id}
            )
        p.deletion_confirmed_at, p.deletion_confirmed_by, p.deletion_ref = now, by.username, clean
    session.flush()
    if placements:
        do_append(
            "agency.deletion_confirmed",
            {"placements": [p.id for p in placements], "agency_id": placements[0].agency_id},
            session=session,
            actor=by.username,
        )
    return list(placements)
