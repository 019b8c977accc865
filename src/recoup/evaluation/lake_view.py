"""The lender's lake, day by day, of a twin in the evaluation loop: the book an extract of each day would
import (loans, installments with what was paid by then, payments, bureau reports — never the twin's
hidden borrower types or factors) through the cycle's own kernels, ``delinquency()`` with the previous
day's output as history (→ ``account_daily``) and ``features()`` for the accounts in collections.

The recipe of bench/bench_selfcure.py (which checks it against the CSV import + cycle path on a small
lender): the kernels run on the loans ever behind since the first day, which gives the same rows for
every account in collections. Loan ids are the twin's loan index ``i`` (Int64), as in that bench.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.delinquency.kernel import PREV_COLUMNS, delinquency
from recoup.scoring.features import features
from recoup.simulate import World
from recoup.simulate.extract import payment_arrays
from recoup.simulate.ledger import PARTS as LEDGER_PARTS
from recoup.simulate.ledger import ranges
from recoup.simulate.state import STATUS, State

__all__ = ["TARGET_INPUT", "LakeView", "epoch_dates", "static_loans"]

#: account_daily columns that :func:`recoup.scoring.targets.targets` reads.
TARGET_INPUT = ["as_of", "loan_id", "dpd", "bucket_rank", "status", "overdue_amount"]
_PAYMENTS = {"payment_id": pl.Int64, "loan_id": pl.Int64, "received_date": pl.Date, "amount": pl.Int64,
             "reverses": pl.Int64}  # fmt: skip
_BUREAU = {"borrower_id": pl.Int64, "report_date": pl.Date, "new_delinquencies": pl.Int64, "score": pl.Int64}


def epoch_dates(days: npt.NDArray[np.integer[Any]]) -> pl.Series:
    """Epoch days → Date; negative (never) → null."""
    s = pl.Series(days.astype(np.int32))
    return pl.select(pl.when(s >= 0).then(s).cast(pl.Date)).to_series()


def static_loans(st: State) -> pl.DataFrame:
    """The loan columns that never change, for every loan the world will disburse (row i = loan i)."""
    pop, prods = st.pop, st.params.products
    frame = pl.DataFrame(
        {
            "loan_id": np.arange(st.n, dtype=np.int64),
            "borrower_id": pop.owner.astype(np.int64),
            "pc": pop.product.astype(np.int64),
            "term": pop.term.astype(np.int64),
            "principal": pop.principal.astype(np.int64),
            "disbursement_date": epoch_dates(pop.disbursed),
            "funding_partner": pl.Series(pop.funder.tolist(), dtype=pl.String),
        }
    )
    return frame.select(
        "loan_id",
        "borrower_id",
        pl.col("pc")
        .replace_strict({i: p.product_type for i, p in enumerate(prods)}, return_dtype=pl.String)
        .alias("product_type"),
        pl.concat_str(
            pl.col("pc").replace_strict({i: p.code for i, p in enumerate(prods)}, return_dtype=pl.String),
            pl.col("term").cast(pl.String).str.zfill(2),
        ).alias("product_code"),
        pl.when(pl.col("funding_partner") != "").then(pl.col("funding_partner")).alias("funding_partner"),
        "principal",
        "disbursement_date",
    )


class LakeView:
    """``account_daily`` and ``features`` of a :class:`World` as of its current day, one call per day in
    order (the delinquency kernel carries the previous day's output as history)."""

    def __init__(self, world: World) -> None:
        self.world = world
        st = world.st
        self.static = static_loans(st)
        self.ever = np.zeros(st.n, dtype=bool)
        self.prev: pl.DataFrame | None = None
        self.payments: list[pl.DataFrame] = [pl.DataFrame(schema=_PAYMENTS)]
        self.bureau: list[pl.DataFrame] = [pl.DataFrame(schema=_BUREAU)]
        self.pay_seen = 0
        self.bureau_seen = 0
        self.day: dt.date | None = None
        self.daily = pl.DataFrame()
        self.features = pl.DataFrame()

    def _book(self, idx: npt.NDArray[np.int64]) -> tuple[pl.DataFrame, pl.DataFrame]:
        st = self.world.st
        loans = self.static[idx].with_columns(
            status=pl.Series(st.status[idx].astype(np.int64)).replace_strict(
                dict(enumerate(STATUS)), return_dtype=pl.String
            )
        )
        rows, _ = ranges(st.inst_start[idx], st.inst_start[idx] + st.n_inst[idx])
        led = st.led
        due, paid = led.due[rows], led.paid[rows]
        inst = pl.DataFrame(
            {
                "loan_id": led.loan[rows],
                "seq": led.seq[rows],
                "due_date": epoch_dates(led.due_day[rows]),
                **{f"{p}_due": due[:, j] for j, p in enumerate(LEDGER_PARTS)},
                **{f"{p}_paid": paid[:, j] for j, p in enumerate(LEDGER_PARTS)},
                "last_paid_date": epoch_dates(led.last_paid[rows]),
            }
        )
        return loans, inst

    def _logs(self) -> None:
        """The payments and bureau reports received since the last call (logs only grow)."""
        st = self.world.st
        loan, day, amount, *_ = payment_arrays(st, self.pay_seen, st.n_payments)
        if loan.size:
            self.payments.append(
                pl.DataFrame(
                    {
                        "payment_id": np.arange(self.pay_seen, self.pay_seen + loan.size, dtype=np.int64),
                        "loan_id": loan.astype(np.int64),
                        "received_date": epoch_dates(day),
                        "amount": amount.astype(np.int64),
                        "reverses": pl.Series([None] * loan.size, dtype=pl.Int64),  # the twin never reverses
                    }
                )
            )
        self.pay_seen = st.n_payments
        for b, d, newd, score in st.bureau_log[self.bureau_seen :]:
            self.bureau.append(
                pl.DataFrame(
                    {
                        "borrower_id": b.astype(np.int64),
                        "report_date": epoch_dates(d),
                        "new_delinquencies": newd.astype(np.int64),
                        "score": score.astype(np.int64),
                    }
                )
            )
        self.bureau_seen = len(st.bureau_log)

    def payments_frame(self) -> pl.DataFrame:
        """Every payment received so far (the book's ``payments``, ids as loan index)."""
        return pl.concat(self.payments, rechunk=True)

    def advance(self) -> None:
        """Run the kernels for the world's current day (once; later calls the same day do nothing)."""
        w, st = self.world, self.world.st
        if self.day == w.today:
            return
        self.day, day = w.today, st.day
        n = st.n_disbursed(day)
        row = st.inst_start[:n] + np.minimum(st.first_unpaid[:n], st.n_inst[:n] - 1)
        self.ever[:n] |= (st.first_unpaid[:n] < st.n_inst[:n]) & (st.led.due_day[row] < day)
        idx = np.flatnonzero(self.ever[:n]).astype(np.int64)
        book, inst = self._book(idx)
        self._logs()
        daily = delinquency(book, inst, as_of=w.today, prev=self.prev)
        self.prev = daily.select(list(PREV_COLUMNS))
        coll = daily.filter(pl.col("dpd") > 0)
        ids = coll.select("loan_id")
        self.daily = daily
        self.features = features(
            coll,
            inst.join(ids, on="loan_id", how="semi"),
            self.payments_frame().join(ids, on="loan_id", how="semi"),
            pl.concat(self.bureau).join(coll.select("borrower_id"), on="borrower_id", how="semi"),
            as_of=w.today,
        )
