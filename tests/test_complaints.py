"""The complaints register through the API and the services, on SQLite and PostgreSQL: a complaint's
deadline and its HOLD-STOP end to end (open → the contact policy blocks a call and the dispatcher an SMS →
extend → resolve → the hold ends → contact allowed again), the handler never the person complained about,
disputes and HOLD-DISPUTE, complaints and disputes logged as a call's result, the refusals, the ledger
and the morning counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_user, token_for
from recoup.auth.models import AppUser
from recoup.cases.models import Case, WorkerProfile
from recoup.complaints import register, service
from recoup.complaints.models import Complaint, ComplaintEvent
from recoup.config import Settings
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.dispatch import run_once
from recoup.contact.models import ContactHold, OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import session_scope, utcnow
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SH = ZoneInfo("Asia/Shanghai")
BODY = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _today(settings: Settings) -> dt.date:
    return utcnow().astimezone(settings.tz).date()


def _tomorrow_at(hour: int) -> dt.datetime:
    """``hour``:00 in Shanghai tomorrow: inside the calling hours, after any hold placed now."""
    day = utcnow().astimezone(SH).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=SH)


def _keys(session: Session, case: Case) -> tuple[str, str]:
    borrower = session.get(Borrower, case.borrower_id)
    loan = session.scalar(select(CollectionAccount.external_id).where(CollectionAccount.case_id == case.id))
    assert borrower is not None and loan is not None
    return borrower.external_id, loan


def _judge_call(session: Session, case: Case, phone: str) -> Verdict:
    """What the contact policy (the one engine) says of calling the borrower tomorrow at 10:00."""
    borrower, loan = _keys(session, case)
    proposal = Proposal(
        id=f"test:{uuid.uuid4().hex}",
        at=_tomorrow_at(10).astimezone(dt.UTC),
        channel=Channel.CALL,
        party=Party.DEBTOR,
        destination=phone,
        destination_kind=DestinationKind.MOBILE,
        debt_id=loan,
    )
    return check_attempt(
        Policy(resolve("cn", session=session)), session=session, borrower_key=borrower, proposal=proposal
    )


def _sms(engine: Engine, settings: Settings, case_id: int, slot: str) -> str:
    """An SMS to the borrower, planned (committed) for tomorrow 09:00."""
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        borrower, loan = _keys(s, case)
        return do_enqueue(
            session=s,
            as_of=_tomorrow_at(9).date(),
            borrower_key=borrower,
            debt_key=loan,
            slot=slot,
            channel=Channel.SMS,
            party="debtor",
            destination="13800138000",
            destination_kind="mobile",
            body=BODY,
            locale="zh_CN",
            due_at=_tomorrow_at(9),
            settings=settings,
        ).message_id


def _dispatch(engine: Engine, settings: Settings, fake: FakeChannel) -> None:
    """The dispatcher's run tomorrow at 10:00 Shanghai (it judges each message again at send time)."""
    run_once(
        engine,
        now=_tomorrow_at(10),
        plugins=dict.fromkeys(Channel, fake),
        policy=Policy(resolve("cn")),
        settings=settings,
    )


def _message(engine: Engine, message_id: str) -> OutboxMessage:
    with Session(engine) as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message_id)).one()


