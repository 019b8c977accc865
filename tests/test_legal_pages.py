"""The legal pages through the app (TestClient): matters by stage with deadlines, opening and moving a
matter by form, the limitation watch list, write-offs and sales with four-eyes approval, in Chinese and
English (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_task, make_user
from legal_factories import SH, add_address, add_schedule
from recoup.config import Settings
from recoup.ledger.models import LedgerEntry
from recoup.legal.limitation import do_refresh_limitations
from recoup.legal.models import DebtSale, LegalMatter, WriteOff
from recoup.web import pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _login(client: TestClient, username: str) -> None:
    pages.THROTTLE.succeeded(f"user:{username}", "ip:testclient")
    client.cookies.clear()
    client.get("/login")
    token = client.cookies.get("csrftoken")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD},
        headers={"x-csrftoken": token or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _post(client: TestClient, url: str, data: dict[str, str]) -> None:
    r = client.post(
        url, data=data, headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
    )
    assert r.status_code == 204, (url, r.status_code, r.text[:300])


def test_matters_by_stage_opening_moving_and_the_limitation_watch(
    session: Session, settings: Settings
) -> None:
    lawyer = make_user(session, "legal")
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=dt.date(2026, 10, 1))
    make_task(session, case, treatment="legal_review")
    old = make_case(session, state="negotiation")
    add_schedule(session, old, last_due=dt.date(2023, 12, 1))
    today = dt.datetime.now(SH).date()
    do_refresh_limitations(today, session=session, settings=settings)
    with api_client(session, settings) as client:
        _login(client, lawyer.username)
        page = client.get("/legal")
        assert page.status_code == 200 and "法律案件" in page.text and "立法律案件" in page.text
        _post(
            client, "/legal/matters", {"case_id": str(case.id), "reason": "逾期超过90天", "court": "浦东法院"}
        )
        matter = session.scalars(select(LegalMatter).where(LegalMatter.case_id == case.id)).one()
        detail = client.get(f"/legal/matters/{matter.id}")
        assert detail.status_code == 200
        assert "评估" in detail.text and "法务审查任务已完成" in detail.text and "浦东法院" in detail.text
        _post(
            client, f"/legal/matters/{matter.id}/stage", {"to_stage": "payment_order", "reason": "申请支付令"}
        )
        detail = client.get(f"/legal/matters/{matter.id}")
        assert "已推进到支付令" in detail.text and "异议期届满" in detail.text
        _post(client, f"/legal/matters/{matter.id}/stage", {"to_stage": "hearing", "reason": "x"})
        assert "cannot move" in client.get(f"/legal/matters/{matter.id}").text  # the refusal, flashed
        _post(client, f"/legal/matters/{matter.id}/costs", {"kind": "court_fee", "amount": "50.00"})
        _post(client, f"/legal/matters/{matter.id}/costs", {"kind": "court_fee", "amount": "abc"})
        detail = client.get(f"/legal/matters/{matter.id}")
        assert "¥50.00" in detail.text and "金额无效" in detail.text
        by_stage = client.get("/legal?stage=payment_order")
        assert f'href="/legal/matters/{matter.id}"' in by_stage.text
        # A time-barred debt is refused without the confirmation.
        _post(client, "/legal/matters", {"case_id": str(old.id), "reason": "诉讼"})
        assert "诉讼时效" in client.get("/legal").text
        watch = client.get("/legal/limitation?days=365")
        assert watch.status_code == 200 and "已过时效" in watch.text
        _post(client, "/legal/limitation/refresh", {})
        assert "已计算" in client.get("/legal/limitation").text
        client.get("/lang/en?next=/legal")
        english = client.get("/legal/limitation")
        assert "Limitation watch" in english.text and "time-barred" in english.text


def test_write_offs_and_sales_with_four_eyes_in_the_pages(session: Session, settings: Settings) -> None:
    lawyer, manager = make_user(session, "legal"), make_user(session, "manager")
    collector = make_user(session, "collector")
    case = make_case(session, state="negotiation")
    add_schedule(session, case, last_due=dt.date(2026, 5, 1), n=2)
    sold = make_case(session, state="early_collection")
    add_schedule(session, sold, last_due=dt.date(2026, 8, 1), n=1)
    add_address(session, sold)
    today = dt.datetime.now(SH).date()
    with api_client(session, settings) as client:
        _login(client, lawyer.username)
        _post(client, "/legal/write-offs", {"case_id": str(case.id), "reason": "无财产可供执行"})
        wo = session.scalars(select(WriteOff).where(WriteOff.case_id == case.id)).one()
        assert "¥2,100.00" in client.get("/legal/write-offs").text
        _post(
            client,
            "/legal/sales",
            {
                "buyer": "某某资产管理有限公司",
                "cutoff_date": (today - dt.timedelta(days=5)).isoformat(),
                "transfer_date": today.isoformat(),
                "case_ids": str(sold.id),
            },
        )
        sale = session.scalars(select(DebtSale)).one()
        assert "等待其他用户审批" in client.get(f"/legal/sales/{sale.id}").text
        # The legal officer cannot decide (no plan.approve): the page is refused.
        assert client.get("/legal/approvals").status_code == 403
        _login(client, manager.username)
        approvals = client.get("/legal/approvals")
        assert (
            approvals.status_code == 200
            and "待审批的核销" in approvals.text
            and "某某资产管理有限公司" in approvals.text
        )
        _post(client, f"/legal/write-offs/{wo.id}/approve", {"note": "同意"})
        _post(client, f"/legal/sales/{sale.id}/approve", {"note": ""})
        assert "转让已批准" in client.get("/legal/approvals").text
        assert client.get("/legal").status_code == 403  # a manager lacks legal.manage
        _login(client, lawyer.username)
        _post(client, f"/legal/sales/{sale.id}/transfer", {})
        page = client.get(f"/legal/sales/{sale.id}")
        assert "已转让" in page.text and "通知已排队" in page.text
        _post(client, f"/legal/sales/{sale.id}/pack", {})
        page = client.get(f"/legal/sales/{sale.id}")
        assert "accounts.xlsx" in page.text
        got = client.get(f"/legal/sales/{sale.id}/pack/accounts.csv")
        assert got.status_code == 200 and "loan_id" in got.text and got.headers["cache-control"] == "no-store"
        assert client.get(f"/legal/sales/{sale.id}/pack/..%2Fsecret").status_code == 404
        _login(client, collector.username)
        assert client.get("/legal/sales").status_code == 403
    session.refresh(wo)
    assert (wo.status, case.close_reason) == ("approved", "written_off")
    downloads = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "sale.pack_downloaded")).all()
    assert [d.payload["file"] for d in downloads] == ["accounts.csv"]
