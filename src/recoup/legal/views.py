"""``/api/v1/legal/…`` and ``/api/v1/cases/{id}/legal-matters``: legal matters, their stages, costs,
documents and deadlines, and limitation periods. Every route needs ``legal.manage``; a case (or a matter's
case) the caller may not see is a 404. The rules are :mod:`recoup.legal.matters` and
:mod:`recoup.legal.limitation` (docs/legal.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from recoup import money
from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.db import utcnow
from recoup.errors import MoneyError, NotFoundError
from recoup.legal import limitation, matters, stages
from recoup.legal.common import business_day, refuse
from recoup.legal.models import LegalMatter, LegalMatterAccount, LimitationEvent
from recoup.legal.schemas import (
    CostIn,
    CostOut,
    DeadlineCloseIn,
    DeadlineIn,
    DeadlineOut,
    DocumentIn,
    DocumentOut,
    LimitationEventIn,
    LimitationEventOut,
    LimitationOut,
    MatterDetailOut,
    MatterOpenIn,
    MatterOut,
    MatterUpdateIn,
    MoveOut,
    RefreshIn,
    RefreshOut,
    StageMoveIn,
)
from recoup.portfolio.models import CollectionAccount
from recoup.web.deps import DbId, DbSession, require

router = APIRouter(tags=["legal"])

Lawyer = Annotated[AppUser, require("legal.manage")]


def settings_of(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def amount_out(minor: int | None, s: Settings) -> str:
    return money.to_decimal_string(int(minor or 0), s.minor_digits)


def amount_in(text: str | None, field: str, s: Settings) -> int | None:
    """A decimal string in currency units → minor units (None stays None)."""
    if text is None:
        return None
    try:
        return money.parse_amount(text, minor_digits=s.minor_digits)
    except MoneyError as exc:
        raise refuse(field, f"{field}: {exc.message}", f"{field} 金额无效", value=text[:40]) from None


def _case(case_id: DbId, user: Lawyer, session: DbSession) -> Case:
    return get_visible_case(case_id, user, session=session)


def _matter(matter_id: DbId, user: Lawyer, session: DbSession) -> LegalMatter:
    return matters.get_matter(matter_id, user, session=session)


LegalCase = Annotated[Case, Depends(_case)]
VisibleMatter = Annotated[LegalMatter, Depends(_matter)]


def matter_out(m: LegalMatter, s: Settings, session: DbSession, tasks: list[int] | None = None) -> MatterOut:
    loans = list(
        session.scalars(
            select(LegalMatterAccount.loan_id)
            .where(LegalMatterAccount.matter_id == m.id)
            .order_by(LegalMatterAccount.id)
        )
    )
    d = matters.matter_detail(m, session=session)
    upcoming = [x.due_on for x in d.deadlines if x.status == "open"]
    return MatterOut(
        id=m.id,
        case_id=m.case_id,
        stage=m.stage,
        status=m.status,
        stage_since=m.stage_since,
        court=m.court,
        court_case_number=m.court_case_number,
        claim_amount=amount_out(m.claim_amount, s),
        currency=m.currency,
        result=m.result,
        recovered_amount=amount_out(m.recovered_amount, s),
        opened_by=m.opened_by,
        opened_at=m.opened_at,
        closed_at=m.closed_at,
        limitation_date=m.limitation_date,
        rule_version=m.rule_version,
        allowed_moves=d.allowed,
        loan_ids=loans,
        cost_total=amount_out(d.cost_total, s),
        next_deadline=min(upcoming) if upcoming else None,
        tasks_completed=tasks or [],
    )


def _detail(m: LegalMatter, s: Settings, session: DbSession) -> MatterDetailOut:
    d = matters.matter_detail(m, session=session)
    base = matter_out(m, s, session)
    return MatterDetailOut(
        **base.model_dump(),
        moves=[
            MoveOut(
                id=x.id,
                from_stage=x.from_stage,
                to_stage=x.to_stage,
                on=x.on,
                at=x.at,
                actor=x.actor,
                reason=x.reason,
                rule_version=x.rule_version,
            )
            for x in d.moves
        ],
        costs=[
            CostOut(
                id=c.id,
                kind=c.kind,
                amount=amount_out(c.amount, s),
                currency=c.currency,
                incurred_on=c.incurred_on,
                note=c.note,
                recorded_by=c.recorded_by,
            )
            for c in d.costs
        ],
        documents=[
            DocumentOut(
                id=x.id,
                kind=x.kind,
                title=x.title,
                reference=x.reference,
                sha256=x.sha256,
                recorded_by=x.recorded_by,
                recorded_at=x.recorded_at,
            )
            for x in d.documents
        ],
        deadlines=[_deadline(x) for x in d.deadlines],
    )


def _deadline(x: object) -> DeadlineOut:
    return DeadlineOut.model_validate(x, from_attributes=True)


@router.get("/legal/stages")
def stage_table(user: Lawyer) -> dict[str, object]:
    """The stages of a legal matter as data: moves, the deadlines each stage sets, the stages that
    interrupt the limitation period, the results, and the table's version."""
    return stages.table()


