"""Collections metrics, exactly as defined in ``METRICS.md`` — computed here and nowhere else.

Pure functions, frames in → frames out, vectorised Polars (numpy only for the Markov inverse). Money is
Int64 minor units (fen) throughout and is never turned into a float; only rates and shares are floats.
Inputs are ``account_daily`` snapshots (one row per loan per ``as_of``) and installment frames.

Conventions
-----------
- **Roll-rate population**: loans *open* in the start snapshot — status ``active`` and not written off.
  Loans already written off are excluded (their recoveries are 核销后回收, reported separately); loans
  paid off, sold or cancelled before the start have nothing left to roll.
- **End state**, first match wins: written off at the end (flag or status) or status ``sold`` →
  ``written_off`` (a sale of the debt realises the loss; what the buyer recovers is not ours);
  absent from the end snapshot, or status ``paid_off`` / ``cancelled`` → ``paid_off``; otherwise the
  loan's bucket at the end.
- **Balance** (the start snapshot's): ``"principal"`` = ``outstanding_principal``; ``"total"`` (本息费) =
  ``outstanding_principal + overdue_interest + overdue_fee + overdue_penalty``. ``"count"`` weighs each
  loan 1.
- **Markov projection** (DESIGN.md §5): transient states C … M6; two absorbing states, *paid*
  (``paid_off``) and *loss* (``written_off`` plus M7+: M7+ is taken as charged off, so roll-backs out of
  M7+ are not modelled).
- **Timing of payments** (entry rate, FPD): an installment's recorded payments count as made by a cut-off
  when its ``last_paid_date`` is on or before the cut-off (or null, then the paid amounts are taken as they
  stand). When the last payment came later, nothing is counted as paid by the cut-off: the installment
  table cannot say how much of it was paid earlier. Pass the book as of the cut-off for exact figures.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt
import polars as pl
from openpyxl import Workbook

from recoup import cellsafe
from recoup.errors import RecoupError

__all__ = [
    "BUCKET_ORDER",
    "END_STATES",
    "TRANSIENT_BUCKETS",
    "EntryRate",
    "MetricsError",
    "cure_rate",
    "entry_rate",
    "entry_rate_series",
    "fpd",
    "loss_forecast",
    "markov_projection",
    "roll_rate",
    "roll_rate_matrix",
    "to_csv_xlsx",
    "vintage_curve",
]

#: Delinquency buckets, best to worst (METRICS.md "Buckets and roll rates").
BUCKET_ORDER = ["C", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]
#: Columns of a roll-rate matrix after ``from_bucket``: every bucket, then the two exits.
END_STATES = [*BUCKET_ORDER, "paid_off", "written_off"]
#: Transient states of the Markov projection; M7+ is absorbing (charged off).
TRANSIENT_BUCKETS = BUCKET_ORDER[:-1]
STATUSES = ("active", "paid_off", "written_off", "sold", "cancelled")

_RANK = {b: i for i, b in enumerate(BUCKET_ORDER)}
_NEXT = dict(itertools.pairwise(BUCKET_ORDER))
_PARTS = ("principal", "interest", "fee", "penalty")
_DUE = [f"{p}_due" for p in _PARTS]
_PAID = [f"{p}_paid" for p in _PARTS]
_SINGULAR_RCOND = 1e-12
_ROW_SUM_TOL = 1e-9


class MetricsError(RecoupError):
    """A metric cannot be computed from the frames given (missing columns, bad values, singular chain)."""

    code = "reporting.metrics"
    http_status = 422


class EntryRate(TypedDict):
    """One due date's 入催率, by amount and by count (``rate``/``count_rate`` None when nothing fell due)."""

    due_date: date
    amount_due: int
    amount_unpaid: int
    rate: float | None
    count_due: int
    count_unpaid: int
    count_rate: float | None


# --------------------------------------------------------------------------------------------- checks


