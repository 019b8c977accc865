"""API shapes of plans, waivers and settlements (amounts are decimal strings in major units)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["plan", "waiver", "settlement"]
Base = Literal["overdue", "whole"]
Locale = Literal["zh_CN", "en"]
_AMOUNT = 'decimal string in major units, e.g. "3200.00"'


class EvidenceIn(BaseModel):
    reference: str = Field(
        min_length=1, max_length=300, description="where the document is kept / 证明材料编号"
    )
    note: str = Field(default="", max_length=1000)


class ResolutionIn(BaseModel):
    """Give ``pay`` (the agreed sum) or ``waive`` (the amount waived) for a waiver or settlement; a plan
    may waive something too. Waivers are split penalty → fee → interest → principal."""

    kind: Kind
    base: Base | None = Field(default=None, description="overdue (default) or whole; a settlement is whole")
    pay: str | None = Field(default=None, max_length=30, description=_AMOUNT)
    waive: str | None = Field(default=None, max_length=30, description=_AMOUNT)
    instalments: int = Field(default=1, ge=1, le=480, description="a plan's number of monthly instalments")
    first_due: dt.date | None = Field(default=None, description="a plan's first due date")
    deadline: dt.date | None = Field(default=None, description="a waiver's or settlement's deadline")
    pack: str | None = Field(default=None, max_length=60, description="a pre-approved offer pack's id")
    reason: str = Field(default="", max_length=500)
    locale: Locale | None = Field(default=None, description="the agreement's language")
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=10)


class DecisionIn(BaseModel):
    note: str = Field(default="", max_length=500)


class CertificateIn(BaseModel):
    loan_id: str = Field(min_length=1, max_length=64, description="the lender's loan id")
    locale: Locale = "zh_CN"


class InstalmentOut(BaseModel):
    seq: int
    due_date: dt.date
    amount: str
    paid: str
    status: str


class DocumentOut(BaseModel):
    id: int
    number: str
    kind: str
    locale: str
    sha256: str
    ledger_seq: int
    facts_seq: int | None = None
    basis: str | None = None
    created_at: dt.datetime
    download: str


class EvidenceOut(BaseModel):
    id: int
    reference: str
    note: str
    added_by: str
    added_at: dt.datetime


class ResolutionOut(BaseModel):
    id: int
    case_id: int
    kind: str
    status: str
    base: str
    bucket: str
    currency: str
    owed: dict[str, str]
    waived: dict[str, str]
    waived_total: str
    agreed: str
    total_due: str
    paid: str
    instalments: list[InstalmentOut]
    deadline: dt.date
    starts_on: dt.date
    pack: str | None
    reason: str
    required_role: str
    rules: list[str]
    matrix_version: str
    requested_by: str
    requested_at: dt.datetime
    requester_role: str | None
    team: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decider_role: str | None
    approval_basis: str | None
    decided_matrix: str | None
    decision_note: str
    judged_as_of: dt.date | None
    ended_on: dt.date | None
    missed_seq: int | None
    evidence: list[EvidenceOut]
    agreement: DocumentOut | None


class PackOut(BaseModel):
    id: str
    kind: str
    title: str
    base: str | None
    components: list[str]
    max_pct: str
    max_amount: str
    deadline_days: int | None
    max_instalments: int | None


class BudgetOut(BaseModel):
    team: str | None
    month: str
    limit: str
    used: str
    left: str
