"""Handling one claimed message: load it under the claim's fence, re-check the contact policy at send
time, send it through its channel plugin (or post it to another system), and record the outcome and the
contact attempt (split from :mod:`recoup.contact.dispatch`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.contact import system
from recoup.contact.channels.base import ChannelPlugin, OutgoingMessage, SendResult
from recoup.contact.dispatch_claim import (
    EXPIRED_NOTE,
    MAX_CLAIMS_PER_TRY,
    Item,
    backoff_seconds,
    fence,
)
from recoup.contact.dispatch_identity import Plugins, sample_marker
from recoup.contact.dispatch_report import Clock, DispatchReport
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import OutboxStatus
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.service import check_attempt, do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party
from recoup.db import session_scope
from recoup.errors import RecoupError
from recoup.pii import PiiCipher, mask_email, mask_phone, mask_text

__all__ = ["Dispatch", "brief_error"]

log = logging.getLogger("recoup.contact.dispatch")  # the dispatcher's log, whichever module writes


def brief_error(exc: BaseException) -> str:
    """An error for the log: its first line only (SQLAlchemy appends the statement's parameters, which
    may hold message text), masked and short."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {mask_text(text[0] if text else '')[:200]}"


def _masked(channel: str, destination: str) -> str:
    return mask_email(destination) if channel == Channel.EMAIL.value else mask_phone(destination)


