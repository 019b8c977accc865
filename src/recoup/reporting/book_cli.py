"""``recoup report portfolio`` and ``recoup report rollrates``: reports on the lender's own book.

Each report is printed as rich tables and can be written as CSV and a formatted XLSX (see
:mod:`recoup.reporting.sheets`), in the report's language (``RECOUP_LOCALE``: zh_CN by default, or en).
The figures come from the kernels of :mod:`recoup.reporting.book`, which apply METRICS.md's definitions.

Exit status: 0 on success; 66 (EX_NOINPUT, :class:`ReportNoDataError`) when the day or the month ends a
report needs have no published data (the message names the days that exist); 64 (EX_USAGE,
:class:`recoup.errors.UsageError`) for a bad option value.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import typer

from recoup.console import make_console
from recoup.errors import NotFoundError, parse_day
from recoup.labels import CLASSES, PRODUCTS
from recoup.reporting.sheets import Col, Sheet, rich_table, write_csv, write_xlsx

console = make_console()

__all__ = ["ReportNoDataError", "available_days", "definitions", "register"]


class ReportNoDataError(NotFoundError):
    """A report needs a day the daily cycle has not published (``account_daily`` has no partition)."""

    code = "report.no_data"
    exit_code = 66  # EX_NOINPUT


def _locale() -> str:
    """The report's language: the CLI's (``recoup --lang``, else ``RECOUP_LOCALE``)."""
    from recoup.i18n import cli_locale

    return cli_locale()


def _t(locale: str, en: str, zh: str) -> str:
    return en if locale == "en" else zh


def _ranges(days: list[dt.date]) -> str:
    """``2026-10-01 – 2026-10-31, 2026-11-20`` (consecutive days joined), at most six runs then ``…``."""
    runs: list[tuple[dt.date, dt.date]] = []
    for d in sorted(days):
        if runs and d - runs[-1][1] == dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    parts = [f"{a}" if a == b else f"{a} – {b}" for a, b in runs]
    if len(parts) > 6:
        parts = [*parts[:3], "…", *parts[-3:]]
    return ", ".join(parts)


def available_days(daily: pl.LazyFrame | None) -> list[dt.date]:
    """The days the daily cycle has published (``account_daily`` partitions), oldest first."""
    if daily is None:
        return []
    return sorted(daily.select(pl.col("as_of").unique()).collect().get_column("as_of").to_list())


def no_data(day: dt.date, days: list[dt.date], *, why: str) -> ReportNoDataError:
    """The error for a day without published data, naming the days that exist."""
    if days:
        have = f"published days: {_ranges(days)}"
    else:
        have = (
            "nothing is published yet: import a day's extract (recoup import DIR --as-of D) and run the cycle"
        )
    return ReportNoDataError(
        f"{why}: there is no published data for {day.isoformat()} ({have}). "
        f"{day.isoformat()} 没有已发布的数据。",
        details={"as_of": day.isoformat(), "published": [d.isoformat() for d in days]},
    )


# --------------------------------------------------------------------------------------- definitions

_DEFINITIONS: list[tuple[str, str, str, str]] = [
    (
        "Bucket",
        "账龄（逾期阶段）",
        "Days past due of the oldest unpaid installment: C current, M1 1–30, M2 31–60, … M7+ over 180.",
        "按最早一期未还款的逾期天数划分：C 正常，M1 逾期 1–30 天，M2 31–60 天……M7+ 超过 180 天。",
    ),
    (
        "Five-category class",
        "五级分类",
        "The regulator's loan classes (normal, special mention, substandard, doubtful, loss) from the "
        "daily cycle's classification table; the last three are non-performing.",
        "监管五级分类（正常、关注、次级、可疑、损失），由日批分类规则表得出；后三类为不良。",
    ),
    (
        "Share",
        "占比",
        "The group's outstanding principal divided by the whole book's outstanding principal.",
        "该组剩余本金 ÷ 全部资产剩余本金。",
    ),
    (
        "Entry rate",
        "入催率",
        "For the due dates in the window: the amount that fell due and was still unpaid at the end of the "
        "due date plus the grace days, divided by the amount that fell due (also by installments).",
        "窗口内各还款日：到期且在宽限期结束时仍未还的金额 ÷ 到期金额（另按期数计）。",
    ),
    (
        "Cure rate (M1)",
        "M1 出催率",
        "Of the accounts that entered collections in the cohort window, the balance at entry of those "
        "fully back to current (or paid off) within 30 days, divided by their balance at entry.",
        "在队列窗口内入催的账户中，30 天内完全回到正常（或结清）者的入催时余额 ÷ 全部入催时余额。",
    ),
    (
        "First-payment default (FPD7/FPD30)",
        "首逾率（FPD7/FPD30）",
        "By disbursement month: loans whose first installment is still unpaid 7 (30) days after it fell due, "
        "divided by the loans whose first installment is at least that old.",
        "按放款月份：首期在到期后 7（30）天仍未还清的借据数 ÷ 首期到期已满该天数的借据数。",
    ),
    (
        "Roll rate",
        "迁徙率",
        "Of the balance (or number of accounts) in a bucket at the end of the previous month, the share "
        "in each bucket, paid off or written off at the end of this month, followed loan by loan.",
        "上月末处于某账龄的余额（或户数）在本月末分布于各账龄、结清或核销的比例，逐户跟踪。",
    ),
    (
        "Few accounts",
        "样本不足",
        "A roll-rate row resting on fewer accounts than the threshold (default 30): its rates, and the "
        "projection through it, are not reliable.",
        "迁徙率某行的户数少于阈值（默认 30 户）：该行比率及经过它的预测不可靠。",
    ),
    (
        "Markov projection",
        "马尔可夫预测",
        "Treating the month's roll-rate matrix as a chain (paid off and written off or M7+ absorbing): "
        "the share of each bucket's weight that ends paid versus lost.",
        "把当月迁徙矩阵视为马尔可夫链（结清与核销/M7+ 为吸收态），得出各账龄最终结清与损失的占比。",
    ),
    (
        "Money",
        "金额",
        "Amounts are computed in fen (integer minor units) and shown in yuan with two decimals.",
        "金额以分（整数）计算，以元显示并保留两位小数。",
    ),
]


def definitions(locale: str) -> list[tuple[str, str]]:
    """The definitions sheet: (term, meaning) in the report's language, after docs/metrics.md."""
    return [
        (en if locale == "en" else zh, d_en if locale == "en" else d_zh)
        for en, zh, d_en, d_zh in _DEFINITIONS
    ]


