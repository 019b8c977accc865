"""Cycle runs and dispatchers under concurrency, and the day's book (issue 17, F12 and F13).

- Two ``cycle run``s of one day (and an import beside them) at once: one runs the steps, the other
  waits and finds them done; a held lock refuses with ``lock.busy``; never a traceback, never a
  ``running`` row left behind.
- A ``running`` row left by a killed process is marked ``interrupted`` and the run resumes there.
- A cycle before the day's extract refuses (``cycle.no_extract``); on the previous book only when
  asked, and the import of the day then reruns the steps that read the book.
- A correction of day D (a newer manifest for D) reruns the steps: new delinquent accounts enter cases.
- On SQLite a second dispatcher refuses at once; ``database is locked`` is a ``db.busy`` message.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select

from recoup.cases.models import Case
from recoup.config import get_settings
from recoup.cycle.models import CycleRun
from recoup.cycle.runner import STEPS, Cycle
from recoup.db import session_scope
from recoup.errors import CycleNoExtractError, DatabaseBusyError
from recoup.lake import Lake, latest_manifest
from recoup.lake.store import Outputs
from recoup.locks import LockBusyError, exclusive
from recoup.portfolio.flows import import_dir
from recoup.portfolio.models import CollectionAccount
from recoup.simulate import generate_history

START = dt.date(2026, 9, 25)
D1, D2 = START + dt.timedelta(days=1), START + dt.timedelta(days=2)
RECOUP = str(Path(sys.executable).parent / "recoup")
PII_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_history(400, START, 3, 11, tmp_path_factory.mktemp("sim"))


def _import(engine: Engine, data_dir: Path, d: Path, *, full: bool = False) -> None:
    settings = get_settings()
    assert settings.data_dir == data_dir
    with session_scope(engine) as s:
        import_dir(
            d,
            as_of=dt.date.fromisoformat(d.name),
            settings=settings,
            lake=Lake(str(data_dir / "lake")),
            session=s,
            full=full,
        )


def _setup(
    engine: Engine, days: list[Path], monkeypatch: pytest.MonkeyPatch, n: int = 2
) -> tuple[Path, Lake]:
    """The first ``n`` days imported into the test's data dir (the one the in-process cycle uses)."""
    monkeypatch.setenv("RECOUP_PII_KEY", PII_KEY)
    get_settings.cache_clear()
    data_dir = get_settings().data_dir
    for i, d in enumerate(days[:n]):
        _import(engine, data_dir, d, full=i == 0)
    return data_dir, Lake(str(data_dir / "lake"))


