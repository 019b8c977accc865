"""Pure Polars: which creditor each payment belongs to, and how a period's recoveries split.

- :func:`creditor_of_payments` labels each payment with the loan's creditor on its received date (the
  latest ``since`` on or before it; a payment older than the first row belongs to the first creditor);
- :func:`split_by_creditor` sums them per creditor and splits each sum by the creditor's
  ``recovery_share_bp``: its part rounded down to the fen, the rest the lender's (explicit, exact).
"""

from __future__ import annotations

import polars as pl

__all__ = ["HISTORY_SCHEMA", "creditor_of_payments", "split_by_creditor"]

HISTORY_SCHEMA: dict[str, pl.DataType] = {"loan_id": pl.String(), "creditor": pl.String(), "since": pl.Date()}


def creditor_of_payments(
    payments: pl.DataFrame, history: pl.DataFrame, *, default: str = "own"
) -> pl.DataFrame:
    """``payments`` (``loan_id``, ``received_date``, ``amount`` …) with a ``creditor`` column. ``history``
    holds ``loan_id, creditor, since``; a loan without history gets ``default``."""
    hist = (
        history.select("loan_id", "creditor", "since")
        .sort("loan_id", "since")
        .unique(subset=["loan_id", "since"], keep="last", maintain_order=True)
        .sort("since")
    )
    first = hist.group_by("loan_id").agg(pl.col("creditor").first().alias("_first"))
    keyed = payments.with_row_index("_row").sort("received_date")
    labelled = keyed.join_asof(
        hist,
        left_on="received_date",
        right_on="since",
        by="loan_id",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted on the key; polars cannot check it within groups
    ).join(first, on="loan_id", how="left")
    return (
        labelled.with_columns(
            creditor=pl.coalesce(pl.col("creditor"), pl.col("_first"), pl.lit(default, dtype=pl.String))
        )
        .sort("_row")
        .drop("_row", "_first", "since")
    )


def split_by_creditor(labelled: pl.DataFrame, partners: pl.DataFrame) -> pl.DataFrame:
    """Per creditor: ``payments`` (rows), ``loans``, ``collected`` (minor units, reversals negative), the
    creditor's part ``to_creditor`` = ⌊collected × share_bp / 10,000⌋ and ``to_lender`` = the rest.
    ``partners`` holds ``creditor, name, kind, recovery_share_bp``; an unregistered creditor takes 100 %."""
    sums = labelled.group_by("creditor").agg(
        pl.len().alias("payments"),
        pl.col("loan_id").n_unique().alias("loans"),
        pl.col("amount").cast(pl.Int64).sum().alias("collected"),
    )
    out = sums.join(
        partners.select("creditor", "name", "kind", "recovery_share_bp"), on="creditor", how="left"
    )
    share = pl.col("recovery_share_bp").fill_null(10_000).cast(pl.Int64)
    return (
        out.with_columns(
            pl.col("name").fill_null(pl.col("creditor")),
            pl.col("kind").fill_null("unregistered"),
            share.alias("recovery_share_bp"),
            (pl.col("collected") * share).floordiv(10_000).alias("to_creditor"),
        )
        .with_columns((pl.col("collected") - pl.col("to_creditor")).alias("to_lender"))
        .select(
            "creditor",
            "name",
            "kind",
            "recovery_share_bp",
            "loans",
            "payments",
            "collected",
            "to_creditor",
            "to_lender",
        )
        .sort("collected", "creditor", descending=[True, False])
    )
