"""The floor reaches the strategy through the lake: a stopped case (停催) gets no decision, and a stated
preferred channel is what the strategy's ``preferred_channel`` tests (the ``mild-email-pref`` row)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, select

from factories import imported_book
from recoup.cases.models import Case
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.lake.store import Outputs
from recoup.portfolio.models import Borrower
from recoup.strategy.kernel import decision_frame

AS_OF = dt.date(2026, 11, 20)


def test_stops_and_stated_preferences_reach_the_decisions(own_engine: Engine, tmp_path: Path) -> None:
    lake = imported_book(tmp_path, own_engine, AS_OF, n=200, seed=5)
    cycle = Cycle(engine=own_engine, lake=lake)
    cycle.run(AS_OF)
    out = Outputs(lake)
    before = out.read("decisions", AS_OF)
    assert before is not None and before.height > 2
    notices = before.filter(pl.col("required_notice")).get_column("borrower_id")
    free = before.filter(~pl.col("borrower_id").is_in(notices.implode()))
    mild = (
        free.filter(pl.col("dpd").is_between(1, 15) & (pl.col("segment") == "mild"))
        .get_column("borrower_id")
        .unique()
        .sort()
    )
    stopped_b = free.filter(~pl.col("borrower_id").is_in(mild.implode())).get_column("borrower_id")[0]
    prefers_b = mild[0]
    with session_scope(own_engine) as s:
        for ext, change in ((stopped_b, "stop"), (prefers_b, "email")):
            case = s.scalars(
                select(Case)
                .join(Borrower, Borrower.id == Case.borrower_id)
                .where(Borrower.external_id == ext)
            ).one()
            if change == "stop":
                case.stopped = True
            else:
                borrower = s.get(Borrower, case.borrower_id)
                assert borrower is not None
                borrower.preferred_channel = "email"
    cycle.run(AS_OF, force=True)
    facts = out.read("case_facts", AS_OF)
    assert facts is not None
    assert facts.filter(pl.col("borrower_id") == stopped_b).get_column("stopped").to_list() == [True]
    after = out.read("decisions", AS_OF)
    assert after is not None
    assert stopped_b not in after.get_column("borrower_id").to_list()
    assert stopped_b in before.get_column("borrower_id").to_list()
    prefers = after.filter(pl.col("borrower_id") == prefers_b)
    assert prefers.height > 0
    assert "mild-email-pref" in prefers.get_column("node").to_list()
    assert "email" in prefers.get_column("treatment").to_list()


def test_decision_frame_drops_stopped_borrowers_and_carries_the_preference() -> None:
    daily = pl.DataFrame(
        {
            "as_of": [AS_OF] * 3,
            "loan_id": ["L1", "L2", "L3"],
            "borrower_id": ["B1", "B2", "B3"],
            "product_type": ["cash"] * 3,
            "bucket": ["M1"] * 3,
            "sub_bucket": ["D4-15"] * 3,
            "bucket_since": [AS_OF] * 3,
            "dpd": [5, 6, 7],
            "overdue_amount": [100, 200, 300],
            "outstanding_principal": [1000] * 3,
            "written_off": [False] * 3,
            "in_collections": [True] * 3,
        }
    )
    customers = pl.DataFrame({"borrower_id": ["B1", "B2", "B3"], "customer_type": ["individual"] * 3})
    cases = pl.DataFrame(
        {
            "as_of": [AS_OF] * 2,
            "borrower_id": ["B1", "B2"],
            "case_id": [1, 2],
            "stopped": [True, False],
            "contact_status": ["reachable"] * 2,
            "preferred_channel": [None, "email"],
            "preferred_hour": [None, 19],
        }
    )
    frame = decision_frame(daily, None, customers, None, None, cases)
    assert frame.get_column("borrower_id").to_list() == ["B2", "B3"]
    assert frame.get_column("preferred_channel").to_list() == ["email", None]
