"""Queries behind the morning view: the database's rows as the frames the kernels take.

Services take ``session`` as a keyword argument and never write. Each returns a Polars frame with a fixed
schema (empty when there is nothing), so the kernels of :mod:`recoup.reporting.recovery`,
:mod:`recoup.reporting.floor_figures` and :mod:`recoup.reporting.metrics_people` run the same on an empty
day. How rows become frames follows :mod:`recoup.reporting.collectors` (the collector KPI report):

- an attempt belongs to the case of its account (``debt_key``), else to the newest case of its borrower;
  ``source = "dispatcher"`` rows (the system's messages) are not people's attempts; right party =
  disposition ``right_party_contact`` or a conversation with the debtor or a guarantor;
- collections are payments on accounts in collections on the day received (``opened_on <= received_date``
  and, once closed, ``received_date <= closed_on``), reversals negative on their own date;
- credit for a payment (回款归属): :mod:`recoup.reporting.morning_credit`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case, CaseHolding, PromiseToPay, WorkerProfile
from recoup.contact.models import CallTranscript, ContactAttempt
from recoup.cycle.models import CycleRun
from recoup.portfolio.models import AccountPayment, Borrower, CollectionAccount
from recoup.strategy.models import WorkTask

__all__ = [
    "attempts_frame",
    "case_accounts",
    "cases_held_now",
    "collection_payments",
    "cycle_marker",
    "holdings_frame",
    "last_complete_day",
    "open_tasks",
    "people_frame",
    "promises_frame",
    "rows_frame",
    "talk_frame",
    "utc_bounds",
]

_ID = pl.Int64()
_RIGHT_PARTIES = ("debtor", "guarantor")
_NO_CASE = -1


def rows_frame(rows: Iterable[tuple[Any, ...]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=dict(schema), orient="row")


def utc_bounds(start: dt.date, end: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    lo = dt.datetime.combine(start, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return lo, hi


def last_complete_day(*, session: Session) -> dt.date | None:
    """The latest business day whose cycle finished its last step (``decisions``)."""
    day: dt.date | None = session.scalar(
        select(func.max(CycleRun.as_of)).where(CycleRun.step == "decisions", CycleRun.status == "done")
    )
    return day


def cycle_marker(as_of: dt.date, *, session: Session) -> str:
    """Changes whenever ``as_of``'s cycle is run again (for caching what was computed from it)."""
    row = session.execute(
        select(func.max(CycleRun.id), func.max(CycleRun.finished_at)).where(CycleRun.as_of == as_of)
    ).one()
    return f"{row[0]}:{row[1]}"


PAYMENTS_SCHEMA: dict[str, pl.DataType] = {
    "case_id": _ID,
    "loan_id": pl.String(),
    "received_date": pl.Date(),
    "amount": _ID,
    "in_collections": pl.Boolean(),
}


