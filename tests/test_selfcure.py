"""The self-cure model on the digital twin (bench/bench_selfcure.py) at a small size, and the default
monotone constraints of the known models.

- The bench builds each day's book straight from the simulator and runs the cycle's kernels only on the
  loans ever behind; here the same small lender goes through the real path (extract CSVs → import →
  ``Cycle.run`` every day) and gives the same account_daily and features. As the cycle on day D has
  nothing imported after D, this also shows the bench's features use no data after their as-of date.
- End to end: out-of-time month disjoint from training (labels of training rows matured before it),
  one row per account in the test set, a calibration table of 10 deciles summing to n_test, and a loose
  calibration bound for the small size (the acceptance figures at 50,000+ accounts are in
  docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recoup.config import get_settings, load_settings
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.lake import Lake
from recoup.lake.store import Outputs
from recoup.portfolio.flows import import_dir
from recoup.scoring.cli import _parse_monotone
from recoup.scoring.defaults import MONOTONE_DEFAULTS, default_monotone, render_docs
from recoup.scoring.features import FEATURES
from recoup.scoring.registry import do_train, load_model
from recoup.simulate import generate_history

ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_selfcure", ROOT / "bench" / "bench_selfcure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def _int_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """The lake's text ids (L000000042, C00000007) → the bench's integer ids (41, 6)."""
    return frame.with_columns(
        *(
            (pl.col(c).str.slice(1).cast(pl.Int64) - 1).alias(c)
            for c in ("loan_id", "borrower_id")
            if c in frame.columns
        )
    )


# --- the bench's book is the cycle's book -----------------------------------------------------------


def test_twin_matches_the_import_and_cycle_path(own_engine: Engine, tmp_path: Path) -> None:
    # Five days across a month end (penalty posted on the 31st, bureau reports on the 1st).
    n, days, seed, start = 400, 5, 3, dt.date(2026, 3, 29)
    twin = bench.simulate(n, days, seed, start)
    full = bench.simulate(n, days, seed, start, all_loans=True)
    dirs = generate_history(n, start, days, seed, tmp_path / "sim")
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path)
    cycle = Cycle(engine=own_engine, lake=lake)
    out = Outputs(lake)
    compared = 0
    for i, d in enumerate(dirs):
        day = dt.date.fromisoformat(d.name)
        with session_scope(own_engine) as session:
            import_dir(d, as_of=day, settings=settings, lake=lake, session=session, full=i == 0)
        cycle.run(day)
        acc, feats = out.read("account_daily", day), out.read("features", day)
        assert acc is not None and feats is not None
        acc = _int_ids(acc)
        mine = twin.daily.filter(pl.col("as_of") == day).sort("loan_id")
        theirs = acc.join(mine.select("loan_id"), on="loan_id", how="semi").select(mine.columns)
        assert_frame_equal(mine, theirs.sort("loan_id"))
        # Loans the bench leaves out of the kernels were never behind: no collections history at all.
        rest = acc.join(mine.select("loan_id"), on="loan_id", how="anti")
        assert rest.height + mine.height == acc.height > mine.height
        assert (
            rest.select((pl.col("dpd").abs() + pl.col("max_dpd") + pl.col("times_cured")).sum()).item() == 0
        )
        # The whole-book run agrees with the cycle on every loan.
        whole = full.daily.filter(pl.col("as_of") == day).sort("loan_id")
        assert_frame_equal(whole, acc.select(whole.columns).sort("loan_id"))

        f = twin.feats.filter(pl.col("as_of") == day)
        cf = _int_ids(feats).join(f.select("loan_id"), on="loan_id", how="semi").sort("loan_id")
        assert f.height == acc.filter(pl.col("dpd") > 0).height > 0
        assert_frame_equal(f.sort("loan_id"), cf.select(f.columns), check_exact=False, rel_tol=1e-9)
        compared += f.height
    assert compared > 50


# --- end to end at a small size ---------------------------------------------------------------------

#: 130,000 loans × 150 days (2026-01-01 → 05-30): OOT month April (≈ 7,000 accounts), training as-of
#: 2026-01-11 → 03-01 after a 10-day warm-up.
SMALL = {"loans": 130_000, "days": 150, "seed": 5, "start": dt.date(2026, 1, 1), "warmup": 10}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    start = SMALL["start"]
    assert isinstance(start, dt.date)
    train_from = start + dt.timedelta(days=int(SMALL["warmup"]))  # type: ignore[call-overload]
    twin = bench.simulate(SMALL["loans"], SMALL["days"], SMALL["seed"], start, features_from=train_from)
    frame = bench.labelled(twin)
    s = bench.split(frame, end=twin.end, train_from=train_from, seed=SMALL["seed"])
    return {"twin": twin, "frame": frame, "split": s, "metrics": bench.train_and_evaluate(s)}


def test_out_of_time_split_and_one_row_per_account(result: dict[str, Any]) -> None:
    s, frame, twin = result["split"], result["frame"], result["twin"]
    assert (s.oot_start, s.oot_end) == (dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    assert twin.end == dt.date(2026, 5, 30) and s.oot_end + dt.timedelta(days=30) <= twin.end
    train_dates = set(s.train.get_column("as_of").to_list())
    test_dates = set(s.test.get_column("as_of").to_list())
    assert not train_dates & test_dates
    assert min(test_dates) >= s.oot_start and max(test_dates) <= s.oot_end
    # Every training label (window (D, D + 30]) had matured before the OOT month began.
    assert max(train_dates) + dt.timedelta(days=30) < s.oot_start and min(train_dates) >= s.train_start
    # The test set: each account in collections with a matured label in the month, exactly once.
    in_month = frame.filter(pl.col("as_of").is_between(s.oot_start, s.oot_end))
    assert (
        s.test.get_column("loan_id").n_unique() == s.test.height == in_month.get_column("loan_id").n_unique()
    )
    assert (s.test.get_column("dpd") > 0).all() and s.test.get_column(bench.TARGET).null_count() == 0
    # … at a day drawn among its delinquent days (not always the first one of the month).
    assert s.test.get_column("as_of").n_unique() > 20
    months = s.train.select(pl.col("loan_id"), pl.col("as_of").dt.truncate("1mo"))
    assert months.n_unique() == s.train.height
    # Labels exist only where the 30-day window was observed.
    assert frame.get_column("as_of").max() <= twin.end - dt.timedelta(days=30)


def test_calibration_table_and_discrimination(result: dict[str, Any]) -> None:
    m = result["metrics"]
    n = m["n_test"]
    assert n == result["split"].test.height > 5_000
    table = m["calibration"]
    assert [c["bin"] for c in table] == list(range(1, 11))
    assert sum(c["n"] for c in table) == n and all(abs(c["n"] - n / 10) <= 1 for c in table)
    assert all(
        c["abs_diff_pp"] == pytest.approx(abs(c["mean_predicted"] - c["observed_rate"]) * 100) for c in table
    )
    assert m["max_abs_diff_pp"] == max(c["abs_diff_pp"] for c in table)
    # The bound: a decile of ~700 accounts has a binomial standard error of at most
    # 100·√(0.25 / 700) ≈ 1.9 pp (at p = 0.5; ≈ 1.1 pp at p = 0.1 or 0.9), and the model learns from
    # ~17,000 rows, a sixth of the bench's. The acceptance's 2 pp plus two such errors is about 6 pp;
    # seeds 5–8 of this size measured 2.7, 5.0, 3.1 and 4.8 pp (the bench: 1.1–1.4 pp at 60,000).
    se_max = 100 * math.sqrt(0.25 / (n / 10))
    assert se_max < 2.0
    assert m["max_abs_diff_pp"] < 6.0
    for c in table:  # each decile within the acceptance 2 pp + 3 of its own binomial standard errors
        p = c["mean_predicted"]
        assert c["abs_diff_pp"] < 2.0 + 3 * 100 * math.sqrt(p * (1 - p) / c["n"])
    assert m["auc"] > 0.9 and m["ks"] > 0.7 and m["brier"] < 0.1
    assert abs(np.mean([c["mean_predicted"] for c in table]) - m["test_rate"]) < 0.02
    assert m["monotone"] == default_monotone("self_cure", FEATURES)


# --- default monotone constraints -------------------------------------------------------------------


@pytest.fixture
def lake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    monkeypatch.setenv("RECOUP_LAKE_URI", str(path))
    get_settings.cache_clear()
    return path


FEATS = ["dpd", "paid_30d", "payment_trend", "bureau_score"]


def _cure_frame(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Self-cure falls with dpd, except for a bump at high dpd that an unconstrained model would follow."""
    rng = np.random.default_rng(seed)
    dates = np.array([dt.date(2026, m, 28) for m in range(1, 11)], dtype="datetime64[D]")
    dpd = rng.integers(1, 120, n)
    paid = rng.exponential(500, n)
    trend = rng.normal(0, 1, n)
    bureau = rng.normal(600, 50, n)
    logit = 0.5 - 0.05 * dpd + 3.5 * (dpd > 90) + 0.002 * paid + 0.3 * trend
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(
        {
            "as_of": rng.choice(dates, n),
            "loan_id": np.arange(n),
            "dpd": dpd,
            "paid_30d": paid,
            "payment_trend": trend,
            "bureau_score": bureau,
            "self_cure_30": y,
        }
    ).with_columns(pl.col("as_of").cast(pl.Date))


