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

Where things are: the vocabulary, errors and reading in :mod:`~recoup.cases.visit_rules`; requesting,
approving, rejecting and cancelling in :mod:`~recoup.cases.visit_requests`; check-in, the report and the
day's route in :mod:`~recoup.cases.visit_field`. This module re-exports them.
"""

from recoup.cases.visit_field import (
    ReportedVisit,
    check_report,
    do_check_in,
    do_plan_day,
    do_report_visit,
    report_result,
)
from recoup.cases.visit_requests import (
    check_request,
    do_approve_visit,
    do_cancel_visit,
    do_reject_visit,
    do_request_visit,
)
from recoup.cases.visit_rules import (
    CANCELLABLE,
    FIELD_AGENT,
    MAX_PHOTOS,
    ON_ROUTE,
    ROUTE_SERVICE_MIN,
    ROUTE_SPEED_KMH,
    Met,
    Occupancy,
    VisitCaseStoppedError,
    VisitError,
    VisitForbiddenError,
    VisitInvalidError,
    VisitOutsideGeofenceError,
    VisitReport,
    VisitStateError,
    VisitStatus,
    VisitWrongDayError,
    Willingness,
    get_visit,
    visible_visits,
)

__all__ = [
    "CANCELLABLE",
    "FIELD_AGENT",
    "MAX_PHOTOS",
    "ON_ROUTE",
    "ROUTE_SERVICE_MIN",
    "ROUTE_SPEED_KMH",
    "Met",
    "Occupancy",
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
    "Willingness",
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
