"""Evaluation on the digital twin: recoup's strategy in the loop with the frozen simulator.

Each simulated day D → D + 1 (docs/strategy.md, "Evaluation on the digital twin"):

1. **Decision frame** from the lender's view of the book at the end of D (``World.accounts``): dpd,
   overdue, outstanding; bucket and segment from the cycle's own decision tables (``BUCKETS``,
   ``SEGMENTS``) through :func:`recoup.rules.evaluate`; score null unless a scorer is given (the CLI
   gives every strategy the same self-cure scorer, bound to each run's twin: :mod:`.scorer`).
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

Steps 1 and 3 are :mod:`recoup.evaluation.tasks`, the counting :mod:`recoup.evaluation.result`. Each day
reaches ``EvalConfig.on_day`` as a :class:`~recoup.strategy.day_record.DayRecord` (production's record
of a day, which the twin's events are written in).
Money is in fen throughout.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import load_builtin
from recoup.contact.vocab import TREATMENT_CHANNEL, Party, Treatment
from recoup.evaluation.gate import Attempt, Destinations, Gate, Recorder
from recoup.evaluation.perturb import RESPONSE_SCALARS, EvaluateError, perturb_params
from recoup.evaluation.result import EvalResult, Tally
from recoup.evaluation.scorer import ScoreCounts, score_rules
from recoup.evaluation.tasks import DEFAULT_HOURS, Decider, Execution, Scorer, Tasks
from recoup.simulate import DEFAULT_PARAMS, DayEvents, SimParams, World, params_hash
from recoup.strategy.capacity import Capacity
from recoup.strategy.day_record import DayRecord
from recoup.strategy.defaults import DEFAULT_STRATEGY
from recoup.strategy.definition import Strategy, load_strategy
from recoup.strategy.economics import CapacityConfig, Prices, default_prices
from recoup.strategy.experiments import Experiment
from recoup.strategy.kernel import Plan, decide

__all__ = [
    "DEFAULT_HOURS",
    "RESPONSE_SCALARS",
    "DayRecord",
    "EvalConfig",
    "EvalResult",
    "EvaluateError",
    "Execution",
    "WorldScorer",
    "baseline_strategy",
    "evaluate",
    "perturb_params",
    "priced",
]


@runtime_checkable
class WorldScorer(Protocol):
    """A scorer bound to each run's twin (features from that twin's book): the evaluation's self-cure
    scorer (:class:`recoup.evaluation.scorer.TwinScorer`)."""

    def bind(self, world: World) -> Scorer: ...


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run."""

    strategy: Strategy
    loans: int
    days: int
    seed: int
    start: dt.date = dt.date(2026, 1, 1)
    perturb: float = 0.0
    capacity: Capacity | None = None  # None: the staffing's capacity for the book (below)
    #: The lender's configuration (``recoup.strategy.economics``), the same objects the cycle loads:
    #: the twin charges these prices and commissions and works within this staffing. None: defaults.
    prices: Prices | None = None
    staffing: CapacityConfig | None = None
    execution: Execution = field(default_factory=Execution)
    preset: str = "cn"
    label: str = "baseline"
    keep_db: Path | None = None  # keep the attempt log here (default: a temp dir, removed)
    decider: Decider | None = None
    scorer: Scorer | WorldScorer | None = None
    # A champion/challenger experiment: arms by stable hash, each arm decided by its own strategy.
    experiment: Experiment | None = None
    arms: Mapping[str, Strategy] = field(default_factory=dict)
    on_day: Callable[[DayRecord], None] | None = None
    progress: Callable[[int, int], None] | None = None

    def effective_capacity(self) -> Capacity:
        if self.capacity is not None:
            return self.capacity
        return self.effective_staffing().capacity(self.loans)

    def effective_prices(self) -> Prices:
        return self.prices if self.prices is not None else default_prices()

    def effective_staffing(self) -> CapacityConfig:
        return self.staffing if self.staffing is not None else CapacityConfig()


def priced(params: SimParams, prices: Prices) -> SimParams:
    """The twin's parameters charging the lender's ``prices`` per treatment (complaint rates and the
    twin's own commission kept: :func:`_with_commission` recharges that by bucket)."""
    costs = {
        name: replace(tc, cost=int(prices.treatments.get(name, tc.cost)))
        for name, tc in params.treatments.items()
    }
    return params if costs == params.treatments else replace(params, treatments=costs)