def _train(session: Session, name: str = "self_cure", **kw: Any) -> Any:
    return do_train(
        name,
        _cure_frame(),
        target="self_cure_30",
        kind=kw.pop("kind", "gbm"),
        features=FEATS,
        session=session,
        **kw,
    )


def _dpd_curve(model: Any) -> np.ndarray:
    import pandas as pd

    grid = pd.DataFrame(
        {
            "dpd": np.arange(1, 120, dtype=np.float64),
            "paid_30d": 500.0,
            "payment_trend": 0.0,
            "bureau_score": 600.0,
        }
    )
    return np.asarray(model.predict_proba(grid)[:, 1])


def test_train_applies_the_default_monotone_constraints(session: Session, lake: Path) -> None:
    row = _train(session)
    expected = {"dpd": -1, "paid_30d": 1, "bureau_score": 1}  # payment_trend has no known direction
    assert row.monotone == expected == default_monotone("self_cure", FEATS)
    assert load_model(row).monotone == expected
    assert row.metrics["monotone_source"] == "default"
    card = row.card
    assert "defaults of self_cure (docs/scoring.md)" in card
    assert "| `dpd` | days past due on D | D | decreasing ↓ |" in card
    assert "| `paid_30d` |" in card and "increasing ↑" in card
    trend_row = card.split("| `payment_trend` |")[1].split("\n")[0]
    assert trend_row.count("—") == 1  # no constraint where no direction is known
    # The bump at dpd > 90 is not followed: the score never rises with days past due.
    assert np.all(np.diff(_dpd_curve(load_model(row))) <= 1e-12)


