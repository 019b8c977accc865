"""The outbox and the dispatcher on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from recoup.config import Settings
from recoup.contact.channels import ChannelPlugin, OutgoingMessage, SendResult
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.channels.webhook import WebhookChannel
from recoup.contact.dispatch import backoff_seconds, claim, run_once, worker
from recoup.contact.models import ContactAttempt, OutboxMessage
from recoup.contact.outbox import (
    OutboxError,
    counts,
    do_apply_inbound,
    do_apply_receipt,
    do_enqueue,
    do_requeue,
    message_id_for,
    outbox_key,
)
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import HoldKind
from recoup.contact.policy.presets import resolve
from recoup.contact.service import destination_hash, do_add_hold
from recoup.contact.vocab import AttemptOutcome, Channel
from recoup.db import session_scope
from recoup.ledger.models import LedgerEntry
from recoup.ledger.service import verify, verify_item
from recoup.pii import cipher_from_settings

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2030, 3, 4, 10, 0, tzinfo=SH)  # a Monday morning: every channel is open under cn
AS_OF = dt.date(2030, 3, 4)
BODY = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"
EMAIL = "zhang.san@example.com"
MOBILE = "13812345678"


@pytest.fixture
def policy() -> Policy:
    return Policy(resolve("cn"))


@pytest.fixture
def fake() -> FakeChannel:
    return FakeChannel()


def plugins_of(plugin: ChannelPlugin) -> dict[Channel, ChannelPlugin]:
    return dict.fromkeys(Channel, plugin)


def enqueue(
    session: Session,
    settings: Settings,
    *,
    slot: str = "d1-reminder",
    channel: Channel = Channel.SMS,
    borrower: str = "B1",
    debt: str | None = "L1",
    due_at: dt.datetime = NOW - dt.timedelta(hours=1),
    destination: str | None = None,
    **kw: Any,
) -> OutboxMessage:
    dest = destination or (EMAIL if channel is Channel.EMAIL else MOBILE)
    return do_enqueue(
        session=session,
        as_of=AS_OF,
        borrower_key=borrower,
        debt_key=debt,
        slot=slot,
        channel=channel,
        party="debtor",
        destination=dest,
        destination_kind="email" if channel is Channel.EMAIL else "mobile",
        body=BODY,
        locale="zh_CN",
        due_at=due_at,
        settings=settings,
        **kw,
    )


def committed(engine: Engine, settings: Settings, **kw: Any) -> str:
    with session_scope(engine) as s:
        return enqueue(s, settings, **kw).message_id


def row(engine: Engine, message_id: str) -> OutboxMessage:
    with Session(engine) as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message_id)).one()


def attempts(engine: Engine, message_id: str | None = None) -> list[ContactAttempt]:
    with Session(engine) as s:
        q = select(ContactAttempt).where(ContactAttempt.source == "dispatcher")
        if message_id is not None:
            q = q.where(ContactAttempt.external_id == message_id)
        return list(s.scalars(q))


# -------------------------------------------------------------------------------------------- outbox


def test_enqueue_is_idempotent_and_encrypts(session: Session, settings: Settings) -> None:
    first = enqueue(session, settings)
    again = enqueue(session, settings, destination="13900000000")  # a replan: the first row stays
    other = enqueue(session, settings, slot="d3-reminder")
    assert again.id == first.id and other.id != first.id
    assert first.key == outbox_key(AS_OF, "debt:L1", "d1-reminder")
    assert first.message_id == message_id_for(first.key) != other.message_id
    assert len(first.key) == 64 and first.status == "pending" and first.tries == 0
    cipher = cipher_from_settings(settings)
    assert MOBILE not in first.destination_enc and cipher.decrypt(first.destination_enc) == MOBILE
    assert first.destination_hash == destination_hash(MOBILE, cipher)
    assert first.plugin == "filexport"  # no channels file
    assert first.due_at == (NOW - dt.timedelta(hours=1)).astimezone(dt.UTC)
    n = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.borrower_key == "B1")
    )
    assert n == 2
    no_debt = enqueue(session, settings, debt=None, slot="d1-reminder")
    assert no_debt.key == outbox_key(AS_OF, "borrower:B1", "d1-reminder") != first.key


def test_enqueue_refuses_bad_input(session: Session, settings: Settings) -> None:
    with pytest.raises(OutboxError, match="due_at"):
        enqueue(session, settings, due_at=dt.datetime(2030, 3, 4, 10))
    with pytest.raises(OutboxError, match="destination"):
        enqueue(session, settings, destination=" ")
    with pytest.raises(OutboxError):
        enqueue(session, settings, channel="pigeon")  # type: ignore[arg-type]
    with pytest.raises(OutboxError, match="subject"):
        enqueue(session, settings, subject="x" * 301)


def test_enqueue_twice_on_concurrent_sessions(own_engine: Engine, settings: Settings) -> None:
    a = committed(own_engine, settings)
    b = committed(own_engine, settings)
    assert a == b
    with Session(own_engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


# ------------------------------------------------------------------------------------------ dispatch


def test_sends_records_attempts_and_a_ledger_batch(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    ids = [
        committed(own_engine, settings, channel=Channel.SMS, slot="s"),
        committed(own_engine, settings, channel=Channel.EMAIL, slot="e", subject="提醒"),
        committed(own_engine, settings, channel=Channel.ROBOT_CALL, slot="r"),
        committed(
            own_engine, settings, channel=Channel.SMS, slot="later", due_at=NOW + dt.timedelta(hours=1)
        ),
    ]
    report = run_once(own_engine, now=NOW, plugins=plugins_of(fake), policy=policy, settings=settings)
    assert report.counts()["claimed"] == 3 and report.sent == 3
    assert sorted(fake.sent_ids) == sorted(ids[:3])
    email = next(m for m in fake.sent if m.channel is Channel.EMAIL)
    assert email.destination == EMAIL and email.subject == "提醒" and email.body == BODY
    for mid in ids[:3]:
        r = row(own_engine, mid)
        assert r.status == "sent" and r.sent_at is not None and r.provider_ref and r.tries == 1
        assert r.verdict == "allowed" and r.preset == policy.preset.label and r.plugin == "fake"
        assert r.claimed_until is None
        (a,) = attempts(own_engine, mid)
        assert a.outcome == AttemptOutcome.CONNECTED.value and a.made_by == "dispatcher"
        assert a.preset == policy.preset.label and a.content == BODY and a.borrower_key == "B1"
        assert a.debt_key == "L1" and MOBILE not in a.destination_masked
    assert row(own_engine, ids[3]).status == "pending"

    with Session(own_engine) as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "dispatch.batch")).one()
        assert entry.actor == "dispatcher" and entry.item_count == 3
        assert entry.payload["counts"]["sent"] == 3
        assert [m["message_id"] for m in entry.payload["messages"]] == [i["message_id"] for i in report.items]
        assert MOBILE not in str(entry.payload) and EMAIL not in str(entry.payload)
        assert verify_item(report.items[1], 1, entry, _proof(report.items, 1))
        assert verify(session=s).entries >= 1  # raises when the chain breaks
    again = run_once(own_engine, now=NOW, plugins=plugins_of(fake), policy=policy, settings=settings)
    assert again.claimed == 0 and again.ledger_seqs == [] and len(fake.sent) == 3


def _proof(items: list[dict[str, str]], i: int) -> list[str]:
    from recoup.ledger.service import item_proof

    return item_proof(items, i)


def test_a_hold_recorded_after_enqueue_blocks_at_send_time(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    mid = committed(own_engine, settings)
    with session_scope(own_engine) as s:
        do_add_hold(
            session=s,
            borrower_key="B1",
            kind=HoldKind.DISPUTE,
            start=NOW - dt.timedelta(minutes=5),
            reason="borrower disputes the debt",
            recorded_at=NOW - dt.timedelta(minutes=5),
        )
    report = run_once(own_engine, now=NOW, plugins=plugins_of(fake), policy=policy, settings=settings)
    assert report.blocked == 1 and report.sent == 0 and fake.calls == 0
    r = row(own_engine, mid)
    assert r.status == "blocked" and r.verdict == "blocked" and r.verdict_rules == ["HOLD-DISPUTE"]
    assert r.preset == policy.preset.label and r.sent_at is None
    assert attempts(own_engine) == []
    later = run_once(own_engine, now=NOW + dt.timedelta(days=1), plugins=plugins_of(fake), policy=policy)
    assert later.claimed == 0  # blocked is final


def test_deferred_at_night_to_eight_the_next_morning(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    night = dt.datetime(2030, 3, 4, 23, 0, tzinfo=SH)
    mid = committed(own_engine, settings, due_at=night)
    report = run_once(own_engine, now=night, plugins=plugins_of(fake), policy=policy, settings=settings)
    assert report.deferred == 1 and fake.calls == 0
    r = row(own_engine, mid)
    assert r.status == "pending" and r.verdict == "deferred" and r.verdict_rules == ["CN-TIME"]
    assert r.due_at == dt.datetime(2030, 3, 5, 8, 0, tzinfo=SH)
    assert r.tries == 0 and r.claimed_until is None
    nothing = run_once(own_engine, now=night + dt.timedelta(hours=8), plugins=plugins_of(fake), policy=policy)
    assert nothing.claimed == 0
    morning = run_once(
        own_engine, now=dt.datetime(2030, 3, 5, 8, 0, 1, tzinfo=SH), plugins=plugins_of(fake), policy=policy
    )
    assert morning.sent == 1 and fake.sent_ids == [mid]


def test_retry_with_backoff_then_success(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    mid = committed(own_engine, settings)
    fake.fail_next(2)
    go = {"plugins": plugins_of(fake), "policy": policy, "settings": settings}
    first = run_once(own_engine, now=NOW, **go)
    assert first.retried == 1 and first.sent == 0
    r = row(own_engine, mid)
    base = settings.dispatch_backoff_seconds
    assert r.status == "pending" and r.tries == 1 and r.last_error == "fake: temporary failure"
    assert r.next_try_at is not None
    assert NOW + dt.timedelta(seconds=base * 0.5) <= r.next_try_at <= NOW + dt.timedelta(seconds=base)
    assert run_once(own_engine, now=r.next_try_at - dt.timedelta(seconds=1), **go).claimed == 0
    second = run_once(own_engine, now=r.next_try_at, **go)
    assert second.retried == 1
    r2 = row(own_engine, mid)
    assert r2.tries == 2 and r2.next_try_at is not None and r.next_try_at is not None
    gap = (r2.next_try_at - r.next_try_at).total_seconds()
    assert base * 1.0 <= gap <= base * 2.0 + 1  # doubled, with jitter
    third = run_once(own_engine, now=r2.next_try_at, **go)
    assert third.sent == 1
    r3 = row(own_engine, mid)
    assert r3.status == "sent" and r3.tries == 3 and r3.last_error is None and r3.next_try_at is None
    assert len(attempts(own_engine, mid)) == 1


def test_backoff_is_capped_and_jittered(settings: Settings) -> None:
    rng = random.Random(7)
    delays = [backoff_seconds(n, settings, rng) for n in range(1, 30)]
    assert all(d <= settings.dispatch_backoff_max_seconds for d in delays)
    assert delays[-1] >= settings.dispatch_backoff_max_seconds / 2
    assert len({round(d, 6) for d in delays[-5:]}) == 5  # jittered, not a fixed cap


def test_dead_after_max_tries_and_requeue(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    s3 = settings.model_copy(update={"dispatch_max_tries": 3})
    mid = committed(own_engine, s3)
    fake.fail_next(1000)
    when = NOW
    labels = []
    for _ in range(5):
        rep = run_once(own_engine, now=when, plugins=plugins_of(fake), policy=policy, settings=s3)
        labels.extend(i["status"] for i in rep.items)
        when = when + dt.timedelta(days=1)
    assert labels == ["retried", "retried", "dead"]
    r = row(own_engine, mid)
    assert r.status == "dead" and r.tries == 3 and r.last_error and fake.calls == 3
    assert attempts(own_engine) == []
    with session_scope(own_engine) as s:
        assert counts(session=s) == {"dead": 1}
        assert do_requeue(session=s, message_ids=[mid], due_at=NOW) == 1
    fake.fail_next(0)
    assert (
        run_once(own_engine, now=NOW + dt.timedelta(minutes=1), plugins=plugins_of(fake), policy=policy).sent
        == 1
    )


def test_a_message_whose_send_keeps_crashing_goes_dead(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    # A dispatcher that dies during the send never records a try; the claim counter catches it.
    s2 = settings.model_copy(update={"dispatch_max_tries": 2, "dispatch_lease_seconds": 60})
    mid = committed(own_engine, s2)
    when = NOW
    for _ in range(6):  # claimed, then the process "dies" and the lease runs out
        assert claim(own_engine, now=when, batch=10, lease=60)
        when += dt.timedelta(seconds=61)
    assert row(own_engine, mid).claims == 6 and row(own_engine, mid).tries == 0
    rep = run_once(own_engine, now=when, plugins=plugins_of(fake), policy=policy, settings=s2)
    assert [i["status"] for i in rep.items] == ["dead"] and fake.calls == 0
    r = row(own_engine, mid)
    assert r.status == "dead" and "claimed 7 times" in (r.last_error or "")
    with session_scope(own_engine) as s:
        assert do_requeue(session=s, message_ids=[mid], due_at=when) == 1
    assert row(own_engine, mid).claims == 0


def test_permanent_failure_is_final(own_engine: Engine, settings: Settings, policy: Policy) -> None:
    refusing = FakeChannel(FakeChannel.Config(fail_permanently=True))  # type: ignore[call-arg]
    mid = committed(own_engine, settings)
    rep = run_once(own_engine, now=NOW, plugins=plugins_of(refusing), policy=policy, settings=settings)
    assert rep.failed == 1
    r = row(own_engine, mid)
    assert r.status == "failed" and r.last_error == "fake: refused for good" and r.tries == 1
    assert attempts(own_engine) == []


def test_a_missing_plugin_is_retried_not_lost(own_engine: Engine, settings: Settings, policy: Policy) -> None:
    mid = committed(own_engine, settings, channel=Channel.EMAIL)
    webhook_only = {Channel.SMS: WebhookChannel(WebhookChannel.Config(url="http://127.0.0.1:9/"))}  # type: ignore[call-arg]
    rep = run_once(own_engine, now=NOW, plugins=webhook_only, policy=policy, settings=settings)  # type: ignore[arg-type]
    assert rep.retried == 1
    r = row(own_engine, mid)
    assert r.status == "pending" and "no channel plugin" in (r.last_error or "")


class CrashAfterSend(ChannelPlugin):
    """Sends, then dies before the dispatcher can commit (the at-least-once window)."""

    name = "crash"
    channels = frozenset(Channel)

    def __init__(self, inner: FakeChannel) -> None:
        super().__init__(ChannelPlugin.Config())
        self.inner = inner
        self.crash = True

    def send(self, message: OutgoingMessage) -> SendResult:
        result = self.inner.send(message)
        if self.crash:
            raise SystemExit("killed")  # a BaseException: nothing catches it, like SIGKILL
        return result


def test_a_crash_between_send_and_commit_resends_once_and_records_one_attempt(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    s = settings.model_copy(update={"dispatch_lease_seconds": 60.0})
    mid = committed(own_engine, s)
    crashing = CrashAfterSend(fake)
    with pytest.raises(SystemExit):
        run_once(own_engine, now=NOW, plugins=plugins_of(crashing), policy=policy, settings=s)
    r = row(own_engine, mid)
    assert r.status == "sending" and fake.sent_ids == [mid]
    assert r.claimed_until is not None and r.claimed_until - NOW < dt.timedelta(seconds=61)
    crashing.crash = False
    during = run_once(
        own_engine,
        now=NOW + dt.timedelta(seconds=30),
        plugins=plugins_of(crashing),
        policy=policy,
        settings=s,
    )
    assert during.claimed == 0  # the claim still holds
    after = run_once(
        own_engine,
        now=NOW + dt.timedelta(seconds=61),
        plugins=plugins_of(crashing),
        policy=policy,
        settings=s,
    )
    assert after.sent == 1
    assert fake.sent_ids == [mid, mid]  # sent twice, with the same id
    assert len(attempts(own_engine, mid)) == 1
    assert row(own_engine, mid).status == "sent"


def test_an_expired_claim_is_taken_over_and_the_old_claim_writes_nothing(
    own_engine: Engine, settings: Settings
) -> None:
    mid = committed(own_engine, settings)
    first = claim(own_engine, now=NOW.astimezone(dt.UTC), batch=10, lease=5)
    assert len(first) == 1 and claim(own_engine, now=NOW.astimezone(dt.UTC), batch=10, lease=5) == []
    second = claim(own_engine, now=(NOW + dt.timedelta(seconds=6)).astimezone(dt.UTC), batch=10, lease=5)
    assert [i for i, _ in second] == [i for i, _ in first] and second[0][1] != first[0][1]
    with session_scope(own_engine) as s:  # the first claimant's fenced write finds nothing to change
        stale = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == first[0][0], OutboxMessage.claimed_until == first[0][1])
            .values(status="sent")
        )
        assert stale.rowcount == 0
    assert row(own_engine, mid).status == "sending"


def test_stop_event_hands_the_batch_back(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    ids = [committed(own_engine, settings, slot=f"s{i}", borrower=f"B{i}") for i in range(3)]
    stop = threading.Event()
    stop.set()
    rep = run_once(
        own_engine, now=NOW, plugins=plugins_of(fake), policy=policy, settings=settings, stop_event=stop
    )
    assert rep.claimed == 3 and rep.released == 3 and fake.calls == 0
    assert {row(own_engine, i).status for i in ids} == {"pending"}
    assert run_once(own_engine, now=NOW, plugins=plugins_of(fake), policy=policy, settings=settings).sent == 3


def test_worker_runs_until_stopped(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    ids = [committed(own_engine, settings, slot=f"w{i}", borrower=f"W{i}") for i in range(5)]
    stop = threading.Event()
    out: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: out.update(
            report=worker(
                own_engine,
                poll_seconds=0.05,
                stop_event=stop,
                batch=2,
                plugins=plugins_of(fake),
                policy=policy,
                now=lambda: NOW,
                settings=settings,
            )
        )
    )
    t.start()
    deadline = time.monotonic() + 20
    while len(fake.sent) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    assert sorted(fake.sent_ids) == sorted(ids) and out["report"].sent == 5
    assert not fake.closed  # the caller's plugins stay the caller's


def test_receipts_and_opt_out_replies(
    own_engine: Engine, settings: Settings, policy: Policy, fake: FakeChannel
) -> None:
    mid = committed(own_engine, settings, channel=Channel.ROBOT_CALL, slot="call")
    run_once(own_engine, now=NOW, plugins=plugins_of(fake), policy=policy, settings=settings)
    receipt = fake.parse_receipt({"message_id": mid, "status": "no_answer"})
    inbound = fake.parse_inbound({"from": "+86 138-1234-5678", "text": "退订", "channel": "sms"})
    assert receipt is not None and inbound is not None
    with session_scope(own_engine) as s:
        applied = do_apply_receipt(session=s, receipt=receipt)
        assert applied is not None and applied.delivered is False
        hold = do_apply_inbound(session=s, inbound=inbound, at=NOW)
        assert hold is None  # no SMS was ever sent to that number: nobody to stop
    (a,) = attempts(own_engine, mid)
    assert a.outcome == AttemptOutcome.NO_ANSWER.value and a.disposition == "no_answer"

    sms = committed(own_engine, settings, channel=Channel.SMS, slot="sms1")
    run_once(own_engine, now=NOW + dt.timedelta(minutes=1), plugins=plugins_of(fake), policy=policy)
    with session_scope(own_engine) as s:
        hold = do_apply_inbound(session=s, inbound=inbound, at=NOW + dt.timedelta(minutes=2))
        assert (
            hold is not None
            and hold.kind == "stop"
            and hold.channels == ["sms"]
            and hold.borrower_key == "B1"
        )
    next_sms = committed(own_engine, settings, channel=Channel.SMS, slot="sms2", due_at=NOW)
    rep = run_once(
        own_engine,
        now=NOW + dt.timedelta(minutes=3),
        plugins=plugins_of(fake),
        policy=policy,
        settings=settings,
    )
    assert row(own_engine, next_sms).status == "blocked" and rep.blocked == 1
    assert row(own_engine, next_sms).verdict_rules == ["HOLD-STOP"]
    assert row(own_engine, sms).status == "sent"


def test_cli_dispatch_run_writes_letters_to_csv(tmp_path: Path) -> None:
    import typer

    from recoup import migrate
    from recoup.config import get_settings
    from recoup.contact.cli_dispatch import register
    from recoup.db import get_engine

    s = get_settings()  # RECOUP_DATA_DIR points into tmp_path (conftest)
    engine = get_engine(s)
    migrate.upgrade(engine)
    PAST = dt.datetime(2020, 1, 1, tzinfo=SH)  # the CLI runs on the real clock
    ids = [
        committed(
            engine, s, channel=Channel.LETTER, slot=f"l{i}", destination=f"上海市某路{i}号", due_at=PAST
        )
        for i in range(3)
    ]
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["dispatch", "run", "--batch", "2", "--until-empty"])
    assert result.exit_code == 0, result.output
    assert "sent" in result.output and "3" in result.output
    text = (s.data_dir / "outbox" / "letter.csv").read_text(encoding="utf-8")
    assert all(i in text for i in ids)
    status = runner.invoke(app, ["dispatch", "status"])
    assert status.exit_code == 0 and "sent" in status.output
    engine.dispose()


def test_two_dispatchers_at_once_send_each_message_once(
    own_engine: Engine, settings: Settings, policy: Policy
) -> None:
    with session_scope(own_engine) as s:
        ids = {enqueue(s, settings, slot=f"c{i}", borrower=f"C{i % 20}").message_id for i in range(60)}
    fakes = [FakeChannel(), FakeChannel()]
    t0 = time.monotonic()
    errors: list[BaseException] = []

    def loop(fake: FakeChannel) -> None:
        try:
            while run_once(
                own_engine,
                now=lambda: NOW + dt.timedelta(seconds=time.monotonic() - t0),
                batch=5,
                plugins=plugins_of(fake),
                policy=policy,
                settings=settings,
            ).claimed:
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(f,)) for f in fakes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    sent = fakes[0].sent_ids + fakes[1].sent_ids
    assert sorted(sent) == sorted(ids)  # every message once, none twice
    assert len(attempts(own_engine)) == 60
    with Session(own_engine) as s:
        assert counts(session=s) == {"sent": 60}


class Exploding(ChannelPlugin):
    name = "exploding"
    channels = frozenset(Channel)

    def __init__(self) -> None:
        super().__init__(ChannelPlugin.Config())

    def send(self, message: OutgoingMessage) -> SendResult:
        raise RuntimeError(f"bug while sending to {message.destination}")


def test_a_plugin_bug_or_an_unreadable_destination_is_retried_not_lost(
    own_engine: Engine, settings: Settings, policy: Policy
) -> None:
    mid = committed(own_engine, settings)
    rep = run_once(own_engine, now=NOW, plugins=plugins_of(Exploding()), policy=policy, settings=settings)
    assert rep.retried == 1
    r = row(own_engine, mid)
    assert r.status == "pending" and "raised RuntimeError" in (r.last_error or "")
    assert MOBILE not in (r.last_error or "")  # masked: 138****5678

    other = settings.model_copy(update={"pii_key": None, "data_dir": settings.data_dir / "elsewhere"})
    mid2 = committed(own_engine, settings, slot="other")
    rep = run_once(own_engine, now=NOW, plugins=plugins_of(FakeChannel()), policy=policy, settings=other)
    assert rep.claimed == rep.retried == 1  # the first row waits for its next try
    assert "cannot decrypt" in (row(own_engine, mid2).last_error or "")
