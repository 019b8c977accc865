"""API shapes of outsourced collection. Money is a decimal string in major units ("500.00"); rates and
recovery rates are basis points (1500 = 15 %)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

#: A row id: 1 … 2^31 − 1 (the tables' INTEGER keys).
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
RecallReason = Literal["expired", "complaint", "death", "lawsuit", "stopped", "closed", "delisted", "manual"]


class AgencyIn(BaseModel):
    code: str = Field(min_length=2, max_length=64, description="the agency's code (letters, digits, . _ -)")
    name: str = Field(min_length=1, max_length=200)
    team: str | None = Field(
        default=None,
        max_length=80,
        description="an existing team of the kind agency to link (default: a new one)",
    )
    note: str = Field(default="", max_length=500)


class PiplIn(BaseModel):
    ref: str = Field(default="", max_length=100, description="the processing contract's reference / 协议编号")
    signed_on: dt.date
    signed: bool = Field(default=True, description="false withdraws it (no new placement)")


class TierIn(BaseModel):
    min_recovery_bp: int = Field(ge=0, le=10_000, description="from this month's recovery rate (bp)")
    rate_bp: int = Field(ge=0, le=10_000, description="the commission rate (bp)")


class BucketRatesIn(BaseModel):
    bucket: str = Field(max_length=10, description="C, M1 … M6, M7+, or * for any other bucket")
    tiers: list[TierIn] = Field(min_length=1, max_length=20)


class ContractIn(BaseModel):
    ref: str = Field(min_length=1, max_length=100)
    start: dt.date
    end: dt.date
    rates: list[BucketRatesIn] = Field(min_length=1, max_length=20)
    complaint_penalty: str = Field(default="0", max_length=30, description='per complaint, e.g. "500.00"')
    qa_penalty: str = Field(default="0", max_length=30, description='per red-line QA finding, e.g. "200.00"')


class ReviewIn(BaseModel):
    outcome: Literal["pass", "fail"]
    reviewed_on: dt.date
    note: str = Field(default="", max_length=500)


class StatusIn(BaseModel):
    status: Literal["suspended", "removed"]
    reason: str = Field(min_length=1, max_length=500)
    on: dt.date | None = None


class StaffIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    joined_on: dt.date
    title: str = Field(default="collector", min_length=1, max_length=60)
    certificate_no: str | None = Field(default=None, max_length=100)


class LeaveIn(BaseModel):
    left_on: dt.date


class TrainingIn(BaseModel):
    course: str = Field(min_length=1, max_length=200)
    completed_on: dt.date
    expires_on: dt.date | None = None
    certificate_ref: str | None = Field(default=None, max_length=100)


class ContractOut(BaseModel):
    id: int
    ref: str
    start: dt.date
    end: dt.date
    rates: list[BucketRatesIn]
    complaint_penalty: str
    qa_penalty: str


class StaffOut(BaseModel):
    username: str
    display_name: str
    title: str
    certificate_no: str | None
    joined_on: dt.date
    left_on: dt.date | None
    active: bool
    course: str | None
    trained_on: dt.date | None
    training_expires: dt.date | None
    trained: bool = Field(description="holds a valid training today (may hold placed cases)")


class AgencyOut(BaseModel):
    id: int
    code: str
    name: str
    team: str
    status: str = Field(description="candidate, whitelisted, suspended or removed")
    whitelisted_on: dt.date | None
    review_due: dt.date | None
    pipl_contract: bool
    pipl_contract_ref: str | None
    problems: list[str] = Field(description="why it may not receive placements today (empty: it may)")
    active_placements: int


class AgencyDetailOut(AgencyOut):
    contracts: list[ContractOut]
    staff: list[StaffOut]


class BatchIn(BaseModel):
    as_of: dt.date | None = Field(default=None, description="the placement day (default: today)")
    case_ids: list[RowId] | None = Field(
        default=None,
        max_length=10_000,
        description="exactly these cases (default: open agency_placement tasks)",
    )
    agencies: list[str] | None = Field(
        default=None, max_length=50, description="agency codes (default: all eligible)"
    )
    seed: int | None = Field(default=None, ge=0, lt=2**31)
    days: int = Field(default=30, ge=1, le=366, description="days until the placements expire")


class PlacementOut(BaseModel):
    id: int
    batch_id: int
    case_id: int
    agency: str
    status: str = Field(description="pending_notice, active, recalled or cancelled")
    bucket: str
    band: str
    placed_amount: str
    holder: str | None
    placed_on: dt.date
    start_date: dt.date | None
    expires_on: dt.date
    ended_on: dt.date | None
    end_reason: str | None
    deletion_confirmed_at: dt.datetime | None
    deletion_confirmed_by: str | None


class BatchOut(BaseModel):
    id: int
    as_of: dt.date
    expires_on: dt.date
    seed: int
    source: str
    shares: dict[str, int] = Field(description="agency code → share (bp)")
    notice_required: bool = Field(description="the preset requires the borrower's notice first (CN-OUTSRC)")
    counts: dict[str, object]
    placements: list[PlacementOut]


class RecallIn(BaseModel):
    reason: RecallReason = "manual"
    note: str = Field(default="", max_length=500)
    on: dt.date | None = None


class DayIn(BaseModel):
    as_of: dt.date | None = None


class DayOut(BaseModel):
    activated: int
    cancelled: int
    recalled: dict[str, int]


class DeletionIn(BaseModel):
    placement_ids: list[RowId] = Field(min_length=1, max_length=10_000)
    ref: str = Field(min_length=1, max_length=200, description="the agency's reference for the deletion")


class MonthIn(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class ReportRowOut(BaseModel):
    code: str
    name: str
    status: str
    placements: int
    placed_amount: str
    collected: str
    recovery_bp: int
    gross: str
    complaint_penalty: str
    qa_penalty: str
    payable: str
    complaints: int
    complaints_per_10k: float
    vetoed: bool
    rank: int
    next_share_bp: int


class ShareOut(BaseModel):
    month: str
    agency: str
    share_bp: int
    rank: int | None


class StatementLineOut(BaseModel):
    bucket: str
    placements: int
    placed_amount: str
    collected: str
    recovery_bp: int
    tier_min_bp: int | None
    rate_bp: int
    commission: str


class StatementOut(BaseModel):
    id: int
    agency: str
    month: str
    status: str = Field(description="issued, or confirmed once both sides confirmed")
    lines: list[StatementLineOut]
    collected: str
    gross: str
    complaint_penalty: str
    qa_penalty: str
    net: str
    payable: str
    complaints_source: str = Field(description="register, or none without a complaints register")
    sha256: str
    issued_by: str
    issued_at: dt.datetime
    lender_confirmed_by: str | None
    lender_confirmed_at: dt.datetime | None
    agency_confirmed_by: str | None
    agency_confirmed_at: dt.datetime | None


class MyAgencyOut(BaseModel):
    agency: str
    name: str
    placements: list[PlacementOut] = Field(description="the cases placed with the agency now")
    awaiting_deletion: list[PlacementOut] = Field(description="recalled: confirm the deletion of their data")
    statements: list[StatementOut]
