"""What the twin's strategy commands share (:mod:`recoup.evaluation.cli`): resolving a strategy or an
experiment by name or file, the response model's path, the lender's saved prices and capacity, and the
printed result table."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

from rich.table import Table

from recoup.console import make_console

__all__ = [
    "compare_specs",
    "default_model_path",
    "ensure_model",
    "lender_config",
    "resolve_experiment",
    "resolve_strategy",
]

_err = make_console(stderr=True)


def _yuan(fen: int) -> str:
    from recoup.money import format_amount

    return format_amount(int(fen))


def resolve_strategy(spec: str) -> tuple[str, Any, Any]:
    """``baseline`` or a strategy FILE (JSON or TOML, optionally with an ``execution`` section) →
    (label, Strategy, Execution). Errors name the file and the field."""
    from recoup.evaluation.evaluate import EvaluateError, Execution, baseline_strategy
    from recoup.strategy.definition import load_strategy

    if spec == "baseline":
        return "baseline", baseline_strategy(), Execution()
    if spec in ("optimised", "optimized"):
        from recoup.strategy.optimised import notice_strategy

        # The decider is built per run (``_optimised_config``); its runs record this document: the
        # default strategy's required notices, decided every day before the plan.
        return "optimised", notice_strategy(), Execution()
    path = Path(spec)
    if not path.is_file():
        raise EvaluateError(f"{spec}: not 'baseline' and not a strategy file · 既非 baseline 也非策略文件")
    try:
        text = path.read_text("utf-8")
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise EvaluateError(f"{path}: cannot read the strategy · 无法读取策略文件: {exc}") from None
    if not isinstance(data, dict):
        raise EvaluateError(f"{path}: the document must be an object / table · 文档须为对象")
    execution = Execution.from_mapping(data.pop("execution", None) or {})
    version = data.pop("version", None)  # as printed by `recoup strategy show --json`
    data.pop("hash", None)
    strategy = load_strategy(data, version=version if isinstance(version, int) else None)
    return path.name, strategy, execution


#: Defaults of the optimised strategy's response model and its training run (docs/strategy.md).
TRAIN_LOANS, TRAIN_DAYS, TRAIN_SEED, TRAIN_HORIZON = 100_000, 100, 1001, 14
#: The training run's daily probability of an agency placement (when none is running).
TRAIN_PLACE_SHARE = 0.02
#: μ, the price of a fen of cost beyond its face value in the optimised plan (docs/strategy.md).
COST_WEIGHT = 0.2  # = recoup.strategy.optimised.COST_WEIGHT (not imported here: the CLI loads lazily)


def default_model_path() -> Path:
    from recoup.config import get_settings

    path = get_settings().response_model  # the cycle's value model too (docs/cycle-value.md)
    assert path is not None  # set by Settings' defaults
    return path


def ensure_model(path: Path | None, *, quiet: bool = False) -> Path:
    """The response model file; trained first (the documented training run) when it does not exist."""
    from recoup.evaluation.training import train_response
    from recoup.strategy.response import save_model

    target = path if path is not None else default_model_path()
    if target.is_file():
        return target

    def say(msg: str) -> None:
        if not quiet:
            _err.print(msg)

    say(
        f"no response model at {target}: training one (randomised run, {TRAIN_LOANS:,} loans, "
        f"{TRAIN_DAYS} days, seed {TRAIN_SEED}) · 训练响应模型"
    )
    models, run = train_response(
        TRAIN_LOANS, TRAIN_DAYS, TRAIN_SEED, TRAIN_HORIZON, progress=say, place_share=TRAIN_PLACE_SHARE
    )
    save_model(models, target, run.to_json())
    say(f"saved {target} ({run.rows:,} account-days, {run.seconds:.0f} s)")
    return target


def _shared_scorer(
    loans: int, days: int, seeds: list[int], prices: Any, staffing: Any, *, quiet: bool
) -> Any:
    """The self-cure scorer every strategy of the run gets (``evaluation.scorer.shared_scorer``)."""
    from recoup.evaluation.scorer import shared_scorer

    say = None if quiet else _err.print
    return shared_scorer(loans, days, seeds=seeds, prices=prices, staffing=staffing, say=say, warn=_err.print)


def _optimised_config(model: Path, cost_weight: float, daily_budget: int | None, **kw: Any) -> Any:
    from recoup.evaluation.optimised import optimised_config

    return optimised_config(model, cost_weight=cost_weight, daily_budget=daily_budget, **kw)


def _run_seed(args: tuple[str, Any, Any, dict[str, Any], Path | None, float, int | None]) -> Any:
    """One run of ``compare`` (picklable): a strategy, or the optimised decider with its model."""
    from recoup.evaluation.evaluate import EvalConfig, evaluate

    label, strategy, execution, kw, model, weight, budget = args
    if label == "optimised" and model is not None:
        return evaluate(_optimised_config(model, weight, budget, label=label, execution=execution, **kw))
    return evaluate(EvalConfig(strategy=strategy, label=label, execution=execution, **kw))


def compare_specs(
    a: tuple[str, Any, Any],
    b: tuple[str, Any, Any],
    *,
    seeds: list[int],
    model: Path | None,
    cost_weight: float = COST_WEIGHT,
    daily_budget: int | None = None,
    jobs: int = 1,
    progress: Any = None,
    **kw: Any,
) -> Any:
    """``compare`` where A or B may be ``optimised`` (each seed's run builds its own decider)."""
    from recoup.evaluation.compare import Comparison

    runs = [
        (label, strategy, execution, {**kw, "seed": seed}, model, cost_weight, daily_budget)
        for label, strategy, execution in (a, b)
        for seed in seeds
    ]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_run_seed, runs))
    else:
        results = []
        for run in runs:
            results.append(_run_seed(run))
            if progress is not None:
                progress(f"{run[0]} seed {run[3]['seed']}")
    k = len(seeds)
    return Comparison(a=results[:k], b=results[k:])


