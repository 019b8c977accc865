"""Judging active plans, waivers and settlements against the book, as promises are judged: the daily
cycle's intake step calls :func:`do_judge_resolutions` right after the promises, before the accounts are
mirrored. The rules are the kernel's (:mod:`recoup.resolutions.kernel`, docs/resolutions.md); payments
come from the lake's append-only ``payments`` (reversals subtracted), seen from the extract they arrived in.

What a verdict does:

- a plan whose instalment was missed is ``broken`` and its case returns to collection (``plan`` →
  ``negotiation``); a waiver or settlement whose money did not arrive in time ``lapsed`` (先还后减: nothing
  is waived) and a settlement's case returns to ``negotiation`` too;
- a resolution paid in time is ``honoured`` and its waiver takes effect; a settlement whose loans have
  left collections closes its case as ``settled`` (when they are still in the book's collections, the
  core system has not applied the waiver yet, and the case waits in ``settlement``).

Every change is one ``resolution.judged`` ledger batch entry (items: resolution, case, status, paid).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recoup.cases.lifecycle import CaseState, CloseReason
from recoup.cases.models import Case
from recoup.cases.promise_service import _payments_by_borrower
from recoup.cases.service import do_transition
from recoup.config import Settings, get_settings
from recoup.lake import Book
from recoup.ledger.service import do_append_batch
from recoup.portfolio.models import Borrower
from recoup.resolutions.kernel import INSTALMENT_SCHEMA, PAYMENT_SCHEMA, judge
from recoup.resolutions.models import Resolution, ResolutionInstalment

__all__ = ["do_judge_resolutions"]

ACTOR: Final = "cycle"
#: The permissions the cycle acts with when a verdict moves a case.
CYCLE_PERMISSIONS: Final = frozenset({"case.work", "case.close"})


def _missed_status(kind: str) -> str:
    return "broken" if kind == "plan" else "lapsed"


def do_judge_resolutions(
    as_of: dt.date,
    *,
    session: Session,
    book: Book,
    in_collections: set[str] | None = None,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Judge every active resolution whose payments may have started by ``as_of``; returns counts of the
    verdicts (``active``, ``honoured``, ``broken``, ``lapsed``). ``in_collections``: the loans (external
    ids) in collections on ``as_of``, to close an honoured settlement's case once its loans left (None:
    never close). Flushes, never commits."""
    session.flush()
    closed = _close_settled(as_of, session=session, in_collections=in_collections, settings=settings)
    rows = session.execute(
        select(
            Resolution.id,
            Resolution.case_id,
            Resolution.starts_on,
            Resolution.grace_days,
            Resolution.lag_days,
            ResolutionInstalment.seq,
            ResolutionInstalment.due_date,
            ResolutionInstalment.amount,
            Borrower.external_id,
        )
        .join(ResolutionInstalment, ResolutionInstalment.resolution_id == Resolution.id)
        .join(Case, Case.id == Resolution.case_id)
        .join(Borrower, Borrower.id == Case.borrower_id)
        .where(Resolution.status == "active", Resolution.starts_on <= as_of)
        .order_by(Resolution.id, ResolutionInstalment.seq)
    ).all()
    if not rows:
        return {"settled": closed} if closed else {}
    db = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={**INSTALMENT_SCHEMA, "borrower_id": pl.String()},
        orient="row",
    )
    cases = db.select("case_id", "borrower_id").unique().lazy()
    payments = (
        _payments_by_borrower(book)
        .join(cases, on="borrower_id", how="inner")
        .select(list(PAYMENT_SCHEMA))
        .collect()
    )
    verdicts, instalments = judge(db.drop("borrower_id"), payments, as_of=as_of)
    if instalments.height:
        ids = {
            (r.resolution_id, r.seq): r.id
            for r in session.execute(
                select(
                    ResolutionInstalment.id, ResolutionInstalment.resolution_id, ResolutionInstalment.seq
                ).where(
                    ResolutionInstalment.resolution_id.in_(verdicts.get_column("resolution_id").to_list())
                )
            )
        }
        session.execute(
            update(ResolutionInstalment),
            [
                {"id": ids[(r["resolution_id"], r["seq"])], "paid": r["paid"], "status": r["status"]}
                for r in instalments.iter_rows(named=True)
            ],
        )
    counts: dict[str, int] = {"settled": closed} if closed else {}
    items: list[dict[str, object]] = []
    for v in verdicts.iter_rows(named=True):
        res = session.get(Resolution, v["resolution_id"], with_for_update=True)
        assert res is not None
        res.paid_amount, res.judged_as_of = int(v["paid"]), as_of
        status = {"missed": _missed_status(res.kind), "honoured": "honoured"}.get(v["verdict"], "active")
        counts[status] = counts.get(status, 0) + 1
        if status == "active":
            continue
        res.status, res.ended_on, res.missed_seq = status, v["ended_on"], v["missed_seq"]
        moved = _move_case(
            res, status, as_of=as_of, session=session, in_collections=in_collections, settings=settings
        )
        if status == "honoured":  # the waiver takes effect: the core system books it (docs/writeback.md)
            from recoup.writeback.emit import emit_waiver

            emit_waiver(res, session=session, on=as_of, actor=ACTOR, settings=settings)
        items.append(
            {
                "resolution_id": res.id,
                "case_id": res.case_id,
                "kind": res.kind,
                "status": status,
                "paid": res.paid_amount,
                "waived": res.waived_total if status == "honoured" else 0,
                "ended_on": res.ended_on.isoformat() if res.ended_on else None,
                "missed_seq": res.missed_seq,
                "case_state": moved,
            }
        )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, ResolutionInstalment):
            session.expire(obj)
    session.flush()
    if items:
        do_append_batch(
            "resolution.judged",
            {
                "as_of": as_of.isoformat(),
                "changed": len(items),
                **{k: n for k, n in counts.items() if k != "active"},
            },
            items,
            session=session,
            actor=ACTOR,
            settings=settings,
        )
    return counts


