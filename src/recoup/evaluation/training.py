"""The training run of the response models (docs/strategy.md, "Optimised strategy"): the learning set
and the fit of :class:`~recoup.strategy.response.ResponseModels`.

The learning set comes from a **training run** of the evaluation loop on a seed the evaluation never
uses (default 1001): every account in collections gets, each day, a treatment drawn at random from the
feasible ones of :data:`ACTIONS` (:class:`RandomDecider`: a placement at its own small share, the rest
uniform; each propensity recorded), with unlimited capacity, and every attempt still passes the
contact policy. The ``on_day`` hook (:class:`Logger`) records, per account-day, the features as of D,
the treatment actually made on D + 1 (attempts the policy refused are left out) and what the account
then paid while in collections over the next ``horizon`` days, net of the agency commission on it.
:func:`train_response` runs it and fits the models (:class:`TrainingRun`: how the learning set was
made).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.contact.vocab import Treatment
from recoup.strategy.capacity import DEFAULT_HOURS
from recoup.strategy.day_record import DayRecord
from recoup.strategy.response import (
    ACTIONS,
    FEATURES,
    AccountState,
    ResponseModel,
    ResponseModels,
    _epoch,
    _ids,
    decision_rows,
)

__all__ = ["Logger", "RandomDecider", "TrainingRun", "train_response"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: A treatment's code in the model's ``treatment`` column: its index in :data:`ACTIONS`.
_ACTION_CODE = {t.value: k for k, t in enumerate(ACTIONS)}


@dataclass
class RandomDecider:
    """The training run's exploration policy, seeded by (seed, day): an agency placement (when none is
    running) with probability ``place_share``, otherwise a treatment drawn uniformly from the other
    columns of :data:`ACTIONS`; each row records its propensity. ``place_share=None`` is uniform over
    all feasible treatments (1/k). A placement runs for
    :data:`~recoup.strategy.response.AGENCY_DAYS`, so a uniform draw places nearly every account within
    weeks and leaves little to learn about accounts not (yet) placed."""

    seed: int
    state: AccountState
    place_share: float | None = None

    def __call__(self, frame: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        n = frame.height
        rng = np.random.default_rng([self.seed, _epoch(as_of)])
        placed = self.state.placed(frame, as_of) if n else np.zeros(0, dtype=bool)
        others = len(ACTIONS) - 1  # agency placement is the last column
        u = rng.random(n)
        share = 1.0 / len(ACTIONS) if self.place_share is None else self.place_share
        place = ~placed & (u < share)
        # The rest: uniform over the other treatments (rescale u to [0, 1) within its branch).
        v = np.where(placed, u, (u - share) / (1.0 - share))
        pick = np.where(place, others, np.minimum(np.floor(v * others), others - 1)).astype(np.int64)
        propensity = np.where(placed, 1.0 / others, np.where(place, share, (1.0 - share) / others))
        names = np.array([t.value for t in ACTIONS], dtype=object)[pick]
        return decision_rows(
            frame, as_of, names.tolist(), propensity, "random", "explored: randomised over feasible"
        )


@dataclass
class Logger:
    """The ``on_day`` hook of the training run: per account-day the features (as of D), the treatment
    made on D + 1 (``no_action`` rows included; attempts the policy refused or capacity dropped are left
    out) and its propensity; per day the amount each account in collections paid, net of commission."""

    state: AccountState
    rows: list[pl.DataFrame] = field(default_factory=list)
    paid: list[tuple[int, I64, F64, F64]] = field(default_factory=list)
    reach: list[pl.DataFrame] = field(default_factory=list)
    first_day: int | None = None

    def observe(self, rec: DayRecord) -> None:
        day = _epoch(rec.as_of)
        if self.first_day is None:
            self.first_day = day
        frame, dec = rec.frame, rec.decisions
        base = self.state.features(frame, rec.as_of)
        made = rec.tasks.filter(pl.col("verdict").is_in(["allowed"])).select("loan_id", "treatment")
        tr = (
            dec.select("loan_id", pl.col("treatment").alias("planned"), "propensity")
            .join(made, on="loan_id", how="left")
            .with_columns(
                ok=(pl.col("planned") == Treatment.NO_ACTION.value) | pl.col("treatment").is_not_null()
            )
        )
        ok = tr.get_column("ok").to_numpy()
        code = tr.get_column("planned").replace_strict(_ACTION_CODE, return_dtype=pl.Int64).to_numpy()
        i = frame.get_column("i").to_numpy().astype(np.int64)
        df = pl.DataFrame(base[ok], schema=list(FEATURES[:-1]), orient="row").with_columns(
            day=pl.lit(day - self.first_day, pl.Int64),
            i=pl.Series(i[ok], dtype=pl.Int64),
            treatment=pl.Series(code[ok], dtype=pl.Int64),
            overdue=frame.get_column("overdue_amount").cast(pl.Float64).filter(pl.Series(ok)),
            propensity=tr.get_column("propensity").filter(pl.Series(ok)),
        )
        self.rows.append(df)
        # What the accounts in collections paid on D + 1, net of the agency's commission (recovered).
        pay = rec.events.payments.join(frame.select("loan_id"), on="loan_id", how="inner")
        net = (pay.get_column("amount") - pay.get_column("commission")).cast(pl.Float64).to_numpy()
        comm = pay.get_column("commission").cast(pl.Float64).to_numpy()
        self.paid.append((day - self.first_day, _ids(pay.get_column("loan_id")), net, comm))
        att = rec.events.attempts.filter(pl.col("channel").is_not_null())
        self.reach.append(
            att.group_by("treatment", "hour").agg(n=pl.len(), reached=pl.col("reached").sum().cast(pl.Int64))
        )
        self.state.observe(rec)

    def best_hours(self, share: float = 0.9) -> dict[str, list[int]]:
        """Per task treatment (calls, visits), the hours of its working window whose logged reach rate
        is at least ``share`` of the best one's."""
        if not self.reach:
            return {}
        agg = (
            pl.concat(self.reach)
            .group_by("treatment", "hour")
            .agg(pl.col("n").sum(), pl.col("reached").sum())
            .with_columns(rate=pl.col("reached") / pl.col("n"))
        )
        out: dict[str, list[int]] = {}
        for t in (Treatment.ROBOT_CALL, Treatment.AGENT_CALL, Treatment.PLAN_OFFER, Treatment.FIELD_VISIT):
            lo, hi = DEFAULT_HOURS[t]
            sub = agg.filter(
                pl.col("treatment") == t.value, pl.col("hour").is_between(lo, hi), pl.col("n") >= 30
            )
            if sub.height == 0:
                continue
            best = float(sub.get_column("rate").to_numpy().max())
            if best <= 0:
                continue
            out[t.value] = sorted(sub.filter(pl.col("rate") >= share * best).get_column("hour").to_list())
        return out

    def table(self, horizon: int) -> pl.DataFrame:
        """One row per logged account-day whose horizon ended within the run: features, treatment and
        ``y`` = net paid over days D + 1 … D + horizon ÷ overdue on D, ``c`` the agency's commission
        on those payments ÷ overdue."""
        rows = pl.concat(self.rows, how="vertical")
        days = len(self.paid)
        top = [int(p[1].max()) for p in self.paid if p[1].size]
        n = max([int(rows.get_column("i").to_numpy().max(initial=0)), *top])
        paid = np.zeros((days + 1, n + 1))
        comm = np.zeros((days + 1, n + 1))
        for day, idx, net, c in self.paid:
            np.add.at(paid[day + 1], idx, net)
            np.add.at(comm[day + 1], idx, c)
        cum = np.cumsum(paid, axis=0)  # cum[d] = paid on days 0 … d − 1
        cum_c = np.cumsum(comm, axis=0)
        rows = rows.filter(pl.col("day") + horizon <= days)
        d = rows.get_column("day").to_numpy()
        i = rows.get_column("i").to_numpy()
        amount = cum[d + horizon, i] - cum[d, i]
        commission = cum_c[d + horizon, i] - cum_c[d, i]
        overdue = np.maximum(rows.get_column("overdue").to_numpy(), 1.0)
        return rows.with_columns(
            amount=pl.Series(amount), y=pl.Series(amount / overdue), c=pl.Series(commission / overdue)
        )