@contextmanager
def _committing_client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """The app on ``engine`` with real commits (the dispatcher reads what the API committed)."""
    app = create_app(settings, session_factory=lambda: session_scope(engine))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_complaints_deadline_and_hold_stop_end_to_end_through_the_api(
    own_engine: Engine, settings: Settings
) -> None:
    """Acceptance (issue 15): open → the policy blocks a call and an SMS → extend → resolve → the hold
    ends → contact is allowed again; the handler is never the person complained about."""
    with session_scope(own_engine) as s:
        officer = make_user(s, "compliance")
        second = make_user(s, "compliance")
        collector = make_user(s, "collector")
        case = make_case(s, holder=collector)
        phone = make_phone(s, case)
        case_id, point_id, collector_id = case.id, phone.id, collector.id
        officer_id, second_id = officer.id, second.id
        tokens = {u.username: token_for(s, u) for u in (officer, second, collector)}
        t_officer, t_second, t_collector = (
            tokens[officer.username],
            tokens[second.username],
            tokens[collector.username],
        )
        assert _judge_call(s, case, phone.value).verdict == "allowed"
    today = _today(settings)
    fake = FakeChannel()
    before = _sms(own_engine, settings, case_id, "before")
    with _committing_client(own_engine, settings) as client:
        r = client.post(
            "/api/v1/complaints",
            json={
                "source": "regulator_12378",
                "reference": "12378-2026-000123",
                "category": "frequency",
                "case_id": case_id,
                "collector_id": collector_id,
                "summary": "电话太多",
            },
            headers=_h(t_officer),
        )
        assert r.status_code == 201, r.json()
        c = r.json()
        cid = c["id"]
        assert c["status"] == "open" and c["received_on"] == today.isoformat()
        assert c["deadline"] == (today + dt.timedelta(days=15)).isoformat() and c["days_left"] == 15
        assert c["hold_rule"] == "HOLD-STOP" and c["hold_active"] is True and not c["overdue"]
        assert [e["kind"] for e in c["timeline"]] == ["opened"]

        # The policy blocks contact: a call judged by the engine, a call logged through the API, an SMS at
        # send time by the dispatcher.
        with Session(own_engine) as s:
            case = s.get(Case, case_id)
            assert case is not None
            verdict = _judge_call(s, case, "13800138000")
            assert verdict.verdict == "blocked" and "HOLD-STOP" in verdict.rules
        logged = client.post(
            f"/api/v1/cases/{case_id}/contacts",
            json={"channel": "call", "result": "no_answer", "contact_point_id": point_id},
            headers=_h(t_collector),
        )
        assert logged.status_code == 201, logged.json()
        assert logged.json()["policy_verdict"] == "blocked" and "HOLD-STOP" in logged.json()["policy_rules"]
        _dispatch(own_engine, settings, fake)
        blocked = _message(own_engine, before)
        assert blocked.status == "blocked" and blocked.verdict_rules and "HOLD-STOP" in blocked.verdict_rules
        assert fake.sent == []

        # The handler: never the person complained about.
        refused = client.post(
            f"/api/v1/complaints/{cid}/assign", json={"handler_id": collector_id}, headers=_h(t_officer)
        )
        assert (
            refused.status_code == 403 and refused.json()["error"]["code"] == "complaint.conflict_of_interest"
        )
        assigned = client.post(
            f"/api/v1/complaints/{cid}/assign", json={"handler_id": second_id}, headers=_h(t_officer)
        )
        assert assigned.status_code == 200 and assigned.json()["handler"] is not None

        # Extend once, with a reason: 30 days after receipt.
        ext = client.post(
            f"/api/v1/complaints/{cid}/extend", json={"reason": "需调取录音核实"}, headers=_h(t_second)
        )
        assert ext.status_code == 200, ext.json()
        assert ext.json()["deadline"] == (today + dt.timedelta(days=30)).isoformat()
        assert (
            ext.json()["extended_on"] == today.isoformat()
            and ext.json()["extension_reason"] == "需调取录音核实"
        )
        again = client.post(
            f"/api/v1/complaints/{cid}/extend", json={"reason": "again"}, headers=_h(t_second)
        )
        assert again.status_code == 409 and again.json()["error"]["code"] == "complaint.invalid_state"

        # Still blocked after the extension (the hold is the complaint's, not the deadline's).
        with Session(own_engine) as s:
            case = s.get(Case, case_id)
            assert case is not None
            assert "HOLD-STOP" in _judge_call(s, case, "13800138000").rules

        # Only the handler resolves.
        body = {"outcome": "upheld", "root_cause": "collector_conduct", "resolution": "已致歉并培训催收员"}
        other = client.post(f"/api/v1/complaints/{cid}/resolve", json=body, headers=_h(t_officer))
        assert other.status_code == 403 and other.json()["error"]["code"] == "complaint.not_handler"
        done = client.post(f"/api/v1/complaints/{cid}/resolve", json=body, headers=_h(t_second))
        assert done.status_code == 200, done.json()
        closed = done.json()
        assert closed["status"] == "closed" and closed["closed_on"] == today.isoformat()
        assert (
            closed["hold_active"] is False and closed["closed_late"] is False and closed["days_left"] is None
        )
        assert [e["kind"] for e in closed["timeline"]] == ["opened", "assigned", "extended", "resolved"]
        late = client.post(f"/api/v1/complaints/{cid}/extend", json={"reason": "x"}, headers=_h(t_second))
        assert late.status_code == 409

        # Contact is allowed again: the engine, and the dispatcher sends a new SMS.
        with Session(own_engine) as s:
            case = s.get(Case, case_id)
            assert case is not None
            assert _judge_call(s, case, "13800138000").verdict == "allowed"
        after = _sms(own_engine, settings, case_id, "after")
        _dispatch(own_engine, settings, fake)
        assert _message(own_engine, after).status == "sent" and len(fake.sent) == 1
        listed = client.get("/api/v1/complaints?status=closed", headers=_h(t_officer)).json()
        assert [x["id"] for x in listed] == [cid]
        assert client.get("/api/v1/complaints", headers=_h(t_collector)).status_code == 403
    with Session(own_engine) as s:
        hold = s.get(ContactHold, closed["hold_id"])
        assert hold is not None and hold.kind == "stop" and hold.channels is None and hold.end_at is not None
        kinds = [
            e.kind
            for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
            if e.kind.startswith("complaint.") and e.payload.get("complaint_id") == cid
        ]
        assert kinds == ["complaint.opened", "complaint.assigned", "complaint.extended", "complaint.resolved"]
        resolved = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "complaint.resolved")).one()
        assert "已致歉" not in str(resolved.payload) and resolved.payload["outcome"] == "upheld"
        assert officer_id != second_id


