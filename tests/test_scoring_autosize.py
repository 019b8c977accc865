"""Size-adaptive GBM regularisation, ``recoup model fit --kind auto`` and training tables from the lake
(issue 14, item 7), on small hand-made tables.

- Below ``SMALL_ROWS`` rows the GBM grows few shallow, randomised trees with small leaves, picks its
  number of rounds by inner cross-validation, refits on every row and calibrates with Platt's sigmoid
  on the out-of-fold scores (which keeps the trees' ranking); from ``SMALL_ROWS`` rows on it fits as
  before (validation split). Given parameters win over the size's.
- ``--kind auto`` cross-validates both kinds on the same folds and keeps the better; on a table whose
  signal is an interaction an additive scorecard cannot see, that is the GBM.
- ``build_table``: features of delinquent account-days with matured labels only, sampled one per
  account and month (or every row), and a clear error when no label has matured.
(The AUC of GBM against scorecard on the public Taiwan table is a measurement: bench/bench_small_tables.py.)
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import pytest

from recoup.scoring.estimators import SMALL_ROWS, GBMClassifier, size_params
from recoup.scoring.evaluation import auc
from recoup.scoring.features import FEATURES
from recoup.scoring.fit import fit_table, prepare
from recoup.scoring.table import TableError, build_table, one_per, sample_rows

RECOUP = str(Path(sys.executable).parent / "recoup")
#: The GBM's settings before they followed the table's size.
LEGACY: dict[str, Any] = {
    "num_leaves": 15,
    "min_child_samples": 80,
    "learning_rate": 0.03,
    "extra_trees": False,
    "early_stopping": "split",
}


def _mixed(n: int, seed: int = 0, columns: int = 20) -> pl.DataFrame:
    """``columns`` mixed columns (three informative numbers, one informative text category, noise and
    missing values) and a 0/1 target with an additive logistic signal."""
    rng = np.random.default_rng(seed)
    late = rng.integers(0, 90, n).astype(float)
    util = rng.random(n)
    paid = np.where(rng.random(n) < 0.15, np.nan, rng.exponential(1000, n))
    city = rng.choice(["一线", "二线", "三线", "其他"], n)
    logit = -1.2 + 0.03 * late + 1.2 * util - 0.0004 * np.nan_to_num(paid) + np.where(city == "三线", 0.6, 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    data: dict[str, object] = {"late": late, "util": util, "paid": paid, "city": city}
    for i in range(columns - 4):
        data[f"noise_{i}"] = rng.choice(["a", "b", "c"], n) if i % 4 == 0 else rng.normal(0, 1, n)
    return pl.DataFrame(data).with_columns(bad=pl.Series(y))


def test_size_params_follow_the_table_size() -> None:
    small, mid, large = size_params(800), size_params(5_000), size_params(SMALL_ROWS)
    assert small["early_stopping"] == mid["early_stopping"] == "cv" and large["early_stopping"] == "split"
    assert small["num_leaves"] < mid["num_leaves"] < large["num_leaves"] == 15
    assert small["min_child_samples"] == 20 and large["min_child_samples"] == 80
    assert size_params(100)["min_child_samples"] == 10  # never below 10
    assert small["extra_trees"] and not large["extra_trees"]
    assert large["learning_rate"] == 0.03  # the large-table defaults are the ones measured before


def test_a_small_table_is_fitted_by_inner_cross_validation_and_keeps_its_ranking() -> None:
    X, y, _ = prepare(_mixed(800), "bad", None)
    m = GBMClassifier().fit(X, y)
    assert m.params_ == size_params(800) | {"n_jobs": 1}
    assert 1 <= m.n_rounds_ <= m.max_rounds and m.booster_.n_estimators == m.n_rounds_
    assert m.calibration_method_ == "platt"
    raw = np.asarray(m.booster_.predict_proba(m._frame(X)))[:, 1]
    p = m.predict_proba(X)[:, 1]
    assert auc(y, p) == pytest.approx(auc(y, raw))  # Platt's sigmoid is monotone: no ties, same AUC
    assert p.min() > 0 and p.max() < 1 and len(np.unique(p)) > 50
    # Given parameters win over the size's; the split path still works on a small table.
    legacy = GBMClassifier(num_leaves=15, min_child_samples=80, learning_rate=0.03, early_stopping="split")
    legacy.fit(X, y)
    assert legacy.params_["num_leaves"] == 15 and legacy.params_["early_stopping"] == "split"
    assert legacy.params_["extra_trees"]  # not given: by size
    with pytest.raises(ValueError, match="early_stopping"):
        GBMClassifier(early_stopping="never").fit(X, y)


def test_a_large_table_fits_as_before() -> None:
    resolved = GBMClassifier()._resolved(SMALL_ROWS)
    assert resolved == size_params(SMALL_ROWS) | {"n_jobs": 2} and resolved["early_stopping"] == "split"


def test_regularisation_helps_the_small_table() -> None:
    """On the same folds, the size-adaptive GBM is not worse than the old fixed settings on a 600-row
    table (three seeds, so one lucky draw does not decide)."""
    from recoup.scoring.evaluation import cross_validate

    gaps = []
    for seed in (0, 1, 2):
        X, y, _ = prepare(_mixed(600, seed=seed), "bad", None)
        new = cross_validate(GBMClassifier, X, y).auc
        old = cross_validate(lambda: GBMClassifier(**LEGACY), X, y).auc
        gaps.append(new - old)
    assert np.mean(gaps) > 0, gaps


def _xor(n: int = 500, seed: int = 0) -> pl.DataFrame:
    """The target is an interaction (the sign of a × b): an additive scorecard sees nothing in a or b."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, n), rng.normal(0, 1, n)
    y = (rng.random(n) < np.where(a * b > 0, 0.85, 0.15)).astype(int)
    return pl.DataFrame({"id": np.arange(n), "a": a, "b": b, "c": rng.normal(0, 1, n), "bad": y})


