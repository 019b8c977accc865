"""Where write-back instructions come from (an approved plan, a waiver that took effect, an approved
write-off, in the same unit of work), the confirmation kernel on hand-made frames, and the operations page
and API in both languages."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_user, token_for
from legal_factories import add_schedule
from pdf_support import requires_pdf
from recoup.config import Settings
from recoup.legal.writeoffs import do_approve_write_off, do_request_write_off
from recoup.portfolio.models import AccountInstallment, CollectionAccount
from recoup.resolutions.ask import do_request
from recoup.web import pages
from recoup.writeback.emit import emit_waiver
from recoup.writeback.kernel import Frames, confirm
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.reconcile import instruction_frame

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def _instructions(session: Session) -> list[WritebackInstruction]:
    return list(session.scalars(select(WritebackInstruction).order_by(WritebackInstruction.id)))


@requires_pdf
def test_an_approved_plan_and_a_waiver_that_took_effect_are_written_back(
    session: Session, settings: Settings
) -> None:
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector, dpd=10, overdue=400_000)
    account = session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id)).one()
    session.add(
        AccountInstallment(
            account_id=account.id,
            seq=1,
            due_date=dt.date(2026, 11, 21),
            principal_due=250_000,
            interest_due=50_000,
            fee_due=20_000,
            penalty_due=80_000,
        )
    )
    session.flush()
    plan = do_request(
        case, collector, kind="plan", instalments=3, waive=30_000, session=session, settings=settings, now=NOW
    )
    assert plan.status == "active" and plan.waived["penalty"] == 30_000 == plan.waived_total
    (row,) = _instructions(session)
    assert (row.kind, row.source_ref, row.loan_id, row.business_date, row.status) == (
        "plan",
        f"resolution:{plan.id}",
        account.external_id,
        dt.date(2026, 12, 2),
        "pending",
    )
    assert row.amount == plan.total_due and len(row.payload["instalments"]) == 3
    assert row.effective_date == plan.first_due
    # The plan's waiver is not in the plan instruction (applied once, by the waiver when honoured).
    assert "waive" not in row.payload and row.payload["waiver_on_honour"] == plan.waived
    # The plan honoured: the waiver goes out once, however often the judging runs.
    plan.status, plan.ended_on = "honoured", dt.date(2027, 3, 1)
    first = emit_waiver(plan, session=session, on=dt.date(2027, 3, 2), actor="cycle", settings=settings)
    again = emit_waiver(plan, session=session, on=dt.date(2027, 3, 3), actor="cycle", settings=settings)
    assert first is not None and again is not None and first.id == again.id
    assert (first.kind, first.amount, first.payload["waive"]["penalty"]) == ("waiver", 30_000, 30_000)
    assert first.effective_date == dt.date(2027, 3, 1)


def test_an_approved_write_off_sends_one_instruction_per_loan(session: Session, settings: Settings) -> None:
    lawyer, manager = make_user(session, "legal"), make_user(session, "manager")
    case = make_case(session, state="negotiation")
    add_schedule(session, case, last_due=dt.date(2026, 6, 1), n=4)
    wo = do_request_write_off(case, session=session, actor=lawyer, reason="unrecoverable", settings=settings)
    assert _instructions(session) == []  # asking is not enough
    do_approve_write_off(wo.id, session=session, actor=manager, settings=settings, now=NOW)
    (row,) = _instructions(session)
    assert (row.kind, row.source_ref, row.amount, row.case_id) == (
        "write_off",
        f"write_off:{wo.id}",
        420_000,
        case.id,
    )
    assert row.business_date == wo.written_off_on


def _frames(inst: list[dict[str, object]], loans: dict[str, str] | None = None) -> Frames:
    cols = {"loan_id": pl.String, "seq": pl.Int64, "due_date": pl.Date}
    money = {
        f"{c}_{s}": pl.Int64 for c in ("penalty", "fee", "interest", "principal") for s in ("due", "paid")
    }
    full = [{**dict.fromkeys(money, 0), **r} for r in inst]
    return Frames(
        pl.DataFrame(
            [{"loan_id": k, "status": v} for k, v in (loans or {}).items()],
            schema={"loan_id": pl.String, "status": pl.String},
        ),
        pl.DataFrame(full, schema={**cols, **money}),
        pl.DataFrame(
            schema={
                "payment_id": pl.String,
                "loan_id": pl.String,
                "received_date": pl.Date,
                "amount": pl.Int64,
                "reference": pl.String,
                "reverses": pl.String,
            }
        ),
    )


def test_the_waiver_and_freeze_rules_hand_worked() -> None:
    """Waive penalty 300 and fee 100 on A and B: A's dues fell by 300 and 100 (confirmed), B's penalty only
    by 200 (not). Freeze C from 12-01: its December interest is still open (not); D's is zero (yes)."""
    d = dt.date
    rows = [
        WritebackInstruction(
            instruction_id=f"W{x}",
            kind="waiver",
            loan_id=x,
            effective_date=d(2026, 12, 1),
            amount=40_000,
            payload={"loans": [x], "waive": {"penalty": 30_000, "fee": 10_000}},
        )
        for x in "AB"
    ] + [
        WritebackInstruction(
            instruction_id=f"F{x}",
            kind="interest_freeze",
            loan_id=x,
            effective_date=d(2026, 12, 1),
            amount=0,
            payload={"from": "2026-12-01"},
        )
        for x in "CD"
    ]
    before = _frames(
        [
            {"loan_id": "A", "seq": 1, "due_date": d(2026, 11, 1), "penalty_due": 50_000, "fee_due": 10_000},
            {"loan_id": "B", "seq": 1, "due_date": d(2026, 11, 1), "penalty_due": 50_000, "fee_due": 10_000},
            {
                "loan_id": "C",
                "seq": 1,
                "due_date": d(2026, 12, 15),
                "interest_due": 9_000,
                "penalty_due": 100,
            },
            {
                "loan_id": "D",
                "seq": 1,
                "due_date": d(2026, 12, 15),
                "interest_due": 9_000,
                "penalty_due": 100,
            },
        ]
    )
    after = _frames(
        [
            {"loan_id": "A", "seq": 1, "due_date": d(2026, 11, 1), "penalty_due": 20_000, "fee_due": 0},
            {"loan_id": "B", "seq": 1, "due_date": d(2026, 11, 1), "penalty_due": 30_000, "fee_due": 0},
            {
                "loan_id": "C",
                "seq": 1,
                "due_date": d(2026, 12, 15),
                "interest_due": 9_000,
                "penalty_due": 100,
            },
            {"loan_id": "D", "seq": 1, "due_date": d(2026, 12, 15), "interest_due": 0, "penalty_due": 100},
        ]
    )
    out = confirm(instruction_frame(rows), before, after)
    assert dict(zip(out["instruction_id"], out["confirmed"], strict=True)) == {
        "WA": True,
        "WB": False,
        "FC": False,
        "FD": True,
    }