def collection_payments(start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    """Payments received in [start, end] on accounts with a case: case_id, loan_id, received_date, amount,
    in_collections (the account was in collections that day)."""
    rows = session.execute(
        select(
            CollectionAccount.case_id,
            CollectionAccount.external_id,
            AccountPayment.received_date,
            AccountPayment.amount,
            CollectionAccount.opened_on,
            CollectionAccount.closed_on,
        )
        .join(CollectionAccount, CollectionAccount.id == AccountPayment.account_id)
        .where(AccountPayment.received_date.between(start, end), CollectionAccount.case_id.is_not(None))
    ).all()
    raw = rows_frame(
        rows,
        {
            **{k: PAYMENTS_SCHEMA[k] for k in list(PAYMENTS_SCHEMA)[:4]},
            "opened_on": pl.Date(),
            "closed_on": pl.Date(),
        },
    )
    inside = (pl.col("received_date") >= pl.col("opened_on")) & (
        pl.col("closed_on").is_null() | (pl.col("received_date") <= pl.col("closed_on"))
    )
    return raw.with_columns(in_collections=inside).select(list(PAYMENTS_SCHEMA))


HOLDINGS_SCHEMA: dict[str, pl.DataType] = {
    "case_id": _ID,
    "holder_id": _ID,
    "holder_kind": pl.String(),
    "pool": pl.String(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    "allocated_amount": _ID,
}


def holdings_frame(start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    """Every holding overlapping [start, end] (``start_date <= end`` and open or ending after ``start``):
    case_id, holder_id, holder_kind (``collector`` or ``agency``), pool (the allocation rule: the bucket
    the case was dealt in, ``—`` for manual ones), start_date, end_date, allocated_amount."""
    rows = session.execute(
        select(
            CaseHolding.case_id,
            CaseHolding.holder_id,
            WorkerProfile.kind,
            CaseHolding.rule,
            CaseHolding.start_date,
            CaseHolding.end_date,
            CaseHolding.allocated_amount,
        )
        .outerjoin(WorkerProfile, WorkerProfile.user_id == CaseHolding.holder_id)
        .where(
            CaseHolding.start_date <= end,
            or_(CaseHolding.end_date.is_(None), CaseHolding.end_date > start),
        )
    ).all()
    return rows_frame(
        (
            (c, h, "agency" if k == "agency" else "collector", r or "—", s, e, a or 0)
            for c, h, k, r, s, e, a in rows
        ),
        HOLDINGS_SCHEMA,
    )


def case_accounts(*, session: Session) -> pl.DataFrame:
    """case_id, loan_id (the lender's loan id), closed_on (the day it left collections; null while in
    collections) of every account in collections that has a case."""
    rows = session.execute(
        select(CollectionAccount.case_id, CollectionAccount.external_id, CollectionAccount.closed_on).where(
            CollectionAccount.case_id.is_not(None)
        )
    ).all()
    return rows_frame(rows, {"case_id": _ID, "loan_id": pl.String(), "closed_on": pl.Date()})


ATTEMPTS_SCHEMA: dict[str, pl.DataType] = {
    "attempt_id": _ID,
    "collector_id": _ID,
    "made_by": pl.String(),
    "source": pl.String(),
    "agency": pl.String(),
    "case_id": _ID,
    "at_date": pl.Date(),
    "channel": pl.String(),
    "outcome": pl.String(),
    "right_party": pl.Boolean(),
    "blocked": pl.Boolean(),
}


def attempts_frame(start: dt.date, end: dt.date, *, session: Session, tz: dt.tzinfo) -> pl.DataFrame:
    """People's contact attempts on local dates [start, end] (no dispatcher messages). ``collector_id``
    is the user who made it (null for an agency's imported log); ``blocked`` is false (a blocked
    attempt is not made, so not logged); ``case_id`` −1 when it traces to no case."""
    lo, hi = utc_bounds(start, end, tz)
    rows = session.execute(
        select(
            ContactAttempt.id,
            AppUser.id,
            ContactAttempt.made_by,
            ContactAttempt.source,
            ContactAttempt.agency,
            CollectionAccount.case_id,
            Borrower.id,
            ContactAttempt.at,
            ContactAttempt.channel,
            ContactAttempt.outcome,
            ContactAttempt.disposition,
            ContactAttempt.party,
        )
        .outerjoin(AppUser, AppUser.username == ContactAttempt.made_by)
        .outerjoin(CollectionAccount, CollectionAccount.external_id == ContactAttempt.debt_key)
        .outerjoin(Borrower, Borrower.external_id == ContactAttempt.borrower_key)
        .where(ContactAttempt.at >= lo, ContactAttempt.at < hi, ContactAttempt.source != "dispatcher")
    ).all()
    raw = rows_frame(
        (
            (
                i,
                u,
                m,
                s,
                a,
                c,
                b,
                at,
                ch,
                o,
                d == "right_party_contact" or (o == "conversation" and p in _RIGHT_PARTIES),
            )
            for i, u, m, s, a, c, b, at, ch, o, d, p in rows
        ),
        {
            "attempt_id": _ID,
            "collector_id": _ID,
            "made_by": pl.String(),
            "source": pl.String(),
            "agency": pl.String(),
            "account_case": _ID,
            "borrower_id": _ID,
            "at": pl.Datetime("us", "UTC"),
            "channel": pl.String(),
            "outcome": pl.String(),
            "right_party": pl.Boolean(),
        },
    )
    borrowers = raw.get_column("borrower_id").drop_nulls().unique().to_list()
    newest = rows_frame(
        session.execute(
            select(Case.borrower_id, func.max(Case.id))
            .where(Case.borrower_id.in_(borrowers))
            .group_by(Case.borrower_id)
        ).all(),
        {"borrower_id": _ID, "newest_case": _ID},
    )
    zone = str(getattr(tz, "key", "UTC"))
    return (
        raw.join(newest, on="borrower_id", how="left")
        .with_columns(
            case_id=pl.coalesce("account_case", "newest_case", pl.lit(_NO_CASE, _ID)),
            at_date=pl.col("at").dt.convert_time_zone(zone).dt.date(),
            blocked=pl.lit(False),
        )
        .select(list(ATTEMPTS_SCHEMA))
    )


PROMISES_SCHEMA: dict[str, pl.DataType] = {
    "promise_id": _ID,
    "case_id": _ID,
    "made_by": pl.String(),
    "collector_id": _ID,
    "made_on": pl.Date(),
    "due_date": pl.Date(),
    "status": pl.String(),
    "amount": _ID,
    "kept_amount": _ID,
}


def promises_frame(start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    """Promises made or falling due in [start, end], with the taker's user id (null if unknown)."""
    rows = session.execute(
        select(
            PromiseToPay.id,
            PromiseToPay.case_id,
            PromiseToPay.made_by,
            AppUser.id,
            PromiseToPay.made_on,
            PromiseToPay.due_date,
            PromiseToPay.status,
            PromiseToPay.amount,
            PromiseToPay.kept_amount,
        )
        .outerjoin(AppUser, AppUser.username == PromiseToPay.made_by)
        .where(or_(PromiseToPay.made_on.between(start, end), PromiseToPay.due_date.between(start, end)))
    ).all()
    return rows_frame(((*r[:8], r[8] or 0) for r in rows), PROMISES_SCHEMA)


def cases_held_now(*, session: Session) -> pl.DataFrame:
    """Open cases with a holder: collector_id (the holder), case_id, overdue_amount (Σ of the case's open
    accounts), stopped (停催 in force)."""
    rows = session.execute(
        select(
            Case.holder_id,
            Case.id,
            func.coalesce(func.sum(CollectionAccount.overdue_amount), 0),
            Case.stopped,
        )
        .outerjoin(
            CollectionAccount,
            (CollectionAccount.case_id == Case.id) & (CollectionAccount.status == "open"),
        )
        .where(Case.status == "open", Case.holder_id.is_not(None))
        .group_by(Case.holder_id, Case.id, Case.stopped)
    ).all()
    return rows_frame(
        ((h, c, int(o or 0), bool(s)) for h, c, o, s in rows),
        {"collector_id": _ID, "case_id": _ID, "overdue_amount": _ID, "stopped": pl.Boolean()},
    )


def open_tasks(*, session: Session) -> pl.DataFrame:
    """collector_id (the assignee) of every open or started task."""
    rows = session.execute(
        select(WorkTask.assignee_id).where(
            WorkTask.status.in_(["open", "in_progress"]), WorkTask.assignee_id.is_not(None)
        )
    ).all()
    return rows_frame(rows, {"collector_id": _ID})


def people_frame(*, session: Session) -> pl.DataFrame:
    """The floor's workers: collector_id, username, name (display name, else username), kind, team_id,
    cap, active, agency_code."""
    rows = session.execute(
        select(
            AppUser.id,
            AppUser.username,
            AppUser.display_name,
            WorkerProfile.kind,
            WorkerProfile.team_id,
            WorkerProfile.cap,
            WorkerProfile.active,
            WorkerProfile.agency_code,
        ).join(WorkerProfile, WorkerProfile.user_id == AppUser.id)
    ).all()
    return rows_frame(
        ((i, u, d or u, k, t, c, bool(a), g) for i, u, d, k, t, c, a, g in rows),
        {
            "collector_id": _ID,
            "username": pl.String(),
            "name": pl.String(),
            "kind": pl.String(),
            "team_id": _ID,
            "cap": _ID,
            "active": pl.Boolean(),
            "agency_code": pl.String(),
        },
    )


def talk_frame(day: dt.date, *, session: Session, tz: dt.tzinfo) -> pl.DataFrame:
    """The collectors' calls on ``day``: collector_id, seconds (the end of the transcript's last segment;
    null without a transcript)."""
    lo, hi = utc_bounds(day, day, tz)
    rows = session.execute(
        select(AppUser.id, CallTranscript.segments)
        .select_from(ContactAttempt)
        .join(AppUser, AppUser.username == ContactAttempt.made_by)
        .outerjoin(CallTranscript, CallTranscript.attempt_id == ContactAttempt.id)
        .where(
            ContactAttempt.at >= lo,
            ContactAttempt.at < hi,
            ContactAttempt.channel == "call",
            ContactAttempt.source != "dispatcher",
        )
    ).all()
    ends = pl.DataFrame(
        {"collector_id": [r[0] for r in rows], "segments": [r[1] or [] for r in rows]},
        schema={"collector_id": _ID, "segments": pl.List(pl.Struct({"end": pl.Float64}))},
        strict=False,
    )
    return ends.select(
        "collector_id",
        seconds=pl.col("segments").list.eval(pl.element().struct.field("end")).list.max(),
    )
