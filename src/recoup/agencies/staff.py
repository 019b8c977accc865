"""The staff register of the agencies (委外人员名册) and their training: each staff member is an app user
of the role ``agency`` with a worker profile of the kind ``agency`` in the agency's team; only staff with a
valid training hold placed cases. Services take ``session`` and never commit; changes are audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.agencies.errors import invalid, text
from recoup.agencies.models import (
    Agency,
    AgencyStaff,
    AgencyTraining,
    Placement,
)
from recoup.auth.models import AppUser
from recoup.cases import people
from recoup.cases.models import Team
from recoup.errors import ConflictError, NotFoundError
from recoup.ledger.service import do_append

__all__ = [
    "agency_of_user",
    "do_add_staff",
    "do_end_staff",
    "do_record_training",
    "staff_rows",
    "trained_staff_ids",
]

_MAX_TEXT: Final = 500


def _user(username: str, *, session: Session) -> AppUser:
    return people.get_user(username, session=session)


def do_add_staff(
    agency: Agency,
    username: str,
    *,
    joined_on: dt.date,
    title: str = "collector",
    certificate_no: str | None = None,
    session: Session,
    actor: str,
) -> AgencyStaff:
    """Put an app user of the role ``agency`` on the agency's staff register, with a worker profile of the
    kind ``agency`` in the agency's team (so the queues and the holder-based reports see them). A user is
    on one agency's register at a time."""
    user = _user(username, session=session)
    if "agency" not in user.role_names:
        raise invalid("username", username, "must hold the role agency", "须为 agency 角色的用户")
    existing = session.scalars(select(AgencyStaff).where(AgencyStaff.user_id == user.id)).one_or_none()
    if existing is not None and (existing.agency_id != agency.id and existing.active):
        raise ConflictError(
            f"{username} is on another agency's register / 该用户已登记在其他机构",
            details={"username": username},
        )
    team = session.get(Team, agency.team_id)
    assert team is not None
    if existing is None:
        existing = AgencyStaff(agency_id=agency.id, user_id=user.id, joined_on=joined_on, created_by=actor)
        session.add(existing)
    existing.agency_id, existing.active, existing.left_on = agency.id, True, None
    existing.joined_on = joined_on
    existing.title = text("title", title, 60)
    existing.certificate_no = text("certificate_no", certificate_no or "", 100, required=False) or None
    people.do_set_worker(
        user.username,
        session=session,
        actor=actor,
        team=team.name,
        kind="agency",
        pools=[],
        agency_code=agency.code,
        active=True,
    )
    session.flush()
    do_append(
        "agency.staff_added",
        {"agency_id": agency.id, "user_id": user.id, "staff_id": existing.id},
        session=session,
        actor=actor,
    )
    return existing


def _staff(agency: Agency, username: str, *, session: Session) -> tuple[AgencyStaff, AppUser]:
    user = _user(username, session=session)
    staff = session.scalars(
        select(AgencyStaff).where(AgencyStaff.user_id == user.id, AgencyStaff.agency_id == agency.id)
    ).one_or_none()
    if staff is None:
        raise NotFoundError(
            f"{username} is not on {agency.code}'s register / 该用户不在该机构名册中",
            details={"username": username},
        )
    return staff, user


def do_end_staff(
    agency: Agency, username: str, *, left_on: dt.date, session: Session, actor: str
) -> AgencyStaff:
    """Take a staff member off the register (their access ends at once). The placed cases they hold go to
    the agency's other trained staff; with nobody left to hold them this is refused (recall them first)."""
    staff, user = _staff(agency, username, session=session)
    held = list(
        session.scalars(select(Placement).where(Placement.holder_id == user.id, Placement.status == "active"))
    )
    others = [u for u in trained_staff_ids(agency.id, left_on, session=session) if u != user.id]
    if held and not others:
        raise ConflictError(
            f"{username} holds {len(held)} placed case(s) and nobody else at {agency.code} is trained to "
            "take them: recall them first / 该人员持有委外案件且无其他已培训人员可接手，请先召回",
            details={"username": username, "held": len(held)},
        )
    staff.active, staff.left_on = False, left_on
    people.do_set_worker(user.username, session=session, actor=actor, active=False)
    if held:
        from recoup.agencies.holding import do_move_holder

        for i, p in enumerate(held):
            do_move_holder(p, others[i % len(others)], on=left_on, session=session, actor=actor)
    session.flush()
    do_append(
        "agency.staff_left",
        {"agency_id": agency.id, "user_id": user.id, "moved": len(held)},
        session=session,
        actor=actor,
    )
    return staff


