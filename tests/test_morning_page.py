"""The morning view on a small seeded book (TestClient): every section with data, every table exported as
CSV (header in the reader's language) and XLSX (formatted), and a collector refused. The kernels, charts
and the table model are tested in ``test_morning.py``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from factories import imported_book
from recoup import migrate
from recoup.auth import service as auth
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.models import Case, CaseHolding, PromiseToPay, Team, WorkerProfile
from recoup.cases.work_models import CaseStop
from recoup.config import Settings, get_settings, load_settings
from recoup.contact.models import CallTranscript, ContactHold, OutboxMessage, QaFinding
from recoup.contact.service import do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, Party
from recoup.cycle.runner import Cycle
from recoup.db import make_engine, session_scope
from recoup.lake.store import Outputs
from recoup.pii import cipher_from_settings
from recoup.portfolio.models import AccountPayment, Borrower, CollectionAccount
from recoup.simulate.floor import DEMO_PASSWORD, do_setup_floor
from recoup.web import morning, pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

D = dt.date

AS_OF = D(2026, 11, 20)
LOCAL = dt.timezone(dt.timedelta(hours=8))
TABLES = [
    "kpis",
    "collections",
    "recovery-curve",
    "buckets",
    "classes",
    "roll-rates",
    "vintages",
    "segments",
    "leaderboard",
    "agencies",
    "contact-funnel",
    "promise-funnel",
    "workload",
    "coverage",
    "arms",
    "blocked",
    "violations",
    "qa",
    "holds",
]
CHARTS = {
    "chart-collections": "polyline",
    "chart-recovery": "polyline",
    "chart-buckets": "rect",
    "chart-classes": "rect",
    "chart-rollrates": "rect",
    "chart-vintages": "circle",
    "chart-segments": "rect",
    "chart-leaderboard": "rect",
    "chart-agencies": "rect",
    "chart-contact-funnel": "rect",
    "chart-promise-funnel": "rect",
    "chart-workload": "rect",
    "chart-coverage": "rect",
    "chart-arms": "circle",
    "chart-blocked": "rect",
    "chart-violations": "rect",
    "chart-qa": "rect",
    "chart-holds": "rect",
}


def _seed_lake(lake_root: Path) -> None:
    """A month-end snapshot before the day (every loan past due one bucket better then) and an experiment
    with two arms in the day's decisions."""
    from recoup.lake import Lake

    out = Outputs(Lake(str(lake_root)))
    daily = out.read("account_daily", AS_OF)
    assert daily is not None
    better = {"M1": "C", "M2": "M1", "M3": "M2", "M4": "M3", "M5": "M4", "M6": "M5", "M7+": "M6"}
    out.replace(
        "account_daily",
        daily.with_columns(as_of=pl.lit(D(2026, 10, 31)), bucket=pl.col("bucket").replace(better)),
        as_of=D(2026, 10, 31),
    )
    decisions = out.read("decisions", AS_OF)
    assert decisions is not None and decisions.height
    arm = pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("champion")).otherwise(pl.lit("gentle"))
    out.replace("decisions", decisions.with_columns(experiment=pl.lit("exp-test"), arm=arm), as_of=AS_OF)


