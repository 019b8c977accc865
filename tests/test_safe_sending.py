"""Safe sending: the lender's identity comes from settings and real channels refuse to start without it
(issue item 10); every planned message has a validity window, a catch-up plans its days expired, and the
dispatcher expires what it finds past its window instead of sending it (item 9)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recoup.config import (
    SAMPLE_HOTLINE,
    SAMPLE_LENDER_NAME,
    SAMPLE_PAYMENT_DOMAIN,
    SAMPLE_SMS_SIGNATURE,
    Settings,
    get_settings,
    load_settings,
)
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.channels.registry import load_channels
from recoup.contact.dispatch import (
    LenderIdentityError,
    check_lender_identity,
    identity_problems,
    reaching_channels,
    run_once,
)
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Channel
from recoup.cycle.runner import Cycle, run_range
from recoup.db import session_scope
from recoup.lake import Lake
from recoup.portfolio.flows import import_dir
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.portfolio.synth import generate, write_extract
from recoup.strategy import flows, service
from recoup.strategy.kernel import Plan, decide

SH = ZoneInfo("Asia/Shanghai")
RECOUP = str(Path(sys.executable).parent / "recoup")
FIRST, LAST = dt.date(2026, 11, 20), dt.date(2026, 11, 23)
DAYS = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
MORNING_AFTER = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SH)  # the dispatcher runs the next morning
IDENTITY = {
    "lender_name": "安信消费金融有限公司",
    "sms_signature": "安信消费金融",
    "hotline": "400-820-1234",
    "payment_domain": "pay.anxin-cf.cn",
}
BODY = "【安信消费金融】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"


class Gateway(FakeChannel):
    """A fake that stands for a real SMS gateway (its name is not a local plugin's)."""

    name = "gateway"


def _policy() -> Policy:
    return Policy(resolve("cn"))


def _outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _dispatch_all(engine: Engine, settings: Settings, now: dt.datetime, plugin: FakeChannel) -> Counter[str]:
    total: Counter[str] = Counter()
    while True:
        rep = run_once(
            engine,
            now=now,
            batch=500,
            plugins=dict.fromkeys(Channel, plugin),
            policy=None,  # the settings' (link domains and signatures), as the commands do
            settings=settings,
        )
        total.update(rep.counts())
        if rep.claimed + rep.expired == 0:
            return total


# ---------------------------------------------------------------------------------- item 9: validity


def _import_days(engine: Engine, tmp_path: Path, after: Callable[[dt.date], object]) -> Lake:
    """A synthetic book's extracts of 11-20 … 11-23 (nothing paid meanwhile; one borrower's income
    changes, so each day is an import of its own), each imported (and ``after`` run) as the day comes."""
    lake = Lake(str(tmp_path / "lake"))
    first = write_extract(generate(400, as_of=FIRST, seed=11), tmp_path / "extracts" / FIRST.isoformat())
    for i, day in enumerate(DAYS):
        d = tmp_path / "extracts" / day.isoformat()
        if i:
            shutil.copytree(first, d)
            lines = (d / "borrowers.csv").read_text(encoding="utf-8").splitlines(keepends=True)
            cells = lines[1].split(",")
            cells[10] = f"{1000 + i}.00"  # monthly_income
            lines[1] = ",".join(cells)
            (d / "borrowers.csv").write_text("".join(lines), encoding="utf-8")
        with session_scope(engine) as s:
            import_dir(d, as_of=day, settings=load_settings(data_dir=tmp_path), lake=lake, session=s)
        after(day)
    return lake


def _sms_by_borrower(plugin: FakeChannel) -> Counter[str]:
    return Counter(m.borrower_key for m in plugin.sent if m.channel is Channel.SMS)


def test_item_9_a_catch_up_of_four_days_sends_only_the_newest_day(own_engine: Engine, tmp_path: Path) -> None:
    """Four days imported, then `cycle run --from 2026-11-20 --to 2026-11-23`, then one dispatch run the
    next morning: the three older days were planned expired; only 11-23's messages go, one per loan."""
    settings = get_settings()  # the cycle encrypted the destinations with its PII key
    lake = _import_days(own_engine, tmp_path, lambda _day: None)
    outcomes = run_range(Cycle(engine=own_engine, lake=lake), FIRST, LAST)
    details = [next(x.detail for x in o.steps if x.step == "decisions") for o in outcomes]
    planned = _outbox(own_engine)
    by_day = Counter(m.as_of for m in planned)
    assert set(by_day) == set(DAYS), by_day  # every day planned messages …
    for m in planned:
        assert m.expires_at == dt.datetime.combine(m.as_of, dt.time(10), tzinfo=SH) + dt.timedelta(hours=36)
        if m.as_of < LAST:  # … but the days older than the newest imported one are a catch-up
            assert m.status == "expired" and "a past day (2026-11-23 is newer)" in (m.last_error or "")
        else:
            assert m.status == "pending"
    for day, detail in zip(DAYS, details, strict=True):
        n = by_day[day]
        assert (f"{n} messages planned ({n} expired, never sent: 2026-11-23 is newer)" in detail) == (
            day < LAST
        )
    assert "RECOUP_LENDER_NAME" in details[-1] and "WARNING" in details[-1]  # identity unset: said so

    gateway = FakeChannel()
    counts = _dispatch_all(own_engine, settings, MORNING_AFTER, gateway)
    after = _outbox(own_engine)
    assert {m.status for m in after if m.as_of < LAST} == {"expired"}
    sent = [m for m in after if m.status == "sent"]
    assert sent and {m.as_of for m in sent} == {LAST} and counts["sent"] == len(sent) == len(gateway.sent)
    assert counts["expired"] == 0  # the catch-up's days never reached the dispatcher
    # Before, a borrower got one SMS per day planned (逾期2天, 逾期3天 … within a second); now one.
    planned_sms = Counter(m.borrower_key for m in planned if m.channel == "sms")
    assert max(planned_sms.values()) >= 3
    assert set(_sms_by_borrower(gateway).values()) == {1}
    assert set(_sms_by_borrower(gateway)) == {
        m.borrower_key for m in planned if m.channel == "sms" and m.as_of == LAST
    }
    assert max(Counter(m.debt_key for m in gateway.sent).values()) == 1


def test_item_9_days_run_live_then_one_late_dispatch_expires_the_older_ones(
    own_engine: Engine, tmp_path: Path
) -> None:
    """Each day imported and run as it came (live), but the dispatcher only runs on the morning of
    11-24: the windows of 11-20 … 11-22 have closed (10:00 + 36 h), so it expires and counts them."""
    settings = get_settings()
    lake = Lake(str(tmp_path / "lake"))
    cycle = Cycle(engine=own_engine, lake=lake)
    _import_days(own_engine, tmp_path, cycle.run)
    planned = _outbox(own_engine)
    assert {m.status for m in planned} == {"pending"}
    older = sum(1 for m in planned if m.as_of < LAST)
    assert older > 0

    gateway = FakeChannel()
    counts = _dispatch_all(own_engine, settings, MORNING_AFTER, gateway)
    after = _outbox(own_engine)
    assert counts["expired"] == older
    assert all(
        m.status == "expired" and "validity window" in (m.last_error or "") for m in after if m.as_of < LAST
    )
    assert {m.as_of for m in after if m.status == "sent"} == {LAST}
    assert max(Counter(m.debt_key for m in gateway.sent).values()) == 1
    assert set(_sms_by_borrower(gateway).values()) == {1}


def _enqueue(engine: Engine, settings: Settings, **kw: Any) -> str:
    values: dict[str, Any] = {
        "as_of": dt.date(2030, 3, 4),
        "borrower_key": "B1",
        "debt_key": "L1",
        "slot": "d1-reminder",
        "channel": Channel.SMS,
        "party": "debtor",
        "destination": "13812345678",
        "destination_kind": "mobile",
        "body": BODY,
        "locale": "zh_CN",
        "due_at": dt.datetime(2030, 3, 4, 10, tzinfo=SH),
        "settings": settings,
    }
    values.update(kw)
    with session_scope(engine) as s:
        return do_enqueue(session=s, **values).message_id


def _row(engine: Engine, message_id: str) -> OutboxMessage:
    with Session(engine) as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message_id)).one()


