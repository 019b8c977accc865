"""Plans, waivers and settlements: the approval matrix decides who approves (hand-worked amounts and
shares), two-step approval never by the requester, agencies never approve, the monthly waiver budget,
offer packs, hardship evidence, and the agreement PDF's hash in the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import make_case, make_team, make_user
from pdf_support import requires_pdf
from recoup.cases.models import Case, CaseTransition, WorkerProfile
from recoup.config import Settings
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import AccountInstallment, CollectionAccount
from recoup.resolutions.ask import do_request
from recoup.resolutions.decide import do_approve, do_reject, do_withdraw
from recoup.resolutions.documents import DocumentAlteredError, document_path, verify_document
from recoup.resolutions.matrix_load import do_save_matrix, load_builtin
from recoup.resolutions.models import ResolutionDocument, ResolutionInstalment
from recoup.resolutions.service import (
    BudgetExceededError,
    ResolutionForbiddenError,
    ResolutionStateError,
    do_add_evidence,
)
from recoup.resolutions.terms import ResolutionRefusedError

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), requires_pdf]

#: Where the rendered pages go to be looked at (read before the fixtures clear RECOUP_* variables).
SHOTS = os.environ.get("RECOUP_SCREENSHOTS")
# 10:00 in Shanghai on 2026-12-02: the business day of every request below.
NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 2)


def give_schedule(
    session: Session, case: Case, *, penalty: int, fee: int, interest: int, principal: int, future: int = 0
) -> CollectionAccount:
    """One overdue instalment owing exactly these parts (and one not yet due of ``future`` principal)."""
    account = session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id)).one()
    session.add(
        AccountInstallment(
            account_id=account.id,
            seq=1,
            due_date=dt.date(2026, 11, 21),
            principal_due=principal,
            interest_due=interest,
            fee_due=fee,
            penalty_due=penalty,
        )
    )
    if future:
        session.add(
            AccountInstallment(
                account_id=account.id,
                seq=2,
                due_date=dt.date(2027, 1, 21),
                principal_due=future,
                interest_due=900,
            )
        )
    session.flush()
    return account


@pytest.fixture
def floor(session: Session) -> dict[str, object]:
    """A team of two collectors with their lead, a manager, an agency user, and a case held by ``c1`` in
    M1 (10 days past due) owing penalty ¥800, fees ¥200, interest ¥500, principal ¥2,500 (¥4,000)."""
    lead = make_user(session, "team_lead")
    team = make_team(session, "M1 team A", lead=lead)
    session.add(WorkerProfile(user_id=lead.id, team_id=team.id, kind="collector", pools=["m1"], skills={}))
    c1 = make_user(session, "collector", team=team)
    c2 = make_user(session, "collector", team=team)
    manager = make_user(session, "manager")
    agency = make_user(session, "agency")
    case = make_case(session, holder=c1, dpd=10, overdue=400_000)
    give_schedule(
        session, case, penalty=80_000, fee=20_000, interest=50_000, principal=250_000, future=500_000
    )
    return {
        "lead": lead,
        "team": team,
        "c1": c1,
        "c2": c2,
        "manager": manager,
        "agency": agency,
        "case": case,
    }


def test_the_matrix_names_the_role_hand_worked(session: Session, settings: Settings, floor: dict) -> None:
    """Waiving the whole penalty (¥800 = 100 % of it; 20 % of the ¥4,000 overdue) is above a collector's
    ¥500 penalty limit (C-PEN) and within a team lead's (TL-PEN-FEE ≤ ¥5,000; TL-TOTAL ≤ 30 %)."""
    res = do_request(
        floor["case"],
        floor["c1"],
        kind="waiver",
        waive=80_000,
        deadline=TODAY + dt.timedelta(days=5),
        session=session,
        settings=settings,
        now=NOW,
        reason="hardship after job loss",
    )
    assert res.status == "pending"
    assert (res.owed_penalty, res.owed_fee, res.owed_interest, res.owed_principal) == (
        80_000,
        20_000,
        50_000,
        250_000,
    )
    assert res.waived == {"penalty": 80_000, "fee": 0, "interest": 0, "principal": 0}
    assert (res.agreed_amount, res.total_due, res.deadline) == (320_000, 320_000, dt.date(2026, 12, 7))
    assert (res.bucket, res.required_role, res.team) == ("M1", "team_lead", "M1 team A")
    assert res.rules == ["penalty:TL-PEN-FEE", "total:TL-TOTAL"]
    assert res.matrix_version == load_builtin().label

    # The collector who asked cannot approve it: 403 naming the role, the line and the collector's limit.
    with pytest.raises(ResolutionForbiddenError) as err:
        do_approve(res.id, floor["c1"], session=session, settings=settings, now=NOW)
    message = err.value.message
    assert err.value.http_status == 403 and err.value.code == "resolution.not_authorised"
    assert "needs a team_lead or above" in message and "collector may not" in message
    assert "penalty waived ¥800.00, 100% of what is owed; rule TL-PEN-FEE" in message
    assert "a collector may approve up to ¥500.00 and 100% (rule C-PEN)" in message
    assert "须由组长或以上审批" in message
    # Neither can the other collector, nor an agency.
    with pytest.raises(ResolutionForbiddenError):
        do_approve(res.id, floor["c2"], session=session, settings=settings, now=NOW)
    with pytest.raises(ResolutionForbiddenError) as agency:
        do_approve(res.id, floor["agency"], session=session, settings=settings, now=NOW)
    assert "agencies may request waivers and plans, never approve them" in agency.value.message

    done = do_approve(res.id, floor["lead"], session=session, settings=settings, now=NOW, note="checked")
    assert (done.status, done.decided_by, done.decider_role, done.approval_basis) == (
        "active",
        floor["lead"].username,
        "team_lead",
        "two_step",
    )
    kinds = [e.kind for e in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))]
    assert kinds[-3:] == ["resolution.requested", "resolution.approved", "resolution.agreement"]
    assert floor["case"].state == "allocated"  # a waiver leaves the case's state alone