def test_kind_auto_picks_the_better_by_cross_validation(tmp_path: Path) -> None:
    path = tmp_path / "xor.csv"
    _xor().write_csv(path)
    rep = fit_table(path, target="bad", id_column="id", kind="auto")
    assert set(rep.candidates) == {"gbm", "scorecard"}
    assert rep.kind == max(rep.candidates, key=rep.candidates.__getitem__) == "gbm"
    assert rep.candidates["gbm"] > rep.candidates["scorecard"] + 0.15
    assert rep.auc == rep.candidates["gbm"] and len(rep.fold_auc) == 5
    out = json.loads(json.dumps(rep.as_json()))  # what --json prints
    assert out["kind"] == "gbm" and out["candidates"] == pytest.approx(rep.candidates)
    bad = subprocess.run(
        [RECOUP, "model", "fit", str(path), "--target", "bad", "--kind", "forest"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "gbm, scorecard or auto" in bad.stderr and "Traceback" not in bad.stderr


# --- training tables from the lake ----------------------------------------------------------------------

D0 = dt.date(2026, 1, 1)
DAY = dt.timedelta(days=1)


def _build(out: _Out, book: _Book, **kw: Any) -> pl.DataFrame:
    return build_table(cast(Any, out), cast(Any, book), **kw)


class _Out:
    """The two output tables build_table scans, held in memory."""

    def __init__(self, frames: dict[str, pl.DataFrame]) -> None:
        self.frames = frames

    def scan(self, name: str) -> pl.LazyFrame | None:
        return self.frames[name].lazy() if name in self.frames else None


class _Book:
    def __init__(self, payments: pl.DataFrame) -> None:
        self.payments = payments

    def scan(self, name: str) -> pl.LazyFrame:
        assert name == "payments"
        return self.payments.lazy()


def _history(days: int = 70) -> tuple[_Out, _Book]:
    """Two loans over ``days`` days: L1 behind from day 0 and current again on day 40; L2 behind
    throughout."""
    rows, feats = [], []
    for k in range(days):
        day = D0 + DAY * k
        for loan, dpd in (("L1", k + 1 if k < 40 else 0), ("L2", k + 1)):
            rows.append(
                {
                    "as_of": day,
                    "loan_id": loan,
                    "dpd": dpd,
                    "bucket_rank": min(dpd // 30 + (dpd > 0), 6),
                    "status": "active",
                    "overdue_amount": 1000 * (dpd > 0),
                }
            )
            feats.append(
                {"as_of": day, "loan_id": loan, "borrower_id": f"B{loan}"} | dict.fromkeys(FEATURES, 1.0)
            )
    daily = pl.DataFrame(rows)
    features = pl.DataFrame(feats).with_columns(dpd=daily.get_column("dpd").cast(pl.Float64))
    payments = pl.DataFrame(
        {
            "payment_id": ["P1"],
            "loan_id": ["L1"],
            "received_date": [D0 + DAY * 40],
            "amount": [1000],
        }
    ).with_columns(reverses=pl.lit(None, pl.String))
    return _Out({"account_daily": daily, "features": features}), _Book(payments)


def test_build_table_keeps_matured_labels_only() -> None:
    out, book = _history(70)
    table = build_table(out, book, target="self_cure_30", start=D0, end=D0 + DAY * 69, sample="all")
    # Labels need 30 observed days after D: the last labelled as-of date is day 39 (70 days − 1 − 30).
    assert table.get_column("as_of").max() == D0 + DAY * 39
    assert table.columns == ["as_of", "loan_id", "borrower_id", *FEATURES, "self_cure_30"]
    l1 = table.filter(pl.col("loan_id") == "L1")
    # L1 cures on day 40: a label of 1 from day 10 on (within 30 days), 0 before.
    assert l1.filter(pl.col("as_of") < D0 + DAY * 10).get_column("self_cure_30").sum() == 0
    assert l1.filter(pl.col("as_of") >= D0 + DAY * 10).get_column("self_cure_30").min() == 1
    assert table.filter(pl.col("loan_id") == "L2").get_column("self_cure_30").sum() == 0
    per_month = _build(out, book, target="self_cure_30", start=D0, end=D0 + DAY * 69)
    months = per_month.select("loan_id", pl.col("as_of").dt.truncate("1mo"))
    assert months.n_unique() == per_month.height == 4  # two loans × January and February
    again = _build(out, book, target="self_cure_30", start=D0, end=D0 + DAY * 69)
    assert per_month.equals(again)  # seeded draw


def test_build_table_refuses_what_it_cannot_label() -> None:
    out, book = _history(20)
    with pytest.raises(TableError, match="no labelled rows") as err:
        _build(out, book, target="self_cure_30", start=D0, end=D0 + DAY * 19)
    assert err.value.code == "model.table" and err.value.details["last_day"] == (D0 + DAY * 19).isoformat()
    with pytest.raises(TableError, match="unknown target"):
        _build(out, book, target="recovered_share_90", start=D0, end=D0)


def test_one_per_and_sampling() -> None:
    frame = pl.DataFrame({"as_of": [D0 + DAY * k for k in range(59)] * 2, "loan_id": ["A"] * 59 + ["B"] * 59})
    assert one_per(frame, ["loan_id"], 1).height == 2
    assert sample_rows(frame, "account_month", 1).height == 4 and sample_rows(frame, "all", 1).height == 118
    with pytest.raises(TableError):
        sample_rows(frame, "weekly", 1)
