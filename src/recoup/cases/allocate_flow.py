"""Allocation (分案) on the database: gather the cases and the people, run the pure kernel
(:func:`recoup.cases.allocation.allocate`), and record holders, history, batch and audit.

Kinds of batch: ``daily`` (new and unheld cases, every day: M1 daily and the mid-month top-ups of M2+),
``month_start`` (月初分案: every open case is dealt again, except those retained — 留案 — with their
holder: an active promise, a payment in the last :attr:`AllocationSettings.retain_payment_days` days), and
``auto`` (``month_start`` on the 1st, else ``daily``). 回流: an unheld case whose borrower's previous case
left its holder within :attr:`AllocationSettings.return_days` days goes back to that holder when they have
room. Cases reach an agency's users only by placement (:mod:`recoup.agencies`): allocation never deals a
case to a worker of the kind ``agency``, never moves a case such a worker holds (it leaves by recall),
and never returns a recalled case to one. Services take ``session`` and never commit.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from recoup import rules
from recoup.auth.models import AppUser
from recoup.cases import lifecycle
from recoup.cases.allocation import Method, allocate, balance_report, pool_table
from recoup.cases.lifecycle import CaseState
from recoup.cases.models import (
    AllocationBatch,
    Case,
    CaseHolding,
    CaseTransition,
    PromiseToPay,
    WorkerProfile,
)
from recoup.cases.service import _enter
from recoup.cases.tables import ALLOCATION_POOLS
from recoup.db import utcnow
from recoup.delinquency.tables import BUCKETS
from recoup.errors import RecoupError
from recoup.ledger.service import do_append, do_append_batch
from recoup.portfolio.models import AccountPayment, Borrower, CollectionAccount
from recoup.strategy.models import WorkTask

Kind = Literal["auto", "daily", "month_start"]
_CHUNK = 900


@dataclass(frozen=True)
class AllocationSettings:
    retain_payment_days: int = 7
    return_days: int = 30


@dataclass
class AllocationResult:
    as_of: dt.date
    kind: str
    method: str
    rule_version: str
    dry_run: bool
    batch_id: int | None
    counts: dict[str, int]
    balance: pl.DataFrame
    assignments: pl.DataFrame
    moved: int = 0
    tasks_reassigned: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "kind": self.kind,
            "method": self.method,
            "rule_version": self.rule_version,
            "dry_run": self.dry_run,
            "batch_id": self.batch_id,
            "counts": self.counts,
            "moved": self.moved,
            "tasks_reassigned": self.tasks_reassigned,
            "balance": self.balance.to_dicts(),
        }


class AllocationRunError(RecoupError):
    code = "allocation.no_collectors"
    http_status = 409
    exit_code = 65


def period_end(as_of: dt.date) -> dt.date:
    """The last day of ``as_of``'s month: the end of the holder's period."""
    return as_of.replace(day=calendar.monthrange(as_of.year, as_of.month)[1])


def _chunks(values: list[int]) -> list[list[int]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _case_frame(
    cases: list[Case], *, session: Session, as_of: dt.date, s: AllocationSettings
) -> pl.DataFrame:
    """Per case: bucket, product, language, region, overdue balance, current holder, retain, return_to."""
    ids = [c.id for c in cases]
    acc: dict[int, tuple[int, int, str]] = {}
    pay_recent: set[int] = set()
    promise: set[int] = set()
    since = as_of - dt.timedelta(days=s.retain_payment_days)
    for part in _chunks(ids):
        for cid, dpd, overdue, product in session.execute(
            select(
                CollectionAccount.case_id,
                func.max(CollectionAccount.dpd),
                func.sum(CollectionAccount.overdue_amount),
                func.min(CollectionAccount.product_code),
            )
            .where(CollectionAccount.case_id.in_(part), CollectionAccount.status == "open")
            .group_by(CollectionAccount.case_id)
        ):
            if cid is not None:
                acc[cid] = (int(dpd or 0), int(overdue or 0), str(product or ""))
        pay_recent.update(
            session.scalars(
                select(CollectionAccount.case_id)
                .join(AccountPayment, AccountPayment.account_id == CollectionAccount.id)
                .where(
                    CollectionAccount.case_id.in_(part),
                    AccountPayment.received_date >= since,
                    AccountPayment.amount > 0,
                )
            )
        )
        promise.update(
            session.scalars(
                select(PromiseToPay.case_id).where(
                    PromiseToPay.case_id.in_(part),
                    PromiseToPay.status == "pending",
                    PromiseToPay.by == "debtor",
                )
            )
        )
    borrowers = {c.borrower_id for c in cases}
    info = {
        b.id: (b.locale or "zh", b.city or "")
        for part in _chunks(sorted(borrowers))
        for b in session.scalars(select(Borrower).where(Borrower.id.in_(part)))
    }
    returns = _returns([c for c in cases if c.holder_id is None], session=session, as_of=as_of, s=s)
    frame = pl.DataFrame(
        {
            "case_id": ids,
            "dpd": [acc.get(c.id, (0, 0, ""))[0] for c in cases],
            "product": [acc.get(c.id, (0, 0, ""))[2] for c in cases],
            "language": [info[c.borrower_id][0] for c in cases],
            "region": [info[c.borrower_id][1] for c in cases],
            "balance": [acc.get(c.id, (0, 0, ""))[1] for c in cases],
            "current_holder": [c.holder_id for c in cases],
            "retain": [c.holder_id is not None and (c.id in promise or c.id in pay_recent) for c in cases],
            "return_to": [returns.get(c.id) for c in cases],
        },
        schema={
            "case_id": pl.Int64,
            "dpd": pl.Int64,
            "product": pl.String,
            "language": pl.String,
            "region": pl.String,
            "balance": pl.Int64,
            "current_holder": pl.Int64,
            "retain": pl.Boolean,
            "return_to": pl.Int64,
        },
    )
    inputs = frame.with_columns(
        missed_installments=pl.lit(0, pl.Int64),
        product_type=pl.lit("", pl.String),
        bucket_by_cycle=pl.lit(False),
    )
    buckets = rules.evaluate(inputs, rules.load_table(BUCKETS), rule_column="bucket_rule")
    return buckets.select(*frame.columns, "bucket")


def _returns(cases: list[Case], *, session: Session, as_of: dt.date, s: AllocationSettings) -> dict[int, int]:
    """回流: unheld case → the holder of the same borrower's previous case, if it ended recently."""
    if not cases:
        return {}
    by_borrower = {c.borrower_id: c.id for c in cases}
    since = as_of - dt.timedelta(days=s.return_days)
    out: dict[int, int] = {}
    for part in _chunks(sorted(by_borrower)):
        rows = session.execute(
            select(Case.borrower_id, CaseHolding.holder_id, CaseHolding.end_date)
            .join(CaseHolding, CaseHolding.case_id == Case.id)
            .where(
                Case.borrower_id.in_(part),
                CaseHolding.end_date.is_not(None),
                CaseHolding.end_date >= since,
                CaseHolding.holder_id.not_in(_agency_workers()),
            )
            .order_by(CaseHolding.end_date)
        )
        for borrower_id, holder_id, _end in rows:
            out[by_borrower[borrower_id]] = holder_id  # the latest ending wins (ordered by end date)
    return out


