"""Provider callbacks: delivery receipts and replies posted back by the channel plugins' providers.

A callback is authenticated per channel, not per user: an HMAC-SHA256 over ``f"{timestamp}.{body}"``
(the raw body bytes) with the channel's ``callback_secret`` from the channels file, sent as
``X-Recoup-Signature: sha256=<hex>`` with ``X-Recoup-Timestamp: <unix seconds>``; a timestamp more
than :data:`TOLERANCE_SECONDS` away from our clock is refused (a captured request cannot be replayed
later). The configured plugin parses the body (``parse_receipt``, else ``parse_inbound``):

- a receipt updates its outbox message (:func:`~recoup.contact.outbox.do_apply_receipt`);
- an opt-out reply (``STOP``, ``退订`` …, as the plugin's :func:`~recoup.contact.channels.base.is_opt_out`
  says) revokes the consent for that channel and destination at once, for every borrower we sent to that
  destination on that channel (:func:`do_revoke_by_reply`), and writes a ledger entry (ids and hashes);
- any other reply, or a body neither parser recognises, is recorded and ignored.

Each accepted callback is one ``channel_callback`` row, unique per (channel, provider id), so the same
event posted twice is applied once. Services never commit; the request is the unit of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.contact.channels.base import ChannelConfigError, ChannelPlugin, Inbound, Receipt
from recoup.contact.channels.registry import CALLBACK_KEYS, Channels, channels_path, read_channels_file
from recoup.contact.models import ChannelCallback, ContactConsent, OutboxMessage
from recoup.contact.outbox import do_apply_receipt
from recoup.contact.service import destination_hash, do_record_consent
from recoup.contact.vocab import Channel
from recoup.db import utcnow, writing
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher, cipher_from_settings, mask_text

__all__ = [
    "CALLBACK_KEYS",
    "MAX_BODY_BYTES",
    "MIN_SECRET_LENGTH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "BadPayloadError",
    "BadSignatureError",
    "CallbackEndpoint",
    "CallbackError",
    "CallbackOutcome",
    "CallbackStatus",
    "NotConfiguredError",
    "Revocation",
    "StaleTimestampError",
    "TooLargeError",
    "UnknownChannelError",
    "callback_endpoint",
    "do_handle_callback",
    "do_revoke_by_reply",
    "parse_body",
    "plugin_config",
    "provider_id_for",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Recoup-Signature"
TIMESTAMP_HEADER = "X-Recoup-Timestamp"
#: A signed timestamp further than this from our clock is refused (replay protection).
TOLERANCE_SECONDS = 300
#: Bodies larger than this are refused with 413 before they are read to the end.
MAX_BODY_BYTES = 64 * 1024
MIN_SECRET_LENGTH = 16
#: Keys of a channel's table in the channels file that belong to the callback endpoint, not the plugin.
_PROVIDER_ID_MAX = 200
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


# --------------------------------------------------------------------------------------------- errors


class CallbackError(RecoupError):
    code = "callback.invalid"
    http_status = 400


class UnknownChannelError(CallbackError):
    code = "callback.unknown_channel"
    http_status = 404


class NotConfiguredError(CallbackError):
    """The channel has no callback secret: it accepts no callbacks (404, as if the endpoint were absent)."""

    code = "callback.not_configured"
    http_status = 404


class BadSignatureError(CallbackError):
    code = "callback.bad_signature"
    http_status = 401


class StaleTimestampError(CallbackError):
    code = "callback.stale_timestamp"
    http_status = 401


class TooLargeError(CallbackError):
    code = "callback.too_large"
    http_status = 413


class BadPayloadError(CallbackError):
    code = "callback.bad_payload"
    http_status = 422


# ------------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class CallbackEndpoint:
    """What the channels file says about one channel's callbacks: its plugin and its secrets."""

    channel: Channel
    plugin: str
    config: Mapping[str, Any] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    base_dir: Path | None = None

    def build_plugin(self) -> ChannelPlugin:
        """The configured plugin (validated as the dispatcher validates it); close it after use."""
        chans = Channels({self.channel: (self.plugin, dict(self.config))}, base_dir=self.base_dir)
        try:
            return chans[self.channel]
        except ChannelConfigError as exc:
            raise _hidden(self.channel, exc) from None


def plugin_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A channel table's plugin configuration: every key but the callback keys."""
    return {k: v for k, v in raw.items() if k not in CALLBACK_KEYS}


