"""Allocation on the database (SQLite and PostgreSQL): a month-start batch keeps retained cases with
their holders (留案), sends a returning borrower back to the previous holder (回流), balances count and
amount across collectors within 5 %, records history, batch and audit; a dry run changes nothing."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_user, token_for
from recoup.auth.models import AppUser
from recoup.cases.allocate_flow import AllocationRunError, do_allocate
from recoup.cases.models import AllocationBatch, Case, CaseHolding, PromiseToPay, WorkerProfile
from recoup.config import Settings
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import AccountPayment, CollectionAccount

NOV15 = dt.date(2026, 11, 15)
DEC1 = dt.date(2026, 12, 1)


def _collectors(session: Session, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        user = make_user(session, "collector")
        session.add(
            WorkerProfile(
                user_id=user.id, kind="collector", pools=["m1", "m2m3", "m4plus"], skills={}, cap=400
            )
        )
        ids.append(user.id)
    session.flush()
    return ids


def test_month_start_retains_returns_and_balances(session: Session) -> None:
    rng = random.Random(7)
    people = _collectors(session, 8)
    cases = [
        make_case(
            session, dpd=rng.choice([5, 12, 25]), overdue=int(rng.lognormvariate(11, 0.6)), state="intake"
        )
        for _ in range(240)
    ]
    first = do_allocate(NOV15, session=session, actor="test", kind="daily")
    assert first.counts["allocated"] == 240 and first.counts["unallocated"] == 0
    assert all(c.holder_id in people and c.state == "allocated" for c in cases)
    assert all(c.period_end == dt.date(2026, 11, 30) for c in cases)
    # 留案: a pending debtor promise, and a payment two days ago.
    promised, paid = cases[0], cases[1]
    session.add(
        PromiseToPay(
            case_id=promised.id,
            made_at=dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC),
            made_on=dt.date(2026, 11, 28),
            by="debtor",
            amount=50_000,
            due_date=dt.date(2026, 12, 3),
            status="pending",
            made_by="t",
        )
    )
    account = session.scalar(select(CollectionAccount).where(CollectionAccount.case_id == paid.id))
    assert account is not None
    session.add(
        AccountPayment(
            external_id="PAY-1",
            account_id=account.id,
            received_date=dt.date(2026, 11, 29),
            amount=10_000,
            channel="bank",
        )
    )
    # 回流: the borrower of cases[2] left collections on 11-20 and is back with a new, unheld case.
    gone = cases[2]
    previous_holder = gone.holder_id
    session.execute(
        CaseHolding.__table__.update()
        .where(CaseHolding.case_id == gone.id, CaseHolding.end_date.is_(None))
        .values(end_date=dt.date(2026, 11, 20), ended_reason="closed")
    )
    gone.status, gone.state, gone.holder_id, gone.close_reason = "closed", "closed", None, "cured"
    back = Case(
        borrower_id=gone.borrower_id, status="open", state="intake", grade=1, grade_rule="G1", opened_on=DEC1
    )
    session.add(back)
    session.flush()
    session.execute(
        CollectionAccount.__table__.update()
        .where(CollectionAccount.case_id == gone.id)
        .values(case_id=back.id)
    )
    holders_before = {c.id: c.holder_id for c in cases}
    dry = do_allocate(DEC1, session=session, actor="test", kind="month_start", dry_run=True)
    assert dry.batch_id is None and {c.id: c.holder_id for c in cases} == holders_before

    result = do_allocate(DEC1, session=session, actor="test")  # auto: the 1st is a month start
    assert result.kind == "month_start" and result.batch_id is not None
    assert result.counts["retained"] == 2 and result.counts["returned"] == 1
    assert promised.holder_id == holders_before[promised.id] and paid.holder_id == holders_before[paid.id]
    assert back.holder_id == previous_holder and back.state == "allocated"
    # Balance across collectors, by count and by amount, within 5 %.
    rows = session.execute(
        select(Case.holder_id, func.count(), func.sum(CollectionAccount.overdue_amount))
        .join(CollectionAccount, CollectionAccount.case_id == Case.id)
        .where(Case.status == "open")
        .group_by(Case.holder_id)
    ).all()
    assert {r[0] for r in rows} == set(people)
    counts = [r[1] for r in rows]
    amounts = [int(r[2]) for r in rows]
    for values in (counts, amounts):
        mean = sum(values) / len(values)
        assert max(abs(v / mean - 1) for v in values) <= 0.05, values
    assert all(d is None or d <= 0.05 for d in result.balance.get_column("amount_dev").to_list())
    # History: one open holding per open case, the old ones closed on the batch date.
    open_holdings = session.scalar(
        select(func.count()).select_from(CaseHolding).where(CaseHolding.end_date.is_(None))
    )
    assert open_holdings == 240
    batch = session.get(AllocationBatch, result.batch_id)
    assert batch is not None and batch.kind == "month_start" and batch.counts["returned"] == 1
    assert "allocation_pools v1" in batch.rule_version
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "allocation.batch")).all()
    assert len(entry) == 2


def test_nobody_to_allocate_to_is_a_clear_error(session: Session) -> None:
    make_case(session, state="intake")
    with pytest.raises(AllocationRunError) as exc:
        do_allocate(DEC1, session=session, actor="test", kind="daily")
    assert exc.value.code == "allocation.no_collectors" and "staff set" in exc.value.message


def test_a_batch_that_moves_nothing_is_still_recorded(session: Session) -> None:
    _collectors(session, 1)
    make_case(session, state="intake")
    do_allocate(NOV15, session=session, actor="test", kind="daily")
    again = do_allocate(DEC1, session=session, actor="test", kind="month_start")
    assert again.moved == 0 and again.batch_id is not None
    kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.kind == "allocation.batch")).all()
    assert len(kinds) == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_assignment_by_hand_and_a_batch_through_the_api(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    manager = make_user(session, "manager")
    people = _collectors(session, 2)
    case = make_case(session, state="intake")
    no_profile = make_user(session, "collector")
    with api_client(session, settings) as client:
        h = {"Authorization": f"Bearer {token_for(session, manager)}"}
        bad = client.post(
            f"/api/v1/cases/{case.id}/assign", json={"holder": no_profile.username, "reason": "x"}, headers=h
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "allocation.invalid_holder"
        target = session.get(WorkerProfile, people[0])
        assert target is not None
        name = session.get(AppUser, people[0]).username  # type: ignore[union-attr]
        r = client.post(f"/api/v1/cases/{case.id}/assign", json={"holder": name, "reason": "VIP"}, headers=h)
        assert r.status_code == 200 and r.json()["changed"] is True
        assert case.holder_id == people[0] and case.state == "allocated"
        same = client.post(
            f"/api/v1/cases/{case.id}/assign", json={"holder": name, "reason": "VIP"}, headers=h
        )
        assert same.json()["changed"] is False
        lead_h = {"Authorization": f"Bearer {token_for(session, lead)}"}
        dry = client.post(
            "/api/v1/allocations", json={"as_of": "2026-12-01", "dry_run": True}, headers=lead_h
        )
        assert dry.status_code == 201 and dry.json()["dry_run"] is True and dry.json()["batch_id"] is None
    holdings = session.scalars(select(CaseHolding).where(CaseHolding.case_id == case.id)).all()
    assert [(h.holder_id, h.reason, h.end_date) for h in holdings] == [(people[0], "manual", None)]
