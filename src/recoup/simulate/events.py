"""What goes into the world each day (:class:`Action`) and what comes out (:class:`DayEvents`).

The day's events are written in the production side's columns (:mod:`recoup.strategy.day_record`:
``SCHEMAS``, ``DayEvents``), imported from there: the twin depends on the strategy, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from recoup.contact.vocab import Party, Treatment
from recoup.strategy.day_record import SCHEMAS, DayEvents

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
