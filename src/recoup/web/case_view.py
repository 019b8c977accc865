"""What the case page shows: the borrower, every account with its repayment schedule and the payments
received, the contact history with the collectors' notes, promises, messages in the outbox, open tasks,
assistance requests and field visits, the recommended next action with its reasons, and the contact
policy's verdict per channel right now ("call deferred until 08:00 · CN-TIME").

:mod:`recoup.web.case_page` serves the page; :mod:`recoup.web.case_actions` and
:mod:`recoup.web.case_message` act on it and show it again with a flash message or a form error."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.assists import MAX_DEADLINE_DAYS, AssistKind, case_assists
from recoup.cases.contact_log import proposal_for
from recoup.cases.models import Case, PromiseToPay, Team, WorkerProfile
from recoup.cases.work_models import FieldVisit
from recoup.configs.cache import saved_names
from recoup.contact import templates
from recoup.contact.models import ContactAttempt, OutboxMessage
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import History, Proposal, Verdict
from recoup.contact.policy.presets import Preset, resolve
from recoup.contact.service import borrower_context, check_attempt, destination_hash, history_for
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.pii import PiiCipher, mask, mask_name
from recoup.portfolio.models import AccountInstallment, Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask
from recoup.web.deps import DbSession, cipher_of
from recoup.web.labels import (
    CHANNEL_LABELS,
    N_,
    OUTCOME_LABELS,
    PROMISE_LABELS,
    RESULT_LABELS,
    ROLE_LABELS,
    STATE_LABELS,
    TREATMENT_LABELS,
)
from recoup.web.pages import settings_of
from recoup.web.privacy_pages import pii_block
from recoup.web.resolutions_pages import resolution_block
from recoup.web.templating import render, request_locale

#: The contact point roles that are the borrower themselves.
OWN_ROLES: Final = ("self", "debtor")
#: The channels a collector sends a templated message on from the case page.
MESSAGE_CHANNELS: Final = (Channel.SMS, Channel.EMAIL)
#: Per message channel: the contact point kinds it reaches, the consent word and the destination kind
#: (as the cycle's planner, :mod:`recoup.strategy.flows`).
_MESSAGE_POINTS: Final[dict[Channel, tuple[tuple[str, ...], str, DestinationKind]]] = {
    Channel.SMS: (("phone", "mobile"), "sms", DestinationKind.MOBILE),
    Channel.EMAIL: (("email",), "email", DestinationKind.EMAIL),
}
_LIVE_TASKS: Final = ("open", "in_progress")

INSTALMENT_LABELS: Final = {
    "paid": N_("paid"),
    "partly_paid": N_("partly paid"),
    "overdue": N_("overdue"),
    "upcoming": N_("not yet due"),
}
ASSIST_KIND_LABELS: Final = {
    AssistKind.FIELD.value: N_("field assistance"),
    AssistKind.SKIP_TRACE.value: N_("skip-trace"),
    AssistKind.LEGAL.value: N_("legal assistance"),
    AssistKind.VERIFICATION.value: N_("verification"),
}
STATUS_LABELS: Final = {
    "open": N_("open"),
    "in_progress": N_("in progress"),
    "accepted": N_("accepted"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
    "requested": N_("awaiting approval"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "checked_in": N_("checked in"),
    "reported": N_("reported"),
    "pending": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "blocked": N_("blocked"),
    "failed": N_("failed"),
    "dead": N_("failed"),
    "expired": N_("expired"),
    "success": N_("success"),
    "not_needed": N_("not needed"),
}
LANGUAGE_LABELS: Final = {"zh_CN": "中文", "en": "English"}
PAYMENT_CHANNEL_LABELS: Final = {
    "bank_transfer": N_("bank transfer"),
    "withholding": N_("direct debit"),
    "alipay": N_("Alipay"),
    "wechat_pay": N_("WeChat Pay"),
    "unionpay": N_("UnionPay"),
    "card": N_("bank card"),
    "cash": N_("cash"),
    "portal": N_("self-service portal"),
    "agency": N_("through an agency"),
    "other": N_("other"),
}


# ------------------------------------------------------------------------------------------ the policy


#: The compiled policy of each preset object (presets are cached per version: the same object comes back
#: while the version is the newest). Keyed by ``id`` and checked by identity, as presets are unhashable.
_POLICIES: dict[int, tuple[Preset, tuple[str, ...], tuple[str, ...], Policy]] = {}


def policy_for(request: Request, session: DbSession) -> Policy:
    """The installation's contact policy (its jurisdiction's preset, the lender's links and signatures),
    compiled once per preset version and process (judging does not change it)."""
    s = settings_of(request)
    preset = resolve(s.jurisdiction, session=session)
    domains, signatures = tuple(s.link_domains), tuple(s.sms_signatures)
    hit = _POLICIES.get(id(preset))
    if hit is not None and hit[0] is preset and hit[1] == domains and hit[2] == signatures:
        return hit[3]
    policy = Policy(preset, domains=domains, signatures=signatures)
    if len(_POLICIES) > 64:
        _POLICIES.clear()
    _POLICIES[id(preset)] = (preset, domains, signatures, policy)
    return policy


def message_point(points: list[ContactPoint], channel: Channel) -> ContactPoint | None:
    """The borrower's first own valid contact point that reaches ``channel`` and consented to it."""
    kinds, consent, _kind = _MESSAGE_POINTS[channel]
    for p in points:
        consented = p.consent_channels is None or consent in p.consent_channels.split(",")
        if p.is_valid and p.role in OWN_ROLES and p.kind in kinds and consented and p.value.strip():
            return p
    return None