def _require(frame: pl.DataFrame, columns: Iterable[str], what: str, *, money: Iterable[str] = ()) -> None:
    """Raise MetricsError unless ``frame`` has ``columns`` and the ``money`` ones are integer minor units."""
    cols = list(columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise MetricsError(f"{what} lacks column(s): {', '.join(missing)}", details={"missing": missing})
    not_int = [c for c in money if not frame.schema[c].is_integer()]
    if not_int:
        raise MetricsError(
            f"{what}: money column(s) {', '.join(not_int)} must be integer minor units, not "
            + ", ".join(str(frame.schema[c]) for c in not_int),
            details={"columns": not_int},
        )
    nulls = [c for c in cols if frame[c].null_count() and c != "last_paid_date"]
    if nulls:
        raise MetricsError(f"{what} has nulls in column(s): {', '.join(nulls)}", details={"columns": nulls})


def _unique_loans(frame: pl.DataFrame, what: str) -> None:
    dup = frame.filter(pl.col("loan_id").is_duplicated())["loan_id"].unique().sort().head(5).to_list()
    if dup:
        raise MetricsError(
            f"{what} has more than one row for loan(s) {', '.join(dup)}", details={"loans": dup}
        )


def _known_buckets(frame: pl.DataFrame, what: str) -> None:
    bad = frame.filter(~pl.col("bucket").is_in(BUCKET_ORDER))["bucket"].unique().sort().to_list()
    if bad:
        raise MetricsError(
            f"{what} has unknown bucket(s) {bad}; expected one of {BUCKET_ORDER}", details={"buckets": bad}
        )


def _rate(num: str, den: str) -> pl.Expr:
    """``num / den`` as Float64, null where the denominator is 0."""
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None).cast(pl.Float64)


# ----------------------------------------------------------------------------------------- roll rates


def _weight(weight: str, balance: str) -> tuple[pl.Expr, list[str]]:
    if weight == "count":
        return pl.lit(1, dtype=pl.Int64), []
    if weight != "balance":
        raise MetricsError(f"weight must be 'balance' or 'count', not {weight!r}")
    if balance == "principal":
        return pl.col("outstanding_principal"), ["outstanding_principal"]
    if balance == "total":
        cols = ["outstanding_principal", "overdue_interest", "overdue_fee", "overdue_penalty"]
        return pl.sum_horizontal(cols), cols
    raise MetricsError(f"balance must be 'principal' or 'total', not {balance!r}")


def roll_rate_matrix(
    start: pl.DataFrame,
    end: pl.DataFrame,
    *,
    weight: Literal["balance", "count"] = "balance",
    balance: Literal["principal", "total"] = "principal",
) -> pl.DataFrame:
    """Full transition matrix behind METRICS.md 迁徙率, tracked account by account (join on loan_id).

    ``start``/``end`` are account_daily snapshots at the ends of months t−1 and t. One row per bucket
    present among the open loans at start (BUCKET_ORDER order): ``from_bucket``, the share of its weight
    in each of :data:`END_STATES` at the end (Float64, rows sum to 1; null where ``base`` is 0), and
    ``base`` (Int64: the bucket's balance at start, or its number of loans). See the module docstring
    for the population, the end-state rules and the balance definitions.
    """
    w, money = _weight(weight, balance)
    _require(start, ["loan_id", "bucket", "status", "written_off", *money], "start snapshot", money=money)
    _require(end, ["loan_id", "bucket", "status", "written_off"], "end snapshot")
    for frame, what in ((start, "start snapshot"), (end, "end snapshot")):
        _unique_loans(frame, what)
        _known_buckets(frame, what)
        bad = frame.filter(~pl.col("status").is_in(STATUSES))["status"].unique().sort().to_list()
        if bad:
            raise MetricsError(f"{what} has unknown status(es) {bad}; expected one of {list(STATUSES)}")

    opened = start.filter((pl.col("status") == "active") & ~pl.col("written_off")).select(
        "loan_id", from_bucket=pl.col("bucket"), w=w
    )
    ends = end.select(
        "loan_id", end_bucket=pl.col("bucket"), end_status=pl.col("status"), end_wo=pl.col("written_off")
    )
    to_state = (
        pl.when(pl.col("end_wo") | pl.col("end_status").is_in(["written_off", "sold"]))
        .then(pl.lit("written_off"))
        .when(pl.col("end_status").is_null() | pl.col("end_status").is_in(["paid_off", "cancelled"]))
        .then(pl.lit("paid_off"))
        .otherwise(pl.col("end_bucket"))
    )
    moves = opened.join(ends, on="loan_id", how="left").with_columns(to=to_state)
    sums = moves.group_by("from_bucket").agg(
        pl.col("w").sum().cast(pl.Int64).alias("base"),
        *(pl.col("w").filter(pl.col("to") == s).sum().cast(pl.Int64).alias(s) for s in END_STATES),
    )
    return (
        sums.with_columns(_rate(s, "base").alias(s) for s in END_STATES)
        .sort(pl.col("from_bucket").replace_strict(_RANK, return_dtype=pl.Int64))
        .select("from_bucket", *END_STATES, "base")
    )


