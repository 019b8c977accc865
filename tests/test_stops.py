"""Stops of collection (停催) and their lifting (复催) through the API and the service: approval by a
second person, death and suicide risk in force at once, the HOLD-STOP contact hold the policy blocks on,
cancelled tasks, the case's stop flag, expiry, invalid moves and the audit ledger — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_task, make_team, make_user, token_for
from recoup.cases.models import Case
from recoup.cases.stops import StopRefusedError, do_approve_stop, do_expire_stops, do_request_stop
from recoup.cases.work_models import AssistRequest, CaseStop
from recoup.config import Settings
from recoup.contact.models import ContactHold
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import Borrower, CollectionAccount

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHANGHAI = ZoneInfo("Asia/Shanghai")


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


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _today(settings: Settings) -> dt.date:
    return utcnow().astimezone(settings.tz).date()


def _call_time() -> dt.datetime:
    """10:00 in Shanghai on the next day (inside every preset's calling hours, after any hold placed now)."""
    day = utcnow().astimezone(SHANGHAI).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=SHANGHAI).astimezone(dt.UTC)


def _judge_call(session: Session, case: Case, phone_value: str) -> Verdict:
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    loan = session.scalar(select(CollectionAccount.external_id).where(CollectionAccount.case_id == case.id))
    proposal = Proposal(
        id=f"test:{uuid.uuid4().hex}",
        at=_call_time(),
        channel=Channel.CALL,
        party=Party.DEBTOR,
        destination=phone_value,
        destination_kind=DestinationKind.MOBILE,
        debt_id=loan,
    )
    policy = Policy(resolve("cn", session=session))
    return check_attempt(policy, session=session, borrower_key=borrower.external_id, proposal=proposal)


def _ledger(session: Session, stop_id: int) -> list[str]:
    rows = session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind.like("stop.%")).order_by(LedgerEntry.seq)
    ).all()
    return [r.kind for r in rows if r.payload.get("stop_id") == stop_id]


def test_an_approved_stop_blocks_contact_cancels_tasks_and_a_lift_resumes(
    session: Session, settings: Settings
) -> None:
    collector = make_user(session, "collector")
    manager = make_user(session, "manager")
    compliance = make_user(session, "compliance")
    case = make_case(session, holder=collector)
    other = make_case(session, holder=collector)
    phone = make_phone(session, case)
    open_task = make_task(session, case)
    started = make_task(session, case, treatment="field_visit")
    started.status = "in_progress"
    untouched = make_task(session, other)
    session.flush()
    expires = _today(settings) + dt.timedelta(days=30)
    assert _judge_call(session, case, phone.value).verdict == "allowed"
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/stops",
            json={
                "reason": "serious_illness",
                "evidence_ref": "doc-2026-001",
                "note": "住院治疗",
                "expires_on": expires.isoformat(),
            },
            headers=_h(token_for(session, collector)),
        )
        assert r.status_code == 201, r.json()
        body = r.json()
        assert (body["status"], body["immediate"], body["awaiting_approval"]) == ("requested", False, False)
        assert body["requested_by"] == collector.username and body["hold_id"] is None
        stop_id = body["id"]
        session.refresh(case)
        assert not case.stopped
        assert _judge_call(session, case, phone.value).verdict == "allowed"  # not in force before approval

        # A collector lacks case.stop; a manager approves.
        denied = client.post(f"/api/v1/stops/{stop_id}/approve", headers=_h(token_for(session, collector)))
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "auth.forbidden"
        r = client.post(f"/api/v1/stops/{stop_id}/approve", headers=_h(token_for(session, manager)))
        assert r.status_code == 200, r.json()
        body = r.json()
        assert (body["status"], body["decided_by"], body["awaiting_approval"]) == (
            "active",
            manager.username,
            False,
        )
        assert sorted(body["cancelled_tasks"]) == sorted([open_task.id, started.id])
        hold_id = body["hold_id"]
        assert hold_id is not None

        session.refresh(case)
        assert case.stopped
        for t in (open_task, started):
            session.refresh(t)
            assert (t.status, t.status_reason) == ("cancelled", "stopped: serious_illness")
        session.refresh(untouched)
        assert untouched.status == "open"
        hold = session.get(ContactHold, hold_id)
        assert hold is not None
        borrower = session.get(Borrower, case.borrower_id)
        assert borrower is not None
        assert (hold.kind, hold.borrower_key, hold.channels) == ("stop", borrower.external_id, None)
        assert hold.end_at is None  # open-ended while the stop is active: the policy blocks, never defers

        verdict = _judge_call(session, case, phone.value)
        assert verdict.verdict == "blocked" and "HOLD-STOP" in verdict.rules

        listed = client.get(f"/api/v1/cases/{case.id}/stops", headers=_h(token_for(session, collector)))
        assert [s["status"] for s in listed.json()] == ["active"]

        # 复催: a lift needs a reason.
        no_reason = client.post(
            f"/api/v1/stops/{stop_id}/lift", json={}, headers=_h(token_for(session, compliance))
        )
        assert no_reason.status_code == 422
        r = client.post(
            f"/api/v1/stops/{stop_id}/lift",
            json={"reason": "出院，恢复催收"},
            headers=_h(token_for(session, compliance)),
        )
        assert r.status_code == 200, r.json()
        body = r.json()
        assert (body["status"], body["lifted_by"], body["lift_reason"]) == (
            "lifted",
            compliance.username,
            "出院，恢复催收",
        )
    session.refresh(case)
    assert not case.stopped
    session.refresh(hold)
    assert hold.end_at is not None and hold.end_at <= utcnow()
    assert _judge_call(session, case, phone.value).verdict == "allowed"
    assert _ledger(session, stop_id) == ["stop.requested", "stop.approved", "stop.lifted"]
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "stop.approved")).all()[-1]
    assert "住院" not in str(entry.payload) and "doc-2026" not in str(entry.payload)  # ids and codes only