def test_an_explicit_monotone_mapping_replaces_the_defaults(session: Session, lake: Path) -> None:
    given = _train(session, monotone={"payment_trend": 1})
    assert given.monotone == {"payment_trend": 1} and given.metrics["monotone_source"] == "given"
    assert load_model(given).monotone == {"payment_trend": 1}
    # Without constraints the model follows the bump: the score rises somewhere past 90 days.
    free = _train(session, monotone={})
    assert free.monotone == {} and free.metrics["monotone_source"] == "none"
    assert load_model(free).monotone is None
    assert "| Monotone constraints · 单调约束 | none · 无 |" in free.card
    curve = _dpd_curve(load_model(free))
    assert curve[95:].max() > curve[80:90].min() + 0.05
    # Other names and scorecards get no defaults.
    assert _train(session, "collect_rate").monotone == {}
    assert _train(session, kind="scorecard").monotone == {}


def test_cli_monotone_option_and_docs() -> None:
    assert _parse_monotone(None) is None
    assert _parse_monotone("none") == {}
    assert _parse_monotone("dpd=-1, paid_30d=+1") == {"dpd": -1, "paid_30d": 1}
    assert set(MONOTONE_DEFAULTS) == {"self_cure", "roll_forward"}
    for table in MONOTONE_DEFAULTS.values():
        assert set(table) <= set(FEATURES) and {d for d, _ in table.values()} <= {-1, 1}
    assert render_docs() in (ROOT / "docs" / "scoring.md").read_text(encoding="utf-8")