def _classic(matrix: pl.DataFrame) -> pl.DataFrame:
    """The n → n+1 cells of a roll-rate matrix: from_bucket, to_bucket, rate, base."""
    return (
        matrix.filter(pl.col("from_bucket").is_in(list(_NEXT)))
        .unpivot(on=BUCKET_ORDER, index=["from_bucket", "base"], variable_name="to_bucket", value_name="rate")
        .filter(pl.col("to_bucket") == pl.col("from_bucket").replace_strict(_NEXT, return_dtype=pl.String))
        .sort(pl.col("from_bucket").replace_strict(_RANK, return_dtype=pl.Int64))
        .select("from_bucket", "to_bucket", "rate", "base")
    )


def roll_rate(
    start: pl.DataFrame,
    end: pl.DataFrame,
    *,
    weight: Literal["balance", "count"] = "balance",
    balance: Literal["principal", "total"] = "principal",
) -> pl.DataFrame:
    """METRICS.md 迁徙率: share of bucket n's weight at the end of t−1 that is in bucket n+1 at the end of t.

    One row per bucket C … M6 present at start: ``from_bucket, to_bucket, rate, base`` (the n → n+1
    cells of :func:`roll_rate_matrix`, same population and weights).
    """
    return _classic(roll_rate_matrix(start, end, weight=weight, balance=balance))


def loss_forecast(roll: pl.DataFrame) -> float:
    """METRICS.md loss forecast: the product of the roll rates C→M1 × M1→M2 × … × M6→M7+.

    ``roll`` is a :func:`roll_rate` frame; every one of the seven rates must be present and defined.
    """
    _require(roll, ["from_bucket", "rate"], "roll-rate series")
    rates = dict(zip(roll["from_bucket"].to_list(), roll["rate"].to_list(), strict=True))
    missing = [b for b in _NEXT if rates.get(b) is None]
    if missing:
        raise MetricsError(
            f"loss forecast needs every roll rate C→M1 … M6→M7+; none for {', '.join(missing)}",
            details={"missing": missing},
        )
    return math.prod(float(rates[b]) for b in _NEXT)


def markov_projection(matrix: pl.DataFrame) -> pl.DataFrame:
    """DESIGN.md §5 absorbing chain: each bucket's eventual paid-versus-loss split (METRICS.md 迁徙率).

    ``matrix`` is a :func:`roll_rate_matrix`, balance- or count-weighted (the projection is in that
    weight: shares of balance, or of accounts). Transient states C … M6; absorbing *paid* =
    ``paid_off`` and *loss* = ``written_off`` + ``M7+`` (M7+ taken as charged off). With Q the
    transient→transient block and R the transient→absorbing block, N = (I − Q)⁻¹ and B = N·R. Returns one
    row per transient bucket: ``bucket, eventual_paid, eventual_loss`` (summing to 1; null for buckets with
    no observed rates). Raises MetricsError when I − Q is singular (some buckets never reach paid or loss)
    or when weight flows into a bucket that has no observed rates of its own.
    """
    _require(matrix, ["from_bucket", *END_STATES], "roll-rate matrix")
    rows = matrix.filter(
        pl.col("from_bucket").is_in(TRANSIENT_BUCKETS) & pl.all_horizontal(pl.col(END_STATES).is_not_null())
    ).sort(pl.col("from_bucket").replace_strict(_RANK, return_dtype=pl.Int64))
    states: list[str] = rows["from_bucket"].to_list()
    if len(set(states)) != len(states):
        raise MetricsError("roll-rate matrix has more than one row for a bucket")
    cells: npt.NDArray[np.float64] = rows.select(END_STATES).to_numpy().astype(np.float64)
    col = {s: i for i, s in enumerate(END_STATES)}
    if np.any(np.abs(cells.sum(axis=1) - 1.0) > _ROW_SUM_TOL):
        raise MetricsError("roll-rate matrix rows must sum to 1 (shares of each bucket's base)")
    orphan = [b for b in TRANSIENT_BUCKETS if b not in states and np.any(cells[:, col[b]] > 0)]
    if orphan:
        raise MetricsError(
            f"weight rolls into {', '.join(orphan)}, which has no observed roll rates of its own; "
            "cannot project eventual loss",
            details={"buckets": orphan},
        )

    result: dict[str, tuple[float, float]] = {}
    if states:
        q = cells[:, [col[s] for s in states]]
        r = np.column_stack([cells[:, col["paid_off"]], cells[:, col["written_off"]] + cells[:, col["M7+"]]])
        a = np.eye(len(states)) - q
        sv = np.linalg.svd(a, compute_uv=False)
        if sv[-1] <= _SINGULAR_RCOND * max(sv[0], 1.0):
            raise MetricsError(
                "I − Q is singular: some buckets never reach paid or loss in this matrix (e.g. every "
                "balance stayed where it was); use a longer or busier window",
                details={"buckets": states},
            )
        try:
            n = np.linalg.inv(a)
        except np.linalg.LinAlgError as exc:  # pragma: no cover - caught by the SVD test above
            raise MetricsError("I − Q is singular; cannot project eventual loss") from exc
        b = n @ r
        result = {s: (float(b[i, 0]), float(b[i, 1])) for i, s in enumerate(states)}
    return pl.DataFrame(
        {
            "bucket": TRANSIENT_BUCKETS,
            "eventual_paid": [result[s][0] if s in result else None for s in TRANSIENT_BUCKETS],
            "eventual_loss": [result[s][1] if s in result else None for s in TRANSIENT_BUCKETS],
        },
        schema={"bucket": pl.String, "eventual_paid": pl.Float64, "eventual_loss": pl.Float64},
    )


