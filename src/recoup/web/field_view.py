"""What the field agent's pages show (:mod:`recoup.web.field`): today's visits in route order with their
arrival windows, one visit with its address, check-in, photos and report, and the ``pii.reveal`` audit
of the addresses shown.

An address is shown in full only to the agents of a visit that is approved or checked in, on its planned
day, when their role holds ``pii.unmask``; everyone else, and any other day, sees it masked. The first time
on a day an agent is shown the address of a case is a reveal of :mod:`recoup.privacy.reveal` (``pii.reveal``
in the audit ledger, reason ``field visit``; ids only, and the alert on too many reveals)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.models import Case
from recoup.cases.visit_photos import MAX_PHOTO_BYTES, visit_photos
from recoup.cases.visits import (
    MAX_PHOTOS,
    ON_ROUTE,
    ROUTE_SERVICE_MIN,
    Met,
    Occupancy,
    VisitReport,
    VisitStatus,
    Willingness,
    do_plan_day,
    report_result,
    visible_visits,
)
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.db import utcnow
from recoup.pii import mask, mask_name
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.privacy.reveal import REVEAL_KIND, do_reveal, list_events
from recoup.web.labels import N_

#: When the agents set out in the morning (the lender's timezone): the first arrival window starts after.
WORKDAY_START: Final = dt.time(9, 0)
#: The reason (code and text) of every address revealed to a visit's agents.
REVEAL_CODE: Final = "field_visit"
REVEAL_REASON: Final = "field visit"

STATUS_LABELS: Final = {
    VisitStatus.REQUESTED.value: N_("waiting for approval"),
    VisitStatus.APPROVED.value: N_("to visit"),
    VisitStatus.REJECTED.value: N_("rejected"),
    VisitStatus.CHECKED_IN.value: N_("checked in"),
    VisitStatus.REPORTED.value: N_("reported"),
    VisitStatus.CANCELLED.value: N_("cancelled"),
}
MET_LABELS: Final = [
    (Met.DEBTOR.value, N_("the borrower")),
    (Met.FAMILY.value, N_("family")),
    (Met.COLLEAGUE.value, N_("a colleague")),
    (Met.NOBODY.value, N_("nobody")),
]
WILLINGNESS_LABELS: Final = [
    (Willingness.PAY_NOW.value, N_("pays now")),
    (Willingness.PAY_LATER.value, N_("will pay later")),
    (Willingness.REFUSES.value, N_("refuses to pay")),
    (Willingness.UNABLE.value, N_("cannot pay")),
]
OCCUPANCY_LABELS: Final = [
    (Occupancy.LIVES_HERE.value, N_("lives here")),
    (Occupancy.MOVED.value, N_("moved away")),
    (Occupancy.UNKNOWN.value, N_("not known")),
]
#: The contact-log result of a report, as a visit reads it.
RESULT_LABELS: Final = {
    "right_party": N_("met the borrower"),
    "refused": N_("the borrower refused to pay"),
    "wrong_party": N_("met someone else"),
    "no_answer": N_("nobody there"),
}


def _agent_of(visit: FieldVisit, user: AppUser) -> bool:
    return user.id in (visit.agent1_id, visit.agent2_id)


def reveal_addresses(
    visits: list[FieldVisit], user: AppUser, *, session: Session, settings: Settings, today: dt.date
) -> dict[int, str]:
    """The full address of each of ``visits`` ``user`` goes to today (an agent of it, approved or checked
    in, planned today, with an address on file), by visit id. Revealed through
    :func:`recoup.privacy.reveal.do_reveal` (reason ``field visit``: the ``pii.reveal`` ledger entry and
    the alert on too many reveals) the first time on the day for each case; nothing without
    ``pii.unmask``."""
    due = [
        v
        for v in visits
        if v.planned_on == today and v.status in ON_ROUTE and v.address_point_id and _agent_of(v, user)
    ]
    if not due or not has_permission(user, "pii.unmask"):
        return {}
    midnight = dt.datetime.combine(today, dt.time(0), tzinfo=settings.tz).astimezone(dt.UTC)
    seen = {
        e.payload.get("case_id")
        for e in list_events(
            (REVEAL_KIND,), session=session, actor=user.username, since=midnight, limit=10_000
        )
        if isinstance(e.payload, dict)
        and e.payload.get("reason_code") == REVEAL_CODE
        and "address" in (e.payload.get("fields") or ())
    }
    shown: dict[int, str] = {}
    for v in due:
        if v.case_id in seen:
            value = session.scalar(
                select(ContactPoint.value).where(ContactPoint.id == v.address_point_id, ContactPoint.is_valid)
            )
        else:
            case = session.get(Case, v.case_id)
            assert case is not None
            revealed = do_reveal(
                case,
                user,
                ["address"],
                REVEAL_REASON,
                reason_code=REVEAL_CODE,
                session=session,
                settings=settings,
            )
            seen.add(v.case_id)
            value = next((a.value for a in revealed.data.addresses if a.id == v.address_point_id), None)
        if value:
            shown[v.id] = value
    return shown


def _borrowers(session: Session, case_ids: set[int]) -> dict[int, str]:
    rows = session.execute(
        select(Case.id, Borrower.name)
        .join(Borrower, Borrower.id == Case.borrower_id)
        .where(Case.id.in_(case_ids))
    )
    return {int(cid): mask_name(name) for cid, name in rows}


def _masked_addresses(session: Session, visits: list[FieldVisit]) -> dict[int, str]:
    ids = {v.address_point_id for v in visits if v.address_point_id}
    values = dict(
        session.execute(select(ContactPoint.id, ContactPoint.value).where(ContactPoint.id.in_(ids))).all()
    )
    return {v.id: mask("address", values[v.address_point_id]) for v in visits if v.address_point_id in values}


def _hhmm(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M")


def day_context(user: AppUser, *, session: Session, settings: Settings, today: dt.date) -> dict[str, Any]:
    """Today's visits of ``user`` for the day page: those still to make in route order (planned from the
    middle of the day's addresses the first time, or from where the agent asked), then those reported."""
    query = visible_visits(user).where(
        FieldVisit.planned_on == today,
        FieldVisit.status.in_((*ON_ROUTE, VisitStatus.REPORTED.value)),
        or_(FieldVisit.agent1_id == user.id, FieldVisit.agent2_id == user.id),
    )
    visits = list(session.scalars(query.order_by(FieldVisit.id)))
    to_go = [v for v in visits if v.status in ON_ROUTE]
    if any(v.route_position is None for v in to_go):
        middle = (
            sum(v.address_lat for v in to_go) / len(to_go),
            sum(v.address_lon for v in to_go) / len(to_go),
        )
        do_plan_day(user, session=session, day=today, start=middle)
    to_go.sort(key=lambda v: (v.route_position or 0, v.id))
    done = sorted(
        (v for v in visits if v.status == VisitStatus.REPORTED),
        key=lambda v: (v.checkin_at or utcnow(), v.id),
    )
    names = _borrowers(session, {v.case_id for v in visits})
    full = reveal_addresses(to_go, user, session=session, settings=settings, today=today)
    masked = _masked_addresses(session, visits)
    now = utcnow().astimezone(settings.tz)
    clock = max(dt.datetime.combine(today, WORKDAY_START, tzinfo=settings.tz), now)
    service = dt.timedelta(minutes=ROUTE_SERVICE_MIN)
    stops = []
    for position, v in enumerate(to_go, start=1):
        if v.status == VisitStatus.CHECKED_IN and v.checkin_at is not None:
            arrive = v.checkin_at.astimezone(settings.tz)
        else:
            arrive = clock + dt.timedelta(minutes=v.travel_min or 0)
        clock = max(clock, arrive + service)
        stops.append(
            _row(v, names, full, masked)
            | {"position": position, "window": (_hhmm(arrive), _hhmm(arrive + service))}
        )
    return {
        "today": today,
        "stops": stops,
        "done": [_row(v, names, full, masked) for v in done],
        "travel_min": sum(v.travel_min or 0 for v in to_go if v.status == VisitStatus.APPROVED),
        "status_labels": STATUS_LABELS,
        "result_labels": RESULT_LABELS,
        "watermark": True,
    }


