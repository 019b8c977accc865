"""失联修复: a case whose last own number turns out wrong is lost; a new number needs a lawful source and
a legal basis (address books and social data are refused); a phone added to a lost case repairs it; the
repair rate counts exactly that (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_user, token_for
from recoup.cases.skiptrace import repair_rate
from recoup.config import Settings
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import ContactPoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AT = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_lost_then_repaired_through_the_api(session: Session, settings: Settings) -> None:
    user = make_user(session, "collector")
    case = make_case(session, holder=user)
    phone = make_phone(session, case)
    token = token_for(session, user)
    with api_client(session, settings) as client:
        for hour in (2, 3):
            r = client.post(
                f"/api/v1/cases/{case.id}/contacts",
                json={
                    "result": "wrong_number",
                    "contact_point_id": phone.id,
                    "at": AT.replace(hour=hour).isoformat(),
                },
                headers=_h(token),
            )
            assert r.status_code == 201, r.json()
        assert case.contact_status == "lost" and case.lost_since == dt.date(2026, 12, 2)
        for source, code in (
            ("address_book", "skiptrace.invalid"),
            ("social", "skiptrace.invalid"),
            ("gossip", "skiptrace.invalid"),
        ):
            bad = client.post(
                f"/api/v1/cases/{case.id}/contact-points",
                json={
                    "kind": "phone",
                    "value": "13900139000",
                    "source": source,
                    "legal_basis": "asked around",
                },
                headers=_h(token),
            )
            assert bad.status_code == 422 and bad.json()["error"]["code"] == code
        no_basis = client.post(
            f"/api/v1/cases/{case.id}/contact-points",
            json={"kind": "phone", "value": "13900139000", "source": "borrower_update", "legal_basis": "  "},
            headers=_h(token),
        )
        assert no_basis.status_code == 422
        ok = client.post(
            f"/api/v1/cases/{case.id}/contact-points",
            json={
                "kind": "phone",
                "value": "139 0013 9000",
                "source": "borrower_update",
                "legal_basis": "the borrower called in and gave a new number",
            },
            headers=_h(token),
        )
        assert ok.status_code == 201, ok.json()
        assert ok.json()["repaired"] is True and ok.json()["contact_status"] == "reachable"
        listed = client.get(f"/api/v1/cases/{case.id}/contact-points", headers=_h(token)).json()
        assert "13900139000" not in str(listed)
        added = [p for p in listed if p["source"] == "borrower_update"]
        assert len(added) == 1 and added[0]["legal_basis"].startswith("the borrower")
        again = client.post(
            f"/api/v1/cases/{case.id}/contact-points",
            json={
                "kind": "phone",
                "value": "13900139000",
                "source": "borrower_update",
                "legal_basis": "again",
            },
            headers=_h(token),
        )
        assert again.status_code == 422
        manager = make_user(session, "manager")
        rate = client.get(
            "/api/v1/reports/repair-rate?start=2026-12-01&end=2026-12-31",
            headers=_h(token_for(session, manager)),
        ).json()
        assert (rate["lost"], rate["repaired"], rate["rate"]) == (1, 1, 1.0)
        forbidden = client.get(
            "/api/v1/reports/repair-rate?start=2026-12-01&end=2026-12-31", headers=_h(token)
        )
        assert forbidden.status_code == 403
    point = session.scalars(select(ContactPoint).where(ContactPoint.source == "borrower_update")).one()
    assert point.value == "13900139000" and point.added_by == user.username
    entries = session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind.in_(("case.contact_lost", "case.contact_added")))
    ).all()
    assert len(entries) == 2 and all("1390013" not in str(e.payload) for e in entries)


def test_repair_rate_counts_only_cases_lost_in_or_before_the_period(session: Session) -> None:
    a, b, c = make_case(session), make_case(session), make_case(session)
    a.contact_status, a.lost_since = "lost", dt.date(2026, 11, 5)
    b.contact_status, b.lost_since = "lost", dt.date(2026, 11, 20)
    c.contact_status, c.lost_since = "lost", dt.date(2026, 12, 3)  # after the period
    session.add(
        ContactPoint(
            external_id="ST-x",
            borrower_id=a.borrower_id,
            kind="phone",
            value="13700137000",
            role="self",
            source="court_order",
            legal_basis="court order (2026)京0105执123号",
            added_at=dt.datetime(2026, 11, 10, 2, tzinfo=dt.UTC),
        )
    )
    session.flush()
    r = repair_rate(dt.date(2026, 11, 1), dt.date(2026, 11, 30), session=session)
    assert (r.lost, r.repaired) == (2, 1) and r.rate == 0.5