def test_within_own_authority_a_collector_approves_in_one_step(
    session: Session, settings: Settings, floor: dict
) -> None:
    # ¥300 of penalty: 37.5 % of it (C-PEN ≤ ¥500), 7.5 % of the balance (C-TOTAL ≤ ¥500, ≤ 10 %).
    res = do_request(
        floor["case"], floor["c1"], kind="waiver", waive=30_000, session=session, settings=settings, now=NOW
    )
    assert (res.status, res.required_role, res.approval_basis, res.decided_by) == (
        "active",
        "collector",
        "own_authority",
        floor["c1"].username,
    )
    assert res.rules == ["penalty:C-PEN", "total:C-TOTAL"]
    # One live resolution per case.
    with pytest.raises(ResolutionStateError):
        do_request(
            floor["case"], floor["c1"], kind="waiver", waive=100, session=session, settings=settings, now=NOW
        )


def test_an_agency_asks_but_never_approves_even_within_a_pack(
    session: Session, settings: Settings, floor: dict
) -> None:
    case = make_case(session, holder=floor["agency"], dpd=5, overdue=400_000)
    give_schedule(session, case, penalty=80_000, fee=20_000, interest=50_000, principal=250_000)
    res = do_request(
        case,
        floor["agency"],
        kind="waiver",
        waive=80_000,
        pack_id="M1-PENALTY-7D",
        deadline=TODAY + dt.timedelta(days=7),
        session=session,
        settings=settings,
        now=NOW,
    )
    assert (res.status, res.requester_role, res.required_role) == ("pending", None, "team_lead")
    done = do_approve(res.id, floor["manager"], session=session, settings=settings, now=NOW)
    assert done.status == "active" and done.decider_role == "manager"  # a role above the one named


