"""The legal pages in a real browser: Playwright drives Debian's Chromium against a live `recoup serve` on
a book run through the daily cycle, with matters in several stages, a limitation watch list, a write-off
awaiting approval and a transferred debt sale. A legal officer walks the pages (Chinese and English), a
manager the approvals; each page is saved as a screenshot (``RECOUP_SCREENSHOTS`` or a temp directory)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from factories import imported_book
from floor_factories import make_case
from legal_factories import add_address, add_schedule
from live_server import needs_chromium, screenshots, serving
from recoup import migrate
from recoup.auth import service as auth
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.models import Case
from recoup.config import get_settings
from recoup.cycle.runner import Cycle
from recoup.db import make_engine, session_scope
from recoup.legal import limitation, matters, sales, writeoffs
from recoup.legal.pack import do_build_pack
from recoup.simulate.floor import DEMO_PASSWORD, do_setup_floor
from test_web_browser import _sign_in_anyone

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = needs_chromium


def _prepare(root: Path, url: str) -> dict[str, int]:
    as_of = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    engine = make_engine(url)
    migrate.upgrade(engine)
    lake = imported_book(root, engine, as_of - dt.timedelta(days=1), n=300, seed=13)
    Cycle(engine=engine, lake=lake).run(as_of - dt.timedelta(days=1))
    s = get_settings()
    ids: dict[str, int] = {}
    with session_scope(engine) as session:
        do_setup_floor(2, session=session)
        do_allocate(as_of - dt.timedelta(days=1), session=session, actor="leader1", kind="month_start")
        legal = auth.do_create_user(
            "legal1", DEMO_PASSWORD, roles=["legal"], display_name="法务1", session=session
        )
        manager = auth.get_user("manager", session=session)
        assert manager is not None
        cases = list(session.scalars(select(Case).where(Case.status == "open").order_by(Case.id).limit(12)))
        for c in cases:
            c.state = "early_collection"
        session.flush()
        routes = [
            ("payment_order", "申请支付令"),
            ("pre_suit_mediation", "诉前调解"),
            ("batch_suit", "第12批批量诉讼"),
            ("lawyer_letter", "律师函"),
        ]
        for c, (stage, why) in zip(cases[:4], routes, strict=True):
            m, _ = matters.do_open_matter(
                c,
                session=session,
                actor=legal,
                reason="逾期超过90天，联系无果",
                court="上海市浦东新区人民法院",
                settings=s,
            )
            matters.do_move_stage(m.id, stage, session=session, actor=legal, reason=why, settings=s)
            ids.setdefault("matter", m.id)
        first = ids["matter"]
        matters.do_update_matter(
            first, session=session, actor=legal, court_case_number="(2026)沪0115民督1234号"
        )
        matters.do_add_cost(
            first, session=session, actor=legal, kind="court_fee", amount=5_000, incurred_on=as_of
        )
        matters.do_add_document(
            first,
            session=session,
            actor=legal,
            kind="payment_order",
            title="支付令申请书",
            reference="dms://legal/2026/1234.pdf",
            sha256="ab" * 32,
        )
        matters.do_add_deadline(
            first, session=session, actor=legal, kind="hearing", due_on=as_of + dt.timedelta(days=9)
        )
        # Old debts nobody restarted: two time-barred, two approaching their limitation date.
        for back in (1130, 1100, 1070, 1040):
            old = make_case(session, state="negotiation", as_of=as_of)
            add_schedule(session, old, last_due=as_of - dt.timedelta(days=back), n=3)
        limitation.do_refresh_limitations(as_of, session=session, settings=s)
        wo = writeoffs.do_request_write_off(
            cases[8],
            session=session,
            actor=legal,
            reason="借款人无财产可供执行",
            evidence_ref="执行终本裁定",
            settings=s,
        )
        ids["write_off"] = wo.id
        for c in cases[9:11]:
            add_address(session, c)
        sale = sales.do_create_sale(
            session=session,
            actor=legal,
            buyer="某某资产管理有限公司",
            buyer_contact="400-800-1234",
            cutoff_date=as_of - dt.timedelta(days=15),
            transfer_date=as_of,
            case_ids=[c.id for c in cases[9:11]],
            price=120_000,
            settings=s,
        )
        sales.do_approve_sale(sale.id, session=session, actor=manager, settings=s)
        sales.do_transfer_sale(sale.id, session=session, actor=legal, settings=s)
        do_build_pack(sale.id, session=session, actor=legal, settings=s)
        ids["sale"] = sale.id
        pending = sales.do_create_sale(
            session=session,
            actor=legal,
            buyer="另一资产管理公司",
            cutoff_date=as_of,
            transfer_date=as_of,
            case_ids=[cases[11].id],
            settings=s,
        )
        ids["pending_sale"] = pending.id
    engine.dispose()
    return ids


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("legal-live")
    url = f"sqlite:///{root / 'app.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECOUP_DATA_DIR", str(root))
        get_settings.cache_clear()
        ids = _prepare(root, url)
        get_settings.cache_clear()
    with serving(root, url) as base:
        yield {"base": base, "ids": ids, "shots": screenshots(root)}


def test_the_legal_pages_in_a_real_browser(live: dict[str, object], browser: Browser) -> None:
    base, shots, ids = str(live["base"]), Path(str(live["shots"])), live["ids"]
    assert isinstance(ids, dict)
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in_anyone(page, base, "legal1")
    page.click("text=法务")
    page.wait_for_url(base + "/legal")
    assert page.locator("h1").first.inner_text() == "法律案件"
    assert page.locator("#matters tbody tr").count() == 4
    page.screenshot(path=str(shots / "legal-01-matters-zh.png"), full_page=True)
    page.goto(f"{base}/legal/matters/{ids['matter']}")
    assert "支付令" in page.locator("#summary").inner_text()
    page.screenshot(path=str(shots / "legal-02-matter-zh.png"), full_page=True)
    page.goto(base + "/legal/limitation?days=180")
    assert page.locator("#watch tbody tr").count() >= 3
    page.screenshot(path=str(shots / "legal-03-limitation-zh.png"), full_page=True)
    page.goto(base + "/legal/write-offs")
    page.screenshot(path=str(shots / "legal-04-write-offs-zh.png"), full_page=True)
    page.goto(base + "/legal/sales")
    page.screenshot(path=str(shots / "legal-05-sales-zh.png"), full_page=True)
    page.goto(f"{base}/legal/sales/{ids['sale']}")
    assert "已转让" in page.locator("#summary").inner_text()
    assert page.locator("#items .tag.ok").count() >= 1
    page.screenshot(path=str(shots / "legal-06-sale-zh.png"), full_page=True)
    page.goto(base + "/lang/en?next=/legal")
    page.wait_for_url(base + "/legal")
    assert page.locator("h1").first.inner_text() == "Legal matters"
    page.screenshot(path=str(shots / "legal-07-matters-en.png"), full_page=True)
    page.goto(f"{base}/legal/sales/{ids['sale']}")
    page.screenshot(path=str(shots / "legal-08-sale-en.png"), full_page=True)
    page.context.clear_cookies()
    manager = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    _sign_in_anyone(manager, base, "manager")
    manager.goto(base + "/legal/approvals")
    assert manager.locator("#pending-write-offs tbody tr").count() == 1
    manager.screenshot(path=str(shots / "legal-09-approvals-zh.png"), full_page=True)
    manager.fill("#pending-write-offs input[name=note]", "同意核销")
    manager.click("#pending-write-offs button:has-text('批准')")
    manager.wait_for_selector(".flash")
    assert "核销已批准" in manager.locator(".flash").inner_text()
    manager.screenshot(path=str(shots / "legal-10-approved-zh.png"), full_page=True)
