"""Tables of the legal domain: matters (with their accounts, stage moves, costs, documents and deadlines),
limitation periods (recorded restart events and each debt's computed status), write-offs and debt sales.

Money is integer minor units; timestamps aware UTC; business dates plain dates in the lender's timezone.
Documents are references (where the file is kept, and optionally its sha256), never the file itself.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class LegalMatter(Base):
    """A legal matter opened from a case: its route through the stages (:mod:`recoup.legal.stages`),
    court, the court's case number (案号), the amount claimed and, once at ``result``, its outcome."""

    __tablename__ = "legal_matter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    stage: Mapped[str] = mapped_column(String(30), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open / closed
    stage_since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    court: Mapped[str | None] = mapped_column(String(200))
    court_case_number: Mapped[str | None] = mapped_column(String(100))
    claim_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    result: Mapped[str | None] = mapped_column(String(30))  # stages.Result once closed
    recovered_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units, recorded at result
    reason: Mapped[str] = mapped_column(String(500))  # why it was opened
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    limitation_date: Mapped[dt.date | None] = mapped_column(Date)  # the earliest of its debts' at opening
    rule_version: Mapped[str] = mapped_column(String(40))  # the stage table that allowed the opening


class LegalMatterAccount(Base):
    """An account (debt) a matter pursues."""

    __tablename__ = "legal_matter_account"
    __table_args__ = (UniqueConstraint("matter_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("legal_matter.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("collection_account.id"), index=True)
    loan_id: Mapped[str] = mapped_column(String(64))


class LegalStageMove(Base):
    """One move of a matter between stages (``from_stage`` None for the opening), with who, when, why and
    the version of the stage table that allowed it."""

    __tablename__ = "legal_stage_move"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("legal_matter.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    on: Mapped[dt.date] = mapped_column(Date)  # the business day of the move
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(500))
    rule_version: Mapped[str] = mapped_column(String(40))


class LegalCost(Base):
    """A cost of a matter (court fee, lawyer's fee, preservation, enforcement, announcement …)."""

    __tablename__ = "legal_cost"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("legal_matter.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    incurred_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LegalDocument(Base):
    """A document of a matter, by reference (where it is kept), optionally with its sha256."""

    __tablename__ = "legal_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("legal_matter.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LegalDeadline(Base):
    """A deadline of a matter (hearing, appeal window, payment-order objection window, enforcement
    application …); ``source`` is ``stage`` for those the stage table sets, ``manual`` otherwise.

    ``status``: ``open`` → ``done`` | ``cancelled`` (a stage move cancels the open deadlines the stage
    table set for the stage left)."""

    __tablename__ = "legal_deadline"
    __table_args__ = (Index("ix_legal_deadline_open", "status", "due_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("legal_matter.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    due_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    stage: Mapped[str | None] = mapped_column(String(30))  # the stage that set it
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_by: Mapped[str | None] = mapped_column(String(120))
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LimitationEvent(Base):
    """An event recorded by a person that restarts (or, for ``acceleration``, starts) a debt's limitation
    period: an acknowledgement, a documented demand, a legal action, the acceleration of the loan.

    Payments, promises to pay, delivered messages, recorded conversations and legal matters' filings are
    read from where they are recorded; they are not copied here."""

    __tablename__ = "limitation_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("collection_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    on: Mapped[dt.date] = mapped_column(Date)
    evidence_ref: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LimitationStatus(Base):
    """A debt's limitation period as last computed
    (:func:`recoup.legal.limitation.do_refresh_limitations`)."""

    __tablename__ = "limitation_status"

    account_id: Mapped[int] = mapped_column(ForeignKey("collection_account.id"), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)
    start_on: Mapped[dt.date] = mapped_column(Date)
    last_event_on: Mapped[dt.date] = mapped_column(Date)
    last_event_kind: Mapped[str] = mapped_column(String(30))
    limitation_date: Mapped[dt.date] = mapped_column(Date, index=True)
    time_barred: Mapped[bool] = mapped_column(Boolean, default=False)
    as_of: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WriteOff(Base):
    """A write-off (核销) of a case's accounts, requested by one person and approved by another.

    ``status``: ``requested`` → ``approved`` | ``rejected``. Approved, the case is closed as
    ``written_off`` and stays collectable (账销案存); recoveries after ``written_off_on`` are reported
    apart."""

    __tablename__ = "write_off"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units: the balance written off
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    reason: Mapped[str] = mapped_column(String(500))
    evidence_ref: Mapped[str | None] = mapped_column(String(300))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(500))
    written_off_on: Mapped[dt.date | None] = mapped_column(Date)
    rule_version: Mapped[str | None] = mapped_column(String(40))  # the lifecycle table that allowed it


class WriteOffAccount(Base):
    """An account of a write-off and the balance written off on it."""

    __tablename__ = "write_off_account"
    __table_args__ = (UniqueConstraint("write_off_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    write_off_id: Mapped[int] = mapped_column(ForeignKey("write_off.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("collection_account.id"), index=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    principal: Mapped[int] = mapped_column(BigInteger)  # of which principal


class DebtSale(Base):
    """A debt sale (个贷不良批量转让): a selection of whole cases sold to a buyer at a cut-off date (基准日).

    ``status``: ``requested`` → ``approved`` | ``rejected`` | ``cancelled``; ``approved`` → ``transferred``
    (the hard stop: every case closed as ``sold``, a HOLD-STOP on each borrower, live tasks cancelled,
    pending messages blocked, the notice of transfer queued) | ``cancelled``."""

    __tablename__ = "debt_sale"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer: Mapped[str] = mapped_column(String(200))
    buyer_contact: Mapped[str] = mapped_column(String(200), default="")
    cutoff_date: Mapped[dt.date] = mapped_column(Date)
    transfer_date: Mapped[dt.date] = mapped_column(Date)
    price: Mapped[int | None] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(500))
    transferred_by: Mapped[str | None] = mapped_column(String(120))
    transferred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rule_version: Mapped[str | None] = mapped_column(String(40))
    pack_manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    pack_path: Mapped[str | None] = mapped_column(String(500))


class DebtSaleAccount(Base):
    """An account of a debt sale: its balance at selection and, once transferred, the hold placed on its
    borrower and the notice of transfer queued to them."""

    __tablename__ = "debt_sale_account"
    __table_args__ = (UniqueConstraint("sale_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("debt_sale.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("collection_account.id"), index=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    borrower_key: Mapped[str] = mapped_column(String(64))
    balance: Mapped[int] = mapped_column(BigInteger)  # minor units: the remaining balance at selection
    principal: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("contact_hold.id"))
    notice_message_id: Mapped[str | None] = mapped_column(String(100))
    notice_status: Mapped[str | None] = mapped_column(String(20))  # queued / no_address
