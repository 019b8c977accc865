"""After a debt sale: the sold loans leave the daily cycle, and the payments received after the cut-off
are listed for the buyer (split from :mod:`recoup.legal.sales`)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.legal.kernel import payments_after_cutoff
from recoup.legal.limitation import payments_frame
from recoup.legal.models import DebtSale, DebtSaleAccount
from recoup.legal.sale_rules import (
    SaleStatus,
    sale_accounts,
)

__all__ = ["buyer_payments", "sold_loans", "without_sold"]


def sold_loans(*, session: Session, as_of: dt.date) -> list[str]:
    """The loans of the sales transferred with a transfer date on or before ``as_of``."""
    return list(
        session.scalars(
            select(DebtSaleAccount.loan_id)
            .join(DebtSale, DebtSale.id == DebtSaleAccount.sale_id)
            .where(DebtSale.status == SaleStatus.TRANSFERRED.value, DebtSale.transfer_date <= as_of)
            .order_by(DebtSaleAccount.loan_id)
        )
    )


def without_sold(daily: pl.DataFrame, *, session: Session, as_of: dt.date) -> pl.DataFrame:
    """``daily`` (the cycle's ``account_daily``) without the loans sold by ``as_of``: they are the buyer's,
    so the cycle neither takes them back into collections nor decides anything for them."""
    sold = sold_loans(session=session, as_of=as_of)
    if not sold or not daily.height:
        return daily
    return daily.filter(~pl.col("loan_id").cast(pl.String).is_in(pl.Series(sold, dtype=pl.String).implode()))


def buyer_payments(
    sale: DebtSale, *, session: Session, lake_payments: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """The payments on the sale's loans received after its cut-off date (reversals negative), oldest
    first: the buyer's money (``sale_id``, ``loan_id``, ``payment_id``, ``received_date``, ``amount``,
    ``cutoff_date``)."""
    loans = [a.loan_id for a in sale_accounts(sale.id, session=session)]
    pays = payments_frame(session=session, loan_ids=loans, lake_payments=lake_payments).with_columns(
        amount=pl.when(pl.col("reverses").is_not_null()).then(-pl.col("amount")).otherwise(pl.col("amount"))
    )
    sold = pl.DataFrame(
        {"loan_id": loans, "sale_id": [sale.id] * len(loans), "cutoff_date": [sale.cutoff_date] * len(loans)},
        schema={"loan_id": pl.String, "sale_id": pl.Int64, "cutoff_date": pl.Date},
    )
    return payments_after_cutoff(pays, sold)