def test_a_pack_preapproves_and_its_limits_hold(session: Session, settings: Settings, floor: dict) -> None:
    with pytest.raises(ResolutionRefusedError) as late:
        do_request(
            floor["case"],
            floor["c1"],
            kind="waiver",
            waive=80_000,
            pack_id="M1-PENALTY-7D",
            deadline=TODAY + dt.timedelta(days=8),
            session=session,
            settings=settings,
            now=NOW,
        )
    assert late.value.details["rule"] == "pack" and "later than 7 days" in late.value.message
    with pytest.raises(ResolutionRefusedError) as fee:
        do_request(
            floor["case"],
            floor["c1"],
            kind="waiver",
            waive=90_000,
            pack_id="M1-PENALTY-7D",
            session=session,
            settings=settings,
            now=NOW,
        )
    assert "the pack waives no fee" in fee.value.message
    res = do_request(
        floor["case"],
        floor["c1"],
        kind="waiver",
        waive=80_000,
        pack_id="M1-PENALTY-7D",
        deadline=TODAY + dt.timedelta(days=7),
        session=session,
        settings=settings,
        now=NOW,
    )
    assert (res.status, res.approval_basis, res.required_role) == (
        "active",
        "pack:M1-PENALTY-7D",
        "team_lead",
    )


def test_principal_needs_hardship_evidence_and_a_manager(
    session: Session, settings: Settings, floor: dict
) -> None:
    case = make_case(session, holder=floor["c1"], dpd=130, overdue=400_000)  # M5
    give_schedule(session, case, penalty=80_000, fee=20_000, interest=50_000, principal=250_000)
    # Waive ¥2,000: penalty 800, fee 200, interest 500, principal 500 (20 % of it, M-PRINCIPAL ≤ 30 %);
    # the total is 50 % of ¥4,000 (M-TOTAL ≤ 50 %).
    res = do_request(
        case, floor["c1"], kind="waiver", waive=200_000, session=session, settings=settings, now=NOW
    )
    assert res.waived == {"penalty": 80_000, "fee": 20_000, "interest": 50_000, "principal": 50_000}
    assert (res.bucket, res.required_role) == ("M5", "manager")
    assert "principal:M-PRINCIPAL" in res.rules and "total:M-TOTAL" in res.rules
    with pytest.raises(ResolutionForbiddenError):
        do_approve(res.id, floor["lead"], session=session, settings=settings, now=NOW)
    with pytest.raises(ResolutionRefusedError) as missing:
        do_approve(res.id, floor["manager"], session=session, settings=settings, now=NOW)
    assert missing.value.details["rule"] == "evidence"
    do_add_evidence(
        res.id, floor["c1"], "HOSP-2026-0042", "hospital discharge note", session=session, settings=settings
    )
    assert (
        do_approve(res.id, floor["manager"], session=session, settings=settings, now=NOW).status == "active"
    )


def test_the_monthly_budget_refuses_and_says_what_is_left(
    session: Session, settings: Settings, floor: dict
) -> None:
    payload = dict(load_builtin().payload)
    payload["budget"] = {"monthly": "20000.00", "teams": {"M1 team A": "1000.00"}}
    do_save_matrix(payload, session=session, actor="test", minor_digits=settings.minor_digits)
    first = do_request(  # ¥300 within the collector's authority: uses ¥300 of ¥1,000
        floor["case"], floor["c1"], kind="waiver", waive=30_000, session=session, settings=settings, now=NOW
    )
    assert first.status == "active" and first.matrix_version == "default@1"
    other = make_case(session, holder=floor["c2"], dpd=10, overdue=400_000)
    give_schedule(session, other, penalty=80_000, fee=20_000, interest=50_000, principal=250_000)
    with pytest.raises(BudgetExceededError) as over:
        do_request(
            other, floor["c2"], kind="waiver", waive=80_000, session=session, settings=settings, now=NOW
        )
    assert over.value.details == {
        "team": "M1 team A",
        "month": "2026-12",
        "limit": 100_000,
        "used": 30_000,
        "left": 70_000,
        "asked": 80_000,
    }
    assert "has ¥700.00 left of its ¥1,000.00 waiver budget for 2026-12" in over.value.message
    # Withdrawn or rejected requests use nothing; a pending one is checked again at approval.
    pending = do_request(
        other, floor["c2"], kind="waiver", waive=60_000, session=session, settings=settings, now=NOW
    )
    assert pending.status == "pending"  # ¥600 of penalty is above C-PEN
    do_reject(pending.id, floor["lead"], session=session, settings=settings, now=NOW, note="no hardship")
    assert pending.status == "rejected"


