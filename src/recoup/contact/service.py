"""Contact services: record attempts, holds, consents and flags; judge an attempt against the database.

Services take ``session`` as a keyword and never commit. ``known_at`` is the knowledge time: a hold,
consent, revocation or flag counts only if it had been recorded by then, which is how ``policy audit``
replays an attempt "through the policy as it stood at the time".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.contact.models import ContactAttempt, ContactConsent, ContactFlag, ContactHold
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import (
    FLAG_ALIASES,
    BorrowerContext,
    Consent,
    ConsentScope,
    Flag,
    Hold,
    HoldKind,
    PriorAttempt,
    Proposal,
    Verdict,
)
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.pii import PiiCipher, cipher_from_settings, mask_email, mask_phone
from recoup.portfolio.models import Borrower, ContactPoint

__all__ = [
    "ATTEMPT_FACTS_SCHEMA",
    "BorrowerState",
    "ContactInputError",
    "attempt_facts",
    "borrower_context",
    "borrower_state",
    "check_attempt",
    "destination_hash",
    "do_add_hold",
    "do_record_attempt",
    "do_record_consent",
    "do_set_flag",
    "history_for",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"


class ContactInputError(RecoupError):
    code = "contact.invalid"
    http_status = 422


def _aware(ts: dt.datetime, field: str) -> dt.datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ContactInputError(f"{field}: a time zone is required · 时间须带时区", details={"field": field})
    return ts.astimezone(dt.UTC)


def destination_hash(destination: str, cipher: PiiCipher | None = None) -> str:
    """The keyed hash that stands for a destination in attempts and consents (``*`` stays ``*``)."""
    if destination == "*":
        return "*"
    return (cipher or cipher_from_settings()).lookup_hash(destination)


def _masked(destination: str) -> str:
    if "@" in destination:
        return mask_email(destination)
    if any(c.isdigit() for c in destination):
        return mask_phone(destination)
    return destination[:1] + "***"


def do_record_attempt(
    *,
    session: Session,
    source: str,
    external_id: str,
    borrower_key: str,
    at: dt.datetime,
    channel: Channel,
    party: Party,
    destination: str,
    outcome: AttemptOutcome,
    made_by: str,
    debt_key: str | None = None,
    destination_kind: DestinationKind | None = None,
    disposition: str | None = None,
    recording_ref: str | None = None,
    agency: str | None = None,
    content: str | None = None,
    preset: str | None = None,
    cipher: PiiCipher | None = None,
) -> ContactAttempt:
    """Record one attempt; the same (source, external_id) twice returns the first row (idempotent)."""
    existing = session.scalars(
        select(ContactAttempt).where(
            ContactAttempt.source == source, ContactAttempt.external_id == external_id
        )
    ).first()
    if existing is not None:
        return existing
    row = ContactAttempt(
        source=source,
        external_id=external_id,
        borrower_key=borrower_key,
        debt_key=debt_key,
        party=Party(party).value,
        channel=Channel(channel).value,
        destination_hash=destination_hash(destination, cipher),
        destination_masked=_masked(destination),
        destination_kind=DestinationKind(destination_kind).value if destination_kind else None,
        at=_aware(at, "at"),
        outcome=AttemptOutcome(outcome).value,
        disposition=disposition,
        recording_ref=recording_ref,
        made_by=made_by,
        agency=agency,
        content=content,
        preset=preset,
    )
    session.add(row)
    session.flush()
    return row


def do_add_hold(
    *,
    session: Session,
    borrower_key: str,
    kind: HoldKind,
    start: dt.datetime,
    end: dt.datetime | None = None,
    channels: Sequence[Channel] | None = None,
    debt_key: str | None = None,
    reason: str = "",
    evidence: str | None = None,
    approved_by: str | None = None,
    created_by: str = "system",
    recorded_at: dt.datetime | None = None,
) -> ContactHold:
    """Place a hold; an end before the start is refused."""
    start = _aware(start, "start")
    end = _aware(end, "end") if end is not None else None
    if end is not None and end <= start:
        raise ContactInputError("hold end must be after its start · 结束时间须晚于开始时间")
    row = ContactHold(
        borrower_key=borrower_key,
        debt_key=debt_key,
        kind=HoldKind(kind).value,
        start_at=start,
        end_at=end,
        channels=[Channel(c).value for c in channels] if channels is not None else None,
        reason=reason,
        evidence=evidence,
        approved_by=approved_by,
        created_by=created_by,
        created_at=recorded_at or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def do_record_consent(
    *,
    session: Session,
    borrower_key: str,
    channel: Channel,
    destination: str,
    granted_at: dt.datetime,
    revoked_at: dt.datetime | None = None,
    scope: ConsentScope = ConsentScope.CONTACT,
    given_by: str = "borrower",
    how: str = "",
    recorded_at: dt.datetime | None = None,
    cipher: PiiCipher | None = None,
) -> ContactConsent:
    """Record a consent (and, if given, its revocation)."""
    row = ContactConsent(
        borrower_key=borrower_key,
        channel=Channel(channel).value,
        destination_hash=destination_hash(destination, cipher),
        scope=ConsentScope(scope).value,
        granted_at=_aware(granted_at, "granted_at"),
        revoked_at=_aware(revoked_at, "revoked_at") if revoked_at else None,
        given_by=given_by,
        how=how,
        created_at=recorded_at or utcnow(),
        revoked_recorded_at=(recorded_at or utcnow()) if revoked_at else None,
    )
    session.add(row)
    session.flush()
    return row


def do_set_flag(
    *, session: Session, borrower_key: str, flag: str, set_at: dt.datetime, set_by: str = "system"
) -> ContactFlag:
    """Set a borrower flag (see :class:`~recoup.contact.policy.model.Flag`)."""
    value = (FLAG_ALIASES.get(flag) or Flag(flag)).value
    row = ContactFlag(borrower_key=borrower_key, flag=value, set_at=_aware(set_at, "set_at"), set_by=set_by)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class BorrowerState:
    """Everything recorded about a borrower's contact rules, to be seen as of any knowledge time."""

    timezone: str
    emergency_contacts: int
    flags: tuple[ContactFlag, ...]
    holds: tuple[ContactHold, ...]
    consents: tuple[ContactConsent, ...]

    def at(self, known_at: dt.datetime) -> BorrowerContext:
        """The borrower as the rules saw them at ``known_at`` (only what had been recorded by then)."""
        return BorrowerContext(
            timezone=self.timezone,
            flags=frozenset(
                Flag(f.flag)
                for f in self.flags
                if f.set_at <= known_at and (f.cleared_at is None or f.cleared_at > known_at)
            ),
            holds=tuple(
                Hold(
                    HoldKind(h.kind),
                    h.start_at,
                    h.end_at,
                    frozenset(Channel(c) for c in h.channels) if h.channels is not None else None,
                    h.debt_key,
                )
                for h in self.holds
                if h.created_at <= known_at
            ),
            consents=tuple(
                Consent(
                    Channel(c.channel),
                    c.destination_hash,
                    c.granted_at,
                    # A revocation counts only once it was recorded.
                    c.revoked_at
                    if c.revoked_at is not None
                    and c.revoked_recorded_at is not None
                    and c.revoked_recorded_at <= known_at
                    else None,
                    ConsentScope(c.scope),
                )
                for c in self.consents
                if c.created_at <= known_at
            ),
            emergency_contacts=self.emergency_contacts,
        )


