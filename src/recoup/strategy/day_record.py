"""One day as a decider observes it: the day's events (payments, contact attempts and their outcomes,
promises, offers, replies, complaints) in fixed columns (:data:`SCHEMAS`, :class:`DayEvents`), and
:class:`DayRecord`, the decision frame, decisions and tasks of D with the events of D + 1.

This is the production side's contract: :class:`~recoup.strategy.response.AccountState` learns from
these records and the daily cycle rebuilds them from the lake (:mod:`recoup.strategy.cycle_value`). The
digital twin (``recoup.simulate``) writes its day's outcomes in these columns and imports them from
here — the dependency runs from the twin to the strategy, never back (issue 14, item 1). Issue 14, item 2
replaces it with a lender-shaped history read from the lake.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from recoup.contact.vocab import Treatment

__all__ = ["SCHEMAS", "DayEvents", "DayRecord"]

#: The columns of each frame of :class:`DayEvents`.
SCHEMAS: dict[str, dict[str, Any]] = {
    "payments": {
        "payment_id": pl.String,
        "loan_id": pl.String,
        "borrower_id": pl.String,
        "amount": pl.Int64,
        "channel": pl.String,
        "source": pl.String,
        "commission": pl.Int64,
    },
    "attempts": {
        "loan_id": pl.String,
        "treatment": pl.String,
        "channel": pl.String,
        "party": pl.String,
        "hour": pl.Int64,
        "outcome": pl.String,  # AttemptOutcome: what the contact rules count
        "disposition": pl.String,  # Disposition: what happened in detail
        "reached": pl.Boolean,
        "cost": pl.Int64,
    },
    "promises": {"loan_id": pl.String, "amount": pl.Int64, "promised_date": pl.Date},
    "offers": {
        "loan_id": pl.String,
        "treatment": pl.String,
        "accepted": pl.Boolean,
        "amount": pl.Int64,
        "installments": pl.Int64,
        "first_date": pl.Date,
    },
    "replies": {"loan_id": pl.String, "channel": pl.String, "hour": pl.Int64, "kind": pl.String},
    "complaints": {"loan_id": pl.String, "treatment": pl.String, "hour": pl.Int64, "reason": pl.String},
}


@dataclass(frozen=True)
class DayEvents:
    """The day's outcomes. Payments also reach recoup through the next extract, as from a core system."""

    day: dt.date
    payments: pl.DataFrame
    attempts: pl.DataFrame
    promises: pl.DataFrame
    offers: pl.DataFrame
    replies: pl.DataFrame
    complaints: pl.DataFrame

    @property
    def plan_acceptances(self) -> pl.DataFrame:
        return self.offers.filter(pl.col("accepted") & (pl.col("treatment") == Treatment.PLAN_OFFER.value))

    @property
    def settlements(self) -> pl.DataFrame:
        return self.offers.filter(
            pl.col("accepted") & (pl.col("treatment") == Treatment.SETTLEMENT_OFFER.value)
        )


@dataclass(frozen=True)
class DayRecord:
    """One day, for observers (response models learn from these): the decision frame as of ``as_of``,
    the decisions, the tasks with ``fits`` and ``verdict`` (allowed, blocked, deferred, carried,
    over_capacity), and the events on ``as_of + 1``."""

    as_of: dt.date
    frame: pl.DataFrame
    decisions: pl.DataFrame
    tasks: pl.DataFrame
    events: DayEvents
