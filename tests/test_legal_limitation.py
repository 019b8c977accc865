"""Limitation periods on the database: the restart events gathered from where they are recorded, the
refresh storing each debt's limitation date, and the time-barred flag reaching the contact engine (the
policy at send time, and the dispatcher) — on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_user, token_for
from legal_factories import SH, account_of, add_payment, add_schedule, borrower_key, verdict
from recoup.cases.models import PromiseToPay
from recoup.config import Settings
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.dispatch import run_once
from recoup.contact.models import ContactAttempt, ContactFlag, OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Party, Proposal
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt
from recoup.contact.vocab import Channel
from recoup.db import session_scope, utcnow
from recoup.ledger.models import LedgerEntry
from recoup.legal.limitation import FLAG_SETTER, do_record_event, do_refresh_limitations, gather, watch_list
from recoup.legal.models import LimitationStatus

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LAST_DUE = dt.date(2023, 1, 10)  # the period runs to 2026-01-10
AS_OF = dt.date(2026, 6, 30)  # … so on this day the debt is time-barred
OK_SMS = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"
SUIT_SMS = "【示例银行】尊敬的客户：您的借款已逾期，我们将向法院起诉您。退订回T"


def _tomorrow_10() -> dt.datetime:
    day = utcnow().astimezone(SH).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=SH)


def _status(session: Session, case: object) -> LimitationStatus:
    acc = account_of(session, case)  # type: ignore[arg-type]
    row = session.get(LimitationStatus, acc.id)
    assert row is not None
    return row


def _active_flags(session: Session, key: str) -> list[ContactFlag]:
    return list(
        session.scalars(
            select(ContactFlag).where(
                ContactFlag.borrower_key == key,
                ContactFlag.flag == "time_barred",
                ContactFlag.cleared_at.is_(None),
            )
        )
    )


def test_limitation_restarts_on_a_recorded_payment_and_the_flag_reaches_the_contact_engine(
    session: Session, settings: Settings
) -> None:
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=LAST_DUE)
    key = borrower_key(session, case)
    at = _tomorrow_10()

    # No restart since the last instalment (2023-01-10): time-barred on 2026-06-30 (limitation 2026-01-10).
    r = do_refresh_limitations(AS_OF, session=session, settings=settings)
    row = _status(session, case)
    assert (row.start_on, row.limitation_date, row.time_barred) == (LAST_DUE, dt.date(2026, 1, 10), True)
    assert key in r.flagged and r.barred >= 1
    [flag] = _active_flags(session, key)
    assert flag.set_by == FLAG_SETTER
    # The contact engine: a threat of suit on the time-barred debt is blocked by TIME-BARRED; a plain
    # reminder still goes (the cn preset does not block all contact).
    barred = verdict(session, case, at=at, content=SUIT_SMS)
    assert barred.verdict == "blocked" and "TIME-BARRED" in barred.rules
    assert verdict(session, case, at=at, content=OK_SMS).verdict == "allowed"
    # A preset set to block all contact on time-barred debts (block_all) blocks the reminder too.
    base = resolve("cn", session=session)
    rules = {**base.rules, "TIME-BARRED": {**base.rules["TIME-BARRED"], "block_all": True}}
    strict = Policy(dataclasses.replace(base, rules=rules))
    proposal = Proposal(
        id="strict",
        at=at,
        channel=Channel.SMS,
        party=Party.DEBTOR,
        destination="13800138000",
        debt_id=account_of(session, case).external_id,
        content=OK_SMS,
    )
    v = check_attempt(strict, session=session, borrower_key=key, proposal=proposal)
    assert v.verdict == "blocked" and v.rules == ("TIME-BARRED",)

    # A payment recorded in the extracts on 2025-03-05 (after the period ran out: a payment revives it,
    # 民法典 §192(2)) restarts it: 3 years after the payment, 2028-03-05. The flag is cleared.
    add_payment(session, case, on=dt.date(2025, 3, 5), amount=20_000)
    r2 = do_refresh_limitations(AS_OF, session=session, settings=settings)
    row = _status(session, case)
    assert (row.last_event_kind, row.last_event_on) == ("payment", dt.date(2025, 3, 5))
    assert (row.limitation_date, row.time_barred) == (dt.date(2028, 3, 5), False)
    assert key in r2.cleared and _active_flags(session, key) == []
    assert verdict(session, case, at=at + dt.timedelta(minutes=1), content=SUIT_SMS).verdict == "allowed"
    kinds = [
        e.kind for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "limitation.refreshed"))
    ]
    assert len(kinds) >= 2
    # Idempotent: the same day again changes nothing and sets no second flag.
    r3 = do_refresh_limitations(AS_OF, session=session, settings=settings)
    assert (r3.flagged, r3.cleared) == ([], [])


def test_a_payment_in_the_lake_restarts_it_and_a_reversed_payment_does_not(
    session: Session, settings: Settings
) -> None:
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=LAST_DUE)
    loan = account_of(session, case).external_id
    reversed_one = add_payment(session, case, on=dt.date(2024, 5, 1))
    add_payment(session, case, on=dt.date(2024, 5, 3), reverses=reversed_one.external_id)
    do_refresh_limitations(AS_OF, session=session, settings=settings)
    assert _status(session, case).limitation_date == dt.date(2026, 1, 10)  # the reversed payment: nothing
    lake = pl.DataFrame(
        {
            "payment_id": ["LK1"],
            "loan_id": [loan],
            "received_date": [dt.date(2025, 11, 11)],
            "amount": [5_000],
            "reverses": [None],
        },
        schema={
            "payment_id": pl.String,
            "loan_id": pl.String,
            "received_date": pl.Date,
            "amount": pl.Int64,
            "reverses": pl.String,
        },
    )
    do_refresh_limitations(AS_OF, session=session, settings=settings, lake_payments=lake.lazy())
    assert _status(session, case).limitation_date == dt.date(2028, 11, 11)


def test_which_contacts_are_demands_and_promises_acknowledgements(
    session: Session, settings: Settings
) -> None:
    """A delivered message and a recorded conversation with the debtor are demands; an undelivered
    message, an unrecorded call and a call to someone else are not; a debtor's promise acknowledges."""
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=dt.date(2022, 6, 1))  # runs to 2025-06-01
    key, loan = borrower_key(session, case), account_of(session, case).external_id

    def attempt(day: dt.date, **kw: object) -> None:
        base = {
            "source": "collector",
            "external_id": f"x{day}{kw}",
            "borrower_key": key,
            "debt_key": loan,
            "party": "debtor",
            "channel": "call",
            "destination_hash": "h",
            "destination_masked": "138****",
            "at": dt.datetime.combine(day, dt.time(10), tzinfo=SH),
            "outcome": "conversation",
            "made_by": "c1",
        }
        session.add(ContactAttempt(**{**base, **kw}))

    attempt(dt.date(2023, 1, 5))  # a conversation without a recording: no proof
    attempt(dt.date(2023, 2, 5), party="emergency_contact", recording_ref="rec-1")  # not the debtor
    attempt(dt.date(2023, 3, 5), outcome="no_answer", recording_ref="rec-2")  # not reached
    session.flush()
    _debts, events = gather(session=session, as_of=AS_OF, settings=settings)
    mine = events.filter(pl.col("loan_id") == loan)
    assert mine.height == 0
    attempt(dt.date(2023, 4, 5), recording_ref="rec-3")  # a recorded conversation with the debtor
    msg = do_enqueue(
        session=session,
        as_of=dt.date(2024, 1, 2),
        borrower_key=key,
        debt_key=loan,
        slot="t",
        channel=Channel.SMS,
        party="debtor",
        destination="13800138000",
        destination_kind="mobile",
        body=OK_SMS,
        due_at=dt.datetime(2024, 1, 2, 10, tzinfo=SH),
        settings=settings,
    )
    msg.status, msg.sent_at, msg.delivered = "sent", dt.datetime(2024, 1, 2, 10, tzinfo=SH), None
    session.flush()
    _, events = gather(session=session, as_of=AS_OF, settings=settings)
    assert events.filter(pl.col("loan_id") == loan).get_column("on").to_list() == [dt.date(2023, 4, 5)]
    msg.delivered = True  # the receipt arrives: the message reached the debtor
    session.add(
        PromiseToPay(
            case_id=case.id,
            made_at=dt.datetime(2025, 2, 1, 9, tzinfo=SH),
            made_on=dt.date(2025, 2, 1),
            by="debtor",
            amount=50_000,
            due_date=dt.date(2025, 2, 15),
            made_by="c1",
        )
    )
    session.flush()
    _, events = gather(session=session, as_of=AS_OF, settings=settings)
    got = events.filter(pl.col("loan_id") == loan).select("on", "kind", "source").rows()
    assert got == [
        (dt.date(2023, 4, 5), "demand", "contact"),
        (dt.date(2024, 1, 2), "demand", "message"),
        (dt.date(2025, 2, 1), "acknowledgement", "promise"),
    ]
    do_refresh_limitations(AS_OF, session=session, settings=settings)
    row = _status(session, case)
    assert (row.limitation_date, row.last_event_kind) == (dt.date(2028, 2, 1), "acknowledgement")


