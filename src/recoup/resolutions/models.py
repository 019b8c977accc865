"""Tables of plans, waivers and settlements (还款计划、减免、和解), their instalments, hardship evidence,
and the documents made for them (the signed agreement, the settlement certificate 结清证明).

A :class:`Resolution` snapshots what the case owed per component when it was asked for (``owed_*``), what
is waived of each (``waive_*``, in the order penalty → fee → interest → principal) and the agreed sum that
must arrive (``agreed_amount``; with a plan's interest, ``total_due``) in ``instalment_count`` instalments.
``status``: ``pending`` (awaiting approval) → ``active`` (approved; the agreed sum is awaited) |
``rejected`` | ``withdrawn``; ``active`` → ``honoured`` (paid in time: the waiver takes effect) | ``lapsed``
(a waiver or settlement whose money did not arrive by its deadline: nothing is waived) | ``broken`` (a plan
with a missed instalment: the case returns to collection).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class Resolution(Base):
    __tablename__ = "resolution"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # plan / waiver / settlement
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    base: Mapped[str] = mapped_column(String(10))  # overdue / whole
    currency: Mapped[str] = mapped_column(String(3))
    bucket: Mapped[str] = mapped_column(String(10))
    product: Mapped[str] = mapped_column(String(50))
    product_type: Mapped[str] = mapped_column(String(30))
    loans: Mapped[list[str]] = mapped_column(JSON, default=list)  # the loans (external ids) it covers
    owed_penalty: Mapped[int] = mapped_column(BigInteger)
    owed_fee: Mapped[int] = mapped_column(BigInteger)
    owed_interest: Mapped[int] = mapped_column(BigInteger)
    owed_principal: Mapped[int] = mapped_column(BigInteger)
    waive_penalty: Mapped[int] = mapped_column(BigInteger, default=0)
    waive_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    waive_interest: Mapped[int] = mapped_column(BigInteger, default=0)
    waive_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    agreed_amount: Mapped[int] = mapped_column(BigInteger)  # owed − waived
    total_due: Mapped[int] = mapped_column(BigInteger)  # agreed + a plan's interest
    instalment_count: Mapped[int] = mapped_column(Integer, default=1)
    first_due: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)  # the last instalment's due date
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    lag_days: Mapped[int] = mapped_column(Integer, default=1)
    starts_on: Mapped[dt.date] = mapped_column(Date)  # payments received from this day count
    pack_id: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(500), default="")
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    requester_role: Mapped[str | None] = mapped_column(String(40))
    team: Mapped[str | None] = mapped_column(String(80), index=True)  # whose monthly budget it uses
    required_role: Mapped[str] = mapped_column(String(40))
    rules: Mapped[list[str]] = mapped_column(JSON, default=list)  # "line:rule" that decided the role
    matrix_version: Mapped[str] = mapped_column(String(120))
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    decider_role: Mapped[str | None] = mapped_column(String(40))
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    approval_basis: Mapped[str | None] = mapped_column(String(80))  # own_authority / two_step / pack:ID
    decided_matrix: Mapped[str | None] = mapped_column(String(120))
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # counted toward it so far
    judged_as_of: Mapped[dt.date | None] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)  # honoured, lapsed or broken on
    missed_seq: Mapped[int | None] = mapped_column(Integer)  # the instalment that broke it

    @property
    def waived(self) -> dict[str, int]:
        return {
            "penalty": self.waive_penalty,
            "fee": self.waive_fee,
            "interest": self.waive_interest,
            "principal": self.waive_principal,
        }

    @property
    def owed(self) -> dict[str, int]:
        return {
            "penalty": self.owed_penalty,
            "fee": self.owed_fee,
            "interest": self.owed_interest,
            "principal": self.owed_principal,
        }

    @property
    def waived_total(self) -> int:
        return sum(self.waived.values())

    @property
    def owed_total(self) -> int:
        return sum(self.owed.values())


class ResolutionInstalment(Base):
    """One instalment of a resolution (a waiver or settlement has one: the agreed sum by the deadline).
    ``paid`` is what the payments counted so far cover of it (oldest instalment first)."""

    __tablename__ = "resolution_instalment"
    __table_args__ = (UniqueConstraint("resolution_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resolution_id: Mapped[int] = mapped_column(ForeignKey("resolution.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending / paid / missed


class ResolutionEvidence(Base):
    """Hardship evidence attached to a request: a reference to a document kept elsewhere, and a note."""

    __tablename__ = "resolution_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resolution_id: Mapped[int] = mapped_column(ForeignKey("resolution.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(String(1000), default="")
    added_by: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResolutionDocument(Base):
    """A PDF made for a case: a resolution's ``agreement`` or an account's settlement ``certificate``.

    The file is kept under ``DATA_DIR/documents/`` (``path`` is relative to it); ``sha256`` is the file's
    hash, recorded in the audit ledger entry ``ledger_seq``. A certificate also records the ledger entry
    of its facts (``facts_seq``, printed on it) and their hash."""

    __tablename__ = "resolution_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # agreement / certificate
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    resolution_id: Mapped[int | None] = mapped_column(ForeignKey("resolution.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("collection_account.id"), index=True)
    basis: Mapped[str | None] = mapped_column(String(20))  # a certificate's: paid / settled
    locale: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    ledger_seq: Mapped[int] = mapped_column(Integer)
    facts_sha256: Mapped[str | None] = mapped_column(String(64))
    facts_seq: Mapped[int | None] = mapped_column(Integer)
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
