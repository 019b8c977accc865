"""The morning view a director opens first (``/morning``): yesterday's and the month's collections, the
entry rate, contact and promise figures, what is due today and what is stopped; the book by bucket and by
five-category class (bars drawn as server-side SVG); the collectors' table for the month to date.

Figures come from the last day the daily cycle completed (the lake's ``account_daily`` and the book as
of that day) and from the database; definitions are METRICS.md's, computed by the one metrics module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case, PromiseToPay
from recoup.cycle.models import CycleRun
from recoup.lake import book_as_of, get_lake
from recoup.lake.store import Outputs
from recoup.portfolio.kernel import summary_by
from recoup.reporting.collectors import collector_report
from recoup.reporting.metrics import entry_rate_series
from recoup.web.deps import DbSession
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)
Director = Annotated[AppUser, require_page("report.view")]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    width: float  # 0–100, share of the largest bar
    note: str


def bars(frame: pl.DataFrame, key: str, value: str, note: str) -> list[Bar]:
    """Rows of ``frame`` as horizontal bars (for the SVG charts), widths relative to the largest value."""
    if frame.is_empty():
        return []
    top = max(int(v or 0) for v in frame.get_column(value).to_list()) or 1
    return [
        Bar(str(r[key]), int(r[value] or 0), 100.0 * int(r[value] or 0) / top, str(r[note]))
        for r in frame.iter_rows(named=True)
    ]


def last_complete_day(session: Session) -> dt.date | None:
    """The latest business day whose cycle finished its last step (``decisions``)."""
    day: dt.date | None = session.scalar(
        select(func.max(CycleRun.as_of)).where(CycleRun.step == "decisions", CycleRun.status == "done")
    )
    return day


def morning_figures(request: Request, session: Session) -> dict[str, Any]:
    """Everything the morning view shows (empty figures before the first cycle)."""
    settings = request.app.state.settings
    as_of = last_complete_day(session)
    if as_of is None:
        return {"as_of": None}
    lake = get_lake(settings)
    positions = Outputs(lake).read("account_daily", as_of)
    book = book_as_of(as_of, session=session, lake=lake)
    month_start = as_of.replace(day=1)
    pays = (
        book.scan("payments")
        .filter(pl.col("received_date").is_between(month_start, as_of))
        .select("received_date", "amount")
        .collect()
    )
    yesterday = int(pays.filter(pl.col("received_date") == as_of).get_column("amount").sum() or 0)
    month = int(pays.get_column("amount").sum() or 0)
    series = entry_rate_series(
        book.frame("installments"), start=as_of - dt.timedelta(days=30), end=as_of - dt.timedelta(days=1)
    )
    due = int(series.get_column("amount_due").sum() or 0)
    unpaid = int(series.get_column("amount_unpaid").sum() or 0)
    people = collector_report(month_start, as_of, session=session)
    total = people.filter(pl.col("collector_id").is_null())
    team = total.row(0, named=True) if total.height else {}
    by_bucket = (
        bars(
            summary_by(positions, "bucket", order="bucket_rank").filter(pl.col("bucket") != "C"),
            "bucket",
            "overdue_amount",
            "loans",
        )
        if positions is not None
        else []
    )
    by_class = (
        bars(
            summary_by(positions, "loan_class_zh", order="class_rank"),
            "loan_class_zh",
            "outstanding_principal",
            "loans",
        )
        if positions is not None
        else []
    )
    today = as_of + dt.timedelta(days=1)
    return {
        "as_of": as_of,
        "collected_yesterday": yesterday,
        "collected_month": month,
        "entry_rate": unpaid / due if due else None,
        "rpc_rate": team.get("rpc_rate"),
        "promise_rate": team.get("promise_rate"),
        "kept_rate": team.get("kept_rate"),
        "coverage": team.get("coverage"),
        "promises_due_today": session.scalar(
            select(func.count())
            .select_from(PromiseToPay)
            .where(PromiseToPay.status == "pending", PromiseToPay.due_date == today)
        ),
        "open_cases": session.scalar(select(func.count()).select_from(Case).where(Case.status == "open")),
        "stopped_cases": session.scalar(
            select(func.count()).select_from(Case).where(Case.status == "open", Case.stopped)
        ),
        "unheld_cases": session.scalar(
            select(func.count()).select_from(Case).where(Case.status == "open", Case.holder_id.is_(None))
        ),
        "by_bucket": by_bucket,
        "by_class": by_class,
        "collectors": [r for r in people.iter_rows(named=True) if r["collector_id"] is not None],
    }


@router.get("/morning")
def morning(request: Request, user: Director, session: DbSession) -> Response:
    return render(request, "morning.html", morning_figures(request, session), user=user)
