"""The "Resolution" section of the case page and /resolutions (TestClient, CSRF as the pages do): a
collector proposes a waiver above their limit and cannot approve it; the team lead approves it from the
case page; the agreement downloads; refusals are form errors in the reader's language."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_team, make_user
from pdf_support import requires_pdf
from recoup.cases.models import WorkerProfile
from recoup.config import Settings
from recoup.resolutions.models import Resolution
from test_resolutions_api import _owing

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), requires_pdf]


def _login(client: object, username: str) -> None:
    client.get("/login")  # type: ignore[attr-defined]
    token = client.cookies.get("csrftoken")  # type: ignore[attr-defined]
    done = client.post(  # type: ignore[attr-defined]
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/queue"},
        headers={"x-csrftoken": token or "", "hx-request": "true"},
    )
    assert done.status_code == 204


def _csrf(client: object) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}  # type: ignore[attr-defined]


def test_propose_on_the_case_page_and_the_team_lead_approves(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead", name="lead.pages")
    team = make_team(session, "M1 pages", lead=lead)
    session.add(WorkerProfile(user_id=lead.id, team_id=team.id, kind="collector", pools=["m1"], skills={}))
    collector = make_user(session, "collector", name="collector.pages", team=team)
    case = make_case(session, holder=collector, dpd=10, overdue=400_000)
    _owing(session, case.id)
    with api_client(session, settings) as client:
        _login(client, collector.username)
        page = client.get(f"/cases/{case.id}")
        assert page.status_code == 200
        assert "分期、减免与和解" in page.text and "申请减免（先还后减）" in page.text
        assert "¥4,000.00" in page.text and "7日内还清逾期款项，免除罚息" in page.text  # owed; the M1 pack
        refused = client.post(
            f"/cases/{case.id}/resolutions", data={"kind": "waiver", "waive": "99999"}, headers=_csrf(client)
        )
        assert refused.status_code == 422 and "金额须在 0 与欠款之间" in refused.text
        asked = client.post(
            f"/cases/{case.id}/resolutions",
            data={"kind": "waiver", "waive": "800.00", "deadline": "", "reason": "失业", "locale": "zh_CN"},
            headers=_csrf(client),
        )
        assert asked.status_code == 200, asked.text
        assert "已提交审批，审批人：组长" in asked.text and "待审批" in asked.text
        res = session.query(Resolution).filter_by(case_id=case.id).one()
        assert f'/resolutions/{res.id}/approve"' not in asked.text  # no approve button for the collector
        tried = client.post(f"/resolutions/{res.id}/approve", headers=_csrf(client))
        assert tried.status_code == 422 and "须由组长或以上审批" in tried.text
        client.post("/logout", headers=_csrf(client) | {"hx-request": "true"})

        _login(client, lead.username)
        inbox = client.get("/resolutions")
        assert inbox.status_code == 200 and f"/cases/{case.id}#resolution" in inbox.text
        page = client.get(f"/cases/{case.id}")
        assert f'/resolutions/{res.id}/approve"' in page.text
        done = client.post(f"/resolutions/{res.id}/approve", data={"note": "已核实"}, headers=_csrf(client))
        assert done.status_code == 200 and "已批准，协议可打印" in done.text
        session.refresh(res)
        assert res.status == "active" and res.decided_by == lead.username
        link = f"/documents/{res.id}.pdf"
        assert 'href="/documents/' in done.text
        doc_id = done.text.split('href="/documents/')[1].split(".pdf")[0]
        pdf = client.get(f"/documents/{doc_id}.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-"), link
