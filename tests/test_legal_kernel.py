"""The legal kernels: limitation dates (hand-worked cases and Hypothesis properties against a
sequential reference), payments after a sale's cut-off, and the recoveries split."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from recoup.legal.kernel import (
    REVIVING,
    EventKind,
    classify_recoveries,
    limitation_dates,
    payments_after_cutoff,
)

START = dt.date(2020, 1, 10)
AS_OF = dt.date(2026, 6, 30)


def _one(events: list[tuple[dt.date, str]], *, start: dt.date = START, as_of: dt.date = AS_OF) -> dict:
    debts = pl.DataFrame({"loan_id": ["L1"], "start": [start]})
    ev = pl.DataFrame(
        {"loan_id": ["L1"] * len(events), "on": [d for d, _ in events], "kind": [k for _, k in events]},
        schema={"loan_id": pl.String, "on": pl.Date, "kind": pl.String},
    )
    rows = limitation_dates(debts, ev, as_of=as_of).to_dicts()
    assert len(rows) == 1
    return rows[0]


def _plus3(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year + 3)
    except ValueError:  # 29 February → 28 February (民法典 §202: the month's last day)
        return d.replace(year=d.year + 3, day=28)


def _reference(start: dt.date, events: list[tuple[dt.date, str]], as_of: dt.date) -> dt.date:
    """Walk the events in date order: reviving events always restart; a demand or legal action restarts
    only a period still running."""
    current = _plus3(start)
    for on, kind in sorted(events, key=lambda e: (e[0], EventKind(e[1]) not in REVIVING)):
        if on < start or on > as_of:
            continue
        if EventKind(kind) in REVIVING or on <= current:
            current = max(current, _plus3(on))
    return current


# ------------------------------------------------------------------------------------- hand-worked


def test_no_event_runs_three_years_from_the_last_instalment() -> None:
    row = _one([])
    assert row["limitation_date"] == dt.date(2023, 1, 10)
    assert row["last_event_kind"] == "start"
    assert row["time_barred"] is True
    assert row["days_left"] == (dt.date(2023, 1, 10) - AS_OF).days


def test_a_payment_restarts_the_period_and_revives_a_barred_debt() -> None:
    # Barred on 2023-01-11; a payment on 2024-03-05 revives it (民法典 §192(2)): 2027-03-05.
    row = _one([(dt.date(2024, 3, 5), "payment")])
    assert row["limitation_date"] == dt.date(2027, 3, 5)
    assert row["last_event_kind"] == "payment"
    assert row["time_barred"] is False
    assert row["days_left"] == (dt.date(2027, 3, 5) - AS_OF).days  # 248


def test_a_demand_restarts_a_running_period_but_not_a_barred_one() -> None:
    running = _one([(dt.date(2022, 12, 1), "demand")])
    assert running["limitation_date"] == dt.date(2025, 12, 1)
    assert running["time_barred"] is True  # 2026-06-30 is after 2025-12-01
    late = _one([(dt.date(2023, 2, 1), "demand")])  # after 2023-01-10: nothing restarts
    assert late["limitation_date"] == dt.date(2023, 1, 10)
    # A chain of demands, each within three years of the last, keeps it alive.
    chain = _one([(dt.date(2022, 6, 1), "demand"), (dt.date(2025, 5, 30), "legal_action")])
    assert chain["limitation_date"] == dt.date(2028, 5, 30)
    assert chain["last_event_kind"] == "legal_action"


def test_a_demand_after_a_break_counts_again_after_an_acknowledgement() -> None:
    row = _one(
        [
            (dt.date(2023, 6, 1), "demand"),  # barred already: no effect
            (dt.date(2024, 1, 2), "acknowledgement"),  # revives: 2027-01-02
            (dt.date(2025, 2, 3), "demand"),  # within the revived period: 2028-02-03
        ]
    )
    assert row["limitation_date"] == dt.date(2028, 2, 3)


def test_the_last_day_is_inside_the_period_and_29_february_falls_back() -> None:
    on_last_day = _one([(dt.date(2023, 1, 10), "demand")])
    assert on_last_day["limitation_date"] == dt.date(2026, 1, 10)
    leap = _one([(dt.date(2024, 2, 29), "payment")])
    assert leap["limitation_date"] == dt.date(2027, 2, 28)
    not_yet = _one([], as_of=dt.date(2023, 1, 10))
    assert not_yet["time_barred"] is False and not_yet["days_left"] == 0
    assert _one([], as_of=dt.date(2023, 1, 11))["time_barred"] is True


def test_events_after_as_of_before_the_start_or_of_unknown_kind_are_ignored() -> None:
    row = _one(
        [
            (dt.date(2027, 1, 1), "payment"),  # after as-of
            (dt.date(2019, 1, 1), "payment"),  # before the start
            (dt.date(2022, 1, 1), "phone_call"),  # not an event kind
        ]
    )
    assert row["limitation_date"] == dt.date(2023, 1, 10)


def test_many_debts_and_a_debt_without_start() -> None:
    debts = pl.DataFrame(
        {"loan_id": ["A", "B", "C"], "start": [START, dt.date(2024, 1, 1), None]},
        schema={"loan_id": pl.String, "start": pl.Date},
    )
    ev = pl.DataFrame(
        {"loan_id": ["A", "B", "Z"], "on": [dt.date(2021, 1, 1)] * 3, "kind": ["payment"] * 3},
    )
    out = limitation_dates(debts, ev, as_of=AS_OF)
    assert out.get_column("loan_id").to_list() == ["A", "B"]
    assert out.get_column("limitation_date").to_list() == [dt.date(2024, 1, 1), dt.date(2027, 1, 1)]


# ---------------------------------------------------------------------------------------- properties

_KINDS = st.sampled_from([k.value for k in EventKind if k is not EventKind.START])
_DAYS = st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2031, 12, 31))
_EVENTS = st.lists(st.tuples(_DAYS, _KINDS), max_size=12)


@settings(max_examples=300, deadline=None)
@given(start=_DAYS, events=_EVENTS, extra=st.tuples(_DAYS, _KINDS), as_of=_DAYS)
def test_a_restart_never_moves_the_date_earlier(
    start: dt.date, events: list[tuple[dt.date, str]], extra: tuple[dt.date, str], as_of: dt.date
) -> None:
    before = _one(events, start=start, as_of=as_of)["limitation_date"]
    after = _one([*events, extra], start=start, as_of=as_of)["limitation_date"]
    assert after >= before


@settings(max_examples=300, deadline=None)
@given(start=_DAYS, events=_EVENTS, as_of=_DAYS)
def test_the_date_is_three_years_after_the_latest_qualifying_event(
    start: dt.date, events: list[tuple[dt.date, str]], as_of: dt.date
) -> None:
    row = _one(events, start=start, as_of=as_of)
    assert row["limitation_date"] == _plus3(row["last_event_on"])
    assert row["limitation_date"] == _reference(start, events, as_of)
    assert row["time_barred"] == (as_of > row["limitation_date"])
    # With reviving events only, the latest of them (or the start) decides.
    reviving = [(d, k) for d, k in events if EventKind(k) in REVIVING]
    latest = max([start, *[d for d, _ in reviving if start <= d <= as_of]])
    assert _one(reviving, start=start, as_of=as_of)["limitation_date"] == _plus3(latest)


# ------------------------------------------------------------------------------ sales and recoveries

PAYMENTS = pl.DataFrame(
    {
        "payment_id": ["P1", "P2", "P3", "P4", "P5"],
        "loan_id": ["L1", "L1", "L2", "L3", "L1"],
        "received_date": [
            dt.date(2026, 5, 31),
            dt.date(2026, 6, 2),
            dt.date(2026, 6, 3),
            dt.date(2026, 6, 5),
            dt.date(2026, 6, 9),
        ],
        "amount": [10_000, 25_050, 3_000, 7_700, -5_000],
    }
)


def test_payments_after_the_cutoff_are_the_buyers() -> None:
    sold = pl.DataFrame(
        {"loan_id": ["L1", "L2"], "sale_id": [7, 7], "cutoff_date": [dt.date(2026, 5, 31)] * 2}
    )
    out = payments_after_cutoff(PAYMENTS, sold)
    # P1 is on the cut-off day (the seller's); P2, P3 and the reversal P5 are after it; L3 was not sold.
    assert out.get_column("payment_id").to_list() == ["P2", "P3", "P5"]
    assert out.get_column("amount").sum() == 25_050 + 3_000 - 5_000  # 23 050 fen = ¥230.50


def test_recoveries_split_written_off_and_buyer() -> None:
    write_offs = pl.DataFrame({"loan_id": ["L3", "L2"], "written_off_on": [dt.date(2026, 6, 1)] * 2})
    sold = pl.DataFrame({"loan_id": ["L2"], "cutoff_date": [dt.date(2026, 6, 2)]})
    out = classify_recoveries(PAYMENTS, write_offs, sold)
    kinds = dict(zip(out.get_column("payment_id"), out.get_column("recovery"), strict=True))
    assert kinds == {
        "P1": "collections",
        "P2": "collections",
        "P3": "buyer",  # L2: after the cut-off wins over after the write-off
        "P4": "after_write_off",
        "P5": "collections",
    }
    totals = out.group_by("recovery").agg(pl.col("amount").sum()).sort("recovery")
    assert totals.to_dicts() == [
        {"recovery": "after_write_off", "amount": 7_700},
        {"recovery": "buyer", "amount": 3_000},
        {"recovery": "collections", "amount": 10_000 + 25_050 - 5_000},
    ]
