"""Earlier days of a book reconstructed from its first full snapshot: pure Polars, no I/O.

A lender's first extract holds every loan's schedule with what has been paid so far and the whole
payment history (``payments`` is append-only, with dates). The book as of an earlier day D is that
snapshot with the money received after D taken back out:

- **Paid amounts.** The money a loan received after D (payments dated after D, less reversals dated
  after D) is removed from its schedule in the reverse of the payment waterfall: from the newest
  installment back, and within an installment from the last component the waterfall pays
  (principal, then interest, fee, penalty with the default order). Payments are applied oldest
  installment first (:func:`recoup.money.allocate_payment`), so the newest money sits in the newest
  paid places.
- **Penalties.** A penalty accrues only after an installment falls due: an installment not yet due
  on D carries no penalty. Penalty on an installment already overdue on D is taken as in the snapshot
  (the extract does not date its accrual), so overdue penalty may be overstated on backfilled days.
- **Loans.** Loans disbursed after D are left out; a loan paid off in the snapshot is active on D
  unless its reconstructed schedule is paid then too (the delinquency kernel decides); a write-off
  keeps its snapshot status (the extract does not date it).

What cannot be reconstructed (and is counted, never guessed): the date of a write-off, penalty
accrual dates, payment allocations that did not follow the waterfall, and money missing from the
payment history (a schedule that shows more paid than the history explains keeps the difference as
paid before the history starts). Contact attempts, promises, cases and decisions of those days do
not exist and are not invented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from recoup.money import DEFAULT_ORDER, Component

__all__ = ["BackfillGaps", "gaps", "installments_as_of", "loans_as_of", "paid_after"]


def paid_after(payments: pl.DataFrame | pl.LazyFrame, day: dt.date) -> pl.LazyFrame:
    """Per loan, the net money received after ``day``: payments dated after it, less reversals dated
    after it (a reversal row names the payment it reverses in ``reverses``)."""
    lf = payments.lazy()
    reversal = pl.col("reverses").is_not_null() & (pl.col("reverses") != "")
    signed = pl.when(reversal).then(-pl.col("amount")).otherwise(pl.col("amount"))
    return (
        lf.filter(pl.col("received_date") > pl.lit(day))
        .group_by("loan_id")
        .agg(after=signed.sum().cast(pl.Int64))
    )


def installments_as_of(
    installments: pl.DataFrame | pl.LazyFrame,
    payments: pl.DataFrame | pl.LazyFrame,
    day: dt.date,
    *,
    order: Sequence[Component | str] = DEFAULT_ORDER,
) -> pl.DataFrame:
    """The schedule as it stood at the end of ``day``: paid columns with the money received after
    ``day`` taken back out in the reverse of the waterfall (see the module docstring)."""
    comps = [Component(c).value for c in order]
    rank = {c: i for i, c in enumerate(comps)}
    inst = installments.lazy().with_row_index("_row")
    not_due = pl.col("due_date") >= pl.lit(day)  # no penalty before an installment falls due
    inst = inst.with_columns(
        penalty_due=pl.when(not_due).then(pl.lit(0, pl.Int64)).otherwise(pl.col("penalty_due")),
        penalty_paid=pl.when(not_due).then(pl.lit(0, pl.Int64)).otherwise(pl.col("penalty_paid")),
        _penalty_dropped=pl.when(not_due).then(pl.col("penalty_paid")).otherwise(pl.lit(0, pl.Int64)),
    )
    # One row per (installment, component) in waterfall order; the cumulative paid along a loan says
    # which places the last money filled.
    long = (
        inst.select("_row", "loan_id", "seq", *(f"{c}_paid" for c in comps))
        .unpivot(index=["_row", "loan_id", "seq"], variable_name="_comp", value_name="_paid")
        .with_columns(
            _comp=pl.col("_comp").str.strip_suffix("_paid"),
        )
        .with_columns(_rank=pl.col("_comp").replace_strict(rank, return_dtype=pl.Int64))
        .sort("loan_id", "seq", "_rank")
        .with_columns(_cum=pl.col("_paid").cum_sum().over("loan_id"))
        .with_columns(_total=pl.col("_paid").sum().over("loan_id"))
    )
    after = paid_after(payments, day)
    # Money received after the day, less what a penalty of a not-yet-due installment already explains.
    dropped = inst.group_by("loan_id").agg(_dropped=pl.col("_penalty_dropped").sum())
    kept_total = (pl.col("_total") - (pl.col("after").fill_null(0) - pl.col("_dropped").fill_null(0))).clip(
        lower_bound=0
    )
    long = (
        long.join(after, on="loan_id", how="left")
        .join(dropped, on="loan_id", how="left")
        .with_columns(_keep=kept_total)
        .with_columns(
            _new=(
                pl.min_horizontal(pl.col("_cum"), pl.col("_keep")) - (pl.col("_cum") - pl.col("_paid"))
            ).clip(lower_bound=0)
        )
    )
    wide = long.collect().pivot(on="_comp", index="_row", values="_new")
    out = (
        inst.collect()
        .drop(*(f"{c}_paid" for c in comps), "_penalty_dropped")
        .join(wide.rename({c: f"{c}_paid" for c in comps}), on="_row", how="left")
        .sort("_row")
        .drop("_row")
    )
    return out.select(installments.lazy().collect_schema().names())


def loans_as_of(loans: pl.DataFrame | pl.LazyFrame, day: dt.date) -> pl.DataFrame:
    """The loans that existed at the end of ``day``: disbursed on or before it; a snapshot's
    ``paid_off`` becomes ``active`` (the reconstructed schedule decides whether it was paid then)."""
    return (
        loans.lazy()
        .filter(pl.col("disbursement_date") <= pl.lit(day))
        .with_columns(
            status=pl.when(pl.col("status") == "paid_off").then(pl.lit("active")).otherwise(pl.col("status"))
        )
        .collect()
    )


@dataclass(frozen=True)
class BackfillGaps:
    """What the snapshot cannot tell about earlier days, counted over the book."""

    written_off: int  # loans written off in the snapshot: their write-off date is not in the extract
    unexplained_paid_loans: int  # schedules showing more paid than the payment history explains
    unexplained_paid: int  # minor units of that difference, taken as paid before the history starts
    overdrawn_loans: int  # loans whose history after a day exceeds what their schedule shows paid
    penalty_loans: int  # loans with a penalty posted: its accrual dates are unknown

    def as_dict(self) -> dict[str, int]:
        return {
            "written_off": self.written_off,
            "unexplained_paid_loans": self.unexplained_paid_loans,
            "unexplained_paid": self.unexplained_paid,
            "overdrawn_loans": self.overdrawn_loans,
            "penalty_loans": self.penalty_loans,
        }


def gaps(
    loans: pl.DataFrame | pl.LazyFrame,
    installments: pl.DataFrame | pl.LazyFrame,
    payments: pl.DataFrame | pl.LazyFrame,
    earliest: dt.date,
) -> BackfillGaps:
    """Count what a backfill from ``earliest`` cannot reconstruct exactly (see :class:`BackfillGaps`)."""
    paid_cols = [f"{c.value}_paid" for c in DEFAULT_ORDER]
    sched = (
        installments.lazy()
        .group_by("loan_id")
        .agg(
            paid=pl.sum_horizontal(*paid_cols).sum(),
            penalty=pl.col("penalty_due").sum(),
        )
    )
    history = paid_after(payments, dt.date.min).rename({"after": "history"})
    since = paid_after(payments, earliest).rename({"after": "since"})
    per = (
        sched.join(history, on="loan_id", how="left")
        .join(since, on="loan_id", how="left")
        .with_columns(pl.col("history", "since").fill_null(0))
        .with_columns(extra=(pl.col("paid") - pl.col("history")))
        .collect()
    )
    written = loans.lazy().filter(pl.col("status") == "written_off").select(pl.len()).collect().item()
    extra = per.filter(pl.col("extra") > 0)
    return BackfillGaps(
        written_off=int(written),
        unexplained_paid_loans=extra.height,
        unexplained_paid=int(extra.get_column("extra").sum() or 0),
        overdrawn_loans=per.filter(pl.col("since") > pl.col("paid")).height,
        penalty_loans=per.filter(pl.col("penalty") > 0).height,
    )
