"""Calibration of the untreated book against the targets configured per product (docs/simulator.md), and
the treatment effects wired by type: an SMS to every M1 account recovers more from the forgetful and
exactly the same from the unreachable (common random numbers: same seed, same draws per account)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from recoup.contact.vocab import Treatment
from recoup.simulate import DEFAULT_PARAMS, Action, World, generate_history
from recoup.simulate.stats import check_targets, compute_stats


@pytest.fixture(scope="module")
def stats(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    out = tmp_path_factory.mktemp("calibration")
    generate_history(40_000, dt.date(2026, 1, 1), 120, 1, out)
    return compute_stats(out)


def _row(stats: pl.DataFrame, product: str) -> dict[str, float]:
    return stats.filter(pl.col("product") == product).row(0, named=True)


def test_calibration_targets_are_met(stats: pl.DataFrame) -> None:
    assert check_targets(stats, DEFAULT_PARAMS) == []
    prime = _row(stats, "CASHP")
    assert 0.80 <= prime["m1_cure_30d"] <= 0.95 and prime["m1_entries"] > 300
    # Subprime cash and cards cure less than prime cash loans.
    for other in ("CASHS", "CARD"):
        assert _row(stats, other)["m1_cure_30d"] < prime["m1_cure_30d"] - 0.1


def test_roll_rates_and_recovery_by_bucket_age(stats: pl.DataFrame) -> None:
    book = _row(stats, "ALL")
    # The older the bucket, the less rolls back to current (and the more rolls forward).
    assert book["back_M1"] > book["back_M2"] > book["back_M3"]
    assert book["roll_M1"] < min(book["roll_M2"], book["roll_M3"])
    assert 0.0 < book["roll_C"] < 0.05
    # Accounts already 90+ days past due recover little.
    assert 0.0 < book["recovery_90p"] < 0.15 and book["recovery_accounts"] > 500


def _arm(sms: bool, n: int = 60_000, days: int = 35) -> pl.DataFrame:
    """Per type: cash received within 15 days of entering M1 ÷ overdue at entry, for entries on days 1–20."""
    world = World(n_loans=n, start=dt.date(2026, 1, 1), seed=8, horizon_days=days)
    entries, payments = [], []
    for day in range(days):
        late = world.accounts(delinquent_only=True)
        if day < 20:
            entries.append(
                late.filter(pl.col("dpd") == 1).select("loan_id", "overdue", entered=pl.lit(world.today))
            )
        m1 = late.filter(pl.col("dpd").is_between(1, 30)).get_column("loan_id")
        events = world.step([Action(i, Treatment.SMS, hour=12) for i in m1] if sms else [])
        payments.append(events.payments.select("loan_id", "amount", day=pl.lit(world.today)))
    cohort = pl.concat(entries).unique("loan_id", keep="first")
    window = (pl.col("day") > pl.col("entered")) & (pl.col("day") <= pl.col("entered") + pl.duration(days=15))
    got = (
        pl.concat(payments)
        .join(cohort, on="loan_id")
        .filter(window)
        .group_by("loan_id")
        .agg(pl.col("amount").sum())
    )
    return (
        cohort.join(got, on="loan_id", how="left")
        .with_columns(pl.col("amount").fill_null(0))
        .join(world.truth().select("loan_id", "borrower_type"), on="loan_id")
        .group_by("borrower_type")
        .agg(
            pl.len().alias("accounts"), (pl.col("amount").sum() / pl.col("overdue").sum()).alias("recovered")
        )
    )


def test_sms_helps_the_forgetful_not_the_unreachable() -> None:
    both = _arm(False).join(_arm(True), on="borrower_type", suffix="_sms")
    by = {r["borrower_type"]: r for r in both.iter_rows(named=True)}
    forgetful, unreachable = by["forgetful"], by["unreachable"]
    assert forgetful["accounts"] > 80 and unreachable["accounts"] > 10
    assert forgetful["recovered_sms"] > forgetful["recovered"] + 0.05
    assert unreachable["recovered_sms"] == unreachable["recovered"]
    # Pressure by SMS does not move the hardship or fraud types either (they answer plans and nothing).
    for t in ("hardship", "fraud"):
        assert by[t]["recovered_sms"] == by[t]["recovered"]
