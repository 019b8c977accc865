"""Judging a trained model: its metrics on the holdout (AUC, KS, Gini, Brier, the calibration table) and
its bilingual model card (split from :mod:`recoup.scoring.registry`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_curve

from recoup.scoring.evaluation import auc, gini, ks
from recoup.scoring.features import FEATURES
from recoup.scoring.models import ModelVersion
from recoup.scoring.registry_store import ModelRegistryError

__all__ = ["N_BINS", "evaluate_holdout", "model_card"]

N_BINS = 10


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
