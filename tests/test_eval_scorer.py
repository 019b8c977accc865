"""The evaluation gives every strategy the same self-cure scorer (issue 14, item 7): trained on a warm-up
run of another seed through the build-table recipe and the standard fit, from what an extract holds; with
it the baseline's decisions carry scores and the ladder's score rows and the SEV-LOW-CURE segment can
decide; both sides of a comparison get the identical scorer; ``--no-scorer`` is the old behaviour; the
JSON keeps its keys and says which scorer was used."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from recoup.evaluation import evaluate as ev
from recoup.evaluation.cli import register
from recoup.evaluation.compare import compare
from recoup.evaluation.scorer import SCORER_SEED, TwinScorer, cache_path, train_scorer, training_seed
from recoup.scoring.features import FEATURES
from recoup.strategy.day_record import DayRecord
from recoup.strategy.definition import load_strategy
from recoup.strategy.economics import CapacityConfig, default_prices

LOANS, DAYS = 600, 25
SCORE_ROWS = {"mild-plan", "mild-sms-likely"}


@pytest.fixture(scope="module")
def scorer() -> TwinScorer:
    return train_scorer(LOANS, DAYS, SCORER_SEED)


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """The strategy group (the real one mounts these commands the same way)."""

    register(app)
    return app


def _cli_json(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(_app(), list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def test_the_scorer_is_trained_on_another_seed_from_lender_features_only(scorer: TwinScorer) -> None:
    assert scorer.seed == SCORER_SEED and scorer.seed != 1
    assert training_seed([1, 2, 3]) == SCORER_SEED
    assert training_seed([SCORER_SEED, SCORER_SEED + 1]) == SCORER_SEED + 2
    # The model saw the cycle's feature columns and nothing else (no borrower type, no hidden factor).
    assert list(scorer.model.feature_names_in_) == list(FEATURES)
    assert scorer.kind in ("gbm", "scorecard") and set(scorer.candidates) == {"gbm", "scorecard"}
    assert scorer.holdout["n"] > 0 and 0.5 < scorer.auc <= 1.0
    j = scorer.to_json()
    assert (
        j["training"]["seed"] == SCORER_SEED and j["kind"] == scorer.kind and j["version"] == scorer.version
    )


def test_with_the_scorer_the_baseline_scores_and_its_score_rows_decide(scorer: TwinScorer) -> None:
    seen: Counter[str] = Counter()

    def count(rec: DayRecord) -> None:
        # Counted here from the frame and the decisions, independently of the result's own counts.
        scored = rec.frame.filter(pl.col("score").is_not_null()).select("loan_id")
        seen["decisions"] += rec.decisions.height
        seen["scored"] += rec.decisions.join(scored, on="loan_id", how="semi").height
        # An account the lender's kernel has in collections (dpd > 0) always has features, hence a score.
        unscored = rec.frame.filter(pl.col("score").is_null(), pl.col("dpd") > 0).select("loan_id")
        seen["unscored in collections"] += rec.decisions.join(unscored, on="loan_id", how="semi").height
        seen.update(n for n in rec.decisions.get_column("node").to_list() if n in SCORE_ROWS)
        seen["SEV-LOW-CURE"] += int((rec.frame.get_column("segment_rule") == "SEV-LOW-CURE").sum())

    base = {"strategy": ev.baseline_strategy(), "loans": LOANS, "days": DAYS, "seed": 1}
    r = ev.evaluate(ev.EvalConfig(**base, scorer=scorer, on_day=count))
    assert seen["decisions"] > 0 and seen["scored"] >= 0.95 * seen["decisions"]
    assert seen["unscored in collections"] == 0
    assert seen["mild-sms-likely"] + seen["mild-plan"] > 0 and seen["SEV-LOW-CURE"] > 0
    assert r.scores["decisions"] == seen["decisions"] and r.scores["scored"] == seen["scored"]
    assert {k: v for k, v in r.scores["score_rules"].items() if k in SCORE_ROWS} == {
        k: seen[k] for k in SCORE_ROWS if seen[k]
    }
    assert r.scorer is not None and r.scorer["version"] == scorer.version
    # Unscored (the old behaviour): no decision has a score, no score row or segment ever matches.
    u = ev.evaluate(ev.EvalConfig(**base))
    assert u.scores["scored"] == 0 and u.scores["score_rules"] == {} and u.scorer is None
    assert u.scores["decisions"] > 0


def test_both_sides_of_a_comparison_get_the_identical_scorer(scorer: TwinScorer) -> None:
    doc = ev.baseline_strategy().doc.model_dump(mode="json")
    doc["name"] = "variant"
    for row in doc["rows"]:
        if row["id"] == "mild-plan":
            row["then"]["priority"] = 55  # another document: another strategy hash
    variant = load_strategy(doc)
    cmp = compare(
        ("baseline", ev.baseline_strategy(), ev.Execution()),
        ("variant", variant, ev.Execution()),
        seeds=[1],
        loans=LOANS,
        days=DAYS,
        scorer=scorer,
    )
    a, b = cmp.a[0], cmp.b[0]
    assert a.strategy_hash != b.strategy_hash
    assert a.scorer is not None and a.scorer == b.scorer and a.scorer["version"] == scorer.version
    assert (
        a.scores["scored"] > 0.95 * a.scores["decisions"]
        and b.scores["scored"] > 0.95 * b.scores["decisions"]
    )
    j = cmp.to_json()
    assert j["scorer"]["version"] == scorer.version and j["scores"]["a"][0] == a.scores


def test_the_cli_uses_the_cached_scorer_by_default_and_no_scorer_is_the_old_run(scorer: TwinScorer) -> None:
    # The cached scorer of this size (DATA_DIR is the test's temp dir): the CLI loads it, trains nothing.
    path = cache_path(LOANS, DAYS, SCORER_SEED, "auto", default_prices(), CapacityConfig())
    path.parent.mkdir(parents=True)
    joblib.dump(scorer, path)
    args = ("evaluate", "--strategy", "baseline", "--loans", str(LOANS), "--days", str(DAYS), "--seed", "1")
    scored = _cli_json(*args, "--json")
    old = _cli_json(*args, "--no-scorer", "--json")
    for j in (scored, old):
        for key in ("net", "cost", "recovered", "violations", "contacts", "complaints", "scorer", "scores"):
            assert key in j, key
        assert j["net"] == j["recovered"] - j["cost"] and j["violations"] == 0
    assert (
        scored["scorer"]["version"] == scorer.version and scored["scorer"]["training"]["seed"] == SCORER_SEED
    )
    assert scored["scores"]["scored"] > 0.95 * scored["scores"]["decisions"] > 0
    assert old["scorer"] is None and old["scores"]["scored"] == 0
    # --no-scorer is exactly the run without a scorer.
    plain = ev.evaluate(
        ev.EvalConfig(strategy=ev.baseline_strategy(), loans=LOANS, days=DAYS, seed=1)
    ).to_json()
    assert (old["net"], old["cost"], old["contacts"]) == (plain["net"], plain["cost"], plain["contacts"])


def test_a_cached_scorer_of_another_size_is_not_used(tmp_path: Path) -> None:
    a = cache_path(600, 25, SCORER_SEED, "auto", None, None, tmp_path)
    assert a != cache_path(600, 26, SCORER_SEED, "auto", None, None, tmp_path)
    assert a != cache_path(601, 25, SCORER_SEED, "auto", None, None, tmp_path)
    assert a != cache_path(600, 25, SCORER_SEED + 1, "auto", None, None, tmp_path)
    assert a.parent == tmp_path and a.name.endswith("-r1.joblib")


def test_a_warm_up_run_too_small_to_train_runs_unscored_and_says_why() -> None:
    res = CliRunner().invoke(_app(), ["evaluate", "--loans", "100", "--days", "2", "--seed", "1", "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    j = json.loads(res.stdout)
    assert j["scorer"] is None and j["scores"]["scored"] == 0 and "net" in j
    assert "no self-cure scorer, running unscored" in res.stderr
