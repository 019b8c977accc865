"""``/api/v1/cases/{id}/visits`` and ``/api/v1/visits``: field visits (外访) — request, approval, GPS
check-in, the structured report, and the order of an agent's day (docs/visits.md).

A visit is visible to whoever may see its case; check-in and report also need the caller to be one of
the visit's two agents (404 otherwise). Exact address coordinates are shown to the visit's agents and its
requester; everyone else gets them rounded to two decimals (about a kilometre)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select

from recoup import money
from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.access import get_visible_case
from recoup.cases.views import Viewer, VisibleCase, Worker
from recoup.cases.visits import (
    MAX_PHOTOS,
    ROUTE_SERVICE_MIN,
    ROUTE_SPEED_KMH,
    VisitReport,
    VisitStatus,
    do_approve_visit,
    do_cancel_visit,
    do_check_in,
    do_plan_day,
    do_reject_visit,
    do_report_visit,
    do_request_visit,
    get_visit,
    visible_visits,
)
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.pii import cipher_from_settings
from recoup.web.deps import DbId, DbSession, require
from recoup.web.schemas import Page, PageNo, PerPage

router = APIRouter(tags=["visits"])

Approver = Annotated[AppUser, require("visit.approve")]


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _visible(visit_id: DbId, user: Viewer, session: DbSession) -> FieldVisit:
    """The path's visit if the caller may see its case, locked for the request's change; 404 before the
    body is read otherwise."""
    return get_visit(visit_id, user, session=session, for_update=True)


def _as_agent(visit_id: DbId, user: Viewer, session: DbSession) -> FieldVisit:
    """The path's visit if the caller may see it AND is one of its two agents; 404 otherwise."""
    return get_visit(visit_id, user, session=session, agent=True, for_update=True)


VisibleVisit = Annotated[FieldVisit, Depends(_visible)]
AgentVisit = Annotated[FieldVisit, Depends(_as_agent)]


# ------------------------------------------------------------------------------------------------ shapes


class VisitIn(BaseModel):
    planned_on: dt.date
    address_point_id: DbId | None = Field(
        default=None, description="the borrower's contact point of kind address, if the visit is to one"
    )
    address_lat: float = Field(ge=-90, le=90, description="latitude of the address (not geocoded here)")
    address_lon: float = Field(ge=-180, le=180)
    agent1: str = Field(min_length=1, max_length=64, description="username of a registered field agent")
    agent2: str = Field(min_length=1, max_length=64, description="another registered field agent")


class CheckInIn(BaseModel):
    lat: float = Field(ge=-90, le=90, description="the agent's GPS latitude")
    lon: float = Field(ge=-180, le=180, description="the agent's GPS longitude")


class ReportIn(BaseModel):
    report: VisitReport
    photos: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=MAX_PHOTOS, description="references to stored photos"
    )
    recording_ref: str | None = Field(default=None, min_length=1, max_length=300)
    cost: str = Field(default="0", max_length=40, description="decimal string in major units (元)")


class VisitOut(BaseModel):
    id: int
    case_id: DbId
    status: str
    planned_on: dt.date
    address_point_id: DbId | None
    address_lat: float
    address_lon: float
    exact_location: bool = Field(description="false: coordinates rounded to 0.01° (about 1 km)")
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None = Field(description="who approved or rejected it")
    decided_at: dt.datetime | None
    agent1: str
    agent2: str
    checkin_at: dt.datetime | None
    checkin_distance_m: float | None
    photos: list[str]
    recording_ref: str | None
    report: dict[str, Any] | None
    cost: str
    route_position: int | None
    travel_min: int | None
    attempt_id: DbId | None


class ReportOut(VisitOut):
    result: str = Field(description="the contact-log result the visit was logged with")
    policy_verdict: str | None
    policy_rules: list[str]
    attempt_skipped: str | None = Field(description="why no contact attempt was logged, if none was")


class RouteStopOut(BaseModel):
    position: int
    visit_id: DbId
    case_id: DbId
    status: str
    address_lat: float
    address_lon: float
    from_visit_id: DbId | None = Field(description="the previous stop; null: the start")
    distance_m: int
    travel_min: int


class RouteOut(BaseModel):
    date: dt.date
    solver: str = Field(description="ortools, nearest (fallback) or trivial (0 or 1 stop)")
    speed_kmh: float
    service_min_per_stop: int
    stops: list[RouteStopOut]
    total_distance_m: int
    total_travel_min: int
    total_min: int = Field(description="travel plus service time")


