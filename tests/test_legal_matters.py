"""Legal matters: opened from a case (the case moves into ``legal``, the legal-review task is completed),
moved through the stage table with its deadlines, costs, documents and the audit ledger; the API's
permissions and errors — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_task, make_user, token_for
from legal_factories import add_schedule
from recoup.cases.lifecycle import InvalidTransitionError
from recoup.config import Settings
from recoup.db import utcnow
from recoup.ledger.models import LedgerEntry
from recoup.legal import stages
from recoup.legal.common import LegalInputError, LegalStateError, TimeBarredError
from recoup.legal.limitation import do_refresh_limitations
from recoup.legal.matters import (
    do_add_cost,
    do_add_deadline,
    do_add_document,
    do_close_deadline,
    do_move_stage,
    do_open_matter,
    matter_detail,
)
from recoup.legal.models import LegalDeadline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _h(session: Session, user: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(session, user)}"}  # type: ignore[arg-type]


def test_opening_a_matter_moves_the_case_into_legal_and_completes_the_legal_review(
    session: Session, settings: Settings
) -> None:
    lawyer = make_user(session, "legal")
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector, state="early_collection")
    add_schedule(session, case, last_due=dt.date(2026, 10, 1))  # 3 × (1 000.00 + 50.00) unpaid
    review = make_task(session, case, treatment="legal_review")
    review.queue = "legal"
    call = make_task(session, case, treatment="agent_call", as_of=dt.date(2026, 12, 2))
    session.flush()
    now = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
    matter, done = do_open_matter(
        case,
        session=session,
        actor=lawyer,
        reason="large balance, no contact",
        court="上海市浦东新区人民法院",
        settings=settings,
        now=now,
    )
    assert done == [review.id]
    assert (review.status, review.result) == ("done", "matter_opened")
    assert call.status == "open"  # other work stays
    assert case.state == "legal"
    assert (matter.stage, matter.status, matter.claim_amount) == ("assessment", "open", 3 * 105_000)
    assert matter.rule_version == stages.RULE_VERSION
    d = matter_detail(matter, session=session)
    assert [(x.kind, x.due_on) for x in d.deadlines] == [
        ("review", dt.date(2026, 12, 7) + dt.timedelta(days=30))
    ]
    assert d.allowed == [
        "lawyer_letter",
        "pre_suit_mediation",
        "batch_suit",
        "payment_order",
        "suit",
        "result",
    ]
    # One open matter per case.
    with pytest.raises(LegalStateError):
        do_open_matter(case, session=session, actor=lawyer, reason="again", settings=settings, now=now)

    # Payment order: the objection window is set (15 days), the assessment's review cancelled.
    do_move_stage(
        matter.id,
        "payment_order",
        session=session,
        actor=lawyer,
        reason="申请支付令",
        settings=settings,
        now=now,
    )
    d = matter_detail(matter, session=session)
    assert {(x.kind, x.status) for x in d.deadlines} == {
        ("review", "cancelled"),
        ("objection_window", "open"),
    }
    assert [x.due_on for x in d.deadlines if x.status == "open"] == [dt.date(2026, 12, 22)]
    with pytest.raises(stages.StageMoveError) as bad:
        do_move_stage(matter.id, "hearing", session=session, actor=lawyer, reason="x", settings=settings)
    assert bad.value.details["allowed"] == ["enforcement", "suit", "result"]
    do_add_cost(
        matter.id,
        session=session,
        actor=lawyer,
        kind="court_fee",
        amount=5_000,
        incurred_on=dt.date(2026, 12, 7),
        settings=settings,
    )
    do_add_cost(
        matter.id,
        session=session,
        actor=lawyer,
        kind="lawyer_fee",
        amount=120_000,
        incurred_on=dt.date(2026, 12, 8),
        settings=settings,
    )
    do_add_document(
        matter.id,
        session=session,
        actor=lawyer,
        kind="payment_order",
        title="支付令 (2026)沪0115民督123号",
        reference="dms://legal/2026/123.pdf",
        sha256="a" * 64,
        settings=settings,
    )
    with pytest.raises(LegalInputError):
        do_add_document(
            matter.id,
            session=session,
            actor=lawyer,
            kind="payment_order",
            title="t",
            reference="r",
            sha256="not-a-hash",
            settings=settings,
        )
    hearing = do_add_deadline(
        matter.id,
        session=session,
        actor=lawyer,
        kind="hearing",
        due_on=dt.date(2027, 1, 12),
        settings=settings,
    )
    do_close_deadline(hearing.id, lawyer, session=session, status="cancelled", settings=settings)
    do_move_stage(
        matter.id, "enforcement", session=session, actor=lawyer, reason="no objection", settings=settings
    )
    with pytest.raises(stages.StageMoveError):  # a result is required to close
        do_move_stage(matter.id, "result", session=session, actor=lawyer, reason="done", settings=settings)
    do_move_stage(
        matter.id,
        "result",
        session=session,
        actor=lawyer,
        reason="paid through enforcement",
        result="paid",
        recovered_amount=315_000,
        settings=settings,
    )
    assert (matter.status, matter.result, matter.recovered_amount) == ("closed", "paid", 315_000)
    d = matter_detail(matter, session=session)
    assert d.cost_total == 125_000 and d.allowed == []
    assert [m.to_stage for m in d.moves] == ["assessment", "payment_order", "enforcement", "result"]
    kinds = [
        e.kind
        for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind.like("legal.%")).order_by(LedgerEntry.seq)
        )
        if e.payload.get("matter_id") == matter.id
    ]
    assert kinds[0] == "legal.matter_opened" and kinds.count("legal.stage_moved") == 3
    assert (
        "legal.cost_added" in kinds and "legal.document_added" in kinds and "legal.deadline_closed" in kinds
    )
    with pytest.raises(LegalStateError):
        do_add_deadline(matter.id, session=session, actor=lawyer, kind="other", due_on=dt.date(2027, 1, 1))


def test_the_lifecycle_decides_and_a_time_barred_debt_needs_acknowledging(
    session: Session, settings: Settings
) -> None:
    lawyer = make_user(session, "legal")
    fresh = make_case(session, state="allocated")  # collection not tried: no move into legal
    with pytest.raises(InvalidTransitionError):
        do_open_matter(fresh, session=session, actor=lawyer, reason="too early", settings=settings)
    old = make_case(session, state="negotiation")
    add_schedule(session, old, last_due=dt.date(2021, 1, 1))
    do_refresh_limitations(utcnow().date(), session=session, settings=settings)
    with pytest.raises(TimeBarredError) as barred:
        do_open_matter(old, session=session, actor=lawyer, reason="sue", settings=settings)
    assert barred.value.details["limitation_date"] == "2024-01-01"
    matter, _ = do_open_matter(
        old,
        session=session,
        actor=lawyer,
        reason="debtor may not plead it",
        acknowledge_time_barred=True,
        settings=settings,
    )
    assert matter.limitation_date == dt.date(2024, 1, 1)
    assert old.state == "legal"


def test_the_matters_api(session: Session, settings: Settings) -> None:
    lawyer = make_user(session, "legal")
    manager = make_user(session, "manager")
    case = make_case(session, state="promise")
    add_schedule(session, case, last_due=dt.date(2026, 11, 1), n=1)
    with api_client(session, settings) as client:
        denied = client.post(
            f"/api/v1/cases/{case.id}/legal-matters", json={"reason": "x"}, headers=_h(session, manager)
        )
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "auth.forbidden"
        r = client.post(
            f"/api/v1/cases/{case.id}/legal-matters",
            json={"reason": "批量诉讼评估", "claim_amount": "1234.50"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 201, r.json()
        body = r.json()
        assert (body["stage"], body["claim_amount"]) == ("assessment", "1234.50")
        assert body["next_deadline"] is not None  # the route decision, 30 days on
        mid = body["id"]
        r = client.post(
            f"/api/v1/legal/matters/{mid}/stage",
            json={"to_stage": "batch_suit", "reason": "第12批"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 200 and r.json()["stage"] == "batch_suit"
        r = client.post(
            f"/api/v1/legal/matters/{mid}/stage",
            json={"to_stage": "payment_order", "reason": "x"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "legal.invalid_stage_move"
        assert r.json()["error"]["details"]["allowed"] == ["hearing", "judgment", "result"]
        r = client.patch(
            f"/api/v1/legal/matters/{mid}",
            json={"court_case_number": "(2026)沪0115民初456号"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 200 and r.json()["court_case_number"] == "(2026)沪0115民初456号"
        r = client.post(
            f"/api/v1/legal/matters/{mid}/costs",
            json={"kind": "court_fee", "amount": "25.00", "incurred_on": "2026-12-07"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 201 and r.json()["amount"] == "25.00"
        r = client.post(
            f"/api/v1/legal/matters/{mid}/costs",
            json={"kind": "court_fee", "amount": "-3", "incurred_on": "2026-12-07"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 422 and set(r.json()) == {"error"}
        r = client.post(
            f"/api/v1/legal/matters/{mid}/deadlines",
            json={"kind": "hearing", "due_on": "2027-01-05", "note": "第三法庭"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 201
        deadline_id = r.json()["id"]
        r = client.post(
            f"/api/v1/legal/deadlines/{deadline_id}/close",
            json={"status": "done"},
            headers=_h(session, lawyer),
        )
        assert r.status_code == 200 and r.json()["status"] == "done"
        r = client.get(f"/api/v1/legal/matters/{mid}", headers=_h(session, lawyer))
        assert r.status_code == 200
        assert [m["to_stage"] for m in r.json()["moves"]] == ["assessment", "batch_suit"]
        assert r.json()["cost_total"] == "25.00"
        listed = client.get("/api/v1/legal/matters?stage=batch_suit", headers=_h(session, lawyer)).json()
        assert [m["id"] for m in listed] == [mid]
        assert client.get("/api/v1/legal/matters/999999", headers=_h(session, lawyer)).status_code == 404
        table = client.get("/api/v1/legal/stages", headers=_h(session, lawyer)).json()
        assert table["version"] == stages.RULE_VERSION and "suit" in table["interrupting"]
    assert session.scalars(select(LegalDeadline).where(LegalDeadline.matter_id == mid)).first() is not None
