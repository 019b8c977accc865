"""The collector KPI report (催收员考核报表): METRICS.md's KPIs and incentive pay per collector for a month.

Reads the database and feeds the pure kernels — :func:`recoup.cases.credit.credit_payments` (who is
credited with each payment, 回款归属) and :func:`recoup.reporting.metrics_people.collector_kpis` /
:func:`~recoup.reporting.metrics_people.incentive_pay` — so every figure follows their definitions.

Choices made here (what the data gives the kernels):

- **Collectors**: every user (not an agency: ``WorkerProfile.kind != "agency"``) holding at least one
  case on some day of the month (a ``CaseHolding`` with ``start_date <= end`` and an open end or
  ``end_date > start``). Only they get rows; their figures count only their own attempts, promises,
  credited payments and QA findings. ``allocated_amount`` of a case held twice in the month is that of
  the first holding.
- **Attempts**: ``ContactAttempt`` rows made by the collector (``made_by`` = username) at a local time
  (``Settings.tz``) in the month. ``source = "dispatcher"`` rows are the system's messages, not a
  collector's, and are excluded. Right party = disposition ``right_party_contact``, or outcome
  ``conversation`` with the debtor or a guarantor. No attempt is taken as blocked (a blocked attempt is
  not logged as made). The case is the account's (``debt_key`` = the loan's external id), else a case of
  the borrower (``borrower_key``) the collector held in the month, else the borrower's newest case; an
  attempt traced to no case still counts (case id −1, covering nothing).
- **Promises**: ``PromiseToPay`` taken by the collector, with statuses as judged by the cycle (T+1).
- **Collections**: ``AccountPayment`` rows received in the month (reversals with their own date, credited
  as the payment they reverse), credited under the default :class:`~recoup.cases.credit.CreditRules`;
  a successful assistance request (协催) shares the credit of payments from its start until 30 days after
  it was done.
- **Complaints**: there is no complaints table yet: an empty frame is passed, so ``complaints`` is 0 and
  the complaints veto never applies.
- **QA findings**: ``QaFinding`` rows about the collector created (local date) in the month, dismissed
  ones excluded.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.credit import ASSISTS_SCHEMA, CreditRules, credit_payments
from recoup.cases.models import Case, CaseHolding, PromiseToPay, WorkerProfile
from recoup.cases.work_models import AssistRequest
from recoup.config import get_settings
from recoup.contact.models import ContactAttempt, QaFinding
from recoup.errors import RecoupError
from recoup.portfolio.models import AccountPayment, Borrower, CollectionAccount
from recoup.reporting.metrics_people import DEFAULT_INCENTIVE, KPI_COLUMNS, collector_kpis, incentive_pay

__all__ = [
    "MONEY_COLUMNS",
    "PAY_COLUMNS",
    "RATE_COLUMNS",
    "REPORT_COLUMNS",
    "ReportMonthError",
    "collector_report",
    "parse_month",
    "previous_month",
]

#: Pay columns of :func:`incentive_pay` added to each row.
PAY_COLUMNS = ["tier", "base_pay", "bonus_pay", "penalty", "pay", "reason"]
#: Every column of :func:`collector_report`, in order.
REPORT_COLUMNS = ["collector_id", "username", "display_name", *KPI_COLUMNS, *PAY_COLUMNS]
#: Money columns (Int64 minor units).
MONEY_COLUMNS = [
    "promised_amount_due",
    "kept_amount_due",
    "collected",
    "collections_per_head",
    "allocated_amount",
    "base_pay",
    "bonus_pay",
    "penalty",
    "pay",
]
#: Rate columns (Float64 fractions; ``complaints_per_10k`` is a count per 10,000 cases, not one).
RATE_COLUMNS = ["rpc_rate", "coverage", "promise_rate", "kept_rate", "kept_rate_amount", "recovery_rate"]

_RIGHT_PARTIES = ("debtor", "guarantor")
_NO_CASE = -1


class ReportMonthError(RecoupError):
    """A report's month is not a calendar month written YYYY-MM."""

    code = "reporting.bad_month"
    exit_code = 64  # EX_USAGE


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    """``"2026-12"`` → (first day, last day) of that month; :class:`ReportMonthError` otherwise."""
    parts = text.strip().split("-")
    try:
        if len(parts) != 2 or len(parts[0]) != 4 or not 1 <= len(parts[1]) <= 2:
            raise ValueError(text)
        y, m = int(parts[0]), int(parts[1])
        first = dt.date(y, m, 1)
    except ValueError:
        raise ReportMonthError(
            f"--month {text!r} is not a month (YYYY-MM, e.g. 2026-11) / --month {text!r} 不是有效月份"
            "（格式 YYYY-MM，例如 2026-11）",
            details={"month": text},
        ) from None
    return first, first.replace(day=calendar.monthrange(y, m)[1])


def previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month before ``today``'s: (first day, last day)."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def _frame(rows: Iterable[tuple[Any, ...]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=dict(schema), orient="row")


def _empty_report() -> pl.DataFrame:
    kpis = collector_kpis(
        *_empty_inputs(), start=dt.date(2000, 1, 1), end=dt.date(2000, 1, 1), with_total=False
    )
    pay = incentive_pay(kpis, DEFAULT_INCENTIVE)
    return (
        kpis.join(pay.drop("collected", "rules"), on="collector_id", how="left")
        .with_columns(username=pl.lit(None, pl.String), display_name=pl.lit(None, pl.String))
        .select(REPORT_COLUMNS)
    )


_ID = pl.Int64()
_ATTEMPTS = {"collector_id": _ID, "case_id": _ID, "at_date": pl.Date(), "channel": pl.String(),
             "right_party": pl.Boolean(), "blocked": pl.Boolean()}  # fmt: skip
_PROMISES = {"collector_id": _ID, "promise_id": _ID, "made_on": pl.Date(), "due_date": pl.Date(),
             "status": pl.String(), "amount": _ID, "kept_amount": _ID}  # fmt: skip
_HELD = {"collector_id": _ID, "case_id": _ID, "allocated_amount": _ID}
_CREDITED = {"collector_id": _ID, "amount": _ID, "received_date": pl.Date()}
_COMPLAINTS = {"collector_id": _ID, "case_id": _ID, "received_on": pl.Date()}
_QA = {"collector_id": _ID, "severity": pl.String(), "found_on": pl.Date()}


def _empty_inputs() -> list[pl.DataFrame]:
    return [pl.DataFrame(schema=s) for s in (_ATTEMPTS, _PROMISES, _HELD, _CREDITED, _COMPLAINTS, _QA)]


def _local_date(column: str, tz: str) -> pl.Expr:
    """A UTC datetime column → its date in the lender's time zone."""
    return pl.col(column).cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(tz).dt.date()


