"""``recoup report …``: management reports from the cycle's outputs."""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from recoup.errors import NotFoundError, RecoupError

app = typer.Typer(help="Reports: roll rates, … 报表。", no_args_is_help=True)
console = Console(emoji=False)


def month_end(month: str) -> dt.date:
    try:
        y, m = (int(x) for x in month.split("-"))
        return dt.date(y, m, calendar.monthrange(y, m)[1])
    except (ValueError, TypeError):
        raise RecoupError(f"--month {month!r} is not a month (YYYY-MM)") from None


def snapshot_on_or_before(daily: pl.LazyFrame, day: dt.date) -> pl.DataFrame:
    """The newest account_daily partition dated on or before ``day``."""
    last = daily.filter(pl.col("as_of") <= day).select(pl.col("as_of").max()).collect().item()
    if last is None:
        raise NotFoundError(f"the daily cycle has not run on or before {day}: run `recoup cycle run` first")
    return daily.filter(pl.col("as_of") == last).collect()


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1%}"


def _matrix_table(title: str, m: pl.DataFrame, weight: str) -> Table:
    t = Table(title=title, title_justify="left")
    for c in m.columns:
        t.add_column(c, justify="left" if c == "from_bucket" else "right")
    for r in m.iter_rows(named=True):
        cells = [str(r["from_bucket"])]
        for c in m.columns[1:]:
            v = r[c]
            if c == "base":
                cells.append(f"{v / 100:,.2f}" if weight == "balance" else f"{v:,}")
            else:
                cells.append(_pct(v))
        t.add_row(*cells)
    return t


@app.command("rollrates")
def rollrates(
    month: str = typer.Option(..., "--month", help="Month t (YYYY-MM): from the end of t−1 to the end of t."),
    weight: str = typer.Option("balance", help="balance or count."),
    out: Path | None = typer.Option(None, "--out", help="Folder for CSV/XLSX (default DATA_DIR/reports)."),
) -> None:
    """Print the roll-rate matrix (迁徙率) for a month and write it as CSV and XLSX."""
    from recoup.config import get_settings
    from recoup.lake import get_lake
    from recoup.lake.store import Outputs
    from recoup.reporting.metrics import MetricsError, markov_projection, roll_rate_matrix, to_csv_xlsx

    if weight not in {"balance", "count"}:
        raise RecoupError("--weight must be balance or count")
    settings = get_settings()
    end_day = month_end(month)
    start_day = end_day.replace(day=1) - dt.timedelta(days=1)
    daily = Outputs(get_lake(settings)).scan("account_daily")
    if daily is None:
        raise NotFoundError("no account_daily yet: run `recoup cycle run` first")
    start, end = snapshot_on_or_before(daily, start_day), snapshot_on_or_before(daily, end_day)
    m = roll_rate_matrix(start, end, weight=weight)  # type: ignore[arg-type]
    s_day, e_day = start.get_column("as_of")[0], end.get_column("as_of")[0]
    console.print(_matrix_table(f"Roll rates · 迁徙率 {s_day} → {e_day} ({weight}-weighted)", m, weight))
    try:
        proj = markov_projection(roll_rate_matrix(start, end, weight="balance"))
        t = Table(title="Markov projection · 最终回收/损失占比", title_justify="left")
        for c in ("bucket", "eventual paid", "eventual loss"):
            t.add_column(c, justify="right")
        for r in proj.iter_rows(named=True):
            t.add_row(r["bucket"], _pct(r["eventual_paid"]), _pct(r["eventual_loss"]))
        console.print(t)
    except MetricsError as exc:
        console.print(f"[yellow]Markov projection not available: {exc.message}[/]")
    folder = out or settings.data_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    csv, xlsx = to_csv_xlsx(m, folder / f"rollrates-{month}-{weight}")
    console.print(f"written {csv} and {xlsx}")
