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


def test_an_agency_offers_a_settlement_on_its_placed_case_and_the_manager_approves_it(
    session: Session, settings: Settings
) -> None:
    """The demo's agencies (simulate/agency_offers.py): on the 5th day of a placement the agency user
    holding the case calls with a settlement offer; accepted, it is the agency's request (an agency never
    approves) with the call as hardship evidence, approved by the manager — and no second offer is made
    while it runs."""
    from sqlalchemy import select, update

    from recoup.agencies.models import Placement
    from recoup.agencies.placement import do_place_batch
    from recoup.agencies.recall import do_agency_day
    from recoup.contact.models import OutboxMessage
    from recoup.pii import cipher_from_settings
    from recoup.resolutions.models import Resolution
    from recoup.simulate.agency_offers import OFFER_ON_DAYS, plan_agency_offers
    from recoup.simulate.floor import FloorDay, FloorTwin
    from test_agencies import ON, _world

    w = _world(session)
    make_user(session, "manager", name="manager")
    for case in w["cases"]:
        owed = 300_000 * (w["cases"].index(case) + 1)
        give_schedule(session, case, penalty=0, fee=0, interest=owed // 10, principal=owed - owed // 10)
    do_place_batch(ON, session=session, actor=w["manager"], settings=settings, seed=7, days=30)
    session.execute(
        update(OutboxMessage).where(OutboxMessage.decision.like("agency placement %")).values(status="sent")
    )
    start = ON + dt.timedelta(days=1)
    assert do_agency_day(start, session=session).activated == 8
    twin = FloorTwin(settings=settings, cipher=cipher_from_settings(settings))

    # Not on the placement's 2nd day; on its 5th every active placement gets one settlement call.
    assert plan_agency_offers(twin, start + dt.timedelta(days=1), session=session, out=FloorDay()) == []
    day = start + dt.timedelta(days=OFFER_ON_DAYS[0] - 1)
    out = FloorDay()
    calls = plan_agency_offers(twin, day, session=session, out=out)
    holders = {p.case_id: p.holder_id for p in session.scalars(select(Placement))}
    assert len(calls) == 8 and out.settle_offers == out.offers == 8
    first = calls[0]
    assert first.offer is not None and first.offer.kind == "settlement" and first.task_id is None
    assert first.action.treatment is Treatment.SETTLEMENT_OFFER and first.action.amount == first.offer.pay
    from recoup.auth.service import get_user

    agent = get_user(first.username, session=session)
    assert agent is not None and holders[first.case_id] == agent.id  # the agency user holding the case
    case = session.get(type(w["cases"][0]), first.case_id)
    assert case is not None
    at = dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC)
    assert do_record_accepted(case, agent, first.offer, None, at, session=session, settings=settings)
    res = session.scalars(select(Resolution).where(Resolution.case_id == case.id)).one()
    assert (res.kind, res.status, res.requested_by, res.decided_by) == (
        "settlement",
        "active",
        agent.username,
        "manager",
    )
    assert res.agreed_amount == first.offer.pay
    # On the 15th day the other seven are offered again; the running settlement's case is not.
    again = plan_agency_offers(
        twin, start + dt.timedelta(days=OFFER_ON_DAYS[1] - 1), session=session, out=FloorDay()
    )
    assert {c.case_id for c in again} == {c.case_id for c in calls} - {case.id}
