"""Reading the complaints register and the rules on who may act on a complaint: the errors, the
register filtered by status, a complaint's timeline and attempts, the counts of a day, the handlers who
may take a complaint and the conflict-of-interest checks (the person or agency complained about).
The moves are :mod:`recoup.complaints.service`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Final, TypeVar

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.models import Case, WorkerProfile
from recoup.complaints import kernel
from recoup.complaints.models import Complaint, ComplaintAttempt, ComplaintEvent
from recoup.complaints.vocab import Status
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.errors import NotFoundError, RecoupError
from recoup.portfolio.models import Borrower

__all__ = [
    "STATUS_FILTERS",
    "ComplaintError",
    "ComplaintInputError",
    "ComplaintStateError",
    "ConflictOfInterestError",
    "NotHandlerError",
    "attempt_ids_of",
    "check_actor",
    "check_handler",
    "closing_reason",
    "conflict",
    "conflict_with",
    "count_complaints",
    "get_complaint",
    "handlers",
    "list_complaints",
    "register_counts",
    "register_of",
    "timeline",
]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

MAX_ATTEMPTS: Final = 50
STATUS_FILTERS: Final = ("open", "overdue", "closed", "all")
_MOVES_ZH: Final = {"assigned": "指派", "changed": "修改", "extended": "延期", "resolved": "办结"}


class ComplaintError(RecoupError):
    code = "complaint.error"


class ComplaintInputError(ComplaintError):
    """A value is not acceptable; ``details["field"]`` names it."""

    code = "complaint.invalid"
    http_status = 422
    exit_code = 65


class ComplaintStateError(ComplaintError):
    """The move is not possible in the complaint's state (closed, already extended, deadline passed)."""

    code = "complaint.invalid_state"
    http_status = 409


class ConflictOfInterestError(ComplaintError):
    """The person (or agency) complained about cannot handle the complaint or act on it."""

    code = "complaint.conflict_of_interest"
    http_status = 403
    exit_code = 77  # EX_NOPERM


class NotHandlerError(ComplaintError):
    """Only the complaint's handler resolves it."""

    code = "complaint.not_handler"
    http_status = 403
    exit_code = 77  # EX_NOPERM


def bad(field: str, english: str, chinese: str, **details: object) -> ComplaintInputError:
    return ComplaintInputError(f"{english} / {chinese}", details={"field": field, **details})


def today_of(settings: Settings, at: dt.datetime) -> dt.date:
    return at.astimezone(settings.tz).date()


def text_of(
    value: str | None, field: str, limit: int, *, required: bool = False, name: tuple[str, str] | None = None
) -> str | None:
    """``value`` stripped (None when empty); ``name`` (English, Chinese) says what is missing."""
    text = (value or "").strip()
    if required and not text:
        en, zh = name or (field, field)
        raise bad(field, f"{en} is required", f"请填写{zh}")
    if len(text) > limit:
        raise bad(field, f"{field}: at most {limit} characters", f"{field} 最多 {limit} 个字符")
    return text or None


