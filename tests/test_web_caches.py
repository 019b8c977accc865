"""What the workbench pages cache per process stays correct: a saved approval matrix, contact-policy
preset or bucket table is used at the next request (and built once per version), the case's terms read
once equal those read per base, the queue shows a contact the moment it is logged, and remembered date
formatting equals Babel's (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_phone, make_task, make_user
from recoup.cases.tasks import queue_for
from recoup.config import Settings
from recoup.configs.service import do_save_version
from recoup.contact.policy import presets
from recoup.db import utcnow
from recoup.delinquency.tables import BUCKETS
from recoup.portfolio.models import AccountInstallment, CollectionAccount
from recoup.resolutions import matrix_load
from recoup.resolutions.terms import case_terms, case_terms_on
from recoup.web.templating import format_day, format_when

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TODAY = dt.date(2026, 12, 2)


def test_a_saved_matrix_is_used_at_once_and_built_once_per_version(session: Session) -> None:
    builtin = matrix_load.resolve(session=session)
    assert builtin.label.startswith("default@builtin.") and matrix_load.resolve(session=session) is builtin
    payload = dict(builtin.payload)
    payload["budget"] = {"monthly": "20000.00"}
    matrix_load.do_save_matrix(payload, session=session, actor="test")
    first = matrix_load.resolve(session=session)
    assert first.label == "default@1" and matrix_load.resolve(session=session) is first
    payload["budget"] = {"monthly": "30000.00"}
    matrix_load.do_save_matrix(payload, session=session, actor="test")
    second = matrix_load.resolve(session=session)
    assert second.label == "default@2" and second is not first


def test_a_saved_preset_is_used_at_once_and_built_once_per_version(session: Session) -> None:
    builtin = presets.resolve("cn", session=session)
    assert builtin.version.startswith("builtin.") and presets.resolve("cn", session=session) is builtin
    presets.do_save_preset("cn", "cn", {"CN-FREQ-CONN": {"max": 2}}, session=session, actor="test")
    saved = presets.resolve("cn", session=session)
    assert saved.version == "1" and saved.rules["CN-FREQ-CONN"]["max"] == 2
    assert presets.resolve("cn", session=session) is saved
    presets.do_save_preset("cn", "cn", {"CN-FREQ-CONN": {"max": 1}}, session=session, actor="test")
    assert presets.resolve("cn", session=session).rules["CN-FREQ-CONN"]["max"] == 1


def _owing_case(session: Session, *, dpd: int = 10) -> int:
    case = make_case(session, dpd=dpd, overdue=400_000)
    account = session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id)).one()
    session.add_all(
        [
            AccountInstallment(
                account_id=account.id,
                seq=1,
                due_date=dt.date(2026, 11, 21),
                principal_due=250_000,
                interest_due=50_000,
                fee_due=20_000,
                penalty_due=80_000,
            ),
            AccountInstallment(
                account_id=account.id,
                seq=2,
                due_date=dt.date(2027, 1, 21),
                principal_due=500_000,
                interest_due=900,
            ),
        ]
    )
    session.flush()
    return case.id


def test_the_terms_read_once_equal_the_terms_read_per_base(session: Session) -> None:
    case_id = _owing_case(session)
    both = case_terms_on(("overdue", "whole"), case_id, session=session, as_of=TODAY)
    for base in ("overdue", "whole"):
        assert both[base] == case_terms(case_id, base=base, session=session, as_of=TODAY)
    # the whole balance: the overdue ¥4,000 and the future principal (not its unearned interest)
    assert both["overdue"].total == 400_000 and both["whole"].total == 400_000 + 500_000


def test_a_saved_bucket_table_changes_the_bucket_at_once(session: Session) -> None:
    case_id = _owing_case(session, dpd=10)
    before = case_terms(case_id, base="overdue", session=session, as_of=TODAY).bucket
    assert before == case_terms(case_id, base="overdue", session=session, as_of=TODAY).bucket
    table = {**BUCKETS, "rows": [{**row, "then": {**row["then"], "bucket": "ZZ"}} for row in BUCKETS["rows"]]}
    do_save_version("decision_table", "bucket", table, session=session)
    assert case_terms(case_id, base="overdue", session=session, as_of=TODAY).bucket == "ZZ" != before


def _login(client: TestClient, username: str) -> None:
    client.get("/login")
    token = client.cookies.get("csrftoken") or ""
    client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/queue"},
        headers={"x-csrftoken": token, "hx-request": "true"},
    )


def test_the_queue_shows_a_logged_contact_at_once(session: Session, settings: Settings) -> None:
    mine = make_user(session, "collector", name="collector1")
    case = make_case(session, holder=mine)
    point = make_phone(session, case)
    make_task(session, case)
    today = utcnow().astimezone(settings.tz).date()
    assert queue_for(mine, session=session, today=today).get_column("last_contact").to_list() == [None]
    with api_client(session, settings) as client:
        _login(client, "collector1")
        client.get("/lang/en?next=/queue")
        before = client.get("/queue")
        assert before.status_code == 200 and f'href="/cases/{case.id}"' in before.text
        logged = client.post(
            f"/cases/{case.id}/log",
            data={"result": "no_answer", "contact_point_id": str(point.id)},
            headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
        )
        assert logged.status_code in (200, 422), logged.text
        last = queue_for(mine, session=session, today=today).item(0, "last_contact")
        if logged.status_code == 200:  # logged (the policy may refuse a call at this hour: 422)
            assert last is not None
            assert format_when(last, settings.tz, "en") in client.get("/queue").text


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_remembered_dates_equal_babels(locale: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    loc = "zh_Hans_CN" if locale == "zh_CN" else "en"
    at = dt.datetime(2026, 12, 2, 23, 30, tzinfo=dt.UTC)
    expected = format_datetime(at.astimezone(tz), format="short", tzinfo=tz, locale=loc)
    assert format_when(at, tz, locale) == expected == format_when(at, tz, locale)
    assert format_day(TODAY, locale) == format_date(TODAY, format="medium", locale=loc)