def test_a_dispute_places_hold_dispute_until_answered(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    case = make_case(session)
    phone = make_phone(session, case)
    borrower, _loan = _keys(session, case)
    row = service.do_open_complaint(
        session=session,
        actor=officer.username,
        kind="dispute",
        source="hotline",
        category="amount",
        borrower_key=borrower,
        settings=settings,
    )
    assert row.case_id == case.id  # found from the borrower's open case
    verdict = _judge_call(session, case, phone.value)
    assert (
        verdict.verdict == "blocked" and "HOLD-DISPUTE" in verdict.rules and "HOLD-STOP" not in verdict.rules
    )
    service.do_resolve(
        row.id,
        session=session,
        actor=officer,
        outcome="not_upheld",
        root_cause="no_fault",
        resolution="对账无误，已书面答复",
        settings=settings,
    )
    assert _judge_call(session, case, phone.value).verdict == "allowed"


def test_a_complaint_or_dispute_logged_on_a_call_opens_the_register_entry(
    session: Session, settings: Settings
) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector)
    phone = make_phone(session, case)
    token = token_for(session, collector)
    with api_client(session, settings) as client:
        first = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={
                "channel": "call",
                "result": "complaint",
                "contact_point_id": phone.id,
                "note": "投诉催收太频繁",
            },
            headers=_h(token),
        )
        assert first.status_code == 201, first.json()
        cid = first.json()["complaint_id"]
        assert cid is not None
        row = session.get(Complaint, cid)
        assert row is not None
        assert (row.kind, row.source, row.category, row.case_id) == ("complaint", "in_call", "other", case.id)
        assert row.summary == "投诉催收太频繁" and row.created_by == collector.username
        assert register.attempt_ids_of(cid, session=session) == [first.json()["id"]]
        # A second complaint on the next call joins the open entry; a dispute opens its own.
        second = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={"channel": "call", "result": "complaint", "contact_point_id": phone.id},
            headers=_h(token),
        ).json()
        assert second["complaint_id"] == cid and "HOLD-STOP" in second["policy_rules"]
        assert len(register.attempt_ids_of(cid, session=session)) == 2
        dispute = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={"channel": "call", "result": "dispute", "contact_point_id": phone.id},
            headers=_h(token),
        ).json()
        assert dispute["complaint_id"] not in (None, cid)
        assert session.get(Complaint, dispute["complaint_id"]).kind == "dispute"  # type: ignore[union-attr]
        plain = client.post(
            f"/api/v1/cases/{case.id}/contacts",
            json={"channel": "call", "result": "no_answer", "contact_point_id": phone.id},
            headers=_h(token),
        ).json()
        assert plain["complaint_id"] is None


