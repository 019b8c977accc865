"""Who may see which case: the one visibility rule for the API, the pages and the CLI.

``case.view_all`` sees every case; ``case.view_team`` the cases held by members of the teams one leads
or belongs to; plain ``case.view`` (collectors, field agents) only the cases one holds or has an open task
on. An agency's user (the role ``agency``, or anyone on an agency's staff register) sees exactly the cases
currently placed with their agency (:mod:`recoup.agencies`) and nothing else: not what they hold otherwise,
not a task, not an assistance request, and nothing once the placement is recalled or they leave the
register. A case one may not see does not exist for that user: 404, never 403.
"""

from __future__ import annotations

from sqlalchemy import CompoundSelect, Select, and_, exists, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from recoup.agencies.models import AgencyStaff, Placement
from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.models import Case, Team, WorkerProfile
from recoup.cases.work_models import AssistRequest, FieldVisit
from recoup.errors import NotFoundError
from recoup.strategy.models import WorkTask

#: A task that still lets its assignee see the case.
LIVE_TASK = ("open", "in_progress")


def effective_permissions(user: AppUser) -> frozenset[str]:
    """Every permission of the table ``user`` holds (``*`` and ``prefix.*`` expanded)."""
    from recoup.auth.service import PERMISSIONS

    return frozenset(p for p in PERMISSIONS if has_permission(user, p))


def team_member_ids(user: AppUser) -> CompoundSelect[int]:
    """User ids in the teams ``user`` leads or belongs to (``user`` included)."""
    led = select(Team.id).where(Team.lead_id == user.id)
    own = select(WorkerProfile.team_id).where(WorkerProfile.user_id == user.id)
    return (
        select(WorkerProfile.user_id)
        .where(or_(WorkerProfile.team_id.in_(led), WorkerProfile.team_id.in_(own)))
        .union(select(AppUser.id).where(AppUser.id == user.id))
    )


def visible_cases(user: AppUser) -> Select[Case]:
    """A query of the cases ``user`` may see (empty without ``case.view``). Besides the cases held (by
    them or their team) and those with a live task of theirs, one also sees the cases on which one is the
    assignee of an open or accepted assistance request (协催, :mod:`recoup.cases.assists`) and those of
    a field visit one is one of the two agents of (外访; not once it was rejected or cancelled)."""
    query = select(Case)
    if has_permission(user, "case.view_all"):
        return query
    if not has_permission(user, "case.view"):
        return query.where(Case.id.is_(None))
    placed = placed_with_agency_of(user)
    if "agency" in user.role_names:
        return query.where(placed)
    on_register = exists().where(AgencyStaff.user_id == user.id, AgencyStaff.active.is_(True))
    holders = team_member_ids(user) if has_permission(user, "case.view_team") else None
    tasked = exists().where(
        WorkTask.case_id == Case.id, WorkTask.assignee_id == user.id, WorkTask.status.in_(LIVE_TASK)
    )
    assisting = exists().where(
        AssistRequest.case_id == Case.id,
        AssistRequest.assignee_id == user.id,
        AssistRequest.status.in_(("open", "accepted")),
    )
    visiting = exists().where(
        FieldVisit.case_id == Case.id,
        or_(FieldVisit.agent1_id == user.id, FieldVisit.agent2_id == user.id),
        FieldVisit.status.not_in(("rejected", "cancelled")),
    )
    held = Case.holder_id.in_(holders) if holders is not None else Case.holder_id == user.id
    return query.where(
        or_(and_(on_register, placed), and_(not_(on_register), or_(held, tasked, assisting, visiting)))
    )


def placed_with_agency_of(user: AppUser) -> ColumnElement[bool]:
    """The condition "the case is currently placed (an active placement) with the agency on whose staff
    register ``user`` is"."""
    agencies = select(AgencyStaff.agency_id).where(
        AgencyStaff.user_id == user.id, AgencyStaff.active.is_(True)
    )
    return exists().where(
        Placement.case_id == Case.id, Placement.status == "active", Placement.agency_id.in_(agencies)
    )


def get_visible_case(case_id: int, user: AppUser, *, session: Session) -> Case:
    """Case ``case_id`` if ``user`` may see it; :class:`NotFoundError` (404) otherwise, whether it
    exists or not, so a collector cannot probe for other holders' cases."""
    case = session.scalars(visible_cases(user).where(Case.id == case_id)).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {case_id} / 案件 {case_id} 不存在", details={"case_id": case_id})
    return case
