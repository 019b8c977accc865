"""Case intake and the case lifecycle: one borrower, one case. Services take ``session`` and never commit.

Every change of a case's state goes through :func:`do_transition` (people) or the daily cycle's
:func:`do_intake`, both checked by :func:`recoup.cases.lifecycle.check_transition` and both recording
a ``case_transition`` row and an audit-ledger entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup import rules
from recoup.cases import lifecycle
from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case, CaseTransition
from recoup.cases.tables import CASE_GRADE
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.lake import Book
from recoup.ledger.service import do_append, do_append_batch
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.portfolio.service import do_sync_accounts


@dataclass(frozen=True)
class IntakeResult:
    accounts_open: int
    cases_open: int
    opened: int
    closed: int


def grade_cases(daily: pl.DataFrame, book: Book, table: rules.DecisionTable | None = None) -> pl.DataFrame:
    """Per borrower in collections: max DPD, overdue amount, customer type, collateral → grade."""
    t = table or rules.load_table(CASE_GRADE)
    open_rows = daily.filter(pl.col("in_collections"))
    collateral = book.scan("collateral").select("loan_id").unique().collect()
    borrowers = book.scan("borrowers").select("borrower_id", "customer_type").collect()
    per = (
        open_rows.join(collateral.with_columns(has_collateral=pl.lit(True)), on="loan_id", how="left")
        .group_by("borrower_id")
        .agg(
            max_dpd=pl.col("dpd").max(),
            overdue_amount=pl.col("overdue_amount").sum(),
            has_collateral=pl.col("has_collateral").fill_null(False).any(),
        )
        .join(borrowers, on="borrower_id", how="left")
        .with_columns(pl.col("customer_type").fill_null("individual"))
    )
    return rules.evaluate(per, t, rule_column="grade_rule").sort("borrower_id")


def do_intake(
    daily: pl.DataFrame,
    book: Book,
    *,
    session: Session,
    as_of: dt.date,
    grade_table: rules.DecisionTable | None = None,
    settings: Settings | None = None,
) -> IntakeResult:
    """Mirror accounts in collections, open a case per borrower with any, close cases with none left.

    A new case enters ``intake``; a case with no account left is closed (``paid`` when every loan is
    paid off, else ``cured``) through the lifecycle table with :data:`~lifecycle.CYCLE_PERMISSIONS`.
    Each move is a ``case_transition`` row (actor ``cycle``); the day's moves are one ledger batch
    entry ``case.intake`` whose items are (case, from, to, close reason)."""
    do_sync_accounts(daily, book, session=session)
    table = grade_table or rules.load_table(CASE_GRADE)
    grades = grade_cases(daily, book, table)
    version = f"case_grade v{table.version} {rules.table_hash(table)[:12]}"
    ext_ids = grades.get_column("borrower_id").to_list()
    borrower_pk = {
        b.external_id: b.id
        for chunk in range(0, len(ext_ids), 900)
        for b in session.scalars(
            select(Borrower).where(Borrower.external_id.in_(ext_ids[chunk : chunk + 900]))
        )
    }
    open_cases = {c.borrower_id: c for c in session.scalars(select(Case).where(Case.status == "open"))}
    now = utcnow()
    moves: list[tuple[Case, str | None, str, str | None]] = []
    opened = 0
    for row in grades.iter_rows(named=True):
        pk = borrower_pk[row["borrower_id"]]
        case = open_cases.get(pk)
        if case is None:
            case = Case(borrower_id=pk, opened_on=as_of, status="open", grade=row["grade"], grade_rule="")
            _enter(case, lifecycle.INITIAL_STATE, None, now=now, on=as_of)
            session.add(case)
            open_cases[pk] = case
            moves.append((case, None, lifecycle.INITIAL_STATE, None))
            opened += 1
        case.grade, case.grade_rule, case.config_version = row["grade"], row["grade_rule"], version
    session.flush()
    accounts = session.scalars(select(CollectionAccount).where(CollectionAccount.status == "open")).all()
    for acc in accounts:
        acc.case_id = open_cases[acc.borrower_id].id
    status = dict(
        zip(daily.get_column("loan_id").to_list(), daily.get_column("status").to_list(), strict=True)
    )
    closed = 0
    still_open = {a.borrower_id for a in accounts}
    for pk, case in open_cases.items():
        if pk in still_open:
            continue
        loans = session.scalars(
            select(CollectionAccount.external_id).where(CollectionAccount.case_id == case.id)
        )
        paid = all(status.get(ext) == "paid_off" for ext in loans)
        close_reason = lifecycle.CloseReason.PAID if paid else lifecycle.CloseReason.CURED
        lifecycle.check_transition(
            case.state,
            CaseState.CLOSED,
            permissions=lifecycle.CYCLE_PERMISSIONS,
            reason=_CYCLE_CLOSE_REASON,
            close_reason=close_reason,
            current_close_reason=case.close_reason,
        )
        moves.append((case, case.state, CaseState.CLOSED, close_reason))
        _enter(case, CaseState.CLOSED, close_reason, now=now, on=as_of)
        closed += 1
    session.flush()
    if moves:
        _record_intake(moves, session=session, now=now, as_of=as_of, settings=settings)
    return IntakeResult(len(accounts), len(still_open), opened, closed)


_CYCLE_ACTOR = "cycle"
_CYCLE_OPEN_REASON = "accounts in collections"
_CYCLE_CLOSE_REASON = "no account left in collections"


def _enter(case: Case, to: str, close_reason: str | None, *, now: dt.datetime, on: dt.date) -> None:
    """Put ``case`` in state ``to`` from ``now`` (business day ``on``); keep status and dates in step."""
    case.state = str(to)
    case.state_since = now
    case.state_due = lifecycle.deadline(to, on, close_reason)
    if to == CaseState.CLOSED:
        case.close_reason, case.closed_on = str(close_reason), on
    elif to != CaseState.ARCHIVED:
        case.close_reason, case.closed_on = None, None
    case.status = "open" if lifecycle.is_collectable(case.state, case.close_reason) else "closed"


def _record_intake(
    moves: Sequence[tuple[Case, str | None, str, str | None]],
    *,
    session: Session,
    now: dt.datetime,
    as_of: dt.date,
    settings: Settings | None,
) -> None:
    items = []
    for case, frm, to, close_reason in moves:
        session.add(
            CaseTransition(
                case_id=case.id,
                from_state=frm,
                to_state=str(to),
                actor=_CYCLE_ACTOR,
                reason=_CYCLE_OPEN_REASON if frm is None else _CYCLE_CLOSE_REASON,
                close_reason=close_reason and str(close_reason),
                at=now,
            )
        )
        items.append({"case_id": case.id, "from": frm, "to": str(to), "close_reason": close_reason})
    session.flush()
    do_append_batch(
        "case.intake",
        {"as_of": as_of.isoformat(), "opened": sum(f is None for _, f, _, _ in moves), "moves": len(items)},
        items,
        session=session,
        actor=_CYCLE_ACTOR,
        settings=settings,
    )


def do_transition(
    case_id: int,
    to_state: str,
    *,
    session: Session,
    actor: str,
    permissions: Collection[str],
    reason: str,
    close_reason: str | None = None,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> CaseTransition:
    """Move case ``case_id`` to ``to_state`` if the lifecycle table allows it for ``permissions``.

    Raises :class:`~lifecycle.InvalidTransitionError` (with the allowed list),
    :class:`~lifecycle.TransitionForbiddenError` or :class:`~lifecycle.TransitionRequirementError`
    and then changes nothing. Otherwise updates the state, its start and deadline (in business days
    of the lender's timezone), records a ``case_transition`` row and a ``case.transition`` ledger entry
    (ids and codes only; the reason text stays in the database). Flushes, never commits.
    """
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise NotFoundError(f"no case {case_id}", details={"case_id": case_id})
    lifecycle.check_transition(
        case.state,
        to_state,
        permissions=permissions,
        reason=reason,
        close_reason=close_reason,
        current_close_reason=case.close_reason,
    )
    cfg = settings or get_settings()
    at = now or utcnow()
    frm = case.state
    _enter(case, CaseState(to_state), close_reason, now=at, on=at.astimezone(cfg.tz).date())
    row = CaseTransition(
        case_id=case.id,
        from_state=frm,
        to_state=str(to_state),
        actor=actor,
        reason=reason.strip(),
        close_reason=close_reason,
        at=at,
    )
    session.add(row)
    session.flush()
    do_append(
        "case.transition",
        {
            "case_id": case.id,
            "transition_id": row.id,
            "from": frm,
            "to": str(to_state),
            "close_reason": close_reason,
        },
        session=session,
        actor=actor,
        settings=cfg,
    )
    return row


def overdue_cases(as_of: dt.date, *, session: Session) -> list[Case]:
    """The cases past their state's deadline on business day ``as_of`` (``state_due`` before it),
    oldest deadline first. Archived cases have no deadline.

    This is only the query: raising a task for the holder's team lead comes with the work-queue part.
    """
    return list(
        session.scalars(
            select(Case)
            .where(Case.state_due.is_not(None), Case.state_due < as_of)
            .order_by(Case.state_due, Case.id)
        )
    )


def list_transitions(case_id: int, *, session: Session) -> list[CaseTransition]:
    """A case's recorded moves, oldest first."""
    return list(
        session.scalars(
            select(CaseTransition)
            .where(CaseTransition.case_id == case_id)
            .order_by(CaseTransition.at, CaseTransition.id)
        )
    )


#: The lake's ``case_facts`` columns: what the strategy needs of the floor, per borrower in collections.
CASE_FACTS_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "borrower_id": pl.String(),
    "case_id": pl.Int64(),
    "stopped": pl.Boolean(),
    "contact_status": pl.String(),
    "preferred_channel": pl.String(),
    "preferred_hour": pl.Int64(),
}


def case_facts(*, session: Session, as_of: dt.date) -> pl.DataFrame:
    """Per open case, as the database holds it now: whether collection is stopped (停催), the contact
    status, and the borrower's stated preferred channel and hour (from the contact log), for the lake."""
    rows = session.execute(
        select(
            Borrower.external_id,
            Case.id,
            Case.stopped,
            Case.contact_status,
            Borrower.preferred_channel,
            Borrower.preferred_hour,
        )
        .join(Borrower, Borrower.id == Case.borrower_id)
        .where(Case.status == "open")
        .order_by(Case.id)
    ).all()
    names = [n for n in CASE_FACTS_SCHEMA if n != "as_of"]
    frame = pl.DataFrame(
        [dict(zip(names, r, strict=True)) for r in rows], schema={n: CASE_FACTS_SCHEMA[n] for n in names}
    )
    return frame.select(pl.lit(as_of, pl.Date).alias("as_of"), *names)
