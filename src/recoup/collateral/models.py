"""Tables of collateral (抵质押物): items securing a loan, their valuation history, repossession and
disposal (auction, sale, transfer to an asset-management company) with proceeds and costs.

An item comes from the lake's ``collateral`` dataset (``external_id`` = its ``collateral_id``) or is added
by hand. Money is integer minor units; business dates are plain dates; timestamps aware UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class CollateralItem(Base):
    """An item securing a loan. ``status``: held → repossessed → disposed (or released)."""

    __tablename__ = "collateral_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # the extract's collateral_id
    loan_id: Mapped[str] = mapped_column(String(64), index=True)  # the lender's loan id
    kind: Mapped[str] = mapped_column(
        String(20)
    )  # vehicle / property / equipment / deposit / receivable / other
    description: Mapped[str] = mapped_column(String(500), default="")  # shown masked (it may hold PII)
    status: Mapped[str] = mapped_column(String(20), default="held", index=True)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    source: Mapped[str] = mapped_column(String(20))  # extract / manual
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollateralValuation(Base):
    """A value of an item on a date, with its source (the extract, an appraisal, the market …)."""

    __tablename__ = "collateral_valuation"
    __table_args__ = (UniqueConstraint("item_id", "valued_on", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("collateral_item.id"), index=True)
    valued_on: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(BigInteger)  # minor units
    source: Mapped[str] = mapped_column(String(20))  # extract / appraisal / market / auction / manual
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollateralRepossession(Base):
    """The repossession (收回) of an item: when, where it is kept, and what it cost."""

    __tablename__ = "collateral_repossession"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("collateral_item.id"), unique=True)
    repossessed_on: Mapped[dt.date] = mapped_column(Date)
    location: Mapped[str] = mapped_column(String(300), default="")
    costs: Mapped[int] = mapped_column(BigInteger, default=0)  # towing, storage … in minor units
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollateralDisposal(Base):
    """A disposal (处置) of an item. ``status``: requested → approved (four eyes) | rejected; approved →
    completed (proceeds and costs recorded; the net recovery applied to the account) | cancelled."""

    __tablename__ = "collateral_disposal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("collateral_item.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # auction / sale / amc_transfer
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    reserve_price: Mapped[int | None] = mapped_column(BigInteger)  # minor units, the least accepted
    reason: Mapped[str] = mapped_column(String(500))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(500))
    disposed_on: Mapped[dt.date | None] = mapped_column(Date)
    buyer: Mapped[str | None] = mapped_column(String(200))
    proceeds: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    costs: Mapped[int] = mapped_column(BigInteger, default=0)  # auction fee, taxes … minor units
    net_recovered: Mapped[int] = mapped_column(BigInteger, default=0)  # applied to the account
    payment_id: Mapped[str | None] = mapped_column(String(64))  # the receipt recorded on the account
    completed_by: Mapped[str | None] = mapped_column(String(120))
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