def _secrets(channel: Channel, raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The channel's callback secrets (several while a secret is being rotated); empty: not configured."""
    where = f"channels file [{channel.value}]"
    values: list[str] = []
    given = raw.get("callback_secret")
    if given is not None:
        items = given if isinstance(given, list) else [given]
        if not items or not all(isinstance(s, str) for s in items):
            raise ChannelConfigError(
                f"{where} callback_secret must be a string or a list of strings · 回调密钥格式无效",
                details={"field": f"{channel.value}.callback_secret"},
            )
        values.extend(items)
    env = raw.get("callback_secret_env")
    if env is not None:
        if not isinstance(env, str) or not env:
            raise ChannelConfigError(
                f"{where} callback_secret_env must name an environment variable · 须为环境变量名",
                details={"field": f"{channel.value}.callback_secret_env"},
            )
        from_env = os.environ.get(env, "")
        if from_env:
            values.append(from_env)
        else:
            log.warning("callbacks on %s: environment variable %s is empty or unset", channel.value, env)
    for s in values:
        if len(s) < MIN_SECRET_LENGTH:
            raise ChannelConfigError(
                f"{where}: a callback secret must have at least {MIN_SECRET_LENGTH} characters "
                "· 回调密钥过短",
                details={"field": f"{channel.value}.callback_secret"},
            )
    return tuple(values)


def _hidden(channel: Channel, exc: ChannelConfigError) -> ChannelConfigError:
    """A configuration error as the caller sees it: the detail (file, field) goes to the log only."""
    log.error("callbacks on %s refused: %s", channel.value, exc.message)
    return ChannelConfigError(
        "the channel's configuration is invalid; the operator can find why in the log / 渠道配置无效",
        details={"channel": channel.value},
    )


def callback_endpoint(channel: str, *, settings: Settings) -> CallbackEndpoint:
    """The callback configuration of ``channel`` from the channels file; 404 for an unknown channel
    (``callback.unknown_channel``) or one without a secret (``callback.not_configured``); 500
    ``channel.config`` (details in the log) for a bad file or a secret shorter than 16 characters."""
    try:
        ch = Channel(channel)
    except ValueError:
        raise UnknownChannelError(
            "unknown channel / 未知渠道", details={"channels": [c.value for c in Channel]}
        ) from None
    try:
        name, raw = read_channels_file(channels_path(settings))[ch]
        secrets = _secrets(ch, raw)
    except ChannelConfigError as exc:
        raise _hidden(ch, exc) from None
    if not secrets:
        raise NotConfiguredError(
            f"channel {ch.value} accepts no callbacks: no callback secret is configured "
            "/ 该渠道未配置回调密钥",
            details={"channel": ch.value},
        )
    return CallbackEndpoint(ch, name, plugin_config(raw), secrets, settings.data_dir)


# ------------------------------------------------------------------------------------ authentication


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Recoup-Signature`` value for ``body`` sent at ``timestamp``: ``sha256=<hex>`` of
    HMAC-SHA256(secret, ``f"{timestamp}.{body}"``)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secrets: tuple[str, ...],
    *,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: dt.datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Check the signature (constant-time, against every configured secret), then the timestamp's age.

    401 ``callback.bad_signature`` for a missing, malformed or wrong signature or timestamp; 401
    ``callback.stale_timestamp`` for a good signature on a timestamp more than ``tolerance`` seconds off.
    """
    if not signature or not timestamp:
        raise BadSignatureError(
            f"send {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} / 缺少签名或时间戳",
            details={"reason": "missing"},
        )
    if not _TIMESTAMP.fullmatch(timestamp.strip()):
        raise BadSignatureError(
            f"{TIMESTAMP_HEADER} must be unix seconds / 时间戳须为 Unix 秒", details={"reason": "timestamp"}
        )
    ts = timestamp.strip()
    given = [m.lower().encode("ascii") for m in _SIGNATURE.findall(signature)]
    expected = [sign(s, ts, body).removeprefix("sha256=").encode("ascii") for s in secrets]
    ok = False
    for e in expected:  # every comparison runs: no early exit that timing could reveal
        for g in given:
            ok |= hmac.compare_digest(e, g)
    if not ok:
        raise BadSignatureError("signature does not match / 签名不匹配", details={"reason": "mismatch"})
    skew = abs(now.timestamp() - int(ts))
    if skew > tolerance:
        raise StaleTimestampError(
            f"{TIMESTAMP_HEADER} is {int(skew)} s away from the server's clock (at most {tolerance} s) "
            "/ 时间戳过期",
            details={"skew_seconds": int(skew), "tolerance_seconds": tolerance},
        )


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The callback's fields: a JSON object, or a form (``application/x-www-form-urlencoded``)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayloadError(
            "the body is not UTF-8 / 请求体须为 UTF-8", details={"reason": "encoding"}
        ) from None
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        data = json.loads(text)
    except ValueError:
        raise BadPayloadError("the body is not JSON / 请求体须为 JSON", details={"reason": "json"}) from None
    if not isinstance(data, dict):
        raise BadPayloadError(
            "the body must be a JSON object / 请求体须为 JSON 对象", details={"reason": "not_object"}
        )
    return data


# --------------------------------------------------------------------------------------- processing


class CallbackStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True)
class CallbackOutcome:
    """What a callback did: the answer to the provider and the row that records it."""

    status: CallbackStatus
    kind: str
    result: str
    provider_id: str
    callback_id: int | None = None
    ledger_seq: int | None = None


@dataclass(frozen=True)
class Revocation:
    """What an opt-out reply revoked: the borrowers concerned, consents ended and revocations recorded."""

    destination_hash: str
    borrowers: tuple[str, ...]
    ended: tuple[int, ...]  # consents in force that the reply ended
    recorded: tuple[int, ...]  # the revocation records (one per borrower)
    in_reply_to: str | None


def provider_id_for(
    payload: Mapping[str, Any], receipt: Receipt | None, inbound: Inbound | None, body_sha256: str
) -> str:
    """The event's id: the payload's ``event_id`` when the provider sends one; else, for a receipt,
    (message id, provider reference, status), so a later status of the same message is a new event;
    for a reply, the provider's id of the reply; else the body's SHA-256."""
    explicit = payload.get("event_id")
    if isinstance(explicit, str | int) and not isinstance(explicit, bool) and str(explicit).strip():
        pid = f"event:{str(explicit).strip()}"
    elif receipt is not None:
        pid = f"receipt:{receipt.message_id or ''}:{receipt.provider_ref or ''}:{receipt.status}"
    elif inbound is not None and inbound.provider_ref:
        pid = f"inbound:{inbound.provider_ref}"
    else:
        pid = f"body:{body_sha256}"
    if len(pid) > _PROVIDER_ID_MAX:
        pid = "sha256:" + hashlib.sha256(pid.encode("utf-8")).hexdigest()
    return pid


def _message_for(session: Session, channel: Channel, receipt: Receipt) -> OutboxMessage | None:
    """The outbox message a receipt is about, on the callback's channel only (provider references of
    different plugins may collide; a provider authenticated for one channel cannot touch another's)."""
    conds = []
    if receipt.message_id:
        conds.append(OutboxMessage.message_id == receipt.message_id)
    if receipt.provider_ref:
        conds.append(OutboxMessage.provider_ref == receipt.provider_ref)
    if not conds:
        return None
    return session.scalars(
        select(OutboxMessage)
        .where(or_(*conds), OutboxMessage.channel == channel.value)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).first()


def do_revoke_by_reply(
    *,
    session: Session,
    channel: Channel,
    inbound: Inbound,
    now: dt.datetime,
    cipher: PiiCipher,
    how: str = "opt-out reply · 回复退订",
) -> Revocation:
    """Revoke, at once, the consent to contact the reply's sender on ``channel``, for every borrower we
    sent to that destination on that channel (and the borrower of the message replied to).

    The revocation takes effect at the reply's time (never later than ``now``). Consents in force then
    for that destination, or for every destination (``*``, which cannot exclude one number), are ended;
    a revocation record (granted and revoked at that instant) is added per borrower, so the policy's
    CONSENT-REVOKED rule blocks the destination even where no consent was ever recorded. A consent
    given after the reply stays in force.
    """
    when = min(inbound.at or now, now)
    hashed = destination_hash(inbound.sender, cipher)
    borrowers = set(
        session.scalars(
            select(OutboxMessage.borrower_key)
            .where(OutboxMessage.destination_hash == hashed, OutboxMessage.channel == channel.value)
            .distinct()
        )
    )
    replied: OutboxMessage | None = None
    if inbound.in_reply_to:
        replied = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.message_id == inbound.in_reply_to, OutboxMessage.channel == channel.value
            )
        ).first()
        if replied is not None:
            borrowers.add(replied.borrower_key)
    ended: list[int] = []
    recorded: list[int] = []
    for key in sorted(borrowers):
        in_force = session.scalars(
            select(ContactConsent).where(
                ContactConsent.borrower_key == key,
                ContactConsent.channel == channel.value,
                ContactConsent.destination_hash.in_((hashed, "*")),
                ContactConsent.granted_at <= when,
                or_(ContactConsent.revoked_at.is_(None), ContactConsent.revoked_at > when),
            )
        ).all()
        for consent in in_force:
            consent.revoked_at = when
            consent.revoked_recorded_at = now
            ended.append(consent.id)
        row = do_record_consent(
            session=session,
            borrower_key=key,
            channel=channel,
            destination=inbound.sender,
            granted_at=when,
            revoked_at=when,
            given_by="borrower",
            how=how,
            recorded_at=now,
            cipher=cipher,
        )
        recorded.append(row.id)
    session.flush()
    return Revocation(
        hashed,
        tuple(sorted(borrowers)),
        tuple(sorted(ended)),
        tuple(recorded),
        replied.message_id if replied is not None else None,
    )


