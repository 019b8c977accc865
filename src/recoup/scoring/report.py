"""A model version's report: one self-contained HTML page (no CDN, no links out) with the model card,
ROC curve, calibration plot, lift by decile and feature importance, drawn by matplotlib (Agg) into
PNG data URIs. Everything comes from the registry row; a holdout frame, when given, is scored afresh."""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recoup.scoring.fit import prepare
from recoup.scoring.models import ModelVersion
from recoup.scoring.registry_card import evaluate_holdout
from recoup.scoring.registry_store import ModelRegistryError, load_model

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
  max-width:980px;margin:2em auto;padding:0 1em;color:#1d2430;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #2b5c8a;padding-bottom:.3em}
h2{font-size:1.2em;margin-top:1.6em;color:#2b5c8a}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #cfd6df;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef2f7}
code{background:#f3f4f6;padding:0 .2em;word-break:break-all}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em}
figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}
img{max-width:100%;height:auto;border:1px solid #e3e7ec}
"""


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def card_html(markdown: str) -> str:
    """The small Markdown subset model cards use (headings, tables, bullets, paragraphs), escaped."""
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)  # the page has its own h1
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            head, body = _cells(block[0]), [_cells(b) for b in block[2:]]
            out.append(
                "<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead>"
            )
            out.append(
                "<tbody>"
                + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
                + "</tbody></table>"
            )
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _roc(m: dict[str, Any]) -> str:
    fig = Figure(figsize=(5, 4.2))
    ax = fig.add_subplot()
    ax.plot(m["roc"]["fpr"], m["roc"]["tpr"], color="#2b5c8a", lw=2, label=f"AUC {m['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="#999", ls="--", lw=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def _calibration(m: dict[str, Any]) -> str:
    pred = [c["mean_predicted"] for c in m["calibration"]]
    obs = [c["observed_rate"] for c in m["calibration"]]
    top = max([*pred, *obs, 0.01]) * 1.05
    fig = Figure(figsize=(5, 4.2))
    ax = fig.add_subplot()
    ax.plot([0, top], [0, top], color="#999", ls="--", lw=1, label="perfect")
    ax.plot(pred, obs, marker="o", color="#c0504d", lw=2, label="holdout bins")
    ax.set(xlabel="Mean predicted probability", ylabel="Observed rate", xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def _lift(m: dict[str, Any]) -> str:
    deciles = [d["decile"] for d in m["lift"]]
    fig = Figure(figsize=(5, 4.2))
    ax = fig.add_subplot()
    ax.bar(deciles, [d["lift"] for d in m["lift"]], color="#2b5c8a")
    ax.axhline(1.0, color="#999", ls="--", lw=1)
    ax.set(xlabel="Decile of predicted risk (1 = highest)", ylabel="Lift", xticks=deciles)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def _importance(m: dict[str, Any]) -> str:
    items = sorted(m.get("importances", {}).items(), key=lambda kv: -kv[1])[:20][::-1]
    fig = Figure(figsize=(5, max(2.0, 0.3 * len(items) + 1)))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4f8a5b")
    ax.set(xlabel="Share of importance")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def render_report(version_row: ModelVersion, *, holdout_frame: pl.DataFrame | None = None) -> str:
    """The version's report as one HTML page. With ``holdout_frame`` (features and the target column) the
    charts show that frame scored by the stored artefact; otherwise the holdout metrics kept at training."""
    row = version_row
    m = dict(row.metrics)
    source = "training holdout · 训练时验证集"
    if holdout_frame is not None:
        missing = [c for c in [*row.features, row.target] if c not in holdout_frame.columns]
        if missing:
            raise ModelRegistryError(f"the holdout frame lacks column(s) {', '.join(missing)} · 缺少列")
        X, y, _ = prepare(holdout_frame.select([*row.features, row.target]), row.target, None)
        m.update(evaluate_holdout(load_model(row), X, y))
        source = f"supplied frame · 指定数据 ({len(y):,} rows)"
    charts = [
        ("ROC curve · ROC 曲线", _roc(m)),
        ("Calibration · 校准 (predicted vs observed)", _calibration(m)),
        ("Lift by decile · 分十等份提升度", _lift(m)),
        ("Feature importance · 特征重要性", _importance(m)),
    ]
    title = f"{row.name} v{row.version} — model report · 模型报告"
    figures = "\n".join(
        f"<figure><figcaption>{html.escape(cap)}</figcaption>"
        f'<img alt="{html.escape(cap)}" src="{uri}"></figure>'
        for cap, uri in charts
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Status · 状态: <b>{html.escape(row.status)}</b> · AUC {m["auc"]:.4f} · KS {m["ks"]:.4f}
 · Gini {m["gini"]:.4f} · Brier {m["brier"]:.4f} — {html.escape(source)}</p>
<h2>Charts · 图表</h2>
<div class="charts">
{figures}
</div>
<h2>Model card · 模型卡</h2>
<section class="card">
{card_html(row.card)}
</section>
</body></html>
"""
