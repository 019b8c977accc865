"""Many people at once on one database: concurrent sign-ins (each writes the audit ledger) and language
switches (a GET that writes) all succeed — on SQLite a writer waits for the lock instead of failing on
a stale snapshot ("database is locked" was a 500 under load) — and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, make_user
from recoup.config import Settings
from recoup.db import session_scope
from recoup.ledger.models import LedgerEntry
from recoup.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PEOPLE = 8


def test_people_signing_in_at_once_all_get_in(own_engine: Engine, settings: Settings) -> None:
    with session_scope(own_engine) as s:
        names = [make_user(s, "collector").username for _ in range(PEOPLE)]

    @contextmanager
    def factory() -> Iterator[Session]:
        with session_scope(own_engine) as s:
            yield s

    app = create_app(settings, session_factory=factory)
    start = threading.Barrier(PEOPLE)
    statuses: dict[str, list[int]] = {}

    def person(name: str) -> None:
        with TestClient(app, raise_server_exceptions=False) as client:
            client.get("/login")
            headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
            start.wait(timeout=30)
            seen = []
            for _ in range(3):
                r = client.post(
                    "/login", data={"username": name, "password": PASSWORD, "next": "/"}, headers=headers
                )
                seen.append(r.status_code)
                seen.append(client.get("/lang/en", follow_redirects=False).status_code)
            statuses[name] = seen

    threads = [threading.Thread(target=person, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == {n: [204, 303] * 3 for n in names}
    with session_scope(own_engine) as s:
        signed_in = s.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "auth.web_sign_in")
        )
    assert signed_in == PEOPLE * 3


def test_a_password_is_checked_without_waiting_for_the_write_lock(
    own_engine: Engine, settings: Settings
) -> None:
    """A sign-in checks the password before it takes the write lock: while another writer holds the
    lock (SQLite), a wrong password is answered at once (401) instead of queueing behind it, and a
    right one gets in as soon as the lock is free."""
    import time

    with session_scope(own_engine) as s:
        name = make_user(s, "collector").username

    @contextmanager
    def factory() -> Iterator[Session]:
        with session_scope(own_engine) as s:
            yield s

    app = create_app(settings, session_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/login")
        headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
        blocker = own_engine.raw_connection()
        try:
            if own_engine.dialect.name == "sqlite":
                blocker.cursor().execute("BEGIN IMMEDIATE")  # another writer holds the lock
            t0 = time.monotonic()
            r = client.post(
                "/login", data={"username": name, "password": "wrong", "next": "/"}, headers=headers
            )
            took = time.monotonic() - t0
        finally:
            blocker.rollback()
            blocker.close()
        assert r.status_code == 401 and "用户名或密码错误" in r.text
        assert took < settings.sqlite_busy_timeout_ms / 1000 / 2  # it never waited for the lock
        r = client.post("/login", data={"username": name, "password": PASSWORD, "next": "/"}, headers=headers)
        assert r.status_code == 204
