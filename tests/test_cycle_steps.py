"""The daily cycle's steps as data (issue 14, item 8).

- The steps are :class:`~recoup.cycle.steps.CycleStep` values (name, reads, writes, function) in one
  tuple; the runner iterates them, with no ``step_*`` methods; the steps that rerun on a new book are
  derived from what each step reads.
- A run reads the settings once and hands every step one context.
- The decisions step is one call to :func:`recoup.strategy.flows.plan_day`.
- A partition a step needs and does not find is ``cycle.missing_partition`` (exit 66), recorded on
  the step's row and printed as the JSON error envelope by ``recoup cycle run --json``, no traceback.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from recoup.config import get_settings
from recoup.cycle import runner
from recoup.cycle import steps as cycle_steps
from recoup.cycle.models import CycleRun
from recoup.cycle.runner import Cycle
from recoup.cycle.steps import STEPS, CycleContext, CycleStep
from recoup.db import session_scope
from recoup.errors import CycleMissingPartitionError
from recoup.lake import Lake, latest_manifest
from recoup.portfolio.flows import import_dir
from recoup.simulate import generate_history
from recoup.strategy import flows

START = dt.date(2026, 9, 25)
RECOUP = str(Path(sys.executable).parent / "recoup")
PII_KEY = base64.b64encode(bytes(range(32))).decode()


def test_steps_are_data_in_order() -> None:
    assert all(isinstance(s, CycleStep) for s in STEPS)
    assert runner.STEPS == ("facts", "delinquency", "features", "scoring", "intake", "decisions")
    assert [s.name for s in STEPS] == list(runner.STEPS)
    assert all(callable(s.fn) and s.reads and s.writes for s in STEPS)
    # Every output a step reads was written by an earlier step (or is its own history, ``@``).
    written: set[str] = {"db", "book"}
    for s in STEPS:
        needs = {r for r in s.reads if "@" not in r}
        assert needs <= written, (s.name, needs - written)
        written |= set(s.writes)
    # What reruns on a new book follows from the reads: everything but the DB facts.
    assert frozenset(runner.STEPS) - {"facts"} == runner.BOOK_STEPS
    assert cycle_steps.book_steps(STEPS[:1]) == frozenset()


def test_the_runner_iterates_the_steps_without_getattr() -> None:
    source = inspect.getsource(runner)
    tree = ast.parse(source)
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not {n for n in names if n.startswith("step_")}
    assert "getattr(" not in source
    # The settings: one read per run (in Cycle.run), none in the steps.
    assert source.count("get_settings()") == 1
    assert "get_settings" not in inspect.getsource(cycle_steps)


def test_the_decisions_step_is_one_call_to_plan_day() -> None:
    body = inspect.getsource(cycle_steps.run_decisions)
    assert "plan_day(" in body and "do_act" not in body and "decide(" not in body
    assert flows.plan_day.__module__ == "recoup.strategy.flows"


@pytest.fixture
def imported(own_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Lake]:
    """One small day imported into the test's data dir."""
    monkeypatch.setenv("RECOUP_PII_KEY", PII_KEY)
    get_settings.cache_clear()
    settings = get_settings()
    (day,) = generate_history(60, START, 1, 5, tmp_path / "sim")
    lake = Lake(str(settings.data_dir / "lake"))
    with session_scope(own_engine) as s:
        import_dir(day, as_of=START, settings=settings, lake=lake, session=s, full=True)
    return settings.data_dir, lake


def _mark_done(engine: Engine, names: list[str]) -> None:
    """Record steps as done on the day's book without running them (their outputs are then absent)."""
    with session_scope(engine) as s:
        manifest = latest_manifest(session=s)
        assert manifest is not None
        for name in names:
            s.add(CycleRun(run_id="x" * 36, as_of=START, step=name, status="done", manifest_id=manifest.id))


def test_a_run_reads_the_settings_once_and_a_missing_partition_is_an_error(
    own_engine: Engine, imported: tuple[Path, Lake], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _data_dir, lake = imported
    calls: list[int] = []
    real = runner.get_settings

    def counting() -> object:
        calls.append(1)
        return real()

    monkeypatch.setattr(runner, "get_settings", counting)
    seen: list[CycleContext] = []

    def probe(ctx: CycleContext) -> tuple[int, str]:
        seen.append(ctx)
        return 0, f"book {ctx.book.manifest_as_of}"

    steps = (CycleStep("facts", ("db",), ("db",), probe), STEPS[1], STEPS[2])
    out = Cycle(engine=own_engine, lake=lake, steps=steps).run(START)
    assert [s.status for s in out.steps] == ["done", "done", "done"] and len(calls) == 1
    assert seen[0].as_of == START and seen[0].settings is not None and seen[0].book.as_of == START
    # On a lake without account_daily, the context's require() names the table and the day.
    ctx = seen[0]
    missing = CycleContext(
        engine=own_engine,
        lake=Lake(str(tmp_path / "empty-lake")),
        settings=ctx.settings,
        as_of=START,
        book=ctx.book,
        params=ctx.params,
        case_grade=ctx.case_grade,
        segment_table=ctx.segment_table,
    )
    with pytest.raises(CycleMissingPartitionError) as err:
        missing.require("account_daily")
    assert err.value.code == "cycle.missing_partition" and err.value.exit_code == 66
    assert err.value.details == {"table": "account_daily", "as_of": START.isoformat()}


def test_cli_json_reports_a_missing_partition(own_engine: Engine, imported: tuple[Path, Lake]) -> None:
    data_dir, _lake = imported
    _mark_done(own_engine, ["facts", "delinquency"])  # done on record, yet account_daily was never written
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {
        "RECOUP_DATA_DIR": str(data_dir),
        "RECOUP_DATABASE_URL": own_engine.url.render_as_string(hide_password=False),
        "RECOUP_PII_KEY": PII_KEY,
    }
    proc = subprocess.run(
        [RECOUP, "cycle", "run", "--as-of", START.isoformat(), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 66, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "cycle.missing_partition"
    assert error["details"] == {"table": "account_daily", "as_of": START.isoformat()}
    with session_scope(own_engine) as s:
        rec = s.scalars(select(CycleRun).where(CycleRun.step == "features")).one()
        assert rec.status == "failed" and rec.detail.startswith("CycleMissingPartitionError: account_daily")
