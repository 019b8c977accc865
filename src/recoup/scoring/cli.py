"""``recoup model …`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from recoup.console import make_console
from recoup.i18n import N_, _, cli_locale
from recoup.labels_domain import model_status_label

#: PSI states (``recoup.scoring.monitoring.psi_table``).
_PSI = {"stable": N_("stable"), "watch": N_("watch"), "alert": N_("alert")}

app = typer.Typer(
    help="Risk models: fit, train, list, promote, report. 风险模型：训练、登记、晋升、报告。",
    no_args_is_help=True,
)
console = make_console()


@app.command("fit")
def fit_cmd(
    file: Path = typer.Argument(..., help="A labelled table (CSV or Parquet)."),
    target: str = typer.Option(..., "--target", help="The 0/1 (or yes/no) column to predict."),
    id_column: str | None = typer.Option(None, "--id", help="An identifier column to leave out."),
    kind: str = typer.Option(
        "gbm",
        "--kind",
        help="gbm (LightGBM), scorecard (points scorecard) or auto (the better of the two by 5-fold "
        "cross-validated AUC on the same folds).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Train and 5-fold cross-validate a model on any labelled table; print AUC, KS, Gini, top features."""
    from recoup.errors import RecoupError
    from recoup.scoring.fit import fit_table

    if kind not in {"gbm", "scorecard", "auto"}:
        raise RecoupError(f"--kind must be gbm, scorecard or auto, not {kind!r}")
    if as_json:
        report = fit_table(file, target=target, id_column=id_column, kind=kind)  # type: ignore[arg-type]
        print(json.dumps(report.as_json(), ensure_ascii=False))
        return
    with console.status(_("cross-validating {kind} on {file} (5 folds) …").format(kind=kind, file=file.name)):
        report = fit_table(file, target=target, id_column=id_column, kind=kind)  # type: ignore[arg-type]
    text = _("[b]{kind}[/] on {file}: {rows} rows, {features} features")
    dropped = _(" ({n} rows without a target left out)").format(n=f"{report.dropped_rows:,}")
    console.print(
        text.format(kind=kind, file=file.name, rows=f"{report.n_rows:,}", features=report.n_features)
        + (dropped if report.dropped_rows else "")
    )
    if report.candidates:
        console.print(
            _("auto: ")
            + " · ".join(f"{k} AUC {v:.4f}" for k, v in report.candidates.items())
            + f" → [b]{report.kind}[/]"
        )
    console.print(_("5-fold CV") + f": AUC {report.auc:.4f} · KS {report.ks:.4f} · Gini {report.gini:.4f}")
    console.print(_("fold AUC: ") + ", ".join(f"{a:.4f}" for a in report.fold_auc))
    t = Table(title=_("Top features"), title_justify="left")
    t.add_column(_("Feature"))
    t.add_column(_("Share of importance"), justify="right")
    for name, share in report.top_features:
        t.add_row(name, f"{share:.1%}")
    console.print(t)


