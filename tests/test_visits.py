"""Field visits (外访) through the API and the service: request by two registered field agents, approval
by somebody else, GPS check-in inside the geofence (outside refused, nothing recorded), the structured
report logged as a visit attempt, and a day's route in the obvious order with travel minutes; on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_task, make_user, token_for
from recoup.auth.models import AppUser
from recoup.cases.models import Case, WorkerProfile
from recoup.cases.visit_views import router as visit_router
from recoup.cases.visits import (
    Met,
    Occupancy,
    VisitInvalidError,
    VisitReport,
    Willingness,
    do_approve_visit,
    do_request_visit,
    report_result,
)
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.db import utcnow
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import ContactPoint
from recoup.strategy.models import WorkTask
from recoup.web.app import API, api_routers
from recoup.web.deps import permission_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# The address: a point in Shanghai. 0.001° of latitude is 111.2 m, 0.01° is 1,112 m.
HOME = (31.2000, 121.4000)


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def _client(session: Session, settings: Settings) -> Iterator[TestClient]:
    """The floor's API client, with the visits router mounted if the app does not mount it yet."""
    with api_client(session, settings) as client:
        if visit_router not in api_routers():
            client.app.include_router(visit_router, prefix=API)  # type: ignore[attr-defined]
        yield client


def _today(settings: Settings) -> dt.date:
    return utcnow().astimezone(settings.tz).date()


def _agent(session: Session, case: Case | None = None) -> AppUser:
    """A registered field agent; with ``case``, given an open task on it so they can see it."""
    user = make_user(session, "field_agent")
    session.add(WorkerProfile(user_id=user.id, kind="field_agent", pools=[], skills={}))
    session.flush()
    if case is not None:
        _see(session, case, user)
    return user


def _see(session: Session, case: Case, user: AppUser) -> None:
    """An open task for ``user`` on ``case`` (one per day and treatment: a new day for each)."""
    n = len(session.scalars(select(WorkTask.id).where(WorkTask.case_id == case.id)).all())
    task = make_task(
        session, case, treatment="field_visit", as_of=dt.date(2026, 12, 1) + dt.timedelta(days=n)
    )
    task.assignee_id = user.id
    session.flush()


def _address(session: Session, case: Case) -> ContactPoint:
    point = ContactPoint(
        external_id=f"ADDR{case.id:06d}",
        borrower_id=case.borrower_id,
        kind="address",
        value="上海市徐汇区漕溪北路 88 号 1201 室",
        role="debtor",
        consent_channels="letter,visit",
    )
    session.add(point)
    session.flush()
    return point


def _request_body(a1: AppUser, a2: AppUser, on: dt.date, point: ContactPoint | None) -> dict[str, Any]:
    return {
        "planned_on": on.isoformat(),
        "address_point_id": point.id if point else None,
        "address_lat": HOME[0],
        "address_lon": HOME[1],
        "agent1": a1.username,
        "agent2": a2.username,
    }


REPORT = {
    "report": {
        "met": "debtor",
        "address_valid": True,
        "occupancy": "lives_here",
        "willingness": "refuses",
        "hardship": False,
        "note": "本人在家，拒绝还款",
    },
    "photos": ["photo://v/1.jpg", "photo://v/2.jpg"],
    "recording_ref": "rec-visit-001",
    "cost": "85.50",
}


def test_the_router_declares_its_permissions() -> None:
    routes = [r for r in visit_router.routes if isinstance(r, APIRoute)]
    perms = {(method, r.path): permission_of(r) for r in routes for method in sorted(r.methods or ())}
    assert perms[("POST", "/visits/{visit_id}/approve")] == "visit.approve"
    assert perms[("POST", "/visits/{visit_id}/reject")] == "visit.approve"
    assert perms[("POST", "/cases/{case_id}/visits")] == "case.work"
    assert perms[("GET", "/cases/{case_id}/visits")] == "case.view"
    assert perms[("POST", "/visits/{visit_id}/check-in")] == "case.work"
    assert all(perms.values())


