"""Shared fixtures: isolated settings, and a database session on SQLite and (when
``RECOUP_TEST_PG_URL`` is set) PostgreSQL, each test in a transaction rolled back at the end."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from recoup import migrate
from recoup.config import Settings, get_settings, load_settings
from recoup.db import make_engine

#: The browser tests' fixtures (Chromium launched once per module; a live `recoup serve`).
pytest_plugins = ["live_server"]

PG_URL = os.environ.get("RECOUP_TEST_PG_URL", "")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

BACKENDS = ["sqlite"] + (["pg"] if PG_URL else [])
_pg_results = {"passed": 0, "failed": 0}


#: The slowest test files (seconds on this machine, `make test`'s --durations), run first: with two
#: workers and whole files per worker (--dist loadfile), a slow file started last leaves one worker
#: idle while the other finishes it. Make runs pytest with --no-loadscope-reorder so this order holds.
SLOW_FIRST = (
    "test_api_fuzz.py",
    "test_cycle_locks.py",
    "test_scheduled_job.py",
    "test_pii_rotation.py",
    "test_api_permissions.py",
    "test_dispatch_crash.py",  # 10 kills in the suite (50 in bench/bench_dispatch_crash.py)
    "test_resolutions_judge.py",
    "test_model_fit.py",
    "test_legal_fuzz.py",
    "test_registry.py",
    "test_selfcure.py",
    "test_web_browser.py",
    "test_simulate.py",
    "test_report_portfolio_cli.py",
    "test_simulate_calibration.py",
    "test_optimised.py",
    "test_no_traceback.py",
    "test_promise_service.py",
    "test_cli_exit_codes.py",
    "test_report_cli.py",
    "test_legal_browser.py",
    "test_agencies_browser.py",
    "test_cli_lang.py",
    "test_backfill.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: the rest keep order


def pytest_report_header(config: pytest.Config) -> str:
    return "database backends: " + ", ".join(BACKENDS)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "[pg" in report.nodeid:
        _pg_results["passed" if report.passed else "failed"] += int(not report.skipped)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"PostgreSQL tests: {_pg_results['passed']} passed, {_pg_results['failed']} failed"
        + ("" if PG_URL else " (set RECOUP_TEST_PG_URL to run them)")
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("RECOUP_TEST_REQUIRE_PG") and not PG_URL:
        raise pytest.UsageError("RECOUP_TEST_REQUIRE_PG is set but RECOUP_TEST_PG_URL is not")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's RECOUP_* variables or .env; data goes to a temp dir."""
    for key in list(os.environ):
        if key.startswith("RECOUP_") and not key.startswith("RECOUP_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECOUP_DATA_DIR", str(tmp_path / "recoup-data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "recoup-data")


@contextmanager
def _fresh_pg(url: str, *, template: str | None = None) -> Iterator[Engine]:
    """A database of this test run's own on the server of ``url``, dropped afterwards, so that
    concurrent runs (two developers, CI) never share tables; a copy of ``template`` when given."""
    base = make_url(url)
    name = f"{base.database or 'recoup'}_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(base.render_as_string(hide_password=False))
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    eng = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class MigratedTemplates:
    """One migrated database per backend, made on first use and copied for each test that needs a
    database of its own: migrating takes 2 s on SQLite and 4-5 s on PostgreSQL, a copy a tenth of that
    (a file copy; ``CREATE DATABASE … TEMPLATE``). The migrations write no random or per-database
    values, so a copy is what a fresh migration would have made."""

    def __init__(self, root: Path, stack: ExitStack) -> None:
        self._root = root
        self._stack = stack
        self._sqlite: Path | None = None
        self._pg: str | None = None

    def sqlite(self, path: Path) -> Engine:
        """A migrated SQLite database at ``path``."""
        if self._sqlite is None:
            template = self._root / "template.db"
            eng = make_engine(f"sqlite:///{template}")
            migrate.upgrade(eng)
            eng.dispose()  # the last connection closed: the WAL is checkpointed into the file
            assert not template.with_name(template.name + "-wal").exists()
            self._sqlite = template
        shutil.copyfile(self._sqlite, path)
        return make_engine(f"sqlite:///{path}")

    def pg(self) -> AbstractContextManager[Engine]:
        """A migrated PostgreSQL database of the caller's own, dropped when the context ends."""
        if self._pg is None:
            eng = self._stack.enter_context(_fresh_pg(PG_URL))
            migrate.upgrade(eng)
            eng.dispose()  # a template must have no connections when it is copied
            self._pg = str(eng.url.database)
        return _fresh_pg(PG_URL, template=self._pg)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    """The session's migrated templates (the PostgreSQL one is dropped at the end)."""
    with ExitStack() as stack:
        yield MigratedTemplates(tmp_path_factory.mktemp("template"), stack)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: MigratedTemplates,
) -> Iterator[Engine]:
    """A migrated database per backend, shared by the session's tests."""
    if request.param == "pg":
        with migrated_templates.pg() as eng:
            yield eng
        return
    eng = migrated_templates.sqlite(tmp_path_factory.mktemp("db") / "test.db")
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    conn = engine.connect()
    trans = conn.begin()
    sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield sess
    finally:
        sess.close()
        trans.rollback()
        conn.close()


@pytest.fixture(params=BACKENDS)
def own_engine(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[Engine]:
    """A migrated database of the test's own (for code that commits: the cycle, CLI flows)."""
    if request.param == "pg":
        with migrated_templates.pg() as eng:
            yield eng
        return
    eng = migrated_templates.sqlite(tmp_path / "own.db")
    yield eng
    eng.dispose()
