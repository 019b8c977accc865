"""Who holds a placed case: the agency's least-loaded trained staff member from activation, another one
when staff change, and back to the previous holder (or to allocation) at recall.

A holding of reason ``placed`` makes the case the agency user's (their queue, the payment-credit rules);
the case's open tasks follow the holder. Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from recoup.agencies.errors import PlacementStateError
from recoup.agencies.models import Placement
from recoup.agencies.staff import trained_staff_ids
from recoup.auth.models import AppUser
from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case, CaseHolding, WorkerProfile
from recoup.cases.service import do_transition
from recoup.ledger.service import do_append
from recoup.strategy.models import WorkTask

__all__ = ["activate", "do_move_holder", "end_holding", "hold", "holder_for", "return_to"]

#: Placements that keep the case with (or on its way to) the agency.


def holder_for(agency_id: int, on: dt.date, *, session: Session) -> int | None:
    """The agency's trained staff member holding the fewest active placements (lowest id on a tie)."""
    staff = trained_staff_ids(agency_id, on, session=session)
    if not staff:
        return None
    load = dict(
        session.execute(
            select(Placement.holder_id, func.count())
            .where(Placement.status == "active", Placement.holder_id.in_(staff))
            .group_by(Placement.holder_id)
        ).all()
    )
    return min(staff, key=lambda u: (load.get(u, 0), u))


def end_holding(case: Case, *, on: dt.date, why: str, session: Session) -> None:
    session.execute(
        update(CaseHolding)
        .where(CaseHolding.case_id == case.id, CaseHolding.end_date.is_(None))
        .values(end_date=on, ended_reason=why)
    )


def hold(
    case: Case, holder_id: int | None, *, on: dt.date, reason: str, rule: str, amount: int, session: Session
) -> None:
    """Make ``holder_id`` the case's holder from ``on`` (a new holding), or nobody."""
    if holder_id is not None:
        session.add(
            CaseHolding(
                case_id=case.id,
                holder_id=holder_id,
                start_date=on,
                reason=reason,
                rule=rule[:60],
                allocated_amount=amount,
            )
        )
    case.holder_id = holder_id
    case.held_since = on if holder_id is not None else None


def activate(placement: Placement, case: Case, *, on: dt.date, session: Session, actor: str) -> bool:
    """Give the case to the agency: its least-loaded trained staff member holds it from ``on``. False
    (and the placement cancelled) when the agency has nobody trained any more."""
    holder = holder_for(placement.agency_id, on, session=session)
    if holder is None:
        placement.status, placement.ended_on, placement.end_reason = "cancelled", on, "no_staff"
        return False
    placement.previous_holder_id = case.holder_id
    end_holding(case, on=on, why="placed", session=session)
    hold(
        case,
        holder,
        on=on,
        reason="placed",
        rule=f"placement {placement.id}",
        amount=placement.placed_amount,
        session=session,
    )
    case.period_end = placement.expires_on
    if case.state == CaseState.INTAKE:
        do_transition(
            case.id,
            CaseState.ALLOCATED.value,
            session=session,
            actor=actor,
            permissions=frozenset({"case.assign"}),
            reason=f"placed with an agency (placement {placement.id})",
        )
    for task in session.scalars(
        select(WorkTask).where(WorkTask.case_id == case.id, WorkTask.status == "open")
    ):
        task.assignee_id = holder
    placement.status, placement.holder_id, placement.start_date = "active", holder, on
    session.flush()
    do_append(
        "agency.placed",
        {
            "placement_id": placement.id,
            "case_id": case.id,
            "agency_id": placement.agency_id,
            "holder_id": holder,
        },
        session=session,
        actor=actor,
    )
    return True


def do_move_holder(placement: Placement, user_id: int, *, on: dt.date, session: Session, actor: str) -> None:
    """Another staff member of the same agency holds an active placement's case from ``on``."""
    if placement.status != "active":
        raise PlacementStateError(
            f"placement {placement.id} is {placement.status} / 委外状态不允许",
            details={"placement_id": placement.id},
        )
    case = session.get(Case, placement.case_id)
    assert case is not None
    end_holding(case, on=on, why="agency staff change", session=session)
    hold(
        case,
        user_id,
        on=on,
        reason="placed",
        rule=f"placement {placement.id}",
        amount=placement.placed_amount,
        session=session,
    )
    for task in session.scalars(
        select(WorkTask).where(WorkTask.case_id == case.id, WorkTask.status == "open")
    ):
        task.assignee_id = user_id
    placement.holder_id = user_id
    session.flush()


def return_to(placement: Placement, *, session: Session) -> int | None:
    """The previous holder if they are still an active collector (not an agency's user)."""
    prev = placement.previous_holder_id
    if prev is None:
        return None
    row = session.execute(
        select(WorkerProfile.kind, WorkerProfile.active, AppUser.is_active)
        .join(AppUser, AppUser.id == WorkerProfile.user_id)
        .where(WorkerProfile.user_id == prev)
    ).first()
    return prev if row is not None and row[0] != "agency" and row[1] and row[2] else None