# ------------------------------------------------------------------------------- entering collections


def _judge(installments: pl.DataFrame, days_after_due: int, tolerance: int) -> pl.DataFrame:
    """Per installment: ``amount_due``, ``unpaid`` at due + days, ``is_unpaid`` (unpaid > tolerance)."""
    if days_after_due < 0 or tolerance < 0:
        raise MetricsError("grace/days and tolerance must not be negative")
    _require(
        installments,
        ["loan_id", "due_date", "last_paid_date", *_DUE, *_PAID],
        "installments",
        money=[*_DUE, *_PAID],
    )
    cutoff = pl.col("due_date").dt.offset_by(f"{days_after_due}d")
    in_time = pl.col("last_paid_date").is_null() | (pl.col("last_paid_date") <= cutoff)
    paid_by = pl.when(in_time).then(pl.sum_horizontal(_PAID)).otherwise(pl.lit(0, dtype=pl.Int64))
    return (
        installments.with_columns(amount_due=pl.sum_horizontal(_DUE))
        .with_columns(unpaid=pl.col("amount_due") - paid_by)
        .with_columns(is_unpaid=pl.col("unpaid") > tolerance)
    )


def entry_rate_series(
    installments: pl.DataFrame, *, start: date, end: date, grace_days: int = 0, tolerance: int = 100
) -> pl.DataFrame:
    """METRICS.md 入催率 for every due date d in [start, end] on which something fell due.

    Amount due on d = Σ of the four components due (principal, interest, fee, penalty); unpaid = due − paid
    per installment as of d + grace (see the module docstring on payment timing), counted only where it
    exceeds ``tolerance`` minor units. Columns: due_date, amount_due, amount_unpaid, rate, count_due,
    count_unpaid, count_rate (counts are installments; rates null when nothing is due).
    """
    if start > end:
        raise MetricsError(f"start {start} is after end {end}")
    judged = _judge(installments, grace_days, tolerance).filter(
        pl.col("due_date").is_between(pl.lit(start), pl.lit(end))
    )
    return (
        judged.group_by("due_date")
        .agg(
            amount_due=pl.col("amount_due").sum().cast(pl.Int64),
            amount_unpaid=pl.col("unpaid").filter(pl.col("is_unpaid")).sum().cast(pl.Int64),
            count_due=pl.len().cast(pl.Int64),
            count_unpaid=pl.col("is_unpaid").sum().cast(pl.Int64),
        )
        .with_columns(
            rate=_rate("amount_unpaid", "amount_due"), count_rate=_rate("count_unpaid", "count_due")
        )
        .sort("due_date")
        .select("due_date", "amount_due", "amount_unpaid", "rate", "count_due", "count_unpaid", "count_rate")
    )


