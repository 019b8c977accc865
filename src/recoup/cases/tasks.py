"""Work queues on the database: a person's ranked queue, taking a task, the dialer list.

The ranking is the pure kernel :func:`recoup.cases.queues.build_queues`; this module only reads the
tasks and the per-case facts it needs (first contact, promises due today, yesterday's broken promises,
callbacks due, days untouched). Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case, PromiseToPay
from recoup.cases.queues import build_queues
from recoup.contact.models import ContactAttempt
from recoup.db import utcnow
from recoup.errors import ConflictError, NotFoundError
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.strategy.models import WorkTask

LIVE = ("open", "in_progress")


def _facts(
    case_ids: Sequence[int],
    scope: Select[Any],
    *,
    session: Session,
    today: dt.date,
    now: dt.datetime,
) -> tuple[pl.DataFrame, dict[int, dt.datetime]]:
    """The must-do facts of ``case_ids`` as of business day ``today``, and each case's last contact.

    ``scope`` selects (at least) those case ids in SQL: a subquery keeps each statement the same text
    whatever the queue's length (a literal ``IN`` list of hundreds of ids is compiled afresh on every
    page and sent as hundreds of parameters)."""
    ids = list(case_ids)
    keys = dict(
        session.execute(
            select(Case.id, Borrower.external_id)
            .join(Borrower, Borrower.id == Case.borrower_id)
            .where(Case.id.in_(scope))
        ).all()
    )
    borrowers = (
        select(Borrower.external_id).join(Case, Case.borrower_id == Borrower.id).where(Case.id.in_(scope))
    )
    last = dict(
        session.execute(
            select(ContactAttempt.borrower_key, func.max(ContactAttempt.at))
            .where(ContactAttempt.borrower_key.in_(borrowers))
            .group_by(ContactAttempt.borrower_key)
        ).all()
    )
    due_today = set(
        session.scalars(
            select(PromiseToPay.case_id).where(
                PromiseToPay.case_id.in_(scope),
                PromiseToPay.status == "pending",
                PromiseToPay.due_date == today,
            )
        )
    )
    broken = set(
        session.scalars(
            select(PromiseToPay.case_id).where(
                PromiseToPay.case_id.in_(scope),
                PromiseToPay.status == "broken",
                PromiseToPay.due_date.between(today - dt.timedelta(days=2), today - dt.timedelta(days=1)),
            )
        )
    )
    callbacks = set(
        session.scalars(
            select(WorkTask.case_id).where(
                WorkTask.case_id.in_(scope),
                WorkTask.queue == "callback",
                WorkTask.status.in_(LIVE),
                WorkTask.due_at <= now,
            )
        )
    )
    rows = []
    seen_at: dict[int, dt.datetime] = {}
    for cid in ids:
        seen = last.get(keys.get(cid, ""))
        if seen is not None:
            seen_at[cid] = seen
        rows.append(
            {
                "case_id": cid,
                "contacted_ever": seen is not None,
                "promise_due_today": cid in due_today,
                "broken_yesterday": cid in broken,
                "callback_due": cid in callbacks,
                "days_untouched": None if seen is None else (today - seen.date()).days,
            }
        )
    facts = pl.DataFrame(
        rows,
        schema={
            "case_id": pl.Int64,
            "contacted_ever": pl.Boolean,
            "promise_due_today": pl.Boolean,
            "broken_yesterday": pl.Boolean,
            "callback_due": pl.Boolean,
            "days_untouched": pl.Int64,
        },
    )
    return facts, seen_at


def queue_for(
    user: AppUser, *, session: Session, today: dt.date, now: dt.datetime | None = None
) -> pl.DataFrame:
    """``user``'s live tasks ranked (must-do first, then by expected value): the kernel's output columns
    plus ``as_of``, ``debt_key``, ``queue``, ``due_at`` and ``last_contact`` (the case's latest contact
    attempt, null when never contacted)."""
    at = now or utcnow()
    # Columns, not ORM objects: the queue page asks on every visit and needs no entity.
    live = (WorkTask.assignee_id == user.id, WorkTask.status.in_(LIVE), WorkTask.case_id.is_not(None))
    mine = select(WorkTask.case_id).where(*live)
    tasks = session.execute(
        select(
            WorkTask.id,
            WorkTask.case_id,
            WorkTask.treatment,
            WorkTask.priority,
            WorkTask.expected_value,
            WorkTask.status,
            WorkTask.as_of,
            WorkTask.debt_key,
            WorkTask.queue,
            WorkTask.due_at,
        ).where(*live)
    ).all()
    if not tasks:
        return pl.DataFrame()
    case_ids = sorted({t.case_id for t in tasks if t.case_id is not None})
    money = {
        cid: (int(total or 0), int(dpd or 0))
        for cid, total, dpd in session.execute(
            select(
                CollectionAccount.case_id,
                func.sum(CollectionAccount.overdue_amount),
                func.max(CollectionAccount.dpd),
            )
            .where(CollectionAccount.case_id.in_(mine), CollectionAccount.status == "open")
            .group_by(CollectionAccount.case_id)
        )
    }
    frame = pl.DataFrame(
        [
            {
                "task_id": t.id,
                "assignee_id": user.id,
                "case_id": t.case_id,
                "treatment": t.treatment,
                "priority": t.priority,
                "expected_value": t.expected_value,
                "balance": money.get(t.case_id or 0, (0, 0))[0],
                "dpd": money.get(t.case_id or 0, (0, 0))[1],
                "status": t.status,
                "as_of": t.as_of,
                "debt_key": t.debt_key,
                "queue": t.queue,
                "due_at": t.due_at,
            }
            for t in tasks
        ],
        schema={
            "task_id": pl.Int64,
            "assignee_id": pl.Int64,
            "case_id": pl.Int64,
            "treatment": pl.String,
            "priority": pl.Int64,
            "expected_value": pl.Float64,
            "balance": pl.Int64,
            "dpd": pl.Int64,
            "status": pl.String,
            "as_of": pl.Date,
            "debt_key": pl.String,
            "queue": pl.String,
            "due_at": pl.Datetime("us", "UTC"),
        },
    )
    facts, last = _facts(case_ids, mine, session=session, today=today, now=at)
    frame = frame.with_columns(
        pl.Series("last_contact", [last.get(t.case_id or 0) for t in tasks], dtype=pl.Datetime("us", "UTC"))
    )
    return build_queues(frame, facts)


def get_task(task_id: int, user: AppUser, *, session: Session) -> WorkTask:
    """A task assigned to ``user`` (404 for anyone else's, as for cases)."""
    task = session.get(WorkTask, task_id)
    if task is None or task.assignee_id != user.id:
        raise NotFoundError(f"no task {task_id} / 任务 {task_id} 不存在", details={"task_id": task_id})
    return task


def do_start_task(task_id: int, user: AppUser, *, session: Session) -> WorkTask:
    """Take a task: ``open`` → ``in_progress`` (a started task is never cancelled as superseded)."""
    task = get_task(task_id, user, session=session)
    if task.status == "in_progress":
        return task
    if task.status != "open":
        raise ConflictError(
            f"task {task_id} is {task.status} / 任务 {task_id} 已{task.status}",
            details={"task_id": task_id, "status": task.status},
        )
    task.status, task.started_at = "in_progress", utcnow()
    session.flush()
    return task


def do_assign_open_tasks(case: Case, *, session: Session) -> int:
    """Give the case's open tasks to its (new) holder; started tasks stay with whoever started them."""
    rows = list(
        session.scalars(select(WorkTask).where(WorkTask.case_id == case.id, WorkTask.status == "open"))
    )
    for t in rows:
        t.assignee_id = case.holder_id
    return len(rows)