def _agency_workers() -> Select[int]:
    """The users with a worker profile of the kind ``agency`` (an agency's staff)."""
    return select(WorkerProfile.user_id).where(WorkerProfile.kind == "agency")


def _collectors(exclude: set[int], *, session: Session) -> pl.DataFrame:
    """Active people with a profile, with what they hold outside this batch."""
    profiles = list(
        session.execute(
            select(WorkerProfile, AppUser.is_active)
            .join(AppUser, AppUser.id == WorkerProfile.user_id)
            .where(WorkerProfile.kind != "agency")
        ).all()
    )
    load: dict[int, tuple[int, int]] = {}
    held = session.execute(
        select(Case.holder_id, Case.id, func.coalesce(func.sum(CollectionAccount.overdue_amount), 0))
        .join(CollectionAccount, CollectionAccount.case_id == Case.id, isouter=True)
        .where(Case.holder_id.is_not(None), Case.status == "open")
        .group_by(Case.holder_id, Case.id)
    )
    for holder, cid, amount in held:
        if cid in exclude or holder is None:
            continue
        n, a = load.get(holder, (0, 0))
        load[holder] = (n + 1, a + int(amount))
    return pl.DataFrame(
        {
            "collector_id": [p.user_id for p, _ in profiles],
            "pools": [list(p.pools or []) for p, _ in profiles],
            "cap": [p.cap for p, _ in profiles],
            "load": [load.get(p.user_id, (0, 0))[0] for p, _ in profiles],
            "load_amount": [load.get(p.user_id, (0, 0))[1] for p, _ in profiles],
            "weight": [float(p.weight) for p, _ in profiles],
            "active": [bool(p.active and ok) for p, ok in profiles],
        },
        schema={
            "collector_id": pl.Int64,
            "pools": pl.List(pl.String),
            "cap": pl.Int64,
            "load": pl.Int64,
            "load_amount": pl.Int64,
            "weight": pl.Float64,
            "active": pl.Boolean,
        },
    )