@router.get("/legal/matters", response_model=list[MatterOut])
def list_all(
    request: Request,
    user: Lawyer,
    session: DbSession,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = "open",
    stage: stages.Stage | None = None,
) -> list[MatterOut]:
    """Matters (open by default), newest stage move first, optionally of one stage."""
    s = settings_of(request)
    rows = matters.list_matters(session=session, status=status, stage=stage.value if stage else None)
    visible = []
    for m in rows:
        try:
            get_visible_case(m.case_id, user, session=session)
        except NotFoundError:  # a case the caller may not see: not listed
            continue
        visible.append(matter_out(m, s, session))
    return visible


@router.post("/cases/{case_id}/legal-matters", response_model=MatterOut, status_code=201)
def open_matter(
    request: Request, user: Lawyer, case: LegalCase, body: MatterOpenIn, session: DbSession
) -> MatterOut:
    """Open a legal matter on the case: the case moves into ``legal`` (the lifecycle decides, with
    ``case.legal``), its live legal-review tasks are completed. A debt past its limitation date needs
    ``acknowledge_time_barred`` (409 ``legal.time_barred`` otherwise)."""
    s = settings_of(request)
    matter, tasks = matters.do_open_matter(
        case,
        session=session,
        actor=user,
        reason=body.reason,
        court=body.court,
        claim_amount=amount_in(body.claim_amount, "claim_amount", s),
        loan_ids=body.loan_ids,
        acknowledge_time_barred=body.acknowledge_time_barred,
        settings=s,
    )
    return matter_out(matter, s, session, tasks)


@router.get("/cases/{case_id}/legal-matters", response_model=list[MatterOut])
def case_matters(request: Request, user: Lawyer, case: LegalCase, session: DbSession) -> list[MatterOut]:
    """The case's matters, newest first."""
    s = settings_of(request)
    rows = session.scalars(
        select(LegalMatter).where(LegalMatter.case_id == case.id).order_by(LegalMatter.id.desc())
    )
    return [matter_out(m, s, session) for m in rows]


@router.get("/legal/matters/{matter_id}", response_model=MatterDetailOut)
def one(request: Request, user: Lawyer, matter: VisibleMatter, session: DbSession) -> MatterDetailOut:
    """A matter with its stage moves, costs, documents and deadlines."""
    return _detail(matter, settings_of(request), session)


@router.post("/legal/matters/{matter_id}/stage", response_model=MatterDetailOut)
def move(
    request: Request, user: Lawyer, matter: VisibleMatter, body: StageMoveIn, session: DbSession
) -> MatterDetailOut:
    """Move the matter to another stage (the stage table decides: 409 ``legal.invalid_stage_move`` with
    the allowed moves); ``result`` closes it with its outcome."""
    s = settings_of(request)
    matters.do_move_stage(
        matter.id,
        body.to_stage.value,
        session=session,
        actor=user,
        reason=body.reason,
        result=body.result.value if body.result else None,
        recovered_amount=amount_in(body.recovered_amount, "recovered_amount", s),
        settings=s,
    )
    return _detail(matter, s, session)