# ---------------------------------------------------------------------------------------- portfolio

_MONEY_COLS = [
    Col("loans", "Loans", "借据数", "int"),
    Col("borrowers", "Borrowers", "借款人数", "int"),
    Col("outstanding_principal", "Outstanding principal (¥)", "剩余本金（元）", "money"),
    Col("overdue_amount", "Overdue amount (¥)", "逾期金额（元）", "money"),
    Col("share", "Share of principal", "本金占比", "pct"),
]
# The vocabularies' labels (English, 简体中文) are shared with the rest of the CLI.
_PRODUCTS = PRODUCTS
_CLASSES = CLASSES


def _labelled(frame: pl.DataFrame, key: str, labels: dict[str, tuple[str, str]], locale: str) -> pl.DataFrame:
    total = _t(locale, "Total", "合计")
    names = {k: _t(locale, en, zh) for k, (en, zh) in labels.items()}
    return frame.with_columns(
        pl.when(pl.col(key).is_null()).then(pl.lit(total)).otherwise(pl.col(key).replace(names)).alias(key)
    )


def portfolio_sheets(
    positions: pl.DataFrame, daily: pl.DataFrame, installments: pl.DataFrame, *, as_of: dt.date, locale: str
) -> list[Sheet]:
    """The portfolio report's tables for ``as_of`` (``positions`` = that day's account_daily, ``daily`` =
    the history up to it, ``installments`` = the book's installments as of the day)."""
    from recoup.reporting.book import breakdown, cure_rate_window, entry_rate_window, fpd_by_vintage

    def t(en: str, zh: str) -> str:
        return _t(locale, en, zh)

    product = _labelled(breakdown(positions, "product_type"), "product_type", _PRODUCTS, locale)
    bucket = _labelled(breakdown(positions, "bucket", order="bucket_rank"), "bucket", {}, locale)
    klass = _labelled(breakdown(positions, "loan_class", order="class_rank"), "loan_class", _CLASSES, locale)
    entry = entry_rate_window(
        installments, start=as_of - dt.timedelta(days=30), end=as_of - dt.timedelta(days=1)
    )
    cure = cure_rate_window(daily, as_of=as_of)
    fpd = fpd_by_vintage(positions, installments, as_of=as_of)
    return [
        Sheet("product", t(f"By product · {as_of}", f"按产品 · {as_of}"),
              [Col("product_type", "Product", "产品"), *_MONEY_COLS], product),
        Sheet("bucket", t(f"By bucket (days past due) · {as_of}", f"按账龄（逾期阶段）· {as_of}"),
              [Col("bucket", "Bucket", "账龄"), *_MONEY_COLS], bucket,
              [t("C = current; M1 = 1–30 days past due, M2 = 31–60 … M7+ = over 180.",
                 "C = 正常；M1 = 逾期 1–30 天，M2 = 31–60 天……M7+ = 超过 180 天。")]),
        Sheet("class", t(f"By five-category class · {as_of}", f"按五级分类 · {as_of}"),
              [Col("loan_class", "Class", "分类"), *_MONEY_COLS], klass),
        Sheet("entry", t("Entry rate (due dates of the last 30 days)", "入催率（近 30 天到期）"), [
            Col("start", "Due from", "到期日起"), Col("end", "Due to", "到期日止"),
            Col("amount_due", "Due (¥)", "到期金额（元）", "money"),
            Col("amount_unpaid", "Unpaid (¥)", "未还金额（元）", "money"),
            Col("rate", "Entry rate", "入催率", "pct"),
            Col("count_due", "Installments due", "到期期数", "int"),
            Col("count_unpaid", "Installments unpaid", "未还期数", "int"),
            Col("count_rate", "Entry rate by count", "入催率（按期数）", "pct"),
        ], entry),
        Sheet("cure", t("M1 cure rate (30 days)", "M1 出催率（30 天）"), [
            Col("cohort_start", "Entered from", "入催日起"), Col("cohort_end", "Entered to", "入催日止"),
            Col("loans", "Accounts", "户数", "int"), Col("cured_loans", "Cured", "出催户数", "int"),
            Col("balance", "Balance at entry (¥)", "入催余额（元）", "money"),
            Col("cured_balance", "Cured balance (¥)", "出催余额（元）", "money"),
            Col("rate", "Cure rate", "出催率", "pct"),
        ], cure),
        Sheet("fpd", t("First-payment default by vintage", "按放款月首逾率"), [
            Col("vintage", "Vintage", "放款月"), Col("loans", "Loans", "借据数", "int"),
            Col("fpd7_observed", "FPD7 observed", "FPD7 观察数", "int"),
            Col("fpd7_loans", "FPD7 loans", "FPD7 借据", "int"), Col("fpd7_rate", "FPD7", "FPD7", "pct"),
            Col("fpd30_observed", "FPD30 observed", "FPD30 观察数", "int"),
            Col("fpd30_loans", "FPD30 loans", "FPD30 借据", "int"),
            Col("fpd30_rate", "FPD30", "FPD30", "pct"),
        ], fpd),
    ]  # fmt: skip