def do_allocate(
    as_of: dt.date,
    *,
    session: Session,
    actor: str,
    kind: Kind = "auto",
    method: Method = "balanced",
    dry_run: bool = False,
    pools: dict[str, Any] | None = None,
    settings: AllocationSettings | None = None,
) -> AllocationResult:
    """Allocate the open cases as of ``as_of`` (see the module docstring); with ``dry_run`` nothing is
    written and the result says what would happen."""
    s = settings or AllocationSettings()
    real_kind = ("month_start" if as_of.day == 1 else "daily") if kind == "auto" else kind
    table = pool_table(pools or ALLOCATION_POOLS)
    version = f"{table.name} v{table.version} {rules.table_hash(table)[:12]}"
    query = select(Case).where(Case.status == "open").order_by(Case.id)
    if real_kind == "daily":
        query = query.where(Case.holder_id.is_(None))
    else:  # a case an agency's user holds is placed: it leaves by recall, never by reallocation
        query = query.where(or_(Case.holder_id.is_(None), Case.holder_id.not_in(_agency_workers())))
    cases = list(session.scalars(query))
    collectors = _collectors({c.id for c in cases}, session=session)
    empty = pl.DataFrame(
        schema={"case_id": pl.Int64, "holder_id": pl.Int64, "pool": pl.String, "reason": pl.String}
    )
    if not cases:
        return AllocationResult(as_of, real_kind, method, version, dry_run, None, {}, pl.DataFrame(), empty)
    if collectors.filter(pl.col("active")).is_empty():
        raise AllocationRunError(
            "nobody to allocate to: give collectors a worker profile (`recoup staff set USER --pools m1`)"
            " / 没有可分案的催收员：请先用 recoup staff set 设置催收员",
            details={"cases": len(cases)},
        )
    frame = _case_frame(cases, session=session, as_of=as_of, s=s)
    out = allocate(frame, collectors, pools=table, method=method)
    report = balance_report(out, collectors)
    counts = {
        r: int(out.filter(pl.col("reason") == r).height)
        for r in ("retained", "returned", "allocated", "unallocated")
    }
    result = AllocationResult(as_of, real_kind, method, version, dry_run, None, counts, report, out)
    if dry_run:
        result.moved = int(
            out.join(frame.select("case_id", "current_holder"), on="case_id")
            .filter(
                pl.col("holder_id").is_not_null()
                & (pl.col("holder_id") != pl.col("current_holder").fill_null(-1))
            )
            .height
        )
        return result
    _apply(cases, out, result, session=session, actor=actor, table_rule=version)
    return result


def _apply(
    cases: list[Case],
    out: pl.DataFrame,
    result: AllocationResult,
    *,
    session: Session,
    actor: str,
    table_rule: str,
) -> None:
    now = utcnow()
    batch = AllocationBatch(
        as_of=result.as_of,
        kind=result.kind,
        method=result.method,
        rule_version=table_rule,
        created_by=actor,
        counts=result.counts,
    )
    session.add(batch)
    session.flush()
    result.batch_id = batch.id
    by_id = {c.id: c for c in cases}
    end = period_end(result.as_of)
    items: list[dict[str, Any]] = []
    moved: list[Case] = []
    for row in out.iter_rows(named=True):
        case = by_id[row["case_id"]]
        holder = row["holder_id"]
        if holder is None:
            continue
        if holder == case.holder_id:
            case.period_end = end  # retained or dealt back to the same holder: a new period
            continue
        if case.holder_id is not None:
            session.execute(
                update(CaseHolding)
                .where(CaseHolding.case_id == case.id, CaseHolding.end_date.is_(None))
                .values(end_date=result.as_of, ended_reason="reallocated")
            )
        session.add(
            CaseHolding(
                case_id=case.id,
                holder_id=holder,
                start_date=result.as_of,
                batch_id=batch.id,
                reason=row["reason"],
                rule=row["pool_rule"],
                allocated_amount=int(row["balance"]),
            )
        )
        case.holder_id, case.held_since, case.period_end = holder, result.as_of, end
        moved.append(case)
        items.append({"case_id": case.id, "holder_id": holder, "reason": row["reason"]})
        if case.state == CaseState.INTAKE:
            lifecycle.check_transition(
                case.state,
                CaseState.ALLOCATED,
                permissions=frozenset({"case.assign"}),
                reason="allocated",
                close_reason=None,
                current_close_reason=case.close_reason,
            )
            session.add(
                CaseTransition(
                    case_id=case.id,
                    from_state=case.state,
                    to_state=CaseState.ALLOCATED.value,
                    actor=actor,
                    reason=f"allocation batch {batch.id}",
                    at=now,
                )
            )
            _enter(case, CaseState.ALLOCATED, None, now=now, on=result.as_of)
    result.moved = len(moved)
    for part in _chunks([c.id for c in moved]):
        holders = {c.id: c.holder_id for c in moved if c.id in set(part)}
        for task in session.scalars(
            select(WorkTask).where(WorkTask.case_id.in_(part), WorkTask.status == "open")
        ):
            task.assignee_id = holders[task.case_id or 0]
            result.tasks_reassigned += 1
    session.flush()
    record = do_append_batch if items else _append_empty
    record(
        "allocation.batch",
        {
            "batch_id": batch.id,
            "as_of": result.as_of.isoformat(),
            "kind": result.kind,
            "rule": table_rule,
            **result.counts,
        },
        items,
        session=session,
        actor=actor,
    )