def test_refusals_name_the_field(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    case = make_case(session)
    other = make_case(session)
    borrower, _ = _keys(session, case)
    token = token_for(session, officer)
    today = _today(settings)
    base = {"source": "hotline", "category": "other", "case_id": case.id}
    with api_client(session, settings) as client:
        for body, status, code, field in (
            ({**base, "source": "regulator_12363"}, 422, "complaint.invalid", "reference"),
            (
                {**base, "received_on": (today + dt.timedelta(days=1)).isoformat()},
                422,
                "complaint.invalid",
                "received_on",
            ),
            (
                {"source": "hotline", "category": "other", "borrower_key": "NOPE"},
                422,
                "complaint.invalid",
                "borrower_key",
            ),
            ({"source": "hotline", "category": "other"}, 422, "complaint.invalid", "borrower_key"),
            ({**base, "borrower_key": _keys(session, other)[0]}, 422, "complaint.invalid", "borrower_key"),
            ({**base, "case_id": 2_000_000}, 422, "complaint.invalid", "case_id"),
            ({**base, "collector_id": 2_000_000}, 422, "complaint.invalid", "collector_id"),
            ({**base, "category": "nonsense"}, 422, "request.invalid", None),
        ):
            r = client.post("/api/v1/complaints", json=body, headers=_h(token))
            assert r.status_code == status, (body, r.json())
            assert r.json()["error"]["code"] == code
            if field:
                assert r.json()["error"]["details"]["field"] == field
        assert client.get("/api/v1/complaints/2000000", headers=_h(token)).status_code == 404
        assert client.get("/api/v1/complaints?status=weird", headers=_h(token)).status_code == 422
    # An attempt with another borrower cannot be linked.
    other_phone = make_phone(session, other)
    from recoup.contact.service import do_record_attempt
    from recoup.contact.vocab import AttemptOutcome

    attempt = do_record_attempt(
        session=session,
        source="collector",
        external_id="x1",
        borrower_key=_keys(session, other)[0],
        at=utcnow(),
        channel=Channel.CALL,
        party=Party.DEBTOR,
        destination=other_phone.value,
        outcome=AttemptOutcome.NO_ANSWER,
        made_by="someone",
    )
    with pytest.raises(register.ComplaintInputError) as exc:
        service.do_open_complaint(
            session=session,
            actor="x",
            source="hotline",
            category="other",
            borrower_key=borrower,
            attempt_ids=[attempt.id],
            settings=settings,
        )
    assert exc.value.details["field"] == "attempt_ids"


def test_no_extension_once_late_and_the_person_complained_about_takes_no_step(
    session: Session, settings: Settings
) -> None:
    officer = make_user(session, "compliance")
    accused = make_user(session, "compliance")  # a compliance officer complained about
    case = make_case(session)
    today = _today(settings)
    late = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="platform",
        category="privacy",
        case_id=case.id,
        received_on=today - dt.timedelta(days=16),
        settings=settings,
    )
    assert late.deadline == today - dt.timedelta(days=1)
    assert register.list_complaints(session=session, today=today, status="overdue") == [late]
    with pytest.raises(register.ComplaintStateError):
        service.do_extend(late.id, session=session, actor=officer, reason="太晚了", settings=settings)
    in_time = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="hotline",
        category="threats_abuse",
        case_id=case.id,
        received_on=today - dt.timedelta(days=15),
        collector_id=accused.id,
        settings=settings,
    )
    service.do_extend(
        in_time.id, session=session, actor=officer, reason="last day", settings=settings
    )  # the 15th day: in time
    assert in_time.deadline == today + dt.timedelta(days=15)
    for move in (
        lambda: service.do_assign(
            in_time.id, session=session, actor=accused, handler_id=officer.id, settings=settings
        ),
        lambda: service.do_resolve(
            in_time.id,
            session=session,
            actor=accused,
            outcome="not_upheld",
            root_cause="no_fault",
            resolution="x",
            settings=settings,
        ),
        lambda: service.do_set_subject(
            in_time.id, session=session, actor=accused, collector_id=None, agency=None, settings=settings
        ),
    ):
        with pytest.raises(register.ConflictOfInterestError):
            move()
    # The handler cannot become the one complained about.
    service.do_assign(in_time.id, session=session, actor=officer, handler_id=officer.id, settings=settings)
    with pytest.raises(register.ConflictOfInterestError):
        service.do_set_subject(
            in_time.id,
            session=session,
            actor=officer,
            collector_id=officer.id,
            agency=None,
            settings=settings,
        )
    assert [u.username for u in register.handlers(session=session, complaint=in_time)].count(
        accused.username
    ) == 0


