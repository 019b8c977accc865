"""The contact log (催记): one call or visit logged by a person, on the contact engine's attempts table.

The attempt is judged by the contact policy at the time it was made, like every attempt; it is recorded
whatever the verdict (it happened), and a blocked one also goes to the audit ledger for compliance.
A ``complaint`` or ``dispute`` result opens an entry in the complaints register (or joins the borrower's
open one), whose contact hold (``HOLD-STOP`` / ``HOLD-DISPUTE``) then blocks further contact until it is
closed (:func:`recoup.complaints.service.do_open_from_contact`). Results update the contact details: a
number is marked invalid after
:data:`INVALID_AFTER` wrong-number or unreachable results, and a stated preferred channel and hour are
stored on the borrower for the strategy. Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.cases.models import Case
from recoup.cases.skiptrace import do_mark_lost, own_valid_phones
from recoup.complaints.service import do_open_from_contact
from recoup.complaints.vocab import ComplaintKind
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.service import check_attempt, do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Disposition, Party
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask

#: After this many wrong-number / unreachable results a contact point is marked invalid.
INVALID_AFTER: Final = 2


class LogResult(StrEnum):
    """What a collector logs after a call or a visit."""

    RIGHT_PARTY = "right_party"  # 本人接通
    WRONG_PARTY = "wrong_party"  # 非本人
    NO_ANSWER = "no_answer"  # 无人接听
    REFUSED = "refused"  # 拒绝还款
    PROMISE = "promise"  # 承诺还款
    DISPUTE = "dispute"  # 争议
    COMPLAINT = "complaint"  # 投诉
    HARDSHIP = "hardship"  # 经济困难
    CALLBACK_REQUESTED = "callback_requested"  # 约定回拨
    WRONG_NUMBER = "wrong_number"  # 错号


#: result → (outcome, disposition, whether the attempt is addressed to the contact point's own party).
#: Someone else answering the borrower's own number (or met at their address), or a wrong number, is
#: still an attempt on the borrower: the policy judged the call the collector chose to make, and the
#: disposition records who answered. Judging it as a call *to* a third party made every such answer a
#: CN-PARTY "violation" in the audit (43 in a 600-loan demo) for a call nobody could have avoided;
#: disclosing the debt to whoever answered is a separate matter, for quality inspection (qa).
_RESULT: Final[dict[LogResult, tuple[AttemptOutcome, Disposition, bool]]] = {
    LogResult.RIGHT_PARTY: (AttemptOutcome.CONVERSATION, Disposition.RIGHT_PARTY_CONTACT, True),
    LogResult.WRONG_PARTY: (AttemptOutcome.CONVERSATION, Disposition.THIRD_PARTY_CONTACT, True),
    LogResult.NO_ANSWER: (AttemptOutcome.NO_ANSWER, Disposition.NO_ANSWER, True),
    LogResult.REFUSED: (AttemptOutcome.CONVERSATION, Disposition.REFUSED, True),
    LogResult.PROMISE: (AttemptOutcome.CONVERSATION, Disposition.PROMISE_TO_PAY, True),
    LogResult.DISPUTE: (AttemptOutcome.CONVERSATION, Disposition.DISPUTE, True),
    LogResult.COMPLAINT: (AttemptOutcome.CONVERSATION, Disposition.COMPLAINT, True),
    LogResult.HARDSHIP: (AttemptOutcome.CONVERSATION, Disposition.HARDSHIP, True),
    LogResult.CALLBACK_REQUESTED: (AttemptOutcome.CONVERSATION, Disposition.CALLBACK_REQUESTED, True),
    LogResult.WRONG_NUMBER: (AttemptOutcome.INVALID_NUMBER, Disposition.WRONG_NUMBER, True),
}
#: Results that count toward marking a number invalid.
_FAILING: Final = frozenset({LogResult.WRONG_NUMBER})
_KIND: Final[dict[str, DestinationKind]] = {k.value: k for k in DestinationKind}


class ContactLogError(RecoupError):
    """A logged contact is not acceptable; ``details`` names the field."""

    code = "contact_log.invalid"
    http_status = 422
    exit_code = 65


@dataclass(frozen=True)
class LoggedContact:
    attempt: ContactAttempt
    verdict: Verdict
    invalidated: bool
    task: WorkTask | None
    complaint_id: int | None = None  # the register entry a complaint or dispute result opened or joined


def _bad(field: str, english: str, chinese: str, **details: object) -> ContactLogError:
    return ContactLogError(f"{english} / {chinese}", details={"field": field, **details})


def check_log(
    case: Case,
    *,
    channel: str,
    result: str,
    point: ContactPoint | None,
    at: dt.datetime,
    now: dt.datetime,
    next_action_on: dt.date | None,
    preferred_channel: str | None,
    preferred_hour: int | None,
) -> tuple[Channel, LogResult]:
    """Validate a contact before it is logged; :class:`ContactLogError` names the first problem."""
    if channel not in (Channel.CALL.value, Channel.VISIT.value):
        raise _bad("channel", f"a person logs a call or a visit, not {channel!r}", "只能登记电话或外访")
    if result not in {r.value for r in LogResult}:
        raise _bad(
            "result", f"unknown result {result!r}", "未知的联系结果", allowed=[r.value for r in LogResult]
        )
    if at.tzinfo is None:
        raise _bad("at", "the time has no timezone", "时间缺少时区")
    if at > now + dt.timedelta(minutes=5):
        raise _bad("at", "a contact cannot be logged in the future", "不能登记未来的联系", at=at.isoformat())
    if point is None:
        raise _bad("contact_point_id", "name the number or address contacted", "请指定联系的号码或地址")
    if point.borrower_id != case.borrower_id:
        raise _bad(
            "contact_point_id", "that contact point is not this borrower's", "该联系方式不属于本案借款人"
        )
    if next_action_on is not None and next_action_on < at.date():
        raise _bad(
            "next_action_on", "the next action cannot be before the contact", "下次跟进日期早于本次联系"
        )
    if preferred_channel is not None and preferred_channel not in {c.value for c in Channel}:
        raise _bad("preferred_channel", f"unknown channel {preferred_channel!r}", "未知渠道")
    if preferred_hour is not None and not 0 <= preferred_hour <= 23:
        raise _bad("preferred_hour", "the hour must be 0–23", "时段须为 0–23 点")
    return Channel(channel), LogResult(result)


def do_log_contact(
    case: Case,
    *,
    session: Session,
    actor: str,
    channel: str,
    result: str,
    contact_point_id: int | None,
    policy: Policy,
    settings: Settings,
    cipher: PiiCipher | None = None,
    at: dt.datetime | None = None,
    note: str | None = None,
    next_action_on: dt.date | None = None,
    recording_ref: str | None = None,
    task_id: int | None = None,
    preferred_channel: str | None = None,
    preferred_hour: int | None = None,
    now: dt.datetime | None = None,
) -> LoggedContact:
    """Log one call or visit on ``case`` by ``actor``; judge it, record it, update contact details, close
    the task it answers (``task_id``) and, with ``next_action_on``, leave a callback task for the holder.
    ``now`` is the clock (default the real one; the twin's simulated days pass their own)."""
    now = now or utcnow()
    when = at or now
    point = session.get(ContactPoint, contact_point_id) if contact_point_id is not None else None
    chan, res = check_log(
        case,
        channel=channel,
        result=result,
        point=point,
        at=when,
        now=now,
        next_action_on=next_action_on,
        preferred_channel=preferred_channel,
        preferred_hour=preferred_hour,
    )
    assert point is not None  # check_log refuses a missing point
    task = None
    if task_id is not None:
        task = session.get(WorkTask, task_id)
        if task is None or task.case_id != case.id or task.status not in ("open", "in_progress"):
            raise NotFoundError(f"no open task {task_id} on this case / 本案没有待办任务 {task_id}")
    outcome, disposition, own_party = _RESULT[res]
    borrower, loan, proposal = _proposal(case, point, chan, when, own_party=own_party, session=session)
    party, kind = proposal.party, proposal.destination_kind
    verdict = check_attempt(
        policy, session=session, borrower_key=borrower.external_id, proposal=proposal, cipher=cipher
    )
    attempt = do_record_attempt(
        session=session,
        source="collector",
        external_id=proposal.id,
        borrower_key=borrower.external_id,
        debt_key=loan,
        at=when,
        channel=chan,
        party=party,
        destination=point.value,
        destination_kind=kind,
        outcome=outcome,
        disposition=disposition.value,
        recording_ref=recording_ref,
        made_by=actor,
        content=note,
        preset=verdict.preset,
        cipher=cipher,
    )
    if verdict.verdict != "allowed":
        do_append(
            "contact.logged_against_policy",
            {
                "attempt_id": attempt.id,
                "case_id": case.id,
                "verdict": verdict.verdict,
                "rules": list(verdict.rules),
            },
            session=session,
            actor=actor,
            settings=settings,
        )
    complaint_id = None
    if res in (LogResult.COMPLAINT, LogResult.DISPUTE):
        complaint_id = do_open_from_contact(
            case,
            attempt,
            session=session,
            actor=actor,
            kind=ComplaintKind(res.value),
            note=note,
            settings=settings,
            now=now,
        ).id
    invalidated = False
    if res in _FAILING:
        point.failed_results = (point.failed_results or 0) + 1
        if point.is_valid and point.failed_results >= INVALID_AFTER:
            point.is_valid = False
            invalidated = True
            session.flush()
            if own_valid_phones(case, session=session) == 0:  # 失联: no own number left to call
                do_mark_lost(
                    case,
                    session=session,
                    actor=actor,
                    on=when.astimezone(settings.tz).date(),
                    reason="no valid own number",
                )
    if preferred_channel is not None:
        borrower.preferred_channel = preferred_channel
    if preferred_hour is not None:
        borrower.preferred_hour = preferred_hour
    if task is not None:
        task.status, task.result, task.done_at, task.attempt_id = "done", res.value, now, attempt.id
        task.started_at = task.started_at or now
        task.note = (note or "")[:1000] or None
    if next_action_on is not None:
        _callback(
            case, borrower, loan, next_action_on, settings=settings, session=session, now=now, why=res.value
        )
    session.flush()
    return LoggedContact(attempt, verdict, invalidated, task, complaint_id)


def _proposal(
    case: Case, point: ContactPoint, chan: Channel, at: dt.datetime, *, own_party: bool, session: Session
) -> tuple[Borrower, str | None, Proposal]:
    """The attempt as the policy sees it: the case's borrower and worst loan, the party reached."""
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    loan = session.scalar(
        select(CollectionAccount.external_id)
        .where(CollectionAccount.case_id == case.id)
        .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
        .limit(1)
    )
    return borrower, loan, proposal_for(point, chan, at, loan, own_party=own_party)


def proposal_for(
    point: ContactPoint, chan: Channel, at: dt.datetime, loan: str | None, *, own_party: bool
) -> Proposal:
    """A call or visit to ``point`` about ``loan`` (the case's worst) as the policy sees it."""
    role = point.role if point.role in {p.value for p in Party} else Party.DEBTOR.value
    party = Party(role) if own_party else Party.THIRD_PARTY
    kind = _KIND.get(point.kind) if chan == Channel.CALL else DestinationKind.ADDRESS
    return Proposal(
        id=f"log:{uuid.uuid4().hex}",
        at=at,
        channel=chan,
        party=party,
        destination=point.value,
        destination_kind=kind,
        debt_id=loan,
    )


def precheck_contact(
    case: Case,
    *,
    point: ContactPoint,
    channel: str,
    at: dt.datetime,
    policy: Policy,
    session: Session,
    cipher: PiiCipher | None = None,
) -> Verdict:
    """What the contact policy says of calling (or visiting) ``point`` at ``at``, before dialling — what a
    dialer or a careful collector asks first. Records nothing."""
    borrower, _loan, proposal = _proposal(case, point, Channel(channel), at, own_party=True, session=session)
    return check_attempt(
        policy, session=session, borrower_key=borrower.external_id, proposal=proposal, cipher=cipher
    )


def _callback(
    case: Case,
    borrower: Borrower,
    loan: str | None,
    on: dt.date,
    *,
    settings: Settings,
    session: Session,
    now: dt.datetime,
    why: str,
) -> None:
    """A follow-up call task for the holder, due at the start of ``on`` in the lender's timezone (one per
    case and day: a second callback for the same day changes nothing)."""
    exists = session.scalar(
        select(WorkTask.id).where(
            WorkTask.as_of == on, WorkTask.debt_key == (loan or ""), WorkTask.treatment == "agent_call"
        )
    )
    if exists is not None:
        return
    due = dt.datetime.combine(on, dt.time(9, 0), tzinfo=settings.tz).astimezone(dt.UTC)
    session.add(
        WorkTask(
            as_of=on,
            debt_key=loan or "",
            borrower_key=borrower.external_id,
            treatment="agent_call",
            queue="callback",
            priority=0,
            strategy="contact-log",
            strategy_version=0,
            node="callback",
            arm="none",
            reason=f"callback agreed on a contact ({why}) / 约定回拨",
            status="open",
            case_id=case.id,
            assignee_id=case.holder_id,
            due_at=due,
            created_at=now,
            updated_at=now,
        )
    )
