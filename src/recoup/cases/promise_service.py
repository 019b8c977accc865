"""Stored promises to pay (承诺还款): recording one on a case, and judging them all against the book.

The rules are those of :mod:`recoup.cases.promises` (docs/promises.md); this module stores promises in
``promise_to_pay`` and feeds the kernel from the database and the lake.

Payments come from the lake's append-only ``payments`` dataset: ``seen_in_extract`` is the row's ``_as_of``
(the extract it first appeared in). A **reversal** row (``reverses`` names a payment) is *subtracted*: it
becomes a negative payment on the reversed payment's loan and ``received_date`` (so it falls in the same
promise window) and is seen from its own extract. A reversal of a payment the book does not hold is ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case, PromiseToPay
from recoup.cases.promises import PAYMENT_SCHEMA, PROMISE_SCHEMA, By, Status, judge_promises
from recoup.errors import NotFoundError, RecoupError
from recoup.lake import Book
from recoup.ledger.service import do_append
from recoup.portfolio.models import Borrower

__all__ = [
    "HORIZON_DAYS",
    "LATE_EXTRACT_DAYS",
    "MIN_AMOUNT",
    "PROMISE_FACTS_DAYS",
    "PROMISE_FACTS_SCHEMA",
    "PromiseRefusedError",
    "check_promise",
    "do_judge_promises",
    "do_make_promise",
    "promise_facts",
]

#: The smallest promise accepted, in minor units (1.00).
MIN_AMOUNT = 100
#: The longest promise horizon (due_date - made_on, days) by the case's worst bucket; "*" for any other.
HORIZON_DAYS: Mapping[str, int] = {"M1": 3, "*": 7}
#: A broken or partially kept promise is judged again while its due date is at most this many days before
#: ``as_of``: a payment received by the due date may be seen only in a later extract.
LATE_EXTRACT_DAYS = 7
#: Case states in which no promise can be recorded.
REFUSING_STATES = frozenset({CaseState.CLOSED.value, CaseState.ARCHIVED.value})
#: Statuses a later judgement may still change (the others are final).
_OPEN = (Status.PENDING.value,)
_LATE = (Status.BROKEN.value, Status.PARTIALLY_KEPT.value)


class PromiseRefusedError(RecoupError):
    """A promise breaks a rule; ``details["rule"]`` names it."""

    code = "promise.refused"
    http_status = 422
    exit_code = 65  # EX_DATAERR


def _refuse(rule: str, message: str, **details: object) -> PromiseRefusedError:
    return PromiseRefusedError(message, details={"rule": rule, **details})


def check_promise(
    *,
    case_state: str,
    by: str,
    amount: int,
    made_on: dt.date,
    due_date: dt.date,
    bucket: str | None = None,
    min_amount: int = MIN_AMOUNT,
    horizon_days: Mapping[str, int] = HORIZON_DAYS,
    period_end: dt.date | None = None,
) -> None:
    """Raise :class:`PromiseRefusedError` naming the first rule the promise breaks.

    Rules: ``case_state`` (not on a closed or archived case), ``by``, ``amount_positive``,
    ``amount_minimum``, ``due_before_made`` (due_date >= made_on), ``horizon`` (due_date - made_on at
    most ``horizon_days[bucket]``, else ``horizon_days["*"]``) and ``period_end`` (never past the end of
    the holder's period, when the case has one).
    """
    if case_state in REFUSING_STATES:
        raise _refuse("case_state", f"a {case_state} case takes no promise", state=case_state)
    if by not in {b.value for b in By}:
        raise _refuse("by", f"by {by!r} is not one of debtor, third_party", value=by)
    if amount <= 0:
        raise _refuse("amount_positive", f"the amount {amount} is not positive", amount=amount)
    if amount < min_amount:
        raise _refuse(
            "amount_minimum", f"the amount {amount} is below the minimum {min_amount}", amount=amount
        )
    if due_date < made_on:
        raise _refuse(
            "due_before_made",
            f"due date {due_date.isoformat()} is before the promise date {made_on.isoformat()}",
            due_date=due_date.isoformat(),
            made_on=made_on.isoformat(),
        )
    cap = horizon_days.get(bucket or "*", horizon_days["*"])
    days = (due_date - made_on).days
    if days > cap:
        raise _refuse(
            "horizon",
            f"due date is {days} days after the promise; at most {cap} for bucket {bucket or '*'}",
            days=days,
            cap=cap,
            bucket=bucket,
        )
    if period_end is not None and due_date > period_end:
        raise _refuse(
            "period_end",
            f"due date {due_date.isoformat()} is after the end of the holder's period "
            f"{period_end.isoformat()}",
            due_date=due_date.isoformat(),
            period_end=period_end.isoformat(),
        )


def do_make_promise(
    case_id: int,
    *,
    session: Session,
    actor: str,
    by: str,
    amount: int,
    due_date: dt.date,
    made_at: dt.datetime,
    tz: str | dt.tzinfo,
    recording_ref: str | None = None,
    bucket: str | None = None,
    period_end: dt.date | None = None,
) -> PromiseToPay:
    """Record a promise on case ``case_id`` (``amount`` in minor units). Flushes, never commits.

    ``made_on`` is the date of ``made_at`` in ``tz``. A debtor promise reschedules every pending debtor
    promise of the case whose due date is on or after ``made_on`` (the kernel's rule); a third-party
    promise is stored ``not_counted``. Writes a ``promise.made`` ledger entry (ids and amounts only).
    """
    if made_at.tzinfo is None or made_at.utcoffset() is None:
        raise _refuse("made_at", "made_at has no timezone", made_at=made_at.isoformat())
    try:
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _refuse("tz", f"unknown timezone {tz!r}", tz=str(tz)) from exc
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise NotFoundError(f"no case {case_id}", details={"case_id": case_id})
    made_on = made_at.astimezone(zone).date()
    check_promise(
        case_state=case.state,
        by=by,
        amount=amount,
        made_on=made_on,
        due_date=due_date,
        bucket=bucket,
        period_end=period_end,
    )
    rescheduled: list[int] = []
    if by == By.DEBTOR.value:
        older = session.scalars(
            select(PromiseToPay)
            .where(
                PromiseToPay.case_id == case_id,
                PromiseToPay.by == By.DEBTOR.value,
                PromiseToPay.status == Status.PENDING.value,
                PromiseToPay.due_date >= made_on,
            )
            .order_by(PromiseToPay.id)
        ).all()
        for p in older:
            p.status = Status.RESCHEDULED.value
            p.kept_amount = 0
            rescheduled.append(p.id)
    promise = PromiseToPay(
        case_id=case_id,
        made_at=made_at.astimezone(dt.UTC),
        made_on=made_on,
        by=by,
        amount=amount,
        due_date=due_date,
        status=Status.PENDING.value if by == By.DEBTOR.value else Status.NOT_COUNTED.value,
        kept_amount=0,
        recording_ref=recording_ref,
        made_by=actor,
    )
    session.add(promise)
    session.flush()
    do_append(
        "promise.made",
        {
            "promise_id": promise.id,
            "case_id": case_id,
            "by": by,
            "amount": amount,
            "rescheduled": rescheduled,
        },
        session=session,
        actor=actor,
    )
    return promise


def _payments_by_borrower(book: Book) -> pl.LazyFrame:
    """Payments with their borrower's external id: (borrower_id, received_date, amount, seen_in_extract);
    reversals as negative amounts on the reversed payment's received_date."""
    pay = book.scan("payments").select(
        "payment_id", "loan_id", "received_date", pl.col("amount").cast(pl.Int64), "reverses", "_as_of"
    )
    is_reversal = pl.col("reverses").is_not_null() & (pl.col("reverses") != "")
    originals = pay.filter(~is_reversal)
    reversals = (
        pay.filter(is_reversal)
        .join(
            originals.select(
                pl.col("payment_id").alias("reverses"),
                pl.col("loan_id").alias("_loan"),
                pl.col("received_date").alias("_received"),
            ),
            on="reverses",
            how="inner",
        )
        .select(
            pl.col("_loan").alias("loan_id"),
            pl.col("_received").alias("received_date"),
            (-pl.col("amount")).alias("amount"),
            "_as_of",
        )
    )
    rows = pl.concat([originals.select("loan_id", "received_date", "amount", "_as_of"), reversals])
    loans = book.scan("loans").select("loan_id", "borrower_id")
    return rows.join(loans, on="loan_id", how="inner").select(
        "borrower_id",
        pl.col("received_date").cast(pl.Date),
        "amount",
        pl.col("_as_of").cast(pl.Date).alias("seen_in_extract"),
    )


def do_judge_promises(as_of: dt.date, *, session: Session, book: Book) -> dict[str, int]:
    """Judge every open promise of every case as of ``as_of`` against ``book``; returns counts by status.

    Open: ``pending`` ones made on or before ``as_of``, and ``broken`` / ``partially_kept`` ones due at
    most :data:`LATE_EXTRACT_DAYS` before ``as_of`` (a late extract may still add a payment). Updates
    status, kept_amount and judged_as_of. Flushes, never commits.
    """
    session.flush()
    late_from = as_of - dt.timedelta(days=LATE_EXTRACT_DAYS)
    rows = session.execute(
        select(
            PromiseToPay.case_id,
            PromiseToPay.id,
            PromiseToPay.by,
            PromiseToPay.made_on,
            PromiseToPay.amount,
            PromiseToPay.due_date,
            Borrower.external_id,
        )
        .join(Case, Case.id == PromiseToPay.case_id)
        .join(Borrower, Borrower.id == Case.borrower_id)
        .where(
            PromiseToPay.made_on <= as_of,
            or_(
                PromiseToPay.status.in_(_OPEN),
                PromiseToPay.status.in_(_LATE) & (PromiseToPay.due_date >= late_from),
            ),
        )
        .order_by(PromiseToPay.case_id, PromiseToPay.id)
    ).all()
    if not rows:
        return {}
    db = pl.DataFrame(
        rows,
        schema={
            "case_id": pl.Int64(),
            "pid": pl.Int64(),
            "by": pl.String(),
            "made_on": pl.Date(),
            "amount": pl.Int64(),
            "due_date": pl.Date(),
            "borrower_id": pl.String(),
        },
        orient="row",
    )
    promises = db.select(
        pl.col("case_id"),
        pl.col("pid").cast(pl.String).alias("id"),
        pl.col("pid").alias("seq"),
        "by",
        "made_on",
        "amount",
        "due_date",
    ).cast(PROMISE_SCHEMA)  # type: ignore[arg-type]
    cases = db.select("case_id", "borrower_id").unique().lazy()
    payments = (
        _payments_by_borrower(book)
        .join(cases, on="borrower_id", how="inner")
        .select(
            "case_id",
            pl.lit(None, pl.String).alias("id"),
            "received_date",
            "amount",
            "seen_in_extract",
            pl.lit(None, pl.String).alias("payer"),
        )
        .collect()
        .cast(PAYMENT_SCHEMA)  # type: ignore[arg-type]
    )
    judged = judge_promises(promises, payments, as_of=as_of)
    session.execute(
        update(PromiseToPay),
        judged.select(
            pl.col("id").cast(pl.Int64),
            "status",
            "kept_amount",
            pl.lit(as_of).alias("judged_as_of"),
        ).to_dicts(),
    )
    ids = set(db.get_column("pid").to_list())
    for obj in list(session.identity_map.values()):
        if isinstance(obj, PromiseToPay) and obj.id in ids:
            session.expire(obj)
    counts = judged.group_by("status").len()
    return dict(zip(counts.get_column("status").to_list(), counts.get_column("len").to_list(), strict=True))


#: The lake's ``promise_facts`` columns (one partition per ``as_of``; ``borrower_id`` is the external id).
PROMISE_FACTS_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "promise_id": pl.Int64(),
    "case_id": pl.Int64(),
    "borrower_id": pl.String(),
    "by": pl.String(),
    "status": pl.String(),
    "amount": pl.Int64(),
    "made_on": pl.Date(),
    "due_date": pl.Date(),
}
#: A day's ``promise_facts`` hold the pending promises and those due in the last this many days.
PROMISE_FACTS_DAYS = 90


def promise_facts(*, session: Session, as_of: dt.date) -> pl.DataFrame:
    """The promises made on or before ``as_of`` that are still pending or fell due in the last
    :data:`PROMISE_FACTS_DAYS` days, with their status in the database now, for the lake."""
    since = as_of - dt.timedelta(days=PROMISE_FACTS_DAYS)
    rows = session.execute(
        select(
            PromiseToPay.id,
            PromiseToPay.case_id,
            Borrower.external_id,
            PromiseToPay.by,
            PromiseToPay.status,
            PromiseToPay.amount,
            PromiseToPay.made_on,
            PromiseToPay.due_date,
        )
        .join(Case, Case.id == PromiseToPay.case_id)
        .join(Borrower, Borrower.id == Case.borrower_id)
        .where(
            PromiseToPay.made_on <= as_of,
            or_(PromiseToPay.status.in_(_OPEN), PromiseToPay.due_date >= since),
        )
        .order_by(PromiseToPay.case_id, PromiseToPay.id)
    ).all()
    cols = list(PROMISE_FACTS_SCHEMA)[1:]
    frame = pl.DataFrame(
        [tuple(r) for r in rows], schema={c: PROMISE_FACTS_SCHEMA[c] for c in cols}, orient="row"
    )
    return frame.with_columns(pl.lit(as_of, pl.Date()).alias("as_of")).select(list(PROMISE_FACTS_SCHEMA))
