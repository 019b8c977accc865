"""Scoring features per loan as of D — a pure Polars kernel computed in the daily cycle's pass.

No look-ahead: every input is filtered to what was known on D (payments received on or before D,
installments due on or before D for paid/due ratios, bureau reports dated on or before D, history
from ``account_daily`` up to D). docs/features.md documents each feature.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

PARTS = ("principal", "interest", "fee", "penalty")

#: feature → (description, as-of semantics); the single source of docs/features.md.
FEATURES: dict[str, tuple[str, str]] = {
    "payments_30d": (
        "number of payments received in the 30 days up to D (reversals excluded)",
        "received_date in (D−30, D]",
    ),
    "paid_30d": (
        "amount received in the 30 days up to D, minor units, net of reversals",
        "received_date in (D−30, D]",
    ),
    "payments_90d": ("number of payments received in the 90 days up to D", "received_date in (D−90, D]"),
    "paid_90d": (
        "amount received in the 90 days up to D, minor units, net of reversals",
        "received_date in (D−90, D]",
    ),
    "days_since_last_payment": ("days from the last payment to D; null if none", "received_date ≤ D"),
    "payment_trend": (
        "least-squares slope of payment amounts over the last 180 days, minor units per day; "
        "negative when amounts keep falling",
        "received_date in (D−180, D]",
    ),
    "paid_to_due_ratio": ("paid ÷ due over installments due on or before D (all components)", "due_date ≤ D"),
    "partial_payments": ("installments due on or before D that were paid in part only", "due_date ≤ D"),
    "max_dpd_ever": ("highest days past due the loan has reached", "account_daily up to D"),
    "times_cured": ("times the loan went from delinquent to current", "account_daily up to D"),
    "dpd": ("days past due on D", "D"),
    "outstanding_principal": ("principal still owed on D, minor units", "D"),
    "utilisation": ("outstanding principal ÷ amount disbursed", "D"),
    "loan_age_months": ("whole months from disbursement to D", "D"),
    "remaining_installments": ("installments due after D", "due_date > D"),
    "bureau_score": (
        "the latest credit-bureau score reported on or before D; null if none",
        "report_date ≤ D",
    ),
    "bureau_new_delinquencies_90d": (
        "new delinquencies elsewhere reported in the 90 days up to D",
        "report_date in (D−90, D]",
    ),
}


def features(
    daily: pl.DataFrame | pl.LazyFrame,
    installments: pl.DataFrame | pl.LazyFrame,
    payments: pl.DataFrame | pl.LazyFrame,
    bureau: pl.DataFrame | pl.LazyFrame,
    *,
    as_of: dt.date,
) -> pl.DataFrame:
    """One row per loan of ``daily`` (today's account_daily) with the FEATURES columns."""
    d = pl.lit(as_of)
    pays = payments.lazy().filter(pl.col("received_date") <= d)
    reversed_ids = pays.filter(pl.col("reverses").is_not_null()).select(
        pl.col("reverses").alias("payment_id")
    )
    # A reversal cancels its payment: drop both from the behaviour counts.
    live = pays.filter(pl.col("reverses").is_null()).join(reversed_ids, on="payment_id", how="anti")
    age = (d - pl.col("received_date")).dt.total_days()
    pay = (
        live.with_columns(_age=age)
        .group_by("loan_id")
        .agg(
            payments_30d=(pl.col("_age") < 30).sum().cast(pl.Int64),
            paid_30d=pl.col("amount").filter(pl.col("_age") < 30).sum(),
            payments_90d=(pl.col("_age") < 90).sum().cast(pl.Int64),
            paid_90d=pl.col("amount").filter(pl.col("_age") < 90).sum(),
            days_since_last_payment=pl.col("_age").min(),
        )
    )
    recent = live.with_columns(_t=-age.cast(pl.Float64), _a=pl.col("amount").cast(pl.Float64)).filter(
        pl.col("_t") > -180
    )
    trend = recent.group_by("loan_id").agg(
        payment_trend=pl.when(pl.len() >= 2).then(pl.cov("_t", "_a") / pl.col("_t").var()).otherwise(None)
    )
    pay = pay.join(trend, on="loan_id", how="left")

    inst = installments.lazy().with_columns(
        _due=pl.sum_horizontal(*(pl.col(f"{p}_due") for p in PARTS)),
        _paid=pl.sum_horizontal(*(pl.col(f"{p}_paid") for p in PARTS)),
    )
    fell_due = pl.col("due_date") <= d
    sched = (
        inst.group_by("loan_id")
        .agg(
            _due_sum=pl.col("_due").filter(fell_due).sum(),
            _paid_sum=pl.col("_paid").filter(fell_due).sum(),
            partial_payments=(fell_due & (pl.col("_paid") > 0) & (pl.col("_paid") < pl.col("_due")))
            .sum()
            .cast(pl.Int64),
            remaining_installments=(pl.col("due_date") > d).sum().cast(pl.Int64),
        )
        .with_columns(
            paid_to_due_ratio=pl.when(pl.col("_due_sum") > 0).then(pl.col("_paid_sum") / pl.col("_due_sum"))
        )
        .drop("_due_sum", "_paid_sum")
    )

    rep = bureau.lazy().filter(pl.col("report_date") <= d)
    latest = (
        rep.sort("report_date").group_by("borrower_id").agg(bureau_score=pl.col("score").drop_nulls().last())
    )
    new90 = (
        rep.filter((d - pl.col("report_date")).dt.total_days() < 90)
        .group_by("borrower_id")
        .agg(bureau_new_delinquencies_90d=pl.col("new_delinquencies").sum())
    )

    base = daily.lazy().select(
        "as_of",
        "loan_id",
        "borrower_id",
        "dpd",
        "outstanding_principal",
        "principal",
        "disbursement_date",
        pl.col("max_dpd").alias("max_dpd_ever"),
        "times_cured",
    )
    out = (
        base.join(pay, on="loan_id", how="left")
        .join(sched, on="loan_id", how="left")
        .join(latest, on="borrower_id", how="left")
        .join(new90, on="borrower_id", how="left")
        .with_columns(
            *(
                pl.col(c).fill_null(0)
                for c in (
                    "payments_30d",
                    "paid_30d",
                    "payments_90d",
                    "paid_90d",
                    "partial_payments",
                    "remaining_installments",
                    "bureau_new_delinquencies_90d",
                )
            ),
            utilisation=pl.when(pl.col("principal") > 0).then(
                pl.col("outstanding_principal") / pl.col("principal")
            ),
            loan_age_months=(
                (as_of.year - pl.col("disbursement_date").dt.year()) * 12
                + (as_of.month - pl.col("disbursement_date").dt.month())
                - (pl.col("disbursement_date").dt.day() > as_of.day).cast(pl.Int32)
            ).cast(pl.Int64),
        )
    )
    return out.select("as_of", "loan_id", "borrower_id", *FEATURES).sort("loan_id").collect()


def render_docs() -> str:
    """The Markdown of docs/features.md."""
    lines = [
        "# Scoring features",
        "",
        "Computed per loan by the daily cycle's `features` step (`recoup.scoring.features`) into the",
        "lake table `out/features`, partitioned by as-of date D. No feature uses data after D: the last",
        "column says exactly which rows each one reads. Money is in minor units (fen). This file is",
        "generated by `python -m recoup.scoring.features`; a test keeps it in step with the code.",
        "",
        "| feature | meaning | data used (as of D) |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {desc} | {asof} |" for name, (desc, asof) in FEATURES.items()]
    lines += [
        "",
        "Contacts, right-party contacts and promises made / kept / broken join this table once the contact",
        "log and promises exist (copied into the lake by the cycle's step 0).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "docs" / "features.md"
    path.write_text(render_docs(), encoding="utf-8")
    print(f"written {path}")