def do_record_training(
    agency: Agency,
    username: str,
    *,
    course: str,
    completed_on: dt.date,
    expires_on: dt.date | None = None,
    certificate_ref: str | None = None,
    session: Session,
    actor: str,
) -> AgencyTraining:
    """Record a training a staff member completed (compliance, PIPL, the collection rules); a staff
    member holds placed cases only while a training is valid."""
    staff, _user_row = _staff(agency, username, session=session)
    if expires_on is not None and expires_on < completed_on:
        raise invalid("expires_on", expires_on.isoformat(), "is before the completion", "有效期早于完成日")
    row = AgencyTraining(
        staff_id=staff.id,
        course=text("course", course, 200),
        completed_on=completed_on,
        expires_on=expires_on,
        certificate_ref=text("certificate_ref", certificate_ref or "", 100, required=False) or None,
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    do_append(
        "agency.training",
        {"agency_id": agency.id, "staff_id": staff.id, "training_id": row.id},
        session=session,
        actor=actor,
    )
    return row


def trained_staff_ids(agency_id: int, on: dt.date, *, session: Session) -> list[int]:
    """User ids of the agency's active staff (active users) with a training valid on ``on``, ascending."""
    rows = session.scalars(
        select(AgencyStaff.user_id)
        .join(AppUser, AppUser.id == AgencyStaff.user_id)
        .join(AgencyTraining, AgencyTraining.staff_id == AgencyStaff.id)
        .where(
            AgencyStaff.agency_id == agency_id,
            AgencyStaff.active.is_(True),
            AppUser.is_active.is_(True),
            AgencyTraining.completed_on <= on,
            (AgencyTraining.expires_on.is_(None)) | (AgencyTraining.expires_on >= on),
        )
        .distinct()
    ).all()
    return sorted(int(u) for u in rows)


def staff_rows(agency_id: int, on: dt.date, *, session: Session) -> list[dict[str, Any]]:
    """The register of one agency: username, display name, title, certificate, joined, left, active, the
    latest training (course, completed, expires) and whether it is valid on ``on``."""
    trained = set(trained_staff_ids(agency_id, on, session=session))
    out: list[dict[str, Any]] = []
    rows = session.execute(
        select(AgencyStaff, AppUser)
        .join(AppUser, AppUser.id == AgencyStaff.user_id)
        .where(AgencyStaff.agency_id == agency_id)
        .order_by(AppUser.username)
    ).all()
    for staff, user in rows:
        last = session.scalars(
            select(AgencyTraining)
            .where(AgencyTraining.staff_id == staff.id)
            .order_by(AgencyTraining.completed_on.desc(), AgencyTraining.id.desc())
            .limit(1)
        ).first()
        out.append(
            {
                "staff_id": staff.id,
                "username": user.username,
                "display_name": user.display_name,
                "title": staff.title,
                "certificate_no": staff.certificate_no,
                "joined_on": staff.joined_on,
                "left_on": staff.left_on,
                "active": staff.active,
                "course": last.course if last else None,
                "trained_on": last.completed_on if last else None,
                "training_expires": last.expires_on if last else None,
                "trained": user.id in trained,
            }
        )
    return out


def agency_of_user(user_id: int, *, session: Session) -> Agency | None:
    """The agency on whose register ``user_id`` is (active), if any."""
    return session.scalars(
        select(Agency)
        .join(AgencyStaff, AgencyStaff.agency_id == Agency.id)
        .where(AgencyStaff.user_id == user_id, AgencyStaff.active.is_(True))
    ).first()
