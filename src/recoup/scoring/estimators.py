"""The two model kinds, both following the scikit-learn estimator contract.

- :class:`GBMClassifier` — LightGBM with optional monotone constraints, early stopping on the training
  data only, and probability calibration (isotonic or Platt, whichever leaves the smaller gap between
  mean predicted and observed rate across 10 equal-count bins — the model card's calibration table — in
  5-fold cross-validation on the calibration scores). Its regularisation follows the table's size
  (:func:`size_params`): below :data:`SMALL_ROWS` training rows the trees are shallower with smaller
  leaves, the number of rounds is chosen by an inner 5-fold cross-validation and the model is refitted
  on every row, and the calibration map is Platt's fitted on the out-of-fold scores; from
  :data:`SMALL_ROWS` rows on, early stopping uses a validation split. Reason codes from LightGBM's
  ``pred_contrib``.
- :class:`ScorecardClassifier` — a points scorecard (optbinning: optimal binning, WoE, logistic
  regression, points to double the odds). Reason codes from each variable's log-odds contribution.

Both accept pandas frames with numeric and text (categorical) columns and missing values.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

Floats = npt.NDArray[np.float64]


@contextmanager
def _quiet_optbinning() -> Iterator[None]:
    """optbinning still uses pandas idioms pandas 3 deprecates; their warnings are not the user's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="optbinning")
        yield


def _categoricals(X: pd.DataFrame) -> list[str]:
    return [
        c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
    ]


#: Below this many training rows the GBM is fitted the small-table way (see the module docstring).
SMALL_ROWS = 10_000
_INNER_FOLDS = 5


