"""``recoup report collectors``: the collector KPI table read from the database, figures worked by hand."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import make_case, make_phone, make_user
from recoup.auth.models import AppUser
from recoup.cases.models import Case, CaseHolding, PromiseToPay
from recoup.contact.models import ContactAttempt, QaFinding
from recoup.portfolio.models import AccountPayment, Borrower, CollectionAccount
from recoup.reporting.collectors import collector_report, parse_month, previous_month

D = dt.date
DEC = (D(2026, 12, 1), D(2026, 12, 31))
_n = iter(range(1, 10_000))


def _keys(session: Session, case: Case) -> tuple[str, str, int]:
    """(borrower external id, loan external id, account id) of a factory case."""
    borrower = session.scalar(select(Borrower.external_id).where(Borrower.id == case.borrower_id))
    loan, account = session.execute(
        select(CollectionAccount.external_id, CollectionAccount.id).where(
            CollectionAccount.case_id == case.id
        )
    ).one()
    assert borrower is not None
    return borrower, loan, account


def _attempt(
    session: Session,
    case: Case,
    user: str,
    at: dt.datetime,
    *,
    outcome: str = "conversation",
    disposition: str | None = None,
    party: str = "debtor",
    source: str = "collector",
    by_loan: bool = True,
) -> ContactAttempt:
    borrower, loan, _ = _keys(session, case)
    a = ContactAttempt(
        source=source,
        external_id=f"A{next(_n)}",
        borrower_key=borrower,
        debt_key=loan if by_loan else None,
        party=party,
        channel="call",
        destination_hash="h",
        destination_masked="138****8000",
        at=at,
        outcome=outcome,
        disposition=disposition,
        made_by=user,
    )
    session.add(a)
    session.flush()
    return a


def _promise(
    session: Session, case: Case, user: str, made: dt.date, due: dt.date, amount: int, status: str, kept: int
) -> None:
    session.add(
        PromiseToPay(
            case_id=case.id,
            made_at=dt.datetime.combine(made, dt.time(2), tzinfo=dt.UTC),
            made_on=made,
            by="third_party" if status == "not_counted" else "debtor",
            amount=amount,
            due_date=due,
            status=status,
            kept_amount=kept,
            made_by=user,
        )
    )


def _utc(d: int, h: int) -> dt.datetime:
    return dt.datetime(2026, 12, d, h, tzinfo=dt.UTC)


def _floor(session: Session) -> tuple[AppUser, AppUser]:
    """Alice holds c1, c2; Bob holds c3, c4 (all from 2026-12-01, allocated 150000 fen each)."""
    alice = make_user(session, "collector", name="alice")
    bob = make_user(session, "collector", name="bob")
    alice.display_name, bob.display_name = "艾丽丝", "鲍勃"
    c1, c2 = make_case(session, holder=alice), make_case(session, holder=alice)
    c3 = make_case(session, holder=bob)
    make_case(session, holder=bob)  # c4, never tried
    unheld = make_case(session)
    for h in session.scalars(select(CaseHolding)):
        h.allocated_amount = 150_000
    make_phone(session, c1)

    # Alice: 4 attempts count, 2 right party; both her cases covered.
    _attempt(session, c1, "alice", _utc(5, 2), disposition="promise_to_pay")  # RPC (conversation, debtor)
    _attempt(session, c1, "alice", _utc(6, 2), outcome="no_answer")  # not RPC
    _attempt(session, c2, "alice", _utc(6, 3), party="emergency_contact", by_loan=False)  # not RPC, covers c2
    # 2026-11-30 17:00 UTC is 2026-12-01 01:00 in Asia/Shanghai: in December. RPC by disposition.
    _attempt(
        session, c1, "alice", dt.datetime(2026, 11, 30, 17, tzinfo=dt.UTC), outcome="failed",
        disposition="right_party_contact",
    )  # fmt: skip
    # Not counted: the dispatcher's message, an attempt in November (local time), one in January.
    _attempt(session, c1, "alice", _utc(7, 2), source="dispatcher")
    _attempt(session, c1, "alice", dt.datetime(2026, 11, 30, 15, tzinfo=dt.UTC))
    qa_on = _attempt(session, c1, "alice", dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC))  # 01-01 local

    # Bob: 1 attempt, no right party, covers c3 only.
    _attempt(session, c3, "bob", _utc(8, 2), outcome="no_answer")

    # Promises: Alice's kept one and broken one; a third party's (not counted).
    _promise(session, c1, "alice", D(2026, 12, 5), D(2026, 12, 10), 100_000, "kept", 100_000)
    _promise(session, c1, "alice", D(2026, 12, 12), D(2026, 12, 15), 50_000, "broken", 0)
    _promise(session, c2, "alice", D(2026, 12, 6), D(2026, 12, 9), 30_000, "not_counted", 0)

    # Payments: 100000 on c1 (held by Alice), 70000 on the unheld case (nobody's), one in January.
    for case, day, amount in ((c1, D(2026, 12, 10), 100_000), (unheld, D(2026, 12, 11), 70_000),
                              (c3, D(2027, 1, 2), 40_000)):  # fmt: skip
        session.add(
            AccountPayment(
                external_id=f"P{next(_n)}",
                account_id=_keys(session, case)[2],
                received_date=day,
                amount=amount,
                channel="bank",
            )
        )
    # A major QA finding about Alice in December, a minor one dismissed.
    for sev, status in (("major", "confirmed"), ("minor", "dismissed")):
        session.add(
            QaFinding(
                attempt_id=qa_on.id,
                rule=f"r-{sev}",
                severity=sev,
                made_by="alice",
                status=status,
                created_at=_utc(20, 2),
            )
        )
    session.flush()
    return alice, bob


def test_report_figures_worked_by_hand(session: Session) -> None:
    alice, _bob = _floor(session)
    report = collector_report(*DEC, session=session)
    rows = {r["username"]: r for r in report.iter_rows(named=True)}
    assert list(rows) == ["alice", "bob", None]  # one row per collector, then the overall row
    a, b, total = rows["alice"], rows["bob"], rows[None]
    assert (a["collector_id"], a["display_name"], b["display_name"]) == (alice.id, "艾丽丝", "鲍勃")

    # Alice: rpc 2 of 4 attempts; 2 of 2 cases covered; 2 counted promises per 2 RPC; 1 kept of 2 due.
    assert (a["attempts"], a["rpc"], a["rpc_rate"]) == (4, 2, 0.5)
    assert (a["cases_held"], a["cases_covered"], a["coverage"]) == (2, 2, 1.0)
    assert (a["promises_made"], a["promise_rate"]) == (2, 1.0)
    assert (a["promises_due"], a["promises_kept"], a["kept_rate"]) == (2, 1, 0.5)
    assert (a["promised_amount_due"], a["kept_amount_due"]) == (150_000, 100_000)
    assert a["kept_rate_amount"] == pytest.approx(100_000 / 150_000)
    assert (a["collected"], a["allocated_amount"]) == (100_000, 300_000)
    assert a["recovery_rate"] == pytest.approx(1 / 3)
    assert (a["qa_findings"], a["qa_major"], a["complaints"]) == (1, 1, 0)
    # Pay: below the first tier (40 %); 1 % of 100000 = 1000, less 0.1 % for the major finding = 100.
    assert (a["tier"], a["base_pay"], a["bonus_pay"], a["penalty"], a["pay"]) == (0, 1000, 0, 100, 900)

    # Bob: 1 attempt, no RPC; 1 of 2 cases covered; no promise; nothing collected (January's is not).
    assert (b["attempts"], b["rpc"], b["rpc_rate"]) == (1, 0, 0.0)
    assert (b["cases_held"], b["cases_covered"], b["coverage"]) == (2, 1, 0.5)
    assert (b["promises_made"], b["promise_rate"], b["promises_due"], b["kept_rate"]) == (0, None, 0, None)
    assert (b["collected"], b["recovery_rate"], b["pay"]) == (0, 0.0, 0)

    # Overall: pooled, not a mean of rates; the unheld case's payment is nobody's.
    assert (total["attempts"], total["rpc"], total["rpc_rate"]) == (5, 2, 0.4)
    assert (total["cases_held"], total["cases_covered"], total["coverage"]) == (4, 3, 0.75)
    assert (total["promise_rate"], total["kept_rate"]) == (1.0, 0.5)
    assert (total["collected"], total["pay"], total["tier"]) == (100_000, 900, None)


def test_empty_database_gives_an_empty_report(session: Session) -> None:
    report = collector_report(*DEC, session=session)
    assert report.is_empty() and "pay" in report.columns


def test_months() -> None:
    assert parse_month("2026-02") == (D(2026, 2, 1), D(2026, 2, 28))
    assert previous_month(D(2027, 1, 15)) == (D(2026, 12, 1), D(2026, 12, 31))
    assert previous_month(D(2026, 3, 1)) == (D(2026, 2, 1), D(2026, 2, 28))


# --------------------------------------------------------------------------------------------------- CLI


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    from recoup.cli import main

    monkeypatch.setenv("RECOUP_PII_KEY", base64.b64encode(bytes(range(32))).decode())
    monkeypatch.setattr(sys, "argv", ["recoup", "report", "collectors", *args])
    old = os.umask(0o022)
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        os.umask(old)
    return exc.value.code or 0, capsys.readouterr()


def test_cli_json_on_an_empty_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    book = tmp_path / "kpi.xlsx"
    code, out = _main(monkeypatch, capsys, "--month", "2026-12", "--json", "--xlsx", str(book))
    assert code == 0, out.err
    doc = json.loads(out.out)  # one JSON object
    assert (doc["month"], doc["start"], doc["end"]) == ("2026-12", "2026-12-01", "2026-12-31")
    assert (doc["collectors"], doc["total"]) == ([], None)
    ws = load_workbook(book).active
    assert ws is not None
    assert ws.cell(2, 2).value == "Username · 用户名"


def test_cli_bad_month_is_a_recoup_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _main(monkeypatch, capsys, "--month", "2026-13", "--json")
    assert code == 64  # EX_USAGE (docs/errors.md)
    assert json.loads(out.out)["error"]["code"] == "reporting.bad_month"  # with --json the envelope is stdout
    code, out = _main(monkeypatch, capsys, "--month", "2026-13")
    assert code not in (0, 1, 2) and "2026-13" in out.err and "Traceback" not in out.err


def test_a_successful_assist_shares_the_credit(session: Session) -> None:
    from recoup.cases.work_models import AssistRequest

    holder = make_user(session, "collector", name="holder1")
    helper = make_user(session, "field_agent", name="helper1")
    case = make_case(session, holder=holder, as_of=D(2026, 12, 1))
    session.add(
        AssistRequest(
            case_id=case.id,
            kind="field",
            assignee_id=helper.id,
            requested_by=holder.username,
            deadline=D(2026, 12, 10),
            status="done",
            result="success",
            created_at=dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC),
            done_at=dt.datetime(2026, 12, 4, 2, tzinfo=dt.UTC),
        )
    )
    account = _keys(session, case)[2]
    session.add(
        AccountPayment(
            external_id="P-assist",
            account_id=account,
            received_date=D(2026, 12, 6),
            amount=100_001,
            channel="bank",
        )
    )
    session.flush()
    report = collector_report(*DEC, session=session)
    got = {r["username"]: r["collected"] for r in report.iter_rows(named=True) if r["username"]}
    # 30 % (rounded down, in fen) to the helper, the rest — with the odd fen — to the holder.
    assert got["helper1"] == 30_000 and got["holder1"] == 70_001
