"""What goes into the world each day (:class:`Action`) and what comes out (:class:`DayEvents`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from recoup.contact.vocab import Party, Treatment

__all__ = ["SCHEMAS", "Action", "DayEvents", "DayLog"]


@dataclass(frozen=True)
class Action:
    """One treatment recoup executed on an account during the day.

    ``hour`` is the borrower's local hour (0–23) of the attempt. ``amount`` is in fen: for
    ``settlement_offer`` the amount the account is settled for, for ``plan_offer`` each monthly plan
    payment (0: the overdue amount split over ``installments``). ``rude`` marks a harsh script or tone.
    """

    loan_id: str
    treatment: Treatment | str
    hour: int = 10
    party: Party | str = Party.DEBTOR
    amount: int = 0
    installments: int = 0
    rude: bool = False


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


@dataclass
class DayLog:
    """Rows collected while a day is simulated (one dict per frame of :class:`DayEvents`)."""

    rows: dict[str, dict[str, list[Any]]] = field(
        default_factory=lambda: {name: {c: [] for c in cols} for name, cols in SCHEMAS.items()}
    )

    def add(self, frame: str, **columns: list[Any]) -> None:
        target = self.rows[frame]
        sizes = {len(v) for v in columns.values()}
        if len(sizes) > 1:
            raise ValueError(f"{frame}: columns of different lengths")
        for name in target:
            target[name].extend(columns[name])

    def frame(self, name: str) -> pl.DataFrame:
        return pl.DataFrame(self.rows[name], schema=SCHEMAS[name])


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