def test_the_dispatcher_honours_the_window(own_engine: Engine, settings: Settings) -> None:
    day = dt.datetime(2030, 3, 4, 10, tzinfo=SH)
    go: dict[str, Any] = {"policy": _policy(), "settings": settings}
    fresh = _enqueue(own_engine, settings, slot="fresh", expires_at=day + dt.timedelta(hours=36))
    stale = _enqueue(own_engine, settings, slot="stale", expires_at=day + dt.timedelta(hours=2))
    unbounded = _enqueue(own_engine, settings, slot="unbounded", debt_key="L2")  # no window (people's)
    never = _enqueue(own_engine, settings, slot="backfill", debt_key="L3", expired="a past day")
    fake = FakeChannel()
    rep = run_once(own_engine, now=day + dt.timedelta(hours=3), plugins=dict.fromkeys(Channel, fake), **go)
    assert (rep.expired, rep.sent) == (1, 2) and set(fake.sent_ids) == {fresh, unbounded}
    assert {"message_id": stale, "status": "expired"} in rep.items  # in the batch's ledger entry
    assert _row(own_engine, stale).status == "expired" and _row(own_engine, stale).sent_at is None
    assert (_row(own_engine, never).status, _row(own_engine, never).last_error) == ("expired", "a past day")
    assert (
        run_once(
            own_engine, now=day + dt.timedelta(days=9), plugins=dict.fromkeys(Channel, fake), **go
        ).counts()["expired"]
        == 0
    )  # expired is final; the planned-expired one was never claimed