def test_the_page_and_the_api(session: Session, settings: Settings) -> None:
    from floor_factories import PASSWORD
    from recoup.writeback.emit import do_freeze

    manager, collector = make_user(session, "manager"), make_user(session, "collector")
    row = do_freeze(
        "L77", session=session, start=dt.date(2026, 12, 1), reason="hardship", actor="m", settings=settings
    )
    row.status, row.reason = "rejected", "冻结中"
    session.flush()
    with api_client(session, settings) as client:
        pages.THROTTLE.succeeded(f"user:{manager.username}", "ip:testclient")
        client.get("/login")
        r = client.post(
            "/login",
            data={"username": manager.username, "password": PASSWORD},
            headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
        )
        assert r.status_code == 204
        zh = client.get("/writeback")
        assert (
            zh.status_code == 200
            and "回写核心系统" in zh.text
            and "停息" in zh.text
            and row.instruction_id in zh.text
        )
        assert "核心系统已拒绝 · 1" in zh.text
        assert row.instruction_id not in client.get("/writeback?status=confirmed").text
        client.get("/lang/en")
        en = client.get("/writeback?kind=interest_freeze")
        assert "Write-back to the core system" in en.text and "interest freeze" in en.text
        client.cookies.clear()
        api = client.get(
            "/api/v1/writeback/exceptions", headers={"Authorization": f"Bearer {token_for(session, manager)}"}
        )
        assert api.status_code == 200
        assert [(x["instruction_id"], x["status"], x["amount"]) for x in api.json()["exceptions"]] == [
            (row.instruction_id, "rejected", "0.00")
        ]
        one = client.get(
            f"/api/v1/writeback/{row.instruction_id}",
            headers={"Authorization": f"Bearer {token_for(session, manager)}"},
        )
        assert one.json()["payload"]["from"] == "2026-12-01"
        denied = client.get(
            "/api/v1/writeback", headers={"Authorization": f"Bearer {token_for(session, collector)}"}
        )
        assert denied.status_code == 403
