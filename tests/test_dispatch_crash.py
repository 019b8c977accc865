"""The crash test: kill the dispatcher at random points while it sends e-mails (to a local SMTP server)
and SMS (to a local webhook deduplicating by Idempotency-Key).

Every e-mail's Message-ID must arrive (duplicates are allowed, counted and reported), the webhook must
count exactly one key per SMS, every outbox row must end ``sent`` and every message id must have exactly
one contact attempt. The dispatcher runs in a forked child (imports already done, so a restart costs
milliseconds) killed with SIGKILL after seeded random delays, then is left to finish.

The suite kills it 10 times while it sends 300 + 300 messages; the acceptance run — 50 kills while it
sends 1,000 + 1,000 — is ``bench/bench_dispatch_crash.py`` (``make bench``), which runs this test with
``RECOUP_TEST_CRASH_MESSAGES=1000 RECOUP_TEST_CRASH_KILLS=50`` (figures in docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from recoup.config import Settings, load_settings
from recoup.contact.channels import load_channels
from recoup.contact.dispatch import run_once
from recoup.contact.models import ContactAttempt, OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Channel
from recoup.db import make_engine, session_scope
from recoup.ledger.service import verify
from test_channels import SmtpSink, WebhookSink  # the local servers the channel tests use

pytestmark = pytest.mark.slow

# Per channel; the kills must all land before the work is done (a child that finds nothing left
# exits before its kill), so the messages outnumber what 10 children send in their 0.05-0.35 s.
N = int(os.environ.get("RECOUP_TEST_CRASH_MESSAGES", "300"))
KILLS = int(os.environ.get("RECOUP_TEST_CRASH_KILLS", "10"))
SEED = 20260315
BATCH = 20
LEASE = 1.5  # seconds: a killed child's claimed batch is taken over this long after the claim
SH = ZoneInfo("Asia/Shanghai")
BASE = dt.datetime(2030, 3, 4, 10, 0, tzinfo=SH)  # the dispatcher's clock starts at 10:00 in Shanghai
BODY = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink().start()
    try:
        yield sink
    finally:
        sink.stop()


def _clock(t0: float) -> Callable[[], dt.datetime]:
    """10:00 Shanghai plus the real seconds since ``t0``: lawful all test long, and leases still expire."""
    return lambda: BASE + dt.timedelta(seconds=time.time() - t0)


def _child(url: str, settings: Settings, policy: Policy, t0: float) -> None:
    """The dispatcher process: dispatch until nothing is pending or claimed, then exit 0."""
    engine = make_engine(url)
    plugins = load_channels(settings)
    clock = _clock(t0)
    while True:
        report = run_once(engine, now=clock, batch=BATCH, plugins=plugins, policy=policy, settings=settings)
        if report.claimed == 0:
            with session_scope(engine) as s:
                open_ = s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(["pending", "sending"]))
                )
            if not open_:
                break
            time.sleep(0.05)  # a killed child's claims are still running out
    plugins.close()
    engine.dispose()


def test_a_dispatcher_killed_again_and_again_loses_nothing(
    own_engine: Engine,
    tmp_path: Path,
    smtp_sink: SmtpSink,
    webhook_sink: WebhookSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    channels_file = tmp_path / "channels.toml"
    channels_file.write_text(
        f'[email]\nplugin = "smtp"\nhost = "127.0.0.1"\nport = {smtp_sink.port}\ntimeout = 5\n\n'
        f'[sms]\nplugin = "webhook"\nurl = "{webhook_sink.url()}"\ntimeout = 5\n',
        encoding="utf-8",
    )
    settings = load_settings(
        data_dir=tmp_path / "recoup-data",
        channels_file=channels_file,
        dispatch_lease_seconds=LEASE,
        dispatch_backoff_seconds=0.2,
    )
    policy = Policy(resolve("cn"))
    due = BASE - dt.timedelta(hours=1)
    with session_scope(own_engine) as s:
        for i in range(N):
            for channel, dest, kind in (
                (Channel.EMAIL, f"borrower{i}@example.com", "email"),
                (Channel.SMS, f"139{i:08d}", "mobile"),
            ):
                do_enqueue(
                    session=s,
                    as_of=BASE.date(),
                    borrower_key=f"B{i}",
                    debt_key=f"L{i}",
                    slot=f"reminder-{channel.value}",
                    channel=channel,
                    party="debtor",
                    destination=dest,
                    destination_kind=kind,
                    body=BODY,
                    subject="逾期提醒 · Overdue notice" if channel is Channel.EMAIL else None,
                    locale="zh_CN",
                    due_at=due,
                    settings=settings,
                )
    with session_scope(own_engine) as s:
        rows = s.execute(select(OutboxMessage.message_id, OutboxMessage.channel)).all()
    email_ids = {m for m, c in rows if c == "email"}
    sms_ids = {m for m, c in rows if c == "sms"}
    assert len(email_ids) == len(sms_ids) == N
    url = own_engine.url.render_as_string(hide_password=False)
    own_engine.dispose()  # no pooled connection may cross a fork
    enqueued = time.monotonic()

    ctx = multiprocessing.get_context("fork")
    rng = random.Random(SEED)
    t0 = time.time()
    kills = 0
    exited_early = 0
    for _ in range(KILLS):
        proc = ctx.Process(target=_child, args=(url, settings, policy, t0), daemon=True)
        proc.start()
        time.sleep(rng.uniform(0.05, 0.35))
        if proc.is_alive():
            os.kill(proc.pid or 0, signal.SIGKILL)
            kills += 1
        else:
            exited_early += 1
        proc.join(10)
    killed_phase = time.monotonic()
    final = ctx.Process(target=_child, args=(url, settings, policy, t0), daemon=True)
    final.start()
    final.join(120)
    if final.is_alive():
        os.kill(final.pid or 0, signal.SIGKILL)
        final.join()
        pytest.fail("the dispatcher did not finish within 120 s after the kills")
    assert final.exitcode == 0
    finished = time.monotonic()

    expected_mail = {f"<{m}@recoup>" for m in email_ids}
    mail_received = sum(smtp_sink.message_ids.values())
    mail_dupes = mail_received - len(smtp_sink.message_ids)
    hook_received = len([r for r in webhook_sink.requests if r[0] == "/send"])
    hook_distinct = len(webhook_sink.keys)
    engine = make_engine(url)
    with session_scope(engine) as s:
        statuses = dict(
            s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )
        n_attempts = s.scalar(
            select(func.count()).select_from(ContactAttempt).where(ContactAttempt.source == "dispatcher")
        )
        distinct_attempts = s.scalar(
            select(func.count(func.distinct(ContactAttempt.external_id))).where(
                ContactAttempt.source == "dispatcher"
            )
        )
        ledger = verify(session=s)
    engine.dispose()
    figures = {
        "backend": own_engine.dialect.name,
        "messages": 2 * N,
        "kills": kills,
        "children_exited_before_their_kill": exited_early,
        "smtp_received": mail_received,
        "smtp_distinct_message_ids": len(smtp_sink.message_ids),
        "smtp_duplicates": mail_dupes,
        "webhook_requests": hook_received,
        "webhook_distinct_keys": hook_distinct,
        "webhook_duplicates": hook_received - hook_distinct,
        "outbox_status": statuses,
        "attempts": n_attempts,
        "ledger_entries": ledger.entries,
        "seconds_enqueue": round(enqueued - started, 1),
        "seconds_kill_phase": round(killed_phase - enqueued, 1),
        "seconds_finish": round(finished - killed_phase, 1),
        "seconds_total": round(finished - started, 1),
    }
    with capsys.disabled():
        print("\nCRASH-TEST " + json.dumps(figures))
    assert kills == KILLS, f"only {kills} kills hit a running dispatcher: {figures}"
    assert set(smtp_sink.message_ids) == expected_mail, figures
    assert set(webhook_sink.keys) == sms_ids and hook_distinct == N, figures
    assert statuses == {"sent": 2 * N}, figures
    assert n_attempts == distinct_attempts == 2 * N, figures