def worst_loan(case: Case, *, session: DbSession) -> str | None:
    """The case's loan with the most days past due (what tasks and messages are keyed on)."""
    return session.scalar(
        select(CollectionAccount.external_id)
        .where(CollectionAccount.case_id == case.id)
        .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
        .limit(1)
    )


def worst(accounts: list[CollectionAccount]) -> str | None:
    """:func:`worst_loan` of accounts already read (all the case's)."""
    if not accounts:
        return None
    return min(accounts, key=lambda a: (-a.dpd, a.id)).external_id


def _message_proposal(
    loan: str | None, point: ContactPoint, channel: Channel, at: dt.datetime, content: str | None
) -> Proposal:
    """A message to ``point`` as the dispatcher puts it to the policy (the borrower, the worst loan)."""
    return Proposal(
        id=f"precheck:{uuid.uuid4().hex}",
        at=at,
        channel=channel,
        party=Party.DEBTOR,
        destination=point.value.strip(),
        destination_kind=_MESSAGE_POINTS[channel][2],
        debt_id=loan,
        content=content,
    )


def message_verdict(
    borrower: Borrower,
    loan: str | None,
    point: ContactPoint,
    channel: Channel,
    *,
    at: dt.datetime,
    policy: Policy,
    session: DbSession,
    cipher: PiiCipher,
    content: str | None = None,
) -> Verdict:
    """What the contact policy says of a message to ``point`` at ``at`` (the dispatcher's question, asked
    before queueing; it asks again when it sends). Records nothing."""
    proposal = _message_proposal(loan, point, channel, at, content)
    return check_attempt(
        policy, session=session, borrower_key=borrower.external_id, proposal=proposal, cipher=cipher
    )


def _verdicts(
    borrower: Borrower,
    proposals: list[Proposal],
    *,
    at: dt.datetime,
    policy: Policy,
    session: DbSession,
    cipher: PiiCipher,
) -> list[Verdict]:
    """What :func:`recoup.contact.service.check_attempt` says of each proposal at ``at``, the borrower's
    state and history read once for all of them (the page asks about three channels)."""
    if not proposals:
        return []
    state = borrower_context(borrower.external_id, session=session, known_at=at)
    history = History(history_for(borrower.external_id, session=session, before=at))
    out = []
    for proposal in proposals:
        hashed = replace(proposal, destination=destination_hash(proposal.destination, cipher))
        out.append(policy.judge(hashed, borrower=state, history=history, now=at))
    return out