def enum_of(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise bad(
            field, f"unknown {field} {value!r}", f"未知的 {field}", allowed=[k.value for k in kind]
        ) from None


# --- reading ----------------------------------------------------------------------------------


def get_complaint(complaint_id: int, *, session: Session) -> Complaint:
    row = session.get(Complaint, complaint_id)
    if row is None:
        raise NotFoundError(
            f"no complaint {complaint_id} / 投诉 {complaint_id} 不存在",
            details={"complaint_id": complaint_id},
        )
    return row


def lock(complaint_id: int, *, session: Session) -> Complaint:
    row = session.scalars(
        select(Complaint)
        .where(Complaint.id == complaint_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise NotFoundError(
            f"no complaint {complaint_id} / 投诉 {complaint_id} 不存在",
            details={"complaint_id": complaint_id},
        )
    return row


def _filtered(q: Select[T], status: str, today: dt.date) -> Select[T]:
    if status not in STATUS_FILTERS:
        raise bad("status", f"unknown status {status!r}", "未知状态", allowed=list(STATUS_FILTERS))
    if status in ("open", "overdue"):
        q = q.where(Complaint.status == Status.OPEN.value)
    elif status == "closed":
        q = q.where(Complaint.status == Status.CLOSED.value)
    if status == "overdue":
        q = q.where(Complaint.deadline < today)
    return q


def list_complaints(
    *,
    session: Session,
    today: dt.date,
    status: str = "open",
    borrower_key: str | None = None,
    case_id: int | None = None,
    limit: int = 500,
) -> list[Complaint]:
    """The register filtered by ``status`` (open / overdue / closed / all), oldest deadline first
    (closed ones newest first)."""
    q = _filtered(select(Complaint), status, today)
    if borrower_key:
        q = q.where(Complaint.borrower_key == borrower_key)
    if case_id is not None:
        q = q.where(Complaint.case_id == case_id)
    order = (Complaint.deadline, Complaint.id) if status != "closed" else (Complaint.id.desc(),)
    return list(session.scalars(q.order_by(*order).limit(limit)))


def count_complaints(*, session: Session, today: dt.date, status: str) -> int:
    """How many complaints :func:`list_complaints` would list for ``status``, without a limit."""
    return session.scalar(_filtered(select(func.count()).select_from(Complaint), status, today)) or 0


def timeline(complaint_id: int, *, session: Session) -> list[ComplaintEvent]:
    return list(
        session.scalars(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(ComplaintEvent.at, ComplaintEvent.id)
        )
    )


def closing_reason(complaint: Complaint) -> str:
    """The reason recorded on the lift that ends a closed complaint's hold."""
    return f"{complaint.kind} {complaint.id} closed: {complaint.outcome}"


def attempt_ids_of(complaint_id: int, *, session: Session) -> list[int]:
    return list(
        session.scalars(
            select(ComplaintAttempt.attempt_id)
            .where(ComplaintAttempt.complaint_id == complaint_id)
            .order_by(ComplaintAttempt.attempt_id)
        )
    )


def register_of(*, session: Session, since: dt.date | None = None) -> pl.DataFrame:
    """The register as the kernel reads it (:data:`recoup.complaints.kernel.REGISTER_SCHEMA`): every
    complaint still open, and those closed on or after ``since``."""
    q = select(Complaint.id, Complaint.received_on, Complaint.extended_on, Complaint.closed_on)
    if since is not None:
        q = q.where((Complaint.closed_on.is_(None)) | (Complaint.closed_on >= since))
    rows = session.execute(q).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=kernel.REGISTER_SCHEMA, orient="row")


def register_counts(*, session: Session, day: dt.date) -> dict[str, int]:
    """Complaints received on ``day``, open at its end and overdue the next morning
    (:func:`recoup.complaints.kernel.day_counts`)."""
    return kernel.day_counts(register_of(session=session, since=day), day=day)


def handlers(*, session: Session, complaint: Complaint | None = None) -> list[AppUser]:
    """Active users who may handle complaints (``complaint.handle``), without the person complained
    about (or anyone of the agency complained about) when ``complaint`` is given."""
    users = [
        u
        for u in session.scalars(select(AppUser).order_by(AppUser.username))
        if has_permission(u, "complaint.handle")
    ]
    if complaint is None:
        return users
    out = []
    for u in users:
        try:
            check_handler(complaint, u, session=session)
        except ComplaintError:
            continue
        out.append(u)
    return out


# --- checks -----------------------------------------------------------------------------------


def _agency_of(user_id: int, *, session: Session) -> str | None:
    return session.scalar(select(WorkerProfile.agency_code).where(WorkerProfile.user_id == user_id))


def conflict_with(
    collector_id: int | None, agency: str | None, user: AppUser, *, session: Session
) -> str | None:
    """Why ``user`` may not act on a complaint about ``collector_id`` / ``agency`` (None: they may)."""
    if collector_id is not None and user.id == collector_id:
        return "complained_about"
    if agency and _agency_of(user.id, session=session) == agency:
        return "agency_complained_about"
    return None


def conflict(complaint: Complaint, user: AppUser, *, session: Session) -> str | None:
    """Why ``user`` is in conflict with ``complaint`` (None when they are not)."""
    return conflict_with(complaint.collector_id, complaint.agency, user, session=session)


def check_actor(complaint: Complaint, actor: AppUser, *, session: Session) -> None:
    why = conflict(complaint, actor, session=session)
    if why is not None:
        raise ConflictOfInterestError(
            "you are the person (or of the agency) complained about: another person handles this "
            "complaint / 您是被投诉人（或属于被投诉机构），须由他人处理",
            details={"complaint_id": complaint.id, "reason": why},
        )


def check_handler(complaint: Complaint, handler: AppUser, *, session: Session) -> None:
    """``handler`` may take ``complaint``: not in conflict with it, and holding ``complaint.handle``."""
    why = conflict(complaint, handler, session=session)
    if why is not None:
        raise ConflictOfInterestError(
            f"{handler.username} is the person (or of the agency) complained about and cannot handle "
            f"the complaint / {handler.username} 是被投诉人（或属于被投诉机构），不能处理该投诉",
            details={"complaint_id": complaint.id, "handler_id": handler.id, "reason": why},
        )
    if not has_permission(handler, "complaint.handle"):
        raise bad(
            "handler_id",
            f"{handler.username} may not handle complaints (complaint.handle)",
            f"{handler.username} 没有处理投诉的权限",
            handler_id=handler.id,
        )


def check_open(complaint: Complaint, move: str) -> None:
    if complaint.status != Status.OPEN.value:
        raise ComplaintStateError(
            f"complaint {complaint.id} is closed: it cannot be {move} / "
            f"投诉 {complaint.id} 已办结，不能{_MOVES_ZH.get(move, move)}",
            details={"complaint_id": complaint.id, "status": complaint.status, "move": move},
        )


def user_of(user_id: int, field: str, *, session: Session) -> AppUser:
    user = session.get(AppUser, user_id)
    if user is None:
        raise bad(field, f"no user {user_id}", f"用户 {user_id} 不存在", **{field: user_id})
    return user


def check_attempts(borrower_key: str, ids: Sequence[int], *, session: Session) -> list[int]:
    wanted = sorted(set(ids))
    if len(wanted) > MAX_ATTEMPTS:
        raise bad("attempt_ids", f"at most {MAX_ATTEMPTS} attempts", f"最多关联 {MAX_ATTEMPTS} 次联系")
    if not wanted:
        return []
    found = dict(
        session.execute(
            select(ContactAttempt.id, ContactAttempt.borrower_key).where(ContactAttempt.id.in_(wanted))
        ).all()
    )
    wrong = [i for i in wanted if found.get(i) != borrower_key]
    if wrong:
        raise bad(
            "attempt_ids",
            f"attempts {wrong} are not contacts with this borrower",
            "关联的联系记录不属于该借款人",
            attempt_ids=wrong,
        )
    return wanted


def where_of(borrower_key: str | None, case_id: int | None, *, session: Session) -> tuple[str, int | None]:
    """The complaint's borrower and case: the case's borrower, or the borrower's newest open case."""
    if case_id is not None:
        case = session.get(Case, case_id)
        if case is None:
            raise bad("case_id", f"no case {case_id}", f"案件 {case_id} 不存在", case_id=case_id)
        key = session.scalar(select(Borrower.external_id).where(Borrower.id == case.borrower_id))
        assert key is not None
        if borrower_key and borrower_key != key:
            raise bad("borrower_key", "the borrower is not the case's", "借款人与案件不一致")
        return key, case.id
    if not borrower_key:
        raise bad("borrower_key", "name the borrower or the case", "请指定借款人或案件")
    borrower_id = session.scalar(select(Borrower.id).where(Borrower.external_id == borrower_key))
    if borrower_id is None:
        raise bad("borrower_key", f"no borrower {borrower_key!r}", "借款人不存在")
    found = session.scalar(
        select(Case.id)
        .where(Case.borrower_id == borrower_id, Case.status == "open")
        .order_by(Case.id.desc())
        .limit(1)
    )
    return borrower_key, found
