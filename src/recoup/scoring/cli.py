"""``recoup model …`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Risk models: fit, evaluate. 风险模型。", no_args_is_help=True)
console = Console()


@app.command("fit")
def fit_cmd(
    file: Path = typer.Argument(..., help="A labelled table (CSV or Parquet)."),
    target: str = typer.Option(..., "--target", help="The 0/1 (or yes/no) column to predict."),
    id_column: str | None = typer.Option(None, "--id", help="An identifier column to leave out."),
    kind: str = typer.Option("gbm", "--kind", help="gbm (LightGBM) or scorecard (points scorecard)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Train and 5-fold cross-validate a model on any labelled table; print AUC, KS, Gini, top features."""
    from recoup.errors import RecoupError
    from recoup.scoring.fit import fit_table

    if kind not in {"gbm", "scorecard"}:
        raise RecoupError(f"--kind must be gbm or scorecard, not {kind!r}")
    if as_json:
        report = fit_table(file, target=target, id_column=id_column, kind=kind)  # type: ignore[arg-type]
        print(json.dumps(report.as_json(), ensure_ascii=False))
        return
    with console.status(f"cross-validating {kind} on {file.name} (5 folds) …"):
        report = fit_table(file, target=target, id_column=id_column, kind=kind)  # type: ignore[arg-type]
    console.print(
        f"[b]{kind}[/] on {file.name}: {report.n_rows:,} rows, {report.n_features} features"
        + (f" ({report.dropped_rows:,} rows without a target left out)" if report.dropped_rows else "")
    )
    console.print(f"5-fold CV · 交叉验证: AUC {report.auc:.4f} · KS {report.ks:.4f} · Gini {report.gini:.4f}")
    console.print("fold AUC: " + ", ".join(f"{a:.4f}" for a in report.fold_auc))
    t = Table(title="Top features · 重要特征", title_justify="left")
    t.add_column("feature")
    t.add_column("share of importance", justify="right")
    for name, share in report.top_features:
        t.add_row(name, f"{share:.1%}")
    console.print(t)
