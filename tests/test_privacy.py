"""Personal-data protection (issue 13 item 3): revealing a case's masked phones, ID number and addresses
with a reason (service, API, pages; audited without the values; 404 for another holder's case; 403
without pii.unmask; a reason required), the alert on more than N reveals in an hour, and exports that
another user approves (four eyes), downloaded once within 24 h, masked unless the requester may see
personal data, as CSV or XLSX with headers in the user's language — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from conftest import BACKENDS, PG_URL, _fresh_pg
from floor_factories import PASSWORD, api_client, make_case, make_phone, make_team, make_user, token_for
from recoup import migrate
from recoup.auth.models import AppUser
from recoup.auth.service import DEFAULT_ROLES, PERMISSIONS
from recoup.cases.models import Case
from recoup.config import Settings, load_settings
from recoup.contact.models import ContactAttempt
from recoup.db import make_engine, utcnow
from recoup.errors import NotFoundError
from recoup.ledger.models import LedgerEntry
from recoup.pii import cipher_from_settings
from recoup.portfolio.models import Borrower, ContactPoint
from recoup.privacy import exports
from recoup.privacy.exportfile import COLUMNS
from recoup.privacy.models import ExportRequest
from recoup.privacy.reveal import (
    REVEAL_REASONS,
    RevealForbiddenError,
    RevealReasonError,
    check_reveal,
    do_reveal,
)
from recoup.web import pages
from recoup.web.privacy_pages import (
    EXPORT_HEADERS,
    EXPORT_REASON_LABELS,
    REVEAL_REASON_LABELS,
    export_headers,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PHONE = "13912345678"
NATIONAL_ID = "110101199003071234"
ADDRESS = "北京市朝阳区建国路88号3单元"
HEADERS_EN = ["Case", "Borrower", "Phone", "Overdue (yuan)", "Days past due", "Holder", "Last contact"]


def _personal(session: Session, settings: Settings, case: Case) -> None:
    """Give the case's borrower a phone, an encrypted ID number and an address."""
    make_phone(session, case, value=PHONE)
    borrower = session.get(Borrower, case.borrower_id)
    assert borrower is not None
    borrower.national_id_enc = cipher_from_settings(settings).encrypt(NATIONAL_ID)
    session.add(
        ContactPoint(
            external_id=f"ADDR{case.id}",
            borrower_id=case.borrower_id,
            kind="address",
            value=ADDRESS,
            role="self",
        )
    )
    session.flush()


def _entries(session: Session, kind: str, actor: str | None = None) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.kind == kind)
    if actor:
        query = query.where(LedgerEntry.actor == actor)
    return list(session.scalars(query.order_by(LedgerEntry.seq)))


def _no_values(entry: LedgerEntry) -> None:
    dumped = json.dumps(entry.payload, ensure_ascii=False)
    for value in (PHONE, NATIONAL_ID, ADDRESS, "1234", "建国路"):
        assert value not in dumped, (value, dumped)


def _auth(session: Session, user: AppUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(session, user)}"}


def _login(client: TestClient, username: str) -> None:
    pages.THROTTLE.succeeded(f"user:{username}", "ip:testclient")
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _csrf(client: TestClient, htmx: bool = True) -> dict[str, str]:
    headers = {"x-csrftoken": client.cookies.get("csrftoken") or ""}
    return headers | ({"hx-request": "true"} if htmx else {})


# --- the permission table ---------------------------------------------------------------------


