"""The delinquency kernel on hand-made loans; every expected value is worked out in the comments."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from recoup.delinquency.kernel import ACCOUNT_DAILY_COLUMNS, DelinquencyParams, delinquency

D = dt.date
AS_OF = D(2026, 11, 20)
DISBURSED = D(2026, 1, 10)


def loan(
    loan_id: str,
    *,
    product: str = "cash_loan",
    status: str = "active",
    disbursed: dt.date = DISBURSED,
    borrower: str = "B1",
) -> dict[str, object]:
    return {
        "loan_id": loan_id,
        "borrower_id": borrower,
        "product_type": product,
        "product_code": "P",
        "funding_partner": None,
        "principal": 300_000,
        "disbursement_date": disbursed,
        "status": status,
    }


def inst(
    loan_id: str,
    seq: int,
    due: dt.date,
    p: int = 10_000,
    i: int = 1_000,
    *,
    paid_p: int = 0,
    paid_i: int = 0,
    fee: int = 0,
    pen: int = 0,
    paid_fee: int = 0,
    paid_pen: int = 0,
) -> dict[str, object]:
    return {
        "loan_id": loan_id,
        "seq": seq,
        "due_date": due,
        "principal_due": p,
        "interest_due": i,
        "fee_due": fee,
        "penalty_due": pen,
        "principal_paid": paid_p,
        "interest_paid": paid_i,
        "fee_paid": paid_fee,
        "penalty_paid": paid_pen,
    }


def run(
    loans: list[dict[str, object]],
    insts: list[dict[str, object]],
    *,
    as_of: dt.date = AS_OF,
    prev: pl.DataFrame | None = None,
    params: DelinquencyParams | None = None,
) -> dict[str, dict[str, object]]:
    out = delinquency(pl.DataFrame(loans), pl.DataFrame(insts), as_of=as_of, prev=prev, params=params)
    assert out.columns == ACCOUNT_DAILY_COLUMNS
    return {r["loan_id"]: r for r in out.iter_rows(named=True)}


def test_paid_on_the_due_date_and_due_today_are_not_overdue() -> None:
    r = run(
        [loan("A"), loan("B")],
        [
            inst("A", 1, D(2026, 11, 10), paid_p=10_000, paid_i=1_000),  # paid in full
            inst("B", 1, AS_OF),  # due today: not overdue until tomorrow
        ],
    )
    assert (r["A"]["dpd"], r["A"]["bucket"], r["A"]["loan_class"]) == (0, "C", "normal")
    assert (r["B"]["dpd"], r["B"]["overdue_amount"], r["B"]["next_due_date"]) == (0, 0, AS_OF)


def test_partial_payment_and_components() -> None:
    # Due 10-21 (30 days before 11-20): principal 100.00 with 40.00 paid, interest 10.00 unpaid,
    # fee 5.00 and penalty 2.50 unpaid → overdue 60.00 + 10.00 + 5.00 + 2.50 = 77.50.
    r = run(
        [loan("A")],
        [inst("A", 1, D(2026, 10, 21), paid_p=4_000, fee=500, pen=250), inst("A", 2, D(2026, 11, 21))],
    )
    a = r["A"]
    assert (a["overdue_principal"], a["overdue_interest"], a["overdue_fee"], a["overdue_penalty"]) == (
        6_000,
        1_000,
        500,
        250,
    )
    assert a["overdue_amount"] == 7_750
    assert (a["dpd"], a["bucket"], a["sub_bucket"], a["missed_installments"]) == (30, "M1", "D16-30", 1)
    # outstanding principal: 100.00 − 40.00 + 100.00 = 160.00
    assert a["outstanding_principal"] == 16_000
    assert (a["loan_class"], a["loan_class_zh"]) == ("special_mention", "关注")


def test_dpd_counts_from_the_oldest_unpaid_installment() -> None:
    # Installment 1 (due 09-20) unpaid; installment 2 (due 10-20) paid later: DPD from 09-20 = 61.
    r = run(
        [loan("A")],
        [inst("A", 1, D(2026, 9, 20)), inst("A", 2, D(2026, 10, 20), paid_p=10_000, paid_i=1_000)],
    )
    assert (r["A"]["dpd"], r["A"]["bucket"], r["A"]["missed_installments"]) == (61, "M3", 1)


def test_tolerance_and_grace() -> None:
    # 0.80 unpaid is within the ¥1 tolerance; 1.01 is not.
    r = run(
        [loan("A"), loan("B")],
        [
            inst("A", 1, D(2026, 11, 1), paid_p=9_920, paid_i=1_000),
            inst("B", 1, D(2026, 11, 1), paid_p=9_899, paid_i=1_000),
        ],
    )
    assert (r["A"]["dpd"], r["B"]["dpd"]) == (0, 19)
    # 3 days of grace: due 11-18 is not overdue on 11-20 (2 days), due 11-16 is (4 days past due).
    g = DelinquencyParams(grace_days=3)
    r = run([loan("C"), loan("E")], [inst("C", 1, D(2026, 11, 18)), inst("E", 1, D(2026, 11, 16))], params=g)
    assert (r["C"]["dpd"], r["E"]["dpd"]) == (0, 4)


def test_leap_year() -> None:
    # From 2028-02-28 to 2028-03-01 is 2 days in a leap year.
    r = run([loan("A")], [inst("A", 1, D(2028, 2, 28))], as_of=D(2028, 3, 1))
    assert r["A"]["dpd"] == 2


def test_prepaid_and_paid_off() -> None:
    # Every installment paid ahead of time: paid off, nothing outstanding.
    r = run(
        [loan("A")],
        [
            inst("A", 1, D(2026, 12, 1), paid_p=10_000, paid_i=1_000),
            inst("A", 2, D(2027, 1, 1), paid_p=10_000, paid_i=1_000),
        ],
    )
    assert (r["A"]["status"], r["A"]["outstanding_principal"], r["A"]["dpd"]) == ("paid_off", 0, 0)


def test_restructured_loan_is_judged_on_its_new_schedule() -> None:
    # A restructured loan arrives with its new schedule (old installments re-dated by the core system).
    r = run([loan("A")], [inst("A", 1, D(2026, 12, 20), p=30_000)])
    assert (r["A"]["dpd"], r["A"]["outstanding_principal"]) == (0, 30_000)


def test_written_off_stays_collectable() -> None:
    r = run([loan("A", status="written_off")], [inst("A", 1, D(2026, 1, 20))])
    a = r["A"]
    # 2026-01-20 → 2026-11-20 is 304 days; written off → 损失 regardless of days.
    assert (a["dpd"], a["written_off"], a["loan_class"], a["in_collections"]) == (304, True, "loss", True)


def test_reversal_reopens_an_installment() -> None:
    # The core system's paid columns already net out a reversed payment: paid back to 0 → overdue again.
    before = run([loan("A")], [inst("A", 1, D(2026, 11, 1), paid_p=10_000, paid_i=1_000)])
    after = run([loan("A")], [inst("A", 1, D(2026, 11, 1))])
    assert (before["A"]["dpd"], after["A"]["dpd"]) == (0, 19)


@pytest.mark.parametrize(
    ("dpd", "bucket", "sub", "klass"),
    [
        (1, "M1", "D1-3", "special_mention"),
        (3, "M1", "D1-3", "special_mention"),
        (4, "M1", "D4-15", "special_mention"),
        (16, "M1", "D16-30", "special_mention"),
        (31, "M2", "M2", "special_mention"),
        (91, "M4", "M4", "substandard"),
        (181, "M7+", "M7+", "substandard"),
        (271, "M7+", "M7+", "doubtful"),
        (361, "M7+", "M7+", "loss"),
    ],
)
def test_bucket_and_class_edges(dpd: int, bucket: str, sub: str, klass: str) -> None:
    r = run([loan("A")], [inst("A", 1, AS_OF - dt.timedelta(days=dpd))])
    assert (r["A"]["dpd"], r["A"]["bucket"], r["A"]["sub_bucket"], r["A"]["loan_class"]) == (
        dpd,
        bucket,
        sub,
        klass,
    )
    assert r["A"]["bucket_rule"] and r["A"]["loan_class_rule"]


def test_revolving_cards_can_bucket_by_statement_cycle() -> None:
    card = [loan("K", product="revolving_card")]
    insts = [inst("K", 1, D(2026, 9, 25)), inst("K", 2, D(2026, 10, 25))]  # 2 missed statements, 56 days
    assert run(card, insts)["K"]["bucket"] == "M2"  # by days: 56 → M2
    by_cycle = DelinquencyParams(bucket_by_cycle=frozenset({"revolving_card"}))
    k = run(card, insts, params=by_cycle)["K"]
    assert (k["bucket"], k["bucket_rule"]) == ("M2", "CYC-M2")
    insts3 = [*insts, inst("K", 3, D(2026, 11, 10))]  # a third missed statement, still 56 days
    assert run(card, insts3, params=by_cycle)["K"]["bucket"] == "M3"


def test_transitions_and_history() -> None:
    day1 = D(2026, 11, 19)
    loans = [loan(x) for x in "ABCDEF"]
    # Day 1: A current, B in M1 (10 days), C in M1 (30 days), D in M2 (40 days), E in M1, F current.
    insts1 = [
        inst("A", 1, D(2026, 12, 1)),
        inst("B", 1, day1 - dt.timedelta(days=10)),
        inst("C", 1, day1 - dt.timedelta(days=30)),
        inst("D", 1, day1 - dt.timedelta(days=40)),
        inst("E", 1, day1 - dt.timedelta(days=5)),
        inst("F", 1, D(2026, 11, 19)),
    ]
    prev = delinquency(pl.DataFrame(loans), pl.DataFrame(insts1), as_of=day1)
    # Day 2: A still current; B pays (cured); C rolls to M2 (31 days); D stays M2; E paid off entirely;
    # F was due on day 1 and is unpaid → entered.
    insts2 = [
        inst("A", 1, D(2026, 12, 1)),
        inst("B", 1, day1 - dt.timedelta(days=10), paid_p=10_000, paid_i=1_000),
        inst("B", 2, D(2026, 12, 9)),
        inst("C", 1, day1 - dt.timedelta(days=30)),
        inst("D", 1, day1 - dt.timedelta(days=40)),
        inst("E", 1, day1 - dt.timedelta(days=5), paid_p=10_000, paid_i=1_000),
        inst("F", 1, D(2026, 11, 19)),
    ]
    r = run(loans, insts2, prev=prev)
    got = {k: v["transition"] for k, v in r.items()}
    assert got == {
        "A": "current",
        "B": "cured",
        "C": "rolled_forward",
        "D": "stayed",
        "E": "paid_off",
        "F": "entered",
    }
    assert r["C"]["prev_bucket"] == "M1" and r["C"]["bucket"] == "M2" and r["C"]["bucket_since"] == AS_OF
    assert r["D"]["bucket_since"] == day1  # stayed: keeps the day it entered M2
    assert r["D"]["delinquent_since"] == day1 and r["F"]["delinquent_since"] == AS_OF
    assert (r["B"]["times_cured"], r["B"]["max_dpd"], r["B"]["in_collections"]) == (1, 10, False)
    # Without a previous day, a delinquent loan has entered and a current one is new.
    fresh = run(loans, insts2)
    assert fresh["C"]["transition"] == "entered" and fresh["A"]["transition"] == "new"


def test_partitions_concatenated_equal_the_whole_book() -> None:
    import random

    rng = random.Random(7)
    loans, insts = [], []
    for n in range(400):
        lid = f"L{n:04d}"
        loans.append(
            loan(lid, borrower=f"B{n % 97}", product=rng.choice(["cash_loan", "bnpl", "revolving_card"]))
        )
        for s in range(1, rng.randint(2, 12)):
            due = D(2026, 1, 15) + dt.timedelta(days=30 * s)
            paid = rng.choice([0, 10_000, 5_000, 9_950])
            insts.append(
                inst(lid, s, due, paid_p=paid, paid_i=1_000 if paid else 0, pen=rng.choice([0, 300]))
            )
    lf, inf = pl.DataFrame(loans), pl.DataFrame(insts)
    whole = delinquency(lf, inf, as_of=AS_OF)
    parts = []
    for k in range(8):
        ids = lf.filter(pl.col("loan_id").hash(seed=1) % 8 == k).get_column("loan_id")
        parts.append(
            delinquency(
                lf.filter(pl.col("loan_id").is_in(ids.implode())),
                inf.filter(pl.col("loan_id").is_in(ids.implode())),
                as_of=AS_OF,
            )
        )
    assert pl.concat(parts).sort("loan_id").equals(whole.sort("loan_id"))
    assert whole.get_column("dpd").max() > 0  # the test book has delinquency to compare