@pytest.mark.parametrize("reason", ["death", "suicide_risk"])
def test_death_and_suicide_risk_take_effect_at_once_and_await_approval(
    session: Session, settings: Settings, reason: str
) -> None:
    manager = make_user(session, "manager")
    other_manager = make_user(session, "manager")
    case = make_case(session, holder=manager)
    phone = make_phone(session, case)
    task = make_task(session, case)
    payload: dict[str, str] = {"reason": reason, "evidence_ref": "report-7"}
    if reason == "suicide_risk":
        payload["expires_on"] = (_today(settings) + dt.timedelta(days=90)).isoformat()
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/stops", json=payload, headers=_h(token_for(session, manager))
        )
        assert r.status_code == 201, r.json()
        body = r.json()
        assert (body["status"], body["immediate"], body["awaiting_approval"]) == ("active", True, True)
        assert body["decided_by"] is None and body["cancelled_tasks"] == [task.id]
        session.refresh(case)
        assert case.stopped
        hold = session.get(ContactHold, body["hold_id"])
        assert hold is not None and hold.approved_by is None and hold.end_at is None
        assert "HOLD-STOP" in _judge_call(session, case, phone.value).rules

        # Four eyes: the requester cannot decide their own stop.
        own = client.post(f"/api/v1/stops/{body['id']}/approve", headers=_h(token_for(session, manager)))
        assert own.status_code == 403 and own.json()["error"]["code"] == "stop.four_eyes"
        r = client.post(f"/api/v1/stops/{body['id']}/approve", headers=_h(token_for(session, other_manager)))
        assert r.status_code == 200, r.json()
        assert (r.json()["status"], r.json()["awaiting_approval"], r.json()["decided_by"]) == (
            "active",
            False,
            other_manager.username,
        )
        assert r.json()["cancelled_tasks"] == []
        session.refresh(hold)
        assert hold.approved_by == other_manager.username
    assert _ledger(session, body["id"]) == ["stop.requested", "stop.approved"]


def test_rejecting_an_immediate_stop_ends_it(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    compliance = make_user(session, "compliance")
    case = make_case(session, holder=collector)
    phone = make_phone(session, case)
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/stops",
            json={
                "reason": "suicide_risk",
                "expires_on": (_today(settings) + dt.timedelta(days=7)).isoformat(),
            },
            headers=_h(token_for(session, collector)),
        )
        assert r.status_code == 201 and r.json()["status"] == "active"
        stop_id = r.json()["id"]
        r = client.post(
            f"/api/v1/stops/{stop_id}/reject",
            json={"reason": "误报 / false report"},
            headers=_h(token_for(session, compliance)),
        )
        assert r.status_code == 200, r.json()
        body = r.json()
        assert (body["status"], body["decided_by"], body["lifted_by"]) == (
            "rejected",
            compliance.username,
            compliance.username,
        )
        assert body["lift_reason"] == "误报 / false report"
    session.refresh(case)
    assert not case.stopped
    assert _judge_call(session, case, phone.value).verdict == "allowed"
    assert _ledger(session, stop_id) == ["stop.requested", "stop.rejected"]


