"""The workbench in a real browser: Playwright drives Debian's Chromium against a live `recoup serve`
on 127.0.0.1. A collector signs in, opens the top case of the queue, records a promise and sees it on
the case; another collector's case by URL is a 404 page; the pages switch between Chinese and English;
a phone-sized viewport. Each page is saved as a screenshot (``RECOUP_SCREENSHOTS`` or the test's temp
directory) for people to look at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from factories import imported_book
from live_server import needs_chromium, screenshots, serving
from recoup import migrate
from recoup.auth.models import AppUser
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.models import Case
from recoup.cases.work_models import FieldVisit
from recoup.config import get_settings
from recoup.cycle.runner import Cycle
from recoup.db import make_engine, session_scope
from recoup.simulate.floor import DEMO_PASSWORD, do_plan_field_visits, do_setup_floor

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = needs_chromium


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
        with session_scope(engine) as session:  # today's approved visits of field1 and field2
            made = do_plan_field_visits(
                as_of + dt.timedelta(days=1), session=session, settings=get_settings()
            )
            rows = session.scalars(select(FieldVisit).where(FieldVisit.id.in_(made))).all()
            visits = {v.id: (v.address_lat, v.address_lon) for v in rows}
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
    ids = {"theirs": held["collector2"]}
    with serving(root, url) as base:
        yield {"base": base, "ids": ids, "shots": screenshots(root), "visits": visits}


def _sign_in(page: object, base: str, username: str) -> None:
    page.goto(base + "/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", DEMO_PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(base + ("/morning" if username == "manager" else "/queue"))  # type: ignore[attr-defined]


def test_a_collector_works_the_top_case_in_a_real_browser(live: dict[str, object], browser: Browser) -> None:
    base, shots, ids = str(live["base"]), Path(str(live["shots"])), live["ids"]
    assert isinstance(ids, dict)
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
    assert boss.locator("svg.chart").count() >= 18  # every figure of the five sections is drawn
    assert boss.locator("#chart-buckets rect.bar").count() >= 2
    assert boss.locator("#chart-classes rect.bar").count() >= 2
    assert boss.locator("#chart-recovery circle").count() >= 1  # the day's allocations
    assert boss.locator("#chart-vintages circle").count() >= 1
    assert boss.locator("#chart-workload rect.bar").count() == 2
    assert boss.locator("#chart-coverage rect.bar").count() == 3  # two collectors and all
    assert boss.locator("#chart-arms circle").count() >= 1
    assert boss.locator("#kpis .kpi").count() == 9
    boss.screenshot(path=str(shots / "08-morning-zh.png"), full_page=True)
    boss.goto(base + "/lang/en?next=/morning")
    assert boss.locator("h1").first.inner_text().startswith("Morning view")
    assert boss.locator("svg.chart").count() >= 18
    boss.screenshot(path=str(shots / "09-morning-en.png"), full_page=True)
    boss.goto(base + "/lang/zh_CN?next=/morning")


def test_a_compliance_officer_reads_the_audit_ledger_in_a_real_browser(
    live: dict[str, object], browser: Browser
) -> None:
    """compliance1 opens the audit ledger from the nav: entries newest first, the chain verified (the
    panel loads through htmx), one entry with its payload. A screenshot of each page."""
    base, shots = str(live["base"]), Path(str(live["shots"]))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    _sign_in_anyone(page, base, "compliance1")
    page.locator("header a[href='/audit']").click()
    page.wait_for_url(base + "/audit")
    page.locator("#audit-verify .tag.ok", has_text="哈希链校验通过").wait_for()
    assert 1 <= page.locator("#audit-entries tbody tr").count() <= 100
    page.screenshot(path=str(shots / "audit-01-ledger-zh.png"), full_page=False)
    page.locator("#audit-entries tbody tr").first.locator("a").first.click()
    page.wait_for_url(f"{base}/audit/*")
    assert "哈希链校验至此条目均通过" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "audit-02-entry-zh.png"), full_page=True)


def test_the_case_page_sends_a_message_and_schedules_a_callback_in_a_real_browser(
    live: dict[str, object],
    browser: Browser,
) -> None:
    """The fuller case page: schedules, the policy per channel, a message previewed with the linter's
    findings (htmx) and queued, a callback scheduled; screenshots of both states."""
    base, shots = str(live["base"]), Path(str(live["shots"]))
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in(page, base, "collector1")
    page.locator("#queue tbody tr").first.locator("a").first.click()
    page.wait_for_url(f"{base}/cases/*")
    assert page.locator(".verdict").count() == 3
    page.locator("#message summary").click()
    page.select_option("#msg-template", index=1)
    page.locator("#msg-preview .msg-preview").wait_for()
    assert "内容检查" in page.locator("#msg-preview").inner_text()
    page.screenshot(path=str(shots / "09-case-message-zh.png"), full_page=True)
    page.locator("#message button[hx-post]").click()
    page.locator(".flash", has_text="消息已排队发送").wait_for()
    page.locator("#callback summary").click()
    page.fill("#cb-at", "15:30")
    page.click("#callback button[type=submit]")
    page.locator(".flash", has_text="已安排回拨").wait_for()
    assert "回拨" in page.locator("#tasks").inner_text()
    page.screenshot(path=str(shots / "10-case-actions-zh.png"), full_page=True)
    page.locator("#assist summary").click()
    page.click("#assist button[type=submit]")  # neither a team nor a person: a form error
    page.locator("#assist .form-error", has_text="二选一").wait_for()
    page.goto(base + "/lang/en?next=" + page.url.removeprefix(base))
    page.locator("#message summary").click()
    page.select_option("#msg-template", index=1)
    page.locator("#msg-preview .msg-preview").wait_for()
    assert "Repayment schedule" in page.content()
    page.screenshot(path=str(shots / "11-case-message-en.png"), full_page=True)
    page.goto(base + "/lang/zh_CN?next=/queue")


def test_a_complaint_is_logged_on_a_call_worked_and_closed_in_a_real_browser(
    live: dict[str, object], browser: Browser
) -> None:
    """collector1 logs a complaint on a call (the case page says it is in the register and contact is on
    hold); compliance1 finds it in the register, registers a hotline complaint by form, assigns itself,
    extends the deadline and closes the complaint; the holds page shows the hold ended. Screenshots of
    each page (zh_CN, and the register in English)."""
    base, shots = str(live["base"]), Path(str(live["shots"]))
    worker = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    _sign_in(worker, base, "collector1")
    worker.locator("#queue tbody tr").first.locator("a").first.click()
    worker.wait_for_url(f"{base}/cases/*")
    case_id = worker.url.rsplit("/", 1)[1]
    worker.fill("#log-note", "借款人投诉催收电话太频繁")
    worker.locator("#log button[value=complaint]").click()
    worker.locator(".flash", has_text="已记入投诉登记").wait_for()
    worker.screenshot(path=str(shots / "complaints-01-case-logged-zh.png"), full_page=False)

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    _sign_in_anyone(page, base, "compliance1")
    page.locator("header a[href='/complaints']").click()
    page.wait_for_url(base + "/complaints")
    row = page.locator("#register tbody tr", has_text=f"案件 {case_id}")
    assert row.count() == 1 and "通话中提出" in row.inner_text()
    page.screenshot(path=str(shots / "complaints-02-register-zh.png"), full_page=True)

    page.select_option("#c-source", "hotline")
    page.select_option("#c-category", "third_party")
    page.fill("#c-case", case_id)
    page.fill("#c-summary", "催收员向借款人同事透露欠款")
    page.locator("#new-complaint button[type=submit]").click()
    page.wait_for_url(f"{base}/complaints/*")
    page.locator(".flash", has_text="投诉已登记").wait_for()
    assert "生效中" in page.locator("#hold").inner_text()
    page.screenshot(path=str(shots / "complaints-03-detail-new-zh.png"), full_page=True)

    page.select_option("#handler", label="合规专员一 (compliance1)")
    page.locator("#moves form[hx-post$='/assign'] button").click()
    page.locator(".flash", has_text="已指派处理人").wait_for()
    page.locator("#moves summary", has_text="延长期限").click()
    page.fill("#e-reason", "需调取通话录音并询问委外机构")
    page.locator("#moves form[hx-post$='/extend'] button").click()
    page.locator(".flash", has_text="期限已延长").wait_for()
    assert "剩余 30 天" in page.locator("#deadline").inner_text()
    page.select_option("#r-outcome", "upheld")
    page.select_option("#r-cause", "collector_conduct")
    page.fill("#r-note", "催收员违反第三方联系规则")
    page.fill("#r-resolution", "已向借款人致歉；催收员停岗培训")
    page.locator("#moves form[hx-post$='/resolve'] button[type=submit]").click()
    page.locator(".flash", has_text="投诉已办结").wait_for()
    assert "已结束" in page.locator("#hold").inner_text()
    page.screenshot(path=str(shots / "complaints-04-detail-closed-zh.png"), full_page=True)
    closed_url = page.url

    late_day = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date() - dt.timedelta(days=20)
    page.goto(base + "/complaints")
    page.select_option("#c-source", "platform")
    page.fill("#c-case", case_id)
    page.fill("#c-received", late_day.isoformat())
    page.locator("#new-complaint button[type=submit]").click()
    page.wait_for_url(f"{base}/complaints/*")
    assert "15 日期限已过" in (page.locator("#moves").text_content() or "")
    page.goto(base + "/complaints")
    assert page.locator("#register tbody tr.overdue").count() == 1
    page.screenshot(path=str(shots / "complaints-04b-register-overdue-zh.png"), full_page=False)
    page.goto(closed_url)
    page.locator("#hold a").click()
    page.wait_for_url(f"{base}/holds*")
    page.locator("label", has_text="含已结束").click()
    page.locator("form.filter button").click()
    page.wait_for_url(f"{base}/holds*ended=1*")
    assert page.locator("#holds tbody tr").count() >= 2
    page.screenshot(path=str(shots / "complaints-05-holds-zh.png"), full_page=True)
    page.goto(base + "/lang/en?next=/complaints")
    page.wait_for_url(base + "/complaints")
    assert "Complaints register" in page.locator("h1").inner_text()
    page.screenshot(path=str(shots / "complaints-06-register-en.png"), full_page=True)


def test_a_field_agent_checks_in_on_a_phone(live: dict[str, object], browser: Browser) -> None:
    """field1 on a 390×844 phone with location allowed: today's visits in route order, the first visit,
    the check-in from the visit's address; no page wider than the phone, the top bar folded into a menu."""
    base, shots, visits = str(live["base"]), Path(str(live["shots"])), live["visits"]
    assert isinstance(visits, dict) and visits, "the floor planned no visit for field1 today"
    somewhere = next(iter(visits.values()))
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": somewhere[0], "longitude": somewhere[1]},
        permissions=["geolocation"],
    )
    page = phone.new_page()
    page.goto(base + "/login")
    page.fill("#username", "field1")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/field")
    assert page.locator("h1").first.inner_text().startswith("今日外访")
    assert page.locator("#visits li").count() == len(visits)
    assert page.locator(".nav-menu").is_visible() and not page.locator(".nav-links").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the day's visits are {width}px wide on a 390px phone"
    page.screenshot(path=str(shots / "field-01-day-phone.png"), full_page=True)
    page.locator("#visits li a").first.click()
    page.wait_for_url(f"{base}/field/visits/*")
    vid = int(page.url.rsplit("/", 1)[1])
    lat, lon = visits[vid]
    page.screenshot(path=str(shots / "field-02-visit-phone.png"), full_page=True)
    phone.clear_permissions()  # the browser refuses: the page says so
    page.click("#checkin-btn")
    page.locator("#checkin-msg", has_text="浏览器拒绝提供您的位置").wait_for()
    phone.grant_permissions(["geolocation"])
    phone.set_geolocation({"latitude": lat + 0.01, "longitude": lon})  # 1.1 km away: refused
    page.click("#checkin-btn")
    page.locator("#flash.error", has_text="须在 300 米范围内签到").wait_for()
    assert "1,112" in page.locator("#flash").inner_text()
    phone.set_geolocation({"latitude": lat + 0.0003, "longitude": lon})  # 33 m from the door
    page.click("#checkin-btn")
    page.locator(".flash", has_text="已签到").wait_for()
    assert page.locator("#report").is_visible() and page.locator("#photos").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the visit page is {width}px wide on a 390px phone"
    page.screenshot(path=str(shots / "field-03-checked-in-phone.png"), full_page=True)
    page.locator(".nav-menu").click()
    page.locator(".nav-links a[href='/field']").wait_for()
    page.screenshot(path=str(shots / "field-04-menu-phone.png"))


