"""Limitation periods (诉讼时效) on the database: each debt's restart events gathered from where they are
recorded, the kernel :func:`recoup.legal.kernel.limitation_dates` over them, the result stored per debt,
and time-barred debts flagged to the contact engine.

**What restarts a debt's period** (the choice, with its basis — docs/legal.md):

- *payments* in the extracts (the lake's ``payments`` when given, and the accounts' mirrored payments):
  partial performance. A reversal row, and the payment it reverses, do not count;
- *acknowledgements*: a promise to pay made by the debtor (诉讼时效规定 art. 14: 分期履行、部分履行、
  请求延期履行、制定清偿债务计划 count as 同意履行义务) and acknowledgements recorded by hand with their
  evidence (a signed confirmation, a plan);
- *demands* that reached the debtor (民法典 §195(1); 诉讼时效规定 art. 8(2): a letter or data message
  counts when it arrives): a message (SMS, email, IM, letter) to the debtor **with a delivery receipt**
  (the dispatcher's ``delivered``), or logged as connected by a collector or an imported log; a
  conversation with the debtor (call, robot call, visit) **with a recording** (CN-REC keeps them: the
  recording proves what was said); and demands recorded by hand with their evidence (a lawyer's letter
  with its proof of service). An unanswered call, a message without a receipt, or a contact with
  anyone but the debtor is not a demand;
- *legal actions*: a matter's move into pre-suit mediation, a batch suit, a payment order, a suit,
  judicial confirmation or enforcement (民法典 §195(3)–(4)), and legal actions recorded by hand.

The period starts at the last instalment's due date (民法典 §189), or earlier at an ``acceleration``
recorded by hand. A debt is time-barred the day after its limitation date.

**The flag.** The contact engine judges per borrower: a borrower with any time-barred debt in
collections carries the ``time_barred`` flag (``contact_flag``, ``set_by = "limitation"``), which the
policy's ``TIME-BARRED`` rule and the content linter read at send time — a message threatening suit is
blocked (or, where a preset sets ``block_all``, every contact). The flag is cleared (``cleared_at``)
when no debt of the borrower is time-barred any more. Flags set by people are left alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import polars as pl
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, aliased

from recoup.auth.models import AppUser
from recoup.cases.models import Case, PromiseToPay
from recoup.config import Settings, get_settings
from recoup.contact.models import ContactAttempt, ContactFlag, OutboxMessage
from recoup.contact.policy.model import Flag
from recoup.contact.service import do_set_flag
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.legal import kernel, stages
from recoup.legal.common import business_day, refuse, text
from recoup.legal.models import LegalMatterAccount, LegalStageMove, LimitationEvent, LimitationStatus
from recoup.money import add_months
from recoup.portfolio.models import AccountInstallment, AccountPayment, Borrower, CollectionAccount

__all__ = [
    "FLAG_SETTER",
    "ManualKind",
    "RefreshResult",
    "do_record_event",
    "do_refresh_limitations",
    "gather",
    "watch_list",
]

#: ``contact_flag.set_by`` of the flags this module sets (and may clear).
FLAG_SETTER: Final = "limitation"
#: Days before the limitation date a debt enters the watch list, by default.
WATCH_DAYS: Final = 90
MESSAGE_CHANNELS: Final = ("sms", "email", "im", "letter")
CONVERSATION_CHANNELS: Final = ("call", "robot_call", "visit")
#: Outbox templates that are not demands (the notice of a debt's transfer).
NOT_DEMANDS: Final = ("legal:transfer_notice",)


class ManualKind(StrEnum):
    """Events a person records with their evidence."""

    ACKNOWLEDGEMENT = "acknowledgement"
    DEMAND = "demand"
    LEGAL_ACTION = "legal_action"
    ACCELERATION = "acceleration"  # the loan was declared due in full: the period starts then


_EVENT_SCHEMA = {"loan_id": pl.String(), "on": pl.Date(), "kind": pl.String(), "source": pl.String()}


def _debts(*, session: Session) -> pl.DataFrame:
    """Open accounts in collections: account id, loan id, borrower key, case id and the period's start."""
    last_due = (
        select(AccountInstallment.account_id, func.max(AccountInstallment.due_date).label("last_due"))
        .group_by(AccountInstallment.account_id)
        .subquery()
    )
    rows = session.execute(
        select(
            CollectionAccount.id,
            CollectionAccount.external_id,
            Borrower.external_id,
            CollectionAccount.case_id,
            last_due.c.last_due,
            CollectionAccount.disbursement_date,
            CollectionAccount.term_months,
        )
        .join(Borrower, Borrower.id == CollectionAccount.borrower_id)
        .outerjoin(last_due, last_due.c.account_id == CollectionAccount.id)
        .where(CollectionAccount.status == "open")
        .order_by(CollectionAccount.id)
    ).all()
    accel = dict(
        session.execute(
            select(LimitationEvent.account_id, func.min(LimitationEvent.on))
            .where(LimitationEvent.kind == ManualKind.ACCELERATION.value)
            .group_by(LimitationEvent.account_id)
        ).all()
    )
    data: list[dict[str, Any]] = []
    for aid, loan, borrower, case_id, due, disbursed, term in rows:
        start = due or add_months(disbursed, int(term or 0))
        if aid in accel:
            start = min(start, accel[aid])
        data.append(
            {"account_id": aid, "loan_id": loan, "borrower_key": borrower, "case_id": case_id, "start": start}
        )
    return pl.DataFrame(
        data,
        schema={
            "account_id": pl.Int64,
            "loan_id": pl.String,
            "borrower_key": pl.String,
            "case_id": pl.Int64,
            "start": pl.Date,
        },
    )


