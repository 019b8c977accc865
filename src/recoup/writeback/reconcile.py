"""Reconciliation: decide each sent instruction against the extracts (``recoup writeback reconcile``).

For the book as of ``as_of`` (the *after* book; it must come from an extract dated after the
instruction's business date) and the book as of each instruction's business date (*before*), the rules
of :mod:`recoup.writeback.kernel` say which instructions the core system applied: those are
``confirmed`` with the extract's date. Of the rest, an instruction sent ``RECOUP_WRITEBACK_STALE_DAYS``
or more days before ``as_of`` becomes ``stale`` (the exception list). Rejections come from the core
system's acknowledgement file (:func:`recoup.writeback.files.do_apply_ack`). One ledger batch entry
(``writeback.reconciled``) lists the changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.contact.models import OutboxMessage
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.lake import Book, Lake, book_as_of, get_lake
from recoup.ledger.service import do_append_batch
from recoup.portfolio.spec import DATASETS, lake_schema
from recoup.writeback.kernel import COMPONENTS, INSTRUCTION_SCHEMA, Frames, confirm
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.service import OPEN, Status

__all__ = ["ReconcileReport", "do_reconcile", "instruction_frame"]


@dataclass
class ReconcileReport:
    as_of: dt.date
    extract: dt.date | None = None  # the extract the after book comes from
    checked: int = 0
    confirmed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # sent, not yet confirmed, not yet stale

    def counts(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "confirmed": len(self.confirmed),
            "stale": len(self.stale),
            "pending": len(self.pending),
        }


def instruction_frame(rows: list[WritebackInstruction]) -> pl.DataFrame:
    """The instructions as the kernel reads them (the payload's fields as columns)."""
    data = []
    for r in rows:
        p = r.payload or {}
        waive = p.get("waive") or {}
        data.append(
            {
                "instruction_id": r.instruction_id,
                "kind": r.kind,
                "loan_id": r.loan_id,
                "loans": [str(x) for x in p.get("loans") or [r.loan_id]],
                "effective_date": r.effective_date,
                "amount": int(r.amount),
                **{f"waive_{c}": int(waive.get(c, 0)) for c in COMPONENTS},
                "reference": p.get("reference"),
            }
        )
    return pl.DataFrame(data, schema=INSTRUCTION_SCHEMA)


def _frames(book: Book | None, loans: list[str]) -> Frames:
    """The loans, instalments and payments of ``loans`` in ``book`` (empty frames without a book)."""
    cols = {
        "loans": ["loan_id", "status"],
        "installments": [
            "loan_id",
            "seq",
            "due_date",
            *(f"{c}_{s}" for c in COMPONENTS for s in ("due", "paid")),
        ],
        "payments": ["payment_id", "loan_id", "received_date", "amount", "reference", "reverses"],
    }

    def read(name: str) -> pl.DataFrame:
        if book is None:
            schema = lake_schema(DATASETS[name])
            return pl.DataFrame(schema={c: schema[c] for c in cols[name]})
        return book.scan(name).filter(pl.col("loan_id").is_in(loans)).select(cols[name]).collect()

    return Frames(read("loans"), read("installments"), read("payments"))


def _book(day: dt.date, *, session: Session, lake: Lake) -> Book | None:
    try:
        return book_as_of(day, session=session, lake=lake)
    except NotFoundError:
        return None


def _delivered_by_webhook(*, session: Session, settings: Settings) -> None:
    """A pending instruction whose webhook the dispatcher delivered is sent (on the day it was delivered),
    though no day's file carried it yet."""
    delivered = session.execute(
        select(WritebackInstruction, OutboxMessage.sent_at)
        .join(OutboxMessage, OutboxMessage.message_id == WritebackInstruction.outbox_message_id)
        .where(
            WritebackInstruction.status == Status.PENDING.value,
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at.is_not(None),
        )
    ).all()
    for row, sent_at in delivered:
        if sent_at is not None:
            row.status, row.sent_at = Status.SENT.value, sent_at
            row.sent_on = sent_at.astimezone(settings.tz).date()


def do_reconcile(
    as_of: dt.date,
    *,
    session: Session,
    lake: Lake | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    actor: str = "system",
) -> ReconcileReport:
    """Confirm what the extracts show, mark the overdue rest stale; flushes, never commits."""
    s = settings or get_settings()
    lk = lake or get_lake(s)
    at = now or utcnow()
    report = ReconcileReport(as_of)
    _delivered_by_webhook(session=session, settings=s)
    rows = list(
        session.scalars(
            select(WritebackInstruction)
            .where(WritebackInstruction.status.in_(sorted(OPEN)), WritebackInstruction.business_date <= as_of)
            .order_by(WritebackInstruction.business_date, WritebackInstruction.id)
        )
    )
    report.checked = len(rows)
    after = _book(as_of, session=session, lake=lk)
    report.extract = after.manifest_as_of if after is not None else None
    confirmed: set[str] = set()
    if after is not None:
        by_day: dict[dt.date, list[WritebackInstruction]] = {}
        for r in rows:
            if after.manifest_as_of > r.business_date:  # only an extract after the instruction can show it
                by_day.setdefault(r.business_date, []).append(r)
        for day, group in by_day.items():
            instr = instruction_frame(group)
            loans = instr.get_column("loans").explode().unique().to_list()
            verdicts = confirm(
                instr, _frames(_book(day, session=session, lake=lk), loans), _frames(after, loans)
            )
            confirmed |= set(verdicts.filter(pl.col("confirmed")).get_column("instruction_id").to_list())
    items: list[dict[str, object]] = []
    for r in rows:
        if r.instruction_id in confirmed:
            r.status, r.resolved_at, r.confirmed_extract = Status.CONFIRMED.value, at, report.extract
            report.confirmed.append(r.instruction_id)
        elif (
            r.status == Status.SENT.value and r.sent_on and (as_of - r.sent_on).days >= s.writeback_stale_days
        ):
            r.status, r.stale_on = Status.STALE.value, as_of
            report.stale.append(r.instruction_id)
        else:
            report.pending.append(r.instruction_id)
            continue
        items.append({"instruction_id": r.instruction_id, "kind": r.kind, "status": r.status})
    session.flush()
    if items:
        do_append_batch(
            "writeback.reconciled",
            {
                "as_of": as_of.isoformat(),
                "extract": report.extract.isoformat() if report.extract else None,
                **report.counts(),
            },
            items,
            session=session,
            actor=actor,
            settings=s,
        )
    return report