def borrower_state(borrower_key: str, *, session: Session) -> BorrowerState:
    """Load the borrower's time zone, emergency contacts, flags, holds and consents once."""
    borrower = session.scalars(select(Borrower).where(Borrower.external_id == borrower_key)).first()
    timezone = (borrower.timezone if borrower is not None else None) or DEFAULT_TIMEZONE
    emergency = 0
    if borrower is not None:
        emergency = len(
            session.scalars(
                select(ContactPoint.id).where(
                    ContactPoint.borrower_id == borrower.id, ContactPoint.role == "emergency_contact"
                )
            ).all()
        )
    flags = session.scalars(select(ContactFlag).where(ContactFlag.borrower_key == borrower_key)).all()
    holds = session.scalars(select(ContactHold).where(ContactHold.borrower_key == borrower_key)).all()
    consents = session.scalars(
        select(ContactConsent).where(ContactConsent.borrower_key == borrower_key)
    ).all()
    return BorrowerState(timezone, emergency, tuple(flags), tuple(holds), tuple(consents))


def borrower_context(borrower_key: str, *, session: Session, known_at: dt.datetime) -> BorrowerContext:
    """The borrower as the rules saw them at ``known_at``: time zone, flags, consents, holds, contacts."""
    return borrower_state(borrower_key, session=session).at(_aware(known_at, "known_at"))


