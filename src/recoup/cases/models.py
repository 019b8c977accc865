"""The case: a borrower's accounts in collections, its grade, its lifecycle state and its history.

``state`` follows the table of :mod:`recoup.cases.lifecycle`; ``status`` is kept in step with it
("open" while the case is collectable, else "closed") for the daily cycle's intake.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String
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
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    held_since: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)  # the end of the holder's period
    contact_status: Mapped[str] = mapped_column(String(20), default="reachable", server_default="reachable")
    lost_since: Mapped[dt.date | None] = mapped_column(Date)  # 失联 since
    stopped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # 停催 in force
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


class Team(Base):
    """A team of people working cases: collection (by bucket), field, skip trace, legal, verification,
    or an agency's staff. ``lead_id`` is its team lead, who gets the team's overdue-deadline tasks."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="collection")  # floor.TeamKind
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class WorkerProfile(Base):
    """What allocation needs to know of a person who holds cases: team, kind, the pools they serve,
    skills, caseload cap, performance weight and daily minutes (collectors, field agents, agency users)."""

    __tablename__ = "worker_profile"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="collector")  # collector / field_agent / agency
    pools: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)  # language/product/region
    cap: Mapped[int] = mapped_column(Integer, default=500)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    daily_minutes: Mapped[int] = mapped_column(Integer, default=420)
    agency_code: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AllocationBatch(Base):
    """One run of allocation (分案): daily, month-start, mid-month top-up or manual."""

    __tablename__ = "allocation_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    rule_version: Mapped[str] = mapped_column(String(120))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class CaseHolding(Base):
    """Who held a case when (holder history): ``start_date`` ≤ d < ``end_date`` (open when null)."""

    __tablename__ = "case_holding"
    __table_args__ = (Index("ix_case_holding_holder_open", "holder_id", "end_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("allocation_batch.id"))
    reason: Mapped[str] = mapped_column(String(20))  # allocated / retained / returned / manual
    rule: Mapped[str | None] = mapped_column(String(60))
    ended_reason: Mapped[str | None] = mapped_column(String(30))
    allocated_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # overdue amount at allocation
