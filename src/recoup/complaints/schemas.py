"""The complaints and holds API's request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from recoup.complaints.vocab import Category, ComplaintKind, Outcome, RootCause, Source
from recoup.contact.policy.model import HoldKind
from recoup.contact.vocab import Channel
from recoup.web.deps import DbId


class ComplaintIn(BaseModel):
    kind: ComplaintKind = Field(
        default=ComplaintKind.COMPLAINT, description="complaint (HOLD-STOP) or dispute"
    )
    source: Source
    reference: str | None = Field(
        default=None,
        max_length=100,
        description="the regulator's or platform's number (required for 12378/12363)",
    )
    category: Category
    borrower_key: str | None = Field(default=None, max_length=64, description="the lender's borrower id")
    case_id: DbId | None = None
    summary: str = Field(default="", max_length=4000)
    received_on: dt.date | None = Field(default=None, description="default today; never in the future")
    collector_id: DbId | None = Field(default=None, description="the user complained about")
    agency: str | None = Field(default=None, max_length=64, description="the agency code complained about")
    attempt_ids: list[DbId] = Field(default_factory=list, max_length=50)
    handler_id: DbId | None = None


class AssignIn(BaseModel):
    handler_id: DbId


class ExtendIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why 15 days are not enough / 延期原因")


class SubjectIn(BaseModel):
    collector_id: DbId | None = None
    agency: str | None = Field(default=None, max_length=64)
    category: Category | None = None


class AttemptsIn(BaseModel):
    attempt_ids: list[DbId] = Field(min_length=1, max_length=50)


class ResolveIn(BaseModel):
    outcome: Outcome
    root_cause: RootCause
    resolution: str = Field(min_length=1, max_length=4000, description="what was done and told / 处理结果")
    root_cause_note: str | None = Field(default=None, max_length=1000)


class EventOut(BaseModel):
    at: dt.datetime
    actor: str
    kind: str
    note: str
    data: dict[str, Any]


class ComplaintOut(BaseModel):
    id: int
    kind: str
    source: str
    reference: str | None
    category: str
    borrower_key: str
    case_id: int | None
    summary: str
    collector_id: int | None
    collector: str | None
    agency: str | None
    received_on: dt.date
    deadline: dt.date
    days_left: int | None = Field(description="days to the deadline (negative: overdue); null once closed")
    overdue: bool
    extended_on: dt.date | None
    extension_reason: str | None
    extended_by: str | None
    handler_id: int | None
    handler: str | None
    status: str
    outcome: str | None
    root_cause: str | None
    root_cause_note: str | None
    resolution: str | None
    closed_on: dt.date | None
    closed_by: str | None
    closed_late: bool
    hold_id: int | None
    hold_rule: str | None = Field(description="HOLD-STOP (complaint) or HOLD-DISPUTE (dispute)")
    hold_active: bool
    attempt_ids: list[int]
    created_by: str
    created_at: dt.datetime


class ComplaintDetail(ComplaintOut):
    timeline: list[EventOut]


class HoldIn(BaseModel):
    borrower_key: str = Field(min_length=1, max_length=64)
    kind: HoldKind
    reason: str = Field(min_length=1, max_length=500)
    channels: list[Channel] | None = Field(default=None, description="null: every channel")
    start: dt.datetime | None = Field(default=None, description="default now")
    end: dt.datetime | None = Field(default=None, description="null: until lifted (the policy blocks)")
    evidence: str | None = Field(default=None, max_length=500)


class LiftIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why contact may resume / 解除原因")


class DecideIn(BaseModel):
    note: str = Field(default="", max_length=500)


class LiftOut(BaseModel):
    id: int
    hold_id: int
    status: str
    reason: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None


class HoldOut(BaseModel):
    id: int
    borrower_key: str
    kind: str
    rule: str
    channels: list[str] | None
    start_at: dt.datetime
    end_at: dt.datetime | None
    active: bool
    reason: str
    evidence: str | None
    approved_by: str | None
    created_by: str
    created_at: dt.datetime
    origin: str = Field(description="complaint, stop, opt_out or manual")
    origin_id: int | None
    four_eyes: bool = Field(description="lifting needs a second person's approval")
    lifts: list[LiftOut]
