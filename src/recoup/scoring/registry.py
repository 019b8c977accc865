"""The model registry: train a named model with an out-of-time holdout, keep its artefact (sha256-checked)
and model card in the lake, and promote one champion per name.

Artefacts live at ``{lake}/models/{name}/v{version}/model.joblib`` with ``card.md`` beside them. The
``model_version`` row is flushed before anything is written there, so two trainers racing for the same
version number block on the unique key instead of overwriting each other's files. Services never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from sklearn.metrics import brier_score_loss, roc_curve
from sklearn.model_selection import train_test_split
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.config import get_settings
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.scoring.defaults import default_monotone
from recoup.scoring.estimators import GBMClassifier, ScorecardClassifier
from recoup.scoring.evaluation import auc, gini, ks
from recoup.scoring.features import FEATURES
from recoup.scoring.fit import make_model, prepare
from recoup.scoring.models import ModelVersion

__all__ = [
    "Estimator",
    "ModelRegistryError",
    "champion",
    "check_promote",
    "do_promote",
    "do_train",
    "evaluate_holdout",
    "get_version",
    "list_versions",
    "load_model",
    "model_card",
]

Estimator = GBMClassifier | ScorecardClassifier
Holdout = Literal["time", "random"]

#: Share of the latest distinct as-of dates (or of the rows, for a random holdout) held out.
HOLDOUT_SHARE = 0.2
N_BINS = 10
#: Columns that are never features by default: the date and the identifiers.
NON_FEATURES = ("as_of", "loan_id", "borrower_id")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
_MIN_CLASS = 5  # rows of each class the fitting part needs


class ModelRegistryError(RecoupError):
    code = "model.registry"
    http_status = 422
    exit_code = 65


# --- evaluation -----------------------------------------------------------------------------------


def _equal_bins(p: npt.NDArray[np.float64], n_bins: int, *, descending: bool) -> npt.NDArray[np.int64]:
    """Equal-count bins by rank of ``p`` (0 = lowest, or highest when ``descending``); ties by row order."""
    order = np.argsort(-p if descending else p, kind="stable")
    bins = np.empty(len(p), dtype=np.int64)
    bins[order] = np.arange(len(p), dtype=np.int64) * n_bins // max(len(p), 1)
    return bins


def evaluate_holdout(model: Any, X: pd.DataFrame, y: npt.ArrayLike) -> dict[str, Any]:
    """AUC, KS, Gini, Brier, a calibration table (10 equal-count bins of predicted probability: n, mean
    predicted, observed rate), lift by decile of predicted risk (decile 1 = riskiest: n, bad rate,
    lift = bad rate ÷ overall, cumulative capture of bads) and a thinned ROC curve."""
    yy = np.asarray(y, dtype=np.int64)
    if len(yy) == 0 or np.unique(yy).size < 2:
        raise ModelRegistryError(
            "the holdout needs both classes (events and non-events) to be evaluated · "
            "验证集需同时包含两类样本"
        )
    p = np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]
    overall = float(yy.mean())

    cal = _equal_bins(p, N_BINS, descending=False)
    n = np.bincount(cal, minlength=N_BINS)
    mean_p = np.bincount(cal, weights=p, minlength=N_BINS) / np.maximum(n, 1)
    obs = np.bincount(cal, weights=yy, minlength=N_BINS) / np.maximum(n, 1)
    calibration = [
        {"bin": b + 1, "n": int(n[b]), "mean_predicted": float(mean_p[b]), "observed_rate": float(obs[b])}
        for b in range(N_BINS)
        if n[b] > 0
    ]

    dec = _equal_bins(p, N_BINS, descending=True)
    dn = np.bincount(dec, minlength=N_BINS)
    bads = np.bincount(dec, weights=yy, minlength=N_BINS)
    rate = bads / np.maximum(dn, 1)
    capture = np.cumsum(bads) / max(float(yy.sum()), 1.0)
    lift = [
        {
            "decile": d + 1,
            "n": int(dn[d]),
            "bad_rate": float(rate[d]),
            "lift": float(rate[d] / overall),
            "cum_capture": float(capture[d]),
        }
        for d in range(N_BINS)
        if dn[d] > 0
    ]

    fpr, tpr, _ = roc_curve(yy, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 201)).round().astype(np.int64))
    return {
        "n": len(yy),
        "bad_rate": overall,
        "auc": auc(yy, p),
        "ks": ks(yy, p),
        "gini": gini(yy, p),
        "brier": float(brier_score_loss(yy, p)),
        "calibration": calibration,
        "lift": lift,
        "roc": {"fpr": np.round(fpr[keep], 6).tolist(), "tpr": np.round(tpr[keep], 6).tolist()},
    }


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


# --- the model card -------------------------------------------------------------------------------


def _cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return [*out, ""]


def model_card(row: ModelVersion) -> str:
    """The model card (Markdown, English and Simplified Chinese headings) of a trained version."""
    m = row.metrics
    h = m["holdout"]
    if h["method"] == "out_of_time":
        hold = (
            f"out-of-time 跨时间: as-of {h['start']} → {h['end']} "
            f"({h['dates']} latest date(s)), {h['n']:,} rows"
        )
    else:
        hold = f"stratified random 20 % 分层随机 (random_state 0), {h['n']:,} rows"
    created = row.created_at.strftime("%Y-%m-%d %H:%M UTC") if row.created_at else ""
    lines = [f"# Model card · 模型卡: {row.name} v{row.version}", ""]
    lines += _table(
        ["Field · 项目", "Value · 内容"],
        [
            ["Name · 名称", row.name],
            ["Version · 版本", row.version],
            [
                "Kind · 类型",
                {"gbm": "gbm (LightGBM, calibrated)", "scorecard": "scorecard (points, WoE)"}[row.kind],
            ],
            ["Target · 目标", f"{row.target} (1 = event)"],
            [
                "Training window · 训练窗口",
                f"{row.train_start.isoformat()} → {row.train_end.isoformat()} (as-of)",
            ],
            ["Rows · 样本数", f"{row.n_train:,} (event rate {m['train_bad_rate']:.2%})"],
            [
                "Fitted for evaluation on · 评估用训练集",
                f"{h['fit_start']} → {h['fit_end']}, {h['fit_n']:,} rows",
            ],
            ["Holdout · 验证集", hold],
            [
                "Monotone constraints · 单调约束",
                {
                    "default": f"defaults of {row.name} (docs/scoring.md) · 默认约束",
                    "given": "given at training · 训练时指定",
                    "none": "none · 无",
                }[m.get("monotone_source") or ("given" if any(row.monotone.values()) else "none")],
            ],
            ["Created · 创建", f"{created} by {row.created_by}"],
            ["Artefact sha256 · 模型文件哈希", f"`{row.artefact_sha256}`"],
        ],
    )
    lines += ["## Holdout metrics · 验证集指标", ""]
    lines += _table(
        ["Metric · 指标", "Value · 数值"],
        [
            ["AUC", f"{m['auc']:.4f}"],
            ["KS", f"{m['ks']:.4f}"],
            ["Gini", f"{m['gini']:.4f}"],
            ["Brier", f"{m['brier']:.4f}"],
            ["Holdout rows · 验证样本", f"{m['n']:,}"],
            ["Holdout event rate · 验证集事件率", f"{m['bad_rate']:.2%}"],
        ],
    )
    lines += ["## Features · 特征", ""]
    imp = m.get("importances", {})
    lines += _table(
        [
            "Feature · 特征",
            "Description · 说明",
            "As of · 时点口径",
            "Monotone · 单调",
            "Importance · 重要性",
        ],
        [
            [
                f"`{f}`",
                FEATURES.get(f, ("user-supplied, not documented · 用户提供，无说明", ""))[0],
                FEATURES.get(f, ("", "unknown · 未知"))[1],
                {1: "increasing ↑", -1: "decreasing ↓"}.get(row.monotone.get(f, 0), "—"),
                f"{imp.get(f, 0.0):.1%}",
            ]
            for f in row.features
        ],
    )
    lines += ["## Calibration · 校准 (holdout, 10 equal-count bins of predicted probability)", ""]
    lines += _table(
        ["Bin · 分组", "n", "Mean predicted · 平均预测", "Observed rate · 实际比例"],
        [
            [c["bin"], c["n"], f"{c['mean_predicted']:.4f}", f"{c['observed_rate']:.4f}"]
            for c in m["calibration"]
        ],
    )
    lines += ["## Lift by decile · 分十等份提升度 (decile 1 = highest predicted risk)", ""]
    lines += _table(
        ["Decile · 十分位", "n", "Event rate · 事件率", "Lift · 提升度", "Cumulative capture · 累计捕获率"],
        [
            [d["decile"], d["n"], f"{d['bad_rate']:.2%}", f"{d['lift']:.2f}", f"{d['cum_capture']:.1%}"]
            for d in m["lift"]
        ],
    )
    lines += [
        "## Intended use · 预期用途",
        "",
        f"- Ranks accounts by the probability of `{row.target}` as of a business date, for segmentation and "
        "treatment choice in the daily cycle. 按观察日估计目标事件概率，用于日终批量的分群与处置策略。",
        "- A candidate makes no decisions until it is promoted to champion; promotion is recorded in the "
        "audit ledger. 候选模型须晋升为冠军模型后方可用于决策，晋升记入审计账本。",
        "",
        "## Limitations · 局限性",
        "",
        f"- Learned from as-of dates {row.train_start.isoformat()} → {row.train_end.isoformat()}; products, "
        "policies or economic conditions outside that window may make it wrong. 仅基于上述训练窗口，"
        "产品、政策或经济环境变化可能导致失效。",
        "- Monitor feature drift (PSI) and monthly AUC/KS on matured outcomes; retrain when they alert. "
        "需持续监控特征稳定性 (PSI) 与按月 AUC/KS，告警时重新训练。",
        "- Features marked as user-supplied were not checked for look-ahead. "
        "标注为用户提供的特征未经防穿越检查。",
        "- Probabilities were calibrated on the training period; check calibration on recent matured rows "
        "before reading them as absolute rates. 概率按训练期校准，作为绝对概率使用前应以近期已到期样本复核。",
        "",
    ]
    if h.get("note"):
        lines += ["## Notes · 说明", "", f"- {h['note']}", ""]
    return "\n".join(lines)


# --- reading and promotion ------------------------------------------------------------------------


def _artefact_bytes(row: ModelVersion) -> bytes:
    path = Path(row.artefact_uri.removeprefix("file://"))
    try:
        data = path.read_bytes()
    except OSError:
        raise ModelRegistryError(
            f"{row.name} v{row.version}: artefact {path} is missing · 模型文件不存在",
            details={"path": str(path)},
        ) from None
    if hashlib.sha256(data).hexdigest() != row.artefact_sha256:
        raise ModelRegistryError(
            f"{row.name} v{row.version}: artefact {path} changed since training (sha256 mismatch) · "
            "模型文件已被改动",
            details={"path": str(path), "expected_sha256": row.artefact_sha256},
        )
    return data


def load_model(version_row: ModelVersion) -> Estimator:
    """The version's estimator, after checking the artefact's sha256 against the registry."""
    obj = joblib.load(io.BytesIO(_artefact_bytes(version_row)))
    if not isinstance(obj, GBMClassifier | ScorecardClassifier):
        raise ModelRegistryError(f"{version_row.name} v{version_row.version}: artefact is not a recoup model")
    return obj


def list_versions(*, session: Session, name: str | None = None) -> list[ModelVersion]:
    """Every version (of ``name``, when given), by name then version."""
    q = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
    if name is not None:
        q = q.where(ModelVersion.name == name)
    return list(session.scalars(q))


def get_version(name: str, version: int, *, session: Session) -> ModelVersion:
    """Version ``version`` of ``name``; ModelRegistryError when there is none."""
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if row is None:
        known = [r.version for r in list_versions(session=session, name=name)]
        raise ModelRegistryError(
            f"model {name!r} has no version {version}"
            + (f" (versions: {', '.join(map(str, known))})" if known else " (no versions trained)")
            + " · 模型版本不存在",
            details={"name": name, "version": version},
        )
    return row


def champion(name: str, *, session: Session) -> ModelVersion | None:
    """The champion of ``name``, if one was promoted."""
    return session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.status == "champion")
    )


def check_promote(name: str, version: int, *, session: Session) -> ModelVersion:
    """The version to promote; refuses unknown and retired versions and changed artefacts."""
    row = get_version(name, version, session=session)
    if row.status == "retired":
        raise ModelRegistryError(
            f"{name} v{version} is retired and cannot be promoted again; promote a candidate or retrain · "
            "已退役的模型版本不能再次晋升",
            details={"name": name, "version": version, "status": row.status},
        )
    _artefact_bytes(row)
    return row


def do_promote(name: str, version: int, *, session: Session, actor: str) -> ModelVersion:
    """Make ``version`` the champion of ``name``; the previous champion is retired. Promoting the current
    champion again changes nothing."""
    row = check_promote(name, version, session=session)
    if row.status == "champion":
        return row
    prev = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.name == name, ModelVersion.status == "champion")
        .with_for_update()
    )
    if prev is not None:
        prev.status = "retired"
        session.flush()  # before the new champion, for the one-champion unique index
    row.status = "champion"
    row.promoted_at = utcnow()
    session.flush()
    do_append(
        "model.promoted",
        {
            "model_version_id": row.id,
            "name": name,
            "version": version,
            "artefact_sha256": row.artefact_sha256,
            "previous_version": prev.version if prev is not None else None,
        },
        session=session,
        actor=actor,
    )
    return row
