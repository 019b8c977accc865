"""The evaluation's accounting: what a run counts — recovered, cost, contacts, complaints, per segment,
per treatment and per arm of an experiment — and :class:`EvalResult`, the ``--json`` object.

Money is in fen throughout.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.reporting.arms import arm_results, compare_arms
from recoup.simulate import DayEvents, World
from recoup.simulate.world import epoch_day
from recoup.strategy.experiments import CHAMPION

__all__ = ["SEGMENT_ORDER", "EvalResult", "Tally"]

SEGMENT_ORDER = ("mild", "severe", "extremely_severe", "current")


def _round_floats(row: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-friendly: floats to 6 significant places, NaN to null."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, float):
            out[k] = None if math.isnan(v) else float(f"{v:.6g}")
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------------------------------ results


@dataclass
class EvalResult:
    """What a run produced; :meth:`to_json` is the ``--json`` object. Amounts in fen."""

    strategy: str
    strategy_name: str
    strategy_version: int | None
    strategy_hash: str
    loans: int
    days: int
    seed: int
    perturb: float
    start: dt.date
    recovered: int = 0
    collected_since_entry: int = 0
    treatment_cost: int = 0
    commission: int = 0
    contacts: int = 0
    complaints: int = 0
    violations: int = 0
    violation_rules: Counter[str] = field(default_factory=Counter)
    arms: list[dict[str, Any]] = field(default_factory=list)  # per-arm results (reporting.arms)
    arm_comparison: list[dict[str, Any]] = field(default_factory=list)
    accounts: int = 0
    allocated: int = 0
    recovery_by_segment: dict[str, dict[str, int]] = field(default_factory=dict)
    by_treatment: dict[str, dict[str, int]] = field(default_factory=dict)
    verdicts: Counter[str] = field(default_factory=Counter)
    rules_hit: Counter[str] = field(default_factory=Counter)
    capacity: dict[str, Any] = field(default_factory=dict)
    capacity_used: dict[str, int] = field(default_factory=dict)
    over_capacity: dict[str, int] = field(default_factory=dict)
    #: The lender's configuration versions the run used (``prices``, ``capacity``; 0 = the defaults).
    config_versions: dict[str, int] = field(default_factory=dict)
    #: The self-cure scorer every strategy got (None: unscored, ``--no-scorer``) and what it scored.
    scorer: dict[str, Any] | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    daily: dict[str, list[int]] = field(default_factory=lambda: {"recovered": [], "cost": [], "contacts": []})
    timings: dict[str, float] = field(default_factory=dict)
    params_hash: str = ""
    preset: str = ""
    actions: int = 0  # actions handed to the twin (allowed contacts + legal reviews and placements)
    seconds: float = 0.0

    @property
    def cost(self) -> int:
        return self.treatment_cost + self.commission

    @property
    def net(self) -> int:
        return self.recovered - self.cost

    def to_json(self) -> dict[str, Any]:
        rate = self.recovered / self.allocated if self.allocated else None
        return {
            "strategy": self.strategy,
            "strategy_name": self.strategy_name,
            "strategy_version": self.strategy_version,
            "strategy_hash": self.strategy_hash,
            "loans": self.loans,
            "days": self.days,
            "seed": self.seed,
            "perturb": self.perturb,
            "start": self.start.isoformat(),
            "end": (self.start + dt.timedelta(days=self.days)).isoformat(),
            "recovered": self.recovered,
            "cost": self.cost,
            "net": self.net,
            "collected_since_entry": self.collected_since_entry,
            "cost_breakdown": {"treatments": self.treatment_cost, "agency_commission": self.commission},
            "contacts": self.contacts,
            "complaints": self.complaints,
            "complaints_per_10k": round(self.complaints / self.accounts * 10_000, 2)
            if self.accounts
            else None,
            "violations": self.violations,
            "violation_rules": dict(sorted(self.violation_rules.items())),
            "accounts": self.accounts,
            "allocated": self.allocated,
            "recovery_rate": round(rate, 6) if rate is not None else None,
            "recovery_by_segment": self.recovery_by_segment,
            "arms": [_round_floats(a) for a in self.arms],
            "arm_comparison": [_round_floats(a) for a in self.arm_comparison],
            "by_treatment": self.by_treatment,
            "policy": {
                "preset": self.preset,
                "judged": sum(self.verdicts[v] for v in ("allowed", "blocked", "deferred")),
                **{v: self.verdicts[v] for v in ("allowed", "blocked", "deferred")},
                "rules": dict(sorted(self.rules_hit.items())),
                "actions_to_twin": self.actions,
            },
            "capacity": self.capacity,
            "capacity_used": self.capacity_used,
            "over_capacity": self.over_capacity,
            "config_versions": self.config_versions,
            "scorer": self.scorer,
            "scores": self.scores,
            "daily": self.daily,
            "params_hash": self.params_hash,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------------------------------ counting


class Tally:
    """The day-by-day counting into an :class:`EvalResult`, with the per-account accumulators behind
    the allocation cohort, the segments seen and the per-arm results."""

    def __init__(self, loans: int) -> None:
        n = loans
        self.loans = loans
        self.seen = np.zeros(n, dtype=bool)
        # Per account, for the per-arm results (METRICS.md on the allocation cohort).
        self.acc_allocated = np.zeros(n, dtype=np.int64)
        self.acc_collected = np.zeros(n, dtype=np.int64)
        self.acc_cost = np.zeros(n, dtype=np.int64)
        self.acc_complaints = np.zeros(n, dtype=np.int64)
        self.entry_day = np.full(n, -1, dtype=np.int64)
        self.cured = np.zeros(n, dtype=bool)
        self.arm = np.full(n, None, dtype=object)
        self.seen_segment = {s: np.zeros(n, dtype=bool) for s in SEGMENT_ORDER}

    def note_arms(self, dec: pl.DataFrame) -> None:
        """Each account's arm: the first one it was decided in."""
        if "arm" in dec.columns and dec.height:
            di = (dec.get_column("loan_id").str.slice(1).cast(pl.Int64) - 1).to_numpy()
            first = self.arm[di] == None  # noqa: E711 - elementwise on an object array
            self.arm[di[first]] = np.asarray(dec.get_column("arm").to_list(), dtype=object)[first]

    def count(self, r: EvalResult, frame: pl.DataFrame, events: DayEvents, world: World) -> None:
        """Count one day into ``r``: ``frame`` is the decision frame the day started from, ``events``
        the twin's day and ``world`` the twin after it."""
        # Recovered: payments received on the day by accounts in collections at its start (delinquent at
        # the end of the day before), whatever the payment's source — METRICS.md's "cash collected from
        # allocation until exit", day by day, written-off accounts included.
        pay = events.payments.join(frame.select("loan_id", "segment"), on="loan_id", how="inner")
        day_recovered = int(pay.get_column("amount").sum())
        r.recovered += day_recovered
        for seg, amount, n in (
            pay.group_by("segment").agg(pl.col("amount").sum(), pl.len()).sort("segment").iter_rows()
        ):
            s = r.recovery_by_segment.setdefault(seg, {"recovered": 0, "payments": 0, "accounts": 0})
            s["recovered"] += int(amount)
            s["payments"] += int(n)
        commission = int(events.payments.get_column("commission").sum())
        att = events.attempts
        day_cost = int(att.get_column("cost").sum())
        r.treatment_cost += day_cost
        r.commission += commission
        contacts = int(att.get_column("channel").is_not_null().sum())
        r.contacts += contacts
        r.complaints += events.complaints.height
        for tr, n, cost, reached in (
            att.group_by("treatment")
            .agg(pl.len(), pl.col("cost").sum(), pl.col("reached").sum())
            .sort("treatment")
            .iter_rows()
        ):
            b = r.by_treatment.setdefault(tr, {"attempts": 0, "cost": 0, "reached": 0, "complaints": 0})
            b["attempts"] += int(n)
            b["cost"] += int(cost)
            b["reached"] += int(reached)
        for tr, n in events.complaints.group_by("treatment").len().sort("treatment").iter_rows():
            r.by_treatment.setdefault(tr, {"attempts": 0, "cost": 0, "reached": 0, "complaints": 0})[
                "complaints"
            ] += int(n)
        # Accounts in collections during the window, and the amount allocated: the overdue amount on
        # each account's first day in collections within the window.
        i = frame.get_column("i").to_numpy()
        new = ~self.seen[i]
        r.allocated += int(frame.get_column("overdue_amount").to_numpy()[new].sum())
        self.seen[i] = True
        # Beside it, everything paid by accounts that have been in collections in the window, from their
        # first day there to the window's end (later scheduled payments of cured accounts included).
        paid_i = (events.payments.get_column("loan_id").str.slice(1).cast(pl.Int64) - 1).to_numpy()
        paid = events.payments.get_column("amount").to_numpy()
        r.collected_since_entry += int(paid[self.seen[paid_i]].sum())
        seg = frame.get_column("segment").to_numpy()
        for name, mask in self.seen_segment.items():
            mask[i[seg == name]] = True
        self._count_accounts(frame, events, new, world)
        r.daily["recovered"].append(day_recovered)
        r.daily["cost"].append(day_cost + commission)
        r.daily["contacts"].append(contacts)

    def _count_accounts(
        self, frame: pl.DataFrame, events: DayEvents, new: npt.NDArray[np.bool_], world: World
    ) -> None:
        """Accumulate each account's allocation, collections, cost and complaints, and its cure."""
        i = frame.get_column("i").to_numpy()
        today = epoch_day(world.today)
        self.acc_allocated[i[new]] = frame.get_column("overdue_amount").to_numpy()[new]
        self.entry_day[i[new]] = today

        def idx(f: pl.DataFrame) -> npt.NDArray[np.int64]:
            return (f.get_column("loan_id").str.slice(1).cast(pl.Int64) - 1).to_numpy()

        pay = events.payments
        in_coll = np.zeros(self.loans, dtype=bool)
        in_coll[i] = True
        pi = idx(pay)
        counted = in_coll[pi]  # recovered: paid by accounts in collections at the day's start
        np.add.at(self.acc_collected, pi[counted], pay.get_column("amount").to_numpy()[counted])
        np.add.at(self.acc_cost, pi, pay.get_column("commission").to_numpy())
        att = events.attempts
        np.add.at(self.acc_cost, idx(att), att.get_column("cost").to_numpy())
        np.add.at(self.acc_complaints, idx(events.complaints), 1)
        # Cured: out of collections within 30 days of entering (the delinquent view no longer has it).
        tomorrow = world.accounts(delinquent_only=True).get_column("loan_id")
        still = np.zeros(self.loans, dtype=bool)
        still[(tomorrow.str.slice(1).cast(pl.Int64) - 1).to_numpy()] = True
        self.cured |= self.seen & ~still & (today + 1 - self.entry_day <= 30) & (self.entry_day >= 0)

    def arm_frame(self) -> pl.DataFrame:
        """One row per account of the cohort: its arm and outcomes (for :func:`arm_results`)."""
        i = np.flatnonzero(self.seen)
        arms = [a if a is not None else CHAMPION for a in self.arm[i]]
        return pl.DataFrame(
            {
                "loan_id": [f"L{k + 1:09d}" for k in i.tolist()],
                "arm": arms,
                "allocated": self.acc_allocated[i],
                "collected": self.acc_collected[i],
                "cost": self.acc_cost[i],
                "cured": self.cured[i],
                "complaints": self.acc_complaints[i],
            }
        )

    def finish(self, r: EvalResult, champion: str | None) -> None:
        """At the end of the run: the cohort's size, the per-arm results (compared with ``champion``
        when the run was an experiment), accounts per segment, and the breakdowns in their order."""
        r.accounts = int(self.seen.sum())
        per_arm = arm_results(self.arm_frame())
        r.arms = per_arm.drop("net_variance").to_dicts()
        if champion is not None and per_arm.height > 1:
            r.arm_comparison = compare_arms(per_arm, champion=champion).to_dicts()
        for s_name, mask in self.seen_segment.items():
            if mask.any():
                r.recovery_by_segment.setdefault(s_name, {"recovered": 0, "payments": 0, "accounts": 0})[
                    "accounts"
                ] = int(mask.sum())
        r.recovery_by_segment = {
            k: r.recovery_by_segment[k]
            for k in sorted(r.recovery_by_segment, key=lambda x: (*SEGMENT_ORDER, x).index(x))
        }
        r.by_treatment = dict(sorted(r.by_treatment.items()))
