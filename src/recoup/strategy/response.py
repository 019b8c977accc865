"""Response models: what a treatment does to what an account pays, learned from logged, randomised
outcomes (issue 7, item 3; docs/strategy.md, "Optimised strategy").

The learning set comes from a **training run** of the evaluation loop on a seed the evaluation never
uses (default 1001): every account in collections gets, each day, a treatment drawn at random from the
feasible ones of :data:`ACTIONS` (:class:`RandomDecider`: a placement at its own small share, the rest
uniform; each propensity recorded), with unlimited
capacity, and every attempt still passes the contact policy. The ``on_day`` hook (:class:`Logger`)
records, per account-day, the features as of D, the treatment actually made on D + 1 (attempts the
policy refused are left out) and what the account then paid while in collections over the next
``horizon`` days, net of the agency commission on it.

The model (:class:`ResponseModel`, the scikit-learn estimator contract) is one gradient-boosted tree
ensemble (LightGBM) with the treatment as a categorical feature (an S-learner). Its target is that net
amount as a fraction of the account's overdue amount, so the expected amount of treatment ``t`` is
``overdue × f(x, t)`` and the uplift is ``overdue × (f(x, t) − f(x, no_action))``. Nothing is read
from the twin's parameters: only the logged outcomes (the prices of treatments are the lender's own
price list and are used as costs by the decider, not here).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.base import BaseEstimator, RegressorMixin

from recoup.contact.vocab import Treatment
from recoup.strategy.evaluate import DayRecord

__all__ = [
    "ACTIONS",
    "AGENCY_DAYS",
    "FEATURES",
    "AccountState",
    "Logger",
    "RandomDecider",
    "ResponseModel",
    "ResponseModels",
    "TrainingRun",
    "decision_rows",
    "load_model",
    "save_model",
    "train_response",
    "with_treatment",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: The treatments the optimised strategy chooses from (column order of its value matrix); ``no_action``
#: first, agency placement last. A plan offer is an agent's call that offers to split the overdue amount
#: (it shares the agents' minutes with calls, at twice the minutes). Not here: legal reviews (a lawyer's
#: decision) and settlements (a discount is a credit decision).
ACTIONS: tuple[Treatment, ...] = (
    Treatment.NO_ACTION,
    Treatment.SMS,
    Treatment.EMAIL,
    Treatment.IM,
    Treatment.PORTAL_LINK,
    Treatment.ROBOT_CALL,
    Treatment.AGENT_CALL,
    Treatment.PLAN_OFFER,
    Treatment.FIELD_VISIT,
    Treatment.LAWYER_LETTER,
    Treatment.AGENCY_PLACEMENT,
)
_ACTION_CODE = {t.value: k for k, t in enumerate(ACTIONS)}
#: The agencies' contract: a placement runs this many days (the lender's own term, as in the loop).
AGENCY_DAYS = 60
_PRODUCTS = ("cash_loan", "installment", "revolving_card", "bnpl")
_CUSTOMERS = ("individual", "business")
#: Model inputs, in column order (``treatment`` last).
FEATURES: tuple[str, ...] = (
    "dpd",
    "log_overdue",
    "log_outstanding",
    "overdue_share",
    "product",
    "customer",
    "written_off",
    "days_in_bucket",
    "placed_left",
    "contacts",
    "reached",
    "log_paid_recent",
    "days_since_paid",
    "contacts_long",
    "reached_long",
    "log_paid_long",
    "treatment",
)
_CATEGORICAL = [FEATURES.index("product"), FEATURES.index("customer"), FEATURES.index("treatment")]
_DECAY = 0.8  # per day: recent contacts, reaches and payments fade with a half-life of ≈ 3 days
#: The long memory of the same counts (half-life ≈ 23 days): who answers and who pays over weeks tells
#: the kind of borrower (reachable or not, willing or not) better than the last few days.
_DECAY_LONG = 0.97
_RATIO_CAP = 5.0  # a payment can clear the whole balance; cap the target at 5 × the overdue amount


# ------------------------------------------------------------------------------------------ state


def _epoch(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _ids(loan_ids: pl.Series) -> I64:
    out: I64 = (loan_ids.str.slice(1).cast(pl.Int64) - 1).to_numpy()
    return out


@dataclass
class AccountState:
    """What the lender knows about each account's recent history (arrays by loan index ``i``), updated
    from each day's :class:`DayRecord`: agency placements in force, recent contacts and reaches, recent
    payments. The same for the training run and the decider, so features mean the same in both."""

    placed_until: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    contacts: F64 = field(default_factory=lambda: np.zeros(0))
    reached: F64 = field(default_factory=lambda: np.zeros(0))
    paid: F64 = field(default_factory=lambda: np.zeros(0))
    contacts_long: F64 = field(default_factory=lambda: np.zeros(0))
    reached_long: F64 = field(default_factory=lambda: np.zeros(0))
    paid_long: F64 = field(default_factory=lambda: np.zeros(0))
    last_paid: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    day: int = -1  # epoch day the decayed sums are as of

    def _grow(self, n: int) -> None:
        m = self.placed_until.shape[0]
        if n <= m:
            return
        k = max(n, 2 * m)
        self.placed_until = np.concatenate([self.placed_until, np.full(k - m, -1, dtype=np.int64)])
        self.contacts = np.concatenate([self.contacts, np.zeros(k - m)])
        self.reached = np.concatenate([self.reached, np.zeros(k - m)])
        self.paid = np.concatenate([self.paid, np.zeros(k - m)])
        self.contacts_long = np.concatenate([self.contacts_long, np.zeros(k - m)])
        self.reached_long = np.concatenate([self.reached_long, np.zeros(k - m)])
        self.paid_long = np.concatenate([self.paid_long, np.zeros(k - m)])
        self.last_paid = np.concatenate([self.last_paid, np.full(k - m, -10_000, dtype=np.int64)])

    def _age(self, today: int) -> None:
        if self.day >= 0 and today > self.day:
            f = _DECAY ** (today - self.day)
            self.contacts *= f
            self.reached *= f
            self.paid *= f
            g = _DECAY_LONG ** (today - self.day)
            self.contacts_long *= g
            self.reached_long *= g
            self.paid_long *= g
        self.day = today

    def observe(self, rec: DayRecord) -> None:
        """Add the day's placements, attempts and payments (made on ``rec.as_of + 1``)."""
        day = _epoch(rec.as_of) + 1
        self._age(day)
        att = rec.events.attempts.filter(pl.col("channel").is_not_null())
        pay = rec.events.payments
        tasks = rec.tasks.filter(
            (pl.col("treatment") == Treatment.AGENCY_PLACEMENT.value) & (pl.col("verdict") == "allowed")
        )
        hi = 0
        for s in (att.get_column("loan_id"), pay.get_column("loan_id"), tasks.get_column("loan_id")):
            if s.len():
                hi = max(hi, int(_ids(s).max()) + 1)
        self._grow(hi)
        if tasks.height:
            self.placed_until[_ids(tasks.get_column("loan_id"))] = day + AGENCY_DAYS
        if att.height:
            ai = _ids(att.get_column("loan_id"))
            hit = att.get_column("reached").cast(pl.Float64).to_numpy()
            np.add.at(self.contacts, ai, 1.0)
            np.add.at(self.reached, ai, hit)
            np.add.at(self.contacts_long, ai, 1.0)
            np.add.at(self.reached_long, ai, hit)
        if pay.height:
            pi = _ids(pay.get_column("loan_id"))
            amount = pay.get_column("amount").cast(pl.Float64).to_numpy()
            np.add.at(self.paid, pi, amount)
            np.add.at(self.paid_long, pi, amount)
            self.last_paid[pi] = day

    def features(self, frame: pl.DataFrame, as_of: dt.date) -> F64:
        """The ``n × (len(FEATURES) − 1)`` inputs of the frame's accounts (without the treatment)."""
        n = frame.height
        i = frame.get_column("i").to_numpy().astype(np.int64)
        if n:
            self._grow(int(i.max()) + 1)
        day = _epoch(as_of) + 1  # the day the treatment would be applied
        ages = _DECAY ** max(day - self.day, 0) if self.day >= 0 else 1.0
        ages_long = _DECAY_LONG ** max(day - self.day, 0) if self.day >= 0 else 1.0
        overdue = frame.get_column("overdue_amount").cast(pl.Float64).to_numpy()
        outstanding = frame.get_column("outstanding_principal").cast(pl.Float64).to_numpy()
        since = frame.get_column("bucket_since").to_numpy() if "bucket_since" in frame.columns else None
        if since is not None:
            dib = (np.datetime64(as_of, "D") - since.astype("datetime64[D]")).astype(np.float64)
        else:
            dib = np.zeros(n)
        prod = (
            frame.get_column("product_type")
            .replace_strict(
                {p: k for k, p in enumerate(_PRODUCTS)}, default=len(_PRODUCTS), return_dtype=pl.Int64
            )
            .to_numpy()
        )
        cust = (
            frame.get_column("customer_type")
            .replace_strict(
                {c: k for k, c in enumerate(_CUSTOMERS)}, default=len(_CUSTOMERS), return_dtype=pl.Int64
            )
            .to_numpy()
        )
        cols = [
            frame.get_column("dpd").cast(pl.Float64).to_numpy(),
            np.log1p(overdue / 100.0),
            np.log1p(outstanding / 100.0),
            overdue / np.maximum(outstanding, 1.0),
            prod.astype(np.float64),
            cust.astype(np.float64),
            frame.get_column("written_off").cast(pl.Float64).to_numpy(),
            dib,
            np.maximum(self.placed_until[i] - day, 0).astype(np.float64),
            self.contacts[i] * ages,
            self.reached[i] * ages,
            np.log1p(self.paid[i] * ages / 100.0),
            np.minimum(day - self.last_paid[i], 999).astype(np.float64),
            self.contacts_long[i] * ages_long,
            self.reached_long[i] * ages_long,
            np.log1p(self.paid_long[i] * ages_long / 100.0),
        ]
        return np.column_stack(cols) if n else np.zeros((0, len(FEATURES) - 1))

    def placed(self, frame: pl.DataFrame, as_of: dt.date) -> npt.NDArray[np.bool_]:
        """Accounts whose agency placement is still running on the day the treatment would apply."""
        i = frame.get_column("i").to_numpy().astype(np.int64)
        if frame.height:
            self._grow(int(i.max()) + 1)
        out: npt.NDArray[np.bool_] = self.placed_until[i] >= _epoch(as_of) + 1
        return out