@dataclass(frozen=True)
class TrainingRun:
    """How the learning set was made (stored with the model)."""

    loans: int
    days: int
    seed: int
    horizon: int
    rows: int
    seconds: float
    violations: int
    place_share: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "place_share": self.place_share,
            "loans": self.loans,
            "days": self.days,
            "seed": self.seed,
            "horizon": self.horizon,
            "rows": self.rows,
            "seconds": round(self.seconds, 1),
            "violations": self.violations,
        }


def train_response(
    loans: int = 30_000,
    days: int = 90,
    seed: int = 1001,
    horizon: int = 14,
    progress: Callable[[str], None] | None = None,
    place_share: float | None = 0.02,
) -> tuple[ResponseModels, TrainingRun]:
    """The training run (randomised treatments, unlimited capacity, the contact policy as always) and the
    fitted :class:`ResponseModel`. ``seed`` must not be one the evaluation uses (1…K)."""
    from recoup.evaluation.evaluate import EvalConfig, baseline_strategy, evaluate
    from recoup.strategy.capacity import Capacity

    t0 = time.perf_counter()
    state = AccountState()
    logger = Logger(state)
    say = progress or (lambda _m: None)

    def step(k: int, n: int) -> None:
        if k % 10 == 0 or k == n:
            say(f"training run: day {k}/{n}")

    cfg = EvalConfig(
        strategy=baseline_strategy(),
        loans=loans,
        days=days + horizon,
        seed=seed,
        capacity=Capacity(),  # unlimited: the training run learns responses, not staffing
        label="random",
        decider=RandomDecider(seed, state, place_share),
        on_day=logger.observe,
        progress=step,
    )
    result = evaluate(cfg)
    table = logger.table(horizon)
    say(f"fitting on {table.height:,} account-days")
    x = table.select(list(FEATURES)).to_numpy().astype(np.float64)
    y = table.get_column("y").to_numpy()
    w = 1.0 / table.get_column("propensity").to_numpy()  # inverse propensity (uniform: a constant)
    net = ResponseModel(horizon=horizon, random_state=seed).fit(x, y, sample_weight=w / w.mean())
    c = table.get_column("c").to_numpy()
    commission = ResponseModel(horizon=horizon, random_state=seed).fit(x, c, sample_weight=w / w.mean())
    run = TrainingRun(
        loans, days, seed, horizon, table.height, time.perf_counter() - t0, result.violations, place_share
    )
    return ResponseModels(net=net, commission=commission, hours=logger.best_hours()), run
