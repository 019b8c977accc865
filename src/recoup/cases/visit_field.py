"""A field visit on the day: the agent's GPS check-in inside the geofence, the structured report (logged
as a contact attempt when it names the borrower's address), and the agent's route of the day (split
from :mod:`recoup.cases.visits`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recoup import money
from recoup.auth.models import AppUser
from recoup.cases.contact_log import LoggedContact, LogResult, do_log_contact
from recoup.cases.models import Case
from recoup.cases.routing import Route, Stop, check_in, plan_route
from recoup.cases.visit_rules import (
    MAX_PHOTOS,
    ON_ROUTE,
    ROUTE_SERVICE_MIN,
    ROUTE_SPEED_KMH,
    Met,
    VisitOutsideGeofenceError,
    VisitReport,
    VisitStatus,
    VisitWrongDayError,
    Willingness,
    case_workable,
    invalid,
    local_today,
    state_error,
    visit_ledger,
)
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.policy.engine import Policy
from recoup.db import utcnow
from recoup.errors import MoneyError, NotFoundError, RecoupError
from recoup.pii import PiiCipher

__all__ = ["ReportedVisit", "check_report", "do_check_in", "do_plan_day", "do_report_visit", "report_result"]


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
        raise state_error(
            visit, "check_in", "only an approved visit can be checked in", "只有已批准的外访可以签到"
        )
    when = now or utcnow()
    today = local_today(settings, when)
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
    case_workable(visit, session, "check_in")
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
    visit_ledger("visit.checked_in", visit, agent.username, settings, session, agent_id=agent.id)
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
        raise invalid(
            "report.willingness",
            "nobody was met, so nobody stated a willingness to pay",
            "未见到人，不应填写还款意愿",
        )
    if report.met != Met.NOBODY and report.willingness is None:
        raise invalid("report.willingness", "say what the person met said about paying", "请填写还款意愿")
    if len(photos) > MAX_PHOTOS:
        raise invalid(
            "photos", f"at most {MAX_PHOTOS} photos", f"照片最多 {MAX_PHOTOS} 张", count=len(photos)
        )
    for i, ref in enumerate(photos):
        if not ref.strip() or len(ref) > 300:
            raise invalid(
                f"photos[{i}]", "a photo reference is 1–300 characters", "照片引用须为 1–300 个字符"
            )
    if recording_ref is not None and not 0 < len(recording_ref) <= 300:
        raise invalid(
            "recording_ref", "a recording reference is 1–300 characters", "录音引用须为 1–300 个字符"
        )
    try:
        minor = money.parse_amount(cost, minor_digits=minor_digits)
    except MoneyError as exc:
        raise invalid("cost", f"the cost {cost!r} is not an amount: {exc.message}", "费用金额无效") from exc
    if minor < 0:
        raise invalid("cost", "the cost cannot be negative", "费用不能为负", value=cost)
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
        raise state_error(visit, "report", "a visit is reported after its check-in", "外访须先签到再提交报告")
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
    visit_ledger("visit.reported", visit, agent.username, settings, session, agent_id=agent.id, **extra)
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
