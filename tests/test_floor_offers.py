"""The twin's collectors offer plans and settlements within the pre-approved packs (issue 15 item 10):
recoup works out the terms before the call (what the world hears), and an accepted offer becomes an active
plan or settlement approved by its pack, with the first due date the borrower named (SQLite and PG)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from floor_factories import make_case, make_user
from pdf_support import requires_pdf
from recoup.config import Settings
from recoup.contact.vocab import Treatment
from recoup.simulate.floor_offers import PLAN_INSTALMENTS, choose_offer, do_record_accepted
from test_resolutions import give_schedule

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), requires_pdf]

TODAY = dt.date(2026, 12, 2)
NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def test_a_plan_offer_task_carries_the_pack_plan_and_is_recorded_when_accepted(
    session: Session, settings: Settings
) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector, dpd=20, overdue=300_000)
    give_schedule(session, case, penalty=0, fee=0, interest=30_000, principal=270_000)
    offer = choose_offer(case, "plan_offer", 20, TODAY, session=session, settings=settings)
    assert offer is not None and offer.kind == "plan" and offer.treatment is Treatment.PLAN_OFFER
    assert offer.instalments == PLAN_INSTALMENTS and offer.pack_id == "M1M2-PLAN-3"
    # ¥3,000 in 3 instalments: the borrower is told the largest one, at least a third of it.
    assert 100_000 <= offer.each < 110_000
    # The same case on a plain call is just a call (M1: no settlement offer).
    assert choose_offer(case, "agent_call", 20, TODAY, session=session, settings=settings) is None

    first = TODAY + dt.timedelta(days=5)
    assert do_record_accepted(case, collector, offer, first, NOW, session=session, settings=settings)
    from sqlalchemy import select

    from recoup.resolutions.models import Resolution, ResolutionInstalment

    res = session.scalars(select(Resolution).where(Resolution.case_id == case.id)).one()
    assert (res.kind, res.status, res.approval_basis) == ("plan", "active", "pack:M1M2-PLAN-3")
    dues = session.scalars(
        select(ResolutionInstalment.due_date)
        .where(ResolutionInstalment.resolution_id == res.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    assert dues[0] == first and len(dues) == PLAN_INSTALMENTS
    # A second accepted offer on the same case is refused by the service: nothing more is recorded.
    assert not do_record_accepted(case, collector, offer, first, NOW, session=session, settings=settings)


def test_an_m2_call_offers_the_plan_pack(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector, dpd=45, overdue=300_000)
    give_schedule(session, case, penalty=0, fee=0, interest=30_000, principal=270_000)
    offer = choose_offer(case, "agent_call", 45, TODAY, session=session, settings=settings)
    assert offer is not None and (offer.kind, offer.pack_id) == ("plan", "M1M2-PLAN-3")


def test_an_old_debt_is_offered_a_settlement_for_its_principal_approved_by_the_manager(
    session: Session, settings: Settings
) -> None:
    from sqlalchemy import select

    from recoup.resolutions.models import Resolution

    collector = make_user(session, "collector")
    make_user(session, "manager", name="manager")
    case = make_case(session, holder=collector, dpd=120, overdue=500_000)
    give_schedule(session, case, penalty=50_000, fee=10_000, interest=40_000, principal=400_000)
    offer = choose_offer(case, "agent_call", 120, TODAY, session=session, settings=settings)
    assert offer is not None and offer.kind == "settlement" and offer.instalments == 1
    assert offer.treatment is Treatment.SETTLEMENT_OFFER
    # 25 % of ¥5,000 waived, penalty first: penalty ¥500, fees ¥100, interest ¥400 and principal ¥250 —
    # ¥3,750 settles the debt; the principal waiver needs the manager and hardship evidence.
    assert offer.pay == 375_000 and offer.each == 375_000 and offer.pack_id == ""
    assert do_record_accepted(case, collector, offer, None, NOW, session=session, settings=settings)
    res = session.scalars(select(Resolution).where(Resolution.case_id == case.id)).one()
    assert (res.kind, res.status, res.decided_by, res.approval_basis) == (
        "settlement",
        "active",
        "manager",
        "two_step",
    )
    assert res.waived_total == 125_000 and res.agreed_amount == 375_000
    assert res.waived == {"penalty": 50_000, "fee": 10_000, "interest": 40_000, "principal": 25_000}
    from recoup.resolutions.models import ResolutionEvidence

    evidence = session.scalars(
        select(ResolutionEvidence).where(ResolutionEvidence.resolution_id == res.id)
    ).one()
    assert evidence.reference.startswith("call-recording:")
    # A debt whose principal waiver would be beyond the manager (over ¥20,000) is not offered on a call.
    big = make_case(session, holder=collector, dpd=150, overdue=12_000_000)
    give_schedule(session, big, penalty=0, fee=0, interest=0, principal=12_000_000)
    assert choose_offer(big, "agent_call", 150, TODAY, session=session, settings=settings) is None
