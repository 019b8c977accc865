"""The dispatcher's report of what its batches did, and the clock it runs by (split from
:mod:`recoup.contact.dispatch`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from recoup.db import utcnow
from recoup.errors import RecoupError

__all__ = ["Clock", "DispatchReport", "NowArg"]

NowArg = dt.datetime | Callable[[], dt.datetime] | None


@dataclass
class DispatchReport:
    """What one or more batches did."""

    claimed: int = 0
    sent: int = 0
    blocked: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    expired: int = 0  # not sent: the validity window closed (before or after the claim)
    released: int = 0  # claimed, then handed back unprocessed (stop requested)
    lost: int = 0  # taken over by another dispatcher after the claim expired
    batches: int = 0
    items: list[dict[str, str]] = field(default_factory=list)
    ledger_seqs: list[int] = field(default_factory=list)

    COUNTS = (
        "claimed",
        "sent",
        "blocked",
        "deferred",
        "retried",
        "failed",
        "dead",
        "expired",
        "released",
        "lost",
    )

    def counts(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.COUNTS}

    def add(self, other: DispatchReport) -> None:
        for k in self.COUNTS:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.batches += other.batches
        self.items.extend(other.items)
        self.ledger_seqs.extend(other.ledger_seqs)


class Clock:
    """The dispatcher's clock: strictly increasing, so attempts made in one batch stay ordered even
    under a fixed test clock (the rules count attempts strictly before a proposal)."""

    def __init__(self, now: NowArg) -> None:
        self._source: Callable[[], dt.datetime]
        if now is None:
            self._source = utcnow
        elif callable(now):
            self._source = now
        else:
            fixed = now
            self._source = lambda: fixed
        self._last: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        t = self._source()
        if t.tzinfo is None or t.utcoffset() is None:
            raise RecoupError("the dispatcher's clock must give aware datetimes")
        t = t.astimezone(dt.UTC)
        if self._last is not None and t <= self._last:
            t = self._last + dt.timedelta(microseconds=1)
        self._last = t
        return t
