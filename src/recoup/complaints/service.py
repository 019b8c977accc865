"""The complaints register (投诉登记): open, assign, extend, link attempts, resolve — and the contact hold
an open complaint (``HOLD-STOP``) or dispute (``HOLD-DISPUTE``) keeps on the borrower until it is closed.

Rules (COMPLIANCE.md "Complaints"; docs/complaints.md):

- a complaint records its source (a regulator's referral carries the regulator's reference), category,
  borrower (and case), the attempts it concerns, the collector and agency complained about, and the day
  it was received; its deadline is :func:`recoup.complaints.kernel.deadline` (15 calendar days, extended
  once to 30 with a reason, only before the first deadline passes);
- the **handler is never the person complained about** (nor someone of the agency complained about):
  :class:`ConflictOfInterestError`; the person complained about takes no step on the complaint at all;
- opening places the hold on every channel, open-ended (so the policy *blocks*, never defers); closing
  with an outcome, a root cause and a resolution ends it now (:func:`recoup.complaints.holds.do_end_hold`);
- a complaint or dispute logged as a call's result opens an entry through :func:`do_open_from_contact`
  (source ``in_call``; the call linked), or joins the borrower's open entry of that kind.

Every step is on the complaint's timeline (:class:`ComplaintEvent`) and in the audit ledger (ids and
codes; free text only as a hash). Services take ``session`` as a keyword argument and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case
from recoup.complaints import kernel
from recoup.complaints.holds import do_end_hold, reason_hash
from recoup.complaints.models import Complaint, ComplaintAttempt, ComplaintEvent
from recoup.complaints.register import (
    ComplaintStateError,
    ConflictOfInterestError,
    NotHandlerError,
    attempt_ids_of,
    bad,
    check_actor,
    check_attempts,
    check_handler,
    check_open,
    closing_reason,
    conflict_with,
    enum_of,
    lock,
    text_of,
    today_of,
    user_of,
    where_of,
)
from recoup.complaints.vocab import (
    HOLD_OF,
    REGULATOR,
    RULE_OF,
    Category,
    ComplaintKind,
    Outcome,
    RootCause,
    Source,
    Status,
)
from recoup.config import Settings, get_settings
from recoup.contact.models import ContactAttempt
from recoup.contact.service import do_add_hold
from recoup.db import utcnow
from recoup.ledger.service import do_append

__all__ = [
    "do_assign",
    "do_extend",
    "do_link_attempts",
    "do_open_complaint",
    "do_open_from_contact",
    "do_resolve",
    "do_set_subject",
]


def _event(
    complaint: Complaint,
    kind: str,
    actor: str,
    at: dt.datetime,
    *,
    session: Session,
    note: str = "",
    **data: object,
) -> None:
    session.add(
        ComplaintEvent(complaint_id=complaint.id, at=at, actor=actor, kind=kind, note=note[:1000], data=data)
    )


def _audit(
    kind: str, complaint: Complaint, *, session: Session, actor: str, settings: Settings, **extra: object
) -> None:
    do_append(
        kind,
        {
            "complaint_id": complaint.id,
            "kind": complaint.kind,
            "case_id": complaint.case_id,
            "hold_id": complaint.hold_id,
            "status": complaint.status,
            "deadline": complaint.deadline.isoformat(),
            **extra,
        },
        session=session,
        actor=actor,
        settings=settings,
    )


# --- moves ------------------------------------------------------------------------------------


def do_open_complaint(
    *,
    session: Session,
    actor: str,
    source: str,
    category: str,
    kind: str = ComplaintKind.COMPLAINT.value,
    borrower_key: str | None = None,
    case_id: int | None = None,
    reference: str | None = None,
    summary: str = "",
    received_on: dt.date | None = None,
    collector_id: int | None = None,
    agency: str | None = None,
    attempt_ids: Sequence[int] = (),
    handler_id: int | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """Register a complaint (or dispute) and place its hold on the borrower, every channel, now."""
    s = settings or get_settings()
    at = now or utcnow()
    today = today_of(s, at)
    k = enum_of(ComplaintKind, kind, "kind")
    src = enum_of(Source, source, "source")
    cat = enum_of(Category, category, "category")
    ref = text_of(reference, "reference", 100)
    if ref is None and src in REGULATOR:
        raise bad(
            "reference",
            f"a {src.value.removeprefix('regulator_')} referral carries the regulator's reference number",
            f"{src.value.removeprefix('regulator_')} 转办须填写转办编号",
        )
    key, case = where_of(borrower_key, case_id, session=session)
    received = received_on or today
    if received > today:
        raise bad("received_on", "a complaint cannot be received in the future", "收到日期不能晚于今天")
    if collector_id is not None:
        user_of(collector_id, "collector_id", session=session)
    row = Complaint(
        kind=k.value,
        source=src.value,
        reference=ref,
        category=cat.value,
        borrower_key=key,
        case_id=case,
        summary=(summary or "").strip()[:4000],
        collector_id=collector_id,
        agency=text_of(agency, "agency", 64),
        received_on=received,
        deadline=kernel.deadline(received),
        status=Status.OPEN.value,
        created_by=actor,
        created_at=at,
    )
    links = check_attempts(key, attempt_ids, session=session)
    if handler_id is not None:
        check_handler(row, user_of(handler_id, "handler_id", session=session), session=session)
        row.handler_id = handler_id
    session.add(row)
    session.flush()
    hold = do_add_hold(
        session=session,
        borrower_key=key,
        kind=HOLD_OF[k],
        start=at,
        end=None,  # open-ended: the policy blocks until the complaint is closed (an end would defer)
        reason=f"{k.value} {row.id}: {cat.value}",
        evidence=ref or f"complaint:{row.id}",
        approved_by=actor,
        created_by=actor,
        recorded_at=at,
    )
    row.hold_id = hold.id
    for attempt_id in links:
        session.add(
            ComplaintAttempt(complaint_id=row.id, attempt_id=attempt_id, linked_by=actor, linked_at=at)
        )
    _event(
        row,
        "opened",
        actor,
        at,
        session=session,
        source=src.value,
        category=cat.value,
        hold=RULE_OF[hold.kind],
    )
    if handler_id is not None:
        _event(row, "assigned", actor, at, session=session, handler_id=handler_id)
    session.flush()
    _audit(
        "complaint.opened",
        row,
        session=session,
        actor=actor,
        settings=s,
        source=src.value,
        category=cat.value,
        received_on=received.isoformat(),
        collector_id=collector_id,
        agency=row.agency,
        attempt_ids=links,
        handler_id=handler_id,
        rule=RULE_OF[hold.kind],
    )
    return row


def do_open_from_contact(
    case: Case,
    attempt: ContactAttempt,
    *,
    session: Session,
    actor: str,
    kind: ComplaintKind,
    note: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """A complaint or dispute the borrower raised in a logged call: the borrower's open entry of that kind
    gets the call linked, else a new entry opens (source ``in_call``, category ``other`` until the handler
    sets it) with its hold."""
    s = settings or get_settings()
    at = now or utcnow()
    existing = session.scalars(
        select(Complaint)
        .where(
            Complaint.borrower_key == attempt.borrower_key,
            Complaint.kind == kind.value,
            Complaint.status == Status.OPEN.value,
        )
        .order_by(Complaint.id)
        .limit(1)
    ).first()
    if existing is not None:
        do_link_attempts(existing.id, [attempt.id], session=session, actor=actor, settings=s, now=at)
        return existing
    return do_open_complaint(
        session=session,
        actor=actor,
        kind=kind.value,
        source=Source.IN_CALL.value,
        category=Category.AMOUNT.value if kind is ComplaintKind.DISPUTE else Category.OTHER.value,
        borrower_key=attempt.borrower_key,
        case_id=case.id,
        summary=note or "",
        received_on=min(attempt.at.astimezone(s.tz).date(), today_of(s, at)),
        attempt_ids=[attempt.id],
        settings=s,
        now=at,
    )


def do_link_attempts(
    complaint_id: int,
    attempt_ids: Sequence[int],
    *,
    session: Session,
    actor: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Link contact attempts with the borrower to the complaint; returns the ids newly linked."""
    at = now or utcnow()
    row = lock(complaint_id, session=session)
    wanted = check_attempts(row.borrower_key, attempt_ids, session=session)
    have = set(attempt_ids_of(row.id, session=session))
    new = [i for i in wanted if i not in have]
    for attempt_id in new:
        session.add(
            ComplaintAttempt(complaint_id=row.id, attempt_id=attempt_id, linked_by=actor, linked_at=at)
        )
    if new:
        _event(row, "attempts_linked", actor, at, session=session, attempt_ids=new)
        session.flush()
        _audit(
            "complaint.attempts_linked",
            row,
            session=session,
            actor=actor,
            settings=settings or get_settings(),
            attempt_ids=new,
        )
    return new


