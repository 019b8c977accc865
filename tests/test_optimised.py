"""The optimised strategy (issue 7, item 3): response models learned from a randomised logged run, the
decider's plan within the day's capacity and message budget, an evaluation with it (0 violations), and
determinism by seed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from recoup.evaluation import evaluate as ev
from recoup.evaluation.cli import register, resolve_strategy
from recoup.evaluation.optimised import optimised_config
from recoup.evaluation.training import RandomDecider, train_response
from recoup.strategy.capacity import RESOURCE, Capacity
from recoup.strategy.optimised import OptimisedDecider
from recoup.strategy.response import (
    ACTIONS,
    FEATURES,
    AccountState,
    ResponseModels,
    load_model,
    save_model,
)

LOANS, DAYS = 1_500, 15


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResponseModels, Path]:
    models, run = train_response(loans=2_000, days=20, seed=1001, horizon=7)
    assert run.rows > 500 and run.violations == 0
    path = tmp_path_factory.mktemp("model") / "response.joblib"
    save_model(models, path, run.to_json())
    return models, path


def test_response_model_fits_and_predicts(trained: tuple[ResponseModels, Path]) -> None:
    models, path = trained
    loaded, meta = load_model(path)
    assert meta["seed"] == 1001 and meta["horizon"] == 7
    rng = np.random.default_rng(0)
    base = np.abs(rng.normal(size=(50, len(FEATURES) - 1)))
    m = loaded.net.value_matrix(base)
    assert m.shape == (50, len(ACTIONS)) and np.isfinite(m).all()
    np.testing.assert_array_equal(m, models.net.value_matrix(base))  # joblib round trip
    assert loaded.commission.value_matrix(base).shape == (50, len(ACTIONS))
    assert loaded.net.get_params()["horizon"] == 7  # the scikit-learn estimator contract


def test_plan_respects_capacity_and_budget(trained: tuple[ResponseModels, Path]) -> None:
    models, _ = trained
    cap = replace(Capacity.for_book(LOANS), agent_minutes=20, robot_calls=10, message_budget=100)
    decider = OptimisedDecider(model=models, capacity=cap)
    seen: list[tuple[pl.DataFrame, dict[str, Any]]] = []

    def hook(rec: ev.DayRecord) -> None:
        decider.observe(rec)
        seen.append((rec.decisions, decider.plans[-1]))

    cfg = ev.EvalConfig(
        strategy=decider.notices, loans=LOANS, days=DAYS, seed=2, capacity=cap, decider=decider, on_day=hook
    )
    result = ev.evaluate(cfg)
    assert result.violations == 0
    prices = decider.prices
    for dec, plan in seen:
        counts = dec.group_by("treatment").len()
        n = dict(zip(counts["treatment"], counts["len"], strict=True))
        # calls (4 minutes) and plan offers (8 minutes) share the agents' 20 minutes
        assert 4 * n.get("agent_call", 0) + 8 * n.get("plan_offer", 0) <= 20
        assert n.get("robot_call", 0) <= 10
        assert n.get("field_visit", 0) <= (cap.field_visits or 0)
        spend = sum(prices[t] * k for t, k in n.items() if RESOURCE.get(_t(t)) == "message_budget")
        assert spend <= 100
        # certified: the plan's value is within ``gap`` of the dual bound (tiny days: whole accounts)
        assert 0.0 <= plan["gap"] < 0.05
        assert plan["total_value"] <= plan["dual_bound"] + 1e-6
        assert {"expected_value", "reasons"} <= set(dec.columns)
        chosen = dec.filter(pl.col("treatment") != "no_action", ~pl.col("required_notice"))
        if chosen.height:
            assert (chosen["expected_value"] > 0).all()
            assert chosen["reasons"].str.contains("runner-up").all()
            assert chosen["reasons"].str.contains("binding").all()
    # Required notices (day 25) are sent exactly as the default strategy sends them.
    notices = pl.concat([d for d, _ in seen]).filter(pl.col("required_notice"))
    assert notices.height > 0
    assert (notices["dpd"] == 25).all() and (notices["treatment"] == "sms").all()
    assert (notices["template"] == "credit_notice").all()


def test_exploration_places_at_its_share_and_records_propensities() -> None:
    state = AccountState()
    n = 20_000
    frame = pl.DataFrame(
        {
            "loan_id": [f"L{k + 1:09d}" for k in range(n)],
            "i": np.arange(n, dtype=np.int64),
            "borrower_id": [f"C{k + 1:08d}" for k in range(n)],
            "segment": ["mild"] * n,
            "bucket": ["M1"] * n,
            "dpd": [5] * n,
            "overdue_amount": [10_000] * n,
            "score": [0.5] * n,
        }
    )
    day = dt.date(2026, 3, 1)
    state.placed_until = np.where(np.arange(n) < n // 2, 10**6, -1).astype(np.int64)  # half placed
    dec = RandomDecider(7, state, place_share=0.05)(frame, day)
    placed = np.arange(n) < n // 2
    t = dec["treatment"].to_numpy()
    p = dec["propensity"].to_numpy()
    assert not (t[placed] == "agency_placement").any()  # never while one runs
    share = float((t[~placed] == "agency_placement").mean())
    assert abs(share - 0.05) < 0.01
    others = len(ACTIONS) - 1
    np.testing.assert_allclose(p[placed], 1 / others)
    free = ~placed & (t != "agency_placement")
    np.testing.assert_allclose(p[free], 0.95 / others)
    np.testing.assert_allclose(p[~placed & (t == "agency_placement")], 0.05)
    # the others are uniform among themselves
    counts = pl.Series(t[free]).value_counts()["count"].to_numpy()
    assert counts.size == others and counts.min() > 0.8 * counts.mean()
    # seeded by (seed, day): the same draw again
    assert dec.equals(RandomDecider(7, state, place_share=0.05)(frame, day))


def _t(name: str) -> Any:
    from recoup.contact.vocab import Treatment

    return Treatment(name)


def test_evaluation_is_lawful_and_deterministic(trained: tuple[ResponseModels, Path]) -> None:
    _, path = trained
    runs = [ev.evaluate(optimised_config(path, loans=LOANS, days=DAYS, seed=3)).to_json() for _ in range(2)]
    a, b = ({k: v for k, v in r.items() if k not in ("seconds", "timings")} for r in runs)
    assert a == b
    assert a["violations"] == 0 and a["strategy"] == "optimised" and a["strategy_name"] == "optimised"
    assert a["contacts"] > 0
    other = ev.evaluate(optimised_config(path, loans=LOANS, days=DAYS, seed=4)).to_json()
    assert other["recovered"] != a["recovered"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """The strategy group."""

    register(app)
    return app


def test_cli_train_and_evaluate(tmp_path: Path) -> None:
    assert resolve_strategy("optimised")[0] == "optimised"
    out = tmp_path / "m.joblib"
    runner = CliRunner()
    res = runner.invoke(
        _app(),
        ["train-response", "--loans", "800", "--days", "10", "--horizon", "5", "--out", str(out), "--json"],
    )
    assert res.exit_code == 0, (res.output, res.exception)
    assert json.loads(res.output)["rows"] > 0 and out.is_file()
    res = runner.invoke(
        _app(),
        [
            "evaluate",
            "--strategy",
            "optimised",
            "--model",
            str(out),
            "--loans",
            "800",
            "--days",
            "8",
            "--no-scorer",
            "--json",
        ],
    )
    assert res.exit_code == 0, (res.output, res.exception)
    j = json.loads(res.output)
    assert j["strategy"] == "optimised" and j["violations"] == 0
    res = runner.invoke(
        _app(),
        [
            "compare", "baseline", "optimised", "--model", str(out), "--seeds", "2", "--loans", "800",
            "--days", "6", "--no-scorer", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, (res.output, res.exception)
    c = json.loads(res.output)
    assert c["a"] == "baseline" and c["b"] == "optimised" and len(c["per_seed"]) == 2