def _row(
    v: FieldVisit, names: dict[int, str], full: dict[int, str], masked: dict[int, str]
) -> dict[str, Any]:
    return {
        "id": v.id,
        "case_id": v.case_id,
        "status": v.status,
        "borrower": names.get(v.case_id, ""),
        "address": full.get(v.id) or masked.get(v.id) or "",
        "address_full": v.id in full,
        "travel_min": v.travel_min,
        "checkin_at": v.checkin_at,
        "result": report_result(VisitReport.model_validate(v.report)).value if v.report else None,
    }


def visit_context(
    visit: FieldVisit, user: AppUser, *, session: Session, settings: Settings, today: dt.date
) -> dict[str, Any]:
    """One visit of ``user``'s for the visit page."""
    case = session.get(Case, visit.case_id)
    assert case is not None
    full = reveal_addresses([visit], user, session=session, settings=settings, today=today)
    masked = _masked_addresses(session, [visit])
    overdue, dpd = session.execute(
        select(
            func.coalesce(func.sum(CollectionAccount.overdue_amount), 0), func.max(CollectionAccount.dpd)
        ).where(CollectionAccount.case_id == case.id, CollectionAccount.status == "open")
    ).one()
    going = visit.planned_on == today and visit.status in ON_ROUTE and _agent_of(visit, user)
    partner_id = visit.agent2_id if visit.agent1_id == user.id else visit.agent1_id
    partner = session.get(AppUser, partner_id)
    report = VisitReport.model_validate(visit.report) if visit.report else None
    next_visit = session.scalar(
        visible_visits(user)
        .where(
            FieldVisit.planned_on == today,
            FieldVisit.status == VisitStatus.APPROVED.value,
            FieldVisit.id != visit.id,
            or_(FieldVisit.agent1_id == user.id, FieldVisit.agent2_id == user.id),
        )
        .order_by(FieldVisit.route_position, FieldVisit.id)
        .limit(1)
    )
    return {
        "visit": visit,
        "case": case,
        "borrower": _borrowers(session, {case.id}).get(case.id, ""),
        "address": full.get(visit.id) or masked.get(visit.id) or "",
        "address_full": visit.id in full,
        "may_unmask": has_permission(user, "pii.unmask"),
        # No address on file: the agents going there today get the point the visit was planned at.
        "coordinates": f"{visit.address_lat:.5f}, {visit.address_lon:.5f}" if going and not full else None,
        "overdue": int(overdue or 0),
        "dpd": dpd,
        "partner": (partner.display_name or partner.username) if partner else "",
        "today": today,
        "is_today": visit.planned_on == today,
        "can_check_in": visit.status == VisitStatus.APPROVED and visit.planned_on == today,
        "photos": [ref.rsplit("/", 1)[-1] for ref in visit_photos(visit, settings=settings)],
        "max_photos": MAX_PHOTOS,
        "max_photo_mb": MAX_PHOTO_BYTES // (1024 * 1024),
        "radius_m": f"{settings.visit_geofence_m:,.0f}",
        "report": report,
        "result": report_result(report).value if report else None,
        "cost": visit.cost_minor,
        "next_visit": next_visit.id if next_visit is not None else None,
        "status_labels": STATUS_LABELS,
        "met_labels": MET_LABELS,
        "willingness_labels": WILLINGNESS_LABELS,
        "occupancy_labels": OCCUPANCY_LABELS,
        "result_labels": RESULT_LABELS,
        "watermark": True,
    }
