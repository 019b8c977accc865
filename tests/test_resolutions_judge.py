"""Judging plans, waivers and settlements against the lake's payments, worked by hand: a 先还后减 waiver
lapses when the money arrives late, a plan breaks on a missed instalment and its case returns to
collection, an honoured settlement closes its case as settled and earns a settlement certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import make_user
from pdf_support import requires_pdf
from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case, CaseTransition
from recoup.cases.service import _enter
from recoup.config import Settings, load_settings
from recoup.lake import Lake, book_as_of
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.flows import import_dir
from recoup.portfolio.models import AccountInstallment, Borrower, CollectionAccount
from recoup.resolutions.ask import do_request
from recoup.resolutions.certificates import CertificateRefusedError, do_issue_certificate
from recoup.resolutions.judge import do_judge_resolutions
from recoup.resolutions.models import Resolution, ResolutionInstalment

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), requires_pdf]

D = dt.date
NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 on 2026-12-02 in Shanghai
BORROWERS = "borrower_id,name\n" + "".join(f"J{i},借款人{i}\n" for i in range(1, 6))
LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    + "".join(
        f"K{i},J{i},CASH3,cash_loan,equal_principal,3000,18%,3,2026-08-01,active\n" for i in range(1, 6)
    )
)
PAY = "payment_id,loan_id,received_date,amount,channel,reverses\n"


def _import(tmp_path: Path, session: Session, lake: Lake, day: dt.date, files: dict[str, str]) -> None:
    d = tmp_path / day.isoformat()
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    import_dir(d, as_of=day, settings=load_settings(data_dir=tmp_path / "data"), lake=lake, session=session)


def _case(session: Session, key: str, state: CaseState = CaseState.NEGOTIATION) -> Case:
    """Borrower ``J<n>`` with loan ``K<n>`` in collections (M1), owing ¥800 penalty, ¥200 fees, ¥500
    interest and ¥2,500 principal overdue (¥4,000), and ¥5,000 principal not yet due."""
    b = session.scalars(select(Borrower).where(Borrower.external_id == key)).first()
    if b is None:
        b = Borrower(external_id=key, name="借款人", timezone="Asia/Shanghai")
        session.add(b)
        session.flush()
    case = Case(borrower_id=b.id, opened_on=D(2026, 11, 21), status="open", grade=1, grade_rule="r1")
    _enter(case, state, None, now=NOW, on=D(2026, 11, 21))
    session.add(case)
    session.flush()
    account = CollectionAccount(
        external_id="K" + key[1:],
        borrower_id=b.id,
        product_code="CASH3",
        product_type="cash_loan",
        repayment_method="equal_principal",
        currency="CNY",
        principal=300_000,
        annual_rate_bp=1800,
        term_months=3,
        disbursement_date=D(2026, 8, 1),
        loan_status="active",
        status="open",
        case_id=case.id,
        opened_on=D(2026, 11, 21),
        as_of=D(2026, 12, 1),
        outstanding_principal=750_000,
        overdue_amount=400_000,
        dpd=10,
    )
    session.add(account)
    session.flush()
    session.add_all(
        [
            AccountInstallment(
                account_id=account.id,
                seq=1,
                due_date=D(2026, 11, 21),
                principal_due=250_000,
                interest_due=50_000,
                fee_due=20_000,
                penalty_due=80_000,
            ),
            AccountInstallment(
                account_id=account.id,
                seq=2,
                due_date=D(2027, 1, 21),
                principal_due=500_000,
                interest_due=9_000,
            ),
        ]
    )
    session.flush()
    return case


def _judge(
    session: Session, lake: Lake, day: dt.date, in_collections: set[str] | None = None
) -> dict[str, int]:
    return do_judge_resolutions(
        day, session=session, book=book_as_of(day, session=session, lake=lake), in_collections=in_collections
    )


def _state(session: Session, res: Resolution) -> tuple[str, int, dt.date | None]:
    session.refresh(res)
    return res.status, res.paid_amount, res.ended_on


def test_a_pay_first_waiver_lapses_when_the_money_arrives_late(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _import(tmp_path, session, lake, D(2026, 12, 1), {"borrowers.csv": BORROWERS, "loans.csv": LOANS})
    lead = make_user(session, "team_lead")
    cases = [_case(session, f"J{i}") for i in (1, 2, 3)]
    # Each: waive the ¥800 penalty if ¥3,200 arrives by 2026-12-10 (grace 0, judged a day later).
    w1, w2, w3 = (
        do_request(
            c,
            lead,
            kind="waiver",
            waive=80_000,
            deadline=D(2026, 12, 10),
            session=session,
            settings=settings,
            now=NOW,
        )
        for c in cases
    )
    assert [w.status for w in (w1, w2, w3)] == ["active"] * 3  # within a team lead's own authority
    assert (w1.agreed_amount, w1.starts_on, w1.grace_days, w1.lag_days) == (320_000, D(2026, 12, 2), 0, 1)

    # Extract of 12-09: J1 paid ¥3,200 on 12-01, before the waiver was agreed (does not count); J2 ¥1,600
    # on 12-08; J3 ¥1,000 on 12-09.
    _import(
        tmp_path,
        session,
        lake,
        D(2026, 12, 9),
        {
            "payments.csv": PAY
            + "P1,K1,2026-12-01,3200,alipay,\nP2,K2,2026-12-08,1600,alipay,\nP3,K3,2026-12-09,1000,alipay,\n"
        },
    )
    # Extract of 12-11: J1 pays ¥3,200 on 12-11 (a day late); J2 the other ¥1,600 on 12-10 (on time, seen
    # a day later).
    _import(
        tmp_path,
        session,
        lake,
        D(2026, 12, 11),
        {"payments.csv": PAY + "P4,K1,2026-12-11,3200,alipay,\nP5,K2,2026-12-10,1600,alipay,\n"},
    )

    assert _judge(session, lake, D(2026, 12, 10)) == {"active": 3}
    assert _state(session, w3)[:2] == ("active", 100_000)
    # 12-11: J2 is honoured (¥3,200 by 12-10: the waiver takes effect); J1 and J3 wait for the extract lag.
    assert _judge(session, lake, D(2026, 12, 11)) == {"active": 2, "honoured": 1}
    assert _state(session, w2) == ("honoured", 320_000, D(2026, 12, 10))
    assert _state(session, w1)[0] == "active"
    # 12-12: the deadline and its lag have passed: J1's late ¥3,200 does not count, J3 paid ¥1,000 of
    # ¥3,200 — both waivers lapse (先还后减: nothing is waived).
    assert _judge(session, lake, D(2026, 12, 12)) == {"lapsed": 2}
    assert _state(session, w1) == ("lapsed", 0, D(2026, 12, 11))
    assert _state(session, w3) == ("lapsed", 100_000, D(2026, 12, 11))
    assert _judge(session, lake, D(2026, 12, 13)) == {}  # final: never judged again
    batches = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "resolution.judged")).all()
    assert [(b.payload["changed"], b.item_count) for b in batches] == [(1, 1), (2, 2)]
    assert cases[0].state == "negotiation"  # a waiver's case keeps its state


def test_a_plan_breaks_on_a_missed_instalment_and_the_case_returns_to_collection(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _import(tmp_path, session, lake, D(2026, 12, 1), {"borrowers.csv": BORROWERS, "loans.csv": LOANS})
    collector = make_user(session, "collector")
    case = _case(session, "J4", CaseState.EARLY_COLLECTION)
    plan = do_request(
        case,
        collector,
        kind="plan",
        instalments=2,
        first_due=D(2026, 12, 15),
        session=session,
        settings=settings,
        now=NOW,
    )
    assert (plan.status, plan.approval_basis, case.state) == ("active", "own_authority", "plan")
    rows = session.scalars(
        select(ResolutionInstalment)
        .where(ResolutionInstalment.resolution_id == plan.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    assert [(r.due_date, r.amount) for r in rows] == [(D(2026, 12, 15), 200_000), (D(2027, 1, 15), 200_000)]
    # Instalment 1 paid on 12-17, inside its 3 days' grace; instalment 2 never.
    _import(
        tmp_path, session, lake, D(2026, 12, 17), {"payments.csv": PAY + "Q1,K4,2026-12-17,2000,alipay,\n"}
    )
    _import(tmp_path, session, lake, D(2027, 1, 20), {"payments.csv": PAY + "Q2,K1,2027-01-10,10,alipay,\n"})
    assert _judge(session, lake, D(2026, 12, 19)) == {"active": 1}
    session.refresh(rows[0])
    assert (rows[0].paid, rows[0].status) == (200_000, "paid")
    assert _judge(session, lake, D(2027, 1, 19)) == {"active": 1}  # 1-15 + 3 days' grace + 1 day's lag
    assert _judge(session, lake, D(2027, 1, 20)) == {"broken": 1}
    assert _state(session, plan) == ("broken", 200_000, D(2027, 1, 19))
    assert plan.missed_seq == 2
    session.refresh(case)
    last = session.scalars(
        select(CaseTransition).where(CaseTransition.case_id == case.id).order_by(CaseTransition.id.desc())
    ).first()
    assert case.state == "negotiation" and last is not None
    assert (last.from_state, last.to_state, last.actor) == ("plan", "negotiation", "cycle")


def test_an_honoured_settlement_closes_the_case_and_earns_a_certificate(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _import(tmp_path, session, lake, D(2026, 12, 1), {"borrowers.csv": BORROWERS, "loans.csv": LOANS})
    manager = make_user(session, "manager")
    case = _case(session, "J5")
    account = session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id)).one()
    # Whole balance ¥9,000 (¥4,000 overdue + ¥5,000 principal not yet due); pay ¥7,000, waive ¥2,000:
    # penalty 800, fee 200, interest 500, principal 500.
    res = do_request(
        case,
        manager,
        kind="settlement",
        pay=700_000,
        deadline=D(2026, 12, 20),
        session=session,
        settings=settings,
        now=NOW,
        locale="en",
    )
    assert res.waived == {"penalty": 80_000, "fee": 20_000, "interest": 50_000, "principal": 50_000}
    # Principal waived in M1: no row below TOP covers it, so the risk committee (admin) approves, and only
    # with hardship evidence attached.
    assert res.status == "pending" and res.required_role == "admin"
    assert res.rules[-2:] == ["principal:TOP", "total:TL-TOTAL"]
    from recoup.resolutions.decide import do_approve
    from recoup.resolutions.service import do_add_evidence

    admin = make_user(session, "admin")
    do_add_evidence(
        res.id, manager, "UNEMP-2026-7", "unemployment certificate", session=session, settings=settings
    )
    do_approve(res.id, admin, session=session, settings=settings, now=NOW)
    assert case.state == "settlement"
    with pytest.raises(CertificateRefusedError):
        do_issue_certificate(
            account.id, session=session, settings=settings, actor="x", locale="en", book=None
        )
    _import(
        tmp_path,
        session,
        lake,
        D(2026, 12, 19),
        {"payments.csv": PAY + "S1,K5,2026-12-18,7000,bank_transfer,\n"},
    )
    # Honoured; the core system has not applied the waiver yet (K5 is still in collections): the case waits.
    assert _judge(session, lake, D(2026, 12, 19), in_collections={"K5"}) == {"honoured": 1}
    session.refresh(case)
    assert (res.status, res.ended_on, case.state) == ("honoured", D(2026, 12, 18), "settlement")
    # The next day K5 has left collections: the case closes as settled.
    assert _judge(session, lake, D(2026, 12, 20), in_collections=set()) == {"settled": 1}
    session.refresh(case)
    assert (case.state, case.close_reason) == ("closed", "settled")
    cert = do_issue_certificate(
        account.id,
        session=session,
        settings=settings,
        actor=manager.username,
        locale="en",
        book=None,
        now=NOW + dt.timedelta(days=19),
    )
    assert cert.basis == "settled" and cert.facts is not None
    assert (cert.facts["settled_paid"], cert.facts["settled_waived"], cert.facts["ended_on"]) == (
        700_000,
        200_000,
        "2026-12-18",
    )
    facts = session.get(LedgerEntry, cert.facts_seq)
    assert facts is not None and facts.kind == "certificate.facts"
    assert facts.payload["facts_sha256"] == cert.facts_sha256
    assert session.get(LedgerEntry, cert.ledger_seq).payload["sha256"] == cert.sha256  # type: ignore[union-attr]
    again = do_issue_certificate(
        account.id, session=session, settings=settings, actor="x", locale="en", book=None
    )
    assert again.id == cert.id