def local_time(value: dt.datetime, request: Request, user: AppUser | None, now: dt.datetime) -> str:
    """``value`` in the installation's timezone: the time alone today, else the date and time."""
    s = settings_of(request)
    loc = "zh_Hans_CN" if request_locale(request, user) == "zh_CN" else "en"
    local = value.astimezone(s.tz)
    if local.date() == now.astimezone(s.tz).date():
        return format_datetime(local, "HH:mm", tzinfo=s.tz, locale=loc)
    return format_datetime(local, "short", tzinfo=s.tz, locale=loc)


@dataclass(frozen=True)
class ChannelVerdict:
    """One line of "the contact policy right now": ``verdict`` is allowed, deferred, blocked or none
    (no destination for the channel)."""

    channel: str
    label: str
    verdict: str
    until: str
    rules: str
    to: str


def verdict_line(
    channel: str, verdict: Verdict | None, *, to: str, request: Request, user: AppUser, now: dt.datetime
) -> ChannelVerdict:
    label = CHANNEL_LABELS.get(channel, channel)
    if verdict is None:
        return ChannelVerdict(channel, label, "none", "", "", to)
    until = local_time(verdict.defer_until, request, user, now) if verdict.defer_until else ""
    return ChannelVerdict(channel, label, verdict.verdict, until, ", ".join(verdict.rules), to)


def channel_verdicts(
    request: Request,
    user: AppUser,
    case: Case,
    borrower: Borrower,
    points: list[ContactPoint],
    *,
    session: DbSession,
    now: dt.datetime,
    loan: str | None,
) -> list[ChannelVerdict]:
    """The policy's verdict right now for a call, a text message and an email to the borrower (``loan``:
    the case's worst, :func:`worst_loan`) — as :func:`recoup.cases.contact_log.precheck_contact` and
    :func:`message_verdict` would answer, asked together."""
    policy = policy_for(request, session)
    cipher = cipher_of(request)
    phone = next((p for p in points if p.kind in ("phone", "mobile") and p.role in OWN_ROLES), None)
    found = {c: message_point(points, c) for c in MESSAGE_CHANNELS}
    wanted = [(p, c) for c, p in found.items() if p is not None]
    proposals = [_message_proposal(loan, p, c, now, None) for p, c in wanted]
    if phone is not None:
        proposals.append(proposal_for(phone, Channel.CALL, now, loan, own_party=True))
    judged = _verdicts(borrower, proposals, at=now, policy=policy, session=session, cipher=cipher)
    call = judged.pop() if phone is not None else None
    verdicts = {c: v for (_p, c), v in zip(wanted, judged, strict=True)}
    to = mask("phone", phone.value) if phone else ""
    out = [verdict_line("call", call, to=to, request=request, user=user, now=now)]
    for channel, point in found.items():
        kind = "email" if channel == Channel.EMAIL else "phone"
        to = mask(kind, point.value) if point else ""
        v = verdicts.get(channel)
        out.append(verdict_line(channel.value, v, to=to, request=request, user=user, now=now))
    return out


# ---------------------------------------------------------------------------------------- the accounts


@dataclass(frozen=True)
class Instalment:
    seq: int
    due_date: dt.date
    due: int
    paid: int
    status: str
    last_paid: dt.date | None


def schedule(installments: list[AccountInstallment], today: dt.date) -> list[Instalment]:
    """The repayment schedule with what was paid and each instalment's status on ``today``."""
    out = []
    for i in installments:
        due = i.principal_due + i.interest_due + (i.fee_due or 0) + (i.penalty_due or 0)
        paid = (i.principal_paid or 0) + (i.interest_paid or 0) + (i.fee_paid or 0) + (i.penalty_paid or 0)
        if paid >= due:
            status = "paid"
        elif i.due_date < today:
            status = "overdue"
        elif paid > 0:
            status = "partly_paid"
        else:
            status = "upcoming"
        out.append(Instalment(i.seq, i.due_date, due, paid, status, i.last_paid_date))
    return out


