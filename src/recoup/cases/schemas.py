"""API shapes of cases, transitions and promises. Money is a decimal string in major units."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class CaseSummary(BaseModel):
    id: int
    borrower_ref: str
    borrower_name: str = Field(description="masked / 已脱敏")
    state: str
    status: str
    grade: int
    holder: str | None
    held_since: dt.date | None
    opened_on: dt.date
    state_due: dt.date | None
    accounts: int
    overdue_amount: str
    max_dpd: int


class AccountOut(BaseModel):
    loan_ref: str
    product_code: str
    overdue_amount: str
    outstanding_principal: str
    dpd: int
    status: str


class TransitionOut(BaseModel):
    id: int
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    close_reason: str | None
    at: dt.datetime


class PromiseOut(BaseModel):
    id: int
    by: str
    amount: str
    made_on: dt.date
    due_date: dt.date
    status: str
    kept_amount: str
    made_by: str


class TaskOut(BaseModel):
    id: int
    case_id: int | None
    as_of: dt.date
    treatment: str
    queue: str
    status: str
    assignee: str | None
    due_at: dt.datetime | None
    result: str | None
    reason: str
    expected_value: float | None


class CaseDetail(CaseSummary):
    close_reason: str | None
    allowed_next: list[str]
    accounts_detail: list[AccountOut]
    promises: list[PromiseOut]
    open_tasks: list[TaskOut]


class TransitionIn(BaseModel):
    to_state: str = Field(max_length=20)
    reason: str = Field(min_length=1, max_length=500)
    close_reason: str | None = Field(default=None, max_length=30)


class PromiseIn(BaseModel):
    amount: str = Field(max_length=30, description='decimal string in major units, e.g. "500.00"')
    due_date: dt.date
    by: str = Field(default="debtor", pattern="^(debtor|third_party)$")
    made_at: dt.datetime | None = Field(default=None, description="default: now")
    recording_ref: str | None = Field(default=None, max_length=200)
