"""Complaint deadlines (pure: dates in, dates and flags out; no database, no clock).

A complaint is answered within :data:`BASE_DAYS` days of its receipt, extendable once to
:data:`EXTENDED_DAYS` (COMPLIANCE.md "resolve within 15 days, extendable to 30"; 《银行业保险业消费投诉处理
管理办法》 2020 Art. 22). **Calendar days** (自然日): neither COMPLIANCE.md nor MISSION.md speaks of working
days, and the regulation's "15日" is a period in days. The day of receipt is not counted (民法典 §201: a
period in days starts the next day), so a complaint received on 1 March is due by the end of 16 March
(extended: 31 March). The Civil Code would move a deadline that falls on a public holiday to the next
working day (§203); recoup does not, so its deadline is never later than the legal one.

An open complaint is **overdue** on a day after its deadline; one closed after its deadline was closed
late. An extension is allowed only while the first deadline has not passed (one cannot extend what is
already late). :func:`register_frame` and :func:`day_counts` apply the same rules to a frame of the
register, for the register's pages and the morning view.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import polars as pl

__all__ = [
    "BASE_DAYS",
    "EXTENDED_DAYS",
    "REGISTER_SCHEMA",
    "day_counts",
    "days_left",
    "deadline",
    "extension_allowed",
    "is_overdue",
    "register_frame",
]

#: Days to answer a complaint, counted from the day after its receipt.
BASE_DAYS: Final = 15
#: Days once the deadline has been extended (once).
EXTENDED_DAYS: Final = 30

#: The register's columns the kernel reads: received_on, the day it was extended (null: not extended)
#: and the day it was closed (null: open).
REGISTER_SCHEMA: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "received_on": pl.Date(),
    "extended_on": pl.Date(),
    "closed_on": pl.Date(),
}


def deadline(received_on: dt.date, *, extended: bool = False) -> dt.date:
    """The last day to answer a complaint received on ``received_on``."""
    return received_on + dt.timedelta(days=EXTENDED_DAYS if extended else BASE_DAYS)


def days_left(due: dt.date, today: dt.date) -> int:
    """Days from ``today`` to the deadline: 0 on the day itself, negative once it has passed."""
    return (due - today).days


def is_overdue(due: dt.date, today: dt.date, *, closed: bool) -> bool:
    """Whether a complaint with deadline ``due`` is overdue on ``today`` (an open one past its deadline)."""
    return not closed and today > due


def extension_allowed(received_on: dt.date, today: dt.date) -> bool:
    """Whether the deadline may still be extended on ``today``: only until the first deadline."""
    return today <= deadline(received_on)


def _checked(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in REGISTER_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"the register frame lacks {missing}")
    return frame.with_columns(pl.col(c).cast(t) for c, t in REGISTER_SCHEMA.items())


def register_frame(frame: pl.DataFrame, *, today: dt.date) -> pl.DataFrame:
    """The register with ``deadline`` (Date), ``days_left`` (Int64, null once closed), ``overdue`` (open
    and past the deadline on ``today``) and ``closed_late`` (closed after the deadline)."""
    f = _checked(frame)
    days = (
        pl.when(pl.col("extended_on").is_not_null())
        .then(pl.lit(EXTENDED_DAYS))
        .otherwise(pl.lit(BASE_DAYS))
        .cast(pl.Int64)
    )
    due = (pl.col("received_on") + pl.duration(days=days)).cast(pl.Date)
    f = f.with_columns(deadline=due)
    open_ = pl.col("closed_on").is_null()
    return f.with_columns(
        days_left=pl.when(open_).then((pl.col("deadline") - pl.lit(today)).dt.total_days()).cast(pl.Int64),
        overdue=open_ & (pl.lit(today) > pl.col("deadline")),
        closed_late=(~open_) & (pl.col("closed_on") > pl.col("deadline")),
    )


def day_counts(frame: pl.DataFrame, *, day: dt.date) -> dict[str, int]:
    """The register seen at the end of ``day``: complaints ``received`` that day, ``open`` at its end,
    and of those ``overdue`` the next morning (their deadline, extended if it was by ``day``, was ``day``
    or earlier). Only what had happened by ``day`` counts, so a past day gives the same answer later."""
    f = _checked(frame).filter(pl.col("received_on") <= day)
    extended = pl.col("extended_on").is_not_null() & (pl.col("extended_on") <= day)
    days = pl.when(extended).then(pl.lit(EXTENDED_DAYS)).otherwise(pl.lit(BASE_DAYS)).cast(pl.Int64)
    open_ = pl.col("closed_on").is_null() | (pl.col("closed_on") > day)
    due = (pl.col("received_on") + pl.duration(days=days)).cast(pl.Date)
    row = f.select(
        received=(pl.col("received_on") == day).sum(),
        open=open_.sum(),
        overdue=(open_ & (due <= day)).sum(),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}