def test_request_approve_check_in_report_records_the_attempt(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector)
    point = _address(session, case)
    a1, a2 = _agent(session, case), _agent(session, case)
    stranger = _agent(session, case)  # a field agent who sees the case but is not on the visit
    manager = make_user(session, "manager")
    today = _today(settings)
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/visits",
            json=_request_body(a1, a2, today, point),
            headers=_h(token_for(session, collector)),
        )
        assert r.status_code == 201, r.json()
        visit = r.json()
        assert visit["status"] == "requested" and (visit["agent1"], visit["agent2"]) == (
            a1.username,
            a2.username,
        )
        vid = visit["id"]

        # A collector cannot approve; an agent cannot check in before approval.
        r = client.post(f"/api/v1/visits/{vid}/approve", headers=_h(token_for(session, collector)))
        assert r.status_code == 403 and r.json()["error"]["code"] == "auth.forbidden"
        r = client.post(
            f"/api/v1/visits/{vid}/check-in",
            json={"lat": HOME[0], "lon": HOME[1]},
            headers=_h(token_for(session, a1)),
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "visit.invalid_transition"

        r = client.post(f"/api/v1/visits/{vid}/approve", headers=_h(token_for(session, manager)))
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "approved" and r.json()["decided_by"] == manager.username
        assert r.json()["exact_location"] is False and r.json()["address_lat"] == 31.2  # rounded for others

        # An agent not on the visit: 404, like a visit that does not exist.
        r = client.post(
            f"/api/v1/visits/{vid}/check-in",
            json={"lat": HOME[0], "lon": HOME[1]},
            headers=_h(token_for(session, stranger)),
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

        # 1,112 m away: refused with the distance, nothing recorded.
        r = client.post(
            f"/api/v1/visits/{vid}/check-in",
            json={"lat": HOME[0] + 0.01, "lon": HOME[1]},
            headers=_h(token_for(session, a1)),
        )
        assert r.status_code == 422, r.json()
        err = r.json()["error"]
        assert err["code"] == "visit.outside_geofence"
        assert err["details"]["distance_m"] == pytest.approx(1111.9, abs=0.2)
        assert err["details"]["radius_m"] == 300.0
        row = session.get(FieldVisit, vid)
        assert row is not None
        session.refresh(row)
        assert row.status == "approved" and row.checkin_at is None and row.checkin_lat is None

        # 111 m away: inside the 300 m fence.
        r = client.post(
            f"/api/v1/visits/{vid}/check-in",
            json={"lat": HOME[0] + 0.001, "lon": HOME[1]},
            headers=_h(token_for(session, a1)),
        )
        assert r.status_code == 200, r.json()
        body = r.json()
        assert body["status"] == "checked_in" and body["checkin_at"]
        assert body["checkin_distance_m"] == pytest.approx(111.2, abs=0.1)
        assert body["exact_location"] is True and body["address_lat"] == HOME[0]

        # The other agent files the report.
        r = client.post(f"/api/v1/visits/{vid}/report", json=REPORT, headers=_h(token_for(session, a2)))
        assert r.status_code == 200, r.json()
        rep = r.json()
        assert rep["status"] == "reported" and rep["result"] == "refused"
        assert rep["cost"] == "85.50" and rep["photos"] == REPORT["photos"]
        assert rep["attempt_id"] and rep["attempt_skipped"] is None and rep["policy_verdict"]
        assert rep["report"]["met"] == "debtor" and rep["report"]["willingness"] == "refuses"

        # A reported visit can be neither reported again nor cancelled.
        again = client.post(f"/api/v1/visits/{vid}/report", json=REPORT, headers=_h(token_for(session, a1)))
        assert again.status_code == 409
        gone = client.post(f"/api/v1/visits/{vid}/cancel", headers=_h(token_for(session, collector)))
        assert gone.status_code == 409

        listed = client.get(f"/api/v1/cases/{case.id}/visits", headers=_h(token_for(session, collector)))
        assert [v["id"] for v in listed.json()] == [vid]
        mine = client.get("/api/v1/visits?mine=true", headers=_h(token_for(session, a2))).json()
        assert [v["id"] for v in mine["items"]] == [vid] and mine["total"] == 1
        assert client.get("/api/v1/visits", headers=_h(token_for(session, stranger))).json()["total"] == 0
        contacts = client.get(f"/api/v1/cases/{case.id}/contacts", headers=_h(token_for(session, collector)))
        assert [c["id"] for c in contacts.json()] == [rep["attempt_id"]]
        assert "漕溪北路" not in contacts.text

    row = session.get(FieldVisit, vid)
    assert row is not None
    session.refresh(row)
    assert row.cost_minor == 8550 and row.recording_ref == "rec-visit-001"
    assert row.checkin_lat == pytest.approx(HOME[0] + 0.001)
    attempt = session.get(ContactAttempt, row.attempt_id)
    assert attempt is not None
    assert (attempt.channel, attempt.disposition, attempt.party) == ("visit", "refused", "debtor")
    assert attempt.made_by == a2.username and attempt.destination_kind == "address"
    assert attempt.at == row.checkin_at and attempt.recording_ref == "rec-visit-001"
    entries = list(
        session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("visit.%")).order_by(LedgerEntry.seq))
    )
    assert [e.kind for e in entries] == ["visit.approved", "visit.checked_in", "visit.reported"]
    assert entries[-1].payload["attempt_id"] == attempt.id
    for e in entries:
        assert e.payload["visit_id"] == vid and e.payload["case_id"] == case.id
        assert "31.2" not in str(e.payload) and "121.4" not in str(e.payload)  # no coordinates


