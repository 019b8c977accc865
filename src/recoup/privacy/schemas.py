"""API shapes of personal-data protection: reveals and export requests."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from recoup.privacy.reveal import MAX_REASON

RevealField = Literal["phone", "national_id", "address"]
RevealReason = Literal[
    "verify_identity", "borrower_request", "field_visit", "legal_action", "complaint", "other"
]
ExportReason = Literal[
    "regulator_request",
    "internal_audit",
    "agency_reconciliation",
    "management_report",
    "legal_action",
    "other",
]


class RevealIn(BaseModel):
    fields: list[RevealField] | None = Field(
        default=None, max_length=3, description="what to reveal; default all three / 要查看的字段，默认全部"
    )
    reason_code: RevealReason = Field(default="other", description="why, from the list / 查看理由")
    reason: str = Field(
        default="",
        max_length=MAX_REASON,
        description="why, in words: at least 4 characters (required) / 理由说明，至少 4 个字（必填）",
    )


class ContactValueOut(BaseModel):
    id: int = Field(description="the contact point")
    role: str
    value: str


class RevealOut(BaseModel):
    case_id: int
    fields: list[str] = Field(description="the fields revealed (the others stay masked)")
    phones: list[ContactValueOut]
    national_id: str | None
    addresses: list[ContactValueOut]
    reason_code: str
    reason: str
    revealed_at: dt.datetime
    ledger_seq: int = Field(description="the audit ledger entry of this reveal / 审计记录序号")
    alert: bool = Field(description="this reveal raised the too-many-reveals alert / 本次查看触发了过量告警")


class ExportIn(BaseModel):
    format: Literal["csv", "xlsx"]
    reason_code: ExportReason = "other"
    reason: str = Field(
        default="", max_length=MAX_REASON, description="why, at least 4 characters / 导出理由，至少 4 个字"
    )


class DecisionIn(BaseModel):
    note: str = Field(default="", max_length=MAX_REASON, description="the approver's note / 审批意见")


class ExportOut(BaseModel):
    id: int
    requested_by: str
    requested_at: dt.datetime
    format: str
    reason_code: str
    reason: str
    rows: int = Field(description="open cases visible to the requester when asked")
    unmasked: bool = Field(description="the file shows names and phones in clear / 文件含未脱敏个人信息")
    status: str = Field(description="pending, approved, rejected, downloaded or expired")
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str
    expires_at: dt.datetime | None = Field(description="an approved export downloads until then, once")
    downloaded_at: dt.datetime | None