def history_for(
    borrower_key: str, *, session: Session, before: dt.datetime, days: int = 400
) -> list[PriorAttempt]:
    """Attempts about the borrower (to anyone) in the ``days`` before ``before``, oldest first."""
    before = _aware(before, "before")
    rows = session.execute(
        select(
            ContactAttempt.at,
            ContactAttempt.channel,
            ContactAttempt.party,
            ContactAttempt.destination_hash,
            ContactAttempt.outcome,
            ContactAttempt.debt_key,
        )
        .where(
            ContactAttempt.borrower_key == borrower_key,
            ContactAttempt.at < before,
            ContactAttempt.at >= before - dt.timedelta(days=days),
        )
        .order_by(ContactAttempt.at, ContactAttempt.id)
    ).all()
    return [
        PriorAttempt(at, Channel(ch), Party(pa), dest, AttemptOutcome(out), debt)
        for at, ch, pa, dest, out, debt in rows
    ]


def check_attempt(
    policy: Policy,
    *,
    session: Session,
    borrower_key: str,
    proposal: Proposal,
    known_at: dt.datetime | None = None,
    cipher: PiiCipher | None = None,
) -> Verdict:
    """Judge ``proposal`` (whose destination is in clear) against what the database holds.

    The destination is hashed the way attempts and consents store it, so the rules compare like with like.
    """
    hashed = Proposal(
        id=proposal.id,
        at=proposal.at,
        channel=proposal.channel,
        party=proposal.party,
        destination=destination_hash(proposal.destination, cipher),
        destination_kind=proposal.destination_kind,
        debt_id=proposal.debt_id,
        content=proposal.content,
    )
    known = known_at or proposal.at
    borrower = borrower_context(borrower_key, session=session, known_at=known)
    history = history_for(borrower_key, session=session, before=proposal.at)
    return policy.judge(hashed, borrower=borrower, history=history, now=known)


#: The columns of the lake's ``out/contact_attempts`` (no destinations: ids, hashes and codes only).
ATTEMPT_FACTS_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "attempt_id": pl.Int64(),
    "source": pl.String(),
    "borrower_id": pl.String(),
    "loan_id": pl.String(),
    "at": pl.Datetime("us", "UTC"),
    "channel": pl.String(),
    "party": pl.String(),
    "destination_kind": pl.String(),
    "outcome": pl.String(),
    "disposition": pl.String(),
    "made_by": pl.String(),
    "agency": pl.String(),
    "has_recording": pl.Boolean(),
}


def attempt_facts(*, session: Session, as_of: dt.date, timezone: str) -> pl.DataFrame:
    """The attempts made on business date ``as_of`` (the lender's calendar day), for the lake."""
    zone = ZoneInfo(timezone)
    lo = dt.datetime.combine(as_of, dt.time(0), tzinfo=zone)
    hi = lo + dt.timedelta(days=1)
    rows = session.execute(
        select(
            ContactAttempt.id,
            ContactAttempt.source,
            ContactAttempt.borrower_key,
            ContactAttempt.debt_key,
            ContactAttempt.at,
            ContactAttempt.channel,
            ContactAttempt.party,
            ContactAttempt.destination_kind,
            ContactAttempt.outcome,
            ContactAttempt.disposition,
            ContactAttempt.made_by,
            ContactAttempt.agency,
            ContactAttempt.recording_ref.is_not(None),
        )
        .where(ContactAttempt.at >= lo, ContactAttempt.at < hi)
        .order_by(ContactAttempt.at, ContactAttempt.id)
    ).all()
    cols = list(ATTEMPT_FACTS_SCHEMA)[1:]
    data: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    data["at"] = [a.astimezone(dt.UTC) for a in data["at"]]
    frame = pl.DataFrame(data, schema={c: ATTEMPT_FACTS_SCHEMA[c] for c in cols})
    return frame.with_columns(pl.lit(as_of, pl.Date()).alias("as_of")).select(list(ATTEMPT_FACTS_SCHEMA))
