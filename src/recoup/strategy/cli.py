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
    from recoup.contact.vocab import Treatment, label
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
    title = f"strategy {strategy.label} · {strategy.hash}"
    table = Table(title=title, caption=strategy.doc.description or None)
    for col in ("#", "node", "when", "treatment", "template", "tone", "queue", "prio", "notice", "note"):
        table.add_column(col, overflow="fold")
    rows = strategy.table.rows
    for i, row in enumerate(rows, start=1):
        t = row.then
        treatment = f"{t['treatment']} {label(Treatment(t['treatment']))}"
        table.add_row(
            str(i),
            row.id,
            condition_text(row.when),
            treatment,
            t.get("template") or "",
            t.get("tone") or "",
            t.get("queue") or "",
            str(t.get("priority") or 0),
            "yes 必发" if t.get("required_notice") else "",
            row.note,
        )
    d = strategy.table.default or {}
    table.add_row("", "default", "otherwise 其他", str(d.get("treatment")), "", "", "", "", "", "")
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
        typer.echo(f"unchanged · 未变化: strategy {strategy.label}")
    else:
        typer.echo(
            f"saved strategy {strategy.label} ({len(strategy.table.rows)} rows, {strategy.hash}) · 已保存；"
            "the next cycle decides with it · 下一次批处理起生效"
        )


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
            typer.echo(f"experiment {exp.name} runs from the next cycle · 实验已启动")
        elif stop:
            stopped = do_stop_experiment(session=session, created_by="cli")
            typer.echo(
                f"stopped {stopped.name} · 实验已停止" if stopped else "no experiment is running · 无实验"
            )
            return
        exp_now = current_experiment(session=session)
    if exp_now is None:
        typer.echo("no experiment is running: every account gets the champion · 无实验：全部使用冠军策略")
        return
    if as_json:
        typer.echo(json.dumps(exp_now.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"experiment {exp_now.name} · unit {exp_now.unit}")
    for col in ("arm", "strategy", "version", "share"):
        table.add_column(col)
    for i, arm in enumerate(exp_now.arms):
        name = f"{arm.name} (champion 冠军)" if i == 0 else arm.name
        table.add_row(name, arm.strategy, str(arm.version or "newest"), f"{arm.share:.1%}")
    if exp_now.holdout:
        table.add_row("holdout 对照组", "no action except required notices", "", f"{exp_now.holdout:.1%}")
    console.print(table)
    if exp_now.exploration:
        console.print(
            f"exploration 探索: {exp_now.exploration:.1%} among {', '.join(exp_now.exploration_treatments)}"
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

    from recoup.contact.vocab import Treatment, label
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
    console.print(f"{day}: {dec.height:,} decisions · 决策 ({used})")
    for title, frame in (
        ("by treatment · 按处置", by_t),
        ("by node · 按节点", by_node),
        ("by arm · 按实验组", by_arm),
    ):
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(col, justify="right" if col == "n" else "left")
        for row in frame.iter_rows():
            cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in row]
            if frame.columns[-1] == "n" and "treatment" in frame.columns:
                i = frame.columns.index("treatment")
                cells[i] = f"{row[i]} {label(Treatment(row[i]))}"
            table.add_row(*cells)
        console.print(table)
    if limit:
        table = Table(title=f"first {min(limit, dec.height)} decisions · 决策示例")
        for col in ("loan", "arm", "node", "treatment", "reasons"):
            table.add_column(col, overflow="fold")
        for r in dec.sort("loan_id").head(limit).iter_rows(named=True):
            table.add_row(r["loan_id"], r["arm"], r["node"], r["treatment"], r["reasons"])
        console.print(table)
