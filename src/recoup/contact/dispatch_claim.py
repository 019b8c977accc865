"""Claiming and expiry: the statements that claim due outbox messages (fenced on the claim's token),
mark pending messages past their validity window ``expired``, and the retry backoff (split from
:mod:`recoup.contact.dispatch`)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from recoup.config import Settings
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import OutboxStatus

__all__ = ["EXPIRED_NOTE", "MAX_CLAIMS_PER_TRY", "Item", "backoff_seconds", "claim", "expire_due", "fence"]

EXPIRED_NOTE = "not sent within its validity window (RECOUP_MESSAGE_VALIDITY_HOURS) · 已过有效期，未发送"


def expire_due(engine: Engine, *, now: dt.datetime, limit: int) -> list[str]:
    """Mark up to ``limit`` pending messages whose validity window closed by ``now`` ``expired``; their
    message ids."""
    m = OutboxMessage
    candidates = (
        select(m.id)
        .where(
            m.status == OutboxStatus.PENDING.value,
            m.due_at <= now,  # a message is due no later than it expires (deferrals past it expire at once)
            m.expires_at.is_not(None),
            m.expires_at <= now,
        )
        .order_by(m.expires_at, m.id)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(m)
        .where(m.id.in_(candidates.scalar_subquery()), m.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.EXPIRED.value, next_try_at=None, last_error=EXPIRED_NOTE)
        .returning(m.message_id)
    )
    with engine.begin() as conn:
        return sorted(str(i) for i in conn.execute(stmt).scalars())


def backoff_seconds(tries: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Delay before try ``tries + 1``: base·2^(tries−1) capped, times a jitter in [0.5, 1)."""
    cap = min(
        settings.dispatch_backoff_max_seconds, settings.dispatch_backoff_seconds * 2 ** max(tries - 1, 0)
    )
    jitter: float = (rng or random.Random()).random()
    return float(cap) * (0.5 + jitter / 2)


#: A message claimed more than this many times per allowed try is dead (see ``claims``).
MAX_CLAIMS_PER_TRY = 3


def claim(engine: Engine, *, now: dt.datetime, batch: int, lease: float) -> list[tuple[int, dt.datetime]]:
    """Claim up to ``batch`` due messages until ``now + lease``; their ids and the claim token."""
    token = now + dt.timedelta(seconds=lease)
    m = OutboxMessage
    due = or_(
        and_(
            m.status == OutboxStatus.PENDING.value,
            m.due_at <= now,
            or_(m.next_try_at.is_(None), m.next_try_at <= now),
        ),
        and_(m.status == OutboxStatus.SENDING.value, m.claimed_until < now),
    )
    candidates = select(m.id).where(due).order_by(m.due_at, m.id).limit(batch)
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(m)
        .where(m.id.in_(candidates.scalar_subquery()))
        .values(status=OutboxStatus.SENDING.value, claimed_until=token, claims=m.claims + 1)
        .returning(m.id)
    )
    with engine.begin() as conn:
        ids = sorted(int(i) for i in conn.execute(stmt).scalars())
    return [(i, token) for i in ids]


@dataclass
class Item:
    """A claimed message: its row id and the claim's token (``claimed_until``)."""

    id: int
    token: dt.datetime


def fence(item: Item) -> Any:
    """The condition every write on a claimed message is fenced on: the claim is still ours."""
    m = OutboxMessage
    return and_(m.id == item.id, m.status == OutboxStatus.SENDING.value, m.claimed_until == item.token)