@router.patch("/legal/matters/{matter_id}", response_model=MatterDetailOut)
def update(
    request: Request, user: Lawyer, matter: VisibleMatter, body: MatterUpdateIn, session: DbSession
) -> MatterDetailOut:
    """Set the court, the court's case number (案号) or the amount claimed."""
    s = settings_of(request)
    matters.do_update_matter(
        matter.id,
        session=session,
        actor=user,
        court=body.court,
        court_case_number=body.court_case_number,
        claim_amount=amount_in(body.claim_amount, "claim_amount", s),
        settings=s,
    )
    return _detail(matter, s, session)


@router.post("/legal/matters/{matter_id}/costs", response_model=CostOut, status_code=201)
def add_cost(
    request: Request, user: Lawyer, matter: VisibleMatter, body: CostIn, session: DbSession
) -> CostOut:
    """Record a cost of the matter (court fee, lawyer's fee …) in currency units."""
    s = settings_of(request)
    amount = amount_in(body.amount, "amount", s)
    assert amount is not None
    c = matters.do_add_cost(
        matter.id,
        session=session,
        actor=user,
        kind=body.kind.value,
        amount=amount,
        incurred_on=body.incurred_on,
        note=body.note,
        settings=s,
    )
    return CostOut(
        id=c.id,
        kind=c.kind,
        amount=amount_out(c.amount, s),
        currency=c.currency,
        incurred_on=c.incurred_on,
        note=c.note,
        recorded_by=c.recorded_by,
    )


@router.post("/legal/matters/{matter_id}/documents", response_model=DocumentOut, status_code=201)
def add_document(
    request: Request, user: Lawyer, matter: VisibleMatter, body: DocumentIn, session: DbSession
) -> DocumentOut:
    """Record a document by reference (where it is kept), with its sha256 when known."""
    d = matters.do_add_document(
        matter.id,
        session=session,
        actor=user,
        kind=body.kind.value,
        title=body.title,
        reference=body.reference,
        sha256=body.sha256,
        settings=settings_of(request),
    )
    return DocumentOut.model_validate(d, from_attributes=True)


@router.post("/legal/matters/{matter_id}/deadlines", response_model=DeadlineOut, status_code=201)
def add_deadline(
    request: Request, user: Lawyer, matter: VisibleMatter, body: DeadlineIn, session: DbSession
) -> DeadlineOut:
    """Add a deadline (a hearing, an evidence deadline …)."""
    d = matters.do_add_deadline(
        matter.id,
        session=session,
        actor=user,
        kind=body.kind.value,
        due_on=body.due_on,
        note=body.note,
        settings=settings_of(request),
    )
    return _deadline(d)


@router.post("/legal/deadlines/{deadline_id}/close", response_model=DeadlineOut)
def close_deadline(
    request: Request, user: Lawyer, deadline_id: DbId, body: DeadlineCloseIn, session: DbSession
) -> DeadlineOut:
    """Mark an open deadline done (met) or cancelled."""
    d = matters.do_close_deadline(
        deadline_id, user, session=session, status=body.status, settings=settings_of(request)
    )
    return _deadline(d)


@router.get("/legal/deadlines", response_model=list[DeadlineOut])
def deadlines(
    request: Request,
    user: Lawyer,
    session: DbSession,
    days: Annotated[int, Query(ge=0, le=3660)] = 30,
) -> list[DeadlineOut]:
    """Open deadlines due within ``days`` (and those already past), earliest first."""
    today = business_day(utcnow(), settings_of(request))
    return [
        _deadline(d) for d in matters.open_deadlines(session=session, until=today + dt.timedelta(days=days))
    ]


# ------------------------------------------------------------------------------------------- limitation


