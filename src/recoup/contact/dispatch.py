"""The dispatcher: claims due outbox messages, re-checks the contact policy at send time, sends them
through the channel plugins and records what happened. It never loses a message.

**Claiming.** One statement moves due messages (``pending``, due, past ``next_try_at``) and messages
whose claim expired (``sending`` past ``claimed_until``: a crashed dispatcher's) to ``sending`` with
``claimed_until = now + lease``. On PostgreSQL the candidate rows are selected ``FOR UPDATE SKIP
LOCKED``, so concurrent dispatchers take disjoint batches; on SQLite the statement runs under the
database write lock. ``claimed_until`` is also the claim's token: every later write is fenced on it, so
a dispatcher whose claim was taken over writes nothing.

**Each message** is handled in its own short unit of work: load it (PostgreSQL: row lock plus an
advisory lock on the borrower, so two dispatchers never judge the same borrower's caps at once), judge
it with :func:`~recoup.contact.service.check_attempt` at the send time; ``blocked`` → ``blocked``
(never sent, with the rules and preset); ``deferred`` → ``pending`` again with ``due_at`` the deferral;
``allowed`` → send; accepted → ``sent`` and one contact attempt recorded (source ``dispatcher``,
external id the message id) in the same transaction as the status change; a temporary failure → retried
with exponential backoff and jitter until ``dispatch_max_tries``, then ``dead``; a permanent one →
``failed``. On SQLite nothing is held open across the send (a stale read snapshot could not write).

**At-least-once.** The send happens before the commit that marks the message sent. A crash between the
two leaves the message ``sending``; when its claim expires it is sent again with the same message id
(SMTP ``Message-ID``, webhook ``Idempotency-Key``), which receivers deduplicate. The attempt row is
unique per message id, so a resend never counts twice against the contact caps.

**Validity.** A message with ``expires_at`` (the daily cycle sets it: the planned send time plus
``message_validity_hours``) is never sent after it: before each claim the pending messages whose window
closed are marked ``expired`` (up to a batch at a time, counted in the report), a claimed one found past
its window is ``expired`` instead of judged, and a deferral beyond the window expires it at once.

**Safe sending.** :func:`check_lender_identity` refuses to start (``config.lender_identity``, exit 78)
while a channel reaches people and the lender's identity settings (``RECOUP_LENDER_NAME``,
``RECOUP_SMS_SIGNATURE``, ``RECOUP_HOTLINE``, ``RECOUP_PAYMENT_DOMAIN``) are unset or still the sample
values. Only the built-in default — no channels file, every channel to CSV files under ``data_dir`` —
and the in-memory ``fake`` plugin reach no one. A message rendered with the sample identity before the
settings were made is never sent through a channel that reaches people (``failed``).

After each batch one ledger entry (``dispatch.batch``) lists the message ids and their new statuses.

**One dispatcher per SQLite database.** Two dispatchers on SQLite each judge a borrower's caps from
their own snapshot (there is no row or advisory lock to serialise them), so one could send what the
other's send made the policy defer. ``recoup dispatch run`` and ``recoup worker`` therefore hold
:func:`one_dispatcher` for the whole process: a lock keyed to the database file (beside it, under
``locks/``, so two data directories sharing a database share it), and a second dispatcher refuses at
once with ``lock.busy``. PostgreSQL keeps concurrent dispatchers (``SKIP LOCKED`` claims and the
per-borrower advisory lock above).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.config import (
    SAMPLE_HOTLINE,
    SAMPLE_LENDER_NAME,
    SAMPLE_PAYMENT_DOMAIN,
    SAMPLE_SMS_SIGNATURE,
    Settings,
    get_settings,
)
from recoup.contact import system
from recoup.contact.channels.base import ChannelPlugin, OutgoingMessage, SendResult
from recoup.contact.channels.registry import Channels, channels_path, load_channels
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import OutboxStatus
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt, do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party
from recoup.db import session_scope, utcnow
from recoup.errors import ConfigError, RecoupError
from recoup.ledger.service import do_append_batch
from recoup.locks import LockBusyError, exclusive
from recoup.pii import PiiCipher, cipher_from_settings, mask_email, mask_phone, mask_text

__all__ = [
    "LOCAL_PLUGINS",
    "DispatchReport",
    "LenderIdentityError",
    "backoff_seconds",
    "check_lender_identity",
    "claim",
    "expire_due",
    "identity_problems",
    "one_dispatcher",
    "reaching_channels",
    "run_once",
    "worker",
]

log = logging.getLogger(__name__)

Plugins = Mapping[Channel, ChannelPlugin]
NowArg = dt.datetime | Callable[[], dt.datetime] | None


@dataclass
class DispatchReport:
    """What one or more batches did."""

    claimed: int = 0
    sent: int = 0
    blocked: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    expired: int = 0  # not sent: the validity window closed (before or after the claim)
    released: int = 0  # claimed, then handed back unprocessed (stop requested)
    lost: int = 0  # taken over by another dispatcher after the claim expired
    batches: int = 0
    items: list[dict[str, str]] = field(default_factory=list)
    ledger_seqs: list[int] = field(default_factory=list)

    COUNTS = (
        "claimed",
        "sent",
        "blocked",
        "deferred",
        "retried",
        "failed",
        "dead",
        "expired",
        "released",
        "lost",
    )

    def counts(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.COUNTS}

    def add(self, other: DispatchReport) -> None:
        for k in self.COUNTS:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.batches += other.batches
        self.items.extend(other.items)
        self.ledger_seqs.extend(other.ledger_seqs)


class _Clock:
    """The dispatcher's clock: strictly increasing, so attempts made in one batch stay ordered even
    under a fixed test clock (the rules count attempts strictly before a proposal)."""

    def __init__(self, now: NowArg) -> None:
        self._source: Callable[[], dt.datetime]
        if now is None:
            self._source = utcnow
        elif callable(now):
            self._source = now
        else:
            fixed = now
            self._source = lambda: fixed
        self._last: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        t = self._source()
        if t.tzinfo is None or t.utcoffset() is None:
            raise RecoupError("the dispatcher's clock must give aware datetimes")
        t = t.astimezone(dt.UTC)
        if self._last is not None and t <= self._last:
            t = self._last + dt.timedelta(microseconds=1)
        self._last = t
        return t


@contextmanager
def one_dispatcher(engine: Engine, *, what: str = "dispatcher") -> Iterator[None]:
    """Hold the dispatcher lock of a SQLite database for the block; refuse at once if it is held.

    A no-op on PostgreSQL (dispatchers may run side by side) and for in-memory SQLite.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    path = Path(database).resolve()
    held = ExitStack()
    try:
        held.enter_context(exclusive(f"dispatch-{path.name}", data_dir=path.parent, wait_s=0.0, what=what))
    except LockBusyError as exc:
        holder = exc.details.get("holder") or {}
        who = (
            f" (pid {holder.get('pid')}, {holder.get('what')}, since {holder.get('since')})" if holder else ""
        )
        raise LockBusyError(
            f"another dispatcher is running on {path}{who}. On SQLite one dispatcher runs per "
            "database; stop it first, or use PostgreSQL to run several. 已有发送进程在运行。",
            details={**exc.details, "database": str(path)},
        ) from None
    with held:
        yield


