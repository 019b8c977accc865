"""Plans, waivers and settlements through the API (a collector's 403 above their limit, the team lead's
approval, the agreement download) and the command line (the agreement's ledger entry proven by
``recoup ledger prove``; an altered PDF detected by ``recoup resolution verify``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_team, make_user, token_for
from pdf_support import requires_pdf
from recoup.cases.models import WorkerProfile
from recoup.config import Settings
from recoup.db import make_engine, session_scope
from recoup.ledger.service import verify_entry_proof
from recoup.portfolio.models import AccountInstallment, CollectionAccount
from recoup.resolutions.models import ResolutionDocument

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), requires_pdf]


def _owing(session: Session, case_id: int) -> None:
    """¥800 penalty, ¥200 fees, ¥500 interest, ¥2,500 principal overdue (¥4,000)."""
    account = session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case_id)).one()
    account.as_of = dt.datetime.now(dt.UTC).date()
    session.add(
        AccountInstallment(
            account_id=account.id,
            seq=1,
            due_date=account.as_of - dt.timedelta(days=10),
            principal_due=250_000,
            interest_due=50_000,
            fee_due=20_000,
            penalty_due=80_000,
        )
    )
    session.flush()


def test_a_collector_above_their_limit_gets_403_and_the_team_lead_approves(
    session: Session, settings: Settings
) -> None:
    lead = make_user(session, "team_lead")
    team = make_team(session, "M1 API", lead=lead)
    session.add(WorkerProfile(user_id=lead.id, team_id=team.id, kind="collector", pools=["m1"], skills={}))
    collector = make_user(session, "collector", team=team)
    case = make_case(session, holder=collector, dpd=10, overdue=400_000)
    _owing(session, case.id)
    auth = {u.username: {"Authorization": f"Bearer {token_for(session, u)}"} for u in (lead, collector)}
    with api_client(session, settings) as client:
        asked = client.post(
            f"/api/v1/cases/{case.id}/resolutions",
            json={"kind": "waiver", "waive": "800.00", "reason": "lost job in November", "locale": "en"},
            headers=auth[collector.username],
        )
        assert asked.status_code == 201, asked.text
        body = asked.json()
        assert (body["status"], body["required_role"], body["agreed"], body["waived"]["penalty"]) == (
            "pending",
            "team_lead",
            "3200.00",
            "800.00",
        )
        rid = body["id"]
        mine = client.get("/api/v1/resolutions/pending", headers=auth[collector.username]).json()
        theirs = client.get("/api/v1/resolutions/pending", headers=auth[lead.username]).json()
        assert mine == [] and [r["id"] for r in theirs] == [rid]

        refused = client.post(f"/api/v1/resolutions/{rid}/approve", headers=auth[collector.username])
        assert refused.status_code == 403
        err = refused.json()["error"]
        assert err["code"] == "resolution.not_authorised"
        assert err["details"]["required_role"] == "team_lead" and err["details"]["your_role"] == "collector"
        assert "needs a team_lead or above" in err["message"] and "rule C-PEN" in err["message"]

        no_pdf = client.get(f"/api/v1/resolutions/{rid}/agreement", headers=auth[lead.username])
        assert no_pdf.status_code == 404 and no_pdf.json()["error"]["code"] == "not_found"
        done = client.post(
            f"/api/v1/resolutions/{rid}/approve", json={"note": "payslips seen"}, headers=auth[lead.username]
        )
        assert done.status_code == 200, done.text
        out = done.json()
        assert (out["status"], out["decided_by"], out["decider_role"], out["approval_basis"]) == (
            "active",
            lead.username,
            "team_lead",
            "two_step",
        )
        assert out["agreement"]["number"].endswith(f"-{rid:06d}") and out["agreement"]["ledger_seq"] > 0
        pdf = client.get(f"/api/v1/resolutions/{rid}/agreement", headers=auth[collector.username])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        listed = client.get(f"/api/v1/cases/{case.id}/resolutions", headers=auth[collector.username]).json()
        assert [r["status"] for r in listed] == ["active"]
        again = client.post(f"/api/v1/resolutions/{rid}/approve", headers=auth[lead.username])
        assert again.status_code == 409 and again.json()["error"]["code"] == "resolution.state"
        offers = client.get(f"/api/v1/cases/{case.id}/offers", headers=auth[collector.username]).json()
        assert {o["id"] for o in offers} == {"M1-PENALTY-7D", "M1M2-PLAN-3"}
        bad = client.post(
            f"/api/v1/cases/{case.id}/resolutions",
            json={"kind": "waiver", "waive": "1.005"},
            headers=auth[collector.username],
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "money.invalid"


def _recoup() -> str:
    """The venv's ``recoup`` (beside this interpreter: make runs pytest without the venv on PATH)."""
    found = shutil.which("recoup", path=str(Path(sys.executable).parent)) or shutil.which("recoup")
    assert found is not None, "the recoup command is not installed (make install)"
    return found


def test_cli_plan_agreement_is_proven_by_the_ledger_and_tampering_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    env = {
        **os.environ,
        "RECOUP_DATABASE_URL": f"sqlite:///{db}",
        "RECOUP_DATA_DIR": os.environ["RECOUP_DATA_DIR"],
        "RECOUP_LOCALE": "en",  # the assertions read the English lines
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_recoup(), *args], env=env, capture_output=True, text=True, check=False)

    assert run("db", "upgrade").returncode == 0
    eng = make_engine(f"sqlite:///{db}")
    with session_scope(eng) as s:
        collector = make_user(s, "collector", name="agent7")
        case = make_case(s, holder=collector, dpd=10, overdue=400_000)
        _owing(s, case.id)
        case_id = case.id
    first_due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).date().isoformat()
    done = run(
        "resolution",
        "propose",
        str(case_id),
        "--kind",
        "plan",
        "--instalments",
        "3",
        "--first-due",
        first_due,
        "--by",
        "agent7",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["status"], plan["approval_basis"], plan["total_due"]) == (
        "active",
        "own_authority",
        "4000.00",
    )
    seq, sha = plan["agreement"]["ledger_seq"], plan["agreement"]["sha256"]

    assert run("ledger", "checkpoint").returncode == 0
    proved = run("ledger", "prove", str(seq))
    assert proved.returncode == 0, proved.stderr
    proof = json.loads(proved.stdout)
    assert proof["entry"]["seq"] == seq and proof["entry"]["kind"] == "resolution.agreement"
    assert proof["entry"]["payload"]["sha256"] == sha
    assert verify_entry_proof(proof)
    (tmp_path / "proof.json").write_text(proved.stdout)
    checked = run("ledger", "check-proof", str(tmp_path / "proof.json"))
    assert checked.returncode == 0 and f"proof OK: entry {seq}" in checked.stdout

    ok = run("resolution", "verify", str(plan["id"]))
    assert ok.returncode == 0 and f"matches ledger entry {seq}" in ok.stdout
    with session_scope(eng) as s:
        stored = s.scalars(select(ResolutionDocument)).one()
        path = Path(os.environ["RECOUP_DATA_DIR"]) / "documents" / stored.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit changed in the middle of the PDF
    path.write_bytes(bytes(data))
    bad = run("resolution", "verify", str(plan["id"]), "--json")
    assert bad.returncode == 2, bad.stderr
    envelope = json.loads(bad.stdout or bad.stderr)  # the envelope (on stdout with --json)
    assert envelope["error"]["code"] == "document.altered"
    assert envelope["error"]["details"]["recorded"] == sha and "Traceback" not in bad.stderr
    eng.dispose()
