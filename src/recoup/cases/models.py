"""The case: a borrower's accounts in collections, its grade, its lifecycle state and its history.

``state`` follows the table of :mod:`recoup.cases.lifecycle`; ``status`` is kept in step with it
("open" while the case is collectable, else "closed") for the daily cycle's intake.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class Case(Base):
    __tablename__ = "collection_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open / closed
    state: Mapped[str] = mapped_column(String(20), default="intake", index=True)  # lifecycle.CaseState
    state_since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    state_due: Mapped[dt.date | None] = mapped_column(Date, index=True)  # the state's deadline
    grade: Mapped[int] = mapped_column(Integer)
    grade_rule: Mapped[str] = mapped_column(String(60))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(30))  # lifecycle.CloseReason
    config_version: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CaseTransition(Base):
    """One recorded move of a case (``from_state`` is None for the intake that opened it)."""

    __tablename__ = "case_transition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))  # the username (as in the ledger) or "cycle"
    reason: Mapped[str] = mapped_column(String(500))
    close_reason: Mapped[str | None] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromiseToPay(Base):
    """A promise to pay (承诺还款) recorded on a case; judged by :func:`recoup.cases.promises.judge_promises`.

    ``made_on`` is the date of ``made_at`` in the timezone it was given in (the borrower's or the
    lender's). ``status`` is a :class:`recoup.cases.promises.Status` value.
    """

    __tablename__ = "promise_to_pay"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    made_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    made_on: Mapped[dt.date] = mapped_column(Date)
    by: Mapped[str] = mapped_column(String(20))  # debtor / third_party
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    kept_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    made_by: Mapped[str] = mapped_column(String(120))
    judged_as_of: Mapped[dt.date | None] = mapped_column(Date)