def collector_report(month_start: dt.date, month_end: dt.date, *, session: Session) -> pl.DataFrame:
    """The collector KPI table for [month_start, month_end] (both included), read from the database.

    Columns :data:`REPORT_COLUMNS`: collector_id, username, display_name, the :func:`collector_kpis`
    columns (:data:`~recoup.reporting.metrics_people.KPI_COLUMNS`), then tier, base_pay, bonus_pay,
    penalty, pay (Int64 minor units) and reason from :func:`incentive_pay` under ``DEFAULT_INCENTIVE``.
    One row per collector holding cases in the period, or helping on one (sorted by id), then the overall
    row (null id and names; pay columns summed, tier and reason null). No collector: no rows at all. The
    module docstring lists how the database's rows become the kernels' inputs.
    """
    if month_start > month_end:
        raise ReportMonthError(
            f"start {month_start} is after end {month_end} / 开始日期 {month_start} 晚于结束日期 {month_end}",
            details={"start": str(month_start), "end": str(month_end)},
        )
    settings = get_settings()
    tz = settings.tz
    tz_name = str(tz.key)

    # --- holdings: every holding of the month, collectors' ones give the rows
    hold_rows = session.execute(
        select(
            CaseHolding.case_id,
            CaseHolding.holder_id,
            CaseHolding.start_date,
            CaseHolding.allocated_amount,
            WorkerProfile.kind,
            AppUser.username,
            AppUser.display_name,
        )
        .join(AppUser, AppUser.id == CaseHolding.holder_id)
        .outerjoin(WorkerProfile, WorkerProfile.user_id == CaseHolding.holder_id)
        .where(
            CaseHolding.start_date <= month_end,
            or_(CaseHolding.end_date.is_(None), CaseHolding.end_date > month_start),
        )
        .order_by(CaseHolding.holder_id, CaseHolding.case_id, CaseHolding.start_date, CaseHolding.id)
    ).all()
    people: dict[int, tuple[str, str]] = {}
    held_rows: dict[tuple[int, int], int] = {}
    for case_id, holder_id, _start, allocated, kind, username, display_name in hold_rows:
        if kind == "agency":
            continue
        people[holder_id] = (username, display_name)
        held_rows.setdefault((holder_id, case_id), allocated or 0)  # the first holding of the month
    # Helpers of successful assistance requests (协催) earn credit too, so they get a row as well.
    helpers = session.execute(
        select(AppUser.id, AppUser.username, AppUser.display_name, WorkerProfile.kind)
        .join(AssistRequest, AssistRequest.assignee_id == AppUser.id)
        .outerjoin(WorkerProfile, WorkerProfile.user_id == AppUser.id)
        .where(AssistRequest.status == "done", AssistRequest.result == "success")
        .distinct()
    ).all()
    for uid, username, display_name, kind in helpers:
        if kind != "agency":
            people.setdefault(uid, (username, display_name))
    if not people:
        return _empty_report()
    by_name = {username: uid for uid, (username, _) in people.items()}
    held = _frame(((u, c, a) for (u, c), a in held_rows.items()), _HELD)

    # --- attempts in the month (local time), the collectors' own
    lo = dt.datetime.combine(month_start, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    hi = dt.datetime.combine(month_end + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    att_rows = session.execute(
        select(
            ContactAttempt.made_by,
            ContactAttempt.at,
            ContactAttempt.channel,
            ContactAttempt.party,
            ContactAttempt.outcome,
            ContactAttempt.disposition,
            CollectionAccount.case_id,
            Borrower.id,
        )
        .outerjoin(CollectionAccount, CollectionAccount.external_id == ContactAttempt.debt_key)
        .outerjoin(Borrower, Borrower.external_id == ContactAttempt.borrower_key)
        .where(
            ContactAttempt.at >= lo,
            ContactAttempt.at < hi,
            ContactAttempt.source != "dispatcher",
            ContactAttempt.made_by.in_(list(by_name)),
        )
    ).all()
    raw = pl.DataFrame(
        [
            (
                by_name[made_by],
                at,
                channel,
                disposition == "right_party_contact"
                or (outcome == "conversation" and party in _RIGHT_PARTIES),
                account_case,
                borrower_id,
            )
            for made_by, at, channel, party, outcome, disposition, account_case, borrower_id in att_rows
        ],
        schema={
            "collector_id": _ID,
            "at": pl.Datetime("us", "UTC"),
            "channel": pl.String(),
            "right_party": pl.Boolean(),
            "account_case": _ID,
            "borrower_id": _ID,
        },
        orient="row",
    )
    case_rows = session.execute(
        select(Case.id, Case.borrower_id).where(
            Case.borrower_id.in_(raw["borrower_id"].drop_nulls().unique().to_list())
        )
    ).all()
    cases = _frame(case_rows, {"case_id": _ID, "borrower_id": _ID})
    held_by_borrower = (
        held.join(cases, on="case_id")
        .group_by("collector_id", "borrower_id")
        .agg(held_case=pl.col("case_id").min())
    )
    newest = cases.group_by("borrower_id").agg(newest_case=pl.col("case_id").max())
    attempts = (
        raw.join(held_by_borrower, on=["collector_id", "borrower_id"], how="left")
        .join(newest, on="borrower_id", how="left")
        .select(
            "collector_id",
            pl.coalesce("account_case", "held_case", "newest_case", pl.lit(_NO_CASE, _ID)).alias("case_id"),
            _local_date("at", tz_name).alias("at_date"),
            "channel",
            "right_party",
            pl.lit(False).alias("blocked"),
        )
    )

    # --- promises the collectors took, made or due in the month
    prom_rows = session.execute(
        select(
            PromiseToPay.made_by,
            PromiseToPay.id,
            PromiseToPay.made_on,
            PromiseToPay.due_date,
            PromiseToPay.status,
            PromiseToPay.amount,
            PromiseToPay.kept_amount,
        ).where(
            PromiseToPay.made_by.in_(list(by_name)),
            or_(
                PromiseToPay.made_on.between(month_start, month_end),
                PromiseToPay.due_date.between(month_start, month_end),
            ),
        )
    ).all()
    promises = _frame(((by_name[r[0]], *r[1:6], r[6] or 0) for r in prom_rows), _PROMISES)

    # --- collections credited to them
    credited = _credited(session, month_start, month_end, set(people))

    # --- QA findings about them
    qa_rows = session.execute(
        select(QaFinding.made_by, QaFinding.severity, QaFinding.created_at).where(
            QaFinding.made_by.in_(list(by_name)),
            QaFinding.created_at >= lo,
            QaFinding.created_at < hi,
            QaFinding.status != "dismissed",
        )
    ).all()
    qa_raw = pl.DataFrame(
        [(by_name[m], s, at) for m, s, at in qa_rows],
        schema={"collector_id": _ID, "severity": pl.String(), "at": pl.Datetime("us", "UTC")},
        orient="row",
    )
    qa = qa_raw.select("collector_id", "severity", _local_date("at", tz_name).alias("found_on"))

    complaints = pl.DataFrame(schema=_COMPLAINTS)  # no complaints table yet
    kpis = collector_kpis(
        attempts, promises, held, credited, complaints, qa, start=month_start, end=month_end
    )
    pay = incentive_pay(kpis, DEFAULT_INCENTIVE).drop("collected", "rules")
    names = pl.DataFrame(
        [(uid, u, d) for uid, (u, d) in people.items()],
        schema={"collector_id": _ID, "username": pl.String(), "display_name": pl.String()},
        orient="row",
    )
    rows = kpis.filter(pl.col("collector_id").is_not_null()).join(pay, on="collector_id", how="left")
    total = kpis.filter(pl.col("collector_id").is_null()).with_columns(
        *(pl.lit(pay[c].sum(), _ID).alias(c) for c in ("base_pay", "bonus_pay", "penalty", "pay")),
        tier=pl.lit(None, _ID),
        reason=pl.lit(None, pl.String),
    )
    rows = rows.join(names, on="collector_id", how="left").select(REPORT_COLUMNS)
    total = total.with_columns(username=pl.lit(None, pl.String), display_name=pl.lit(None, pl.String))
    return pl.concat([rows, total.select(REPORT_COLUMNS)], how="vertical")


_ASSIST_TAIL = dt.timedelta(days=30)


def _credited(session: Session, start: dt.date, end: dt.date, collectors: set[int]) -> pl.DataFrame:
    """Payments received in [start, end] credited to ``collectors`` (collector_id, amount, received_date)."""
    pay_cols = (
        AccountPayment.external_id,
        CollectionAccount.case_id,
        AccountPayment.received_date,
        AccountPayment.amount,
        AccountPayment.reverses,
    )
    base = select(*pay_cols).join(CollectionAccount, CollectionAccount.id == AccountPayment.account_id)
    month_rows = session.execute(
        base.where(AccountPayment.received_date.between(start, end), CollectionAccount.case_id.is_not(None))
    ).all()
    if not month_rows:
        return pl.DataFrame(schema=_CREDITED)
    rows = {r[0]: r for r in month_rows}
    wanted = {r[4] for r in month_rows if r[4] and r[4] not in rows}
    while wanted:  # the payments reversed (and what they reverse), credited at their own date
        found = session.execute(base.where(AccountPayment.external_id.in_(wanted))).all()
        for r in found:
            rows[r[0]] = r
        wanted = {r[4] for r in found if r[4] and r[4] not in rows}
    schema = {"payment_id": pl.String(), "case_id": _ID, "received_date": pl.Date(), "amount": _ID,
              "reverses": pl.String()}  # fmt: skip
    payments = _frame((tuple(r) for r in rows.values()), schema)
    case_ids = payments["case_id"].unique().to_list()
    holdings = session.execute(
        select(
            CaseHolding.case_id,
            CaseHolding.holder_id,
            WorkerProfile.kind,
            CaseHolding.start_date,
            CaseHolding.end_date,
        )
        .outerjoin(WorkerProfile, WorkerProfile.user_id == CaseHolding.holder_id)
        .where(CaseHolding.case_id.in_(case_ids))
    ).all()
    holding_frame = _frame(
        ((c, h, "agency" if k == "agency" else "collector", s, e) for c, h, k, s, e in holdings),
        {
            "case_id": _ID,
            "holder_id": _ID,
            "holder_kind": pl.String(),
            "start_date": pl.Date(),
            "end_date": pl.Date(),
        },
    )
    usernames: dict[str, int] = {u: i for u, i in session.execute(select(AppUser.username, AppUser.id))}
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
    promise_frame = _frame(
        ((c, str(i), usernames[m], mo, d, s) for c, i, m, mo, d, s in prom if m in usernames),
        {
            "case_id": _ID,
            "promise_id": pl.String(),
            "made_by_holder": _ID,
            "made_on": pl.Date(),
            "due_date": pl.Date(),
            "status": pl.String(),
        },
    )
    done_assists = session.execute(
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
    # A successful assist shares the credit of payments from its start until 30 days after it was done.
    assists = _frame(
        (
            (c, h, "agency" if k == "agency" else "collector", a.date(), (d or a).date() + _ASSIST_TAIL, r)
            for c, h, k, a, d, r in done_assists
        ),
        ASSISTS_SCHEMA,
    )
    credit = credit_payments(payments, holding_frame, promise_frame, assists, rules=CreditRules())
    return credit.filter(
        pl.col("received_date").is_between(start, end)
        & (pl.col("credited_kind") == "collector")
        & pl.col("credited_id").is_in(sorted(collectors))
    ).select(pl.col("credited_id").alias("collector_id"), "amount", "received_date")
