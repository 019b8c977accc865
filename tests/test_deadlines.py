"""Missed state deadlines raise one review task in the holder's team lead's queue, and the tasks people
asked for (callbacks, reviews) are never cancelled by the next day's decisions (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import make_case, make_team, make_user
from recoup.cases.deadlines import do_raise_deadline_tasks
from recoup.cases.models import WorkerProfile
from recoup.cases.tasks import queue_for
from recoup.strategy.flows import ActResult, _plan_tasks
from recoup.strategy.models import WorkTask

D = dt.date(2026, 12, 10)


def test_overdue_cases_raise_one_review_for_the_team_lead(session: Session) -> None:
    lead = make_user(session, "team_lead")
    team = make_team(session, "M1-B", lead=lead)
    member = make_user(session, "collector")
    session.add(WorkerProfile(user_id=member.id, team_id=team.id, pools=["m1"], skills={}))
    loner = make_user(session, "collector")
    late = make_case(session, holder=member)
    late.state_due = D - dt.timedelta(days=2)
    in_time = make_case(session, holder=member)
    in_time.state_due = D + dt.timedelta(days=1)
    unheld = make_case(session)
    unheld.state_due = D - dt.timedelta(days=1)
    no_lead = make_case(session, holder=loner)
    no_lead.state_due = D - dt.timedelta(days=5)
    stopped = make_case(session, holder=member)
    stopped.state_due, stopped.stopped = D - dt.timedelta(days=3), True
    session.flush()

    first = do_raise_deadline_tasks(D, session=session)
    assert (first.overdue, first.raised, first.unassigned) == (3, 3, 2)
    reviews = {
        t.case_id: t for t in session.scalars(select(WorkTask).where(WorkTask.treatment == "case_review"))
    }
    assert set(reviews) == {late.id, unheld.id, no_lead.id}
    assert reviews[late.id].assignee_id == lead.id and reviews[late.id].queue == "deadline"
    assert reviews[unheld.id].assignee_id is None and reviews[no_lead.id].assignee_id is None
    again = do_raise_deadline_tasks(D + dt.timedelta(days=1), session=session)
    assert again.raised == 0  # one open review per case at a time
    queue = queue_for(lead, session=session, today=D)
    assert queue.get_column("case_id").to_list() == [late.id]
    assert queue.get_column("treatment").to_list() == ["case_review"]

    # A callback the contact log left for today, and the reviews: the day's decisions plan nothing for
    # these cases, and still they stay open.
    callback = WorkTask(
        as_of=D + dt.timedelta(days=1),
        debt_key="L-cb",
        borrower_key="B-cb",
        treatment="agent_call",
        queue="callback",
        strategy="contact-log",
        strategy_version=0,
        node="callback",
        arm="none",
        case_id=in_time.id,
        assignee_id=member.id,
    )
    session.add(callback)
    session.flush()
    _plan_tasks({}, session=session, as_of=D + dt.timedelta(days=1), result=ActResult())
    session.expire_all()
    statuses = set(session.scalars(select(WorkTask.status).where(WorkTask.treatment == "case_review")))
    assert statuses == {"open"}
    assert session.get(WorkTask, callback.id).status == "open"  # type: ignore[union-attr]