def test_a_rejected_request_never_took_effect(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    manager = make_user(session, "manager")
    case = make_case(session, holder=collector)
    task = make_task(session, case)
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/stops",
            json={
                "reason": "litigation",
                "expires_on": (_today(settings) + dt.timedelta(days=60)).isoformat(),
            },
            headers=_h(token_for(session, collector)),
        )
        r = client.post(f"/api/v1/stops/{r.json()['id']}/reject", headers=_h(token_for(session, manager)))
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        assert r.json()["lifted_by"] is None and r.json()["hold_id"] is None
    session.refresh(task)
    session.refresh(case)
    assert task.status == "open" and not case.stopped


def test_invalid_moves_are_409_naming_the_status(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    manager = make_user(session, "manager")
    case = make_case(session, holder=collector)
    expires = (_today(settings) + dt.timedelta(days=10)).isoformat()
    with _client(session, settings) as client:
        ct, mt = _h(token_for(session, collector)), _h(token_for(session, manager))
        stop_id = client.post(
            f"/api/v1/cases/{case.id}/stops", json={"reason": "custody", "expires_on": expires}, headers=ct
        ).json()["id"]
        lift = client.post(f"/api/v1/stops/{stop_id}/lift", json={"reason": "x"}, headers=mt)
        assert lift.status_code == 409 and lift.json()["error"]["code"] == "stop.invalid"
        assert lift.json()["error"]["details"]["status"] == "requested"
        assert client.post(f"/api/v1/stops/{stop_id}/approve", headers=mt).status_code == 200
        again = client.post(f"/api/v1/stops/{stop_id}/approve", headers=mt)
        assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "active"
        assert (
            client.post(f"/api/v1/stops/{stop_id}/lift", json={"reason": "获释"}, headers=mt).status_code
            == 200
        )
        for move, body in (("approve", None), ("reject", {}), ("lift", {"reason": "x"})):
            r = client.post(f"/api/v1/stops/{stop_id}/{move}", json=body, headers=mt)
            assert r.status_code == 409, (move, r.json())
            err = r.json()["error"]
            assert err["code"] == "stop.invalid" and err["details"]["status"] == "lifted"
            assert "lifted" in err["message"] and " / " in err["message"]
        missing = client.post("/api/v1/stops/999999/approve", headers=mt)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_bad_stop_requests_are_refused(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector)
    today = _today(settings)
    with _client(session, settings) as client:
        token = _h(token_for(session, collector))
        for payload, field in (
            ({"reason": "complaint"}, "expires_on"),
            (
                {"reason": "complaint", "expires_on": (today + dt.timedelta(days=367)).isoformat()},
                "expires_on",
            ),
            ({"reason": "complaint", "expires_on": (today - dt.timedelta(days=1)).isoformat()}, "expires_on"),
        ):
            r = client.post(f"/api/v1/cases/{case.id}/stops", json=payload, headers=token)
            assert r.status_code == 422, r.json()
            assert (
                r.json()["error"]["code"] == "stop.refused" and r.json()["error"]["details"]["field"] == field
            )
        unknown = client.post(
            f"/api/v1/cases/{case.id}/stops",
            json={"reason": "bored", "expires_on": today.isoformat()},
            headers=token,
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "request.invalid"
        edge = client.post(
            f"/api/v1/cases/{case.id}/stops",
            json={"reason": "disaster_relief", "expires_on": (today + dt.timedelta(days=366)).isoformat()},
            headers=token,
        )
        assert edge.status_code == 201, edge.json()
    assert (
        session.scalars(select(CaseStop).where(CaseStop.case_id == case.id)).all()[-1].reason
        == "disaster_relief"
    )


def test_only_the_holder_or_a_supervisor_requests_and_others_get_404(
    session: Session, settings: Settings
) -> None:
    holder = make_user(session, "collector")
    helper = make_user(session, "collector")
    stranger = make_user(session, "collector")
    case = make_case(session, holder=holder)
    task = make_task(session, case)
    task.assignee_id = helper.id  # sees the case through a task, does not hold it
    session.flush()
    payload = {"reason": "complaint", "expires_on": (_today(settings) + dt.timedelta(days=15)).isoformat()}
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/stops", json=payload, headers=_h(token_for(session, helper))
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "stop.not_holder"
        for method, path in (("POST", "stops"), ("GET", "stops")):
            r = client.request(
                method,
                f"/api/v1/cases/{case.id}/{path}",
                json=payload if method == "POST" else None,
                headers=_h(token_for(session, stranger)),
            )
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_the_case_stays_stopped_until_its_last_stop_ends(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    manager = make_user(session, "manager")
    case = make_case(session, holder=collector)
    expires = (_today(settings) + dt.timedelta(days=20)).isoformat()
    with _client(session, settings) as client:
        ct, mt = _h(token_for(session, collector)), _h(token_for(session, manager))
        ids = []
        for reason in ("complaint", "litigation"):
            sid = client.post(
                f"/api/v1/cases/{case.id}/stops", json={"reason": reason, "expires_on": expires}, headers=ct
            ).json()["id"]
            assert client.post(f"/api/v1/stops/{sid}/approve", headers=mt).status_code == 200
            ids.append(sid)
        client.post(f"/api/v1/stops/{ids[0]}/lift", json={"reason": "投诉已结"}, headers=mt)
        session.refresh(case)
        assert case.stopped
        client.post(f"/api/v1/stops/{ids[1]}/lift", json={"reason": "撤诉"}, headers=mt)
        session.refresh(case)
        assert not case.stopped


def test_stops_expire_after_their_expiry_day(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    manager = make_user(session, "manager")
    case = make_case(session, holder=collector)
    today = _today(settings)
    stop, _, _ = do_request_stop(
        case,
        session=session,
        actor=collector,
        reason="disaster_relief",
        expires_on=today + dt.timedelta(days=1),
        settings=settings,
    )
    do_approve_stop(stop.id, session=session, actor=manager, settings=settings)
    assert case.stopped
    hold = session.get(ContactHold, stop.hold_id)
    assert hold is not None and hold.end_at is None
    assert do_expire_stops(today + dt.timedelta(days=1), session=session, settings=settings) == []
    expired = do_expire_stops(today + dt.timedelta(days=2), session=session, settings=settings)
    assert [s.id for s in expired] == [stop.id]
    assert (stop.status, stop.lifted_by, stop.lift_reason) == ("expired", "system", "expired")
    assert not case.stopped
    session.refresh(hold)
    end = dt.datetime.combine(today + dt.timedelta(days=2), dt.time(0), tzinfo=settings.tz)
    assert hold.end_at == end.astimezone(dt.UTC)  # the end of the expiry day
    assert do_expire_stops(today + dt.timedelta(days=3), session=session, settings=settings) == []
    assert _ledger(session, stop.id) == ["stop.requested", "stop.approved", "stop.expired"]
    # A death stop has no expiry and never expires.
    death, _, _ = do_request_stop(case, session=session, actor=collector, reason="death", settings=settings)
    assert do_expire_stops(today + dt.timedelta(days=400), session=session, settings=settings) == []
    assert death.status == "active" and case.stopped


def test_identity_theft_also_opens_a_fraud_check(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    verifiers = make_team(session, "核查组")
    verifiers.kind = "verification"
    session.flush()
    case = make_case(session, holder=collector)
    with _client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/stops",
            json={
                "reason": "identity_theft",
                "evidence_ref": "police-report-42",
                "expires_on": (_today(settings) + dt.timedelta(days=30)).isoformat(),
            },
            headers=_h(token_for(session, collector)),
        )
        assert r.status_code == 201, r.json()
        assert r.json()["status"] == "requested"
        assist_id = r.json()["fraud_check_assist_id"]
    assist = session.get(AssistRequest, assist_id)
    assert assist is not None
    assert (assist.case_id, assist.kind, assist.team_id, assist.status) == (
        case.id,
        "verification",
        verifiers.id,
        "open",
    )
    assert assist.deadline == _today(settings) + dt.timedelta(days=7)
    assert assist.requested_by == collector.username


def test_a_closed_case_takes_no_stop(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector)
    case.status, case.state = "closed", "closed"
    session.flush()
    with pytest.raises(StopRefusedError) as err:
        do_request_stop(case, session=session, actor=collector, reason="death", settings=settings)
    assert err.value.details["field"] == "case"
    assert not case.stopped