def _sign_in_anyone(page: object, base: str, username: str) -> None:
    page.goto(base + "/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", DEMO_PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "/login" not in url)  # type: ignore[attr-defined]


def test_personal_data_is_revealed_with_a_reason_and_exports_are_approved_in_a_real_browser(
    live: dict[str, object],
    browser: Browser,
) -> None:
    """PIPL: leader1 reveals a team case's phones, ID number and addresses with a reason (the masked
    block turns into the clear values, audited; a short reason comes back as the form's error), asks
    for an export that the manager approves and downloads it once; compliance1 finds the reveal on
    /privacy. A screenshot of each page."""
    import io

    from openpyxl import load_workbook

    base, shots = str(live["base"]), Path(str(live["shots"]))
    worker = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in(worker, base, "collector1")
    worker.locator("#queue tbody tr").first.locator("a").first.click()
    worker.wait_for_url(f"{base}/cases/*")
    case_url = worker.url
    assert worker.locator("#pii").count() == 1 and worker.locator("#pii summary").count() == 0
    lead = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in_anyone(lead, base, "leader1")
    lead.goto(case_url)
    masked = lead.locator("#pii").inner_text()
    assert "****" in masked
    lead.locator("#pii summary").click()
    lead.screenshot(path=str(shots / "privacy-01-case-masked-zh.png"), full_page=True)
    lead.eval_on_selector("#reveal-reason", "e => e.removeAttribute('minlength')")
    lead.fill("#reveal-reason", "ab")
    lead.click("#pii button[type=submit]")
    lead.locator("#pii .flash.error").wait_for()
    assert "至少 4 个字" in lead.locator("#pii").inner_text()
    lead.screenshot(path=str(shots / "privacy-02-case-reason-error-zh.png"), full_page=True)
    lead.select_option("#reveal-code", "verify_identity")
    lead.fill("#reveal-reason", "客户来电核实身份")
    lead.click("#pii button[type=submit]")
    lead.locator("#pii .revealed-note").wait_for()
    shown = lead.locator("#pii").inner_text()
    assert "已记入审计" in shown and "核实借款人身份" in shown and shown != masked
    lead.screenshot(path=str(shots / "privacy-03-case-revealed-zh.png"), full_page=True)

    lead.goto(base + "/exports")
    lead.select_option("#file_format", "xlsx")
    lead.select_option("#export-code", "internal_audit")
    lead.fill("#export-reason", "季度审计抽查")
    lead.click("#ask button[type=submit]")
    lead.locator(".flash", has_text="导出申请已提交").wait_for()
    lead.screenshot(path=str(shots / "privacy-04-exports-asked-zh.png"), full_page=True)
    boss = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in(boss, base, "manager")
    boss.goto(base + "/exports")
    row = boss.locator("#pending tbody tr", has_text="leader1").first
    assert "季度审计抽查" in row.inner_text()
    boss.screenshot(path=str(shots / "privacy-05-exports-approver-zh.png"), full_page=True)
    row.locator("input[name=note]").fill("同意，仅限内部使用")
    row.locator("button", has_text="批准").click()
    boss.locator(".flash", has_text="导出已批准").wait_for()

    lead.goto(base + "/exports")
    link = lead.locator("#mine a.button", has_text="下载").first
    with lead.expect_download() as got:
        link.click()
    assert got.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(got.value.path().read_bytes())).active
    assert sheet is not None and [c.value for c in sheet[1]][:3] == ["案件", "借款人", "电话"]
    assert sheet.max_row >= 2
    lead.locator("#mine .tag", has_text="已下载").first.wait_for()
    lead.screenshot(path=str(shots / "privacy-06-exports-downloaded-zh.png"), full_page=True)

    officer = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in_anyone(officer, base, "compliance1")
    officer.goto(base + "/privacy")
    assert "leader1" in officer.locator("#reveals").inner_text()
    assert "客户来电核实身份" in officer.locator("#reveals").inner_text()
    officer.screenshot(path=str(shots / "privacy-07-review-zh.png"), full_page=True)
    officer.goto(base + "/lang/en?next=/privacy")
    officer.screenshot(path=str(shots / "privacy-08-review-en.png"), full_page=True)


