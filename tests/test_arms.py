"""Per-arm experiment results: the METRICS.md definitions on hand-made cohorts, intervals and verdicts."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recoup.reporting.arms import arm_results, compare_arms


def test_metrics_on_a_hand_made_arm() -> None:
    accounts = pl.DataFrame(
        {
            "arm": ["A"] * 4,
            "allocated": [100, 100, 200, 200],
            "collected": [50, 0, 200, 50],
            "cost": [10, 10, 10, 10],
            "cured": [False, False, True, False],
            "complaints": [0, 1, 0, 0],
        }
    )
    (r,) = arm_results(accounts).iter_rows(named=True)
    assert r["accounts"] == 4
    assert r["recovery_rate"] == pytest.approx(300 / 600)
    assert r["amount_per_account"] == pytest.approx(75)
    assert r["net_per_account"] == pytest.approx((40 - 10 + 190 + 40) / 4)
    assert r["cost_per_yuan"] == pytest.approx(40 / 300)
    assert r["cure_rate"] == pytest.approx(200 / 600)
    assert r["complaints_per_10k"] == pytest.approx(2500)
    # Delta method: residuals y − R·x = 0, −50, 100, −50 → Σ² = 15,000; se = √(15,000 · 4/3) / 600.
    se = math.sqrt(15_000 * 4 / 3) / 600
    assert r["recovery_rate_lo"] == pytest.approx(0.5 - 1.959964 * se, rel=1e-5)
    assert r["recovery_rate_hi"] == pytest.approx(0.5 + 1.959964 * se, rel=1e-5)
    # Garwood interval for 1 complaint in 4 accounts contains the estimate and starts above zero.
    assert 0 < r["complaints_per_10k_lo"] < 2500 < r["complaints_per_10k_hi"]
    assert r["violations"] == 0


def _cohort(
    arm: str, n: int, mean_net: float, rng: np.random.Generator, *, violations: int = 0
) -> pl.DataFrame:
    collected = np.maximum(rng.normal(mean_net + 20, 60, n), 0).round()
    return pl.DataFrame(
        {
            "arm": [arm] * n,
            "allocated": np.full(n, 500),
            "collected": collected.astype(np.int64),
            "cost": np.full(n, 20),
            "cured": collected > 400,
            "complaints": np.zeros(n, dtype=np.int64),
            "violations": np.r_[
                np.ones(violations, dtype=np.int64), np.zeros(n - violations, dtype=np.int64)
            ],
        }
    )


def test_verdicts_only_when_significant() -> None:
    rng = np.random.default_rng(11)
    frame = pl.concat(
        [
            _cohort("champion", 20_000, 100, rng),
            _cohort("better", 20_000, 110, rng),
            _cohort("same", 20_000, 100, rng),
            _cohort("worse", 20_000, 90, rng),
            _cohort("rule-breaker", 20_000, 150, rng, violations=1),
        ]
    )
    res = arm_results(frame)
    verdicts = dict(compare_arms(res).select("arm", "verdict").iter_rows())
    assert verdicts == {
        "better": "better",
        "same": "no significant difference",
        "worse": "worse",
        "rule-breaker": "fails",  # a violation vetoes any recovery
    }
    cmp = compare_arms(res).filter(pl.col("arm") == "better").row(0, named=True)
    assert cmp["net_diff_lo"] < cmp["net_diff"] < cmp["net_diff_hi"] and cmp["net_diff_lo"] > 0
    with pytest.raises(ValueError, match="champion"):
        compare_arms(res.filter(pl.col("arm") != "champion"))
