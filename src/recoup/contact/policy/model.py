"""What the policy engine judges: a borrower's context, the attempts already made and a proposed attempt.

Everything here is plain, immutable data; times are aware datetimes. :class:`History` indexes the prior
attempts once (sorted UTC seconds and small integer codes in numpy arrays) so that every rule counts
with a binary search and a vectorised mask instead of a Python loop over attempts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party

__all__ = [
    "BorrowerContext",
    "Consent",
    "ConsentScope",
    "Flag",
    "History",
    "Hold",
    "HoldKind",
    "PriorAttempt",
    "Proposal",
    "Verdict",
    "VerdictKind",
]

VerdictKind = Literal["allowed", "blocked", "deferred"]


class HoldKind(StrEnum):
    """Kinds of hold; each blocks the channels it names under its shared ``HOLD-*`` rule id."""

    DISPUTE = "dispute"
    CEASE = "cease"
    DO_NOT_CONTACT = "do_not_contact"
    BANKRUPTCY = "bankruptcy"
    BREATHING_SPACE = "breathing_space"
    STOP = "stop"


class Flag(StrEnum):
    """Borrower flags the rules read."""

    VULNERABLE = "vulnerable"
    NO_WORK_CONTACT = "no_work_contact"  # the borrower said the employer forbids contact at work
    TIME_BARRED = "time_barred"  # the debt is past the limitation period
    MENTAL_HEALTH_CRISIS = "mental_health_crisis"  # UK Breathing Space: treatment + 30 days


#: Accepted spellings of flags (the scenario format's aliases).
FLAG_ALIASES: dict[str, Flag] = {
    "employer_forbids_work_contact": Flag.NO_WORK_CONTACT,
    "employer_forbids": Flag.NO_WORK_CONTACT,
    "debt_time_barred": Flag.TIME_BARRED,
}


class ConsentScope(StrEnum):
    """What a consent covers: contact on a channel, or contact outside the quiet hours (CN-TIME)."""

    CONTACT = "contact"
    AFTER_HOURS = "after_hours"


@dataclass(frozen=True)
class Hold:
    """A hold in force from ``start`` until ``end`` (open-ended when None) on ``channels`` (None = all)."""

    kind: HoldKind
    start: dt.datetime
    end: dt.datetime | None = None
    channels: frozenset[Channel] | None = None
    debt_id: str | None = None  # None: every debt of the borrower

    def covers(self, at: dt.datetime, channel: Channel, debt_id: str | None) -> bool:
        """Whether this hold stops ``channel`` at ``at`` for ``debt_id``."""
        if at < self.start or (self.end is not None and at >= self.end):
            return False
        if self.channels is not None and channel not in self.channels:
            return False
        return self.debt_id is None or debt_id is None or self.debt_id == debt_id


@dataclass(frozen=True)
class Consent:
    """A consent to ``channel`` at ``destination`` (``*`` = any), granted and perhaps revoked."""

    channel: Channel
    destination: str
    granted_at: dt.datetime
    revoked_at: dt.datetime | None = None
    scope: ConsentScope = ConsentScope.CONTACT

    def matches(self, channel: Channel, destination: str) -> bool:
        return self.channel == channel and self.destination in ("*", destination)

    def in_force(self, at: dt.datetime) -> bool:
        return self.granted_at <= at and (self.revoked_at is None or at < self.revoked_at)


@dataclass(frozen=True)
class BorrowerContext:
    """The borrower as the rules see them: local time zone, flags, consents, holds, emergency contacts."""

    timezone: str = "Asia/Shanghai"
    flags: frozenset[Flag] = frozenset()
    consents: tuple[Consent, ...] = ()
    holds: tuple[Hold, ...] = ()
    emergency_contacts: int = 0
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))


@dataclass(frozen=True)
class PriorAttempt:
    """An attempt already made by anyone (the lender, its agencies, the dispatcher)."""

    at: dt.datetime
    channel: Channel
    party: Party
    destination: str
    outcome: AttemptOutcome
    debt_id: str | None = None


@dataclass(frozen=True)
class Proposal:
    """An attempt someone wants to make at ``at``."""

    id: str
    at: dt.datetime
    channel: Channel
    party: Party
    destination: str
    destination_kind: DestinationKind | None = None
    debt_id: str | None = None
    content: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The engine's answer for one proposal, with every rule that decided it and the preset version."""

    id: str
    verdict: VerdictKind
    rules: tuple[str, ...] = ()
    defer_until: dt.datetime | None = None
    preset: str = ""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "verdict": self.verdict, "rules": list(self.rules)}
        if self.defer_until is not None:
            out["defer_until"] = self.defer_until.isoformat()
        return out


_CHANNELS = list(Channel)
_PARTIES = list(Party)
_OUTCOMES = list(AttemptOutcome)
CHANNEL_CODE = {c: i for i, c in enumerate(_CHANNELS)}
PARTY_CODE = {p: i for i, p in enumerate(_PARTIES)}
OUTCOME_CODE = {o: i for i, o in enumerate(_OUTCOMES)}

Codes = npt.NDArray[np.int16]


def codes(values: Iterable[StrEnum], table: dict[StrEnum, int]) -> Codes:
    """Integer codes of enum values (for ``np.isin`` masks)."""
    return np.fromiter((table[v] for v in values), dtype=np.int16)


class History:
    """Prior attempts indexed for counting: sorted by time, columns as numpy arrays.

    Only attempts strictly before a proposal's time count for it (:meth:`upto`), so one history serves
    every proposal and the audit's replay of a recorded log.
    """

    def __init__(self, attempts: Sequence[PriorAttempt]) -> None:
        items = sorted(attempts, key=lambda a: a.at)
        self.n = len(items)
        self.ts = np.fromiter((a.at.timestamp() for a in items), dtype=np.float64, count=self.n)
        self.channel = np.fromiter((CHANNEL_CODE[a.channel] for a in items), dtype=np.int16, count=self.n)
        self.party = np.fromiter((PARTY_CODE[a.party] for a in items), dtype=np.int16, count=self.n)
        self.outcome = np.fromiter((OUTCOME_CODE[a.outcome] for a in items), dtype=np.int16, count=self.n)
        self._dest_index: dict[str, int] = {}
        self.dest = np.fromiter(
            (self._dest_index.setdefault(a.destination, len(self._dest_index)) for a in items),
            dtype=np.int32,
            count=self.n,
        )
        debts: dict[str | None, int] = {}
        self.debt = np.fromiter(
            (debts.setdefault(a.debt_id, len(debts)) for a in items), dtype=np.int32, count=self.n
        )
        self._debts = debts

    def upto(self, at: dt.datetime) -> int:
        """How many attempts happened strictly before ``at``."""
        return int(np.searchsorted(self.ts, at.timestamp(), side="left"))

    def since(self, start: dt.datetime) -> int:
        """The index of the first attempt at or after ``start``."""
        return int(np.searchsorted(self.ts, start.timestamp(), side="left"))

    def dest_code(self, destination: str) -> int:
        """The code of a destination (-1 when it never appears)."""
        return self._dest_index.get(destination, -1)

    def debt_mask(self, lo: int, hi: int, debt_id: str | None) -> npt.NDArray[np.bool_]:
        """Attempts in ``[lo, hi)`` about ``debt_id``; a missing id on either side means the single debt."""
        if debt_id is None:
            return np.ones(hi - lo, dtype=bool)
        want = [code for key, code in self._debts.items() if key is None or key == debt_id]
        return np.isin(self.debt[lo:hi], want)
