"""The contact log (催记) and work queues through the API: a logged call is judged by the policy and
recorded masked, wrong numbers are invalidated, stated preferences stored, callbacks and first contacts
are must-do, a started task is never superseded, and the dialer list carries no phone number."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_task, make_user, token_for
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.db import utcnow
from recoup.portfolio.models import Borrower, ContactPoint
from recoup.strategy.models import WorkTask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# 10:00 in Shanghai: inside every preset's calling hours.
CALL_AT = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)


def test_a_logged_call_is_judged_recorded_masked_and_closes_its_task(
    session: Session, settings: Settings
) -> None:
    user = make_user(session, "collector")
    case = make_case(session, holder=user)
    phone = make_phone(session, case)
    task = make_task(session, case)
    token = token_for(session, user)
    with api_client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={
                "result": "right_party",
                "contact_point_id": phone.id,
                "at": CALL_AT.isoformat(),
                "note": "说下周发工资后还",
                "recording_ref": "rec-001",
                "task_id": task.id,
                "preferred_channel": "email",
                "preferred_hour": 19,
            },
            headers=_h(token),
        )
        assert r.status_code == 201, r.json()
        body = r.json()
        assert body["policy_verdict"] == "allowed", body
        assert body["party"] == "debtor" and body["outcome"] == "conversation"
        assert body["disposition"] == "right_party_contact"
        assert "13800138000" not in r.text and body["destination"].startswith("138")
        assert body["task_done"] == task.id
        listed = client.get(f"/api/v1/cases/{case.id}/contacts", headers=_h(token)).json()
        assert [c["id"] for c in listed] == [body["id"]]
        assert "13800138000" not in str(listed)
    session.refresh(task)
    assert (task.status, task.result) == ("done", "right_party") and task.attempt_id == body["id"]
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None and (borrower.preferred_channel, borrower.preferred_hour) == ("email", 19)
    attempt = session.get(ContactAttempt, body["id"])
    assert attempt is not None and attempt.source == "collector" and attempt.made_by == user.username
    assert attempt.preset  # the preset version that judged it


def test_a_call_at_night_is_recorded_but_flagged(session: Session, settings: Settings) -> None:
    user = make_user(session, "collector")
    case = make_case(session, holder=user)
    phone = make_phone(session, case)
    night = dt.datetime(2026, 12, 1, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai
    with api_client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={"result": "no_answer", "contact_point_id": phone.id, "at": night.isoformat()},
            headers=_h(token_for(session, user)),
        )
    assert r.status_code == 201
    assert r.json()["policy_verdict"] != "allowed" and r.json()["policy_rules"]


def test_wrong_number_twice_invalidates_the_number(session: Session, settings: Settings) -> None:
    user = make_user(session, "collector")
    case = make_case(session, holder=user)
    phone = make_phone(session, case)
    token = token_for(session, user)
    flags = []
    with api_client(session, settings) as client:
        for hour in (2, 3):
            at = CALL_AT.replace(hour=hour)
            r = client.post(
                f"/api/v1/cases/{case.id}/contacts",
                json={"result": "wrong_number", "contact_point_id": phone.id, "at": at.isoformat()},
                headers=_h(token),
            )
            assert r.status_code == 201, r.json()
            flags.append(r.json()["number_invalidated"])
    assert flags == [False, True]
    point = session.get(ContactPoint, phone.id)
    assert point is not None and not point.is_valid and point.failed_results == 2


def test_someone_else_answering_the_borrowers_number_is_no_violation(
    session: Session, settings: Settings
) -> None:
    """The call to the borrower's own number was allowed; that a relative answered is its disposition,
    not a call to a third party (the audit replayed such calls as CN-PARTY violations)."""
    user = make_user(session, "collector")
    case = make_case(session, holder=user)
    phone = make_phone(session, case)
    with api_client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={"result": "wrong_party", "contact_point_id": phone.id, "at": CALL_AT.isoformat()},
            headers=_h(token_for(session, user)),
        )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["party"], body["disposition"]) == ("debtor", "third_party_contact")
    assert body["policy_verdict"] == "allowed", body


def test_bad_contacts_are_refused(session: Session, settings: Settings) -> None:
    user = make_user(session, "collector")
    case, other = make_case(session, holder=user), make_case(session, holder=user)
    phone = make_phone(session, other)
    token = token_for(session, user)
    future = (utcnow() + dt.timedelta(days=1)).isoformat()
    with api_client(session, settings) as client:
        for payload, field in (
            ({"result": "right_party", "contact_point_id": phone.id}, "contact_point_id"),
            ({"result": "teleported", "contact_point_id": phone.id}, "result"),
            ({"result": "right_party", "contact_point_id": phone.id, "at": future}, "at"),
        ):
            r = client.post(f"/api/v1/cases/{case.id}/contacts", json=payload, headers=_h(token))
            assert r.status_code == 422, r.json()
            assert r.json()["error"]["code"] == "contact_log.invalid"
            assert r.json()["error"]["details"]["field"] == field


def test_queue_puts_started_then_must_do_first_and_callbacks_come_back(
    session: Session, settings: Settings
) -> None:
    user = make_user(session, "collector")
    touched = make_case(session, holder=user, overdue=900_000)
    fresh = make_case(session, holder=user, overdue=100_000)
    phone = make_phone(session, touched)
    t_touched = make_task(session, touched, priority=5)
    t_fresh = make_task(session, fresh)
    token = token_for(session, user)
    today = utcnow().astimezone(settings.tz).date()
    with api_client(session, settings) as client:
        r = client.post(
            f"/api/v1/cases/{touched.id}/contacts",
            json={
                "result": "callback_requested",
                "contact_point_id": phone.id,
                "at": (utcnow() - dt.timedelta(minutes=1)).isoformat(),
                "next_action_on": today.isoformat(),
            },
            headers=_h(token),
        )
        assert r.status_code == 201, r.json()
        queue = client.get("/api/v1/tasks", headers=_h(token)).json()
        kinds = {q["task_id"]: q["must_do"] for q in queue}
        assert kinds[t_fresh.id] == "first_contact"
        callback = [q for q in queue if q["queue"] == "callback"]
        assert len(callback) == 1 and callback[0]["case_id"] == touched.id
        assert queue[0]["must_do"] == "first_contact"
        started = client.post(f"/api/v1/tasks/{t_touched.id}/start", headers=_h(token))
        assert started.json()["status"] == "in_progress"
        queue = client.get("/api/v1/tasks", headers=_h(token)).json()
        assert queue[0]["task_id"] == t_touched.id and queue[0]["status"] == "in_progress"
        assert [q["position"] for q in queue] == list(range(1, len(queue) + 1))
        csv = client.get("/api/v1/tasks/dialer.csv", headers=_h(token))
        assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("assignee_id,position,task_id")
        assert "13800138000" not in csv.text
        other = make_user(session, "collector")
        assert (
            client.post(
                f"/api/v1/tasks/{t_fresh.id}/start", headers=_h(token_for(session, other))
            ).status_code
            == 404
        )


def test_a_started_task_is_not_superseded_by_the_next_days_plan(session: Session) -> None:
    from recoup.strategy.flows import ActResult, _plan_tasks

    user = make_user(session, "collector")
    case = make_case(session, holder=user)
    started, idle = make_task(session, case), make_task(session, case, treatment="field_visit")
    started.status = "in_progress"
    session.flush()
    _plan_tasks({}, session=session, as_of=dt.date(2026, 12, 2), result=ActResult())
    session.expire_all()
    statuses = dict(
        session.execute(select(WorkTask.id, WorkTask.status).where(WorkTask.case_id == case.id)).all()
    )
    assert statuses == {started.id: "in_progress", idle.id: "cancelled"}
