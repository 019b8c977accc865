"""``/api/v1/agencies``, ``/api/v1/placements`` and ``/api/v1/agency``: the agency register, placement
batches and recalls, the ranking and shares, monthly statements (docs/agencies.md).

The lender's routes need ``agency.manage``. An agency's own users (``case.view`` / ``case.work``) use
``/agency``: their agency, its placed cases, deletion confirmations and statements — another agency's
statement is a 404. They work the placed cases through the ordinary case and queue routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup.agencies import (
    placement_views,  # noqa: F401 - registers the placement and agency-user routes
    ranking,
    register,
    staff,
    statements,
)
from recoup.agencies.api_common import (
    CodePath,
    Locale,
    Manager,
    UserPath,
    agency_out,
    contract_out,
    detail,
    money,
    router,
    settings_of,
    statement_file_response,
    statement_out,
    today_of,
)
from recoup.agencies.models import Agency
from recoup.agencies.queries import agency_rows
from recoup.agencies.schemas import (
    AgencyDetailOut,
    AgencyIn,
    AgencyOut,
    ContractIn,
    ContractOut,
    LeaveIn,
    MonthIn,
    PiplIn,
    ReportRowOut,
    ReviewIn,
    ShareOut,
    StaffIn,
    StatementOut,
    StatusIn,
    TrainingIn,
)
from recoup.money import parse_amount
from recoup.web.deps import DbId, DbSession

# --- the register (agency.manage) ---------------------------------------------------------------------


__all__ = ["router"]


@router.get("/agencies", response_model=list[AgencyOut])
def list_agencies(request: Request, user: Manager, session: DbSession) -> list[AgencyOut]:
    """The agency register with each agency's standing today (``problems`` empty: it may receive
    placements; else not_whitelisted, review_overdue, no_pipl_contract, no_contract, no_trained_staff)."""
    return [agency_out(r) for r in agency_rows(today_of(request), session=session)]


@router.post("/agencies", response_model=AgencyDetailOut, status_code=201)
def register_agency(request: Request, user: Manager, body: AgencyIn, session: DbSession) -> AgencyDetailOut:
    """Register an agency (a white-list candidate) linked to its team of the kind agency."""
    agency = register.do_register_agency(
        body.code, body.name, team=body.team, note=body.note, session=session, actor=user.username
    )
    return detail(agency, request, session=session)


@router.get("/agencies/ranking", response_model=list[ReportRowOut])
def agency_ranking(
    request: Request,
    user: Manager,
    session: DbSession,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
) -> list[ReportRowOut]:
    """The month's recovery, commission and complaints per agency, ranked (赛马), with the share the
    ranking gives each white-listed agency next month."""
    rows = ranking.agency_report(month, session=session, tz=settings_of(request).tz)
    return [
        ReportRowOut(
            **{k: v for k, v in r.items() if k not in ("agency_id",)}
            | {
                k: money(r[k])
                for k in ("placed_amount", "collected", "gross", "complaint_penalty", "qa_penalty", "payable")
            }
        )
        for r in rows
    ]


@router.post("/agencies/shares", response_model=list[ShareOut])
def set_shares(request: Request, user: Manager, body: MonthIn, session: DbSession) -> list[ShareOut]:
    """Rank the agencies on ``month`` and store their shares of the month after."""
    made = ranking.do_set_next_shares(
        body.month, session=session, actor=user.username, tz=settings_of(request).tz
    )
    codes = dict(session.execute(select(Agency.id, Agency.code)).all())
    return [
        ShareOut(month=s.month, agency=codes[s.agency_id], share_bp=s.share_bp, rank=s.rank) for s in made
    ]


@router.get("/agencies/statements", response_model=list[StatementOut])
def list_statements(
    user: Manager,
    session: DbSession,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
) -> list[StatementOut]:
    """Every agency's statements (one month's, or all), newest month first."""
    return [
        statement_out(s, session=session) for s in statements.list_statements(session=session, month=month)
    ]


@router.get("/agencies/statements/{statement_id}", response_model=StatementOut)
def get_statement(statement_id: DbId, user: Manager, session: DbSession) -> StatementOut:
    """One statement: its lines per bucket, penalties, payable amount, hash and both confirmations."""
    return statement_out(statements.get_statement(statement_id, session=session), session=session)


@router.post("/agencies/statements/{statement_id}/confirm", response_model=StatementOut)
def confirm_statement_lender(statement_id: DbId, user: Manager, session: DbSession) -> StatementOut:
    """The lender's confirmation of a statement (the agency confirms through ``/agency``)."""
    s = statements.do_confirm_statement(
        statements.get_statement(statement_id, session=session), user, "lender", session=session
    )
    return statement_out(s, session=session)


@router.get("/agencies/statements/{statement_id}/file", response_class=Response)
def statementstatement_file_response(
    statement_id: DbId,
    user: Manager,
    session: DbSession,
    kind: Annotated[str, Query(pattern=r"^(pdf|xlsx)$")] = "xlsx",
    locale: Locale = "zh_CN",
) -> Response:
    """The statement as a formatted XLSX or a PDF, in zh_CN or en."""
    return statement_file_response(
        statements.get_statement(statement_id, session=session), kind, locale, session=session
    )


