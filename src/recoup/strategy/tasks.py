"""The day's tasks in people's queues (``work_task``): what :func:`recoup.strategy.flows.do_act` made
of the decisions (:class:`ActResult`) and how today's plan replaces the open queue (``_plan_tasks``).
Runs in the caller's transaction and never commits."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from recoup.db import utcnow
from recoup.strategy.definition import PERSISTENT_TREATMENTS
from recoup.strategy.models import WorkTask

__all__ = ["PEOPLE_TASKS", "ActResult"]

_CHUNK = 900


@dataclass
class ActResult:
    """What the day's decisions turned into."""

    decisions: int = 0
    messages: int = 0
    expired: int = 0  # of the messages: planned already expired (a past day's, never sent)
    tasks: int = 0
    carried: int = 0
    cancelled: int = 0
    no_action: int = 0
    to_people: Counter[str] = field(default_factory=Counter)  # messages turned into tasks, by reason
    skipped: Counter[str] = field(default_factory=Counter)
    templates: list[str] = field(default_factory=list)  # installed on first use
    sample_identity: list[str] = field(default_factory=list)  # settings unset: the strategy's samples used
    backfill_of: dt.date | None = None  # the newer day that made this day a backfill

    def summary(self) -> str:
        expired = f" ({self.expired} expired, never sent" if self.expired else ""
        if expired:
            expired += f": {self.backfill_of} is newer)" if self.backfill_of else ")"
        text = (
            f"{self.messages} messages planned{expired}, {self.tasks} tasks ({self.carried} carried over, "
            f"{self.cancelled} older cancelled), {self.no_action} no action"
        )
        if self.sample_identity:
            text += (
                "; WARNING: " + ", ".join(self.sample_identity) + " not set: rendered with the strategy's "
                "values (the sample identity by default), which real channels refuse to send · "
                "机构身份未设置，使用了策略中的示例值"
            )
        if self.to_people:
            text += "; to people: " + ", ".join(f"{k} {v}" for k, v in sorted(self.to_people.items()))
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        if self.templates:
            text += f"; installed {len(self.templates)} templates"
        return text


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


#: The ``strategy`` of tasks that people, not the day's decisions, put in the queues.
PEOPLE_TASKS = ("contact-log", "lifecycle")


def _plan_tasks(
    planned: dict[tuple[str, str], dict[str, Any]], *, session: Session, as_of: dt.date, result: ActResult
) -> None:
    """Make today's plan the queue: cancel older open tasks (carrying persistent ones decided again),
    cancel today's open tasks a rerun no longer plans, and insert the rest (a rerun inserts nothing)."""
    persistent = {t.value for t in PERSISTENT_TREATMENTS}
    superseded: list[int] = []
    replanned: list[int] = []
    stmt = select(WorkTask.id, WorkTask.as_of, WorkTask.debt_key, WorkTask.treatment).where(
        WorkTask.status == "open",
        WorkTask.as_of <= as_of,
        # Work people asked for (callbacks from the contact log, deadline reviews) is not the strategy's.
        WorkTask.strategy.not_in(PEOPLE_TASKS),
    )
    for tid, day, debt, treatment in session.execute(stmt):
        key = (debt, treatment)
        if day == as_of:
            if key not in planned:
                replanned.append(tid)
        elif key in planned and treatment in persistent:
            planned.pop(key)
            result.carried += 1
        else:
            superseded.append(tid)
    for ids, why in (
        (superseded, f"superseded by the decisions of {as_of}"),
        (replanned, f"replanned {as_of}"),
    ):
        for i in range(0, len(ids), _CHUNK):
            session.execute(
                update(WorkTask)
                .where(WorkTask.id.in_(ids[i : i + _CHUNK]))
                .values(status="cancelled", status_reason=why, updated_at=utcnow())
            )
        result.cancelled += len(ids)
    rows = list(planned.values())
    if rows:
        stmt_ins = _insert(session)(WorkTask).on_conflict_do_nothing(
            index_elements=["as_of", "debt_key", "treatment"]
        )
        session.execute(stmt_ins, rows)
    result.tasks = len(rows) + result.carried
