"""Sending a templated text message or email from the case page (``case.work``).

The collector chooses an active template; the page shows its rendering for this borrower (the name
masked on screen), the content linter's findings and the contact policy's verdict right now. A
rendering with findings is refused (and the refusal audited); otherwise the message is queued in the
outbox like the cycle's own messages (:func:`recoup.contact.outbox.do_enqueue`) — the dispatcher asks the
contact policy again when it sends, and never sends it after its validity window. Nothing is sent from
here. Queueing is audited (ids, template and verdict; never the text or the destination)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.contact import templates
from recoup.contact.linter import LintContext, lint
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import do_enqueue, outbox_key
from recoup.contact.policy.model import Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher, mask, mask_name
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.definition import StrategyDoc
from recoup.strategy.flows import PEOPLE_TASKS, payment_token
from recoup.strategy.models import WorkTask
from recoup.strategy.service import get_strategy
from recoup.web.case_view import (
    MESSAGE_CHANNELS,
    in_language,
    local_time,
    message_point,
    message_verdict,
    policy_for,
    refused,
    render_case,
)
from recoup.web.deps import DbSession, cipher_of
from recoup.web.pages import Worker, settings_of, tr
from recoup.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)


class MessageRefused(RecoupError):
    """A message the case page will not queue (no template, no destination, linter findings)."""

    code = "message.refused"
    http_status = 422
    exit_code = 65


@dataclass
class Composed:
    """A message rendered for one borrower. ``subject``/``body`` are what would be sent; ``shown_*``
    and the findings' excerpts mask the borrower's name for the screen."""

    choice: str
    channel: Channel
    template: str = ""
    locale: str = ""
    subject: str | None = None
    body: str = ""
    shown_subject: str | None = None
    shown_body: str = ""
    findings: list[dict[str, str]] = field(default_factory=list)
    point: ContactPoint | None = None
    to: str = ""
    loan: str | None = None
    verdict: Verdict | None = None
    until: str = ""

    @property
    def rules(self) -> list[str]:
        return sorted({f["rule"] for f in self.findings})


def _identity(case: Case, *, session: DbSession) -> StrategyDoc:
    """The strategy document whose sample identity fills what the settings leave unset (as the cycle
    does): the one behind the case's newest task, else the defaults."""
    row = session.execute(
        select(WorkTask.strategy, WorkTask.strategy_version)
        .where(WorkTask.case_id == case.id, WorkTask.strategy.not_in(PEOPLE_TASKS))
        .order_by(WorkTask.as_of.desc(), WorkTask.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        try:
            return get_strategy(row[0], version=row[1], session=session).doc
        except RecoupError:
            pass
    return StrategyDoc.model_construct(name="case-page", rows=[])


def _signatures(s: Settings, doc: StrategyDoc) -> list[str]:
    sig = s.signature_text or doc.registered_signature
    return list(s.sms_signatures) or ([sig] if sig else [])


def _values(
    case: Case,
    borrower: Borrower,
    loan: str | None,
    locale: str,
    *,
    s: Settings,
    doc: StrategyDoc,
    cipher: PiiCipher,
    session: DbSession,
    today: dt.date,
) -> templates.MessageContext:
    """The template's values for this borrower, filled as the cycle's planner fills them."""
    accounts = list(
        session.scalars(
            select(CollectionAccount).where(
                CollectionAccount.case_id == case.id, CollectionAccount.status == "open"
            )
        )
    )
    dpd = max((a.dpd for a in accounts), default=0)
    zh = locale.startswith("zh")
    link_base = f"https://{s.payment_domain}/p/" if s.payment_domain else doc.payment_link
    return templates.MessageContext(
        borrower_name=borrower.name.strip() or ("客户" if zh else "customer"),
        amount_overdue=sum(a.overdue_amount for a in accounts),
        due_date=today - dt.timedelta(days=dpd),
        days_past_due=dpd,
        lender_name=s.lender_name or doc.lender_name,
        payment_link=f"{link_base}{payment_token(loan, cipher)}" if loan else "",
        currency=accounts[0].currency if accounts else s.currency,
        hotline=s.hotline or doc.hotline,
        opt_out=doc.opt_out.get(locale, doc.opt_out.get("zh_CN" if zh else "en", "")),
        signature=s.sms_signature or doc.signature,
        loan_ref=f"{loan[:1]}****{loan[-4:]}" if loan and len(loan) > 5 else "****",
    )


def _no_lint(*_args: Any) -> list[tuple[str, str, str]]:
    """Render without the template module's lint: the case page lints the text itself (below)."""
    return []


def compose(
    request: Request,
    user: AppUser,
    case: Case,
    *,
    session: DbSession,
    choice: str,
    locale: str,
    now: dt.datetime,
) -> Composed:
    """Render template ``choice`` (``NAME:CHANNEL``) for the case's borrower in ``locale`` (else the
    borrower's, the lender's, Chinese, English), lint it and ask the contact policy about it now."""
    s = settings_of(request)
    name, _, chan = choice.partition(":")
    channel = next((c for c in MESSAGE_CHANNELS if c.value == chan), None)
    if not name or channel is None:
        raise MessageRefused("choose a template / 请选择模板", details={"field": "template"})
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    tpl = None
    for loc in dict.fromkeys([locale, borrower.locale or s.locale, s.locale, "zh_CN", "en"]):
        if loc in templates.LOCALES:
            tpl = templates.active_template(f"{name}:{channel.value}:{loc}", session=session)
            if tpl is not None:
                break
    if tpl is None:
        raise MessageRefused(
            f"no active template {name} for {channel.value} / 没有可用的模板", details={"field": "template"}
        )
    out = Composed(choice=choice, channel=channel, template=tpl.label, locale=tpl.locale)
    cipher = cipher_of(request)
    doc = _identity(case, session=session)
    sigs = _signatures(s, doc)
    points = list(
        session.scalars(
            select(ContactPoint).where(ContactPoint.borrower_id == borrower.id).order_by(ContactPoint.id)
        )
    )
    out.point = message_point(points, channel)
    if out.point is not None:
        out.to = mask("email" if channel == Channel.EMAIL else "phone", out.point.value)
    out.loan = session.scalar(
        select(CollectionAccount.external_id)
        .where(CollectionAccount.case_id == case.id)
        .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
        .limit(1)
    )
    values = _values(
        case,
        borrower,
        out.loan,
        tpl.locale,
        s=s,
        doc=doc,
        cipher=cipher,
        session=session,
        today=now.astimezone(s.tz).date(),
    )
    linter = resolve(s.jurisdiction, session=session).linter
    problems: list[dict[str, str]] = []
    try:
        rendered = templates.render(
            tpl, values, preset=linter, domains=s.link_domains, signatures=sigs, lint=_no_lint
        )
        out.subject, out.body = rendered.subject, rendered.body
    except templates.TemplateRejected as exc:  # cannot render, or a link outside the whitelist
        problems = [dict(p) for p in exc.details.get("problems", [])]
    if out.body:
        text = f"{out.subject}\n{out.body}" if out.subject else out.body
        context = LintContext(sms_signatures=frozenset(sigs), allowed_domains=frozenset(s.link_domains))
        found = lint(text, preset=linter, locale=tpl.locale, channel=channel.value, context=context)
        problems += [{"rule": f.rule, "message": f.message, "excerpt": f.excerpt} for f in found.findings]
    name_shown = mask_name(borrower.name) if borrower.name.strip() else ""

    def masked(text: str) -> str:
        return text.replace(borrower.name.strip(), name_shown) if name_shown else text

    out.shown_subject = masked(out.subject) if out.subject else None
    out.shown_body = masked(out.body)
    out.findings = [{**p, "excerpt": masked(p.get("excerpt", ""))} for p in problems]
    if out.point is not None and out.body:
        out.verdict = message_verdict(
            borrower,
            out.loan,
            out.point,
            channel,
            at=now,
            policy=policy_for(request, session),
            session=session,
            cipher=cipher,
            content=out.body,
        )
        if out.verdict.defer_until is not None:
            out.until = local_time(out.verdict.defer_until, request, user, now)
    return out


@router.get("/cases/{case_id}/message")
def preview_message(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    template: Annotated[str, Query(max_length=200)] = "",
    locale: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The rendering for this borrower, the linter's findings and the policy's verdict now: a fragment
    for htmx, else the whole case page with the preview in its form."""
    case = get_visible_case(case_id, user, session=session)
    composed: Composed | None = None
    problem = None
    if template:
        try:
            composed = compose(
                request, user, case, session=session, choice=template, locale=locale, now=utcnow()
            )
        except RecoupError as exc:
            problem = exc
    if request.headers.get("hx-request"):
        said = in_language(problem.message, request_locale(request, user)) if problem else None
        ctx = {"preview": composed, "preview_error": said}
        return render(request, "_case_message_preview.html", ctx, user=user)
    if problem is not None:
        return refused(request, user, case, session, problem, "message")
    extra = {"preview": composed, "open_form": "message", "message_choice": template}
    if locale:
        extra["message_locale"] = locale
    return render_case(request, user, case, session, extra=extra)


def _refusal(request: Request, user: AppUser, composed: Composed) -> MessageRefused:
    if composed.findings:
        text = tr(request, user, "The content linter refuses this message")
        return MessageRefused(f"{text}: {', '.join(composed.rules)}", details={"rules": composed.rules})
    if composed.point is None:
        no_point = tr(request, user, "The borrower has no address for this channel that consented.")
        return MessageRefused(no_point)
    return MessageRefused(tr(request, user, "The template gave an empty message."))


@router.post("/cases/{case_id}/message")
def send_message(
    case_id: int,
    request: Request,
    user: Worker,
    session: DbSession,
    template: Annotated[str, Form(max_length=200)],
    locale: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Queue the message in the outbox (refused with the linter's findings, if any); the dispatcher
    judges it again and sends it."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    now = utcnow()
    try:
        composed = compose(request, user, case, session=session, choice=template, locale=locale, now=now)
    except RecoupError as exc:
        return refused(request, user, case, session, exc, "message")
    if composed.findings or composed.point is None or not composed.body:
        no = _refusal(request, user, composed)
        do_append(
            "contact.message_refused",
            {"case_id": case.id, "template": composed.template, "rules": composed.rules},
            session=session,
            actor=user.username,
            settings=s,
        )
        if composed.findings:
            return _with_preview(request, user, case, session, no, composed)
        return refused(request, user, case, session, no, "message")
    borrower_key = session.scalar(select(Borrower.external_id).where(Borrower.id == case.borrower_id))
    assert borrower_key is not None
    slot = f"case-page:{case.id}:{composed.template}:{now.astimezone(s.tz):%Y%m%dT%H%M}"
    account = f"debt:{composed.loan}" if composed.loan else f"borrower:{borrower_key}"
    key = outbox_key(None, account, slot)
    again = session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key))
    kind = DestinationKind.EMAIL if composed.channel == Channel.EMAIL else DestinationKind.MOBILE
    msg = do_enqueue(
        session=session,
        as_of=None,  # not a day's plan: a person's message never makes a later cycle's day look stale
        borrower_key=borrower_key,
        debt_key=composed.loan,
        slot=slot,
        channel=composed.channel,
        party=Party.DEBTOR,
        destination=composed.point.value,
        destination_kind=kind,
        body=composed.body,
        subject=composed.subject,
        locale=composed.locale,
        template=composed.template,
        decision=f"case page · {user.username}"[:200],
        due_at=now,
        expires_at=now + dt.timedelta(hours=s.message_validity_hours),
        settings=s,
        cipher=cipher_of(request),
    )
    verdict = composed.verdict
    if again is None:
        do_append(
            "contact.message_queued",
            {
                "case_id": case.id,
                "outbox_id": msg.id,
                "message_id": msg.message_id,
                "template": composed.template,
                "channel": composed.channel.value,
                "verdict_now": verdict.verdict if verdict else None,
                "rules_now": list(verdict.rules) if verdict else [],
            },
            session=session,
            actor=user.username,
            settings=s,
        )
    flash = _queued(request, user, composed, again is not None)
    return render_case(request, user, case, session, flash=flash)


def _queued(request: Request, user: AppUser, composed: Composed, again: bool) -> str:
    """What the flash says: queued (or already queued), and what the policy says of it right now."""
    if again:
        head = tr(request, user, "This message was already queued.")
    else:
        head = tr(request, user, "Message queued for sending.")
    v = composed.verdict
    if v is None or v.verdict == "allowed":
        allowed = tr(request, user, "The contact policy allows it now.")
        return f"{head} {allowed}"
    rules = ", ".join(v.rules)
    if v.verdict == "deferred":
        when = tr(request, user, "The contact policy defers it now until")
        then = tr(request, user, "the dispatcher sends it then")
        return f"{head} {when} {composed.until} · {rules}; {then}."
    blocked = tr(request, user, "The contact policy blocks it now")
    unless = tr(request, user, "the dispatcher will not send it unless that changes")
    return f"{head} {blocked} · {rules}; {unless}."


def _with_preview(
    request: Request, user: AppUser, case: Case, session: DbSession, exc: RecoupError, composed: Composed
) -> Response:
    """The refusal with the rendering and its findings shown in the form."""
    extra = {"preview": composed, "message_choice": composed.choice, "message_locale": composed.locale}
    return render_case(
        request, user, case, session, flash=exc.message, error=True, form="message", extra=extra
    )
