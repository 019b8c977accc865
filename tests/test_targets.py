"""Targets from account_daily history, worked out by hand, with immature windows left null."""

from __future__ import annotations

import datetime as dt

import polars as pl

from recoup.scoring.targets import targets

D0 = dt.date(2026, 1, 1)


def _daily(
    loan: str, dpds: list[int], *, status: str = "active", overdue: int = 10_000
) -> list[dict[str, object]]:
    rank = lambda d: 0 if d <= 0 else min(7, (d + 29) // 30)  # noqa: E731 - C, M1 (1–30) …
    return [
        {
            "as_of": D0 + dt.timedelta(days=i),
            "loan_id": loan,
            "dpd": d,
            "bucket_rank": rank(d),
            "status": status,
            "overdue_amount": overdue if d > 0 else 0,
        }
        for i, d in enumerate(dpds)
    ]


def test_targets_by_hand() -> None:
    days = 130
    # A: 5 days past due on day 0, pays on day 10 (current from then on) → self-cure within 30 days.
    a = [5 + i for i in range(10)] + [0] * (days - 10)
    # B: 20 days past due and never pays → rolls to M2 on day 11 (dpd 31): roll forward, no cure.
    b = [20 + i for i in range(days)]
    # C: cures on day 40 only → not within 30 days of day 0.
    c = [1 + i for i in range(40)] + [0] * (days - 40)
    daily = pl.DataFrame(_daily("A", a) + _daily("B", b) + _daily("C", c))
    pays = pl.DataFrame(
        {
            "payment_id": ["p1", "p2", "p3", "r3"],
            "loan_id": ["A", "C", "B", "B"],
            "received_date": [
                D0 + dt.timedelta(days=10),
                D0 + dt.timedelta(days=40),
                D0 + dt.timedelta(days=5),
                D0 + dt.timedelta(days=6),
            ],
            "amount": [10_000, 4_000, 3_000, 3_000],
            "reverses": [None, None, None, "p3"],
        }
    )
    t = targets(daily, pays)
    day0 = {r["loan_id"]: r for r in t.filter(pl.col("as_of") == D0).iter_rows(named=True)}
    assert (day0["A"]["self_cure_30"], day0["A"]["roll_forward_30"]) == (1, 0)
    assert (day0["B"]["self_cure_30"], day0["B"]["roll_forward_30"]) == (0, 1)
    assert (day0["C"]["self_cure_30"], day0["C"]["roll_forward_30"]) == (0, 1)  # dpd 1 → 31 on day 30
    # Recovered within 90 days ÷ overdue on D: A 10,000/10,000; C 4,000/10,000; B's payment was reversed.
    assert day0["A"]["recovered_share_90"] == 1.0
    assert day0["C"]["recovered_share_90"] == 0.4
    assert day0["B"]["recovered_share_90"] == 0.0
    # Only delinquent rows get targets; windows that run past the history are null, never 0.
    assert t.filter((pl.col("loan_id") == "A") & (pl.col("as_of") >= D0 + dt.timedelta(days=10))).height == 0
    late = t.filter(pl.col("as_of") > D0 + dt.timedelta(days=days - 31))
    assert late.get_column("self_cure_30").null_count() == late.height
    mid = t.filter(pl.col("as_of") == D0 + dt.timedelta(days=50))
    assert (
        mid.get_column("self_cure_30").null_count() == 0
        and mid.get_column("recovered_share_90").null_count() == mid.height
    )


def test_targets_ignore_nothing_before_but_only_see_after() -> None:
    # Changing history before D does not change D's targets.
    base = _daily("B", [20 + i for i in range(70)])
    changed = [dict(r, dpd=99) if r["as_of"] < D0 + dt.timedelta(days=5) else r for r in base]  # type: ignore[arg-type]
    empty = pl.DataFrame(
        schema={
            "payment_id": pl.String,
            "loan_id": pl.String,
            "received_date": pl.Date,
            "amount": pl.Int64,
            "reverses": pl.String,
        }
    )
    day = D0 + dt.timedelta(days=10)
    t1 = targets(pl.DataFrame(base), empty).filter(pl.col("as_of") == day)
    t2 = targets(pl.DataFrame(changed), empty).filter(pl.col("as_of") == day)
    assert t1.equals(t2)
