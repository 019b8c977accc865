"""Portfolio summaries over per-loan frames (``account_daily``): pure Polars, no I/O."""

from __future__ import annotations

import polars as pl


def summary_by(positions: pl.DataFrame, key: str, *, order: str | None = None) -> pl.DataFrame:
    """Loans, borrowers, outstanding principal and overdue amount grouped by ``key``, sorted by ``order``
    (a column constant within each group, such as ``bucket_rank``) or else by ``key``."""
    aggs = [
        pl.len().alias("loans"),
        pl.col("borrower_id").n_unique().alias("borrowers"),
        pl.col("outstanding_principal").sum(),
        pl.col("overdue_amount").sum(),
    ]
    if order is not None:
        aggs.append(pl.col(order).first())
    return positions.group_by(key).agg(aggs).sort(order or key)