def test_an_administrator_edits_a_template_with_its_live_preview_in_a_real_browser(
    live: dict[str, object],
    browser: Browser,
) -> None:
    """The administration pages in a browser: the template editor's preview follows the typing (htmx),
    renders both languages with the sample borrower and shows the linter's finding for a threat."""
    base, shots = str(live["base"]), Path(str(live["shots"]))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    _sign_in_anyone(page, base, "admin")
    page.goto(base + "/admin")
    assert page.locator("header a[href='/admin']").count() == 1
    page.screenshot(path=str(shots / "admin-01-home-zh.png"), full_page=True)
    page.goto(base + "/admin/templates/edit?name=reminder_test&channel=sms")
    page.fill(
        "#body_zh_CN",
        "{{ signature }}{{ borrower_name }}您好，请尽快还款，否则后果自负。{{ opt_out }}",
    )
    page.fill(
        "#body_en",
        "{{ signature }}Dear {{ borrower_name }}, {{ amount_overdue }} is due. {{ opt_out }}",
    )
    zh = page.locator("#previews [data-locale=zh_CN]")
    zh.locator(".findings", has_text="CN-CONTENT.threat").wait_for()
    assert "张先生您好" in zh.inner_text() and "后果自负" in zh.locator("mark").inner_text()
    page.locator("#previews [data-locale=en]", has_text="Dear Mr Smith").wait_for()
    page.screenshot(path=str(shots / "admin-02-template-preview-zh.png"), full_page=True)
    page.goto(base + "/admin/strategies/default")
    assert page.locator("#rows tbody tr").count() >= 2
    page.screenshot(path=str(shots / "admin-03-strategy-zh.png"), full_page=True)


