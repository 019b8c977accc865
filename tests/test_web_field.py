"""The field agent's pages through the app (TestClient): today's visits in route order, another agent's
visit as a 404 page, the GPS check-in inside and outside the geofence, photos (a PNG kept, a text file and
an oversized file refused), the report recorded as a contact with the promise made at the door, and the
address shown to the visit's agents with one ``pii.reveal`` audit entry per visit and day."""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_user
from recoup.auth.models import AppUser
from recoup.cases.models import Case, PromiseToPay, WorkerProfile
from recoup.cases.visit_photos import MAX_PHOTO_BYTES
from recoup.cases.visits import do_approve_visit, do_request_visit
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.models import ContactAttempt
from recoup.db import utcnow
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import ContactPoint
from recoup.web import pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ADDRESS = "上海市徐汇区漕溪北路 88 号 1201 室"


def _png() -> bytes:
    """A valid 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _login(client: TestClient, user: AppUser) -> None:
    pages.THROTTLE.succeeded(f"user:{user.username}", "ip:testclient")
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD, "next": "/"},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def _agent(session: Session) -> AppUser:
    user = make_user(session, "field_agent")
    session.add(WorkerProfile(user_id=user.id, kind="field_agent", pools=[], skills={}))
    session.flush()
    return user


def _address(session: Session, case: Case, value: str = ADDRESS) -> ContactPoint:
    point = ContactPoint(
        external_id=f"ADDR{case.id:06d}",
        borrower_id=case.borrower_id,
        kind="address",
        value=value,
        role="debtor",
        consent_channels="letter,visit",
    )
    session.add(point)
    session.flush()
    return point


def _today(settings: Settings) -> dt.date:
    return utcnow().astimezone(settings.tz).date()


class Floor:
    """A collector's cases, two pairs of field agents and a team lead who approves their visits."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self.collector = make_user(session, "collector")
        self.lead = make_user(session, "team_lead")
        self.a1, self.a2 = _agent(session), _agent(session)
        self.b1, self.b2 = _agent(session), _agent(session)

    def visit(
        self,
        lat: float,
        lon: float,
        *,
        agents: tuple[AppUser, AppUser] | None = None,
        day: dt.date | None = None,
        address: str = ADDRESS,
    ) -> FieldVisit:
        case = make_case(self.session, holder=self.collector, dpd=45)
        point = _address(self.session, case, address)
        one, two = agents or (self.a1, self.a2)
        visit = do_request_visit(
            case,
            session=self.session,
            actor=self.collector.username,
            settings=self.settings,
            planned_on=day or _today(self.settings),
            address_point_id=point.id,
            address_lat=lat,
            address_lon=lon,
            agent1=one.username,
            agent2=two.username,
        )
        return do_approve_visit(visit, session=self.session, actor=self.lead.username, settings=self.settings)


def _reveals(session: Session, actor: str) -> list[LedgerEntry]:
    return list(
        session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind == "pii.reveal", LedgerEntry.actor == actor)
        )
    )


def _order(html: str) -> list[int]:
    """The visit ids of the day page's route list, in the order shown."""
    block = html.split('id="visits"', 1)[1].split("</ol>", 1)[0]
    return [int(v) for v in re.findall(r'href="/field/visits/(\d+)"', block)]


def test_the_day_in_route_order_with_addresses_revealed_once(session: Session, settings: Settings) -> None:
    floor = Floor(session, settings)
    # Three addresses north of each other in Shanghai, 1.1 km and 3.3 km apart.
    south = floor.visit(31.200, 121.400, address="上海市徐汇区南丹路 1 号")
    middle = floor.visit(31.210, 121.400, address="上海市徐汇区中山路 2 号")
    north = floor.visit(31.240, 121.400, address="上海市徐汇区北京路 3 号")
    theirs = floor.visit(31.205, 121.400, agents=(floor.b1, floor.b2), address="上海市长宁区别人路 4 号")
    later = floor.visit(31.205, 121.400, day=_today(settings) + dt.timedelta(days=1))
    with api_client(session, settings) as client:
        _login(client, floor.a1)
        assert client.get("/", follow_redirects=False).headers["location"] == "/field"
        page = client.get("/field")
        assert page.status_code == 200, page.text
        shown = _order(page.text)
        assert sorted(shown) == sorted([south.id, middle.id, north.id])  # not theirs, not tomorrow's
        for v in (south, middle, north):
            session.refresh(v)
        assert shown == sorted(shown, key=lambda i: session.get(FieldVisit, i).route_position)  # type: ignore[union-attr]
        assert f"/field/visits/{theirs.id}" not in page.text and f"/field/visits/{later.id}" not in page.text
        # The agents going there see the full address; the borrower's name stays masked.
        assert "上海市徐汇区南丹路 1 号" in page.text and "北京路 3 号" in page.text
        assert "张**" in page.text and "张三丰" not in page.text
        assert "watermark" in page.text
        # From the south end the route goes north: south, middle, north.
        planned = client.post("/field/route", data={"lat": 31.19, "lon": 121.4}, headers=_csrf(client))
        assert planned.status_code == 200
        assert _order(planned.text) == [south.id, middle.id, north.id]
        # One pii.reveal per visit and day, however often the pages are opened.
        client.get("/field")
        client.get(f"/field/visits/{south.id}")
        entries = _reveals(session, floor.a1.username)
        cases = sorted(v.case_id for v in (south, middle, north))
        assert sorted(e.payload["case_id"] for e in entries) == cases
        assert all(
            e.payload["reason_code"] == "field_visit" and e.payload["reason"] == "field visit"
            for e in entries
        )
        assert all(e.payload["fields"] == ["address"] for e in entries)
        assert all("路" not in str(e.payload) for e in entries)  # ids, never the address
        # Tomorrow's visit: its page shows the address masked, and nothing is revealed.
        tomorrow = client.get(f"/field/visits/{later.id}")
        assert tomorrow.status_code == 200 and ADDRESS not in tomorrow.text and "上海市徐汇" in tomorrow.text
        assert len(_reveals(session, floor.a1.username)) == 3
    # The other agent of the visits has revealed nothing yet.
    assert _reveals(session, floor.a2.username) == []


