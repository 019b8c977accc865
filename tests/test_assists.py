"""Assistance requests (协催) through the API and the service: a team or a named person is asked for help,
accepts, reports a result; the case stays with its holder; the assignee sees the case only while the
request is live and everyone else still gets 404; overdue requests; the audit ledger — on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_team, make_user, token_for
from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case, visible_cases
from recoup.cases.assists import (
    AssistRefusedError,
    do_accept_assist,
    do_finish_assist,
    do_request_assist,
    overdue_assists,
)
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.ledger.models import LedgerEntry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@contextmanager
def _client(session: Session, settings: Settings) -> Iterator[TestClient]:
    """The API client, with the stop and assist routers mounted if the app does not mount them yet."""
    from recoup.cases.assist_views import router as assist_router
    from recoup.cases.stop_views import router as stop_router

    with api_client(session, settings) as client:
        paths = {getattr(r, "path", "") for r in client.app.routes}  # type: ignore[attr-defined]
        if "/api/v1/stops/{stop_id}/approve" not in paths:
            client.app.include_router(stop_router, prefix="/api/v1")  # type: ignore[attr-defined]
        if "/api/v1/assists/{assist_id}/accept" not in paths:
            client.app.include_router(assist_router, prefix="/api/v1")  # type: ignore[attr-defined]
        yield client


def _h(session: Session, user: AppUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(session, user)}"}


def _today(settings: Settings) -> dt.date:
    return utcnow().astimezone(settings.tz).date()


def _sees(session: Session, user: AppUser, case: Case) -> bool:
    try:
        get_visible_case(case.id, user, session=session)
    except NotFoundError:
        return False
    return True


def _ledger(session: Session, assist_id: int) -> list[str]:
    rows = session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind.like("assist.%")).order_by(LedgerEntry.seq)
    ).all()
    return [r.kind for r in rows if r.payload.get("assist_id") == assist_id]


def test_a_team_member_accepts_works_and_reports_while_the_case_stays_with_its_holder(
    session: Session, settings: Settings
) -> None:
    holder = make_user(session, "collector")
    field = make_team(session, "外访一组")
    agent = make_user(session, "field_agent", team=field)
    outsider = make_user(session, "field_agent", team=make_team(session, "外访二组"))
    case = make_case(session, holder=holder)
    deadline = _today(settings) + dt.timedelta(days=5)
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/assists",
            json={
                "kind": "field",
                "team": "外访一组",
                "deadline": deadline.isoformat(),
                "note": "上门核实地址",
            },
            headers=_h(session, holder),
        )
        assert r.status_code == 201, r.json()
        body = r.json()
        assert (body["status"], body["team"], body["assignee"], body["requested_by"]) == (
            "open",
            "外访一组",
            None,
            holder.username,
        )
        assert body["deadline"] == deadline.isoformat() and not body["overdue"]
        aid = body["id"]

        # The team's members see it in their work; others do not, and cannot reach it.
        mine = client.get("/api/v1/assists?mine=true", headers=_h(session, agent)).json()
        assert [a["id"] for a in mine] == [aid]
        assert client.get("/api/v1/assists", headers=_h(session, outsider)).json() == []
        r = client.post(f"/api/v1/assists/{aid}/accept", headers=_h(session, outsider))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        # Not yet theirs: the case is still invisible to the team until one of them takes it.
        assert client.get(f"/api/v1/cases/{case.id}", headers=_h(session, agent)).status_code == 404

        r = client.post(f"/api/v1/assists/{aid}/accept", headers=_h(session, agent))
        assert r.status_code == 200, r.json()
        assert (r.json()["status"], r.json()["assignee"]) == ("accepted", agent.username)
        seen = client.get(f"/api/v1/cases/{case.id}", headers=_h(session, agent))
        assert seen.status_code == 200 and seen.json()["holder"] == holder.username
        listed = client.get("/api/v1/cases", headers=_h(session, agent)).json()
        assert [c["id"] for c in listed["items"]] == [case.id]

        r = client.post(
            f"/api/v1/assists/{aid}/done",
            json={"result": "success", "note": "地址有效，已留函"},
            headers=_h(session, agent),
        )
        assert r.status_code == 200, r.json()
        body = r.json()
        assert (body["status"], body["result"], body["result_note"]) == (
            "done",
            "success",
            "地址有效，已留函",
        )
        assert body["done_at"] is not None
        # Done: the case is the holder's alone again.
        assert client.get(f"/api/v1/cases/{case.id}", headers=_h(session, agent)).status_code == 404
        on_case = client.get(f"/api/v1/cases/{case.id}/assists", headers=_h(session, holder)).json()
        assert [(a["id"], a["status"]) for a in on_case] == [(aid, "done")]
    session.refresh(case)
    assert case.holder_id == holder.id
    assert _ledger(session, aid) == ["assist.created", "assist.accepted", "assist.done"]
    entries = session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("assist.%"))).all()
    assert not any("地址" in str(e.payload) for e in entries)  # ids and codes only


def test_a_named_assignee_sees_the_case_at_once_and_only_they_act(
    session: Session, settings: Settings
) -> None:
    holder = make_user(session, "collector")
    tracer = make_user(session, "collector")
    manager = make_user(session, "manager")
    case = make_case(session, holder=holder)
    assert not _sees(session, tracer, case)
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/assists",
            json={
                "kind": "skip_trace",
                "assignee": tracer.username,
                "deadline": (_today(settings) + dt.timedelta(days=10)).isoformat(),
            },
            headers=_h(session, holder),
        )
        assert r.status_code == 201, r.json()
        aid = r.json()["id"]
        assert r.json()["assignee"] == tracer.username
        assert client.get(f"/api/v1/cases/{case.id}", headers=_h(session, tracer)).status_code == 200

        # Someone who sees the case but is not the assignee may not take it or finish it.
        r = client.post(f"/api/v1/assists/{aid}/accept", headers=_h(session, manager))
        assert r.status_code == 403 and r.json()["error"]["code"] == "assist.not_yours"
        early = client.post(
            f"/api/v1/assists/{aid}/done", json={"result": "failed"}, headers=_h(session, tracer)
        )
        assert early.status_code == 409 and early.json()["error"]["details"]["status"] == "open"
        assert client.post(f"/api/v1/assists/{aid}/accept", headers=_h(session, tracer)).status_code == 200
        r = client.post(
            f"/api/v1/assists/{aid}/done", json={"result": "failed"}, headers=_h(session, manager)
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "assist.not_yours"
        again = client.post(f"/api/v1/assists/{aid}/accept", headers=_h(session, tracer))
        assert again.status_code == 409 and again.json()["error"]["code"] == "assist.invalid"
        assert again.json()["error"]["details"]["status"] == "accepted"

        # The assignee cannot cancel (not the requester, no case.assign); the requester can.
        r = client.post(f"/api/v1/assists/{aid}/cancel", json={}, headers=_h(session, tracer))
        assert r.status_code == 403 and r.json()["error"]["code"] == "assist.not_yours"
        r = client.post(
            f"/api/v1/assists/{aid}/cancel", json={"note": "已自行联系上"}, headers=_h(session, holder)
        )
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert client.get(f"/api/v1/cases/{case.id}", headers=_h(session, tracer)).status_code == 404
        # The former assignee still reaches their own request (not the case); it is closed.
        for user in (tracer, holder):
            r = client.post(f"/api/v1/assists/{aid}/cancel", json={}, headers=_h(session, user))
            assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "cancelled"
    assert _ledger(session, aid) == ["assist.created", "assist.accepted", "assist.cancelled"]


def test_someone_who_assigns_cases_may_cancel(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    team = make_team(session, "M1-协", lead=lead)
    holder = make_user(session, "collector", team=team)
    legal_team = make_team(session, "法务组")
    case = make_case(session, holder=holder)
    with _client(session, settings) as client:
        aid = client.post(
            f"/api/v1/cases/{case.id}/assists",
            json={"kind": "legal", "team": legal_team.name, "deadline": _today(settings).isoformat()},
            headers=_h(session, holder),
        ).json()["id"]
        r = client.post(f"/api/v1/assists/{aid}/cancel", headers=_h(session, lead))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        # The lead sees the team's cases' requests with mine=false.
        listed = client.get("/api/v1/assists?mine=false", headers=_h(session, lead)).json()
        assert [a["id"] for a in listed] == [aid]


def test_assist_visibility_is_only_for_the_live_assignee(session: Session, settings: Settings) -> None:
    """visible_cases: an open or accepted request assigned to a plain case.view user shows them the case;
    a done one does not; nobody else gains anything."""
    holder = make_user(session, "collector")
    helper = make_user(session, "field_agent")
    bystander = make_user(session, "field_agent")
    agency = make_user(session, "agency")
    case, other = make_case(session, holder=holder), make_case(session, holder=holder)
    row = do_request_assist(
        case,
        session=session,
        actor=holder.username,
        kind="field",
        assignee=helper.username,
        deadline=_today(settings),
        settings=settings,
    )
    assert _sees(session, helper, case) and not _sees(session, helper, other)
    assert not _sees(session, bystander, case) and not _sees(session, agency, case)
    assert {c.id for c in session.scalars(visible_cases(helper))} == {case.id}
    do_accept_assist(row.id, helper, session=session, settings=settings)
    assert _sees(session, helper, case)
    do_finish_assist(row.id, helper, session=session, result="not_needed", settings=settings)
    assert not _sees(session, helper, case)
    with _client(session, settings) as client:
        for user in (helper, bystander, agency):
            for path in ("", "/assists", "/stops", "/contacts"):
                r = client.get(f"/api/v1/cases/{case.id}{path}", headers=_h(session, user))
                assert r.status_code == 404, (user.username, path, r.json())


def test_bad_requests_are_refused(session: Session, settings: Settings) -> None:
    holder = make_user(session, "collector")
    analyst = make_user(session, "analyst")  # no case.work
    make_team(session, "核查组")
    case = make_case(session, holder=holder)
    today = _today(settings)
    with _client(session, settings) as client:
        for payload, field in (
            ({"kind": "field", "team": "核查组", "deadline": str(today - dt.timedelta(days=1))}, "deadline"),
            ({"kind": "field", "team": "核查组", "deadline": str(today + dt.timedelta(days=31))}, "deadline"),
            (
                {"kind": "field", "team": "核查组", "assignee": analyst.username, "deadline": str(today)},
                "target",
            ),
            ({"kind": "field", "deadline": str(today)}, "target"),
            ({"kind": "field", "team": "nobody", "deadline": str(today)}, "team"),
            ({"kind": "field", "assignee": "ghost.user", "deadline": str(today)}, "assignee"),
            ({"kind": "field", "assignee": analyst.username, "deadline": str(today)}, "assignee"),
            ({"kind": "field", "assignee": holder.username, "deadline": str(today)}, "assignee"),
        ):
            r = client.post(f"/api/v1/cases/{case.id}/assists", json=payload, headers=_h(session, holder))
            assert r.status_code == 422, (payload, r.json())
            err = r.json()["error"]
            assert err["code"] == "assist.refused" and err["details"]["field"] == field, (payload, err)
            assert " / " in err["message"]
        unknown = client.post(
            f"/api/v1/cases/{case.id}/assists",
            json={"kind": "psychic", "team": "核查组", "deadline": str(today)},
            headers=_h(session, holder),
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "request.invalid"
        edge = client.post(
            f"/api/v1/cases/{case.id}/assists",
            json={"kind": "verification", "team": "核查组", "deadline": str(today + dt.timedelta(days=30))},
            headers=_h(session, holder),
        )
        assert edge.status_code == 201, edge.json()
        bad_result = client.post(
            f"/api/v1/assists/{edge.json()['id']}/done", json={"result": "maybe"}, headers=_h(session, holder)
        )
        assert bad_result.status_code == 422
    case.status = "closed"
    session.flush()
    with pytest.raises(AssistRefusedError) as err:
        do_request_assist(
            case,
            session=session,
            actor=holder.username,
            kind="legal",
            team="核查组",
            deadline=today,
            settings=settings,
        )
    assert err.value.details["field"] == "case"


def test_overdue_assists_are_those_past_their_deadline_and_not_done(
    session: Session, settings: Settings
) -> None:
    holder = make_user(session, "collector")
    helper = make_user(session, "collector")
    team = make_team(session, "失联修复组")
    case = make_case(session, holder=holder)
    today = _today(settings)

    def ask(days: int, **target: str) -> int:
        return do_request_assist(
            case,
            session=session,
            actor=holder.username,
            kind="skip_trace",
            deadline=today + dt.timedelta(days=days),
            settings=settings,
            **target,
        ).id

    soon = ask(0, team=team.name)
    later = ask(3, assignee=helper.username)
    finished = ask(1, assignee=helper.username)
    do_accept_assist(later, helper, session=session, settings=settings)
    do_accept_assist(finished, helper, session=session, settings=settings)
    do_finish_assist(finished, helper, session=session, result="success", settings=settings)
    assert [a.id for a in overdue_assists(today, session=session)] == []
    assert [a.id for a in overdue_assists(today + dt.timedelta(days=1), session=session)] == [soon]
    assert [a.id for a in overdue_assists(today + dt.timedelta(days=10), session=session)] == [soon, later]
    with _client(session, settings) as client:
        mine = client.get("/api/v1/assists", headers=_h(session, helper)).json()
        assert [(a["id"], a["status"], a["overdue"]) for a in mine] == [(later, "accepted", False)]
