"""The agencies' pages through the app (TestClient, SQLite and PostgreSQL): /agencies for a manager in both
languages, placing a batch and recalling from the page, an agency's own page with its placed cases,
confirming the deletion and the statement there, and 404s for what is not theirs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_phone, make_task, make_user
from recoup.agencies.models import Placement
from recoup.config import Settings, load_settings
from test_agencies import eligible_agency

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _login(client: TestClient, username: str) -> None:
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/"},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def test_the_lender_places_and_recalls_from_the_page_and_the_agency_works_its_cases(
    session: Session, settings: Settings
) -> None:
    today = dt.datetime.now(settings.tz).date()
    make_user(session, "manager", name="boss7")
    agent = make_user(session, "agency", name="agent7")
    other_agent = make_user(session, "agency", name="agent8")
    collector = make_user(session, "collector", name="coll7")
    eligible_agency(session, "AG-P1", [agent], on=today - dt.timedelta(days=10))
    eligible_agency(session, "AG-P2", [other_agent], on=today - dt.timedelta(days=10))
    cases = []
    for i in range(4):
        case = make_case(session, holder=collector, dpd=190 + i, overdue=700_000 + i, as_of=today)
        make_phone(session, case, value=f"1390013{1000 + i:04d}")
        make_task(session, case, treatment="agency_placement", as_of=today)
        cases.append(case)
    us = load_settings(data_dir=settings.data_dir, jurisdiction="us")  # placements active at once
    with api_client(session, us) as client:
        _login(client, "boss7")
        page = client.get("/agencies")
        assert page.status_code == 200 and "白名单" in page.text and "AG-P1" in page.text
        assert "4 件有待办委外任务的案件等待分批" in page.text
        placed = client.post(
            "/agencies/place", data={"days": "30", "seed": "5"}, headers=_csrf(client), follow_redirects=False
        )
        assert placed.status_code == 303
        after = client.get("/agencies")
        assert "已分批委外：4 件（4 件已生效，0 件待告知借款人）" in after.text
        rows = session.scalars(select(Placement).order_by(Placement.id)).all()
        assert len(rows) == 4 and {p.status for p in rows} == {"active"}
        english = client.get("/lang/en?next=/agencies", follow_redirects=True)
        assert (
            "White list" in english.text and "Placed cases" in english.text and "白名单" not in english.text
        )
        detail = client.get("/agencies/AG-P1")
        assert detail.status_code == 200 and "Staff register" in detail.text and "agent7" in detail.text
        assert client.get("/agencies/NOPE").status_code == 404
        mine = next(p for p in rows if p.agency_id == rows[0].agency_id)
        client.post("/logout", headers=_csrf(client))
        # The agency's user: their page lists exactly their placed cases; other cases are 404.
        _login(client, "agent7" if mine.holder_id == agent.id else "agent8")
        own = client.get("/agency")
        assert own.status_code == 200 and "委外案件" in own.text
        ids = {int(x) for x in re.findall(r'href="/cases/(\d+)"', own.text)}
        theirs = {p.case_id for p in rows if p.agency_id == mine.agency_id}
        assert ids == theirs
        assert client.get(f"/cases/{mine.case_id}").status_code == 200
        for p in rows:
            if p.agency_id != mine.agency_id:
                assert client.get(f"/cases/{p.case_id}").status_code == 404
        assert client.get("/agencies").status_code == 403  # not the lender's page
        client.post("/logout", headers=_csrf(client))
        _login(client, "boss7")
        r = client.post(
            f"/agencies/placements/{mine.id}/recall",
            data={"reason": "complaint"},
            headers=_csrf(client),
            follow_redirects=False,
        )
        assert r.status_code == 303
        client.post("/logout", headers=_csrf(client))
        _login(client, "agent7" if mine.holder_id == agent.id else "agent8")
        assert client.get(f"/cases/{mine.case_id}").status_code == 404  # access revoked at recall
        own = client.get("/agency")
        assert "已召回：请确认已删除相关数据" in own.text
        done = client.post(
            "/agency/deletion",
            data={"placement_ids": [str(mine.id)], "ref": "DEL-1"},
            headers=_csrf(client),
            follow_redirects=False,
        )
        assert done.status_code == 303
        session.refresh(mine)
        assert mine.deletion_ref == "DEL-1" and mine.deletion_confirmed_by in ("agent7", "agent8")


def test_someone_not_on_a_register_has_no_agency_page(session: Session, settings: Settings) -> None:
    make_user(session, "agency", name="loner1")
    make_user(session, "collector", name="coll9")
    with api_client(session, settings) as client:
        _login(client, "loner1")
        assert client.get("/agency").status_code == 404
        client.post("/logout", headers=_csrf(client))
        _login(client, "coll9")
        assert client.get("/agencies").status_code == 403
