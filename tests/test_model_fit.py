"""``recoup model fit`` on any labelled table, both model kinds, the estimator contract, reason codes,
and the Taiwan credit-card acceptance figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone

from recoup.scoring.estimators import GBMClassifier, ScorecardClassifier, top_reasons
from recoup.scoring.evaluation import auc, gini, ks
from recoup.scoring.fit import ModelInputError, fit_table, prepare

RECOUP = str(Path(sys.executable).parent / "recoup")
TAIWAN = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_taiwan_credit_card" / "UCI_Credit_Card.csv"
)


def _table(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Risk rises with days late and utilisation, differs by city tier (text), with missing incomes."""
    rng = np.random.default_rng(seed)
    late = rng.integers(0, 60, n)
    util = rng.random(n)
    city = rng.choice(["一线", "二线", "三线"], n)
    income = np.where(rng.random(n) < 0.2, np.nan, rng.normal(8000, 2000, n))
    logit = -2.0 + 0.05 * late + 1.5 * util + np.where(city == "三线", 0.7, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pl.DataFrame(
        {
            "id": np.arange(n),
            "late_days": late,
            "utilisation": util,
            "city": city,
            "income": income,
            "bad": np.where(y == 1, "yes", "no"),
        }
    )


def test_metrics_by_hand() -> None:
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    # Pairs (bad, good): (0.35 > 0.1) yes, (0.35 > 0.4) no, (0.8 > both) yes ×2 → AUC 3/4.
    assert auc(y, p) == pytest.approx(0.75)
    assert gini(y, p) == pytest.approx(0.5)
    # At threshold 0.8: TPR 0.5, FPR 0 → KS 0.5.
    assert ks(y, p) == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["gbm", "scorecard"])
def test_fit_any_table_with_text_and_missing_values(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "t.csv"
    _table().write_csv(path)
    rep = fit_table(path, target="bad", id_column="id", kind=kind)  # type: ignore[arg-type]
    assert rep.n_rows == 3000 and rep.n_features == 4 and len(rep.fold_auc) == 5
    assert 0.65 < rep.auc < 0.95 and rep.gini == pytest.approx(2 * rep.auc - 1)
    assert rep.top_features[0][0] == "late_days"
    again = fit_table(path, target="bad", id_column="id", kind=kind)  # type: ignore[arg-type]
    assert again.auc == rep.auc  # fixed folds, fixed seeds


def test_cli_json_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _table(1500).write_parquet(path)
    proc = subprocess.run(
        [RECOUP, "model", "fit", str(path), "--target", "bad", "--id", "id", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (
        {"auc", "ks", "gini", "n_rows", "kind"} <= set(out) and out["kind"] == "gbm" and out["n_rows"] == 1500
    )
    bad = subprocess.run(
        [RECOUP, "model", "fit", str(path), "--target", "nope"], capture_output=True, text=True
    )
    assert (
        bad.returncode != 0
        and "target column 'nope' not found" in bad.stderr
        and "Traceback" not in bad.stderr
    )


def test_target_must_be_binary() -> None:
    frame = pl.DataFrame({"x": [1, 2, 3], "t": ["a", "b", "c"]})
    with pytest.raises(ModelInputError, match="two classes"):
        prepare(frame, "t", None)


def test_estimator_contract_and_reasons() -> None:
    X, y, _ = prepare(_table(2000), "bad", "id")
    for model in (GBMClassifier(max_rounds=300), ScorecardClassifier()):
        twin = clone(model)
        assert twin.get_params() == model.get_params()
        model.fit(X, y)
        p = model.predict_proba(X)
        assert p.shape == (2000, 2) and np.allclose(p.sum(axis=1), 1.0)
        assert set(np.unique(model.predict(X))) <= {0, 1}
        contrib = model.contributions(X.head(50))
        assert list(contrib.columns) == list(X.columns)
        reasons = top_reasons(contrib, 3)
        assert len(reasons) == 50 and all(len(r) <= 3 for r in reasons)
        assert all(v > 0 for r in reasons for _n, v in r)
        # The riskiest rows are explained mostly by days late.
        worst = np.argsort(-p[:50, 1])[:10]
        assert sum(r[0][0] == "late_days" for i, r in enumerate(reasons) if i in worst and r) >= 5


def test_gbm_contributions_add_up_to_the_raw_score() -> None:
    X, y, _ = prepare(_table(2000), "bad", "id")
    m = GBMClassifier(max_rounds=200).fit(X, y)
    c = m.booster_.predict(m._frame(X.head(20)), pred_contrib=True)
    raw = m.booster_.predict(m._frame(X.head(20)), raw_score=True)
    assert np.allclose(np.asarray(c).sum(axis=1), raw)
    assert isinstance(m.contributions(X.head(3)), pd.DataFrame)


@pytest.mark.skipif(not TAIWAN.exists(), reason=f"Taiwan credit-card data not found at {TAIWAN}")
@pytest.mark.parametrize(("kind", "floor"), [("gbm", 0.775), ("scorecard", 0.76)])
def test_taiwan_credit_card_acceptance(kind: str, floor: float) -> None:
    rep = fit_table(TAIWAN, target="DEFAULT", id_column="ID", kind=kind)  # type: ignore[arg-type]
    assert rep.n_rows == 30_000
    assert rep.auc >= floor, f"{kind} cross-validated AUC {rep.auc:.4f} < {floor}"
