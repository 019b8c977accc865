"""``recoup strategy evaluate``, ``recoup strategy compare`` and ``recoup strategy train-response``: a
strategy in the loop with the frozen digital twin (:mod:`recoup.evaluation.evaluate`).

The commands keep their place in the ``strategy`` group: :func:`mount` (listed in
:mod:`recoup.cli_mount`) adds them to ``recoup.strategy.cli.app`` with :func:`register`, so the
production package never imports the evaluation (issue 14, item 1)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from recoup.console import make_console
from recoup.evaluation.cli_support import (
    COST_WEIGHT,
    TRAIN_DAYS,
    TRAIN_HORIZON,
    TRAIN_LOANS,
    TRAIN_PLACE_SHARE,
    TRAIN_SEED,
    _capacity,
    _date,
    _optimised_config,
    _print_result,
    _shared_scorer,
    _yuan,
    compare_specs,
    default_model_path,
    ensure_model,
    lender_config,
    resolve_experiment,
    resolve_strategy,
)

__all__ = [
    "compare_specs",
    "default_model_path",
    "ensure_model",
    "lender_config",
    "mount",
    "register",
    "resolve_experiment",
    "resolve_strategy",
]

_err = make_console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``compare`` and ``train-response`` to the ``strategy`` Typer app."""

    @app.command("evaluate")
    def evaluate_cmd(
        strategy: str = typer.Option(
            "baseline", "--strategy", help="baseline, or a strategy FILE (.json/.toml)."
        ),
        loans: int = typer.Option(10_000, "--loans", min=1, help="Loans in the twin's book."),
        days: int = typer.Option(30, "--days", min=1, help="Days to simulate."),
        seed: int = typer.Option(1, "--seed", help="The twin's seed."),
        perturb: float = typer.Option(
            0.0,
            "--perturb",
            min=0.0,
            max=0.99,
            help="Scale every response parameter by U[1−P, 1+P] (seeded).",
        ),
        start: str = typer.Option("2026-01-01", "--start", help="The first day (YYYY-MM-DD)."),
        capacity: Path | None = typer.Option(
            None, "--capacity", help="JSON: resource → daily limit (or null)."
        ),
        agent_minutes: int | None = typer.Option(None, "--agent-minutes", min=0, help="Agent minutes a day."),
        field_visits: int | None = typer.Option(None, "--field-visits", min=0, help="Field visits a day."),
        message_budget: int | None = typer.Option(
            None, "--message-budget", min=0, help="Message budget a day, in fen."
        ),
        keep_db: Path | None = typer.Option(None, "--keep-db", help="Keep the attempt log (SQLite) here."),
        experiment: Path | None = typer.Option(
            None,
            "--experiment",
            help="An experiment JSON (arms with shares; each arm's strategy is baseline or a FILE): "
            "per-arm results with confidence intervals.",
        ),
        model: Path | None = typer.Option(
            None, "--model", help="optimised: the response model (default DATA_DIR/models/response.joblib)."
        ),
        cost_weight: float = typer.Option(
            COST_WEIGHT, "--cost-weight", min=0.0, help="optimised: μ, the extra price of a fen of cost."
        ),
        daily_budget: int | None = typer.Option(
            None, "--daily-budget", min=0, help="optimised: total treatment spend a day, in fen."
        ),
        no_scorer: bool = typer.Option(
            False, "--no-scorer", help="Run unscored (score null), as before the shared self-cure scorer."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Run a strategy in the loop with the frozen digital twin: recovered, cost, net, contacts,
        complaints and violations (from the policy audit). 在数字孪生上评估策略。"""
        from rich.progress import Progress

        from recoup.evaluation.evaluate import EvalConfig, evaluate

        label, strat, execution = resolve_strategy(strategy)
        prices, staffing = lender_config()
        cap = _capacity(loans, capacity, agent_minutes, field_visits, message_budget, staffing)
        cfg = EvalConfig(
            strategy=strat,
            loans=loans,
            days=days,
            seed=seed,
            start=_date(start),
            perturb=perturb,
            capacity=cap,
            execution=execution,
            label=label,
            keep_db=keep_db,
            prices=prices,
            staffing=staffing,
        )
        if label == "optimised":
            path = ensure_model(model, quiet=as_json)
            cfg = _optimised_config(
                path,
                cost_weight,
                daily_budget,
                loans=loans,
                days=days,
                seed=seed,
                start=_date(start),
                perturb=perturb,
                capacity=cap,
                keep_db=keep_db,
                prices=prices,
                staffing=staffing,
            )
        if experiment is not None:
            exp, arms = resolve_experiment(experiment)
            cfg = replace(
                cfg, strategy=arms[exp.champion.name], experiment=exp, arms=arms, label=experiment.name
            )
        if not no_scorer:
            cfg = replace(cfg, scorer=_shared_scorer(loans, days, [seed], prices, staffing, quiet=as_json))
        if as_json:
            result = evaluate(cfg)
            typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
            return
        with Progress(console=_err, transient=True) as bar:
            task = bar.add_task("simulating · 模拟中", total=days)
            result = evaluate(replace(cfg, progress=lambda k, n: bar.update(task, completed=k)))
        _print_result(result)

    @app.command("compare")
    def compare_cmd(
        a: str = typer.Argument(..., help="Strategy A: baseline or a FILE."),
        b: str = typer.Argument(..., help="Strategy B: baseline or a FILE."),
        seeds: int = typer.Option(5, "--seeds", min=1, help="Run seeds 1..K."),
        loans: int = typer.Option(10_000, "--loans", min=1),
        days: int = typer.Option(30, "--days", min=1),
        perturb: float = typer.Option(0.0, "--perturb", min=0.0, max=0.99),
        start: str = typer.Option("2026-01-01", "--start"),
        capacity: Path | None = typer.Option(None, "--capacity", help="JSON: resource → daily limit."),
        jobs: int = typer.Option(1, "--jobs", min=1, max=8, help="Runs in parallel (processes)."),
        model: Path | None = typer.Option(
            None, "--model", help="optimised: the response model (default DATA_DIR/models/response.joblib)."
        ),
        cost_weight: float = typer.Option(
            COST_WEIGHT, "--cost-weight", min=0.0, help="optimised: μ, the extra price of a fen of cost."
        ),
        daily_budget: int | None = typer.Option(
            None, "--daily-budget", min=0, help="optimised: total treatment spend a day, in fen."
        ),
        no_scorer: bool = typer.Option(
            False, "--no-scorer", help="Run unscored (score null), as before the shared self-cure scorer."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Run A and B on seeds 1..K (the same twin per seed) and report B − A in net, recovered and cost
        with a 95 % paired-t interval. 比较两个策略（配对 t 检验）。"""
        from recoup.evaluation.compare import compare

        sa, sb = resolve_strategy(a), resolve_strategy(b)
        prices, staffing = lender_config()
        cap = _capacity(loans, capacity, None, None, None, staffing)

        def note(what: str) -> None:
            if not as_json:
                _err.print(f"done · 完成: {what}")

        seed_list = list(range(1, seeds + 1))
        scorer = (
            None if no_scorer else _shared_scorer(loans, days, seed_list, prices, staffing, quiet=as_json)
        )

        if "optimised" in (sa[0], sb[0]):
            cmp = compare_specs(
                sa,
                sb,
                seeds=list(range(1, seeds + 1)),
                model=ensure_model(model, quiet=as_json),
                cost_weight=cost_weight,
                daily_budget=daily_budget,
                jobs=jobs,
                progress=note,
                loans=loans,
                days=days,
                perturb=perturb,
                start=_date(start),
                capacity=cap,
                prices=prices,
                staffing=staffing,
                scorer=scorer,
            )
        else:
            cmp = compare(
                sa,
                sb,
                seeds=list(range(1, seeds + 1)),
                loans=loans,
                days=days,
                perturb=perturb,
                start=_date(start),
                capacity=cap,
                jobs=jobs,
                progress=note,
                prices=prices,
                staffing=staffing,
                scorer=scorer,
            )
        out = cmp.to_json()
        if as_json:
            typer.echo(json.dumps(out, ensure_ascii=False))
            return
        console = make_console()
        t = Table(title=f"B − A: {out['b']} − {out['a']} · {loans:,} loans, {days} days, perturb {perturb}")
        for c in ("figure · 指标", "mean · 均值", "95 % CI · 置信区间", "per seed · 各种子"):
            t.add_column(c, justify="left" if c.startswith("figure") else "right")
        names = {"net": "net · 净回收", "recovered": "recovered · 回收", "cost": "cost · 成本"}
        for m, name in names.items():
            d = out[m]
            ci = f"{_yuan(d['ci95'][0])} … {_yuan(d['ci95'][1])}" if d["ci95"] else "—"
            t.add_row(name, _yuan(d["mean"]), ci, ", ".join(_yuan(x) for x in d["per_seed"]))
        for m, name in (("contacts", "contacts · 联系"), ("complaints", "complaints · 投诉")):
            d = out[m]
            ci = f"{d['ci95'][0]:,} … {d['ci95'][1]:,}" if d["ci95"] else "—"
            t.add_row(name, f"{d['mean']:,}", ci, ", ".join(f"{x:,}" for x in d["per_seed"]))
        console.print(t)
        per = Table(title="per seed · 各种子")
        for c in ("seed", "A net", "B net", "A cost", "B cost", "A viol.", "B viol."):
            per.add_column(c, justify="right")
        for row in out["per_seed"]:
            ra, rb = row["a"], row["b"]
            per.add_row(
                str(row["seed"]),
                _yuan(ra["net"]),
                _yuan(rb["net"]),
                _yuan(ra["cost"]),
                _yuan(rb["cost"]),
                str(ra["violations"]),
                str(rb["violations"]),
            )
        console.print(per)
        console.print(out["verdict"])

    @app.command("train-response")
    def train_response_cmd(
        loans: int = typer.Option(TRAIN_LOANS, "--loans", min=1, help="Loans in the training twin."),
        days: int = typer.Option(TRAIN_DAYS, "--days", min=1, help="Days of randomised treatments."),
        seed: int = typer.Option(TRAIN_SEED, "--seed", help="The training twin's seed (not 1…K)."),
        horizon: int = typer.Option(TRAIN_HORIZON, "--horizon", min=1, help="Days of outcome per decision."),
        place_share: float = typer.Option(
            TRAIN_PLACE_SHARE,
            "--place-share",
            min=0.0,
            max=0.5,
            help="Daily probability of an agency placement in the randomised run (when none runs).",
        ),
        out: Path | None = typer.Option(
            None, "--out", help="Where to save the model (default DATA_DIR/models/response.joblib)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Train the optimised strategy's response models on a randomised run of the twin: treatments
        drawn at random among the feasible ones (placements at their own share), outcomes over the next H
        days. 训练响应模型。"""
        from recoup.evaluation.training import train_response
        from recoup.strategy.response import save_model

        target = out if out is not None else default_model_path()

        def say(msg: str) -> None:
            if not as_json:
                _err.print(msg)

        models, run = train_response(loans, days, seed, horizon, progress=say, place_share=place_share)
        save_model(models, target, run.to_json())
        info = {**run.to_json(), "out": str(target)}
        if as_json:
            typer.echo(json.dumps(info, ensure_ascii=False))
        else:
            make_console().print(
                f"saved {target}: {run.rows:,} account-days from {loans:,} loans × {days} days, seed {seed}, "
                f"horizon {horizon} days, {run.violations} violations, {run.seconds:.0f} s · 已保存"
            )


def mount(root: typer.Typer) -> None:
    """Add the evaluation's commands to the ``strategy`` group (``recoup.strategy.cli.app``) once;
    ``root``, the ``recoup`` app, already mounts that group."""
    from recoup.strategy.cli import app as strategy_app

    if any(c.name == "evaluate" for c in strategy_app.registered_commands):
        return
    register(strategy_app)
