"""What the morning view's sections read, loaded once per computation (lazily: a section that is not
computed reads nothing): the day, its period and the previous one, and the frames of
:mod:`recoup.reporting.morning_data` over them."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import polars as pl
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.lake import get_lake
from recoup.lake.store import Lake, Outputs
from recoup.reporting import morning_data as data
from recoup.reporting.morning_credit import credited_frame

__all__ = ["Context", "month_bounds"]


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month of ``day``: (first day, last day)."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass
class Context:
    """The morning of ``as_of + 1``: figures refer to ``as_of`` (the last day the cycle completed)."""

    session: Session
    settings: Settings
    as_of: dt.date

    @cached_property
    def month(self) -> tuple[dt.date, dt.date]:
        """This period: the calendar month of ``as_of``."""
        return month_bounds(self.as_of)

    @cached_property
    def previous(self) -> tuple[dt.date, dt.date]:
        """The previous period: the calendar month before."""
        return month_bounds(self.month[0] - dt.timedelta(days=1))

    @property
    def today(self) -> dt.date:
        return self.as_of + dt.timedelta(days=1)

    @cached_property
    def lake(self) -> Lake:
        return get_lake(self.settings)

    @cached_property
    def outputs(self) -> Outputs:
        return Outputs(self.lake)

    @cached_property
    def positions(self) -> pl.DataFrame | None:
        """``account_daily`` as of the day (every loan of the book)."""
        return self.outputs.read("account_daily", self.as_of)

    @cached_property
    def since(self) -> dt.date:
        """How far back holdings and payments are read: the previous period, and two recovery windows
        (the segment targets' cohort and its window)."""
        return min(self.previous[0], self.as_of - dt.timedelta(days=2 * self.settings.recovery_window_days))

    @cached_property
    def holdings(self) -> pl.DataFrame:
        """Holdings overlapping [since, as_of]."""
        return data.holdings_frame(self.since, self.as_of, session=self.session)

    @cached_property
    def payments(self) -> pl.DataFrame:
        """Payments on cases received in [since, as_of]."""
        return data.collection_payments(self.since, self.as_of, session=self.session)

    @cached_property
    def attempts(self) -> pl.DataFrame:
        """People's attempts this month and in the last 7 days."""
        start = min(self.month[0], self.as_of - dt.timedelta(days=6))
        return data.attempts_frame(start, self.as_of, session=self.session, tz=self.settings.tz)

    @cached_property
    def promises(self) -> pl.DataFrame:
        """Promises made or due this month, or due today."""
        return data.promises_frame(self.month[0], self.today, session=self.session)

    @cached_property
    def people(self) -> pl.DataFrame:
        return data.people_frame(session=self.session)

    @cached_property
    def credited(self) -> pl.DataFrame:
        """This month's collections with who is credited for them (回款归属)."""
        return credited_frame(self.month[0], self.as_of, session=self.session)
