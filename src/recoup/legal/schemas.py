"""Pydantic models of the legal API. Money travels as decimal strings in currency units ("1234.50")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, Field

from recoup.legal.limitation import ManualKind
from recoup.legal.stages import CostKind, DeadlineKind, DocumentKind, Result, Stage

DbId = Annotated[int, Ge(1), Le(2**31 - 1)]
Amount = Annotated[str, Field(min_length=1, max_length=40, description="decimal, currency units / 金额")]
LoanId = Annotated[str, Field(min_length=1, max_length=64)]


class MatterOpenIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why the matter is opened / 立案理由")
    court: str | None = Field(default=None, max_length=200)
    claim_amount: Amount | None = Field(default=None, description="default: the debts' remaining balance")
    loan_ids: list[LoanId] | None = Field(
        default=None, max_length=200, description="default: every open debt"
    )
    acknowledge_time_barred: bool = Field(
        default=False, description="open it even though a debt is past its limitation date / 确认已过诉讼时效"
    )


class StageMoveIn(BaseModel):
    to_stage: Stage
    reason: str = Field(min_length=1, max_length=500)
    result: Result | None = Field(default=None, description="required when to_stage is result")
    recovered_amount: Amount | None = None


class MatterUpdateIn(BaseModel):
    court: str | None = Field(default=None, max_length=200)
    court_case_number: str | None = Field(default=None, max_length=100, description="案号")
    claim_amount: Amount | None = None


class CostIn(BaseModel):
    kind: CostKind
    amount: Amount
    incurred_on: dt.date
    note: str = Field(default="", max_length=500)


class DocumentIn(BaseModel):
    kind: DocumentKind
    title: str = Field(min_length=1, max_length=200)
    reference: str = Field(
        min_length=1, max_length=300, description="where the document is kept, not the file"
    )
    sha256: str | None = Field(default=None, max_length=64)


class DeadlineIn(BaseModel):
    kind: DeadlineKind
    due_on: dt.date
    note: str = Field(default="", max_length=500)


class DeadlineCloseIn(BaseModel):
    status: Literal["done", "cancelled"]


class MoveOut(BaseModel):
    id: int
    from_stage: str | None
    to_stage: str
    on: dt.date
    at: dt.datetime
    actor: str
    reason: str
    rule_version: str


class CostOut(BaseModel):
    id: int
    kind: str
    amount: str
    currency: str
    incurred_on: dt.date
    note: str
    recorded_by: str


class DocumentOut(BaseModel):
    id: int
    kind: str
    title: str
    reference: str
    sha256: str | None
    recorded_by: str
    recorded_at: dt.datetime


class DeadlineOut(BaseModel):
    id: int
    matter_id: int
    kind: str
    due_on: dt.date
    note: str
    source: str
    stage: str | None
    status: str


class MatterOut(BaseModel):
    id: int
    case_id: int
    stage: str
    status: str
    stage_since: dt.datetime
    court: str | None
    court_case_number: str | None
    claim_amount: str
    currency: str
    result: str | None
    recovered_amount: str
    opened_by: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    limitation_date: dt.date | None
    rule_version: str
    allowed_moves: list[str]
    loan_ids: list[str]
    cost_total: str
    next_deadline: dt.date | None
    tasks_completed: list[int] = Field(default_factory=list, description="legal review tasks completed")


class MatterDetailOut(MatterOut):
    moves: list[MoveOut]
    costs: list[CostOut]
    documents: list[DocumentOut]
    deadlines: list[DeadlineOut]


class LimitationOut(BaseModel):
    case_id: int | None
    loan_id: str
    limitation_date: dt.date
    last_event_on: dt.date
    last_event_kind: str
    days_left: int
    time_barred: bool
    overdue_amount: str


class LimitationEventIn(BaseModel):
    loan_id: LoanId
    kind: ManualKind
    on: dt.date
    evidence_ref: str = Field(min_length=3, max_length=300, description="where the evidence is kept / 证据")
    note: str = Field(default="", max_length=500)


class LimitationEventOut(BaseModel):
    id: int
    loan_id: str
    kind: str
    on: dt.date
    evidence_ref: str
    recorded_by: str


class RefreshIn(BaseModel):
    as_of: dt.date | None = Field(default=None, description="default: today in the lender's timezone")


class RefreshOut(BaseModel):
    as_of: dt.date
    debts: int
    barred: int
    approaching: int
    flagged: list[str]
    cleared: list[str]


class WriteOffIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    evidence_ref: str | None = Field(default=None, max_length=300)


class DecisionIn(BaseModel):
    note: str = Field(default="", max_length=500)


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class WriteOffAccountOut(BaseModel):
    loan_id: str
    amount: str
    principal: str


class WriteOffOut(BaseModel):
    id: int
    case_id: int
    status: str
    amount: str
    currency: str
    reason: str
    evidence_ref: str | None
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    written_off_on: dt.date | None
    rule_version: str | None
    accounts: list[WriteOffAccountOut]


class RecoveriesOut(BaseModel):
    start: dt.date
    end: dt.date
    payments: int
    totals: dict[str, str] = Field(description="collections / after_write_off / buyer")


class SaleIn(BaseModel):
    buyer: str = Field(min_length=1, max_length=200)
    buyer_contact: str = Field(default="", max_length=200)
    cutoff_date: dt.date = Field(description="基准日")
    transfer_date: dt.date
    case_ids: list[DbId] = Field(default_factory=list, max_length=10_000)
    loan_ids: list[LoanId] = Field(default_factory=list, max_length=10_000)
    price: Amount | None = None
    note: str = Field(default="", max_length=500)


class SaleAccountOut(BaseModel):
    case_id: int
    loan_id: str
    balance: str
    principal: str
    hold_id: int | None
    notice_status: str | None
    notice_message_id: str | None


class SaleOut(BaseModel):
    id: int
    buyer: str
    buyer_contact: str
    cutoff_date: dt.date
    transfer_date: dt.date
    price: str | None
    currency: str
    status: str
    note: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    transferred_by: str | None
    transferred_at: dt.datetime | None
    rule_version: str | None
    cases: int
    accounts: int
    balance: str
    pack_manifest_sha256: str | None


class SaleDetailOut(SaleOut):
    items: list[SaleAccountOut]


class TransferOut(BaseModel):
    sale: SaleOut
    cases: list[int]
    holds: list[int]
    tasks_cancelled: list[int]
    messages_blocked: int
    notices: list[str]
    no_address: list[int]
    placements_recalled: list[int]


class BuyerPaymentOut(BaseModel):
    loan_id: str
    payment_id: str
    received_date: dt.date
    amount: str


class BuyerPaymentsOut(BaseModel):
    sale_id: int
    cutoff_date: dt.date
    total: str
    payments: list[BuyerPaymentOut]


class PackOut(BaseModel):
    sale_id: int
    manifest_sha256: str
    manifest: dict[str, Any]
