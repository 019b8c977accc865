"""Field visits' vocabulary and shared rules: statuses, the report's form, the errors, reading a visit the
user may see, and the helpers every visit use case shares (split from :mod:`recoup.cases.visits`)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.access import visible_cases
from recoup.cases.models import Case
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.service import do_append

__all__ = [
    "CANCELLABLE",
    "FIELD_AGENT",
    "MAX_PHOTOS",
    "ON_ROUTE",
    "ROUTE_SERVICE_MIN",
    "ROUTE_SPEED_KMH",
    "Met",
    "Occupancy",
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
    "case_workable",
    "get_visit",
    "invalid",
    "local_today",
    "state_error",
    "visible_visits",
    "visit_ledger",
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


def invalid(field: str, english: str, chinese: str, **details: object) -> VisitInvalidError:
    return VisitInvalidError(f"{english} / {chinese}", details={"field": field, **details})


def state_error(visit: FieldVisit, action: str, english: str, chinese: str) -> VisitStateError:
    return VisitStateError(
        f"visit {visit.id} is {visit.status}: {english} / 外访 {visit.id} 状态为 {visit.status}：{chinese}",
        details={"visit_id": visit.id, "status": visit.status, "action": action},
    )


def local_today(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(settings.tz).date()


def case_workable(visit: FieldVisit, session: Session, action: str) -> None:
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


def visit_ledger(
    kind: str, visit: FieldVisit, actor: str, settings: Settings, session: Session, **ids: int
) -> None:
    do_append(
        kind,
        {"visit_id": visit.id, "case_id": visit.case_id, "status": visit.status, **ids},
        session=session,
        actor=actor,
        settings=settings,
    )
