"""Pure Polars: an item's latest valuation, and per loan the collateral value, loan-to-value and shortfall.

- the latest valuation of an item is its newest ``valued_on`` (on a tie, the highest ``valuation_id``);
- a loan's collateral value is the sum of the latest values of its items still held or repossessed;
- loan-to-value ``ltv_bp`` = balance ÷ collateral value in basis points, rounded half up (null without
  value); ``shortfall`` = balance − value when positive (what the collateral will not cover), else 0;
  ``cover`` = value − balance when positive.
"""

from __future__ import annotations

import polars as pl

__all__ = ["latest_valuations", "loan_values"]


def latest_valuations(valuations: pl.DataFrame) -> pl.DataFrame:
    """``item_id, value, valued_on`` — each item's newest valuation."""
    return (
        valuations.sort("item_id", "valued_on", "valuation_id")
        .group_by("item_id", maintain_order=True)
        .last()
        .select("item_id", "value", "valued_on")
    )


def loan_values(items: pl.DataFrame, valuations: pl.DataFrame, balances: pl.DataFrame) -> pl.DataFrame:
    """Per loan of ``balances`` (``loan_id, balance``): ``items`` counted, ``collateral_value``, ``balance``,
    ``ltv_bp``, ``shortfall``, ``cover``. ``items`` holds ``item_id, loan_id, status``; items disposed or
    released count for nothing."""
    live = items.filter(pl.col("status").is_in(["held", "repossessed"]))
    valued = live.join(latest_valuations(valuations), on="item_id", how="left")
    per_loan = valued.group_by("loan_id").agg(
        pl.len().alias("items"), pl.col("value").fill_null(0).cast(pl.Int64).sum().alias("collateral_value")
    )
    out = balances.select("loan_id", pl.col("balance").cast(pl.Int64)).join(
        per_loan, on="loan_id", how="left"
    )
    value, bal = pl.col("collateral_value"), pl.col("balance")
    return out.with_columns(pl.col("items").fill_null(0).cast(pl.Int64), value.fill_null(0)).with_columns(
        pl.when(value > 0).then((bal * 20_000 + value).floordiv(2 * value)).otherwise(None).alias("ltv_bp"),
        pl.when(bal > value).then(bal - value).otherwise(0).alias("shortfall"),
        pl.when(value > bal).then(value - bal).otherwise(0).alias("cover"),
    )
