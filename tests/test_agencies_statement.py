"""The monthly commission statement worked by hand, on the database: two agencies, three buckets, a tier
change, a complaint penalty (and a QA red line). The cases are placed, paid and recalled through the
services; the payments are credited by the payment-credit rules (a collector's kept promise stays the
collector's); the complaint comes from the complaints register. The statement matches the hand-worked
figures of tests/test_agencies_kernel.py, both sides confirm it, and its XLSX and PDF show the same
figures; ``recoup report agencies`` prints them."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from floor_factories import api_client, make_case, make_team, make_user, token_for
from pdf_support import PDFTOPPM, requires_pdf
from recoup.agencies.errors import AgencyError, StatementError
from recoup.agencies.models import Placement
from recoup.agencies.placement import do_place_batch
from recoup.agencies.recall import do_recall
from recoup.agencies.statement_files import statement_pdf, statement_xlsx
from recoup.agencies.statements import do_confirm_statement, do_issue_statement
from recoup.cases.models import PromiseToPay
from recoup.config import Settings, get_settings, load_settings
from recoup.contact.models import ContactAttempt, QaFinding
from recoup.ledger.models import LedgerEntry
from recoup.pii import cipher_from_settings
from recoup.portfolio.models import AccountPayment, Borrower, CollectionAccount
from test_agencies import eligible_agency
from test_agencies_kernel import EXPECTED_LINES, EXPECTED_TOTALS

d = dt.date
#: Where the rendered pages go to be looked at (read at import: the tests' environment drops RECOUP_*).
SHOTS = os.environ.get("RECOUP_SCREENSHOTS")
SH = dt.timezone(dt.timedelta(hours=8))
MONTH = "2026-11"
TODAY = d(2026, 12, 6)
RATES_A = [
    {
        "bucket": "M4",
        "tiers": [{"min_recovery_bp": 0, "rate_bp": 1_000}, {"min_recovery_bp": 2_000, "rate_bp": 1_500}],
    },
    {"bucket": "M5", "tiers": [{"min_recovery_bp": 0, "rate_bp": 1_500}]},
    {
        "bucket": "M6",
        "tiers": [{"min_recovery_bp": 0, "rate_bp": 2_000}, {"min_recovery_bp": 1_000, "rate_bp": 2_500}],
    },
]
RATES_B = [
    {"bucket": "M4", "tiers": [{"min_recovery_bp": 0, "rate_bp": 1_200}]},
    {
        "bucket": "M5",
        "tiers": [{"min_recovery_bp": 0, "rate_bp": 1_500}, {"min_recovery_bp": 3_000, "rate_bp": 1_800}],
    },
    {"bucket": "*", "tiers": [{"min_recovery_bp": 0, "rate_bp": 2_000}]},  # M6 by the default row
]
#: case number → (days past due → bucket, overdue at placement), as in the kernel test
CASES = {
    11: (100, 10_000_000),
    12: (100, 5_000_000),
    13: (130, 4_000_000),
    14: (160, 2_000_000),
    21: (100, 8_000_000),
    22: (130, 3_000_000),
    23: (160, 6_000_000),
    24: (130, 1_000_000),
}
#: case number → (agency, placed on)
PLACED = {
    11: ("AGA", d(2026, 10, 20)),
    12: ("AGA", d(2026, 11, 5)),
    13: ("AGA", d(2026, 10, 15)),
    14: ("AGA", d(2026, 11, 1)),
    21: ("AGB", d(2026, 10, 25)),
    22: ("AGB", d(2026, 11, 2)),
    23: ("AGB", d(2026, 11, 12)),
    24: ("AGB", d(2026, 12, 1)),
}
#: payments received: (case number, day, amount)
PAYMENTS = [
    (11, d(2026, 11, 3), 2_000_000),
    (11, d(2026, 11, 20), 1_500_000),
    (11, d(2026, 10, 30), 999_999),  # October
    (12, d(2026, 11, 4), 300_000),  # the day before its placement: the collector's
    (12, d(2026, 11, 6), 200_000),
    (13, d(2026, 11, 9), 400_000),
    (13, d(2026, 11, 10), 100_000),  # the day of its recall: the collector's again
    (14, d(2026, 11, 24), 150_000),  # after the promise's week of grace: the agency's
    (14, d(2026, 11, 16), 50_000),  # kept the collector's promise of 28 October: the collector's
    (21, d(2026, 11, 10), 800_000),
    (22, d(2026, 11, 15), 1_000_000),
    (23, d(2026, 11, 20), 333_333),
    (24, d(2026, 11, 25), 500_000),  # before its placement
]


def build(session: Session, settings: Settings) -> dict[str, Any]:
    """The month of the hand-worked example, through the services."""
    complaints = pytest.importorskip("recoup.complaints.models")
    start = d(2026, 10, 1)
    lead = make_user(session, "team_lead")
    collector = make_user(session, "collector", team=make_team(session, "M4–M6 组", lead))
    manager = make_user(session, "manager")
    a_user, b_user = make_user(session, "agency"), make_user(session, "agency")
    agency_a = eligible_agency(session, "AGA", [a_user], on=start, rates=RATES_A, qa_penalty=20_000)
    agency_b = eligible_agency(session, "AGB", [b_user], on=start, rates=RATES_B, complaint_penalty=50_000)
    us = load_settings(data_dir=settings.data_dir, jurisdiction="us")  # no borrower notice: active at once
    cases = {
        n: make_case(session, holder=collector, dpd=dpd, overdue=amt, as_of=start)
        for n, (dpd, amt) in CASES.items()
    }
    session.add(
        PromiseToPay(
            case_id=cases[14].id,
            made_at=dt.datetime(2026, 10, 28, 10, tzinfo=SH),
            made_on=d(2026, 10, 28),
            by="debtor",
            amount=50_000,
            due_date=d(2026, 11, 16),
            status="pending",
            made_by=collector.username,
        )
    )
    for n, (code, day) in sorted(PLACED.items(), key=lambda kv: kv[1][1]):
        do_place_batch(
            day,
            session=session,
            actor=manager,
            settings=us,
            case_ids=[cases[n].id],
            agencies=[code],
            seed=n,
            days=90,
        )
    p13 = session.scalars(select(Placement).where(Placement.case_id == cases[13].id)).one()
    do_recall(p13, reason="manual", on=d(2026, 11, 10), session=session, actor=manager.username)
    for i, (n, day, amount) in enumerate(PAYMENTS):
        account = session.scalars(
            select(CollectionAccount).where(CollectionAccount.case_id == cases[n].id)
        ).one()
        session.add(
            AccountPayment(
                external_id=f"PAY{i:03d}",
                account_id=account.id,
                received_date=day,
                amount=amount,
                channel="bank_transfer",
            )
        )
    key = session.scalar(select(Borrower.external_id).where(Borrower.id == cases[21].borrower_id)) or ""
    attempt = ContactAttempt(
        source="collector",
        external_id="call-1",
        borrower_key=key,
        party="debtor",
        channel="call",
        destination_hash="x",
        destination_masked="138****0000",
        at=dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC),
        outcome="connected",
        made_by=a_user.username,
    )
    session.add(attempt)
    session.flush()
    for created, status in (
        (dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC), "confirmed"),
        (dt.datetime(2026, 11, 21, 3, tzinfo=dt.UTC), "dismissed"),
        (dt.datetime(2026, 10, 20, 3, tzinfo=dt.UTC), "confirmed"),
    ):
        session.add(
            QaFinding(
                attempt_id=attempt.id,
                rule="CN-CONTENT",
                severity="red_line",
                excerpt=str(created),
                made_by=a_user.username,
                status=status,
                created_at=created,
            )
        )
    c = complaints.Complaint
    for kind, agency, case, outcome in (
        ("complaint", "AGB", cases[22], None),  # penalised
        ("complaint", "AGA", cases[11], "not_upheld"),  # not upheld: no penalty
        ("dispute", "AGA", cases[12], None),  # a dispute of the debt is not a complaint
    ):
        session.add(
            c(
                kind=kind,
                source="hotline",
                category="collection_conduct",
                borrower_key=key,
                case_id=case.id,
                agency=agency,
                received_on=d(2026, 11, 18),
                deadline=d(2026, 12, 3),
                status="open" if outcome is None else "closed",
                outcome=outcome,
                created_by="t",
            )
        )
    session.flush()
    return {
        "A": agency_a,
        "B": agency_b,
        "a_user": a_user,
        "b_user": b_user,
        "manager": manager,
        "cases": cases,
    }


def _lines(statement: Any) -> list[tuple[Any, ...]]:
    return [
        (
            ln["bucket"],
            ln["placements"],
            ln["placed_amount"],
            ln["collected"],
            ln["recovery_bp"],
            ln["tier_min_bp"],
            ln["rate_bp"],
            ln["commission"],
        )
        for ln in statement.lines
    ]


def test_the_statement_matches_the_hand_worked_month_and_both_sides_confirm_it(
    session: Session, settings: Settings
) -> None:
    w = build(session, settings)
    tz = settings.tz
    a = do_issue_statement(w["A"], MONTH, session=session, actor=w["manager"], tz=tz, today=TODAY)
    b = do_issue_statement(w["B"], MONTH, session=session, actor=w["manager"], tz=tz, today=TODAY)
    assert _lines(a) == [row[1:] for row in EXPECTED_LINES if row[0] == 1]
    assert _lines(b) == [row[1:] for row in EXPECTED_LINES if row[0] == 2]
    for s, row in ((a, EXPECTED_TOTALS[0]), (b, EXPECTED_TOTALS[1])):
        _agency, _n, _placed, collected, gross, _c, complaint_pen, _q, qa_pen, net, payable = row
        assert (s.collected, s.gross, s.complaint_penalty, s.qa_penalty, s.net, s.payable) == (
            collected,
            gross,
            complaint_pen,
            qa_pen,
            net,
            payable,
        )
    assert (a.payable, b.payable) == (625_000, 292_667) and b.complaints_source == "register"
    assert [p["kind"] for p in a.penalties] == ["qa"] and [p["kind"] for p in b.penalties] == ["complaint"]
    # Both sides confirm; the lender's side is a user with agency.manage, the agency's one of its staff.
    with pytest.raises(StatementError):
        do_confirm_statement(a, w["a_user"], "lender", session=session)
    do_confirm_statement(a, w["manager"], "lender", session=session)
    assert a.status == "issued"
    with api_client(session, settings) as client:
        theirs = client.post(
            f"/api/v1/agency/statements/{a.id}/confirm",
            headers={"Authorization": f"Bearer {token_for(session, w['b_user'])}"},
        )
        assert theirs.status_code == 404  # agency B cannot see agency A's statement
        mine = {"Authorization": f"Bearer {token_for(session, w['a_user'])}"}
        ok = client.post(f"/api/v1/agency/statements/{a.id}/confirm", headers=mine)
        assert (
            ok.status_code == 200 and ok.json()["status"] == "confirmed" and ok.json()["payable"] == "6250.00"
        )
        xlsx = client.get(f"/api/v1/agency/statements/{a.id}/file?kind=xlsx&locale=en", headers=mine)
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        boss = {"Authorization": f"Bearer {token_for(session, w['manager'])}"}
        ranked = client.get(f"/api/v1/agencies/ranking?month={MONTH}", headers=boss)
        assert ranked.status_code == 200
        assert [(r["code"], r["collected"], r["payable"], r["complaints"]) for r in ranked.json()] == [
            ("AGA", "42500.00", "6250.00", 0),
            ("AGB", "21333.33", "2926.67", 1),
        ]
        listed = client.get(f"/api/v1/agencies/statements?month={MONTH}", headers=boss).json()
        assert {(x["agency"], x["status"]) for x in listed} == {("AGA", "confirmed"), ("AGB", "issued")}
        assert (
            client.get(f"/api/v1/agencies/statements/{b.id}/file?kind=xlsx", headers=boss).status_code == 200
        )
        shares = client.post("/api/v1/agencies/shares", json={"month": MONTH}, headers=boss).json()
        # B's one complaint on 3 placed cases is 3,333 per 10,000: over the veto, no share next month.
        assert [(x["month"], x["agency"], x["share_bp"]) for x in shares] == [
            ("2026-12", "AGA", 10_000),
            ("2026-12", "AGB", 0),
        ]
    assert a.agency_confirmed_by == w["a_user"].username and a.lender_confirmed_by == w["manager"].username
    with pytest.raises(StatementError):  # frozen once confirmed
        do_issue_statement(w["A"], MONTH, session=session, actor=w["manager"], tz=tz, today=TODAY)
    with pytest.raises(StatementError):
        do_confirm_statement(a, w["manager"], "lender", session=session)
    confirmations = session.scalars(
        select(LedgerEntry.payload).where(LedgerEntry.kind == "agency.statement_confirmed")
    ).all()
    assert [p["sha256"] for p in confirmations] == [a.sha256, a.sha256]  # both confirmed the same figures
    # The XLSX shows the same figures (yuan).
    wb = load_workbook(io.BytesIO(statement_xlsx(a, w["A"], locale="en", contract_ref="C-AGA")))
    ws = wb.active
    assert ws is not None
    cells = {str(r[0].value): [c.value for c in r] for r in ws.iter_rows() if r[0].value is not None}
    assert [float(v) for v in cells["M4"][1:4]] == [2, 150_000.00, 37_000.00]
    payable_row = next(r for r in ws.iter_rows() if r[6].value == "Payable")
    assert float(payable_row[7].value) == 6_250.00  # type: ignore[arg-type]
    with pytest.raises(AgencyError):  # a month that has not ended
        do_issue_statement(w["B"], "2026-12", session=session, actor=w["manager"], tz=tz, today=TODAY)


@requires_pdf
def test_the_statement_pdf_in_both_languages(session: Session, settings: Settings, tmp_path: Path) -> None:
    w = build(session, settings)
    s = do_issue_statement(w["A"], MONTH, session=session, actor=w["manager"], tz=settings.tz, today=TODAY)
    shots = Path(SHOTS or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for locale in ("zh_CN", "en"):
        doc = statement_pdf(s, w["A"], locale=locale, contract_ref="C-AGA")
        assert doc.pdf.startswith(b"%PDF") and len(doc.sha256) == 64
        path = shots / f"agency-statement-{locale}.pdf"
        path.write_bytes(doc.pdf)
        if PDFTOPPM:
            subprocess.run(
                [PDFTOPPM, "-png", "-r", "70", "-f", "1", "-l", "1", str(path), str(path.with_suffix(""))],
                check=True,
            )
            text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
            assert ("¥5,550.00" in text or "CNY 5,550.00" in text) and ("6,250.00" in text)


def test_recoup_report_agencies_prints_recovery_commission_and_complaints(settings: Settings) -> None:
    from recoup import cli as root
    from recoup import migrate
    from recoup.db import get_engine, session_scope

    s = get_settings()
    engine = get_engine(s)
    migrate.upgrade(engine)
    cipher_from_settings(s)  # before the transaction: it records the key's state
    with session_scope(engine) as session:
        build(session, s)
    root._mount()
    runner = CliRunner()
    out = runner.invoke(root.app, ["report", "agencies", "--month", MONTH, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    rows = {r["code"]: r for r in data["agencies"]}
    assert (
        rows["AGA"]["collected"],
        rows["AGA"]["gross"],
        rows["AGA"]["payable"],
        rows["AGA"]["complaints"],
    ) == (
        4_250_000,
        645_000,
        625_000,
        0,
    )
    assert (rows["AGB"]["collected"], rows["AGB"]["payable"], rows["AGB"]["complaints"]) == (
        2_133_333,
        292_667,
        1,
    )
    assert rows["AGA"]["rank"] == 1 and rows["AGA"]["recovery_bp"] == 2_023  # 4,250,000 / 21,000,000
    table = runner.invoke(root.app, ["report", "agencies", "--month", MONTH])
    assert table.exit_code == 0 and "AGA" in table.output and "¥6,250.00" in table.output
    bad = runner.invoke(root.app, ["report", "agencies", "--month", "2026-13"])
    assert bad.exit_code != 0
    engine.dispose()