def test_permissions_and_labels_are_declared() -> None:
    for perm in ("pii.unmask", "pii.review", "export.request", "export.approve"):
        assert perm in PERMISSIONS and " / " in PERMISSIONS[perm]  # English and Chinese
    holders = {
        perm: {r for r, perms in DEFAULT_ROLES.items() if perm in perms or "*" in perms}
        for perm in ("pii.unmask", "pii.review", "export.request", "export.approve")
    }
    assert holders["pii.unmask"] == {"admin", "manager", "team_lead", "field_agent", "legal", "compliance"}
    assert not {"collector", "agency", "auditor", "analyst"} & holders["pii.unmask"]
    assert holders["pii.review"] == {"admin", "manager", "compliance", "auditor"}
    assert holders["export.approve"] == {"admin", "manager", "compliance"}
    assert not {"collector", "agency", "field_agent"} & holders["export.request"]
    assert set(REVEAL_REASON_LABELS) == set(REVEAL_REASONS)
    assert set(EXPORT_REASON_LABELS) == set(exports.EXPORT_REASONS)
    assert len(EXPORT_HEADERS) == len(COLUMNS)
    assert export_headers("en") == HEADERS_EN
    assert export_headers("zh_CN")[:2] == ["案件", "借款人"]


# --- revealing --------------------------------------------------------------------------------