def resolve_experiment(path: Path) -> tuple[Any, dict[str, Any]]:
    """An experiment file → (Experiment, arm name → Strategy); arm strategies are ``baseline`` or files
    relative to the experiment file."""
    from recoup.evaluation.evaluate import EvaluateError
    from recoup.strategy.experiments import load_experiment

    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluateError(f"{path}: cannot read the experiment · 无法读取实验文件: {exc}") from None
    exp = load_experiment(data)
    arms: dict[str, Any] = {}
    for arm in exp.arms:
        spec = arm.strategy if arm.strategy == "baseline" else str(path.parent / arm.strategy)
        arms[arm.name] = resolve_strategy(spec)[1]
    return exp, arms


def lender_config() -> tuple[Any, Any]:
    """The lender's saved ``prices`` and ``capacity`` (``recoup config …``) from the configured database,
    the same versions the cycle reads; the defaults (version 0) when the database has no configuration
    table yet. The database is only read, never migrated."""
    from sqlalchemy import inspect

    from recoup.db import get_engine, session_scope
    from recoup.strategy.economics import CapacityConfig, default_prices, load_capacity, load_prices

    engine = get_engine()
    if not inspect(engine).has_table("config_version"):
        return default_prices(), CapacityConfig()
    with session_scope(engine) as session:
        return load_prices(session=session), load_capacity(session=session)


