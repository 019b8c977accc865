"""Pure Polars kernels of the legal domain (no I/O, no database).

**Limitation periods** (诉讼时效, :func:`limitation_dates`). A debt's period is 3 years (民法典 §188). For
an instalment loan it runs from the due date of the last instalment (民法典 §189) — the ``start`` the
caller gives per debt (earlier when the loan was accelerated). It is interrupted and runs again in full
(民法典 §195) from:

- a **payment** (partial performance) and an **acknowledgement** (a promise to pay, a plan, a signed
  confirmation: 诉讼时效规定 art. 14 (2008: art. 16) counts 分期履行、部分履行、请求延期履行、制定清偿债务计划
  as 同意履行义务) — *reviving* events: even after the period ran out, a debtor who pays or agrees to pay
  can no longer plead it (民法典 §192(2); 诉讼时效规定 art. 19);
- a **demand** that reached the debtor and a **legal action** (a suit, a payment order, mediation,
  enforcement: 民法典 §195(3)–(4)) — *interrupting* events: they restart a period still running, and do
  nothing for a debt already time-barred.

So an event *qualifies* when it is reviving, or when no break (a gap of more than 3 years since the
previous event) happened since the last reviving event (or the start). The limitation date is 3 years
after the latest qualifying event (the corresponding day; 29 February → 28 February, 民法典 §202); the
debt is time-barred on any day after it. Events after ``as_of`` and before the start are ignored.
Holidays do not move the date (民法典 §203 would move it later: ignoring it flags a debt a day or two early,
the safe side).

**Payments after a cut-off** (:func:`payments_after_cutoff`) lists what arrived for sold loans after the
sale's cut-off date (基准日): the buyer's money. **Recoveries** (:func:`classify_recoveries`) label each
payment ``collections``, ``after_write_off`` (written-off accounts stay collectable, 账销案存, and their
recoveries are reported apart: METRICS.md) or ``buyer``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final

import polars as pl

__all__ = [
    "DEBT_SCHEMA",
    "EVENT_SCHEMA",
    "INTERRUPTING",
    "REVIVING",
    "EventKind",
    "classify_recoveries",
    "limitation_dates",
    "payments_after_cutoff",
]

#: The limitation period in years (民法典 §188).
YEARS: Final = 3


class EventKind(StrEnum):
    START = "start"  # the period starts (the last instalment's due date, or acceleration)
    PAYMENT = "payment"
    ACKNOWLEDGEMENT = "acknowledgement"
    DEMAND = "demand"
    LEGAL_ACTION = "legal_action"


#: Events that restart the period even after it ran out (the start counts as one).
REVIVING: Final = frozenset({EventKind.START, EventKind.PAYMENT, EventKind.ACKNOWLEDGEMENT})
#: Events that restart only a period still running.
INTERRUPTING: Final = frozenset({EventKind.DEMAND, EventKind.LEGAL_ACTION})

DEBT_SCHEMA: Final = {"loan_id": pl.String(), "start": pl.Date()}
EVENT_SCHEMA: Final = {"loan_id": pl.String(), "on": pl.Date(), "kind": pl.String()}
OUT_SCHEMA: Final = {
    "loan_id": pl.String(),
    "start": pl.Date(),
    "last_event_on": pl.Date(),
    "last_event_kind": pl.String(),
    "limitation_date": pl.Date(),
    "time_barred": pl.Boolean(),
    "days_left": pl.Int64(),
}


def _years(e: pl.Expr, years: int) -> pl.Expr:
    return e.dt.offset_by(f"{years}y")


def limitation_dates(
    debts: pl.DataFrame | pl.LazyFrame,
    events: pl.DataFrame | pl.LazyFrame,
    *,
    as_of: dt.date,
    years: int = YEARS,
) -> pl.DataFrame:
    """Per debt of ``debts`` (``loan_id``, ``start``): the latest qualifying event, the limitation date,
    whether it is time-barred on ``as_of`` and the days left (negative once barred). ``events``
    (``loan_id``, ``on``, ``kind`` of :class:`EventKind`) may hold several events a day and events of
    other debts. A debt without a start is left out."""
    d = debts.lazy().select(pl.col("loan_id").cast(pl.String), pl.col("start").cast(pl.Date))
    d = d.filter(pl.col("start").is_not_null()).unique("loan_id", keep="first")
    known = [k.value for k in EventKind if k is not EventKind.START]
    ev = (
        events.lazy()
        .select(pl.col("loan_id").cast(pl.String), pl.col("on").cast(pl.Date), pl.col("kind").cast(pl.String))
        .filter(pl.col("kind").is_in(known) & pl.col("on").is_not_null() & (pl.col("on") <= as_of))
        .join(d, on="loan_id", how="inner")
        .filter(pl.col("on") >= pl.col("start"))
        .select("loan_id", "on", "kind")
    )
    starts = d.select("loan_id", pl.col("start").alias("on"), pl.lit(EventKind.START.value).alias("kind"))
    reviving = pl.col("kind").is_in([k.value for k in REVIVING])
    chain = (
        pl.concat([starts, ev])
        .with_columns(_rank=pl.when(reviving).then(0).otherwise(1))
        .sort("loan_id", "on", "_rank")
        .with_columns(_prev=pl.col("on").shift(1).over("loan_id"), _rev=reviving)
        .with_columns(
            # A gap of more than the period since the previous event: the period ran out in between.
            _break=(pl.col("_prev").is_not_null() & (pl.col("on") > _years(pl.col("_prev"), years)))
            & ~pl.col("_rev"),
            _group=pl.col("_rev").cast(pl.Int64).cum_sum().over("loan_id"),
        )
        .with_columns(_broken=pl.col("_break").cast(pl.Int64).cum_sum().over("loan_id", "_group"))
        .filter(pl.col("_rev") | (pl.col("_broken") == 0))
    )
    last = (
        # The latest qualifying event; on a day with several, a reviving one is named.
        chain.sort("loan_id", "on", "_rank", descending=[False, False, True])
        .group_by("loan_id")
        .agg(last_event_on=pl.col("on").last(), last_event_kind=pl.col("kind").last())
    )
    out = (
        d.join(last, on="loan_id", how="left")
        .with_columns(limitation_date=_years(pl.col("last_event_on"), years))
        .with_columns(
            time_barred=pl.lit(as_of) > pl.col("limitation_date"),
            days_left=(pl.col("limitation_date") - pl.lit(as_of)).dt.total_days().cast(pl.Int64),
        )
        .select(list(OUT_SCHEMA))
        .sort("loan_id")
    )
    return out.collect().cast(OUT_SCHEMA)  # type: ignore[arg-type]


PAYMENT_SCHEMA: Final = {
    "payment_id": pl.String(),
    "loan_id": pl.String(),
    "received_date": pl.Date(),
    "amount": pl.Int64(),
}


def payments_after_cutoff(payments: pl.DataFrame | pl.LazyFrame, sold: pl.DataFrame) -> pl.DataFrame:
    """The payments (``payment_id``, ``loan_id``, ``received_date``, ``amount``; a reversal is a negative
    amount) received after the cut-off of the sale that sold their loan (``sold``: ``loan_id``,
    ``sale_id``, ``cutoff_date``), oldest first: the money to pass to the buyer."""
    s = sold.lazy().select(
        pl.col("loan_id").cast(pl.String),
        pl.col("sale_id").cast(pl.Int64),
        pl.col("cutoff_date").cast(pl.Date),
    )
    p = payments.lazy().select(
        pl.col("payment_id").cast(pl.String),
        pl.col("loan_id").cast(pl.String),
        pl.col("received_date").cast(pl.Date),
        pl.col("amount").cast(pl.Int64),
    )
    return (
        p.join(s, on="loan_id", how="inner")
        .filter(pl.col("received_date") > pl.col("cutoff_date"))
        .unique("payment_id", keep="first")
        .sort("received_date", "loan_id", "payment_id")
        .select("sale_id", "loan_id", "payment_id", "received_date", "amount", "cutoff_date")
        .collect()
    )


class RecoveryKind(StrEnum):
    COLLECTIONS = "collections"  # ordinary collections
    AFTER_WRITE_OFF = "after_write_off"  # 核销后回收
    BUYER = "buyer"  # after a sale's cut-off: the buyer's


def classify_recoveries(
    payments: pl.DataFrame | pl.LazyFrame,
    write_offs: pl.DataFrame,
    sold: pl.DataFrame,
) -> pl.DataFrame:
    """Each payment with ``recovery``: ``buyer`` when received after the cut-off of a sale of its loan,
    else ``after_write_off`` when received after its loan's write-off date (``write_offs``: ``loan_id``,
    ``written_off_on``), else ``collections``; and ``written_off_on`` / ``cutoff_date`` beside it."""
    wo = (
        write_offs.lazy()
        .select(pl.col("loan_id").cast(pl.String), pl.col("written_off_on").cast(pl.Date))
        .group_by("loan_id")
        .agg(pl.col("written_off_on").min())
    )
    sd = (
        sold.lazy()
        .select(pl.col("loan_id").cast(pl.String), pl.col("cutoff_date").cast(pl.Date))
        .group_by("loan_id")
        .agg(pl.col("cutoff_date").min())
    )
    p = payments.lazy().select(
        pl.col("payment_id").cast(pl.String),
        pl.col("loan_id").cast(pl.String),
        pl.col("received_date").cast(pl.Date),
        pl.col("amount").cast(pl.Int64),
    )
    return (
        p.join(wo, on="loan_id", how="left")
        .join(sd, on="loan_id", how="left")
        .with_columns(
            recovery=pl.when(
                pl.col("cutoff_date").is_not_null() & (pl.col("received_date") > pl.col("cutoff_date"))
            )
            .then(pl.lit(RecoveryKind.BUYER.value))
            .when(
                pl.col("written_off_on").is_not_null() & (pl.col("received_date") > pl.col("written_off_on"))
            )
            .then(pl.lit(RecoveryKind.AFTER_WRITE_OFF.value))
            .otherwise(pl.lit(RecoveryKind.COLLECTIONS.value))
        )
        .sort("received_date", "loan_id", "payment_id")
        .collect()
    )