def test_a_plan_moves_the_case_and_its_agreement_is_in_the_ledger(
    session: Session, settings: Settings, floor: dict
) -> None:
    # ¥4,000 overdue in 3 instalments, interest frozen: 133,333 + 133,333 + 133,334 (money.schedule).
    res = do_request(
        floor["case"],
        floor["c1"],
        kind="plan",
        instalments=3,
        first_due=dt.date(2026, 12, 15),
        session=session,
        settings=settings,
        now=NOW,
        locale="en",
    )
    assert (res.status, res.required_role, res.rules) == ("active", "collector", ["plan:C-PLAN"])
    rows = session.scalars(
        select(ResolutionInstalment)
        .where(ResolutionInstalment.resolution_id == res.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    assert [(r.due_date, r.amount) for r in rows] == [
        (dt.date(2026, 12, 15), 133_333),
        (dt.date(2027, 1, 15), 133_333),
        (dt.date(2027, 2, 15), 133_334),
    ]
    moves = session.scalars(
        select(CaseTransition.to_state).where(CaseTransition.case_id == floor["case"].id)
    ).all()
    assert moves == ["early_collection", "negotiation", "plan"] and floor["case"].state == "plan"
    doc = session.scalars(select(ResolutionDocument).where(ResolutionDocument.resolution_id == res.id)).one()
    entry = session.get(LedgerEntry, doc.ledger_seq)
    assert entry is not None and entry.kind == "resolution.agreement"
    assert entry.payload["sha256"] == doc.sha256 and entry.payload["resolution_id"] == res.id
    assert verify_document(doc, session=session, settings=settings).sha256 == doc.sha256
    path = document_path(doc, settings)
    assert path.read_bytes().startswith(b"%PDF-") and oct(path.stat().st_mode)[-3:] == "600"
    path.write_bytes(path.read_bytes() + b"\n% one more line")
    with pytest.raises(DocumentAlteredError) as altered:
        verify_document(doc, session=session, settings=settings)
    assert altered.value.code == "document.altered" and altered.value.details["reason"] == "hash"


def test_refusals_name_their_rule(session: Session, settings: Settings, floor: dict) -> None:
    case, c1 = floor["case"], floor["c1"]
    for kwargs, rule in (
        ({"kind": "waiver"}, "amount"),
        ({"kind": "waiver", "waive": 0}, "amount"),
        ({"kind": "waiver", "waive": 10**9}, "amount"),
        ({"kind": "waiver", "waive": 100, "deadline": TODAY + dt.timedelta(days=31)}, "deadline"),
        ({"kind": "plan", "instalments": 1}, "instalments"),
        ({"kind": "plan", "instalments": 3, "first_due": TODAY - dt.timedelta(days=1)}, "first_due"),
        ({"kind": "settlement", "pay": 100, "base": "overdue"}, "base"),
        ({"kind": "loan", "pay": 100}, "kind"),
        ({"kind": "waiver", "waive": 100, "pack_id": "NOPE"}, "pack"),
    ):
        with pytest.raises(ResolutionRefusedError) as err:
            do_request(case, c1, session=session, settings=settings, now=NOW, **kwargs)  # type: ignore[arg-type]
        assert err.value.details["rule"] == rule, (kwargs, err.value.message)
    res = do_request(case, c1, kind="waiver", waive=60_000, session=session, settings=settings, now=NOW)
    with pytest.raises(ResolutionForbiddenError):
        do_withdraw(res.id, floor["c2"], session=session, settings=settings)
    assert do_withdraw(res.id, c1, session=session, settings=settings).status == "withdrawn"
    with pytest.raises(ResolutionStateError):
        do_approve(res.id, floor["lead"], session=session, settings=settings)


def test_the_shipped_matrix_file_is_valid_and_versioned(tmp_path: Path) -> None:
    m = load_builtin()
    assert m.label.startswith("default@builtin.") and m.ladder == (
        "collector",
        "team_lead",
        "manager",
        "admin",
    )
    assert [p.id for p in m.packs] == ["M1-PENALTY-7D", "M1M2-PLAN-3", "M4-SETTLE-30"]
    assert m.waiver_table.rows[0].when == {
        "bucket": {"in": ["M1", "M2"]},
        "component": {"in": ["penalty"]},
        "amount": {"le": 50_000},
        "pct_bp": {"le": 10_000},
    }


def test_the_agreement_and_the_certificate_render_with_the_cjk_font(
    session: Session, settings: Settings, floor: dict, tmp_path: Path
) -> None:
    """Both documents as a borrower and a judge read them: Chinese with the CJK font embedded, the
    amounts and dates, 先还后减, and on the certificate the ledger entry of its facts. A page of each is
    rendered with pdftoppm (saved to RECOUP_SCREENSHOTS when set, to look at)."""
    import shutil
    import subprocess

    from pdf_support import PDFTOPPM
    from recoup.resolutions.certificates import do_issue_certificate

    plan = do_request(
        floor["case"],
        floor["c1"],
        kind="plan",
        instalments=3,
        waive=30_000,
        first_due=dt.date(2026, 12, 15),
        session=session,
        settings=settings,
        now=NOW,
        locale="zh_CN",
    )
    agreement = session.scalars(
        select(ResolutionDocument).where(ResolutionDocument.resolution_id == plan.id)
    ).one()
    # A settlement honoured (set by hand here; tests/test_resolutions_judge.py judges one from the lake).
    case = make_case(session, holder=floor["c1"], dpd=130, overdue=400_000)
    account = give_schedule(session, case, penalty=80_000, fee=20_000, interest=50_000, principal=250_000)
    settled = do_request(
        case,
        floor["manager"],
        kind="settlement",
        pay=350_000,
        base="whole",
        deadline=TODAY + dt.timedelta(days=10),
        session=session,
        settings=settings,
        now=NOW,
    )
    assert settled.status == "active"  # ¥500 of penalty in M5: within a manager's authority
    settled.status, settled.ended_on, settled.paid_amount = "honoured", dt.date(2026, 12, 9), 350_000
    cert = do_issue_certificate(
        account.id,
        session=session,
        settings=settings,
        actor="m",
        locale="zh_CN",
        book=None,
        now=NOW + dt.timedelta(days=8),
    )
    texts = {}
    shots = Path(SHOTS or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for name, doc in (("agreement", agreement), ("certificate", cert)):
        pdf = document_path(doc, settings)
        if shutil.which("pdftotext"):
            texts[name] = subprocess.run(
                ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
            ).stdout
        if shutil.which("pdffonts"):
            fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
            assert "NotoSansCJK" in fonts.replace(" ", "").replace("-", ""), fonts
        if PDFTOPPM:
            subprocess.run(
                [
                    PDFTOPPM,
                    "-png",
                    "-r",
                    "70",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    str(pdf),
                    str(shots / f"resolutions-{name}"),
                ],
                check=True,
            )
            assert any(shots.glob(f"resolutions-{name}*.png"))
    if texts:
        a, c = texts["agreement"], texts["certificate"]
        assert "还款计划协议" in a and "先还后减" in a and "¥3,700.00" in a and "2026年12月15日" in a
        assert f"AGR-20261202-{plan.id:06d}" in a
        assert "结清证明" in c and "一次性结清" in c and f"#{cert.facts_seq}" in c
        assert cert.facts_sha256 is not None and cert.facts_sha256[:16] in c.replace(" ", "").replace(
            "\n", ""
        )
