"""``recoup strategy``: show and save strategies, run experiments, and read the day's decisions.

``evaluate``, ``compare`` and ``train-response`` (the digital twin) join this group from
``recoup.evaluation.cli``, mounted by :mod:`recoup.cli_mount`: production never imports the twin.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from recoup.console import make_console
from recoup.i18n import _
from recoup.labels import treatment_label
from recoup.labels_domain import one_language

app = typer.Typer(
    help="Collection strategies as versioned data, experiments and daily decisions. 催收策略与决策。",
    no_args_is_help=True,
)
console = make_console()


def _engine() -> Any:
    from recoup import migrate
    from recoup.db import get_engine

    engine = get_engine()
    migrate.upgrade(engine)
    return engine


def _read_document(path: Path) -> dict[str, Any]:
    """A JSON or TOML document (by suffix), with a clear error naming the file."""
    from recoup.strategy.definition import StrategyError

    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise StrategyError(f"{path}: cannot read the file · 无法读取文件: {exc.strerror}") from None
    try:
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise StrategyError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'} · 文件格式错误: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise StrategyError(f"{path}: the document must be an object / table · 文档须为对象")
    return data


@app.command("show")
def show_cmd(
    name: str = typer.Argument("default", help="Strategy name."),
    version: int | None = typer.Option(None, "--version", help="A stored version (default: the newest)."),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON."),
) -> None:
    """Show a strategy's rows: node, conditions → treatment, template, tone, queue, priority."""
    from recoup.configs.service import get_latest
    from recoup.db import session_scope
    from recoup.strategy.defaults import DEFAULT_NAME, DEFAULT_STRATEGY
    from recoup.strategy.definition import condition_text, load_strategy
    from recoup.strategy.service import KIND, get_strategy

    with session_scope(_engine()) as session:
        stored = version is not None or get_latest(KIND, name, session=session, missing_ok=True) is not None
        if not stored and name == DEFAULT_NAME:
            strategy = load_strategy(DEFAULT_STRATEGY)  # shown, not saved: the first cycle saves it as v1
        else:
            strategy = get_strategy(name, session=session, version=version)
    if as_json:
        doc = {**strategy.doc.model_dump(mode="json"), "version": strategy.version, "hash": strategy.hash}
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    title = _("strategy {label} · {hash}").format(label=strategy.label, hash=strategy.hash)
    table = Table(title=title, caption=one_language(strategy.doc.description) or None)
    heads = (_("Node"), _("When"), _("Treatment"), _("Template"), _("Tone"), _("Queue"), _("Priority"))
    for col in ("#", *heads, _("Required notice"), _("Note")):
        table.add_column(col, overflow="fold")
    rows = strategy.table.rows
    for i, row in enumerate(rows, start=1):
        t = row.then
        treatment = treatment_label(t["treatment"])
        table.add_row(
            str(i),
            row.id,
            condition_text(row.when),
            treatment,
            t.get("template") or "",
            t.get("tone") or "",
            t.get("queue") or "",
            str(t.get("priority") or 0),
            _("yes") if t.get("required_notice") else "",
            one_language(row.note),
        )
    d = strategy.table.default or {}
    table.add_row(
        "", _("default"), _("otherwise"), treatment_label(d.get("treatment")), "", "", "", "", "", ""
    )
    console.print(table)


@app.command("save")
def save_cmd(
    file: Path = typer.Argument(..., help="A strategy document (.json or .toml)."),
    comment: str = typer.Option("", "--comment", help="Why this version (kept with it)."),
    actor: str = typer.Option("cli", "--by", help="Who saves it."),
) -> None:
    """Validate a strategy document and save it as the next version of its name."""
    from recoup.configs.service import get_latest
    from recoup.db import session_scope
    from recoup.strategy.service import KIND, do_save_strategy

    data = _read_document(file)
    with session_scope(_engine()) as session:
        name = data.get("name")
        before = get_latest(KIND, name, session=session, missing_ok=True) if isinstance(name, str) else None
        strategy = do_save_strategy(data, session=session, created_by=actor, comment=comment)
    if before is not None and before.version == strategy.version:
        typer.echo(_("unchanged: strategy {label}").format(label=strategy.label))
    else:
        text = _("saved strategy {label} ({rows} rows, {hash}); the next cycle decides with it")
        typer.echo(text.format(label=strategy.label, rows=len(strategy.table.rows), hash=strategy.hash))


