"""Pure Polars kernels over the book: per-loan positions as of a date, and portfolio summaries.

Frames in, frames out; no I/O. The daily cycle's delinquency kernel (buckets by decision table,
five-category class, transitions) builds on the same per-loan shape.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

PARTS = ("principal", "interest", "fee", "penalty")
#: Default buckets as (lowest days past due, label); C is current. The daily cycle replaces this
#: with the versioned bucket decision table.
BUCKETS: tuple[tuple[int, str], ...] = (
    (0, "C"),
    (1, "M1"),
    (31, "M2"),
    (61, "M3"),
    (91, "M4"),
    (121, "M5"),
    (151, "M6"),
    (181, "M7+"),
)
BUCKET_LABELS = [label for _lo, label in BUCKETS]


def loan_positions(
    loans: pl.DataFrame, installments: pl.DataFrame, *, as_of: dt.date, tolerance: int = 100
) -> pl.DataFrame:
    """One row per loan as of ``as_of``: outstanding principal, overdue amount, days past due, bucket.

    An installment is overdue when its due date is before ``as_of`` and more than ``tolerance``
    minor units of it are unpaid; days past due count from the oldest such installment.
    """
    inst = installments.with_columns(
        unpaid=pl.sum_horizontal(pl.col(f"{p}_due") - pl.col(f"{p}_paid") for p in PARTS),
        principal_left=pl.col("principal_due") - pl.col("principal_paid"),
    ).with_columns(overdue=(pl.col("due_date") < pl.lit(as_of)) & (pl.col("unpaid") > tolerance))
    per_loan = inst.group_by("loan_id").agg(
        outstanding_principal=pl.col("principal_left").sum(),
        overdue_amount=pl.col("unpaid").filter(pl.col("overdue")).sum(),
        oldest_overdue=pl.col("due_date").filter(pl.col("overdue")).min(),
        missed_installments=pl.col("overdue").sum().cast(pl.Int64),
    )
    out = loans.select("loan_id", "borrower_id", "product_type", "product_code", "principal", "status").join(
        per_loan, on="loan_id", how="left"
    )
    out = out.with_columns(
        pl.col("outstanding_principal").fill_null(0),
        pl.col("overdue_amount").fill_null(0),
        pl.col("missed_installments").fill_null(0),
        dpd=pl.when(pl.col("oldest_overdue").is_null())
        .then(0)
        .otherwise((pl.lit(as_of) - pl.col("oldest_overdue")).dt.total_days())
        .cast(pl.Int64),
    )
    edges = pl.DataFrame(
        {"dpd": [lo for lo, _l in BUCKETS], "bucket": BUCKET_LABELS},
        schema={"dpd": pl.Int64, "bucket": pl.String},
    )
    return out.sort("dpd").join_asof(edges, on="dpd", strategy="backward").sort("loan_id")


def summary_by(positions: pl.DataFrame, key: str) -> pl.DataFrame:
    """Loans, borrowers and outstanding principal grouped by ``key`` (product_type or bucket)."""
    return (
        positions.group_by(key)
        .agg(
            loans=pl.len(),
            borrowers=pl.col("borrower_id").n_unique(),
            outstanding_principal=pl.col("outstanding_principal").sum(),
            overdue_amount=pl.col("overdue_amount").sum(),
        )
        .sort(key)
    )
