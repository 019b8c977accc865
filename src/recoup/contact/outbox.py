"""The transactional outbox: messages are planned in the planner's transaction and sent after it commits.

``do_enqueue`` writes in the caller's transaction and never commits. A message's ``key`` is the sha256
of (as-of, account, slot) under a unique constraint, so planning it twice (a rerun of the cycle) is a
no-op that returns the first row. Its ``message_id`` is derived from the key (uuid5), never random, so
every resend carries the same id and receivers can deduplicate. The destination is stored encrypted,
with the keyed hash the contact rules compare.

Statuses: ``pending`` → ``sending`` (claimed by a dispatcher until ``claimed_until``) → ``sent``, or
``blocked`` (the policy said no at send time), ``failed`` (the provider refused it for good), ``dead``
(temporary failures until the retry budget ran out) or ``expired`` (its validity window, ``expires_at``,
closed before it could go: a reminder is never sent late; a backfilled day's messages are planned
``expired`` and never sent). Deferred messages go back to ``pending`` with a later ``due_at``. Rows are
never deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.contact.channels.base import Inbound, Receipt
from recoup.contact.channels.registry import channels_path, read_channels_file
from recoup.contact.models import ContactAttempt, ContactHold, OutboxMessage
from recoup.contact.policy.model import HoldKind
from recoup.contact.service import destination_hash, do_add_hold
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.pii import PiiCipher, cipher_from_settings

__all__ = [
    "OutboxError",
    "OutboxStatus",
    "counts",
    "do_apply_inbound",
    "do_apply_receipt",
    "do_enqueue",
    "do_requeue",
    "message_id_for",
    "outbox_key",
]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:recoup:outbox")


class OutboxError(RecoupError):
    code = "outbox.invalid"
    http_status = 422
    exit_code = 65


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    DEAD = "dead"
    EXPIRED = "expired"  # its validity window closed before it was sent (or it was planned for a past day)


def outbox_key(as_of: dt.date | None, account: str, slot: str) -> str:
    """sha256 hex of (as-of, account, slot): the same plan gives the same key."""
    text = "\x1f".join((as_of.isoformat() if as_of else "", account, slot))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message_id_for(key: str) -> str:
    """The stable message id of an outbox key (uuid5): identical on every resend."""
    return str(uuid.uuid5(_NAMESPACE, key))


_route_cache: dict[Path, tuple[float, dict[Channel, str]]] = {}


def _plugin_for(channel: Channel, settings: Settings) -> str:
    """The plugin the channels file names for ``channel`` (re-read when the file changes)."""
    path = channels_path(settings)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    cached = _route_cache.get(path)
    if cached is None or cached[0] != mtime:
        routes = {ch: name for ch, (name, _raw) in read_channels_file(path).items()}
        cached = (mtime, routes)
        _route_cache[path] = cached
    return cached[1][channel]


def _need(value: str | None, field: str, limit: int) -> str:
    if value is None or not value.strip():
        raise OutboxError(f"outbox: {field} is required · {field} 不能为空", details={"field": field})
    if len(value) > limit:
        raise OutboxError(
            f"outbox: {field} is longer than {limit} characters · {field} 过长", details={"field": field}
        )
    return value


def _fits(value: str | None, field: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise OutboxError(
            f"outbox: {field} is longer than {limit} characters · {field} 过长", details={"field": field}
        )
    return value


def do_enqueue(
    *,
    session: Session,
    as_of: dt.date | None,
    borrower_key: str,
    debt_key: str | None,
    slot: str,
    channel: Channel | str,
    party: Party | str,
    destination: str,
    destination_kind: DestinationKind | str | None,
    body: str,
    subject: str | None = None,
    locale: str | None = None,
    template: str | None = None,
    decision: str | None = None,
    due_at: dt.datetime,
    expires_at: dt.datetime | None = None,
    expired: str | None = None,
    plugin: str | None = None,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
) -> OutboxMessage:
    """Plan one message in the caller's transaction; the same (as_of, account, slot) again returns the
    first row unchanged. ``plugin`` defaults to the one the channels file names for the channel.

    ``expires_at`` ends the message's validity window: the dispatcher never sends it later (status
    ``expired``); None, no window. ``expired`` (a reason) plans it already ``expired``: kept and
    visible, never sent (a backfilled day's reminders)."""
    s = settings or get_settings()
    try:
        ch, pa = Channel(channel), Party(party)
        kind = DestinationKind(destination_kind) if destination_kind else None
    except ValueError as exc:
        raise OutboxError(f"outbox: {exc}", details={"field": "channel/party/destination_kind"}) from None
    _need(borrower_key, "borrower_key", 64)
    _fits(debt_key, "debt_key", 64)
    _need(slot, "slot", 200)
    _need(destination, "destination", 320)
    _need(body, "body", 100_000)
    _fits(subject, "subject", 300)
    _fits(template, "template", 120)
    _fits(decision, "decision", 200)
    for name, when in (("due_at", due_at), ("expires_at", expires_at)):
        if when is not None and (when.tzinfo is None or when.utcoffset() is None):
            raise OutboxError(f"outbox: {name} needs a time zone · {name} 须带时区", details={"field": name})
    _fits(expired, "expired", 1000)
    c = cipher or cipher_from_settings(s)
    key = outbox_key(as_of, f"debt:{debt_key}" if debt_key else f"borrower:{borrower_key}", slot)
    values = {
        "key": key,
        "message_id": message_id_for(key),
        "as_of": as_of,
        "borrower_key": borrower_key,
        "debt_key": debt_key,
        "party": pa.value,
        "channel": ch.value,
        "plugin": _fits(plugin, "plugin", 40) or _plugin_for(ch, s),
        "destination_enc": c.encrypt(destination.strip()),
        "destination_hash": destination_hash(destination.strip(), c),
        "destination_kind": kind.value if kind else None,
        "locale": locale or s.locale,
        "subject": subject,
        "body": body,
        "template": template,
        "decision": decision,
        "due_at": due_at.astimezone(dt.UTC),
        "expires_at": expires_at.astimezone(dt.UTC) if expires_at is not None else None,
        "status": (OutboxStatus.EXPIRED if expired else OutboxStatus.PENDING).value,
        "last_error": expired or None,
        "tries": 0,
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: a replan is a no-op without aborting the caller's transaction.
    session.execute(insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    return session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).one()


def do_requeue(*, session: Session, message_ids: Iterable[str], due_at: dt.datetime | None = None) -> int:
    """Put ``dead`` or ``failed`` messages back to ``pending`` with a fresh retry budget; how many."""
    ids = list(message_ids)
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.message_id.in_(ids),
            OutboxMessage.status.in_([OutboxStatus.DEAD.value, OutboxStatus.FAILED.value]),
        )
        .values(
            status=OutboxStatus.PENDING.value,
            tries=0,
            claims=0,
            next_try_at=None,
            claimed_until=None,
            due_at=(due_at or utcnow()).astimezone(dt.UTC),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def counts(*, session: Session) -> dict[str, int]:
    """Messages per status."""
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    return {str(status): int(n) for status, n in rows}


def do_apply_receipt(*, session: Session, receipt: Receipt) -> OutboxMessage | None:
    """Record a delivery receipt on its message (found by message id or provider reference); when the
    receipt tells the outcome (a robot call not answered), the dispatcher's attempt row is corrected."""
    conds = []
    if receipt.message_id:
        conds.append(OutboxMessage.message_id == receipt.message_id)
    if receipt.provider_ref:
        conds.append(OutboxMessage.provider_ref == receipt.provider_ref)
    if not conds:
        return None
    row = session.scalars(select(OutboxMessage).where(or_(*conds)).limit(1)).first()
    if row is None:
        return None
    row.delivered = receipt.delivered
    if receipt.outcome is not None:
        attempt = session.scalars(
            select(ContactAttempt).where(
                ContactAttempt.source == "dispatcher", ContactAttempt.external_id == row.message_id
            )
        ).first()
        if attempt is not None:
            attempt.outcome = receipt.outcome.value
            attempt.disposition = receipt.status[:30]
    session.flush()
    return row


def do_apply_inbound(
    *,
    session: Session,
    inbound: Inbound,
    at: dt.datetime | None = None,
    cipher: PiiCipher | None = None,
) -> ContactHold | None:
    """An opt-out reply places a ``stop`` hold on that channel for the borrower it came from (found by
    the message replied to, else the newest message sent to the sender); other replies return None."""
    if not inbound.opt_out:
        return None
    row: OutboxMessage | None = None
    if inbound.in_reply_to:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id == inbound.in_reply_to)
        ).first()
    if row is None:
        hashed = destination_hash(inbound.sender, cipher)
        row = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.destination_hash == hashed, OutboxMessage.channel == inbound.channel.value)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    when = at or inbound.at or utcnow()
    return do_add_hold(
        session=session,
        borrower_key=row.borrower_key,
        kind=HoldKind.STOP,
        start=when,
        channels=[inbound.channel],
        reason="opt-out reply · 回复退订",
        evidence=f"reply to {row.message_id}",
        created_by="inbound",
    )