# ------------------------------------------------------------------------------------------ form data


def message_templates(*, session: DbSession) -> list[dict[str, str]]:
    """The active message templates a collector may send from the case page (``NAME:CHANNEL``)."""
    seen: dict[str, dict[str, str]] = {}
    for key in saved_names(templates.ACTIVATION, session=session):
        try:
            name, channel, _locale = templates.parse_key(key)
        except templates.TemplateRejected:
            continue
        if channel in MESSAGE_CHANNELS:
            value = f"{name}:{channel.value}"
            seen.setdefault(value, {"value": value, "name": name, "channel": channel.value})
    return list(seen.values())


def _field_agents(*, session: DbSession) -> list[str]:
    return list(
        session.scalars(
            select(AppUser.username)
            .join(WorkerProfile, WorkerProfile.user_id == AppUser.id)
            .where(WorkerProfile.kind == "field_agent", WorkerProfile.active, AppUser.is_active)
            .order_by(AppUser.username)
        )
    )


_CJK = re.compile(r"[\u3400-\u9fff]")


def in_language(message: str, locale: str) -> str:
    """The half of a bilingual service message (``English / 中文`` or ``中文 · English``) in
    ``locale``; the whole message when it is not such a pair."""
    for sep in (" / ", " · "):
        parts = message.split(sep)
        if len(parts) == 2:
            zh = [p for p in parts if _CJK.search(p)]
            en = [p for p in parts if not _CJK.search(p)]
            if len(zh) == 1 and len(en) == 1:
                return (zh if locale == "zh_CN" else en)[0].strip()
    return message


# ---------------------------------------------------------------------------------------- the context