def with_treatment(base: F64, codes: I64) -> F64:
    """Append the treatment column (its index in :data:`ACTIONS`) to ``n × (F − 1)`` features."""
    return np.column_stack([base, codes.astype(np.float64)])


# ------------------------------------------------------------------------------------------ the model


class ResponseModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Net amount paid over the horizon ÷ overdue amount, given features and treatment (S-learner,
    LightGBM with the treatment categorical). ``fit(X, y, sample_weight)`` / ``predict(X)`` follow the
    scikit-learn contract; :meth:`value_matrix` predicts every treatment of :data:`ACTIONS` at once."""

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        horizon: int = 14,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.horizon = horizon
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> Self:
        from lightgbm import LGBMRegressor

        x = np.asarray(X, dtype=np.float64)
        target = np.clip(np.asarray(y, dtype=np.float64), -_RATIO_CAP, _RATIO_CAP)
        self.booster_ = LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=1.0,
            colsample_bytree=1.0,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        self.booster_.fit(x, target, sample_weight=sample_weight, categorical_feature=_CATEGORICAL)
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, X: npt.ArrayLike) -> F64:
        x = np.asarray(X, dtype=np.float64)
        out: F64 = np.asarray(self.booster_.predict(x, num_threads=self.n_jobs), dtype=np.float64)
        return out

    def value_matrix(self, base: F64) -> F64:
        """``n × len(ACTIONS)``: the predicted net-paid ratio of every treatment for each account."""
        n, k = base.shape[0], len(ACTIONS)
        if n == 0:
            return np.zeros((0, k))
        stacked = np.repeat(base, k, axis=0)
        codes = np.tile(np.arange(k, dtype=np.int64), n)
        return self.predict(with_treatment(stacked, codes)).reshape(n, k)


@dataclass(frozen=True)
class ResponseModels:
    """The two fitted responses: the net amount paid (commission deducted) and the agency's commission
    on it, both per fen overdue over the horizon."""

    net: ResponseModel
    commission: ResponseModel
    #: Per task treatment, the local hours at which the logged attempts reached the borrower most often
    #: (reach rate ≥ 90 % of the best hour within the treatment's working window); empty: no preference.
    hours: dict[str, list[int]] = field(default_factory=dict)


def save_model(models: ResponseModels, path: Path, meta: dict[str, Any] | None = None) -> None:
    """Save with joblib (with the features and treatments it was fitted for, and ``meta``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"models": models, "meta": meta or {}, "features": FEATURES, "actions": ACTIONS}, path)


