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
   by the contact policy** before it is made (:class:`_Gate`); blocked ones are not made, deferred
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
import hashlib
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import insert
from sqlalchemy.orm import Session

from recoup import rules
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import BorrowerContext, History, PriorAttempt, Proposal
from recoup.contact.policy.presets import load_builtin
from recoup.contact.vocab import (
    TREATMENT_CHANNEL,
    AttemptOutcome,
    Channel,
    DestinationKind,
    Party,
    Treatment,
)
from recoup.delinquency.tables import BUCKETS
from recoup.errors import RecoupError
from recoup.pii import PiiCipher, mask_email, mask_phone
from recoup.reporting.arms import arm_results, compare_arms
from recoup.scoring.segments import SEGMENTS
from recoup.simulate import DEFAULT_PARAMS, Action, DayEvents, SimParams, World, params_hash
from recoup.simulate.params import Response
from recoup.strategy.capacity import RESOURCE, Capacity, queue_order, within
from recoup.strategy.defaults import DEFAULT_STRATEGY
from recoup.strategy.definition import MESSAGE_TREATMENTS, Strategy, load_strategy
from recoup.strategy.experiments import CHAMPION, Experiment, stable_uniform
from recoup.strategy.kernel import Plan, decide

__all__ = [
    "DEFAULT_HOURS",
    "RESPONSE_SCALARS",
    "Comparison",
    "DayRecord",
    "EvalConfig",
    "EvalResult",
    "EvaluateError",
    "Execution",
    "baseline_strategy",
    "compare",
    "evaluate",
    "paired_difference",
    "perturb_params",
    "t975",
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
_LENDER_TZ = "Asia/Shanghai"
#: A fixed key for the evaluation's own attempt log: its destinations are fake, and a fixed key keeps
#: the log byte-identical per seed (the deployment's PII key is never touched).
_EVAL_KEY = hashlib.sha256(b"recoup strategy evaluate: fake destinations").digest()


class EvaluateError(RecoupError):
    """Bad input to ``recoup strategy evaluate`` (a strategy that cannot be used, a bad setting)."""

    code = "strategy.evaluate_invalid"
    http_status = 422
    exit_code = 65


# ------------------------------------------------------------------------------------------ perturbation

#: Scalar response parameters of :class:`SimParams` (how strongly treatments act, and complaints).
RESPONSE_SCALARS: tuple[str, ...] = (
    "fatigue_effort",
    "fatigue_complaint",
    "night_complaint",
    "rude_complaint",
    "third_party_effort",
    "guarantor_effort",
    "third_party_complaint",
    "agency_daily_effort",
    "agency_find",
)
#: Response fields that are probabilities (or a multiplier that must not exceed 1): clipped to [0, 1].
_PROBABILITIES = frozenset(
    {
        "answer",
        "read",
        "ptp",
        "ptp_keep",
        "plan_accept",
        "plan_keep",
        "settle_accept",
        "settle_keep",
        "portal_use",
        "portal_pay",
        "reply",
        "found_answer",
        "reminder",  # × miss after a reminder: a reminder never makes a miss more likely
        "agency_find",
    }
)


def perturb_params(params: SimParams, p: float, seed: int) -> SimParams:
    """A copy of ``params`` whose response parameters are each scaled by a factor drawn uniformly from
    [1 − p, 1 + p] (seeded by ``seed``; ``p = 0`` returns ``params`` itself). ``params`` is not touched.

    Response parameters: per borrower type every field of :class:`Response` (each treatment's effort,
    answer and read rates, promise/plan/settlement/portal rates, replies, the complaint multiplier, the
    reminder effect) and the effort jump δ₂; per treatment the complaint rate; and
    :data:`RESPONSE_SCALARS`. Probabilities are clipped to [0, 1]. The untreated repayment process,
    profiles, products, prices and the hourly answer profiles are left alone.
    """
    if not 0.0 <= p < 1.0:
        raise EvaluateError(f"--perturb must be in [0, 1), got {p} · 扰动幅度须在 [0, 1) 之间")
    if p == 0.0:
        return params
    # The factors come in a fixed order from one stream seeded by the run's seed: the same seed gives
    # the same perturbed twin whatever the strategy, so a comparison stays paired.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E27_0B]))

    def factor() -> float:
        return float(1.0 + p * (2.0 * rng.random() - 1.0))

    def scaled(name: str, value: float) -> float:
        out = value * factor()
        return min(max(out, 0.0), 1.0) if name in _PROBABILITIES else max(out, 0.0)

    types = {}
    for tname in sorted(params.types):
        tp = params.types[tname]
        res = tp.response
        changes: dict[str, Any] = {}
        for f in fields(Response):
            if f.name == "effort":
                changes["effort"] = {k: scaled(k, res.effort[k]) for k in sorted(res.effort)}
            else:
                changes[f.name] = scaled(f.name, getattr(res, f.name))
        dyn = replace(tp.dynamics, delta2=scaled("delta2", tp.dynamics.delta2))
        types[tname] = replace(tp, response=replace(res, **changes), dynamics=dyn)
    treatments = {
        k: replace(c, complaint=scaled("complaint", c.complaint))
        for k, c in sorted(params.treatments.items())
    }
    scalars: dict[str, Any] = {name: scaled(name, float(getattr(params, name))) for name in RESPONSE_SCALARS}
    return replace(params, types=types, treatments=treatments, **scalars)


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


# ------------------------------------------------------------------------------------------ the gate


@dataclass
class _Attempt:
    """A planned contact attempt, or a legal step / placement (``channel`` None: contacts no one)."""

    pos: int  # row in the day's task frame
    loan_id: str
    borrower_id: str
    tz: str
    treatment: Treatment
    channel: Channel | None
    party: Party
    hour: int
    resource: str
    use: int
    minute: int = 0
    verdict: str = ""
    rules: tuple[str, ...] = ()

    @property
    def contacts(self) -> bool:
        return self.channel is not None


class _Log:
    """One borrower's attempts as the policy sees them; the indexed :class:`History` is rebuilt only
    when the log changed since it was last judged."""

    __slots__ = ("history", "items")

    def __init__(self) -> None:
        self.items: list[PriorAttempt] = []
        self.history: History | None = None

    def add(self, attempt: PriorAttempt) -> None:
        self.items.append(attempt)
        self.history = None

    def indexed(self) -> History:
        if self.history is None:
            self.history = History(self.items)
        return self.history


class _Destinations:
    """A stable fake destination per borrower, party and kind, and its keyed hash (what the log stores)."""

    _PREFIX: ClassVar[dict[Party, str]] = {
        Party.DEBTOR: "1990",
        Party.GUARANTOR: "1991",
        Party.EMERGENCY_CONTACT: "1992",
    }

    def __init__(self) -> None:
        self.cipher = PiiCipher(_EVAL_KEY)
        self.cache: dict[tuple[str, Party, DestinationKind], tuple[str, str]] = {}

    @staticmethod
    def kind(channel: Channel) -> DestinationKind:
        if channel is Channel.EMAIL:
            return DestinationKind.EMAIL
        if channel is Channel.IM:
            return DestinationKind.IM
        if channel in (Channel.VISIT, Channel.LETTER):
            return DestinationKind.ADDRESS
        return DestinationKind.MOBILE

    def get(self, borrower: str, party: Party, kind: DestinationKind) -> tuple[str, str]:
        """(hash, masked) of the destination."""
        key = (borrower, party, kind)
        hit = self.cache.get(key)
        if hit is None:
            digits = borrower[1:]
            n = (
                int(digits)
                if digits.isdigit()
                else int(hashlib.sha256(borrower.encode()).hexdigest()[:6], 16)
            )
            who = party.value
            if kind is DestinationKind.MOBILE:
                text = self._PREFIX.get(party, "1993") + f"{n:07d}"
                masked = mask_phone(text)
            elif kind is DestinationKind.EMAIL:
                text = f"{who}.{n}@sim.invalid"
                masked = mask_email(text)
            else:
                text = f"{kind.value}:{who}:{n}"
                masked = f"{kind.value}:{who}:***"
            hit = (self.cipher.lookup_hash(text), masked)
            self.cache[key] = hit
        return hit


class _Gate:
    """The only way an attempt reaches the twin: judged by the contact policy, with the borrower's
    attempts so far (earlier days with their real outcomes; earlier today with the worst outcome for
    every cap, since the twin tells today's outcomes only at the end of the day)."""

    def __init__(self, policy: Policy, destinations: _Destinations) -> None:
        self.policy = policy
        self.dest = destinations
        self.logs: dict[str, _Log] = {}
        self.contexts: dict[str, BorrowerContext] = {}
        self.zones: dict[str, ZoneInfo] = {}
        self.verdicts: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        #: (loan, treatment, hour, party) of the attempts allowed today: what :meth:`actions` may build.
        self.allowed_today: set[tuple[str, str, int, str]] = set()
        self.seconds = 0.0
        self.passed = 0  # actions handed to the twin

    def _context(self, tz: str) -> BorrowerContext:
        ctx = self.contexts.get(tz)
        if ctx is None:
            ctx = self.contexts[tz] = BorrowerContext(timezone=tz)
        return ctx

    def at(self, day: dt.date, a: _Attempt) -> dt.datetime:
        zone = self.zones.get(a.tz)
        if zone is None:
            zone = self.zones[a.tz] = ZoneInfo(a.tz)
        return dt.datetime.combine(day, dt.time(a.hour, a.minute), tzinfo=zone)

    def judge(self, day: dt.date, a: _Attempt, today: list[PriorAttempt]) -> bool:
        """Judge ``a``; record the verdict on it; True when allowed."""
        assert a.channel is not None
        t0 = time.perf_counter()
        kind = self.dest.kind(a.channel)
        dest, _ = self.dest.get(a.borrower_id, a.party, kind)
        at = self.at(day, a)
        log = self.logs.get(a.borrower_id)
        if today:
            # Attempts made earlier today, each counted both as answered and as unanswered (the worst
            # case for every cap and for the emergency-contact gate).
            prior = (log.items if log is not None else []) + today
            history = History(prior)
        else:
            history = log.indexed() if log is not None else History(())
        proposal = Proposal(
            id=f"{a.loan_id}:{a.treatment.value}",
            at=at,
            channel=a.channel,
            party=a.party,
            destination=dest,
            destination_kind=kind,
            debt_id=a.loan_id,
        )
        v = self.policy.judge(proposal, borrower=self._context(a.tz), history=history)
        a.verdict, a.rules = v.verdict, v.rules
        self.verdicts[v.verdict] += 1
        for r in v.rules:
            self.rules[f"{v.verdict}:{r}"] += 1
        if v.verdict == "allowed":
            self.allowed_today.add((a.loan_id, a.treatment.value, a.hour, a.party.value))
            today.append(PriorAttempt(at, a.channel, a.party, dest, AttemptOutcome.NO_ANSWER, a.loan_id))
            today.append(PriorAttempt(at, a.channel, a.party, dest, AttemptOutcome.CONVERSATION, a.loan_id))
        self.seconds += time.perf_counter() - t0
        return v.verdict == "allowed"

    def work(self, day: dt.date, queue: list[_Attempt], fits: Sequence[bool]) -> list[_Attempt]:
        """The day's allowed attempts: the queue's prefix within capacity, judged in time order; the
        capacity freed by blocked and deferred ones goes to the next in the queue (borrowers not yet
        contacted today, so that no later-judged attempt lands before an earlier-judged one)."""
        self.allowed_today.clear()
        today: dict[str, list[PriorAttempt]] = {}
        slot: Counter[tuple[str, int]] = Counter()
        freed: Counter[str] = Counter()
        made: list[_Attempt] = []
        chosen = [a for a, f in zip(queue, fits, strict=True) if f]
        for a in sorted(chosen, key=lambda x: (x.hour, x.pos)):
            if not a.contacts:
                a.verdict = "allowed"  # a legal review or a placement contacts no one
                made.append(a)
                continue
            # Attempts on one borrower in one hour get distinct minutes, so each counts for the next.
            a.minute = slot[(a.borrower_id, a.hour)]
            slot[(a.borrower_id, a.hour)] += 1
            if self.judge(day, a, today.setdefault(a.borrower_id, [])):
                made.append(a)
            else:
                freed[a.resource] += a.use
        if freed:
            for a, f in zip(queue, fits, strict=True):
                if f or freed[a.resource] < a.use or not a.contacts or today.get(a.borrower_id):
                    continue
                a.minute = slot[(a.borrower_id, a.hour)]
                slot[(a.borrower_id, a.hour)] += 1
                if self.judge(day, a, today.setdefault(a.borrower_id, [])):
                    freed[a.resource] -= a.use
                    made.append(a)
        for a in queue:
            if not a.verdict:
                a.verdict = "over_capacity"
        return made

    def actions(self, made: list[_Attempt]) -> list[Action]:
        """Actions for the twin: only from attempts this gate allowed today (the one way the loop builds
        them); a contact the policy did not allow cannot become an action."""
        out = []
        for a in made:
            key = (a.loan_id, a.treatment.value, a.hour, a.party.value)
            if a.verdict != "allowed" or (a.contacts and key not in self.allowed_today):
                raise AssertionError(f"an unjudged attempt on {a.loan_id} would reach the twin")
            out.append(Action(a.loan_id, a.treatment, hour=a.hour, party=a.party))
        self.passed += len(out)
        return out

    def remember(self, day: dt.date, made: list[_Attempt], outcomes: Mapping[str, str]) -> None:
        """Add the day's attempts with the outcomes the twin reported to the borrowers' logs."""
        for a in sorted(made, key=lambda x: (x.hour, x.minute, x.pos)):
            if not a.contacts:
                continue
            assert a.channel is not None
            kind = self.dest.kind(a.channel)
            dest, _ = self.dest.get(a.borrower_id, a.party, kind)
            outcome = AttemptOutcome(outcomes[a.loan_id])
            log = self.logs.get(a.borrower_id)
            if log is None:
                log = self.logs[a.borrower_id] = _Log()
            log.add(PriorAttempt(self.at(day, a), a.channel, a.party, dest, outcome, a.loan_id))


# ------------------------------------------------------------------------------------------ recording


#: Who works each task in the twin (the log's ``made_by``; messages are sent by the dispatcher).
_MADE_BY = {Treatment.FIELD_VISIT: "sim-field", Treatment.LAWYER_LETTER: "sim-legal"}


class _Recorder:
    """The attempt log: ``contact_attempt`` rows in a SQLite database of the run's own, with the same
    columns as a real attempt (keyed destination hash, masked destination, UTC time); the policy audit
    replays it at the end."""

    def __init__(self, path: Path, destinations: _Destinations, preset_label: str) -> None:
        from recoup import migrate
        from recoup.db import make_engine

        self.path = path
        self.engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(self.engine)
        self.dest = destinations
        self.preset = preset_label
        self.borrowers: dict[str, str] = {}  # borrower key → time zone
        self.count = 0

    def write(self, day: dt.date, gate: _Gate, made: list[_Attempt], attempts: pl.DataFrame) -> None:
        by_loan = {r[0]: r for r in attempts.select("loan_id", "outcome", "disposition").iter_rows()}
        rows: list[dict[str, Any]] = []
        for a in made:
            if not a.contacts:
                continue
            assert a.channel is not None
            _, outcome, disposition = by_loan[a.loan_id]
            kind = self.dest.kind(a.channel)
            dest, masked = self.dest.get(a.borrower_id, a.party, kind)
            at = gate.at(day, a).astimezone(dt.UTC)
            message = a.treatment in MESSAGE_TREATMENTS
            made_by = "dispatcher" if message else _MADE_BY.get(a.treatment, "sim-collector")
            rows.append(
                {
                    "source": "dispatcher" if message else "collector",
                    "external_id": f"{day.isoformat()}:{a.loan_id}:{a.treatment.value}",
                    "borrower_key": a.borrower_id,
                    "debt_key": a.loan_id,
                    "party": a.party.value,
                    "channel": a.channel.value,
                    "destination_hash": dest,
                    "destination_masked": masked,
                    "destination_kind": kind.value,
                    "at": at,
                    "outcome": outcome,
                    "disposition": disposition,
                    "recording_ref": None,
                    "made_by": made_by,
                    "agency": None,
                    "content": None,
                    "preset": self.preset,
                    "created_at": at,
                }
            )
            self.borrowers.setdefault(a.borrower_id, a.tz)
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(ContactAttempt), rows)
            self.count += len(rows)

    def audit(self, first: dt.date, last: dt.date, preset: str) -> tuple[int, Counter[str]]:
        """The independent replay (``recoup policy audit``): violations and their rule ids."""
        from recoup.contact.policy.audit import audit
        from recoup.portfolio.models import Borrower

        with Session(self.engine) as session:
            if self.borrowers:
                # The audit reads each borrower's time zone (their clock decides the quiet hours).
                rows = [
                    {"external_id": k, "name": "", "timezone": tz} for k, tz in sorted(self.borrowers.items())
                ]
                session.execute(insert(Borrower), rows)
                session.commit()
            rules_hit: Counter[str] = Counter()
            n = 0
            for v in audit(session=session, start=first, end=last, preset=preset, timezone=_LENDER_TZ):
                n += 1
                for r in v.rules:
                    rules_hit[r] += 1
        return n, rules_hit

    def close(self) -> None:
        self.engine.dispose()


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
        self.dest = _Destinations()
        self.gate = _Gate(self.policy, self.dest)
        self.recorder = _Recorder(db_path, self.dest, self.policy.preset.label)
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
                    pl.col("customer_type").fill_null("individual"), pl.col("timezone").fill_null(_LENDER_TZ)
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
            _Attempt(
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


# ------------------------------------------------------------------------------------------ compare


@dataclass(frozen=True)
class Difference:
    """Mean of the paired differences (B − A) over seeds, with a 95 % t interval (None for one seed)."""

    mean: float
    low: float | None
    high: float | None
    values: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": round(self.mean),
            "ci95": [round(self.low), round(self.high)]
            if self.low is not None and self.high is not None
            else None,
            "per_seed": list(self.values),
        }