def _usernames(ids: Iterable[int | None], *, session: DbSession) -> dict[int, str]:
    """id → username of ``ids`` (no query for none: most cases have no visit and no assistance)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(wanted)))
    return {int(uid): str(name) for uid, name in rows}


def case_context(request: Request, user: AppUser, case: Case, session: DbSession) -> dict[str, Any]:
    """Everything the case page shows."""
    s = settings_of(request)
    now = utcnow()
    today = now.astimezone(s.tz).date()
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id == case.id)
            .options(selectinload(CollectionAccount.installments), selectinload(CollectionAccount.payments))
            .order_by(CollectionAccount.id)
        )
    )
    all_points = list(
        session.scalars(
            select(ContactPoint).where(ContactPoint.borrower_id == case.borrower_id).order_by(ContactPoint.id)
        )
    )
    points = [p for p in all_points if p.is_valid]
    phones = [
        {"id": p.id, "masked": mask("phone", p.value), "role": ROLE_LABELS.get(p.role, p.role)}
        for p in points
        if p.kind in ("phone", "mobile")
    ]
    addresses = [{"id": p.id, "masked": mask("address", p.value)} for p in points if p.kind == "address"]
    tasks = list(
        session.scalars(
            select(WorkTask)
            .where(WorkTask.case_id == case.id, WorkTask.status.in_(_LIVE_TASKS))
            .order_by(WorkTask.priority.desc(), WorkTask.id)
        )
    )
    by_time = sorted(tasks, key=lambda t: (t.due_at is None, t.due_at or now, t.id))
    holder = session.get(AppUser, case.holder_id) if case.holder_id else None
    visits = list(
        session.scalars(
            select(FieldVisit)
            .where(FieldVisit.case_id == case.id)
            .order_by(FieldVisit.planned_on.desc(), FieldVisit.id.desc())
        )
    )
    people = _usernames({v.agent1_id for v in visits} | {v.agent2_id for v in visits}, session=session)
    assists = case_assists(case.id, session=session)
    teams = {int(i): str(n) for i, n in session.execute(select(Team.id, Team.name).order_by(Team.name))}
    assignees = _usernames({a.assignee_id for a in assists if a.assignee_id}, session=session)
    can_work = has_permission(user, "case.work") and case.status == "open"
    open_accounts = [a for a in accounts if a.status == "open"]
    locale = borrower.locale if borrower.locale in templates.LOCALES else s.locale
    return {
        "case": case,
        "borrower_name": mask_name(borrower.name),
        "accounts": accounts,
        "schedules": {a.id: schedule(list(a.installments), today) for a in accounts},
        "overdue": sum(a.overdue_amount for a in open_accounts),
        "max_dpd": max((a.dpd for a in open_accounts), default=0),
        "holder": holder.display_name or holder.username if holder else None,
        "phones": phones,
        "addresses": addresses,
        "verdicts": channel_verdicts(
            request, user, case, borrower, points, session=session, now=now, loan=worst(accounts)
        ),
        "next_task": tasks[0] if tasks else None,
        "tasks": by_time,
        "promises": list(
            session.scalars(
                select(PromiseToPay).where(PromiseToPay.case_id == case.id).order_by(PromiseToPay.id)
            )
        ),
        "contacts": list(
            session.scalars(
                select(ContactAttempt)
                .where(ContactAttempt.borrower_key == borrower.external_id)
                .order_by(ContactAttempt.at.desc())
                .limit(50)
            )
        ),
        "messages": list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.borrower_key == borrower.external_id)
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                .limit(20)
            )
        ),
        "assists": assists,
        "assist_targets": {
            a.id: teams.get(a.team_id or 0) or assignees.get(a.assignee_id or 0) or "—" for a in assists
        },
        "visits": visits,
        "people": people,
        "can_work": can_work,
        "results": RESULT_LABELS,
        "treatment_labels": TREATMENT_LABELS,
        "state_labels": STATE_LABELS,
        "promise_labels": PROMISE_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "instalment_labels": INSTALMENT_LABELS,
        "payment_labels": PAYMENT_CHANNEL_LABELS,
        "lang": lambda text: in_language(text or "", request_locale(request, user)),
        "assist_labels": ASSIST_KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "language_labels": LANGUAGE_LABELS,
        "default_due": (today + dt.timedelta(days=2)).isoformat(),
        "today": today.isoformat(),
        "tomorrow": (today + dt.timedelta(days=1)).isoformat(),
        "assist_due": (today + dt.timedelta(days=3)).isoformat(),
        "assist_last": (today + dt.timedelta(days=MAX_DEADLINE_DAYS)).isoformat(),
        # Forms only for those who may use them (a few look-ups a viewer does not need).
        "templates": message_templates(session=session) if can_work else [],
        "message_locale": locale,
        "teams": list(teams.values()) if can_work else [],
        "field_agents": _field_agents(session=session) if can_work else [],
        "assist_kinds": list(ASSIST_KIND_LABELS.items()),
        "pii": pii_block(request, case, session=session),  # masked phones, ID number, addresses; reveal
        # plans, waivers, settlements
        "resolution": resolution_block(request, user, case, session=session, accounts=accounts),
        "watermark": True,
    }


def render_case(
    request: Request,
    user: AppUser,
    case: Case,
    session: DbSession,
    *,
    flash: str | None = None,
    error: bool = False,
    form: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The case page, with a flash message or, with ``error``, a form error (``form`` names the form it
    belongs to, so the page shows it there and opens that form). A refused form answers 422, except to
    htmx, which swaps only successful answers: it gets 200 with the error in the page."""
    ctx = case_context(request, user, case, session)
    if flash is not None:
        ctx.update(flash=flash, flash_error=error, form_error=flash if error else None, open_form=form)
    ctx.update(extra or {})
    status = 422 if error and not request.headers.get("hx-request") else 200
    return render(request, "case.html", ctx, user=user, status=status)


def refused(
    request: Request, user: AppUser, case: Case, session: DbSession, exc: RecoupError, form: str
) -> Response:
    """A refused form: the service's message, in the reader's language, shown at form ``form``."""
    message = in_language(exc.message, request_locale(request, user))
    return render_case(request, user, case, session, flash=message, error=True, form=form)
