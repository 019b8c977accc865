"""``recoup report …``: management reports from the cycle's outputs."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from recoup.console import make_console
from recoup.errors import NotFoundError, UsageError
from recoup.i18n import _, cli_locale

app = typer.Typer(help="Reports: portfolio, roll rates, collectors. 报表。", no_args_is_help=True)
console = make_console()


def month_end(month: str) -> dt.date:
    try:
        y, m = (int(x) for x in month.split("-"))
        return dt.date(y, m, calendar.monthrange(y, m)[1])
    except (ValueError, TypeError):
        raise UsageError(
            f"--month {month!r} is not a month (YYYY-MM) · 月份格式应为 YYYY-MM",
            details={"option": "--month", "value": month},
        ) from None


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
    heads = {"from_bucket": _("From bucket"), "base": _("Base (¥)") if weight == "balance" else _("Accounts")}
    for c in m.columns:
        t.add_column(heads.get(c, c), justify="left" if c == "from_bucket" else "right")
    for r in m.iter_rows(named=True):
        cells = [str(r["from_bucket"])]
        for c in m.columns[1:]:
            v = r[c]
            if c == "base":
                # Decimal, never float, for money (minor units → yuan).
                cells.append(f"{Decimal(v).scaleb(-2):,.2f}" if weight == "balance" else f"{v:,}")
            else:
                cells.append(_pct(v))
        t.add_row(*cells)
    return t


#: Bilingual headers of the collector report (English · 简体中文).
_COLLECTOR_HEADERS: dict[str, str] = {
    "collector_id": "ID · 编号",
    "username": "Username · 用户名",
    "display_name": "Name · 姓名",
    "attempts": "Attempts · 拨打/触达次数",
    "blocked_attempts": "Blocked · 被拦截",
    "rpc": "RPC · 有效联系",
    "rpc_rate": "RPC rate · 有效联系率",
    "cases_held": "Cases held · 在手案件",
    "cases_covered": "Cases covered · 覆盖案件",
    "coverage": "Coverage · 覆盖率",
    "promises_made": "PTPs made · 承诺笔数",
    "promise_rate": "PTP rate · 承诺率",
    "promises_due": "PTPs due · 到期承诺",
    "promises_kept": "PTPs kept · 兑现承诺",
    "kept_rate": "Kept rate · 兑现率",
    "promised_amount_due": "Promised due (¥) · 到期承诺金额",
    "kept_amount_due": "Kept amount (¥) · 兑现金额",
    "kept_rate_amount": "Kept rate by amount · 金额兑现率",
    "collected": "Collected (¥) · 回款",
    "fte": "FTE · 人力",
    "collections_per_head": "Per head (¥) · 人均回款",
    "allocated_amount": "Allocated (¥) · 分案金额",
    "recovery_rate": "Recovery rate · 催回率",
    "complaints": "Complaints · 投诉",
    "complaints_per_10k": "Complaints /10k · 万案投诉率",
    "qa_findings": "QA findings · 质检问题",
    "qa_major": "QA major · 重大质检问题",
    "tier": "Tier · 档位",
    "base_pay": "Base pay (¥) · 基础提成",
    "bonus_pay": "Bonus (¥) · 奖金",
    "penalty": "Penalty (¥) · 扣减",
    "pay": "Pay (¥) · 绩效工资",
    "reason": "Reason · 依据",
}


#: Columns of the printed table (the workbook and JSON carry every column).
def _head(column: str) -> str:
    """A printed column's header in the CLI's language (the workbook keeps both)."""
    parts = _COLLECTOR_HEADERS.get(column, column).split(" · ")
    return parts[0] if cli_locale() == "en" else parts[-1]


_COLLECTOR_SHOWN = [
    "username", "display_name", "attempts", "rpc_rate", "cases_held", "coverage", "promises_made",
    "promise_rate", "promises_due", "kept_rate", "collected", "recovery_rate", "qa_major", "pay",
]  # fmt: skip


def _collector_cell(column: str, value: object) -> str:
    from recoup.money import to_decimal_string
    from recoup.reporting.collectors import MONEY_COLUMNS, RATE_COLUMNS

    if value is None:
        return ""
    if column in MONEY_COLUMNS and isinstance(value, int):
        return to_decimal_string(value)
    if column in RATE_COLUMNS and isinstance(value, float):
        return _pct(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _collector_json(report: pl.DataFrame) -> list[dict[str, object]]:
    """Rows for JSON: money as decimal yuan strings, rates as fractions, the overall row named ``total``."""
    from recoup.money import to_decimal_string
    from recoup.reporting.collectors import MONEY_COLUMNS

    out: list[dict[str, object]] = []
    for r in report.iter_rows(named=True):
        row: dict[str, object] = {}
        for c, v in r.items():
            row[c] = to_decimal_string(v) if c in MONEY_COLUMNS and isinstance(v, int) else v
        out.append(row)
    return out


def _collector_xlsx(report: pl.DataFrame, path: Path, title: str) -> None:
    """The report as a formatted workbook: bilingual headers, % rates, money in yuan, column widths."""
    from decimal import Decimal

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from recoup.money import to_decimal_string
    from recoup.reporting.collectors import MONEY_COLUMNS, RATE_COLUMNS

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "collectors 催收员"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append([_COLLECTOR_HEADERS.get(c, c) for c in report.columns])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r in report.iter_rows(named=True):
        values: list[object] = []
        for c, v in r.items():
            if c in MONEY_COLUMNS and isinstance(v, int):
                values.append(Decimal(to_decimal_string(v)))
            elif c == "username" and v is None and r["collector_id"] is None:
                values.append("Total · 合计")
            else:
                values.append(v)
        ws.append(values)
        if r["collector_id"] is None:
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
    for i, c in enumerate(report.columns, start=1):
        letter = get_column_letter(i)
        fmt = "0.0%" if c in RATE_COLUMNS else "#,##0.00" if c in MONEY_COLUMNS or c == "fte" else None
        if fmt:
            for (cell,) in ws.iter_rows(min_row=3, min_col=i, max_col=i):
                cell.number_format = fmt
        ws.column_dimensions[letter].width = max(10, min(28, len(_COLLECTOR_HEADERS.get(c, c)) + 2))
    ws.freeze_panes = "D3"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


@app.command("collectors")
def collectors(
    month: str | None = typer.Option(
        None, "--month", help="Month (YYYY-MM); default the previous calendar month. 月份，默认上月。"
    ),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write a formatted workbook. 导出 Excel。"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object. 输出 JSON。"),
) -> None:
    """Collector KPIs and incentive pay (催收员考核与绩效) for a month, per METRICS.md."""
    import json

    from recoup.config import get_settings
    from recoup.db import upgraded_session
    from recoup.reporting.collectors import collector_report, parse_month, previous_month
    from recoup.reporting.metrics_people import DEFAULT_INCENTIVE

    settings = get_settings()
    if month is None:
        start, end = previous_month(dt.datetime.now(settings.tz).date())
    else:
        start, end = parse_month(month)
    label = f"{start:%Y-%m}"
    with upgraded_session() as session:
        report = collector_report(start, end, session=session)
    rules = f"{DEFAULT_INCENTIVE.name}@v{DEFAULT_INCENTIVE.version}"
    title = f"Collector KPIs · 催收员考核 {label} ({start} – {end}, incentive rules 激励规则 {rules})"
    shown = _("Collector KPIs {month} ({start} – {end}, incentive rules {rules})").format(
        month=label, start=start, end=end, rules=rules
    )
    if xlsx is not None:
        _collector_xlsx(report, xlsx, title)
    if as_json:
        doc = {
            "month": label,
            "start": str(start),
            "end": end.isoformat(),
            "incentive_rules": rules,
            "money": "decimal yuan strings · 金额为元",
            "collectors": _collector_json(report.filter(pl.col("collector_id").is_not_null())),
            "total": next(iter(_collector_json(report.filter(pl.col("collector_id").is_null()))), None),
            "xlsx": str(xlsx) if xlsx is not None else None,
        }
        typer.echo(json.dumps(doc, ensure_ascii=False, default=str))
        return
    t = Table(title=shown, title_justify="left")
    for c in _COLLECTOR_SHOWN:
        t.add_column(_head(c), justify="left" if c in {"username", "display_name"} else "right")
    for r in report.iter_rows(named=True):
        cells = [_collector_cell(c, r[c]) for c in _COLLECTOR_SHOWN]
        if r["collector_id"] is None:
            cells[0] = _("Total")
        t.add_row(*cells)
    console.print(t)
    if report.is_empty():
        console.print(_("no collector held cases in the month"))
    if xlsx is not None:
        console.print(_("written {path}").format(path=xlsx))


def _register_book_reports() -> None:
    from recoup.reporting.book_cli import register

    register(app)


_register_book_reports()
