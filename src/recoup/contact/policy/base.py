"""Rules as small registered classes with stable ids, and what a rule may answer.

A rule looks at one proposed attempt at one instant (:class:`Ctx`) and answers nothing (passes),
:class:`Block` (the attempt may not be made, whenever it is tried) or :class:`Defer` (not before
``until``). Parameters are a pydantic model per rule, so a preset's parameters are validated and an
operator's typo names the rule and the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from recoup.contact.policy.model import (
    CHANNEL_CODE,
    OUTCOME_CODE,
    PARTY_CODE,
    BorrowerContext,
    History,
    Proposal,
)
from recoup.contact.vocab import AttemptOutcome, Channel, Party

__all__ = [
    "RULES",
    "Block",
    "Ctx",
    "Defer",
    "Params",
    "Result",
    "Rule",
    "register",
]


@dataclass(frozen=True)
class Block:
    """The attempt is not allowed (at this instant, and waiting does not help)."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Defer:
    """The attempt is not allowed before ``until``."""

    ids: tuple[str, ...]
    until: dt.datetime


Result = Block | Defer | None


class Params(BaseModel):
    """Base of rule parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Ctx:
    """One proposal judged at ``at`` (the proposal's own time, or later while searching for a deferral)."""

    borrower: BorrowerContext
    history: History
    proposal: Proposal
    at: dt.datetime
    now: dt.datetime
    lint: Callable[[Ctx], tuple[tuple[str, str], ...]] | None = None  # (rule id, message) of content findings
    _memo: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def hi(self) -> int:
        """Prior attempts strictly before ``at`` are ``history[:hi]``."""
        return self.history.upto(self.at)

    @cached_property
    def local(self) -> dt.datetime:
        """``at`` on the borrower's clock."""
        return self.at.astimezone(self.borrower.zone)

    def midnight(self, days_back: int = 0) -> dt.datetime:
        """Local midnight ``days_back`` days before today (the borrower's calendar day), as an aware time."""
        day = self.local.date() - dt.timedelta(days=days_back)
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.borrower.zone)

    def local_day_start(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.borrower.zone)

    def window(self, start: dt.datetime) -> tuple[int, int]:
        """Index range of prior attempts in ``[start, at)``."""
        return self.history.since(start), self.hi

    def mask(
        self,
        lo: int,
        hi: int,
        *,
        channels: frozenset[Channel] | None = None,
        outcomes: frozenset[AttemptOutcome] | None = None,
        parties: frozenset[Party] | None = None,
        destination: str | None = None,
        debt: bool = False,
    ) -> npt.NDArray[np.bool_]:
        """Attempts in ``[lo, hi)`` matching every given condition (``debt``: about the proposal's debt)."""
        h = self.history
        m = np.ones(hi - lo, dtype=bool)
        if channels is not None:
            m &= np.isin(h.channel[lo:hi], [CHANNEL_CODE[c] for c in channels])
        if outcomes is not None:
            m &= np.isin(h.outcome[lo:hi], [OUTCOME_CODE[o] for o in outcomes])
        if parties is not None:
            m &= np.isin(h.party[lo:hi], [PARTY_CODE[p] for p in parties])
        if destination is not None:
            m &= h.dest[lo:hi] == h.dest_code(destination)
        if debt:
            m &= h.debt_mask(lo, hi, self.proposal.debt_id)
        return m

    def person(self) -> dict[str, Any]:
        """Conditions selecting prior attempts to the same person as the proposal.

        The debtor (and a guarantor) is one person across all their numbers; anyone else is known only
        by the destination.
        """
        p = self.proposal.party
        if p in (Party.DEBTOR, Party.GUARANTOR):
            return {"parties": frozenset({p})}
        return {"destination": self.proposal.destination}

    def local_day_of(self, index: int) -> dt.date:
        """The borrower's calendar day of prior attempt ``index``."""
        ts = float(self.history.ts[index])
        return dt.datetime.fromtimestamp(ts, tz=self.borrower.zone).date()

    def findings(self) -> tuple[tuple[str, str], ...]:
        """Content findings for the proposal (empty without content or without a linter)."""
        if "findings" not in self._memo:
            self._memo["findings"] = () if self.lint is None or not self.proposal.content else self.lint(self)
        out: tuple[tuple[str, str], ...] = self._memo["findings"]
        return out


class Rule:
    """A contact rule. Subclasses set ``id``, ``title`` (zh, en), ``source`` and ``Params``."""

    id: ClassVar[str]
    title: ClassVar[tuple[str, str]]
    source: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    #: Parameters quoted from a secondary or ambiguous source (COMPLIANCE.md †): shown as unverified.
    unverified: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = self.Params(**(params or {}))

    def check(self, ctx: Ctx) -> Result:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def block(self, *extra: str) -> Block:
        return Block((self.id, *extra))

    def defer(self, until: dt.datetime, *extra: str) -> Defer:
        return Defer((self.id, *extra), until)


#: Every rule class by id.
RULES: dict[str, type[Rule]] = {}


R = TypeVar("R", bound=type[Rule])


def register(cls: R) -> R:
    """Class decorator: make a rule available to presets under its id."""
    if cls.id in RULES:
        raise ValueError(f"duplicate rule id {cls.id}")
    RULES[cls.id] = cls
    return cls
