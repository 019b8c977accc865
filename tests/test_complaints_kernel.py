"""Complaint deadlines (recoup.complaints.kernel): hand-worked dates, and Hypothesis over the invariants —
15 then 30 calendar days from the day after receipt, overdue only when open and past the deadline, an
extension only before the first deadline and never making a complaint late, the frame kernels equal to
the scalar rules, and the day's counts replayable."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from recoup.complaints import kernel

D0 = dt.date(2026, 1, 1)
days = st.integers(0, 800).map(lambda n: D0 + dt.timedelta(days=n))


def test_hand_worked_deadlines() -> None:
    # Received 1 March: the 15 days are 2…16 March (民法典 §201), extended 2…31 March.
    assert kernel.deadline(dt.date(2027, 3, 1)) == dt.date(2027, 3, 16)
    assert kernel.deadline(dt.date(2027, 3, 1), extended=True) == dt.date(2027, 3, 31)
    # Across a month end and a leap day.
    assert kernel.deadline(dt.date(2028, 2, 20)) == dt.date(2028, 3, 6)
    assert kernel.deadline(dt.date(2028, 2, 20), extended=True) == dt.date(2028, 3, 21)
    due = kernel.deadline(dt.date(2027, 3, 1))
    assert kernel.days_left(due, dt.date(2027, 3, 16)) == 0
    assert not kernel.is_overdue(due, dt.date(2027, 3, 16), closed=False)  # the last day is still in time
    assert kernel.is_overdue(due, dt.date(2027, 3, 17), closed=False)
    assert not kernel.is_overdue(due, dt.date(2027, 3, 17), closed=True)
    assert kernel.extension_allowed(dt.date(2027, 3, 1), dt.date(2027, 3, 16))
    assert not kernel.extension_allowed(dt.date(2027, 3, 1), dt.date(2027, 3, 17))


def test_hand_worked_day_counts() -> None:
    reg = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "received_on": [
                dt.date(2027, 3, 1),
                dt.date(2027, 3, 1),
                dt.date(2027, 3, 10),
                dt.date(2027, 3, 16),
                dt.date(2027, 3, 17),
            ],
            "extended_on": [None, dt.date(2027, 3, 5), None, None, None],
            "closed_on": [None, None, dt.date(2027, 3, 12), None, None],
        },
        schema=kernel.REGISTER_SCHEMA,
    )
    # End of 16 March: #1 open, due 16 March → overdue the next morning; #2 extended (due 31 March);
    # #3 closed on the 12th; #4 received that day; #5 not yet received.
    assert kernel.day_counts(reg, day=dt.date(2027, 3, 16)) == {"received": 1, "open": 3, "overdue": 1}
    assert kernel.day_counts(reg, day=dt.date(2027, 3, 11)) == {"received": 0, "open": 3, "overdue": 0}
    framed = kernel.register_frame(reg, today=dt.date(2027, 3, 17)).sort("id")
    assert framed.get_column("deadline").to_list() == [
        dt.date(2027, 3, 16),
        dt.date(2027, 3, 31),
        dt.date(2027, 3, 25),
        dt.date(2027, 3, 31),
        dt.date(2027, 4, 1),
    ]
    assert framed.get_column("overdue").to_list() == [True, False, False, False, False]
    assert framed.get_column("days_left").to_list() == [-1, 14, None, 14, 15]
    assert framed.get_column("closed_late").to_list() == [False] * 5


@given(received=days, extended=st.booleans())
def test_deadline_is_15_or_30_days_and_extension_never_shortens(received: dt.date, extended: bool) -> None:
    due = kernel.deadline(received, extended=extended)
    assert (due - received).days == (kernel.EXTENDED_DAYS if extended else kernel.BASE_DAYS)
    assert kernel.deadline(received, extended=True) >= kernel.deadline(received)


@given(received=days, offset=st.integers(-30, 120), extended=st.booleans(), closed=st.booleans())
def test_overdue_only_when_open_and_past_the_deadline(
    received: dt.date, offset: int, extended: bool, closed: bool
) -> None:
    today = received + dt.timedelta(days=offset)
    due = kernel.deadline(received, extended=extended)
    over = kernel.is_overdue(due, today, closed=closed)
    assert over == (not closed and kernel.days_left(due, today) < 0)
    # Once late, a complaint stays late every later day it stays open.
    if over:
        assert kernel.is_overdue(due, today + dt.timedelta(days=1), closed=False)
    # One day later, one day less.
    assert kernel.days_left(due, today + dt.timedelta(days=1)) == kernel.days_left(due, today) - 1


@given(received=days, offset=st.integers(-5, 60))
def test_extension_only_before_the_first_deadline_and_it_never_makes_a_complaint_late(
    received: dt.date, offset: int
) -> None:
    today = received + dt.timedelta(days=offset)
    base, ext = kernel.deadline(received), kernel.deadline(received, extended=True)
    assert kernel.extension_allowed(received, today) == (not kernel.is_overdue(base, today, closed=False))
    if kernel.is_overdue(ext, today, closed=False):
        assert kernel.is_overdue(base, today, closed=False)
    if kernel.extension_allowed(received, today):
        assert not kernel.is_overdue(ext, today, closed=False)


rows = st.lists(
    st.tuples(days, st.one_of(st.none(), st.integers(0, 40)), st.one_of(st.none(), st.integers(0, 90))),
    max_size=30,
)


def _frame(data: list[tuple[dt.date, int | None, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(1, len(data) + 1)),
            "received_on": [r for r, _e, _c in data],
            "extended_on": [None if e is None else r + dt.timedelta(days=e) for r, e, _c in data],
            "closed_on": [None if c is None else r + dt.timedelta(days=c) for r, _e, c in data],
        },
        schema=kernel.REGISTER_SCHEMA,
    )


@given(data=rows, today=days)
def test_the_register_frame_applies_the_scalar_rules(
    data: list[tuple[dt.date, int | None, int | None]], today: dt.date
) -> None:
    framed = kernel.register_frame(_frame(data), today=today).sort("id")
    for (received, ext, closed), row in zip(data, framed.iter_rows(named=True), strict=True):
        due = kernel.deadline(received, extended=ext is not None)
        assert row["deadline"] == due
        assert row["overdue"] == kernel.is_overdue(due, today, closed=closed is not None)
        assert row["days_left"] == (None if closed is not None else kernel.days_left(due, today))
        assert row["closed_late"] == (closed is not None and received + dt.timedelta(days=closed) > due)


@given(data=rows, day=days)
def test_day_counts_see_only_what_had_happened_by_that_day(
    data: list[tuple[dt.date, int | None, int | None]], day: dt.date
) -> None:
    counts = kernel.day_counts(_frame(data), day=day)
    expected_open = expected_overdue = 0
    for received, ext, closed in data:
        if received > day:
            continue
        closed_on = None if closed is None else received + dt.timedelta(days=closed)
        if closed_on is not None and closed_on <= day:
            continue
        expected_open += 1
        extended = ext is not None and received + dt.timedelta(days=ext) <= day
        due = kernel.deadline(received, extended=extended)
        expected_overdue += kernel.is_overdue(due, day + dt.timedelta(days=1), closed=False)
    assert counts["received"] == sum(r == day for r, _e, _c in data)
    assert counts["open"] == expected_open
    assert counts["overdue"] == expected_overdue <= expected_open
    # Adding complaints received after the day changes nothing about it (replayable).
    later = [*data, (day + dt.timedelta(days=1), None, None)]
    assert kernel.day_counts(_frame(later), day=day) == counts
