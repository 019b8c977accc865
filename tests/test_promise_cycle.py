"""A stored promise to pay reaches the strategy: the cycle judges promises, copies D's promise facts into
the lake, and an account whose borrower has a pending debtor promise is decided by ``promise-wait``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, select

from factories import imported_book
from recoup.cases.models import Case, PromiseToPay
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.lake.store import Outputs
from recoup.portfolio.models import Borrower
from recoup.strategy.kernel import prepare, promise_inputs

AS_OF = dt.date(2026, 11, 20)


def test_a_pending_promise_makes_the_account_wait(own_engine: Engine, tmp_path: Path) -> None:
    lake = imported_book(tmp_path, own_engine, AS_OF, n=200, seed=5)
    cycle = Cycle(engine=own_engine, lake=lake)
    cycle.run(AS_OF)
    out = Outputs(lake)
    before = out.read("decisions", AS_OF)
    assert before is not None and before.height > 0
    assert "promise-wait" not in before.get_column("node").to_list()  # no promise yet
    empty = out.read("promise_facts", AS_OF)
    assert empty is None or empty.height == 0

    # A debtor promise on the case of a borrower in collections (made today, due in 2 days).
    notices = before.filter(pl.col("required_notice")).get_column("borrower_id")
    loan, borrower = (
        before.filter(~pl.col("borrower_id").is_in(notices.implode())).select("loan_id", "borrower_id").row(0)
    )
    with session_scope(own_engine) as s:
        case = s.scalars(
            select(Case)
            .join(Borrower, Borrower.id == Case.borrower_id)
            .where(Borrower.external_id == borrower)
        ).one()
        s.add(
            PromiseToPay(
                case_id=case.id,
                made_at=dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC),
                made_on=AS_OF,
                by="debtor",
                amount=10**12,  # never kept by the book's payments
                due_date=AS_OF + dt.timedelta(days=2),
                status="pending",
                made_by="agent1",
            )
        )
        case_id = case.id
    cycle.run(AS_OF, force=True)

    facts = out.read("promise_facts", AS_OF)
    assert facts is not None and facts.height == 1
    row = facts.row(0, named=True)
    assert (row["case_id"], row["borrower_id"], row["status"], row["by"]) == (
        case_id,
        borrower,
        "pending",
        "debtor",
    )
    assert (row["amount"], row["made_on"], row["due_date"]) == (10**12, AS_OF, AS_OF + dt.timedelta(days=2))

    after = out.read("decisions", AS_OF)
    assert after is not None
    waiting = after.filter(pl.col("borrower_id") == borrower)
    assert loan in waiting.get_column("loan_id").to_list()
    assert set(waiting.get_column("node").to_list()) == {"promise-wait"}
    assert set(waiting.get_column("treatment").to_list()) == {"no_action"}
    # Every other account decides as before.
    others = (
        after.filter(pl.col("borrower_id") != borrower).select("loan_id", "node", "treatment").sort("loan_id")
    )
    assert others.equals(
        before.filter(pl.col("borrower_id") != borrower)
        .select("loan_id", "node", "treatment")
        .sort("loan_id")
    )
    with session_scope(own_engine) as s:  # judged by the intake step: still pending, judged as of D
        p = s.scalars(select(PromiseToPay)).one()
        assert (p.status, p.judged_as_of) == ("pending", AS_OF)


def test_promise_inputs_count_pending_debtor_promises_and_recent_breaks() -> None:
    d = AS_OF
    day = dt.timedelta(days=1)
    promises = pl.DataFrame(
        {
            "borrower_id": ["B1", "B2", "B3", "B4", "B4", "B4"],
            "by": ["debtor", "third_party", "debtor", "debtor", "debtor", "debtor"],
            "status": ["pending", "pending", "pending", "broken", "broken", "kept"],
            "made_on": [d - day, d - day, d - 5 * day, d - 30 * day, d - 120 * day, d - 10 * day],
            "due_date": [d, d + day, d - day, d - 28 * day, d - 118 * day, d - 8 * day],
        }
    )
    got = {r["borrower_id"]: r for r in promise_inputs(promises, d).iter_rows(named=True)}
    assert got["B1"]["has_promise"] is True  # due today: still waiting
    assert got["B2"]["has_promise"] is False  # a third party's promise
    assert got["B3"]["has_promise"] is False  # past due (the next judgement breaks it)
    assert (got["B4"]["has_promise"], got["B4"]["broken_promises"]) == (False, 1)  # one break within 90 days
    frame = pl.DataFrame({"loan_id": ["L1"], "borrower_id": ["B9"], "dpd": [3]})
    prepared = prepare(frame, d)
    assert prepared.select("has_promise", "broken_promises").row(0) == (False, 0)
    assert prepared.schema["broken_promises"] == pl.Int64
