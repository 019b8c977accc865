"""The borrower's notice before outsourcing (CN-OUTSRC): whether the preset requires it, and queueing it.

The notice is an SMS to the borrower's own valid mobile (an email when there is none), rendered from the
active template ``agency_notice:sms:LOCALE`` (``agency_notice:email:LOCALE``) when one is active, else
from the defaults below, linted like every message, and queued in the outbox
(:func:`recoup.contact.outbox.do_enqueue`): the dispatcher judges it against the contact policy when it
sends. The placement waits in ``pending_notice`` until the message is ``sent``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.cases.models import Case
from recoup.config import Settings
from recoup.contact import templates
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.errors import RecoupError
from recoup.pii import PiiCipher
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.definition import StrategyDoc

__all__ = [
    "DEFAULT_NOTICES",
    "NOTICE_RULE",
    "Notice",
    "do_queue_notice",
    "notice_reachable",
    "notice_required",
]

NOTICE_RULE: Final = "CN-OUTSRC"
TEMPLATE: Final = "agency_notice"
#: The shipped notice texts (an operator may activate their own ``agency_notice`` templates instead).
DEFAULT_NOTICES: Final[dict[tuple[Channel, str], tuple[str | None, str]]] = {
    (Channel.SMS, "zh_CN"): (
        None,
        "{{ signature }}{{ borrower_name }}您好，您在{{ lender_name }}的借款（{{ loan_ref }}）已逾期。"
        "特此告知：我司将委托合作机构{{ agency_name }}协助联系您处理还款事宜，"
        "还款请仍通过官方渠道。如有疑问请致电官方客服{{ hotline }}。{{ opt_out }}",
    ),
    (Channel.SMS, "en"): (
        None,
        "{{ signature }}Dear {{ borrower_name }}, your {{ lender_name }} loan ({{ loan_ref }}) is past due. "
        "We inform you that our partner agency {{ agency_name }} will "
        "contact you on our behalf about repayment; please keep paying through official channels only. "
        "Questions: call {{ hotline }}. {{ opt_out }}",
    ),
    (Channel.EMAIL, "zh_CN"): (
        "{{ lender_name }}：委托催收告知",
        "{{ borrower_name }}您好：\n\n您在{{ lender_name }}的借款（编号{{ loan_ref }}）已逾期。"
        "特此告知：我司将委托合作机构{{ agency_name }}协助联系您处理还款事宜。还款请仍通过官方渠道，"
        "如有疑问请致电官方客服{{ hotline }}。\n\n{{ lender_name }}",
    ),
    (Channel.EMAIL, "en"): (
        "{{ lender_name }}: notice of an agency acting for us",
        "Dear {{ borrower_name }},\n\nYour {{ lender_name }} loan ({{ loan_ref }}) is past due. "
        "We inform you that our partner agency {{ agency_name }} will "
        "contact you on our behalf about repayment. Please keep paying through official channels only; "
        "questions: call {{ hotline }}.\n\n"
        "{{ lender_name }}",
    ),
}


def notice_required(settings: Settings, *, session: Session) -> bool:
    """Whether the installation's contact preset requires the borrower's notice before a placement
    (``CN-OUTSRC`` enabled with ``notify_borrower``)."""
    preset = resolve(settings.jurisdiction, session=session)
    params = preset.rules.get(NOTICE_RULE)
    return params is not None and bool(params.get("notify_borrower", True))


@dataclass(frozen=True)
class Notice:
    """A queued notice: the outbox key and the channel, or why none could be queued."""

    key: str | None
    channel: str | None
    problem: str | None = None


def _point(borrower_id: int, *, session: Session) -> tuple[Channel, str, DestinationKind] | None:
    points = session.scalars(
        select(ContactPoint)
        .where(
            ContactPoint.borrower_id == borrower_id,
            ContactPoint.role.in_(("self", "debtor")),
            ContactPoint.is_valid.is_(True),
        )
        .order_by(ContactPoint.id)
    ).all()
    for kind, channel, consent, dkind in (
        (("phone", "mobile"), Channel.SMS, "sms", DestinationKind.MOBILE),
        (("email",), Channel.EMAIL, "email", DestinationKind.EMAIL),
    ):
        for cp in points:
            consented = cp.consent_channels is None or consent in cp.consent_channels.split(",")
            if cp.kind in kind and consented and cp.value.strip():
                return channel, cp.value.strip(), dkind
    return None


def notice_reachable(case_ids: Sequence[int], *, session: Session) -> set[int]:
    """The cases whose borrower has a usable mobile or email for the notice."""
    out: set[int] = set()
    for i in range(0, len(case_ids), 900):
        part = list(case_ids[i : i + 900])
        borrowers = dict(session.execute(select(Case.id, Case.borrower_id).where(Case.id.in_(part))).all())
        for cid, bid in borrowers.items():
            if _point(bid, session=session) is not None:
                out.add(int(cid))
    return out


def _template(channel: Channel, locale: str, *, session: Session) -> templates.MessageTemplate:
    found = templates.active_template(f"{TEMPLATE}:{channel.value}:{locale}", session=session)
    if found is not None:
        return found
    subject, body = DEFAULT_NOTICES[(channel, locale)]
    return templates.MessageTemplate(
        name=TEMPLATE, channel=channel, locale=locale, body=body, subject=subject
    )


def do_queue_notice(
    *,
    placement_id: int,
    case_id: int,
    borrower_id: int,
    agency_name: str,
    on: dt.date,
    session: Session,
    settings: Settings,
    cipher: PiiCipher,
) -> Notice:
    """Queue the notice of placement ``placement_id`` for the borrower, due at 09:00 on ``on`` in the
    lender's timezone and valid for the settings' message validity (a notice the dispatcher could not
    send in time expires and the placement is cancelled). ``problem`` says why nothing was queued."""
    borrower = session.get(Borrower, borrower_id)
    point = _point(borrower_id, session=session)
    if borrower is None or point is None:
        return Notice(None, None, "no usable mobile or email for the notice / 无可用于告知的手机或邮箱")
    channel, destination, dkind = point
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id == case_id, CollectionAccount.status == "open")
            .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
        )
    )
    loan = accounts[0].external_id if accounts else None
    locale = "en" if (borrower.locale or settings.locale).startswith("en") else "zh_CN"
    doc = StrategyDoc.model_construct(name="agency-notice", rows=[])
    dpd = max((a.dpd for a in accounts), default=0)
    ctx = templates.MessageContext(
        borrower_name=borrower.name.strip() or ("客户" if locale == "zh_CN" else "customer"),
        amount_overdue=sum(a.overdue_amount for a in accounts),
        due_date=on - dt.timedelta(days=dpd),
        days_past_due=dpd,
        lender_name=settings.lender_name or doc.lender_name,
        currency=accounts[0].currency if accounts else settings.currency,
        agency_name=agency_name,
        hotline=settings.hotline or doc.hotline,
        opt_out=doc.opt_out.get(locale, ""),
        signature=settings.sms_signature or doc.signature,
        loan_ref=f"{loan[:1]}****{loan[-4:]}" if loan and len(loan) > 5 else "****",
    )
    sig = settings.signature_text or doc.registered_signature
    tpl = _template(channel, locale, session=session)
    try:
        rendered = templates.render(
            tpl,
            ctx,
            preset=resolve(settings.jurisdiction, session=session).linter,
            domains=settings.link_domains,
            signatures=list(settings.sms_signatures) or ([sig] if sig else []),
        )
    except RecoupError as exc:
        return Notice(
            None, None, f"the notice's rendering was rejected / 告知短信未通过检查: {exc.message}"[:500]
        )
    due = dt.datetime.combine(on, dt.time(9), tzinfo=settings.tz)
    msg = do_enqueue(
        session=session,
        as_of=on,
        borrower_key=session.scalar(select(Borrower.external_id).where(Borrower.id == borrower_id)) or "",
        debt_key=loan,
        slot=f"agency-notice:{placement_id}",
        channel=channel,
        party=Party.DEBTOR,
        destination=destination,
        destination_kind=dkind,
        body=rendered.body,
        subject=rendered.subject,
        locale=locale,
        template=rendered.template,
        decision=f"agency placement {placement_id} (CN-OUTSRC notice)",
        due_at=due,
        expires_at=due + dt.timedelta(hours=max(settings.message_validity_hours, 72)),
        settings=settings,
        cipher=cipher,
    )
    return Notice(msg.key, channel.value)
