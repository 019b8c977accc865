"""Training a named model: input checks, the out-of-time (or random) holdout, fitting, and writing the
artefact and card to the lake (split from :mod:`recoup.scoring.registry`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from sklearn.model_selection import train_test_split
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.config import get_settings
from recoup.ledger.service import do_append
from recoup.scoring.defaults import default_monotone
from recoup.scoring.estimators import GBMClassifier
from recoup.scoring.fit import make_model, prepare
from recoup.scoring.models import ModelVersion
from recoup.scoring.registry_card import evaluate_holdout, model_card
from recoup.scoring.registry_store import Estimator, Holdout, ModelRegistryError

__all__ = ["HOLDOUT_SHARE", "NON_FEATURES", "do_train"]

#: Share of the latest distinct as-of dates (or of the rows, for a random holdout) held out.
HOLDOUT_SHARE = 0.2
#: Columns that are never features by default: the date and the identifiers.
NON_FEATURES = ("as_of", "loan_id", "borrower_id")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
_MIN_CLASS = 5  # rows of each class the fitting part needs

# --- training -------------------------------------------------------------------------------------


def _as_of(frame: pl.DataFrame) -> pl.Series:
    if "as_of" not in frame.columns:
        raise ModelRegistryError(
            "the training table needs an 'as_of' date column · 训练数据缺少 as_of 日期列"
        )
    s = frame.get_column("as_of")
    if s.dtype == pl.Date:
        out = s
    elif isinstance(s.dtype, pl.Datetime):
        out = s.dt.date()
    elif s.dtype == pl.String:
        out = s.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        bad = s.filter(out.is_null() & s.is_not_null())
        if bad.len():
            raise ModelRegistryError(f"as_of: {bad[0]!r} is not a date (YYYY-MM-DD) · as_of 不是日期")
    else:
        raise ModelRegistryError(f"as_of must be a date column, not {s.dtype}")
    if out.null_count():
        raise ModelRegistryError(f"as_of is empty on {out.null_count()} row(s) · as_of 有空值")
    return out


def _check_inputs(
    name: str,
    frame: pl.DataFrame,
    *,
    target: str,
    kind: str,
    features: list[str],
    monotone: Mapping[str, int] | None,
    holdout: str,
) -> None:
    if not _NAME.match(name):
        raise ModelRegistryError(
            f"model name {name!r} must be lowercase letters, digits and '_' (e.g. self_cure) · 模型名称不合法"
        )
    if kind not in ("gbm", "scorecard"):
        raise ModelRegistryError(
            f"unknown model kind {kind!r}; gbm or scorecard · 模型类型须为 gbm 或 scorecard"
        )
    if holdout not in ("time", "random"):
        raise ModelRegistryError(f"holdout must be 'time' or 'random', not {holdout!r}")
    if target not in frame.columns:
        raise ModelRegistryError(f"target column {target!r} not found · 找不到目标列")
    if not features:
        raise ModelRegistryError("no features given · 未指定特征")
    if len(set(features)) != len(features):
        raise ModelRegistryError("a feature is listed twice · 特征重复")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ModelRegistryError(f"feature column(s) not found: {', '.join(missing)} · 找不到特征列")
    clash = [f for f in features if f in ("as_of", target)]
    if clash:
        raise ModelRegistryError(f"{', '.join(clash)} cannot be a feature · 不能作为特征")
    if monotone:
        if kind != "gbm":
            raise ModelRegistryError("monotone constraints apply to gbm models only · 单调约束仅适用于 gbm")
        unknown = [f for f in monotone if f not in features]
        if unknown:
            raise ModelRegistryError(f"monotone constraint on unknown feature(s): {', '.join(unknown)}")
        bad = {f: v for f, v in monotone.items() if v not in (-1, 0, 1)}
        if bad:
            raise ModelRegistryError(f"monotone constraints must be -1, 0 or 1: {bad}")


def _both_classes(y: npt.NDArray[np.int64], minimum: int) -> bool:
    pos = int(y.sum())
    return pos >= minimum and len(y) - pos >= minimum


def _split(
    dates: npt.NDArray[Any], y: npt.NDArray[np.int64], holdout: Holdout
) -> tuple[npt.NDArray[np.bool_], dict[str, Any], str | None]:
    """The holdout mask, a description of it and a note when the out-of-time split could not be used."""
    distinct = np.unique(dates)
    note = None
    if holdout == "time" and len(distinct) >= 2:
        n_hold = min(len(distinct) - 1, max(1, round(HOLDOUT_SHARE * len(distinct))))
        hold = dates >= distinct[-n_hold]
        if _both_classes(y[~hold], _MIN_CLASS) and _both_classes(y[hold], 1):
            info = {"method": "out_of_time", "dates": int(n_hold)}
            return hold, info, None
        note = (
            "The latest as-of dates hold only one class, so a stratified random 20 % holdout was used "
            "instead (random_state 0). · 最近日期的样本只有一类，改用分层随机 20 % 验证集。"
        )
    elif holdout == "time":
        note = (
            "The data has a single as-of date, so a stratified random 20 % holdout was used instead of "
            "an out-of-time one (random_state 0). · 数据只有一个观察日，改用分层随机 20 % 验证集，"
            "而非跨时间验证。"
        )
    idx = np.arange(len(y))
    _, test = train_test_split(idx, test_size=HOLDOUT_SHARE, stratify=y, random_state=0)
    hold = np.zeros(len(y), dtype=np.bool_)
    hold[test] = True
    return hold, {"method": "random", "dates": None}, note


def _new_model(kind: str, monotone: Mapping[str, int] | None) -> Estimator:
    model = make_model(kind)
    if monotone and isinstance(model, GBMClassifier):
        model.set_params(monotone=dict(monotone))
    return model


def _window(dates: npt.NDArray[Any]) -> tuple[dt.date, dt.date]:
    return _to_date(dates.min()), _to_date(dates.max())


def _to_date(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else pd.Timestamp(v).date()


def _lake_root() -> Path:
    lake = get_settings().lake_uri
    if lake.startswith("file://"):
        lake = lake.removeprefix("file://")
    elif "://" in lake:
        raise ModelRegistryError(f"model artefacts need a local lake path; {lake!r} is remote · 需本地路径")
    return Path(lake).resolve()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def do_train(
    name: str,
    frame: pl.DataFrame,
    *,
    target: str,
    kind: str,
    features: list[str],
    session: Session,
    monotone: Mapping[str, int] | None = None,
    created_by: str = "system",
    holdout: Holdout = "time",
) -> ModelVersion:
    """Train version N+1 of ``name`` as a candidate: fit on all but the latest ~20 % of as-of dates,
    evaluate on those, refit on every row for the artefact, write artefact and model card, ledger it.

    ``monotone=None`` gives a gbm named ``self_cure`` or ``roll_forward`` its default constraints
    (:data:`recoup.scoring.defaults.MONOTONE_DEFAULTS`, restricted to ``features``); a mapping given
    replaces them entirely (``{}``: no constraints)."""
    _check_inputs(
        name, frame, target=target, kind=kind, features=features, monotone=monotone, holdout=holdout
    )
    if monotone is None:
        monotone = default_monotone(name, features) if kind == "gbm" else {}
        monotone_source = "default" if monotone else "none"
    else:
        monotone_source = "given" if any(monotone.values()) else "none"
    labelled = frame.with_columns(_as_of(frame)).filter(pl.col(target).is_not_null())
    X, y, _ = prepare(labelled.select([*features, target]), target, None)
    y = np.asarray(y, dtype=np.int64)
    dates = labelled.get_column("as_of").to_numpy()
    hold, info, note = _split(dates, y, holdout)

    fitted = _new_model(kind, monotone).fit(X.iloc[np.flatnonzero(~hold)], y[~hold])
    metrics = evaluate_holdout(fitted, X.iloc[np.flatnonzero(hold)], y[hold])
    fit_start, fit_end = _window(dates[~hold])
    hold_start, hold_end = _window(dates[hold])
    metrics["holdout"] = {
        **info,
        "start": hold_start.isoformat(),
        "end": hold_end.isoformat(),
        "n": int(hold.sum()),
        "fit_start": fit_start.isoformat(),
        "fit_end": fit_end.isoformat(),
        "fit_n": int((~hold).sum()),
        "note": note,
    }

    final = _new_model(kind, monotone).fit(X, y)
    imp = np.asarray(final.feature_importances_, dtype=np.float64)
    total = float(imp.sum()) or 1.0
    order = np.argsort(-imp, kind="stable")
    metrics["importances"] = {str(X.columns[i]): float(imp[i] / total) for i in order}
    metrics["train_bad_rate"] = float(y.mean())
    metrics["monotone_source"] = monotone_source
    if isinstance(final, GBMClassifier):
        metrics["calibration_method"] = getattr(final, "calibration_method_", final.calibration)

    train_start, train_end = _window(dates)
    version = (
        session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.name == name)) or 0
    ) + 1
    row = ModelVersion(
        name=name,
        version=version,
        kind=kind,
        target=target,
        status="candidate",
        features=list(features),
        monotone={k: int(v) for k, v in (monotone or {}).items()},
        train_start=train_start,
        train_end=train_end,
        n_train=len(y),
        metrics=metrics,
        artefact_uri="",
        artefact_sha256="",
        card="",
        created_by=created_by,
    )
    session.add(row)
    session.flush()  # claim (name, version) before writing into the lake

    directory = _lake_root() / "models" / name / f"v{version}"
    buf = io.BytesIO()
    joblib.dump(final, buf)
    data = buf.getvalue()
    _write_atomic(directory / "model.joblib", data)
    row.artefact_uri = str(directory / "model.joblib")
    row.artefact_sha256 = hashlib.sha256(data).hexdigest()
    row.card = model_card(row)
    _write_atomic(directory / "card.md", row.card.encode("utf-8"))
    session.flush()
    do_append(
        "model.trained",
        {
            "model_version_id": row.id,
            "name": name,
            "version": version,
            "kind": kind,
            "n_train": len(y),
            "artefact_sha256": row.artefact_sha256,
        },
        session=session,
        actor=created_by,
    )
    return row