def _with_commission(events: DayEvents, frame: pl.DataFrame, prices: Prices, twin_bp: int) -> DayEvents:
    """The day's payments with the agency's commission at the lender's rate for the loan's bucket (the
    decision frame's; ``C`` for a loan no longer in collections) instead of the twin's one rate."""
    rates = prices.agency_commission_bp
    if all(bp == twin_bp for bp in rates.values()) or events.payments.height == 0:
        return events
    pay = events.payments.join(frame.select("loan_id", "bucket"), on="loan_id", how="left")
    rate = pl.col("bucket").fill_null("C").replace_strict(dict(rates), default=twin_bp, return_dtype=pl.Int64)
    agency = pl.col("channel") == "agency"  # the twin's commission is charged on these only
    payments = pay.with_columns(
        commission=pl.when(agency).then(pl.col("amount") * rate // 10_000).otherwise(pl.col("commission"))
    ).select(events.payments.columns)
    return replace(events, payments=payments)


def baseline_strategy() -> Strategy:
    """The default ladder as stored: version 1 of ``default``."""
    return load_strategy(DEFAULT_STRATEGY, version=1)


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
        self.capacity = cfg.effective_capacity()
        self.prices = cfg.effective_prices()
        self.staffing = cfg.effective_staffing()
        self.twin_bp = params.treatments["agency_placement"].commission_bp
        duty = self.staffing.windows()  # the hours on duty replace the execution's windows
        execution = cfg.execution
        if duty:
            hours = {**execution.hours, **{t: (min(h), max(h)) for t, h in duty.items()}}
            execution = replace(execution, hours=hours)
        self.policy = Policy(load_builtin(cfg.preset))
        self.dest = Destinations()
        self.gate = Gate(self.policy, self.dest)
        self.recorder = Recorder(db_path, self.dest, self.policy.preset.label)
        scorer = cfg.scorer.bind(self.world) if isinstance(cfg.scorer, WorldScorer) else cfg.scorer
        self.scores = ScoreCounts(score_rules([cfg.strategy, *cfg.arms.values()]))
        self.tasks = Tasks(
            self.world,
            loans=cfg.loans,
            capacity=self.capacity,
            execution=execution,
            scorer=scorer,
            send_hour=cfg.strategy.doc.send_hour,
            agency_days=params.agency_days,
        )
        self.tally = Tally(cfg.loans)

    # ------------------------------------------------------------------ one day
    def day(self) -> DayEvents:
        w = self.world
        as_of = w.today
        contact_day = as_of + dt.timedelta(days=1)
        t0 = time.perf_counter()
        frame = self.tasks.frame(as_of)
        dec = (
            self.cfg.decider(frame, as_of)
            if self.cfg.decider is not None
            else decide(frame, self.plan, as_of=as_of)
        )
        work, carried = self.tasks.tasks(frame, dec, as_of)
        self.tally.note_arms(dec)
        self.scores.note(frame, dec)
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
        self.tasks.worked(contact_day, queue, made)

        t2 = time.perf_counter()
        events = _with_commission(w.step(self.gate.actions(made)), frame, self.prices, self.twin_bp)
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
        self.tally.count(self.result, frame, events, w)
        return events

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
        self.tally.finish(r, cfg.experiment.champion.name if cfg.experiment is not None else None)
        r.verdicts = self.gate.verdicts
        r.actions = self.gate.passed
        r.preset = self.policy.preset.label
        r.rules_hit = self.gate.rules
        r.capacity = self.capacity.to_json()
        r.config_versions = {"prices": self.prices.version, "capacity": self.staffing.version}
        r.scores = self.scores.to_json()
        to_json = getattr(cfg.scorer, "to_json", None)
        r.scorer = to_json() if callable(to_json) else None
        r.capacity_used = dict(sorted(self.tasks.used.items()))
        r.over_capacity = dict(sorted(self.tasks.over.items()))
        self.timings["policy_judge"] = self.gate.seconds
        r.timings = dict(self.timings)
        self.recorder.close()
        return r


def evaluate(cfg: EvalConfig) -> EvalResult:
    """Run the strategy in the loop with the twin for ``cfg.days`` days (see the module docstring)."""
    if cfg.loans < 1 or cfg.days < 1:
        raise EvaluateError("--loans and --days must be at least 1 · 贷款数与天数须至少为 1")
    t0 = time.perf_counter()
    params = priced(perturb_params(DEFAULT_PARAMS, cfg.perturb, cfg.seed), cfg.effective_prices())
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