def _env(engine: Engine, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {
        "RECOUP_DATA_DIR": str(data_dir),
        "RECOUP_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RECOUP_PII_KEY": PII_KEY,
        "COLUMNS": "250",
    }
    return env | extra


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _rows(engine: Engine, as_of: dt.date | None = None) -> list[CycleRun]:
    with session_scope(engine) as s:
        stmt = select(CycleRun).order_by(CycleRun.id)
        if as_of is not None:
            stmt = stmt.where(CycleRun.as_of == as_of)
        return list(s.scalars(stmt))


def _manifest_id(engine: Engine, as_of: dt.date) -> int:
    with session_scope(engine) as s:
        m = latest_manifest(session=s, on_or_before=as_of)
        assert m is not None and m.as_of == as_of
        return m.id


def _open_accounts(engine: Engine) -> set[str]:
    with session_scope(engine) as s:
        stmt = select(CollectionAccount.external_id).where(CollectionAccount.status == "open")
        return set(s.scalars(stmt))


def _in_collections(lake: Lake, as_of: dt.date) -> set[str]:
    daily = Outputs(lake).read("account_daily", as_of)
    assert daily is not None
    return set(daily.filter(pl.col("in_collections")).get_column("loan_id").to_list())


# --- F13: cycle runs at once -------------------------------------------------------------------------


def test_two_cycle_runs_and_an_import_at_once(
    own_engine: Engine, days: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, lake = _setup(own_engine, days, monkeypatch)
    env = _env(own_engine, data_dir)
    cmds = [
        ["cycle", "run", "--as-of", D1.isoformat()],
        ["cycle", "run", "--as-of", D1.isoformat()],
        ["import", str(days[2]), "--as-of", days[2].name],  # the next day's import, meanwhile
    ]
    procs = [
        subprocess.Popen([RECOUP, *c], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cmds
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err and "database is locked" not in err
    rows = _rows(own_engine, D1)
    # One run did every step; the other waited and found them done. Nothing is left running.
    assert [r.step for r in rows] == list(STEPS)
    assert {r.status for r in rows} == {"done"} and len({r.run_id for r in rows}) == 1
    assert {r.manifest_id for r in rows} == {_manifest_id(own_engine, D1)}
    outs = [results[0][0], results[1][0]]
    assert sum(o.count("done in an earlier run") == len(STEPS) for o in outs) == 1
    assert _open_accounts(own_engine) == _in_collections(lake, D1)
    _manifest_id(own_engine, D2)  # the import went through, before or after the cycle

    # A lock held elsewhere (an import, another cycle): a clear refusal once the wait is over.
    with exclusive("import", data_dir=data_dir, bind=own_engine, what="import as of 2026-09-27"):
        p = _cli(env | {"RECOUP_LOCK_WAIT_SECONDS": "0.5"}, "cycle", "run", "--as-of", D2.isoformat())
    assert p.returncode == LockBusyError.exit_code == 75, p.stderr
    assert "lock.busy" in p.stderr and "import as of 2026-09-27" in p.stderr
    assert "Traceback" not in p.stderr
    assert _rows(own_engine, D2) == []  # it wrote nothing: no stale running row


# --- F13: a killed run ---------------------------------------------------------------------------------


class _Killed(BaseException):
    """Stands for SIGKILL: nothing in the cycle catches it, so the step's row stays ``running``."""


def test_a_stale_running_row_is_recovered_and_the_run_resumes(
    own_engine: Engine, days: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _data_dir, lake = _setup(own_engine, days, monkeypatch)

    def die(msg: str) -> None:
        if msg.endswith(" scoring"):
            raise _Killed

    with pytest.raises(_Killed):
        Cycle(engine=own_engine, lake=lake, progress=die).run(D1)
    assert [(r.step, r.status) for r in _rows(own_engine)] == [
        ("facts", "done"),
        ("delinquency", "done"),
        ("features", "done"),
        ("scoring", "running"),  # what a killed process leaves
    ]
    again = Cycle(engine=own_engine, lake=lake).run(D1)
    assert again.interrupted == 1
    assert [(s.step, s.status) for s in again.steps] == [
        ("facts", "skipped"),
        ("delinquency", "skipped"),
        ("features", "skipped"),
        ("scoring", "done"),
        ("intake", "done"),
        ("decisions", "done"),
    ]
    rows = _rows(own_engine)
    assert "running" not in {r.status for r in rows}
    stale = [r for r in rows if r.status == "interrupted"]
    assert len(stale) == 1 and stale[0].step == "scoring" and stale[0].finished_at is not None
    assert "interrupted" in stale[0].detail and again.run_id[:8] in stale[0].detail
    assert _open_accounts(own_engine) == _in_collections(lake, D1)
    assert {s.status for s in Cycle(engine=own_engine, lake=lake).run(D1).steps} == {"skipped"}


# --- F12: the day's extract ----------------------------------------------------------------------------


def test_a_cycle_before_the_days_extract_refuses_then_reruns_after_the_import(
    own_engine: Engine, days: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, lake = _setup(own_engine, days, monkeypatch)
    env = _env(own_engine, data_dir)
    p = _cli(env, "cycle", "run", "--as-of", D2.isoformat())
    assert p.returncode == CycleNoExtractError.exit_code == 66, p.stderr
    assert "cycle.no_extract" in p.stderr and f"last imported day is {D1.isoformat()}" in p.stderr
    assert "Traceback" not in p.stderr
    assert _rows(own_engine) == []
    # A range reaching past the last extract is refused before any day runs.
    p = _cli(env, "cycle", "run", "--from", D1.isoformat(), "--to", D2.isoformat())
    assert p.returncode == 66 and "cycle.no_extract" in p.stderr, p.stderr
    assert _rows(own_engine) == []

    # Asked for explicitly, it runs on the previous book and records which one.
    p = _cli(env, "cycle", "run", "--as-of", D2.isoformat(), "--allow-stale-book")
    assert p.returncode == 0, p.stderr
    assert f"ran on the book of {D1.isoformat()}" in " ".join(p.stdout.split())
    old = _manifest_id(own_engine, D1)
    assert {(r.status, r.manifest_id) for r in _rows(own_engine, D2)} == {("done", old)}

    # The day's extract arrives: the next run redoes every step that reads the book.
    _import(own_engine, data_dir, days[2])
    new = _manifest_id(own_engine, D2)
    p = _cli(env, "cycle", "run", "--as-of", D2.isoformat())
    assert p.returncode == 0, p.stderr
    rows = _rows(own_engine, D2)
    assert [(r.step, r.status) for r in rows[len(STEPS) :]] == [(s, "done") for s in STEPS[1:]]
    assert {r.manifest_id for r in rows[len(STEPS) :]} == {new}
    assert f"manifest {old} → {new}" in rows[len(STEPS)].detail
    assert f"book {D2.isoformat()}" in rows[len(STEPS)].detail
    assert _open_accounts(own_engine) == _in_collections(lake, D2)
    # And once more: nothing changed, nothing reruns.
    assert {s.status for s in Cycle(engine=own_engine, lake=lake).run(D2).steps} == {"skipped"}


def _correction(days: list[Path], lake: Lake, out: Path, n: int = 3) -> tuple[Path, set[str]]:
    """D1's corrected installments: a paid installment of ``n`` current borrowers' loans was not paid
    after all (the withholding bounced). Returns the directory and the loans now overdue."""
    daily = Outputs(lake).read("account_daily", D1)
    assert daily is not None
    behind = set(daily.filter(pl.col("dpd") > 0).get_column("borrower_id").to_list())
    current = daily.filter(
        (pl.col("status") == "active") & (pl.col("dpd") == 0) & ~pl.col("borrower_id").is_in(list(behind))
    )
    touched = set(pl.read_csv(days[1] / "installments.csv", infer_schema=False).get_column("loan_id"))
    inst = pl.read_csv(days[0] / "installments.csv", infer_schema=False)
    paid = (
        inst.filter(
            pl.col("loan_id").is_in(current.get_column("loan_id").to_list())
            & ~pl.col("loan_id").is_in(list(touched))
            & pl.col("due_date").is_between(
                pl.lit((D1 - dt.timedelta(days=25)).isoformat()),
                pl.lit((D1 - dt.timedelta(days=3)).isoformat()),
            )
            & (pl.col("principal_paid") == pl.col("principal_due"))
        )
        .join(current.select("loan_id", "borrower_id"), on="loan_id")
        .unique("borrower_id", keep="first", maintain_order=True)
        .head(n)
    )
    assert paid.height == n
    bounced = paid.drop("borrower_id").with_columns(
        *(pl.lit("0.00").alias(c) for c in ("principal_paid", "interest_paid", "fee_paid", "penalty_paid")),
        pl.lit(None, dtype=pl.String).alias("last_paid_date"),
    )
    d = out / D1.isoformat()
    d.mkdir(parents=True)
    bounced.write_csv(d / "installments.csv")
    return d, set(bounced.get_column("loan_id").to_list())


def test_a_correction_of_the_day_reruns_the_steps_and_new_accounts_enter_cases(
    own_engine: Engine, days: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir, lake = _setup(own_engine, days, monkeypatch)
    cycle = Cycle(engine=own_engine, lake=lake)
    first = cycle.run(D1, allow_stale_book=False)
    assert {s.status for s in first.steps} == {"done"}
    before = _open_accounts(own_engine)
    corrected, overdue = _correction(days, lake, tmp_path / "corr")
    assert not overdue & before
    _import(own_engine, data_dir, corrected)  # a second manifest row for D1
    new = _manifest_id(own_engine, D1)
    assert new != first.manifest_id
    again = cycle.run(D1, allow_stale_book=False)
    assert [(s.step, s.status) for s in again.steps] == [("facts", "skipped")] + [
        (s, "done") for s in STEPS[1:]
    ]
    assert again.manifest_id == new
    after = _open_accounts(own_engine)
    assert overdue <= after and after == _in_collections(lake, D1)
    with session_scope(own_engine) as s:
        entered = s.scalars(select(CollectionAccount).where(CollectionAccount.external_id.in_(overdue))).all()
        assert len(entered) == len(overdue) and all(a.case_id is not None for a in entered)
        cases = s.scalars(select(Case).where(Case.id.in_([a.case_id for a in entered]))).all()
        assert {c.status for c in cases} == {"open"}
    assert {s.status for s in cycle.run(D1).steps} == {"skipped"}


def test_the_library_refuses_too_when_asked(
    own_engine: Engine, days: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _data_dir, lake = _setup(own_engine, days, monkeypatch, n=1)
    with pytest.raises(CycleNoExtractError) as err:
        Cycle(engine=own_engine, lake=lake).run(D1, allow_stale_book=False)
    assert err.value.details == {"as_of": D1.isoformat(), "last": START.isoformat()}
    assert _rows(own_engine) == []


# --- F13: dispatchers ----------------------------------------------------------------------------------


def _wait_for_lock(path: Path, pid: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if json.loads(path.read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("the worker never took the dispatcher lock")


def test_one_dispatcher_per_sqlite_database(own_engine: Engine, tmp_path: Path) -> None:
    sqlite = own_engine.dialect.name == "sqlite"
    env = _env(own_engine, tmp_path / "a")
    worker = subprocess.Popen(
        [RECOUP, "worker", "--poll", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if sqlite:
            db = Path(str(own_engine.url.database)).resolve()
            _wait_for_lock(db.parent / "locks" / f"dispatch-{db.name}.lock", worker.pid, worker)
        else:
            assert worker.stdout is not None and "dispatcher running" in worker.stdout.readline()
        # A second dispatcher, even from another data directory, on the same database.
        other = _env(own_engine, tmp_path / "b")
        for args in (["dispatch", "run"], ["worker", "--poll", "0.2"]):
            if not sqlite and args[0] == "worker":
                continue  # PostgreSQL keeps concurrent dispatchers (they claim disjoint rows)
            p = _cli(other, *args, timeout=120)
            assert "Traceback" not in p.stderr
            if sqlite:
                assert p.returncode == LockBusyError.exit_code, p.stderr
                assert "lock.busy" in p.stderr and "another dispatcher" in p.stderr
                assert "recoup worker" in p.stderr and str(worker.pid) in p.stderr
            else:
                assert p.returncode == 0, p.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    p = _cli(_env(own_engine, tmp_path / "b"), "dispatch", "run", timeout=120)  # released
    assert p.returncode == 0, p.stderr


# --- database is locked --------------------------------------------------------------------------------


def test_database_is_locked_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    from recoup import migrate
    from recoup.db import make_engine

    db = tmp_path / "busy.db"
    eng = make_engine(f"sqlite:///{db}")
    migrate.upgrade(eng)
    eng.dispose()
    env = _env(eng, tmp_path / "data", RECOUP_SQLITE_BUSY_TIMEOUT_MS="200")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer keeps the database locked
        p = _cli(env, "dispatch", "run", timeout=120)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.returncode == DatabaseBusyError.exit_code == 75, p.stderr
    assert "db.busy" in p.stderr and "Traceback" not in p.stderr
