"""Evaluation on the digital twin: recoup's strategy in the loop with the frozen simulator.

Each simulated day D → D + 1 (docs/strategy.md, "Evaluation on the digital twin"):

1. **Decision frame** from the lender's view of the book at the end of D (``World.accounts``): dpd,
   overdue, outstanding; bucket and segment from the cycle's own decision tables (``BUCKETS``,
   ``SEGMENTS``) through :func:`recoup.rules.evaluate`; score null unless a scorer is given.
2. **Decisions** with :func:`recoup.strategy.kernel.decide` — the cycle step's code.
3. **Tasks**: every decision that contacts someone or starts a legal step or a placement, at a lawful
   local hour from a deterministic spread, drawing on a resource of the day's :class:`Capacity`; legal
   reviews and placements are states (carried over while decided again, as in the cycle's queues).
4. **The queue is worked within capacity**, in priority order, and **every contact attempt is judged
   by the contact policy** before it is made (:class:`Gate`); blocked ones are not made, deferred
   ones are dropped for the day, and the capacity they would have used goes to the next in the queue.
5. ``World.step`` simulates D + 1 with the allowed actions only; its attempts are recorded like real
   ones (``contact_attempt`` in a SQLite database of their own) and the day's payments, costs and
   complaints are counted.
6. At the end, ``policy audit`` replays the whole attempt log independently: its count is the
   ``violations`` figure.

Money is in fen throughout.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup import rules
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import load_builtin
from recoup.contact.vocab import (
    TREATMENT_CHANNEL,
    Party,
    Treatment,
)
from recoup.delinquency.tables import BUCKETS
from recoup.reporting.arms import arm_results, compare_arms
from recoup.scoring.segments import SEGMENTS
from recoup.simulate import DEFAULT_PARAMS, DayEvents, SimParams, World, params_hash
from recoup.strategy.capacity import RESOURCE, Capacity, queue_order, within
from recoup.strategy.defaults import DEFAULT_STRATEGY
from recoup.strategy.definition import MESSAGE_TREATMENTS, Strategy, load_strategy
from recoup.strategy.eval_gate import LENDER_TZ, Attempt, Destinations, Gate, Recorder
from recoup.strategy.experiments import CHAMPION, Experiment, stable_uniform
from recoup.strategy.kernel import Plan, decide
from recoup.strategy.perturb import RESPONSE_SCALARS, EvaluateError, perturb_params

__all__ = [
    "DEFAULT_HOURS",
    "RESPONSE_SCALARS",
    "DayRecord",
    "EvalConfig",
    "EvalResult",
    "EvaluateError",
    "Execution",
    "baseline_strategy",
    "evaluate",
    "perturb_params",
]

#: Messages go out at the strategy's ``send_hour`` (local); robot calls are dialled all day.
MESSAGES = frozenset(MESSAGE_TREATMENTS) - {Treatment.ROBOT_CALL}
#: Local hour windows (first, last; inclusive) over which each task is spread, deterministically.
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
SEGMENT_ORDER = ("mild", "severe", "extremely_severe", "current")


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Execution:
    """How tasks are worked: the local hour window per treatment and the party contacted (default the
    debtor). A strategy FILE may carry these as ``"execution": {"hours": {"robot_call": [9, 20]},
    "party": {"agent_call": "debtor"}}``; the contact policy, not this, decides what is lawful."""

    hours: Mapping[Treatment, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    party: Mapping[Treatment, Party] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Execution:
        """Validate an ``execution`` section; errors name the field."""
        unknown = set(data) - {"hours", "party"}
        if unknown:
            raise EvaluateError(f"execution: unknown key(s) {', '.join(sorted(unknown))} · 未知字段")
        hours: dict[Treatment, tuple[int, int]] = dict(DEFAULT_HOURS)
        for key, window in (data.get("hours") or {}).items():
            t = _treatment(key, f"execution.hours.{key}")
            ok = (
                isinstance(window, (list, tuple))
                and len(window) == 2
                and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 23 for h in window)
                and window[0] <= window[1]
            )
            if not ok:
                raise EvaluateError(
                    f"execution.hours.{key}: [first, last] local hours 0–23 · 须为 [起, 止] 小时"
                )
            hours[t] = (int(window[0]), int(window[1]))
        party: dict[Treatment, Party] = {}
        for key, value in (data.get("party") or {}).items():
            t = _treatment(key, f"execution.party.{key}")
            try:
                party[t] = Party(value)
            except ValueError:
                raise EvaluateError(
                    f"execution.party.{key}: {value!r} is not a party; one of "
                    f"{', '.join(p.value for p in Party)} · 联系对象无效"
                ) from None
        return cls(hours=hours, party=party)

    def window(self, t: Treatment, send_hour: int) -> tuple[int, int]:
        if t in MESSAGES and t not in self.hours:
            return (send_hour, send_hour)
        return self.hours.get(t, (10, 10))


def _treatment(value: str, where: str) -> Treatment:
    try:
        return Treatment(value)
    except ValueError:
        raise EvaluateError(f"{where}: {value!r} is not a treatment · 处置无效") from None


#: Hooks for the optimiser: a decider replaces the strategy (same columns as ``decide``, plus optional
#: ``expected_value`` (fen, ranks the queue), ``hour`` and ``party``); a scorer fills ``score``.
Decider = Callable[[pl.DataFrame, dt.date], pl.DataFrame]
Scorer = Callable[[pl.DataFrame], pl.Series]


@dataclass(frozen=True)
class DayRecord:
    """One simulated day, for observers (response models learn from these): the decision frame as of
    ``as_of``, the decisions, the tasks with ``fits`` and ``verdict`` (allowed, blocked, deferred,
    carried, over_capacity), and the twin's events on ``as_of + 1``."""

    as_of: dt.date
    frame: pl.DataFrame
    decisions: pl.DataFrame
    tasks: pl.DataFrame
    events: DayEvents


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run."""

    strategy: Strategy
    loans: int
    days: int
    seed: int
    start: dt.date = dt.date(2026, 1, 1)
    perturb: float = 0.0
    capacity: Capacity | None = None  # None: Capacity.for_book(loans)
    execution: Execution = field(default_factory=Execution)
    preset: str = "cn"
    label: str = "baseline"
    keep_db: Path | None = None  # keep the attempt log here (default: a temp dir, removed)
    decider: Decider | None = None
    scorer: Scorer | None = None
    # A champion/challenger experiment: arms by stable hash, each arm decided by its own strategy.
    experiment: Experiment | None = None
    arms: Mapping[str, Strategy] = field(default_factory=dict)
    on_day: Callable[[DayRecord], None] | None = None
    progress: Callable[[int, int], None] | None = None

    def effective_capacity(self) -> Capacity:
        return self.capacity if self.capacity is not None else Capacity.for_book(self.loans)


def _round_floats(row: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-friendly: floats to 6 significant places, NaN to null."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, float):
            out[k] = None if math.isnan(v) else float(f"{v:.6g}")
        else:
            out[k] = v
    return out


def baseline_strategy() -> Strategy:
    """The default ladder as stored: version 1 of ``default``."""
    return load_strategy(DEFAULT_STRATEGY, version=1)


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
            "daily": self.daily,
            "params_hash": self.params_hash,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------------------------------ the loop


class _Loop:
    def __init__(self, cfg: EvalConfig, params: SimParams, db_path: Path) -> None:
        t0 = time.perf_counter()
        self.cfg = cfg
        self.world = World(params, n_loans=cfg.loans, start=cfg.start, seed=cfg.seed)
        self.timings: dict[str, float] = dict.fromkeys(
            ("world", "decide", "gate", "step", "record", "audit", "policy_judge"), 0.0
        )
        self.timings["world"] += time.perf_counter() - t0
        self.plan = Plan(champion=cfg.strategy, experiment=cfg.experiment, arms=dict(cfg.arms))
        self.bucket_table = rules.load_table(BUCKETS)
        self.segment_table = rules.load_table(SEGMENTS)
        self.capacity = cfg.effective_capacity()
        self.policy = Policy(load_builtin(cfg.preset))
        self.dest = Destinations()
        self.gate = Gate(self.policy, self.dest)
        self.recorder = Recorder(db_path, self.dest, self.policy.preset.label)
        self.static = pl.DataFrame(
            schema={"loan_id": pl.String, "borrower_id": pl.String, "product_type": pl.String,
                    "customer_type": pl.String, "timezone": pl.String}
        )  # fmt: skip
        self.prev = pl.DataFrame(
            schema={"loan_id": pl.String, "prev_bucket": pl.String, "prev_since": pl.Date}
        )
        n = cfg.loans
        self.placed_until = np.full(n, -1, dtype=np.int64)  # epoch day the agency works the account until
        self.legal_open = np.zeros(n, dtype=bool)
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
        self.used: Counter[str] = Counter()
        self.over: Counter[str] = Counter()
        self.agency_days = params.agency_days
        self.send_hour = cfg.strategy.doc.send_hour

    # ------------------------------------------------------------------ frame
    def _static(self, ids: pl.DataFrame) -> pl.DataFrame:
        """Borrower, product type, customer type and time zone per loan (refreshed for new loans)."""
        if ids.join(self.static, on="loan_id", how="anti").height:
            kinds = {p.code: p.product_type for p in self.world.params.products}
            people = self.world.borrowers.select("borrower_id", "customer_type", "timezone")
            self.static = (
                self.world.truth()
                .select(
                    "loan_id", "borrower_id", pl.col("product").replace_strict(kinds).alias("product_type")
                )
                .join(people, on="borrower_id", how="left")
                .with_columns(
                    pl.col("customer_type").fill_null("individual"), pl.col("timezone").fill_null(LENDER_TZ)
                )
            )
        return self.static

    def frame(self, as_of: dt.date) -> pl.DataFrame:
        """The decision frame as of ``as_of`` (the book at the end of that day)."""
        acc = self.world.accounts(delinquent_only=True)
        df = acc.join(self._static(acc.select("loan_id")), on="loan_id", how="left").with_columns(
            pl.col("overdue").alias("overdue_amount"),
            # The twin's lender view has no principal split: everything still owed stands for it.
            pl.col("outstanding").alias("outstanding_principal"),
            (pl.col("status") == "written_off").alias("written_off"),
            pl.lit(None, pl.Int64).alias("missed_installments"),
            pl.lit(False).alias("bucket_by_cycle"),
            (pl.col("loan_id").str.slice(1).cast(pl.Int64) - 1).alias("i"),
        )
        df = rules.evaluate(df, self.bucket_table, rule_column="bucket_rule")
        df = df.join(self.prev, on="loan_id", how="left").with_columns(
            bucket_since=pl.when(pl.col("prev_bucket") == pl.col("bucket"))
            .then(pl.col("prev_since"))
            .otherwise(pl.lit(as_of))
        )
        self.prev = df.select(
            "loan_id", pl.col("bucket").alias("prev_bucket"), pl.col("bucket_since").alias("prev_since")
        )
        if self.cfg.scorer is not None:
            df = df.with_columns(self.cfg.scorer(df).cast(pl.Float64).alias("score"))
        else:
            df = df.with_columns(score=pl.lit(None, pl.Float64))
        df = rules.evaluate(df, self.segment_table, rule_column="segment_rule")
        return df.drop("prev_bucket", "prev_since", "missed_installments", "bucket_by_cycle")

    # ------------------------------------------------------------------ tasks
    def tasks(
        self, frame: pl.DataFrame, dec: pl.DataFrame, as_of: dt.date
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The day's tasks in queue order, with hour, party, resource, use and ``fits``; states already
        in force are marked ``carried``."""
        contact_day = _epoch(as_of) + 1
        extra = [c for c in ("expected_value", "hour", "party") if c in dec.columns]
        t = dec.select("loan_id", "treatment", "priority", "node", *extra).join(
            frame.select("loan_id", "i", "borrower_id", "timezone", "overdue_amount", "segment"),
            on="loan_id",
            how="left",
        )
        t = t.filter(pl.col("treatment").is_in([x.value for x in RESOURCE]))
        i = t.get_column("i").to_numpy()
        treat = t.get_column("treatment").to_numpy()
        placed = treat == Treatment.AGENCY_PLACEMENT.value
        legal = treat == Treatment.LEGAL_REVIEW.value
        carried = (placed & (self.placed_until[i] >= contact_day)) | (legal & self.legal_open[i])
        # Legal reviews stay open while decided again; one not decided today is closed (superseded).
        self.legal_open[:] = False
        self.legal_open[i[legal & carried]] = True
        prices = {k: v.cost for k, v in self.world.params.treatments.items()}
        t = t.with_columns(
            carried=pl.Series(carried, dtype=pl.Boolean),
            resource=pl.col("treatment").replace_strict({x.value: r for x, r in RESOURCE.items()}),
            price=pl.col("treatment").replace_strict(prices, return_dtype=pl.Int64),
            rank_value=(
                pl.col("expected_value").cast(pl.Float64)
                if "expected_value" in extra
                else pl.col("priority").cast(pl.Float64)
            ),
        ).with_columns(use=self.capacity.use_expr())
        if "hour" not in extra:
            t = t.with_columns(hour=self._hours(t, as_of))
        if "party" not in extra:
            parties = {k.value: v.value for k, v in self.cfg.execution.party.items()}
            t = t.with_columns(
                party=pl.col("treatment").replace_strict(
                    parties, default=Party.DEBTOR.value, return_dtype=pl.String
                )
            )
        work = queue_order(t.filter(~pl.col("carried")))
        work = within(work, self.capacity)
        return work.with_row_index("pos"), t.filter(pl.col("carried"))

    def _hours(self, t: pl.DataFrame, as_of: dt.date) -> pl.Series:
        """A deterministic spread over each treatment's window: a hash of (loan, day)."""
        u = stable_uniform(t.get_column("loan_id"), f"evaluate-hour:{as_of.isoformat()}")
        windows = {x.value: self.cfg.execution.window(x, self.send_hour) for x in Treatment}
        treat = t.get_column("treatment")
        lo = treat.replace_strict({k: w[0] for k, w in windows.items()}, return_dtype=pl.Int64).to_numpy()
        width = treat.replace_strict(
            {k: w[1] - w[0] + 1 for k, w in windows.items()}, return_dtype=pl.Int64
        ).to_numpy()
        return pl.Series("hour", lo + np.floor(u * width).astype(np.int64), dtype=pl.Int64)

    # ------------------------------------------------------------------ one day
    def day(self) -> DayEvents:
        w = self.world
        as_of = w.today
        contact_day = as_of + dt.timedelta(days=1)
        t0 = time.perf_counter()
        frame = self.frame(as_of)
        dec = (
            self.cfg.decider(frame, as_of)
            if self.cfg.decider is not None
            else decide(frame, self.plan, as_of=as_of)
        )
        work, carried = self.tasks(frame, dec, as_of)
        if "arm" in dec.columns and dec.height:
            di = (dec.get_column("loan_id").str.slice(1).cast(pl.Int64) - 1).to_numpy()
            first = self.arm[di] == None  # noqa: E711 - elementwise on an object array
            self.arm[di[first]] = np.asarray(dec.get_column("arm").to_list(), dtype=object)[first]
        self.timings["decide"] += time.perf_counter() - t0

        cols = work.select(
            "pos",
            "loan_id",
            "borrower_id",
            "timezone",
            "treatment",
            "party",
            "hour",
            "resource",
            "use",
            "fits",
        )
        queue = [
            Attempt(
                pos=pos,
                loan_id=loan,
                borrower_id=bor,
                tz=tz,
                treatment=Treatment(tr),
                channel=TREATMENT_CHANNEL[Treatment(tr)],
                party=Party(party),
                hour=int(hour),
                resource=res,
                use=int(use),
            )
            for pos, loan, bor, tz, tr, party, hour, res, use, _ in cols.iter_rows()
        ]
        fits = cols.get_column("fits").to_list()
        t1 = time.perf_counter()
        made = self.gate.work(contact_day, queue, fits)
        self.timings["gate"] += time.perf_counter() - t1
        for a in made:
            self.used[a.resource] += a.use
            if a.treatment is Treatment.AGENCY_PLACEMENT:
                self.placed_until[int(a.loan_id[1:]) - 1] = _epoch(contact_day) + self.agency_days
            elif a.treatment is Treatment.LEGAL_REVIEW:
                self.legal_open[int(a.loan_id[1:]) - 1] = True
        for a in queue:
            if a.verdict == "over_capacity":
                self.over[a.resource] += 1

        t2 = time.perf_counter()
        events = w.step(self.gate.actions(made))
        self.timings["step"] += time.perf_counter() - t2

        t3 = time.perf_counter()
        outcomes = {
            r[0]: r[1]
            for r in events.attempts.filter(pl.col("channel").is_not_null())
            .select("loan_id", "outcome")
            .iter_rows()
        }
        self.gate.remember(contact_day, made, outcomes)
        self.recorder.write(contact_day, self.gate, made, events.attempts)
        self.timings["record"] += time.perf_counter() - t3
        if self.cfg.on_day is not None:
            verdicts = pl.DataFrame(
                {"pos": [a.pos for a in queue], "verdict": [a.verdict for a in queue],
                 "rules": [",".join(a.rules) for a in queue]},
                schema={"pos": pl.UInt32, "verdict": pl.String, "rules": pl.String},
            )  # fmt: skip
            tasks = pl.concat(
                [
                    work.join(verdicts, on="pos", how="left").drop("pos"),
                    carried.with_columns(
                        fits=pl.lit(True),
                        verdict=pl.lit("carried"),
                        rules=pl.lit(""),
                    ),
                ],
                how="diagonal_relaxed",
            )
            self.cfg.on_day(DayRecord(as_of, frame, dec, tasks, events))
        self._count(frame, events)
        return events

    # ------------------------------------------------------------------ counting
    def _count(self, frame: pl.DataFrame, events: DayEvents) -> None:
        r = self.result
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
        self._count_accounts(frame, events, new)
        r.daily["recovered"].append(day_recovered)
        r.daily["cost"].append(day_cost + commission)
        r.daily["contacts"].append(contacts)

    def _count_accounts(self, frame: pl.DataFrame, events: DayEvents, new: npt.NDArray[np.bool_]) -> None:
        """Accumulate each account's allocation, collections, cost and complaints, and its cure."""
        i = frame.get_column("i").to_numpy()
        today = _epoch(self.world.today)
        self.acc_allocated[i[new]] = frame.get_column("overdue_amount").to_numpy()[new]
        self.entry_day[i[new]] = today

        def idx(f: pl.DataFrame) -> npt.NDArray[np.int64]:
            return (f.get_column("loan_id").str.slice(1).cast(pl.Int64) - 1).to_numpy()

        pay = events.payments
        in_coll = np.zeros(self.cfg.loans, dtype=bool)
        in_coll[i] = True
        pi = idx(pay)
        counted = in_coll[pi]  # recovered: paid by accounts in collections at the day's start
        np.add.at(self.acc_collected, pi[counted], pay.get_column("amount").to_numpy()[counted])
        np.add.at(self.acc_cost, pi, pay.get_column("commission").to_numpy())
        att = events.attempts
        np.add.at(self.acc_cost, idx(att), att.get_column("cost").to_numpy())
        np.add.at(self.acc_complaints, idx(events.complaints), 1)
        # Cured: out of collections within 30 days of entering (the delinquent view no longer has it).
        tomorrow = self.world.accounts(delinquent_only=True).get_column("loan_id")
        still = np.zeros(self.cfg.loans, dtype=bool)
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

    def run(self) -> EvalResult:
        cfg = self.cfg
        s = cfg.strategy
        self.result = EvalResult(
            strategy=cfg.label,
            strategy_name=s.name,
            strategy_version=s.version,
            strategy_hash=s.hash,
            loans=cfg.loans,
            days=cfg.days,
            seed=cfg.seed,
            perturb=cfg.perturb,
            start=cfg.start,
            params_hash=params_hash(self.world.params),
        )
        first = self.world.today + dt.timedelta(days=1)
        for k in range(cfg.days):
            self.day()
            if cfg.progress is not None:
                cfg.progress(k + 1, cfg.days)
        r = self.result
        t0 = time.perf_counter()
        r.violations, r.violation_rules = self.recorder.audit(first, self.world.today, cfg.preset)
        self.timings["audit"] += time.perf_counter() - t0
        r.accounts = int(self.seen.sum())
        per_arm = arm_results(self.arm_frame())
        r.arms = per_arm.drop("net_variance").to_dicts()
        if cfg.experiment is not None and per_arm.height > 1:
            r.arm_comparison = compare_arms(per_arm, champion=cfg.experiment.champion.name).to_dicts()
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
        r.verdicts = self.gate.verdicts
        r.actions = self.gate.passed
        r.preset = self.policy.preset.label
        r.rules_hit = self.gate.rules
        r.capacity = self.capacity.to_json()
        r.capacity_used = dict(sorted(self.used.items()))
        r.over_capacity = dict(sorted(self.over.items()))
        self.timings["policy_judge"] = self.gate.seconds
        r.timings = dict(self.timings)
        self.recorder.close()
        return r


def _epoch(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def evaluate(cfg: EvalConfig) -> EvalResult:
    """Run the strategy in the loop with the twin for ``cfg.days`` days (see the module docstring)."""
    if cfg.loans < 1 or cfg.days < 1:
        raise EvaluateError("--loans and --days must be at least 1 · 贷款数与天数须至少为 1")
    t0 = time.perf_counter()
    params = perturb_params(DEFAULT_PARAMS, cfg.perturb, cfg.seed)
    if cfg.keep_db is not None:
        path = cfg.keep_db
        if path.exists():
            raise EvaluateError(f"{path}: exists; choose a new file for the attempt log · 文件已存在")
        path.parent.mkdir(parents=True, exist_ok=True)
        result = _Loop(cfg, params, path).run()
    else:
        with tempfile.TemporaryDirectory(prefix="recoup-evaluate-") as tmp:
            result = _Loop(cfg, params, Path(tmp) / "attempts.db").run()
    result.seconds = time.perf_counter() - t0
    return result
