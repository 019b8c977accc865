"""The minimal case: a borrower's accounts in collections, its grade and its open/closed dates.

The case-management issue grows it (queues, assignment, promises, plans).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class Case(Base):
    __tablename__ = "collection_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open / closed
    grade: Mapped[int] = mapped_column(Integer)
    grade_rule: Mapped[str] = mapped_column(String(60))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(30))  # cured / paid_off
    config_version: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
