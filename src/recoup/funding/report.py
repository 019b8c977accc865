"""The creditors report's sheet (``recoup report creditors``, the ``/funding`` page), and the portfolio
report's balances by creditor (:func:`portfolio_by_creditor`, for ``recoup report portfolio`` to add)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy.orm import Session

from recoup.reporting.sheets import Col, Sheet

__all__ = ["COLS", "creditor_sheet", "portfolio_by_creditor", "with_creditor"]

COLS = [
    Col("creditor", "Creditor", "债权人"),
    Col("name", "Name", "名称"),
    Col("kind", "Kind", "类型"),
    Col("loans", "Loans", "借据数", "int"),
    Col("payments", "Payments", "笔数", "int"),
    Col("collected", "Collected", "回款", "money"),
    Col("share", "Share", "分成比例", "pct"),
    Col("to_creditor", "To the creditor", "归债权人", "money"),
    Col("to_lender", "To the lender", "归本机构", "money"),
]


def creditor_sheet(frame: pl.DataFrame, month: str, locale: str) -> Sheet:
    title = f"Collections by creditor, {month}" if locale == "en" else f"{month} 按债权人拆分的回款"
    shown = frame.with_columns((pl.col("recovery_share_bp") / 10_000).alias("share"))
    return Sheet(name="creditors", title=title, cols=COLS, frame=shown)


def with_creditor(positions: pl.DataFrame, *, as_of: dt.date, session: Session) -> pl.DataFrame:
    """``positions`` (``loan_id``, ``funding_partner`` …, e.g. a day's ``account_daily``) with the
    ``creditor`` of each loan on ``as_of``: its recorded history (a guarantor after its payout), else the
    extract's funding partner mapped as on first sight."""
    from recoup.funding.kernel import creditor_of_payments
    from recoup.funding.service import _code_for, _matcher, history_frame

    matcher = _matcher(session)
    loans = positions.get_column("loan_id").cast(pl.String).to_list()
    hist = history_frame(session=session, loan_ids=loans)
    # The partner values are few: map each once, then replace vectorised (no per-row Python).
    values = positions.get_column("funding_partner").cast(pl.String).fill_null("").unique().to_list()
    mapping = {v: _code_for(v, matcher) for v in values}
    first_sight = positions.select(
        pl.col("loan_id").cast(pl.String),
        pl.col("funding_partner")
        .cast(pl.String)
        .fill_null("")
        .replace_strict(mapping, return_dtype=pl.String)
        .alias("_fallback"),
    )
    probe = first_sight.select("loan_id", pl.lit(as_of).alias("received_date"))
    labelled = creditor_of_payments(probe, hist, default="").join(first_sight, on="loan_id", how="left")
    creditor = labelled.select(
        "loan_id",
        pl.when(pl.col("creditor") == "")
        .then(pl.col("_fallback"))
        .otherwise(pl.col("creditor"))
        .alias("creditor"),
    )
    return positions.with_columns(pl.col("loan_id").cast(pl.String)).join(creditor, on="loan_id", how="left")


def portfolio_by_creditor(positions: pl.DataFrame, *, as_of: dt.date, session: Session) -> pl.DataFrame:
    """The portfolio report's balances by creditor on ``as_of`` (loans, borrowers, outstanding principal,
    overdue amount, share; a total row whose key is null) — :func:`recoup.reporting.book.breakdown`."""
    from recoup.reporting.book import breakdown

    return breakdown(with_creditor(positions, as_of=as_of, session=session), "creditor")
