"""Model monitoring: PSI (worked by hand on two bins), the PSI table, AUC/KS per month on a hand-made
frame, and the drift alerts."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from recoup.scoring.monitoring import (
    MonitoringError,
    drift_alerts,
    performance_by_month,
    psi,
    psi_table,
)


def test_psi_two_bins_by_hand() -> None:
    # The median of the expected values (1.5) splits two bins: expected 50/50, actual 25/75.
    got = psi(pl.Series([1, 1, 2, 2]), pl.Series([1, 2, 2, 2]), bins=2)
    assert got == pytest.approx((0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5))
    assert got == pytest.approx(0.274653, abs=1e-6)
    # A value equal to a cut point falls in the lower bin (right-closed bins).
    assert psi(pl.Series([1.0, 2.0]), pl.Series([1.5, 1.5]), bins=2) == pytest.approx(
        (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    )


def test_psi_identical_near_zero_and_shifted_above_alert() -> None:
    rng = np.random.default_rng(0)
    base = pl.Series("x", rng.normal(0, 1, 5000))
    assert psi(base, base) == pytest.approx(0.0, abs=1e-12)
    assert psi(base, pl.Series("x", rng.normal(0, 1, 5000))) < 0.02
    assert psi(base, pl.Series("x", rng.normal(1, 1, 5000))) > 0.25


def test_psi_categories_and_nulls_are_bins_of_their_own() -> None:
    # Categories a, b and null: expected 1/2, 1/4, 1/4; actual 1/4, 1/4, 1/2.
    e = pl.Series(["a", "a", "b", None])
    a = pl.Series(["a", "b", None, None])
    want = (0.25 - 0.5) * math.log(0.5) + 0 + (0.5 - 0.25) * math.log(2)
    assert psi(e, a) == pytest.approx(want)
    # Numeric nulls (and NaN) likewise: 4 equal bins of 1..4 plus a null bin.
    n_e = pl.Series([1.0, 2.0, 3.0, 4.0])
    n_a = pl.Series([1.0, 2.0, None, float("nan")])
    want = 2 * (1e-4 - 0.25) * math.log(1e-4 / 0.25) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi(n_e, n_a, bins=4) == pytest.approx(want)
    with pytest.raises(MonitoringError, match="both samples"):
        psi(pl.Series([], dtype=pl.Float64), n_a)


def test_psi_table_statuses_with_thresholds() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    exp = pl.DataFrame({"same": rng.normal(size=n), "bit": rng.normal(size=n), "far": rng.normal(size=n)})
    act = pl.DataFrame(
        {"same": rng.normal(size=n), "bit": rng.normal(0.45, 1, n), "far": rng.normal(1.5, 1, n)}
    )
    t = psi_table(exp, act, ["same", "bit", "far"])
    assert t.columns == ["column", "psi", "status"]
    assert t.get_column("status").to_list() == ["stable", "watch", "alert"]
    strict = psi_table(exp, act, ["same", "bit"], watch=0.0001, alert=0.1)
    assert strict.get_column("status").to_list() == ["watch", "alert"]
    with pytest.raises(MonitoringError, match="missing"):
        psi_table(exp, act.drop("far"), ["far"])


def _perf_frame() -> pl.DataFrame:
    jan, feb, mar = dt.date(2024, 1, 5), dt.date(2024, 2, 3), dt.date(2024, 3, 9)
    return pl.DataFrame(
        {
            "as_of": [jan, jan, jan, jan, dt.date(2024, 1, 31), feb, feb, feb, mar, mar],
            "score": [0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.3, 0.3, 0.5, 0.5],
            "bad": [0, 0, 1, 1, None, 0, 0, 0, 1, 0],
        }
    )


def test_performance_by_month_by_hand() -> None:
    out = performance_by_month(_perf_frame(), score="score", target="bad")
    assert out.columns == ["month", "n", "bad_rate", "auc", "ks"]
    assert out.get_column("month").to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 1),
    ]
    # January (the unmatured 31st left out): pairs (bad, good) won 3 of 4 → AUC 0.75; at 0.8 the bads'
    # CDF is 1/2 below the goods' (which reach 1 at 0.4) → KS 0.5.
    jan = out.row(0, named=True)
    assert (jan["n"], jan["bad_rate"], jan["auc"], jan["ks"]) == (
        4,
        0.5,
        pytest.approx(0.75),
        pytest.approx(0.5),
    )
    # February holds one class: no AUC, no KS.
    feb = out.row(1, named=True)
    assert (feb["n"], feb["bad_rate"], feb["auc"], feb["ks"]) == (3, 0.0, None, None)
    # March: one tie between the bad and the good → AUC 0.5, KS 0.
    mar = out.row(2, named=True)
    assert (mar["auc"], mar["ks"]) == (pytest.approx(0.5), pytest.approx(0.0))
    stamped = _perf_frame().with_columns(pl.col("as_of").cast(pl.Datetime("us")).alias("seen_at"))
    same = performance_by_month(stamped, score="score", target="bad", month_col="seen_at")
    assert same.get_column("auc").to_list() == out.get_column("auc").to_list()
    with pytest.raises(MonitoringError, match="not found: nope"):
        performance_by_month(_perf_frame(), score="nope", target="bad")


def test_drift_alerts() -> None:
    table = pl.DataFrame(
        {
            "column": ["dpd", "paid_30d", "city"],
            "psi": [0.05, 0.31, 0.26],
            "status": ["stable", "alert", "alert"],
        }
    )
    perf = performance_by_month(_perf_frame(), score="score", target="bad")
    alerts = drift_alerts(table, perf, auc_floor=0.6)
    assert [(a["kind"], a["subject"]) for a in alerts] == [
        ("psi", "paid_30d"),
        ("psi", "city"),
        ("auc", "2024-03"),
    ]
    first = alerts[0]
    assert first["value"] == 0.31 and first["threshold"] == 0.25
    assert "paid_30d" in first["message_en"] and "PSI 0.310" in first["message_en"]
    assert "偏移" in first["message_zh"]
    assert alerts[2]["value"] == pytest.approx(0.5) and "低于下限" in alerts[2]["message_zh"]
    assert drift_alerts(table, perf) == alerts[:2]  # no AUC floor, no AUC alerts
    strict = drift_alerts(table, None, psi_alert=0.3)
    assert [(a["subject"], a["threshold"]) for a in strict] == [("paid_30d", 0.3)]