class LenderIdentityError(ConfigError):
    """Real channels are configured but the lender's identity settings are unset or sample values."""

    code = "config.lender_identity"


#: Plugins that reach no one: the in-memory fake, and CSV files (only when they are the built-in
#: default, i.e. without a channels file; a channels file that names ``filexport`` feeds a printer or a
#: dialer, which reaches people).
LOCAL_PLUGINS = frozenset({"fake", "filexport"})

#: Placeholders that are never a real lender's identity: the default strategy's sample values and the
#: template previews' (compared case- and space-insensitively).
_SAMPLE_NAMES = frozenset({SAMPLE_LENDER_NAME, "示例消费金融", "Example Finance", "某某银行"})
_SAMPLE_HOTLINES = frozenset({SAMPLE_HOTLINE, "1-800-555-0100"})
#: Reserved names (RFC 2606, RFC 6761) and mDNS: no payment page lives there.
_RESERVED_DOMAINS = (
    "local",
    "localhost",
    "test",
    "example",
    "invalid",
    "example.com",
    "example.net",
    "example.org",
)
#: What gives away a message rendered with the sample identity.
_SAMPLE_MARKERS = (SAMPLE_LENDER_NAME, SAMPLE_HOTLINE, SAMPLE_PAYMENT_DOMAIN)


def _norm(text: str) -> str:
    return "".join(text.split()).casefold()


def _is_reserved_domain(domain: str) -> bool:
    d = domain.casefold().rstrip(".")
    return d == SAMPLE_PAYMENT_DOMAIN or any(d == r or d.endswith("." + r) for r in _RESERVED_DOMAINS)