def test_recorded_events_acceleration_and_the_watch_list(session: Session, settings: Settings) -> None:
    lawyer = make_user(session, "legal")
    near = make_case(session, state="early_collection")
    add_schedule(session, near, last_due=dt.date(2023, 8, 1))  # 2026-08-01: 32 days after AS_OF
    far = make_case(session, state="early_collection")
    add_schedule(session, far, last_due=dt.date(2025, 12, 1))
    acc_far = account_of(session, far)
    # An acceleration on 2023-05-01 starts the period then: 2026-05-01, barred on AS_OF.
    do_record_event(
        acc_far,
        session=session,
        actor=lawyer,
        kind="acceleration",
        on=dt.date(2023, 5, 1),
        evidence_ref="acceleration notice 2023-05-01",
        settings=settings,
    )
    do_refresh_limitations(AS_OF, session=session, settings=settings)
    assert _status(session, far).limitation_date == dt.date(2026, 5, 1)
    rows = {r.loan_id: r for r in watch_list(session=session, as_of=AS_OF, within_days=90)}
    near_loan = account_of(session, near).external_id
    assert rows[near_loan].days_left == 32 and not rows[near_loan].time_barred
    assert rows[acc_far.external_id].time_barred
    # An acknowledgement recorded with its evidence restarts the far one.
    do_record_event(
        acc_far,
        session=session,
        actor=lawyer,
        kind="acknowledgement",
        on=dt.date(2026, 6, 1),
        evidence_ref="signed confirmation #77",
        settings=settings,
    )
    do_refresh_limitations(AS_OF, session=session, settings=settings)
    assert _status(session, far).limitation_date == dt.date(2029, 6, 1)
    with pytest.raises(Exception) as bad:
        do_record_event(
            acc_far,
            session=session,
            actor=lawyer,
            kind="phone_call",
            on=dt.date(2026, 6, 1),
            evidence_ref="x" * 5,
            settings=settings,
        )
    assert getattr(bad.value, "code", "") == "legal.refused"


