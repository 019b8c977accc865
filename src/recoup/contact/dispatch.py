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

**Where things are.** This module holds the run loop (:func:`run_once`, :func:`worker`) and
:func:`one_dispatcher`, and re-exports the rest: claiming and expiry in
:mod:`~recoup.contact.dispatch_claim`, safe sending in :mod:`~recoup.contact.dispatch_identity`, handling
one message (policy check, send, system posts) in :mod:`~recoup.contact.dispatch_send`, the report and
clock in :mod:`~recoup.contact.dispatch_report`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine

from recoup.config import Settings, get_settings
from recoup.contact.channels.registry import Channels, load_channels
from recoup.contact.dispatch_claim import Item, backoff_seconds, claim, expire_due
from recoup.contact.dispatch_identity import (
    LOCAL_PLUGINS,
    LenderIdentityError,
    Plugins,
    check_lender_identity,
    identity_problems,
    reaching_channels,
)
from recoup.contact.dispatch_report import Clock, DispatchReport, NowArg
from recoup.contact.dispatch_send import Dispatch, brief_error
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.db import session_scope
from recoup.ledger.service import do_append_batch
from recoup.locks import LockBusyError, exclusive
from recoup.pii import PiiCipher, cipher_from_settings

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
    _clock: Clock | None = None,
) -> DispatchReport:
    """Claim one batch of due messages and handle each; one ledger entry for the batch.

    ``now`` is a fixed time or a clock (a callable); default the real UTC clock. ``plugins`` maps
    channels to plugins (default: the channels file, closed afterwards, after
    :func:`check_lender_identity`). ``policy`` defaults to the preset named by ``settings.jurisdiction``
    (its newest saved version). A set ``stop_event`` hands the rest of the batch back unprocessed.
    First, up to ``batch`` pending messages past their validity window are marked ``expired``.
    """
    s = settings or get_settings()
    clock = _clock or Clock(now)
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
        run = Dispatch(
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
            run.count("expired", message_id)
        items = [
            Item(i, t) for i, t in claim(engine, now=clock(), batch=batch, lease=s.dispatch_lease_seconds)
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
    clock = Clock(now)
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
                log.error("dispatch batch failed: %s", brief_error(exc))
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
