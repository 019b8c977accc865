"""Promise to pay (承诺还款) judgement: a pure, vectorised kernel over many cases at once.

The rules (docs/promises.md):

- a promise made by a third party is ``not_counted``;
- a debtor's promise made while an earlier debtor promise is still pending (its ``due_date`` is on or
  after the new promise's ``made_on``) makes the earlier one ``rescheduled``; only the latest is active.
  Third-party promises neither reschedule nor get rescheduled;
- a payment counts toward an active promise when ``made_on <= received_date <= due_date`` and
  ``seen_in_extract <= as_of``, whoever paid it;
- ``pending`` while ``as_of <= due_date``; afterwards, with S the counted sum, ``kept`` (S >= amount),
  ``partially_kept`` (0 < S < amount) or ``broken`` (S = 0, 跳票). ``kept_amount = min(S, amount)``
  (0 for ``not_counted`` and ``rescheduled``).

The windows of active promises never overlap: a later debtor promise made on or before an earlier one's
due date reschedules it, so every active window starts after the previous one ends, and a payment counts
toward at most one promise.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import polars as pl

from recoup.errors import RecoupError

__all__ = [
    "PAYMENT_SCHEMA",
    "PROMISE_SCHEMA",
    "By",
    "PromiseInputError",
    "Status",
    "judge_promises",
]


class PromiseInputError(RecoupError):
    """A promise scenario or frame is invalid; ``details`` names the field and the value."""

    code = "promise.bad_input"
    http_status = 422
    exit_code = 65  # EX_DATAERR


class By(StrEnum):
    """Who made a promise, or who paid."""

    DEBTOR = "debtor"
    THIRD_PARTY = "third_party"


class Status(StrEnum):
    PENDING = "pending"  # 待履约
    KEPT = "kept"  # 已履约
    PARTIALLY_KEPT = "partially_kept"  # 部分履约
    BROKEN = "broken"  # 跳票
    RESCHEDULED = "rescheduled"  # 已改期
    NOT_COUNTED = "not_counted"  # 不计入


#: The kernel's promise columns (``case_id`` may be any type equal to the payments' ``case_id``).
PROMISE_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.Int64(),
    "id": pl.String(),
    "seq": pl.Int64(),
    "by": pl.String(),
    "made_on": pl.Date(),
    "amount": pl.Int64(),
    "due_date": pl.Date(),
}
#: The kernel's payment columns (``payer`` is informational: a payment counts whoever paid it).
PAYMENT_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.Int64(),
    "id": pl.String(),
    "received_date": pl.Date(),
    "amount": pl.Int64(),
    "seen_in_extract": pl.Date(),
    "payer": pl.String(),
}

_FAR = dt.date(9999, 12, 31)  # stands in for "no later debtor promise"
_PROMISE_COLS = ("case_id", "id", "seq", "by", "made_on", "amount", "due_date")
_PAYMENT_COLS = ("case_id", "received_date", "amount", "seen_in_extract")


def _require(frame: pl.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise PromiseInputError(
            f"{what} frame lacks column(s) {', '.join(missing)}", details={"missing": missing, "frame": what}
        )


def judge_promises(promises: pl.DataFrame, payments: pl.DataFrame, *, as_of: dt.date) -> pl.DataFrame:
    """Judge every promise of every case as of ``as_of``.

    ``promises``: case_id, id, seq (order made within the case), by (``debtor``/``third_party``), made_on
    (Date of ``made_at`` in its own offset), amount (Int64 minor units), due_date (Date).
    ``payments``: case_id, received_date, amount (Int64 minor units), seen_in_extract.
    Returns case_id, id, status (String), kept_amount (Int64) in the promises' row order.
    """
    _require(promises, _PROMISE_COLS, "promises")
    _require(payments, _PAYMENT_COLS, "payments")
    bad_by = promises.filter(~pl.col("by").is_in([b.value for b in By]) | pl.col("by").is_null())
    if bad_by.height:
        value = bad_by.item(0, "by")
        raise PromiseInputError(
            f"promise {bad_by.item(0, 'id')!r}: by {value!r} is not one of debtor, third_party",
            details={"field": "by", "value": value},
        )

    debtor = pl.col("by") == By.DEBTOR.value
    p = (
        promises.lazy()
        .select(
            pl.col("case_id"),
            pl.col("id"),
            pl.col("seq"),
            pl.col("by"),
            pl.col("made_on").cast(pl.Date),
            pl.col("amount").cast(pl.Int64),
            pl.col("due_date").cast(pl.Date),
        )
        .with_row_index("_row")
        .sort(["case_id", "seq"], maintain_order=True)
        # Earliest made_on among the later debtor promises of the same case (_FAR when there is none).
        .with_columns(
            pl.when(debtor)
            .then(pl.col("made_on"))
            .otherwise(pl.lit(_FAR))
            .shift(-1, fill_value=pl.lit(_FAR))
            .cum_min(reverse=True)
            .over("case_id")
            .alias("_later_made")
        )
        .with_columns((debtor & (pl.col("_later_made") <= pl.col("due_date"))).alias("_rescheduled"))
    )

    active = p.filter(debtor & ~pl.col("_rescheduled")).select("_row", "case_id", "made_on", "due_date")
    seen = (
        payments.lazy()
        .select(
            pl.col("case_id"),
            pl.col("received_date").cast(pl.Date),
            pl.col("amount").cast(pl.Int64).alias("_paid"),
            pl.col("seen_in_extract").cast(pl.Date),
        )
        .filter(pl.col("seen_in_extract") <= as_of)
    )
    paid = (
        active.join(seen, on="case_id", how="inner")
        .filter(pl.col("made_on") <= pl.col("received_date"), pl.col("received_date") <= pl.col("due_date"))
        .group_by("_row")
        .agg(pl.col("_paid").sum())
    )

    s = pl.col("_paid")
    counted = debtor & ~pl.col("_rescheduled")
    status = (
        pl.when(~debtor)
        .then(pl.lit(Status.NOT_COUNTED.value))
        .when(pl.col("_rescheduled"))
        .then(pl.lit(Status.RESCHEDULED.value))
        .when(pl.lit(as_of) <= pl.col("due_date"))
        .then(pl.lit(Status.PENDING.value))
        .when(s >= pl.col("amount"))
        .then(pl.lit(Status.KEPT.value))
        .when(s > 0)
        .then(pl.lit(Status.PARTIALLY_KEPT.value))
        .otherwise(pl.lit(Status.BROKEN.value))
    )
    kept = pl.when(counted).then(pl.min_horizontal(s, pl.col("amount"))).otherwise(pl.lit(0, pl.Int64))
    return (
        p.join(paid, on="_row", how="left")
        .with_columns(s.fill_null(0).cast(pl.Int64))
        .select(
            "_row",
            "case_id",
            "id",
            status.alias("status"),
            kept.cast(pl.Int64).alias("kept_amount"),
        )
        .sort("_row")
        .drop("_row")
        .collect()
    )