def _move_case(
    res: Resolution,
    status: str,
    *,
    as_of: dt.date,
    session: Session,
    in_collections: set[str] | None,
    settings: Settings | None,
) -> str | None:
    """Move the resolution's case as its verdict requires; the state it moved to (None: stayed)."""
    case = session.get(Case, res.case_id, with_for_update=True)
    if case is None:
        return None
    cfg = settings or get_settings()
    at = dt.datetime.combine(as_of, dt.time(12), tzinfo=cfg.tz)
    expected = {"plan": CaseState.PLAN, "settlement": CaseState.SETTLEMENT}.get(res.kind)
    if expected is None or case.state != expected:
        return None
    if status in ("broken", "lapsed"):
        do_transition(
            case.id,
            CaseState.NEGOTIATION,
            session=session,
            actor=ACTOR,
            permissions=CYCLE_PERMISSIONS,
            reason=f"{res.kind} #{res.id} {status}: back to collection",
            now=at,
            settings=cfg,
        )
        return CaseState.NEGOTIATION.value
    if res.kind == "settlement" and in_collections is not None and not set(res.loans or ()) & in_collections:
        do_transition(
            case.id,
            CaseState.CLOSED,
            session=session,
            actor=ACTOR,
            permissions=CYCLE_PERMISSIONS,
            reason=f"settlement #{res.id} honoured",
            close_reason=CloseReason.SETTLED,
            now=at,
            settings=cfg,
        )
        return CaseState.CLOSED.value
    return None


def _close_settled(
    as_of: dt.date, *, session: Session, in_collections: set[str] | None, settings: Settings | None
) -> int:
    """Close as ``settled`` the cases waiting in ``settlement`` on an honoured settlement whose loans have
    now left collections (the core system applied the waiver); the number closed."""
    if in_collections is None:
        return 0
    waiting = session.scalars(
        select(Resolution)
        .join(Case, Case.id == Resolution.case_id)
        .where(
            Resolution.kind == "settlement",
            Resolution.status == "honoured",
            Case.state == CaseState.SETTLEMENT.value,
        )
        .order_by(Resolution.id)
    ).all()
    closed = 0
    for res in waiting:
        if _move_case(
            res, "honoured", as_of=as_of, session=session, in_collections=in_collections, settings=settings
        ):
            closed += 1
    return closed
