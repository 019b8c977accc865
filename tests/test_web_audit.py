"""The audit ledger's pages (``audit.view``): entries newest first, filtered and paged; one entry with its
payload masked; the chain verification naming a tampered entry; the CSV export of the filtered list;
403 for a collector (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_user
from recoup.config import Settings
from recoup.ledger.models import LedgerEntry
from recoup.ledger.service import do_append

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_ROW = re.compile(r'<td class="num"><a href="/audit/(\d+)">')


def _login(client: TestClient, username: str) -> None:
    client.get("/login")
    token = client.cookies.get("csrftoken") or ""
    signed = client.post(
        "/login",
        data={"username": username, "password": PASSWORD},
        headers={"x-csrftoken": token, "hx-request": "true"},
    )
    assert signed.status_code == 204, signed.text


def _seqs(html: str) -> list[int]:
    return [int(s) for s in _ROW.findall(html)]


def _fill(session: Session, settings: Settings) -> list[LedgerEntry]:
    """150 imports by ``importer``, then 30 reveals on case 7 and 20 on case 8 by ``officer``."""
    out = [
        do_append(
            "import.file",
            {"rows": i, "sha256": "ab" * 32},
            session=session,
            actor="importer",
            settings=settings,
        )
        for i in range(150)
    ]
    for i in range(50):
        payload = {
            "case_id": 7 if i < 30 else 8,
            "borrower_id": 70,
            "fields": ["phone"],
            "reason": "called 13812345678 to check",
        }
        out.append(do_append("pii.reveal", payload, session=session, actor="officer", settings=settings))
    return out


def test_entries_newest_first_filtered_and_paged(session: Session, settings: Settings) -> None:
    make_user(session, "compliance", name="compliance7")
    entries = _fill(session, settings)
    newest = entries[-1].seq
    total = session.scalar(select(func.count()).select_from(LedgerEntry))
    assert total is not None
    with api_client(session, settings) as client:
        _login(client, "compliance7")
        page = client.get("/audit")
        assert page.status_code == 200
        assert 'href="/audit"' in page.text and "审计日志" in page.text  # the nav link, in Chinese
        first = _seqs(page.text)
        assert len(first) == 100 and first[0] >= newest and first == sorted(first, reverse=True)
        assert "13812345678" not in page.text and "138****5678" in page.text  # masked in the summary
        assert f'title="{entries[-1].entry_hash}"' in page.text  # full hash on hover
        older = re.search(r'href="(/audit\?before=\d+)"', page.text)
        assert older is not None
        second = _seqs(client.get(older.group(1).replace("&amp;", "&")).text)
        assert len(second) == min(100, total - 100) and second[0] == first[-1] - 1

        pii = client.get("/audit", params={"kind": "pii."})
        rows = _seqs(pii.text)
        assert len(rows) == 50 and set(rows) == {e.seq for e in entries[150:]}
        assert "import.file</code>" not in pii.text
        assert len(_seqs(client.get("/audit", params={"actor": "importer"}).text)) == 100
        assert len(_seqs(client.get("/audit", params={"case": "7"}).text)) == 30
        assert len(_seqs(client.get("/audit", params={"case": "8", "kind": "pii.reveal"}).text)) == 20
        assert len(_seqs(client.get("/audit", params={"borrower": "70"}).text)) == 50
        today = dt.datetime.now(settings.tz).date()
        assert len(_seqs(client.get("/audit", params={"kind": "pii", "from": today.isoformat()}).text)) == 50
        yesterday = (today - dt.timedelta(days=1)).isoformat()
        assert _seqs(client.get("/audit", params={"kind": "pii", "to": yesterday}).text) == []
        bad = client.get("/audit", params={"from": "not a day", "case": "x"})
        assert bad.status_code == 200 and "flash error" in bad.text

        # A page of a filter: the older link keeps the filter; the last page has no older link.
        imports = client.get("/audit", params={"actor": "importer"})
        link = re.search(r'href="(/audit\?actor=importer&amp;before=\d+)"', imports.text)
        assert link is not None
        rest = client.get(link.group(1).replace("&amp;", "&"))
        assert len(_seqs(rest.text)) == 50 and "before=" not in rest.text.split("audit-pager")[-1]
        assert "after=" in rest.text  # and back to the newer ones

        one = client.get(f"/audit/{entries[-1].seq}")
        assert one.status_code == 200
        assert entries[-1].entry_hash in one.text and entries[-1].prev_hash in one.text
        assert "13812345678" not in one.text and "138****5678" in one.text
        assert 'href="/cases/8"' in one.text
        assert client.get(f"/audit/{newest + 1000}").status_code == 404


def test_a_collector_cannot_read_the_ledger(session: Session, settings: Settings) -> None:
    make_user(session, "collector", name="collector7")
    make_user(session, "auditor", name="auditor7")
    do_append("import.file", {"rows": 1}, session=session, settings=settings)
    with api_client(session, settings) as client:
        _login(client, "collector7")
        for url in ("/audit", "/audit/verify", "/audit/export.csv", "/audit/1"):
            assert client.get(url).status_code == 403, url
        assert 'href="/audit"' not in client.get("/queue").text
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, "auditor7")
        assert client.get("/audit").status_code == 200


def test_a_tampered_entry_shows_as_broken(session: Session, settings: Settings) -> None:
    make_user(session, "compliance", name="compliance8")
    entries = [
        do_append("case.assigned", {"case_id": i}, session=session, actor="leader1", settings=settings)
        for i in range(1, 6)
    ]
    with api_client(session, settings) as client:
        _login(client, "compliance8")
        ok = client.get("/audit/verify", params={"fresh": "1"}, headers={"hx-request": "true"})
        assert ok.status_code == 200 and "哈希链校验通过" in ok.text and "<html" not in ok.text
        again = client.get("/audit/verify", headers={"hx-request": "true"})
        assert "缓存" in again.text  # reused while the head is unchanged
        target = entries[2]
        session.execute(
            update(LedgerEntry).where(LedgerEntry.seq == target.seq).values(payload={"case_id": 999})
        )
        session.expire_all()
        broken = client.get("/audit/verify", params={"fresh": "1"})
        assert broken.status_code == 200 and "<html" in broken.text
        assert "哈希链已损坏" in broken.text and f'href="/audit/{target.seq}"' in broken.text
        assert "内容在写入后被修改" in broken.text  # the payload was changed after it was written
        entry = client.get(f"/audit/{target.seq}")
        assert "这是第一条损坏的条目" in entry.text and "999" in entry.text
        later = client.get(f"/audit/{entries[3].seq}")
        assert "哈希链在此条目或之前已损坏" in later.text
        listed = client.get("/audit")
        row = re.search(
            r'<tr class="audit-broken-row">\s*<td class="num"><a href="/audit/(\d+)"', listed.text
        )
        assert row is not None and int(row.group(1)) == target.seq and "此处断链" in listed.text
        earlier = client.get(f"/audit/{entries[1].seq}")
        assert "哈希链校验至此条目均通过" in earlier.text


def test_the_csv_export_has_the_filtered_rows(session: Session, settings: Settings) -> None:
    make_user(session, "compliance", name="compliance9")
    entries = _fill(session, settings)
    with api_client(session, settings) as client:
        _login(client, "compliance9")
        page = client.get("/audit", params={"kind": "pii.", "case": "8"})
        assert 'href="/audit/export.csv?kind=pii.&amp;case=8"' in page.text
        got = client.get("/audit/export.csv", params={"kind": "pii.", "case": "8"})
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert "attachment" in got.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert rows[0] == ["条目", "时间", "类型", "操作人", "详情", "条目哈希"]
        body = rows[1:]
        assert [int(r[0]) for r in body] == [e.seq for e in reversed(entries[180:])]
        assert all(r[2] == "pii.reveal" and r[3] == "officer" for r in body)
        assert body[0][5] == entries[-1].entry_hash
        assert "13812345678" not in got.text and "138****5678" in body[0][4]
        everything = client.get("/audit/export.csv", params={"actor": "importer"})
        assert len(everything.text.strip().splitlines()) == 151