def test_a_retry_or_a_deferral_past_the_window_expires(own_engine: Engine, settings: Settings) -> None:
    day = dt.datetime(2030, 3, 4, 10, tzinfo=SH)
    go: dict[str, Any] = {"policy": _policy(), "settings": settings}
    retried = _enqueue(own_engine, settings, slot="r", expires_at=day + dt.timedelta(minutes=30))
    fake = FakeChannel()
    fake.fail_next(1)
    assert run_once(own_engine, now=day, plugins=dict.fromkeys(Channel, fake), **go).retried == 1
    later = run_once(own_engine, now=day + dt.timedelta(hours=1), plugins=dict.fromkeys(Channel, fake), **go)
    assert later.expired == 1 and fake.sent == [] and _row(own_engine, retried).status == "expired"
    # 22:15 in Shanghai: the policy defers to 08:00 tomorrow, after the window's end at 22:45.
    night = dt.datetime(2030, 3, 5, 22, 15, tzinfo=SH)
    deferred = _enqueue(
        own_engine,
        settings,
        slot="n",
        debt_key="L9",
        due_at=night,
        expires_at=night + dt.timedelta(minutes=30),
    )
    rep = run_once(own_engine, now=night, plugins=dict.fromkeys(Channel, fake), **go)
    assert rep.expired == 1 and rep.deferred == 0 and fake.sent == []
    r = _row(own_engine, deferred)
    assert (
        r.status == "expired"
        and r.verdict == "deferred"
        and "after its validity window" in (r.last_error or "")
    )


# --------------------------------------------------------------------------------- item 10: identity


def test_identity_problems_name_unset_and_sample_values() -> None:
    unset = identity_problems(load_settings())
    assert [p.split()[0] for p in unset] == [
        "RECOUP_LENDER_NAME",
        "RECOUP_SMS_SIGNATURE",
        "RECOUP_HOTLINE",
        "RECOUP_PAYMENT_DOMAIN",
    ] and all("is not set" in p for p in unset)
    samples = identity_problems(
        load_settings(
            lender_name=SAMPLE_LENDER_NAME,
            sms_signature=SAMPLE_SMS_SIGNATURE,
            hotline=SAMPLE_HOTLINE,
            payment_domain=SAMPLE_PAYMENT_DOMAIN,
        )
    )
    assert len(samples) == 4 and all("is a sample value" in p for p in samples)
    assert identity_problems(load_settings(**IDENTITY)) == []
    assert identity_problems(load_settings(**{**IDENTITY, "payment_domain": "pay.example.com"})) == [
        "RECOUP_PAYMENT_DOMAIN is a sample value (pay.example.com)"
    ]
    unregistered = identity_problems(load_settings(**IDENTITY, sms_signatures=["别的签名"]))
    assert unregistered == [
        "RECOUP_SMS_SIGNATURE 【安信消费金融】 is not among RECOUP_SMS_SIGNATURES (别的签名)"
    ]