def entry_rate(
    installments: pl.DataFrame, *, due_date: date, grace_days: int = 0, tolerance: int = 100
) -> EntryRate:
    """METRICS.md 入催率 for due date d = amount due on d still unpaid at the end of d + grace ÷ amount due.

    ``installments`` is the book as of d + grace (a later book works too; see the module docstring).
    """
    series = entry_rate_series(
        installments, start=due_date, end=due_date, grace_days=grace_days, tolerance=tolerance
    )
    if series.is_empty():
        return EntryRate(
            due_date=due_date,
            amount_due=0,
            amount_unpaid=0,
            rate=None,
            count_due=0,
            count_unpaid=0,
            count_rate=None,
        )
    row = series.row(0, named=True)
    return EntryRate(
        due_date=due_date,
        amount_due=int(row["amount_due"]),
        amount_unpaid=int(row["amount_unpaid"]),
        rate=row["rate"],
        count_due=int(row["count_due"]),
        count_unpaid=int(row["count_unpaid"]),
        count_rate=row["count_rate"],
    )


def fpd(
    loans: pl.DataFrame, installments: pl.DataFrame, *, as_of: date, days: int, tolerance: int = 100
) -> pl.DataFrame:
    """METRICS.md 首逾率 FPD``days`` by vintage (disbursement month).

    Observed loans: the first installment (seq 1) fell due at least ``days`` + 1 days before ``as_of``.
    FPD loans: of those, the first installment is still unpaid beyond ``tolerance`` minor units at due + days,
    judged from ``last_paid_date`` (paid in full on or before due + days → not FPD; unpaid or paid later →
    FPD). Every vintage in ``loans`` appears: vintage, loans_observed, fpd_loans, fpd_rate (null if none
    observed).
    """
    if days < 0:
        raise MetricsError("days must not be negative")
    _require(loans, ["loan_id", "vintage"], "loans")
    _unique_loans(loans, "loans")
    _require(installments, ["loan_id", "seq"], "installments")
    first = installments.filter(pl.col("seq") == 1)
    _unique_loans(first, "installments (seq 1)")
    observed = _judge(first, days, tolerance).filter(
        pl.col("due_date") <= pl.lit(as_of - timedelta(days=days + 1))
    )
    return (
        loans.select("loan_id", "vintage")
        .join(
            observed.select("loan_id", observed=pl.lit(True), fpd=pl.col("is_unpaid")),
            on="loan_id",
            how="left",
        )
        .group_by("vintage")
        .agg(
            loans_observed=pl.col("observed").fill_null(False).sum().cast(pl.Int64),
            fpd_loans=pl.col("fpd").fill_null(False).sum().cast(pl.Int64),
        )
        .with_columns(fpd_rate=_rate("fpd_loans", "loans_observed"))
        .sort("vintage")
    )


# -------------------------------------------------------------------------------------------- vintage


def vintage_curve(daily: pl.DataFrame, *, min_bucket: Literal["M1", "M3"] = "M1") -> pl.DataFrame:
    """METRICS.md vintage M1+ / M3+ ratio at month-on-book k.

    = outstanding principal of the vintage's loans in bucket ≥ ``min_bucket`` at MOB k ÷ principal
    disbursed in the vintage (Σ ``principal`` over its distinct loans in ``daily``). MOB k = whole months
    from the disbursement month (``vintage``, "YYYY-MM") to the as-of month; each calendar month is read
    at the last ``as_of`` of that month in ``daily``. Written-off loans keep their bucket and count.
    Columns: vintage, mob, ratio, balance, disbursed.
    """
    if min_bucket not in ("M1", "M3"):
        raise MetricsError(f"min_bucket must be 'M1' or 'M3', not {min_bucket!r}")
    cols = ["as_of", "loan_id", "vintage", "principal", "outstanding_principal", "bucket"]
    _require(daily, cols, "account_daily", money=["principal", "outstanding_principal"])
    _known_buckets(daily, "account_daily")
    start = (pl.col("vintage") + "-01").str.to_date("%Y-%m-%d", strict=False)
    bad = daily.filter(start.is_null())["vintage"].unique().sort().head(5).to_list()
    if bad:
        raise MetricsError(f"vintage must be 'YYYY-MM', got {bad}", details={"vintages": bad})

    per_loan = daily.select("loan_id", "vintage", "principal").unique()
    _unique_loans(per_loan, "account_daily (vintage and principal must not change)")
    disbursed = per_loan.group_by("vintage").agg(disbursed=pl.col("principal").sum().cast(pl.Int64))

    month = pl.col("as_of").dt.truncate("1mo")
    ends = daily.group_by(month.alias("month")).agg(pl.col("as_of").max())
    months = pl.col("as_of").dt.year().cast(pl.Int64) * 12 + pl.col("as_of").dt.month().cast(pl.Int64)
    v_months = start.dt.year().cast(pl.Int64) * 12 + start.dt.month().cast(pl.Int64)
    late = pl.col("bucket").replace_strict(_RANK, return_dtype=pl.Int64) >= _RANK[min_bucket]
    return (
        daily.join(ends.select("as_of"), on="as_of", how="semi")
        .with_columns(mob=months - v_months)
        .filter(pl.col("mob") >= 0)
        .group_by("vintage", "mob")
        .agg(balance=pl.col("outstanding_principal").filter(late).sum().cast(pl.Int64))
        .join(disbursed, on="vintage", how="left")
        .with_columns(ratio=_rate("balance", "disbursed"))
        .sort("vintage", "mob")
        .select("vintage", "mob", "ratio", "balance", "disbursed")
    )