def test_reveal_returns_clear_values_and_audits_without_them(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    case = make_case(session, holder=lead)
    _personal(session, settings, case)
    done = do_reveal(
        case,
        lead,
        None,
        "  客户来电核实身份，号码 13800138000  ",
        reason_code="verify_identity",
        session=session,
        settings=settings,
    )
    assert [p.value for p in done.data.phones] == [PHONE]
    assert done.data.national_id == NATIONAL_ID
    assert [a.value for a in done.data.addresses] == [ADDRESS]
    assert done.fields == ("phone", "national_id", "address") and not done.alert
    (entry,) = _entries(session, "pii.reveal", lead.username)
    assert entry.seq == done.ledger_seq
    assert entry.payload["case_id"] == case.id and entry.payload["user_id"] == lead.id
    assert entry.payload["fields"] == ["phone", "national_id", "address"]
    assert entry.payload["reason_code"] == "verify_identity"
    # The reason is kept, with a number typed into it masked; no value of the borrower is in the ledger.
    assert entry.payload["reason"] == "客户来电核实身份，号码 138****8000"
    _no_values(entry)
    # Only what is asked is in clear.
    some = do_reveal(case, lead, ["phone"], "call back", session=session, settings=settings)
    assert some.data.phones[0].value == PHONE and some.data.national_id != NATIONAL_ID
    assert some.data.addresses[0].value != ADDRESS and some.fields == ("phone",)


def test_reveal_needs_the_permission_and_a_reason(session: Session, settings: Settings) -> None:
    collector = make_user(session, "collector")
    lead = make_user(session, "team_lead")
    with pytest.raises(RevealForbiddenError):
        check_reveal(collector, None, "a good reason")
    for reason in ("", "   ", "abc", " a  b "):
        with pytest.raises(RevealReasonError) as short:
            check_reveal(lead, None, reason)
        assert short.value.http_status == 422 and short.value.code == "pii.reason_required"
    with pytest.raises(RevealReasonError):
        check_reveal(lead, None, "x" * 301)
    assert check_reveal(lead, ["address", "phone"], "核实身份") == (("phone", "address"), "核实身份")
    for bad in (["email"], []):
        with pytest.raises(Exception) as unknown:
            check_reveal(lead, bad, "a good reason")
        assert getattr(unknown.value, "code", "") == "pii.reveal_invalid"


def test_too_many_reveals_raise_one_alert_per_hour(session: Session, settings: Settings) -> None:
    low = load_settings(data_dir=settings.data_dir, pii_reveal_alert_per_hour=2)
    field = make_user(session, "field_agent")
    other = make_user(session, "field_agent")
    case = make_case(session, holder=field)
    _personal(session, low, case)
    got = [
        do_reveal(case, field, None, f"visit {i}", reason_code="field_visit", session=session, settings=low)
        for i in range(4)
    ]
    assert [r.alert for r in got] == [False, False, True, False]  # N + 1 = 3rd; once per hour
    assert [r.reveals_in_window for r in got] == [1, 2, 3, 4]
    assert all(r.data.phones[0].value == PHONE for r in got)  # reveals keep working after the alert
    (alert,) = _entries(session, "pii.reveal_alert")
    assert alert.actor == field.username
    assert alert.payload == {
        "user_id": field.id,
        "reveals": 3,
        "limit": 2,
        "window_minutes": 60,
        "last_case_id": case.id,
    }
    # Another user has a window of their own.
    case2 = make_case(session, holder=other)
    for _ in range(2):
        assert not do_reveal(case2, other, None, "visit", session=session, settings=low).alert
    # An hour later (the old reveals moved back in time) the count starts again.
    session.execute(
        text("UPDATE ledger_entry SET recorded_at = :t WHERE actor = :a"),
        {"t": utcnow() - dt.timedelta(minutes=61), "a": field.username},
    )
    session.expire_all()
    assert not do_reveal(case, field, None, "visit again", session=session, settings=low).alert


def test_reveal_api(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    team = make_team(session, "privacy-A", lead=lead)
    mine = make_user(session, "collector", team=team)
    stranger = make_user(session, "collector")
    case = make_case(session, holder=mine)
    theirs = make_case(session, holder=stranger)
    _personal(session, settings, case)
    _personal(session, settings, theirs)
    with api_client(session, settings) as client:
        url = f"/api/v1/cases/{case.id}/reveal"
        ok = client.post(
            url,
            json={"reason_code": "complaint", "reason": "投诉核实号码"},
            headers=_auth(session, lead),
        )
        assert ok.status_code == 200, ok.json()
        body = ok.json()
        assert body["phones"][0]["value"] == PHONE and body["national_id"] == NATIONAL_ID
        assert body["addresses"][0]["value"] == ADDRESS and body["alert"] is False
        entry = session.get(LedgerEntry, body["ledger_seq"])
        assert entry is not None and entry.kind == "pii.reveal" and entry.actor == lead.username
        _no_values(entry)
        # Another team's case: 404, exactly like a missing one.
        for cid in (theirs.id, 999_999):
            gone = client.post(
                f"/api/v1/cases/{cid}/reveal", json={"reason": "good reason"}, headers=_auth(session, lead)
            )
            assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
        # A collector (the holder) lacks pii.unmask: 403.
        denied = client.post(url, json={"reason": "good reason"}, headers=_auth(session, mine))
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "auth.forbidden"
        # No reason, or a short one: 422 in the envelope.
        for payload in ({}, {"reason": "abc"}, {"reason": "    ", "reason_code": "other"}):
            bad = client.post(url, json=payload, headers=_auth(session, lead))
            assert bad.status_code == 422, bad.json()
            assert set(bad.json()) == {"error"} and bad.json()["error"]["code"] == "pii.reason_required"
        unknown = client.post(
            url, json={"reason": "good reason", "fields": ["email"]}, headers=_auth(session, lead)
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "request.invalid"
    assert len(_entries(session, "pii.reveal", lead.username)) == 1  # refusals write nothing


def test_reveal_pages(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead", name="lead.privacy")
    team = make_team(session, "privacy-B", lead=lead)
    holder = make_user(session, "collector", name="coll.privacy", team=team)
    outsider = make_user(session, "collector", name="other.privacy")
    make_user(session, "compliance", name="comp.privacy")
    case = make_case(session, holder=holder)
    theirs = make_case(session, holder=outsider)
    _personal(session, settings, case)
    with api_client(session, settings) as client:
        _login(client, "coll.privacy")
        page = client.get(f"/cases/{case.id}")
        assert page.status_code == 200 and 'id="pii"' in page.text
        assert PHONE not in page.text and NATIONAL_ID not in page.text and ADDRESS not in page.text
        assert "139****5678" in page.text and "1101**********1234" in page.text
        assert f'hx-post="/cases/{case.id}/reveal"' not in page.text  # no pii.unmask: no form
        refused = client.post(
            f"/cases/{case.id}/reveal", data={"reason": "good reason"}, headers=_csrf(client)
        )
        assert refused.status_code == 403
        client.post("/logout", headers=_csrf(client))

        _login(client, "lead.privacy")
        page = client.get(f"/cases/{case.id}")
        assert f'hx-post="/cases/{case.id}/reveal"' in page.text and "watermark" in page.text
        short = client.post(
            f"/cases/{case.id}/reveal",
            data={"reason_code": "complaint", "reason": "abc"},
            headers=_csrf(client),
        )
        assert short.status_code == 422 and "至少 4 个字" in short.text and 'id="pii"' in short.text
        assert "<html" not in short.text and PHONE not in short.text  # the block only, still masked
        assert 'value="abc"' in short.text and 'value="complaint" selected' in short.text
        shown = client.post(
            f"/cases/{case.id}/reveal",
            data={"reason_code": "complaint", "reason": "投诉核实"},
            headers=_csrf(client),
        )
        assert shown.status_code == 200 and "<html" not in shown.text
        assert PHONE in shown.text and NATIONAL_ID in shown.text and ADDRESS in shown.text
        assert "处理投诉 · 投诉核实" in shown.text and "已记入审计" in shown.text
        assert shown.headers["cache-control"] == "no-store"
        # Without htmx: a page of its own, with the watermark.
        plain = client.post(
            f"/cases/{case.id}/reveal",
            data={"reason_code": "other", "reason": "no script"},
            headers=_csrf(client, htmx=False),
        )
        assert plain.status_code == 200 and "<html" in plain.text and "watermark" in plain.text
        assert PHONE in plain.text and f'href="/cases/{case.id}"' in plain.text
        hidden = client.post(
            f"/cases/{theirs.id}/reveal", data={"reason": "good reason"}, headers=_csrf(client)
        )
        assert hidden.status_code == 404
        assert client.get("/privacy").status_code == 403  # a team lead does not review
        client.post("/logout", headers=_csrf(client))

        _login(client, "comp.privacy")
        review = client.get("/privacy")
        assert review.status_code == 200 and "lead.privacy" in review.text
        assert "投诉核实" in review.text and f'href="/cases/{case.id}"' in review.text
        assert PHONE not in review.text
        assert 'href="/privacy"' in review.text  # the nav link for reviewers
        mine_only = client.get("/privacy?user=nobody")
        assert (
            mine_only.status_code == 200 and "lead.privacy</a>" not in mine_only.text.split('id="reveals"')[1]
        )
    assert len(_entries(session, "pii.reveal", "lead.privacy")) == 2


def test_the_review_page_lists_alerts(session: Session, settings: Settings) -> None:
    low = load_settings(data_dir=settings.data_dir, pii_reveal_alert_per_hour=1)
    field = make_user(session, "field_agent", name="field.alert")
    make_user(session, "auditor", name="audit.alert")
    case = make_case(session, holder=field)
    _personal(session, low, case)
    for _ in range(2):
        do_reveal(case, field, None, "visit today", reason_code="field_visit", session=session, settings=low)
    with api_client(session, low) as client:
        _login(client, "audit.alert")
        page = client.get("/privacy")
        assert page.status_code == 200
        alerts = page.text.split('id="alerts"')[1].split("</table>")[0]
        assert "field.alert" in alerts and "超出上限" in page.text
        assert "<b>准备外访</b>: visit today" in page.text


# --- exports ---------------------------------------------------------------------------------


def _two_cases(session: Session, settings: Settings, holder: AppUser) -> list[Case]:
    cases = [make_case(session, holder=holder, overdue=123_456, dpd=45), make_case(session, holder=holder)]
    _personal(session, settings, cases[0])
    b = session.get(Borrower, cases[0].borrower_id)
    assert b is not None
    session.add(
        ContactAttempt(
            source="collector",
            external_id=f"X{cases[0].id}",
            borrower_key=b.external_id,
            party="debtor",
            channel="call",
            destination_hash="h",
            destination_masked="139****5678",
            at=dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC),
            outcome="connected",
            made_by=holder.username,
        )
    )
    session.flush()
    return cases


def test_export_four_eyes_once_and_expiry(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    manager = make_user(session, "manager")
    other_manager = make_user(session, "manager")
    collector = make_user(session, "collector")
    _two_cases(session, settings, lead)
    with pytest.raises(exports.ExportForbiddenError):
        exports.do_request_export(collector, "csv", "monthly check", session=session, settings=settings)
    with pytest.raises(exports.ExportInvalidError):
        exports.do_request_export(lead, "pdf", "monthly check", session=session, settings=settings)
    with pytest.raises(exports.ExportInvalidError):
        exports.do_request_export(lead, "csv", "abc", session=session, settings=settings)
    req = exports.do_request_export(
        lead, "csv", "月度核对", reason_code="management_report", session=session, settings=settings
    )
    assert req.status == "pending" and req.row_count == 2 and req.unmasked
    with pytest.raises(exports.ExportStateError):  # not approved yet
        exports.do_download_export(req.id, lead, headers=HEADERS_EN, session=session, settings=settings)
    # Four eyes: the requester cannot decide, even holding export.approve.
    own = exports.do_request_export(manager, "xlsx", "board pack", session=session, settings=settings)
    with pytest.raises(exports.ExportFourEyesError) as four:
        exports.do_approve_export(own.id, manager, session=session, settings=settings)
    assert four.value.http_status == 403 and four.value.code == "export.four_eyes"
    with pytest.raises(exports.ExportForbiddenError):  # a team lead does not approve
        exports.do_approve_export(own.id, lead, session=session, settings=settings)
    exports.do_reject_export(own.id, other_manager, note="not needed", session=session, settings=settings)
    with pytest.raises(exports.ExportStateError):
        exports.do_approve_export(own.id, other_manager, session=session, settings=settings)
    approved = exports.do_approve_export(req.id, manager, note="ok", session=session, settings=settings)
    assert approved.status == "approved" and approved.decided_by == manager.username
    assert exports.expires_at(approved) == approved.decided_at + dt.timedelta(hours=24)  # type: ignore[operator]
    # Only the requester downloads (another user does not even see it, unless an approver).
    with pytest.raises(NotFoundError):
        exports.do_download_export(
            req.id, make_user(session, "analyst"), headers=HEADERS_EN, session=session, settings=settings
        )
    file = exports.do_download_export(req.id, lead, headers=HEADERS_EN, session=session, settings=settings)
    assert file.rows == 2 and file.name.endswith(".csv") and file.media_type.startswith("text/csv")
    with pytest.raises(exports.ExportUsedError) as used:
        exports.do_download_export(req.id, lead, headers=HEADERS_EN, session=session, settings=settings)
    assert used.value.http_status == 410
    kinds = [e.kind for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("export.%")))]
    assert kinds == ["export.request", "export.request", "export.reject", "export.approve", "export.download"]
    download = _entries(session, "export.download")[0]
    assert download.payload["sha256"] == file.sha256 and download.payload["unmasked"] is True
    for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("export.%"))):
        _no_values(e)
    # 24 hours after the approval the download has expired.
    late = exports.do_request_export(lead, "xlsx", "late download", session=session, settings=settings)
    exports.do_approve_export(late.id, manager, session=session, settings=settings)
    late.decided_at = utcnow() - dt.timedelta(hours=24, minutes=1)
    session.flush()
    assert exports.status_of(late) == "expired"
    with pytest.raises(exports.ExportExpiredError) as expired:
        exports.do_download_export(late.id, lead, headers=HEADERS_EN, session=session, settings=settings)
    assert expired.value.http_status == 410 and expired.value.code == "export.expired"


