"""``recoup report rollrates``: the roll-rate matrix (迁徙率) of a month and its Markov projection.

The projection uses the matrix in the weight asked for (balance or count). Rows resting on fewer than
``--min-accounts`` accounts are marked in the table, the CSV (``thin``) and the workbook, and a warning
names them. A month whose start or end has no published ``account_daily`` is refused with what is
missing and the first month that can be reported (exit 66); nothing is run or written.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from pathlib import Path

import polars as pl
import typer

from recoup.errors import UsageError
from recoup.reporting.book_cli import (
    ReportNoDataError,
    _locale,
    _ranges,
    _t,
    available_days,
    console,
    definitions,
)
from recoup.reporting.sheets import Col, Sheet, rich_table, write_csv, write_xlsx

__all__ = ["first_reportable_month", "month_ends", "rollrate_sheets", "rollrates_command"]


def month_ends(month: str) -> tuple[dt.date, dt.date]:
    """(end of month t−1, end of month t) for ``YYYY-MM`` (:class:`UsageError` otherwise)."""
    from recoup.reporting.cli import month_end

    end = month_end(month)
    return end.replace(day=1) - dt.timedelta(days=1), end


def first_reportable_month(first_day: dt.date) -> str:
    """The first month whose previous month-end is on or after ``first_day`` (the first published day)."""
    me = first_day.replace(day=calendar.monthrange(first_day.year, first_day.month)[1])
    nxt = me + dt.timedelta(days=1)
    return f"{nxt:%Y-%m}"


def _missing(month: str, start: dt.date, end: dt.date, days: list[dt.date]) -> ReportNoDataError:
    have = f"published days: {_ranges(days)}" if days else "nothing is published yet"
    lacking = [d for d in (start, end) if not any(x <= d for x in days)]
    if days and start in lacking:
        hint = (
            f"The first published day is {days[0]}, so {start} is before this book's history and cannot be "
            f"run (no extract exists for it); the first month with roll rates is "
            f"{first_reportable_month(days[0])}, once the cycle has run on both of its month ends "
            "— or reconstruct the days before it from that first snapshot: "
            f"recoup cycle backfill --from {start}."
        )
    else:
        hint = f"Run the daily cycle for {end} (recoup cycle run --as-of {end}) once its extract is imported."
    return ReportNoDataError(
        f"roll rates for {month} compare the book at {start} with the book at {end}; the daily cycle has "
        f"published nothing on or before {', '.join(str(d) for d in lacking) or end} ({have}). {hint} "
        f"迁徙率需要 {start} 与 {end} 两个月末的日批结果。",
        details={
            "month": month,
            "needs": [start.isoformat(), end.isoformat()],
            "missing": [d.isoformat() for d in lacking],
            "published": [d.isoformat() for d in days],
        },
    )


def _matrix_cols(weight: str, locale: str) -> list[Col]:
    from recoup.reporting.metrics import END_STATES

    names = {"paid_off": ("Paid off", "结清"), "written_off": ("Written off", "核销")}
    base = (
        Col("base", "Principal at start (¥)", "月初本金（元）", "money")
        if weight == "balance"
        else Col("base", "Accounts at start", "月初户数", "int")
    )
    accounts = [Col("accounts", "Accounts", "户数", "int")] if weight == "balance" else []
    return [
        Col("from_bucket", "From", "起始账龄"),
        *(Col(s, *names.get(s, (s, s)), "pct") for s in END_STATES),
        base,
        *accounts,
    ]


def rollrate_sheets(
    start: pl.DataFrame, end: pl.DataFrame, *, weight: str, min_accounts: int, locale: str
) -> tuple[list[Sheet], list[str], str]:
    """The matrix sheet (in ``weight``, with ``accounts`` and ``thin``) and the Markov projection of that
    same matrix; returns (sheets, thin buckets, why the projection is missing or "")."""
    from recoup.reporting.book import roll_rate_report
    from recoup.reporting.metrics import MetricsError, markov_projection

    s_day, e_day = start.get_column("as_of")[0], end.get_column("as_of")[0]
    m = roll_rate_report(start, end, weight=weight, min_accounts=min_accounts)  # type: ignore[arg-type]
    title = _t(
        locale,
        f"Roll rates {s_day} → {e_day} ({weight}-weighted)",
        f"迁徙率 {s_day} → {e_day}（按{'余额' if weight == 'balance' else '户数'}加权）",
    )
    thin = m.filter(pl.col("thin"))
    notes = []
    if thin.height:
        rows = ", ".join(f"{r['from_bucket']} ({r['accounts']})" for r in thin.iter_rows(named=True))
        notes.append(
            _t(
                locale,
                f"Warning: rows resting on fewer than {min_accounts} accounts: {rows}; their rates and "
                "the projection through them are not reliable.",
                f"警告：以下行户数少于 {min_accounts}：{rows}；其比率及经过它们的预测不可靠。",
            )
        )
    sheets = [Sheet("rollrates", title, _matrix_cols(weight, locale), m, notes)]
    proj_note = ""
    try:
        proj = markov_projection(m)
        sheets.append(
            Sheet(
                "projection",
                _t(
                    locale,
                    f"Markov projection ({weight}-weighted)",
                    f"马尔可夫预测（按{'余额' if weight == 'balance' else '户数'}）",
                ),
                [
                    Col("bucket", "Bucket", "账龄"),
                    Col("eventual_paid", "Eventual paid", "最终结清", "pct"),
                    Col("eventual_loss", "Eventual loss", "最终损失", "pct"),
                ],
                proj,
                [
                    _t(
                        locale,
                        f"Rests on the thin rows {', '.join(thin['from_bucket'])}: read it as a rough guide.",
                        f"依赖样本不足的行 {', '.join(thin['from_bucket'])}：仅供粗略参考。",
                    )
                ]
                if thin.height
                else [],
            )
        )
    except MetricsError as exc:
        proj_note = _t(locale, f"Markov projection not available: {exc.message}", f"无法预测：{exc.message}")
    return sheets, thin.get_column("from_bucket").to_list(), proj_note


def rollrates_command(
    month: str = typer.Option(..., "--month", help="Month t (YYYY-MM): from the end of t−1 to the end of t."),
    weight: str = typer.Option("balance", help="balance or count (the projection uses the same)."),
    min_accounts: int = typer.Option(
        30,
        "--min-accounts",
        min=1,
        help="Mark rows resting on fewer accounts. 少于该户数的行标记为样本不足。",
    ),
    out: Path | None = typer.Option(None, "--out", help="Folder for CSV/XLSX (default DATA_DIR/reports)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object. 输出 JSON。"),
) -> None:
    """Print the roll-rate matrix (迁徙率) for a month and its Markov projection; write CSV and XLSX.

    Exits 66 when a month end has no published data (naming what is missing), 64 for a bad option.
    """
    from recoup.config import get_settings
    from recoup.lake import get_lake
    from recoup.lake.store import Outputs

    if weight not in {"balance", "count"}:
        raise UsageError(
            "--weight must be balance or count · 只能为 balance 或 count",
            details={"option": "--weight", "value": weight},
        )
    settings = get_settings()
    locale = _locale()
    start_day, end_day = month_ends(month)
    scan = Outputs(get_lake(settings)).scan("account_daily")
    days = available_days(scan)
    s_day = max((d for d in days if d <= start_day), default=None)
    e_day = max((d for d in days if d <= end_day), default=None)
    if scan is None or s_day is None or e_day is None or e_day <= s_day:
        raise _missing(month, start_day, end_day, days)
    start = scan.filter(pl.col("as_of") == s_day).collect()
    end = scan.filter(pl.col("as_of") == e_day).collect()
    sheets, thin, proj_note = rollrate_sheets(
        start, end, weight=weight, min_accounts=min_accounts, locale=locale
    )
    folder = out or settings.data_dir / "reports"
    stem = folder / f"rollrates-{month}-{weight}"
    csv = write_csv(sheets[0], stem.with_name(stem.name + ".csv"))
    xlsx = write_xlsx(
        sheets, stem.with_name(stem.name + ".xlsx"), locale=locale, definitions=definitions(locale)
    )
    if as_json:
        from recoup.reporting.book_cli import _json_rows

        doc = {
            "report": "rollrates",
            "month": month,
            "start": s_day,
            "end": e_day,
            "weight": weight,
            "min_accounts": min_accounts,
            "thin": thin,
            "money": "decimal yuan strings",
            "tables": {s.name: _json_rows(s) for s in sheets},
            "projection_error": proj_note or None,
            "written": [str(csv), str(xlsx)],
        }
        typer.echo(json.dumps(doc, ensure_ascii=False, default=str))
        return
    for s in sheets:
        console.print(rich_table(s, locale))
        for note in s.notes:
            console.print(f"[yellow]{note}[/]")
    if proj_note:
        console.print(f"[yellow]{proj_note}[/]")
    console.print(_t(locale, f"written {csv} and {xlsx}", f"已写入 {csv} 和 {xlsx}"))
