"""Training tables from the lake: ``recoup model build-table --target self_cure_30 --from D1 --to D2``.

One row per account in collections (days past due > 0) on an as-of date D in [D1, D2] with D's own
``features`` partition (nothing after D) and the target of :mod:`recoup.scoring.targets`, which looks
at ``account_daily`` after D and the book's payments. Rows whose target window the lake has not yet
observed (D + horizon after its last day) are left out, never counted as negatives.

Sampling (``sample``): ``account_month`` — one delinquent day per account and calendar month, drawn
at random (seeded), so long-delinquent accounts seen on 30 days do not outweigh the rest (the recipe
of bench/bench_selfcure.py, which calls these functions); ``all`` — every delinquent account-day.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import polars as pl

from recoup.errors import NotFoundError, RecoupError
from recoup.lake import Book
from recoup.lake.store import Outputs
from recoup.scoring.features import FEATURES
from recoup.scoring.targets import targets

__all__ = ["HORIZON", "TARGETS", "Sample", "TableError", "build_table", "labelled", "one_per"]

#: The binary targets a table can be built for, with their window in days after D.
TARGETS: dict[str, int] = {"self_cure_30": 30, "roll_forward_30": 30}
HORIZON = 30
Sample = Literal["account_month", "all"]
#: account_daily columns that targets() reads.
_TARGET_INPUT = ["as_of", "loan_id", "dpd", "bucket_rank", "status", "overdue_amount"]


class TableError(RecoupError):
    """A training table cannot be built: unknown target, empty window or no matured labels."""

    code = "model.table"
    http_status = 422
    exit_code = 65


def labelled(
    daily: pl.DataFrame | pl.LazyFrame,
    feats: pl.DataFrame | pl.LazyFrame,
    payments: pl.DataFrame | pl.LazyFrame,
    *,
    target: str,
) -> pl.DataFrame:
    """Features of each delinquent (loan, as_of) of ``feats`` joined to its matured ``target``
    (``daily`` holds the days after the as-of dates that the target looks at)."""
    t = targets(daily, payments).select("as_of", "loan_id", target).drop_nulls(target)
    joined = feats.lazy().join(t.lazy(), on=["as_of", "loan_id"], how="inner")
    return joined.sort("as_of", "loan_id").collect()


def one_per(frame: pl.DataFrame, keys: list[str], seed: int) -> pl.DataFrame:
    """One row per ``keys`` group, drawn uniformly (seeded) among the group's rows."""
    u = np.random.default_rng(seed).random(frame.height)
    return (
        frame.with_columns(_u=pl.Series(u))
        .filter(pl.col("_u") == pl.col("_u").min().over(keys))
        .drop("_u")
        .sort("as_of", "loan_id")
    )


def sample_rows(frame: pl.DataFrame, sample: Sample, seed: int) -> pl.DataFrame:
    """The rows ``sample`` keeps (see the module docstring)."""
    if sample == "all":
        return frame
    if sample != "account_month":
        raise TableError(f"unknown sampling {sample!r}; account_month or all")
    month = pl.col("as_of").dt.truncate("1mo").alias("_month")
    return one_per(frame.with_columns(month), ["loan_id", "_month"], seed).drop("_month")


def build_table(
    out: Outputs,
    book: Book,
    *,
    target: str,
    start: dt.date,
    end: dt.date,
    sample: Sample = "account_month",
    seed: int = 0,
) -> pl.DataFrame:
    """The training table for as-of dates ``start``…``end`` from the cycle's ``account_daily`` and
    ``features`` and ``book``'s payments (``book``: the newest day, so later payments count).

    Columns: ``as_of``, ``loan_id``, ``borrower_id``, the :data:`FEATURES`, ``target``."""
    if target not in TARGETS:
        raise TableError(f"unknown target {target!r}; one of {', '.join(TARGETS)} · 未知目标变量")
    if end < start:
        raise TableError(f"--to {end} is before --from {start} · 结束日期早于开始日期")
    daily_scan, feats_scan = out.scan("account_daily"), out.scan("features")
    if daily_scan is None or feats_scan is None:
        raise NotFoundError(
            "the lake has no account_daily or features yet: run the daily cycle first (recoup cycle run) · "
            "湖中尚无每日账户或特征数据，请先运行每日批处理"
        )
    horizon = dt.timedelta(days=TARGETS[target])
    daily = daily_scan.filter(pl.col("as_of").is_between(start, end + horizon)).select(_TARGET_INPUT)
    last = daily.select(pl.col("as_of").max()).collect().item()
    if last is None:
        raise TableError(
            f"account_daily has no day between {start} and {end + horizon} · 该期间没有每日账户数据",
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
    feats = feats_scan.filter(pl.col("as_of").is_between(start, end)).select(
        "as_of", "loan_id", "borrower_id", *FEATURES
    )
    frame = labelled(daily, feats, book.scan("payments"), target=target)
    if frame.height == 0:
        matured = last - horizon
        raise TableError(
            f"no labelled rows for {target} with as-of dates {start} → {end}: a label needs "
            f"{horizon.days} days of history after its date, and the lake's last day is {last} "
            f"(labels exist up to {matured}) · 该期间没有可用的标签",
            details={"from": start.isoformat(), "to": end.isoformat(), "last_day": last.isoformat()},
        )
    return sample_rows(frame, sample, seed).select("as_of", "loan_id", "borrower_id", *FEATURES, target)
