"""Tables of funding partners (资金方), each loan's creditor over time and guarantor payouts (代偿).

A loan's creditor is the funding partner that holds its claim: from the extract's ``funding_partner`` on
first sight (no partner: the lender's own money, code ``own``), and from a guarantor payout's date the
guarantor that paid. Money is integer minor units; business dates are plain dates.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class FundingPartner(Base):
    """A funding partner: the lender's own money, a bank (联合贷), a trust (信托) or a guarantor company
    (融资担保公司). Whether it lets the lender waive and up to what; the share of recoveries it is owed."""

    __tablename__ = "funding_partner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)  # the extract's funding_partner value
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # own / bank / trust / guarantor
    permits_waivers: Mapped[bool] = mapped_column(Boolean, default=True)
    waiver_limit: Mapped[int | None] = mapped_column(BigInteger)  # per request, minor units; None: no cap
    waiver_max_bp: Mapped[int | None] = mapped_column(Integer)  # of what is owed, basis points; None: no cap
    recovery_share_bp: Mapped[int] = mapped_column(Integer, default=10_000)  # its part of what is recovered
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoanCreditor(Base):
    """From ``since`` (a business date) the loan's creditor is ``creditor`` (a partner code), until a later
    row. ``source``: ``extract`` (first sight of the loan's funding partner) or ``payout``."""

    __tablename__ = "loan_creditor"
    __table_args__ = (UniqueConstraint("loan_id", "since", "creditor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)  # the lender's loan id
    creditor: Mapped[str] = mapped_column(String(100), index=True)
    since: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("guarantor_payout.id"))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GuarantorPayout(Base):
    """A guarantor's payout (代偿) on a loan: ``amount`` paid to the creditor on ``paid_on``; from that day
    the guarantor is the loan's creditor."""

    __tablename__ = "guarantor_payout"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    guarantor: Mapped[str] = mapped_column(String(100), index=True)  # partner code
    previous_creditor: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    paid_on: Mapped[dt.date] = mapped_column(Date, index=True)
    reference: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
