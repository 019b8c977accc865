"""The write-back instruction: one thing the lender's core system must apply (a waiver, a plan, an
interest freeze, a write-off, a manual receipt), with its stable id and where it stands.

``status``: ``pending`` (created, not yet in a day's file) → ``sent`` (exported) → ``confirmed`` (the
next extracts show its effect) | ``rejected`` (the core system's acknowledgement said no) | ``stale``
(still unconfirmed ``RECOUP_WRITEBACK_STALE_DAYS`` after it was sent; a later extract or acknowledgement
still settles it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class WritebackInstruction(Base):
    __tablename__ = "writeback_instruction"
    __table_args__ = (UniqueConstraint("kind", "source_ref", "loan_id", name="uq_writeback_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instruction_id: Mapped[str] = mapped_column(String(40), unique=True)  # WB-…: stable, from the source
    kind: Mapped[str] = mapped_column(String(20), index=True)
    source_ref: Mapped[str] = mapped_column(String(120))  # resolution:42, write_off:7, freeze:…, receipt:…
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer)
    business_date: Mapped[dt.date] = mapped_column(Date, index=True)
    effective_date: Mapped[dt.date] = mapped_column(Date)  # from when the core system applies it
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units: the instruction's total
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_on: Mapped[dt.date | None] = mapped_column(Date)  # the day's file it went out in
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_extract: Mapped[dt.date | None] = mapped_column(Date)  # the extract that showed its effect
    ack_status: Mapped[str | None] = mapped_column(String(20))  # the core system's: accepted / rejected
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))  # why rejected (the core system's words)
    stale_on: Mapped[dt.date | None] = mapped_column(Date)
    outbox_message_id: Mapped[str | None] = mapped_column(String(100))  # the webhook's, when one is set
