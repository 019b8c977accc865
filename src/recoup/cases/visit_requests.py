"""Requesting a field visit and deciding on it: the request naming two registered field agents, approval
or rejection by someone else (four eyes), and cancellation (split from :mod:`recoup.cases.visits`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case, WorkerProfile
from recoup.cases.visit_rules import (
    CANCELLABLE,
    FIELD_AGENT,
    VisitForbiddenError,
    VisitStatus,
    VisitWrongDayError,
    case_workable,
    invalid,
    local_today,
    state_error,
    visit_ledger,
)
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.vocab import DestinationKind
from recoup.db import utcnow
from recoup.portfolio.models import ContactPoint

__all__ = ["check_request", "do_approve_visit", "do_cancel_visit", "do_reject_visit", "do_request_visit"]


# ------------------------------------------------------------------------------------------- requesting


def _agent(session: Session, username: str, field: str) -> AppUser:
    user = session.scalar(select(AppUser).where(AppUser.username == username))
    profile = session.get(WorkerProfile, user.id) if user is not None else None
    if (
        user is None
        or not user.is_active
        or profile is None
        or profile.kind != FIELD_AGENT
        or not profile.active
    ):
        raise invalid(
            field,
            f"{username!r} is not an active registered field agent",
            f"{username!r} 不是在职的登记外访人员",
            username=username,
        )
    return user


def check_request(
    case: Case,
    *,
    session: Session,
    today: dt.date,
    planned_on: dt.date,
    address_point_id: int | None,
    address_lat: float,
    address_lon: float,
    agent1: str,
    agent2: str,
) -> tuple[AppUser, AppUser, ContactPoint | None]:
    """Validate a visit request; :class:`VisitInvalidError` names the first bad field. Gives the two
    agents and the address contact point (None when the request names none)."""
    if case.status != "open" or case.stopped:
        raise invalid(
            "case_id",
            "visits are planned on open cases whose collection is not stopped",
            "只能为未结案且未停催的案件安排外访",
        )
    if planned_on < today:
        raise invalid(
            "planned_on",
            "a visit cannot be planned in the past",
            "外访日期不能早于今天",
            today=today.isoformat(),
        )
    for name, value, low, high in (
        ("address_lat", address_lat, -90, 90),
        ("address_lon", address_lon, -180, 180),
    ):
        if not low <= value <= high:
            raise invalid(name, f"{value!r} is not within [{low}, {high}]", f"{value!r} 超出 [{low}, {high}]")
    point = None
    if address_point_id is not None:
        point = session.get(ContactPoint, address_point_id)
        if point is None or point.borrower_id != case.borrower_id:
            raise invalid("address_point_id", "that address is not this borrower's", "该地址不属于本案借款人")
        if point.kind != DestinationKind.ADDRESS.value:
            raise invalid(
                "address_point_id",
                f"contact point {address_point_id} is a {point.kind}, not an address",
                "该联系方式不是地址",
            )
    if agent1 == agent2:
        raise invalid("agent2", "a visit needs two different agents", "外访须由两名不同人员执行")
    return _agent(session, agent1, "agent1"), _agent(session, agent2, "agent2"), point


def do_request_visit(
    case: Case,
    *,
    session: Session,
    actor: str,
    settings: Settings,
    planned_on: dt.date,
    address_lat: float,
    address_lon: float,
    agent1: str,
    agent2: str,
    address_point_id: int | None = None,
    now: dt.datetime | None = None,
) -> FieldVisit:
    """Request a visit on ``case`` by ``actor``; it waits for approval (``requested``)."""
    when = now or utcnow()
    a1, a2, point = check_request(
        case,
        session=session,
        today=local_today(settings, when),
        planned_on=planned_on,
        address_point_id=address_point_id,
        address_lat=address_lat,
        address_lon=address_lon,
        agent1=agent1,
        agent2=agent2,
    )
    visit = FieldVisit(
        case_id=case.id,
        address_point_id=point.id if point is not None else None,
        address_lat=float(address_lat),
        address_lon=float(address_lon),
        planned_on=planned_on,
        status=VisitStatus.REQUESTED.value,
        requested_by=actor,
        requested_at=when,
        agent1_id=a1.id,
        agent2_id=a2.id,
        photos=[],
        cost_minor=0,
    )
    session.add(visit)
    session.flush()
    return visit


# ------------------------------------------------------------------------------------------- approving


def _decide(
    visit: FieldVisit,
    *,
    session: Session,
    actor: str,
    settings: Settings,
    to: VisitStatus,
    now: dt.datetime | None,
) -> FieldVisit:
    action = "approve" if to == VisitStatus.APPROVED else "reject"
    if visit.status != VisitStatus.REQUESTED:
        raise state_error(visit, action, "only a requested visit can be decided", "只有待审批的外访可以审批")
    if visit.requested_by == actor:
        raise VisitForbiddenError(
            "the requester cannot decide their own visit request / 申请人不能审批自己的外访申请",
            details={"visit_id": visit.id, "action": action},
        )
    when = now or utcnow()
    if to == VisitStatus.APPROVED:
        case_workable(visit, session, action)
    if to == VisitStatus.APPROVED and visit.planned_on < local_today(settings, when):
        raise VisitWrongDayError(
            f"the planned day {visit.planned_on} has passed / 计划外访日期 {visit.planned_on} 已过",
            details={"visit_id": visit.id, "planned_on": visit.planned_on.isoformat()},
        )
    visit.status, visit.approved_by, visit.approved_at = to.value, actor, when
    session.flush()
    visit_ledger(f"visit.{to.value}", visit, actor, settings, session)
    return visit


def do_approve_visit(
    visit: FieldVisit, *, session: Session, actor: str, settings: Settings, now: dt.datetime | None = None
) -> FieldVisit:
    """Approve a requested visit (``actor`` holds ``visit.approve`` and is not the requester)."""
    return _decide(visit, session=session, actor=actor, settings=settings, to=VisitStatus.APPROVED, now=now)


def do_reject_visit(
    visit: FieldVisit, *, session: Session, actor: str, settings: Settings, now: dt.datetime | None = None
) -> FieldVisit:
    """Reject a requested visit (``approved_by``/``approved_at`` then record who rejected it, and when)."""
    return _decide(visit, session=session, actor=actor, settings=settings, to=VisitStatus.REJECTED, now=now)


def do_cancel_visit(
    visit: FieldVisit, *, session: Session, actor: str, may_approve: bool, settings: Settings
) -> FieldVisit:
    """Cancel a visit not yet reported: by its requester, or by someone holding ``visit.approve``."""
    if visit.requested_by != actor and not may_approve:
        raise VisitForbiddenError(
            "only the requester or an approver can cancel a visit / 只有申请人或审批人可以取消外访",
            details={"visit_id": visit.id, "action": "cancel"},
        )
    if visit.status not in CANCELLABLE:
        raise state_error(visit, "cancel", "it can no longer be cancelled", "已不能取消")
    visit.status = VisitStatus.CANCELLED.value
    session.flush()
    visit_ledger("visit.cancelled", visit, actor, settings, session)
    return visit