def test_another_agents_visit_is_a_404_page(session: Session, settings: Settings) -> None:
    floor = Floor(session, settings)
    theirs = floor.visit(31.2, 121.4, agents=(floor.b1, floor.b2))
    with api_client(session, settings) as client:
        _login(client, floor.a1)
        page = client.get(f"/field/visits/{theirs.id}")
        assert page.status_code == 404 and "未找到" in page.text and ADDRESS not in page.text
        missing = client.get("/field/visits/999999")
        assert missing.status_code == 404
        r = client.post(
            f"/field/visits/{theirs.id}/check-in", data={"lat": 31.2, "lon": 121.4}, headers=_csrf(client)
        )
        assert r.status_code == 404
    session.refresh(theirs)
    assert theirs.status == "approved" and _reveals(session, floor.a1.username) == []
    # A role without case.work (compliance) gets the 403 page.
    auditor = make_user(session, "compliance")
    with api_client(session, settings) as client:
        _login(client, auditor)
        assert client.get("/field").status_code == 403


def test_check_in_outside_then_inside_the_geofence(session: Session, settings: Settings) -> None:
    floor = Floor(session, settings)
    visit = floor.visit(31.2, 121.4)
    with api_client(session, settings) as client:
        _login(client, floor.a2)
        page = client.get(f"/field/visits/{visit.id}")
        assert page.status_code == 200 and 'id="checkin-btn"' in page.text and "300" in page.text
        far = client.post(
            f"/field/visits/{visit.id}/check-in", data={"lat": 31.21, "lon": 121.4}, headers=_csrf(client)
        )
        assert far.status_code == 422
        assert "1,112" in far.text and "300" in far.text and "flash error" in far.text
        session.refresh(visit)
        assert visit.status == "approved" and visit.checkin_at is None
        near = client.post(
            f"/field/visits/{visit.id}/check-in", data={"lat": 31.2005, "lon": 121.4}, headers=_csrf(client)
        )
        assert near.status_code == 200, near.text
        assert "已签到" in near.text and 'id="report"' in near.text and 'id="checkin-btn"' not in near.text
        session.refresh(visit)
        assert visit.status == "checked_in" and visit.checkin_distance_m == pytest.approx(55.6, abs=0.2)
        again = client.post(
            f"/field/visits/{visit.id}/check-in", data={"lat": 31.2, "lon": 121.4}, headers=_csrf(client)
        )
        assert again.status_code == 422 and "flash error" in again.text


