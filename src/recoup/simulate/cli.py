"""``recoup simulate generate`` and ``recoup simulate stats``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recoup.console import make_console
from recoup.errors import parse_day
from recoup.i18n import _
from recoup.labels import product_label
from recoup.simulate.params import SimulateError

app = typer.Typer(
    help="The digital twin: a simulated lender and its borrowers. 数字孪生：模拟的贷款机构与借款人。",
    no_args_is_help=True,
)
console = make_console()


def _date(text: str, option: str) -> dt.date:
    return parse_day(text, option)


@app.command("generate")
def generate_cmd(
    loans: int = typer.Option(
        10_000, "--loans", help="Number of loans (disbursed over the history and the days)."
    ),
    start: str = typer.Option(..., "--start", help="First extract date (YYYY-MM-DD): the full snapshot."),
    days: int = typer.Option(180, "--days", help="Number of day directories (day 1 full, then deltas)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same bytes."),
    out: Path = typer.Option(..., "--out", help="Output directory; one YYYY-MM-DD directory per day."),
    chinese: bool = typer.Option(
        False, "--chinese", help="Chinese file names, headers and values, with mapping.toml."
    ),
    term: int | None = typer.Option(None, "--term", help="Give every loan this many monthly installments."),
) -> None:
    """Write a simulated history without treatments: day 1 a full snapshot, then daily deltas.

    生成无催收干预的模拟历史数据：首日全量，其后每日增量，可直接 `recoup import DIR` 导入。
    """
    from recoup.simulate.generate import generate_history
    from recoup.simulate.params import params_hash

    first = _date(start, "--start")
    if loans < 1 or days < 1:
        raise SimulateError("--loans and --days must be at least 1 / 借据数与天数至少为 1")
    if term is not None and not 1 <= term <= 480:
        raise SimulateError("--term must be 1..480 months / 期数应为 1–480")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        transient=True,
    ) as prog:
        task = prog.add_task(_("simulating days"), total=days)
        dirs = generate_history(
            loans,
            first,
            days,
            seed,
            out,
            chinese_headers=chinese,
            term_months=term,
            progress=lambda done, _total: prog.update(task, completed=done),
        )
    text = _("Wrote {n} day directories {first} … {last} to {out} (parameters {params}).")
    console.print(
        text.format(n=len(dirs), first=dirs[0].name, last=dirs[-1].name, out=out, params=params_hash()[:12])
    )
    text = _("Import them in order: recoup import {dir} --as-of {day} --full, then each day.")
    console.print(text.format(dir=dirs[0], day=dirs[0].name))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _band(band: tuple[float, float]) -> str:
    return f"{band[0]:.0%}–{band[1]:.0%}"


@app.command("stats")
def stats_cmd(
    directory: Path = typer.Argument(..., help="A directory written by `simulate generate`."),
) -> None:
    """Print the measured figures per product: M1 cure in 30 days, roll rates, 90+ recovery, and the targets.

    按产品输出：M1 三十天出催率、迁徙率、90+ 回收率，以及校准目标。
    """
    from recoup.simulate.defaults import DEFAULT_PARAMS
    from recoup.simulate.stats import compute_stats

    if not directory.is_dir():
        raise SimulateError(f"{directory}: not a directory / 目录不存在")
    try:
        stats = compute_stats(directory)
    except FileNotFoundError as exc:
        raise SimulateError(str(exc)) from None
    targets = {p.code: p.target for p in DEFAULT_PARAMS.products}
    cure = Table(title=_("M1 cure and 90+ recovery"))
    cure.add_column(_("Product"))
    for title in (_("Loans"), _("M1 entries"), _("Cure 30d"), _("By count"), _("Target"), _("90+ recovery"),
                  _("Target")):  # fmt: skip
        cure.add_column(title, justify="right")
    rolls = Table(title=_("Roll rates, month end to month end"))
    rolls.add_column(_("Product"))
    back = _("back {bucket}")
    for title in (
        "C→M1",
        "M1→M2",
        "M2→M3",
        "M3→M4",
        "M4→M5",
        *(back.format(bucket=f"M{i}") for i in (1, 2, 3)),
    ):
        rolls.add_column(title, justify="right")
    for r in stats.iter_rows(named=True):
        t = targets.get(r["product"])
        cure.add_row(
            product_label(r["product"]),
            f"{r['loans']:,}",
            f"{r['m1_entries'] or 0:,}",
            _pct(r["m1_cure_30d"]),
            _pct(r["m1_cure_30d_count"]),
            _band(t.m1_cure_30d) if t else "",
            _pct(r["recovery_90p"]),
            _band(t.recovery_90p_90d) if t else "",
        )
        keys = ("roll_C", "roll_M1", "roll_M2", "roll_M3", "roll_M4", "back_M1", "back_M2", "back_M3")
        rolls.add_row(product_label(r["product"]), *(_pct(r[k]) for k in keys))
    console.print(cure)
    console.print(rolls)
    window = int(stats.get_column("recovery_window_days").max() or 0)  # type: ignore[arg-type]
    text = _(
        "M1 cure: balance-weighted (count-weighted beside it); roll rates balance-weighted month-end to "
        "month-end; 90+ recovery over {window} days from the first day. Definitions: docs/metrics.md."
    )
    console.print(text.format(window=window))