def test_identity_settings_are_normalised_and_registered() -> None:
    s = load_settings(**IDENTITY)
    assert s.sms_signature == "【安信消费金融】" and s.signature_text == "安信消费金融"
    assert s.sms_signatures == ["安信消费金融"]  # registered, since none were
    assert s.link_domains == ["pay.anxin-cf.cn"]  # replaces the sample default
    assert load_settings(**IDENTITY, link_domains=["anxin-cf.cn"]).link_domains == [
        "anxin-cf.cn",
        "pay.anxin-cf.cn",
    ]
    assert load_settings().link_domains == [SAMPLE_PAYMENT_DOMAIN] and load_settings().sms_signatures == []


def test_only_channels_that_reach_people_need_the_identity(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    assert reaching_channels(settings, load_channels(settings)) == {}  # no channels file: CSV files only
    check_lender_identity(settings, load_channels(settings))  # the demo's case: fine
    check_lender_identity(settings, dict.fromkeys(Channel, FakeChannel()))
    with pytest.raises(LenderIdentityError) as exc:
        check_lender_identity(settings, {Channel.SMS: Gateway(), Channel.EMAIL: FakeChannel()})
    assert exc.value.code == "config.lender_identity" and exc.value.exit_code == 78
    assert exc.value.details["channels"] == {"sms": "gateway"} and len(exc.value.details["problems"]) == 4
    path = tmp_path / "channels.toml"
    path.write_text('[default]\nplugin = "filexport"\n', encoding="utf-8")  # CSVs for a printer: real
    named = settings.model_copy(update={"channels_file": path})
    assert set(reaching_channels(named, load_channels(named))) == set(Channel)
    path.write_text('[sms]\nplugin = "webhook"\nurl = "https://sms.example.cn/send"\n', encoding="utf-8")
    assert reaching_channels(named, load_channels(named)) == {Channel.SMS: "webhook"}  # the rest: CSV default
    check_lender_identity(
        load_settings(data_dir=tmp_path / "data", channels_file=path, **IDENTITY), load_channels(named)
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, timeout=120)


def test_dispatch_run_and_worker_refuse_with_sample_identity(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "channels.toml").write_text(
        '[sms]\nplugin = "webhook"\nurl = "http://127.0.0.1:9/sms"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update({"RECOUP_DATA_DIR": str(data), "COLUMNS": "200"})
    for args in (["dispatch", "run", "--until-empty"], ["worker", "--poll", "0.2"]):
        p = _cli(env, *args)
        said = " ".join(p.stderr.split())
        assert p.returncode == 78, p.stderr
        assert "config.lender_identity" in said and "RECOUP_LENDER_NAME is not set" in said
        assert "refusing to send through sms (webhook):" in said and "Traceback" not in said
    sample = {
        **env,
        "RECOUP_LENDER_NAME": SAMPLE_LENDER_NAME,
        "RECOUP_SMS_SIGNATURE": SAMPLE_SMS_SIGNATURE,
        "RECOUP_HOTLINE": SAMPLE_HOTLINE,
        "RECOUP_PAYMENT_DOMAIN": SAMPLE_PAYMENT_DOMAIN,
    }
    p = _cli(sample, "dispatch", "run")
    said = " ".join(p.stderr.split())
    assert p.returncode == 78 and f"RECOUP_HOTLINE is a sample value ({SAMPLE_HOTLINE})" in said, p.stderr
    real = {**env, **{f"RECOUP_{k.upper()}": v for k, v in IDENTITY.items()}}
    p = _cli(real, "dispatch", "run")
    assert p.returncode == 0, p.stderr  # nothing due: a summary of zeros, expired among them
    assert "expired" in p.stdout


def test_a_message_rendered_with_the_sample_identity_never_reaches_anyone(
    own_engine: Engine, settings: Settings
) -> None:
    day = dt.datetime(2030, 3, 4, 10, tzinfo=SH)
    s = load_settings(data_dir=settings.data_dir, **IDENTITY)
    # Planned before the identity was set (a robot call: the SMS signature rule would not catch it).
    old = _enqueue(
        own_engine,
        s,
        slot="old",
        channel=Channel.ROBOT_CALL,
        body=f"您好，这里是{SAMPLE_LENDER_NAME}。您的借款已逾期，请尽快还款。如有疑问请致电{SAMPLE_HOTLINE}。",
    )
    new = _enqueue(own_engine, s, slot="new", debt_key="L2")
    gateway = Gateway()
    rep = run_once(own_engine, now=day, plugins=dict.fromkeys(Channel, gateway), settings=s)
    assert rep.sent == 1 and rep.failed == 1 and gateway.sent_ids == [new], rep
    r = _row(own_engine, old)
    assert r.status == "failed" and "sample lender identity" in (r.last_error or "") and r.sent_at is None


# ------------------------------------------------------------------------------- rendering uses settings


def _mirror(session: Session, as_of: dt.date) -> None:
    b = Borrower(external_id="B1", name="张三", locale="zh_CN")
    session.add(b)
    session.flush()
    session.add(
        ContactPoint(
            external_id="CP1",
            borrower_id=b.id,
            kind="phone",
            value="13812345678",
            role="self",
            consent_channels="sms",
        )
    )
    session.add(
        CollectionAccount(
            external_id="L1",
            borrower_id=b.id,
            product_code="P",
            product_type="installment",
            repayment_method="equal_installment",
            currency="CNY",
            principal=1_000_000,
            annual_rate_bp=1800,
            term_months=12,
            disbursement_date=dt.date(2026, 1, 1),
            loan_status="active",
            opened_on=as_of,
            as_of=as_of,
        )
    )
    session.flush()


def _act(session: Session, settings: Settings, as_of: dt.date) -> tuple[flows.ActResult, OutboxMessage]:
    strategy = service.get_strategy(session=session)
    frame = pl.DataFrame(
        {
            "loan_id": ["L1"],
            "borrower_id": ["B1"],
            "segment": ["mild"],
            "dpd": [2],
            "overdue_amount": [123_456],
        }
    )
    decisions = decide(frame, Plan(champion=strategy), as_of=as_of)
    res = flows.do_act(decisions, Plan(champion=strategy), session=session, as_of=as_of, settings=settings)
    msg = session.scalars(select(OutboxMessage).where(OutboxMessage.as_of == as_of)).one()
    return res, msg


def test_rendering_uses_the_identity_settings(session: Session, tmp_path: Path) -> None:
    as_of = dt.date(2026, 11, 20)
    _mirror(session, as_of)
    settings = load_settings(data_dir=tmp_path / "data", message_validity_hours=12, **IDENTITY)
    res, msg = _act(session, settings, as_of)
    assert (
        res.messages == 1
        and res.expired == 0
        and res.sample_identity == []
        and "WARNING" not in res.summary()
    )
    assert msg.body.startswith("【安信消费金融】张三您好") and "400-820-1234" in msg.body
    assert "https://pay.anxin-cf.cn/p/" in msg.body
    assert not any(x in msg.body for x in (SAMPLE_LENDER_NAME, SAMPLE_HOTLINE, SAMPLE_PAYMENT_DOMAIN))
    assert msg.expires_at == dt.datetime(2026, 11, 20, 22, tzinfo=SH)  # 10:00 + 12 h
    # Without the settings: the strategy's sample values, and the summary says so.
    res2, msg2 = _act(session, load_settings(data_dir=tmp_path / "data"), as_of + dt.timedelta(days=1))
    assert msg2.body.startswith(SAMPLE_SMS_SIGNATURE) and res2.sample_identity == [
        "RECOUP_LENDER_NAME",
        "RECOUP_SMS_SIGNATURE",
        "RECOUP_HOTLINE",
        "RECOUP_PAYMENT_DOMAIN",
    ]
    assert "WARNING: RECOUP_LENDER_NAME, RECOUP_SMS_SIGNATURE" in res2.summary()


def test_a_replayed_day_plans_its_messages_expired(session: Session, tmp_path: Path) -> None:
    as_of = dt.date(2026, 11, 20)
    _mirror(session, as_of)
    settings = load_settings(data_dir=tmp_path / "data", **IDENTITY)
    newer, _ = _act(session, settings, as_of + dt.timedelta(days=2))
    assert newer.expired == 0
    res, msg = _act(session, settings, as_of)  # a replay of an older day after a newer one was planned
    assert res.expired == 1 and msg.status == "expired" and "2026-11-22 is newer" in (msg.last_error or "")
    assert "1 messages planned (1 expired, never sent: 2026-11-22 is newer)" in res.summary()