def do_assign(
    complaint_id: int,
    *,
    session: Session,
    actor: AppUser,
    handler_id: int,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """Give the complaint a handler: a ``complaint.handle`` holder who is not the person (nor of the
    agency) complained about."""
    at = now or utcnow()
    row = lock(complaint_id, session=session)
    check_open(row, "assigned")
    check_actor(row, actor, session=session)
    handler = user_of(handler_id, "handler_id", session=session)
    check_handler(row, handler, session=session)
    previous, row.handler_id = row.handler_id, handler.id
    _event(row, "assigned", actor.username, at, session=session, handler_id=handler.id, previous=previous)
    session.flush()
    _audit(
        "complaint.assigned",
        row,
        session=session,
        actor=actor.username,
        settings=settings or get_settings(),
        handler_id=handler.id,
        previous=previous,
    )
    return row


def do_set_subject(
    complaint_id: int,
    *,
    session: Session,
    actor: AppUser,
    collector_id: int | None,
    agency: str | None,
    category: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """Say who (and which agency) the complaint is about, and its category; the handler cannot become
    the person complained about."""
    at = now or utcnow()
    row = lock(complaint_id, session=session)
    check_open(row, "changed")
    check_actor(row, actor, session=session)
    if collector_id is not None:
        user_of(collector_id, "collector_id", session=session)
    code = text_of(agency, "agency", 64)
    cat = enum_of(Category, category, "category").value if category is not None else row.category
    handler = session.get(AppUser, row.handler_id) if row.handler_id is not None else None
    if handler is not None and conflict_with(collector_id, code, handler, session=session):
        raise ConflictOfInterestError(
            f"{handler.username} handles this complaint and cannot be the one complained about: "
            f"assign another handler first / {handler.username} 是本投诉的处理人，请先更换处理人",
            details={"complaint_id": row.id, "handler_id": handler.id},
        )
    row.collector_id, row.agency, row.category = collector_id, code, cat
    _event(
        row,
        "subject",
        actor.username,
        at,
        session=session,
        collector_id=collector_id,
        agency=row.agency,
        category=row.category,
    )
    session.flush()
    _audit(
        "complaint.subject",
        row,
        session=session,
        actor=actor.username,
        settings=settings or get_settings(),
        collector_id=collector_id,
        agency=row.agency,
        category=row.category,
    )
    return row


def do_extend(
    complaint_id: int,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """Extend the deadline once, from 15 to 30 days, with a reason, before the first deadline passes."""
    s = settings or get_settings()
    at = now or utcnow()
    today = today_of(s, at)
    text = text_of(reason, "reason", 500, required=True, name=("the reason for the extension", "延期原因"))
    assert text is not None
    row = lock(complaint_id, session=session)
    check_open(row, "extended")
    check_actor(row, actor, session=session)
    if row.extended_on is not None:
        raise ComplaintStateError(
            f"complaint {row.id} was already extended on {row.extended_on}: once only / "
            f"投诉 {row.id} 已于 {row.extended_on} 延期，只能延期一次",
            details={"complaint_id": row.id, "extended_on": row.extended_on.isoformat()},
        )
    if not kernel.extension_allowed(row.received_on, today):
        raise ComplaintStateError(
            f"the deadline {row.deadline} has passed: a late complaint cannot be extended / "
            f"处理期限 {row.deadline} 已过，不能延期",
            details={"complaint_id": row.id, "deadline": row.deadline.isoformat()},
        )
    before = row.deadline
    row.extended_on, row.extension_reason, row.extended_by = today, text, actor.username
    row.deadline = kernel.deadline(row.received_on, extended=True)
    _event(
        row,
        "extended",
        actor.username,
        at,
        session=session,
        note=text,
        before=before.isoformat(),
        after=row.deadline.isoformat(),
    )
    session.flush()
    _audit(
        "complaint.extended",
        row,
        session=session,
        actor=actor.username,
        settings=s,
        before=before.isoformat(),
        reason_sha256=reason_hash(text),
    )
    return row


def do_resolve(
    complaint_id: int,
    *,
    session: Session,
    actor: AppUser,
    outcome: str,
    root_cause: str,
    resolution: str,
    root_cause_note: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """Close the complaint with the outcome told to the complainant, its root cause and the resolution;
    by its handler (the resolver becomes the handler when there is none). Its hold ends now."""
    s = settings or get_settings()
    at = now or utcnow()
    out = enum_of(Outcome, outcome, "outcome")
    cause = enum_of(RootCause, root_cause, "root_cause")
    text = text_of(resolution, "resolution", 4000, required=True, name=("what was done and told", "处理结果"))
    assert text is not None
    note = text_of(root_cause_note, "root_cause_note", 1000)
    row = lock(complaint_id, session=session)
    check_open(row, "resolved")
    check_actor(row, actor, session=session)
    if row.handler_id is None:
        check_handler(row, actor, session=session)
        row.handler_id = actor.id
    elif row.handler_id != actor.id:
        raise NotHandlerError(
            "only the complaint's handler resolves it (assign yourself first) / 只有处理人可以办结投诉",
            details={"complaint_id": row.id, "handler_id": row.handler_id},
        )
    row.status, row.outcome, row.root_cause = Status.CLOSED.value, out.value, cause.value
    row.resolution, row.root_cause_note = text, note
    row.closed_on, row.closed_at, row.closed_by = today_of(s, at), at, actor.username
    lift = do_end_hold(
        row.hold_id,
        session=session,
        actor=actor.username,
        reason=closing_reason(row),
        now=at,
    )
    late = row.closed_on > row.deadline
    _event(
        row,
        "resolved",
        actor.username,
        at,
        session=session,
        note=text,
        outcome=out.value,
        root_cause=cause.value,
        late=late,
    )
    session.flush()
    _audit(
        "complaint.resolved",
        row,
        session=session,
        actor=actor.username,
        settings=s,
        outcome=out.value,
        root_cause=cause.value,
        closed_on=row.closed_on.isoformat(),
        late=late,
        hold_lift_id=lift.id if lift else None,
    )
    return row