def _seed_floor(session: Any, cipher: Any) -> None:
    """Last month's holdings and this month's payments, calls (one at 23:30, against the policy), a
    transcript, promises, a QA finding, a hold, a stop, a blocked message, an agency, and two complaints
    (one received on the day, one 20 days before: past its deadline)."""
    from recoup.complaints.service import do_open_complaint

    do_setup_floor(2, session=session)
    do_allocate(AS_OF, session=session, actor="leader1", kind="month_start")
    c1 = auth.get_user("collector1", session=session)
    assert c1 is not None
    cases = session.scalars(select(Case).where(Case.holder_id == c1.id).order_by(Case.id)).all()
    assert len(cases) >= 4
    for days in (0, 20):
        do_open_complaint(
            session=session,
            actor="compliance1",
            source="hotline",
            category="frequency",
            case_id=cases[-1].id,
            received_on=AS_OF - dt.timedelta(days=days),
            now=dt.datetime.combine(AS_OF, dt.time(18), tzinfo=LOCAL),
        )
    pay = 0
    for i, case in enumerate(cases[:4]):
        account = session.scalars(
            select(CollectionAccount).where(CollectionAccount.case_id == case.id)
        ).first()
        borrower = session.get(Borrower, case.borrower_id)
        session.add(
            CaseHolding(
                case_id=case.id,
                holder_id=c1.id,
                start_date=D(2026, 10, 5),
                end_date=D(2026, 11, 1),
                reason="allocated",
                rule="M1",
                allocated_amount=40_000,
            )
        )
        for day, amount in ((D(2026, 10, 12), 5_000), (AS_OF, 3_000 + i)):
            pay += 1
            session.add(
                AccountPayment(
                    external_id=f"MP{pay}",
                    account_id=account.id,
                    received_date=day,
                    amount=amount,
                    channel="bank_transfer",
                )
            )
        for hour, outcome, disposition in (
            (10, "conversation", "right_party_contact"),
            (11, "no_answer", None),
            (23, "conversation", "promise_to_pay"),
        ):
            attempt = do_record_attempt(
                session=session,
                source="collector",
                external_id=f"MA{case.id}-{hour}",
                borrower_key=borrower.external_id,
                debt_key=account.external_id,
                at=dt.datetime.combine(AS_OF, dt.time(hour, 30), tzinfo=LOCAL),
                channel=Channel.CALL,
                party=Party.DEBTOR,
                destination=f"1380013800{i}",
                outcome=AttemptOutcome(outcome),
                disposition=disposition,
                made_by="collector1",
                cipher=cipher,
            )
        session.flush()
        session.add(
            CallTranscript(
                attempt_id=attempt.id,
                segments=[
                    {"speaker": "agent", "start": 0, "end": 40.0, "text": "您好"},
                    {"speaker": "customer", "start": 40.0, "end": 95.0, "text": "好的"},
                ],
            )
        )
        session.add(
            PromiseToPay(
                case_id=case.id,
                made_at=dt.datetime(2026, 11, 5, 3, tzinfo=dt.UTC),
                made_on=D(2026, 11, 5),
                by="debtor",
                amount=2_000,
                due_date=AS_OF + dt.timedelta(days=1 if i < 2 else -5),
                status="pending" if i < 2 else ("kept" if i == 2 else "broken"),
                kept_amount=2_000 if i == 2 else 0,
                made_by="collector1",
            )
        )
        if i == 0:
            session.add(
                QaFinding(
                    attempt_id=attempt.id,
                    rule="CN-ID",
                    severity="major",
                    made_by="collector1",
                    created_at=dt.datetime.combine(AS_OF, dt.time(4), tzinfo=dt.UTC),
                )
            )
            session.add(
                ContactHold(
                    borrower_key=borrower.external_id,
                    kind="dispute",
                    created_by="leader1",
                    start_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                )
            )
            session.add(
                OutboxMessage(
                    key=f"k{case.id}",
                    message_id=f"m{case.id}",
                    as_of=AS_OF,
                    borrower_key=borrower.external_id,
                    channel="sms",
                    plugin="csv",
                    destination_enc="x",
                    destination_hash="h",
                    body="…",
                    due_at=dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC),
                    status="blocked",
                    verdict="blocked",
                    verdict_rules=["CN-TIME", "CN-FREQ-CONN"],
                )
            )
        if i == 1:
            case.stopped = True
            session.add(
                CaseStop(case_id=case.id, reason="litigation", status="active", requested_by="leader1")
            )
    # An agency holding the fourth case from the day on, credited with its payment that day.
    team = Team(name="外包甲 Agency A", kind="agency")
    session.add(team)
    session.flush()
    agent = auth.do_create_user("agency-a", DEMO_PASSWORD, roles=["agency"], session=session)
    session.add(
        WorkerProfile(
            user_id=agent.id, team_id=team.id, kind="agency", agency_code="AGA", pools=[], skills={}
        )
    )
    placed = cases[3]
    open_ = select(CaseHolding).where(CaseHolding.case_id == placed.id, CaseHolding.end_date.is_(None))
    for h in session.scalars(open_):  # the collector held it from the 1st
        h.start_date, h.end_date = D(2026, 11, 1), AS_OF
    session.add(
        CaseHolding(
            case_id=placed.id,
            holder_id=agent.id,
            start_date=AS_OF,
            reason="manual",
            rule="M4PLUS",
            allocated_amount=30_000,
        )
    )
    placed.holder_id = agent.id


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A book of 150 loans run through one day's cycle, with the floor's month seeded on it."""
    root = tmp_path_factory.mktemp("morning")
    url = f"sqlite:///{root / 'app.db'}"
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("RECOUP_") and not k.startswith("RECOUP_TEST_")]:
            mp.delenv(key)
        mp.setenv("RECOUP_DATA_DIR", str(root))
        get_settings.cache_clear()
        engine = make_engine(url)
        migrate.upgrade(engine)
        lake = imported_book(root, engine, AS_OF, n=150, seed=5)
        Cycle(engine=engine, lake=lake).run(AS_OF)
        _seed_lake(root / "lake")
        settings = load_settings(data_dir=root, database_url=url, collections_target_month=Decimal("20000"))
        cipher = cipher_from_settings(settings)  # before the transaction: it records the key's state
        with session_scope(engine) as session:
            _seed_floor(session, cipher)
        engine.dispose()
        get_settings.cache_clear()
    yield settings


def _client(settings: Settings, username: str) -> TestClient:
    from recoup.web.app import create_app

    pages.THROTTLE.succeeded(f"user:{username}", "ip:testclient")
    client = TestClient(create_app(settings), raise_server_exceptions=True)
    client.get("/login")
    signed = client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert signed.status_code == 204, signed.text
    return client


def test_the_page_shows_every_section_with_data(seeded: Settings) -> None:
    morning.clear_cache()
    with _client(seeded, "manager") as client:
        page = client.get("/morning")
        assert page.status_code == 200, page.text[-3000:]
        html = page.text
        assert "晨会看板" in html and "2026年11月20日" in html  # zh_CN by default, the day it refers to
        for chart, element in CHARTS.items():
            m = re.search(rf'<svg id="{chart}"[^>]*>(.*?)</svg>', html, re.S)
            assert m is not None, chart
            assert f"<{element}" in m.group(1), (chart, m.group(1)[:300])
        for table in TABLES:
            m = re.search(rf'<table id="{table}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S)
            assert m is not None and "<td" in m.group(1), table
            assert (
                f'href="/morning/export/{table}.csv"' in html
                and f'href="/morning/export/{table}.xlsx"' in html
            )
        kpis = re.search(r'<div class="kpis" id="kpis">(.*?)</div>\s*<div class="panels">', html, re.S)
        assert kpis is not None
        assert "¥20,000.00" in kpis.group(1)  # the month's target is set
        card = re.search(r'id="kpi-complaints">(.*?)</div>\s*</div>', kpis.group(1), re.S)
        assert card is not None  # from the register; red: one complaint is past its deadline
        assert 'class="card kpi bad" id="kpi-complaints"' in kpis.group(1)
        assert ">1<" in card.group(1) and "昨日收到 · 2 待处理 · 1 已逾期" in card.group(1), card.group(1)
        talk = re.search(r"kpi-talk.*?</div>\s*</div>", html, re.S)
        assert talk is not None and "6.3 分钟" in talk.group(0), (
            talk
        )  # 4 transcripts × 95 s ÷ 1 collector = 380 s
        assert "外包甲 Agency A" in html and "exp-test" in html and "gentle" in html
        assert "CN-TIME" in html and "停催：诉讼中" in html and "争议" in html  # a rule; a stop and a hold
        english = client.get("/lang/en?next=/morning", follow_redirects=True)
        assert "Morning view" in english.text and "Nov 20, 2026" in english.text
        assert client.get("/morning").elapsed.total_seconds() < 2  # cached for the day


def test_every_table_exports_as_csv_and_xlsx(seeded: Settings) -> None:
    morning.clear_cache()
    with _client(seeded, "manager") as client:
        client.get("/lang/zh_CN?next=/morning")
        for table in TABLES:
            got = client.get(f"/morning/export/{table}.csv")
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv"), table
            assert f"recoup-{table}-2026-11-20.csv" in got.headers["content-disposition"]
            text = got.content.decode("utf-8")
            assert text.startswith("\ufeff")
            header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
            assert header and all(not h.isascii() or h.isupper() or h[:1].isdigit() for h in header), header
            book = load_workbook(io.BytesIO(client.get(f"/morning/export/{table}.xlsx").content))
            sheet = book.worksheets[0]
            assert [c.value for c in sheet[1]] == header and all(c.font.bold for c in sheet[1])
            tables = morning._cache[next(iter(morning._cache))][1].tables
            for i, col in enumerate(tables[table].columns, start=1):
                if col.kind == "pct" and sheet.max_row > 1:
                    assert sheet.cell(row=2, column=i).number_format == "0.0%", (table, col.key)
                if col.kind == "money" and sheet.max_row > 1:
                    assert sheet.cell(row=2, column=i).number_format == "#,##0.00", (table, col.key)
        assert client.get("/morning/export/nope.csv").status_code == 404
        assert client.get("/morning/export/kpis.pdf").status_code == 404
        client.get("/lang/en?next=/morning")
        english = client.get("/morning/export/collections.csv").content.decode("utf-8").lstrip("\ufeff")
        assert english.startswith("Date,Collected,Month to date")


def test_a_collector_may_not_see_the_morning_view(seeded: Settings) -> None:
    with _client(seeded, "collector1") as client:
        assert client.get("/morning").status_code == 403
        assert client.get("/morning/export/kpis.csv").status_code == 403
        assert client.get("/morning/export/kpis.xlsx").status_code == 403
