"""Collections metrics (METRICS.md) on small hand-made frames; every expected value is worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from recoup.errors import RecoupError
from recoup.reporting.metrics import (
    BUCKET_ORDER,
    END_STATES,
    MetricsError,
    cure_rate,
    entry_rate,
    entry_rate_series,
    fpd,
    loss_forecast,
    markov_projection,
    roll_rate,
    roll_rate_matrix,
    to_csv_xlsx,
    vintage_curve,
)

DAILY_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "loan_id": pl.String(),
    "borrower_id": pl.String(),
    "product_type": pl.String(),
    "vintage": pl.String(),
    "disbursement_date": pl.Date(),
    "principal": pl.Int64(),
    "outstanding_principal": pl.Int64(),
    "overdue_principal": pl.Int64(),
    "overdue_interest": pl.Int64(),
    "overdue_fee": pl.Int64(),
    "overdue_penalty": pl.Int64(),
    "overdue_amount": pl.Int64(),
    "dpd": pl.Int64(),
    "bucket": pl.String(),
    "status": pl.String(),
    "written_off": pl.Boolean(),
}
INST_SCHEMA: dict[str, pl.DataType] = {
    "loan_id": pl.String(),
    "seq": pl.Int64(),
    "due_date": pl.Date(),
    **{f"{p}_{k}": pl.Int64() for k in ("due", "paid") for p in ("principal", "interest", "fee", "penalty")},
    "last_paid_date": pl.Date(),
}
DPD = {"C": 0, "M1": 15, "M2": 45, "M3": 75, "M4": 105, "M5": 135, "M6": 165, "M7+": 200}
M0 = date(2024, 1, 31)  # end of month t−1
M1 = date(2024, 2, 29)  # end of month t


def acct(
    loan_id: str,
    bucket: str = "C",
    bal: int = 0,
    *,
    as_of: date = M0,
    status: str = "active",
    wo: bool = False,
    interest: int = 0,
    fee: int = 0,
    penalty: int = 0,
    principal: int | None = None,
    vintage: str = "2023-12",
    dpd: int | None = None,
) -> dict[str, Any]:
    """One account_daily row; overdue principal is left 0 — only the columns a metric reads matter."""
    y, m = (int(x) for x in vintage.split("-"))
    return {
        "as_of": as_of,
        "loan_id": loan_id,
        "borrower_id": "B" + loan_id,
        "product_type": "cash_loan",
        "vintage": vintage,
        "disbursement_date": date(y, m, 10),
        "principal": bal if principal is None else principal,
        "outstanding_principal": bal,
        "overdue_principal": 0,
        "overdue_interest": interest,
        "overdue_fee": fee,
        "overdue_penalty": penalty,
        "overdue_amount": interest + fee + penalty,
        "dpd": DPD.get(bucket, 0) if dpd is None else dpd,
        "bucket": bucket,
        "status": status,
        "written_off": wo,
    }


def daily(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=DAILY_SCHEMA)


def inst(
    loan_id: str,
    due_date: date,
    principal: int,
    interest: int = 0,
    *,
    fee: int = 0,
    penalty: int = 0,
    paid: tuple[int, int, int, int] = (0, 0, 0, 0),
    last_paid: date | None = None,
    seq: int = 1,
) -> dict[str, Any]:
    pp, ip, fp, np_ = paid
    return {
        "loan_id": loan_id,
        "seq": seq,
        "due_date": due_date,
        "principal_due": principal,
        "interest_due": interest,
        "fee_due": fee,
        "penalty_due": penalty,
        "principal_paid": pp,
        "interest_paid": ip,
        "fee_paid": fp,
        "penalty_paid": np_,
        "last_paid_date": last_paid,
    }


def insts(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=INST_SCHEMA)


def row_of(matrix: pl.DataFrame, bucket: str) -> dict[str, Any]:
    return matrix.filter(pl.col("from_bucket") == bucket).row(0, named=True)


def assert_row(row: dict[str, Any], expected: dict[str, float]) -> None:
    """Cells named in ``expected`` match; every other end state is exactly 0."""
    for state in END_STATES:
        assert row[state] == pytest.approx(expected.get(state, 0.0), abs=1e-12), state


# ------------------------------------------------------------------------------------------ roll rates


@pytest.fixture
def month_pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    start = daily(
        [
            # four loans in M1 at the end of t−1, 100/200/300/400 fen
            acct("m1a", "M1", 100),
            acct("m1b", "M1", 200, interest=50),
            acct("m1c", "M1", 300, penalty=50),
            acct("m1d", "M1", 400),
            # C: 1000 stays, 500 rolls to M1, 500 disappears from the book (→ paid off)
            acct("c1", "C", 1000),
            acct("c2", "C", 500),
            acct("c3", "C", 500),
            # M6 written off during month t
            acct("m6", "M6", 800),
            # already written off at start: excluded, so no M7+ row
            acct("wo", "M7+", 900, wo=True, status="written_off"),
            # paid off before the start: not open, excluded
            acct("old", "C", 0, status="paid_off"),
        ]
    )
    end = daily(
        [
            acct("m1a", "C", 100, as_of=M1),  # cures
            acct("m1b", "M1", 180, as_of=M1),  # stays
            acct("m1c", "M2", 300, as_of=M1),  # rolls
            acct("m1d", "C", 0, as_of=M1, status="paid_off"),  # pays off
            acct("c1", "C", 950, as_of=M1),
            acct("c2", "M1", 500, as_of=M1),
            acct("m6", "M6", 800, as_of=M1, wo=True, status="written_off"),
            acct("wo", "M7+", 850, as_of=M1, wo=True, status="written_off"),
            acct("new", "C", 5000, as_of=M1),  # disbursed in t: not tracked
        ]
    )
    return start, end


def test_roll_matrix_balance_weighted(month_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    m = roll_rate_matrix(*month_pair)
    assert m.columns == ["from_bucket", *BUCKET_ORDER, "paid_off", "written_off", "base"]
    assert m["from_bucket"].to_list() == ["C", "M1", "M6"]  # only buckets present at start, in order
    assert m["base"].dtype == pl.Int64
    # M1: base 100+200+300+400 = 1000 → C 100/1000, M1 200/1000, M2 300/1000, paid_off 400/1000
    assert row_of(m, "M1")["base"] == 1000
    assert_row(row_of(m, "M1"), {"C": 0.1, "M1": 0.2, "M2": 0.3, "paid_off": 0.4})
    # C: base 2000 → C 1000/2000, M1 500/2000, absent → paid_off 500/2000 (start balances, not end ones)
    assert row_of(m, "C")["base"] == 2000
    assert_row(row_of(m, "C"), {"C": 0.5, "M1": 0.25, "paid_off": 0.25})
    # M6: 800 written off in t → written_off 1.0 (it keeps its bucket, but the write-off wins)
    assert row_of(m, "M6")["base"] == 800
    assert_row(row_of(m, "M6"), {"written_off": 1.0})
    for r in m.iter_rows(named=True):
        assert sum(r[s] for s in END_STATES) == pytest.approx(1.0, abs=1e-12)


def test_roll_matrix_count_and_total_balance(month_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    count = roll_rate_matrix(*month_pair, weight="count")
    # M1: 4 loans, one to each of C, M1, M2, paid_off → 0.25 each
    assert row_of(count, "M1")["base"] == 4
    assert_row(row_of(count, "M1"), {"C": 0.25, "M1": 0.25, "M2": 0.25, "paid_off": 0.25})
    # C: 3 loans → C 1/3, M1 1/3, paid_off 1/3
    assert row_of(count, "C")["base"] == 3
    assert_row(row_of(count, "C"), {"C": 1 / 3, "M1": 1 / 3, "paid_off": 1 / 3})

    total = roll_rate_matrix(*month_pair, balance="total")
    # 本息费: m1b 200 + 50 interest, m1c 300 + 50 penalty → weights 100/250/350/400, base 1100
    assert row_of(total, "M1")["base"] == 1100
    assert_row(
        row_of(total, "M1"), {"C": 100 / 1100, "M1": 250 / 1100, "M2": 350 / 1100, "paid_off": 400 / 1100}
    )


def test_classic_roll_rate_and_loss_forecast(month_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    roll = roll_rate(*month_pair)
    assert roll.columns == ["from_bucket", "to_bucket", "rate", "base"]
    # C→M1 500/2000, M1→M2 300/1000, M6→M7+ 0/800 (written off, not rolled)
    assert roll.rows() == [("C", "M1", 0.25, 2000), ("M1", "M2", 0.3, 1000), ("M6", "M7+", 0.0, 800)]
    assert roll_rate(*month_pair, weight="count")["rate"].to_list() == [pytest.approx(1 / 3), 0.25, 0.0]
    with pytest.raises(MetricsError, match="M2, M3, M4, M5"):
        loss_forecast(roll)  # M2…M5 absent at start: no rate, no forecast

    full = pl.DataFrame(
        {
            "from_bucket": BUCKET_ORDER[:-1],
            "to_bucket": BUCKET_ORDER[1:],
            "rate": [0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
            "base": [1] * 7,
        }
    )
    # 0.1 × 0.5 = 0.05; × 0.6 = 0.03; × 0.7 = 0.021; × 0.8 = 0.0168; × 0.9 = 0.01512; × 0.95 = 0.014364
    assert loss_forecast(full) == pytest.approx(0.014364, abs=1e-15)


def test_roll_matrix_end_states_sold_cancelled() -> None:
    start = daily([acct("a", "M2", 100), acct("b", "M2", 300), acct("c", "M2", 600)])
    end = daily(
        [
            acct("a", "M3", 100, as_of=M1, status="sold"),  # sale realises the loss → written_off
            acct("b", "C", 0, as_of=M1, status="cancelled"),  # extinguished without loss → paid_off
            acct("c", "M3", 600, as_of=M1),
        ]
    )
    assert_row(row_of(roll_rate_matrix(start, end), "M2"), {"written_off": 0.1, "paid_off": 0.3, "M3": 0.6})


def test_roll_matrix_edge_cases() -> None:
    empty = roll_rate_matrix(daily([acct("w", "M7+", 5, wo=True)]), daily([]))
    assert empty.is_empty()
    assert empty.columns == ["from_bucket", *END_STATES, "base"]
    # zero balance in a bucket: shares undefined (null), base 0
    zero = roll_rate_matrix(daily([acct("z", "M1", 0)]), daily([acct("z", "M1", 0, as_of=M1)]))
    assert row_of(zero, "M1")["base"] == 0
    assert row_of(zero, "M1")["M1"] is None
    with pytest.raises(MetricsError, match="unknown bucket"):
        roll_rate_matrix(daily([acct("a", "M9", 1, dpd=400)]), daily([]))
    with pytest.raises(MetricsError, match="more than one row"):
        roll_rate_matrix(daily([acct("a", "M1", 1), acct("a", "M2", 1)]), daily([]))
    floats = daily([acct("a", "M1", 1)]).with_columns(pl.col("outstanding_principal").cast(pl.Float64))
    with pytest.raises(MetricsError, match="integer minor units"):
        roll_rate_matrix(floats, daily([]))
    with pytest.raises(MetricsError, match="lacks column"):
        roll_rate_matrix(daily([]).drop("bucket"), daily([]))


# ---------------------------------------------------------------------------------------------- Markov


def test_markov_projection_two_state_example() -> None:
    # C (base 1000): 500 stays C, 300 → M1, 200 paid off.   M1 (base 1000): 200 → C, 300 stays M1,
    # 400 written off, 100 paid off.
    start = daily(
        [
            *(acct("c1", "C", 500), acct("c2", "C", 300), acct("c3", "C", 200)),
            *(acct("m1", "M1", 200), acct("m2", "M1", 300), acct("m3", "M1", 400), acct("m4", "M1", 100)),
        ]
    )
    end = daily(
        [
            acct("c1", "C", 500, as_of=M1),
            acct("c2", "M1", 300, as_of=M1),  # c3 absent → paid off
            acct("m1", "C", 200, as_of=M1),
            acct("m2", "M1", 300, as_of=M1),
            acct("m3", "M1", 400, as_of=M1, wo=True, status="written_off"),
            acct("m4", "C", 0, as_of=M1, status="paid_off"),
        ]
    )
    # Q = [[.5, .3], [.2, .3]], R = [[.2, 0], [.1, .4]] (columns paid, loss)
    # I − Q = [[.5, −.3], [−.2, .7]], det = .35 − .06 = .29, N = (1/.29)·[[.7, .3], [.2, .5]]
    # B = N·R = (1/.29)·[[.7·.2 + .3·.1, .3·.4], [.2·.2 + .5·.1, .5·.4]] = (1/.29)·[[.17, .12], [.09, .20]]
    # → C: paid 17/29, loss 12/29;  M1: paid 9/29, loss 20/29
    proj = markov_projection(roll_rate_matrix(start, end))
    assert proj.columns == ["bucket", "eventual_paid", "eventual_loss"]
    assert proj["bucket"].to_list() == BUCKET_ORDER[:-1]
    got = {r["bucket"]: (r["eventual_paid"], r["eventual_loss"]) for r in proj.iter_rows(named=True)}
    assert got["C"] == (pytest.approx(17 / 29, abs=1e-12), pytest.approx(12 / 29, abs=1e-12))
    assert got["M1"] == (pytest.approx(9 / 29, abs=1e-12), pytest.approx(20 / 29, abs=1e-12))
    for b in BUCKET_ORDER[2:-1]:
        assert got[b] == (None, None)  # no data for M2…M6


def matrix(rows: dict[str, dict[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"from_bucket": b, **{s: cells.get(s, 0.0) for s in END_STATES}, "base": 1}
            for b, cells in rows.items()
        ]
    )


def test_markov_m7_is_loss_and_guards() -> None:
    # M6 alone: stays .5, → M7+ .3, paid .2.  N = 1/(1 − .5) = 2 → paid 2·.2 = .4, loss 2·.3 = .6
    proj = markov_projection(matrix({"M6": {"M6": 0.5, "M7+": 0.3, "paid_off": 0.2}}))
    m6 = proj.filter(pl.col("bucket") == "M6").row(0, named=True)
    assert (m6["eventual_paid"], m6["eventual_loss"]) == (pytest.approx(0.4), pytest.approx(0.6))
    # an M7+ row, whatever it says, is ignored: M7+ is absorbing (charged off)
    same = markov_projection(matrix({"M6": {"M6": 0.5, "M7+": 0.3, "paid_off": 0.2}, "M7+": {"C": 1.0}}))
    assert same.equals(proj)

    with pytest.raises(RecoupError, match="singular"):
        markov_projection(matrix({"C": {"C": 1.0}}))  # C never reaches paid or loss
    with pytest.raises(RecoupError, match="singular"):
        markov_projection(matrix({"C": {"M1": 1.0}, "M1": {"C": 1.0}}))  # a closed loop
    with pytest.raises(MetricsError, match="M2, which has no observed"):
        markov_projection(matrix({"M1": {"M2": 0.5, "paid_off": 0.5}}))
    with pytest.raises(MetricsError, match="sum to 1"):
        markov_projection(matrix({"C": {"C": 0.5}}))


# ------------------------------------------------------------------------------------------ entry rate

D = date(2024, 3, 10)


@pytest.fixture
def book() -> pl.DataFrame:
    full = (800, 200, 0, 0)
    return insts(
        [
            inst("a", D, 800, 200, paid=full, last_paid=D),  # paid on the day
            inst("b", D, 800, 200, paid=(800, 150, 0, 0), last_paid=date(2024, 3, 9)),  # 50 short
            inst("c", D, 800, 200),  # nothing paid
            inst("d", D, 800, 200, paid=full, last_paid=date(2024, 3, 12)),  # paid 2 days late
            inst("f", D, 800, 200, fee=100, penalty=50, paid=(400, 200, 0, 0), last_paid=D),  # 550 short
            inst("e", date(2024, 3, 11), 400, fee=100),  # another due date
            inst("a", date(2024, 4, 10), 800, 200, seq=2),  # not yet due
        ]
    )


def test_entry_rate_tolerance_and_grace(book: pl.DataFrame) -> None:
    # due on D: a 1000 + b 1000 + c 1000 + d 1000 + f 1150 = 5150 over 5 installments.
    # grace 0: unpaid c 1000 + d 1000 (paid after D) + f 550 = 2550 (b's 50 ≤ tolerance 100) → 3 of 5
    r = entry_rate(book, due_date=D)
    assert r == {
        "due_date": D,
        "amount_due": 5150,
        "amount_unpaid": 2550,
        "rate": pytest.approx(2550 / 5150),
        "count_due": 5,
        "count_unpaid": 3,
        "count_rate": pytest.approx(0.6),
    }
    # grace 3: d paid on D + 2 counts as paid → 1550, 2 of 5
    r3 = entry_rate(book, due_date=D, grace_days=3)
    assert (r3["amount_unpaid"], r3["count_unpaid"]) == (1550, 2)
    assert r3["rate"] == pytest.approx(1550 / 5150)
    # grace 2 is enough (paid on the last day of grace), grace 1 is not
    assert entry_rate(book, due_date=D, grace_days=2)["amount_unpaid"] == 1550
    assert entry_rate(book, due_date=D, grace_days=1)["amount_unpaid"] == 2550
    # tolerance 0: b's 50 counts too → 1600, 3 of 5
    r0 = entry_rate(book, due_date=D, grace_days=3, tolerance=0)
    assert (r0["amount_unpaid"], r0["count_unpaid"]) == (1600, 3)
    # nothing due
    none = entry_rate(book, due_date=date(2024, 3, 1))
    assert (none["amount_due"], none["rate"], none["count_rate"]) == (0, None, None)


def test_entry_rate_series(book: pl.DataFrame) -> None:
    s = entry_rate_series(book, start=date(2024, 3, 1), end=date(2024, 3, 31), grace_days=0, tolerance=100)
    assert s.columns == [
        "due_date",
        "amount_due",
        "amount_unpaid",
        "rate",
        "count_due",
        "count_unpaid",
        "count_rate",
    ]
    # 3-10 as above; 3-11: e owes 400 + 100 fee, nothing paid → 500/500
    assert s.rows() == [
        (D, 5150, 2550, pytest.approx(2550 / 5150), 5, 3, 0.6),
        (date(2024, 3, 11), 500, 500, 1.0, 1, 1, 1.0),
    ]
    assert s["amount_due"].dtype == pl.Int64
    with pytest.raises(MetricsError):
        entry_rate_series(book, start=date(2024, 4, 1), end=date(2024, 3, 1))


# ------------------------------------------------------------------------------------------------- FPD


def test_fpd_by_vintage() -> None:
    loans = pl.DataFrame(
        {
            "loan_id": ["l1", "l2", "l3", "l4", "l8", "l5", "l6", "l7"],
            "disbursement_date": [date(2024, 1, 15)] * 5
            + [date(2024, 3, 22), date(2024, 3, 23), date(2024, 4, 15)],
            "vintage": ["2024-01"] * 5 + ["2024-03", "2024-03", "2024-04"],
        }
    )
    due1 = date(2024, 2, 15)  # due + 7 = 02-22, due + 30 = 03-16
    full = (1000, 0, 0, 0)
    installments = insts(
        [
            inst("l1", due1, 1000, paid=full, last_paid=due1),  # on time
            inst("l1", date(2024, 3, 15), 1000, seq=2),  # later installments do not matter
            inst("l2", due1, 1000, paid=full, last_paid=date(2024, 2, 22)),  # paid on due + 7: not FPD7
            inst("l3", due1, 1000, paid=full, last_paid=date(2024, 2, 25)),  # paid after due + 7: FPD7
            inst("l4", due1, 1000),  # never paid: FPD7 and FPD30
            inst("l8", due1, 1000, paid=(950, 0, 0, 0), last_paid=date(2024, 2, 16)),  # 50 short ≤ tolerance
            inst("l5", date(2024, 4, 22), 1000),  # due ≤ as_of − 8: observable for FPD7, unpaid
            inst("l6", date(2024, 4, 23), 1000),  # due = as_of − 7: not yet observable
            inst("l7", date(2024, 5, 15), 1000),  # not yet due
        ]
    )
    as_of = date(2024, 4, 30)
    # FPD7: 2024-01 → 5 observed, l3 + l4 = 2 → 0.4; 2024-03 → l5 only, 1 → 1.0; 2024-04 → none observed
    f7 = fpd(loans, installments, as_of=as_of, days=7)
    assert f7.columns == ["vintage", "loans_observed", "fpd_loans", "fpd_rate"]
    assert f7.rows() == [("2024-01", 5, 2, 0.4), ("2024-03", 1, 1, 1.0), ("2024-04", 0, 0, None)]
    # FPD30 (due ≤ as_of − 31 = 03-30): 2024-01 → 5 observed, only l4 (l3 paid 02-25 ≤ 03-16) → 0.2
    f30 = fpd(loans, installments, as_of=as_of, days=30)
    assert f30.rows() == [("2024-01", 5, 1, 0.2), ("2024-03", 0, 0, None), ("2024-04", 0, 0, None)]


# --------------------------------------------------------------------------------------------- vintage


def test_vintage_curve() -> None:
    j31, f15, f29, m31, a30 = (
        date(2024, 1, 31),
        date(2024, 2, 15),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    )
    rows = [
        # 2024-01 vintage: a 1000 + b 2000 disbursed = 3000
        acct("a", "C", 1000, as_of=j31, vintage="2024-01"),
        acct("b", "C", 2000, as_of=j31, vintage="2024-01"),
        acct("b", "M1", 1800, as_of=f15, principal=2000, vintage="2024-01"),  # mid-month: ignored
        acct("a", "M1", 900, as_of=f29, principal=1000, vintage="2024-01"),
        acct("b", "C", 1900, as_of=f29, principal=2000, vintage="2024-01"),
        acct("a", "M2", 900, as_of=m31, principal=1000, vintage="2024-01"),
        acct("b", "C", 0, as_of=m31, principal=2000, status="paid_off", vintage="2024-01"),
        acct("a", "M3", 900, as_of=a30, principal=1000, wo=True, status="written_off", vintage="2024-01"),
        # 2024-02 vintage: c 4000 disbursed
        acct("c", "C", 4000, as_of=f29, vintage="2024-02"),
        acct("c", "M1", 3500, as_of=m31, principal=4000, vintage="2024-02"),
        acct("c", "M2", 3500, as_of=a30, principal=4000, vintage="2024-02"),
    ]
    d = daily(rows)
    # M1+: 2024-01 MOB0 0, MOB1 a 900 / 3000 (b's mid-month M1 not read), MOB2 900, MOB3 900 (written off
    # keeps its bucket);  2024-02 MOB0 0, MOB1 3500 / 4000, MOB2 3500
    m1 = vintage_curve(d)
    assert m1.columns == ["vintage", "mob", "ratio", "balance", "disbursed"]
    assert m1.rows() == [
        ("2024-01", 0, 0.0, 0, 3000),
        ("2024-01", 1, 0.3, 900, 3000),
        ("2024-01", 2, 0.3, 900, 3000),
        ("2024-01", 3, 0.3, 900, 3000),
        ("2024-02", 0, 0.0, 0, 4000),
        ("2024-02", 1, 0.875, 3500, 4000),
        ("2024-02", 2, 0.875, 3500, 4000),
    ]
    # M3+: only a at MOB3
    m3 = vintage_curve(d, min_bucket="M3")
    assert m3.select("vintage", "mob", "balance").rows() == [
        ("2024-01", 0, 0),
        ("2024-01", 1, 0),
        ("2024-01", 2, 0),
        ("2024-01", 3, 900),
        ("2024-02", 0, 0),
        ("2024-02", 1, 0),
        ("2024-02", 2, 0),
    ]
    with pytest.raises(MetricsError, match="YYYY-MM"):
        vintage_curve(d.with_columns(vintage=pl.lit("Jan 2024")))


# ------------------------------------------------------------------------------------------- cure rate


def test_cure_rate() -> None:
    on = date(2024, 3, 1)  # window 03-01 … 03-31
    allocated = pl.DataFrame(
        {
            "loan_id": ["l1", "l2", "l3", "l4", "l5"],
            "allocated_on": [on] * 5,
            "entry_balance": [1000, 2000, 3000, 4000, 500],
        },
        schema={"loan_id": pl.String, "allocated_on": pl.Date, "entry_balance": pl.Int64},
    )
    d = daily(
        [
            acct("l1", "M1", 1000, as_of=date(2024, 3, 1), dpd=3),
            acct("l1", "C", 1000, as_of=date(2024, 3, 10)),  # cured on day 9
            acct("l2", "M1", 2000, as_of=date(2024, 3, 10), dpd=12),
            acct("l2", "M2", 2000, as_of=date(2024, 3, 31), dpd=33),  # never cured
            acct("l3", "C", 3000, as_of=date(2024, 2, 20)),  # current before allocation: does not count
            acct("l3", "C", 3000, as_of=date(2024, 4, 1)),  # cured on day 31: too late
            acct("l4", "M1", 0, as_of=date(2024, 3, 20), status="paid_off", dpd=5),  # paid off
            acct("l5", "C", 500, as_of=date(2024, 3, 31)),  # cured on day 30 exactly
        ]
    )
    # cured l1 1000 + l4 4000 + l5 500 = 5500 of 10500 → 11/21
    out = cure_rate(allocated, d)
    assert out.rows() == [(5, 3, 10500, 5500, pytest.approx(11 / 21))]
    assert out.columns == ["loans", "cured_loans", "balance", "cured_balance", "rate"]
    # a 31-day window catches l3 too: 8500 / 10500
    assert cure_rate(allocated, d, days=31)["cured_balance"].item() == 8500


# ---------------------------------------------------------------------------------------------- export


def test_csv_xlsx_round_trip(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "桶": ["C", "M1"],
            "base": [123_456_789_012, 0],
            "rate": [0.25, None],
            "as_of": [date(2024, 2, 29), date(2024, 3, 31)],
        },
        schema={"桶": pl.String, "base": pl.Int64, "rate": pl.Float64, "as_of": pl.Date},
    )
    csv_path, xlsx_path = to_csv_xlsx(frame, tmp_path / "out" / "roll.2024-02")
    assert (csv_path.name, xlsx_path.name) == ("roll.2024-02.csv", "roll.2024-02.xlsx")
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[0] == "桶,base,rate,as_of"
    assert pl.read_csv(csv_path, schema=frame.schema).equals(frame)

    sheet = openpyxl.load_workbook(xlsx_path).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == ["桶", "base", "rate", "as_of"]
    assert cells[1][:3] == ["C", 123_456_789_012, 0.25]
    assert cells[2][:3] == ["M1", 0, None]
    assert isinstance(cells[1][3], datetime) and cells[1][3].date() == date(2024, 2, 29)