def _frame(rows: list[tuple[str, dt.date, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=_EVENT_SCHEMA, orient="row")


def _spread(per_key: list[tuple[Any, dt.date, str, str]], debts: pl.DataFrame, key: str) -> pl.DataFrame:
    """Events given per ``key`` (a borrower key or case id) → one per open debt of that key."""
    if not per_key:
        return _frame([])
    ev = pl.DataFrame(
        per_key,
        schema={key: debts.schema[key], "on": pl.Date(), "kind": pl.String(), "source": pl.String()},
        orient="row",
    )
    return ev.join(debts.select(key, "loan_id"), on=key, how="inner").select(list(_EVENT_SCHEMA))


def payments_frame(
    *,
    session: Session,
    loan_ids: list[str] | None = None,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
    open_only: bool = False,
) -> pl.DataFrame:
    """Payments (``payment_id``, ``loan_id``, ``received_date``, ``amount``, ``reverses``) from the lake's
    ``payments`` when given and the accounts' mirrored payments, one row per payment id: of ``loan_ids``
    when given, of the open accounts in collections with ``open_only``."""
    stmt = select(
        AccountPayment.external_id,
        CollectionAccount.external_id,
        AccountPayment.received_date,
        AccountPayment.amount,
        AccountPayment.reverses,
    ).join(CollectionAccount, CollectionAccount.id == AccountPayment.account_id)
    if open_only:
        stmt = stmt.where(CollectionAccount.status == "open")
    schema = {
        "payment_id": pl.String(),
        "loan_id": pl.String(),
        "received_date": pl.Date(),
        "amount": pl.Int64(),
        "reverses": pl.String(),
    }
    frames = []
    parts = [loan_ids[i : i + 900] for i in range(0, len(loan_ids), 900)] if loan_ids is not None else [None]
    for part in parts:
        q = stmt if part is None else stmt.where(CollectionAccount.external_id.in_(part))
        frames.append(pl.DataFrame([tuple(r) for r in session.execute(q)], schema=schema, orient="row"))
    if lake_payments is not None:
        lp = lake_payments.lazy()
        if loan_ids is not None:
            lp = lp.filter(pl.col("loan_id").cast(pl.String).is_in(loan_ids))
        elif open_only:
            lp = lp.filter(
                pl.col("loan_id")
                .cast(pl.String)
                .is_in(
                    list(
                        session.scalars(
                            select(CollectionAccount.external_id).where(CollectionAccount.status == "open")
                        )
                    )
                )
            )
        frames.append(
            lp.select(
                pl.col("payment_id").cast(pl.String),
                pl.col("loan_id").cast(pl.String),
                pl.col("received_date").cast(pl.Date),
                pl.col("amount").cast(pl.Int64),
                pl.col("reverses").cast(pl.String),
            ).collect()
        )
    return pl.concat(frames).unique("payment_id", keep="first", maintain_order=True)


def gather(
    *,
    session: Session,
    as_of: dt.date,
    settings: Settings,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(debts, events): the open debts with their start, and every restart event recorded up to ``as_of``
    (``loan_id``, ``on``, ``kind``, ``source``)."""
    debts = _debts(session=session)
    open_ids = select(CollectionAccount.id).where(CollectionAccount.status == "open")
    tz = settings.tz
    parts: list[pl.DataFrame] = []
    # Payments: not a reversal, and not reversed.
    pays = payments_frame(session=session, lake_payments=lake_payments, open_only=True)
    reversed_ids = pays.get_column("reverses").drop_nulls()
    parts.append(
        pays.filter(
            pl.col("reverses").is_null() & ~pl.col("payment_id").is_in(reversed_ids.implode())
        ).select(
            "loan_id",
            pl.col("received_date").alias("on"),
            pl.lit(kernel.EventKind.PAYMENT.value).alias("kind"),
            pl.lit("payment").alias("source"),
        )
    )
    # Promises to pay by the debtor: acknowledgements of every debt of the case.
    promises = session.execute(
        select(PromiseToPay.case_id, PromiseToPay.made_on).where(
            PromiseToPay.by == "debtor", PromiseToPay.made_on <= as_of
        )
    ).all()
    parts.append(
        _spread(
            [(c, d, kernel.EventKind.ACKNOWLEDGEMENT.value, "promise") for c, d in promises], debts, "case_id"
        )
    )
    # Delivered messages to the debtor (a receipt), for their debt or every debt of the borrower.
    msgs = session.execute(
        select(OutboxMessage.borrower_key, OutboxMessage.debt_key, OutboxMessage.sent_at).where(
            OutboxMessage.party == "debtor",
            OutboxMessage.delivered.is_(True),
            OutboxMessage.sent_at.is_not(None),
            func.coalesce(OutboxMessage.template, "").not_in(NOT_DEMANDS),
        )
    ).all()
    # Contacts logged by people or imported: messages connected, conversations with a recording.
    attempts = session.execute(
        select(ContactAttempt.borrower_key, ContactAttempt.debt_key, ContactAttempt.at).where(
            ContactAttempt.party == "debtor",
            (
                and_(
                    ContactAttempt.channel.in_(MESSAGE_CHANNELS),
                    ContactAttempt.source != "dispatcher",
                    ContactAttempt.outcome.in_(("connected", "conversation")),
                )
                | and_(
                    ContactAttempt.channel.in_(CONVERSATION_CHANNELS),
                    ContactAttempt.outcome == "conversation",
                    ContactAttempt.recording_ref.is_not(None),
                )
            ),
        )
    ).all()
    demand = kernel.EventKind.DEMAND.value
    per_debt: list[tuple[str, dt.date, str, str]] = []
    per_borrower: list[tuple[str, dt.date, str, str]] = []
    for source, rows in (("message", msgs), ("contact", attempts)):
        for borrower, debt, at in rows:
            if at is None:
                continue
            day = at.astimezone(tz).date()
            if day > as_of:
                continue
            if debt:
                per_debt.append((debt, day, demand, source))
            else:
                per_borrower.append((borrower, day, demand, source))
    parts.append(_frame(per_debt))
    parts.append(_spread(per_borrower, debts, "borrower_key"))
    # Events recorded by hand (acceleration is a start, not a restart).
    manual = session.execute(
        select(CollectionAccount.external_id, LimitationEvent.on, LimitationEvent.kind)
        .join(CollectionAccount, CollectionAccount.id == LimitationEvent.account_id)
        .where(
            LimitationEvent.kind != ManualKind.ACCELERATION.value, LimitationEvent.account_id.in_(open_ids)
        )
    ).all()
    parts.append(_frame([(loan, on, kind, "recorded") for loan, on, kind in manual]))
    # Legal matters: moves into the stages that interrupt the period.
    mac = aliased(LegalMatterAccount)
    filings = session.execute(
        select(mac.loan_id, LegalStageMove.on)
        .join(mac, mac.matter_id == LegalStageMove.matter_id)
        .where(LegalStageMove.to_stage.in_([s.value for s in stages.INTERRUPTING]))
    ).all()
    parts.append(_frame([(loan, on, kernel.EventKind.LEGAL_ACTION.value, "matter") for loan, on in filings]))
    events = pl.concat([p.select(list(_EVENT_SCHEMA)).cast(_EVENT_SCHEMA) for p in parts])  # type: ignore[arg-type]
    return debts, events.filter(pl.col("on") <= as_of).sort("loan_id", "on", "kind")


@dataclass
class RefreshResult:
    as_of: dt.date
    debts: int
    barred: int
    approaching: int  # within WATCH_DAYS of the limitation date, not barred
    flagged: list[str]  # borrowers flagged time-barred now
    cleared: list[str]  # borrowers whose flag was cleared

    def summary(self) -> str:
        return (
            f"{self.debts} debts: {self.barred} time-barred, {self.approaching} within {WATCH_DAYS} days; "
            f"flag set on {len(self.flagged)}, cleared on {len(self.cleared)} borrower(s)"
        )


def do_refresh_limitations(
    as_of: dt.date,
    *,
    session: Session,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    actor: str = "system",
) -> RefreshResult:
    """Compute every open debt's limitation date as of ``as_of``, store it, and set or clear the borrowers'
    ``time_barred`` flags. Idempotent for a day: a second run changes nothing."""
    s = settings or get_settings()
    at = now or utcnow()
    debts, events = gather(session=session, as_of=as_of, settings=s, lake_payments=lake_payments)
    out = kernel.limitation_dates(debts.select("loan_id", "start"), events, as_of=as_of)
    out = out.join(debts.select("loan_id", "account_id", "borrower_key"), on="loan_id", how="inner")
    existing = {r.account_id: r for r in session.scalars(select(LimitationStatus))}
    for r in out.iter_rows(named=True):
        row = existing.get(r["account_id"])
        values = (
            r["loan_id"],
            r["borrower_key"],
            r["start"],
            r["last_event_on"],
            r["last_event_kind"],
            r["limitation_date"],
            bool(r["time_barred"]),
        )
        if row is not None and values == (
            row.loan_id,
            row.borrower_key,
            row.start_on,
            row.last_event_on,
            row.last_event_kind,
            row.limitation_date,
            row.time_barred,
        ):
            continue  # unchanged: only its date of computation moves (one statement below)
        if row is None:
            row = LimitationStatus(account_id=r["account_id"])
            session.add(row)
        (
            row.loan_id,
            row.borrower_key,
            row.start_on,
            row.last_event_on,
            row.last_event_kind,
            row.limitation_date,
            row.time_barred,
        ) = values
        row.as_of, row.computed_at = as_of, at
    session.flush()
    session.execute(
        update(LimitationStatus)
        .where(
            LimitationStatus.account_id.in_(
                select(CollectionAccount.id).where(CollectionAccount.status == "open")
            )
        )
        .values(as_of=as_of, computed_at=at)
        .execution_options(synchronize_session=False)
    )
    barred = set(out.filter(pl.col("time_barred")).get_column("borrower_key").to_list())
    active = list(
        session.scalars(
            select(ContactFlag).where(
                ContactFlag.flag == Flag.TIME_BARRED.value, ContactFlag.cleared_at.is_(None)
            )
        )
    )
    have = {f.borrower_key for f in active}
    flagged = sorted(barred - have)
    for key in flagged:
        do_set_flag(
            session=session, borrower_key=key, flag=Flag.TIME_BARRED.value, set_at=at, set_by=FLAG_SETTER
        )
    cleared = sorted(
        {f.borrower_key for f in active if f.set_by == FLAG_SETTER and f.borrower_key not in barred}
    )
    for f in active:
        if f.set_by == FLAG_SETTER and f.borrower_key not in barred:
            f.cleared_at = at
    session.flush()
    n_barred = int(out.get_column("time_barred").sum() or 0)
    approaching = out.filter(~pl.col("time_barred") & (pl.col("days_left") <= WATCH_DAYS)).height
    if flagged or cleared or n_barred:
        do_append(
            "limitation.refreshed",
            {
                "as_of": as_of.isoformat(),
                "debts": out.height,
                "barred": n_barred,
                "flagged": flagged,
                "cleared": cleared,
            },
            session=session,
            actor=actor,
            settings=s,
        )
    return RefreshResult(as_of, out.height, n_barred, approaching, flagged, cleared)


def do_record_event(
    account: CollectionAccount,
    *,
    session: Session,
    actor: AppUser,
    kind: str,
    on: dt.date,
    evidence_ref: str,
    note: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> LimitationEvent:
    """Record an acknowledgement, a demand, a legal action or an acceleration with its evidence. The next
    refresh (the daily cycle, or ``recoup legal limitation refresh``) takes it into account."""
    s = settings or get_settings()
    at = now or utcnow()
    if kind not in {k.value for k in ManualKind}:
        raise refuse(
            "kind", f"unknown event kind {kind!r}", "未知的事件类型", allowed=[k.value for k in ManualKind]
        )
    if on > business_day(at, s):
        raise refuse("on", f"{on} is in the future", "日期不能晚于今天", on=on.isoformat())
    row = LimitationEvent(
        account_id=account.id,
        kind=kind,
        on=on,
        evidence_ref=text(evidence_ref, "evidence_ref", low=3, high=300),
        note=note.strip()[:500],
        recorded_by=actor.username,
        recorded_at=at,
    )
    session.add(row)
    session.flush()
    do_append(
        "limitation.event_recorded",
        {"event_id": row.id, "account_id": account.id, "kind": kind, "on": on.isoformat()},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return row


@dataclass(frozen=True)
class WatchRow:
    case_id: int | None
    loan_id: str
    borrower_name: str
    limitation_date: dt.date
    last_event_on: dt.date
    last_event_kind: str
    days_left: int
    time_barred: bool
    overdue_amount: int
    currency: str


def watch_list(
    *, session: Session, as_of: dt.date, within_days: int = WATCH_DAYS, limit: int = 500
) -> list[WatchRow]:
    """Open debts whose limitation date is within ``within_days`` of ``as_of`` or already past (time-barred
    first, then the nearest date first)."""
    until = as_of + dt.timedelta(days=within_days)
    rows = session.execute(
        select(
            CollectionAccount.case_id,
            LimitationStatus.loan_id,
            Borrower.name,
            LimitationStatus.limitation_date,
            LimitationStatus.last_event_on,
            LimitationStatus.last_event_kind,
            CollectionAccount.overdue_amount,
            CollectionAccount.currency,
        )
        .join(CollectionAccount, CollectionAccount.id == LimitationStatus.account_id)
        .join(Borrower, Borrower.id == CollectionAccount.borrower_id)
        .outerjoin(Case, Case.id == CollectionAccount.case_id)
        .where(CollectionAccount.status == "open", LimitationStatus.limitation_date <= until)
        .order_by(LimitationStatus.limitation_date, LimitationStatus.loan_id)
        .limit(limit)
    ).all()
    return [
        WatchRow(
            case_id=c,
            loan_id=loan,
            borrower_name=name or "",
            limitation_date=lim,
            last_event_on=last,
            last_event_kind=kind,
            days_left=(lim - as_of).days,
            time_barred=lim < as_of,
            overdue_amount=int(amount or 0),
            currency=cur or "CNY",
        )
        for c, loan, name, lim, last, kind, amount, cur in rows
    ]


def case_limitations(case_id: int, *, session: Session) -> list[LimitationStatus]:
    """The stored limitation status of each open account of a case."""
    return list(
        session.scalars(
            select(LimitationStatus)
            .join(CollectionAccount, CollectionAccount.id == LimitationStatus.account_id)
            .where(CollectionAccount.case_id == case_id, CollectionAccount.status == "open")
            .order_by(LimitationStatus.loan_id)
        )
    )


def lake_payments(
    *, session: Session, settings: Settings, as_of: dt.date, loan_ids: list[str] | None = None
) -> pl.DataFrame | None:
    """The lake's ``payments`` of the book as of ``as_of`` (of ``loan_ids`` when given), or None when
    nothing has been imported yet or the lake cannot be read: the mirrored payments are used alone then."""
    from recoup.errors import RecoupError
    from recoup.lake import book_as_of, get_lake

    try:
        lf = book_as_of(as_of, session=session, lake=get_lake(settings)).scan("payments")
        if loan_ids is not None:
            lf = lf.filter(pl.col("loan_id").cast(pl.String).is_in(loan_ids))
        return lf.select("payment_id", "loan_id", "received_date", "amount", "reverses").collect()
    except RecoupError:
        return None
    except Exception:  # an unreadable lake (a storage error of delta-rs): fall back to the mirror
        return None
