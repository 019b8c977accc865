"""Training targets from history, without look-ahead into the features.

For an account in collections on day D (``account_daily`` row with dpd > 0):

- ``self_cure_30`` — the account is current (dpd 0) or paid off on some day in (D, D + 30];
- ``roll_forward_30`` — its bucket rank on some day in (D, D + 30] is above its rank on D;
- ``recovered_share_90`` — payments received in (D, D + 90] ÷ the overdue amount on D, capped at 1.

A target is defined only when its whole window has been observed (the history reaches D + horizon);
otherwise it is null, so immature rows never enter training as negatives. Features come from D's own
``features`` partition, which uses nothing after D.
"""

from __future__ import annotations

import warnings

import polars as pl


def targets(daily: pl.DataFrame | pl.LazyFrame, payments: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per delinquent (loan, as_of) of ``daily`` (many days of account_daily) with the targets."""
    d = daily.lazy().select("as_of", "loan_id", "dpd", "bucket_rank", "status", "overdue_amount")
    last_day = d.select(pl.col("as_of").max()).collect().item()
    d = d.sort("loan_id", "as_of").with_columns(
        _cured_day=pl.when((pl.col("dpd") <= 0) | (pl.col("status") == "paid_off")).then(pl.col("as_of")),
    )
    # The first cure strictly after D: shift by one day within the loan, then fill backwards.
    d = d.with_columns(
        _next_cure=pl.col("_cured_day").shift(-1).backward_fill().over("loan_id"),
    )
    # The highest bucket rank on a later day within 30 days: a forward-looking rolling max, computed as a
    # backward rolling max on reversed time.
    rev = d.with_columns(_t=-(pl.col("as_of").cast(pl.Int32))).sort("loan_id", "_t")
    rev = rev.with_columns(
        _future_max_rank=pl.col("bucket_rank")
        .rolling_max_by("_t", window_size="30i", closed="left")
        .over("loan_id")
    )
    # Payments net of reversals: a reversal is a negative flow on the day it arrives.
    pays = payments.lazy().filter(pl.col("reverses").is_null()).select("loan_id", "received_date", "amount")
    reversed_amounts = (
        payments.lazy()
        .filter(pl.col("reverses").is_not_null())
        .select("loan_id", "received_date", (-pl.col("amount")).alias("amount"))
    )
    flows = (
        pl.concat([pays, reversed_amounts])
        .sort("loan_id", "received_date")
        .with_columns(_cum=pl.col("amount").cum_sum().over("loan_id"))
    )
    out = (
        rev.filter(pl.col("dpd") > 0)
        .with_columns(_d0=pl.col("as_of"), _d90=pl.col("as_of") + pl.duration(days=90))
        .sort("as_of")
    )

    def cum_at(day_col: str, name: str) -> pl.LazyFrame:
        return (
            out.select("loan_id", "as_of", day_col)
            .sort(day_col)
            .join_asof(
                flows.select("loan_id", "received_date", "_cum").sort("received_date"),
                left_on=day_col,
                right_on="received_date",
                by="loan_id",
                strategy="backward",
            )
            .select("loan_id", "as_of", pl.col("_cum").fill_null(0).alias(name))
        )

    out = out.join(cum_at("_d0", "_cum0"), on=["loan_id", "as_of"]).join(
        cum_at("_d90", "_cum90"), on=["loan_id", "as_of"]
    )
    h30 = pl.col("as_of") + pl.duration(days=30) <= pl.lit(last_day)
    h90 = pl.col("_d90") <= pl.lit(last_day)
    out = out.with_columns(
        self_cure_30=pl.when(h30).then(
            (
                pl.col("_next_cure").is_not_null()
                & (pl.col("_next_cure") <= pl.col("as_of") + pl.duration(days=30))
            ).cast(pl.Int64)
        ),
        roll_forward_30=pl.when(h30).then(
            (pl.col("_future_max_rank").fill_null(-1) > pl.col("bucket_rank")).cast(pl.Int64)
        ),
        recovered_share_90=pl.when(h90 & (pl.col("overdue_amount") > 0)).then(
            ((pl.col("_cum90") - pl.col("_cum0")) / pl.col("overdue_amount")).clip(0.0, 1.0)
        ),
    )
    with warnings.catch_warnings():
        # The frame is sorted by (loan, time) above; Polars cannot verify that per group and says so.
        warnings.filterwarnings("ignore", message="Sortedness of columns cannot be checked")
        return (
            out.select("as_of", "loan_id", "self_cure_30", "roll_forward_30", "recovered_share_90")
            .sort("as_of", "loan_id")
            .collect()
        )
