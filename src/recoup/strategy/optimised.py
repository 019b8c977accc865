"""The optimised strategy: each day, the plan that maximises total expected value under the day's
capacity and message budget (issue 7, item 3; docs/strategy.md, "Optimised strategy").

Per account ``i`` in collections and treatment ``t`` of :data:`~recoup.strategy.response.ACTIONS`::

    EV[i, t] = overdue_i × (f(x_i, t) − f(x_i, no_action)) − price_t

with ``f`` the learned :class:`~recoup.strategy.response.ResponseModel` (net amount paid over the
horizon per fen overdue, the agency's commission already deducted) and ``price_t`` the lender's price
of the treatment (the ``prices`` configuration, :mod:`recoup.strategy.economics`; its defaults,
:data:`recoup.strategy.prices.TREATMENT_PRICES`, are the numbers the twin charges). Infeasible
pairs: a placement while one is running (a state, not a day's work). Capacities per treatment come
from :class:`Capacity` (agents' minutes ÷ minutes per call — calls and plan offers share them, split
by :meth:`OptimisedDecider._plan` — visits, robot calls, letters, placements); the message budget is
the optimiser's budget over the message treatments (priced in fen).
:func:`recoup.strategy.optimiser.optimise` plans the day with a certified gap; each decision carries
its expected value, the runner-up and the binding constraint in ``reasons``.

Required notices are not the optimiser's to choose: the baseline's ``required_notice`` rows (the
notice before negative credit reporting on day 25) are evaluated first, exactly as in the default
strategy, those accounts get the notice (paid from the message budget first) and take no part in the
day's optimisation. The loop's contact policy still judges every attempt.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.contact.vocab import Treatment
from recoup.strategy.capacity import DEFAULT_HOURS, MINUTES, RESOURCE, Capacity
from recoup.strategy.day_record import DayRecord
from recoup.strategy.defaults import DEFAULT_STRATEGY
from recoup.strategy.definition import Strategy, load_strategy
from recoup.strategy.experiments import stable_uniform
from recoup.strategy.kernel import Plan as KernelPlan
from recoup.strategy.kernel import decide
from recoup.strategy.optimiser import Plan, optimise
from recoup.strategy.prices import AGENCY_COMMISSION_BP, price_list
from recoup.strategy.response import ACTIONS, AccountState, ResponseModels, decision_rows

__all__ = ["COST_WEIGHT", "OPTIMISED_NAME", "OptimisedDecider", "notice_strategy"]

OPTIMISED_NAME = "optimised"
#: μ: the price of a fen of cost beyond its face value (chosen on seed 1; docs/strategy.md).
COST_WEIGHT = 0.2
F64 = npt.NDArray[np.float64]


def notice_strategy() -> Strategy:
    """The baseline's required-notice rows alone (default ``no_action``): what the optimised strategy
    must send whatever the plan, and the strategy document its runs record (name ``optimised``)."""
    doc = {k: v for k, v in DEFAULT_STRATEGY.items() if k != "rows"}
    doc["name"] = OPTIMISED_NAME
    doc["description"] = (
        "优化策略：按期望价值在产能与预算内选择处置；法定告知照常发送 · The optimised plan (expected "
        "value under capacity and budget); the required notices of the default strategy are kept."
    )
    doc["rows"] = [r for r in DEFAULT_STRATEGY["rows"] if r.get("required_notice")]
    doc["default"] = {"treatment": Treatment.NO_ACTION.value}
    return load_strategy(doc, version=1)


@dataclass
class OptimisedDecider:
    """The optimised plan for a day's decision frame: the cycle's planner (``plan_optimised``) and the
    evaluation's decider (``recoup.evaluation.optimised``). :meth:`observe` each day's
    :class:`DayRecord` so it knows the placements, contacts and payments of earlier days (the same
    history the model was trained with)."""

    model: ResponseModels
    capacity: Capacity
    notices: Strategy = field(default_factory=notice_strategy)
    #: The lender's price list per treatment (fen): the ``prices`` configuration
    #: (:mod:`recoup.strategy.economics`), by default :data:`recoup.strategy.prices.TREATMENT_PRICES`.
    prices: Mapping[str, int] = field(default_factory=price_list)
    #: The agencies' commission (bp) by bucket, or None: the rate the model was trained under
    #: (:data:`AGENCY_COMMISSION_BP`) for every account. The commission response is scaled by the
    #: account's rate ÷ that rate, and the net response gains back what the commission no longer takes.
    commission_bp: Mapping[str, int] | None = None
    #: Local hours on duty per treatment (the ``capacity`` configuration): tasks are spread over these
    #: (the learned best hours among them when any is); treatments absent keep their default window.
    windows: Mapping[Treatment, tuple[int, ...]] = field(default_factory=dict)
    #: A total daily spend on treatments (fen), or None: then the optimiser's budget is the message
    #: budget alone. With it, the budget covers every treatment's price and each message treatment is
    #: capped at what the message budget buys of it (the loop still enforces the message budget).
    daily_budget: int | None = None
    #: μ ≥ 0: the price of one fen of cost (treatment price plus expected extra commission) beyond its
    #: face value — a fixed Lagrange multiplier on the total cost, trading net for a lower cost.
    cost_weight: float = COST_WEIGHT
    state: AccountState = field(default_factory=AccountState)
    plans: list[dict[str, Any]] = field(default_factory=list)

    def observe(self, rec: DayRecord) -> None:
        self.state.observe(rec)

    def _hours(self, loan_ids: pl.Series, chosen: npt.NDArray[np.object_], as_of: dt.date) -> pl.Series:
        """The local hour of each task: spread (stable hash of loan and day) over the hours the logged
        attempts reached people best (:attr:`ResponseModels.hours`), else over the treatment's window
        as the loop would (messages at the send hour)."""
        u = stable_uniform(loan_ids, f"optimised-hour:{as_of.isoformat()}")
        hour = np.full(u.shape[0], self.notices.doc.send_hour, dtype=np.int64)
        for t, (lo, hi) in DEFAULT_HOURS.items():
            m = chosen == t.value
            if not m.any():
                continue
            learned = self.model.hours.get(t.value)
            if not learned and t is Treatment.PLAN_OFFER:  # an offer is an agent's call
                learned = self.model.hours.get(Treatment.AGENT_CALL.value)
            duty = self.windows.get(t)
            if duty:  # people work only when on duty: the learned hours among those, else all of them
                learned = [h for h in (learned or []) if h in duty] or list(duty)
            if learned:
                options = np.asarray(learned, dtype=np.int64)
                hour[m] = options[np.floor(u[m] * options.shape[0]).astype(np.int64)]
            else:
                hour[m] = lo + np.floor(u[m] * (hi - lo + 1)).astype(np.int64)
        return pl.Series("hour", hour, dtype=pl.Int64)

    def _limits(self) -> tuple[F64, F64, float | None]:
        """Per treatment the most accounts (inf = unlimited), the budget cost, and the budget."""
        lim = self.capacity.limits()
        cap = np.full(len(ACTIONS), math.inf)
        cost = np.zeros(len(ACTIONS))
        for k, t in enumerate(ACTIONS):
            res = RESOURCE.get(t)
            if res is None:
                continue
            price = float(self.prices.get(t.value, 0))
            if self.daily_budget is not None:
                cost[k] = price
            if res == "message_budget":
                cost[k] = price
                mb = lim.get("message_budget")
                if self.daily_budget is not None and mb is not None and price > 0:
                    cap[k] = float(mb // price)
                continue
            limit = lim.get(res)
            if limit is None:
                continue
            per = self.capacity.minutes.get(t.value, MINUTES.get(t, 1)) if res == "agent_minutes" else 1
            cap[k] = float(limit // max(per, 1))
        budget = lim.get("message_budget") if self.daily_budget is None else self.daily_budget
        return cap, cost, None if budget is None else float(budget)

    def _plan(
        self,
        value: F64,
        cost: F64,
        cap: F64,
        budget: float | None,
        feasible: npt.NDArray[np.bool_],
        names: list[str],
    ) -> Plan:
        """The optimiser's plan. Agent calls and plan offers share the agents' minutes (an offer takes
        longer): the minutes are split between them at the share (0, 10 … 100 % to offers) whose plan
        has the largest total expected value."""
        call, offer = ACTIONS.index(Treatment.AGENT_CALL), ACTIONS.index(Treatment.PLAN_OFFER)
        minutes = self.capacity.limits().get("agent_minutes")
        if minutes is None or not (np.isfinite(cap[call]) and np.isfinite(cap[offer])):
            return optimise(value, cost, cap, budget, feasible=feasible, no_action=0, names=names)
        per_call = max(
            self.capacity.minutes.get(Treatment.AGENT_CALL.value, MINUTES[Treatment.AGENT_CALL]), 1
        )
        per_offer = max(
            self.capacity.minutes.get(Treatment.PLAN_OFFER.value, MINUTES[Treatment.PLAN_OFFER]), 1
        )
        best: Plan | None = None
        for share in np.linspace(0.0, 1.0, 11):
            split = cap.copy()
            split[offer] = float(math.floor(minutes * share / per_offer))
            split[call] = float(math.floor((minutes - split[offer] * per_offer) / per_call))
            plan = optimise(value, cost, split, budget, feasible=feasible, no_action=0, names=names)
            if best is None or plan.total_value > best.total_value:
                best = plan
        assert best is not None
        return best

    def values(self, frame: pl.DataFrame, as_of: dt.date) -> tuple[F64, npt.NDArray[np.bool_]]:
        """``n × T`` expected values (fen) and the feasibility mask."""
        base = self.state.features(frame, as_of)
        ratio = self.model.net.value_matrix(base)
        comm = self.model.commission.value_matrix(base)
        overdue = frame.get_column("overdue_amount").cast(pl.Float64).to_numpy()
        if self.commission_bp is not None and "bucket" in frame.columns:
            # The model's commission is at AGENCY_COMMISSION_BP; at the bucket's rate the agency takes
            # scale × that, and what it no longer takes stays with the lender (the net response).
            rate = frame.get_column("bucket").replace_strict(
                dict(self.commission_bp), default=AGENCY_COMMISSION_BP, return_dtype=pl.Float64
            )
            scale = (rate.fill_null(AGENCY_COMMISSION_BP) / AGENCY_COMMISSION_BP).to_numpy()[:, None]
            ratio = ratio + comm * (1.0 - scale)
            comm = comm * scale
        price = np.array([float(self.prices.get(t.value, 0)) for t in ACTIONS])
        # Expected cost of t beyond no_action: its price and the extra commission it brings.
        extra = price[None, :] + np.maximum(comm - comm[:, :1], 0.0) * overdue[:, None]
        value = (ratio - ratio[:, :1]) * overdue[:, None] - price[None, :] - self.cost_weight * extra
        value[:, 0] = 0.0
        feasible = np.ones(value.shape, dtype=bool)
        feasible[:, ACTIONS.index(Treatment.AGENCY_PLACEMENT)] = ~self.state.placed(frame, as_of)
        return value, feasible

    def __call__(self, frame: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        n = frame.height
        if n == 0:
            return decision_rows(frame, as_of, [], 1.0, OPTIMISED_NAME, [], np.zeros(0))
        value, feasible = self.values(frame, as_of)
        # Required notices first (the default strategy's own rows), paid from the message budget.
        req = decide(frame, KernelPlan(champion=self.notices), as_of=as_of)
        notice = req.get_column("required_notice").to_numpy()
        feasible[notice, 1:] = False
        cap, cost, budget = self._limits()
        notice_cost = float(sum(self.prices.get(t, 0) for t in req.filter(pl.Series(notice))["treatment"]))
        if budget is not None:
            budget = max(budget - notice_cost, 0.0)
        names = [t.value for t in ACTIONS]
        plan = self._plan(value, cost, cap, budget, feasible, names)
        self.plans.append({"as_of": as_of.isoformat(), **plan.summary()})
        action_names = np.array(names, dtype=object)
        chosen = action_names[plan.choice]
        ev = np.where(np.isfinite(plan.value), plan.value, 0.0)
        ru_name = np.where(plan.runner_up >= 0, action_names[np.maximum(plan.runner_up, 0)], "none")
        ru_val = np.where(np.isfinite(plan.runner_up_value), plan.runner_up_value, 0.0)
        binding = np.array(plan.binding_names, dtype=object)[plan.binding]
        reasons = (
            pl.DataFrame(
                {"t": chosen.tolist(), "ev": ev / 100.0, "ru": ru_name.tolist(), "rv": ru_val / 100.0}
            )
            .select(
                pl.format(
                    "optimised: {} EV ¥{}; runner-up {} EV ¥{}; binding {}",
                    "t",
                    pl.col("ev").round(2),
                    "ru",
                    pl.col("rv").round(2),
                    pl.Series(binding.tolist(), dtype=pl.String),
                )
            )
            .to_series()
            .to_list()
        )
        out = decision_rows(frame, as_of, chosen.tolist(), 1.0, OPTIMISED_NAME, reasons, np.rint(ev))
        out = out.with_columns(hour=self._hours(frame.get_column("loan_id"), chosen, as_of))
        out = out.with_columns(
            strategy_version=pl.lit(self.notices.version, pl.Int64),
            strategy_hash=pl.lit(self.notices.hash, pl.String),
        )
        if notice.any():
            # The notice rows exactly as the default strategy decides them, ahead of the message queue.
            m = pl.Series(notice)
            keep = (
                "treatment",
                "template",
                "tone",
                "queue",
                "priority",
                "required_notice",
                "node",
                "reasons",
            )
            top = float(max(ev.max(), 0.0)) + 1.0
            out = out.with_columns(
                [pl.when(m).then(req.get_column(c)).otherwise(pl.col(c)).alias(c) for c in keep]
            ).with_columns(
                expected_value=pl.when(m).then(pl.lit(round(top), pl.Int64)).otherwise("expected_value")
            )
        return out
