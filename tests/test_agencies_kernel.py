"""The agencies' pure kernels on hand-made frames: the 赛马 placement (seeded, balanced strata), the monthly
commission worked by hand (two agencies, three buckets, a tier change, a complaint penalty), the ranking
and next month's shares."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from recoup.agencies.kernel import (
    AgencyKernelError,
    band_ranges,
    commission,
    next_shares,
    place_stratified,
    rank_agencies,
)

d = dt.date


def _cases() -> pl.DataFrame:
    # 3 strata by bucket × band (edges ¥5,000 and ¥20,000): M4/B1 has 10 cases, M4/B3 7, M5/B2 4.
    rows = [(i, "M4", 100_000 + i) for i in range(1, 11)]  # ¥1,000.01 … : band B1
    rows += [(100 + i, "M4", 3_000_000 + i) for i in range(7)]  # ¥30,000: band B3
    rows += [(200 + i, "M5", 900_000 + i) for i in range(4)]  # ¥9,000: band B2
    return pl.DataFrame(
        rows, schema={"case_id": pl.Int64, "bucket": pl.String, "balance": pl.Int64}, orient="row"
    )


def test_the_placement_deals_every_stratum_in_proportion_to_the_shares() -> None:
    shares = pl.DataFrame({"agency_id": [7, 9], "share_bp": [6_000, 4_000]})
    out = place_stratified(_cases(), shares, seed=42)
    assert out.height == 21 and out.get_column("case_id").n_unique() == 21
    counts = {(s, a): n for s, a, n in out.group_by("stratum", "agency_id").len().iter_rows()}
    # Stratum of n cases: agency with share s gets floor(n·s) or floor(n·s) + 1, and they add up to n.
    # M4/B1 (10): 6 and 4 exactly. M4/B3 (7): 4.2 / 2.8 → 4 and 3 (the larger remainder, .8, gets the
    # case left over). M5/B2 (4): 2.4 / 1.6 → 2 and 2.
    assert counts == {
        ("M4/B1", 7): 6,
        ("M4/B1", 9): 4,
        ("M4/B3", 7): 4,
        ("M4/B3", 9): 3,
        ("M5/B2", 7): 2,
        ("M5/B2", 9): 2,
    }
    assert set(out.get_column("band")) == {"B1", "B2", "B3"}


def test_equal_shares_give_books_of_comparable_size_and_balance() -> None:
    cases = _cases()
    shares = pl.DataFrame({"agency_id": [1, 2], "share_bp": [5_000, 5_000]})
    out = place_stratified(cases, shares, seed=3).join(cases, on=["case_id", "bucket"])
    per_stratum = out.group_by("stratum", "agency_id").len()
    spread = per_stratum.group_by("stratum").agg(d=pl.col("len").max() - pl.col("len").min())
    assert spread.get_column("d").max() == 1  # odd strata (7 cases) differ by one, even ones not at all
    books = out.group_by("agency_id").agg(n=pl.len(), amount=pl.col("balance").sum()).sort("agency_id")
    n, amount = books.get_column("n").to_list(), books.get_column("amount").to_list()
    assert abs(n[0] - n[1]) <= 3  # at most one case per stratum apart
    assert abs(amount[0] - amount[1]) <= 3_000_010  # at most one big case apart (¥30,000)


def test_the_placement_is_seeded_and_deterministic() -> None:
    cases = _cases()
    shares = pl.DataFrame({"agency_id": [1, 2, 3], "share_bp": [3_400, 3_300, 3_300]})
    a = place_stratified(cases, shares, seed=11)
    assert a.equals(place_stratified(cases.reverse(), shares.reverse(), seed=11))  # row order is irrelevant
    b = place_stratified(cases, shares, seed=12)
    assert not a.select("case_id", "agency_id").equals(b.select("case_id", "agency_id"))
    assert place_stratified(cases.head(0), shares, seed=1).height == 0


def test_bad_placement_inputs_are_refused_with_the_field() -> None:
    shares = pl.DataFrame({"agency_id": [1], "share_bp": [10_000]})
    with pytest.raises(AgencyKernelError) as bad_share:
        place_stratified(_cases(), pl.DataFrame({"agency_id": [1], "share_bp": [0]}), seed=1)
    assert bad_share.value.details["field"] == "share_bp"
    with pytest.raises(AgencyKernelError):
        place_stratified(_cases().drop("balance"), shares, seed=1)
    with pytest.raises(AgencyKernelError):
        place_stratified(pl.concat([_cases(), _cases().head(1)]), shares, seed=1)
    with pytest.raises(AgencyKernelError):
        place_stratified(_cases(), shares, seed=-1)
    with pytest.raises(AgencyKernelError):
        band_ranges([2_000_000, 500_000])
    assert band_ranges() == [("B1", 0, 500_000), ("B2", 500_000, 2_000_000), ("B3", 2_000_000, None)]


# ---------------------------------------------------------------------------------------- commission
# The month of November 2026. Agency A = 1, agency B = 2; buckets M4, M5, M6 (amounts in fen).
A, B = 1, 2
START, END = d(2026, 11, 1), d(2026, 11, 30)

#: placement_id, agency, case, bucket, placed, start, end (exclusive; None = still placed)
PLACEMENTS = [
    (1, A, 11, "M4", 10_000_000, d(2026, 10, 20), None),
    (2, A, 12, "M4", 5_000_000, d(2026, 11, 5), None),
    (3, A, 13, "M5", 4_000_000, d(2026, 10, 15), d(2026, 11, 10)),  # recalled on the 10th
    (4, A, 14, "M6", 2_000_000, d(2026, 11, 1), None),
    (5, B, 21, "M4", 8_000_000, d(2026, 10, 25), None),
    (6, B, 22, "M5", 3_000_000, d(2026, 11, 2), None),
    (7, B, 23, "M6", 6_000_000, d(2026, 11, 12), d(2026, 12, 5)),
    (8, B, 24, "M5", 1_000_000, d(2026, 12, 1), None),  # placed in December: not this month's
]
#: case, agency credited (None: credited to a collector), received, amount
CREDITED = [
    (11, A, d(2026, 11, 3), 2_000_000),
    (11, A, d(2026, 11, 20), 1_500_000),
    (11, A, d(2026, 10, 30), 999_999),  # October
    (12, A, d(2026, 11, 4), 300_000),  # the day before its placement
    (12, A, d(2026, 11, 6), 200_000),
    (13, A, d(2026, 11, 9), 400_000),
    (13, A, d(2026, 11, 10), 100_000),  # the day of the recall: no longer placed
    (14, A, d(2026, 11, 15), 150_000),
    (14, None, d(2026, 11, 16), 50_000),  # a collector's promise kept: credited to the collector
    (21, B, d(2026, 11, 10), 800_000),
    (21, A, d(2026, 11, 11), 100_000),  # credited to A on B's case: not B's, and A never placed it
    (22, B, d(2026, 11, 15), 1_000_000),
    (23, B, d(2026, 11, 20), 333_333),
    (24, B, d(2026, 11, 25), 500_000),  # before its placement
]
#: agency, bucket, from recovery (bp), rate (bp)
RATES = [
    (A, "M4", 0, 1_000),
    (A, "M4", 2_000, 1_500),  # 15 % once the bucket recovers 20 %
    (A, "M5", 0, 1_500),
    (A, "M6", 0, 2_000),
    (A, "M6", 1_000, 2_500),
    (B, "M4", 0, 1_200),
    (B, "M5", 0, 1_500),
    (B, "M5", 3_000, 1_800),  # 18 % from 30 %
    (B, "M6", 0, 2_000),
]
PENALTIES = [(A, "qa", 20_000), (B, "complaint", 50_000)]


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    placements = pl.DataFrame(
        PLACEMENTS,
        schema=["placement_id", "agency_id", "case_id", "bucket", "placed_amount", "start_date", "end_date"],
        orient="row",
    )
    credited = pl.DataFrame(
        CREDITED,
        schema={"case_id": pl.Int64, "agency_id": pl.Int64, "received_date": pl.Date, "amount": pl.Int64},
        orient="row",
    )
    rates = pl.DataFrame(RATES, schema=["agency_id", "bucket", "min_recovery_bp", "rate_bp"], orient="row")
    penalties = pl.DataFrame(PENALTIES, schema=["agency_id", "kind", "amount"], orient="row")
    return placements, credited, rates, penalties


#: Worked by hand (fen):
#: A M4: placed 10,000,000 + 5,000,000; collected 2,000,000 + 1,500,000 + 200,000 = 3,700,000;
#:   recovery 3,700,000 / 15,000,000 = 24.66 % ≥ 20 % → the 15 % tier: 555,000.
#: A M5: 400,000 of 4,000,000 = 10 % → 15 %: 60,000.
#: A M6: 150,000 of 2,000,000 = 7.5 % < 10 % → 20 %: 30,000.   A: gross 645,000 − QA 20,000 = 625,000.
#: B M4: 800,000 of 8,000,000 = 10 % → 12 %: 96,000.
#: B M5: 1,000,000 of 3,000,000 = 33.33 % ≥ 30 % → 18 %: 180,000.
#: B M6: 333,333 of 6,000,000 = 5.55 % → 20 %: 66,666.6 → 66,667 (half up).
#:   B: gross 342,667 − complaint 50,000 = 292,667.
EXPECTED_LINES = [
    # agency, bucket, placements, placed, collected, recovery_bp, tier_min_bp, rate_bp, commission
    (A, "M4", 2, 15_000_000, 3_700_000, 2_466, 2_000, 1_500, 555_000),
    (A, "M5", 1, 4_000_000, 400_000, 1_000, 0, 1_500, 60_000),
    (A, "M6", 1, 2_000_000, 150_000, 750, 0, 2_000, 30_000),
    (B, "M4", 1, 8_000_000, 800_000, 1_000, 0, 1_200, 96_000),
    (B, "M5", 1, 3_000_000, 1_000_000, 3_333, 3_000, 1_800, 180_000),
    (B, "M6", 1, 6_000_000, 333_333, 555, 0, 2_000, 66_667),
]
EXPECTED_TOTALS = [
    # agency, placements, placed, collected, gross, complaints, complaint_pen, qa, qa_pen, net, payable
    (A, 4, 21_000_000, 4_250_000, 645_000, 0, 0, 1, 20_000, 625_000, 625_000),
    (B, 3, 17_000_000, 2_133_333, 342_667, 1, 50_000, 0, 0, 292_667, 292_667),
]


def test_the_monthly_commission_matches_the_hand_worked_figures() -> None:
    lines, totals = commission(*_frames(), start=START, end=END)
    assert [tuple(r) for r in lines.iter_rows()] == EXPECTED_LINES
    assert [tuple(r) for r in totals.iter_rows()] == EXPECTED_TOTALS


def test_without_the_tier_reached_the_lower_rate_applies_and_penalties_may_exceed_the_commission() -> None:
    placements, credited, rates, _pen = _frames()
    # Without the 200,000 of the 6th, A's M4 recovers 3,500,000 / 15,000,000 = 23.33 %: still ≥ 20 %.
    # Without the 1,500,000 of the 20th it recovers 2,200,000 / 15,000,000 = 14.66 %: the 10 % tier.
    less = credited.filter(~((pl.col("case_id") == 11) & (pl.col("received_date") == d(2026, 11, 20))))
    big = pl.DataFrame([(A, "complaint", 300_000)], schema=["agency_id", "kind", "amount"], orient="row")
    lines, totals = commission(placements, less, rates, big, start=START, end=END)
    m4 = lines.filter((pl.col("agency_id") == A) & (pl.col("bucket") == "M4")).row(0, named=True)
    assert (m4["collected"], m4["recovery_bp"], m4["rate_bp"], m4["commission"]) == (
        2_200_000,
        1_466,
        1_000,
        220_000,
    )
    a = totals.filter(pl.col("agency_id") == A).row(0, named=True)
    assert (a["gross"], a["net"], a["payable"]) == (310_000, 10_000, 10_000)
    huge = pl.DataFrame([(B, "complaint", 400_000)], schema=["agency_id", "kind", "amount"], orient="row")
    _l, t2 = commission(placements, credited, rates, huge, start=START, end=END)
    b = t2.filter(pl.col("agency_id") == B).row(0, named=True)
    assert (b["net"], b["payable"]) == (342_667 - 400_000, 0)


def test_commission_inputs_are_checked() -> None:
    placements, credited, rates, _pen = _frames()
    bad = pl.DataFrame([(A, "fine", 1)], schema=["agency_id", "kind", "amount"], orient="row")
    with pytest.raises(AgencyKernelError):
        commission(placements, credited, rates, bad, start=START, end=END)
    with pytest.raises(AgencyKernelError):
        commission(placements, credited, rates, _pen, start=END, end=START)


def test_the_ranking_puts_a_vetoed_agency_last_and_sets_next_months_shares() -> None:
    perf = pl.DataFrame(
        [
            # agency, cases, placed, collected, complaints
            (1, 400, 40_000_000, 8_000_000, 0),  # 20 %
            (2, 300, 30_000_000, 9_000_000, 3),  # 30 % but 100 complaints per 10,000: vetoed
            (3, 500, 50_000_000, 5_000_000, 1),  # 10 %, 20 per 10,000
        ],
        schema=["agency_id", "cases", "placed_amount", "collected", "complaints"],
        orient="row",
    )
    ranked = rank_agencies(perf, complaint_veto_per_10k=50)
    assert ranked.select("agency_id", "recovery_bp", "vetoed", "rank").rows() == [
        (1, 2_000, False, 1),
        (3, 1_000, False, 2),
        (2, 3_000, True, 3),
    ]
    # Two agencies not vetoed: weights 2 and 1 → 6,667 and 3,333 bp (the remainder to the first).
    assert next_shares(ranked).rows() == [(1, 1, 6_667), (3, 2, 3_333), (2, 3, 0)]