def _capacity(
    loans: int,
    file: Path | None,
    agent_minutes: int | None,
    field_visits: int | None,
    budget: int | None,
    staffing: Any = None,
) -> Any:
    from recoup.strategy.capacity import Capacity, CapacityError

    cap = Capacity.for_book(loans) if staffing is None else staffing.capacity(loans)
    if file is not None:
        try:
            data = json.loads(file.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CapacityError(f"{file}: cannot read the capacity · 无法读取产能文件: {exc}") from None
        if not isinstance(data, dict):
            raise CapacityError(f"{file}: a JSON object of resource → daily limit · 须为 JSON 对象")
        cap = cap.updated(data)
    flags = {"agent_minutes": agent_minutes, "field_visits": field_visits, "message_budget": budget}
    return cap.updated({k: v for k, v in flags.items() if v is not None})


def _date(text: str) -> dt.date:
    from recoup.errors import parse_day

    return parse_day(text, "--start")


def _print_result(r: Any) -> None:
    from recoup.contact.vocab import Treatment, label

    j = r.to_json()
    console = make_console()
    version = f" v{j['strategy_version']}" if j["strategy_version"] is not None else ""
    title = (
        f"{j['strategy']} ({j['strategy_name']}{version} · {j['strategy_hash']}) — {j['loans']:,} loans 笔, "
        f"{j['days']} days 天 from {j['start']}, seed {j['seed']}, perturb {j['perturb']}"
    )
    t = Table(title=title)
    t.add_column("figure · 指标")
    t.add_column("value · 数值", justify="right")
    rate = j["recovery_rate"]
    rows = [
        ("recovered · 回收金额", _yuan(j["recovered"])),
        ("cost · 成本", _yuan(j["cost"])),
        ("  treatments · 处置成本", _yuan(j["cost_breakdown"]["treatments"])),
        ("  agency commission · 委外佣金", _yuan(j["cost_breakdown"]["agency_commission"])),
        ("net · 净回收", _yuan(j["net"])),
        ("accounts in collections · 在催账户", f"{j['accounts']:,}"),
        ("allocated (overdue at entry) · 入催金额", _yuan(j["allocated"])),
        ("recovery rate · 催回率", f"{rate:.2%}" if rate is not None else "—"),
        ("contacts · 联系次数", f"{j['contacts']:,}"),
        ("complaints · 投诉", f"{j['complaints']:,} ({j['complaints_per_10k']} per 10,000 accounts 每万户)"),
        ("violations (policy audit) · 违规（合规审计）", f"{j['violations']:,}"),
        (
            "policy verdicts · 合规判定",
            f"{j['policy']['allowed']:,} allowed 允许, {j['policy']['blocked']:,} blocked 拦截, "
            f"{j['policy']['deferred']:,} deferred 延后",
        ),
        (
            "prices, capacity · 价格、产能配置",
            ", ".join(f"{k} v{v}" for k, v in j["config_versions"].items()) + " (v0 = defaults 默认)",
        ),
        ("seconds · 用时（秒）", f"{j['seconds']:.1f}"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    seg = Table(title="recovery by segment · 分段回收")
    for c in ("segment · 分段", "accounts · 账户", "payments · 笔数", "recovered · 回收"):
        seg.add_column(c, justify="left" if c.startswith("segment") else "right")
    names = {"mild": "轻度", "severe": "重度", "extremely_severe": "极重度", "current": "正常"}
    for name, s in j["recovery_by_segment"].items():
        seg.add_row(
            f"{name} {names.get(name, '')}", f"{s['accounts']:,}", f"{s['payments']:,}", _yuan(s["recovered"])
        )
    console.print(seg)
    if len(j["arms"]) > 1:
        arms = Table(title="by arm · 分组结果 (95 % intervals · 置信区间)")
        for c in (
            "arm · 分组",
            "accounts · 账户",
            "recovery rate · 催回率",
            "net per account · 户均净回收",
            "cure rate · 出催率",
            "complaints /10k · 万户投诉",
        ):
            arms.add_column(c, justify="left" if c.startswith("arm") else "right")
        for a in j["arms"]:
            arms.add_row(
                a["arm"],
                f"{a['accounts']:,}",
                f"{a['recovery_rate']:.2%} [{a['recovery_rate_lo']:.2%}, {a['recovery_rate_hi']:.2%}]",
                f"{a['net_per_account'] / 100:,.2f} [{a['net_per_account_lo'] / 100:,.2f}, "
                f"{a['net_per_account_hi'] / 100:,.2f}]",
                f"{a['cure_rate']:.2%}",
                f"{a['complaints_per_10k']:.1f}",
            )
        console.print(arms)
        for c in j["arm_comparison"]:
            console.print(
                f"{c['arm']} vs {c['vs']}: net per account {c['net_diff'] / 100:+,.2f} "
                f"[{c['net_diff_lo'] / 100:+,.2f}, {c['net_diff_hi'] / 100:+,.2f}] → {c['verdict']}"
            )
    tr = Table(title="by treatment · 按处置")
    for c in ("treatment · 处置", "attempts · 次数", "reached · 触达", "complaints · 投诉", "cost · 成本"):
        tr.add_column(c, justify="left" if c.startswith("treatment") else "right")
    for name, b in j["by_treatment"].items():
        tr.add_row(
            f"{name} {label(Treatment(name))}",
            f"{b['attempts']:,}",
            f"{b['reached']:,}",
            f"{b['complaints']:,}",
            _yuan(b["cost"]),
        )
    console.print(tr)
    cap = Table(title="capacity per day and use over the run · 每日产能与使用")
    for c in ("resource · 资源", "per day · 每日", "used · 已用", "left in the queue · 超出产能"):
        cap.add_column(c, justify="left" if c.startswith("resource") else "right")
    for name, limit in j["capacity"].items():
        if name == "minutes":
            continue
        cap.add_row(
            name,
            "unlimited 不限" if limit is None else f"{limit:,}",
            f"{j['capacity_used'].get(name, 0):,}",
            f"{j['over_capacity'].get(name, 0):,}",
        )
    console.print(cap)
