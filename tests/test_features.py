"""Scoring features on a hand-made loan, no look-ahead, and docs/features.md in step with the code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from recoup.scoring.features import FEATURES, features, render_docs

D = dt.date
AS_OF = D(2026, 11, 20)


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    daily = pl.DataFrame(
        {
            "as_of": [AS_OF],
            "loan_id": ["A"],
            "borrower_id": ["B"],
            "dpd": [20],
            "outstanding_principal": [20_000],
            "principal": [30_000],
            "disbursement_date": [D(2026, 8, 25)],
            "max_dpd": [35],
            "times_cured": [1],
        }
    )
    z = {"fee_due": 0, "penalty_due": 0, "fee_paid": 0, "penalty_paid": 0}
    inst = pl.DataFrame(
        [
            {
                "loan_id": "A",
                "seq": 1,
                "due_date": D(2026, 9, 25),
                "principal_due": 10_000,
                "interest_due": 500,
                "principal_paid": 10_000,
                "interest_paid": 500,
                **z,
            },
            {
                "loan_id": "A",
                "seq": 2,
                "due_date": D(2026, 10, 31),
                "principal_due": 10_000,
                "interest_due": 500,
                "principal_paid": 2_000,
                "interest_paid": 0,
                **z,
            },  # partly paid
            {
                "loan_id": "A",
                "seq": 3,
                "due_date": D(2026, 11, 25),
                "principal_due": 10_000,
                "interest_due": 500,
                "principal_paid": 0,
                "interest_paid": 0,
                **z,
            },
        ]
    )
    pays = pl.DataFrame(
        {
            "payment_id": ["P1", "P2", "P3", "P4"],
            "loan_id": ["A"] * 4,
            "received_date": [D(2026, 9, 25), D(2026, 11, 1), D(2026, 11, 10), D(2026, 11, 12)],
            "amount": [10_500, 2_000, 700, 700],
            "reverses": [None, None, None, "P3"],
        }
    )
    bureau = pl.DataFrame(
        {
            "borrower_id": ["B", "B"],
            "report_date": [D(2026, 6, 1), D(2026, 10, 1)],
            "score": [640, 610],
            "new_delinquencies": [1, 2],
        }
    )
    return daily, inst, pays, bureau


def test_features_by_hand() -> None:
    f = features(*_frames(), as_of=AS_OF).row(0, named=True)
    # P3 was reversed by P4: both leave the counts. Live: P1 (56 days ago), P2 (19 days ago).
    assert (f["payments_30d"], f["paid_30d"], f["payments_90d"], f["paid_90d"]) == (1, 2_000, 2, 12_500)
    assert f["days_since_last_payment"] == 19
    # Trend over (t, amount) = (−56, 10500), (−19, 2000): slope = −8500 / 37 per day.
    assert f["payment_trend"] == pytest.approx(-8_500 / 37)
    # Due on or before D: installments 1 and 2 = 21,000; paid 10,500 + 2,000 = 12,500.
    assert f["paid_to_due_ratio"] == pytest.approx(12_500 / 21_000)
    assert (f["partial_payments"], f["remaining_installments"]) == (1, 1)
    assert (f["max_dpd_ever"], f["times_cured"], f["dpd"]) == (35, 1, 20)
    assert f["utilisation"] == pytest.approx(20_000 / 30_000)
    assert f["loan_age_months"] == 2  # 08-25 → 11-20: two whole months
    # Latest score 610 (10-01); only the 10-01 report is within 90 days (50 days before D).
    assert (f["bureau_score"], f["bureau_new_delinquencies_90d"]) == (610, 2)
    assert list(features(*_frames(), as_of=AS_OF).columns) == ["as_of", "loan_id", "borrower_id", *FEATURES]


def test_no_feature_uses_data_after_the_as_of_date() -> None:
    daily, inst, pays, bureau = _frames()
    before = features(daily, inst, pays, bureau, as_of=AS_OF)
    future_pays = pl.concat(
        [
            pays,
            pl.DataFrame(
                {
                    "payment_id": ["P9"],
                    "loan_id": ["A"],
                    "received_date": [D(2026, 11, 21)],
                    "amount": [99_999],
                    "reverses": [None],
                },
                schema=pays.schema,
            ),
        ]
    )
    future_bureau = pl.concat(
        [
            bureau,
            pl.DataFrame(
                {
                    "borrower_id": ["B"],
                    "report_date": [D(2026, 12, 1)],
                    "score": [300],
                    "new_delinquencies": [9],
                }
            ),
        ]
    )
    assert features(daily, inst, future_pays, future_bureau, as_of=AS_OF).equals(before)


def test_docs_are_current() -> None:
    path = Path(__file__).resolve().parents[1] / "docs" / "features.md"
    assert path.read_text(encoding="utf-8") == render_docs(), "run: python -m recoup.scoring.features"
