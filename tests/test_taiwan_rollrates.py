"""Roll rates on real data: the UCI Taiwan credit-card accounts (April–September 2005).

Each month's repayment status (PAY_6 = April … PAY_2 = August, PAY_0 = September; ≤ 0 paid duly / no
consumption / revolving, 1…9 months of delay) becomes an account_daily-shaped snapshot; recoup's
roll_rate_matrix (count-weighted) must reproduce, cell by cell, a plain crosstab of the raw columns.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from recoup.errors import RecoupError
from recoup.reporting.metrics import BUCKET_ORDER, markov_projection, roll_rate_matrix

REL = Path("shared") / "data" / "uci_taiwan_credit_card" / "UCI_Credit_Card.csv"
CANDIDATES = [Path(__file__).resolve().parents[2] / REL, Path("/work") / REL]
CSV = next((p for p in CANDIDATES if p.is_file()), None)

pytestmark = pytest.mark.skipif(
    CSV is None,
    reason="UCI Taiwan credit-card data not found (looked in " + ", ".join(str(p) for p in CANDIDATES) + ")",
)

#: (repayment-status column, statement-balance column, month end), April → September 2005.
MONTHS = [
    ("PAY_6", "BILL_AMT6", date(2005, 4, 30)),
    ("PAY_5", "BILL_AMT5", date(2005, 5, 31)),
    ("PAY_4", "BILL_AMT4", date(2005, 6, 30)),
    ("PAY_3", "BILL_AMT3", date(2005, 7, 31)),
    ("PAY_2", "BILL_AMT2", date(2005, 8, 31)),
    ("PAY_0", "BILL_AMT1", date(2005, 9, 30)),
]
PAIRS = list(itertools.pairwise(MONTHS))
PAIR_IDS = [f"{a[0]}->{b[0]}" for a, b in PAIRS]


def bucket_of(status: int) -> str:
    """Months of delay → bucket: ≤ 0 current, 1…6 → M1…M6, ≥ 7 → M7+."""
    if status <= 0:
        return "C"
    return "M7+" if status >= 7 else f"M{status}"


def to_fen(text: str) -> int:
    """NT$ as written in the CSV ("3913", "3913.0", "-12.5") → exact integer minor units, no float."""
    fen = Decimal(text) * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{text!r} has fractions of a minor unit")
    return int(fen)


@pytest.fixture(scope="module")
def raw() -> pl.DataFrame:
    assert CSV is not None
    return pl.read_csv(CSV, infer_schema=False)  # every column as text: money is parsed exactly below


def snapshot(raw: pl.DataFrame, pay: str, bill: str, as_of: date) -> pl.DataFrame:
    """An account_daily frame for one month end (cards: no vintage in the data, so one placeholder)."""
    status = [int(s) for s in raw[pay]]
    balance = [max(to_fen(s), 0) for s in raw[bill]]  # credit balances clamped to 0 for weighting
    n = raw.height
    zeros = pl.Series([0] * n, dtype=pl.Int64)
    return pl.DataFrame(
        {
            "as_of": [as_of] * n,
            "loan_id": raw["ID"],
            "borrower_id": raw["ID"],
            "product_type": ["credit_card"] * n,
            "vintage": ["2005-04"] * n,
            "disbursement_date": [date(2005, 4, 1)] * n,
            "principal": pl.Series([to_fen(s) for s in raw["LIMIT_BAL"]], dtype=pl.Int64),
            "outstanding_principal": pl.Series(balance, dtype=pl.Int64),
            "overdue_principal": zeros,
            "overdue_interest": zeros,
            "overdue_fee": zeros,
            "overdue_penalty": zeros,
            "overdue_amount": zeros,
            "dpd": pl.Series([max(s, 0) * 30 for s in status], dtype=pl.Int64),
            "bucket": [bucket_of(s) for s in status],
            "status": ["active"] * n,
            "written_off": [False] * n,
        },
        schema_overrides={"as_of": pl.Date, "disbursement_date": pl.Date},
    )


def test_data_is_the_published_file(raw: pl.DataFrame) -> None:
    assert raw.shape == (30_000, 25)
    # README: mean BILL_AMT1 51,223.33 — summed exactly in fen
    total = sum(to_fen(s) for s in raw["BILL_AMT1"])
    assert (Decimal(total) / 30_000 / 100).quantize(Decimal("0.01")) == Decimal("51223.33")
    # published value counts of PAY_0: 2,667 accounts two months late in September
    assert raw.filter(pl.col("PAY_0") == "2").height == 2667


@pytest.mark.parametrize(("prev", "cur"), PAIRS, ids=PAIR_IDS)
def test_count_roll_matrix_matches_crosstab(
    raw: pl.DataFrame, prev: tuple[str, str, date], cur: tuple[str, str, date]
) -> None:
    start, end = snapshot(raw, *prev), snapshot(raw, *cur)
    m = roll_rate_matrix(start, end, weight="count")

    # independent: crosstab of the raw status codes, then codes folded into buckets by hand
    cross = raw.group_by(prev[0], cur[0]).agg(n=pl.len())
    counts: Counter[tuple[str, str]] = Counter()
    base: Counter[str] = Counter()
    for i, j, n in cross.iter_rows():
        counts[bucket_of(int(i)), bucket_of(int(j))] += n
        base[bucket_of(int(i))] += n

    assert m["from_bucket"].to_list() == [b for b in BUCKET_ORDER if base[b]]
    assert m["base"].sum() == 30_000
    for row in m.iter_rows(named=True):
        frm = row["from_bucket"]
        assert row["base"] == base[frm]
        for to in BUCKET_ORDER:
            assert row[to] == pytest.approx(counts[frm, to] / base[frm], abs=1e-12), (frm, to)
            assert round(row[to] * row["base"]) == counts[frm, to]
        assert row["paid_off"] == 0.0  # every account is in both months
        assert row["written_off"] == 0.0


def test_known_figure_and_balance_base(raw: pl.DataFrame) -> None:
    aug, sep = MONTHS[4], MONTHS[5]
    m = roll_rate_matrix(snapshot(raw, *aug), snapshot(raw, *sep), weight="count")
    # accounts two months late in September (PAY_0 == 2), recovered from the Aug → Sep matrix
    assert sum(round(r["M2"] * r["base"]) for r in m.iter_rows(named=True)) == 2667

    # balance weighting: each bucket's base is its accounts' August bills, negatives clamped, in fen
    by_bucket: Counter[str] = Counter()
    for status, bill in zip(raw[aug[0]], raw[aug[1]], strict=True):
        by_bucket[bucket_of(int(status))] += max(to_fen(bill), 0)
    bal = roll_rate_matrix(snapshot(raw, *aug), snapshot(raw, *sep))
    assert dict(zip(bal["from_bucket"], bal["base"], strict=True)) == dict(by_bucket)
    for row in bal.filter(pl.col("base") > 0).iter_rows(named=True):
        assert sum(row[s] for s in [*BUCKET_ORDER, "paid_off", "written_off"]) == pytest.approx(
            1.0, abs=1e-12
        )

    # no account leaves the book in this file, and every August M1 (PAY_2 == 1) is still M1 in September:
    # M1 is a closed class with no way to paid or loss, so I − Q is singular and the projection refuses
    assert row_of_m1(bal) == 1.0
    with pytest.raises(RecoupError, match="singular"):
        markov_projection(bal)


def row_of_m1(matrix: pl.DataFrame) -> float:
    return float(matrix.filter(pl.col("from_bucket") == "M1")["M1"].item())
