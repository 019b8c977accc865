"""Tables of the floor's case work: stops (停催 / 复催), assistance requests (协催), field visits (外访).

Kept apart from :mod:`recoup.cases.models` (cases, holders, promises) so each stays small; both are
imported by :mod:`recoup.models` for Alembic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class CaseStop(Base):
    """A stop of collection on a case (停催) with reason, evidence, approver and expiry; lifting it is 复催.

    ``status``: ``requested`` → ``active`` (approved) | ``rejected``; ``active`` → ``lifted`` | ``expired``.
    While active the case leaves queues, strategy and placement, and ``hold_id`` is the HOLD-STOP contact
    hold that makes the contact engine block it."""

    __tablename__ = "case_stop"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    reason: Mapped[str] = mapped_column(String(30))  # floor.StopReason
    note: Mapped[str] = mapped_column(String(500), default="")
    evidence_ref: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    lifted_by: Mapped[str | None] = mapped_column(String(120))
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lift_reason: Mapped[str | None] = mapped_column(String(500))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("contact_hold.id"))


class AssistRequest(Base):
    """A request for help (协催) from the holder to the field, skip-trace, legal or verification team;
    the case stays with its holder. ``status``: ``open`` → ``accepted`` → ``done`` | ``cancelled``."""

    __tablename__ = "assist_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # field / skip_trace / legal / verification
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(String(1000), default="")
    deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    result: Mapped[str | None] = mapped_column(String(20))  # success / failed / not_needed
    result_note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FieldVisit(Base):
    """A field visit (外访): approved before it happens, made by two registered staff, checked in by GPS
    inside a geofence around the address, reported in a structured form, with its cost.

    ``status``: ``requested`` → ``approved`` | ``rejected``; ``approved`` → ``checked_in`` → ``reported``;
    ``cancelled`` from any state before ``reported``."""

    __tablename__ = "field_visit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    address_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_point.id"))
    address_lat: Mapped[float] = mapped_column(Float)
    address_lon: Mapped[float] = mapped_column(Float)
    planned_on: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    agent1_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    agent2_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    checkin_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checkin_lat: Mapped[float | None] = mapped_column(Float)
    checkin_lon: Mapped[float | None] = mapped_column(Float)
    checkin_distance_m: Mapped[float | None] = mapped_column(Float)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)  # references to stored photos
    recording_ref: Mapped[str | None] = mapped_column(String(300))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the structured visit report
    cost_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    route_position: Mapped[int | None] = mapped_column(Integer)
    travel_min: Mapped[int | None] = mapped_column(Integer)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))
