"""Pure computations of plans, waivers and settlements: what is owed per component, how a waiver is split
across components, and judging resolutions against payments (vectorised, many at once).

The judging rules (docs/resolutions.md), for each ``active`` resolution with instalments k = 1…n (a waiver
or settlement has one: the agreed sum by its deadline):

- a payment counts when ``starts_on <= received_date`` and ``seen_in_extract <= as_of``, whoever paid it;
  a reversal is a negative payment on the reversed payment's received date;
- instalment k's window ends at ``end_k = due_k + grace_days``; ``paid_by_k`` = the counted payments
  received on or before ``end_k``; instalment k is **covered** when ``paid_by_k`` reaches the cumulative
  amount due through k (paying ahead covers later instalments);
- instalment k is **missed** when it is not covered and ``as_of > end_k + lag_days`` (a payment received
  in time may be reported by a later extract: the verdict waits ``lag_days``);
- the resolution is ``missed`` (a plan: broken; a waiver or settlement: lapsed — 先还后减, nothing is
  waived) from its first missed instalment, ``honoured`` when every instalment is covered (the waiver takes
  effect), else still ``active``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import polars as pl

from recoup.errors import RecoupError
from recoup.resolutions.matrix import COMPONENTS

__all__ = [
    "INSTALMENT_SCHEMA",
    "PAYMENT_SCHEMA",
    "Owed",
    "ResolutionInputError",
    "judge",
    "owed",
    "split_waiver",
]


class ResolutionInputError(RecoupError):
    """A frame given to the kernel lacks a column or holds an impossible value."""

    code = "resolution.bad_input"
    http_status = 422
    exit_code = 65


@dataclass(frozen=True)
class InstalmentDue:
    """What is still owed on one instalment of a loan, per component (minor units)."""

    due_date: dt.date
    penalty: int
    fee: int
    interest: int
    principal: int


@dataclass(frozen=True)
class Owed:
    """What a case owes per component on a base (``overdue``: instalments due before the as-of date;
    ``whole``: that plus all principal not yet due — future interest and fees are not owed yet)."""

    penalty: int
    fee: int
    interest: int
    principal: int

    def as_dict(self) -> dict[str, int]:
        return {
            "penalty": self.penalty,
            "fee": self.fee,
            "interest": self.interest,
            "principal": self.principal,
        }

    @property
    def total(self) -> int:
        return self.penalty + self.fee + self.interest + self.principal


def owed(instalments: Iterable[InstalmentDue], *, as_of: dt.date, base: str) -> Owed:
    """The balance of ``instalments`` (unpaid parts, never negative) on ``base`` as of ``as_of``."""
    parts = dict.fromkeys(COMPONENTS, 0)
    for i in instalments:
        if i.due_date < as_of:
            for c in COMPONENTS:
                parts[c] += max(int(getattr(i, c)), 0)
        elif base == "whole":
            parts["principal"] += max(i.principal, 0)
    return Owed(**parts)


def split_waiver(owed_parts: Mapping[str, int], amount: int) -> dict[str, int]:
    """Waive ``amount`` of ``owed_parts`` in the order penalty → fee → interest → principal.

    >>> split_waiver({"penalty": 300, "fee": 100, "interest": 1000, "principal": 10000}, 900)
    {'penalty': 300, 'fee': 100, 'interest': 500, 'principal': 0}
    """
    total = sum(max(owed_parts.get(c, 0), 0) for c in COMPONENTS)
    if amount < 0 or amount > total:
        raise ResolutionInputError(
            f"a waiver of {amount} does not fit the balance of {total} / 减免金额超出欠款",
            details={"amount": amount, "owed": total},
        )
    left = amount
    out: dict[str, int] = {}
    for c in COMPONENTS:
        take = min(left, max(owed_parts.get(c, 0), 0))
        out[c] = take
        left -= take
    return out


#: The kernel's instalment columns: one row per instalment of each resolution being judged.
INSTALMENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "resolution_id": pl.Int64(),
    "case_id": pl.Int64(),
    "starts_on": pl.Date(),
    "grace_days": pl.Int64(),
    "lag_days": pl.Int64(),
    "seq": pl.Int64(),
    "due_date": pl.Date(),
    "amount": pl.Int64(),
}
#: The kernel's payment columns (the borrower's payments on the case's loans).
PAYMENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "case_id": pl.Int64(),
    "received_date": pl.Date(),
    "amount": pl.Int64(),
    "seen_in_extract": pl.Date(),
}


def _require(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], what: str) -> pl.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ResolutionInputError(
            f"{what} frame lacks column(s) {', '.join(missing)}", details={"missing": missing, "frame": what}
        )
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def judge(
    instalments: pl.DataFrame, payments: pl.DataFrame, *, as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Judge every resolution of ``instalments`` as of ``as_of`` (see the module docstring).

    Returns (per resolution: resolution_id, verdict ``active``/``honoured``/``missed``, paid (counted, at
    most the total due), missed_seq, ended_on — the day the last needed payment was received, or the day
    after the first missed instalment's window), and (per instalment: resolution_id, seq, paid, status
    ``paid``/``missed``/``pending``), both sorted by resolution and sequence.
    """
    inst = _require(instalments, INSTALMENT_SCHEMA, "instalments")
    pay = _require(payments, PAYMENT_SCHEMA, "payments").filter(pl.col("seen_in_extract") <= as_of)
    inst = inst.sort("resolution_id", "seq").with_columns(
        end=pl.col("due_date") + pl.duration(days=pl.col("grace_days")),
        cum_due=pl.col("amount").cum_sum().over("resolution_id"),
    )
    last_end = inst.group_by("resolution_id").agg(
        last_end=pl.col("end").max(), total_due=pl.col("amount").sum(), starts_on=pl.col("starts_on").first()
    )
    heads = inst.select("resolution_id", "case_id").unique()
    counted = (
        heads.join(last_end, on="resolution_id")
        .join(pay, on="case_id", how="inner")
        .filter(pl.col("received_date") >= pl.col("starts_on"), pl.col("received_date") <= pl.col("last_end"))
        .select("resolution_id", "received_date", "amount")
    )
    by_window = (
        inst.select("resolution_id", "seq", "end")
        .join(counted, on="resolution_id", how="inner")
        .filter(pl.col("received_date") <= pl.col("end"))
        .group_by("resolution_id", "seq")
        .agg(paid_by=pl.col("amount").sum())
    )
    paid_now = counted.group_by("resolution_id").agg(paid_all=pl.col("amount").sum())
    judged = (
        inst.join(by_window, on=["resolution_id", "seq"], how="left")
        .join(paid_now, on="resolution_id", how="left")
        .with_columns(pl.col("paid_by").fill_null(0), pl.col("paid_all").fill_null(0))
        .with_columns(
            covered=pl.col("paid_by") >= pl.col("cum_due"),
            due_passed=pl.lit(as_of) > pl.col("end") + pl.duration(days=pl.col("lag_days")),
            paid=(pl.col("paid_all") - (pl.col("cum_due") - pl.col("amount"))).clip(0, None),
        )
        .with_columns(
            missed=~pl.col("covered") & pl.col("due_passed"),
            paid=pl.min_horizontal("paid", "amount"),
        )
        .with_columns(
            status=pl.when(pl.col("covered"))
            .then(pl.lit("paid"))
            .when(pl.col("missed"))
            .then(pl.lit("missed"))
            .otherwise(pl.lit("pending"))
        )
    )
    # The day the cumulative counted payments first reached the total due (for an honoured one).
    reached = (
        counted.join(last_end.select("resolution_id", "total_due"), on="resolution_id")
        .group_by("resolution_id", "received_date")
        .agg(pl.col("amount").sum(), pl.col("total_due").first())
        .sort("resolution_id", "received_date")
        .with_columns(cum=pl.col("amount").cum_sum().over("resolution_id"))
        .filter(pl.col("cum") >= pl.col("total_due"))
        .group_by("resolution_id")
        .agg(reached_on=pl.col("received_date").min())
    )
    verdicts = (
        judged.group_by("resolution_id")
        .agg(
            all_covered=pl.col("covered").all(),
            missed_seq=pl.col("seq").filter(pl.col("missed")).min(),
            missed_end=pl.col("end").filter(pl.col("missed")).min(),
            paid=pl.col("paid_all").first(),
            total_due=pl.col("amount").sum(),
        )
        .join(reached, on="resolution_id", how="left")
        .with_columns(
            verdict=pl.when(pl.col("missed_seq").is_not_null())
            .then(pl.lit("missed"))
            .when(pl.col("all_covered"))
            .then(pl.lit("honoured"))
            .otherwise(pl.lit("active")),
            paid=pl.min_horizontal("paid", "total_due").clip(0, None),
        )
        .with_columns(
            ended_on=pl.when(pl.col("verdict") == "missed")
            .then(pl.col("missed_end") + pl.duration(days=1))
            .when(pl.col("verdict") == "honoured")
            .then(pl.col("reached_on"))
            .otherwise(pl.lit(None, pl.Date))
        )
        .select("resolution_id", "verdict", "paid", "missed_seq", "ended_on")
        .sort("resolution_id")
    )
    per_instalment = judged.select("resolution_id", "seq", "paid", "status").sort("resolution_id", "seq")
    return verdicts, per_instalment
