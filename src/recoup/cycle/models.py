"""``cycle_run``: one row per (run, step) with status, row counts, timing and the book it read.

``status`` is ``running`` while a step runs, then ``done`` or ``failed``; a ``running`` row whose
process died is marked ``interrupted`` by the next run (which holds the cycle lock, so no other
process can be running it). ``manifest_id`` is the ``lake_import`` row the step read the book
through: a rerun after a newer manifest for the day reruns the steps that read the book.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class CycleRun(Base):
    __tablename__ = "cycle_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    step: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # running / done / failed / interrupted
    rows: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[str] = mapped_column(Text, default="")
    config_version: Mapped[str] = mapped_column(String(300), default="")
    manifest_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
