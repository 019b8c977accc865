"""Agencies on the database (SQLite and PostgreSQL): the register and who may receive placements; a 赛马
batch taking the strategy's agency_placement tasks, the borrower's notice first (CN-OUTSRC), an agency's
users seeing exactly their placed cases (404 otherwise, through the API too) and losing them at recall,
no sub-outsourcing, recall at expiry by the day's step, the deletion confirmation; allocation leaving
placed cases alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_task, make_team, make_user, token_for
from recoup.agencies.errors import (
    AgencyError,
    AgencyNotEligibleError,
    NothingToPlaceError,
    SubOutsourcingError,
)
from recoup.agencies.models import Agency, Placement
from recoup.agencies.placement import do_place_batch
from recoup.agencies.recall import do_agency_day, do_confirm_deletion, do_recall
from recoup.agencies.register import (
    do_add_contract,
    do_register_agency,
    do_review,
    do_set_pipl_contract,
    eligibility,
)
from recoup.agencies.staff import do_add_staff, do_end_staff, do_record_training
from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case, visible_cases
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.models import Case, CaseHolding, WorkerProfile
from recoup.cases.tasks import queue_for
from recoup.config import Settings, load_settings
from recoup.contact.models import OutboxMessage
from recoup.errors import NotFoundError
from recoup.ledger.models import LedgerEntry
from recoup.strategy.models import WorkTask

ON = dt.date(2026, 11, 2)
CARD = [{"bucket": "*", "tiers": [{"min_recovery_bp": 0, "rate_bp": 1_500}]}]


def eligible_agency(
    session: Session,
    code: str,
    staff: list[AppUser],
    *,
    on: dt.date = ON,
    rates: list[dict[str, Any]] | None = None,
    complaint_penalty: int = 50_000,
    qa_penalty: int = 20_000,
) -> Agency:
    """A white-listed agency with a PIPL contract, a service contract from ``on`` and trained staff."""
    a = do_register_agency(code, f"{code} 催收服务有限公司", session=session, actor="t")
    do_set_pipl_contract(a, ref=f"PIPL-{code}", signed_on=on, session=session, actor="t")
    do_add_contract(
        a,
        ref=f"C-{code}",
        start=on,
        end=on + dt.timedelta(days=365),
        rates=rates or CARD,
        complaint_penalty=complaint_penalty,
        qa_penalty=qa_penalty,
        session=session,
        actor="t",
    )
    do_review(a, outcome="pass", on=on, session=session, actor="t")
    for u in staff:
        do_add_staff(a, u.username, joined_on=on, session=session, actor="t")
        do_record_training(
            a, u.username, course="委外催收合规培训", completed_on=on, session=session, actor="t"
        )
    return a


def _sees(session: Session, user: AppUser, case: Case) -> bool:
    try:
        get_visible_case(case.id, user, session=session)
    except NotFoundError:
        return False
    return True


def test_an_agency_may_receive_placements_only_when_every_condition_holds(session: Session) -> None:
    agent = make_user(session, "agency")
    a = do_register_agency("AG-REG", "登记测试机构", session=session, actor="t")
    assert a.status == "candidate" and a.team_id is not None
    assert {c for c, _m in eligibility(a, ON, session=session)} == {
        "not_whitelisted",
        "no_pipl_contract",
        "no_contract",
        "no_trained_staff",
    }
    do_review(a, outcome="pass", on=ON, session=session, actor="t")
    do_set_pipl_contract(a, ref="PIPL-1", signed_on=ON, session=session, actor="t")
    do_add_contract(
        a, ref="C1", start=ON, end=ON + dt.timedelta(days=90), rates=CARD, session=session, actor="t"
    )
    do_add_staff(a, agent.username, joined_on=ON, session=session, actor="t")
    assert [c for c, _m in eligibility(a, ON, session=session)] == ["no_trained_staff"]
    do_record_training(
        a,
        agent.username,
        course="合规",
        completed_on=ON,
        expires_on=ON + dt.timedelta(days=30),
        session=session,
        actor="t",
    )
    assert eligibility(a, ON, session=session) == []
    later = ON + dt.timedelta(days=91)  # the contract ended and the training expired
    assert {c for c, _m in eligibility(a, later, session=session)} == {"no_contract", "no_trained_staff"}
    assert (
        next(c for c, _m in eligibility(a, ON + dt.timedelta(days=366), session=session)) == "review_overdue"
    )
    profile = session.get(WorkerProfile, agent.id)
    assert profile is not None and (profile.kind, profile.agency_code, profile.team_id) == (
        "agency",
        "AG-REG",
        a.team_id,
    )
    collector = make_user(session, "collector")
    with pytest.raises(AgencyError):  # only users of the role agency are on a staff register
        do_add_staff(a, collector.username, joined_on=ON, session=session, actor="t")
    with pytest.raises(AgencyError):  # a rate card's tiers start at 0 and increase
        do_add_contract(
            a,
            ref="C2",
            start=ON,
            end=ON,
            rates=[{"bucket": "M4", "tiers": [{"min_recovery_bp": 1000, "rate_bp": 1}]}],
            session=session,
            actor="t",
        )
    kinds = set(session.scalars(select(LedgerEntry.kind).where(LedgerEntry.kind.like("agency.%"))))
    assert {
        "agency.registered",
        "agency.review",
        "agency.pipl_contract",
        "agency.contract",
        "agency.training",
    } <= kinds


def _world(session: Session) -> dict[str, Any]:
    lead = make_user(session, "team_lead")
    team = make_team(session, "M4+ 组", lead)
    collector = make_user(session, "collector", team=team)
    a1, a2, b1 = make_user(session, "agency"), make_user(session, "agency"), make_user(session, "agency")
    agency_a = eligible_agency(session, "AGA", [a1, a2])
    agency_b = eligible_agency(session, "AGB", [b1])
    cases = []
    for i in range(8):
        case = make_case(session, holder=collector, dpd=100 + 10 * i, overdue=300_000 * (i + 1), as_of=ON)
        make_phone(session, case, value=f"1380013{8000 + i:04d}")
        make_task(session, case, treatment="agency_placement", as_of=ON)
        cases.append(case)
    spare = make_case(session, holder=collector, dpd=95, as_of=ON)  # no agency_placement task
    manager = make_user(session, "manager")
    return {
        "collector": collector,
        "a1": a1,
        "a2": a2,
        "b1": b1,
        "A": agency_a,
        "B": agency_b,
        "cases": cases,
        "spare": spare,
        "manager": manager,
    }


def test_a_batch_takes_the_tasks_notifies_first_and_agency_users_see_exactly_their_cases(
    session: Session, settings: Settings
) -> None:
    w = _world(session)
    res = do_place_batch(ON, session=session, actor=w["manager"], settings=settings, seed=7, days=30)
    placed = res.placements
    assert len(placed) == 8 and {p.status for p in placed} == {"pending_notice"}, [p.end_note for p in placed]
    assert res.batch.notice_required and res.tasks_done == 8
    tasks = session.scalars(select(WorkTask).where(WorkTask.treatment == "agency_placement")).all()
    assert {(t.status, t.result) for t in tasks} == {("done", "placed")}  # consumed, no longer piling up
    by_agency = {a: [p for p in placed if p.agency_id == w[a].id] for a in ("A", "B")}
    strata: dict[tuple[str, str], list[int]] = {}
    for p in placed:  # equal shares: in every stratum (bucket × balance band) the two differ by 1 at most
        strata.setdefault((p.bucket, p.band), []).append(p.agency_id)
    assert all(abs(ids.count(w["A"].id) - ids.count(w["B"].id)) <= 1 for ids in strata.values())
    assert len(by_agency["A"]) + len(by_agency["B"]) == 8 and by_agency["A"] and by_agency["B"]
    notices = session.scalars(
        select(OutboxMessage).where(OutboxMessage.decision.like("agency placement %"))
    ).all()
    assert len(notices) == 8 and all(n.status == "pending" for n in notices)
    assert "AGA 催收服务有限公司" in notices[0].body or "AGB 催收服务有限公司" in notices[0].body
    # Before the notice is sent the agency sees nothing and the collector still holds the cases.
    assert not any(_sees(session, w["a1"], c) for c in w["cases"])
    assert all(_sees(session, w["collector"], c) for c in w["cases"])
    # The dispatcher sent the notices; the day's step activates the placements.
    session.execute(
        update(OutboxMessage).where(OutboxMessage.decision.like("agency placement %")).values(status="sent")
    )
    day = do_agency_day(ON + dt.timedelta(days=1), session=session)
    assert (day.activated, day.cancelled) == (8, 0)
    a_cases = {p.case_id for p in by_agency["A"]}
    for user in ("a1", "a2"):  # every user of agency A sees A's cases, and only those
        seen = set(session.scalars(visible_cases(w[user]).with_only_columns(Case.id)))
        assert seen == a_cases
    b_case = session.get(Case, by_agency["B"][0].case_id)
    assert (
        b_case is not None and not _sees(session, w["a1"], b_case) and not _sees(session, w["a1"], w["spare"])
    )
    # The holders are the agency's staff, the least loaded first: the cases alternate between a1 and a2.
    holders = [session.get(Case, p.case_id).holder_id for p in by_agency["A"]]  # type: ignore[union-attr]
    assert abs(holders.count(w["a1"].id) - holders.count(w["a2"].id)) <= 1
    assert set(holders) == {w["a1"].id, w["a2"].id}
    assert not any(_sees(session, w["collector"], session.get(Case, c)) for c in a_cases)  # type: ignore[arg-type]
    # The strategy's next agency_placement task on a placed case is the agency's work item in its queue.
    mine = next(p for p in by_agency["A"] if p.holder_id == w["a1"].id)
    make_task(
        session,
        session.get(Case, mine.case_id),
        treatment="agency_placement",
        as_of=ON + dt.timedelta(days=1),
    )  # type: ignore[arg-type]
    queue = queue_for(w["a1"], session=session, today=ON + dt.timedelta(days=1))
    assert set(queue.get_column("case_id").to_list()) == {mine.case_id}
    # Month-start allocation leaves placed cases with the agency.
    do_allocate(dt.date(2026, 12, 1), session=session, actor="t", kind="month_start")
    assert session.get(Case, mine.case_id).holder_id == w["a1"].id  # type: ignore[union-attr]
    # An early recall (a complaint): access ends at once, the case goes back to the collector.
    recalled = do_recall(mine, reason="complaint", on=ON + dt.timedelta(days=3), session=session, actor="mgr")
    assert recalled.status == "recalled" and not _sees(session, w["a1"], session.get(Case, mine.case_id))  # type: ignore[arg-type]
    back = session.get(Case, mine.case_id)
    assert back is not None and back.holder_id == w["collector"].id
    assert (
        session.scalars(
            select(CaseHolding.reason).where(CaseHolding.case_id == back.id, CaseHolding.end_date.is_(None))
        ).one()
        == "returned"
    )
    assert queue_for(
        w["a1"], session=session, today=ON + dt.timedelta(days=3)
    ).is_empty()  # the task went back
    do_confirm_deletion([recalled], by=w["a1"], ref="DEL-2026-001", session=session)
    assert recalled.deletion_confirmed_by == w["a1"].username and recalled.deletion_confirmed_at is not None
    # At expiry the day's step recalls the rest, and the agency sees nothing any more.
    expiry = do_agency_day(res.batch.expires_on, session=session)
    assert expiry.recalled == {"expired": 7}  # the eighth was recalled for the complaint
    assert not any(_sees(session, w[u], c) for u in ("a1", "a2", "b1") for c in w["cases"])
    # A case recalled early for a complaint is not placed again by the next batch; an expired one may be.
    expired_case = session.get(Case, next(p.case_id for p in placed if p.end_reason == "expired"))
    assert expired_case is not None
    for case in (back, expired_case):
        make_task(session, case, treatment="agency_placement", as_of=res.batch.expires_on)
    again = do_place_batch(
        res.batch.expires_on, session=session, actor=w["manager"], settings=settings, seed=1
    )
    assert [p.case_id for p in again.placements] == [expired_case.id]


def test_no_sub_outsourcing_and_an_ineligible_agency_is_refused(session: Session, settings: Settings) -> None:
    w = _world(session)
    with pytest.raises(SubOutsourcingError):
        do_place_batch(ON, session=session, actor=w["a1"], settings=settings, seed=1)
    do_set_pipl_contract(w["B"], ref="", signed_on=ON, signed=False, session=session, actor="t")
    with pytest.raises(AgencyNotEligibleError) as refused:
        do_place_batch(ON, session=session, actor=w["manager"], settings=settings, agencies=["AGB"], seed=1)
    assert refused.value.details["problems"] == ["no_pipl_contract"]
    us = load_settings(data_dir=settings.data_dir, jurisdiction="us")  # no notice before placement
    res = do_place_batch(ON, session=session, actor=w["manager"], settings=us, seed=1)  # B is skipped
    assert {p.agency_id for p in res.placements} == {w["A"].id} and {p.status for p in res.placements} == {
        "active"
    }
    assert not res.batch.notice_required


def test_agency_users_through_the_api_see_their_placed_cases_and_lose_them_at_recall(
    session: Session, settings: Settings
) -> None:
    w = _world(session)
    us = load_settings(data_dir=settings.data_dir, jurisdiction="us")
    res = do_place_batch(ON, session=session, actor=w["manager"], settings=us, seed=3, agencies=["AGA"])
    mine = [p for p in res.placements if p.agency_id == w["A"].id]
    assert len(mine) == 8
    with api_client(session, settings) as client:
        agent = {"Authorization": f"Bearer {token_for(session, w['a1'])}"}
        outsider = {"Authorization": f"Bearer {token_for(session, w['b1'])}"}
        assert client.get(f"/api/v1/cases/{mine[0].case_id}", headers=agent).status_code == 200
        hidden = client.get(f"/api/v1/cases/{mine[0].case_id}", headers=outsider)
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
        assert client.get(f"/api/v1/cases/{w['spare'].id}", headers=agent).status_code == 404
        me = client.get("/api/v1/agency", headers=agent).json()
        assert me["agency"] == "AGA" and len(me["placements"]) == 8
        refused = client.post("/api/v1/placements/batches", json={}, headers=agent)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.forbidden"
        boss = {"Authorization": f"Bearer {token_for(session, w['manager'])}"}
        r = client.post(f"/api/v1/placements/{mine[0].id}/recall", json={"reason": "lawsuit"}, headers=boss)
        assert r.status_code == 200 and r.json()["status"] == "recalled"
        assert client.get(f"/api/v1/cases/{mine[0].case_id}", headers=agent).status_code == 404
        gone = client.post(
            "/api/v1/agency/deletion", json={"placement_ids": [mine[0].id], "ref": "DEL-7"}, headers=agent
        )
        assert gone.status_code == 200 and gone.json()[0]["deletion_confirmed_by"] == w["a1"].username
        again = client.post(
            "/api/v1/agency/deletion", json={"placement_ids": [mine[0].id], "ref": "DEL-7"}, headers=agent
        )
        assert again.status_code == 409 and again.json()["error"]["code"] == "agency.placement_state"
        theirs = client.post(
            "/api/v1/agency/deletion", json={"placement_ids": [mine[1].id], "ref": "X"}, headers=outsider
        )
        assert theirs.status_code == 404
        listed = client.get("/api/v1/agencies", headers=boss).json()
        assert [a["code"] for a in listed] == ["AGA", "AGB"] and listed[0]["active_placements"] == 7


def test_leaving_the_register_ends_access_and_moves_the_cases(session: Session, settings: Settings) -> None:
    w = _world(session)
    us = load_settings(data_dir=settings.data_dir, jurisdiction="us")
    res = do_place_batch(ON, session=session, actor=w["manager"], settings=us, seed=5, agencies=["AGA"])
    held = [p for p in res.placements if p.holder_id == w["a2"].id]
    assert held
    do_end_staff(w["A"], w["a2"].username, left_on=ON + dt.timedelta(days=2), session=session, actor="t")
    assert not any(_sees(session, w["a2"], session.get(Case, p.case_id)) for p in held)  # type: ignore[arg-type]
    assert all(p.holder_id == w["a1"].id for p in held)
    assert all(_sees(session, w["a1"], session.get(Case, p.case_id)) for p in res.placements)  # type: ignore[arg-type]
    assert session.scalars(select(Placement).where(Placement.status == "active")).all()


def test_a_case_without_a_notice_destination_is_not_placed_under_cn(
    session: Session, settings: Settings
) -> None:
    w = _world(session)
    mute = make_case(session, holder=w["collector"], dpd=200, overdue=900_000, as_of=ON)  # no phone, no email
    task = make_task(session, mute, treatment="agency_placement", as_of=ON)
    res = do_place_batch(ON, session=session, actor=w["manager"], settings=settings, seed=2)
    assert mute.id not in {p.case_id for p in res.placements} and len(res.placements) == 8
    assert res.skipped == {"no notice destination": 1} and task.status == "open"  # it stays with the lender
    with pytest.raises(NothingToPlaceError) as none_left:
        do_place_batch(ON, session=session, actor=w["manager"], settings=settings, seed=2)
    assert none_left.value.details["no_notice_destination"] == [mute.id]