def size_params(n_rows: int) -> dict[str, Any]:
    """The regularisation for a training table of ``n_rows`` rows (what ``None`` parameters become).

    Few rows fit few, shallow trees with small leaves (a leaf of 80 rows leaves a 1,000-row table
    almost no splits, and a 20 % validation split leaves its early stopping to chance) and random split
    thresholds (extremely randomised trees, which average out the noise a searched threshold fits): the
    rounds are chosen by inner cross-validation instead, on every row. From :data:`SMALL_ROWS` rows
    the defaults measured on the digital twin (docs/benchmarks.md) apply."""
    if n_rows < SMALL_ROWS:
        return {
            "num_leaves": 4 if n_rows < 3_000 else 8,
            "min_child_samples": int(np.clip(n_rows // 40, 10, 80)),
            "learning_rate": 0.05,
            "extra_trees": True,
            "early_stopping": "cv",
        }
    return {
        "num_leaves": 15,
        "min_child_samples": 80,
        "learning_rate": 0.03,
        "extra_trees": False,
        "early_stopping": "split",
    }


class GBMClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Gradient boosting (LightGBM) with early stopping and calibrated probabilities.

    ``num_leaves``, ``min_child_samples``, ``learning_rate``, ``extra_trees`` and ``early_stopping``
    (``cv`` or ``split``) left ``None`` follow the table's size (:func:`size_params`); ``params_``
    records what the fit used."""

    def __init__(
        self,
        learning_rate: float | None = None,
        num_leaves: int | None = None,
        min_child_samples: int | None = None,
        subsample: float = 0.8,
        colsample_bytree: float = 0.7,
        reg_lambda: float = 5.0,
        max_rounds: int = 3000,
        early_stopping_rounds: int = 100,
        validation_fraction: float = 0.2,
        monotone: dict[str, int] | None = None,
        calibration: str = "auto",
        random_state: int = 0,
        early_stopping: str | None = None,
        extra_trees: bool | None = None,
    ) -> None:
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.monotone = monotone
        self.calibration = calibration
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.extra_trees = extra_trees

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X[self.feature_names_in_].copy()
        for c, cats in self.categories_.items():
            X[c] = pd.Categorical(X[c].astype("string"), categories=cats)
        return X

    def _resolved(self, n_rows: int) -> dict[str, Any]:
        """The parameters of this fit: those given, the rest by the table's size."""
        by_size = size_params(n_rows)
        given = {
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "learning_rate": self.learning_rate,
            "extra_trees": self.extra_trees,
            "early_stopping": self.early_stopping,
        }
        out = {k: by_size[k] if v is None else v for k, v in given.items()}
        if out["early_stopping"] not in ("cv", "split"):
            raise ValueError(f"early_stopping must be 'cv' or 'split', not {out['early_stopping']!r}")
        # Threads cost more than they give on a small table (and cross-validation fits many).
        return out | {"n_jobs": 1 if n_rows < SMALL_ROWS else 2}

    def _booster(self, n_estimators: int, mono: list[int]) -> lgb.LGBMClassifier:
        p = self.params_
        return lgb.LGBMClassifier(
            n_estimators=n_estimators,
            learning_rate=p["learning_rate"],
            num_leaves=p["num_leaves"],
            min_child_samples=p["min_child_samples"],
            subsample=self.subsample,
            subsample_freq=1,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            extra_trees=p["extra_trees"],
            monotone_constraints=mono,
            random_state=self.random_state,
            n_jobs=p["n_jobs"],
            verbose=-1,
        )

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> GBMClassifier:
        y_arr = np.asarray(y, dtype=np.int64)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        self.categories_ = {c: sorted(X[c].dropna().astype(str).unique().tolist()) for c in _categoricals(X)}
        self.params_ = self._resolved(len(y_arr))
        Xf = self._frame(X)
        mono = [int((self.monotone or {}).get(c, 0)) for c in Xf.columns]
        if self.params_["early_stopping"] == "cv":
            raw, y_cal = self._fit_cv(Xf, y_arr, mono)
        else:
            raw, y_cal = self._fit_split(Xf, y_arr, mono)
        self.calibrator_ = self._choose_calibrator(raw, y_cal)
        self.feature_importances_ = self.booster_.booster_.feature_importance(importance_type="gain")
        return self

    def _fit_split(
        self, Xf: pd.DataFrame, y: npt.NDArray[np.int64], mono: list[int]
    ) -> tuple[Floats, npt.NDArray[np.int64]]:
        """Early stopping on a validation split; the calibration scores are the split's."""
        Xtr, Xva, ytr, yva = train_test_split(
            Xf, y, test_size=self.validation_fraction, stratify=y, random_state=self.random_state
        )
        self.booster_ = self._booster(self.max_rounds, mono)
        self.booster_.fit(
            Xtr,
            ytr,
            eval_X=(Xva,),
            eval_y=(yva,),
            eval_metric="auc",
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.n_rounds_ = int(self.booster_.best_iteration_ or self.max_rounds)
        return np.asarray(self.booster_.predict_proba(Xva))[:, 1], yva

    def _fit_cv(
        self, Xf: pd.DataFrame, y: npt.NDArray[np.int64], mono: list[int]
    ) -> tuple[Floats, npt.NDArray[np.int64]]:
        """The number of rounds by inner cross-validation (the best mean held-out AUC), then one model on
        every row; the calibration scores are the inner folds' out-of-fold predictions."""
        folds = min(_INNER_FOLDS, int(y.sum()), int(len(y) - y.sum()))
        if folds < 2:  # a class too rare to hold out: a short fixed fit, calibrated in-sample
            self.n_rounds_ = 50
            self.booster_ = self._booster(self.n_rounds_, mono).fit(Xf, y)
            return np.asarray(self.booster_.predict_proba(Xf))[:, 1], y
        splits = list(
            StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state).split(Xf, y)
        )
        boosters: list[lgb.LGBMClassifier] = []
        curves: list[list[float]] = []
        for train, held in splits:
            b = self._booster(self.max_rounds, mono)
            b.fit(
                Xf.iloc[train],
                y[train],
                eval_X=(Xf.iloc[held],),
                eval_y=(y[held],),
                eval_metric="auc",
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            boosters.append(b)
            curves.append(list(b.evals_result_["valid_0"]["auc"]))
        # Each fold stopped on its own: the mean curve over the rounds every fold reached.
        reach = min(len(c) for c in curves)
        mean = np.mean([c[:reach] for c in curves], axis=0)
        self.n_rounds_ = int(np.argmax(mean)) + 1
        raw = np.zeros(len(y), dtype=np.float64)
        for b, (_train, held) in zip(boosters, splits, strict=True):
            raw[held] = np.asarray(b.predict_proba(Xf.iloc[held], num_iteration=self.n_rounds_))[:, 1]
        self.booster_ = self._booster(self.n_rounds_, mono).fit(Xf, y)
        return raw, y

    def _choose_calibrator(self, raw: Floats, y: npt.NDArray[np.int64]) -> Any:
        """The calibration map from raw scores to probabilities, fitted on the validation split.

        ``auto`` cross-validates both methods on the split (5 stratified folds) and keeps the one whose
        held-out predictions are closest to the observed rates across 10 equal-count bins (mean squared
        gap, the reliability the model card reports). Brier or log-loss mostly measure ranking, which the
        two maps share, and on the digital twin they preferred Platt's sigmoid where its shape left whole
        deciles 2 points off (docs/benchmarks.md)."""
        cands: dict[str, Any] = {
            "isotonic": lambda: IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6),
            "platt": lambda: _Platt(),
        }
        if self.calibration in cands:
            return cands[self.calibration]().fit(raw, y)
        if self.params_["early_stopping"] == "cv":
            # Few rows: isotonic's steps tie scores that the trees ranked apart and cost AUC; Platt's
            # sigmoid keeps the ranking.
            self.calibration_method_ = "platt"
            self.calibration_scores_: dict[str, float] = {}
            return cands["platt"]().fit(raw, y)
        folds = min(5, int(y.sum()), int(len(y) - y.sum()))
        if folds < 2:  # too few events to compare; isotonic needs no second class
            self.calibration_method_ = "isotonic"
            self.calibration_scores_ = {}
            return cands["isotonic"]().fit(raw, y)
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        gaps: dict[str, list[float]] = {name: [] for name in cands}
        for fit_idx, held in skf.split(raw.reshape(-1, 1), y):
            for name, make in cands.items():
                cal = make().fit(raw[fit_idx], y[fit_idx])
                gaps[name].append(binned_gap(y[held], np.clip(cal.predict(raw[held]), 0, 1)))
        self.calibration_scores_ = {name: float(np.mean(g)) for name, g in gaps.items()}
        self.calibration_method_ = min(cands, key=lambda k: self.calibration_scores_[k])
        return cands[self.calibration_method_]().fit(raw, y)

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        raw = np.asarray(self.booster_.predict_proba(self._frame(X)))[:, 1]
        p = np.clip(np.asarray(self.calibrator_.predict(raw), dtype=np.float64), 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row log-odds contribution of each feature (SHAP values from ``pred_contrib``)."""
        c = self.booster_.predict(self._frame(X), pred_contrib=True)
        return pd.DataFrame(np.asarray(c)[:, :-1], columns=list(self.feature_names_in_), index=X.index)


def binned_gap(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> float:
    """Mean squared gap between mean predicted and observed rate over equal-count bins of ``p``."""
    yy, pp = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    k = max(1, min(n_bins, len(pp)))
    order = np.argsort(pp, kind="stable")
    bins = np.empty(len(pp), dtype=np.int64)
    bins[order] = np.arange(len(pp), dtype=np.int64) * k // max(len(pp), 1)
    n = np.maximum(np.bincount(bins, minlength=k), 1)
    gap = (np.bincount(bins, weights=pp, minlength=k) - np.bincount(bins, weights=yy, minlength=k)) / n
    return float(np.mean(gap**2))


class _Platt:
    """Platt scaling on the logit of the raw score."""

    def fit(self, raw: Floats, y: npt.ArrayLike) -> _Platt:
        self.lr_ = LogisticRegression().fit(_logit(raw).reshape(-1, 1), y)
        return self

    def predict(self, raw: Floats) -> Floats:
        return np.asarray(self.lr_.predict_proba(_logit(raw).reshape(-1, 1))[:, 1], dtype=np.float64)


def _logit(p: Floats) -> Floats:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


class ScorecardClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A points scorecard: optimal binning → WoE → logistic regression → points (PDO scaling)."""

    def __init__(
        self,
        pdo: float = 20.0,
        odds: float = 50.0,
        base_points: float = 600.0,
        min_iv: float = 0.005,
        random_state: int = 0,
    ) -> None:
        self.pdo = pdo
        self.odds = odds
        self.base_points = base_points
        self.min_iv = min_iv
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> ScorecardClassifier:
        from optbinning import BinningProcess, Scorecard

        y_arr = np.asarray(y, dtype=np.int64)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        cats = _categoricals(X)
        bp = BinningProcess(
            variable_names=list(X.columns),
            categorical_variables=cats,
            selection_criteria={"iv": {"min": self.min_iv}},
        )
        self.scorecard_ = Scorecard(
            binning_process=bp,
            estimator=LogisticRegression(max_iter=2000),
            scaling_method="pdo_odds",
            scaling_method_params={"pdo": self.pdo, "odds": self.odds, "scorecard_points": self.base_points},
        )
        with _quiet_optbinning():
            self.scorecard_.fit(self._frame(X), y_arr)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X[self.feature_names_in_].copy()
        for c in _categoricals(X):
            X[c] = X[c].astype(object)
        return X

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        with _quiet_optbinning():
            return np.asarray(self.scorecard_.predict_proba(self._frame(X)), dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def score(self, X: pd.DataFrame, y: Any = None) -> Any:
        """Scorecard points (higher = safer), not accuracy."""
        return self.scorecard_.score(self._frame(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row log-odds contribution of each selected variable: coefficient × WoE."""
        bp = self.scorecard_.binning_process_
        selected = list(bp.get_support(names=True))
        with _quiet_optbinning():
            woe = bp.transform(self._frame(X), metric="woe")[selected]
        coef = self.scorecard_.estimator_.coef_.ravel()
        out = pd.DataFrame(0.0, index=X.index, columns=list(self.feature_names_in_))
        out[selected] = woe.to_numpy() * coef
        return out

    @property
    def feature_importances_(self) -> Floats:
        bp = self.scorecard_.binning_process_
        with _quiet_optbinning():
            summary = bp.summary().set_index("name")
        return np.array(
            [float(summary.loc[c, "iv"]) if c in summary.index else 0.0 for c in self.feature_names_in_]
        )


def top_reasons(contrib: pd.DataFrame, k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` features pushing each row's risk up the most (largest positive contributions)."""
    values = contrib.to_numpy()
    order = np.argsort(-values, axis=1)[:, :k]
    names = np.asarray(contrib.columns)
    return [
        [(str(names[j]), float(values[i, j])) for j in order[i] if values[i, j] > 0]
        for i in range(len(values))
    ]