def _json_rows(sheet: Sheet) -> list[dict[str, Any]]:
    from recoup.money import to_decimal_string

    money = {c.key for c in sheet.cols if c.kind == "money"}
    return [
        {k: (to_decimal_string(v) if k in money and isinstance(v, int) else v) for k, v in r.items()}
        for r in sheet.frame.iter_rows(named=True)
    ]


def _emit(
    sheets: list[Sheet],
    *,
    locale: str,
    csv: Path | None,
    xlsx: Path | None,
    as_json: bool,
    doc: dict[str, Any],
) -> None:
    written: list[str] = []
    if csv is not None:
        stem = csv.with_suffix("") if csv.suffix == ".csv" else csv
        for s in sheets:
            written.append(str(write_csv(s, stem.with_name(f"{stem.name}-{s.name}.csv"))))
    if xlsx is not None:
        written.append(str(write_xlsx(sheets, xlsx, locale=locale, definitions=definitions(locale))))
    if as_json:
        doc.update(
            money="decimal yuan strings", tables={s.name: _json_rows(s) for s in sheets}, written=written
        )
        typer.echo(json.dumps(doc, ensure_ascii=False, default=str))
        return
    for s in sheets:
        console.print(rich_table(s, locale))
        for note in s.notes:
            console.print(note)
    for path in written:
        console.print(_t(locale, f"written {path}", f"已写入 {path}"))


def register(app: typer.Typer) -> None:
    """Mount ``portfolio`` and ``rollrates`` on the ``report`` command group."""

    @app.command("portfolio")
    def portfolio(
        as_of: str = typer.Option(..., "--as-of", help="Day D (YYYY-MM-DD) the cycle has run for. 报告日。"),
        csv: Path | None = typer.Option(None, "--csv", help="Write FILE-<table>.csv per table. 导出 CSV。"),
        xlsx: Path | None = typer.Option(None, "--xlsx", help="Write a formatted workbook. 导出 Excel。"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object. 输出 JSON。"),
    ) -> None:
        """The lender's book on day D: balances by product, bucket, five-category class; entry rate, cure
        rate and first-payment default (资产组合报表). Exits 66 when D has no published data."""
        from recoup.config import get_settings
        from recoup.db import upgraded_session
        from recoup.lake import book_as_of, get_lake
        from recoup.lake.store import Outputs

        day = parse_day(as_of)
        settings = get_settings()
        lake = get_lake(settings)
        scan = Outputs(lake).scan("account_daily")
        days = available_days(scan)
        if scan is None or day not in days:
            raise no_data(day, days, why="the portfolio report reads the daily cycle's output for the day")
        positions = scan.filter(pl.col("as_of") == day).collect()
        daily = (
            scan.filter(pl.col("as_of").is_between(day - dt.timedelta(days=60), day))
            .select("as_of", "loan_id", "dpd", "status", "transition", "outstanding_principal")
            .collect()
        )
        with upgraded_session() as session:
            installments = book_as_of(day, session=session, lake=lake).frame("installments")
        locale = _locale()
        sheets = portfolio_sheets(positions, daily, installments, as_of=day, locale=locale)
        _emit(
            sheets,
            locale=locale,
            csv=csv,
            xlsx=xlsx,
            as_json=as_json,
            doc={"report": "portfolio", "as_of": day},
        )

    from recoup.reporting.rollrates_cli import rollrates_command

    app.command("rollrates")(rollrates_command)
