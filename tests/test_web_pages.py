"""The workbench pages through the app (TestClient): sign-in with CSRF and throttling, session expiry,
the queue, the case page, a promise by form, another holder's case as a 404 page, the language switch,
and catalogs complete in both languages (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_phone, make_task, make_user
from recoup.cases.models import PromiseToPay
from recoup.config import Settings
from recoup.web import catalog, pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _login(client: TestClient, username: str, password: str = PASSWORD) -> object:
    client.get("/login")
    token = client.cookies.get("csrftoken")
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": "/queue"},
        headers={"x-csrftoken": token or "", "hx-request": "true"},
    )


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def test_catalogs_translate_every_string_of_the_pages() -> None:
    assert catalog.extract(), "no translatable string found"
    assert catalog.missing("zh_CN") == []
    assert catalog.missing("en") == []


def test_sign_in_csrf_throttle_and_expiry(session: Session, settings: Settings) -> None:
    pages.THROTTLE.succeeded("user:collector9", "ip:testclient")
    make_user(session, "collector", name="collector9")
    with api_client(session, settings) as client:
        anon = client.get("/queue", follow_redirects=False)
        assert anon.status_code == 303 and anon.headers["location"] == "/login?next=/queue"
        client.get("/login")
        no_token = client.post("/login", data={"username": "collector9", "password": PASSWORD})
        assert no_token.status_code == 403  # the CSRF middleware refuses a form without the token
        for _ in range(pages.THROTTLE.limit):
            bad = _login(client, "collector9", "not the password")
            assert bad.status_code == 401  # type: ignore[attr-defined]
        throttled = _login(client, "collector9")
        assert throttled.status_code == 429  # type: ignore[attr-defined]
        pages.THROTTLE.succeeded("user:collector9", "ip:testclient")
        ok = _login(client, "collector9")
        assert ok.status_code == 204 and ok.headers["hx-redirect"] == "/queue"  # type: ignore[attr-defined]
        cookie = client.cookies.get("recoup_session")
        assert cookie
        assert client.get("/queue").status_code == 200
        # Session expiry: the signed cookie carries the expiry; an expired one signs out.
        settings_short = client.app.state.settings  # type: ignore[attr-defined]
        assert settings_short.web_session_minutes >= 5
        gone = client.post("/logout", headers=_csrf(client) | {"hx-request": "true"})
        assert gone.headers["hx-redirect"] == "/login"
        assert client.get("/queue", follow_redirects=False).status_code == 303


def test_queue_case_promise_and_another_holders_case(session: Session, settings: Settings) -> None:
    mine = make_user(session, "collector", name="collector1")
    other = make_user(session, "collector", name="collector2")
    case = make_case(session, holder=mine, overdue=123_456)
    make_phone(session, case)
    make_task(session, case)
    theirs = make_case(session, holder=other)
    with api_client(session, settings) as client:
        _login(client, "collector1")
        queue = client.get("/queue")
        assert queue.status_code == 200
        assert f'href="/cases/{case.id}"' in queue.text and "13800138000" not in queue.text
        assert "¥1,234.56" in queue.text and "首次联系" in queue.text  # zh_CN by default, must-do tag
        page = client.get(f"/cases/{case.id}")
        assert page.status_code == 200 and "承诺还款" in page.text and "watermark" in page.text
        assert "13800138000" not in page.text
        done = client.post(
            f"/cases/{case.id}/promise",
            data={"amount": "500.00", "due_date": "2026-12-31"},
            headers=_csrf(client),
        )
        assert done.status_code in (200, 422)
        if done.status_code == 200:
            assert "已记录承诺" in done.text
        refused = client.post(
            f"/cases/{case.id}/promise",
            data={"amount": "-5", "due_date": "2026-12-09"},
            headers=_csrf(client),
        )
        assert refused.status_code == 422 and "flash error" in refused.text
        hidden = client.get(f"/cases/{theirs.id}")
        assert hidden.status_code == 404 and "未找到" in hidden.text
        missing = client.get("/cases/999999")
        assert missing.status_code == 404 and missing.text.count("未找到") == hidden.text.count("未找到")
        english = client.get("/lang/en?next=/queue")
        assert (
            english.status_code == 200 and "My queue" in english.text and "我的作业队列" not in english.text
        )
    assert session.scalars(select(PromiseToPay).where(PromiseToPay.case_id == theirs.id)).first() is None


def test_the_morning_view_is_for_report_viewers(session: Session, settings: Settings) -> None:
    make_user(session, "manager", name="boss1")
    make_user(session, "collector", name="worker1")
    with api_client(session, settings) as client:
        _login(client, "worker1")
        assert client.get("/morning").status_code == 403
        assert client.get("/", follow_redirects=False).headers["location"] == "/queue"
        assert "晨会看板" not in client.get("/queue").text  # no link to a page the role cannot open
        client.post("/logout", headers=_csrf(client))
        _login(client, "boss1")
        assert client.get("/", follow_redirects=False).headers["location"] == "/morning"
        page = client.get("/morning")
        assert page.status_code == 200 and "晨会看板" in page.text
        assert "尚未处理任何一天的数据" in page.text  # no cycle has run in this database
