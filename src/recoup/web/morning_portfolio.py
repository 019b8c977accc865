"""The morning view's portfolio section: balances by bucket and by five-category class (五级分类), the
roll-rate matrix as a heatmap, vintage curves, and recovery by segment against the source documents'
targets.

Definitions: buckets and classes — the daily cycle's ``account_daily`` (:func:`recoup.portfolio.kernel.
summary_by`); roll rates — :func:`recoup.reporting.metrics.roll_rate_matrix` (METRICS.md 迁徙率, balance-
weighted, principal); vintages — :func:`recoup.reporting.metrics.vintage_curve` (METRICS.md vintage M1+ /
M3+); recovery by segment — :func:`recoup.reporting.recovery.segment_recovery` (METRICS.md "Targets").
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from markupsafe import Markup

from recoup.portfolio.kernel import summary_by
from recoup.reporting.metrics import END_STATES, roll_rate_matrix, vintage_curve
from recoup.reporting.morning_data import case_accounts
from recoup.reporting.morning_risk import decisions_frame
from recoup.reporting.recovery import case_segments, segment_recovery
from recoup.web.charts import PALETTE, WIDE, Bar, Series, bars, heatmap, line_chart
from recoup.web.labels import N_
from recoup.web.morning_context import Context
from recoup.web.tables import Column, Formats, Table

__all__ = ["CLASS_LABELS", "SEGMENT_LABELS", "charts", "tables"]

#: Words the charts put beside numbers (translated when drawn).
_W_LOANS = N_("loans")
_W_TARGET = N_("target")

#: The regulation's five classes (商业银行金融资产风险分类办法) by ``account_daily.loan_class``.
CLASS_LABELS = {
    "normal": N_("Normal (正常)"),
    "special_mention": N_("Special mention (关注)"),
    "substandard": N_("Substandard (次级)"),
    "doubtful": N_("Doubtful (可疑)"),
    "loss": N_("Loss (损失)"),
}
SEGMENT_LABELS = {
    "mild": N_("mild"),
    "severe": N_("severe"),
    "extremely_severe": N_("extremely severe"),
    "current": N_("current"),
    "unknown": N_("unknown"),
    "overall": N_("overall"),
}
STATE_LABELS = {"paid_off": N_("paid off"), "written_off": N_("written off")}
VINTAGES_CHARTED = 6


def _balances(positions: pl.DataFrame | None, key: str, order: str) -> list[dict[str, object]]:
    if positions is None or positions.is_empty():
        return []
    frame = summary_by(positions, key, order=order)
    total = frame.select(pl.col("loans", "borrowers", "outstanding_principal", "overdue_amount").sum())
    book = int(total.get_column("outstanding_principal")[0]) or 1
    rows = [
        {**r, "share": r["outstanding_principal"] / book} for r in frame.drop(order).iter_rows(named=True)
    ]
    rows.append({key: None, **total.row(0, named=True), "share": 1.0})
    return rows


def _vintages(ctx: Context, as_of: dt.date) -> pl.DataFrame:
    scan = ctx.outputs.scan("account_daily")
    if scan is None:
        return pl.DataFrame()
    days = scan.select(pl.col("as_of").unique()).collect().get_column("as_of")
    ends = (
        pl.DataFrame({"as_of": days})
        .filter(pl.col("as_of") <= as_of)
        .group_by(pl.col("as_of").dt.truncate("1mo").alias("m"))
        .agg(pl.col("as_of").max())
        .get_column("as_of")
        .to_list()
    )
    cols = ["as_of", "loan_id", "vintage", "principal", "outstanding_principal", "bucket"]
    daily = scan.filter(pl.col("as_of").is_in(ends)).select(cols).collect()
    if daily.is_empty():
        return pl.DataFrame()
    m1 = vintage_curve(daily, min_bucket="M1")
    m3 = vintage_curve(daily, min_bucket="M3").select(
        "vintage", "mob", ratio_m3="ratio", balance_m3="balance"
    )
    return m1.join(m3, on=["vintage", "mob"], how="left").sort("vintage", "mob")


def _segments(ctx: Context) -> tuple[pl.DataFrame, dt.date, dt.date, bool]:
    """(segment recovery, cohort start, cohort end, matured): the allocations whose window has closed
    in the last window, else those of the last window to date."""
    w = ctx.settings.recovery_window_days
    as_of = ctx.as_of
    first = ctx.holdings.sort("start_date").unique("case_id", keep="first", maintain_order=True)
    start, end, matured = as_of - dt.timedelta(days=2 * w - 1), as_of - dt.timedelta(days=w - 1), True
    cohort = first.filter(pl.col("start_date").is_between(start, end))
    if cohort.is_empty():
        start, end, matured = as_of - dt.timedelta(days=w - 1), as_of, False
        cohort = first.filter(pl.col("start_date").is_between(start, end))
    decisions = decisions_frame(ctx.outputs, start - dt.timedelta(days=31), as_of)
    cohort = case_segments(cohort, case_accounts(session=ctx.session), decisions)
    result = segment_recovery(
        cohort, ctx.payments, through=as_of, window_days=w, targets=ctx.settings.recovery_targets
    )
    return result, start, end, matured


def tables(ctx: Context) -> list[Table]:
    """``buckets``, ``classes``, ``roll-rates``, ``vintages`` and ``segments``."""
    as_of, pos = ctx.as_of, ctx.positions
    money = [
        Column("loans", N_("Loans"), "int"),
        Column("outstanding_principal", N_("Outstanding principal"), "money"),
        Column("overdue_amount", N_("Overdue amount"), "money"),
        Column("share", N_("Share of principal"), "pct"),
    ]
    classes = _balances(pos, "loan_class", "class_rank")
    start_snap = ctx.outputs.latest_before("account_daily", ctx.month[0])
    matrix = (
        roll_rate_matrix(start_snap, pos)
        if start_snap is not None and pos is not None
        else pl.DataFrame(
            schema={"from_bucket": pl.String, **{s: pl.Float64 for s in END_STATES}, "base": pl.Int64}
        )
    )
    roll_start = start_snap.get_column("as_of")[0] if start_snap is not None and start_snap.height else None
    segments, s0, s1, matured = _segments(ctx)
    vint = _vintages(ctx, as_of)
    w = ctx.settings.recovery_window_days
    return [
        Table(
            "buckets",
            N_("Balances by bucket"),
            [Column("bucket", N_("Bucket")), *money],
            _balances(pos, "bucket", "bucket_rank"),
            end=as_of,
            total_key="bucket",
            note=N_("C = current; M1 = 1–30 days past due, M2 = 31–60 … M7+ = over 180."),
        ),
        Table(
            "classes",
            N_("Balances by five-category class (五级分类)"),
            [Column("loan_class", N_("Class"), "label"), *money],
            [{**r, "loan_class": CLASS_LABELS.get(str(r["loan_class"]), r["loan_class"])} for r in classes],
            end=as_of,
            total_key="loan_class",
            note=N_("Non-performing loans are the last three classes: substandard, doubtful and loss."),
        ),
        Table(
            "roll-rates",
            N_("Roll-rate matrix"),
            [
                Column("from_bucket", N_("From")),
                *(Column(s, STATE_LABELS.get(s, s), "pct") for s in END_STATES),
                Column("base", N_("Principal at start"), "money"),
            ],
            matrix.to_dicts(),
            start=roll_start,
            end=as_of,
            note=N_(
                "Share of each bucket's principal at the start that is in each state now, tracked "
                "loan by loan (迁徙率)."
            ),
        ),
        Table(
            "vintages",
            N_("Vintage curves"),
            [
                Column("vintage", N_("Vintage")),
                Column("mob", N_("Months on book"), "int"),
                Column("ratio", N_("M1+ ratio"), "pct"),
                Column("ratio_m3", N_("M3+ ratio"), "pct"),
                Column("balance", N_("M1+ principal"), "money"),
                Column("disbursed", N_("Disbursed"), "money"),
            ],
            vint.to_dicts(),
            end=as_of,
            note=N_(
                "Principal 1+ (3+) buckets past due at each month-end ÷ principal disbursed in the vintage."
            ),
        ),
        Table(
            "segments",
            N_("Recovery by segment against target"),
            [
                Column("segment", N_("Segment"), "label"),
                Column("cases", N_("Cases"), "int"),
                Column("allocated", N_("Allocated"), "money"),
                Column("collected", N_("Collected"), "money"),
                Column("rate", N_("Recovery rate"), "pct"),
                Column("target", N_("Target"), "pct"),
                Column("gap", N_("Against target"), "pct"),
                Column("days_elapsed", N_("Days elapsed"), "int"),
            ],
            [{**r, "segment": SEGMENT_LABELS.get(r["segment"], r["segment"])} for r in segments.to_dicts()],
            start=s0,
            end=s1,
            note=N_("Cases allocated in the period shown; cash counted for {days} days from allocation.")
            if matured
            else N_(
                "No allocation has completed its {days}-day window yet: cases allocated in the last "
                "{days} days, cash counted to date."
            ),
            extra={"days": w, "matured": matured},
        ),
    ]


def charts(t: dict[str, Table], fmt: Formats) -> dict[str, Markup]:
    _ = fmt.gettext
    out: dict[str, Markup] = {}
    delinquent = [r for r in t["buckets"].rows if r["bucket"] not in (None, "C")]
    out["buckets"] = bars(
        "chart-buckets",
        [
            Bar(
                str(r["bucket"]),
                r["outstanding_principal"],
                f"{fmt.money(r['outstanding_principal'])} · {fmt.int(r['loans'])} {_(_W_LOANS)}",
            )
            for r in delinquent
        ],
        title=_("Balances by bucket"),
        axis_label=_("Outstanding principal of loans past due (C, current, is in the table)"),
        empty=_("No loan is past due."),
    )
    classes = [r for r in t["classes"].rows if r["loan_class"] is not None]
    out["classes"] = bars(
        "chart-classes",
        [
            Bar(
                fmt.gettext(str(r["loan_class"])),
                r["outstanding_principal"],
                f"{fmt.money(r['outstanding_principal'])} · {fmt.pct(r['share'])}",
                color=PALETTE[0] if i == 0 else PALETTE[3],
            )
            for i, r in enumerate(classes)
        ],
        title=_("Balances by five-category class (五级分类)"),
        axis_label=_("Outstanding principal"),
        empty=_("No loan in the book."),
    )
    rows = t["roll-rates"].rows
    out["roll-rates"] = heatmap(
        "chart-rollrates",
        [r["from_bucket"] for r in rows],
        [fmt.gettext(STATE_LABELS.get(s, s)) for s in END_STATES],
        [[r[s] for s in END_STATES] for r in rows],
        title=_("Roll-rate matrix"),
        row_title=_("From"),
        col_title=_("To (share of the bucket's principal)"),
        cell_format=fmt.pct,
        row_notes=[_("Principal at start"), *(fmt.money_whole(r["base"]) for r in rows)],
        width=WIDE,
        empty=_("No month-end snapshot before this month yet."),
    )
    vint = t["vintages"].rows
    names = sorted({str(r["vintage"]) for r in vint})[-VINTAGES_CHARTED:]
    series = [
        Series(
            v,
            [(r["mob"], r["ratio"]) for r in vint if r["vintage"] == v],
            PALETTE[i % len(PALETTE)],
            dashed=i % 2 == 1,
        )
        for i, v in enumerate(names)
    ]
    mobs = sorted({int(r["mob"]) for r in vint if r["vintage"] in names})
    out["vintages"] = line_chart(
        "chart-vintages",
        series,
        title=_("Vintage curves"),
        x_label=_("Months on book"),
        y_label=_("M1+ ratio"),
        y_format=fmt.pct,
        x_ticks=[(m, str(m)) for m in mobs],
        empty=_("No month-end snapshot yet."),
        y_min_span=0.05,
    )
    seg = t["segments"].rows
    out["segments"] = bars(
        "chart-segments",
        [
            Bar(
                fmt.gettext(str(r["segment"])),
                r["rate"] or 0.0,
                fmt.pct(r["rate"])
                + (f" · {_(_W_TARGET)} {fmt.pct(r['target'])}" if r["target"] is not None else ""),
                target=r["target"],
                target_text=f"{_(_W_TARGET)} {fmt.pct(r['target'])}" if r["target"] is not None else "",
                color=PALETTE[2]
                if r["target"] is not None and (r["rate"] or 0) >= r["target"]
                else PALETTE[0],
            )
            for r in seg
        ],
        title=_("Recovery by segment against target"),
        axis_label=_("Recovery rate; the grey track and the tick mark the target"),
        empty=_("No case was allocated in the window."),
        top_value=1.0,
    )
    return out