def test_limitation_api(session: Session, settings: Settings) -> None:
    lawyer = make_user(session, "legal")
    collector = make_user(session, "collector")
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=dt.date(2023, 1, 1))
    loan = account_of(session, case).external_id
    h = {"Authorization": f"Bearer {token_for(session, lawyer)}"}
    with api_client(session, settings) as client:
        r = client.post("/api/v1/legal/limitation/refresh", json={"as_of": "2026-06-30"}, headers=h)
        assert r.status_code == 200, r.json()
        assert r.json()["barred"] >= 1 and borrower_key(session, case) in r.json()["flagged"]
        r = client.get(f"/api/v1/cases/{case.id}/limitation", headers=h)
        assert r.status_code == 200 and r.json()[0]["limitation_date"] == "2026-01-01"
        r = client.post(
            f"/api/v1/cases/{case.id}/limitation-events",
            json={
                "loan_id": loan,
                "kind": "demand",
                "on": "2025-12-20",
                "evidence_ref": "lawyer letter, EMS 1234",
            },
            headers=h,
        )
        assert r.status_code == 201, r.json()
        r = client.post("/api/v1/legal/limitation/refresh", json={"as_of": "2026-06-30"}, headers=h)
        assert borrower_key(session, case) in r.json()["cleared"]
        r = client.get("/api/v1/legal/limitation?days=3660", headers=h)
        assert any(x["loan_id"] == loan and x["limitation_date"] == "2028-12-20" for x in r.json())
        r = client.post(
            f"/api/v1/cases/{case.id}/limitation-events",
            json={"loan_id": "NOPE", "kind": "demand", "on": "2025-12-20", "evidence_ref": "abc"},
            headers=h,
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "legal.refused"
        denied = client.get(
            "/api/v1/legal/limitation", headers={"Authorization": f"Bearer {token_for(session, collector)}"}
        )
        assert denied.status_code == 403


def test_the_dispatcher_blocks_a_suit_threat_to_a_time_barred_borrower(
    own_engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Through the real dispatcher: the refresh flags the borrower; at send time the policy blocks the
    message threatening suit (TIME-BARRED) and sends the plain reminder."""
    with session_scope(own_engine) as s:
        case = make_case(s, state="early_collection")
        add_schedule(s, case, last_due=LAST_DUE)
        key, loan = borrower_key(s, case), account_of(s, case).external_id
        do_refresh_limitations(AS_OF, session=s, settings=settings)
        ids = {}
        for slot, body in (("suit", SUIT_SMS), ("plain", OK_SMS)):
            ids[slot] = do_enqueue(
                session=s,
                as_of=AS_OF,
                borrower_key=key,
                debt_key=loan,
                slot=slot,
                channel=Channel.SMS,
                party="debtor",
                destination="13800138000",
                destination_kind="mobile",
                body=body,
                due_at=utcnow() - dt.timedelta(minutes=5),
                settings=settings,
            ).message_id
    fake = FakeChannel()
    at = _tomorrow_10()
    with session_scope(own_engine) as s:
        policy = Policy(resolve("cn", session=s))
    report = run_once(
        own_engine, now=at, plugins=dict.fromkeys(Channel, fake), policy=policy, settings=settings
    )
    assert report.blocked == 1 and report.sent == 1
    with Session(own_engine) as s:
        rows = {m.message_id: m for m in s.scalars(select(OutboxMessage))}
    assert rows[ids["suit"]].status == "blocked" and "TIME-BARRED" in (rows[ids["suit"]].verdict_rules or [])
    assert rows[ids["plain"]].status == "sent"
    assert [m.body for m in fake.sent] == [OK_SMS]
