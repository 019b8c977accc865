"""Tables of the complaints register (投诉登记), its timeline, the attempts it concerns, and the lifting of
contact holds (the holds themselves are :class:`recoup.contact.models.ContactHold`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class Complaint(Base):
    """A complaint or a dispute, from receipt to its answer.

    ``status``: ``open`` → ``closed``. While open, ``hold_id`` is the contact hold it placed on the
    borrower (``HOLD-STOP`` for a complaint, ``HOLD-DISPUTE`` for a dispute, every channel); closing it
    ends the hold. ``deadline`` is :func:`recoup.complaints.kernel.deadline` of ``received_on`` (extended
    once, with a reason)."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # vocab.ComplaintKind
    source: Mapped[str] = mapped_column(String(30))  # vocab.Source
    reference: Mapped[str | None] = mapped_column(String(100))  # the regulator's or platform's number
    category: Mapped[str] = mapped_column(String(30))  # vocab.Category
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_case.id"), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    agency: Mapped[str | None] = mapped_column(String(64), index=True)  # the agency code complained about
    received_on: Mapped[dt.date] = mapped_column(Date, index=True)
    deadline: Mapped[dt.date] = mapped_column(Date)
    extended_on: Mapped[dt.date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(String(500))
    extended_by: Mapped[str | None] = mapped_column(String(120))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    root_cause: Mapped[str | None] = mapped_column(String(30))  # vocab.RootCause
    root_cause_note: Mapped[str | None] = mapped_column(String(1000))
    outcome: Mapped[str | None] = mapped_column(String(20))  # vocab.Outcome
    resolution: Mapped[str | None] = mapped_column(Text)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(120))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("contact_hold.id"))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ComplaintAttempt(Base):
    """A contact attempt a complaint concerns (or the call in which it was made)."""

    __tablename__ = "complaint_attempt"
    __table_args__ = (UniqueConstraint("complaint_id", "attempt_id", name="uq_complaint_attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("contact_attempt.id"), index=True)
    linked_by: Mapped[str] = mapped_column(String(120))
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ComplaintEvent(Base):
    """One step of a complaint's timeline (opened, assigned, extended, resolved …), with who and when."""

    __tablename__ = "complaint_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(1000), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HoldLift(Base):
    """Lifting a contact hold: asked with a reason, decided by an approver (who, when, why).

    ``status``: ``requested`` → ``approved`` (the hold ends) | ``rejected`` | ``cancelled`` (the hold
    ended otherwise, e.g. its complaint was closed). A lift that needs no second person is ``approved``
    at once with the requester as approver."""

    __tablename__ = "contact_hold_lift"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("contact_hold.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    reason: Mapped[str] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(500))