def identity_problems(settings: Settings) -> list[str]:
    """What is wrong with the lender's identity settings for real sending (empty: nothing)."""
    problems: list[str] = []
    names = {_norm(n) for n in _SAMPLE_NAMES}
    checks: list[tuple[str, str | None, str, bool]] = [
        (
            "RECOUP_LENDER_NAME",
            settings.lender_name,
            "the lender's legal name",
            settings.lender_name is not None and _norm(settings.lender_name) in names,
        ),
        (
            "RECOUP_SMS_SIGNATURE",
            settings.sms_signature,
            "the registered SMS signature, e.g. 【某某银行】",
            settings.signature_text is not None
            and (_norm(settings.signature_text) in names or settings.sms_signature == SAMPLE_SMS_SIGNATURE),
        ),
        (
            "RECOUP_HOTLINE",
            settings.hotline,
            "the official hotline",
            settings.hotline is not None and _norm(settings.hotline) in {_norm(h) for h in _SAMPLE_HOTLINES},
        ),
        (
            "RECOUP_PAYMENT_DOMAIN",
            settings.payment_domain,
            "the payment page's domain",
            settings.payment_domain is not None and _is_reserved_domain(settings.payment_domain),
        ),
    ]
    for env, value, what, sample in checks:
        if value is None:
            problems.append(f"{env} is not set ({what})")
        elif sample:
            problems.append(f"{env} is a sample value ({value})")
    registered = {x.strip("【】 ") for x in settings.sms_signatures}
    if settings.signature_text is not None and registered and settings.signature_text not in registered:
        problems.append(
            f"RECOUP_SMS_SIGNATURE {settings.sms_signature} is not among RECOUP_SMS_SIGNATURES "
            f"({', '.join(sorted(registered))})"
        )
    if settings.payment_domain is not None and settings.payment_domain not in settings.link_domains:
        problems.append(f"RECOUP_PAYMENT_DOMAIN {settings.payment_domain} is not among RECOUP_LINK_DOMAINS")
    return problems


def reaching_channels(settings: Settings, plugins: Plugins) -> dict[Channel, str]:
    """The channels whose messages reach people, with their plugin's name.

    Without a channels file every channel goes to CSV files under the data directory (the default of a
    fresh install and of the demo): none. With one, every channel it names (all of them when it has a
    ``[default]``) except those routed to the in-memory ``fake``: CSV files a channels file asks for
    feed a printer or a dialer. A plain mapping of plugins (tests, embedding code): every plugin but
    ``fake`` and ``filexport``.
    """
    if isinstance(plugins, Channels):
        named = _named_in_channels_file(channels_path(settings))
        return {
            ch: plugins.plugin_name(ch)
            for ch in plugins.routes
            if plugins.plugin_name(ch) != "fake" and ("default" in named or ch.value in named)
        }
    return {ch: p.name for ch, p in plugins.items() if p.name not in LOCAL_PLUGINS}