def _limitation_rows(rows: list[limitation.WatchRow], s: Settings) -> list[LimitationOut]:
    return [
        LimitationOut(
            case_id=r.case_id,
            loan_id=r.loan_id,
            limitation_date=r.limitation_date,
            last_event_on=r.last_event_on,
            last_event_kind=r.last_event_kind,
            days_left=r.days_left,
            time_barred=r.time_barred,
            overdue_amount=amount_out(r.overdue_amount, s),
        )
        for r in rows
    ]


@router.get("/legal/limitation", response_model=list[LimitationOut])
def watch(
    request: Request,
    user: Lawyer,
    session: DbSession,
    days: Annotated[int, Query(ge=0, le=3660)] = limitation.WATCH_DAYS,
) -> list[LimitationOut]:
    """Debts approaching their limitation date (within ``days``) and those already time-barred, as last
    computed by the daily cycle (or a refresh)."""
    s = settings_of(request)
    today = business_day(utcnow(), s)
    return _limitation_rows(limitation.watch_list(session=session, as_of=today, within_days=days), s)


@router.post("/legal/limitation/refresh", response_model=RefreshOut)
def refresh(request: Request, user: Lawyer, session: DbSession, body: RefreshIn | None = None) -> RefreshOut:
    """Compute every open debt's limitation date now (the daily cycle does it every day) and set or clear
    the borrowers' time-barred flags."""
    s = settings_of(request)
    today = business_day(utcnow(), s)
    as_of = body.as_of if body and body.as_of else today
    if as_of > today:
        raise refuse("as_of", f"{as_of} is in the future", "日期不能晚于今天")
    r = limitation.do_refresh_limitations(
        as_of,
        session=session,
        lake_payments=limitation.lake_payments(session=session, settings=s, as_of=as_of),
        settings=s,
        actor=user.username,
    )
    return RefreshOut(
        as_of=r.as_of,
        debts=r.debts,
        barred=r.barred,
        approaching=r.approaching,
        flagged=r.flagged,
        cleared=r.cleared,
    )


@router.get("/cases/{case_id}/limitation", response_model=list[LimitationOut])
def case_limitation(
    request: Request, user: Lawyer, case: LegalCase, session: DbSession
) -> list[LimitationOut]:
    """The limitation date of each open debt of the case, as last computed."""
    s = settings_of(request)
    today = business_day(utcnow(), s)
    rows = []
    for x in limitation.case_limitations(case.id, session=session):
        amount = session.scalar(
            select(CollectionAccount.overdue_amount).where(CollectionAccount.id == x.account_id)
        )
        rows.append(
            limitation.WatchRow(
                case_id=case.id,
                loan_id=x.loan_id,
                borrower_name="",
                limitation_date=x.limitation_date,
                last_event_on=x.last_event_on,
                last_event_kind=x.last_event_kind,
                days_left=(x.limitation_date - today).days,
                time_barred=x.limitation_date < today,
                overdue_amount=int(amount or 0),
                currency=s.currency,
            )
        )
    return _limitation_rows(rows, s)


@router.post("/cases/{case_id}/limitation-events", response_model=LimitationEventOut, status_code=201)
def record_event(
    request: Request, user: Lawyer, case: LegalCase, body: LimitationEventIn, session: DbSession
) -> LimitationEventOut:
    """Record an acknowledgement, a demand, a legal action or an acceleration of one of the case's debts,
    with its evidence; the next refresh takes it into account."""
    account = session.scalars(
        select(CollectionAccount).where(
            CollectionAccount.case_id == case.id, CollectionAccount.external_id == body.loan_id
        )
    ).one_or_none()
    if account is None:
        raise refuse("loan_id", f"{body.loan_id} is not a debt of case {case.id}", "不是本案件的借据")
    ev: LimitationEvent = limitation.do_record_event(
        account,
        session=session,
        actor=user,
        kind=body.kind.value,
        on=body.on,
        evidence_ref=body.evidence_ref,
        note=body.note,
        settings=settings_of(request),
    )
    return LimitationEventOut(
        id=ev.id,
        loan_id=account.external_id,
        kind=ev.kind,
        on=ev.on,
        evidence_ref=ev.evidence_ref,
        recorded_by=ev.recorded_by,
    )