@app.command("experiment")
def experiment_cmd(
    file: Path | None = typer.Argument(None, help="An experiment document to start (.json or .toml)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the running experiment."),
    as_json: bool = typer.Option(False, "--json", help="Print the running experiment as JSON."),
) -> None:
    """Show the running champion/challenger experiment, start one from FILE, or --stop it."""
    from recoup.db import session_scope
    from recoup.strategy.service import current_experiment, do_save_experiment, do_stop_experiment

    with session_scope(_engine()) as session:
        if file is not None:
            exp = do_save_experiment(_read_document(file), session=session, created_by="cli")
            typer.echo(_("experiment {name} runs from the next cycle").format(name=exp.name))
        elif stop:
            stopped = do_stop_experiment(session=session, created_by="cli")
            typer.echo(
                _("stopped {name}").format(name=stopped.name) if stopped else _("no experiment is running")
            )
            return
        exp_now = current_experiment(session=session)
    if exp_now is None:
        typer.echo(_("no experiment is running: every account gets the champion"))
        return
    if as_json:
        typer.echo(json.dumps(exp_now.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    table = Table(title=_("experiment {name} · unit {unit}").format(name=exp_now.name, unit=exp_now.unit))
    for col in (_("Arm"), _("Strategy"), _("Version"), _("Share")):
        table.add_column(col)
    for i, arm in enumerate(exp_now.arms):
        name = _("{arm} (champion)").format(arm=arm.name) if i == 0 else arm.name
        table.add_row(name, arm.strategy, str(arm.version or _("newest")), f"{arm.share:.1%}")
    if exp_now.holdout:
        table.add_row(_("holdout"), _("no action except required notices"), "", f"{exp_now.holdout:.1%}")
    console.print(table)
    if exp_now.exploration:
        among = ", ".join(treatment_label(t) for t in exp_now.exploration_treatments)
        console.print(
            _("exploration: {share} among {treatments}").format(
                share=f"{exp_now.exploration:.1%}", treatments=among
            )
        )


@app.command("decisions")
def decisions_cmd(
    as_of: str = typer.Option(..., "--as-of", help="The day (YYYY-MM-DD)."),
    limit: int = typer.Option(
        10, "--limit", "-n", min=0, help="Also print this many decisions with reasons."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """The day's decisions from the lake: counts by treatment, node and arm, and examples with reasons."""
    import polars as pl

    from recoup.errors import NotFoundError
    from recoup.lake import get_lake
    from recoup.lake.store import Outputs
    from recoup.portfolio.cli import parse_as_of

    day = parse_as_of(as_of)
    dec = Outputs(get_lake()).read("decisions", day)
    if dec is None:
        raise NotFoundError(f"no decisions for {day}; run `recoup cycle run --as-of {day}` · 当日无决策")

    def counts(*by: str) -> pl.DataFrame:
        return dec.group_by(*by).len("n").sort(["n", *by], descending=[True, *([False] * len(by))])

    versions = counts("strategy", "strategy_version")
    by_t, by_node, by_arm = counts("treatment"), counts("node", "treatment"), counts("arm")
    if as_json:
        out = {
            "as_of": day.isoformat(),
            "decisions": dec.height,
            "strategies": {f"{r['strategy']} v{r['strategy_version']}": r["n"] for r in versions.to_dicts()},
            "by_treatment": dict(by_t.iter_rows()),
            "by_node": {r["node"]: r["n"] for r in by_node.to_dicts()},
            "by_arm": dict(by_arm.iter_rows()),
            "explored": int(dec.get_column("explored").sum()),
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    used = ", ".join(f"{r['strategy']} v{r['strategy_version']}" for r in versions.to_dicts())
    console.print(_("{day}: {n} decisions ({used})").format(day=day, n=f"{dec.height:,}", used=used))
    heads = {"treatment": _("Treatment"), "node": _("Node"), "arm": _("Arm"), "n": _("Count")}
    for title, frame in ((_("By treatment"), by_t), (_("By node"), by_node), (_("By arm"), by_arm)):
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(heads.get(col, col), justify="right" if col == "n" else "left")
        for row in frame.iter_rows():
            cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in row]
            if "treatment" in frame.columns:
                i = frame.columns.index("treatment")
                cells[i] = treatment_label(row[i])
            table.add_row(*cells)
        console.print(table)
    if limit:
        table = Table(title=_("First {n} decisions").format(n=min(limit, dec.height)))
        for col in (_("Loan"), _("Arm"), _("Node"), _("Treatment"), _("Reasons")):
            table.add_column(col, overflow="fold")
        for r in dec.sort("loan_id").head(limit).iter_rows(named=True):
            table.add_row(r["loan_id"], r["arm"], r["node"], treatment_label(r["treatment"]), r["reasons"])
        console.print(table)
