"""Work tasks: calls, visits, letters, legal reviews and placements the daily decisions put in people's
queues (messages go to the outbox instead). One task per (as-of, account, treatment)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class WorkTask(Base):
    """A task planned by a strategy node for an account on a day.

    ``status``: ``open`` → ``in_progress`` → ``done`` or ``cancelled`` (``status_reason`` says why, e.g.
    superseded by a later day's decisions). ``reason`` holds the decision's reasons, and for a message
    that could not be sent (no destination, no template, a rendering the linter rejected) why a person must
    act instead.
    """

    __tablename__ = "work_task"
    __table_args__ = (
        UniqueConstraint("as_of", "debt_key", "treatment"),
        Index("ix_work_task_queue", "status", "queue", "priority"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    debt_key: Mapped[str] = mapped_column(String(64), index=True)  # the lender's loan id
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)  # the lender's borrower id
    treatment: Mapped[str] = mapped_column(String(30))
    queue: Mapped[str] = mapped_column(String(30))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    tone: Mapped[str | None] = mapped_column(String(20))
    strategy: Mapped[str] = mapped_column(String(80))
    strategy_version: Mapped[int] = mapped_column(Integer)
    node: Mapped[str] = mapped_column(String(60))
    arm: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    # open / in_progress / done / cancelled
    status: Mapped[str] = mapped_column(String(20), default="open")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_case.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(String(30))  # the outcome logged when done
    note: Mapped[str | None] = mapped_column(String(1000))
    expected_value: Mapped[float | None] = mapped_column(Float)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
