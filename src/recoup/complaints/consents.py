"""Consents per channel (and destination) as people record them: granted by the borrower, withdrawn —
each in the audit ledger. The rules read them through the contact engine (``CONSENT-REQUIRED``,
``CONSENT-REVOKED``); a withdrawal revokes every consent in force on that channel (at that destination,
or all with ``*``), and with none in force it records the revocation itself, so the channel is blocked
either way. Services take ``session`` as a keyword argument and never commit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.contact.models import ContactConsent
from recoup.contact.policy.model import ConsentScope
from recoup.contact.service import destination_hash, do_record_consent
from recoup.contact.vocab import Channel
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.portfolio.models import Borrower

__all__ = ["ConsentInputError", "do_grant_consent", "do_withdraw_consent", "list_consents"]


class ConsentInputError(RecoupError):
    """A value is not acceptable; ``details["field"]`` names it."""

    code = "consent.invalid"
    http_status = 422
    exit_code = 65


def borrower_known(borrower_key: str, *, session: Session) -> None:
    if not session.scalar(select(Borrower.id).where(Borrower.external_id == borrower_key)):
        raise ConsentInputError(
            f"no borrower {borrower_key!r} / 借款人不存在", details={"field": "borrower_key"}
        )


def list_consents(
    *, session: Session, borrower_key: str | None = None, limit: int = 500
) -> list[ContactConsent]:
    """Consents (and their revocations), newest first."""
    q = select(ContactConsent)
    if borrower_key:
        q = q.where(ContactConsent.borrower_key == borrower_key)
    return list(session.scalars(q.order_by(ContactConsent.id.desc()).limit(limit)))


def do_grant_consent(
    *,
    session: Session,
    actor: str,
    borrower_key: str,
    channel: Channel,
    destination: str = "*",
    given_by: str = "borrower",
    how: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> ContactConsent:
    """Record the borrower's consent to ``channel`` (at ``destination``; ``*`` = every one) from now."""
    at = now or utcnow()
    borrower_known(borrower_key, session=session)
    row = do_record_consent(
        session=session,
        borrower_key=borrower_key,
        channel=channel,
        destination=destination,
        granted_at=at,
        given_by=given_by[:100] or "borrower",
        how=how[:100],
        recorded_at=at,
    )
    do_append(
        "consent.granted",
        {"consent_id": row.id, "channel": row.channel, "all_destinations": destination == "*"},
        session=session,
        actor=actor,
        settings=settings,
    )
    return row


def do_withdraw_consent(
    *,
    session: Session,
    actor: str,
    borrower_key: str,
    channel: Channel,
    destination: str = "*",
    how: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> list[ContactConsent]:
    """Withdraw consent to ``channel``: every consent in force there (at ``destination``, or every
    destination with ``*``) is revoked now; with none in force, the revocation itself is recorded."""
    at = now or utcnow()
    borrower_known(borrower_key, session=session)
    chan = Channel(channel)
    hashed = destination_hash(destination)
    rows = [
        c
        for c in session.scalars(
            select(ContactConsent).where(
                ContactConsent.borrower_key == borrower_key,
                ContactConsent.channel == chan.value,
                ContactConsent.scope == ConsentScope.CONTACT.value,
            )
        )
        if (hashed == "*" or c.destination_hash in (hashed, "*"))
        and c.granted_at <= at
        and (c.revoked_at is None or c.revoked_at > at)
    ]
    for c in rows:
        c.revoked_at, c.revoked_recorded_at = at, at
    if not rows:
        rows = [
            do_record_consent(
                session=session,
                borrower_key=borrower_key,
                channel=chan,
                destination=destination,
                granted_at=at,
                revoked_at=at,
                given_by="borrower",
                how=(how or "withdrawal")[:100],
                recorded_at=at,
            )
        ]
    session.flush()
    do_append(
        "consent.withdrawn",
        {"consent_ids": [c.id for c in rows], "channel": chan.value, "all_destinations": destination == "*"},
        session=session,
        actor=actor,
        settings=settings,
    )
    return rows
