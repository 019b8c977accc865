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
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, make_case, make_phone, make_task, make_user
from recoup import migrate
from recoup.db import make_engine

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
    """A database with two collectors' cases, and `recoup serve` on it."""
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    url = f"sqlite:///{root / 'app.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        one = make_user(session, "collector", name="collector1")
        two = make_user(session, "collector", name="collector2")
        mine = [make_case(session, holder=one, overdue=o, dpd=d) for o, d in ((356_789, 12), (88_000, 5))]
        for c in mine:
            make_phone(session, c)
            make_task(session, c)
        theirs = make_case(session, holder=two)
        session.commit()
        ids = {"mine": [c.id for c in mine], "theirs": theirs.id}
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "RECOUP_DATA_DIR": str(data), "RECOUP_DATABASE_URL": url}
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
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(base + "/queue")  # type: ignore[attr-defined]


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
            assert rows.count() == 2
            page.screenshot(path=str(shots / "02-queue-zh.png"), full_page=True)
            rows.first.locator("a").first.click()
            page.wait_for_url(f"{base}/cases/*")
            top = int(page.url.rsplit("/", 1)[1])
            assert top in ids["mine"]
            page.screenshot(path=str(shots / "03-case-zh.png"), full_page=True)
            due = (dt.date.today() + dt.timedelta(days=2)).isoformat()
            page.fill("#amount", "500.00")
            page.fill("#due_date", due)
            page.click("#promise button[type=submit]")
            page.wait_for_selector(".flash")
            assert "已记录承诺" in page.locator(".flash").inner_text()
            assert "¥500.00" in page.locator("#promises").inner_text()
            page.screenshot(path=str(shots / "04-promise-zh.png"), full_page=True)
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
        finally:
            browser.close()
