"""``/api/v1/cases``: the caller's visible cases, one case, its moves and its promises."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from recoup import money
from recoup.auth.models import AppUser
from recoup.cases import lifecycle
from recoup.cases.access import effective_permissions, get_visible_case, visible_cases
from recoup.cases.models import Case, PromiseToPay
from recoup.cases.promise_service import do_make_promise
from recoup.cases.schemas import (
    AccountOut,
    CaseDetail,
    CaseSummary,
    PromiseIn,
    PromiseOut,
    TaskOut,
    TransitionIn,
    TransitionOut,
)
from recoup.cases.service import do_transition, list_transitions
from recoup.config import Settings
from recoup.db import utcnow
from recoup.pii import mask_name
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.strategy.models import WorkTask
from recoup.web.deps import DbId, DbSession, require
from recoup.web.schemas import Page, PageNo, PerPage

router = APIRouter(prefix="/cases", tags=["cases"])

Viewer = Annotated[AppUser, require("case.view")]
Worker = Annotated[AppUser, require("case.work")]


def _visible(case_id: DbId, user: Viewer, session: DbSession) -> Case:
    """The path's case if the caller may see it; 404 before the body is even read, so another holder's
    case looks exactly like a missing one."""
    return get_visible_case(case_id, user, session=session)


VisibleCase = Annotated[Case, Depends(_visible)]


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _amount(minor: int, s: Settings) -> str:
    return money.to_decimal_string(minor, s.minor_digits)


def _summaries(cases: list[Case], s: Settings, session: DbSession) -> list[CaseSummary]:
    ids = [c.id for c in cases]
    totals = {
        row.case_id: row
        for row in session.execute(
            select(
                CollectionAccount.case_id,
                func.count().label("n"),
                func.coalesce(func.sum(CollectionAccount.overdue_amount), 0).label("overdue"),
                func.coalesce(func.max(CollectionAccount.dpd), 0).label("dpd"),
            )
            .where(CollectionAccount.case_id.in_(ids), CollectionAccount.status == "open")
            .group_by(CollectionAccount.case_id)
        )
    }
    borrowers = {
        b.id: b
        for b in session.scalars(select(Borrower).where(Borrower.id.in_({c.borrower_id for c in cases})))
    }
    holders = {
        u.id: u.username
        for u in session.scalars(
            select(AppUser).where(AppUser.id.in_({c.holder_id for c in cases if c.holder_id}))
        )
    }
    out = []
    for c in cases:
        t = totals.get(c.id)
        b = borrowers[c.borrower_id]
        out.append(
            CaseSummary(
                id=c.id,
                borrower_ref=b.external_id,
                borrower_name=mask_name(b.name),
                state=c.state,
                status=c.status,
                grade=c.grade,
                holder=holders.get(c.holder_id) if c.holder_id else None,
                held_since=c.held_since,
                opened_on=c.opened_on,
                state_due=c.state_due,
                accounts=int(t.n) if t else 0,
                overdue_amount=_amount(int(t.overdue) if t else 0, s),
                max_dpd=int(t.dpd) if t else 0,
            )
        )
    return out


@router.get("", response_model=Page[CaseSummary])
def list_cases(
    request: Request,
    user: Viewer,
    session: DbSession,
    page: PageNo = 1,
    per_page: PerPage = 50,
    state: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    grade: Annotated[int | None, Query(ge=1, le=9)] = None,
    holder: Annotated[str | None, Query(max_length=64, description="a username, or `me`")] = None,
) -> Page[CaseSummary]:
    """The cases the caller may see, newest first, filtered by state, status, grade or holder."""
    query = visible_cases(user)
    if state:
        query = query.where(Case.state == state)
    if status:
        query = query.where(Case.status == status)
    if grade:
        query = query.where(Case.grade == grade)
    if holder:
        holder_id = (
            user.id
            if holder == "me"
            else session.scalar(select(AppUser.id).where(AppUser.username == holder))
        )
        query = query.where(Case.holder_id == holder_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Case.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    return Page(
        items=_summaries(rows, _settings(request), session), total=total, page=page, per_page=per_page
    )


def _task_out(t: WorkTask, names: dict[int, str]) -> TaskOut:
    return TaskOut(
        id=t.id,
        case_id=t.case_id,
        as_of=t.as_of,
        treatment=t.treatment,
        queue=t.queue,
        status=t.status,
        assignee=names.get(t.assignee_id) if t.assignee_id else None,
        due_at=t.due_at,
        result=t.result,
        reason=t.reason,
        expected_value=t.expected_value,
    )


def _promise_out(p: PromiseToPay, s: Settings) -> PromiseOut:
    return PromiseOut(
        id=p.id,
        by=p.by,
        amount=_amount(p.amount, s),
        made_on=p.made_on,
        due_date=p.due_date,
        status=p.status,
        kept_amount=_amount(p.kept_amount, s),
        made_by=p.made_by,
    )


@router.get("/{case_id}", response_model=CaseDetail)
def show_case(request: Request, user: Viewer, case: VisibleCase, session: DbSession) -> CaseDetail:
    """One case with its accounts, promises, open tasks and the states it may move to."""
    s = _settings(request)
    summary = _summaries([case], s, session)[0]
    accounts = session.scalars(
        select(CollectionAccount).where(CollectionAccount.case_id == case.id).order_by(CollectionAccount.id)
    )
    tasks = list(
        session.scalars(
            select(WorkTask)
            .where(WorkTask.case_id == case.id, WorkTask.status.in_(("open", "in_progress")))
            .order_by(WorkTask.id)
        )
    )
    names = {
        u.id: u.username
        for u in session.scalars(
            select(AppUser).where(AppUser.id.in_({t.assignee_id for t in tasks if t.assignee_id}))
        )
    }
    promises = session.scalars(
        select(PromiseToPay).where(PromiseToPay.case_id == case.id).order_by(PromiseToPay.id)
    )
    return CaseDetail(
        **summary.model_dump(),
        close_reason=case.close_reason,
        allowed_next=[str(x) for x in lifecycle.allowed_from(case.state, case.close_reason)],
        accounts_detail=[
            AccountOut(
                loan_ref=a.external_id,
                product_code=a.product_code,
                overdue_amount=_amount(a.overdue_amount, s),
                outstanding_principal=_amount(a.outstanding_principal, s),
                dpd=a.dpd,
                status=a.status,
            )
            for a in accounts
        ],
        promises=[_promise_out(p, s) for p in promises],
        open_tasks=[_task_out(t, names) for t in tasks],
    )


@router.get("/{case_id}/transitions", response_model=list[TransitionOut])
def case_transitions(user: Viewer, case: VisibleCase, session: DbSession) -> list[TransitionOut]:
    """A case's recorded moves, oldest first."""
    return [
        TransitionOut.model_validate(t, from_attributes=True)
        for t in list_transitions(case.id, session=session)
    ]


