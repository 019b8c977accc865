"""Contact tables: every attempt by anyone, holds, consents, borrower flags, and the outbox.

Destinations (phone numbers, addresses) are personal data: the attempts, consents and holds keep a
keyed lookup hash (equality is all the rules need) and a masked form for people; only the outbox, which
must deliver, keeps the destination itself, encrypted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class ContactAttempt(Base):
    """One contact attempt by a collector, the dispatcher, an agency (imported log) or the simulator."""

    __tablename__ = "contact_attempt"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_contact_attempt_source_external"),
        Index("ix_contact_attempt_borrower_at", "borrower_key", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # collector / dispatcher / agency / simulator
    external_id: Mapped[str] = mapped_column(String(100))  # the source's own id (message id, log row id)
    borrower_key: Mapped[str] = mapped_column(String(64))  # the lender's borrower id
    debt_key: Mapped[str | None] = mapped_column(String(64), index=True)  # the lender's loan id
    party: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    destination_hash: Mapped[str] = mapped_column(String(64))
    destination_masked: Mapped[str] = mapped_column(String(200))
    destination_kind: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20))
    disposition: Mapped[str | None] = mapped_column(String(30))
    recording_ref: Mapped[str | None] = mapped_column(String(300))
    made_by: Mapped[str] = mapped_column(String(100))  # user name, agency code or "dispatcher"
    agency: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str | None] = mapped_column(Text)  # what was said or sent, for the audit's linter
    preset: Mapped[str | None] = mapped_column(String(80))  # the preset version that allowed it, if judged
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactHold(Base):
    """A hold (HOLD-*): from start until end (open-ended when null) on the channels named (all when null)."""

    __tablename__ = "contact_hold"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)
    debt_key: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channels: Mapped[list[str] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), default="")
    evidence: Mapped[str | None] = mapped_column(String(500))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # when it became known


class ContactConsent(Base):
    """A consent per channel and destination (who gave it, when, how) and its revocation."""

    __tablename__ = "contact_consent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    destination_hash: Mapped[str] = mapped_column(String(64))  # "*" for every destination
    scope: Mapped[str] = mapped_column(String(20), default="contact")
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    given_by: Mapped[str] = mapped_column(String(100), default="borrower")
    how: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ContactFlag(Base):
    """A borrower flag (vulnerable, no_work_contact, time_barred …) set and perhaps cleared."""

    __tablename__ = "contact_flag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)
    flag: Mapped[str] = mapped_column(String(40))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    set_by: Mapped[str] = mapped_column(String(100), default="system")


class OutboxMessage(Base):
    """A planned message: written with the decision that planned it, sent after commit by the dispatcher.

    ``key`` (a hash of as-of, account and slot) is unique, so planning the same message twice is a no-op;
    ``message_id`` is the stable id receivers deduplicate on (at-least-once delivery).
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    as_of: Mapped[dt.date | None] = mapped_column(Date)
    borrower_key: Mapped[str] = mapped_column(String(64), index=True)
    debt_key: Mapped[str | None] = mapped_column(String(64))
    party: Mapped[str] = mapped_column(String(20), default="debtor")
    channel: Mapped[str] = mapped_column(String(20))
    plugin: Mapped[str] = mapped_column(String(40))  # which channel plugin delivers it
    destination_enc: Mapped[str] = mapped_column(String(600))
    destination_hash: Mapped[str] = mapped_column(String(64))
    destination_kind: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(120))  # name@version
    decision: Mapped[str | None] = mapped_column(String(200))  # what planned it (strategy node, arm …)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # incl. claims a crash lost
    next_try_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    verdict: Mapped[str | None] = mapped_column(String(20))
    verdict_rules: Mapped[list[str] | None] = mapped_column(JSON)
    preset: Mapped[str | None] = mapped_column(String(80))
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The end of the message's validity window: never sent after it (status ``expired``); null = no window.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CallTranscript(Base):
    """A call's transcript as the dialer exported it: both speakers, with times in seconds from the start."""

    __tablename__ = "call_transcript"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("contact_attempt.id", ondelete="CASCADE"), unique=True)
    segments: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QaFinding(Base):
    """Something quality inspection (录音质检) found in a contact, by machine or by a reviewer."""

    __tablename__ = "qa_finding"
    __table_args__ = (UniqueConstraint("attempt_id", "rule", "excerpt", name="uq_qa_finding"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("contact_attempt.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(20))  # red_line / major / minor
    excerpt: Mapped[str] = mapped_column(String(300), default="")
    at_seconds: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(500), default="")
    made_by: Mapped[str] = mapped_column(String(100))  # the collector the finding is about
    agency: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open / confirmed / dismissed / appealed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QaReview(Base):
    """A human review of one contact (the sample) and, if appealed, the second reviewer's decision."""

    __tablename__ = "qa_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("contact_attempt.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str] = mapped_column(String(40))  # sample / red_line / appeal
    status: Mapped[str] = mapped_column(
        String(20), default="queued"
    )  # queued / passed / failed / appealed / closed
    reviewer: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(String(1000))
    appeal_note: Mapped[str | None] = mapped_column(String(1000))
    appeal_reviewer: Mapped[str | None] = mapped_column(String(100))
    appeal_decision: Mapped[str | None] = mapped_column(String(20))  # upheld / overturned
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StandDown(Base):
    """A collector stood down after a red-line finding (case management will not assign them cases)."""

    __tablename__ = "collector_standdown"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collector: Mapped[str] = mapped_column(String(100), index=True)
    agency: Mapped[str | None] = mapped_column(String(64))
    finding_id: Mapped[int] = mapped_column(ForeignKey("qa_finding.id", ondelete="CASCADE"))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(100))


class ChannelCallback(Base):
    """A provider callback (receipt or reply) whose signature checked out, kept so that the same event
    (same channel and provider id) is applied once however often the provider posts it. Ids and
    hashes only: never the sender or the text."""

    __tablename__ = "channel_callback"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_channel_callback_channel_provider_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str] = mapped_column(String(200))  # the provider's event id (or one derived)
    kind: Mapped[str] = mapped_column(String(20))  # receipt / inbound / unknown
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    result: Mapped[str] = mapped_column(String(40))  # delivered, opt_out, reply, unmatched …
    message_id: Mapped[str | None] = mapped_column(String(100))  # the outbox message it concerned
