"""Read-only views of the agencies shared by the API, the pages and the CLI: the register with each
agency's standing, placements with their agency and holder, one agency's own view. No writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.agencies.models import Agency, Placement, PlacementBatch
from recoup.agencies.register import eligibility
from recoup.auth.models import AppUser
from recoup.cases.models import Team

__all__ = ["AgencyRow", "PlacementRow", "agency_rows", "batches", "list_placements", "placement_rows"]


@dataclass(frozen=True)
class AgencyRow:
    """An agency with its team, its problems today (empty: it may receive placements) and its load."""

    agency: Agency
    team: str
    problems: list[tuple[str, str]]
    active: int
    pending: int


def agency_rows(today: dt.date, *, session: Session) -> list[AgencyRow]:
    """Every agency by code, with its standing on ``today``."""
    teams = dict(session.execute(select(Team.id, Team.name)).all())
    load = {
        (a, s): int(n)
        for a, s, n in session.execute(
            select(Placement.agency_id, Placement.status, func.count())
            .where(Placement.status.in_(("active", "pending_notice")))
            .group_by(Placement.agency_id, Placement.status)
        )
    }
    return [
        AgencyRow(
            a,
            teams.get(a.team_id, ""),
            eligibility(a, today, session=session),
            load.get((a.id, "active"), 0),
            load.get((a.id, "pending_notice"), 0),
        )
        for a in session.scalars(select(Agency).order_by(Agency.code))
    ]


@dataclass(frozen=True)
class PlacementRow:
    placement: Placement
    agency_code: str
    agency_name: str
    holder: str | None


def list_placements(
    *,
    session: Session,
    agency_id: int | None = None,
    status: str | tuple[str, ...] | None = None,
    batch_id: int | None = None,
    awaiting_deletion: bool = False,
    limit: int = 500,
) -> list[Placement]:
    """Placements, newest first, filtered by agency, status(es), batch, or recalled and awaiting the
    agency's deletion confirmation."""
    query = select(Placement).order_by(Placement.id.desc()).limit(limit)
    if agency_id is not None:
        query = query.where(Placement.agency_id == agency_id)
    if isinstance(status, str):
        query = query.where(Placement.status == status)
    elif status is not None:
        query = query.where(Placement.status.in_(status))
    if batch_id is not None:
        query = query.where(Placement.batch_id == batch_id)
    if awaiting_deletion:
        query = query.where(
            Placement.status == "recalled",
            Placement.start_date.is_not(None),
            Placement.deletion_confirmed_at.is_(None),
        )
    return list(session.scalars(query))


def placement_rows(placements: list[Placement], *, session: Session) -> list[PlacementRow]:
    """The placements with their agency's code and name and the holder's username."""
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    ids = {p.holder_id for p in placements if p.holder_id is not None}
    names = (
        dict(session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(ids))).all())
        if ids
        else {}
    )
    return [
        PlacementRow(
            p,
            agencies[p.agency_id].code,
            agencies[p.agency_id].name,
            names.get(p.holder_id) if p.holder_id is not None else None,
        )
        for p in placements
    ]


def batches(*, session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The latest placement batches, newest first."""
    return [
        {
            "id": b.id,
            "as_of": b.as_of,
            "expires_on": b.expires_on,
            "seed": b.seed,
            "source": b.source,
            "shares": b.shares,
            "notice_required": b.notice_required,
            "counts": b.counts,
            "created_by": b.created_by,
        }
        for b in session.scalars(select(PlacementBatch).order_by(PlacementBatch.id.desc()).limit(limit))
    ]