@router.post("/{case_id}/transitions", response_model=TransitionOut, status_code=201)
def move_case(
    request: Request, user: Worker, case: VisibleCase, body: TransitionIn, session: DbSession
) -> TransitionOut:
    """Move a case to another state; the lifecycle table decides whether the caller may."""
    row = do_transition(
        case.id,
        body.to_state,
        session=session,
        actor=user.username,
        permissions=effective_permissions(user),
        reason=body.reason,
        close_reason=body.close_reason,
        settings=_settings(request),
    )
    return TransitionOut.model_validate(row, from_attributes=True)


@router.get("/{case_id}/promises", response_model=list[PromiseOut])
def case_promises(request: Request, user: Viewer, case: VisibleCase, session: DbSession) -> list[PromiseOut]:
    """A case's promises to pay, oldest first, with their judged status."""
    rows = session.scalars(
        select(PromiseToPay).where(PromiseToPay.case_id == case.id).order_by(PromiseToPay.id)
    )
    return [_promise_out(p, _settings(request)) for p in rows]


@router.post("/{case_id}/promises", response_model=PromiseOut, status_code=201)
def make_promise(
    request: Request, user: Worker, case: VisibleCase, body: PromiseIn, session: DbSession
) -> PromiseOut:
    """Record a promise to pay on a case (the debtor's own counts; a third party's is kept, not counted)."""
    s = _settings(request)
    amount = money.parse_amount(body.amount, minor_digits=s.minor_digits)
    dpd = session.scalar(
        select(func.max(CollectionAccount.dpd)).where(
            CollectionAccount.case_id == case.id, CollectionAccount.status == "open"
        )
    )
    made_at = body.made_at or utcnow()
    if made_at.tzinfo is None:
        made_at = made_at.replace(tzinfo=s.tz)
    promise = do_make_promise(
        case.id,
        session=session,
        actor=user.username,
        by=body.by,
        amount=amount,
        due_date=body.due_date,
        made_at=made_at,
        tz=s.tz,
        recording_ref=body.recording_ref,
        bucket="M1" if (dpd or 0) <= 30 else "M2+",
        period_end=case.period_end,
    )
    return _promise_out(promise, s)