def _names(session: DbSession, visits: list[FieldVisit]) -> dict[int, str]:
    ids = {v.agent1_id for v in visits} | {v.agent2_id for v in visits}
    rows = session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(ids)))
    return {int(uid): str(name) for uid, name in rows}


def _out(v: FieldVisit, user: AppUser, names: dict[int, str], s: Settings) -> VisitOut:
    exact = user.id in (v.agent1_id, v.agent2_id) or user.username == v.requested_by
    return VisitOut(
        id=v.id,
        case_id=v.case_id,
        status=v.status,
        planned_on=v.planned_on,
        address_point_id=v.address_point_id,
        address_lat=v.address_lat if exact else round(v.address_lat, 2),
        address_lon=v.address_lon if exact else round(v.address_lon, 2),
        exact_location=exact,
        requested_by=v.requested_by,
        requested_at=v.requested_at,
        decided_by=v.approved_by,
        decided_at=v.approved_at,
        agent1=names.get(v.agent1_id, ""),
        agent2=names.get(v.agent2_id, ""),
        checkin_at=v.checkin_at,
        checkin_distance_m=v.checkin_distance_m,
        photos=list(v.photos or []),
        recording_ref=v.recording_ref,
        report=v.report,
        cost=money.to_decimal_string(v.cost_minor or 0, s.minor_digits),
        route_position=v.route_position,
        travel_min=v.travel_min,
        attempt_id=v.attempt_id,
    )


def _one(request: Request, v: FieldVisit, user: AppUser, session: DbSession) -> VisitOut:
    return _out(v, user, _names(session, [v]), _settings(request))


# ------------------------------------------------------------------------------------------------ routes


@router.post("/cases/{case_id}/visits", response_model=VisitOut, status_code=201)
def request_visit(
    request: Request, user: Worker, case: VisibleCase, body: VisitIn, session: DbSession
) -> VisitOut:
    """Request a field visit on a case by two registered field agents; it waits for approval."""
    visit = do_request_visit(
        case,
        session=session,
        actor=user.username,
        settings=_settings(request),
        planned_on=body.planned_on,
        address_point_id=body.address_point_id,
        address_lat=body.address_lat,
        address_lon=body.address_lon,
        agent1=body.agent1,
        agent2=body.agent2,
    )
    return _one(request, visit, user, session)


@router.get("/cases/{case_id}/visits", response_model=list[VisitOut])
def case_visits(request: Request, user: Viewer, case: VisibleCase, session: DbSession) -> list[VisitOut]:
    """A case's field visits, newest planned first."""
    rows = list(
        session.scalars(
            select(FieldVisit)
            .where(FieldVisit.case_id == case.id)
            .order_by(FieldVisit.planned_on.desc(), FieldVisit.id.desc())
        )
    )
    names, s = _names(session, rows), _settings(request)
    return [_out(v, user, names, s) for v in rows]