def test_an_agency_complained_about_cannot_handle_it(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    agency_officer = make_user(session, "compliance")
    session.add(
        WorkerProfile(user_id=agency_officer.id, kind="agency", pools=[], skills={}, agency_code="AG7")
    )
    session.flush()
    case = make_case(session)
    row = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="platform",
        category="collection_conduct",
        case_id=case.id,
        agency="AG7",
        settings=settings,
    )
    with pytest.raises(register.ConflictOfInterestError) as exc:
        service.do_assign(
            row.id, session=session, actor=officer, handler_id=agency_officer.id, settings=settings
        )
    assert exc.value.details["reason"] == "agency_complained_about"
    no_perm = make_user(session, "collector")
    with pytest.raises(register.ComplaintInputError):
        service.do_assign(row.id, session=session, actor=officer, handler_id=no_perm.id, settings=settings)


def test_register_counts_for_the_morning(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    case = make_case(session)
    today = _today(settings)
    yesterday = today - dt.timedelta(days=1)
    before = register.register_counts(session=session, day=yesterday)
    for days_ago in (1, 1, 20):
        service.do_open_complaint(
            session=session,
            actor=officer.username,
            source="hotline",
            category="other",
            case_id=case.id,
            received_on=today - dt.timedelta(days=days_ago),
            settings=settings,
        )
    after = register.register_counts(session=session, day=yesterday)
    assert after["received"] - before["received"] == 2
    assert after["open"] - before["open"] == 3
    assert after["overdue"] - before["overdue"] == 1


def test_the_timeline_and_the_ledger_hold_no_free_text(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    case = make_case(session)
    row = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="portal",
        category="amount",
        case_id=case.id,
        summary="张三丰 13800138000",
        settings=settings,
    )
    service.do_extend(row.id, session=session, actor=officer, reason="需要联系张三丰核实", settings=settings)
    events = session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == row.id)).all()
    assert [e.kind for e in events] == ["opened", "extended"] and events[1].note == "需要联系张三丰核实"
    for entry in session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("complaint.%"))):
        assert "张三丰" not in str(entry.payload) and "13800138000" not in str(entry.payload)
    assert isinstance(session.get(AppUser, officer.id), AppUser)