def _named_in_channels_file(path: Path) -> set[str]:
    """The tables (channels, ``default``) the channels file names; empty without a file. Channels it does
    not name (and no ``[default]``) go to the built-in CSV default."""
    try:
        return set(tomllib.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {"default"}  # unreadable: assume every channel may reach people (loading it fails anyway)


def check_lender_identity(settings: Settings, plugins: Plugins) -> None:
    """Refuse (:class:`LenderIdentityError`, exit 78) to send through channels that reach people while
    the lender's identity settings are unset or sample values (see :func:`identity_problems`)."""
    reaching = reaching_channels(settings, plugins)
    if not reaching:
        return
    problems = identity_problems(settings)
    if not problems:
        return
    via = ", ".join(f"{ch.value} ({name})" for ch, name in sorted(reaching.items()))
    raise LenderIdentityError(
        f"refusing to send through {via}: " + "; ".join(problems) + ". Set the lender's identity "
        "(RECOUP_LENDER_NAME, RECOUP_SMS_SIGNATURE, RECOUP_HOTLINE, RECOUP_PAYMENT_DOMAIN; docs/dispatch.md "
        '"Safe sending"), or remove the channels file to write CSV files only. '
        "机构名称、短信签名、客服电话或还款域名未设置或仍为示例值，拒绝发送。",
        details={"problems": problems, "channels": {ch.value: name for ch, name in reaching.items()}},
    )


def _sample_marker(*texts: str | None) -> str | None:
    """The sample identity value a rendered message carries, if any."""
    for text in texts:
        for marker in _SAMPLE_MARKERS:
            if text and marker in text:
                return marker
    return None


_EXPIRED_NOTE = "not sent within its validity window (RECOUP_MESSAGE_VALIDITY_HOURS) · 已过有效期，未发送"


def expire_due(engine: Engine, *, now: dt.datetime, limit: int) -> list[str]:
    """Mark up to ``limit`` pending messages whose validity window closed by ``now`` ``expired``; their
    message ids."""
    m = OutboxMessage
    candidates = (
        select(m.id)
        .where(
            m.status == OutboxStatus.PENDING.value,
            m.due_at <= now,  # a message is due no later than it expires (deferrals past it expire at once)
            m.expires_at.is_not(None),
            m.expires_at <= now,
        )
        .order_by(m.expires_at, m.id)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(m)
        .where(m.id.in_(candidates.scalar_subquery()), m.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.EXPIRED.value, next_try_at=None, last_error=_EXPIRED_NOTE)
        .returning(m.message_id)
    )
    with engine.begin() as conn:
        return sorted(str(i) for i in conn.execute(stmt).scalars())


def backoff_seconds(tries: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Delay before try ``tries + 1``: base·2^(tries−1) capped, times a jitter in [0.5, 1)."""
    cap = min(
        settings.dispatch_backoff_max_seconds, settings.dispatch_backoff_seconds * 2 ** max(tries - 1, 0)
    )
    jitter: float = (rng or random.Random()).random()
    return float(cap) * (0.5 + jitter / 2)


#: A message claimed more than this many times per allowed try is dead (see ``claims``).
_MAX_CLAIMS_PER_TRY = 3


def claim(engine: Engine, *, now: dt.datetime, batch: int, lease: float) -> list[tuple[int, dt.datetime]]:
    """Claim up to ``batch`` due messages until ``now + lease``; their ids and the claim token."""
    token = now + dt.timedelta(seconds=lease)
    m = OutboxMessage
    due = or_(
        and_(
            m.status == OutboxStatus.PENDING.value,
            m.due_at <= now,
            or_(m.next_try_at.is_(None), m.next_try_at <= now),
        ),
        and_(m.status == OutboxStatus.SENDING.value, m.claimed_until < now),
    )
    candidates = select(m.id).where(due).order_by(m.due_at, m.id).limit(batch)
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(m)
        .where(m.id.in_(candidates.scalar_subquery()))
        .values(status=OutboxStatus.SENDING.value, claimed_until=token, claims=m.claims + 1)
        .returning(m.id)
    )
    with engine.begin() as conn:
        ids = sorted(int(i) for i in conn.execute(stmt).scalars())
    return [(i, token) for i in ids]


def _brief(exc: BaseException) -> str:
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


@dataclass
class _Item:
    id: int
    token: dt.datetime


class _Dispatch:
    """One run's shared state: engine, clock, plugins, policy, cipher, settings, report."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: _Clock,
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

    def _fence(self, item: _Item) -> Any:
        m = OutboxMessage
        return and_(m.id == item.id, m.status == OutboxStatus.SENDING.value, m.claimed_until == item.token)

    def _write(self, session: Session, item: _Item, values: dict[str, Any]) -> bool:
        """The fenced status change: False when the claim is no longer ours."""
        result = session.execute(
            update(OutboxMessage)
            .where(self._fence(item))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def release(self, item: _Item) -> None:
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

    def process(self, item: _Item) -> None:
        """Judge, send and record one claimed message."""
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(OutboxMessage).where(self._fence(item))
            if self.pg:
                query = query.with_for_update()
            row = session.scalars(query).first()
            if row is None:
                self.report.lost += 1
                return
            if self.pg:
                # Serialise judgements per borrower: the caps count attempts other messages are making.
                session.execute(select(func.pg_advisory_xact_lock(_lock_key(row.borrower_key))))
            if row.claims > _MAX_CLAIMS_PER_TRY * self.settings.dispatch_max_tries:
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
                    self._count(out.label, row.message_id)
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
                        "last_error": _EXPIRED_NOTE,
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
        self._count(out.label, snap.message_id)

    def _system(self, session: Session, item: _Item, row: OutboxMessage, now: dt.datetime) -> None:
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
        self._count(out.label, message_id)

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
        marker = _sample_marker(snap.body, snap.subject) if snap.channel in self.reaching else None
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
            result = SendResult.temporary(f"{plugin.name} raised {_brief(exc)}")
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

    def _count(self, label: str, message_id: str) -> None:
        setattr(self.report, label, getattr(self.report, label) + 1)
        self.report.items.append({"message_id": message_id, "status": label})

    def fail_safely(self, item: _Item, exc: BaseException) -> None:
        """An unexpected error while handling ``item``: count it as a try, so nothing loops forever."""
        log.error("outbox item %s: %s", item.id, _brief(exc))
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session:
            tries = session.scalar(select(OutboxMessage.tries).where(self._fence(item)))
            message_id = session.scalar(select(OutboxMessage.message_id).where(OutboxMessage.id == item.id))
            if tries is None or message_id is None:
                return
            session.rollback()
            out = self._retry(int(tries), f"dispatcher error: {type(exc).__name__}", now)
            if self._write(session, item, out.values):
                session.commit()
                self._count(out.label, message_id)


def run_once(
    engine: Engine,
    *,
    now: NowArg = None,
    batch: int = 100,
    plugins: Plugins | None = None,
    policy: Policy | None = None,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
    stop_event: threading.Event | None = None,
    rng: random.Random | None = None,
    _clock: _Clock | None = None,
) -> DispatchReport:
    """Claim one batch of due messages and handle each; one ledger entry for the batch.

    ``now`` is a fixed time or a clock (a callable); default the real UTC clock. ``plugins`` maps
    channels to plugins (default: the channels file, closed afterwards, after
    :func:`check_lender_identity`). ``policy`` defaults to the preset named by ``settings.jurisdiction``
    (its newest saved version). A set ``stop_event`` hands the rest of the batch back unprocessed.
    First, up to ``batch`` pending messages past their validity window are marked ``expired``.
    """
    s = settings or get_settings()
    clock = _clock or _Clock(now)
    own_plugins = plugins is None
    chans: Plugins = load_channels(s) if plugins is None else plugins
    try:
        if own_plugins:
            check_lender_identity(s, chans)  # callers passing plugins check once (the commands do)
        if policy is None:
            with session_scope(engine) as session:
                policy = Policy(
                    resolve(s.jurisdiction, session=session),
                    domains=s.link_domains,
                    signatures=s.sms_signatures,
                )
        run = _Dispatch(
            engine,
            clock=clock,
            plugins=chans,
            policy=policy,
            settings=s,
            cipher=cipher or cipher_from_settings(s),
            rng=rng or random.Random(),
            reaching=frozenset(reaching_channels(s, chans)),
        )
        for message_id in expire_due(engine, now=clock(), limit=batch):
            run._count("expired", message_id)
        items = [
            _Item(i, t) for i, t in claim(engine, now=clock(), batch=batch, lease=s.dispatch_lease_seconds)
        ]
        run.report.claimed = len(items)
        for n, item in enumerate(items):
            if stop_event is not None and stop_event.is_set():
                for rest in items[n:]:
                    run.release(rest)
                break
            try:
                run.process(item)
            except Exception as exc:  # the database hiccupped or the policy raised: keep the message
                run.fail_safely(item, exc)
        report = run.report
        if items:
            report.batches = 1
        if report.items:
            with session_scope(engine) as session:
                entry = do_append_batch(
                    "dispatch.batch",
                    {"counts": report.counts(), "preset": policy.preset.label, "messages": report.items},
                    report.items,
                    session=session,
                    actor="dispatcher",
                )
                report.ledger_seqs.append(entry.seq)
        return report
    finally:
        if own_plugins and isinstance(chans, Channels):
            chans.close()


def worker(
    engine: Engine,
    *,
    poll_seconds: float = 5.0,
    stop_event: threading.Event,
    batch: int = 100,
    plugins: Plugins | None = None,
    policy: Policy | None = None,
    now: NowArg = None,
    settings: Settings | None = None,
    on_batch: Callable[[DispatchReport], None] | None = None,
) -> DispatchReport:
    """Dispatch until ``stop_event`` is set (finishing the current message), polling when idle."""
    s = settings or get_settings()
    own_plugins = plugins is None
    chans = load_channels(s) if plugins is None else plugins
    if own_plugins and isinstance(chans, Channels):
        check_lender_identity(s, chans)  # from the routes alone: nothing is built or connected yet
        chans.check()  # a bad channels file fails now, not mid-batch
    clock = _Clock(now)
    total = DispatchReport()
    try:
        while not stop_event.is_set():
            try:
                report = run_once(
                    engine,
                    batch=batch,
                    plugins=chans,
                    policy=policy,
                    settings=s,
                    stop_event=stop_event,
                    _clock=clock,
                )
            except Exception as exc:  # the database is away: wait and try again, never die
                log.error("dispatch batch failed: %s", _brief(exc))
                stop_event.wait(poll_seconds)
                continue
            total.add(report)
            if on_batch is not None and (report.claimed or report.expired):
                on_batch(report)
            if report.claimed < batch:
                stop_event.wait(poll_seconds)
    finally:
        if own_plugins and isinstance(chans, Channels):
            chans.close()
    return total
