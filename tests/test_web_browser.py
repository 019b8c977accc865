"""The workbench in a real browser: Playwright drives Debian's Chromium against a live `recoup serve`
on 127.0.0.1. A collector signs in, opens the top case of the queue, records a promise and sees it on
the case; another collector's case by URL is a 404 page; the pages switch between Chinese and English;
a phone-sized viewport. Each page is saved as a screenshot (``RECOUP_SCREENSHOTS`` or the test's temp
directory) for people to look at."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from factories import imported_book
from recoup import migrate
from recoup.auth.models import AppUser
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.models import Case
from recoup.config import get_settings
from recoup.cycle.runner import Cycle
from recoup.db import make_engine, session_scope
from recoup.simulate.floor import DEMO_PASSWORD, do_setup_floor

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("RECOUP_TEST_REQUIRE_BROWSER"),
    reason="no /usr/bin/chromium (apt-get install chromium fonts-noto-cjk); CI installs it",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A lender's book imported and run through the daily cycle, the demo's people with cases allocated
    to the two collectors, and `recoup serve` on it."""
    root = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{root / 'app.db'}"
    as_of = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date() - dt.timedelta(days=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECOUP_DATA_DIR", str(root))
        get_settings.cache_clear()
        engine = make_engine(url)
        migrate.upgrade(engine)
        lake = imported_book(root, engine, as_of, n=400, seed=11)
        Cycle(engine=engine, lake=lake).run(as_of)
        with session_scope(engine) as session:
            do_setup_floor(2, session=session)
            do_allocate(as_of, session=session, actor="leader1", kind="month_start")
        with session_scope(engine) as session:
            held = dict(
                session.execute(
                    select(AppUser.username, func.min(Case.id))
                    .join(Case, Case.holder_id == AppUser.id)
                    .where(Case.status == "open")
                    .group_by(AppUser.username)
                ).all()
            )
        engine.dispose()
        get_settings.cache_clear()
    data = root
    ids = {"theirs": held["collector2"]}
    port = _free_port()
    env = {**os.environ, "RECOUP_DATA_DIR": str(data), "RECOUP_DATABASE_URL": url}
    env.pop("RECOUP_TEST_PG_URL", None)
    exe = shutil.which("recoup", path=str(Path(sys.executable).parent)) or "recoup"
    proc = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/login", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"recoup serve did not start: {err[-2000:]}")
            time.sleep(0.3)
        shots = Path(os.environ.get("RECOUP_SCREENSHOTS") or root / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        yield {"base": base, "ids": ids, "shots": shots}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _sign_in(page: object, base: str, username: str) -> None:
    page.goto(base + "/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", DEMO_PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(base + ("/morning" if username == "manager" else "/queue"))  # type: ignore[attr-defined]


def test_a_collector_works_the_top_case_in_a_real_browser(live: dict[str, object]) -> None:
    from playwright.sync_api import sync_playwright

    base, shots, ids = str(live["base"]), Path(str(live["shots"])), live["ids"]
    assert isinstance(ids, dict)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
            page.goto(base + "/login")
            page.screenshot(path=str(shots / "01-login-zh.png"), full_page=True)
            _sign_in(page, base, "collector1")
            assert page.locator("h1").first.inner_text().startswith("我的作业队列")
            rows = page.locator("#queue tbody tr")
            assert rows.count() >= 1
            page.screenshot(path=str(shots / "02-queue-zh.png"), full_page=True)
            rows.first.locator("a").first.click()
            page.wait_for_url(f"{base}/cases/*")
            top = int(page.url.rsplit("/", 1)[1])
            assert top != ids["theirs"]
            page.screenshot(path=str(shots / "03-case-zh.png"), full_page=True)
            due = (dt.date.today() + dt.timedelta(days=2)).isoformat()
            page.fill("#amount", "100.00")
            page.fill("#due_date", due)
            page.click("#promise button[type=submit]")
            page.wait_for_selector(".flash")
            assert "已记录承诺" in page.locator(".flash").inner_text()
            assert "¥100.00" in page.locator("#promises").inner_text()
            page.screenshot(path=str(shots / "04-promise-zh.png"), full_page=True)
            if page.locator("#log button[value=no_answer]").count():
                page.locator("#log button[value=no_answer]").click()
                page.locator(".flash", has_text="已登记通话").wait_for()
            resp = page.goto(f"{base}/cases/{ids['theirs']}")
            assert resp is not None and resp.status == 404
            assert "未找到" in page.content()
            page.screenshot(path=str(shots / "05-not-found-zh.png"), full_page=True)
            page.goto(base + "/lang/en?next=/queue")
            assert page.locator("h1").first.inner_text().startswith("My queue")
            page.screenshot(path=str(shots / "06-queue-en.png"), full_page=True)
            page.goto(base + "/lang/zh_CN?next=/queue")
            assert page.locator("h1").first.inner_text().startswith("我的作业队列")
            phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
            _sign_in(phone, base, "collector1")
            phone.goto(f"{base}/cases/{top}")
            phone.screenshot(path=str(shots / "07-case-phone.png"), full_page=True)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 400, f"the case page is {width}px wide on a 390px phone"
            boss = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            _sign_in(boss, base, "manager")
            assert boss.locator("h1").first.inner_text().startswith("晨会看板")
            assert boss.locator("#chart-buckets rect").count() >= 2
            assert boss.locator("#chart-classes rect").count() >= 2
            assert boss.locator("#collectors tbody tr").count() == 2
            boss.screenshot(path=str(shots / "08-morning-zh.png"), full_page=True)
        finally:
            browser.close()