#: Student's t quantile t₀.₉₇₅ for 1–30 degrees of freedom.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t975(df: int) -> float:
    """t₀.₉₇₅(df): the table to 30, then the Cornish–Fisher expansion (within 1e-4)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_difference(a: Sequence[int], b: Sequence[int]) -> Difference:
    """Paired t over seeds: mean(b − a) ± t₀.₉₇₅(k − 1) · sd / √k."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    k = d.size
    mean = float(d.mean()) if k else 0.0
    if k < 2:
        return Difference(mean, None, None, tuple(int(x) for x in d))
    half = t975(k - 1) * float(d.std(ddof=1)) / math.sqrt(k)
    return Difference(mean, mean - half, mean + half, tuple(int(x) for x in d))


@dataclass(frozen=True)
class Comparison:
    """``compare A B``: both strategies on the same seeds (the same twins), paired."""

    a: list[EvalResult]
    b: list[EvalResult]

    def difference(self, metric: str) -> Difference:
        return paired_difference([_metric(r, metric) for r in self.a], [_metric(r, metric) for r in self.b])

    def verdict(self) -> str:
        d = self.difference("net")
        if d.low is None or d.high is None:
            return "one seed: no interval · 仅一个种子，无区间"
        if d.low > 0:
            return "B nets more (significant at 95 %) · B 净回收显著更高"
        if d.high < 0:
            return "A nets more (significant at 95 %) · A 净回收显著更高"
        return "no significant difference · 差异不显著"

    def to_json(self) -> dict[str, Any]:
        first = self.a[0]
        return {
            "a": first.strategy,
            "b": self.b[0].strategy,
            "a_version": first.strategy_version,
            "b_version": self.b[0].strategy_version,
            "loans": first.loans,
            "days": first.days,
            "perturb": first.perturb,
            "seeds": [r.seed for r in self.a],
            "difference": "b - a",
            **{
                m: self.difference(m).to_json()
                for m in ("net", "recovered", "cost", "contacts", "complaints", "violations")
            },
            "verdict": self.verdict(),
            "per_seed": [
                {
                    "seed": ra.seed,
                    "a": {m: _metric(ra, m) for m in _COMPARED},
                    "b": {m: _metric(rb, m) for m in _COMPARED},
                }
                for ra, rb in zip(self.a, self.b, strict=True)
            ],
            "seconds": round(sum(r.seconds for r in self.a + self.b), 3),
        }