# ------------------------------------------------------------------------------------------- recovery


def cure_rate(allocated: pl.DataFrame, daily: pl.DataFrame, *, days: int = 30) -> pl.DataFrame:
    """METRICS.md M1 出催率 = entry balance of allocated accounts fully cured by day ``days`` ÷ entry balance.

    Cured: some account_daily row with allocated_on ≤ as_of ≤ allocated_on + days has dpd == 0 or status
    ``paid_off``. Each row of ``allocated`` (loan_id, allocated_on, entry_balance) is one allocation.
    Returns one row: loans, cured_loans, balance, cured_balance, rate (null when the balance is 0).
    """
    if days < 0:
        raise MetricsError("days must not be negative")
    _require(allocated, ["loan_id", "allocated_on", "entry_balance"], "allocations", money=["entry_balance"])
    _require(daily, ["loan_id", "as_of", "dpd", "status"], "account_daily")
    alloc = allocated.with_row_index("_alloc")
    cured = (
        alloc.select("_alloc", "loan_id", "allocated_on")
        .join(daily.select("loan_id", "as_of", "dpd", "status"), on="loan_id", how="inner")
        .filter(
            pl.col("as_of").is_between(
                pl.col("allocated_on"), pl.col("allocated_on").dt.offset_by(f"{days}d")
            ),
            (pl.col("dpd") == 0) | (pl.col("status") == "paid_off"),
        )
        .select("_alloc")
        .unique()
        .with_columns(cured=pl.lit(True))
    )
    flag = pl.col("cured").fill_null(False)
    return (
        alloc.join(cured, on="_alloc", how="left")
        .select(
            loans=pl.len().cast(pl.Int64),
            cured_loans=flag.sum().cast(pl.Int64),
            balance=pl.col("entry_balance").sum().cast(pl.Int64),
            cured_balance=pl.col("entry_balance").filter(flag).sum().cast(pl.Int64),
        )
        .with_columns(rate=_rate("cured_balance", "balance"))
    )


# --------------------------------------------------------------------------------------------- export


def to_csv_xlsx(frame: pl.DataFrame, path_stem: Path) -> tuple[Path, Path]:
    """Write a report as ``<stem>.csv`` (UTF-8 with BOM, so Excel reads Chinese) and ``<stem>.xlsx``.

    The XLSX is written with openpyxl (one sheet "report", header row then values; null → empty cell).
    """
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    if nested:
        raise MetricsError(f"cannot export nested column(s) {', '.join(nested)}")
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path = path_stem.with_name(path_stem.name + ".csv")
    xlsx_path = path_stem.with_name(path_stem.name + ".xlsx")
    frame = cellsafe.frame(frame)  # no cell may start a formula
    frame.write_csv(csv_path, include_bom=True)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title="report")
    sheet.append([cellsafe.cell(c) for c in frame.columns])
    for row in frame.iter_rows():
        sheet.append(list(row))
    book.save(xlsx_path)
    return csv_path, xlsx_path
