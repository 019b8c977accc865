"""The daily cycle end to end: steps recorded, reruns change nothing, a range replays in order, and a
kill -9 in the middle of a run followed by a rerun completes without double counting."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from factories import imported_book
from recoup.cases.models import Case
from recoup.config import load_settings
from recoup.cycle.models import CycleRun
from recoup.cycle.runner import Cycle, run_range
from recoup.db import session_scope
from recoup.lake import Lake
from recoup.lake.store import Outputs
from recoup.portfolio.models import CollectionAccount
from recoup.portfolio.synth import generate, write_extract

AS_OF = dt.date(2026, 11, 20)
LOANS_KILLED = 2000  # the book of the kill -9 test
RECOUP = str(Path(sys.executable).parent / "recoup")


def _book(tmp_path: Path, engine: Engine, n: int = 300) -> Lake:
    return imported_book(tmp_path, engine, AS_OF, n)


def test_cycle_runs_records_and_is_idempotent(own_engine: Engine, tmp_path: Path) -> None:
    lake = _book(tmp_path, own_engine)
    cycle = Cycle(engine=own_engine, lake=lake)
    first = cycle.run(AS_OF)
    assert [(s.step, s.status) for s in first.steps] == [
        ("facts", "done"),
        ("delinquency", "done"),
        ("features", "done"),
        ("scoring", "done"),
        ("intake", "done"),
        ("decisions", "done"),
    ]
    out = Outputs(lake)
    daily = out.read("account_daily", AS_OF)
    assert daily is not None and daily.height == 300
    feats = out.read("features", AS_OF)
    assert feats is not None and feats.height == 300
    in_coll = daily.filter(pl.col("in_collections"))
    assert in_coll.height > 0
    with session_scope(own_engine) as s:
        cases = s.scalar(select(func.count()).select_from(Case).where(Case.status == "open"))
        accounts = s.scalar(
            select(func.count()).select_from(CollectionAccount).where(CollectionAccount.status == "open")
        )
    assert cases == in_coll.get_column("borrower_id").n_unique()
    assert accounts == in_coll.height
    # A rerun skips finished steps; a forced rerun recomputes and changes nothing.
    again = cycle.run(AS_OF)
    assert {s.status for s in again.steps} == {"skipped"}
    cycle.run(AS_OF, force=True)
    assert out.read("account_daily", AS_OF).sort("loan_id").equals(daily.sort("loan_id"))  # type: ignore[union-attr]
    with session_scope(own_engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == cases
        runs = s.scalars(select(CycleRun).order_by(CycleRun.id)).all()
    assert [r.status for r in runs] == ["done"] * 12
    assert all(r.finished_at is not None and r.seconds >= 0 for r in runs)
    assert (
        runs[1].rows == 300 and "bucket=v1" in runs[1].config_version and "tol=100" in runs[1].config_version
    )


def test_range_replays_in_order_with_transitions(own_engine: Engine, tmp_path: Path) -> None:
    lake = _book(tmp_path, own_engine, n=200)
    cycle = Cycle(engine=own_engine, lake=lake)
    outcomes = run_range(cycle, AS_OF, AS_OF + dt.timedelta(days=2))
    assert [o.as_of for o in outcomes] == [AS_OF, AS_OF + dt.timedelta(days=1), AS_OF + dt.timedelta(days=2)]
    out = Outputs(lake)
    d1 = out.read("account_daily", AS_OF)
    d3 = out.read("account_daily", AS_OF + dt.timedelta(days=2))
    assert d1 is not None and d3 is not None
    # Nothing was paid in between, so every delinquent loan is two days older and none entered twice.
    j = d1.join(d3, on="loan_id", suffix="_3").filter(pl.col("dpd") > 0)
    assert (j.get_column("dpd_3") - j.get_column("dpd")).unique().to_list() == [2]
    assert set(d3.filter(pl.col("dpd") > 0).get_column("transition").to_list()) <= {
        "stayed",
        "rolled_forward",
        "entered",
    }
    # A loan enters on day 3 only if it was current on day 2 (an installment fell due meanwhile).
    d2 = out.read("account_daily", AS_OF + dt.timedelta(days=1))
    assert d2 is not None
    entered = d3.filter(pl.col("transition") == "entered").join(d2, on="loan_id", suffix="_2")
    assert (entered.get_column("dpd_2") == 0).all() and (entered.get_column("dpd") == 1).all()
    assert "new" in set(d1.get_column("transition").to_list())


def test_kill_9_during_the_cycle_then_rerun_completes(tmp_path: Path) -> None:
    env = {**os.environ, "RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("RECOUP_DATABASE_URL", None)
    # 2,000 loans: the cycle still takes far longer than the 5 ms poll between account_daily's first
    # commit and the intake step, so the kill lands mid-run (asserted below), at a third of the cost.
    extract = write_extract(generate(LOANS_KILLED, as_of=AS_OF, seed=5), tmp_path / "extract")
    subprocess.run(
        [RECOUP, "import", str(extract), "--as-of", str(AS_OF)], env=env, check=True, capture_output=True
    )
    log = tmp_path / "data" / "lake" / "out" / "account_daily" / "_delta_log"
    proc = subprocess.Popen(
        [RECOUP, "cycle", "run", "--as-of", str(AS_OF)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not log.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the cycle finished before it could be killed"
    settings = load_settings(data_dir=tmp_path / "data")
    from recoup.db import make_engine

    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        steps = {(r.step, r.status) for r in s.scalars(select(CycleRun))}
    assert ("intake", "done") not in steps
    done = subprocess.run(
        [RECOUP, "cycle", "run", "--as-of", str(AS_OF)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    daily = Outputs(Lake(settings.lake_uri)).read("account_daily", AS_OF)
    assert daily is not None and daily.height == LOANS_KILLED
    in_coll = daily.filter(pl.col("in_collections"))
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(CollectionAccount)) == in_coll.height
        assert (
            s.scalar(select(func.count()).select_from(Case)) == in_coll.get_column("borrower_id").n_unique()
        )
    engine.dispose()
    status = subprocess.run([RECOUP, "cycle", "status"], env=env, capture_output=True, text=True, check=True)
    assert "intake" in status.stdout and "done" in status.stdout


def test_decision_tables_are_versioned_configuration(own_engine: Engine, tmp_path: Path) -> None:
    import copy

    from recoup.cycle.config import do_save_table
    from recoup.delinquency.tables import BUCKETS
    from recoup.rules import RuleTableError

    lake = _book(tmp_path, own_engine, n=300)
    Cycle(engine=own_engine, lake=lake).run(AS_OF)
    new = copy.deepcopy(BUCKETS)
    for row in new["rows"]:
        if row["id"] == "M1-D1-3":
            row["id"] = "M1-EARLY"
    with session_scope(own_engine) as s:
        assert do_save_table(new, session=s) == 2
        bad = copy.deepcopy(BUCKETS)
        bad["rows"][0]["when"] = {"dpd": {"gte": 1}}
        try:
            do_save_table(bad, session=s)
            raise AssertionError("an invalid table was saved")
        except RuleTableError as exc:
            assert "gte" in exc.message and "CYC-C" in exc.message
    Cycle(engine=own_engine, lake=lake).run(AS_OF, force=True)
    daily = Outputs(lake).read("account_daily", AS_OF)
    assert daily is not None
    early = daily.filter(pl.col("dpd").is_between(1, 3))
    assert early.height == 0 or set(early.get_column("bucket_rule").to_list()) == {"M1-EARLY"}
    assert "M1-D1-3" not in set(daily.get_column("bucket_rule").to_list())
    with session_scope(own_engine) as s:
        last = s.scalars(select(CycleRun).order_by(CycleRun.id.desc())).first()
        assert (
            last is not None and "bucket=v2" in last.config_version and "loan_class=v1" in last.config_version
        )


def test_scoring_step_uses_the_champion_with_reasons_and_segments(
    own_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from recoup.config import get_settings
    from recoup.scoring import registry
    from recoup.scoring.features import FEATURES

    monkeypatch.setenv("RECOUP_LAKE_URI", str(tmp_path / "lake"))
    get_settings.cache_clear()
    lake = _book(tmp_path, own_engine, n=1500)
    cycle = Cycle(engine=own_engine, lake=lake)
    first = cycle.run(AS_OF)
    scoring = next(s for s in first.steps if s.step == "scoring")
    assert "model none" in scoring.detail
    out = Outputs(lake)
    scores = out.read("scores", AS_OF)
    assert scores is not None and scores.get_column("score").null_count() == scores.height
    assert scores.get_column("segment").null_count() == 0
    # Train a self-cure model on that day's features with a planted signal, and promote it.
    feats = out.read("features", AS_OF)
    assert feats is not None
    rng = np.random.default_rng(0)
    names = [f for f in FEATURES if f not in {"bureau_score"}]
    signal = feats.get_column("paid_to_due_ratio").fill_null(0.5).to_numpy()
    target = (rng.random(feats.height) < 0.15 + 0.7 * signal).astype(int)
    train = feats.select("as_of", *names).with_columns(self_cure_30=pl.Series(target))
    with session_scope(own_engine) as s:
        row = registry.do_train(
            "self_cure", train, target="self_cure_30", kind="gbm", features=names, session=s
        )
        registry.do_promote("self_cure", row.version, session=s, actor="test")
    cycle.run(AS_OF, force=True)
    scores = out.read("scores", AS_OF)
    daily = out.read("account_daily", AS_OF)
    assert scores is not None and daily is not None
    assert scores.height == daily.filter(pl.col("in_collections")).height > 0
    assert set(scores.get_column("model_version").to_list()) == {"self_cure v1"}
    assert scores.get_column("score").null_count() == 0
    assert scores.filter(pl.col("reason_1").is_null()).height < scores.height  # reasons present
    assert scores.get_column("segment_rule").null_count() == 0
    get_settings.cache_clear()
