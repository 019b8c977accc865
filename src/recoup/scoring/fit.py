"""``recoup model fit``: train and cross-validate either model kind on any labelled table.

Analysts bring their own data (CSV or Parquet, text categories, missing values). Folds are fixed
(StratifiedKFold, 5 folds, shuffle, random_state 0); the GBM's early stopping and calibration use each
training fold only, never the evaluation fold (its regularisation follows the table's size:
:func:`recoup.scoring.estimators.size_params`). ``kind="auto"`` cross-validates both kinds on the same
folds and keeps the one with the higher AUC (the GBM on a tie); the report names both figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from recoup.errors import RecoupError
from recoup.scoring.estimators import GBMClassifier, ScorecardClassifier
from recoup.scoring.evaluation import cross_validate

Kind = Literal["gbm", "scorecard", "auto"]
KINDS = ("gbm", "scorecard")
_POSITIVE = {"1", "true", "yes", "y", "t", "是", "bad", "default"}
_NEGATIVE = {"0", "false", "no", "n", "f", "否", "good"}


class ModelInputError(RecoupError):
    code = "model.bad_input"
    http_status = 422
    exit_code = 65


@dataclass
class FitReport:
    kind: str
    n_rows: int
    n_features: int
    auc: float
    ks: float
    gini: float
    fold_auc: list[float]
    top_features: list[tuple[str, float]]
    dropped_rows: int
    candidates: dict[str, float] = field(default_factory=dict)  # kind → CV AUC, with ``auto``

    def as_json(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "ks": self.ks,
            "gini": self.gini,
            "n_rows": self.n_rows,
            "kind": self.kind,
            "n_features": self.n_features,
            "fold_auc": self.fold_auc,
            "top_features": [{"feature": f, "importance": v} for f, v in self.top_features],
            **({"candidates": self.candidates} if self.candidates else {}),
        }


def read_table(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise ModelInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pl.read_parquet(path)
        if suffix in {".csv", ".txt", ".tsv"}:
            return pl.read_csv(
                path,
                infer_schema_length=10_000,
                null_values=["", "NA", "NaN", "null"],
                separator="\t" if suffix == ".tsv" else ",",
            )
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise ModelInputError(f"{path.name}: cannot read the table ({str(exc).splitlines()[0]})") from None
    raise ModelInputError(f"{path.name}: unsupported file type {suffix!r} (CSV or Parquet)")


def prepare(frame: pl.DataFrame, target: str, id_column: str | None) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Features as pandas (numbers as float, text as categories) and a 0/1 target; rows without a
    target are dropped and counted."""
    if target not in frame.columns:
        raise ModelInputError(f"target column {target!r} not found; columns: {', '.join(frame.columns)}")
    if id_column is not None and id_column not in frame.columns:
        raise ModelInputError(f"id column {id_column!r} not found")
    labelled = frame.filter(pl.col(target).is_not_null())
    dropped = frame.height - labelled.height
    t = labelled.get_column(target).cast(pl.String).str.strip_chars().str.to_lowercase()
    values = set(t.unique().to_list())
    if not values <= _POSITIVE | _NEGATIVE or len(values) != 2:
        raise ModelInputError(
            f"target {target!r} must hold two classes such as 0/1 or yes/no; found {sorted(values)[:10]}"
        )
    y = t.is_in(sorted(_POSITIVE)).cast(pl.Int64).to_numpy()
    drop = [target] + ([id_column] if id_column else [])
    feats = labelled.drop(drop)
    if feats.width == 0:
        raise ModelInputError("no feature columns left after removing the target and id")
    if int(y.sum()) < 5 or int((1 - y).sum()) < 5:
        raise ModelInputError("each class needs at least 5 rows for 5-fold cross-validation")
    pdf = feats.to_pandas()
    for c in pdf.columns:
        if pd.api.types.is_numeric_dtype(pdf[c]) and not pd.api.types.is_bool_dtype(pdf[c]):
            pdf[c] = pdf[c].astype("float64")
        else:
            pdf[c] = pdf[c].astype("string").astype(object).where(pdf[c].notna(), None)
    return pdf, y, dropped


def make_model(kind: str) -> GBMClassifier | ScorecardClassifier:
    if kind == "gbm":
        return GBMClassifier()
    if kind == "scorecard":
        return ScorecardClassifier()
    raise ModelInputError(f"unknown model kind {kind!r}; gbm or scorecard")


def fit_table(path: Path, *, target: str, id_column: str | None = None, kind: Kind = "gbm") -> FitReport:
    """Cross-validate ``kind`` (both kinds for ``auto``, keeping the better) on the table at ``path`` and
    fit it on all rows for the top features."""
    if kind != "auto":
        make_model(kind)  # validates the kind before any work
    X, y, dropped = prepare(read_table(path), target, id_column)
    kinds = KINDS if kind == "auto" else (kind,)
    results = {k: cross_validate(partial(make_model, k), X, y) for k in kinds}
    chosen = max(kinds, key=lambda k: results[k].auc)  # the first (gbm) on a tie
    cv = results[chosen]
    full = make_model(chosen).fit(X, y)
    imp = np.asarray(full.feature_importances_, dtype=np.float64)
    total = float(imp.sum()) or 1.0
    order = np.argsort(-imp)[:10]
    top = [(str(X.columns[i]), float(imp[i] / total)) for i in order if imp[i] > 0]
    candidates = {k: r.auc for k, r in results.items()} if kind == "auto" else {}
    return FitReport(
        chosen, len(y), X.shape[1], cv.auc, cv.ks, cv.gini, cv.fold_auc, top, dropped, candidates
    )
