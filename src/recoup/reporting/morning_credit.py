"""Who is credited with this month's collections (回款归属), for the morning view's leaderboards: the
database's payments, holdings, promises and assistance requests fed to
:func:`recoup.cases.credit.credit_payments` under the default rules — as the collector KPI report
(:mod:`recoup.reporting.collectors`) does, keeping the case of each payment and the agencies' credit too.
A service: ``session`` keyword, no writes.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.credit import ASSISTS_SCHEMA, CreditRules, credit_payments
from recoup.cases.models import PromiseToPay, WorkerProfile
from recoup.cases.work_models import AssistRequest
from recoup.portfolio.models import AccountPayment, CollectionAccount
from recoup.reporting.morning_data import holdings_frame, rows_frame

__all__ = ["credited_frame"]

_ID = pl.Int64()
#: A successful assist shares the credit of payments until 30 days after it was done.
_ASSIST_TAIL = dt.timedelta(days=30)


def credited_frame(start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    """Payments received in [start, end] on cases, credited under the payment-credit rules: case_id,
    received_date, credited_id, credited_kind (``collector``/``agency``; null when unheld), amount."""
    base = select(
        AccountPayment.external_id,
        CollectionAccount.case_id,
        AccountPayment.received_date,
        AccountPayment.amount,
        AccountPayment.reverses,
    ).join(CollectionAccount, CollectionAccount.id == AccountPayment.account_id)
    found = session.execute(
        base.where(AccountPayment.received_date.between(start, end), CollectionAccount.case_id.is_not(None))
    ).all()
    rows = {r[0]: tuple(r) for r in found}
    wanted = {r[4] for r in found if r[4] and r[4] not in rows}
    while wanted:  # the payments reversed (and what they reverse), credited as they were
        more = session.execute(base.where(AccountPayment.external_id.in_(wanted))).all()
        rows.update({r[0]: tuple(r) for r in more})
        wanted = {r[4] for r in more if r[4] and r[4] not in rows}
    payments = rows_frame(
        rows.values(),
        {
            "payment_id": pl.String(),
            "case_id": _ID,
            "received_date": pl.Date(),
            "amount": _ID,
            "reverses": pl.String(),
        },
    )
    case_ids = payments.get_column("case_id").unique().to_list()
    holdings = holdings_frame(dt.date.min, dt.date.max, session=session).filter(
        pl.col("case_id").is_in(case_ids),
        pl.col("end_date").is_null()
        | (pl.col("end_date") > pl.col("start_date")),  # an empty one covers no day
    )
    names = dict(session.execute(select(AppUser.username, AppUser.id)).all())
    prom = session.execute(
        select(
            PromiseToPay.case_id,
            PromiseToPay.id,
            PromiseToPay.made_by,
            PromiseToPay.made_on,
            PromiseToPay.due_date,
            PromiseToPay.status,
        ).where(PromiseToPay.case_id.in_(case_ids), PromiseToPay.made_on <= end)
    ).all()
    promises = rows_frame(
        ((c, str(i), names[m], mo, d, s) for c, i, m, mo, d, s in prom if m in names),
        {
            "case_id": _ID,
            "promise_id": pl.String(),
            "made_by_holder": _ID,
            "made_on": pl.Date(),
            "due_date": pl.Date(),
            "status": pl.String(),
        },
    )
    helped = session.execute(
        select(
            AssistRequest.case_id,
            AssistRequest.assignee_id,
            WorkerProfile.kind,
            AssistRequest.created_at,
            AssistRequest.done_at,
            AssistRequest.result,
        )
        .outerjoin(WorkerProfile, WorkerProfile.user_id == AssistRequest.assignee_id)
        .where(
            AssistRequest.case_id.in_(case_ids),
            AssistRequest.assignee_id.is_not(None),
            AssistRequest.status == "done",
        )
    ).all()
    assists = rows_frame(
        (
            (c, h, "agency" if k == "agency" else "collector", a.date(), (d or a).date() + _ASSIST_TAIL, r)
            for c, h, k, a, d, r in helped
        ),
        ASSISTS_SCHEMA,
    )
    credit = credit_payments(
        payments,
        holdings.select("case_id", "holder_id", "holder_kind", "start_date", "end_date"),
        promises,
        assists,
        rules=CreditRules(),
    )
    return credit.filter(pl.col("received_date").is_between(start, end)).select(
        "case_id", "received_date", "credited_id", "credited_kind", "amount"
    )
