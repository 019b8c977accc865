"""Field visits (外访): request, approval, GPS check-in inside a geofence, the structured report, and the
order of one agent's day.

A visit is requested on a case by someone working it, names two registered field agents (two distinct
active users whose worker profile is of kind ``field_agent``), and is approved or rejected by somebody
else holding ``visit.approve`` (four eyes: never the requester). On the planned day (the lender's
timezone) one of the two agents checks in with a GPS fix; the fix must lie within
``settings.visit_geofence_m`` metres of the visit address (haversine, :func:`recoup.cases.routing.check_in`),
otherwise nothing is recorded. After check-in an agent files the structured report with photos, a
recording reference and the cost; the visit then becomes a contact attempt of the contact log
(:func:`recoup.cases.contact_log.do_log_contact`, channel ``visit``) when it names the borrower's address
contact point.

Statuses (:class:`VisitStatus`): ``requested`` → ``approved`` | ``rejected``; ``approved`` →
``checked_in`` → ``reported``; ``cancelled`` from any state before ``reported``.

Approvals, rejections, cancellations, check-ins and reports go to the audit ledger with ids only (never
coordinates). Services take ``session`` as a keyword argument and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from recoup import money
from recoup.auth.models import AppUser
from recoup.cases.access import visible_cases
from recoup.cases.contact_log import LoggedContact, LogResult, do_log_contact
from recoup.cases.models import Case, WorkerProfile
from recoup.cases.routing import Route, Stop, check_in, plan_route
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.policy.engine import Policy
from recoup.contact.vocab import DestinationKind
from recoup.db import utcnow
from recoup.errors import MoneyError, NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher
from recoup.portfolio.models import ContactPoint

__all__ = [
    "MAX_PHOTOS",
    "ROUTE_SERVICE_MIN",
    "ROUTE_SPEED_KMH",
    "ReportedVisit",
    "VisitCaseStoppedError",
    "VisitError",
    "VisitForbiddenError",
    "VisitInvalidError",
    "VisitOutsideGeofenceError",
    "VisitReport",
    "VisitStateError",
    "VisitStatus",
    "VisitWrongDayError",
    "check_report",
    "check_request",
    "do_approve_visit",
    "do_cancel_visit",
    "do_check_in",
    "do_plan_day",
    "do_reject_visit",
    "do_report_visit",
    "do_request_visit",
    "get_visit",
    "report_result",
    "visible_visits",
]

#: The most photo references one report may carry.
MAX_PHOTOS: Final = 20
#: Travel speed between visits (km/h) and time spent at each address (minutes) for a day's route.
ROUTE_SPEED_KMH: Final = 30.0
ROUTE_SERVICE_MIN: Final = 30
#: The kind of worker profile a visiting agent must have.
FIELD_AGENT: Final = "field_agent"


class VisitStatus(StrEnum):
    REQUESTED = "requested"  # 待审批
    APPROVED = "approved"  # 已批准
    REJECTED = "rejected"  # 已驳回
    CHECKED_IN = "checked_in"  # 已签到
    REPORTED = "reported"  # 已提交报告
    CANCELLED = "cancelled"  # 已取消


#: Statuses a visit can still be cancelled from.
CANCELLABLE: Final = frozenset({VisitStatus.REQUESTED, VisitStatus.APPROVED, VisitStatus.CHECKED_IN})
#: Statuses whose visits belong on the agent's route of the day.
ON_ROUTE: Final = (VisitStatus.APPROVED.value, VisitStatus.CHECKED_IN.value)


class Met(StrEnum):
    """Whom the agents met at the address."""

    DEBTOR = "debtor"  # 本人
    FAMILY = "family"  # 家属
    COLLEAGUE = "colleague"  # 同事
    NOBODY = "nobody"  # 无人


class Occupancy(StrEnum):
    LIVES_HERE = "lives_here"  # 仍居住
    MOVED = "moved"  # 已搬离
    UNKNOWN = "unknown"  # 不详


class Willingness(StrEnum):
    PAY_NOW = "pay_now"  # 立即还款
    PAY_LATER = "pay_later"  # 稍后还款
    REFUSES = "refuses"  # 拒绝还款
    UNABLE = "unable"  # 无力还款


class VisitReport(BaseModel):
    """The structured visit report (外访报告), stored as JSON on the visit.

    ``willingness`` says what the person met said about paying: required when somebody was met, absent
    when nobody was."""

    model_config = ConfigDict(extra="forbid")

    met: Met
    address_valid: bool
    occupancy: Occupancy
    willingness: Willingness | None = None
    hardship: bool = False
    note: str = Field(default="", max_length=1000)


# ----------------------------------------------------------------------------------------------- errors


class VisitError(RecoupError):
    """Base of the field-visit errors."""

    code = "visit.error"
    http_status = 400
    exit_code = 65


class VisitInvalidError(VisitError):
    """A visit request or report is not acceptable; ``details["field"]`` names the field."""

    code = "visit.invalid"
    http_status = 422


class VisitStateError(VisitError):
    """The visit is not in a status that allows the action; ``details`` has the status and the action."""

    code = "visit.invalid_transition"
    http_status = 409


class VisitWrongDayError(VisitError):
    """A check-in on a day other than the planned day, or an approval after it has passed."""

    code = "visit.wrong_day"
    http_status = 409


class VisitOutsideGeofenceError(VisitError):
    """The GPS fix is farther from the address than the geofence radius; nothing is recorded."""

    code = "visit.outside_geofence"
    http_status = 422


class VisitCaseStoppedError(VisitError):
    """The visit's case is closed or collection on it is stopped (停催): no visit is approved or made."""

    code = "visit.case_stopped"
    http_status = 409


