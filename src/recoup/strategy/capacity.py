"""The day's capacity: how much work collectors, field agents, the dialer, the message budget, the legal
team and the agencies can take, and who gets it (the queue in priority order).

Every treatment draws on one **resource**; each task uses some of it (agent minutes for a call, one
visit, the message's price against the day's message budget …). :func:`queue_order` sorts the day's
tasks the way people work a queue — highest ``priority`` first (or highest ``expected_value`` when the
planner provides one), then the larger overdue amount, then the loan id — and :func:`within` keeps the
prefix of each resource's queue that fits. Defaults scale with the size of the book (per 10,000
loans); docs/strategy.md ("Evaluation on the digital twin") lists them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import polars as pl

from recoup.contact.vocab import Treatment
from recoup.errors import RecoupError

__all__ = [
    "DEFAULT_HOURS",
    "MINUTES",
    "PER_10K",
    "RESOURCE",
    "Capacity",
    "CapacityError",
    "queue_order",
    "within",
]


class CapacityError(RecoupError):
    """A capacity setting is invalid (names the field)."""

    code = "strategy.bad_capacity"
    http_status = 422
    exit_code = 65


#: The resource each treatment draws on (``no_action`` draws on nothing).
RESOURCE: dict[Treatment, str] = {
    Treatment.AGENT_CALL: "agent_minutes",
    Treatment.PLAN_OFFER: "agent_minutes",
    Treatment.SETTLEMENT_OFFER: "agent_minutes",
    Treatment.FIELD_VISIT: "field_visits",
    Treatment.ROBOT_CALL: "robot_calls",
    Treatment.SMS: "message_budget",
    Treatment.EMAIL: "message_budget",
    Treatment.IM: "message_budget",
    Treatment.PORTAL_LINK: "message_budget",
    Treatment.LAWYER_LETTER: "lawyer_letters",
    Treatment.LEGAL_REVIEW: "legal_reviews",
    Treatment.AGENCY_PLACEMENT: "agency_placements",
}

#: Local hour windows (first, last; inclusive) over which each task is spread, deterministically (the
#: evaluation's execution default, and the windows a decider spreads its learned hours over).
DEFAULT_HOURS: dict[Treatment, tuple[int, int]] = {
    Treatment.ROBOT_CALL: (9, 20),  # the dialer's day
    Treatment.AGENT_CALL: (9, 20),  # two shifts of collectors
    Treatment.PLAN_OFFER: (9, 20),
    Treatment.SETTLEMENT_OFFER: (9, 20),
    Treatment.FIELD_VISIT: (9, 19),
    Treatment.LAWYER_LETTER: (10, 10),  # posted; letters are not timed
    Treatment.LEGAL_REVIEW: (10, 10),  # contacts no one
    Treatment.AGENCY_PLACEMENT: (10, 10),
}

#: Planned handling minutes of an agent's task (dialling, talk and wrap-up): an offer takes longer.
MINUTES: dict[Treatment, int] = {
    Treatment.AGENT_CALL: 4,
    Treatment.PLAN_OFFER: 8,
    Treatment.SETTLEMENT_OFFER: 8,
}

#: Default daily capacity per 10,000 loans in the book (``message_budget`` in fen).
PER_10K: dict[str, int] = {
    "agent_minutes": 240,  # ≈ 0.7 full-time collector (6 talk hours a day): 60 four-minute calls
    "field_visits": 2,
    "robot_calls": 500,
    "message_budget": 1_000,  # ¥10: 200 texts at ¥0.05
    "lawyer_letters": 5,
    "legal_reviews": 2,
    "agency_placements": 200,
}


@dataclass(frozen=True)
class Capacity:
    """Daily limits per resource (see :data:`RESOURCE`); ``None`` means unlimited."""

    agent_minutes: int | None = None
    field_visits: int | None = None
    robot_calls: int | None = None
    message_budget: int | None = None  # fen
    lawyer_letters: int | None = None
    legal_reviews: int | None = None
    agency_placements: int | None = None
    minutes: Mapping[str, int] = field(default_factory=lambda: {t.value: m for t, m in MINUTES.items()})

    @classmethod
    def for_book(cls, n_loans: int) -> Capacity:
        """The defaults for a book of ``n_loans`` loans: :data:`PER_10K` scaled, at least 1 each."""
        scale = n_loans / 10_000
        limits: dict[str, Any] = {k: max(1, math.floor(v * scale)) for k, v in PER_10K.items()}
        return cls(**limits)

    def limits(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "minutes"}

    def updated(self, overrides: Mapping[str, Any]) -> Capacity:
        """A copy with ``overrides`` (resource → limit or None, ``minutes`` → {treatment: minutes});
        unknown names and negative values are errors that name the field."""
        known = set(self.limits())
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key == "minutes":
                if not isinstance(value, Mapping):
                    raise CapacityError("capacity.minutes: an object {treatment: minutes} · 须为对象")
                mins = dict(self.minutes)
                for t, m in value.items():
                    if t not in MINUTES and t not in {x.value for x in MINUTES}:
                        raise CapacityError(f"capacity.minutes.{t}: not an agent task · 非人工任务")
                    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
                        raise CapacityError(f"capacity.minutes.{t}: {m!r} is not a positive integer")
                    mins[str(t)] = m
                changes["minutes"] = mins
                continue
            if key not in known:
                raise CapacityError(
                    f"capacity.{key}: unknown resource; one of {', '.join(sorted(known))} · 未知资源"
                )
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise CapacityError(f"capacity.{key}: {value!r} is not a non-negative integer or null")
            changes[key] = value
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["minutes"] = dict(self.minutes)
        return out

    def use_expr(self) -> pl.Expr:
        """What one task of ``treatment`` uses of its resource: minutes, the price in fen, or 1."""
        t = pl.col("treatment")
        expr: Any = pl.when(pl.lit(False)).then(pl.lit(0, pl.Int64))
        for name, mins in sorted(self.minutes.items()):
            expr = expr.when(t == name).then(pl.lit(mins, pl.Int64))
        out: pl.Expr = expr.when(pl.col("resource") == "message_budget").then(pl.col("price")).otherwise(1)
        return out


def queue_order(tasks: pl.DataFrame) -> pl.DataFrame:
    """Tasks in the order people work them: per resource, ``rank_value`` (expected value or priority)
    first, then the larger overdue amount, then the loan id — deterministic, ties impossible."""
    return tasks.sort(
        ["resource", "rank_value", "overdue_amount", "loan_id"],
        descending=[False, True, True, False],
        nulls_last=True,
    )


def within(tasks: pl.DataFrame, capacity: Capacity) -> pl.DataFrame:
    """Add ``fits``: the task is in the prefix of its resource's queue that the day's limit covers
    (``tasks`` in :func:`queue_order`, with ``resource`` and ``use``)."""
    limits = capacity.limits()
    res = pl.col("resource")
    limit: Any = pl.when(pl.lit(False)).then(pl.lit(None, pl.Int64))
    for name, value in limits.items():
        limit = limit.when(res == name).then(pl.lit(value, pl.Int64))
    cum = pl.col("use").cum_sum().over("resource")
    return (
        tasks.with_columns(__limit=limit.otherwise(pl.lit(None, pl.Int64)))
        .with_columns(fits=pl.col("__limit").is_null() | (cum <= pl.col("__limit")))
        .drop("__limit")
    )