def test_photos_and_the_report_recorded_as_a_contact(session: Session, settings: Settings) -> None:
    floor = Floor(session, settings)
    visit = floor.visit(31.2, 121.4)
    with api_client(session, settings) as client:
        _login(client, floor.a1)
        early = client.post(
            f"/field/visits/{visit.id}/photos",
            files={"photo": ("a.png", _png(), "image/png")},
            headers=_csrf(client),
        )
        assert early.status_code == 422  # not checked in yet
        client.post(
            f"/field/visits/{visit.id}/check-in", data={"lat": 31.2, "lon": 121.4}, headers=_csrf(client)
        )
        ok = client.post(
            f"/field/visits/{visit.id}/photos",
            files={"photo": ("door.png", _png(), "image/png")},
            headers=_csrf(client),
        )
        assert ok.status_code == 200 and "照片已保存" in ok.text
        name = f"{visit.id}-1.png"
        assert f"/field/visits/{visit.id}/photos/{name}" in ok.text
        shown = client.get(f"/field/visits/{visit.id}/photos/{name}")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
        assert shown.content == _png()
        text = client.post(
            f"/field/visits/{visit.id}/photos",
            files={"photo": ("notes.png", b"not an image at all", "image/png")},  # a lying content type
            headers=_csrf(client),
        )
        assert text.status_code == 422 and "只能上传照片" in text.text
        huge = _png() + b"\0" * MAX_PHOTO_BYTES
        big = client.post(
            f"/field/visits/{visit.id}/photos",
            files={"photo": ("big.png", huge, "image/png")},
            headers=_csrf(client),
        )
        assert big.status_code == 422 and "照片过大" in big.text
        assert client.get(f"/field/visits/{visit.id}/photos/{visit.id}-2.png").status_code == 404
        # An incomplete report keeps what was typed.
        half = client.post(
            f"/field/visits/{visit.id}/report",
            data={"met": "debtor", "address_valid": "yes", "occupancy": "lives_here", "note": "门口见到本人"},
            headers=_csrf(client),
        )
        assert half.status_code == 422 and "门口见到本人" in half.text
        session.refresh(visit)
        assert visit.status == "checked_in"
        due = (_today(settings) + dt.timedelta(days=3)).isoformat()
        done = client.post(
            f"/field/visits/{visit.id}/report",
            data={
                "met": "debtor",
                "willingness": "pay_later",
                "address_valid": "yes",
                "occupancy": "lives_here",
                "note": "本人答应三天内还款",
                "cost": "35.50",
                "promise_amount": "800.00",
                "promise_due": due,
            },
            headers=_csrf(client),
        )
        assert done.status_code == 200, done.text
        assert "报告已提交" in done.text and "见到本人" in done.text
    session.refresh(visit)
    assert visit.status == "reported" and visit.cost_minor == 3550
    assert visit.photos == [f"photo://{visit.planned_on:%Y/%m/%d}/{name}"]
    assert visit.report is not None and visit.report["willingness"] == "pay_later"
    attempt = session.get(ContactAttempt, visit.attempt_id)
    assert attempt is not None and attempt.channel == "visit" and attempt.made_by == floor.a1.username
    assert attempt.disposition == "right_party_contact"
    promise = session.scalars(select(PromiseToPay).where(PromiseToPay.case_id == visit.case_id)).one()
    assert (
        promise.amount == 80_000
        and promise.due_date.isoformat() == due
        and promise.made_by == floor.a1.username
    )
    assert (settings.data_dir / "photos" / f"{visit.planned_on:%Y/%m/%d}" / name).read_bytes() == _png()


def test_a_refused_promise_files_nothing(session: Session, settings: Settings) -> None:
    floor = Floor(session, settings)
    visit = floor.visit(31.2, 121.4)
    with api_client(session, settings) as client:
        _login(client, floor.a1)
        client.post(
            f"/field/visits/{visit.id}/check-in", data={"lat": 31.2, "lon": 121.4}, headers=_csrf(client)
        )
        far = (_today(settings) + dt.timedelta(days=90)).isoformat()  # beyond the promise horizon
        r = client.post(
            f"/field/visits/{visit.id}/report",
            data={
                "met": "debtor",
                "willingness": "pay_later",
                "address_valid": "yes",
                "occupancy": "lives_here",
                "promise_amount": "800.00",
                "promise_due": far,
            },
            headers=_csrf(client),
        )
        assert r.status_code == 422 and "flash error" in r.text
    session.refresh(visit)
    assert visit.status == "checked_in" and visit.attempt_id is None
    assert session.scalars(select(ContactAttempt).where(ContactAttempt.channel == "visit")).first() is None


def test_without_pii_unmask_the_address_stays_masked(session: Session, settings: Settings) -> None:
    """A registered field agent whose role lacks pii.unmask (here a collector's role) goes by the masked
    address: nothing is revealed, the page says why."""
    floor = Floor(session, settings)
    plain = make_user(session, "collector")
    session.add(WorkerProfile(user_id=plain.id, kind="field_agent", pools=[], skills={}))
    session.flush()
    visit = floor.visit(31.2, 121.4, agents=(plain, floor.a2))
    with api_client(session, settings) as client:
        _login(client, plain)
        assert client.get("/", follow_redirects=False).headers["location"] == "/queue"  # not a field role
        day = client.get("/field")
        assert day.status_code == 200 and f"/field/visits/{visit.id}" in day.text
        page = client.get(f"/field/visits/{visit.id}")
        assert page.status_code == 200 and ADDRESS not in page.text and "上海市徐汇" in page.text
        assert "您的角色不能查看完整地址" in page.text
    assert _reveals(session, plain.username) == []