def _append_empty(
    kind: str, payload: dict[str, Any], items: list[dict[str, Any]], *, session: Session, actor: str
) -> None:
    """A batch that moved no case is still recorded (a plain entry: a batch entry needs items)."""
    do_append(kind, payload, session=session, actor=actor)


class AssignError(RecoupError):
    code = "allocation.invalid_holder"
    http_status = 422
    exit_code = 65


def do_assign(case: Case, holder: AppUser, *, session: Session, actor: str, on: dt.date, reason: str) -> bool:
    """Give ``case`` to ``holder`` by hand (a manager or team lead's decision): the holder needs an active
    worker profile; history, the move out of intake, open tasks and the ledger as for a batch. False when
    the holder already holds it."""
    profile = session.get(WorkerProfile, holder.id)
    if profile is None or not profile.active or not holder.is_active:
        raise AssignError(
            f"{holder.username} cannot hold cases (no active worker profile) / 该用户不能持有案件",
            details={"holder": holder.username},
        )
    if profile.kind == "agency":
        raise AssignError(
            f"{holder.username} works for an agency: a case reaches an agency only by placement "
            "(recoup agency place) / 案件只能通过委外分配给委外机构",
            details={"holder": holder.username},
        )
    if case.status != "open":
        raise AssignError(f"case {case.id} is {case.state} / 案件已结案", details={"case_id": case.id})
    if case.holder_id == holder.id:
        return False
    now = utcnow()
    if case.holder_id is not None:
        session.execute(
            update(CaseHolding)
            .where(CaseHolding.case_id == case.id, CaseHolding.end_date.is_(None))
            .values(end_date=on, ended_reason="reassigned")
        )
    amount = session.scalar(
        select(func.coalesce(func.sum(CollectionAccount.overdue_amount), 0)).where(
            CollectionAccount.case_id == case.id, CollectionAccount.status == "open"
        )
    )
    session.add(
        CaseHolding(
            case_id=case.id,
            holder_id=holder.id,
            start_date=on,
            reason="manual",
            allocated_amount=int(amount or 0),
        )
    )
    case.holder_id, case.held_since, case.period_end = holder.id, on, period_end(on)
    if case.state == CaseState.INTAKE:
        lifecycle.check_transition(
            case.state,
            CaseState.ALLOCATED,
            permissions=frozenset({"case.assign"}),
            reason=reason,
            close_reason=None,
            current_close_reason=case.close_reason,
        )
        session.add(
            CaseTransition(
                case_id=case.id,
                from_state=case.state,
                to_state=CaseState.ALLOCATED.value,
                actor=actor,
                reason=reason[:500],
                at=now,
            )
        )
        _enter(case, CaseState.ALLOCATED, None, now=now, on=on)
    for task in session.scalars(
        select(WorkTask).where(WorkTask.case_id == case.id, WorkTask.status == "open")
    ):
        task.assignee_id = holder.id
    session.flush()
    do_append("case.assigned", {"case_id": case.id, "holder_id": holder.id}, session=session, actor=actor)
    return True
