"""Agencies in a real browser: Playwright drives Debian's Chromium against a live `recoup serve`. The
manager opens /agencies, places a 赛马 batch (the borrowers' notices go out first under the cn preset;
once the dispatcher sent them the day's step activates the placements), looks at an agency and the
ranking; agency1 finds its placed cases on /agency and in its queue, opens one, and another case is a 404
page. Each page is saved as a screenshot (``RECOUP_SCREENSHOTS`` or the test's temp directory)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from floor_factories import PASSWORD, make_case, make_phone, make_task, make_user
from live_server import needs_chromium, screenshots, serving
from recoup import migrate
from recoup.config import get_settings
from recoup.contact.models import OutboxMessage
from recoup.db import make_engine, session_scope
from test_agencies import eligible_agency

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Two eligible agencies, eight extremely overdue cases the strategy sent to agencies (open
    agency_placement tasks), one more case held by a collector; `recoup serve` on it."""
    root = tmp_path_factory.mktemp("agencies-live")
    url = f"sqlite:///{root / 'app.db'}"
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECOUP_DATA_DIR", str(root))
        get_settings.cache_clear()
        engine = make_engine(url)
        migrate.upgrade(engine)
        from recoup.pii import cipher_from_settings

        cipher_from_settings(get_settings())
        with session_scope(engine) as session:
            make_user(session, "manager", name="manager")
            agent, other = (
                make_user(session, "agency", name="agency1"),
                make_user(session, "agency", name="agency2"),
            )
            collector = make_user(session, "collector", name="collector1")
            since = today - dt.timedelta(days=20)
            eligible_agency(session, "HXCS", [agent], on=since)
            eligible_agency(session, "JDZG", [other], on=since)
            for i in range(8):
                case = make_case(
                    session, holder=collector, dpd=95 + 12 * i, overdue=350_000 * (i + 1), as_of=today
                )
                make_phone(session, case, value=f"1380013{2000 + i:04d}")
                make_task(session, case, treatment="agency_placement", as_of=today)
                make_task(session, case, treatment="agent_call", as_of=today, priority=60)
            spare = make_case(session, holder=collector, dpd=40, as_of=today)
            spare_id = spare.id
        engine.dispose()
        get_settings.cache_clear()
    with serving(root, url) as base:
        yield {"base": base, "url": url, "shots": screenshots(root), "spare": spare_id}


def _sign_in(page: object, base: str, username: str, lands: str) -> None:
    page.goto(base + "/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(base + lands)  # type: ignore[attr-defined]


def test_a_manager_places_a_batch_and_an_agency_works_its_cases_in_a_real_browser(
    live: dict[str, object],
    browser: Browser,
) -> None:
    base, shots = str(live["base"]), Path(str(live["shots"]))
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    _sign_in(page, base, "manager", "/morning")
    page.locator("header a[href='/agencies']").click()
    page.wait_for_url(base + "/agencies")
    assert "8 件有待办委外任务的案件等待分批" in page.locator("main").inner_text()
    page.fill("#pl-seed", "11")
    page.get_by_role("button", name="今日分批委外").click()
    page.locator(".flash", has_text="已分批委外：8 件（0 件已生效，8 件待告知借款人）").wait_for()
    page.screenshot(path=str(shots / "agencies-01-batch-zh.png"), full_page=True)
    # The dispatcher sends the borrowers' notices; the day's step activates the placements.
    engine = make_engine(str(live["url"]))
    with session_scope(engine) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.decision.like("agency placement %"))
            .values(status="sent")
        )
    engine.dispose()
    page.get_by_role("button", name="立即执行").click()
    page.locator(".flash", has_text="生效 8 件，取消 0 件，召回 0 件").wait_for()
    assert page.locator("#placements tbody tr").count() == 8
    page.screenshot(path=str(shots / "agencies-02-placed-zh.png"), full_page=True)
    page.locator("#register a[href='/agencies/HXCS']").click()
    page.wait_for_url(base + "/agencies/HXCS")
    assert "人员名册" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "agencies-03-detail-zh.png"), full_page=True)
    page.goto(base + "/lang/en?next=/agencies")
    page.wait_for_url(base + "/agencies")
    assert "White list" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "agencies-04-list-en.png"), full_page=True)
    page.context.clear_cookies()

    agent = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    _sign_in(agent, base, "agency1", "/queue")
    agent.locator("header a[href='/agency']").click()
    agent.wait_for_url(base + "/agency")
    rows = agent.locator("#placed tbody tr")
    n = rows.count()
    assert 1 <= n <= 7
    agent.screenshot(path=str(shots / "agencies-05-own-zh.png"), full_page=True)
    agent.goto(base + "/queue")
    agent.screenshot(path=str(shots / "agencies-06-queue-zh.png"), full_page=True)
    agent.goto(base + "/agency")
    agent.locator("#placed tbody tr a").first.click()
    agent.wait_for_url(f"{base}/cases/*")
    agent.screenshot(path=str(shots / "agencies-07-case-zh.png"), full_page=False)
    response = agent.goto(f"{base}/cases/{live['spare']}")
    assert response is not None and response.status == 404
