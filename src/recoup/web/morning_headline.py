"""The morning view's first section: yesterday's and the month's collections against target, the recovery
curve against the same day of the previous period, the entry rate, connect rate and talk time per head,
promises due today, complaints and stopped cases.

Definitions: collections and the recovery curve — :mod:`recoup.reporting.recovery` (METRICS.md M2+
催回率); entry rate — :func:`recoup.reporting.metrics.entry_rate_series` (METRICS.md 入催率); connect
rate, right-party-contact rate and talk time — :mod:`recoup.reporting.floor_figures`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from markupsafe import Markup
from sqlalchemy import func, select

from recoup.cases.models import Case
from recoup.complaints.register import register_counts
from recoup.errors import RecoupError
from recoup.lake import book_as_of
from recoup.money import round_half_up
from recoup.reporting.floor_figures import contact_funnel, talk_time
from recoup.reporting.metrics import entry_rate_series
from recoup.reporting.morning_data import talk_frame
from recoup.reporting.recovery import collections_by_day, curve_against_previous, recovery_curve
from recoup.web.charts import PALETTE, Series, line_chart
from recoup.web.labels import N_
from recoup.web.morning_context import Context
from recoup.web.tables import Column, Formats, Table

__all__ = ["charts", "tables"]

ENTRY_DAYS = 30


def _minor(amount: Decimal | None, digits: int) -> int | None:
    return None if amount is None else round_half_up(amount * 10**digits)


def _targets(ctx: Context) -> tuple[int | None, int | None]:
    """(daily, monthly) collections targets in minor units, None when not set."""
    s = ctx.settings
    month = _minor(s.collections_target_month, s.minor_digits)
    day = _minor(s.collections_target_day, s.minor_digits)
    if day is None and month is not None:
        day = round_half_up(Decimal(month) / ctx.month[1].day)
    return day, month


def _entry_rate(ctx: Context) -> tuple[float | None, dt.date, dt.date]:
    start, end = ctx.as_of - dt.timedelta(days=ENTRY_DAYS), ctx.as_of - dt.timedelta(days=1)
    try:
        book = book_as_of(ctx.as_of, session=ctx.session, lake=ctx.lake)
        series = entry_rate_series(book.frame("installments"), start=start, end=end)
    except RecoupError:
        return None, start, end
    due = int(series.get_column("amount_due").sum() or 0)
    unpaid = int(series.get_column("amount_unpaid").sum() or 0)
    return (unpaid / due if due else None), start, end


def _share(part: int | None, whole: int | None) -> float | None:
    return part / whole if part is not None and whole else None


def tables(ctx: Context) -> list[Table]:
    """The tables ``kpis``, ``collections`` and ``recovery-curve``."""
    as_of, (m0, m1), (p0, p1) = ctx.as_of, ctx.month, ctx.previous
    day_target, month_target = _targets(ctx)
    in_coll = ctx.payments.filter(pl.col("in_collections"))
    days = collections_by_day(in_coll, start=m0, end=as_of)
    prev_days = collections_by_day(in_coll, start=p0, end=p1)
    yesterday = int(days.get_column("amount")[-1])
    month = int(days.get_column("cumulative")[-1])
    pace = None if month_target is None else round_half_up(Decimal(month_target) * as_of.day / m1.day)
    prev_cum = dict(
        zip(prev_days.get_column("date").dt.day(), prev_days.get_column("cumulative"), strict=True)
    )

    curve = curve_against_previous(
        recovery_curve(ctx.holdings, ctx.payments, start=m0, end=m1, through=as_of),
        recovery_curve(ctx.holdings, ctx.payments, start=p0, end=p1, through=as_of),
    )
    entry, e0, e1 = _entry_rate(ctx)
    yday = ctx.attempts.filter(pl.col("at_date") == as_of)
    made = ctx.promises.filter(pl.col("made_on") == as_of)
    funnel = {r["stage"]: r for r in contact_funnel(yday, made).iter_rows(named=True)}
    talk = talk_time(talk_frame(as_of, session=ctx.session, tz=ctx.settings.tz)).row(0, named=True)
    due = ctx.promises.filter((pl.col("due_date") == ctx.today) & (pl.col("status") == "pending"))
    open_cases = ctx.session.scalar(select(func.count()).select_from(Case).where(Case.status == "open")) or 0
    stopped = (
        ctx.session.scalar(select(func.count()).select_from(Case).where(Case.status == "open", Case.stopped))
        or 0
    )
    unheld = ctx.session.scalar(
        select(func.count()).select_from(Case).where(Case.status == "open", Case.holder_id.is_(None))
    )
    got = register_counts(session=ctx.session, day=as_of)
    complaints = {"count": got["received"], "open": got["open"], "overdue": got["overdue"]}
    last = curve.filter(pl.col("date") == as_of)
    rate_now = last.get_column("rate")[0] if last.height else None
    rate_prev = last.get_column("prev_rate")[0] if last.height else None
    minutes = None if talk["per_head"] is None else talk["per_head"] / 60
    kpis = [
        {
            "key": "collected_day",
            "figure": N_("Collected yesterday"),
            "start": as_of,
            "end": as_of,
            "amount": yesterday,
            "target": day_target,
            "rate": _share(yesterday, day_target),
        },
        {
            "key": "collected_month",
            "figure": N_("Collected this month"),
            "start": m0,
            "end": as_of,
            "amount": month,
            "target": month_target,
            "rate": _share(month, month_target),
            "pace": pace,
            "previous": prev_cum.get(as_of.day),
        },
        {
            "key": "recovery",
            "figure": N_("Recovery rate of this month's allocations"),
            "start": m0,
            "end": as_of,
            "rate": rate_now,
            "previous_rate": rate_prev,
        },
        {"key": "entry_rate", "figure": N_("Entry rate"), "start": e0, "end": e1, "rate": entry},
        {
            "key": "connect_rate",
            "figure": N_("Connect rate"),
            "start": as_of,
            "end": as_of,
            "count": funnel["attempts"]["count"],
            "rate": funnel["connected"]["of_first"],
        },
        {
            "key": "rpc_rate",
            "figure": N_("Right-party contact rate"),
            "start": as_of,
            "end": as_of,
            "count": funnel["right_party"]["count"],
            "rate": funnel["right_party"]["of_first"],
        },
        {
            "key": "talk",
            "figure": N_("Talk time per head (minutes)"),
            "start": as_of,
            "end": as_of,
            "count": talk["timed_calls"],
            "minutes": minutes,
            "calls": talk["calls"],
        },
        {
            "key": "promises_due",
            "figure": N_("Promises due today"),
            "start": ctx.today,
            "end": ctx.today,
            "count": due.height,
            "amount": int(due.get_column("amount").sum() or 0),
        },
        {"key": "complaints", "figure": N_("Complaints"), "start": as_of, "end": as_of, **complaints},
        {
            "key": "stopped",
            "figure": N_("Stopped cases (停催)"),
            "start": as_of,
            "end": as_of,
            "count": stopped,
            "open": open_cases,
            "unheld": unheld,
        },
    ]
    return [
        Table(
            "kpis",
            N_("Headline figures"),
            [
                Column("figure", N_("Figure"), "label"),
                Column("start", N_("From"), "date"),
                Column("end", N_("To"), "date"),
                Column("count", N_("Count"), "int"),
                Column("amount", N_("Amount"), "money"),
                Column("target", N_("Target"), "money"),
                Column("rate", N_("Rate"), "pct"),
                Column("minutes", N_("Minutes"), "num"),
            ],
            kpis,
            start=m0,
            end=as_of,
            note=N_(
                "Complaints received on the day, from the complaints register; the card also shows those "
                "open at the day's end and those overdue this morning (15 calendar days to answer, 30 once "
                "extended)."
            ),
        ),
        Table(
            "collections",
            N_("Collections by day this month"),
            [
                Column("date", N_("Date"), "date"),
                Column("amount", N_("Collected"), "money"),
                Column("cumulative", N_("Month to date"), "money"),
                Column("previous", N_("Same day last month"), "money"),
                Column("pace", N_("Target pace"), "money"),
            ],
            [
                {
                    **r,
                    "previous": prev_cum.get(r["date"].day),
                    "pace": None
                    if month_target is None
                    else round_half_up(Decimal(month_target) * r["date"].day / m1.day),
                }
                for r in days.iter_rows(named=True)
            ],
            start=m0,
            end=as_of,
            note=N_("Payments received on accounts in collections on the day; reversals count negative."),
        ),
        Table(
            "recovery-curve",
            N_("Recovery curve: this month against last month"),
            [
                Column("day", N_("Day of month"), "int"),
                Column("date", N_("Date"), "date"),
                Column("rate", N_("Recovery rate"), "pct"),
                Column("collected", N_("Collected"), "money"),
                Column("allocated", N_("Allocated"), "money"),
                Column("prev_date", N_("Same day last month"), "date"),
                Column("prev_rate", N_("Recovery rate last month"), "pct"),
                Column("change", N_("Change"), "pct"),
            ],
            curve.to_dicts(),
            start=p0,
            end=as_of,
            note=N_(
                "M2+ recovery rate (催回率) of each month's allocations: cash collected from allocation "
                "until exit or the month's end ÷ amount allocated, day by day."
            ),
        ),
    ]


def charts(t: dict[str, Table], fmt: Formats) -> dict[str, Markup]:
    """The recovery curve and month-to-date collections as line charts."""
    _ = fmt.gettext
    curve = t["recovery-curve"].rows
    days = [(1, "1"), *((d, str(d)) for d in (5, 10, 15, 20, 25, 30))]
    recovery = line_chart(
        "chart-recovery",
        [
            Series(_("This month"), [(r["day"], r["rate"]) for r in curve if r["date"] is not None]),
            Series(_("Last month"), [(r["day"], r["prev_rate"]) for r in curve], PALETTE[1], dashed=True),
        ],
        title=_("Recovery curve: this month against last month"),
        x_label=_("Day of month"),
        y_label=_("Recovery rate"),
        y_format=lambda v: fmt.pct(v),
        x_ticks=days,
        empty=_("No case was allocated in these two months."),
        y_min_span=0.05,
    )
    coll = t["collections"].rows
    paid = any(r["cumulative"] for r in coll) or any(r["previous"] for r in coll)
    series = (
        []
        if not paid
        else [
            Series(_("This month"), [(r["date"].day, r["cumulative"] / 10**fmt.digits) for r in coll]),
            Series(
                _("Last month"),
                [
                    (r["date"].day, None if r["previous"] is None else r["previous"] / 10**fmt.digits)
                    for r in coll
                ],
                PALETTE[1],
                dashed=True,
            ),
        ]
    )
    if any(r["pace"] is not None for r in coll):
        series.append(
            Series(
                _("Target pace"),
                [(r["date"].day, (r["pace"] or 0) / 10**fmt.digits) for r in coll],
                PALETTE[2],
                dashed=True,
            )
        )
    cumulative = line_chart(
        "chart-collections",
        series,
        title=_("Collections by day this month"),
        x_label=_("Day of month"),
        y_label=_("Month to date"),
        y_format=lambda v: fmt.money_whole(round(v * 10**fmt.digits)),
        x_ticks=days,
        empty=_("No payment yet this month."),
        y_min_span=10.0,
    )
    return {"recovery-curve": recovery, "collections": cumulative}
