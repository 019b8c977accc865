"""Tables of outsourced collection (委外): agencies, their contracts, yearly reviews, staff register and
training, the monthly shares, placement batches and placements, and the monthly commission statements.

An agency works through a team of the kind ``agency`` (:class:`recoup.cases.models.Team`, ``team_id``):
its staff are app users of the role ``agency`` with a worker profile of the kind ``agency`` in that team,
so the queues, the payment-credit rules and the reports that read holders keep working. A case reaches an
agency only by a placement (:mod:`recoup.agencies.placement`), and an agency's users see exactly the cases
currently placed with their agency (:func:`recoup.cases.access.visible_cases`).

Money is integer minor units; rates and recovery rates are basis points (1 bp = 0.01 %).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, MoneyType, UTCDateTime, utcnow


class Agency(Base):
    """A collection agency (催收机构) on the lender's white list, or a candidate for it.

    ``status``: ``candidate`` → ``whitelisted`` (a passed review) → ``suspended`` (a failed review, or by
    decision) → ``whitelisted`` again, or ``removed`` (off the list for good; its placements recalled).
    ``review_due``: the yearly review's deadline; an agency past it takes no new placement.
    ``pipl_contract``: the personal-information processing contract of PIPL Art. 21 is signed (with its
    reference and date) — no placement without it."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(
        String(64), unique=True
    )  # as WorkerProfile.agency_code, QaFinding.agency
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="candidate", index=True)
    whitelisted_on: Mapped[dt.date | None] = mapped_column(Date)
    review_due: Mapped[dt.date | None] = mapped_column(Date)
    pipl_contract: Mapped[bool] = mapped_column(Boolean, default=False)
    pipl_contract_ref: Mapped[str | None] = mapped_column(String(100))
    pipl_signed_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgencyContract(Base):
    """A service contract: its dates, its rate card and its penalties.

    ``rates``: ``[{"bucket": "M4", "tiers": [{"min_recovery_bp": 0, "rate_bp": 1500}, …]}, …]`` — the
    commission rate of a bucket is the rate of the highest tier whose ``min_recovery_bp`` the month's
    recovery rate of that bucket reaches (the whole bucket's collections at that rate).
    ``complaint_penalty`` is deducted per complaint against the agency in the month, ``qa_penalty`` per
    red-line quality-inspection finding (minor units)."""

    __tablename__ = "agency_contract"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    rates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    complaint_penalty: Mapped[int] = mapped_column(MoneyType, default=0)
    qa_penalty: Mapped[int] = mapped_column(MoneyType, default=0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgencyReview(Base):
    """One yearly review (年度评估) of an agency: the outcome sets its white-list status and the next due
    date."""

    __tablename__ = "agency_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    reviewed_on: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))  # pass / fail
    note: Mapped[str] = mapped_column(String(500), default="")
    next_due: Mapped[dt.date | None] = mapped_column(Date)
    reviewed_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgencyStaff(Base):
    """The register of an agency's staff (委外人员名册): each one an app user of the role ``agency``."""

    __tablename__ = "agency_staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(60), default="collector")
    certificate_no: Mapped[str | None] = mapped_column(String(100))
    joined_on: Mapped[dt.date] = mapped_column(Date)
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgencyTraining(Base):
    """A training one staff member completed (合规培训), valid until ``expires_on`` (open when null)."""

    __tablename__ = "agency_training"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("agency_staff.id", ondelete="CASCADE"), index=True)
    course: Mapped[str] = mapped_column(String(200))
    completed_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    certificate_ref: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgencyShare(Base):
    """An agency's share of the placements of a month (赛马: the previous month's ranking sets it)."""

    __tablename__ = "agency_share"
    __table_args__ = (UniqueConstraint("month", "agency_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM the share applies to
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    share_bp: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int | None] = mapped_column(Integer)
    basis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the ranking row that set it
    set_by: Mapped[str] = mapped_column(String(120))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlacementBatch(Base):
    """One random, stratified placement (分批委外, 赛马): who, when, the seed, the strata and the shares
    it used, and when its placements expire."""

    __tablename__ = "placement_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    seed: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))  # tasks / cases
    bands: Mapped[list[int]] = mapped_column(JSON, default=list)  # balance band edges (minor units)
    shares: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # agency code → share (bp)
    notice_required: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Placement(Base):
    """One case placed with one agency (委外案件).

    ``status``: ``pending_notice`` (the borrower's notice is queued and not sent yet: CN-OUTSRC) →
    ``active`` (the agency holds the case from ``start_date``) → ``recalled`` (``ended_on``,
    ``end_reason``: expired, complaint, death, lawsuit, stopped, closed, delisted, manual); or
    ``cancelled`` before it became active (the notice could not go, the batch expired). Access ends with
    ``active``; ``deletion_confirmed_at`` records the agency's confirmation that it deleted the case's
    data after the recall."""

    __tablename__ = "agency_placement"
    __table_args__ = (Index("ix_agency_placement_agency_status", "agency_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("placement_batch.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending_notice", index=True)
    bucket: Mapped[str] = mapped_column(String(20))
    band: Mapped[str] = mapped_column(String(40))
    placed_amount: Mapped[int] = mapped_column(MoneyType, default=0)  # overdue at placement
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))  # the agency user holding it
    previous_holder_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    notice_key: Mapped[str | None] = mapped_column(String(64))  # the outbox message's key
    placed_on: Mapped[dt.date] = mapped_column(Date)
    start_date: Mapped[dt.date | None] = mapped_column(Date)  # active from (inclusive)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)  # recalled or cancelled on (exclusive)
    end_reason: Mapped[str | None] = mapped_column(String(30))
    end_note: Mapped[str] = mapped_column(String(500), default="")
    ended_by: Mapped[str | None] = mapped_column(String(120))
    deletion_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deletion_confirmed_by: Mapped[str | None] = mapped_column(String(120))
    deletion_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgencyStatement(Base):
    """An agency's monthly commission statement (佣金结算单), confirmed by both sides.

    ``lines`` are the commission kernel's rows per bucket; ``sha256`` hashes the statement's figures (in
    the ledger with each confirmation). ``status``: ``issued`` → ``confirmed`` once the lender
    (``agency.manage``) and the agency (one of its staff) have both confirmed; a statement with any
    confirmation can no longer be reissued."""

    __tablename__ = "agency_statement"
    __table_args__ = (UniqueConstraint("agency_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("agency_contract.id"))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    penalties: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    collected: Mapped[int] = mapped_column(MoneyType, default=0)
    gross: Mapped[int] = mapped_column(MoneyType, default=0)
    complaint_penalty: Mapped[int] = mapped_column(MoneyType, default=0)
    qa_penalty: Mapped[int] = mapped_column(MoneyType, default=0)
    net: Mapped[int] = mapped_column(MoneyType, default=0)
    payable: Mapped[int] = mapped_column(MoneyType, default=0)
    complaints_source: Mapped[str] = mapped_column(String(40), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="issued")
    issued_by: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lender_confirmed_by: Mapped[str | None] = mapped_column(String(120))
    lender_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    agency_confirmed_by: Mapped[str | None] = mapped_column(String(120))
    agency_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