def load_model(path: Path) -> tuple[ResponseModels, dict[str, Any]]:
    """Load what :func:`save_model` saved; a model for other features or treatments is refused."""
    data = joblib.load(path)
    if tuple(data.get("features", ())) != FEATURES or tuple(data.get("actions", ())) != ACTIONS:
        raise ValueError(f"{path}: a response model for other features or treatments; train it again")
    models: ResponseModels = data["models"]
    return models, dict(data.get("meta", {}))


# ------------------------------------------------------------------------------------------ training run


@dataclass
class RandomDecider:
    """The training run's exploration policy, seeded by (seed, day): an agency placement (when none is
    running) with probability ``place_share``, otherwise a treatment drawn uniformly from the other
    columns of :data:`ACTIONS`; each row records its propensity. ``place_share=None`` is uniform over
    all feasible treatments (1/k). A placement runs for :data:`AGENCY_DAYS`, so a uniform draw places
    nearly every account within weeks and leaves little to learn about accounts not (yet) placed."""

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


def decision_rows(
    frame: pl.DataFrame,
    as_of: dt.date,
    treatments: list[str],
    propensity: npt.ArrayLike,
    node: str,
    reasons: str | list[str],
    expected_value: npt.ArrayLike | None = None,
) -> pl.DataFrame:
    """Decisions in the kernel's columns (``DECISION_SCHEMA``) for a decider: one row per account of
    ``frame`` with the treatment's default template, tone, queue and priority, ``node``, propensity and
    reasons, and ``expected_value`` (fen) when given."""
    from recoup.strategy.defaults import TREATMENT_DEFAULTS

    tr = pl.Series("treatment", treatments, dtype=pl.String)
    look = {t.value: v for t, v in TREATMENT_DEFAULTS.items()}
    look[Treatment.NO_ACTION.value] = (None, None, None, 0)
    cols: dict[str, Any] = {
        "as_of": pl.repeat(as_of, frame.height, eager=True, dtype=pl.Date),
        "loan_id": frame.get_column("loan_id"),
        "borrower_id": frame.get_column("borrower_id"),
        "segment": frame.get_column("segment"),
        "bucket": frame.get_column("bucket"),
        "dpd": frame.get_column("dpd").cast(pl.Int64),
        "overdue_amount": frame.get_column("overdue_amount").cast(pl.Int64),
        "score": frame.get_column("score").cast(pl.Float64),
        "experiment": pl.repeat(None, frame.height, eager=True, dtype=pl.String),
        "arm": pl.repeat("champion", frame.height, eager=True, dtype=pl.String),
        "strategy": pl.repeat(node, frame.height, eager=True, dtype=pl.String),
        "strategy_version": pl.repeat(None, frame.height, eager=True, dtype=pl.Int64),
        "strategy_hash": pl.repeat(None, frame.height, eager=True, dtype=pl.String),
        "node": pl.repeat(node, frame.height, eager=True, dtype=pl.String),
        "treatment": tr,
        "template": tr.replace_strict({k: v[0] for k, v in look.items()}, return_dtype=pl.String),
        "tone": tr.replace_strict({k: v[1] for k, v in look.items()}, return_dtype=pl.String),
        "queue": tr.replace_strict({k: v[2] for k, v in look.items()}, return_dtype=pl.String),
        "priority": tr.replace_strict({k: v[3] for k, v in look.items()}, return_dtype=pl.Int64),
        "required_notice": pl.repeat(False, frame.height, eager=True, dtype=pl.Boolean),
        "explored": pl.repeat(node == "random", frame.height, eager=True, dtype=pl.Boolean),
        "propensity": pl.Series(np.broadcast_to(np.asarray(propensity, dtype=np.float64), (frame.height,))),
        "reasons": pl.Series(
            reasons if isinstance(reasons, list) else [reasons] * frame.height, dtype=pl.String
        ),
    }
    if expected_value is not None:
        cols["expected_value"] = pl.Series(np.asarray(expected_value), dtype=pl.Int64)
    return pl.DataFrame(cols)


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
        from recoup.strategy.evaluate import DEFAULT_HOURS

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
    from recoup.strategy.capacity import Capacity
    from recoup.strategy.evaluate import EvalConfig, baseline_strategy, evaluate

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