def test_a_waiver_is_proposed_and_approved_on_the_case_page_in_a_real_browser(
    live: dict[str, object],
    browser: Browser,
) -> None:
    """A collector proposes a 先还后减 waiver from the case's "Resolution" section; the manager finds it in
    /resolutions and approves it on the case page; the agreement link appears. Screenshots of each."""
    base, shots = str(live["base"]), Path(str(live["shots"]))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    _sign_in(page, base, "collector1")
    page.locator("#queue tbody tr").first.locator("a").first.click()
    page.wait_for_url(f"{base}/cases/*")
    case_url = page.url
    page.locator("#resolution").scroll_into_view_if_needed()
    page.locator("#propose summary", has_text="申请减免").click()
    page.locator("#resolution").screenshot(path=str(shots / "resolutions-00-form-zh.png"))
    page.fill("#rw-waive", "50.00")
    page.fill("#rr-waiver", "失业三个月，家庭困难")
    page.locator("#propose details", has_text="申请减免").locator("button[type=submit]").click()
    page.wait_for_selector(".flash")
    assert "审批" in page.locator(".flash").inner_text()
    page.locator("#resolution").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "resolutions-01-proposed-zh.png"), full_page=True)

    boss = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    _sign_in(boss, base, "manager")
    boss.goto(base + "/resolutions")
    boss.screenshot(path=str(shots / "resolutions-02-inbox-zh.png"), full_page=True)
    boss.goto(case_url)
    approve = boss.locator("#resolutions form.decide button", has_text="批准")
    if approve.count():  # pending (a waiver above the collector's own authority)
        approve.first.click()
        boss.locator(".flash", has_text="已批准").wait_for()
    assert boss.locator("#resolutions a", has_text="协议").count() == 1
    boss.locator("#resolution").scroll_into_view_if_needed()
    boss.screenshot(path=str(shots / "resolutions-03-approved-zh.png"), full_page=True)
    boss.goto(base + "/lang/en?next=" + case_url.replace(base, ""))
    boss.locator("#resolution").scroll_into_view_if_needed()
    boss.screenshot(path=str(shots / "resolutions-04-case-en.png"), full_page=True)
    boss.goto(base + "/lang/zh_CN?next=/resolutions")
