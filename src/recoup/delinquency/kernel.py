"""The delinquency kernel: per loan as of D, pure Polars, no I/O.

Conventions (documented in docs/delinquency.md):

- An installment is *overdue* on D when its due date plus the grace period is before D and more
  than ``tolerance`` minor units of it (all four components) are unpaid. The due date itself is
  not overdue: a payment on the due date is on time.
- Days past due count from the due date of the oldest overdue installment (not from the end of
  grace); a loan with no overdue installment has 0 days past due.
- Overdue principal / interest / fee / penalty are the unpaid components of overdue installments;
  outstanding principal is principal due minus paid over all installments.
- Bucket, five-category class and the transition since the previous day come from decision tables
  (``recoup.rules``; defaults in :mod:`recoup.delinquency.tables`), with the matching row recorded.
- Written-off loans stay collectable (账销案存): they keep their days past due and amounts, carry
  ``written_off = true`` and are class 损失.

The kernel takes complete loans (every installment of a loan in the same frame), so it gives the same
result on the whole book or on any partition of it by loan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from recoup import rules
from recoup.delinquency import tables

PARTS = ("principal", "interest", "fee", "penalty")


@dataclass(frozen=True)
class DelinquencyParams:
    """Settings of the kernel; ``bucket_by_cycle`` lists products bucketed by missed statements."""

    tolerance: int = 100  # minor units: ¥1.00
    grace_days: int = 0
    bucket_by_cycle: frozenset[str] = field(default_factory=frozenset)
    bucket_table: rules.DecisionTable = field(default_factory=lambda: rules.load_table(tables.BUCKETS))
    class_table: rules.DecisionTable = field(default_factory=lambda: rules.load_table(tables.LOAN_CLASS))
    transition_table: rules.DecisionTable = field(default_factory=lambda: rules.load_table(tables.TRANSITION))

    def version(self) -> str:
        """One string naming the exact configuration (recorded on every output row)."""
        parts = [
            rules.table_hash(t)[:12] for t in (self.bucket_table, self.class_table, self.transition_table)
        ]
        return (
            f"tol={self.tolerance};grace={self.grace_days};cycle={','.join(sorted(self.bucket_by_cycle))};"
            + (";".join(parts))
        )


#: Columns carried from one day to the next (history).
PREV_COLUMNS = {
    "loan_id": pl.String,
    "dpd": pl.Int64,
    "bucket": pl.String,
    "bucket_rank": pl.Int64,
    "bucket_since": pl.Date,
    "delinquent_since": pl.Date,
    "max_dpd": pl.Int64,
    "times_cured": pl.Int64,
    "status": pl.String,
    "written_off": pl.Boolean,
}


def empty_prev() -> pl.DataFrame:
    return pl.DataFrame(schema=PREV_COLUMNS)


def per_loan(
    installments: pl.DataFrame | pl.LazyFrame, *, as_of: dt.date, params: DelinquencyParams
) -> pl.LazyFrame:
    """Installments → one row per loan: outstanding, overdue by component, DPD, missed installments."""
    inst = (
        installments.lazy()
        .with_columns(
            *((pl.col(f"{p}_due") - pl.col(f"{p}_paid")).clip(lower_bound=0).alias(f"_u_{p}") for p in PARTS)
        )
        .with_columns(_unpaid=pl.sum_horizontal(*(pl.col(f"_u_{p}") for p in PARTS)))
    )
    past_grace = (pl.col("due_date") + pl.duration(days=params.grace_days)) < pl.lit(as_of)
    inst = inst.with_columns(_overdue=past_grace & (pl.col("_unpaid") > params.tolerance))
    od = pl.col("_overdue")
    return inst.group_by("loan_id").agg(
        outstanding_principal=pl.col("_u_principal").sum(),
        remaining_total=pl.col("_unpaid").sum(),
        **{f"overdue_{p}": pl.col(f"_u_{p}").filter(od).sum() for p in PARTS},
        missed_installments=od.sum().cast(pl.Int64),
        oldest_overdue_due=pl.col("due_date").filter(od).min(),
        next_due_date=pl.col("due_date").filter(pl.col("due_date") >= pl.lit(as_of)).min(),
        installments=pl.len().cast(pl.Int64),
    )


def delinquency(
    loans: pl.DataFrame | pl.LazyFrame,
    installments: pl.DataFrame | pl.LazyFrame,
    *,
    as_of: dt.date,
    prev: pl.DataFrame | pl.LazyFrame | None = None,
    params: DelinquencyParams | None = None,
) -> pl.DataFrame:
    """``account_daily`` rows for every loan as of ``as_of`` (see the module docstring)."""
    p = params or DelinquencyParams()
    agg = per_loan(installments, as_of=as_of, params=p)
    base = loans.lazy().select(
        "loan_id",
        "borrower_id",
        "product_type",
        "product_code",
        "funding_partner",
        "principal",
        "disbursement_date",
        pl.col("status").alias("loan_status"),
    )
    df = base.join(agg, on="loan_id", how="left").with_columns(
        *(
            pl.col(c).fill_null(0)
            for c in (
                "outstanding_principal",
                "remaining_total",
                "missed_installments",
                "installments",
                *(f"overdue_{q}" for q in PARTS),
            )
        ),
    )
    df = df.with_columns(
        overdue_amount=pl.sum_horizontal(*(pl.col(f"overdue_{q}") for q in PARTS)),
        dpd=pl.when(pl.col("oldest_overdue_due").is_null())
        .then(pl.lit(0, pl.Int64))
        .otherwise((pl.lit(as_of) - pl.col("oldest_overdue_due")).dt.total_days())
        .cast(pl.Int64),
        written_off=pl.col("loan_status") == "written_off",
        vintage=pl.col("disbursement_date").dt.strftime("%Y-%m"),
    ).with_columns(
        status=pl.when(pl.col("written_off"))
        .then(pl.lit("written_off"))
        .when(
            (pl.col("loan_status") == "paid_off")
            | ((pl.col("remaining_total") <= 0) & (pl.col("installments") > 0))
        )
        .then(pl.lit("paid_off"))
        .otherwise(pl.col("loan_status")),
        bucket_by_cycle=pl.col("product_type").is_in(sorted(p.bucket_by_cycle)),
    )
    df = rules.evaluate(df, p.bucket_table, rule_column="bucket_rule")
    df = rules.evaluate(df, p.class_table, rule_column="loan_class_rule")

    # Loan ids keep the loans' own type (text in the lake; integers in a compact benchmark book).
    id_type = base.collect_schema()["loan_id"]
    prev_lf = (prev.lazy() if prev is not None else empty_prev().lazy()).select(
        [
            pl.col(c).cast(id_type if c == "loan_id" else t).alias(f"prev_{c}" if c != "loan_id" else c)
            for c, t in PREV_COLUMNS.items()
        ]
    )
    df = df.join(prev_lf, on="loan_id", how="left").with_columns(
        has_prev=pl.col("prev_dpd").is_not_null(),
        closed_today=(pl.col("status") == "paid_off") & (pl.col("prev_status").fill_null("") != "paid_off"),
        written_off_today=pl.col("written_off") & ~pl.col("prev_written_off").fill_null(False),
        rank_change=(pl.col("bucket_rank") - pl.col("prev_bucket_rank").fill_null(0)).sign().cast(pl.Int64),
    )
    df = rules.evaluate(df, p.transition_table, rule_column="transition_rule")
    delinquent = pl.col("dpd") > 0
    df = df.with_columns(
        as_of=pl.lit(as_of),
        bucket_since=pl.when(pl.col("prev_bucket") == pl.col("bucket"))
        .then(pl.col("prev_bucket_since"))
        .otherwise(pl.lit(as_of)),
        delinquent_since=pl.when(delinquent)
        .then(
            pl.coalesce(pl.when(pl.col("prev_dpd") > 0).then(pl.col("prev_delinquent_since")), pl.lit(as_of))
        )
        .otherwise(None),
        max_dpd=pl.max_horizontal(pl.col("dpd"), pl.col("prev_max_dpd").fill_null(0)),
        times_cured=pl.col("prev_times_cured").fill_null(0)
        + (pl.col("transition") == "cured").cast(pl.Int64),
        in_collections=delinquent | (pl.col("written_off") & (pl.col("remaining_total") > 0)),
        config_version=pl.lit(p.version()),
    )
    # Row order is not part of the contract (sorting 10 M rows costs more than the rules do).
    return df.select(ACCOUNT_DAILY_COLUMNS).collect()


#: The columns of ``account_daily``, in order.
ACCOUNT_DAILY_COLUMNS = [
    "as_of",
    "loan_id",
    "borrower_id",
    "product_type",
    "product_code",
    "funding_partner",
    "vintage",
    "disbursement_date",
    "principal",
    "status",
    "written_off",
    "outstanding_principal",
    "overdue_principal",
    "overdue_interest",
    "overdue_fee",
    "overdue_penalty",
    "overdue_amount",
    "dpd",
    "missed_installments",
    "next_due_date",
    "bucket",
    "sub_bucket",
    "bucket_rank",
    "bucket_rule",
    "loan_class",
    "loan_class_zh",
    "class_rank",
    "loan_class_rule",
    "prev_bucket",
    "transition",
    "transition_rule",
    "bucket_since",
    "delinquent_since",
    "max_dpd",
    "times_cured",
    "in_collections",
    "config_version",
]
