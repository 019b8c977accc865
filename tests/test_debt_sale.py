"""Debt sales (个贷不良批量转让) and write-offs (核销).

The acceptance: a debt sold at a cut-off date leaves every queue, strategy and message the same day —
through the real queue service and kernel, the daily cycle's strategy decisions, and the outbox and the
dispatcher — and payments after the cut-off are listed for the buyer. Then four eyes, the refusals, the
buyer's data pack and its manifest, the API, and write-offs whose recoveries are reported apart.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from factories import imported_book
from floor_factories import api_client, make_case, make_phone, make_task, make_user, token_for
from legal_factories import SH, account_of, add_address, add_payment, add_schedule, borrower_key, verdict
from recoup.auth.models import AppUser
from recoup.cases.models import Case
from recoup.cases.tasks import queue_for
from recoup.config import Settings
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.dispatch import run_once
from recoup.contact.models import ContactHold, OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Channel
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.lake.store import Outputs
from recoup.ledger.models import LedgerEntry
from recoup.legal.common import LegalFourEyesError, LegalInputError, LegalStateError, TooEarlyError
from recoup.legal.pack import do_build_pack, verify_pack
from recoup.legal.sales import (
    buyer_payments,
    do_approve_sale,
    do_create_sale,
    do_transfer_sale,
    sale_accounts,
)
from recoup.legal.writeoffs import do_approve_write_off, do_request_write_off, recoveries
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.strategy.models import WorkTask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AS_OF = dt.date(2026, 11, 20)
REMINDER = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH)


def test_a_sold_debt_leaves_every_queue_strategy_and_message_the_same_day(
    own_engine: Engine, tmp_path: Path, settings: Settings
) -> None:
    lake = imported_book(tmp_path, own_engine, AS_OF, n=200, seed=5)
    cycle = Cycle(engine=own_engine, lake=lake)
    cycle.run(AS_OF)
    out = Outputs(lake)
    before = out.read("decisions", AS_OF)
    assert before is not None and before.height > 5
    with session_scope(own_engine) as s:
        lawyer, manager = make_user(s, "legal"), make_user(s, "manager")
        collector = make_user(s, "collector")
        # A borrower the strategy decided for today, whose case a collector holds with work queued.
        decided = set(before.get_column("borrower_id").to_list())
        case = s.scalars(
            select(Case)
            .join(Borrower, Borrower.id == Case.borrower_id)
            .where(Case.status == "open", Borrower.external_id.in_(sorted(decided)))
            .order_by(Case.id)
        ).first()
        assert case is not None
        key = borrower_key(s, case)
        loans = [
            a.external_id
            for a in s.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id))
        ]
        case.holder_id = collector.id
        for t in s.scalars(select(WorkTask).where(WorkTask.case_id == case.id)):
            t.assignee_id = collector.id
        task = make_task(s, case, treatment="agent_call", as_of=AS_OF - dt.timedelta(days=1))
        task.assignee_id = collector.id
        pending = do_enqueue(
            session=s,
            as_of=AS_OF,
            borrower_key=key,
            debt_key=loans[0],
            slot="test:reminder",
            channel=Channel.SMS,
            party="debtor",
            destination="13800138000",
            destination_kind="mobile",
            body=REMINDER,
            due_at=_at(AS_OF, 16),
            settings=settings,
        )
        add_address(s, case)
        case_id, collector_id, lawyer_id, manager_id = case.id, collector.id, lawyer.id, manager.id
        assert len(queue_for(collector, session=s, today=AS_OF)) >= 1  # in the collector's queue now

    now = _at(AS_OF, 14)
    with session_scope(own_engine) as s:
        lawyer, manager = s.get(AppUser, lawyer_id), s.get(AppUser, manager_id)
        assert lawyer is not None and manager is not None
        sale = do_create_sale(
            session=s,
            actor=lawyer,
            buyer="某某资产管理有限公司",
            buyer_contact="400-800-1234",
            cutoff_date=AS_OF - dt.timedelta(days=20),
            transfer_date=AS_OF,
            loan_ids=[loans[0]],
            settings=settings,
            now=now,
        )
        assert {a.loan_id for a in sale_accounts(sale.id, session=s)} == set(loans)  # the whole case
        with pytest.raises(LegalFourEyesError):
            do_approve_sale(sale.id, session=s, actor=lawyer, settings=settings, now=now)
        do_approve_sale(sale.id, session=s, actor=manager, settings=settings, now=now)
        result = do_transfer_sale(sale.id, session=s, actor=lawyer, settings=settings, now=now)
        sale_id = sale.id
        assert result.cases == [case_id] and len(result.holds) == 1 and len(result.notices) == 1
        assert task.id in result.tasks_cancelled and pending.message_id in result.messages_blocked

    with session_scope(own_engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.state, case.close_reason, case.status) == (
            "closed",
            "sold",
            "closed",
        )
        # Every queue: the collector's ranked queue (the queue kernel over the live tasks) is empty of it.
        worker = s.get(AppUser, collector_id)
        assert worker is not None
        queue = queue_for(worker, session=s, today=AS_OF)
        assert queue.height == 0 or case_id not in queue.get_column("case_id").to_list()
        live = s.scalar(
            select(func.count())
            .select_from(WorkTask)
            .where(WorkTask.case_id == case_id, WorkTask.status.in_(("open", "in_progress")))
        )
        assert live == 0
        hold = s.scalars(
            select(ContactHold).where(ContactHold.borrower_key == key, ContactHold.kind == "stop")
        ).one()
        assert hold.end_at is None and "letter" not in (hold.channels or [])
        # A message someone queues after the transfer (the case page, a rerun) …
        late = do_enqueue(
            session=s,
            as_of=AS_OF,
            borrower_key=key,
            debt_key=loans[0],
            slot="test:after-sale",
            channel=Channel.SMS,
            party="debtor",
            destination="13800138000",
            destination_kind="mobile",
            body=REMINDER,
            due_at=_at(AS_OF, 15),
            settings=settings,
        ).message_id
        assert verdict(s, case, at=_at(AS_OF, 15), content=REMINDER).rules == ("HOLD-STOP",)

    # Every message: the dispatcher refuses it at send time (HOLD-STOP); the notice of transfer goes out.
    fake = FakeChannel()
    with session_scope(own_engine) as s:
        policy = Policy(resolve("cn", session=s))
    run_once(
        own_engine, now=_at(AS_OF, 15), plugins=dict.fromkeys(Channel, fake), policy=policy, settings=settings
    )
    with Session(own_engine) as s:
        mine = {
            m.message_id: m for m in s.scalars(select(OutboxMessage).where(OutboxMessage.borrower_key == key))
        }
        assert mine[late].status == "blocked" and mine[late].verdict_rules == ["HOLD-STOP"]
        assert mine[pending.message_id].status == "blocked"
        notice = mine[result.notices[0]]
        assert (notice.status, notice.channel, notice.template) == ("sent", "letter", "legal:transfer_notice")
        assert "第五百四十六条" in notice.body and "某某资产管理有限公司" in notice.body
    assert [m.channel for m in fake.sent if m.borrower_key == key] == [Channel.LETTER]

    # Every strategy: the same day rerun and the next day, the strategy decides nothing for the sold loans,
    # no case reopens for them, no task and no message is planned.
    cycle.run(AS_OF, force=True)
    cycle.run(AS_OF + dt.timedelta(days=1))
    for day in (AS_OF, AS_OF + dt.timedelta(days=1)):
        after = out.read("decisions", day)
        assert after is not None and after.height > 0
        assert not set(loans) & set(after.get_column("loan_id").to_list()), day
    with Session(own_engine) as s:
        cases = list(
            s.scalars(
                select(Case)
                .join(Borrower, Borrower.id == Case.borrower_id)
                .where(Borrower.external_id == key)
            )
        )
        assert [(c.id, c.close_reason) for c in cases] == [(case_id, "sold")]
        assert {
            a.status
            for a in s.scalars(select(CollectionAccount).where(CollectionAccount.external_id.in_(loans)))
        } == {"closed"}
        assert (
            s.scalar(
                select(func.count())
                .select_from(WorkTask)
                .where(WorkTask.debt_key.in_(loans), WorkTask.status.in_(("open", "in_progress")))
            )
            == 0
        )
        statuses = {
            m.status for m in s.scalars(select(OutboxMessage).where(OutboxMessage.borrower_key == key))
        }
        assert statuses <= {"blocked", "sent"}
        kinds = [e.kind for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("sale.%")))]
        assert kinds == ["sale.requested", "sale.approved", "sale.transferred"]
        # Payments after the cut-off are listed for the buyer (the lake's payments of the sold loans).
        sale_row = s.get(type(sale), sale_id)
        assert sale_row is not None
        lake_pays = pl.DataFrame(
            {
                "payment_id": ["BUY1", "BUY2", "OLD1"],
                "loan_id": [loans[0], loans[0], loans[0]],
                "received_date": [
                    AS_OF - dt.timedelta(days=5),
                    AS_OF + dt.timedelta(days=3),
                    AS_OF - dt.timedelta(days=40),
                ],
                "amount": [30_000, 12_550, 9_900],
                "reverses": [None, None, None],
            },
            schema={
                "payment_id": pl.String,
                "loan_id": pl.String,
                "received_date": pl.Date,
                "amount": pl.Int64,
                "reverses": pl.String,
            },
        )
        listed = buyer_payments(sale_row, session=s, lake_payments=lake_pays)
        ours = listed.filter(pl.col("payment_id").is_in(["BUY1", "BUY2", "OLD1"]))
        assert ours.get_column("payment_id").to_list() == ["BUY1", "BUY2"]
        assert int(ours.get_column("amount").sum()) == 42_550  # ¥425.50 to pass to the buyer


def test_refusals_four_eyes_and_the_data_pack(session: Session, settings: Settings) -> None:
    lawyer, manager = make_user(session, "legal"), make_user(session, "manager")
    case = make_case(session, state="negotiation")
    add_schedule(session, case, last_due=dt.date(2026, 9, 1), n=2)  # 2 × 1 050.00
    make_phone(session, case, role="self")
    add_address(session, case)
    stopped = make_case(session, state="early_collection")
    stopped.stopped = True
    paid = make_case(session, state="closed")
    paid.status, paid.close_reason = "closed", "paid"
    today = dt.date(2026, 12, 7)
    now = _at(today, 10)
    kw = {"session": session, "actor": lawyer, "buyer": "AMC", "settings": settings, "now": now}
    with pytest.raises(LegalInputError):
        do_create_sale(
            cutoff_date=today, transfer_date=today - dt.timedelta(days=1), case_ids=[case.id], **kw
        )
    with pytest.raises(LegalInputError):
        do_create_sale(cutoff_date=today, transfer_date=today, loan_ids=["NO-SUCH-LOAN"], **kw)
    with pytest.raises(LegalStateError) as bad:
        do_create_sale(cutoff_date=today, transfer_date=today, case_ids=[case.id, stopped.id, paid.id], **kw)
    problems = {p["case_id"]: p["problems"] for p in bad.value.details["problems"]}
    assert set(problems) == {stopped.id, paid.id}
    sale = do_create_sale(
        cutoff_date=today - dt.timedelta(days=7),
        transfer_date=today + dt.timedelta(days=3),
        case_ids=[case.id],
        price=52_500,
        **kw,
    )
    assert [a.balance for a in sale_accounts(sale.id, session=session)] == [210_000]
    with pytest.raises(LegalStateError):  # a case in a sale under way joins no other
        do_create_sale(cutoff_date=today, transfer_date=today, case_ids=[case.id], **kw)
    with pytest.raises(LegalStateError):  # a pack needs an approved sale
        do_build_pack(sale.id, session=session, actor=lawyer, settings=settings)
    do_approve_sale(sale.id, session=session, actor=manager, settings=settings, now=now)
    with pytest.raises(TooEarlyError):
        do_transfer_sale(sale.id, session=session, actor=lawyer, settings=settings, now=now)
    add_payment(session, case, on=today - dt.timedelta(days=2), amount=8_800)  # after the cut-off
    add_payment(session, case, on=today - dt.timedelta(days=30), amount=1_000)  # before it
    pack = do_build_pack(sale.id, session=session, actor=lawyer, settings=settings)
    manifest = json.loads((pack.directory / "manifest.json").read_text("utf-8"))
    assert manifest == pack.manifest
    assert {f["name"] for f in manifest["files"]} == {
        "accounts.csv",
        "accounts.xlsx",
        "payments_after_cutoff.csv",
        "notices.csv",
    }
    assert manifest["totals"] == {
        "accounts": 1,
        "cases": 1,
        "balance_at_selection": "2100.00",
        "payments_after_cutoff": "88.00",
    }
    accounts_csv = (pack.directory / "accounts.csv").read_text("utf-8-sig")
    assert "张三丰" in accounts_csv and "13800138000" in accounts_csv and "2100.00" in accounts_csv
    assert verify_pack(pack.directory) == []
    assert sale.pack_manifest_sha256 == pack.manifest_sha256
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "sale.pack_built")).one()
    assert entry.payload["manifest_sha256"] == pack.manifest_sha256
    assert "张三丰" not in json.dumps(entry.payload, ensure_ascii=False)  # hashes only
    (pack.directory / "payments_after_cutoff.csv").write_bytes(b"loan_id\r\n")
    assert verify_pack(pack.directory) == ["payments_after_cutoff.csv"]


def test_the_sales_api(session: Session, settings: Settings) -> None:
    lawyer, manager = make_user(session, "legal"), make_user(session, "manager")
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=dt.date(2026, 10, 1), n=1)
    make_task(session, case)
    today = dt.datetime.now(SH).date()
    h_l = {"Authorization": f"Bearer {token_for(session, lawyer)}"}
    h_m = {"Authorization": f"Bearer {token_for(session, manager)}"}
    body = {
        "buyer": "某某资产管理有限公司",
        "cutoff_date": (today - dt.timedelta(days=10)).isoformat(),
        "transfer_date": today.isoformat(),
        "case_ids": [case.id],
        "price": "300.00",
    }
    with api_client(session, settings) as client:
        assert client.post("/api/v1/legal/sales", json=body, headers=h_m).status_code == 403
        r = client.post("/api/v1/legal/sales", json=body, headers=h_l)
        assert r.status_code == 201, r.json()
        sid = r.json()["id"]
        assert (r.json()["status"], r.json()["price"], r.json()["cases"]) == ("requested", "300.00", 1)
        r = client.post(f"/api/v1/legal/sales/{sid}/approve", headers=h_l)
        assert r.status_code == 403  # a legal officer lacks plan.approve
        r = client.post(f"/api/v1/legal/sales/{sid}/approve", json={"note": "ok"}, headers=h_m)
        assert r.status_code == 200 and r.json()["status"] == "approved"
        r = client.post(f"/api/v1/legal/sales/{sid}/transfer", headers=h_l)
        assert r.status_code == 200, r.json()
        assert r.json()["sale"]["status"] == "transferred" and r.json()["no_address"] == [case.id]
        assert len(r.json()["tasks_cancelled"]) == 1
        r = client.post(f"/api/v1/legal/sales/{sid}/transfer", headers=h_l)
        assert r.status_code == 409 and r.json()["error"]["code"] == "legal.invalid_state"
        r = client.get(f"/api/v1/legal/sales/{sid}", headers=h_l)
        assert r.json()["items"][0]["notice_status"] == "no_address"
        r = client.get(f"/api/v1/legal/sales/{sid}/payments", headers=h_l)
        assert r.status_code == 200 and r.json()["total"] == "0.00"
        r = client.post(f"/api/v1/legal/sales/{sid}/pack", headers=h_l)
        assert r.status_code == 201 and len(r.json()["manifest_sha256"]) == 64
        assert [x["id"] for x in client.get("/api/v1/legal/sales", headers=h_l).json()] == [sid]


def test_a_write_off_is_approved_by_another_and_its_recoveries_are_reported_apart(
    session: Session, settings: Settings
) -> None:
    lawyer, manager, collector = (
        make_user(session, "legal"),
        make_user(session, "manager"),
        make_user(session, "collector"),
    )
    case = make_case(session, holder=collector, state="negotiation")
    add_schedule(session, case, last_due=dt.date(2026, 6, 1), n=4)  # 4 × 1 050.00 = 4 200.00
    fresh = make_case(session, state="allocated")
    with pytest.raises(LegalStateError):  # collection not tried yet
        do_request_write_off(fresh, session=session, actor=lawyer, reason="x", settings=settings)
    wo = do_request_write_off(
        case,
        session=session,
        actor=lawyer,
        reason="unrecoverable after 360 days",
        evidence_ref="board minute 12",
        settings=settings,
    )
    assert (wo.status, wo.amount) == ("requested", 420_000)
    with pytest.raises(LegalStateError):
        do_request_write_off(case, session=session, actor=lawyer, reason="again", settings=settings)
    with pytest.raises(LegalFourEyesError):
        do_approve_write_off(wo.id, session=session, actor=lawyer, settings=settings)
    now = _at(dt.date(2026, 12, 1), 11)
    do_approve_write_off(wo.id, session=session, actor=manager, settings=settings, now=now)
    assert (wo.status, wo.decided_by, wo.written_off_on) == (
        "approved",
        manager.username,
        dt.date(2026, 12, 1),
    )
    # 账销案存: closed as written off, still collectable — status open, reopenable, in queues.
    assert (case.state, case.close_reason, case.status) == ("closed", "written_off", "open")
    add_payment(session, case, on=dt.date(2026, 11, 30), amount=10_000)
    add_payment(session, case, on=dt.date(2026, 12, 3), amount=25_000)
    frame = recoveries(session=session, start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 31))
    loan = account_of(session, case).external_id
    mine = frame.filter(pl.col("loan_id") == loan).sort("received_date")
    assert mine.get_column("recovery").to_list() == ["collections", "after_write_off"]
    with api_client(session, settings) as client:
        r = client.get(
            "/api/v1/legal/recoveries?start=2026-11-01&end=2026-12-31",
            headers={"Authorization": f"Bearer {token_for(session, manager)}"},
        )
        assert r.status_code == 200
        assert r.json()["totals"]["after_write_off"] == "250.00"
        r = client.get(
            "/api/v1/legal/write-offs?status=approved",
            headers={"Authorization": f"Bearer {token_for(session, lawyer)}"},
        )
        assert [(x["id"], x["amount"]) for x in r.json()] == [(wo.id, "4200.00")]
    kinds = [e.kind for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("writeoff.%")))]
    assert kinds == ["writeoff.requested", "writeoff.approved"]
