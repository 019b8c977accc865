"""The complaints pages (TestClient, SQLite and PostgreSQL): the register with deadlines and overdue rows
highlighted, filtered by status; registering a complaint by form; a complaint's page with its timeline,
handler, extension and resolution; the holds page with a lift that needs a second person; the
permission and the nav link; both languages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_user
from recoup.auth.models import AppUser
from recoup.complaints import register, service
from recoup.complaints.models import Complaint
from recoup.config import Settings
from recoup.contact.models import ContactHold
from recoup.db import utcnow
from recoup.portfolio.models import Borrower
from recoup.web import pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _login(client: TestClient, user: AppUser) -> None:
    pages.THROTTLE.succeeded(f"user:{user.username}", "ip:testclient")
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _post(client: TestClient, url: str, data: dict[str, str]) -> str:
    """Post a form as htmx does; follow the HX-Redirect; the page it lands on."""
    r = client.post(
        url, data=data, headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
    )
    assert r.status_code == 204, (url, r.status_code, r.text[:500])
    page = client.get(r.headers["hx-redirect"])
    assert page.status_code == 200
    return page.text


def _flash(html: str) -> str:
    m = re.search(r'<div class="flash[^"]*" role="status">(.*?)</div>', html, re.S)
    return m.group(1).strip() if m else ""


def test_register_a_complaint_by_form_and_work_it_to_the_end(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    second = make_user(session, "compliance")
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector)
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    today = utcnow().astimezone(settings.tz).date()
    with api_client(session, settings) as client:
        _login(client, officer)
        empty = client.get("/complaints")
        assert empty.status_code == 200 and "投诉登记" in empty.text and 'href="/complaints"' in empty.text
        page = _post(
            client,
            "/complaints",
            {
                "kind": "complaint",
                "source": "regulator_12378",
                "category": "frequency",
                "case_id": str(case.id),
                "collector": collector.username,
                "summary": "一天打了十几次电话",
            },
        )
        assert "12378" in _flash(page) and "编号" in _flash(page)  # a referral needs the regulator's number
        page = _post(
            client,
            "/complaints",
            {
                "kind": "complaint",
                "source": "regulator_12378",
                "reference": "12378-77",
                "category": "frequency",
                "case_id": str(case.id),
                "collector": collector.username,
                "summary": "一天打了十几次电话",
            },
        )
        row = session.scalars(select(Complaint).where(Complaint.reference == "12378-77")).one()
        assert "投诉已登记" in _flash(page) and "HOLD-STOP" in _flash(page)
        assert f"#{row.id}" in page
        assert "生效中：联系策略拦截所有电话和消息" in page and "张**" in page and "张三丰" not in page
        assert "剩余 15 天" in page and collector.username in page
        # The person complained about is not offered as handler.
        handlers = re.search(r'<select id="handler" name="handler_id">(.*?)</select>', page, re.S)
        assert handlers is not None and collector.username not in handlers.group(1)
        page = _post(client, f"/complaints/{row.id}/assign", {"handler_id": str(collector.id)})
        assert "被投诉人" in _flash(page)
        page = _post(client, f"/complaints/{row.id}/assign", {"handler_id": str(second.id)})
        assert _flash(page) == "已指派处理人。"
        page = _post(client, f"/complaints/{row.id}/extend", {"reason": "需调取录音"})
        assert _flash(page) == "期限已延长。" and "剩余 30 天" in page and "已延期" in page
        assert "已延期：期限只能延期一次。" in page
        page = _post(
            client,
            f"/complaints/{row.id}/resolve",
            {"outcome": "upheld", "root_cause": "collector_conduct", "resolution": "已致歉"},
        )
        assert "只有处理人可以办结" in _flash(page)  # not the handler
        timeline = re.search(r'<table id="timeline".*?</table>', page, re.S)
        assert timeline is not None
        assert [t for t in ("已登记", "指派处理人", "期限延长") if t in timeline.group(0)] == [
            "已登记",
            "指派处理人",
            "期限延长",
        ]
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, second)
        page = _post(
            client,
            f"/complaints/{row.id}/resolve",
            {"outcome": "upheld", "root_cause": "collector_conduct", "resolution": "已致歉并培训"},
        )
        assert _flash(page) == "投诉已办结，联系暂停已解除。"
        assert "已致歉并培训" in page and "已结束" in page and "成立" in page
        closed = client.get("/complaints?status=closed").text
        assert f'href="/complaints/{row.id}"' in closed
        assert f'href="/complaints/{row.id}"' not in client.get("/complaints").text
        english = client.get(f"/lang/en?next=/complaints/{row.id}", follow_redirects=True)
        assert "Complaint" in english.text and "Timeline" in english.text and "处理经过" not in english.text
    hold = session.get(ContactHold, row.hold_id)
    assert hold is not None and hold.end_at is not None
    assert row.deadline == today + dt.timedelta(days=30)


def test_overdue_rows_are_highlighted_and_filtered(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    case = make_case(session)
    today = utcnow().astimezone(settings.tz).date()
    late = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="hotline",
        category="other",
        case_id=case.id,
        received_on=today - dt.timedelta(days=20),
        settings=settings,
    )
    fresh = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="portal",
        category="amount",
        case_id=case.id,
        settings=settings,
    )
    with api_client(session, settings) as client:
        _login(client, officer)
        html = client.get("/complaints").text
        rows = dict(re.findall(r'<tr class="(overdue|)">\s*<td><a href="/complaints/(\d+)">', html))
        assert {v: k for k, v in rows.items()} == {str(late.id): "overdue", str(fresh.id): ""}
        assert "已超期 5 天" in html and "剩余 15 天" in html
        overdue = client.get("/complaints?status=overdue").text
        assert f'href="/complaints/{late.id}"' in overdue and f'href="/complaints/{fresh.id}"' not in overdue
        detail = client.get(f"/complaints/{late.id}").text
        assert "15 日期限已过：超期投诉不能延期。" in detail
        assert client.get("/complaints/999999").status_code == 404


def test_the_holds_page_lifts_with_a_second_person(session: Session, settings: Settings) -> None:
    officer = make_user(session, "compliance")
    second = make_user(session, "compliance")
    case = make_case(session)
    row = service.do_open_complaint(
        session=session,
        actor=officer.username,
        source="hotline",
        category="other",
        case_id=case.id,
        settings=settings,
    )
    key = row.borrower_key
    with api_client(session, settings) as client:
        _login(client, officer)
        page = client.get(f"/holds?borrower={key}").text
        assert "HOLD-STOP" in page and f'href="/complaints/{row.id}"' in page and "申请解除" in page
        page = _post(
            client, f"/holds/{row.hold_id}/lift", {"reason": "借款人主动要求协商还款", "borrower": key}
        )
        assert "须由他人批准" in _flash(page) and "本人的申请：须由他人决定" in page
        page = _post(client, f"/holds/{row.hold_id}/lift/approve", {"borrower": key})
        assert "解除申请人不能自行审批" in _flash(page)
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, second)
        page = _post(client, f"/holds/{row.hold_id}/lift/approve", {"note": "同意", "borrower": key})
        assert _flash(page) == f"#{row.hold_id} · 暂停已解除。"
        assert f'href="/complaints/{row.id}"' not in client.get(f"/holds?borrower={key}").text  # ended
        ended = client.get(f"/holds?borrower={key}&ended=1").text
        assert "已结束" in ended and "已解除" in ended and second.username in ended
        assert "的渠道同意" in ended
    events = [e.kind for e in register.timeline(row.id, session=session)]
    assert events == ["opened", "hold_lift_requested", "hold_lifted"]
    assert row.status == "open"  # the complaint stays open; only its hold was lifted


def test_only_complaint_handlers_see_the_pages(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    manager = make_user(session, "manager")
    officer = make_user(session, "compliance")
    with api_client(session, settings) as client:
        _login(client, collector)
        assert client.get("/complaints").status_code == 403
        assert client.get("/holds").status_code == 403
        assert 'href="/complaints"' not in client.get("/queue").text
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, manager)
        assert client.get("/complaints").status_code == 403  # the default manager does not handle complaints
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, officer)
        assert 'href="/complaints"' in client.get("/holds").text
