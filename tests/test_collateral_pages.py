"""The funding and collateral pages through the app (TestClient): partners, a payout by form and the
loan's creditor history, collections by creditor; collateral items with LTV, a valuation, a disposal asked
for, approved by another person and completed with its net recovery; permission refusals; both languages
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_user
from legal_factories import SH, account_of, add_payment, add_schedule
from recoup.collateral.models import CollateralDisposal, CollateralItem
from recoup.config import Settings
from recoup.funding.models import GuarantorPayout
from recoup.funding.service import do_save_partner
from recoup.web import pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _login(client: TestClient, username: str) -> None:
    pages.THROTTLE.succeeded(f"user:{username}", "ip:testclient")
    client.cookies.clear()
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _post(client: TestClient, url: str, data: dict[str, str]) -> int:
    r = client.post(
        url, data=data, headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
    )
    return r.status_code


def test_funding_page_partners_payout_and_split(session: Session, settings: Settings) -> None:
    manager, lawyer, collector = (
        make_user(session, "manager"),
        make_user(session, "legal"),
        make_user(session, "collector"),
    )
    today = dt.datetime.now(SH).date()
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=today - dt.timedelta(days=20))
    loan = account_of(session, case).external_id
    account_of(session, case).funding_partner = "BANK9"
    do_save_partner(
        "BANK9",
        name="某农商行",
        kind="bank",
        recovery_share_bp=6_000,
        session=session,
        actor="t",
        settings=settings,
    )
    add_payment(session, case, on=today.replace(day=1), amount=10_000)
    with api_client(session, settings) as client:
        _login(client, manager.username)
        assert (
            _post(
                client,
                "/funding/partners",
                {
                    "code": "GUAR9",
                    "name": "某担保",
                    "kind": "guarantor",
                    "share": "100",
                    "waiver_limit": "300.00",
                    "permits_waivers": "1",
                },
            )
            == 204
        )
        page = client.get("/funding")
        assert page.status_code == 200 and "某担保" in page.text and "某农商行" in page.text
        assert "按债权人" in page.text and "¥60.00" in page.text  # 60 % of ¥100 to the bank
        assert _post(client, "/funding/payouts", {"loan_id": loan}) == 403  # a manager lacks legal.manage
        _login(client, lawyer.username)
        assert (
            _post(
                client,
                "/funding/payouts",
                {"loan_id": loan, "guarantor": "GUAR9", "amount": "1000.00", "paid_on": today.isoformat()},
            )
            == 204
        )
        assert (
            session.scalars(select(GuarantorPayout).where(GuarantorPayout.loan_id == loan)).one().amount
            == 100_000
        )
        look = client.get(f"/funding?loan={loan}")
        assert "GUAR9" in look.text and "担保代偿" in look.text
        assert (
            _post(
                client,
                "/funding/payouts",
                {"loan_id": loan, "guarantor": "NOPE", "amount": "1", "paid_on": today.isoformat()},
            )
            == 204
        )
        assert "未登记" in client.get("/funding").text  # the refusal, flashed
        assert (
            _post(client, "/funding/partners", {"code": "X", "kind": "bank"}) == 403
        )  # legal lacks config.edit
        _login(client, collector.username)
        assert client.get("/funding").status_code == 403


def test_collateral_pages_value_dispose_and_apply(session: Session, settings: Settings) -> None:
    lawyer, manager = make_user(session, "legal"), make_user(session, "manager")
    today = dt.datetime.now(SH).date()
    case = make_case(session, state="early_collection")
    add_schedule(session, case, last_due=today - dt.timedelta(days=10), n=2, principal=1_000_000, interest=0)
    loan = account_of(session, case).external_id
    with api_client(session, settings) as client:
        _login(client, lawyer.username)
        assert (
            _post(
                client,
                "/collateral/items",
                {
                    "loan_id": loan,
                    "kind": "vehicle",
                    "description": "朗逸 沪B54321",
                    "value": "15000.00",
                    "valued_on": today.isoformat(),
                },
            )
            == 204
        )
        item = session.scalars(select(CollateralItem).where(CollateralItem.loan_id == loan)).one()
        listing = client.get("/collateral")
        assert listing.status_code == 200 and "沪B****" in listing.text and "沪B54321" not in listing.text
        assert "133.3%" in listing.text  # ¥20,000 owed against ¥15,000
        assert (
            _post(
                client,
                f"/collateral/items/{item.id}/repossess",
                {"on": today.isoformat(), "location": "停车场", "costs": "500.00"},
            )
            == 204
        )
        assert (
            _post(client, f"/collateral/items/{item.id}/disposals", {"method": "auction", "reason": "失联"})
            == 204
        )
        d = session.scalars(select(CollateralDisposal).where(CollateralDisposal.item_id == item.id)).one()
        assert _post(client, f"/collateral/disposals/{d.id}/approve", {}) == 403  # legal lacks plan.approve
        _login(client, manager.username)
        queue = client.get("/collateral/approvals")
        assert queue.status_code == 200 and "拍卖" in queue.text
        assert _post(client, f"/collateral/disposals/{d.id}/approve", {"note": "同意"}) == 204
        _login(client, lawyer.username)
        assert (
            _post(
                client,
                f"/collateral/disposals/{d.id}/complete",
                {"disposed_on": today.isoformat(), "proceeds": "16000.00", "costs": "1000.00"},
            )
            == 204
        )
        detail = client.get(f"/collateral/items/{item.id}")
        assert "¥14,500.00" in detail.text and "COLL-" in detail.text  # 16,000 − 1,000 − 500
        client.get("/lang/en?next=/collateral")
        en = client.get(f"/collateral/items/{item.id}")
        assert en.status_code == 200 and "Net recovered" in en.text and "auction" in en.text
        assert client.get("/collateral/items/999999").status_code == 404
