"""Missed deadlines: a case past its state's deadline raises a review task for the holder's team lead.

The lifecycle gives every state a deadline (``collection_case.state_due``, :mod:`recoup.cases.lifecycle`);
:func:`do_raise_deadline_tasks` runs once a day (the cycle's intake step) and leaves one open
``case_review`` task per overdue case in the team lead's queue — none while one is still open, none for a
stopped case. A case nobody holds, or whose holder has no team lead, goes to the ``deadline`` queue
unassigned. Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.cases.models import Case, Team, WorkerProfile
from recoup.cases.service import overdue_cases
from recoup.db import utcnow
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.strategy.models import WorkTask

REVIEW = "case_review"


@dataclass(frozen=True)
class DeadlineResult:
    overdue: int
    raised: int
    unassigned: int


def _leads(holders: set[int], *, session: Session) -> dict[int, int | None]:
    if not holders:
        return {}
    rows = session.execute(
        select(WorkerProfile.user_id, Team.lead_id)
        .join(Team, Team.id == WorkerProfile.team_id, isouter=True)
        .where(WorkerProfile.user_id.in_(holders))
    ).all()
    return {uid: lead for uid, lead in rows}


def do_raise_deadline_tasks(as_of: dt.date, *, session: Session) -> DeadlineResult:
    """One open review task per case past its state's deadline on ``as_of`` (see the module docstring)."""
    cases = [c for c in overdue_cases(as_of, session=session) if not c.stopped]
    if not cases:
        return DeadlineResult(0, 0, 0)
    open_reviews = set(
        session.scalars(
            select(WorkTask.case_id).where(
                WorkTask.treatment == REVIEW, WorkTask.status.in_(("open", "in_progress"))
            )
        )
    )
    leads = _leads({c.holder_id for c in cases if c.holder_id is not None}, session=session)
    keys = dict(
        session.execute(
            select(Case.id, Borrower.external_id)
            .join(Borrower, Borrower.id == Case.borrower_id)
            .where(Case.id.in_([c.id for c in cases]))
        ).all()
    )
    now = utcnow()
    raised = unassigned = 0
    for case in cases:
        if case.id in open_reviews:
            continue
        loan = session.scalar(
            select(CollectionAccount.external_id)
            .where(CollectionAccount.case_id == case.id)
            .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
            .limit(1)
        )
        lead = leads.get(case.holder_id) if case.holder_id is not None else None
        session.add(
            WorkTask(
                as_of=as_of,
                debt_key=loan or f"case:{case.id}",
                borrower_key=keys.get(case.id, ""),
                treatment=REVIEW,
                queue="deadline",
                priority=80,
                strategy="lifecycle",
                strategy_version=0,
                node=f"deadline:{case.state}",
                arm="none",
                reason=(
                    f"{case.state} past its deadline {case.state_due} / 案件在 {case.state} 阶段已超期"
                    f"（期限 {case.state_due}）"
                ),
                status="open",
                case_id=case.id,
                assignee_id=lead,
                created_at=now,
                updated_at=now,
            )
        )
        raised += 1
        unassigned += int(lead is None)
    session.flush()
    return DeadlineResult(len(cases), raised, unassigned)