def _lock_key(borrower_key: str) -> int:
    return int.from_bytes(hashlib.sha256(borrower_key.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class _Snap:
    """The fields of a claimed row the dispatcher needs after its read transaction ended."""

    message_id: str
    borrower_key: str
    debt_key: str | None
    channel: Channel
    party: Party
    kind: DestinationKind | None
    body: str
    subject: str | None
    locale: str
    tries: int
    destination_enc: str
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class _Outcome:
    """What to write for a handled message, its report label, the verdict and (sent) the destination."""

    values: dict[str, Any]
    label: str
    verdict: Verdict | None = None
    sent_to: str | None = None


def _judged(verdict: Verdict) -> dict[str, Any]:
    return {"verdict": verdict.verdict, "verdict_rules": list(verdict.rules), "preset": verdict.preset}


class Dispatch:
    """One run's shared state: engine, clock, plugins, policy, cipher, settings, report."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        plugins: Plugins,
        policy: Policy,
        settings: Settings,
        cipher: PiiCipher,
        rng: random.Random,
        reaching: frozenset[Channel] = frozenset(),
    ) -> None:
        self.engine = engine
        self.reaching = reaching  # channels whose messages reach people (see reaching_channels)
        self.pg = engine.dialect.name == "postgresql"
        self.clock = clock
        self.plugins = plugins
        self.policy = policy
        self.settings = settings
        self.cipher = cipher
        self.rng = rng
        self.report = DispatchReport()

    def _write(self, session: Session, item: Item, values: dict[str, Any]) -> bool:
        """The fenced status change: False when the claim is no longer ours."""
        result = session.execute(
            update(OutboxMessage)
            .where(fence(item))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def release(self, item: Item) -> None:
        """Hand an unprocessed claim back (a stop was requested)."""
        with session_scope(self.engine) as session:
            if self._write(session, item, {"status": OutboxStatus.PENDING.value, "claimed_until": None}):
                self.report.released += 1

    def _plugin(self, channel: Channel) -> ChannelPlugin | str:
        try:
            plugin = self.plugins.get(channel)
        except RecoupError as exc:  # a bad channels file: fix it and the messages go out on retry
            return exc.message
        if plugin is None:
            return f"no channel plugin configured for {channel.value}"
        if not plugin.serves(channel):
            return f"plugin {plugin.name} does not send {channel.value}"
        return plugin

    def process(self, item: Item) -> None:
        """Judge, send and record one claimed message."""
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(OutboxMessage).where(fence(item))
            if self.pg:
                query = query.with_for_update()
            row = session.scalars(query).first()
            if row is None:
                self.report.lost += 1
                return
            if self.pg:
                # Serialise judgements per borrower: the caps count attempts other messages are making.
                session.execute(select(func.pg_advisory_xact_lock(_lock_key(row.borrower_key))))
            if row.claims > MAX_CLAIMS_PER_TRY * self.settings.dispatch_max_tries:
                # Claimed again and again without ever finishing: the send itself keeps killing the
                # dispatcher. Stop before it takes the worker down forever; a person can requeue it.
                out = _Outcome(
                    {
                        "status": OutboxStatus.DEAD.value,
                        "claimed_until": None,
                        "last_error": f"claimed {row.claims} times without finishing",
                    },
                    "dead",
                )
                if self._write(session, item, out.values):
                    session.commit()
                    self.count(out.label, row.message_id)
                return
            if row.party == system.SYSTEM_PARTY:  # a post to another system: not a contact, no policy
                self._system(session, item, row, now)
                return
            snap = _Snap(
                message_id=row.message_id,
                borrower_key=row.borrower_key,
                debt_key=row.debt_key,
                channel=Channel(row.channel),
                party=Party(row.party),
                kind=DestinationKind(row.destination_kind) if row.destination_kind else None,
                body=row.body,
                subject=row.subject,
                locale=row.locale,
                tries=row.tries,
                destination_enc=row.destination_enc,
                expires_at=row.expires_at,
            )
            judged: _Outcome | tuple[Verdict, str]
            if snap.expires_at is not None and snap.expires_at <= now:
                # Its window closed while it waited (a retry, a crashed claim): never sent late.
                judged = _Outcome(
                    {
                        "status": OutboxStatus.EXPIRED.value,
                        "claimed_until": None,
                        "next_try_at": None,
                        "last_error": EXPIRED_NOTE,
                    },
                    "expired",
                )
            else:
                judged = self._judge(session, snap, now)
            if not self.pg:
                # SQLite: hold no read snapshot across the send, and write on a fresh one (a write on
                # a stale snapshot fails at once). PostgreSQL keeps its row and borrower locks instead.
                session.rollback()
            out = judged if isinstance(judged, _Outcome) else self._send(snap, *judged, now)
            if not self._write(session, item, out.values):
                session.rollback()
                self.report.lost += 1
                return
            if out.label == "sent" and out.verdict is not None and out.sent_to is not None:
                try:
                    with session.begin_nested():
                        do_record_attempt(
                            session=session,
                            source="dispatcher",
                            external_id=snap.message_id,
                            borrower_key=snap.borrower_key,
                            debt_key=snap.debt_key,
                            at=now,
                            channel=snap.channel,
                            party=snap.party,
                            destination=out.sent_to,
                            destination_kind=snap.kind,
                            outcome=AttemptOutcome.CONNECTED,
                            made_by="dispatcher",
                            content=snap.body,
                            preset=out.verdict.preset,
                            cipher=self.cipher,
                        )
                except IntegrityError:
                    pass  # another dispatcher recorded this message id first: one attempt per message
            session.commit()
        self.count(out.label, snap.message_id)

    def _system(self, session: Session, item: Item, row: OutboxMessage, now: dt.datetime) -> None:
        """Send a system post (:mod:`recoup.contact.system`) with the same claims, retries and fencing;
        no contact policy, no contact attempt."""
        message_id, tries = row.message_id, row.tries
        args = {"profile": row.plugin, "destination_enc": row.destination_enc, "body": row.body}
        if not self.pg:
            session.rollback()  # hold no SQLite snapshot across the send
        result = system.deliver(
            **args, message_id=message_id, settings=self.settings, cipher=self.cipher, now=now.timestamp()
        )
        done = {"tries": tries + 1, "claimed_until": None, "next_try_at": None}
        if result.accepted:
            values = {**done, "status": OutboxStatus.SENT.value, "sent_at": now, "last_error": None}
            out = _Outcome(values, "sent")
        elif result.permanent:
            values = {**done, "status": OutboxStatus.FAILED.value, "last_error": (result.error or "")[:1000]}
            out = _Outcome(values, "failed")
        else:
            out = self._retry(tries, result.error or "not accepted", now)
        if not self._write(session, item, out.values):
            session.rollback()
            self.report.lost += 1
            return
        session.commit()
        self.count(out.label, message_id)

    def _judge(self, session: Session, snap: _Snap, now: dt.datetime) -> _Outcome | tuple[Verdict, str]:
        """The policy's verdict at ``now``: a final outcome (blocked, deferred, undecryptable), or the
        verdict and the destination in clear when the message may go."""
        try:
            destination = self.cipher.decrypt(snap.destination_enc)
        except RecoupError as exc:
            return self._retry(snap.tries, f"cannot decrypt the destination: {exc.message}", now)
        proposal = Proposal(
            id=snap.message_id,
            at=now,
            channel=snap.channel,
            party=snap.party,
            destination=destination,
            destination_kind=snap.kind,
            debt_id=snap.debt_key,
            content=snap.body,
        )
        verdict = check_attempt(
            self.policy,
            session=session,
            borrower_key=snap.borrower_key,
            proposal=proposal,
            cipher=self.cipher,
        )
        judged = _judged(verdict)
        if verdict.verdict == "blocked":
            log.info("outbox %s blocked by %s", snap.message_id, ",".join(verdict.rules))
            values = {**judged, "status": OutboxStatus.BLOCKED.value, "claimed_until": None}
            return _Outcome(values, "blocked", verdict)
        if verdict.verdict == "deferred":
            until = (verdict.defer_until or now + dt.timedelta(hours=1)).astimezone(dt.UTC)
            if snap.expires_at is not None and until >= snap.expires_at:
                log.info("outbox %s deferred past its validity window: expired", snap.message_id)
                values = {
                    **judged,
                    "status": OutboxStatus.EXPIRED.value,
                    "claimed_until": None,
                    "next_try_at": None,
                    "last_error": f"deferred to {until.isoformat()}, after its validity window · "
                    "顺延后已过有效期，未发送",
                }
                return _Outcome(values, "expired", verdict)
            values = {
                **judged,
                "status": OutboxStatus.PENDING.value,
                "due_at": until,
                "next_try_at": None,
                "claimed_until": None,
            }
            return _Outcome(values, "deferred", verdict)
        return verdict, destination

    def _send(self, snap: _Snap, verdict: Verdict, destination: str, now: dt.datetime) -> _Outcome:
        """Send an allowed message; the outcome to write."""
        judged = _judged(verdict)
        plugin = self._plugin(snap.channel)
        if isinstance(plugin, str):
            return self._retry(snap.tries, plugin, now, judged)
        marker = sample_marker(snap.body, snap.subject) if snap.channel in self.reaching else None
        if marker is not None:
            # Rendered with the sample identity before the lender's was set: it must never reach anyone.
            log.warning("outbox %s carries the sample lender identity: not sent", snap.message_id)
            values = {
                **judged,
                "status": OutboxStatus.FAILED.value,
                "plugin": plugin.name,
                "claimed_until": None,
                "last_error": f"rendered with the sample lender identity ({marker}); the next plan renders "
                "the lender's own · 使用了示例机构信息，未发送",
            }
            return _Outcome(values, "failed", verdict)
        message = OutgoingMessage(
            message_id=snap.message_id,
            channel=snap.channel,
            destination=destination,
            body=snap.body,
            subject=snap.subject,
            locale=snap.locale,
            destination_kind=snap.kind,
            borrower_key=snap.borrower_key,
            debt_key=snap.debt_key,
        )
        try:
            result = plugin.send(message)
        except Exception as exc:  # a plugin bug must not lose the message: retry it
            log.warning("outbox %s: plugin %s raised %s", snap.message_id, plugin.name, type(exc).__name__)
            result = SendResult.temporary(f"{plugin.name} raised {brief_error(exc)}")
        masked = _masked(snap.channel.value, destination)
        if result.accepted:
            log.info("outbox %s sent via %s to %s", snap.message_id, plugin.name, masked)
            values = {
                **judged,
                "status": OutboxStatus.SENT.value,
                "plugin": plugin.name,
                "provider_ref": (result.provider_ref or "")[:200] or None,
                "sent_at": now,
                "tries": snap.tries + 1,
                "next_try_at": None,
                "claimed_until": None,
                "last_error": None,
            }
            return _Outcome(values, "sent", verdict, destination)
        error = (result.error or "not accepted")[:1000]
        if result.permanent:
            log.info("outbox %s failed for good via %s to %s", snap.message_id, plugin.name, masked)
            values = {
                **judged,
                "status": OutboxStatus.FAILED.value,
                "plugin": plugin.name,
                "tries": snap.tries + 1,
                "claimed_until": None,
                "last_error": error,
            }
            return _Outcome(values, "failed", verdict)
        log.info("outbox %s: temporary failure via %s to %s", snap.message_id, plugin.name, masked)
        return self._retry(snap.tries, error, now, {**judged, "plugin": plugin.name})

    def _retry(
        self, tries: int, error: str, now: dt.datetime, extra: dict[str, Any] | None = None
    ) -> _Outcome:
        """A temporary failure: back to ``pending`` after a backoff (``retried``), or ``dead``."""
        tries += 1
        values: dict[str, Any] = {
            **(extra or {}),
            "tries": tries,
            "claimed_until": None,
            "last_error": error[:1000],
        }
        if tries >= self.settings.dispatch_max_tries:
            values.update(status=OutboxStatus.DEAD.value, next_try_at=None)
            return _Outcome(values, "dead")
        delay = backoff_seconds(tries, self.settings, self.rng)
        values.update(status=OutboxStatus.PENDING.value, next_try_at=now + dt.timedelta(seconds=delay))
        return _Outcome(values, "retried")

    def count(self, label: str, message_id: str) -> None:
        setattr(self.report, label, getattr(self.report, label) + 1)
        self.report.items.append({"message_id": message_id, "status": label})

    def fail_safely(self, item: Item, exc: BaseException) -> None:
        """An unexpected error while handling ``item``: count it as a try, so nothing loops forever."""
        log.error("outbox item %s: %s", item.id, brief_error(exc))
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session:
            tries = session.scalar(select(OutboxMessage.tries).where(fence(item)))
            message_id = session.scalar(select(OutboxMessage.message_id).where(OutboxMessage.id == item.id))
            if tries is None or message_id is None:
                return
            session.rollback()
            out = self._retry(int(tries), f"dispatcher error: {type(exc).__name__}", now)
            if self._write(session, item, out.values):
                session.commit()
                self.count(out.label, message_id)