_COMPARED = ("recovered", "cost", "net", "contacts", "complaints", "violations")


def _metric(r: EvalResult, name: str) -> int:
    value = getattr(r, name)
    return int(value)


def _run_one(args: tuple[str, dict[str, Any], int | None, dict[str, Any]]) -> EvalResult:
    """A worker's run (picklable arguments: the strategy document, not the object)."""
    label, doc, version, kw = args
    strategy = load_strategy(doc, version=version, segments=None)
    return evaluate(EvalConfig(strategy=strategy, label=label, **kw))


def compare(
    a: tuple[str, Strategy, Execution],
    b: tuple[str, Strategy, Execution],
    *,
    seeds: Sequence[int],
    loans: int,
    days: int,
    perturb: float = 0.0,
    start: dt.date = dt.date(2026, 1, 1),
    capacity: Capacity | None = None,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Evaluate A and B on each seed (the same twin per seed) and pair the results."""
    runs: list[tuple[str, dict[str, Any], int | None, dict[str, Any]]] = []
    for label, strategy, execution in (a, b):
        for seed in seeds:
            kw = {
                "loans": loans,
                "days": days,
                "seed": seed,
                "perturb": perturb,
                "start": start,
                "capacity": capacity,
                "execution": execution,
            }
            runs.append((label, strategy.doc.model_dump(mode="json"), strategy.version, kw))
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_run_one, runs))
    else:
        results = []
        for run in runs:
            results.append(_run_one(run))
            if progress is not None:
                progress(f"{run[0]} seed {run[3]['seed']}")
    k = len(seeds)
    return Comparison(a=results[:k], b=results[k:])