@router.get("/agencies/{code}", response_model=AgencyDetailOut)
def get_agency(code: CodePath, request: Request, user: Manager, session: DbSession) -> AgencyDetailOut:
    """One agency: standing, contracts and staff register."""
    return detail(register.get_agency(code, session=session), request, session=session)


@router.post("/agencies/{code}/pipl", response_model=AgencyDetailOut)
def set_pipl(
    code: CodePath, request: Request, user: Manager, body: PiplIn, session: DbSession
) -> AgencyDetailOut:
    """Record (or withdraw) the PIPL Art. 21 processing contract: no placement without it."""
    agency = register.get_agency(code, session=session)
    register.do_set_pipl_contract(
        agency,
        ref=body.ref,
        signed_on=body.signed_on,
        signed=body.signed,
        session=session,
        actor=user.username,
    )
    return detail(agency, request, session=session)


@router.post("/agencies/{code}/contracts", response_model=ContractOut, status_code=201)
def add_contract(code: CodePath, user: Manager, body: ContractIn, session: DbSession) -> ContractOut:
    """Add a service contract: dates, the rate card (per bucket, tiers by recovery rate) and penalties."""
    agency = register.get_agency(code, session=session)
    c = register.do_add_contract(
        agency,
        ref=body.ref,
        start=body.start,
        end=body.end,
        rates=[r.model_dump() for r in body.rates],
        complaint_penalty=parse_amount(body.complaint_penalty),
        qa_penalty=parse_amount(body.qa_penalty),
        session=session,
        actor=user.username,
    )
    return contract_out(c)


@router.post("/agencies/{code}/reviews", response_model=AgencyDetailOut)
def review_agency(
    code: CodePath, request: Request, user: Manager, body: ReviewIn, session: DbSession
) -> AgencyDetailOut:
    """The yearly review: pass puts the agency on the white list for a year, fail suspends it."""
    agency = register.get_agency(code, session=session)
    register.do_review(
        agency,
        outcome=body.outcome,
        on=body.reviewed_on,
        note=body.note,
        session=session,
        actor=user.username,
    )
    return detail(agency, request, session=session)


@router.post("/agencies/{code}/status", response_model=AgencyDetailOut)
def set_status(
    code: CodePath, request: Request, user: Manager, body: StatusIn, session: DbSession
) -> AgencyDetailOut:
    """Suspend an agency, or remove it from the white list (its placements are recalled)."""
    agency = register.get_agency(code, session=session)
    register.do_set_status(
        agency,
        body.status,
        reason=body.reason,
        on=body.on or today_of(request),
        session=session,
        actor=user.username,
    )
    return detail(agency, request, session=session)


@router.post("/agencies/{code}/staff", response_model=AgencyDetailOut, status_code=201)
def add_staff(
    code: CodePath, request: Request, user: Manager, body: StaffIn, session: DbSession
) -> AgencyDetailOut:
    """Put a user of the role agency on the agency's staff register."""
    agency = register.get_agency(code, session=session)
    staff.do_add_staff(
        agency,
        body.username,
        joined_on=body.joined_on,
        title=body.title,
        certificate_no=body.certificate_no,
        session=session,
        actor=user.username,
    )
    return detail(agency, request, session=session)


@router.post("/agencies/{code}/staff/{username}/leave", response_model=AgencyDetailOut)
def staff_leaves(
    code: CodePath, username: UserPath, request: Request, user: Manager, body: LeaveIn, session: DbSession
) -> AgencyDetailOut:
    """Take a staff member off the register: their access ends at once."""
    agency = register.get_agency(code, session=session)
    staff.do_end_staff(agency, username, left_on=body.left_on, session=session, actor=user.username)
    return detail(agency, request, session=session)


@router.post("/agencies/{code}/staff/{username}/training", response_model=AgencyDetailOut, status_code=201)
def record_training(
    code: CodePath, username: UserPath, request: Request, user: Manager, body: TrainingIn, session: DbSession
) -> AgencyDetailOut:
    """Record a training a staff member completed."""
    agency = register.get_agency(code, session=session)
    staff.do_record_training(
        agency,
        username,
        course=body.course,
        completed_on=body.completed_on,
        expires_on=body.expires_on,
        certificate_ref=body.certificate_ref,
        session=session,
        actor=user.username,
    )
    return detail(agency, request, session=session)


@router.post("/agencies/{code}/statements", response_model=StatementOut, status_code=201)
def issue_statement(
    code: CodePath, request: Request, user: Manager, body: MonthIn, session: DbSession
) -> StatementOut:
    """Issue (or reissue, before any confirmation) the agency's statement of a finished month."""
    agency = register.get_agency(code, session=session)
    s = statements.do_issue_statement(
        agency, body.month, session=session, actor=user, tz=settings_of(request).tz, today=today_of(request)
    )
    return statement_out(s, session=session)