def do_handle_callback(
    *,
    session: Session,
    channel: Channel,
    plugin: ChannelPlugin,
    body: bytes,
    payload: Mapping[str, Any],
    now: dt.datetime | None = None,
    settings: Settings,
    cipher: PiiCipher | None = None,
) -> CallbackOutcome:
    """Apply one authenticated callback once: parse it with the channel's plugin, record it under its
    provider id (a second arrival answers ``duplicate`` and changes nothing), then apply it.

    ``cipher`` (default: the installation's) hashes a reply's sender; receipts never need it."""
    writing(session)  # SQLite: take the write lock before the first read (this always writes)
    at = now or utcnow()
    body_sha = hashlib.sha256(body).hexdigest()
    try:
        receipt = plugin.parse_receipt(payload)
        inbound = None if receipt is not None else plugin.parse_inbound(payload)
    except Exception as exc:  # a value the plugin cannot read (a plugin should return None instead)
        log.warning(
            "callback on %s: plugin %s could not read it (%s)", channel.value, plugin.name, type(exc).__name__
        )
        raise BadPayloadError(
            f"the {plugin.name} plugin cannot read this body / 渠道插件无法解析回调内容",
            details={"reason": "plugin", "plugin": plugin.name},
        ) from None
    kind = "receipt" if receipt is not None else "inbound" if inbound is not None else "unknown"
    pid = provider_id_for(payload, receipt, inbound, body_sha)

    def duplicate(first: ChannelCallback | None) -> CallbackOutcome:
        if first is not None and first.body_sha256 != body_sha:
            log.warning(
                "callback %s on %s repeated with another body; kept the first", _safe(pid), channel.value
            )
        log.info("callback %s on %s: duplicate", _safe(pid), channel.value)
        return CallbackOutcome(
            CallbackStatus.DUPLICATE, kind, first.result if first else "", pid, first.id if first else None
        )

    existing = session.scalars(
        select(ChannelCallback).where(
            ChannelCallback.channel == channel.value, ChannelCallback.provider_id == pid
        )
    ).first()
    if existing is not None:
        return duplicate(existing)
    row = ChannelCallback(
        channel=channel.value, provider_id=pid, kind=kind, body_sha256=body_sha, received_at=at, result="new"
    )
    try:
        with session.begin_nested():  # a concurrent delivery of the same event commits first: duplicate
            session.add(row)
            session.flush()
    except IntegrityError:
        return duplicate(None)

    status, ledger_seq = CallbackStatus.IGNORED, None
    if receipt is not None:
        message = _message_for(session, channel, receipt)
        if message is None:
            row.result = "unmatched"
        else:
            exact = replace(receipt, message_id=message.message_id, provider_ref=None)
            do_apply_receipt(session=session, receipt=exact)
            row.result = "delivered" if receipt.delivered else "undelivered"
            row.message_id = message.message_id
            status = CallbackStatus.APPLIED
    elif inbound is not None and not inbound.opt_out:
        row.result = "reply"
    elif inbound is not None:
        # The path's channel is the one whose secret signed the callback: act on it (a plugin may
        # default the reply's channel, e.g. to sms).
        revocation = do_revoke_by_reply(
            session=session,
            channel=channel,
            inbound=replace(inbound, channel=channel),
            now=at,
            cipher=cipher or cipher_from_settings(settings),
        )
        row.message_id = revocation.in_reply_to
        if not revocation.borrowers:
            row.result = "opt_out_unmatched"
            log.warning(
                "opt-out reply on %s from a destination we never sent to (hash %s…)",
                channel.value,
                revocation.destination_hash[:12],
            )
        else:
            row.result = "opt_out"
            session.flush()
            entry = do_append(
                "contact.opt_out_reply",
                {
                    "channel": channel.value,
                    "callback_id": row.id,
                    "provider_id": pid,
                    "destination_hash": revocation.destination_hash,
                    "borrowers": list(revocation.borrowers),
                    "consents_ended": list(revocation.ended),
                    "revocations": list(revocation.recorded),
                    "in_reply_to": revocation.in_reply_to,
                },
                session=session,
                actor=f"callback:{channel.value}",
                settings=settings,
            )
            ledger_seq = entry.seq
            status = CallbackStatus.APPLIED
    else:
        row.result = "unrecognised"
    session.flush()
    log.info("callback %s on %s: %s %s (%s)", _safe(pid), channel.value, kind, row.result, status.value)
    return CallbackOutcome(status, kind, row.result, pid, row.id, ledger_seq)


def _safe(text: str) -> str:
    """An id for the log: masked (a provider could put a number in it) and short."""
    return mask_text(text)[:120]
