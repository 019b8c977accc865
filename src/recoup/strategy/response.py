"""Response models: what a treatment does to what an account pays, learned from logged, randomised
outcomes (issue 7, item 3; docs/strategy.md, "Optimised strategy"). The learning set and the fit are the
training run's (``recoup.evaluation.training``); this module is what the model is and what the
deciders use of it.

The inputs (:data:`FEATURES`) come from what the lender knows of each account's recent history
(:class:`AccountState`), kept the same way in the training run and in the deciders. The model
(:class:`ResponseModel`, the scikit-learn estimator contract) is one gradient-boosted tree ensemble
(LightGBM) with the treatment as a categorical feature (an S-learner). Its target is the net amount
an account paid over the ``horizon`` days after the treatment (agency commission deducted) as a
fraction of the account's overdue amount, so the expected amount of treatment ``t`` is
``overdue × f(x, t)`` and the uplift is ``overdue × (f(x, t) − f(x, no_action))``. Nothing is read
from the twin's parameters: only the logged outcomes (the prices of treatments are the lender's own
price list and are used as costs by the decider, not here). :func:`decision_rows` writes a decider's
choices in the kernel's columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.base import BaseEstimator, RegressorMixin

from recoup.contact.vocab import Treatment
from recoup.strategy.day_record import DayRecord

__all__ = [
    "ACTIONS",
    "AGENCY_DAYS",
    "FEATURES",
    "AccountState",
    "ResponseModel",
    "ResponseModels",
    "decision_rows",
    "load_model",
    "save_model",
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


# ------------------------------------------------------------------------------------------ decisions


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