@router.get("/visits", response_model=Page[VisitOut])
def list_visits(
    request: Request,
    user: Worker,
    session: DbSession,
    mine: Annotated[bool, Query(description="only visits the caller makes or requested")] = True,
    status: Annotated[VisitStatus | None, Query()] = None,
    planned_on: Annotated[dt.date | None, Query()] = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> Page[VisitOut]:
    """Field visits on the cases the caller may see (with ``mine``: those they make or requested),
    newest planned first."""
    query = visible_visits(user)
    if mine:
        query = query.where(
            or_(
                FieldVisit.agent1_id == user.id,
                FieldVisit.agent2_id == user.id,
                FieldVisit.requested_by == user.username,
            )
        )
    if status is not None:
        query = query.where(FieldVisit.status == status.value)
    if planned_on is not None:
        query = query.where(FieldVisit.planned_on == planned_on)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        session.scalars(
            query.order_by(FieldVisit.planned_on.desc(), FieldVisit.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    names, s = _names(session, rows), _settings(request)
    return Page(items=[_out(v, user, names, s) for v in rows], total=total, page=page, per_page=per_page)


@router.get("/visits/route", response_model=RouteOut)
def day_route(
    user: Worker,
    session: DbSession,
    day: Annotated[dt.date, Query(alias="date", description="the day, YYYY-MM-DD")],
    start_lat: Annotated[float, Query(ge=-90, le=90, description="where the agent sets out")],
    start_lon: Annotated[float, Query(ge=-180, le=180)],
) -> RouteOut:
    """The caller's approved or checked-in visits of the day in visiting order (OR-Tools routing, nearest
    neighbour as fallback) with each leg's travel time; stores each visit's position and travel minutes."""
    visits, route = do_plan_day(user, session=session, day=day, start=(start_lat, start_lon))
    stops = [
        RouteStopOut(
            position=i,
            visit_id=v.id,
            case_id=v.case_id,
            status=v.status,
            address_lat=v.address_lat,
            address_lon=v.address_lon,
            from_visit_id=None if i == 1 else int(leg.from_id),
            distance_m=leg.distance_m,
            travel_min=leg.travel_min,
        )
        for i, (v, leg) in enumerate(zip(visits, route.legs, strict=True), start=1)
    ]
    return RouteOut(
        date=day,
        solver=route.solver_used,
        speed_kmh=ROUTE_SPEED_KMH,
        service_min_per_stop=ROUTE_SERVICE_MIN,
        stops=stops,
        total_distance_m=route.total_distance_m,
        total_travel_min=route.total_travel_min,
        total_min=route.total_min,
    )


@router.get("/visits/{visit_id}", response_model=VisitOut)
def show_visit(request: Request, user: Viewer, visit_id: DbId, session: DbSession) -> VisitOut:
    """One field visit."""
    return _one(request, get_visit(visit_id, user, session=session), user, session)


@router.post("/visits/{visit_id}/approve", response_model=VisitOut)
def approve_visit(request: Request, user: Approver, visit: VisibleVisit, session: DbSession) -> VisitOut:
    """Approve a requested visit (never one's own request)."""
    do_approve_visit(visit, session=session, actor=user.username, settings=_settings(request))
    return _one(request, visit, user, session)


@router.post("/visits/{visit_id}/reject", response_model=VisitOut)
def reject_visit(request: Request, user: Approver, visit: VisibleVisit, session: DbSession) -> VisitOut:
    """Reject a requested visit (never one's own request)."""
    do_reject_visit(visit, session=session, actor=user.username, settings=_settings(request))
    return _one(request, visit, user, session)


@router.post("/visits/{visit_id}/cancel", response_model=VisitOut)
def cancel_visit(request: Request, user: Worker, visit: VisibleVisit, session: DbSession) -> VisitOut:
    """Cancel a visit not yet reported: its requester, or someone who may approve visits."""
    do_cancel_visit(
        visit,
        session=session,
        actor=user.username,
        may_approve=has_permission(user, "visit.approve"),
        settings=_settings(request),
    )
    return _one(request, visit, user, session)


@router.post("/visits/{visit_id}/check-in", response_model=VisitOut)
def check_in_visit(
    request: Request, user: Worker, visit: AgentVisit, body: CheckInIn, session: DbSession
) -> VisitOut:
    """Check in at the address with a GPS fix, on the planned day: outside the geofence is refused
    (``visit.outside_geofence``, with the distance) and nothing is recorded."""
    do_check_in(visit, user, session=session, lat=body.lat, lon=body.lon, settings=_settings(request))
    return _one(request, visit, user, session)


@router.post("/visits/{visit_id}/report", response_model=ReportOut)
def report_visit(
    request: Request, user: Worker, visit: AgentVisit, body: ReportIn, session: DbSession
) -> ReportOut:
    """File the structured report of a checked-in visit with photos, recording and cost; the visit is
    logged as a contact attempt on its address contact point (skipped, and said so, when it has none)."""
    s = _settings(request)
    case = get_visible_case(visit.case_id, user, session=session)
    policy = Policy(
        resolve(s.jurisdiction, session=session), domains=s.link_domains, signatures=s.sms_signatures
    )
    done = do_report_visit(
        visit,
        case,
        user,
        session=session,
        report=body.report,
        photos=body.photos,
        recording_ref=body.recording_ref,
        cost=body.cost,
        policy=policy,
        settings=s,
        cipher=cipher_from_settings(s),
    )
    return ReportOut(
        **_one(request, visit, user, session).model_dump(),
        result=done.result.value,
        policy_verdict=done.logged.verdict.verdict if done.logged else None,
        policy_rules=list(done.logged.verdict.rules) if done.logged else [],
        attempt_skipped=done.attempt_skipped,
    )