def test_requests_name_two_distinct_registered_field_agents(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    case, other = make_case(session, holder=collector), make_case(session, holder=collector)
    a1, a2 = _agent(session), _agent(session)
    idle = _agent(session)
    idle.is_active = False
    not_agent = make_user(session, "collector")
    session.add(WorkerProfile(user_id=not_agent.id, kind="collector", pools=[], skills={}))
    no_profile = make_user(session, "field_agent")
    foreign = _address(session, other)
    phone = make_phone(session, case)
    session.flush()
    today = _today(settings)
    token = token_for(session, collector)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"agent2": a1.username}, "agent2"),
        ({"agent2": idle.username}, "agent2"),
        ({"agent1": not_agent.username}, "agent1"),
        ({"agent1": no_profile.username}, "agent1"),
        ({"agent1": "nobody.here"}, "agent1"),
        ({"address_point_id": foreign.id}, "address_point_id"),
        ({"address_point_id": phone.id}, "address_point_id"),
        ({"planned_on": (today - dt.timedelta(days=1)).isoformat()}, "planned_on"),
    ]
    with _client(session, settings) as client:
        for change, field in cases:
            body = {**_request_body(a1, a2, today, None), **change}
            r = client.post(f"/api/v1/cases/{case.id}/visits", json=body, headers=_h(token))
            assert r.status_code == 422, (change, r.json())
            err = r.json()["error"]
            assert err["code"] == "visit.invalid" and err["details"]["field"] == field, change
            assert " / " in err["message"]
        r = client.post(
            f"/api/v1/cases/{case.id}/visits",
            json={**_request_body(a1, a2, today, None), "address_lat": 91},
            headers=_h(token),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "request.invalid"
        # Another holder's case is not there at all.
        outsider = make_user(session, "collector")
        r = client.post(
            f"/api/v1/cases/{case.id}/visits",
            json=_request_body(a1, a2, today, None),
            headers=_h(token_for(session, outsider)),
        )
        assert r.status_code == 404
    assert session.scalars(select(FieldVisit).where(FieldVisit.case_id == case.id)).first() is None


def test_four_eyes_cancel_wrong_day_and_a_report_without_an_address(
    session: Session, settings: Settings
) -> None:
    lead = make_user(session, "team_lead")
    case = make_case(session, holder=lead)
    a1, a2 = _agent(session, case), _agent(session, case)
    collector = make_user(session, "collector")
    _see(session, case, collector)
    admin = make_user(session, "admin")
    today = _today(settings)
    lead_t, a1_t = token_for(session, lead), token_for(session, a1)
    with _client(session, settings) as client:
        own = client.post(
            f"/api/v1/cases/{case.id}/visits", json=_request_body(a1, a2, today, None), headers=_h(lead_t)
        ).json()
        r = client.post(f"/api/v1/visits/{own['id']}/approve", headers=_h(lead_t))
        assert r.status_code == 403 and r.json()["error"]["code"] == "visit.forbidden"
        # Somebody who neither requested it nor may approve cannot cancel it; the requester can.
        r = client.post(f"/api/v1/visits/{own['id']}/cancel", headers=_h(token_for(session, collector)))
        assert r.status_code == 403 and r.json()["error"]["code"] == "visit.forbidden"
        r = client.post(f"/api/v1/visits/{own['id']}/cancel", headers=_h(lead_t))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        r = client.post(f"/api/v1/visits/{own['id']}/approve", headers=_h(token_for(session, admin)))
        assert r.status_code == 409 and r.json()["error"]["code"] == "visit.invalid_transition"

        # Rejected: stays rejected.
        rej = client.post(
            f"/api/v1/cases/{case.id}/visits", json=_request_body(a1, a2, today, None), headers=_h(lead_t)
        ).json()
        r = client.post(f"/api/v1/visits/{rej['id']}/reject", headers=_h(token_for(session, admin)))
        assert r.status_code == 200 and r.json()["status"] == "rejected"

        # Planned for tomorrow: no check-in today.
        later = client.post(
            f"/api/v1/cases/{case.id}/visits",
            json=_request_body(a1, a2, today + dt.timedelta(days=1), None),
            headers=_h(lead_t),
        ).json()
        assert client.post(
            f"/api/v1/visits/{later['id']}/approve", headers=_h(token_for(session, admin))
        ).is_success
        r = client.post(
            f"/api/v1/visits/{later['id']}/check-in", json={"lat": HOME[0], "lon": HOME[1]}, headers=_h(a1_t)
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "visit.wrong_day"

        # Collection stopped (停催) after approval: no check-in.
        stopped = client.post(
            f"/api/v1/cases/{case.id}/visits", json=_request_body(a1, a2, today, None), headers=_h(lead_t)
        ).json()
        assert client.post(
            f"/api/v1/visits/{stopped['id']}/approve", headers=_h(token_for(session, admin))
        ).is_success
        case.stopped = True
        session.flush()
        r = client.post(
            f"/api/v1/visits/{stopped['id']}/check-in",
            json={"lat": HOME[0], "lon": HOME[1]},
            headers=_h(a1_t),
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "visit.case_stopped"
        case.stopped = False
        session.flush()

        # No address contact point: reported, but no contact attempt, and the response says so.
        bare = client.post(
            f"/api/v1/cases/{case.id}/visits", json=_request_body(a1, a2, today, None), headers=_h(lead_t)
        ).json()
        assert client.post(
            f"/api/v1/visits/{bare['id']}/approve", headers=_h(token_for(session, admin))
        ).is_success
        r = client.post(f"/api/v1/visits/{bare['id']}/report", json=REPORT, headers=_h(a1_t))
        assert r.status_code == 409  # not checked in yet
        r = client.post(
            f"/api/v1/visits/{bare['id']}/check-in", json={"lat": HOME[0], "lon": HOME[1]}, headers=_h(a1_t)
        )
        assert r.status_code == 200 and r.json()["checkin_distance_m"] == 0.0
        bad = {**REPORT, "report": {**REPORT["report"], "met": "nobody"}}  # type: ignore[dict-item]
        r = client.post(f"/api/v1/visits/{bare['id']}/report", json=bad, headers=_h(a1_t))
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "report.willingness"
        r = client.post(
            f"/api/v1/visits/{bare['id']}/report", json={**REPORT, "cost": "1.005"}, headers=_h(a1_t)
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "cost"
        r = client.post(
            f"/api/v1/visits/{bare['id']}/report", json={**REPORT, "photos": ["p"] * 21}, headers=_h(a1_t)
        )
        assert r.status_code == 422
        r = client.post(f"/api/v1/visits/{bare['id']}/report", json=REPORT, headers=_h(a1_t))
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "reported" and r.json()["attempt_id"] is None
        assert "no contact attempt" in r.json()["attempt_skipped"]
    kinds = [e.kind for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("visit.%")))]
    assert sorted(kinds) == sorted(
        [
            "visit.cancelled",
            "visit.rejected",
            "visit.approved",
            "visit.approved",
            "visit.approved",
            "visit.checked_in",
            "visit.reported",
        ]
    )


def test_report_results_map_met_and_willingness() -> None:
    def result(met: str, willingness: str | None) -> str:
        return report_result(
            VisitReport(
                met=Met(met),
                address_valid=True,
                occupancy=Occupancy.LIVES_HERE,
                willingness=Willingness(willingness) if willingness else None,
            )
        ).value

    assert result("debtor", "pay_later") == "right_party"
    assert result("debtor", "refuses") == "refused"
    assert result("family", "refuses") == "wrong_party"
    assert result("colleague", "pay_now") == "wrong_party"
    assert result("nobody", None) == "no_answer"


def test_a_days_route_on_a_line_is_the_obvious_order(session: Session, settings: Settings) -> None:
    """Four addresses due north of the start, 1,112 m apart, requested out of order: the route visits
    them south to north, each leg 1,112 m = 3 minutes at 30 km/h (2.22 rounded up)."""
    agent, partner = _agent(session), _agent(session)
    manager, admin = make_user(session, "manager"), make_user(session, "admin")
    today = _today(settings)
    start = (HOME[0], HOME[1])
    by_step: dict[int, FieldVisit] = {}
    for step in (3, 1, 4, 2):
        case = make_case(session, holder=agent)
        visit = do_request_visit(
            case,
            session=session,
            actor=manager.username,
            settings=settings,
            planned_on=today,
            address_lat=HOME[0] + 0.01 * step,
            address_lon=HOME[1],
            agent1=partner.username if step == 2 else agent.username,
            agent2=agent.username if step == 2 else partner.username,
        )
        do_approve_visit(visit, session=session, actor=admin.username, settings=settings)
        by_step[step] = visit
    # Not on the route: a requested visit, and one planned for another day.
    case = make_case(session, holder=agent)
    do_request_visit(
        case,
        session=session,
        actor=manager.username,
        settings=settings,
        planned_on=today,
        address_lat=HOME[0] - 0.01,
        address_lon=HOME[1],
        agent1=agent.username,
        agent2=partner.username,
    )
    tomorrow = do_request_visit(
        case,
        session=session,
        actor=manager.username,
        settings=settings,
        planned_on=today + dt.timedelta(days=1),
        address_lat=HOME[0],
        address_lon=HOME[1],
        agent1=agent.username,
        agent2=partner.username,
    )
    do_approve_visit(tomorrow, session=session, actor=admin.username, settings=settings)
    with _client(session, settings) as client:
        r = client.get(
            f"/api/v1/visits/route?date={today.isoformat()}&start_lat={start[0]}&start_lon={start[1]}",
            headers=_h(token_for(session, agent)),
        )
        assert r.status_code == 200, r.json()
        route = r.json()
        expected = [by_step[s].id for s in (1, 2, 3, 4)]
        assert [s["visit_id"] for s in route["stops"]] == expected
        assert [s["position"] for s in route["stops"]] == [1, 2, 3, 4]
        assert [s["from_visit_id"] for s in route["stops"]] == [None, *expected[:3]]
        assert [s["distance_m"] for s in route["stops"]] == [1112] * 4
        assert [s["travel_min"] for s in route["stops"]] == [3] * 4
        assert route["total_distance_m"] == 4448 and route["total_travel_min"] == 12
        assert route["total_min"] == 12 + 4 * 30 and route["solver"] == "ortools"
        # Another day with nothing approved: an empty route.
        past = (today - dt.timedelta(days=3)).isoformat()
        r = client.get(
            f"/api/v1/visits/route?date={past}&start_lat=31.2&start_lon=121.4",
            headers=_h(token_for(session, agent)),
        )
        assert r.status_code == 200 and r.json()["stops"] == [] and r.json()["total_travel_min"] == 0
        r = client.get(
            "/api/v1/visits/route?date=2026-13-01&start_lat=31.2&start_lon=121.4",
            headers=_h(token_for(session, agent)),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "request.invalid"
    for position, step in enumerate((1, 2, 3, 4), start=1):
        session.refresh(by_step[step])
        assert (by_step[step].route_position, by_step[step].travel_min) == (position, 3)
    session.refresh(tomorrow)
    assert tomorrow.route_position is None


def test_service_refuses_the_same_agent_twice(session: Session, settings: Settings) -> None:
    agent = _agent(session)
    case = make_case(session, holder=agent)
    with pytest.raises(VisitInvalidError) as info:
        do_request_visit(
            case,
            session=session,
            actor=agent.username,
            settings=settings,
            planned_on=_today(settings),
            address_lat=HOME[0],
            address_lon=HOME[1],
            agent1=agent.username,
            agent2=agent.username,
        )
    assert info.value.details["field"] == "agent2" and info.value.code == "visit.invalid"