@app.command("build-table")
def build_table_cmd(
    target: str = typer.Option(
        "self_cure_30", "--target", help="self_cure_30 or roll_forward_30 (docs/scoring.md)."
    ),
    start: str = typer.Option(..., "--from", help="First as-of date of the rows (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last as-of date of the rows (YYYY-MM-DD)."),
    out: Path = typer.Option(..., "--out", help="The table to write: .parquet or .csv."),
    sample: str = typer.Option(
        "account_month",
        "--sample",
        help="account_month (one random delinquent day per account and month) or all (every one).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the account_month draw."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Build a training table from the lake: features of accounts in collections and their matured
    target, ready for `recoup model train --data`. 从数据湖生成训练数据。"""
    import polars as pl

    from recoup import migrate
    from recoup.config import get_settings
    from recoup.db import get_engine, session_scope
    from recoup.errors import NotFoundError, UsageError, parse_day
    from recoup.lake import book_as_of, get_lake, latest_manifest
    from recoup.lake.store import Outputs
    from recoup.scoring.table import build_table

    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if sample not in {"account_month", "all"}:
        raise UsageError(f"--sample must be account_month or all, not {sample!r}")
    if out.suffix.lower() not in {".parquet", ".csv"}:
        raise UsageError(f"--out must end in .parquet or .csv, not {out.name!r}")
    settings = get_settings()
    engine = get_engine(settings)
    migrate.upgrade(engine)
    lake = get_lake(settings)
    with session_scope(engine) as session:
        newest = latest_manifest(session=session)
        if newest is None:
            raise NotFoundError("nothing has been imported yet · 尚未导入任何数据")
        book = book_as_of(newest.as_of, session=session, lake=lake)
    frame = build_table(
        Outputs(lake),
        book,
        target=target,
        start=first,
        end=last,
        sample="all" if sample == "all" else "account_month",
        seed=seed,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        frame.write_csv(out)
    else:
        frame.write_parquet(out)
    rate = float(frame.get_column(target).cast(pl.Float64).mean() or 0.0)  # type: ignore[arg-type]
    dates = frame.get_column("as_of")
    window = [str(dates.min()), str(dates.max())]
    if as_json:
        print(
            json.dumps(
                {
                    "path": str(out),
                    "target": target,
                    "rows": frame.height,
                    "accounts": frame.get_column("loan_id").n_unique(),
                    "positive_rate": rate,
                    "as_of": window,
                    "sample": sample,
                },
                ensure_ascii=False,
            )
        )
        return
    text = _(
        "{out}: {rows} rows, {accounts} accounts, as-of {start} → {end}, {target} rate {rate} ({sample})"
    )
    accounts = f"{frame.get_column('loan_id').n_unique():,}"
    console.print(
        text.format(
            out=out,
            rows=f"{frame.height:,}",
            accounts=accounts,
            start=window[0],
            end=window[1],
            target=target,
            rate=f"{rate:.1%}",
            sample=sample,
        )
    )


# --- the model registry: train, list, promote, report -----------------------------------------------


def _parse_monotone(text: str | None) -> dict[str, int] | None:
    from recoup.scoring.registry import ModelRegistryError

    if not text:
        return None
    if text.strip().lower() == "none":
        return {}
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        feature, _, value = part.partition("=")
        if value.strip() not in {"1", "-1", "0", "+1"}:
            raise ModelRegistryError(f"--monotone expects feature=1 or feature=-1, not {part!r}")
        out[feature.strip()] = int(value)
    return out


@app.command("train")
def train_cmd(
    name: str = typer.Option(..., "--name", help="Model name, e.g. self_cure."),
    target: str = typer.Option(..., "--target", help="The 0/1 column to predict."),
    data: Path = typer.Option(..., "--data", help="Parquet or CSV with as_of, the features and the target."),
    kind: str = typer.Option("gbm", "--kind", help="gbm (LightGBM) or scorecard."),
    features: str | None = typer.Option(
        None, "--features", help="Comma-separated features (default: every column but as_of, ids, target)."
    ),
    monotone: str | None = typer.Option(
        None,
        "--monotone",
        help="GBM constraints, e.g. dpd=-1,paid_30d=1; replaces the defaults of self_cure and roll_forward "
        "(docs/scoring.md); 'none' for no constraints.",
    ),
    by: str = typer.Option("cli", "--by", help="Who trains it (recorded in the registry and ledger)."),
) -> None:
    """Train a new candidate version with an out-of-time holdout; store artefact and model card. 训练模型。"""
    from recoup import migrate
    from recoup.db import get_engine, session_scope
    from recoup.scoring.fit import read_table
    from recoup.scoring.registry import NON_FEATURES, do_train

    frame = read_table(data)
    if features:
        feats = [f.strip() for f in features.split(",") if f.strip()]
    else:
        feats = [c for c in frame.columns if c not in {*NON_FEATURES, target}]
    mono = _parse_monotone(monotone)
    migrate.upgrade(get_engine())
    with console.status(f"training {kind} {name} on {data.name} …"), session_scope() as session:
        row = do_train(
            name,
            frame,
            target=target,
            kind=kind,
            features=feats,
            session=session,
            monotone=mono,
            created_by=by,
        )
        m, h = row.metrics, row.metrics["holdout"]
        text = _(
            "[b]{name} v{version}[/] ({kind}) trained: {rows} rows, {features} features, "
            "window {start} → {end}"
        )
        console.print(
            text.format(
                name=row.name,
                version=row.version,
                kind=row.kind,
                rows=f"{row.n_train:,}",
                features=len(row.features),
                start=row.train_start,
                end=row.train_end,
            )
        )
        where = (
            _("as-of {start} → {end}").format(start=h["start"], end=h["end"])
            if h["method"] == "out_of_time"
            else _("random 20 %")
        )
        console.print(
            _("holdout ({where}, {n} rows)").format(where=where, n=f"{h['n']:,}")
            + f": AUC {m['auc']:.4f} · KS {m['ks']:.4f} · Gini {m['gini']:.4f} · Brier {m['brier']:.4f}"
        )
        if h.get("note"):
            console.print(f"[yellow]{h['note']}[/]")
        text = _("artefact: {uri}  status: {status}")
        console.print(text.format(uri=row.artefact_uri, status=model_status_label(row.status)))


@app.command("list")
def list_cmd(name: str | None = typer.Option(None, "--name", help="Only this model.")) -> None:
    """List registered model versions. 模型版本列表。"""
    from recoup import migrate
    from recoup.db import get_engine, session_scope
    from recoup.scoring.registry import list_versions

    migrate.upgrade(get_engine())
    with session_scope() as session:
        rows = list_versions(session=session, name=name)
        t = Table(
            title=_("Model versions"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        t.add_column(_("Name"), no_wrap=True)
        t.add_column("v", justify="right", no_wrap=True, min_width=2)
        t.add_column(_("Kind"), no_wrap=True)
        t.add_column(_("Status"), no_wrap=True)
        t.add_column(_("Window"), no_wrap=True)
        t.add_column("AUC", justify="right", no_wrap=True)
        t.add_column("KS", justify="right", no_wrap=True)
        for r in rows:
            style = "bold green" if r.status == "champion" else ("dim" if r.status == "retired" else None)
            t.add_row(
                r.name,
                str(r.version),
                r.kind,
                model_status_label(r.status),
                f"{r.train_start}→{r.train_end}",
                f"{r.metrics['auc']:.3f}",
                f"{r.metrics['ks']:.3f}",
                style=style,
            )
        console.print(t if rows else _("no model versions yet"))


@app.command("promote")
def promote_cmd(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version to make champion."),
    by: str = typer.Option("cli", "--by", help="Who promotes it (recorded in the ledger)."),
) -> None:
    """Make a version the champion; the previous champion is retired. 晋升为冠军模型。"""
    from recoup import migrate
    from recoup.db import get_engine, session_scope
    from recoup.scoring.registry import champion, do_promote

    migrate.upgrade(get_engine())
    with session_scope() as session:
        before = champion(name, session=session)
        row = do_promote(name, version, session=session, actor=by)
        if before is not None and before.id == row.id:
            console.print(_("{name} v{version} is already the champion").format(name=name, version=version))
        else:
            retired = _("; v{version} retired").format(version=before.version) if before is not None else ""
            console.print(
                _("{name} v{version} is now the champion").format(name=name, version=version) + retired
            )


@app.command("report")
def report_cmd(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version."),
    out: Path | None = typer.Option(
        None, "--out", help="HTML file (default DATA_DIR/reports/model-NAME-vN.html)."
    ),
) -> None:
    """Write a version's self-contained HTML report (card, ROC, calibration, lift, importance). 模型报告。"""
    from recoup import migrate
    from recoup.config import get_settings
    from recoup.db import get_engine, session_scope
    from recoup.scoring.registry import get_version
    from recoup.scoring.report import render_report

    migrate.upgrade(get_engine())
    with session_scope() as session:
        page = render_report(get_version(name, version, session=session))
    path = out or get_settings().data_dir / "reports" / f"model-{name}-v{version}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    console.print(_("report: {path}").format(path=path))


@app.command("monitor")
def monitor_cmd(
    baseline: str = typer.Option(
        ..., "--baseline", help="As-of date of the reference population (YYYY-MM-DD)."
    ),
    current: str = typer.Option(..., "--current", help="As-of date to compare with it."),
) -> None:
    """Population stability (PSI) of every feature and of the score between two cycle dates, with alerts."""
    from recoup.config import get_settings
    from recoup.errors import NotFoundError
    from recoup.lake import get_lake
    from recoup.lake.store import Outputs
    from recoup.portfolio.cli import parse_as_of
    from recoup.scoring.features import FEATURES
    from recoup.scoring.monitoring import drift_alerts, psi_table

    out = Outputs(get_lake(get_settings()))
    frames = {}
    for label, day in (("baseline", baseline), ("current", current)):
        feats = out.read("features", parse_as_of(day))
        if feats is None:
            raise NotFoundError(f"no features for {day}: run `recoup cycle run --as-of {day}` first")
        scores = out.read("scores", parse_as_of(day))
        if scores is not None:
            feats = feats.join(scores.select("loan_id", "score"), on="loan_id", how="left")
        frames[label] = feats
    cols = [
        c for c in [*FEATURES, "score"] if c in frames["baseline"].columns and c in frames["current"].columns
    ]
    cols = [c for c in cols if frames["baseline"].get_column(c).null_count() < frames["baseline"].height]
    table = psi_table(frames["baseline"], frames["current"], cols)
    title = _("Population stability (PSI) {baseline} → {current}").format(baseline=baseline, current=current)
    t = Table(title=title, title_justify="left")
    for c in (_("Column"), "PSI", _("Status")):
        t.add_column(c)
    for r in table.iter_rows(named=True):
        state = _PSI.get(r["status"])
        t.add_row(r["column"], f"{r['psi']:.4f}", _(state) if state is not None else r["status"])
    console.print(t)
    alerts = drift_alerts(table, None)
    for a in alerts:
        message = a["message_en"] if cli_locale() == "en" else a["message_zh"]
        console.print(f"[yellow]{_('alert:')}[/] {message}")
    if not alerts:
        console.print(_("no drift alerts"))