class VisitForbiddenError(VisitError):
    """The caller may see the visit but not do this to it (approve their own request, cancel another's)."""

    code = "visit.forbidden"
    http_status = 403


def _invalid(field: str, english: str, chinese: str, **details: object) -> VisitInvalidError:
    return VisitInvalidError(f"{english} / {chinese}", details={"field": field, **details})


def _state(visit: FieldVisit, action: str, english: str, chinese: str) -> VisitStateError:
    return VisitStateError(
        f"visit {visit.id} is {visit.status}: {english} / 外访 {visit.id} 状态为 {visit.status}：{chinese}",
        details={"visit_id": visit.id, "status": visit.status, "action": action},
    )


def _today(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(settings.tz).date()


def _case_workable(visit: FieldVisit, session: Session, action: str) -> None:
    """Refuse ``action`` when the visit's case is closed or stopped (停催)."""
    case = session.get(Case, visit.case_id)
    if case is not None and case.status == "open" and not case.stopped:
        return
    raise VisitCaseStoppedError(
        f"case {visit.case_id} is closed or collection on it is stopped / "
        f"案件 {visit.case_id} 已结案或已停催",
        details={"visit_id": visit.id, "case_id": visit.case_id, "action": action},
    )


# --------------------------------------------------------------------------------------------- reading


def visible_visits(user: AppUser) -> Select[FieldVisit]:
    """A query of the visits on cases ``user`` may see (the one visibility rule of
    :mod:`recoup.cases.access`)."""
    cases = visible_cases(user).with_only_columns(Case.id)
    return select(FieldVisit).where(FieldVisit.case_id.in_(cases))


def get_visit(
    visit_id: int, user: AppUser, *, session: Session, agent: bool = False, for_update: bool = False
) -> FieldVisit:
    """Visit ``visit_id`` if ``user`` may see its case (and, with ``agent``, is one of its two agents);
    :class:`NotFoundError` (404) otherwise, whether it exists or not. ``for_update`` locks the row."""
    query = visible_visits(user).where(FieldVisit.id == visit_id)
    if agent:
        query = query.where(or_(FieldVisit.agent1_id == user.id, FieldVisit.agent2_id == user.id))
    if for_update:
        query = query.with_for_update()
    visit = session.scalars(query).one_or_none()
    if visit is None:
        raise NotFoundError(
            f"no visit {visit_id} / 外访 {visit_id} 不存在"
            + (" or you are not one of its agents / 或您不是该外访人员" if agent else ""),
            details={"visit_id": visit_id},
        )
    return visit


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
        raise _invalid(
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
        raise _invalid(
            "case_id",
            "visits are planned on open cases whose collection is not stopped",
            "只能为未结案且未停催的案件安排外访",
        )
    if planned_on < today:
        raise _invalid(
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
            raise _invalid(
                name, f"{value!r} is not within [{low}, {high}]", f"{value!r} 超出 [{low}, {high}]"
            )
    point = None
    if address_point_id is not None:
        point = session.get(ContactPoint, address_point_id)
        if point is None or point.borrower_id != case.borrower_id:
            raise _invalid(
                "address_point_id", "that address is not this borrower's", "该地址不属于本案借款人"
            )
        if point.kind != DestinationKind.ADDRESS.value:
            raise _invalid(
                "address_point_id",
                f"contact point {address_point_id} is a {point.kind}, not an address",
                "该联系方式不是地址",
            )
    if agent1 == agent2:
        raise _invalid("agent2", "a visit needs two different agents", "外访须由两名不同人员执行")
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
        today=_today(settings, when),
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


def _ledger(
    kind: str, visit: FieldVisit, actor: str, settings: Settings, session: Session, **ids: int
) -> None:
    do_append(
        kind,
        {"visit_id": visit.id, "case_id": visit.case_id, "status": visit.status, **ids},
        session=session,
        actor=actor,
        settings=settings,
    )


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
        raise _state(visit, action, "only a requested visit can be decided", "只有待审批的外访可以审批")
    if visit.requested_by == actor:
        raise VisitForbiddenError(
            "the requester cannot decide their own visit request / 申请人不能审批自己的外访申请",
            details={"visit_id": visit.id, "action": action},
        )
    when = now or utcnow()
    if to == VisitStatus.APPROVED:
        _case_workable(visit, session, action)
    if to == VisitStatus.APPROVED and visit.planned_on < _today(settings, when):
        raise VisitWrongDayError(
            f"the planned day {visit.planned_on} has passed / 计划外访日期 {visit.planned_on} 已过",
            details={"visit_id": visit.id, "planned_on": visit.planned_on.isoformat()},
        )
    visit.status, visit.approved_by, visit.approved_at = to.value, actor, when
    session.flush()
    _ledger(f"visit.{to.value}", visit, actor, settings, session)
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
        raise _state(visit, "cancel", "it can no longer be cancelled", "已不能取消")
    visit.status = VisitStatus.CANCELLED.value
    session.flush()
    _ledger("visit.cancelled", visit, actor, settings, session)
    return visit


# ------------------------------------------------------------------------------------------- checking in


def do_check_in(
    visit: FieldVisit,
    agent: AppUser,
    *,
    session: Session,
    lat: float,
    lon: float,
    settings: Settings,
    now: dt.datetime | None = None,
) -> FieldVisit:
    """Check ``agent`` (one of the visit's two) in at GPS ``lat``/``lon``, on the planned day of an approved
    visit. Outside the geofence (``settings.visit_geofence_m``) raises
    :class:`VisitOutsideGeofenceError` with the distance and records nothing."""
    if agent.id not in (visit.agent1_id, visit.agent2_id):
        raise NotFoundError(
            f"no visit {visit.id} of yours / 没有您的外访 {visit.id}", details={"visit_id": visit.id}
        )
    if visit.status != VisitStatus.APPROVED:
        raise _state(
            visit, "check_in", "only an approved visit can be checked in", "只有已批准的外访可以签到"
        )
    when = now or utcnow()
    today = _today(settings, when)
    if today != visit.planned_on:
        raise VisitWrongDayError(
            f"the visit is planned for {visit.planned_on}, not {today} / 外访计划日期为 {visit.planned_on}，"
            f"不是 {today}",
            details={
                "visit_id": visit.id,
                "planned_on": visit.planned_on.isoformat(),
                "today": today.isoformat(),
            },
        )
    _case_workable(visit, session, "check_in")
    judged = check_in(visit.address_lat, visit.address_lon, lat, lon, settings.visit_geofence_m)
    distance = round(judged.distance_m, 1)
    if not judged.inside:
        radius = settings.visit_geofence_m
        raise VisitOutsideGeofenceError(
            f"the check-in is {distance:.0f} m from the address, beyond the {radius:.0f} m allowed / "
            f"签到位置距地址 {distance:.0f} 米，超出允许的 {radius:.0f} 米",
            details={"visit_id": visit.id, "distance_m": distance, "radius_m": radius},
        )
    visit.status = VisitStatus.CHECKED_IN.value
    visit.checkin_at, visit.checkin_lat, visit.checkin_lon = when, float(lat), float(lon)
    visit.checkin_distance_m = distance
    session.flush()
    _ledger("visit.checked_in", visit, agent.username, settings, session, agent_id=agent.id)
    return visit


# --------------------------------------------------------------------------------------------- reporting


#: (met, willingness) → the contact-log result; ``None`` stands for any willingness.
_RESULTS: Final[dict[tuple[Met, Willingness | None], LogResult]] = {
    (Met.DEBTOR, Willingness.REFUSES): LogResult.REFUSED,
    (Met.DEBTOR, None): LogResult.RIGHT_PARTY,
    (Met.FAMILY, None): LogResult.WRONG_PARTY,
    (Met.COLLEAGUE, None): LogResult.WRONG_PARTY,
    (Met.NOBODY, None): LogResult.NO_ANSWER,
}


def report_result(report: VisitReport) -> LogResult:
    """The contact-log result a report stands for: the debtor met → ``right_party`` (``refused`` when they
    refuse to pay), family or a colleague → ``wrong_party`` (a third party: what they say of paying does
    not change it), nobody → ``no_answer``."""
    return _RESULTS.get((report.met, report.willingness)) or _RESULTS[(report.met, None)]


@dataclass(frozen=True)
class ReportedVisit:
    """A reported visit, the contact attempt it was logged as (None when skipped) and why it was skipped."""

    visit: FieldVisit
    result: LogResult
    logged: LoggedContact | None
    attempt_skipped: str | None


def check_report(
    report: VisitReport,
    *,
    photos: Sequence[str],
    recording_ref: str | None,
    cost: str,
    minor_digits: int,
) -> int:
    """Validate a report's parts; gives the cost in minor units. :class:`VisitInvalidError` names the
    first bad field."""
    if report.met == Met.NOBODY and report.willingness is not None:
        raise _invalid(
            "report.willingness",
            "nobody was met, so nobody stated a willingness to pay",
            "未见到人，不应填写还款意愿",
        )
    if report.met != Met.NOBODY and report.willingness is None:
        raise _invalid("report.willingness", "say what the person met said about paying", "请填写还款意愿")
    if len(photos) > MAX_PHOTOS:
        raise _invalid(
            "photos", f"at most {MAX_PHOTOS} photos", f"照片最多 {MAX_PHOTOS} 张", count=len(photos)
        )
    for i, ref in enumerate(photos):
        if not ref.strip() or len(ref) > 300:
            raise _invalid(
                f"photos[{i}]", "a photo reference is 1–300 characters", "照片引用须为 1–300 个字符"
            )
    if recording_ref is not None and not 0 < len(recording_ref) <= 300:
        raise _invalid(
            "recording_ref", "a recording reference is 1–300 characters", "录音引用须为 1–300 个字符"
        )
    try:
        minor = money.parse_amount(cost, minor_digits=minor_digits)
    except MoneyError as exc:
        raise _invalid("cost", f"the cost {cost!r} is not an amount: {exc.message}", "费用金额无效") from exc
    if minor < 0:
        raise _invalid("cost", "the cost cannot be negative", "费用不能为负", value=cost)
    return minor


def do_report_visit(
    visit: FieldVisit,
    case: Case,
    agent: AppUser,
    *,
    session: Session,
    report: VisitReport,
    photos: Sequence[str],
    recording_ref: str | None,
    cost: str,
    policy: Policy,
    settings: Settings,
    cipher: PiiCipher | None = None,
) -> ReportedVisit:
    """File the report of a checked-in visit by one of its agents (``reported``), and log the visit as a
    contact attempt on its address contact point (channel ``visit``, at the check-in time), judged by the
    contact policy like every attempt. Without an address contact point no attempt is logged and
    ``attempt_skipped`` says so."""
    if agent.id not in (visit.agent1_id, visit.agent2_id):
        raise NotFoundError(
            f"no visit {visit.id} of yours / 没有您的外访 {visit.id}", details={"visit_id": visit.id}
        )
    if visit.status != VisitStatus.CHECKED_IN:
        raise _state(visit, "report", "a visit is reported after its check-in", "外访须先签到再提交报告")
    if case.id != visit.case_id:  # pragma: no cover - the caller's mistake
        raise RecoupError("the case given is not the visit's case")
    cost_minor = check_report(
        report, photos=photos, recording_ref=recording_ref, cost=cost, minor_digits=settings.minor_digits
    )
    result = report_result(report)
    logged: LoggedContact | None = None
    skipped: str | None = None
    if visit.address_point_id is None:
        skipped = (
            "the visit names no address contact point, so no contact attempt was logged / "
            "外访未关联地址联系方式，未登记催记"
        )
    else:
        logged = do_log_contact(
            case,
            session=session,
            actor=agent.username,
            channel="visit",
            result=result.value,
            contact_point_id=visit.address_point_id,
            policy=policy,
            settings=settings,
            cipher=cipher,
            at=visit.checkin_at,
            note=report.note or None,
            recording_ref=recording_ref,
        )
    visit.report = report.model_dump(mode="json")
    visit.photos = list(photos)
    visit.recording_ref = recording_ref
    visit.cost_minor = cost_minor
    visit.attempt_id = logged.attempt.id if logged is not None else None
    visit.status = VisitStatus.REPORTED.value
    session.flush()
    extra = {"attempt_id": logged.attempt.id} if logged is not None else {}
    _ledger("visit.reported", visit, agent.username, settings, session, agent_id=agent.id, **extra)
    return ReportedVisit(visit, result, logged, skipped)


# ----------------------------------------------------------------------------------------------- routing


def do_plan_day(
    agent: AppUser,
    *,
    session: Session,
    day: dt.date,
    start: tuple[float, float],
    time_limit_s: float | None = None,
) -> tuple[list[FieldVisit], Route]:
    """Order ``agent``'s approved or checked-in visits planned on ``day`` into a route from ``start``
    (OR-Tools, nearest-neighbour fallback: :func:`recoup.cases.routing.plan_route`), and write each
    visit's ``route_position`` (1-based) and ``travel_min`` (the leg that reaches it). Gives the visits in
    route order and the route, whose stop ids are the visit ids as strings."""
    visits = list(
        session.scalars(
            select(FieldVisit)
            .where(
                FieldVisit.planned_on == day,
                FieldVisit.status.in_(ON_ROUTE),
                or_(FieldVisit.agent1_id == agent.id, FieldVisit.agent2_id == agent.id),
            )
            .order_by(FieldVisit.id)
        )
    )
    stops = [Stop(str(v.id), v.address_lat, v.address_lon) for v in visits]
    limit = time_limit_s if time_limit_s is not None else min(2.0, 0.2 + 0.05 * len(stops))
    route = plan_route(
        start, stops, speed_kmh=ROUTE_SPEED_KMH, service_min=ROUTE_SERVICE_MIN, time_limit_s=limit
    )
    by_id = {str(v.id): v for v in visits}
    ordered = []
    for position, leg in enumerate(route.legs, start=1):
        v = by_id[leg.to_id]
        v.route_position, v.travel_min = position, leg.travel_min
        ordered.append(v)
    session.flush()
    return ordered, route
