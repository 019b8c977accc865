"""Machine-to-machine posts through the outbox (write-back instructions to the lender's core system).

A *system* message is an outbox row with ``party = "system"``: it is planned in the caller's transaction
like any message (:func:`do_enqueue_system`) and sent after commit by the one dispatcher, with the same
claims, retries, backoff and ``dead``/``failed`` states — but it is not a contact: the contact policy
does not judge it and no contact attempt is recorded. Its destination is an HTTP(S) URL (encrypted like
every destination), its body the JSON to post; the ``plugin`` column names the sender profile, whose
secret signs the post.

Each post carries ``Idempotency-Key: <message_id>``, ``X-Recoup-Timestamp: <unix seconds>`` and
``X-Recoup-Signature: sha256=<hex>``, the HMAC-SHA256 over ``f"{timestamp}.{body}"`` (the raw body
bytes) — the scheme of the provider callbacks (:mod:`recoup.contact.callbacks`), outgoing. A 2xx reply is
accepted; 408, 425, 429, 5xx, timeouts and connection errors are temporary; other 4xx are permanent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from typing import Final

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.contact.channels.base import SendResult
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import OutboxStatus, outbox_key
from recoup.db import utcnow
from recoup.pii import PiiCipher

__all__ = [
    "SIGNATURE_HEADER",
    "SYSTEM_PARTY",
    "TIMESTAMP_HEADER",
    "deliver",
    "do_enqueue_system",
    "sign",
]

SYSTEM_PARTY: Final = "system"
SYSTEM_CHANNEL: Final = "system"
SIGNATURE_HEADER: Final = "X-Recoup-Signature"
TIMESTAMP_HEADER: Final = "X-Recoup-Timestamp"
_RETRYABLE_4XX: Final = frozenset({408, 425, 429})
TIMEOUT_S: Final = 10.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``f"{timestamp}.{body}"`` keyed with ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _secret(profile: str, settings: Settings) -> str | None:
    """The signing secret of a sender profile (one today: ``writeback``)."""
    if profile == "writeback" and settings.writeback_webhook_secret is not None:
        return settings.writeback_webhook_secret.get_secret_value()
    return None


def do_enqueue_system(
    *,
    session: Session,
    profile: str,
    ref: str,
    url: str,
    body: str,
    cipher: PiiCipher,
    message_id: str,
    due_at: dt.datetime | None = None,
) -> OutboxMessage:
    """Plan one system post in the caller's transaction; the same ``(profile, ref)`` again returns the first
    row unchanged. ``message_id`` is what the receiver deduplicates on."""
    key = outbox_key(None, f"{SYSTEM_PARTY}:{profile}", ref)
    values = {
        "key": key,
        "message_id": message_id,
        "as_of": None,  # not a day's contact plan: day-based counts and the cycle never see it
        "borrower_key": f"{SYSTEM_PARTY}:{profile}",
        "debt_key": None,
        "party": SYSTEM_PARTY,
        "channel": SYSTEM_CHANNEL,
        "plugin": profile,
        "destination_enc": cipher.encrypt(url),
        "destination_hash": cipher.lookup_hash(url),
        "destination_kind": None,
        "locale": "en",
        "subject": None,
        "body": body,
        "template": None,
        "decision": ref[:200],
        "due_at": (due_at or utcnow()).astimezone(dt.UTC),
        "expires_at": None,
        "status": OutboxStatus.PENDING.value,
        "tries": 0,
        "created_at": utcnow(),
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    return session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).one()


def deliver(
    *,
    profile: str,
    destination_enc: str,
    body: str,
    message_id: str,
    settings: Settings,
    cipher: PiiCipher,
    now: float | None = None,
) -> SendResult:
    """Post one system message (signed when the profile has a secret); never raises."""
    try:
        url = cipher.decrypt(destination_enc)
    except Exception as exc:  # a retired key: say so and retry (the rotation re-encrypts it)
        return SendResult.temporary(f"cannot decrypt the destination: {type(exc).__name__}")
    raw = body.encode("utf-8")
    stamp = str(int(now if now is not None else time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "recoup-dispatcher",
        "Idempotency-Key": message_id,
        TIMESTAMP_HEADER: stamp,
    }
    secret = _secret(profile, settings)
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, stamp, raw)
    try:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
            resp = client.post(url, content=raw, headers=headers)
    except httpx.TimeoutException as exc:
        return SendResult.temporary(f"{profile}: timeout ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return SendResult.temporary(f"{profile}: {type(exc).__name__}")
    code = resp.status_code
    if 200 <= code < 300:
        return SendResult.ok(message_id)
    error = f"{profile} HTTP {code}: {resp.text[:300]}"
    if 400 <= code < 500 and code not in _RETRYABLE_4XX:
        return SendResult.permanent_failure(error)
    return SendResult.temporary(error)
