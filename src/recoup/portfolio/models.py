"""Borrowers, contact points and accounts in collections in the operational database.

The lake is the bulk book; these tables hold what people work on: a mirror of each account in
collections (its loan, schedule and payments) and its borrower. Money is integer minor units.
National ids are stored encrypted with a keyed hash for exact-match lookup; contact values are
masked in every output by default (``recoup.pii``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from recoup.db import Base, MoneyType, UTCDateTime, utcnow


class Borrower(Base):
    __tablename__ = "borrower"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    national_id_enc: Mapped[str | None] = mapped_column(String(400))
    national_id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_type: Mapped[str | None] = mapped_column(String(30))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    # What the borrower said they prefer (contact log); the strategy's ``preferred_channel``.
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    preferred_hour: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contact_points: Mapped[list[ContactPoint]] = relationship(back_populates="borrower")
    accounts: Mapped[list[CollectionAccount]] = relationship(back_populates="borrower")


class ContactPoint(Base):
    __tablename__ = "contact_point"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(30))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    relation: Mapped[str | None] = mapped_column(String(50))
    consent_channels: Mapped[str | None] = mapped_column(String(100))
    consent_source: Mapped[str | None] = mapped_column(String(30))
    consent_date: Mapped[dt.date | None] = mapped_column(Date)
    is_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    # Wrong-number / unreachable results logged on this point; at the setting's limit it becomes invalid.
    failed_results: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # 失联修复: where a number added after intake came from and on what legal basis (never address books
    # or social data); null for the lender's own extract.
    source: Mapped[str | None] = mapped_column(String(30))
    legal_basis: Mapped[str | None] = mapped_column(String(200))
    added_by: Mapped[str | None] = mapped_column(String(120))
    added_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    borrower: Mapped[Borrower] = relationship(back_populates="contact_points")


class CollectionAccount(Base):
    """A loan in collections: a mirror of the lender's loan, refreshed from the lake."""

    __tablename__ = "collection_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)  # the lender's loan id
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(50))
    product_type: Mapped[str] = mapped_column(String(30))
    repayment_method: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[int] = mapped_column(MoneyType)
    annual_rate_bp: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(Integer)
    disbursement_date: Mapped[dt.date] = mapped_column(Date)
    loan_status: Mapped[str] = mapped_column(String(20))
    funding_partner: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open / closed (in collections)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_case.id"), index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    as_of: Mapped[dt.date] = mapped_column(Date)  # the extract date of the mirrored state
    outstanding_principal: Mapped[int] = mapped_column(MoneyType, default=0)
    overdue_amount: Mapped[int] = mapped_column(MoneyType, default=0)
    dpd: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    borrower: Mapped[Borrower] = relationship(back_populates="accounts")
    installments: Mapped[list[AccountInstallment]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="AccountInstallment.seq"
    )
    payments: Mapped[list[AccountPayment]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="AccountPayment.received_date"
    )


class AccountInstallment(Base):
    __tablename__ = "account_installment"
    __table_args__ = (UniqueConstraint("account_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("collection_account.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[dt.date] = mapped_column(Date)
    principal_due: Mapped[int] = mapped_column(MoneyType)
    interest_due: Mapped[int] = mapped_column(MoneyType)
    fee_due: Mapped[int] = mapped_column(MoneyType, default=0)
    penalty_due: Mapped[int] = mapped_column(MoneyType, default=0)
    principal_paid: Mapped[int] = mapped_column(MoneyType, default=0)
    interest_paid: Mapped[int] = mapped_column(MoneyType, default=0)
    fee_paid: Mapped[int] = mapped_column(MoneyType, default=0)
    penalty_paid: Mapped[int] = mapped_column(MoneyType, default=0)
    last_paid_date: Mapped[dt.date | None] = mapped_column(Date)

    account: Mapped[CollectionAccount] = relationship(back_populates="installments")


class AccountPayment(Base):
    __tablename__ = "account_payment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("collection_account.id", ondelete="CASCADE"), index=True
    )
    received_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(100))
    reverses: Mapped[str | None] = mapped_column(String(64))

    account: Mapped[CollectionAccount] = relationship(back_populates="payments")