def _read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # a BOM, for spreadsheet programs
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_export_content_masked_unless_pii_unmask(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")  # pii.unmask
    analyst = make_user(session, "analyst")  # sees every case, no pii.unmask
    manager = make_user(session, "manager")
    cases = _two_cases(session, settings, lead)
    lead.display_name = "=HYPERLINK(1)"  # a formula in a cell is written as text
    session.flush()
    clear = exports.do_request_export(lead, "csv", "check my book", session=session, settings=settings)
    masked = exports.do_request_export(analyst, "csv", "model inputs", session=session, settings=settings)
    assert clear.unmasked and not masked.unmasked
    for r in (clear, masked):
        exports.do_approve_export(r.id, manager, session=session, settings=settings)
    rows = _read_csv(
        exports.do_download_export(
            clear.id, lead, headers=HEADERS_EN, session=session, settings=settings
        ).content
    )
    assert rows[0] == HEADERS_EN
    assert rows[1] == [
        str(cases[0].id),
        "张三丰",
        PHONE,
        "1234.56",
        "45",
        "'=HYPERLINK(1)",
        "2026-12-01 10:30",
    ]
    assert rows[2][:5] == [str(cases[1].id), "张三丰", "", "1500.00", "10"] and rows[2][6] == ""
    seen = _read_csv(
        exports.do_download_export(
            masked.id, analyst, headers=HEADERS_EN, session=session, settings=settings
        ).content
    )
    mine = {int(r[0]): r for r in seen[1:]}
    assert mine[cases[0].id][1:3] == ["张**", "139****5678"]
    assert PHONE not in "".join(",".join(r) for r in seen)


def test_export_xlsx_is_formatted_in_the_users_language(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    english = make_user(session, "team_lead")
    english.locale = "en"
    manager = make_user(session, "manager")
    cases = _two_cases(session, settings, lead)
    with api_client(session, settings) as client:
        for who, header in ((lead, ["案件", "借款人", "电话", "逾期金额（元）"]), (english, HEADERS_EN[:4])):
            made = client.post(
                "/api/v1/exports",
                json={"format": "xlsx", "reason_code": "internal_audit", "reason": "quarterly audit"},
                headers=_auth(session, who),
            )
            assert made.status_code == 201, made.json()
            client.post(f"/api/v1/exports/{made.json()['id']}/approve", headers=_auth(session, manager))
            got = client.get(f"/api/v1/exports/{made.json()['id']}/download", headers=_auth(session, who))
            assert got.status_code == 200, got.text
            assert got.headers["content-type"].startswith(exports.MEDIA_TYPES["xlsx"])
            assert "attachment" in got.headers["content-disposition"]
            ws = load_workbook(io.BytesIO(got.content)).active
            assert ws is not None
            assert [c.value for c in ws[1]][:4] == header and all(c.font.b for c in ws[1])
            values = {row[0].value: row for row in ws.iter_rows(min_row=2)}
            if who is lead:
                first = values[cases[0].id]
                assert first[3].value == pytest.approx(1234.56) and first[3].number_format == "#,##0.00"
                assert isinstance(first[3].value, (int, float)) and first[4].value == 45
                assert first[1].value == "张三丰" and first[2].value == PHONE
                assert first[6].value == dt.datetime(2026, 12, 1, 10, 30)
            assert ws.column_dimensions["B"].width >= 8 and ws.column_dimensions["D"].width >= 10
            assert ws.freeze_panes == "A2"


def test_export_api(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    manager = make_user(session, "manager")
    compliance = make_user(session, "compliance")
    collector = make_user(session, "collector")
    _two_cases(session, settings, lead)
    with api_client(session, settings) as client:
        assert (
            client.post(
                "/api/v1/exports", json={"format": "csv", "reason": "abcd"}, headers=_auth(session, collector)
            ).status_code
            == 403
        )
        short = client.post(
            "/api/v1/exports", json={"format": "csv", "reason": "ab"}, headers=_auth(session, lead)
        )
        assert short.status_code == 422 and short.json()["error"]["code"] == "export.invalid"
        made = client.post(
            "/api/v1/exports",
            json={"format": "csv", "reason_code": "regulator_request", "reason": "监管检查"},
            headers=_auth(session, manager),
        )
        assert made.status_code == 201 and made.json()["status"] == "pending" and made.json()["rows"] >= 2
        eid = made.json()["id"]
        pending = client.get("/api/v1/exports/pending", headers=_auth(session, compliance)).json()
        assert eid in [p["id"] for p in pending]
        own = client.post(f"/api/v1/exports/{eid}/approve", headers=_auth(session, manager))
        assert own.status_code == 403 and own.json()["error"]["code"] == "export.four_eyes"
        early = client.get(f"/api/v1/exports/{eid}/download", headers=_auth(session, manager))
        assert early.status_code == 409 and early.json()["error"]["code"] == "export.invalid_state"
        ok = client.post(
            f"/api/v1/exports/{eid}/approve",
            json={"note": "for the regulator"},
            headers=_auth(session, compliance),
        )
        assert ok.status_code == 200 and ok.json()["status"] == "approved" and ok.json()["expires_at"]
        again = client.post(f"/api/v1/exports/{eid}/reject", headers=_auth(session, compliance))
        assert again.status_code == 409
        stranger = client.get(f"/api/v1/exports/{eid}/download", headers=_auth(session, lead))
        assert stranger.status_code == 404
        first = client.get(f"/api/v1/exports/{eid}/download", headers=_auth(session, manager))
        assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
        second = client.get(f"/api/v1/exports/{eid}/download", headers=_auth(session, manager))
        assert second.status_code == 410 and second.json()["error"]["code"] == "export.already_downloaded"
        mine = client.get("/api/v1/exports", headers=_auth(session, manager)).json()
        assert mine[0]["id"] == eid and mine[0]["status"] == "downloaded"
        assert (
            client.get("/api/v1/exports/999999/download", headers=_auth(session, manager)).status_code == 404
        )


def test_export_pages(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead", name="lead.export")
    make_user(session, "manager", name="boss.export")
    _two_cases(session, settings, lead)
    with api_client(session, settings) as client:
        _login(client, "lead.export")
        page = client.get("/exports")
        assert page.status_code == 200 and 'hx-post="/exports"' in page.text and "watermark" in page.text
        assert 'href="/exports"' in page.text and 'id="pending"' not in page.text  # no approvals for a lead
        assert "姓名和电话将不脱敏" in page.text
        bad = client.post("/exports", data={"file_format": "csv", "reason": "ab"}, headers=_csrf(client))
        assert bad.status_code == 204 and bad.headers["hx-redirect"] == "/exports"
        assert "flash error" in client.get("/exports").text
        asked = client.post(
            "/exports",
            data={"file_format": "csv", "reason_code": "internal_audit", "reason": "季度审计"},
            headers=_csrf(client),
        )
        assert asked.status_code == 204
        after = client.get("/exports")
        assert "导出申请已提交" in after.text and "待审批" in after.text
        req = session.scalars(select(ExportRequest).where(ExportRequest.requested_by == "lead.export")).one()
        assert client.post(f"/exports/{req.id}/approve", headers=_csrf(client)).status_code == 403
        client.post("/logout", headers=_csrf(client))

        _login(client, "boss.export")
        approvals = client.get("/exports/approvals")
        assert approvals.status_code == 200 and f'hx-post="/exports/{req.id}/approve"' in approvals.text
        assert f'formaction="/exports/{req.id}/reject"' in approvals.text and "季度审计" in approvals.text
        done = client.post(f"/exports/{req.id}/approve", data={"note": "同意"}, headers=_csrf(client))
        assert done.status_code == 204
        assert "导出已批准" in client.get(done.headers["hx-redirect"]).text
        client.post("/logout", headers=_csrf(client))

        _login(client, "lead.export")
        listed = client.get("/exports")
        assert f'href="/exports/{req.id}/download"' in listed.text and "已批准" in listed.text
        cross = client.get(
            f"/exports/{req.id}/download", headers={"sec-fetch-site": "cross-site"}, follow_redirects=False
        )
        assert cross.status_code == 303  # a link from another site does not spend the download
        file = client.get(f"/exports/{req.id}/download")
        assert file.status_code == 200 and file.content.startswith(b"\xef\xbb\xbf")
        rows = _read_csv(file.content)
        assert rows[0][:4] == ["案件", "借款人", "电话", "逾期金额（元）"] and PHONE in rows[1]
        again = client.get(f"/exports/{req.id}/download", follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"] == "/exports"
        assert "已下载过" in client.get("/exports").text


# --- the migration ---------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "pg":
        with _fresh_pg(PG_URL) as eng:
            yield eng
        return
    eng = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    yield eng
    eng.dispose()


def _perms(engine: Engine) -> dict[str, list[str]]:
    with Session(engine) as s:
        rows = s.execute(text("SELECT name, permissions FROM role ORDER BY name")).all()
    return {name: (json.loads(p) if isinstance(p, str) else p) for name, p in rows}


def test_migration_grants_the_new_permissions_to_existing_roles(blank_engine: Engine) -> None:
    migrate.upgrade(blank_engine, "0019")
    old: dict[str, list[str]] = {
        "manager": ["case.view", "pii.unmask"],
        "team_lead": ["case.view"],
        "collector": ["case.view", "case.work"],
        "custom": ["case.view"],
    }
    with blank_engine.begin() as conn:
        for i, (name, perms) in enumerate(old.items(), start=1):
            conn.execute(
                text("INSERT INTO role (id, name, permissions) VALUES (:i, :n, :p)"),
                {"i": i, "n": name, "p": json.dumps(perms)},
            )
    migrate.upgrade(blank_engine)
    got = _perms(blank_engine)
    assert got["manager"] == [
        "case.view",
        "pii.unmask",
        "pii.review",
        "export.request",
        "export.approve",
        "api.docs",
        "admin.view",
        "admin.activate",
    ]
    assert got["team_lead"] == ["case.view", "pii.unmask", "export.request"]
    assert got["collector"] == old["collector"] and got["custom"] == old["custom"]
    with blank_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM export_request")).scalar() == 0
    cfg = migrate.alembic_config()
    with blank_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
    back = _perms(blank_engine)
    assert back["manager"] == ["case.view", "pii.unmask"] and back["team_lead"] == ["case.view", "pii.unmask"]
    migrate.upgrade(blank_engine)  # and up again
    assert "export.request" in _perms(blank_engine)["team_lead"]


def test_the_migration_grants_every_new_permission_the_default_roles_hold() -> None:
    """A permission added to DEFAULT_ROLES must reach existing databases' roles too (0020's GRANTS)."""
    import importlib.util

    from recoup.auth.service import DEFAULT_ROLES

    path = Path(migrate.__file__).parent / "migrations" / "versions" / "0020_privacy.py"
    spec = importlib.util.spec_from_file_location("m0020", path)
    assert spec is not None and spec.loader is not None
    m0020 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0020)
    for role, perms in DEFAULT_ROLES.items():
        wanted = {p for p in perms if p in m0020.NEW}
        assert wanted <= set(m0020.GRANTS.get(role, ())), role


def test_every_new_route_is_in_the_permission_table() -> None:
    from recoup.web.app import api_operations

    ops = {(o.method, o.path): o.permission for o in api_operations()}
    assert ops[("POST", "/api/v1/cases/{case_id}/reveal")] == "pii.unmask"
    assert ops[("POST", "/api/v1/exports")] == "export.request"
    assert ops[("POST", "/api/v1/exports/{export_id}/approve")] == "export.approve"
    assert ops[("GET", "/api/v1/exports/{export_id}/download")] == "export.request"
